//! The broker's fault timeline: restarts, kills and stops of the run's Mosquitto on the
//! load's clock, recorded beside the SUT's actions (`broker restart`, …) for the report.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::humantime_ms;
use crate::broker::Broker;
use crate::report::SutAction;
use crate::scenario::{BrokerFault, BrokerFaultKind};

/// Applies the broker faults at their times; what was done, for the report.
pub(super) async fn drive(
    broker: Option<Arc<Mutex<Broker>>>,
    faults: Vec<(Duration, BrokerFault)>,
    t0: Instant,
) -> Vec<SutAction> {
    let mut actions = Vec::new();
    let Some(broker) = broker else {
        return actions;
    };
    for (at, fault) in faults {
        tokio::time::sleep_until(t0 + at).await;
        let started = Utc::now();
        let mut b = broker.lock().await;
        match fault.kind {
            BrokerFaultKind::Restart => b.stop().await,
            BrokerFaultKind::Kill => b.kill().await,
            BrokerFaultKind::Stop => {
                b.stop().await;
                tokio::time::sleep(fault.duration.map(|d| d.0).unwrap_or_default()).await;
            }
        }
        let result = b.start_again().await;
        let ended = Utc::now();
        let took = humantime_ms((ended - started).to_std().unwrap_or_default());
        actions.push(SutAction {
            kind: format!("broker {}", fault.kind.name()),
            at: started,
            until: Some(ended),
            note: Some(match result {
                Ok(()) => format!("broker back after {took}"),
                Err(e) => format!("the broker did not come back: {e}"),
            }),
        });
    }
    actions
}
