//! Runs that do not end as planned: SIGTERM and SIGINT mid-run, a manifest naming a program
//! that does not exist, secrets in the manifest, an interrupted run directory re-checked.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{ANDON, andon, repo, run_into, scenario, scratch};

/// Waits until `cond` holds, checking every 50 ms, for at most `secs` seconds.
fn await_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The SUT's pid, from `sut.log` (`[andon] started pid N: …`), once it is ready.
fn ready_sut_pid(run: &Path) -> Option<i32> {
    let log = std::fs::read_to_string(run.join("sut.log")).ok()?;
    if !log.contains("ready after") {
        return None;
    }
    let at = log.find("started pid ")? + "started pid ".len();
    log[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Whether a process runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // `pid (comm) STATE …`: the state follows the last parenthesis.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn the_run_stops_cleanly_on(signal: &str, code: i32) {
    let dir = scratch(&format!("stop-{signal}"));
    let sc = scenario(&dir, &format!("long-{signal}"), 300, &[]);
    let run = dir.join("out");
    let mut child = Command::new(ANDON)
        .args(["-q", "run"])
        .arg(&sc)
        .arg("--report-dir")
        .arg(&run)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("andon runs");
    let mut pid = None;
    await_until(60, "the SUT getting ready", || {
        pid = ready_sut_pid(&run);
        pid.is_some()
    });
    let pid = pid.expect("the SUT's pid");
    assert!(running(pid), "the SUT runs before the signal");
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let mut status = None;
    await_until(30, "andon exiting", || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert_eq!(status.and_then(|s| s.code()), Some(code), "{stderr}");
    assert!(
        !running(pid),
        "the SUT (pid {pid}) was left running: {stderr}"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
    assert!(
        record["meta"]["exit"]["interrupted"].is_string(),
        "run.json says interrupted: {}",
        record["meta"]["exit"]
    );
    // Nothing whole to judge: `andon check` refuses it, and writes no verdict.
    let (out, _, stderr) = andon(&["check", run.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!run.join("verdict.json").exists());
}

#[test]
fn sigterm_mid_run_stops_the_sut_and_leaves_an_interrupted_run() {
    the_run_stops_cleanly_on("TERM", 143);
}

#[test]
fn sigint_mid_run_stops_the_sut_and_leaves_an_interrupted_run() {
    the_run_stops_cleanly_on("INT", 130);
}

#[test]
fn a_program_that_does_not_exist_is_a_configuration_error_naming_the_manifest() {
    let dir = scratch("no-program");
    let sc = scenario(&dir, "short-no-program", 2, &[]);
    let manifest = dir.join("sut.toml");
    std::fs::write(
        &manifest,
        "name = \"ghost\"\n[start]\ncommand = [\"./bin/no-such-bridge\", \"--port\", \"{sut.port}\"]\n\
         ready = \"{sut.url}/health\"\n[ingress]\nerp = \"{sut.url}/e\"\nmes = \"{sut.url}/e\"\n\
         qms = \"{sut.url}/e\"\nwms = \"{sut.url}/e\"\n",
    )
    .expect("manifest written");
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &["--sut", manifest.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("sut.toml:3:"), "file and line: {stderr}");
    assert!(stderr.contains("no-such-bridge"), "{stderr}");
    assert!(!run.exists(), "nothing was started or written");
}

#[test]
fn secrets_of_the_manifest_do_not_reach_the_run_directory() {
    let dir = scratch("secrets");
    let sc = scenario(&dir, "short-secrets", 2, &[]);
    let bundled = std::fs::read_to_string(repo().join("examples/reference-middleware/sut.toml"))
        .expect("the bundled manifest");
    let with_secret = bundled.replace(
        "CLIENT_SECRET = \"andon-secret\"",
        "CLIENT_SECRET = \"top-secret-value\", DB_PASSWORD = \"hunter2\"",
    );
    assert_ne!(
        with_secret, bundled,
        "the bundled manifest has a client secret"
    );
    let manifest = dir.join("sut.toml");
    std::fs::write(&manifest, with_secret).expect("manifest written");
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &["--sut", manifest.to_str().expect("utf-8")]);
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 5)),
        "{stdout}\n{stderr}"
    );
    let copy = std::fs::read_to_string(run.join("sut.toml")).expect("the copy");
    assert!(
        !copy.contains("top-secret-value") && !copy.contains("hunter2"),
        "{copy}"
    );
    assert!(copy.contains("CLIENT_SECRET = \"<redacted>\""), "{copy}");
    for f in ["run.json", "verdict.json", "report.html", "junit.xml"] {
        let text = std::fs::read_to_string(run.join(f)).unwrap_or_default();
        assert!(!text.contains("top-secret-value"), "{f} holds the secret");
    }
}
