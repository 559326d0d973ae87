//! What the mapping checker does not demand from a middleware serving a plant whose ERP
//! speaks a vendor dialect: the fields of andon's flows the vendor's API cannot carry
//! (`contracts/dialects/{s4hana,business-central}/unjudged.yaml`).

use andon_contracts::dialects::{Unjudged, business_central, s4hana};
use andon_contracts::flows::Mismatch;
use andon_simulators::history::{Record, RequestEntry};

use andon_contracts::events::EventKind;

use super::{Ev, Events, FastMap, FastSet};

use crate::history::trace::dialect_note;

/// The vendor dialects (`s4hana`, `business-central`) each plant's ERP spoke at some time
/// of the run.
pub(crate) fn vendor_plants(records: &[Record]) -> FastMap<String, FastSet<String>> {
    let mut out: FastMap<String, FastSet<String>> = FastMap::default();
    for (plant, b) in records.iter().filter_map(dialect_note).flatten() {
        let dialect = b.split('@').next().unwrap_or_default().to_string();
        if dialect != "andon" {
            out.entry(plant).or_default().insert(dialect);
        }
    }
    out
}

/// The plant of a call's source event speaks a vendor dialect: which, and the later states
/// of its order a read-back may show.
pub(crate) struct Vendor<'a> {
    /// The dialects the plant's ERP spoke.
    dialects: &'a FastSet<String>,
    /// See [`later_orders`].
    later: Vec<serde_json::Value>,
}

impl<'a> Vendor<'a> {
    /// The vendor of `ev`'s plant (`None`: its ERP spoke andon's API only), for the call at
    /// `call_idx`; `vendors` from [`vendor_plants`].
    pub(crate) fn of(
        vendors: &'a FastMap<String, FastSet<String>>,
        events: &Events<'_>,
        ev: &Ev<'_>,
        call_idx: usize,
    ) -> Option<Self> {
        vendors.get(ev.event.plant.as_str()).map(|dialects| Vendor {
            dialects,
            later: later_orders(events, ev, call_idx),
        })
    }

    /// Drops from `mismatches` (of call `method route` for `ev`, which sent `sent`) what is
    /// not the middleware's doing: fields the vendor's API cannot carry, and the values of a
    /// later change of the same order that a read-back rightly holds (the later change's
    /// own call carries them again).
    pub(crate) fn forgive(
        &self,
        ev: &Ev<'_>,
        method: &str,
        route: &str,
        sent: &serde_json::Value,
        mismatches: &mut Vec<Mismatch>,
    ) {
        let kind = ev.kind.map(|k| k.name()).unwrap_or_default();
        mismatches.retain(|m| !vendor_excuses(self.dialects, kind, method, route, m));
        mismatches.retain(|m| {
            let got = sent.pointer(&m.field);
            !self
                .later
                .iter()
                .any(|o| got.is_some() && o.pointer(&m.field) == got)
        });
    }
}

/// The orders (their data) of the `production_order.changed` events of `ev`'s order emitted
/// after it and before the call at `call_idx`.
fn later_orders(events: &Events<'_>, ev: &Ev<'_>, call_idx: usize) -> Vec<serde_json::Value> {
    if !matches!(
        ev.kind,
        Some(EventKind::ProductionOrderReleased | EventKind::ProductionOrderChanged)
    ) {
        return Vec::new();
    }
    events
        .order
        .iter()
        .filter_map(|k| events.map.get(k))
        .filter(|e| e.idx > ev.idx && e.idx < call_idx)
        .filter(|e| e.kind == Some(EventKind::ProductionOrderChanged))
        .filter(|e| e.event.subject == ev.event.subject && e.event.source == ev.event.source)
        // The changed order is the event's data (flattened, with its change reason).
        .map(|e| e.event.data.to_value())
        .collect()
}

/// Whether a vendor dialect the plant spoke excuses `m`, a mismatch of call `method route`
/// derived from an event of `kind` (`contracts/dialects/*/unjudged.yaml`).
pub(crate) fn vendor_excuses(
    dialects: &FastSet<String>,
    kind: &str,
    method: &str,
    route: &str,
    m: &Mismatch,
) -> bool {
    dialects.iter().any(|d| match d.as_str() {
        "s4hana" => excused(s4hana::unjudged(), kind, method, route, m),
        "business-central" => excused(business_central::unjudged(), kind, method, route, m),
        _ => false,
    })
}

/// Whether S/4HANA excuses `m`, a mismatch of call `method route` derived from an event
/// of `kind`: the field is one S/4HANA cannot carry, or holds the first `limit` characters
/// of what was right.
#[cfg(test)]
pub(crate) fn s4hana_excuses(kind: &str, method: &str, route: &str, m: &Mismatch) -> bool {
    excused(s4hana::unjudged(), kind, method, route, m)
}

/// Whether a row of `table` excuses `m`.
fn excused(table: &[Unjudged], kind: &str, method: &str, route: &str, m: &Mismatch) -> bool {
    let call = format!("{method} {route}");
    table.iter().any(|u| {
        let applies = u.event.as_deref() == Some(kind) || u.route.as_deref() == Some(call.as_str());
        applies
            && u.field == m.field
            && u.limit.is_none_or(|n| {
                m.sent.chars().count() == n && m.expected.starts_with(m.sent.as_str())
            })
    })
}

/// The dialect calls refused for a body of the release their plant was just cut over from:
/// after a vendor upgrade (a `dialects` note changing a plant's binding), the plant's calls
/// in the new release whose body broke its contract, to each resource (the path without
/// key predicates or query: an entity set, a function), until the first call to that
/// resource that kept it. An upgrade nobody announced is found out by such a refusal, and
/// only where the release changed something: calls to resources that did not change go
/// through meanwhile and say nothing of the ones that did. A middleware that goes on
/// sending the old release's bodies loses their effects, which the exactly-once checker
/// counts.
pub(crate) fn release_transitions(records: &[Record]) -> std::collections::HashSet<usize> {
    let mut bound: FastMap<String, String> = FastMap::default();
    // Per plant cut over: the new binding, and the resources already called right in it.
    let mut awaiting: FastMap<String, (String, FastSet<String>)> = FastMap::default();
    let mut out = std::collections::HashSet::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(note) = dialect_note(r) {
            for (plant, b) in note {
                if bound
                    .insert(plant.clone(), b.clone())
                    .is_some_and(|prev| prev != b)
                {
                    awaiting.insert(plant, (b, FastSet::default()));
                }
            }
            continue;
        }
        let Some(RequestEntry {
            path,
            dialect: Some(d),
            valid: Some(valid),
            ..
        }) = r.entry.request()
        else {
            continue;
        };
        let Some(plant) = path
            .strip_prefix("/plant/")
            .and_then(|p| p.split('/').next())
        else {
            continue;
        };
        let Some((b, kept)) = awaiting.get_mut(plant) else {
            continue;
        };
        if !d.dialect.starts_with(b.as_str()) {
            continue;
        }
        let resource = resource_of(path);
        if kept.contains(resource.as_str()) {
            continue;
        }
        if *valid {
            kept.insert(resource);
        } else {
            out.insert(i);
        }
    }
    out
}

/// A call's resource: its path without the query and without key predicates
/// (`…/A_Product('FG-1')` → `…/A_Product`).
fn resource_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, dialect: &str, valid: bool) -> Record {
        let mut r: Record = serde_json::from_value(serde_json::json!({
            "seq": 1, "at": "2026-12-07T07:15:09Z", "system": "erp", "record": "request",
            "method": "POST", "path": path, "route": path, "status": if valid { 201 } else { 400 },
            "valid": valid, "latency_us": 1,
            "dialect": { "dialect": dialect, "native_route": "/x" }
        }))
        .expect("a request record");
        r.seq = 1;
        r
    }

    fn cut_over(plant: &str, to: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "seq": 1, "at": "2026-12-07T07:15:08Z", "system": "erp", "record": "note",
            "name": "dialects", "detail": { plant: to }
        }))
        .expect("a note record")
    }

    #[test]
    fn a_refusal_after_the_cut_over_is_a_transition_until_that_resource_is_called_right() {
        let docs =
            "/plant/1000/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader";
        let conf = "/plant/1000/sap/opu/odata/sap/API_PROD_ORDER_CONFIRMATION_2_SRV/ProdnOrdConf2";
        let records = vec![
            cut_over("1000", "s4hana@2408"),
            request(docs, "s4hana@2408", true),
            cut_over("1000", "s4hana@2502"),
            // A resource the release did not change goes through first.
            request(conf, "s4hana@2502", true),
            request(docs, "s4hana@2502", false),
            request(&format!("{docs}?sap-client=100"), "s4hana@2502", false),
            request(docs, "s4hana@2502", true),
            // Once that resource was called right, a refusal there is the middleware's.
            request(docs, "s4hana@2502", false),
            request(conf, "s4hana@2502", false),
        ];
        let got = release_transitions(&records);
        let mut got: Vec<usize> = got.into_iter().collect();
        got.sort();
        assert_eq!(got, vec![4, 5]);
        assert_eq!(
            resource_of("/p/A_Product('FG-1')/to_Plant(Product='x',Plant='1')?$top=1"),
            "/p/A_Product/to_Plant"
        );
    }

    fn mismatch(field: &str, expected: &str, sent: &str) -> Mismatch {
        Mismatch {
            field: field.into(),
            expected: expected.into(),
            sent: sent.into(),
        }
    }

    #[test]
    fn a_reason_s4hana_cannot_carry_and_a_text_cut_at_its_length_are_excused() {
        let reason = mismatch(
            "/reason",
            "Customer order withdrawn (the event's reason)",
            "missing",
        );
        assert!(s4hana_excuses(
            "production_order.cancelled",
            "POST",
            "/x",
            &reason
        ));
        assert!(!s4hana_excuses(
            "production_order.changed",
            "POST",
            "/x",
            &reason
        ));
        let long = "a".repeat(50);
        let cut = mismatch(
            "/text",
            &format!("{long} (the event's text)"),
            &"a".repeat(40),
        );
        let route = "/api/v1/quality-notifications";
        assert!(s4hana_excuses(
            "nonconformance.created",
            "POST",
            route,
            &cut
        ));
        let wrong = mismatch(
            "/text",
            &format!("{long} (the event's text)"),
            &"b".repeat(40),
        );
        assert!(!s4hana_excuses(
            "nonconformance.created",
            "POST",
            route,
            &wrong
        ));
    }
}
