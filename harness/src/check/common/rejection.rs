//! Whether a business rejection (422) of a call excuses a missing effect: only when
//! andon's own `reject` fault answered it, or the call was right in every field and the
//! flow lists the code for that call.

use andon_contracts::flows;
use andon_contracts::{Quantity, System};
use andon_simulators::history::{Record, RequestEntry};

use super::*;

/// A business rejection (422) of a call realising a source event.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    /// The system that answered.
    pub system: System,
    /// The `request` record.
    pub idx: usize,
    /// Whether it excuses a missing effect: andon's own fault answered it, or the call was
    /// right field by field and the flow lists its problem code (`contracts/flows.yaml`).
    pub legit: bool,
    /// Why it does not excuse (the wrong fields, or the code the flow does not list).
    pub why: Option<String>,
}

/// Calls answered 422 (a business rejection) per source event they realise — attributed
/// as in [`requests_by_event`] — each judged against the event's flow.
pub(crate) fn rejections_by_event<'a>(
    records: &'a [Record],
    events: &Events<'a>,
    materials: &Materials<'_>,
) -> FastMap<Key<'a>, Vec<Rejection>> {
    let mut traces: Option<FastMap<&'a str, Key<'a>>> = None;
    let vendors = vendor_plants(records);
    let mut out: FastMap<Key<'a>, Vec<Rejection>> = FastMap::default();
    for (idx, r) in records.iter().enumerate() {
        let Some(RequestEntry {
            sources,
            traceparent,
            ..
        }) = r.entry.request()
        else {
            continue;
        };
        if as_native(r).is_none_or(|n| !n.rejected) {
            continue;
        }
        let mut keys: Vec<Key<'a>> = Vec::new();
        if sources.is_empty() {
            let Some(t) = traceparent.as_deref().and_then(trace_id) else {
                continue;
            };
            let traces = traces.get_or_insert_with(|| events.by_trace());
            if let Some(k) = traces.get(t) {
                keys.push(*k);
            }
        } else {
            keys.extend(sources.iter().map(key));
        }
        for k in keys {
            let (legit, why) = match events.map.get(&k) {
                Some(ev) => {
                    let vendor = Vendor::of(&vendors, events, ev, idx);
                    judge_rejection(r, ev, materials, vendor.as_ref())
                }
                None => (false, Some("it names no emitted event".into())),
            };
            out.entry(k).or_default().push(Rejection {
                system: r.system,
                idx,
                legit,
                why,
            });
        }
    }
    out
}

/// A call as andon's API sees it: its route and body (for a vendor dialect's call, the call
/// of andon's API it amounts to), and whether the target refused it on a business rule
/// (andon's API: 422; a dialect: its own status, such as S/4HANA's 400, with the business
/// rule's problem code).
pub(crate) struct AsNative<'r> {
    /// Route of andon's API.
    pub route: &'r String,
    /// Body in andon's API.
    pub body: &'r Option<andon_contracts::Json>,
    /// Whether it was a business rejection.
    pub rejected: bool,
}

/// [`AsNative`] of a `request` record to andon's API or a vendor dialect; `None` otherwise.
pub(crate) fn as_native(r: &Record) -> Option<AsNative<'_>> {
    let RequestEntry {
        route,
        body,
        status,
        problem,
        dialect,
        ..
    } = r.entry.request()?;
    match dialect.as_deref() {
        None if route.starts_with("/api/") => Some(AsNative {
            route,
            body,
            rejected: *status == 422,
        }),
        Some(d) => {
            let route = d.native_route.as_ref()?;
            let business = problem.as_deref().is_some_and(|p| {
                andon_contracts::problem::definition(p).is_some_and(|def| def.status == 422)
            });
            Some(AsNative {
                route,
                body: &d.native_body,
                rejected: (400..500).contains(status) && business,
            })
        }
        None => None,
    }
}

/// Whether the flow lists `code` for the call `method route` to `system`, and if not, why.
fn by_code_alone(
    flow: &flows::Flow,
    system: System,
    method: &str,
    route: &str,
    code: &str,
) -> (bool, Option<String>) {
    let listed = flow.calls.iter().any(|c| {
        c.to == system && c.method == method && c.route == route && c.may_be_rejected_with(code)
    });
    (
        listed,
        (!listed).then(|| format!("the flow does not list {code}")),
    )
}

/// Whether a 422 answer to a call for `ev` is the target's legitimate answer to a right
/// call (see [`Rejection::legit`]) — right as the mapping checker judges it, a vendor's
/// plant forgiven what its API cannot carry — and if not, why.
fn judge_rejection(
    r: &Record,
    ev: &Ev<'_>,
    materials: &Materials<'_>,
    vendor: Option<&Vendor<'_>>,
) -> (bool, Option<String>) {
    let (
        Some(RequestEntry {
            method,
            path,
            problem,
            fault,
            ..
        }),
        Some(native),
    ) = (r.entry.request(), as_native(r))
    else {
        return (false, None);
    };
    let (route, body) = (native.route, native.body);
    if !reached_system(fault.as_deref()) {
        // andon's own fault answered (a `reject` fault): the target's decision, not the
        // middleware's doing.
        return (true, None);
    }
    let code = problem.as_deref().unwrap_or("");
    let Some(flow) = ev.kind.and_then(|k| flows::flows().get(k)) else {
        return (false, Some(format!("{} needs no call", ev.event.type_)));
    };
    let Some(body) = body else {
        // Not recorded (a history of an older andon): judged by the code alone.
        return by_code_alone(flow, r.system, method, route, code);
    };
    let sent = body.to_value();
    let mut j = judge_call(
        flow,
        ev,
        materials,
        flows::Sent {
            to: r.system,
            method,
            route,
            path,
            body: Some(&sent),
        },
    );
    if let Some(v) = vendor {
        v.forgive(ev, method, route, &sent, &mut j.mismatches);
    }
    match j.call {
        None => (
            false,
            Some(format!(
                "the flow of {} makes no {method} {route}",
                ev.event.type_
            )),
        ),
        Some(_) if j.applies == flows::Applies::No => (
            false,
            Some(format!(
                "the flow of this event makes {method} {route} only under a condition that does not hold"
            )),
        ),
        Some(_) if !j.mismatches.is_empty() => (false, Some(mismatch_text(&j.mismatches))),
        Some(call) if !call.may_be_rejected_with(code) => (
            false,
            Some(format!(
                "a right {method} {route} is not rejected with {code} (the flow lists {})",
                if call.rejections.is_empty() {
                    "no rejection".to_string()
                } else {
                    call.rejections.join(", ")
                }
            )),
        ),
        Some(_) => (true, None),
    }
}

/// Judges a call the SUT made for `ev` against the event's flow, with the material master
/// as it stood when the event was emitted.
pub(crate) fn judge_call(
    flow: &'static flows::Flow,
    ev: &Ev<'_>,
    materials: &Materials<'_>,
    sent: flows::Sent<'_>,
) -> flows::Judgement<'static> {
    let data = ev.event.data.to_value();
    let facts = EventFacts {
        materials,
        idx: ev.idx,
    };
    let expected = flow.expected(ev.event, &data, &facts);
    flows::judge(&expected, sent, &facts, ev.event.plant.as_str())
}

/// The wrong fields of a call, in words (`posting_date: sent 2026-12-06, expected
/// 2026-11-02 (the event's posting_date)`).
pub(crate) fn mismatch_text(m: &[flows::Mismatch]) -> String {
    m.iter()
        .map(|m| {
            let field = m.field.trim_start_matches('/').replace('/', ".");
            format!("{field}: sent {}, expected {}", m.sent, m.expected)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The material master as it stood when an event was emitted, for the flows' judge.
pub(crate) struct EventFacts<'m, 'a> {
    /// The material master over the run.
    pub materials: &'m Materials<'a>,
    /// The event's record index.
    pub idx: usize,
}

impl flows::Facts for EventFacts<'_, '_> {
    fn inspection_required(&self, material: &str, plant: &str) -> Option<bool> {
        match self.materials.inspection(material, plant, self.idx) {
            (now, false) => now,
            (_, true) => None,
        }
    }

    fn to_base(&self, material: &str, plant: &str, q: &Quantity) -> Option<i64> {
        self.materials
            .to_base(material, plant, self.idx, q)
            .map(|x| x.0)
    }
}
