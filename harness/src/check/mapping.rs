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
use andon_contracts::{Json, SourceRef};
use andon_simulators::history::{Record, RequestEntry};
use serde_json::json;

use super::common::{
    self, Ev, Events, Materials, Witnesses, describe, fmt_time, mismatch_text, sys,
};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The mapping checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mapping;

/// The checker's name in verdicts.
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

/// A call the mapping checker judges: a state-changing call to an `/api/` route that some
/// flow makes, which reached the simulator with a body that validated. Borrowed from its
/// `request` record.
struct Call<'r> {
    /// Its index in the history (the witnesses' order).
    idx: usize,
    /// The record it was read from.
    record: &'r Record,
    /// `POST`, `PUT` or `PATCH`.
    method: &'r str,
    /// The path as requested.
    path: &'r str,
    /// The route template the simulator matched.
    route: &'r str,
    /// The source events its body names.
    sources: &'r [SourceRef],
    /// The body it carried.
    body: &'r Json,
    /// What the simulator answered.
    status: u16,
    /// The problem type of the answer, if any.
    problem: Option<&'r str>,
}

impl<'r> Call<'r> {
    /// The record at `idx` as a call to judge, or `None` when it is not one.
    fn of(idx: usize, record: &'r Record) -> Option<Self> {
        let Some(RequestEntry {
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
            dialect,
            ..
        }) = record.entry.request()
        else {
            return None;
        };
        // A vendor dialect's call is judged as the call of andon's API it amounts to.
        let (route, body) = match dialect.as_deref() {
            Some(d) => match (&d.native_route, &d.native_body) {
                (Some(r), Some(b)) => (r, b),
                _ => return None,
            },
            None => (route, body),
        };
        if !route.starts_with("/api/")
            || !common::reached_system(fault.as_deref())
            || !matches!(method.as_str(), "POST" | "PUT" | "PATCH")
            || !known_route(record.system, method, route)
        {
            return None;
        }
        Some(Self {
            idx,
            record,
            method,
            path,
            route,
            sources,
            body,
            status: *status,
            problem: problem.as_deref(),
        })
    }

    /// `answered 422 posting-period-closed`, or `answered 201`.
    fn answer(&self) -> String {
        match (self.status, self.problem) {
            (s, Some(p)) => format!("answered {s} {p}"),
            (s, None) => format!("answered {s}"),
        }
    }

    /// `POST /api/v1/… at <time>`.
    fn text(&self) -> String {
        format!(
            "{} {} at {}",
            self.method,
            self.path,
            fmt_time(self.record.at)
        )
    }
}

/// What the mapping checker found so far: the counts, the wrong fields by name and the
/// witnesses.
#[derive(Default)]
struct Findings {
    /// Calls judged (one per source event a call names).
    calls: u64,
    /// Calls with at least one wrong field.
    wrong_calls: u64,
    /// Wrong fields over all calls.
    wrong_fields: u64,
    /// Calls the named event's flow does not make.
    unexpected: u64,
    /// Wrong fields by their path (`quantity.value`), array indexes left out.
    by_field: BTreeMap<String, u64>,
    /// The witnesses.
    w: Witnesses,
}

/// Judges every call of the run against the source events it names.
fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let materials = Materials::build(run, &events);
    let vendors = common::vendor_plants(records);
    let mut found = Findings::default();
    for (i, r) in records.iter().enumerate() {
        let Some(call) = Call::of(i, r) else {
            continue;
        };
        let sent = call.body.to_value();
        for src in call.sources {
            let Some(ev) = events.get(src) else { continue };
            if ev.poison {
                continue;
            }
            let Some(flow) = ev.kind.and_then(|k| flows::flows().get(k)) else {
                continue;
            };
            let vendor = common::Vendor::of(&vendors, &events, ev, call.idx);
            found.judge(&call, &sent, flow, ev, &materials, vendor.as_ref());
        }
    }
    found.verdict()
}

impl Findings {
    /// Judges one call against one event it names and the event's flow, and counts and
    /// witnesses what was wrong.
    fn judge(
        &mut self,
        call: &Call<'_>,
        sent: &serde_json::Value,
        flow: &'static flows::Flow,
        ev: &Ev<'_>,
        materials: &Materials<'_>,
        vendor: Option<&common::Vendor<'_>>,
    ) {
        let mut j = common::judge_call(
            flow,
            ev,
            materials,
            flows::Sent {
                to: call.record.system,
                method: call.method,
                route: call.route,
                path: call.path,
                body: Some(sent),
            },
        );
        if let Some(v) = vendor {
            v.forgive(ev, call.method, call.route, sent, &mut j.mismatches);
        }
        self.calls += 1;
        if j.call.is_none() || j.applies == Applies::No {
            self.unexpected(call, ev, j.call.is_some());
            return;
        }
        if j.mismatches.is_empty() {
            return;
        }
        self.wrong(call, ev, &j);
    }

    /// Counts and witnesses a call the event's flow does not make (`conditional`: the flow
    /// makes it, under a condition that did not hold).
    fn unexpected(&mut self, call: &Call<'_>, ev: &Ev<'_>, conditional: bool) {
        self.unexpected += 1;
        let system = call.record.system;
        self.w.push("unexpected_call", call.idx, || Witness {
            event: Some(ev.source_ref()),
            system: Some(system),
            expected: format!(
                "only the calls the flow of {} names{}",
                describe(ev),
                if conditional {
                    " (this one only under a condition that did not hold for this event)"
                } else {
                    ""
                }
            ),
            happened: format!(
                "the SUT made {} to {}, {}",
                call.text(),
                sys(system),
                call.answer()
            ),
            trace_id: ev.trace(),
        });
    }

    /// Counts and witnesses a call with wrong fields.
    fn wrong(&mut self, call: &Call<'_>, ev: &Ev<'_>, j: &flows::Judgement<'static>) {
        self.wrong_calls += 1;
        self.wrong_fields += j.mismatches.len() as u64;
        for m in &j.mismatches {
            let field = m
                .field
                .trim_start_matches('/')
                .split('/')
                .filter(|p| p.parse::<usize>().is_err())
                .collect::<Vec<_>>()
                .join(".");
            *self.by_field.entry(field).or_default() += 1;
        }
        let flow_call = j.call.map(|c| c.request()).unwrap_or_default();
        let system = call.record.system;
        self.w.push("wrong_field", call.idx, || Witness {
            event: Some(ev.source_ref()),
            system: Some(system),
            expected: format!(
                "{flow_call} to {} for {} with every field the flow derives from the event",
                sys(system),
                describe(ev)
            ),
            happened: format!(
                "{}, {}: {}",
                call.text(),
                call.answer(),
                mismatch_text(&j.mismatches)
            ),
            trace_id: ev.trace(),
        });
    }

    /// The verdict: fail on any wrong field or unexpected call, unknown when no call was
    /// judged, pass otherwise.
    fn verdict(self) -> Verdict {
        let Self {
            calls,
            wrong_calls,
            wrong_fields,
            unexpected,
            by_field,
            w,
        } = self;
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
}
