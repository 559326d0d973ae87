//! Stepping a system's seeded plant activity: the loop every system shares (room in the
//! outbox, the rest refused when it is full, the next events from the system, emitted),
//! with each system supplying only what happens next ([`crate::core::Behaviour::next_events`]).

use andon_contracts::{EventKind, PlantId};

use crate::emitter::Emitter;

/// One event a step of plant activity emits.
#[derive(Debug, Clone)]
pub struct PlannedEvent {
    /// Event kind.
    pub kind: EventKind,
    /// Plant.
    pub plant: PlantId,
    /// The aggregate it is about.
    pub subject: String,
    /// The event's data.
    pub data: serde_json::Value,
}

/// What one step of a system's activity came to.
#[derive(Debug, Clone)]
pub enum Tick {
    /// Emit these events, in order; none is an idle step, and the activity goes on.
    Emit(Vec<PlannedEvent>),
    /// Nothing to do now: the steps left are not taken.
    Done,
}

impl Tick {
    /// One event, or [`Tick::Done`] for none.
    pub fn one_or_done(event: Option<PlannedEvent>) -> Self {
        match event {
            Some(e) => Self::Emit(vec![e]),
            None => Self::Done,
        }
    }
}

/// Takes up to `count` steps, each of the events `next` decides; returns how many events
/// were emitted. A full outbox ends the steps: the plant's activity is lost, and the steps
/// left are counted as refused.
pub fn step(emitter: &Emitter, count: usize, mut next: impl FnMut() -> Tick) -> usize {
    let mut emitted = 0;
    for done in 0..count {
        if !emitter.has_room() {
            emitter.refuse((count - done) as u64);
            break;
        }
        let Tick::Emit(events) = next() else {
            break;
        };
        for e in events {
            if emitter
                .emit(
                    e.kind,
                    &e.plant,
                    &e.subject,
                    e.data,
                    chrono::Utc::now(),
                    None,
                )
                .is_ok()
            {
                emitted += 1;
            }
        }
    }
    emitted
}
