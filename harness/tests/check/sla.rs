use std::time::Duration;

use andon::check::sla::Sla;
use andon::check::{Checker, Phase, SlaBudget, Status};
use andon_contracts::System::{Erp, Mes, Qms, Wms};
use andon_simulators::faults::Dur;

use crate::helpers::*;

fn budget(route: &str, p99_ms: u64, phase: Option<Phase>) -> SlaBudget {
    SlaBudget {
        route: route.into(),
        p50: None,
        p95: None,
        p99: Some(Dur(Duration::from_millis(p99_ms))),
        max: None,
        phase,
    }
}

/// A consumption intended at `at` ms whose posting lands `after` ms later.
fn consumption(h: &mut H, order: u32, at: i64, after: i64) {
    h.at(at);
    let ev = h.acked(
        Mes,
        "material.consumed",
        &order.to_string(),
        consumed(&order.to_string(), "RM-1", "R1", q(1.0, "KG")),
    );
    h.at(at + after).gm(&ev, "261", "RM-1", "R1", 1.0, "KG");
}

#[test]
fn latencies_are_reported_per_route_without_budgets() {
    let mut h = H::new();
    for i in 0..10 {
        consumption(&mut h, 1000 + i, i64::from(i) * 1000, 200);
    }
    let hold_ev = h
        .at(20_000)
        .acked(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    h.at(20_300).lot_effect(
        Wms,
        "hold",
        ("FG-2", "P1"),
        &hold_ev,
        1,
        0,
        "unrestricted",
        &["H1"],
    );
    let v = Sla.check(&h.run());
    assert_status(&v, Status::Pass);
    let r = &v.details["routes"]["mes.consumed -> erp"];
    assert_eq!(r["all"]["count"], 10);
    assert_eq!(r["steady"]["count"], 10);
    let p50 = r["all"]["p50_us"].as_u64().unwrap();
    assert!((199_000..=201_000).contains(&p50), "{p50}");
    assert_eq!(v.details["routes"]["qms.hold -> wms"]["all"]["count"], 1);
    assert_eq!(v.details["routes"]["qms.hold -> mes"]["no_effect"], 1);
}

#[test]
fn a_budget_exceeded_fails_naming_the_slowest_events() {
    let mut h = H::new();
    for i in 0..9 {
        consumption(&mut h, 1000 + i, i64::from(i) * 1000, 200);
    }
    consumption(&mut h, 2000, 10_000, 7_000);
    h.expect.sla = vec![budget("mes.consumed -> erp", 5_000, None)];
    let v = Sla.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("budgets_failed"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.system, Some(Erp));
    assert!(w.expected.contains("mes.consumed -> erp"), "{}", w.expected);
    assert!(
        w.happened.starts_with("p99 was 7.0 s (budget 5.0 s)"),
        "{}",
        w.happened
    );
    assert!(w.happened.contains("order 2000"), "{}", w.happened);
}

#[test]
fn faults_split_the_samples_into_phases_and_time_to_drain_is_reported() {
    let mut h = H::new();
    consumption(&mut h, 1, 0, 100); // steady
    h.at(10_000)
        .fault(Erp, "erp-unavailable-1", "applied", "unavailable");
    consumption(&mut h, 2, 12_000, 100); // during the fault
    // Intended during the fault, lands 10 s after the heal at 20 s.
    h.at(18_000);
    let late = h.acked(
        Mes,
        "material.consumed",
        "3",
        consumed("3", "RM-1", "R1", q(1.0, "KG")),
    );
    h.at(20_000)
        .fault(Erp, "erp-unavailable-1", "cleared", "unavailable");
    consumption(&mut h, 4, 25_000, 100); // recovery: the backlog drains until 30 s
    h.at(30_000).gm(&late, "261", "RM-1", "R1", 1.0, "KG");
    consumption(&mut h, 5, 40_000, 100); // steady again
    let v = Sla.check(&h.run());
    let r = &v.details["routes"]["mes.consumed -> erp"];
    assert_eq!(r["steady"]["count"], 2, "{r}");
    assert_eq!(r["during_fault"]["count"], 2, "{r}");
    assert_eq!(r["recovery"]["count"], 1, "{r}");
    assert_eq!(v.details["faults"][0]["time_to_drain_us"], 10_000_000);
    // A steady-phase budget holds while the overall one does not.
    h.expect.sla = vec![budget("mes.consumed -> erp", 1_000, Some(Phase::Steady))];
    assert_status(&Sla.check(&h.run()), Status::Pass);
    h.expect.sla = vec![budget("mes.consumed -> erp", 1_000, None)];
    assert_status(&Sla.check(&h.run()), Status::Fail);
}

#[test]
fn a_budget_on_a_route_without_samples_is_unknown() {
    let mut h = H::new();
    consumption(&mut h, 1, 0, 100);
    h.expect.sla = vec![
        budget("mes.consumed -> erp", 5_000, None),
        budget("qms.hold -> wms", 2_000, None),
    ];
    let v = Sla.check(&h.run());
    assert_status(&v, Status::Unknown);
    assert!(
        v.reason.as_deref().unwrap().contains("qms.hold -> wms"),
        "{:?}",
        v.reason
    );
    assert_eq!(v.count("budgets_unknown"), 1);
}

#[test]
fn no_samples_and_no_budgets_is_unknown() {
    let h = H::new();
    assert_status(&Sla.check(&h.run()), Status::Unknown);
}

#[test]
fn an_effect_that_never_landed_counts_as_at_least_the_rest_of_the_run() {
    let mut h = H::new();
    for i in 0..3 {
        consumption(&mut h, 1000 + i, i64::from(i) * 1000, 200);
    }
    // A hold acknowledged at 5 s that never reaches the WMS; the history ends at 40 s.
    h.at(5_000)
        .acked(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    h.at(40_000).note(Erp, "end", serde_json::json!({}));
    h.expect.sla = vec![budget("qms.hold -> wms", 5_000, None)];
    let v = Sla.check(&h.run());
    assert_status(&v, Status::Fail);
    let w = &v.witnesses[0];
    assert!(
        w.happened.contains("took at least 35.0 s"),
        "{}",
        w.happened
    );
    assert!(w.happened.contains("still no effect"), "{}", w.happened);
}

#[test]
fn a_rejected_call_is_no_slow_effect() {
    let mut h = H::new();
    consumption(&mut h, 1000, 0, 200);
    let ev = h.at(1_000).acked(
        Mes,
        "material.consumed",
        "1001",
        consumed("1001", "RM-1", "R1", q(1.0, "KG")),
    );
    h.at(1_100)
        .rejected(Erp, "/api/v1/material-documents", &ev, "stock-deficit");
    h.at(60_000).note(Erp, "end", serde_json::json!({}));
    h.expect.sla = vec![budget("mes.consumed -> erp", 5_000, None)];
    let v = Sla.check(&h.run());
    assert_status(&v, Status::Pass);
}
