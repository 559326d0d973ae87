//! The containers runtime for real: `andon run` and `andon test` with `--runtime
//! containers` against the reference middleware in a container, faults through the
//! engine (pause, stop, network disconnect), the Rust API, and cleanup (also on Ctrl-C).
//!
//! Needs a Docker engine and the images of `ci/images.sh` (`ci/test.sh` builds them).
//! Without an engine every test is reported as ignored, with the reason; with an engine
//! but without the images they fail and say how to build them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

const ANDON: &str = env!("CARGO_BIN_EXE_andon");

/// One test: its name and its body.
type Test = (&'static str, fn() -> Result<(), Failed>);

fn main() {
    let args = Arguments::from_args();
    let engine = engine_state();
    let tests: [Test; 14] = [
        ("rust_api_starts_a_simulator_with_one_call", rust_api),
        (
            "a_load_run_in_containers_measures_and_gates",
            load_in_containers,
        ),
        (
            "a_scenario_passes_in_containers_and_leaves_nothing",
            scenario_passes,
        ),
        (
            "vendor_plants_speak_their_dialects_in_containers",
            vendor_plants,
        ),
        ("smoke_features_pass_in_containers", smoke_features),
        (
            "container_fault_features_pass_with_the_engine_faults",
            container_fault_features,
        ),
        (
            "transport_features_pass_with_the_broker_in_a_container",
            transport_features,
        ),
        ("a_paused_simulator_makes_the_calls_time_out", paused_erp),
        (
            "a_stopped_simulator_refuses_and_keeps_its_books",
            stopped_erp,
        ),
        (
            "a_disconnected_plant_buffers_and_floods_on_reconnect",
            disconnected_mes,
        ),
        (
            "a_killed_sut_container_restarts_and_loses_nothing",
            killed_sut,
        ),
        ("ctrl_c_removes_the_containers_and_the_network", ctrl_c),
        ("sigterm_removes_the_containers_and_the_network", sigterm),
        ("compose_starts_the_four_simulators", compose_up),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let skip = engine.is_err();
            Trial::test(name, move || {
                leftovers_free()?;
                let out = f();
                leftovers_free()?;
                out
            })
            .with_ignored_flag(skip)
        })
        .collect();
    if let Err(why) = &engine {
        eprintln!("containers tests SKIPPED (reported as ignored): {why}");
    }
    // One at a time: they share the engine, and each checks that nothing is left over.
    let args = Arguments {
        test_threads: Some(1),
        ..args
    };
    libtest_mimic::run(&args, trials).exit();
}

/// `Err(why)` when there is no engine to run on.
fn engine_state() -> Result<(), String> {
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "no Docker engine answers (docker info: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("no docker command ({e})")),
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("parent")
        .to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("containers-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn andon(args: &[&str]) -> Output {
    Command::new(ANDON)
        .arg("-q")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("andon runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Containers and networks of andon runs (label `io.andon.run`).
fn andon_objects() -> Vec<String> {
    let mut v = docker_lines(&[
        "ps",
        "-a",
        "--filter",
        "label=io.andon.run",
        "--format",
        "container {{.Names}}",
    ]);
    v.extend(docker_lines(&[
        "network",
        "ls",
        "--filter",
        "label=io.andon.run",
        "--format",
        "network {{.Name}}",
    ]));
    v
}

/// Nothing of an andon run is left (removal is asynchronous in the engine: a short wait).
fn leftovers_free() -> Result<(), Failed> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = andon_objects();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("left over after the run: {left:?}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(what().into()) }
}

/// A short one-plant scenario with the given fault lines.
fn scenario(dir: &Path, name: &str, secs: u32, faults: &[&str]) -> PathBuf {
    let faults = if faults.is_empty() {
        "faults: []\n".to_string()
    } else {
        format!("faults:\n{}\n", faults.join("\n"))
    };
    let text = format!(
        "name: {name}\nseed: 77\nplants:\n  - {{ id: \"1000\", lines: 2, materials: 10, profile: discrete }}\n\
         duration: {secs}s\ntime_scale: 60\nload:\n  - {{ at: 0s, rate: 40/s }}\n{faults}settle: 40s\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("scenario written");
    path
}

/// The reference middleware's manifest with its delivery decisions logged (debug), so
/// that `sut.log` shows how each call failed, and a 1 s client timeout, shorter than the
/// faults' windows.
fn chatty_manifest(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("examples/reference-middleware/sut.toml"))
        .expect("bundled manifest")
        .replace(
            "env = { ",
            "env = { RUST_LOG = \"warn,andon_reference_middleware=debug\", CLIENT_TIMEOUT = \"1s\", ",
        )
        .replace("\"{andon}\"", &format!("\"{ANDON}\""));
    let path = dir.join("sut.toml");
    std::fs::write(&path, text).expect("manifest written");
    path
}

fn run_containers(sc: &Path, run: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        sc.to_str().expect("utf-8"),
        "--runtime",
        "containers",
        "--report-dir",
        run.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    andon(&args)
}

fn history(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .expect("history.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn status_of(run: &Path, checker: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("verdict.json")).expect("verdict.json"))
            .expect("json");
    v["verdicts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["checker"] == checker))
        .and_then(|x| x["status"].as_str())
        .unwrap_or("none")
        .to_string()
}

/// The window of the engine fault `kind` on `system`: (applied, cleared) timestamps.
fn window(h: &[serde_json::Value], system: &str, kind: &str) -> Option<(String, String)> {
    let at = |action: &str| {
        h.iter()
            .find(|r| {
                r["record"] == "fault"
                    && r["system"] == system
                    && r["kind"] == kind
                    && r["action"] == action
            })
            .and_then(|r| r["at"].as_str().map(str::to_string))
    };
    Some((at("applied")?, at("cleared")?))
}

/// Records of `system` inside the window: after it was applied, and more than 200 ms
/// before andon recorded it cleared (the engine undoes a fault a little before its call
/// returns).
fn inside<'a>(
    h: &'a [serde_json::Value],
    system: &str,
    record: &str,
    w: &(String, String),
) -> Vec<&'a serde_json::Value> {
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("rfc3339");
    let (from, to) = (t(&w.0), t(&w.1) - chrono::Duration::milliseconds(200));
    h.iter()
        .filter(|r| r["system"] == system && r["record"] == record)
        .filter(|r| r["at"].as_str().map(t).is_some_and(|a| a > from && a < to))
        .collect()
}

fn rust_api() -> Result<(), Failed> {
    use andon::containers::{SimulatorContainer, SimulatorImage};
    use testcontainers::runners::AsyncRunner;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let erp = SimulatorImage::erp()
            .start()
            .await
            .map_err(|e| format!("start: {e} (build the images with ci/images.sh)"))?;
        let url = erp.url().await?;
        let admin = erp.admin().await?;
        let health = admin.health().await?;
        check(health.system == andon_contracts::System::Erp, || {
            format!("{health:?}")
        })?;
        let stock = reqwest::get(format!("{url}/api/v1/stock?plant=1000")).await?;
        check(stock.status().is_success(), || {
            format!("GET stock: {}", stock.status())
        })?;
        let emitted = admin.step(5).await?;
        check(emitted > 0, || "the ERP generated no events".into())?;
        let h = admin.history().await?;
        check(h.len() >= emitted, || {
            format!("{} records for {emitted} events", h.len())
        })?;
        erp.rm().await?;
        Ok::<(), Failed>(())
    })
}

fn scenario_passes() -> Result<(), Failed> {
    let dir = scratch("pass");
    let sc = scenario(&dir, "containers-baseline", 5, &[]);
    let run = dir.join("out");
    let out = run_containers(&sc, &run, &[]);
    check(out.status.code() == Some(0), || text(&out))?;
    let h = history(&run);
    check(h.len() > 100, || format!("{} history records", h.len()))?;
    for s in ["erp", "mes", "qms", "wms"] {
        check(h.iter().any(|r| r["system"] == s), || {
            format!("no records of {s}")
        })?;
    }
    check(status_of(&run, "exactly_once") == "pass", || {
        status_of(&run, "exactly_once")
    })?;
    let log = std::fs::read_to_string(run.join("sut.log")).unwrap_or_default();
    check(log.contains("ran in the container"), || {
        format!("sut.log: {log}")
    })
}

/// Plant 1000 on Business Central (the ERP container calls the middleware's container back
/// for the subscription handshake and the notifications), plant 2000 on S/4HANA (CSRF,
/// repeatable requests): the run passes and each dialect was spoken.
fn vendor_plants() -> Result<(), Failed> {
    let dir = scratch("vendor");
    let sc = dir.join("containers-vendor.yaml");
    std::fs::write(
        &sc,
        "name: containers-vendor\nseed: 78\nplants:\n\
         \x20 - { id: \"1000\", lines: 1, materials: 5, profile: discrete, erp: business-central@25 }\n\
         \x20 - { id: \"2000\", lines: 1, materials: 5, profile: batch, erp: s4hana@2502 }\n\
         duration: 6s\ntime_scale: 60\nload:\n  - { at: 0s, rate: 20/s }\nfaults: []\nsettle: 30s\n",
    )
    .expect("scenario written");
    let run = dir.join("out");
    let out = run_containers(&sc, &run, &[]);
    check(out.status.code() == Some(0), || text(&out))?;
    let h = history(&run);
    let created = h
        .iter()
        .any(|r| r["name"] == "bc.subscription" && r["detail"].to_string().contains("created"));
    check(created, || {
        "no Business Central subscription was made".into()
    })?;
    let spoken = |prefix: &str| {
        h.iter().any(|r| {
            r["record"] == "request"
                && r["status"]
                    .as_u64()
                    .is_some_and(|s| (200..300).contains(&s))
                && r["path"].as_str().is_some_and(|p| p.starts_with(prefix))
                && r["method"] == "POST"
        })
    };
    check(spoken("/plant/1000/api/andon/manufacturing/"), || {
        "no insert posted to plant 1000's Business Central".into()
    })?;
    check(spoken("/plant/2000/sap/opu/odata/sap/"), || {
        "no create posted to plant 2000's S/4HANA".into()
    })?;
    check(status_of(&run, "exactly_once") == "pass", || {
        status_of(&run, "exactly_once")
    })
}

/// `andon load` in containers: the same measures as in-process (the history is fetched at
/// the end, the buffer depths come from the simulators' health), thresholds deciding the exit.
fn load_in_containers() -> Result<(), Failed> {
    let dir = scratch("load");
    let sc = scenario(&dir, "containers-load", 5, &[]);
    let text_with = std::fs::read_to_string(&sc).expect("scenario")
        + "thresholds:\n  - \"error rate < 1 %\"\n  - \"p99 < 30s on mes.consumed -> erp\"\n";
    std::fs::write(&sc, text_with).expect("scenario written");
    let run = dir.join("out");
    let out = andon(&[
        "load",
        sc.to_str().expect("utf-8"),
        "--runtime",
        "containers",
        "--connections",
        "8",
        "--report-dir",
        run.to_str().expect("utf-8"),
    ]);
    check(out.status.code() == Some(0), || text(&out))?;
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("load.json")).expect("load.json"))
            .expect("load.json is JSON");
    check(r["verdict"] == "pass", || r.to_string())?;
    // 40 steps/s for 5 s, all scheduled; every event acknowledged.
    check(r["generator"]["scheduled_steps"] == 200, || r.to_string())?;
    let events = r["generator"]["events"].as_u64().unwrap_or(0);
    check(events > 0 && r["ingress"]["count"] == events, || {
        r.to_string()
    })?;
    check(
        r["depths"].as_array().is_some_and(|d| !d.is_empty()),
        || r.to_string(),
    )?;
    check(run.join("latency.hlog").exists(), || {
        "no latency.hlog".into()
    })
}

fn smoke_features() -> Result<(), Failed> {
    features_in_containers("smoke", "@smoke")
}

/// The container-fault feature, with the engine's own pause, stop and disconnect.
fn container_fault_features() -> Result<(), Failed> {
    features_in_containers("container-faults", "@containers")
}

/// The MQTT features with the broker, the middleware and its second instance in containers,
/// the partition between them included.
fn transport_features() -> Result<(), Failed> {
    features_in_containers("transport", "@transport")?;
    let junit =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("containers-transport/report/junit.xml");
    let summary = std::fs::read_to_string(junit).unwrap_or_default();
    check(!summary.contains("<skipped"), || {
        format!("a transport scenario was skipped in containers:\n{summary}")
    })
}

fn features_in_containers(name: &str, tags: &str) -> Result<(), Failed> {
    let dir = scratch(name);
    let report = dir.join("report");
    let out = andon(&[
        "test",
        "--tags",
        tags,
        "--runtime",
        "containers",
        "--concurrency",
        "2",
        "--report-dir",
        report.to_str().expect("utf-8"),
    ]);
    check(out.status.code() == Some(0), || text(&out))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ran = stdout.contains(" 0 failed") && !stdout.contains("andon test: 0 scenarios");
    check(ran, || text(&out))
}

fn paused_erp() -> Result<(), Failed> {
    let dir = scratch("pause");
    let sc = scenario(
        &dir,
        "containers-pause",
        8,
        &["  - { at: 2s, target: erp, kind: pause, for: 4s }"],
    );
    let run = dir.join("out");
    let out = run_containers(
        &sc,
        &run,
        &["--sut", chatty_manifest(&dir).to_str().expect("utf-8")],
    );
    check(out.status.code() == Some(0), || text(&out))?;
    let h = history(&run);
    let w = window(&h, "erp", "pause").ok_or("no pause window in the history")?;
    let during = inside(&h, "erp", "request", &w);
    check(during.is_empty(), || {
        format!("the paused ERP answered {} requests", during.len())
    })?;
    let log = std::fs::read_to_string(run.join("sut.log")).unwrap_or_default();
    check(log.contains("timed out"), || {
        "no call of the SUT timed out while the ERP was paused".into()
    })?;
    check(status_of(&run, "exactly_once") == "pass", || {
        status_of(&run, "exactly_once")
    })
}

fn stopped_erp() -> Result<(), Failed> {
    let dir = scratch("stop");
    let sc = scenario(
        &dir,
        "containers-stop",
        8,
        &["  - { at: 2s, target: erp, kind: stop, for: 3s }"],
    );
    let run = dir.join("out");
    let out = run_containers(
        &sc,
        &run,
        &["--sut", chatty_manifest(&dir).to_str().expect("utf-8")],
    );
    check(out.status.code() == Some(0), || text(&out))?;
    let h = history(&run);
    let w = window(&h, "erp", "stop").ok_or("no stop window in the history")?;
    check(inside(&h, "erp", "request", &w).is_empty(), || {
        "the stopped ERP answered requests".into()
    })?;
    let log = std::fs::read_to_string(run.join("sut.log")).unwrap_or_default();
    let refused = log.lines().filter(|l| l.contains("retrying")).any(|l| {
        l.contains("Connection refused") || l.contains("dns error") || l.contains("connect")
    });
    check(refused, || {
        "no call of the SUT was refused while the ERP was stopped".into()
    })?;
    // The journal survived the stop: the ERP's records from before it are in the run's
    // history (read from the ERP at the end of the run) beside those after it.
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("rfc3339");
    let erp: Vec<&serde_json::Value> = h.iter().filter(|r| r["system"] == "erp").collect();
    let before = erp
        .iter()
        .filter(|r| r["record"] == "request" && r["at"].as_str().map(t) < Some(t(&w.0)))
        .count();
    let after = erp
        .iter()
        .filter(|r| r["record"] == "request" && r["at"].as_str().map(t) > Some(t(&w.1)))
        .count();
    check(before > 0 && after > 0, || {
        format!("ERP requests before the stop: {before}, after it: {after}")
    })?;
    // The books survived the stop: stock reconciles and nothing was posted twice.
    check(status_of(&run, "exactly_once") == "pass", || {
        status_of(&run, "exactly_once")
    })?;
    check(status_of(&run, "reconciliation") != "fail", || {
        status_of(&run, "reconciliation")
    })
}

fn disconnected_mes() -> Result<(), Failed> {
    let dir = scratch("disconnect");
    let sc = scenario(
        &dir,
        "containers-disconnect",
        8,
        &["  - { at: 2s, target: mes, kind: disconnect, for: 3s }"],
    );
    let run = dir.join("out");
    let out = run_containers(&sc, &run, &[]);
    check(out.status.code() == Some(0), || text(&out))?;
    let h = history(&run);
    let w = window(&h, "mes", "disconnect").ok_or("no disconnect window in the history")?;
    let emitted = inside(&h, "mes", "event_emitted", &w).len();
    let delivered = inside(&h, "mes", "delivery", &w)
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .count();
    check(emitted > 0, || "the cut-off MES generated nothing".into())?;
    check(delivered == 0, || {
        format!("{delivered} deliveries got through the partition")
    })?;
    // The flood: after the reconnect, the buffered events arrive (exactly once).
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("rfc3339");
    let after = h
        .iter()
        .filter(|r| r["system"] == "mes" && r["record"] == "delivery" && r["outcome"] == "ok")
        .filter(|r| r["at"].as_str().map(t).is_some_and(|a| a >= t(&w.1)))
        .count();
    check(after >= emitted, || {
        format!("{after} deliveries after the reconnect for {emitted} buffered events")
    })?;
    check(status_of(&run, "exactly_once") == "pass", || {
        status_of(&run, "exactly_once")
    })
}

fn killed_sut() -> Result<(), Failed> {
    let dir = scratch("kill");
    let sc = scenario(
        &dir,
        "containers-kill",
        8,
        &["  - { at: 3s, target: sut, kind: kill }"],
    );
    let run = dir.join("out");
    let out = run_containers(&sc, &run, &[]);
    check(out.status.code() == Some(0), || text(&out))?;
    let log = std::fs::read_to_string(run.join("sut.log")).unwrap_or_default();
    // The same container ran twice: its log holds both starts.
    let starts = log.matches("listening").count();
    check(starts >= 2, || {
        format!("the SUT started {starts} time(s); sut.log:\n{log}")
    })?;
    // A kill is SIGKILL alone: the middleware never got to its orderly stop (on SIGTERM it
    // stores what it holds and logs that it stopped) before it ran again.
    let again = log
        .match_indices("reference middleware running")
        .nth(1)
        .map_or(log.len(), |(i, _)| i);
    check(
        !log[..again].contains("reference middleware stopped"),
        || format!("the SUT was stopped in order, not killed; sut.log:\n{log}"),
    )?;
    // Its durable outbox lived in the container's file system and survived the kill.
    for checker in ["exactly_once", "reconciliation"] {
        check(status_of(&run, checker) == "pass", || {
            format!("{checker}: {}", status_of(&run, checker))
        })?;
    }
    Ok(())
}

fn ctrl_c() -> Result<(), Failed> {
    stopped_by("INT", 130)
}

/// What CI systems and `timeout` send when they cancel a job.
fn sigterm() -> Result<(), Failed> {
    stopped_by("TERM", 143)
}

/// A run in containers told to stop by `signal`: exits with `code`, and nothing of the
/// run (containers, network) is left.
fn stopped_by(signal: &str, code: i32) -> Result<(), Failed> {
    let dir = scratch(&format!("stopped-{signal}"));
    let sc = scenario(&dir, "containers-interrupted", 120, &[]);
    let run = dir.join("out");
    let mut child = Command::new(ANDON)
        .args([
            "-q",
            "run",
            sc.to_str().expect("utf-8"),
            "--runtime",
            "containers",
            "--report-dir",
        ])
        .arg(&run)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Wait until the run's containers (four simulators and the SUT) are up.
    let deadline = Instant::now() + Duration::from_secs(120);
    while andon_objects()
        .iter()
        .filter(|o| o.starts_with("container"))
        .count()
        < 5
    {
        check(Instant::now() < deadline, || {
            "the run's containers never came up".into()
        })?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()?;
    check(st.success(), || format!("kill -{signal} failed"))?;
    let status = child.wait()?;
    check(status.code() == Some(code), || {
        format!("exit {status:?} after SIG{signal}")
    })?;
    // Nothing of the run is left: the runner checks it after every test.
    let record = std::fs::read_to_string(run.join("run.json"))?;
    check(record.contains("\"interrupted\""), || {
        format!("run.json does not say interrupted: {record}")
    })
}

/// `docker compose` (the plugin) or `docker-compose` (v1), whichever is installed.
fn compose() -> Option<Vec<&'static str>> {
    let works = |cmd: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    [vec!["docker", "compose"], vec!["docker-compose"]]
        .into_iter()
        .find(|c| works(c))
}

fn compose_up() -> Result<(), Failed> {
    let Some(cmd) = compose() else {
        return Err("neither `docker compose` nor `docker-compose` is installed".into());
    };
    let file = repo().join("ci/compose.yaml");
    let run = |args: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .args(["-p", "andon-compose-test", "-f"])
            .arg(&file)
            .args(args)
            .output()
    };
    let up = run(&["up", "-d"])?;
    let out = (|| {
        check(up.status.success(), || text(&up))?;
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            for (system, port) in [("erp", 8101), ("mes", 8102), ("qms", 8103), ("wms", 8104)] {
                let admin = andon::containers::Admin::new(format!("http://127.0.0.1:{port}"));
                let health = admin.wait_ready(Duration::from_secs(60)).await?;
                check(health.system.to_string() == system, || {
                    format!("port {port} answered as {}", health.system)
                })?;
            }
            Ok::<(), Failed>(())
        })
    })();
    let down = run(&["down", "--volumes", "--timeout", "20"])?;
    out?;
    check(down.status.success(), || text(&down))
}
