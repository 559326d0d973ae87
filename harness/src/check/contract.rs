//! Contract: every call the SUT made to a simulator's `/api/` routes keeps the wiring
//! contract, and the SUT's error answers to deliveries are problem+json.
//!
//! Calls judged: `request` records of `/api/` routes, except answers a fault gave instead
//! of the system (they carry no body) — `commit_then_reset` and a `slow` request whose
//! client gave up are judged, the system did process them. Categories, each counted:
//! * `schema_violations`: the body did not validate against the contract (`valid` false);
//! * `plant_scope_refused`: the call was refused 403 `plant-scope` (its token did not
//!   cover the plant it was for);
//! * for state-changing calls (POST, PUT): `missing_idempotency_key`,
//!   `missing_traceparent`, `broken_traceparent` (malformed, or its trace id is not the
//!   trace id of any source event it references), `missing_sources` (no source reference —
//!   not counted again for a body already counted as a schema violation),
//!   `unknown_sources` (a reference to an event never emitted);
//! * `non_problem_errors`: a delivery answered with status ≥ 400 whose content type is not
//!   `application/problem+json`;
//! * `retry_after_ignored`: a call to a system that had answered 429 or 503 with
//!   `Retry-After` less than that long before (the call started more than 100 ms after that
//!   answer — calls already in flight are not counted — and before 90 % of the wait).
//!
//! Fail on any; unknown when the SUT made no call and answered no delivery with an error;
//! pass otherwise.

use std::collections::BTreeMap;

use andon_simulators::history::Entry;
use serde_json::json;

use super::common::{self, Events, Witnesses, describe, fmt_time, sys};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The contract checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contract;

const NAME: &str = "contract";

const CATEGORIES: [&str; 10] = [
    "schema_violations",
    "plant_scope_refused",
    "missing_idempotency_key",
    "missing_traceparent",
    "broken_traceparent",
    "missing_sources",
    "unknown_sources",
    "non_problem_errors",
    "retry_after_ignored",
    "calls",
];

/// Calls that started this soon after a `Retry-After` answer were in flight, or raced it.
const RETRY_AFTER_GRACE_MS: i64 = 100;

impl Checker for Contract {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let mut counts: BTreeMap<&'static str, u64> = CATEGORIES.iter().map(|c| (*c, 0)).collect();
    let mut per_route: common::FastMap<
        (andon_contracts::System, &str, &str),
        BTreeMap<&'static str, u64>,
    > = common::FastMap::default();
    let mut w = Witnesses::default();
    let mut error_answers = 0u64;
    // Per system: when its last Retry-After answer came, and until when the SUT must wait.
    let mut hold_off: common::FastMap<
        andon_contracts::System,
        (
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
            u64,
        ),
    > = common::FastMap::default();
    for (i, r) in records.iter().enumerate() {
        match &r.entry {
            Entry::Request {
                method,
                route,
                idempotency_key,
                traceparent,
                sources,
                valid,
                violations,
                fault,
                status,
                problem,
                retry_after_s,
                latency_us,
                ..
            } => {
                if !route.starts_with("/api/") {
                    continue;
                }
                let started = r.at - chrono::Duration::microseconds(*latency_us as i64);
                if let Some((answered, until, secs)) = hold_off.get(&r.system).copied()
                    && started > answered + chrono::Duration::milliseconds(RETRY_AFTER_GRACE_MS)
                    && started < until
                {
                    *counts.entry("retry_after_ignored").or_default() += 1;
                    let after_ms = (started - answered).num_milliseconds();
                    w.push("retry_after_ignored", i, || Witness {
                        event: sources.first().cloned(),
                        system: Some(r.system),
                        expected: format!(
                            "no call to {} for {secs} s after its Retry-After answer at {}",
                            sys(r.system),
                            fmt_time(answered)
                        ),
                        happened: format!(
                            "{method} {route} was sent {after_ms} ms after it (answered {status})"
                        ),
                        trace_id: traceparent
                            .as_deref()
                            .and_then(common::trace_id)
                            .map(str::to_string),
                    });
                }
                if matches!(status, 429 | 503)
                    && let Some(secs) = *retry_after_s
                    && secs > 0
                {
                    let until = r.at + chrono::Duration::milliseconds(secs as i64 * 900);
                    let entry = hold_off.entry(r.system).or_insert((r.at, until, secs));
                    *entry = (r.at, until.max(entry.1), secs);
                }
                if !common::reached_system(fault.as_deref()) {
                    continue;
                }
                let route_counts = per_route
                    .entry((r.system, method.as_str(), route.as_str()))
                    .or_default();
                let mut bump = |cat: &'static str, counts: &mut BTreeMap<&'static str, u64>| {
                    *counts.entry(cat).or_default() += 1;
                    *route_counts.entry(cat).or_default() += 1;
                };
                bump("calls", &mut counts);
                let events = &events;
                let mut witness = |cat: &'static str, expected: String, happened: String| {
                    w.push(cat, i, || {
                        let first_event = sources.first().and_then(|s| events.get(s));
                        let about = first_event
                            .map(|e| format!(" realising {}", describe(e)))
                            .unwrap_or_default();
                        Witness {
                            event: sources.first().cloned(),
                            system: Some(r.system),
                            expected,
                            happened: format!(
                                "{happened} ({method} {route} to {} at {}{about})",
                                sys(r.system),
                                fmt_time(r.at)
                            ),
                            trace_id: traceparent
                                .as_deref()
                                .and_then(common::trace_id)
                                .map(str::to_string)
                                .or_else(|| first_event.and_then(|e| e.trace())),
                        }
                    });
                };
                let invalid = *valid == Some(false);
                if invalid {
                    bump("schema_violations", &mut counts);
                    witness(
                        "schema_violations",
                        "a body that validates against the contract".into(),
                        format!(
                            "the body broke it: {}",
                            violations
                                .iter()
                                .take(3)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    );
                }
                if *status == 403 && problem.as_deref() == Some("plant-scope") {
                    bump("plant_scope_refused", &mut counts);
                    witness(
                        "plant_scope_refused",
                        "a bearer token whose scope covers the plant of the call (request `scope=plant:<id>` for every plant served, one token per plant, or no scope)".into(),
                        "refused 403 plant-scope: the token did not cover the call's plant".into(),
                    );
                }
                if !matches!(method.as_str(), "POST" | "PUT") {
                    continue;
                }
                if idempotency_key
                    .as_deref()
                    .is_none_or(|k| k.trim().is_empty())
                {
                    bump("missing_idempotency_key", &mut counts);
                    witness(
                        "missing_idempotency_key",
                        "an Idempotency-Key header on a state-changing call".into(),
                        "none".into(),
                    );
                }
                match traceparent.as_deref() {
                    None => {
                        bump("missing_traceparent", &mut counts);
                        witness(
                            "missing_traceparent",
                            "a traceparent header continuing the source event's trace".into(),
                            "none".into(),
                        );
                    }
                    Some(tp) => {
                        let known: Vec<_> = sources.iter().filter_map(|s| events.get(s)).collect();
                        match common::trace_id(tp) {
                            None => {
                                bump("broken_traceparent", &mut counts);
                                witness(
                                    "broken_traceparent",
                                    "a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)".into(),
                                    format!("traceparent {tp:?} is malformed"),
                                );
                            }
                            Some(t)
                                if !known.is_empty()
                                    && !known.iter().any(|e| {
                                        common::trace_id(&e.event.traceparent) == Some(t)
                                    }) =>
                            {
                                bump("broken_traceparent", &mut counts);
                                witness(
                                    "broken_traceparent",
                                    format!(
                                        "the trace id of the source event ({})",
                                        known
                                            .iter()
                                            .filter_map(|e| e.trace())
                                            .collect::<Vec<_>>()
                                            .join(" or ")
                                    ),
                                    format!("trace id {t}"),
                                );
                            }
                            _ => {}
                        }
                    }
                }
                if sources.is_empty() {
                    if !invalid {
                        bump("missing_sources", &mut counts);
                        witness(
                            "missing_sources",
                            "a reference to the source event(s) the call realises".into(),
                            "the body references no source event".into(),
                        );
                    }
                } else if let Some(s) = sources.iter().find(|s| events.get(s).is_none()) {
                    bump("unknown_sources", &mut counts);
                    witness(
                        "unknown_sources",
                        "references to events the plant emitted".into(),
                        format!("it references {} {}, never emitted", s.source, s.id),
                    );
                }
            }
            Entry::Delivery {
                event,
                status: Some(status),
                content_type,
                ..
            } if *status >= 400 => {
                error_answers += 1;
                let ok = content_type
                    .as_deref()
                    .is_some_and(|ct| essence(ct) == "application/problem+json");
                if ok {
                    continue;
                }
                *counts.entry("non_problem_errors").or_default() += 1;
                let ev = events.get(event);
                w.push("non_problem_errors", i, || Witness {
                    event: Some(event.clone()),
                    system: Some(r.system),
                    expected: "error answers as application/problem+json (RFC 9457)".into(),
                    happened: format!(
                        "the SUT answered the delivery of {} with {status} as {}",
                        ev.map(describe)
                            .unwrap_or_else(|| format!("{} {}", event.source, event.id)),
                        content_type.as_deref().unwrap_or("no content type")
                    ),
                    trace_id: ev.and_then(|e| e.trace()),
                });
            }
            _ => {}
        }
    }
    let calls = counts.get("calls").copied().unwrap_or(0);
    let bad: u64 = CATEGORIES
        .iter()
        .filter(|c| **c != "calls")
        .map(|c| counts.get(c).copied().unwrap_or(0))
        .sum();
    let (status, reason) = if bad > 0 {
        let list = CATEGORIES
            .iter()
            .filter(|c| **c != "calls" && counts.get(*c).copied().unwrap_or(0) > 0)
            .map(|c| format!("{} {}", counts[c], c.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ");
        (Status::Fail, format!("{list} over {calls} calls"))
    } else if calls == 0 && error_answers == 0 {
        (
            Status::Unknown,
            "the SUT made no call to the simulators' APIs".to_string(),
        )
    } else {
        (
            Status::Pass,
            format!("{calls} calls and {error_answers} error answers kept the contract"),
        )
    };
    let mut v = Verdict::new(NAME, status);
    v.reason = Some(reason);
    for c in CATEGORIES {
        v.counts
            .insert(c.to_string(), counts.get(c).copied().unwrap_or(0));
    }
    v.counts
        .insert("delivery_error_answers".into(), error_answers);
    v.witnesses = w.finish();
    let per_call: BTreeMap<String, &BTreeMap<&'static str, u64>> = per_route
        .iter()
        .map(|((system, method, route), c)| (format!("{system} {method} {route}"), c))
        .collect();
    v.details = json!({ "per_call": per_call });
    v
}
