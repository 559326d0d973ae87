//! Tests of the step library: every row matches its example, sentences are unique, the
//! rendered page lists them.

use super::*;
use cucumber::gherkin::StepType;
use serde_json::json;

fn ty_of(example: &str) -> StepType {
    match example.split(' ').next() {
        Some("Given") => StepType::Given,
        Some("When") => StepType::When,
        _ => StepType::Then,
    }
}

#[test]
fn every_example_matches_its_own_step_and_no_other() {
    for (i, d) in library().iter().enumerate() {
        let first = d.example.lines().next().unwrap();
        let (_, text) = first.split_once(' ').unwrap();
        let found = matching(text, ty_of(first));
        assert_eq!(
            found,
            vec![i],
            "{:?} matches {:?}",
            first,
            found.iter().map(|j| library()[*j].text).collect::<Vec<_>>()
        );
    }
}

#[test]
fn durations_read_as_business_language() {
    assert_eq!(dur_text("5s").unwrap(), "5000ms");
    assert_eq!(dur_text("500 ms").unwrap(), "500ms");
    assert_eq!(dur_text("2 minutes").unwrap(), "120000ms");
    assert_eq!(dur_text("1.5s").unwrap(), "1500ms");
    assert!(dur_text("5 parsecs").unwrap_err().contains("unknown unit"));
}

#[test]
fn the_closest_step_to_a_typo_is_the_intended_one() {
    let c = closest("the ERP is unavaliable from 5s for 10s", 3);
    assert_eq!(
        c[0].text,
        "the {system} is unavailable from {at} for {for} [with Retry-After {d}] / the {system} is unavailable with Retry-After {d} from {at} for {for}"
    );
}

#[test]
fn steps_build_the_scenario_document() {
    let mut w = AndonWorld {
        slug: "s".into(),
        title: "t".into(),
        ..Default::default()
    };
    for (ty, text) in [
        (
            StepType::Given,
            "plant 2000 with 2 lines making 8 materials in batch mode",
        ),
        (
            StepType::Given,
            "the ERP is unavailable from 5s for 10s with Retry-After 2s",
        ),
        (
            StepType::Given,
            "the ERP commits but loses the answer from 5s for 20s on 20 % of calls",
        ),
        (StepType::Given, "the middleware is frozen at 10s for 3s"),
        (StepType::Given, "the MES ignores idempotency keys"),
        (StepType::Given, "a steady load of 50 steps per second"),
    ] {
        let i = matching(text, ty)[0];
        let args = Args::new(&regexes()[i], text, None).unwrap();
        let Action::Setup(f) = library()[i].action else {
            panic!("{text}")
        };
        f(&mut w, &args).unwrap();
    }
    let d = w.scenario_doc();
    assert_eq!(
        d["plants"][0],
        json!({"id": "2000", "lines": 2, "materials": 8, "profile": "batch"})
    );
    assert_eq!(
        d["faults"][0],
        json!({"at": "5000ms", "for": "10000ms", "target": "erp", "kind": "unavailable", "retry_after": "2000ms"})
    );
    assert_eq!(d["faults"][1]["probability"], json!(0.2));
    assert_eq!(
        d["faults"][2],
        json!({"at": "10000ms", "for": "3000ms", "target": "sut", "kind": "pause"})
    );
    assert_eq!(d["options"]["mes"]["idempotency"], json!(false));
    assert_eq!(d["load"][0]["rate"], "50/s");
}
