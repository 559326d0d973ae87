//! Every scenario in `scenarios/` loads, is documented, stays within the CI budget, and
//! together they exercise every fault kind.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use andon::scenario::{FaultAction, Scenario, SutFaultKind, Target};
use andon_simulators::faults::FaultKind;

use crate::helpers::{repo, scratch};

fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_file_loads() {
    let files = scenario_files();
    assert!(files.len() >= 12, "only {} scenarios", files.len());
    for f in &files {
        let s = Scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let stem = f.file_stem().unwrap().to_string_lossy();
        assert_eq!(
            s.name,
            stem,
            "{}: name should match the file name",
            f.display()
        );
    }
}

#[test]
fn the_twelve_named_scenarios_are_there() {
    let names: BTreeSet<String> = scenario_files()
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "baseline-single-plant",
        "shift-change-three-plants",
        "cloud-erp-downtime",
        "ambiguous-outcomes",
        "mes-duplicate-reorder-storm",
        "hold-races-picking",
        "poison-messages",
        "sut-killed-mid-burst",
        "erp-throttling",
        "posting-period-closed",
        "token-expiry",
        "plant-partition",
    ] {
        assert!(names.contains(want), "scenarios/{want}.yaml is missing");
    }
}

#[test]
fn every_scenario_is_documented_and_fits_the_ci_budget() {
    for f in scenario_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let comment = text.lines().take_while(|l| l.starts_with('#')).count();
        assert!(
            comment >= 5,
            "{}: needs a comment block at the top",
            f.display()
        );
        assert!(
            text.contains("Imitates") && text.contains("Checks"),
            "{}: say what it imitates and checks",
            f.display()
        );
        let s = Scenario::load(&f).unwrap();
        let d = s.duration.0;
        assert!(
            (Duration::from_secs(20)..=Duration::from_secs(60)).contains(&d),
            "{}: duration {d:?}",
            f.display()
        );
        assert!(
            s.settle.0 <= Duration::from_secs(30),
            "{}: settle {:?}",
            f.display(),
            s.settle.0
        );
        assert!(
            !s.plants.is_empty() && s.plants.len() <= 3,
            "{}",
            f.display()
        );
        assert!(
            s.expected_steps() > 100.0,
            "{}: too little load",
            f.display()
        );
    }
}

#[test]
fn the_scenarios_exercise_every_fault_kind() {
    let mut seen = BTreeSet::new();
    for f in scenario_files() {
        for fault in Scenario::load(&f).unwrap().faults {
            seen.insert(fault.spec.kind_name());
        }
    }
    for kind in FaultKind::CALLED
        .iter()
        .chain(FaultKind::EMITTER)
        .copied()
        .chain(SutFaultKind::ALL.map(|k| k.name()))
    {
        assert!(seen.contains(kind), "no scenario uses fault kind {kind}");
    }
}

#[test]
fn master_data_is_generated_for_every_scenario() {
    for f in scenario_files() {
        let s = Scenario::load(&f).unwrap();
        let md = s.master_data(f.parent().unwrap()).unwrap();
        assert_eq!(md.plants.len(), s.plants.len(), "{}", f.display());
        md.check()
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
    }
}

#[test]
fn the_shift_change_scenario_spikes_and_bursts_the_mes() {
    let s = Scenario::load(&repo().join("scenarios/shift-change-three-plants.yaml")).unwrap();
    assert_eq!(s.rate_at(Duration::from_secs(10)), 100.0);
    assert_eq!(s.rate_at(Duration::from_secs(21)), 500.0);
    assert_eq!(s.rate_at(Duration::from_secs(23)), 100.0);
    assert_eq!(
        s.burst_factor(andon_contracts::System::Mes, Duration::from_millis(20_500)),
        2.0
    );
    assert!(s.faults.iter().any(|f| f.target == Target::Sut
        && matches!(f.spec, FaultAction::Sut(p) if p.kind == SutFaultKind::Pause)));
}

#[test]
fn a_master_data_file_replaces_generation_and_its_plants_are_checked() {
    let dir = scratch("data-file");
    let md = andon_simulators::MasterData::generate(
        5,
        &[andon_simulators::masterdata::PlantSpec {
            id: andon_contracts::PlantId::parse("4000").unwrap(),
            lines: 1,
            materials: 3,
            profile: andon_simulators::masterdata::Profile::Discrete,
        }],
    );
    std::fs::write(
        dir.join("plant.yaml"),
        serde_norway::to_string(&md).unwrap(),
    )
    .unwrap();
    let text = "name: own-data\ndata: plant.yaml\nduration: 20s\nload: [{ at: 0s, rate: 10/s }]\nfaults:\n  - { at: 5s, for: 5s, target: mes, kind: partition, plant: \"4000\" }\n";
    std::fs::write(dir.join("s.yaml"), text).unwrap();
    let s = Scenario::load(&dir.join("s.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.master_data(&dir).unwrap(), md);

    std::fs::write(dir.join("bad.yaml"), text.replace("\"4000\"", "\"1000\"")).unwrap();
    let err = Scenario::load(&dir.join("bad.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "bad.yaml:6:61: plant \"1000\" is not a plant of this scenario, expected one of 4000"
        ),
        "{err}"
    );

    std::fs::write(
        dir.join("missing.yaml"),
        text.replace("plant.yaml", "nowhere.yaml"),
    )
    .unwrap();
    let err = Scenario::load(&dir.join("missing.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.yaml: master data:") && err.contains("nowhere.yaml"),
        "{err}"
    );
}

#[test]
fn a_missing_scenario_file_is_named() {
    let err = Scenario::load(&repo().join("scenarios/no-such.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such.yaml: cannot read the scenario"),
        "{err}"
    );
}

#[test]
fn the_load_scenarios_load_and_gate_on_thresholds() {
    let dir = repo().join("scenarios/load");
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(&dir).expect("scenarios/load exists") {
        let f = e.expect("entry").path();
        if f.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.contains("Imitates") && text.contains("Checks"),
            "{}: say what it imitates and checks",
            f.display()
        );
        assert!(!s.thresholds.is_empty(), "{}: no thresholds", f.display());
        assert!(
            s.expected_steps() > 1000.0,
            "{}: too little load",
            f.display()
        );
        names.insert((s.name.clone(), s.plants.len()));
    }
    for (want, plants) in [
        ("load-shift-change-3-plants", 3),
        ("load-shift-change-10-plants", 10),
        ("load-batch-closure-spike", 2),
        ("load-erp-throttling-burst", 3),
    ] {
        assert!(
            names.contains(&(want.to_string(), plants)),
            "scenarios/load/{want}.yaml with {plants} plants is missing: {names:?}"
        );
    }
}

#[test]
fn a_per_plant_rate_grows_with_the_plants() {
    let s =
        Scenario::load(&repo().join("scenarios/load/load-shift-change-10-plants.yaml")).unwrap();
    // 30 steps/s per plant, ten plants; the spike is 120 per plant for its first 20 %.
    assert_eq!(s.rate_at(Duration::from_secs(5)), 300.0);
    assert_eq!(s.rate_at(Duration::from_secs(21)), 1200.0);
}

#[test]
fn a_threshold_that_cannot_be_read_points_at_its_column() {
    let dir = scratch("bad-threshold");
    let text = "name: t\nplants: [{ id: \"1000\" }]\nduration: 20s\nload: [{ at: 0s, rate: 10/s }]\nthresholds:\n  - \"p99 < 2 parsecs\"\n  - \"p99 < 2s on mes.consumed\"\n";
    std::fs::write(dir.join("t.yaml"), text).unwrap();
    let err = Scenario::load(&dir.join("t.yaml")).unwrap_err().to_string();
    // Column 14 of line 6 is where "parsecs" stands (after `  - "p99 < 2 `).
    assert!(err.contains("t.yaml:6:"), "{err}");
    assert!(err.contains("p99 < 2 parsecs"), "{err}");
    assert!(
        err.contains("t.yaml:7:") && err.contains("names neither a route"),
        "{err}"
    );
}
