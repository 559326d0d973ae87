use andon::check::synthetic::synthetic_history;
use andon::check::{Status, run_all};

#[test]
fn a_synthetic_run_of_100k_records_passes_every_checker() {
    let run = synthetic_history(100_000, 7);
    assert_eq!(run.records.len(), 100_000);
    let verdicts = run_all(&run);
    let status = |name: &str| {
        let v = verdicts.iter().find(|v| v.checker == name).unwrap();
        (v.status, v)
    };
    for name in [
        "exactly_once",
        "reconciliation",
        "sla",
        "contract",
        "safety",
    ] {
        let (s, v) = status(name);
        assert_eq!(
            s,
            Status::Pass,
            "{}",
            serde_json::to_string_pretty(v).unwrap()
        );
    }
    let (s, v) = status("ordering");
    assert_eq!(
        s,
        Status::Unknown,
        "{}",
        serde_json::to_string_pretty(v).unwrap()
    );
    let sla = status("sla").1;
    assert!(
        sla.details["routes"]["mes.consumed -> erp"]["during_fault"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
}
