//! `andon test` as a CI pipeline runs it: the bundled features' smoke subset against the
//! reference middleware, a defect failing the run, configuration errors with file and
//! line, capability skips, and the step docs kept in step with the library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ANDON: &str = env!("CARGO_BIN_EXE_andon");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent")
        .to_path_buf()
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("features-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn andon_test(args: &[&str]) -> Output {
    Command::new(ANDON)
        .current_dir(repo())
        .arg("test")
        .args(args)
        .output()
        .expect("andon runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// (name, status) of every scenario in a cucumber.json.
fn outcomes(report_dir: &Path) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("cucumber.json")).expect("cucumber.json"),
    )
    .expect("cucumber.json is JSON");
    let mut out = Vec::new();
    for f in doc.as_array().expect("features") {
        for el in f["elements"].as_array().expect("elements") {
            let statuses: Vec<&str> = el["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .map(|s| s["result"]["status"].as_str().unwrap_or("?"))
                .collect();
            let status = if statuses.contains(&"failed") {
                "failed"
            } else if statuses.iter().all(|s| *s == "passed") {
                "passed"
            } else {
                "skipped"
            };
            out.push((
                el["name"].as_str().unwrap_or("").to_string(),
                status.to_string(),
            ));
        }
    }
    out
}

/// Writes a feature into `dir` and runs `andon test` on it with `extra` arguments; the
/// report goes to `dir/report`.
fn run_feature(dir: &Path, name: &str, body: &str, extra: &[&str]) -> (Output, PathBuf) {
    let f = dir.join(name);
    std::fs::write(&f, body).expect("feature written");
    let report = dir.join("report");
    let mut args = vec![f.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    args.extend(["--report-dir", report.to_str().expect("utf-8 path")]);
    (andon_test(&args), report)
}

#[test]
fn the_smoke_features_pass_against_the_reference_middleware_and_write_every_report() {
    let dir = scratch("smoke");
    let o = andon_test(&[
        "features",
        "--tags",
        "@smoke and not @slow",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let got = outcomes(&dir);
    assert!(got.len() >= 5, "{got:?}");
    assert!(got.iter().all(|(_, s)| s == "passed"), "{got:?}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<testcase").count(), got.len(), "{junit}");
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.contains(&format!("{} passed", got.len())), "{html}");
    // Each scenario ran into its own run directory, with its own report.
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs")).expect("runs").collect();
    assert_eq!(runs.len(), got.len());
    assert!(html.contains("/report.html\">runs/"));
}

#[test]
fn a_caught_defect_fails_the_run_with_exit_1_and_says_why() {
    let dir = scratch("defect");
    let (o, report) = run_feature(
        &dir,
        "uom.feature",
        "Feature: Units\n  Scenario: The middleware confuses units\n    Given the reference middleware with the defect \"wrong-uom\"\n    And plant 1000 with 2 lines making 10 materials\n    When the plants run for 8s\n    Then ERP stock reconciles with the plants' activity\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("expected the reconciliation check to pass, but it was FAIL"),
        "{}",
        text(&o)
    );
    assert!(out.contains("run directory:"), "{out}");
    // A failed expectation is told as such, not as a crash of andon.
    assert!(out.contains("Failed: expected the reconciliation"), "{out}");
    assert!(!out.to_lowercase().contains("panicked"), "{out}");
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<failure type=\"failed\""), "{junit}");
    assert!(!junit.to_lowercase().contains("panicked"), "{junit}");
    let json = std::fs::read_to_string(report.join("cucumber.json")).expect("cucumber.json");
    assert!(!json.to_lowercase().contains("panicked"), "{json}");
    assert_eq!(
        outcomes(&report),
        vec![(
            "The middleware confuses units".to_string(),
            "failed".to_string()
        )]
    );
}

#[test]
fn a_step_whose_check_could_not_judge_is_inconclusive_and_exits_5() {
    let dir = scratch("inconclusive");
    let (o, report) = run_feature(
        &dir,
        "unjudged.feature",
        "Feature: Order\n  Scenario: Nothing reorders a lot's events\n    Given plant 1000 with 2 lines making 10 materials\n    When the plants run for 4s\n    Then the ordering check passes\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Inconclusive: expected the ordering check to pass, but it was UNKNOWN"),
        "{out}"
    );
    assert!(out.contains("0 failed, 1 inconclusive"), "{out}");
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<failure type=\"inconclusive\""), "{junit}");
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");
    assert!(html.contains("1 inconclusive"), "{html}");
}

#[test]
fn an_undefined_step_is_a_configuration_error_with_the_closest_steps() {
    let dir = scratch("undefined");
    let (o, report) = run_feature(
        &dir,
        "typo.feature",
        "Feature: Typo\n  Scenario: A typo\n    Given plant 1000 with 2 lines making 10 materials\n    And the ERP is unavailible from 5s for 10s\n    Then every acknowledged event has exactly one effect\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("typo.feature:4: undefined step: And the ERP is unavailible from 5s for 10s"),
        "{err}"
    );
    assert!(
        err.contains("Given the {system} is unavailable from {at} for {for}"),
        "{err}"
    );
    assert!(!report.join("runs").exists(), "nothing ran");
}

#[test]
fn a_then_step_written_as_given_is_named_as_such() {
    let dir = scratch("kind");
    let (o, _) = run_feature(
        &dir,
        "kind.feature",
        "Feature: Kind\n  Scenario: Wrong keyword\n    Given every acknowledged event has exactly one effect\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("it is a Then step, not a Given step"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_bad_feature_file_names_its_file_and_line() {
    let dir = scratch("bad");
    let (o, _) = run_feature(
        &dir,
        "broken.feature",
        "Feature: Broken\n  Scenario: ok\n    Given the seed 1\n  This line is not Gherkin\n    | a table | without a step |\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.feature"), "{err}");
    assert!(
        err.contains("broken.feature: line 4, column 20: not valid Gherkin: the line starts with no Gherkin keyword"),
        "{err}"
    );
}

#[test]
fn a_scenario_needing_a_capability_the_sut_lacks_is_skipped_not_passed() {
    let dir = scratch("capability");
    let manifest = std::fs::read_to_string(repo().join("examples/reference-middleware/sut.toml"))
        .expect("bundled manifest");
    let without: String = manifest
        .split("[capabilities]")
        .next()
        .expect("manifest head")
        .to_string();
    let m = dir.join("sut.toml");
    std::fs::write(&m, without).expect("manifest written");
    let (o, report) = run_feature(
        &dir,
        "dl.feature",
        "Feature: Dead letters\n  Scenario: Rejections are dead-lettered\n    Given the middleware lists its dead letters\n    And plant 1000 with 2 lines making 10 materials\n    When the plants run for 5s\n    Then at least 1 event is dead-lettered\n",
        &["--sut", m.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("skipped: Dead letters: Rejections are dead-lettered — the SUT does not declare the capability dead_letters"),
        "{out}"
    );
    assert!(
        out.contains("0 passed, 0 failed, 0 inconclusive, 0 configuration errors, 1 skipped"),
        "{out}"
    );
    assert_eq!(outcomes(&report)[0].1, "skipped");
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("usage");
    for (args, says) in [
        (
            vec!["features", "--tags", "@smoke and"],
            "not a tag expression",
        ),
        (vec!["no-such-dir"], "no such file or directory"),
        (vec!["features", "--sut", "missing.toml"], "missing.toml"),
    ] {
        let mut a = args.clone();
        let r = dir.join("r");
        a.extend(["--report-dir", r.to_str().unwrap()]);
        let o = andon_test(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn the_containers_runtime_without_its_images_says_how_to_build_them() {
    let dir = scratch("no-image");
    let o = Command::new(ANDON)
        .current_dir(repo())
        .env("ANDON_IMAGE_TAG", "no-such-tag")
        .args([
            "test",
            "features",
            "--runtime",
            "containers",
            "--report-dir",
        ])
        .arg(dir.join("r"))
        .output()
        .expect("andon runs");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("andon-simulator:no-such-tag is not there: build it with ci/images.sh")
            || err.contains("no container engine"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_generated_docs_in_the_repository_match_what_andon_reads() {
    // Every generated page: the step library, the flows and the problem codes.
    for page in ["steps", "flows", "problems"] {
        let o = Command::new(ANDON)
            .args(["docs", page])
            .output()
            .expect("andon docs");
        assert_eq!(o.status.code(), Some(0));
        let generated = String::from_utf8(o.stdout).expect("utf-8");
        let file = repo().join(format!("docs/{page}.md"));
        let kept = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            kept == generated,
            "docs/{page}.md is out of date with what andon reads: regenerate it with\n  cargo run -p andon -- docs {page} > docs/{page}.md"
        );
    }
    let o = Command::new(ANDON)
        .args(["steps", "--format", "markdown"])
        .output()
        .expect("andon steps");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        std::fs::read_to_string(repo().join("docs/steps.md")).unwrap()
    );
    let text = Command::new(ANDON)
        .arg("steps")
        .output()
        .expect("andon steps");
    let text = String::from_utf8_lossy(&text.stdout);
    for heading in [
        "Plants and master data",
        "Faults",
        "Latency (SLA)",
        "Safety and dead letters",
    ] {
        assert!(text.contains(heading), "{text}");
    }
    assert!(text.contains("e.g. Given the ERP is unavailable from 5s for 10s with Retry-After 2s"));
}

#[test]
fn every_bundled_feature_uses_only_library_steps() {
    let dir = scratch("bundled");
    // A tag no scenario has: every file is parsed and every step matched, nothing runs.
    let o = andon_test(&[
        "features",
        "--tags",
        "@no-such-tag",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let count = std::fs::read_dir(repo().join("features"))
        .expect("features/")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .count();
    assert!(count >= 7, "features/ is organised by concern");
}

#[test]
fn every_step_the_bundled_features_use_is_documented_as_written() {
    let files = andon::bdd::feature_files(&[repo().join("features")]).expect("features");
    let mut missing = Vec::new();
    for file in files {
        let f = andon::bdd::parse_feature(&file).expect("feature parses");
        let steps = f
            .background
            .iter()
            .flat_map(|b| &b.steps)
            .chain(f.scenarios.iter().flat_map(|s| &s.steps))
            .chain(f.rules.iter().flat_map(|r| {
                r.background
                    .iter()
                    .flat_map(|b| &b.steps)
                    .chain(r.scenarios.iter().flat_map(|s| &s.steps))
            }));
        for st in steps {
            let found = andon::bdd::steps::matching(&st.value, st.ty);
            let Some(&i) = found.first() else {
                missing.push(format!("{}: {} matches no step", file.display(), st.value));
                continue;
            };
            let def = &andon::bdd::steps::library()[i];
            if !def.documented().is_match(&st.value) {
                missing.push(format!(
                    "{}:{}: {:?} is not what `andon steps` documents: {:?}",
                    file.display(),
                    st.position.line,
                    st.value,
                    def.text
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn self_tests_are_skipped_with_the_reason_against_another_sut() {
    let dir = scratch("self-test-skipped");
    // The bundled middleware's own manifest, given as `--sut`: andon treats it as any SUT.
    let o = andon_test(&[
        "features/self-test",
        "--sut",
        "examples/reference-middleware/sut.toml",
        "--fail-fast",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let got = outcomes(&dir);
    assert!(got.len() >= 8, "{got:?}");
    assert!(got.iter().all(|(_, s)| s == "skipped"), "{got:?}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("a self-test of andon") && stdout.contains("says nothing about this SUT"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<skipped").count(), got.len(), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

#[test]
fn a_number_a_step_cannot_take_is_a_configuration_error_naming_the_line() {
    let dir = scratch("bad-number");
    let (o, report) = run_feature(
        &dir,
        "numbers.feature",
        "Feature: Numbers\n  Scenario: a seed too large\n    Given the seed 99999999999999999999999\n    Then the exactly-once check passes\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("numbers.feature:2"), "{err}");
    assert!(
        err.contains("configuration error") && err.contains("not a whole number"),
        "{err}"
    );
    assert!(err.contains("the step at line 3"), "{err}");
    // A configuration error, not a failure of the middleware, in every report.
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<error type=\"configuration\""), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

#[test]
fn a_scenario_outline_without_examples_is_refused() {
    let dir = scratch("outline");
    let (o, report) = run_feature(
        &dir,
        "outline.feature",
        "Feature: Outline\n  Scenario Outline: a seed of <n>\n    Given the seed <n>\n    Then the exactly-once check passes\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("outline.feature: line 2, column 3") && err.contains("no Examples rows"),
        "{err}"
    );
    assert!(!report.join("runs").exists(), "nothing ran");
}
