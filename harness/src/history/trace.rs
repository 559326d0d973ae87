//! The source event of a call made in a vendor dialect. andon's own API names it in the body
//! (`source: {source, id}`); S/4HANA's bodies have no place for it, so a dialect call is
//! tied to the event whose trace its `traceparent` continues (every event starts a trace of
//! its own). The history keeps what the SUT sent; [`attribute_by_trace`] fills in the
//! sources of dialect calls, and of the effects those calls committed, as the checkers
//! read them.

use std::collections::HashSet;

use andon_contracts::{CloudEvent, SourceRef};
use andon_simulators::history::{Entry, Record, RequestEntry};

use super::index::{FastMap, FastSet, Key, key};

/// The trace id of a `traceparent` (`00-<trace id>-<parent id>-<flags>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1).filter(|t| t.len() == 32)
}

/// The plants and bindings (`s4hana@2502`) an ERP `dialects` note names (at the ERP's
/// start, and at every cut-over); `None` for any other record.
pub fn dialect_note(r: &Record) -> Option<Vec<(String, String)>> {
    let Entry::Note { name, detail } = &r.entry else {
        return None;
    };
    if name != "dialects" {
        return None;
    }
    let serde_json::Value::Object(m) = detail.to_value() else {
        return None;
    };
    Some(
        m.into_iter()
            .map(|(plant, b)| (plant, b.as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

/// The plants whose ERP spoke Business Central at some time (its `dialects` notes).
pub fn business_central_plants(records: &[Record]) -> HashSet<String> {
    records
        .iter()
        .filter_map(dialect_note)
        .flatten()
        .filter(|(_, b)| b.starts_with("business-central"))
        .map(|(plant, _)| plant)
        .collect()
}

/// Fills in the sources of every dialect call without any, and of every effect without
/// any that such a call committed (same `traceparent`), from the event whose trace it
/// continues. Calls of andon's own API keep the sources the SUT declared — except those
/// continuing the trace of an event its plant's system notified without any id (Business
/// Central's webhook notifications name only the entity) and naming no emitted event
/// (nothing, or the notification itself, as docs/manifest.md asks): no body can name that
/// event, so the trace does, for the call and its effects.
pub fn attribute_by_trace(records: &mut [Record]) {
    for (i, event) in attributions(records) {
        if let Some(sources) = records[i].entry.sources_mut() {
            *sources = vec![event];
        }
    }
}

/// The records [`attribute_by_trace`] fills in, each with the event it takes. Read with
/// every key borrowed from the history; nothing to read when no call was made in a dialect
/// and no plant's ERP spoke Business Central.
fn attributions(records: &[Record]) -> Vec<(usize, SourceRef)> {
    let bc = business_central_plants(records);
    let dialect_calls = records
        .iter()
        .any(|r| r.entry.request().is_some_and(|q| q.dialect.is_some()));
    if bc.is_empty() && !dialect_calls {
        return Vec::new();
    }
    let emitted: FastSet<Key<'_>> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::EventEmitted { event, .. } => Some((event.source.as_str(), event.id.as_str())),
            _ => None,
        })
        .collect();
    // A call naming only what no plant emitted (nothing, or the vendor's notification).
    let unnamed = |sources: &[SourceRef]| sources.iter().all(|s| !emitted.contains(&key(s)));
    let mut events: FastMap<&str, &CloudEvent> = FastMap::default();
    let mut idless: FastSet<&str> = FastSet::default();
    let mut traced: FastSet<&str> = FastSet::default();
    for r in records {
        match &r.entry {
            Entry::EventEmitted { event, .. } => {
                if let Some(t) = trace_id(&event.traceparent) {
                    events.entry(t).or_insert(&**event);
                    if r.system == andon_contracts::System::Erp && bc.contains(event.plant.as_str())
                    {
                        idless.insert(t);
                    }
                }
            }
            Entry::Request(req) => {
                if let RequestEntry {
                    dialect,
                    traceparent: Some(tp),
                    sources,
                    ..
                } = &**req
                    && (dialect.is_some()
                        || (unnamed(sources) && trace_id(tp).is_some_and(|t| idless.contains(t))))
                {
                    traced.insert(tp);
                }
            }
            _ => {}
        }
    }
    if traced.is_empty() {
        return Vec::new();
    }
    records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let (sources, traceparent) = match &r.entry {
                Entry::Request(req) => (&req.sources, req.traceparent.as_deref()),
                Entry::Effect {
                    sources,
                    traceparent,
                    ..
                } => (sources, traceparent.as_deref()),
                _ => return None,
            };
            let tp = traceparent.filter(|tp| traced.contains(tp))?;
            if !unnamed(sources) {
                return None;
            }
            events.get(trace_id(tp)?).map(|e| (i, e.key()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use andon_contracts::System;
    use andon_simulators::history::{DialectCall, Outcome};

    fn record(entry: Entry) -> Record {
        Record {
            seq: 0,
            at: chrono::Utc::now(),
            system: System::Erp,
            entry,
        }
    }

    fn request(tp: &str, dialect: bool) -> Record {
        record(Entry::Request(Box::new(RequestEntry {
            method: "POST".into(),
            path: "/x".into(),
            route: "/x".into(),
            idempotency_key: None,
            traceparent: Some(tp.into()),
            sources: vec![],
            body: None,
            valid: Some(true),
            violations: vec![],
            status: 201,
            content_type: None,
            problem: None,
            replayed: false,
            fault: None,
            retry_after_s: None,
            if_match: None,
            latency_us: 1,
            dialect: dialect.then(|| {
                Box::new(DialectCall {
                    dialect: "s4hana@2408".into(),
                    native_route: None,
                    native_body: None,
                })
            }),
        })))
    }

    fn effect(tp: &str) -> Record {
        record(Entry::Effect {
            effect: "erp.goods_movement".into(),
            key: "k".into(),
            sources: vec![],
            traceparent: Some(tp.into()),
            outcome: Outcome::Ok,
            detail: andon_contracts::Json::null(),
        })
    }

    fn emitted(trace: &str) -> Record {
        let ev: andon_contracts::CloudEvent = serde_json::from_value(serde_json::json!({
            "specversion": "1.0", "id": "e1", "source": "/andon/mes/1000",
            "type": "andon.material.consumed.v1", "subject": "1", "time": "2026-11-02T00:00:00Z",
            "datacontenttype": "application/json", "plant": "1000", "sequence": 1,
            "traceparent": format!("00-{trace}-00f067aa0ba902b7-01"), "data": {}
        }))
        .expect("event");
        record(Entry::EventEmitted {
            event: std::sync::Arc::new(ev),
            intended_at: chrono::Utc::now(),
            poison: None,
        })
    }

    fn sources(r: &Record) -> &[SourceRef] {
        r.entry.sources()
    }

    #[test]
    fn dialect_calls_and_their_effects_take_the_event_of_their_trace() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let tp = format!("00-{trace}-b7ad6b7169203331-01");
        let native = format!("00-{trace}-c7ad6b7169203331-01");
        let mut records = vec![
            emitted(trace),
            request(&tp, true),
            effect(&tp),
            request(&native, false),
            effect(&native),
        ];
        attribute_by_trace(&mut records);
        assert_eq!(sources(&records[1])[0].id, "e1");
        assert_eq!(sources(&records[2])[0].id, "e1");
        assert!(
            sources(&records[3]).is_empty(),
            "andon's API declares its sources"
        );
        assert!(sources(&records[4]).is_empty());
    }

    #[test]
    fn calls_of_andon_s_api_continuing_an_id_less_notification_take_its_event() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let native = format!("00-{trace}-c7ad6b7169203331-01");
        let mut records = vec![
            record(Entry::Note {
                name: "dialects".into(),
                detail: serde_json::json!({"1000": "business-central@25"}).into(),
            }),
            emitted(trace),
            request(&native, false),
            effect(&native),
        ];
        attribute_by_trace(&mut records);
        assert_eq!(sources(&records[2])[0].id, "e1");
        assert_eq!(sources(&records[3])[0].id, "e1");
        // Naming the notification (no emitted event) is the same; naming the event stays.
        let vendor = SourceRef {
            source: "/andon/erp/1000".into(),
            id: "5f0c…@2026-11-02T06:10:00.000Z".into(),
        };
        for r in &mut records[2..] {
            if let Some(sources) = r.entry.sources_mut() {
                *sources = vec![vendor.clone()];
            }
        }
        attribute_by_trace(&mut records);
        assert_eq!(sources(&records[2]).len(), 1);
        assert_eq!(sources(&records[2])[0].id, "e1");
        assert_eq!(sources(&records[3])[0].id, "e1");
    }

    #[test]
    fn a_trace_no_event_started_attributes_nothing() {
        let tp = "00-0000000000000000000000000000abcd-b7ad6b7169203331-01";
        let mut records = vec![request(tp, true), effect(tp)];
        attribute_by_trace(&mut records);
        assert!(sources(&records[1]).is_empty());
    }
}
