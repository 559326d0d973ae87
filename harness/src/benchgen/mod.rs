//! andon's own load generator, alone, for `ci/bench-load.sh`: the simulators' [`Emitter`]
//! (its per-aggregate lanes, each with its own HTTP/1.1 connection, and its [`History`]
//! records) posting one realistic CloudEvent, an MES `material.consumed`, to an ingress at
//! a connection count.
//! The figures are computed from the history's `delivery` records — every one of them —
//! so what is measured is what a run of andon pays to record every request's latency.
//!
//! Two modes ([`Rate`]):
//! * [`Rate::Max`] — closed loop, as wrk: every connection sends its next request as soon
//!   as the last is answered. The emitter is topped up every millisecond to [`PER_LANE`]
//!   events pending per connection, on one subject per lane so that every lane is busy.
//!   Latency is each attempt's round trip (`latency_us`).
//! * [`Rate::PerSecond`] — open model: event *k* is intended *k / rate* seconds after the
//!   start and emitted on the first 1 ms tick at or after that time (every event owed is
//!   emitted with its own intended time, so a late tick catches up). Latency is measured
//!   from the intended time to the answer, so a stall counts against every event it held
//!   back (no coordinated omission); a send that started more than [`LATE`] after its
//!   intended time is counted late.
//!
//! A warm-up of the same mode comes first; the emitter is drained after it and after the
//! measured window, so that the window's records are exactly its own requests.

use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use andon_contracts::events::MaterialConsumed;
use andon_contracts::{
    BatchId, EventKind, IdError, Json, MaterialId, OrderId, PlantId, Quantity, StorageLocation,
    System, Unit,
};
use andon_simulators::History;
use andon_simulators::clock::Clock;
use andon_simulators::emitter::{Emitter, EmitterConfig, lane_of};
use andon_simulators::faults::Faults;
use andon_simulators::history::{Entry, Record};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::time::Instant;

mod tally;

pub use tally::{Percentiles, Tally, tally};

/// A send that started later than this after its intended time is late (open model).
pub const LATE: Duration = Duration::from_millis(10);
/// The open model's tick, and the closed loop's top-up period.
pub const TICK: Duration = Duration::from_millis(1);
/// Events the closed loop keeps pending per connection: a lane answers a few requests a
/// millisecond on loopback, and the top-up comes every [`TICK`] (a little later at times).
const PER_LANE: usize = 16;
/// Events the emitter may hold: far more than a run's backlog, so that none is refused.
const CAPACITY: usize = 10_000_000;
/// How long the deliveries still pending at the end of a phase are waited for.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);
/// The closed loop's rate assumed to reserve the history's memory, requests per second.
const MAX_RATE_EXPECTED: f64 = 150_000.0;
/// The most history records reserved up front.
const MAX_RESERVED: usize = 20_000_000;
/// The plant of every event.
const PLANT: &str = "1000";
/// The first order number (subject) tried.
const FIRST_ORDER: u64 = 100_000_001;

/// A mistake in the generator's settings.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// `--rate` is neither `max` nor a positive number.
    #[error("rate {0:?}: expected `max` or a positive number of requests per second")]
    Rate(String),
    /// The ingress URL does not parse or is not plain HTTP.
    #[error("{source}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it, naming it.
        source: andon_simulators::emitter::IngressError,
    },
    /// The event payload could not be built.
    #[error("event payload: {0}")]
    Payload(#[from] IdError),
    /// The generator's thread or runtime could not be started.
    #[error("cannot start the generator's runtime: {0}")]
    Runtime(std::io::Error),
    /// The generator's thread ended without a result.
    #[error("the generator's thread ended without a result")]
    Cancelled,
    /// The emitter refused an event (its buffer is full).
    #[error(transparent)]
    Full(#[from] andon_simulators::emitter::BufferFull),
}

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as the connections go (closed loop).
    Max,
    /// This many requests per second, on schedule (open model).
    PerSecond(f64),
}

impl FromStr for Rate {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Self, GenError> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Self::Max);
        }
        match s.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => Ok(Self::PerSecond(r)),
            _ => Err(GenError::Rate(s.to_string())),
        }
    }
}

/// The generator's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// The ingress URL the events are posted to.
    pub url: String,
    /// Parallel connections: the emitter's lanes. Default 32.
    pub connections: usize,
    /// The measured window. Default 8 s.
    pub duration: Duration,
    /// The unmeasured warm-up before it, same mode. Default 2 s.
    pub warmup: Duration,
    /// How fast. Default [`Rate::Max`].
    pub rate: Rate,
    /// Seed of the event ids and trace contexts. Default 1.
    pub seed: u64,
}

impl GenConfig {
    /// The defaults, posting to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connections: 32,
            duration: Duration::from_secs(8),
            warmup: Duration::from_secs(2),
            rate: Rate::Max,
            seed: 1,
        }
    }
}

/// The results of a run: one JSON line on the command line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `max` (closed loop) or `open` (open model).
    pub mode: &'static str,
    /// Connections (the emitter's lanes).
    pub connections: usize,
    /// The open model's rate, requests per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    /// Events the open model scheduled in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<u64>,
    /// From the window's start until its last delivery settled (at least the window), in
    /// seconds.
    pub elapsed_s: f64,
    /// Requests answered 2xx per second of `elapsed_s`.
    pub rps: f64,
    /// Where the headline latency is measured from: `send` or `intended`.
    pub latency_from: &'static str,
    /// Counts and latencies.
    #[serde(flatten)]
    pub tally: Tally,
    /// Events refused by the emitter in the window (its buffer was full).
    pub refused: u64,
    /// Events still pending when the drain at the end gave up.
    pub unfinished: usize,
    /// Records in the history at the end (warm-up included).
    pub history_records: usize,
}

/// The events of a schedule at `rate` per second over `duration`.
pub fn scheduled(rate: f64, duration: Duration) -> u64 {
    (rate * duration.as_secs_f64()).round().max(0.0) as u64
}

/// The events of an open-model schedule to emit `elapsed` into it: event *k* is intended
/// *k / rate* seconds after the start, `total` are scheduled and those before `done` have
/// been emitted.
pub fn owed(rate: f64, elapsed: Duration, done: u64, total: u64) -> Range<u64> {
    // A tolerance keeps products like 0.001 × 1000 from falling a hair short of whole events.
    let due = ((elapsed.as_secs_f64() * rate + 1e-9).floor() as u64)
        .saturating_add(1)
        .min(total);
    done..due.max(done)
}

/// When event `k` of a schedule at `rate` per second is intended, after its start.
pub fn intended_offset(rate: f64, k: u64) -> chrono::Duration {
    chrono::Duration::nanoseconds((k as f64 / rate * 1e9).round() as i64)
}

/// One order number per lane, in lane order: the first from [`FIRST_ORDER`] on that the
/// emitter puts in that lane.
pub fn subjects(lanes: usize) -> Vec<String> {
    let lanes = lanes.max(1);
    let mut found: Vec<Option<String>> = vec![None; lanes];
    let mut left = lanes;
    let mut n = FIRST_ORDER;
    while left > 0 {
        let s = n.to_string();
        let slot = &mut found[lane_of(&s, lanes)];
        if slot.is_none() {
            *slot = Some(s);
            left -= 1;
        }
        n += 1;
    }
    found.into_iter().flatten().collect()
}

/// The `material.consumed` payload for `order`: 12.5 KG of batch R000456 of RM-1000-07
/// (the contract's golden example).
pub fn payload(order: &str) -> Result<serde_json::Value, IdError> {
    let data = MaterialConsumed {
        order: OrderId::parse(order)?,
        plant: PlantId::parse(PLANT)?,
        storage_location: StorageLocation::parse("0001")?,
        material: MaterialId::parse("RM-1000-07")?,
        batch: BatchId::parse("R000456")?,
        quantity: Quantity::from_milli(12_500, Unit::parse("KG")?),
        reservation_item: "0001".into(),
        posting_date: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default(),
    };
    Ok(serde_json::to_value(&data).unwrap_or_default())
}

/// The events posted: one subject and payload per lane, taken round-robin.
struct Events {
    plant: PlantId,
    subjects: Vec<(String, Json)>,
    next: usize,
}

impl Events {
    fn new(lanes: usize) -> Result<Self, IdError> {
        let subjects = subjects(lanes)
            .into_iter()
            .map(|s| payload(&s).map(|p| (s, Json::from(p))))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            plant: PlantId::parse(PLANT)?,
            subjects,
            next: 0,
        })
    }

    fn emit(&mut self, emitter: &Emitter, intended_at: DateTime<Utc>) -> Result<(), GenError> {
        let (subject, data) = &self.subjects[self.next];
        self.next = (self.next + 1) % self.subjects.len();
        emitter.emit(
            EventKind::MaterialConsumed,
            &self.plant,
            subject,
            data.clone(),
            intended_at,
            None,
        )?;
        Ok(())
    }
}

fn emitter(history: &History, url: Option<String>, lanes: usize, seed: u64) -> Emitter {
    Emitter::start(
        System::Mes,
        history.clone(),
        Faults::new(System::Mes, history.clone(), seed),
        Clock::default(),
        EmitterConfig {
            ingress: url,
            capacity: CAPACITY,
            lanes,
            ..EmitterConfig::default()
        },
        seed,
    )
}

/// The body andon's generator posts, as the emitter serializes it (for wrk and oha to post
/// the same).
pub async fn sample_body() -> Result<String, GenError> {
    let history = History::new();
    let emitter = emitter(&history, None, 1, 1);
    Events::new(1)?.emit(&emitter, Utc::now())?;
    let body = history.with_records(|records| {
        records.iter().find_map(|r| match &r.entry {
            Entry::EventEmitted { event, .. } => serde_json::to_string(event).ok(),
            _ => None,
        })
    });
    Ok(body.unwrap_or_default())
}

/// Closed loop for `span`: the emitter is topped up to `in_flight` events pending every
/// [`TICK`], so that no lane runs dry between two top-ups and the feeding loop does not wake
/// for every delivery (the sends themselves wait for nothing but their connection).
async fn closed_loop(
    emitter: &Emitter,
    events: &mut Events,
    in_flight: usize,
    span: Duration,
) -> Result<(), GenError> {
    let end = Instant::now() + span;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < end {
        let pending = emitter.stats().pending;
        for _ in pending..in_flight {
            events.emit(emitter, Utc::now())?;
        }
        tick.tick().await;
    }
    Ok(())
}

/// Open model for `span` at `rate`: returns the events scheduled.
async fn open_loop(
    emitter: &Emitter,
    events: &mut Events,
    rate: f64,
    span: Duration,
) -> Result<u64, GenError> {
    let total = scheduled(rate, span);
    let start = Instant::now();
    let base = Utc::now();
    let mut done = 0;
    let mut next = start;
    while done < total {
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        let due = owed(rate, now - start, done, total);
        for k in due.clone() {
            events.emit(emitter, base + intended_offset(rate, k))?;
        }
        done = due.end;
        next = (next + TICK).max(now);
    }
    Ok(total)
}

/// Records a run is expected to write (two per request: `event_emitted` and `delivery`), to
/// reserve the history's memory before it starts: grown as it fills, the journal is copied
/// whole at every doubling, under its lock, and fresh pages are faulted in for every copy —
/// about a tenth of the generator's time at saturation, and stalls of tens of milliseconds
/// in the latencies. The closed loop's rate is not known beforehand: it is taken as at most
/// [`MAX_RATE_EXPECTED`] (past it the journal grows as usual).
fn records_expected(config: &GenConfig) -> usize {
    let rate = match config.rate {
        Rate::Max => MAX_RATE_EXPECTED,
        Rate::PerSecond(r) => r,
    };
    let requests = scheduled(rate, config.warmup + config.duration) as usize;
    requests
        .saturating_mul(2)
        .saturating_add(1024)
        .min(MAX_RESERVED)
}

/// An empty journal with room for `n` records, its memory written once so that the pages
/// are in place before the window (faulting them in as the journal fills costs the
/// generator about a twentieth of its time at saturation).
fn reserved(n: usize) -> Vec<Record> {
    let filler = Record {
        seq: 0,
        at: DateTime::<Utc>::UNIX_EPOCH,
        system: System::Mes,
        entry: Entry::BufferFull {
            capacity: 0,
            refused: 0,
        },
    };
    let mut records = vec![filler; n];
    records.clear();
    records
}

/// Waits for the deliveries still pending; returns how many the drain gave up on.
async fn drain(emitter: &Emitter) -> usize {
    match tokio::time::timeout(DRAIN_LIMIT, emitter.drained()).await {
        Ok(()) => 0,
        Err(_) => emitter.stats().pending,
    }
}

/// Runs the generator: warm-up, then the measured window, against `config.url`.
///
/// The emitter and the loop feeding it run on a single-threaded runtime of their own, on a
/// thread of their own: every delivery wakes the loop (the history's notification), and
/// on the caller's multi-threaded runtime that wake-up would cross threads for each request.
pub async fn run(config: GenConfig) -> Result<Report, GenError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("andon-generator".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(measure(config)),
                Err(e) => Err(GenError::Runtime(e)),
            };
            let _ = tx.send(result);
        })
        .map_err(GenError::Runtime)?;
    match rx.await {
        Ok(result) => result,
        // The thread ended without an answer: it panicked.
        Err(_) => match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            _ => Err(GenError::Cancelled),
        },
    }
}

#[tracing::instrument(skip_all, fields(url = %config.url, connections = config.connections))]
async fn measure(config: GenConfig) -> Result<Report, GenError> {
    andon_simulators::emitter::verify_ingress(&config.url).map_err(|source| GenError::Url {
        url: config.url.clone(),
        source,
    })?;
    let lanes = config.connections.max(1);
    let history = History::from_records(reserved(records_expected(&config)));
    let emitter = emitter(&history, Some(config.url.clone()), lanes, config.seed);
    let mut events = Events::new(lanes)?;
    let phase = async |events: &mut Events, span: Duration| -> Result<Option<u64>, GenError> {
        match config.rate {
            Rate::Max => closed_loop(&emitter, events, lanes * PER_LANE, span)
                .await
                .map(|()| None),
            Rate::PerSecond(r) => open_loop(&emitter, events, r, span).await.map(Some),
        }
    };
    if !config.warmup.is_zero() {
        phase(&mut events, config.warmup).await?;
        let left = drain(&emitter).await;
        tracing::info!(left, records = history.len(), "warm-up over");
    }
    let mark = history.len();
    let refused = emitter.stats().refused;
    let started = Instant::now();
    let scheduled = phase(&mut events, config.duration).await?;
    let unfinished = drain(&emitter).await;
    // The open model's last event is intended a little before the window's end.
    let elapsed = started.elapsed().max(config.duration);
    let from_intended = matches!(config.rate, Rate::PerSecond(_));
    let tally = history.with_records(|r| tally(&r[mark.min(r.len())..], from_intended));
    let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let report = Report {
        mode: if from_intended { "open" } else { "max" },
        connections: lanes,
        target_rps: match config.rate {
            Rate::Max => None,
            Rate::PerSecond(r) => Some(r),
        },
        scheduled,
        elapsed_s: (secs * 1000.0).round() / 1000.0,
        rps: (tally.ok as f64 / secs).round(),
        latency_from: if from_intended { "intended" } else { "send" },
        tally,
        refused: emitter.stats().refused - refused,
        unfinished,
        history_records: history.len(),
    };
    tracing::info!(rps = report.rps, sent = report.tally.sent, "window over");
    Ok(report)
}

#[cfg(test)]
mod tests;
