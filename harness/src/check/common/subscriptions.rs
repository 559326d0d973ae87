//! Business Central's webhook subscriptions as the history tells them: when a plant's
//! middleware subscribed, renewed, deleted or let expire (`bc.subscription` notes), and the
//! changes the plant's system did not notify for want of a live subscription
//! (`bc.unnotified`). A change not notified after the middleware had subscribed in that
//! plant is a lapse: the middleware let its subscription expire (or deleted it) and never
//! learned of the change. Changes before the plant's first subscription are not counted:
//! Business Central notifies no one of them, and a middleware reconciles them by reading.

use andon_contracts::SourceRef;
use andon_simulators::history::{Entry, Record};
use chrono::{DateTime, Utc};

use super::FastMap;

/// A change not notified after the plant's middleware had subscribed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lapse {
    /// Index of the `bc.unnotified` note.
    pub idx: usize,
    /// The event not notified.
    pub event: Option<SourceRef>,
    /// Its plant.
    pub plant: String,
    /// The collections it would have been notified on.
    pub sets: String,
    /// When the plant's last subscription on them ended (expired or deleted), and how.
    pub ended: Option<(DateTime<Utc>, String)>,
}

/// Every lapse of the run, and the changes that went unnotified before their plant's first
/// subscription.
pub(crate) fn lapses(records: &[Record]) -> (Vec<Lapse>, Vec<SourceRef>) {
    let mut subscribed: FastMap<String, ()> = FastMap::default();
    let mut ended: FastMap<(String, String), (DateTime<Utc>, String)> = FastMap::default();
    let (mut out, mut before) = (Vec::new(), Vec::new());
    for (idx, r) in records.iter().enumerate() {
        let Entry::Note { name, detail } = &r.entry else {
            continue;
        };
        let d = detail.to_value();
        let text = |k: &str| {
            d.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        match name.as_str() {
            "bc.subscription" => {
                let (plant, op) = (text("plant"), text("op"));
                if op == "created" {
                    subscribed.insert(plant.clone(), ());
                }
                if matches!(op.as_str(), "expired" | "deleted") {
                    ended.insert((plant, text("set")), (r.at, op));
                }
            }
            "bc.unnotified" => {
                let plant = text("plant");
                let event: Option<SourceRef> = d
                    .get("event")
                    .and_then(|e| serde_json::from_value(e.clone()).ok());
                if !subscribed.contains_key(&plant) {
                    before.extend(event);
                    continue;
                }
                let sets: Vec<String> = d
                    .get("sets")
                    .and_then(|s| s.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let last = sets
                    .iter()
                    .filter_map(|s| ended.get(&(plant.clone(), s.clone())))
                    .max_by_key(|(t, _)| *t)
                    .cloned();
                out.push(Lapse {
                    idx,
                    event,
                    plant,
                    sets: sets.join(" or "),
                    ended: last,
                });
            }
            _ => {}
        }
    }
    (out, before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use andon_contracts::System;
    use serde_json::json;

    fn note(seq: u64, name: &str, detail: serde_json::Value) -> Record {
        Record {
            seq,
            at: andon_simulators::clock::default_start() + chrono::Duration::seconds(seq as i64),
            system: System::Erp,
            entry: Entry::Note {
                name: name.into(),
                detail: detail.into(),
            },
        }
    }

    #[test]
    fn changes_missed_after_a_subscription_ended_are_lapses_and_earlier_ones_are_not() {
        let unnotified = |seq| {
            note(
                seq,
                "bc.unnotified",
                json!({"plant": "1000", "sets": ["productionOrders"],
                "event": {"source": "/andon/erp/1000", "id": format!("e{seq}")}}),
            )
        };
        let records = vec![
            unnotified(1),
            note(
                2,
                "bc.subscription",
                json!({"op": "created", "plant": "1000", "set": "productionOrders"}),
            ),
            note(
                3,
                "bc.subscription",
                json!({"op": "expired", "plant": "1000", "set": "productionOrders"}),
            ),
            unnotified(4),
        ];
        let (lapses, before) = lapses(&records);
        assert_eq!(before.len(), 1);
        assert_eq!(lapses.len(), 1);
        let l = &lapses[0];
        assert_eq!(
            (l.idx, l.plant.as_str(), l.sets.as_str()),
            (3, "1000", "productionOrders")
        );
        assert_eq!(l.event.as_ref().unwrap().id, "e4");
        assert_eq!(l.ended.as_ref().unwrap().1, "expired");
    }
}
