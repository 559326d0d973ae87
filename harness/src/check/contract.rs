//! Contract: every call the SUT made to a simulator's `/api/` routes keeps the wiring
//! contract, and the SUT's error answers to deliveries are problem+json.
//!
//! Calls judged: `request` records of `/api/` routes and of vendor dialects (their
//! idempotency header is the dialect's — S/4HANA's `RequestID` — and their source is the
//! event whose trace they continue), except answers a fault gave instead
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
//!   `Retry-After` less than that long before (the call started more than 250 ms after the
//!   first such answer of the wait — calls already in flight are not counted; an answer
//!   while the wait is in force extends it — and before 90 % of the wait);
//! * `stale_etag_resent`: a conditional call sent again with an `If-Match` its system had
//!   already refused `412 Precondition Failed` on the same path (that ETag is stale for
//!   good: a middleware reads the resource again for its current one; calls that started
//!   before the refusal was answered are not counted);
//! * `subscription_lapsed`: a change a Business Central plant did not notify because the
//!   middleware, once subscribed in that plant, had let its subscription expire or deleted
//!   it (`common::lapses`).
//!
//! Business Central has no idempotency header: its calls are not asked for one (a
//! middleware deduplicates by a natural key, which the exactly-once checker judges).
//!
//! A vendor dialect's call refused for a body of the release its plant was just cut over
//! from, before the plant's first call to the same resource that kept the new release, is
//! counted as `release_transition`, not as a violation (an unannounced upgrade is found out
//! that way, and only at a resource the release changed).
//!
//! Fail on any; unknown when the SUT made no call and answered no delivery with an error;
//! pass otherwise.

use std::collections::BTreeMap;

use andon_contracts::{SourceRef, System};
use andon_simulators::history::{Entry, Record, RequestEntry};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::common::{self, Events, FastMap, Witnesses, describe, fmt_time, sys};
use super::{Checker, RunData, Status, Verdict, Witness};

mod sequence;

/// The contract checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contract;

/// The checker's name in verdicts.
const NAME: &str = "contract";

/// What the checker counts, in report order (`non_problem_errors` is also counted for
/// error answers to deliveries).
const CATEGORIES: [&str; 12] = [
    "schema_violations",
    "plant_scope_refused",
    "missing_idempotency_key",
    "missing_traceparent",
    "broken_traceparent",
    "missing_sources",
    "unknown_sources",
    "non_problem_errors",
    "retry_after_ignored",
    "stale_etag_resent",
    "subscription_lapsed",
    "calls",
];

impl Checker for Contract {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// The media type of a content type, lower-cased, without its parameters.
fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A count per category.
type Counts = BTreeMap<&'static str, u64>;

/// A `request` record to an `/api/` route, its fields borrowed.
struct Call<'r> {
    /// Its index in the history (the witnesses' order).
    idx: usize,
    /// The record.
    record: &'r Record,
    /// The method.
    method: &'r str,
    /// The route template the simulator matched.
    route: &'r str,
    /// The `Idempotency-Key` header.
    idempotency_key: Option<&'r str>,
    /// The `traceparent` header.
    traceparent: Option<&'r str>,
    /// The source events its body references.
    sources: &'r [SourceRef],
    /// Whether the body validated (`None`: not judged).
    valid: Option<bool>,
    /// The contract violations of the body.
    violations: &'r [String],
    /// The fault that answered instead of the system, if any.
    fault: Option<&'r str>,
    /// The answer's status.
    status: u16,
    /// The answer's problem type.
    problem: Option<&'r str>,
    /// The answer's `Retry-After`, in seconds.
    retry_after_s: Option<u64>,
    /// The request's path and `If-Match` (a conditional update).
    path: &'r str,
    if_match: Option<&'r str>,
    /// How long the call took.
    latency_us: u64,
    /// The vendor dialect it was made in (`s4hana@2408`), if not andon's API.
    dialect: Option<&'r str>,
    /// Whether it amounts to a call of andon's API (a dialect's own housekeeping, such as
    /// Business Central's webhook subscriptions, does not: no source, key or trace is asked
    /// of it).
    business: bool,
    /// Refused for a body of the release its plant was just cut over from (see
    /// [`common::release_transitions`]): counted, not a violation.
    transition: bool,
}

impl<'r> Call<'r> {
    /// The record at `idx` as a call to an `/api/` route, or `None`.
    fn of(idx: usize, record: &'r Record) -> Option<Self> {
        let RequestEntry {
            method,
            path,
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
            if_match,
            latency_us,
            dialect,
            ..
        } = record.entry.request()?;
        // A fault's answer on a vendor dialect's path (`/plant/{p}/…`) is recorded before the
        // dialect saw the call: no dialect, the path as its route. It counts for the
        // `Retry-After` it gave (nothing else is judged of a call the system did not see).
        let dialect_fault = fault.is_some()
            && !common::reached_system(fault.as_deref())
            && route.starts_with("/plant/");
        (route.starts_with("/api/") || dialect.is_some() || dialect_fault).then(|| Self {
            idx,
            record,
            method,
            route,
            idempotency_key: idempotency_key.as_deref(),
            traceparent: traceparent.as_deref(),
            sources,
            valid: *valid,
            violations,
            fault: fault.as_deref(),
            status: *status,
            problem: problem.as_deref(),
            retry_after_s: *retry_after_s,
            path,
            if_match: if_match.as_deref(),
            latency_us: *latency_us,
            dialect: dialect.as_deref().map(|d| d.dialect.as_str()),
            business: dialect.as_deref().is_none_or(|d| d.native_route.is_some()),
            transition: false,
        })
    }

    /// The trace id of its `traceparent`, when it has a well-formed one.
    fn trace(&self) -> Option<String> {
        self.traceparent
            .and_then(common::trace_id)
            .map(str::to_string)
    }
}

/// Per system: when its last `Retry-After` answer came, until when the SUT must wait, and
/// the seconds it asked for.
type HoldOff = (DateTime<Utc>, DateTime<Utc>, u64);

/// What the contract checker found so far.
struct Findings<'r> {
    /// Counts per category (every one of [`CATEGORIES`], and `non_problem_errors`).
    counts: Counts,
    /// Counts per category and called route (system, method, route).
    per_route: FastMap<(System, &'r str, &'r str), Counts>,
    /// The witnesses.
    w: Witnesses,
    /// Deliveries the SUT answered with a status of 400 or more.
    error_answers: u64,
    /// The last `Retry-After` answer of each system.
    hold_off: FastMap<System, HoldOff>,
    /// When each (system, path, `If-Match`) was first refused 412.
    stale: FastMap<(System, &'r str, &'r str), DateTime<Utc>>,
}

/// Judges every call and every error answer of the run.
fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let mut found = Findings {
        counts: CATEGORIES.iter().map(|c| (*c, 0)).collect(),
        per_route: FastMap::default(),
        w: Witnesses::default(),
        error_answers: 0,
        hold_off: FastMap::default(),
        stale: FastMap::default(),
    };
    let transitions = common::release_transitions(records);
    for (i, r) in records.iter().enumerate() {
        match &r.entry {
            Entry::Request(_) => {
                if let Some(mut call) = Call::of(i, r) {
                    call.transition = transitions.contains(&i);
                    found.call(&call, &events);
                }
            }
            Entry::Delivery {
                event,
                status: Some(status),
                content_type,
                ..
            } if *status >= 400 => {
                found.error_answer(i, r, event, *status, content_type.as_deref(), &events);
            }
            _ => {}
        }
    }
    found.lapses(records, &events);
    found.verdict()
}

impl<'r> Findings<'r> {
    /// Judges one call: its respect of earlier `Retry-After` answers, then — when it
    /// reached the system — its body, scope, headers and source references.
    fn call(&mut self, call: &Call<'r>, events: &Events<'r>) {
        self.retry_after(call);
        self.stale_etag(call);
        if !common::reached_system(call.fault) {
            return;
        }
        let r = call.record;
        let route_counts = self
            .per_route
            .entry((r.system, call.method, call.route))
            .or_default();
        let mut judging = Judging {
            counts: &mut self.counts,
            route_counts,
            w: &mut self.w,
            call,
            events,
        };
        judging.bump("calls");
        let invalid = judging.body_and_scope();
        if !matches!(call.method, "POST" | "PUT") || !call.business {
            return;
        }
        judging.headers();
        if call.dialect.is_some() {
            judging.dialect_trace();
        } else {
            judging.sources(invalid);
        }
    }

    /// Counts and witnesses a delivery the SUT answered with an error that is not
    /// problem+json.
    fn error_answer(
        &mut self,
        i: usize,
        r: &Record,
        event: &SourceRef,
        status: u16,
        content_type: Option<&str>,
        events: &Events<'_>,
    ) {
        self.error_answers += 1;
        let ok = content_type.is_some_and(|ct| essence(ct) == "application/problem+json");
        if ok {
            return;
        }
        *self.counts.entry("non_problem_errors").or_default() += 1;
        let ev = events.get(event);
        self.w.push("non_problem_errors", i, || Witness {
            event: Some(event.clone()),
            system: Some(r.system),
            expected: "error answers as application/problem+json (RFC 9457)".into(),
            happened: format!(
                "the SUT answered the delivery of {} with {status} as {}",
                ev.map(describe)
                    .unwrap_or_else(|| format!("{} {}", event.source, event.id)),
                content_type.unwrap_or("no content type")
            ),
            trace_id: ev.and_then(|e| e.trace()),
        });
    }

    /// The verdict: fail on any broken rule, unknown when the SUT made no call and
    /// answered no delivery with an error, pass otherwise.
    fn verdict(self) -> Verdict {
        let counts = &self.counts;
        let calls = counts.get("calls").copied().unwrap_or(0);
        let error_answers = self.error_answers;
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
        if let Some(n) = counts.get("release_transition") {
            v.counts.insert("release_transition".into(), *n);
        }
        v.witnesses = self.w.finish();
        let per_call: BTreeMap<String, &Counts> = self
            .per_route
            .iter()
            .map(|((system, method, route), c)| (format!("{system} {method} {route}"), c))
            .collect();
        v.details = json!({ "per_call": per_call });
        v
    }
}

/// One call that reached its system, being judged rule by rule: what it breaks is counted
/// overall and for its route, and witnessed.
struct Judging<'a, 'r> {
    /// The counts overall.
    counts: &'a mut Counts,
    /// The counts of the call's route.
    route_counts: &'a mut Counts,
    /// The witnesses.
    w: &'a mut Witnesses,
    /// The call.
    call: &'a Call<'r>,
    /// The run's events.
    events: &'a Events<'r>,
}

impl Judging<'_, '_> {
    /// Counts one of `cat`, overall and for the route.
    fn bump(&mut self, cat: &'static str) {
        *self.counts.entry(cat).or_default() += 1;
        *self.route_counts.entry(cat).or_default() += 1;
    }

    /// Counts and witnesses a broken rule.
    fn flag(&mut self, cat: &'static str, expected: String, happened: String) {
        self.bump(cat);
        let (call, events) = (self.call, self.events);
        let r = call.record;
        self.w.push(cat, call.idx, || {
            let first_event = call.sources.first().and_then(|s| events.get(s));
            let about = first_event
                .map(|e| format!(" realising {}", describe(e)))
                .unwrap_or_default();
            Witness {
                event: call.sources.first().cloned(),
                system: Some(r.system),
                expected,
                happened: format!(
                    "{happened} ({} {} to {} at {}{about})",
                    call.method,
                    call.route,
                    sys(r.system),
                    fmt_time(r.at)
                ),
                trace_id: call.trace().or_else(|| first_event.and_then(|e| e.trace())),
            }
        });
    }

    /// The body against the contract and the token's plant scope; whether the body broke
    /// the contract.
    fn body_and_scope(&mut self) -> bool {
        let call = self.call;
        let invalid = call.valid == Some(false);
        if invalid && call.transition {
            self.bump("release_transition");
        } else if invalid {
            self.flag(
                "schema_violations",
                "a body that validates against the contract".into(),
                format!(
                    "the body broke it: {}",
                    call.violations
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
        }
        if call.status == 403 && call.problem == Some("plant-scope") {
            self.flag(
                "plant_scope_refused",
                "a bearer token whose scope covers the plant of the call (request `scope=plant:<id>` for every plant served, one token per plant, or no scope)".into(),
                "refused 403 plant-scope: the token did not cover the call's plant".into(),
            );
        }
        invalid
    }

    /// The `Idempotency-Key` and `traceparent` headers of a state-changing call.
    fn headers(&mut self) {
        let call = self.call;
        let keyless = call
            .dialect
            .is_some_and(|d| d.starts_with("business-central"));
        if !keyless && call.idempotency_key.is_none_or(|k| k.trim().is_empty()) {
            let expected = match call.dialect {
                Some(d) if d.starts_with("s4hana") => {
                    "RequestID and RepeatabilityCreation headers (SAP repeatable request) on a creating call"
                }
                _ => "an Idempotency-Key header on a state-changing call",
            };
            self.flag("missing_idempotency_key", expected.into(), "none".into());
        }
        let Some(tp) = call.traceparent else {
            self.flag(
                "missing_traceparent",
                "a traceparent header continuing the source event's trace".into(),
                "none".into(),
            );
            return;
        };
        let events = self.events;
        let known: Vec<_> = call.sources.iter().filter_map(|s| events.get(s)).collect();
        match common::trace_id(tp) {
            None => self.flag(
                "broken_traceparent",
                "a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)".into(),
                format!("traceparent {tp:?} is malformed"),
            ),
            Some(t)
                if !known.is_empty()
                    && !known
                        .iter()
                        .any(|e| common::trace_id(&e.event.traceparent) == Some(t)) =>
            {
                self.flag(
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

    /// A vendor dialect's call names no source event in its body: its `traceparent` must
    /// continue one's trace (the source it realises is that event).
    fn dialect_trace(&mut self) {
        let call = self.call;
        if call.sources.is_empty() && call.traceparent.and_then(common::trace_id).is_some() {
            self.flag(
                "broken_traceparent",
                "the trace of the source event the call realises (a vendor dialect's body names no source)".into(),
                "a trace no source event started".into(),
            );
        }
    }

    /// The source references of a state-changing call (a missing one not counted again
    /// for a body already counted as a schema violation).
    fn sources(&mut self, invalid: bool) {
        let call = self.call;
        if call.sources.is_empty() {
            if !invalid {
                self.flag(
                    "missing_sources",
                    "a reference to the source event(s) the call realises".into(),
                    "the body references no source event".into(),
                );
            }
        } else if let Some(s) = call.sources.iter().find(|s| self.events.get(s).is_none()) {
            self.flag(
                "unknown_sources",
                "references to events the plant emitted".into(),
                format!("it references {} {}, never emitted", s.source, s.id),
            );
        }
    }
}
