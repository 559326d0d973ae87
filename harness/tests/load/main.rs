//! `andon load` as a user runs it: a short load against the reference middleware, its
//! run directory (`load.json`, `latency.hlog`, the report's load section), and the exit
//! codes: 0 thresholds held, 3 breached, 4 invalid (events dropped), 2 bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ANDON: &str = env!("CARGO_BIN_EXE_andon");

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("load-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A two-plant scenario of `duration` at 20 steps/s per plant with `extra` appended
/// (thresholds, options, faults).
fn scenario(dir: &Path, duration: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"name: small-load
seed: 11
plants:
  - {{ id: "1000", lines: 2, materials: 6, profile: discrete }}
  - {{ id: "2000", lines: 1, materials: 4, profile: batch }}
duration: {duration}
time_scale: 40
load:
  - {{ at: 0s, rate: 20/s, per: plant }}
settle: 20s
expect:
  exactly_once: true
{extra}"#
    );
    let path = dir.join("small-load.yaml");
    std::fs::write(&path, text).expect("scenario written");
    path
}

fn load(scenario: &Path, run_dir: &Path, args: &[&str]) -> Output {
    Command::new(ANDON)
        .arg("load")
        .arg(scenario)
        .arg("--report-dir")
        .arg(run_dir)
        .args(args)
        .output()
        .expect("andon runs")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn report(run_dir: &Path) -> serde_json::Value {
    let bytes = std::fs::read(run_dir.join("load.json")).expect("load.json");
    serde_json::from_slice(&bytes).expect("load.json is JSON")
}

#[test]
fn a_load_that_holds_its_thresholds_exits_0_and_writes_its_measures() {
    let dir = scratch("pass");
    let s = scenario(
        &dir,
        "4s",
        r#"thresholds:
  - "p99 < 30s on mes.consumed -> erp"
  - "ingress p99 < 30s"
  - "error rate < 5 %"
  - "throughput > 1/s"
"#,
    );
    let run = dir.join("run");
    let out = load(&s, &run, &["--connections", "8"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("threshold p99 < 30s on mes.consumed -> erp"),
        "{t}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim_end()
            .ends_with("PASS"),
        "{t}"
    );

    let r = report(&run);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["generator"]["connections"], 8);
    assert_eq!(r["generator"]["late_steps"], 0);
    assert_eq!(r["generator"]["dropped"], 0);
    // 20 steps/s per plant, two plants, 4 s: the driver scheduled exactly 160.
    assert_eq!(r["generator"]["scheduled_steps"], 160);
    let events = r["generator"]["events"].as_u64().unwrap();
    assert!(events > 0, "{r}");
    // Every event was acknowledged and has an ingress latency (none is poison here).
    assert_eq!(r["ingress"]["count"].as_u64().unwrap(), events, "{r}");
    assert!(
        r["routes"]["mes.consumed -> erp"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    let thresholds = r["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 4);
    assert!(thresholds.iter().all(|t| t["outcome"] == "pass"), "{r}");
    let plants = r["throughput"]["plants"].as_object().unwrap();
    assert_eq!(plants.len(), 2, "{r}");
    assert!(!r["depths"].as_array().unwrap().is_empty());

    let hlog = std::fs::read_to_string(run.join("latency.hlog")).expect("latency.hlog");
    assert!(hlog.contains("#[StartTime: "), "{hlog}");
    assert!(hlog.lines().any(|l| l.starts_with("Tag=e2e,")), "{hlog}");
    assert!(
        hlog.lines().any(|l| l.starts_with("Tag=ingress,")),
        "{hlog}"
    );
    let html = std::fs::read_to_string(run.join("report.html")).expect("report.html");
    assert!(html.contains("<section id=\"load\">"));
    assert!(html.contains("Latency per second of intended send time"));

    // `andon check` re-judges the run and keeps its load section.
    let check = Command::new(ANDON)
        .arg("check")
        .arg(&run)
        .output()
        .expect("andon check runs");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<section id=\"load\">"));
}

#[test]
fn a_breached_threshold_exits_3_and_says_which() {
    let dir = scratch("breached");
    let s = scenario(
        &dir,
        "3s",
        "thresholds:\n  - \"ingress p99 < 1us\"\n  - \"error rate < 5 %\"\n",
    );
    let run = dir.join("run");
    let out = load(&s, &run, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("threshold ingress p99 < 1us"), "{t}");
    assert!(t.contains("BREACHED"), "{t}");
    let r = report(&run);
    assert_eq!(r["verdict"], "breached");
    assert_eq!(r["thresholds"][0]["outcome"], "breached");
    assert_eq!(r["thresholds"][1]["outcome"], "pass");
}

#[test]
fn dropped_events_make_the_run_invalid_with_exit_4() {
    let dir = scratch("invalid");
    // The plants cannot reach the SUT for 2 s and their buffer holds 10 events.
    let s = scenario(
        &dir,
        "3s",
        r#"options:
  mes: { buffer_capacity: 10 }
faults:
  - { at: 0s, for: 2s, target: mes, kind: partition }
thresholds:
  - "error rate < 5 %"
"#,
    );
    let run = dir.join("run");
    let out = load(&s, &run, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(4), "{t}");
    assert!(t.contains("INVALID: "), "{t}");
    assert!(t.contains("events were dropped"), "{t}");
    let r = report(&run);
    assert_eq!(r["verdict"], "invalid");
    assert!(r["generator"]["dropped"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn a_threshold_that_cannot_be_read_is_refused_with_its_line_and_column() {
    let dir = scratch("bad-threshold");
    let s = scenario(&dir, "3s", "thresholds:\n  - \"p99 < 2 parsecs\"\n");
    let out = load(&s, &dir.join("run"), &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("small-load.yaml:14:"), "{t}");
    assert!(t.contains("p99 < 2 parsecs"), "{t}");
    assert!(!dir.join("run").exists(), "nothing started");
}

#[test]
fn flags_that_cannot_apply_are_refused_before_anything_starts() {
    let dir = scratch("bad-flags");
    let s = scenario(
        &dir,
        "3s",
        "faults:\n  - { at: 2s, for: 1s, target: erp, kind: unavailable }\n",
    );
    let out = load(&s, &dir.join("run"), &["--duration", "1s"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("--duration 1s: the unavailable fault on erp starts at 2s"),
        "{t}"
    );
    let out = load(&s, &dir.join("run"), &["--rate", "fast"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!dir.join("run").exists(), "nothing started");
}
