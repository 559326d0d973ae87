//! Running the `andon` binary on scenarios written for a test, in scratch folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `andon` binary under test.
pub const ANDON: &str = env!("CARGO_BIN_EXE_andon");

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent")
        .to_path_buf()
}

/// An empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// A short scenario: one discrete plant at 40 steps/s for `secs` seconds, the given fault
/// lines, every checker on.
pub fn scenario(dir: &Path, name: &str, secs: u32, faults: &[&str]) -> PathBuf {
    let faults = if faults.is_empty() {
        "faults: []\n".to_string()
    } else {
        format!("faults:\n{}\n", faults.join("\n"))
    };
    let text = format!(
        "name: {name}\nseed: 77\nplants:\n  - {{ id: \"1000\", lines: 2, materials: 10, profile: discrete }}\n\
         duration: {secs}s\ntime_scale: 60\nload:\n  - {{ at: 0s, rate: 40/s }}\n{faults}settle: 20s\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("scenario written");
    path
}

/// Runs `andon ARGS…` and returns its output (stdout and stderr as text).
pub fn andon(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(ANDON)
        .arg("-q")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("andon runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// The verdict of `checker` in a run directory's `verdict.json`.
pub fn status_of(run_dir: &Path, checker: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("verdict.json")).expect("verdict.json"))
            .expect("verdict.json is JSON");
    v["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|x| x["checker"] == checker)
        .map(|x| x["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no verdict of {checker}: {v}"))
}

/// Lines of a run directory's history.
pub fn history_len(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("history.jsonl"))
        .expect("history.jsonl")
        .lines()
        .count()
}

/// Events emitted in a run (`event_emitted` records).
pub fn emitted(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("history.jsonl"))
        .expect("history.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["record"] == "event_emitted")
        .map(|r| format!("{} {}", r["event"]["source"], r["event"]["id"]))
        .collect()
}

/// `andon run SCENARIO --report-dir RUN EXTRA…`.
pub fn run_into(scenario: &Path, run: &Path, extra: &[&str]) -> (Output, String, String) {
    let mut args = vec![
        "run",
        scenario.to_str().expect("utf-8 path"),
        "--report-dir",
        run.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    andon(&args)
}
