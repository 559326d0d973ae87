//! DEFECT: ack-before-persist, ack-before-store — the write-behind buffer of events that
//! were acknowledged before they were stored.

use std::collections::BTreeSet;
use std::sync::Mutex;

use andon_contracts::CloudEvent;

use crate::delivery::Delivery;
use crate::store::{self, Store, now_ms};

/// DEFECT: ack-before-persist — a write-behind buffer of acknowledged events, stored by
/// [`WriteBehind::flush`] every so often. A crash in between loses them.
#[derive(Default)]
pub struct WriteBehind {
    events: Mutex<Vec<CloudEvent>>,
}

impl WriteBehind {
    pub(crate) fn push(&self, e: CloudEvent) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e);
    }

    pub(crate) fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stores what was acknowledged so far.
    pub async fn flush(&self, store: &Store, delivery: &Delivery) {
        let events = std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()));
        let mut targets = BTreeSet::new();
        for event in events {
            match store
                .call(move |c, p| store::ingest(c, p, &event, now_ms()))
                .await
            {
                Ok(i) => targets.extend(i.targets),
                Err(e) => tracing::error!(error = %e, "write-behind lost an event"),
            }
        }
        delivery.wake(&targets);
    }
}
