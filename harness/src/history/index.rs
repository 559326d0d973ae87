//! Indexes over a run's history keyed by source event, shared by the checkers, the load
//! measures and the reports: built once, borrowing from the records, never cloning them.
//! Fx-hashed maps (the keys are the run's own identifiers), the events of the run with
//! their emitted and delivery records, the first effect of each event on each system, and
//! the requests and effects that realise each event.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use andon_contracts::{CloudEvent, EventKind, JsonRef, SourceRef, System};
use andon_simulators::history::{Entry, Outcome, Record, RequestEntry};
use chrono::{DateTime, Utc};

/// A fast, non-cryptographic hasher (the Fx hash of rustc): the keys are the run's own
/// identifiers, so hash flooding is no concern, and SipHash would dominate the indexing.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A `HashSet` with [`FxHasher`].
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// A source event's `source` + `id`, borrowed from the history.
pub type Key<'a> = (&'a str, &'a str);

/// The borrowed key of a source reference.
pub fn key(s: &SourceRef) -> Key<'_> {
    (s.source.as_str(), s.id.as_str())
}

/// The trace id (32 lower-case hex, not all zero) of a W3C `traceparent`
/// (`00-<trace id>-<parent id>-<flags>`), or `None` when it is malformed.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let ok = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    ok.then_some(trace)
}

/// One emitted source event.
pub struct Ev<'a> {
    /// Its number: position in emission order (indexes per-event vectors).
    pub n: usize,
    /// Index of its `event_emitted` record.
    pub idx: usize,
    /// The system that emitted it.
    pub system: System,
    /// The event.
    pub event: &'a CloudEvent,
    /// When the plant meant to send it.
    pub intended_at: DateTime<Utc>,
    /// Whether it is poison.
    pub poison: bool,
    /// Its kind, when in the catalog.
    pub kind: Option<EventKind>,
}

impl<'a> Ev<'a> {
    /// Its `source` + `id`.
    pub fn key(&self) -> Key<'a> {
        (self.event.source.as_str(), self.event.id.as_str())
    }

    /// An owned reference for a witness.
    pub fn source_ref(&self) -> SourceRef {
        self.event.key()
    }

    /// The trace id of its traceparent.
    pub fn trace(&self) -> Option<String> {
        trace_id(&self.event.traceparent).map(str::to_string)
    }

    /// A text field of its data.
    pub fn field(&self, name: &str) -> Option<&'a str> {
        field(self.event.data.as_ref(), name)
    }

    /// The lot (plant, material, batch) the event names, when it names one.
    pub fn lot(&self) -> Option<(&'a str, &'a str, &'a str)> {
        Some((
            self.field("plant")?,
            self.field("material")?,
            self.field("batch")?,
        ))
    }
}

/// Every emitted event, in history order, and an index by key.
pub struct Events<'a> {
    /// Events by key (the first record wins if a key was emitted twice).
    pub map: EventIndex<'a>,
    /// Keys in history order.
    pub order: Vec<Key<'a>>,
}

/// Events by key: a vector in history order and a hash index into it.
pub struct EventIndex<'a> {
    all: Vec<Ev<'a>>,
    index: FastMap<Key<'a>, u32>,
}

impl<'a> EventIndex<'a> {
    /// The event of a key.
    pub fn get(&self, k: &Key<'_>) -> Option<&Ev<'a>> {
        // Keys of any lifetime: the index is looked up by value.
        let k: Key<'_> = *k;
        let i = *self.index.get(&k)?;
        self.all.get(i as usize)
    }

    /// The number of the event a key names.
    pub fn number(&self, k: &Key<'_>) -> Option<usize> {
        self.index.get(k).map(|n| *n as usize)
    }

    /// Whether the index holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.all.len()
    }
}

impl<'a> Events<'a> {
    /// Indexes the `event_emitted` records.
    pub fn build(records: &'a [Record]) -> Self {
        let guess = records.len() / 4 + 16;
        let mut all: Vec<Ev<'a>> = Vec::with_capacity(guess);
        let mut index: FastMap<Key<'a>, u32> =
            FastMap::with_capacity_and_hasher(guess, Default::default());
        for (idx, r) in records.iter().enumerate() {
            if let Entry::EventEmitted {
                event,
                intended_at,
                poison,
            } = &r.entry
            {
                let k = (event.source.as_str(), event.id.as_str());
                let n = all.len() as u32;
                if let std::collections::hash_map::Entry::Vacant(v) = index.entry(k) {
                    v.insert(n);
                    all.push(Ev {
                        n: n as usize,
                        idx,
                        system: r.system,
                        event,
                        intended_at: *intended_at,
                        poison: poison.is_some(),
                        kind: event.kind(),
                    });
                }
            }
        }
        let order = all.iter().map(|e| e.key()).collect();
        Self {
            map: EventIndex { all, index },
            order,
        }
    }

    /// The event a reference names.
    pub fn get(&self, s: &SourceRef) -> Option<&Ev<'a>> {
        self.map.get(&key(s))
    }

    /// Events in emission order.
    pub fn iter(&self) -> impl Iterator<Item = &Ev<'a>> {
        self.map.all.iter()
    }

    /// Trace id → event key, for calls that carry no source references.
    pub fn by_trace(&self) -> FastMap<&'a str, Key<'a>> {
        let mut out: FastMap<&'a str, Key<'a>> = FastMap::default();
        for ev in self.iter() {
            if let Some(t) = trace_id(&ev.event.traceparent) {
                out.entry(t).or_insert(ev.key());
            }
        }
        out
    }
}

/// What the deliveries of one event came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryState {
    /// When the SUT first acknowledged it (2xx).
    pub acked_at: Option<DateTime<Utc>>,
    /// Some attempt was rejected as invalid (4xx other than 408/429).
    pub rejected: bool,
    /// Attempts made.
    pub attempts: u32,
}

impl DeliveryState {
    /// Acknowledged at least once.
    pub fn acked(&self) -> bool {
        self.acked_at.is_some()
    }
}

/// Delivery state per event number.
pub fn deliveries(records: &[Record], events: &Events<'_>) -> Vec<DeliveryState> {
    let mut out = vec![DeliveryState::default(); events.map.len()];
    for r in records {
        if let Entry::Delivery {
            event,
            outcome,
            rejected,
            ..
        } = &r.entry
            && let Some(n) = events.map.number(&key(event))
        {
            let d = &mut out[n];
            d.attempts += 1;
            if *outcome == Outcome::Ok && d.acked_at.is_none() {
                d.acked_at = Some(r.at);
            }
            d.rejected |= *rejected;
        }
    }
    out
}

/// Index of a system in per-system arrays (`[erp, mes, qms, wms]`).
pub fn sys_idx(s: System) -> usize {
    match s {
        System::Erp => 0,
        System::Mes => 1,
        System::Qms => 2,
        System::Wms => 3,
    }
}

/// The first effect realising each event (by event number), per target system
/// ([`sys_idx`]): the effect record's `at`.
pub fn first_effects(records: &[Record], events: &Events<'_>) -> Vec<[Option<DateTime<Utc>>; 4]> {
    let mut first: Vec<[Option<DateTime<Utc>>; 4]> = vec![[None; 4]; events.map.len()];
    for r in records {
        let Entry::Effect { sources, .. } = &r.entry else {
            continue;
        };
        for s in sources {
            let Some(n) = events.map.number(&key(s)) else {
                continue;
            };
            let slot = &mut first[n][sys_idx(r.system)];
            if slot.is_none() {
                *slot = Some(r.at);
            }
        }
    }
    first
}

/// Calls from the SUT (`request` records of `/api/` routes) per source event they realise:
/// the events their body references, or — for answers a fault gave, which carry no body —
/// the event whose trace id the call carried.
pub fn requests_by_event<'a>(
    records: &'a [Record],
    events: &Events<'a>,
) -> FastMap<Key<'a>, Vec<usize>> {
    let mut traces: Option<FastMap<&'a str, Key<'a>>> = None;
    let mut out: FastMap<Key<'a>, Vec<usize>> = FastMap::default();
    for (idx, r) in records.iter().enumerate() {
        let Some(RequestEntry {
            route,
            sources,
            traceparent,
            ..
        }) = r.entry.request()
        else {
            continue;
        };
        if !route.starts_with("/api/") {
            continue;
        }
        if sources.is_empty() {
            let Some(t) = traceparent.as_deref().and_then(trace_id) else {
                continue;
            };
            let traces = traces.get_or_insert_with(|| events.by_trace());
            if let Some(k) = traces.get(t) {
                out.entry(*k).or_default().push(idx);
            }
        } else {
            for s in sources {
                out.entry(key(s)).or_default().push(idx);
            }
        }
    }
    out
}

/// Record indices grouped per event number (a compressed sparse row table).
pub struct PerEvent {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl PerEvent {
    /// The record indices of event `n`, in history order.
    pub fn get(&self, n: usize) -> &[u32] {
        match (self.start.get(n), self.start.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// Effect record indices per event number (effects naming events never emitted are not
/// in it).
pub fn effects_by_event(records: &[Record], events: &Events<'_>) -> PerEvent {
    let n = events.map.len();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for (idx, r) in records.iter().enumerate() {
        if let Entry::Effect { sources, .. } = &r.entry {
            for s in sources {
                if let Some(e) = events.map.number(&key(s)) {
                    pairs.push((e as u32, idx as u32));
                }
            }
        }
    }
    let mut start = vec![0u32; n + 1];
    for (e, _) in &pairs {
        start[*e as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut items = vec![0u32; pairs.len()];
    for (e, idx) in pairs {
        let at = &mut fill[e as usize];
        items[*at as usize] = idx;
        *at += 1;
    }
    PerEvent { start, items }
}

/// Whether a request record with this `fault` reached the system itself: no fault
/// answered instead of it (`commit_then_reset` and a `slow` request whose client gave up
/// were processed; only the answer was lost).
pub fn reached_system(fault: Option<&str>) -> bool {
    matches!(fault, None | Some("commit_then_reset") | Some("slow"))
}

/// Microseconds from `a` to `b`.
pub fn micros(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_microseconds().unwrap_or(i64::MAX)
}

/// Route name of an event kind and a target: `<system>.<short> -> <target>`.
pub fn route(source: System, kind: EventKind, target: System) -> String {
    format!("{}.{} -> {}", source.as_str(), short(kind), target.as_str())
}

/// The short name of an event kind in route names (DESIGN.md).
pub fn short(kind: EventKind) -> &'static str {
    use EventKind as K;
    match kind {
        K::ProductionOrderReleased => "released",
        K::ProductionOrderChanged => "changed",
        K::ProductionOrderCancelled => "cancelled",
        K::MaterialChanged => "material",
        K::OperationStarted => "started",
        K::OperationCompleted => "completed",
        K::OperationConfirmed => "confirmed",
        K::MaterialConsumed => "consumed",
        K::MaterialProduced => "produced",
        K::ScrapReported => "scrap",
        K::InspectionResultRecorded => "result",
        K::UsageDecisionMade => "decision",
        K::LotHoldPlaced => "hold",
        K::LotHoldReleased => "release",
        K::NonconformanceCreated => "nonconformance",
        K::InventoryTransferred => "transferred",
        K::InventoryAdjusted => "adjusted",
        K::ShipmentConfirmed => "shipped",
    }
}

/// A text field of a JSON object.
pub fn field<'v>(v: impl Into<JsonRef<'v>>, name: &str) -> Option<&'v str> {
    v.into().str(name)
}
