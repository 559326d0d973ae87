//! andon against a middleware it was not written with: the Python middleware of
//! `examples/python-middleware/` (standard library only, written from andon's public
//! documents alone). A correct middleware other than the reference must pass the whole
//! default `andon test` (self-tests skipped, none failed) and every YAML scenario with exit
//! 0, the scenarios together must exercise every required call of every flow, and each of
//! its named defects must be caught by the checker meant for it.
//!
//! Needs `python3` (3.11 or later). Without it every test is reported as ignored, with the
//! reason printed — never as passed. Runs several `andon` processes at a time
//! (`ANDON_THIRDPARTY_JOBS`, default 5: the runs mostly wait on their scenarios' clocks).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use andon::check::RunData;
use andon::coverage::{self, Coverage};
use libtest_mimic::{Arguments, Failed, Trial};

const ANDON: &str = env!("CARGO_BIN_EXE_andon");
const SUT: &str = "examples/python-middleware/sut.toml";

/// Each defect of the Python middleware, the scenario that must catch it, and the checker
/// that must fail.
const CATCHES: &[(&str, &str, &str)] = &[
    ("own-posting-date", "baseline-single-plant", "mapping"),
    ("wrong-storage-location", "baseline-single-plant", "mapping"),
    (
        "by-product-as-receipt",
        "shift-change-three-plants",
        "mapping",
    ),
    (
        "short-timeout-new-key",
        "cloud-erp-downtime",
        "exactly_once",
    ),
    ("single-plant-token", "token-expiry", "contract"),
    ("no-dedup", "mes-duplicate-reorder-storm", "exactly_once"),
];

type Test = (&'static str, fn() -> Result<(), Failed>);

fn main() {
    let args = Arguments::from_args();
    let python = python_state();
    let tests: [Test; 3] = [
        (
            "every_scenario_passes_and_together_they_exercise_every_flow",
            every_scenario,
        ),
        (
            "the_whole_default_andon_test_passes_with_self_tests_skipped",
            whole_features,
        ),
        ("each_named_defect_is_caught_by_its_checker", defects_caught),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| Trial::test(name, f).with_ignored_flag(python.is_err()))
        .collect();
    if let Err(why) = &python {
        eprintln!("third-party middleware tests SKIPPED (reported as ignored): {why}");
    }
    // One at a time: each runs several andon processes already.
    let args = Arguments {
        test_threads: Some(1),
        ..args
    };
    libtest_mimic::run(&args, trials).exit();
}

/// `Err(why)` when there is no Python to run the middleware with.
fn python_state() -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)",
        ])
        .output()
        .map_err(|e| format!("python3 cannot be started ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err("python3 is older than 3.11".into())
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent")
        .to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("thirdparty-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn jobs() -> usize {
    std::env::var("ANDON_THIRDPARTY_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

fn text(o: &Output) -> String {
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    format!(
        "exit {:?}\nstdout (tail):\n{}\nstderr (tail):\n{}",
        o.status.code(),
        tail(&o.stdout),
        tail(&o.stderr)
    )
}

/// `andon run SCENARIO --sut python` into `dir`, with `DEFECTS` when given.
fn run(scenario: &str, dir: &Path, defect: Option<&str>) -> Output {
    let mut cmd = Command::new(ANDON);
    cmd.current_dir(repo())
        .args(["-q", "run"])
        .arg(format!("scenarios/{scenario}.yaml"))
        .args(["--sut", SUT, "--report-dir"])
        .arg(dir);
    match defect {
        Some(d) => cmd.env("DEFECTS", d),
        None => cmd.env_remove("DEFECTS"),
    };
    cmd.output().expect("andon runs")
}

/// Runs `work` over `items`, [`jobs`] at a time, and returns the results in order.
fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs() {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = work(item);
                    out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Whether every plant of the scenario at `path` has a Business Central ERP: its changes reach
/// only a middleware that subscribes to them, which the Python middleware (andon's API only,
/// no vendor dialect declared) does not; such a scenario is skipped for it, as the dialect's
/// features are.
fn only_business_central(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or(serde_norway::Value::Null);
    let plants = doc
        .get("plants")
        .and_then(|p| p.as_sequence())
        .cloned()
        .unwrap_or_default();
    let bc = |p: &serde_norway::Value| {
        let erp = p.get("erp");
        let name = erp
            .and_then(|e| e.as_str())
            .or_else(|| erp.and_then(|e| e.get("dialect")).and_then(|d| d.as_str()));
        name.is_some_and(|n| n.starts_with("business-central"))
    };
    !plants.is_empty() && plants.iter().all(bc)
}

/// Whether the scenario at `path` has plants publish to a broker (`transport:`): the Python
/// middleware declares no broker subscription, so `andon run` refuses such a scenario for it
/// (exit 2, naming the ingress to add), as the broker's features are skipped for it.
fn needs_broker(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or(serde_norway::Value::Null);
    doc.get("transport").is_some()
        || doc
            .get("plants")
            .and_then(|p| p.as_sequence())
            .is_some_and(|ps| ps.iter().any(|p| p.get("transport").is_some()))
}

fn scenarios() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !only_business_central(p) && !needs_broker(p))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    out.sort();
    out
}

fn every_scenario() -> Result<(), Failed> {
    let work = scratch("scenarios");
    let names = scenarios();
    assert!(names.len() >= 12, "{names:?}");
    let outs = parallel(&names, |n| run(n, &work.join(n), None));
    let mut failures = Vec::new();
    for (n, o) in names.iter().zip(&outs) {
        if o.status.code() != Some(0) {
            failures.push(format!("{n}: {}", text(o)));
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "scenarios that did not pass against the Python middleware:\n{}",
            failures.join("\n\n")
        )
        .into());
    }
    // Together they exercise every required call of every flow and every event kind.
    let universe = coverage::universe();
    let mut total = Coverage::default();
    for n in &names {
        let data = RunData::load(&work.join(n)).map_err(|e| format!("{n}: {e}"))?;
        total.add(&Coverage::of(&data, &universe));
    }
    let gaps = coverage::gaps(&total, &universe);
    if !gaps.is_empty() {
        return Err(format!(
            "the bundled scenarios leave flows unexercised:\n{}",
            gaps.join("\n")
        )
        .into());
    }
    Ok(())
}

fn whole_features() -> Result<(), Failed> {
    let dir = scratch("features");
    let o = Command::new(ANDON)
        .current_dir(repo())
        .args(["test", "--sut", SUT, "--concurrency"])
        .arg(jobs().to_string())
        .arg("--report-dir")
        .arg(&dir)
        .env_remove("DEFECTS")
        .output()
        .expect("andon test runs");
    if o.status.code() != Some(0) {
        return Err(format!(
            "andon test over features/ against the Python middleware:\n{}",
            text(&o)
        )
        .into());
    }
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cucumber.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let (mut passed, mut skipped) = (0, 0);
    for f in doc.as_array().into_iter().flatten() {
        let uri = f["uri"].as_str().unwrap_or("");
        let self_test = uri.contains("self-test");
        // The Python middleware speaks andon's API only: it declares no vendor dialect, so
        // the S/4HANA scenarios are skipped for it (a capability it lacks), not failed.
        // Nor does it consume from a broker: the transport features are skipped too.
        let needs_dialect = uri.contains("dialects") || uri.contains("transport");
        for el in f["elements"].as_array().into_iter().flatten() {
            let statuses: Vec<&str> = el["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["result"]["status"].as_str().unwrap_or("?"))
                .collect();
            if statuses.iter().all(|s| *s == "passed") {
                if self_test {
                    return Err(
                        format!("self-test {:?} ran against another SUT", el["name"]).into(),
                    );
                }
                passed += 1;
            } else if statuses.contains(&"failed") {
                return Err(format!("{:?} failed", el["name"]).into());
            } else {
                if !self_test && !needs_dialect {
                    return Err(format!(
                        "{:?} was skipped but is neither a self-test nor a vendor dialect's nor a broker's",
                        el["name"]
                    )
                    .into());
                }
                skipped += 1;
            }
        }
    }
    if passed < 25 || skipped < 8 {
        return Err(format!(
            "{passed} passed, {skipped} skipped: the suite did not run as expected"
        )
        .into());
    }
    Ok(())
}

fn defects_caught() -> Result<(), Failed> {
    let work = scratch("defects");
    let outs = parallel(CATCHES, |(d, s, _)| {
        let dir = work.join(format!("{d}--{s}"));
        let o = run(s, &dir, Some(d));
        (o, dir)
    });
    let mut missed = Vec::new();
    for ((d, s, checker), (o, dir)) in CATCHES.iter().zip(&outs) {
        let verdict: serde_json::Value = std::fs::read(dir.join("verdict.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let failed: Vec<&str> = verdict["verdicts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["status"] == "fail")
            .filter_map(|v| v["checker"].as_str())
            .collect();
        if o.status.code() != Some(1) || !failed.contains(checker) {
            missed.push(format!(
                "{d} on {s}: expected exit 1 with {checker} failing, got {:?} with {failed:?}\n{}",
                o.status.code(),
                text(o)
            ));
        }
    }
    if missed.is_empty() {
        Ok(())
    } else {
        Err(missed.join("\n\n").into())
    }
}
