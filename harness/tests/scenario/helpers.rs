//! Shared set-up: scratch folders, the repository's paths, fake simulator URLs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use andon::scenario::{Scenario, ScenarioError};
use andon::sut::{Placeholders, ResolvedSut, SutManifest};
use andon_contracts::System;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent")
        .to_path_buf()
}

/// An empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scenario-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Simulator URLs as a runtime would hand them over.
pub fn urls() -> BTreeMap<System, String> {
    System::ALL
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, format!("http://127.0.0.1:{}", 41000 + i)))
        .collect()
}

/// Parses `text`, expecting it to be refused; returns each problem as printed.
pub fn refused(text: &str) -> Vec<String> {
    match Scenario::parse(text, "x.yaml") {
        Ok(_) => panic!("the scenario was accepted:\n{text}"),
        Err(ScenarioError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// A manifest parsed from text and resolved for a run in `run_dir` on `port`.
pub fn resolved(text: &str, port: Option<u16>, run_dir: &Path) -> ResolvedSut {
    let m = SutManifest::parse(text, "sut.toml").unwrap_or_else(|e| panic!("{e}"));
    m.resolve(&Placeholders::new(urls(), port, run_dir))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Whether python3 is there to play a tiny HTTP server.
pub fn python() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
