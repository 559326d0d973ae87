//! Mapping: every call the SUT makes carries, field by field, what the flows derive from
//! the source event it names (`contracts/flows.yaml`): the posting date, movement type,
//! plant, storage location, material, batch, quantity (as an amount in the base unit),
//! order, operation, hold, sequence, status…
//!
//! Judged: every `POST`/`PUT`/`PATCH` to an `/api/` route that reached the simulator's
//! contract layer with a body that validated (so not a fault's answer, not an idempotent
//! replay, not a schema violation — the contract checker judges those), once per source
//! event its body names. A call to a route some flow makes but the named event's flow
//! does not (or only under a condition that did not hold) is `unexpected`; a route no flow
//! makes at all (a reversal, say) is not judged. Poison events are the exactly-once
//! checker's business.
//!
//! Fail on any wrong field or unexpected call, whatever the target answered (a call with a
//! wrong posting date that the ERP rejected is as wrong as one it accepted); unknown when
//! no call was judged; pass otherwise. The witnesses name the event, the call, each wrong
//! field with what was sent and what was right and where that comes from.

use std::collections::BTreeMap;

use andon_contracts::flows::{self, Applies};
use andon_simulators::history::Entry;
use serde_json::json;

use super::common::{self, Events, Materials, Witnesses, describe, fmt_time, mismatch_text, sys};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The mapping checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mapping;

const NAME: &str = "mapping";

impl Checker for Mapping {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// Whether some flow calls this route on this system.
fn known_route(to: andon_contracts::System, method: &str, route: &str) -> bool {
    flows::flows().flows.iter().any(|f| {
        f.calls
            .iter()
            .any(|c| c.to == to && c.method == method && c.route == route)
    })
}

fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let materials = Materials::build(run, &events);
    let mut w = Witnesses::default();
    let (mut calls, mut wrong_calls, mut wrong_fields, mut unexpected) = (0u64, 0u64, 0u64, 0u64);
    let mut by_field: BTreeMap<String, u64> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let Entry::Request {
            method,
            path,
            route,
            sources,
            body: Some(body),
            valid: Some(true),
            replayed: false,
            fault,
            status,
            problem,
            ..
        } = &r.entry
        else {
            continue;
        };
        if !route.starts_with("/api/")
            || !common::reached_system(fault.as_deref())
            || !matches!(method.as_str(), "POST" | "PUT" | "PATCH")
            || !known_route(r.system, method, route)
        {
            continue;
        }
        let sent = body.to_value();
        for src in sources {
            let Some(ev) = events.get(src) else { continue };
            if ev.poison {
                continue;
            }
            let Some(flow) = ev.kind.and_then(|k| flows::flows().get(k)) else {
                continue;
            };
            let j = common::judge_call(
                flow,
                ev,
                &materials,
                flows::Sent {
                    to: r.system,
                    method,
                    route,
                    path,
                    body: Some(&sent),
                },
            );
            calls += 1;
            let answer = match (status, problem) {
                (s, Some(p)) => format!("answered {s} {p}"),
                (s, None) => format!("answered {s}"),
            };
            let call_text = format!("{method} {path} at {}", fmt_time(r.at));
            if j.call.is_none() || j.applies == Applies::No {
                unexpected += 1;
                w.push("unexpected_call", i, || Witness {
                    event: Some(ev.source_ref()),
                    system: Some(r.system),
                    expected: format!(
                        "only the calls the flow of {} names{}",
                        describe(ev),
                        if j.call.is_some() {
                            " (this one only under a condition that did not hold for this event)"
                        } else {
                            ""
                        }
                    ),
                    happened: format!("the SUT made {call_text} to {}, {answer}", sys(r.system)),
                    trace_id: ev.trace(),
                });
                continue;
            }
            if j.mismatches.is_empty() {
                continue;
            }
            wrong_calls += 1;
            wrong_fields += j.mismatches.len() as u64;
            for m in &j.mismatches {
                let field = m
                    .field
                    .trim_start_matches('/')
                    .split('/')
                    .filter(|p| p.parse::<usize>().is_err())
                    .collect::<Vec<_>>()
                    .join(".");
                *by_field.entry(field).or_default() += 1;
            }
            let call = j.call.map(|c| c.request()).unwrap_or_default();
            w.push("wrong_field", i, || Witness {
                event: Some(ev.source_ref()),
                system: Some(r.system),
                expected: format!(
                    "{call} to {} for {} with every field the flow derives from the event",
                    sys(r.system),
                    describe(ev)
                ),
                happened: format!("{call_text}, {answer}: {}", mismatch_text(&j.mismatches)),
                trace_id: ev.trace(),
            });
        }
    }
    let (status, reason) = if wrong_calls + unexpected > 0 {
        (
            Status::Fail,
            format!(
                "{wrong_calls} of {calls} calls carried {wrong_fields} wrong fields ({}), {unexpected} calls the flows do not make",
                if by_field.is_empty() {
                    "none".to_string()
                } else {
                    by_field
                        .iter()
                        .map(|(f, n)| format!("{f} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )
    } else if calls == 0 {
        (
            Status::Unknown,
            "no call of the SUT realising a source event reached the simulators with a valid body"
                .to_string(),
        )
    } else {
        (
            Status::Pass,
            format!("{calls} calls, every field as the flows derive it from the source event"),
        )
    };
    let mut v = Verdict::new(NAME, status);
    for (k, n) in [
        ("calls", calls),
        ("wrong_calls", wrong_calls),
        ("wrong_fields", wrong_fields),
        ("unexpected_calls", unexpected),
    ] {
        v.counts.insert(k.to_string(), n);
    }
    v.witnesses = w.finish();
    v.reason = Some(reason);
    v.details = json!({ "wrong_fields_by_name": by_field });
    v
}
