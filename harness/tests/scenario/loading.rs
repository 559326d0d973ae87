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
