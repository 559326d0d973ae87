//! Refused scenarios: each problem as `FILE:LINE:COLUMN: what was expected`, before anything
//! starts.

use crate::helpers::refused;

const BASE: &str = "\
name: refusals
seed: 1
plants:
  - { id: \"1000\", lines: 2, materials: 5 }
duration: 40s
load:
  - { at: 0s, rate: 20/s }
faults:
  - { at: 10s, for: 5s, target: erp, kind: unavailable, retry_after: 2s }
  - at: 20s
    for: 5s
    target: mes
    kind: duplicate
    probability: 0.3
settle: 20s
";

#[test]
fn the_base_document_is_accepted() {
    andon::scenario::Scenario::parse(BASE, "x.yaml").unwrap();
}

#[test]
fn a_type_error_points_at_the_value() {
    assert_eq!(
        refused(&BASE.replace("seed: 1", "seed: many")),
        ["x.yaml:2:7: seed: invalid type: string \"many\", expected u64"]
    );
    assert_eq!(
        refused(&BASE.replace("lines: 2", "lines: two")),
        ["x.yaml:4:26: plants[0].lines: invalid type: string \"two\", expected u32"]
    );
    let p = refused(&BASE.replace("duration: 40s", "duration: forty"));
    assert!(
        p[0].starts_with("x.yaml:5:11: duration: duration \"forty\""),
        "{p:?}"
    );
    let p = refused(&BASE.replace("rate: 20/s", "rate: 20/fortnight"));
    assert!(
        p[0].starts_with("x.yaml:7:21: load[0].rate: rate \"20/fortnight\": unknown unit"),
        "{p:?}"
    );
    let p = refused(&BASE.replace("probability: 0.3", "probability: often"));
    assert!(
        p[0].starts_with("x.yaml:14:18: faults[1].probability: invalid type: string \"often\""),
        "{p:?}"
    );
}

#[test]
fn an_unknown_key_points_at_the_key() {
    let p = refused(&BASE.replace("settle: 20s", "settle: 20s\nsetle: 10s"));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("x.yaml:16:1: unknown field `setle`, expected one of"),
        "{p:?}"
    );
    let p = refused(&BASE.replace("lines: 2,", "lines: 2, shifts: 3,"));
    assert!(
        p[0].starts_with("x.yaml:4:29: plants[0]: unknown field `shifts`"),
        "{p:?}"
    );
    let p = refused(&BASE.replace("    probability: 0.3", "    probabilty: 0.3"));
    assert_eq!(
        p,
        [
            "x.yaml:14:5: unknown key `probabilty` for fault kind duplicate, expected one of id, probability, path, method, plant, for, at, target, kind"
        ]
    );
}

#[test]
fn an_unknown_fault_kind_names_the_kinds_expected() {
    let p = refused(&BASE.replace("kind: unavailable", "kind: meteor"));
    assert_eq!(
        p,
        [
            "x.yaml:9:44: unknown fault kind \"meteor\", expected one of unavailable, refuse, hang, slow, throttle, reset, commit_then_reset, reject, token_expiry, csrf_expiry, duplicate, reorder, poison, burst, clock_skew, partition, pause, stop, disconnect"
        ]
    );
    let p = refused(&BASE.replace("target: erp", "target: plc"));
    assert_eq!(
        p,
        ["x.yaml:9:33: unknown fault target \"plc\", expected one of erp, mes, qms, wms, sut"]
    );
    let p = refused(&BASE.replace(
        "target: erp, kind: unavailable, retry_after: 2s",
        "target: sut, kind: unavailable",
    ));
    assert!(
        p[0].starts_with("x.yaml:9:44: fault kind \"unavailable\" acts on a simulator"),
        "{p:?}"
    );
    let p = refused(&BASE.replace(
        "target: erp, kind: unavailable, retry_after: 2s",
        "target: erp, kind: kill",
    ));
    assert_eq!(
        p,
        ["x.yaml:9:44: fault kind \"kill\" acts on the SUT only: write `target: sut`"]
    );
}

#[test]
fn an_impossible_timeline_is_refused() {
    let p = refused(&BASE.replace("at: 10s, for: 5s", "at: 45s, for: 5s"));
    assert_eq!(
        p,
        [
            "x.yaml:9:11: unavailable starts at 45s, when the load has ended (duration 40s): it would act on nothing"
        ]
    );
    let p = refused(&BASE.replace("at: 10s, for: 5s", "at: 10s, for: 55s"));
    assert_eq!(
        p,
        [
            "x.yaml:9:21: fault ends after the run: unavailable at 10s for 55s ends at 1m 5s, past duration 40s + settle 20s = 1m"
        ]
    );
    let sut = BASE.to_string() + "";
    let sut = sut.replace(
        "settle: 20s",
        "  - { at: 25s, for: 5s, target: sut, kind: pause }\n  - { at: 28s, target: sut, kind: kill }\nsettle: 20s",
    );
    let p = refused(&sut);
    assert_eq!(
        p,
        [
            "x.yaml:16:11: sut faults overlap: kill at 28s falls on pause from 25s to 30s (line 15); the SUT takes one fault at a time"
        ]
    );
    let p = refused(&BASE.replace(
        "  - { at: 0s, rate: 20/s }",
        "  - { at: 10s, rate: 20/s }\n  - { at: 5s, rate: 30/s }",
    ));
    assert!(p[0].starts_with("x.yaml:8:11: load phases must be in time order: this one starts at 5s, the one before at 10s"), "{p:?}");
    let p = refused(&BASE.replace(
        "  - { at: 0s, rate: 20/s }",
        "  - { at: 0s, rate: 20/s }\n  - { at: 10s, rate: 30/s, shape: ramp }",
    ));
    assert!(
        p[0].starts_with("x.yaml:8:35: shape ramp needs `for`"),
        "{p:?}"
    );
    let p = refused(&BASE.replace("rate: 20/s", "rate: 0/s"));
    assert!(
        p[0].starts_with("x.yaml:7:21: rate 0/s must be above 0"),
        "{p:?}"
    );
}

#[test]
fn faults_must_be_able_to_act_where_they_are_aimed() {
    let p = refused(&BASE.replace("kind: unavailable, retry_after: 2s", "kind: token_expiry"));
    assert_eq!(
        p,
        [
            "x.yaml:9:44: token_expiry on erp needs authentication, which is off for erp: add `options: { erp: { auth: true } }`"
        ]
    );
    let p = refused(&BASE.replace("    probability: 0.3", "    path: /api/v1/x"));
    assert!(
        p[0].starts_with("x.yaml:14:5: `path` narrows API faults only"),
        "{p:?}"
    );
    let p = refused(&BASE.replace("retry_after: 2s", "retry_after: 2s, plant: \"1000\""));
    assert!(
        p[0].starts_with("x.yaml:9:74: `plant` narrows emitter faults only"),
        "{p:?}"
    );
    let p = refused(&BASE.replace("    probability: 0.3", "    probability: 1.5"));
    assert_eq!(
        p,
        ["x.yaml:14:18: faults[1]: probability 1.5 must be between 0 and 1"]
    );
    let p = refused(&BASE.replace(
        "settle: 20s",
        "  - { at: 30s, target: sut, kind: pause }\nsettle: 20s",
    ));
    assert!(p[0].starts_with("x.yaml:15:5: pause needs `for`"), "{p:?}");
}

#[test]
fn sla_routes_and_options_are_checked() {
    let p = refused(
        &(BASE.to_string()
            + "expect:\n  sla:\n    - { route: \"mes.consumed => erp\", p99: 2s }\n"),
    );
    assert!(
        p[0].starts_with("x.yaml:18:16: route \"mes.consumed => erp\" is malformed"),
        "{p:?}"
    );
    let p = refused(
        &(BASE.to_string()
            + "expect:\n  sla:\n    - { route: \"mes.consumed -> erp\", p50: 3s, p99: 2s }\n"),
    );
    assert!(
        p[0].starts_with("x.yaml:18:53: p99 budget 2s is below the p50 budget 3s"),
        "{p:?}"
    );
    let p = refused(
        &(BASE.to_string()
            + "expect:\n  sla:\n    - { route: \"mes.consumed -> erp\", p99: 2x }\n"),
    );
    assert!(p[0].starts_with("x.yaml:18:44: "), "{p:?}");
    let p = refused(&(BASE.to_string() + "options:\n  mes: { open_periods: [\"2026/11\"] }\n"));
    assert!(
        p[0].starts_with("x.yaml:17:10: open_periods applies to erp only"),
        "{p:?}"
    );
    let p = refused(&(BASE.to_string() + "options:\n  erp: { open_periods: [\"November\"] }\n"));
    assert!(
        p[0].starts_with("x.yaml:17:25: open period \"November\" must be YYYY/MM"),
        "{p:?}"
    );
    let p = refused(&(BASE.to_string() + "options:\n  qms: { activity: { hold_rate: 4 } }\n"));
    assert!(
        p[0].starts_with("x.yaml:17:33: hold_rate 4 must be between 0 and 1"),
        "{p:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = BASE
        .replace("seed: 1\n", "seed: 1\ntime_scale: -2\n")
        .replace("at: 10s, for: 5s", "at: 50s, for: 5s");
    let p = refused(&text);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("x.yaml:3:13: time_scale -2"), "{p:?}");
    assert!(
        p[1].starts_with("x.yaml:10:11: unavailable starts at 50s"),
        "{p:?}"
    );
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let p = refused(&BASE.replace("  - { at: 0s, rate: 20/s }", "  - { at: 0s, rate: 20/s"));
    assert!(p[0].starts_with("x.yaml:"), "{p:?}");
    assert!(!p[0].starts_with("x.yaml:1:1:"), "{p:?}");
}

#[test]
fn broker_faults_and_instances_are_checked() {
    let with = |fault: &str| BASE.replace("settle: 20s", &format!("  - {fault}\nsettle: 20s"));
    andon::scenario::Scenario::parse(
        &with("{ at: 12s, target: broker, kind: restart }"),
        "x.yaml",
    )
    .unwrap();
    andon::scenario::Scenario::parse(
        &with("{ at: 12s, for: 3s, target: broker, kind: stop }"),
        "x.yaml",
    )
    .unwrap();
    let e = refused(&with("{ at: 12s, target: broker, kind: unavailable }"));
    assert!(
        e[0].contains(
            "unknown broker fault kind \"unavailable\", expected one of restart, kill, stop, partition"
        ),
        "{e:?}"
    );
    let e = refused(&with("{ at: 12s, target: broker, kind: stop }"));
    assert!(e[0].contains("stop needs `for`"), "{e:?}");
    let e = refused(&with("{ at: 12s, for: 2s, target: broker, kind: kill }"));
    assert!(e[0].contains("`for` does not apply to kill"), "{e:?}");
    let e = refused(&with("{ at: 12s, target: broker, kind: partition }"));
    assert!(e[0].contains("partition needs `for`"), "{e:?}");
    let e = refused(&with("{ at: 12s, target: sut, kind: slow }"));
    assert!(e[0].contains("slow needs `for`"), "{e:?}");
    let e = refused(&format!("{BASE}instances: 9\n"));
    assert!(
        e[0].starts_with("x.yaml:") && e[0].contains("instances 9 must be from 1 to 8"),
        "{e:?}"
    );
    let e = refused(&format!("{BASE}transport: pigeon\n"));
    assert!(e[0].contains("transport"), "{e:?}");
    let ok = format!("{BASE}transport: mqtt\ninstances: 2\nbroker: {{ stale_retained: 1 }}\n");
    let s = andon::scenario::Scenario::parse(&ok, "x.yaml").unwrap();
    assert_eq!((s.instances, s.broker.stale_retained), (2, 1));
}
