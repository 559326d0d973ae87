//! The broker's fault timeline: restarts, kills, stops and partitions of the run's
//! Mosquitto on the load's clock, recorded beside the SUT's actions (`broker restart`, …)
//! for the report; and what the broker's log says it dropped (`broker dropped`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::humantime_ms;
use crate::broker::BrokerNode;
use crate::report::SutAction;
use crate::scenario::{BrokerFault, BrokerFaultKind};

/// Applies the broker faults at their times; what was done, for the report.
pub(super) async fn drive(
    broker: Option<Arc<Mutex<Box<dyn BrokerNode>>>>,
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
        let down = fault.duration.map(|d| d.0).unwrap_or_default();
        let result = match fault.kind {
            BrokerFaultKind::Restart => {
                b.stop().await;
                b.start_again().await
            }
            BrokerFaultKind::Kill => {
                b.kill().await;
                b.start_again().await
            }
            BrokerFaultKind::Stop => {
                b.stop().await;
                tokio::time::sleep(down).await;
                b.start_again().await
            }
            BrokerFaultKind::Partition => match b.partition(true).await {
                Ok(()) => {
                    tokio::time::sleep(down).await;
                    b.partition(false).await
                }
                Err(e) => Err(e),
            },
        };
        let ended = Utc::now();
        let took = humantime_ms((ended - started).to_std().unwrap_or_default());
        actions.push(SutAction {
            kind: format!("broker {}", fault.kind.name()),
            at: started,
            until: Some(ended),
            note: Some(match result {
                Ok(()) if fault.kind == BrokerFaultKind::Partition => {
                    format!("broker and SUT joined again after {took}")
                }
                Ok(()) => format!("broker back after {took}"),
                Err(e) => format!("the broker did not come back: {e}"),
            }),
        });
    }
    actions
}

/// The clients the broker dropped messages for (their queue full), from its log, as
/// timeline entries.
pub(super) async fn droppings(
    broker: Option<&Arc<Mutex<Box<dyn BrokerNode>>>>,
    max_queued: u32,
) -> Vec<SutAction> {
    let Some(broker) = broker else {
        return Vec::new();
    };
    let dir = broker.lock().await.dir().to_path_buf();
    crate::broker::log::read_droppings(&dir)
        .into_iter()
        .map(|d| SutAction {
            kind: "broker dropped".into(),
            at: d.at,
            until: None,
            note: Some(format!(
                "the broker's queue for client {} was full (max_queued_messages {max_queued}): \
                 it acknowledged messages to the plants and dropped them",
                d.client
            )),
        })
        .collect()
}
