//! The exactly-once checker's index: what it reads from the history, built once.

use std::cell::OnceCell;

use andon_simulators::history::Record;

use crate::check::RunData;
use andon_contracts::events::EventKind;

use crate::check::common::{self, DeliveryState, Events, FastMap, FastSet, Key, Materials, Slot};

/// What the exactly-once checker reads from the history, built once.
pub(super) struct Index<'a> {
    /// The history.
    pub(super) records: &'a [Record],
    /// The emitted events.
    pub(super) events: Events<'a>,
    /// The material master as it stood at each event.
    pub(super) materials: Materials<'a>,
    /// The deliveries per event number.
    pub(super) dels: Vec<DeliveryState>,
    /// The effects per event number.
    pub(super) effects: common::PerEvent,
    /// The business rejections (422) per event.
    pub(super) rejections: FastMap<Key<'a>, Vec<common::Rejection>>,
    /// Every call per event, for the witnesses of lost effects only (built when first
    /// needed).
    requests: OnceCell<FastMap<Key<'a>, Vec<usize>>>,
    /// Lot events acknowledged after a later event of the same lot.
    pub(super) superseded: FastSet<Key<'a>>,
    /// The time of the last record.
    pub(super) end: Option<chrono::DateTime<chrono::Utc>>,
    /// The orders (source, subject) whose release their plant's Business Central could not
    /// notify: it came before the middleware's first subscription there.
    pub(super) never_notified: FastSet<(&'a str, &'a str)>,
}

impl<'a> Index<'a> {
    /// Indexes the run.
    pub(super) fn build(run: &'a RunData) -> Self {
        let records = &run.records;
        let events = Events::build(records);
        let materials = Materials::build(run, &events);
        let dels = common::deliveries(records, &events);
        let effects = common::effects_by_event(records, &events);
        let rejections = common::rejections_by_event(records, &events, &materials);
        let superseded = superseded(&events, &dels);
        let never_notified = never_notified(records, &events);
        Self {
            records,
            events,
            materials,
            dels,
            effects,
            rejections,
            requests: OnceCell::new(),
            superseded,
            end: records.last().map(|r| r.at),
            never_notified,
        }
    }

    /// The calls referencing an event (record indexes), if any.
    pub(super) fn requests(&self, k: &Key<'a>) -> Option<&Vec<usize>> {
        self.requests
            .get_or_init(|| common::requests_by_event(self.records, &self.events))
            .get(k)
    }
}

/// Lot events acknowledged after a later event (higher sequence) of the same lot.
fn superseded<'a>(events: &Events<'a>, dels: &[DeliveryState]) -> FastSet<Key<'a>> {
    use andon_contracts::EventKind as K;
    type Arrival<'a> = (chrono::DateTime<chrono::Utc>, u64, Key<'a>);
    let mut groups: FastMap<(&str, &str), Vec<Arrival<'a>>> = FastMap::default();
    for ev in events.iter() {
        if ev.poison
            || !matches!(
                ev.kind,
                Some(
                    K::UsageDecisionMade
                        | K::LotHoldPlaced
                        | K::LotHoldReleased
                        | K::InspectionResultRecorded
                )
            )
        {
            continue;
        }
        if let Some(at) = dels[ev.n].acked_at {
            groups
                .entry((ev.event.source.as_str(), ev.event.subject.as_str()))
                .or_default()
                .push((at, ev.event.sequence, ev.key()));
        }
    }
    let mut out = FastSet::default();
    for (_, mut g) in groups {
        g.sort_by_key(|x| (x.0, x.1));
        let mut max = 0;
        for (_, seq, k) in g {
            if seq < max {
                out.insert(k);
            }
            max = max.max(seq);
        }
    }
    out
}

/// The effects of one expected kind for one event: how many are wanted and found.
pub(super) struct Group<'a> {
    /// The expected effect.
    pub(super) slot: Slot<'a>,
    /// How many the event's flow wants.
    pub(super) wanted: i64,
    /// How many landed (less those reversed).
    pub(super) found: i64,
    /// The first effects found (enough for a witness).
    pub(super) effects: [usize; 4],
}

impl Group<'_> {
    /// The first effects found, by record index.
    pub(super) fn effects(&self) -> &[usize] {
        &self.effects[..(self.found.max(0) as usize).min(4)]
    }
}

/// The orders whose `production_order.released` a Business Central plant notified to no one
/// because the middleware had not yet subscribed there (see [`Index::never_notified`]).
fn never_notified<'a>(records: &[Record], events: &Events<'a>) -> FastSet<(&'a str, &'a str)> {
    let (_, before) = common::lapses(records);
    before
        .iter()
        .filter_map(|s| events.get(s))
        .filter(|e| e.kind == Some(EventKind::ProductionOrderReleased))
        .map(|e| (e.event.source.as_str(), e.event.subject.as_str()))
        .collect()
}
