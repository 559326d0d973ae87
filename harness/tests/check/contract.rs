use andon::check::contract::Contract;
use andon::check::{Checker, Status};
use andon_contracts::System::{Erp, Mes};
use andon_simulators::history::{Entry, RequestEntry};

use crate::helpers::*;

fn event(h: &mut H) -> Ev {
    h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    )
}

#[test]
fn calls_that_keep_the_contract_pass() {
    let mut h = H::new();
    let ev = event(&mut h);
    h.gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    // Look-ups carry no body, no key: fine.
    h.request(Erp, "GET", "/api/v1/stock", &[], 200, None, None, None);
    let v = Contract.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("calls"), 2);
}

#[test]
fn every_category_of_breach_is_counted_and_witnessed() {
    let mut h = H::new();
    let ev = event(&mut h);
    let good_tp = format!("00-{}-00000000000000aa-01", ev.trace);
    let route = "/api/v1/material-documents";
    h.request(Erp, "POST", route, &[&ev], 201, None, None, Some(&good_tp));
    h.request(Erp, "POST", route, &[&ev], 201, None, Some("k2"), None);
    h.request(
        Erp,
        "POST",
        route,
        &[&ev],
        201,
        None,
        Some("k3"),
        Some("00-11111111111111111111111111111111-00000000000000aa-01"),
    );
    h.request(
        Erp,
        "POST",
        route,
        &[&ev],
        201,
        None,
        Some("k4"),
        Some("not-a-traceparent"),
    );
    h.request(
        Erp,
        "POST",
        route,
        &[],
        201,
        None,
        Some("k5"),
        Some(&good_tp),
    );
    let ghost = Ev {
        r: andon_contracts::SourceRef {
            source: "/andon/mes/1000".into(),
            id: "never".into(),
        },
        ..ev.clone()
    };
    h.request(
        Erp,
        "POST",
        route,
        &[&ghost],
        201,
        None,
        Some("k6"),
        Some(&good_tp),
    );
    let i = h.request(
        Erp,
        "POST",
        route,
        &[&ev],
        400,
        Some("invalid"),
        Some("k7"),
        Some(&good_tp),
    );
    if let Some(RequestEntry {
        valid, violations, ..
    }) = h.records[i].entry.request_mut()
    {
        *valid = Some(false);
        violations.push("/items/0/quantity: must be an object".into());
    }
    // An answer a fault gave is not the SUT's doing.
    let f = h.request(
        Erp,
        "POST",
        route,
        &[],
        503,
        Some("service-unavailable"),
        None,
        None,
    );
    if let Some(RequestEntry { fault, .. }) = h.records[f].entry.request_mut() {
        *fault = Some("unavailable".into());
    }
    // The SUT answering a delivery with a plain-text error.
    let other = h.emit(
        Mes,
        "material.consumed",
        "1000002",
        consumed("1000002", "RM-1", "R1", q(1.0, "KG")),
    );
    h.deliver(&other, 500);
    if let Entry::Delivery { content_type, .. } = &mut h.records.last_mut().unwrap().entry {
        *content_type = Some("text/plain".into());
    }
    let v = Contract.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("calls"), 7);
    for (cat, n) in [
        ("missing_idempotency_key", 1),
        ("missing_traceparent", 1),
        ("broken_traceparent", 2),
        ("missing_sources", 1),
        ("unknown_sources", 1),
        ("schema_violations", 1),
        ("non_problem_errors", 1),
    ] {
        assert_eq!(v.count(cat), n, "{cat}: {:?}", v.counts);
    }
    assert_eq!(v.witnesses.len(), 8);
    let w = v
        .witnesses
        .iter()
        .find(|w| w.expected.starts_with("an Idempotency-Key"))
        .unwrap();
    assert_eq!(w.event.as_ref(), Some(&ev.r));
    assert_eq!(w.trace_id.as_deref(), Some(ev.trace.as_str()));
    assert!(
        w.happened
            .contains("POST /api/v1/material-documents to ERP"),
        "{}",
        w.happened
    );
}

#[test]
fn no_call_is_unknown() {
    let mut h = H::new();
    event(&mut h);
    let v = Contract.check(&h.run());
    assert_status(&v, Status::Unknown);
}

/// A 429 with `Retry-After: 2` from the ERP, answered at 1 s.
fn throttled_at_one_second(h: &mut H, ev: &Ev) {
    throttled_at(h, ev, 1_000);
}

/// A 429 with `Retry-After: 2` from the ERP, answered at `ms`.
fn throttled_at(h: &mut H, ev: &Ev, ms: i64) {
    h.at(ms);
    h.push(
        Erp,
        Entry::Request(Box::new(RequestEntry {
            method: "POST".into(),
            path: "/api/v1/material-documents".into(),
            route: "/api/v1/material-documents".into(),
            idempotency_key: Some("k".into()),
            traceparent: Some(format!("00-{}-00000000000000aa-01", ev.trace)),
            sources: Vec::new(),
            body: None,
            valid: None,
            violations: Vec::new(),
            status: 429,
            content_type: Some("application/problem+json".into()),
            problem: Some("too-many-requests".into()),
            replayed: false,
            fault: Some("throttle".into()),
            retry_after_s: Some(2),
            if_match: None,
            latency_us: 300,
            dialect: None,
        })),
    );
}

#[test]
fn a_call_inside_the_retry_after_wait_fails() {
    let mut h = H::new();
    let ev = event(&mut h);
    throttled_at_one_second(&mut h, &ev);
    h.at(1_400);
    h.ok_request(Erp, "POST", "/api/v1/material-documents", &ev);
    let v = Contract.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("retry_after_ignored"), 1);
    assert!(
        v.witnesses[0]
            .expected
            .contains("for 2 s after its Retry-After"),
        "{:?}",
        v.witnesses[0]
    );
}

#[test]
fn calls_in_flight_at_the_429_and_calls_after_the_wait_keep_the_contract() {
    let mut h = H::new();
    let ev = event(&mut h);
    throttled_at_one_second(&mut h, &ev);
    // Answered 50 ms after the 429, sent before it (900 µs of latency): in flight.
    h.at(1_050);
    h.ok_request(Erp, "POST", "/api/v1/material-documents", &ev);
    // Sent 200 ms after it, before the middleware could have read it on a loaded machine.
    h.at(1_200);
    h.ok_request(Erp, "POST", "/api/v1/material-documents", &ev);
    h.at(3_100);
    h.ok_request(Erp, "POST", "/api/v1/material-documents", &ev);
    let v = Contract.check(&h.run());
    assert_eq!(v.count("retry_after_ignored"), 0, "{v:?}");
    assert_status(&v, Status::Pass);
}

/// A conditional `PATCH` of a Business Central subscription at `ms`, with `If-Match: tag`,
/// answered `status`.
fn patch(h: &mut H, ev: &Ev, ms: i64, tag: &str, status: u16) {
    h.at(ms);
    h.push(
        Erp,
        Entry::Request(Box::new(RequestEntry {
            method: "PATCH".into(),
            path: "/plant/2000/api/v2.0/subscriptions('s1')".into(),
            route: "/api/v2.0/subscriptions('{id}')".into(),
            idempotency_key: None,
            traceparent: Some(format!("00-{}-00000000000000aa-01", ev.trace)),
            sources: Vec::new(),
            body: None,
            valid: None,
            violations: Vec::new(),
            status,
            content_type: Some("application/json".into()),
            problem: (status == 412).then(|| "precondition-failed".into()),
            replayed: false,
            fault: None,
            retry_after_s: None,
            if_match: Some(tag.into()),
            latency_us: 300,
            dialect: Some(Box::new(andon_simulators::history::DialectCall {
                dialect: "business-central@25".into(),
                native_route: None,
                native_body: None,
            })),
        })),
    );
}

#[test]
fn an_etag_refused_412_sent_again_breaks_the_contract() {
    let mut h = H::new();
    let ev = event(&mut h);
    patch(&mut h, &ev, 1_000, "W/\"old\"", 412);
    patch(&mut h, &ev, 1_500, "W/\"old\"", 412);
    let v = Contract.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("stale_etag_resent"), 1, "{v:?}");
    let w = v
        .witnesses
        .iter()
        .find(|w| w.happened.contains("same If-Match"))
        .expect("a witness of the stale ETag");
    assert!(w.expected.contains("current ETag"), "{w:?}");
}

#[test]
fn a_fresh_etag_after_a_412_keeps_the_contract() {
    let mut h = H::new();
    let ev = event(&mut h);
    patch(&mut h, &ev, 1_000, "W/\"old\"", 412);
    patch(&mut h, &ev, 1_500, "W/\"new\"", 200);
    // Sent before the first 412 was answered (in flight), refused the same way.
    patch(&mut h, &ev, 1_000, "W/\"old\"", 412);
    let v = Contract.check(&h.run());
    assert_eq!(v.count("stale_etag_resent"), 0, "{v:?}");
    assert_status(&v, Status::Pass);
}

#[test]
fn the_429s_a_hammering_call_provokes_do_not_renew_its_grace() {
    let mut h = H::new();
    let ev = event(&mut h);
    // The wait's first answer at 1 s; every call after it is refused again, each less than
    // 250 ms after the previous refusal, two of them more than 250 ms after the first.
    throttled_at_one_second(&mut h, &ev);
    for ms in [1_200, 1_400, 1_600] {
        throttled_at(&mut h, &ev, ms);
    }
    let v = Contract.check(&h.run());
    assert_eq!(v.count("retry_after_ignored"), 2, "{v:?}");
    assert_status(&v, Status::Fail);
}
