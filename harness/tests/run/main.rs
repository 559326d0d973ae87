//! `andon run`, `andon check` and `andon replay` end to end: the binary, the simulators
//! in-process and the reference middleware as a child process, on short scenarios.

mod broker;
mod helpers;
mod stopping;

use helpers::{andon, emitted, history_len, run_into, scenario, scratch, status_of};

#[test]
fn a_correct_middleware_passes_and_the_run_directory_is_complete() {
    let dir = scratch("pass");
    let sc = scenario(&dir, "short-baseline", 4, &[]);
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.lines().last() == Some("PASS"), "{stdout}");
    for f in [
        "history.jsonl",
        "verdict.json",
        "junit.xml",
        "report.html",
        "run.json",
        "scenario.yaml",
        "sut.toml",
        "sut.log",
        "snapshots.json",
        "master.yaml",
        "dead-letters.json",
    ] {
        assert!(run.join(f).is_file(), "{f} in the run directory");
    }
    assert_eq!(status_of(&run, "exactly_once"), "pass");
    assert_eq!(status_of(&run, "contract"), "pass");
    // Nothing reordered, so ordering was not exercised: unknown, never pass.
    assert_eq!(status_of(&run, "ordering"), "unknown");
    assert!(history_len(&run) > 100, "the plant was active");
}

#[test]
fn check_rejudges_a_recorded_run_without_running_it() {
    let dir = scratch("check");
    let sc = scenario(&dir, "short-check", 3, &[]);
    let run = dir.join("out");
    let (out, stdout, _) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let before = std::fs::read_to_string(run.join("verdict.json")).unwrap();
    std::fs::remove_file(run.join("junit.xml")).unwrap();
    let (out, again, stderr) = andon(&["check", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{again}\n{stderr}");
    assert!(
        run.join("junit.xml").is_file(),
        "reports are rendered again"
    );
    let after = std::fs::read_to_string(run.join("verdict.json")).unwrap();
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v.as_object_mut().unwrap().remove("generated");
        v["verdicts"].clone()
    };
    assert_eq!(
        strip(&before),
        strip(&after),
        "the same verdicts from the history alone"
    );

    // A checker the scenario requires that could not judge makes the run inconclusive
    // (exit 5), never a pass: nothing reordered a lot's events here.
    let expect_file = run.join("expect.json");
    let mut expect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&expect_file).unwrap()).unwrap();
    expect["required"] = serde_json::json!(["exactly_once", "ordering"]);
    std::fs::write(&expect_file, expect.to_string()).unwrap();
    let (out, text, stderr) = andon(&["check", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{text}\n{stderr}");
    assert!(
        text.contains("INCONCLUSIVE: ordering could not be judged"),
        "{text}"
    );
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("verdict.json")).unwrap()).unwrap();
    assert_eq!(verdict["exit_code"], 5);
    assert!(verdict["exit"]["inconclusive"].is_string(), "{verdict}");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(junit.contains("type=\"inconclusive\""), "{junit}");

    // An empty history is a damaged run directory: refused, and the reports are left
    // alone (never re-written as PASS).
    let before = std::fs::read_to_string(run.join("verdict.json")).unwrap();
    std::fs::write(run.join("history.jsonl"), "").unwrap();
    let (out, text, stderr) = andon(&["check", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{text}\n{stderr}");
    assert!(stderr.contains("the history holds no record"), "{stderr}");
    assert!(!text.contains("PASS"), "{text}");
    assert_eq!(
        std::fs::read_to_string(run.join("verdict.json")).unwrap(),
        before
    );
}

#[test]
fn a_defect_is_caught_and_the_run_exits_1() {
    let dir = scratch("defect");
    let sc = scenario(&dir, "short-defect", 3, &[]);
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &["--defect", "no-idempotency-key"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(status_of(&run, "contract"), "fail");
    assert!(stdout.contains("contract         FAIL"), "{stdout}");
    assert!(stdout.lines().last() == Some("FAIL"), "{stdout}");
}

#[test]
fn replay_redrives_the_same_source_traffic() {
    let dir = scratch("replay");
    let sc = scenario(&dir, "short-replay", 3, &[]);
    let run = dir.join("out");
    let (out, stdout, _) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let again = dir.join("again");
    let (out, stdout, stderr) = andon(&[
        "replay",
        run.to_str().unwrap(),
        "--report-dir",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The seed fixes what each system generates on its own: the ERP's releases and
    // changes come out identical, with the same ids, in the same order. (What the MES,
    // QMS and WMS do next depends on what the SUT delivered to them, and when.)
    let erp = |events: Vec<String>| -> Vec<String> {
        events
            .into_iter()
            .filter(|e| e.contains("/andon/erp/"))
            .collect()
    };
    let (a, b) = (erp(emitted(&run)), erp(emitted(&again)));
    assert!(a.len() >= 3, "{a:?}");
    let n = a.len().min(b.len());
    assert!(
        n + 1 >= a.len().max(b.len()),
        "{} / {} ERP events",
        a.len(),
        b.len()
    );
    assert_eq!(a[..n], b[..n], "the same ERP events with the same ids");
}

#[test]
fn a_sut_fault_kills_the_middleware_and_nothing_acknowledged_is_lost() {
    let dir = scratch("kill");
    let sc = scenario(
        &dir,
        "short-kill",
        5,
        &["  - { at: 2s, target: sut, kind: kill }"],
    );
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    let actions = record["meta"]["sut_actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{record}");
    assert_eq!(actions[0]["kind"], "kill");
    let log = std::fs::read_to_string(run.join("sut.log")).unwrap();
    assert!(log.contains("SIGKILL"), "{log}");
    assert_eq!(status_of(&run, "exactly_once"), "pass");
}

#[test]
fn a_bad_scenario_is_refused_before_anything_starts() {
    let dir = scratch("bad");
    let sc = dir.join("bad.yaml");
    std::fs::write(
        &sc,
        "name: bad\nseed: 1\nplants: [{ id: \"1000\", lines: 1, materials: 4, profile: discrete }]\n\
         duration: 5s\nload: [{ at: 0s, rate: 10/s }]\nfaults:\n  - { at: 1s, target: erp, kind: meteor }\n",
    )
    .unwrap();
    let run = dir.join("out");
    let (out, _, stderr) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:7:"), "file and line: {stderr}");
    assert!(stderr.contains("meteor"), "{stderr}");
    assert!(!run.exists(), "nothing was started or written");
}

#[test]
fn a_sut_that_never_gets_ready_is_an_error_with_its_log() {
    let dir = scratch("never-ready");
    let sc = scenario(&dir, "short-never", 2, &[]);
    let manifest = dir.join("sut.toml");
    std::fs::write(
        &manifest,
        "name = \"broken\"\n[start]\ncommand = [\"sh\", \"-c\", \"echo cannot reach the database; exit 3\"]\n\
         ready = \"{sut.url}/health\"\n[ingress]\nerp = \"{sut.url}/e\"\nmes = \"{sut.url}/e\"\n\
         qms = \"{sut.url}/e\"\nwms = \"{sut.url}/e\"\n",
    )
    .unwrap();
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &["--sut", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("ERROR: "), "{stdout}");
    assert!(
        stdout.contains("cannot reach the database"),
        "the log's tail: {stdout}"
    );
    assert!(run.join("verdict.json").is_file());
}

#[test]
fn a_report_dir_with_other_files_is_refused() {
    let dir = scratch("not-a-run");
    let sc = scenario(&dir, "short-refused", 2, &[]);
    let run = dir.join("out");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("thesis.txt"), "precious").unwrap();
    let (out, _, stderr) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not an andon run directory"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(run.join("thesis.txt")).unwrap(),
        "precious"
    );
}

#[test]
fn defects_cannot_be_combined_with_another_sut() {
    let dir = scratch("defect-sut");
    let sc = scenario(&dir, "short-x", 2, &[]);
    let (out, _, stderr) = andon(&[
        "run",
        sc.to_str().unwrap(),
        "--sut",
        "examples/reference-middleware/sut.toml",
        "--defect",
        "late-hold",
    ]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--defect"), "{stderr}");
}
