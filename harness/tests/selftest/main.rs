//! The checkers' self-test, as CI runs it: every scenario of `scenarios/` passes against
//! the reference middleware, and every named defect of the reference middleware fails the
//! scenario meant to catch it, through the checker meant to catch it. The whole
//! defect × scenario matrix is `ci/self-test.sh` (its result is in the README).
//!
//! Runs `andon run` as a user does, several at a time (`ANDON_SELFTEST_JOBS`, default 6:
//! the runs mostly wait on their scenarios' clocks); filter with `cargo test -p andon --test
//! selftest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const ANDON: &str = env!("CARGO_BIN_EXE_andon");

/// Each defect, the scenario that must catch it, and the checker that must fail: the lines
/// of `ci/self-test-diagonal.txt`, which `DIAGONAL=1 ci/self-test.sh` runs too.
fn catches() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("../../../ci/self-test-diagonal.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut w = l.split_whitespace();
            let mut next = || w.next().expect("defect scenario checker");
            (next(), next(), next())
        })
        .collect()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent")
        .to_path_buf()
}

/// One run: which defect (none: the correct middleware) on which scenario.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Job {
    defect: Option<&'static str>,
    scenario: String,
}

/// What a run concluded: the exit code and the checkers that failed.
#[derive(Debug, Clone)]
struct Outcome {
    code: Option<i32>,
    failed: Vec<String>,
    summary: String,
}

fn run(job: &Job, work: &Path) -> Outcome {
    let dir = work.join(format!(
        "{}--{}",
        job.defect.unwrap_or("correct"),
        job.scenario
    ));
    let mut cmd = Command::new(ANDON);
    cmd.current_dir(repo())
        .args(["-q", "run"])
        .arg(format!("scenarios/{}.yaml", job.scenario))
        .arg("--report-dir")
        .arg(&dir);
    if let Some(d) = job.defect {
        cmd.args(["--defect", d]);
    }
    let out = cmd.output().expect("andon runs");
    let failed = std::fs::read(dir.join("verdict.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|v| {
            v["verdicts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| x["status"] == "fail")
                .filter_map(|x| x["checker"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Outcome {
        code: out.status.code(),
        failed,
        summary: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn every_scenario_passes_and_every_defect_is_caught_by_its_checker() {
    let mut scenarios: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 12, "{scenarios:?}");
    let catches = catches();
    for (d, s, _) in &catches {
        assert!(scenarios.iter().any(|x| x == s), "{d}: no scenario {s}");
    }
    let listed: Vec<&str> = andon_reference_middleware::Defect::ALL
        .iter()
        .map(|d| d.name())
        .collect();
    for d in &listed {
        assert!(
            catches.iter().any(|(x, _, _)| x == d),
            "defect {d} has no scenario that catches it"
        );
    }

    let mut jobs: Vec<Job> = scenarios
        .iter()
        .map(|s| Job {
            defect: None,
            scenario: s.clone(),
        })
        .collect();
    jobs.extend(catches.iter().map(|(d, s, _)| Job {
        defect: Some(*d),
        scenario: s.to_string(),
    }));

    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("selftest");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("scratch");
    let threads: usize = std::env::var("ANDON_SELFTEST_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let queue = Mutex::new(jobs.clone());
    let results: Mutex<BTreeMap<Job, Outcome>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let Some(job) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let out = run(&job, &work);
                    results.lock().unwrap().insert(job, out);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();

    let mut problems = Vec::new();
    println!("scenario × middleware → checkers that failed");
    for (job, out) in &results {
        let verdict = if out.failed.is_empty() {
            format!("exit {:?}", out.code)
        } else {
            format!("exit {:?}, failed: {}", out.code, out.failed.join(", "))
        };
        println!(
            "  {:<28} {:<20} {verdict}",
            job.scenario,
            job.defect.unwrap_or("(correct)")
        );
        match job.defect {
            None if out.code != Some(0) => problems.push(format!(
                "the reference middleware does not pass {}:\n{}",
                job.scenario, out.summary
            )),
            Some(d) => {
                let (_, _, checker) = catches.iter().find(|(x, _, _)| *x == d).unwrap();
                if out.code != Some(1) || !out.failed.iter().any(|c| c == checker) {
                    problems.push(format!(
                        "defect {d} is not caught by {checker} in {}:\n{}",
                        job.scenario, out.summary
                    ));
                }
            }
            None => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
