//! The SUT driver against real child processes: a shell script that becomes a tiny HTTP
//! server (python3's `http.server`), one that never gets ready, one that dies.

use std::time::Duration;

use andon::sut::{SutDriver, SutError, SutEventKind, free_port};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::{python, resolved, scratch};

/// A manifest whose SUT runs `script` under `sh -c`.
fn manifest(script: &str, extra: &str) -> String {
    format!(
        r#"name = "tiny"
[start]
command = ["sh", "-c", "{script}"]
ready = "{{sut.url}}/"
{extra}
[ingress]
erp = "{{sut.url}}/erp"
mes = "{{sut.url}}/mes"
qms = "{{sut.url}}/qms"
wms = "{{sut.url}}/wms"
"#
    )
}

const SERVER: &str =
    "echo hello-out; echo hello-err >&2; exec python3 -m http.server {sut.port} --bind 127.0.0.1";

fn driver(name: &str, script: &str, extra: &str) -> SutDriver {
    let run = scratch(name);
    let port = free_port().unwrap();
    SutDriver::new(resolved(&manifest(script, extra), Some(port), &run), &run).unwrap()
}

async fn answers(driver: &SutDriver) -> bool {
    let url = driver.sut().start.as_ref().unwrap().ready.clone();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
async fn starts_waits_for_ready_logs_both_streams_and_kills() {
    if !python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let mut d = driver("driver-start", SERVER, "");
    let mut events = d.take_events().unwrap();
    d.start().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(d.is_running());
    assert!(answers(&d).await);
    d.kill().await.unwrap();
    assert!(!d.is_running());
    assert!(!answers(&d).await);

    let log = std::fs::read_to_string(d.log_path()).unwrap();
    assert!(log.contains("[stdout] hello-out"), "{log}");
    assert!(log.contains("[stderr] hello-err"), "{log}");
    assert!(log.contains("[andon] ready after"), "{log}");
    let first = log.lines().next().unwrap();
    assert!(
        first.starts_with("20") && first.contains('T') && first.contains("Z ["),
        "{first}"
    );

    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(e.what);
    }
    assert!(
        matches!(kinds[0], SutEventKind::Started { .. }),
        "{kinds:?}"
    );
    assert!(matches!(kinds[1], SutEventKind::Ready { .. }), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, SutEventKind::Signalled { signal, .. } if signal == "SIGKILL")),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, SutEventKind::Exited { expected: true, .. })),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_sut_that_never_gets_ready_is_reported_with_its_log_tail_and_killed() {
    let mut d = driver(
        "driver-never-ready",
        "echo booting slowly; i=0; while [ $i -lt 60 ]; do echo waiting $i; i=$((i+1)); done; sleep 30",
        "ready_timeout = \"1s\"",
    );
    let started = std::time::Instant::now();
    match d.start().await {
        Err(SutError::NeverReady {
            log_tail,
            waited,
            url,
        }) => {
            assert_eq!(waited, Duration::from_secs(1));
            assert!(url.ends_with('/'), "{url}");
            assert!(log_tail.contains("waiting 59"), "{log_tail}");
            assert!(
                !log_tail.contains("booting slowly"),
                "only the last 40 lines: {log_tail}"
            );
            assert!(log_tail.lines().count() <= 40);
        }
        other => panic!("expected NeverReady, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!d.is_running());
}

#[tokio::test]
async fn a_sut_that_exits_before_ready_is_reported_as_died() {
    let mut d = driver(
        "driver-died",
        "echo opening store; echo fatal: cannot open store >&2; exit 3",
        "",
    );
    match d.start().await {
        Err(SutError::Died { status, log_tail }) => {
            assert_eq!(status.code(), Some(3));
            assert!(log_tail.contains("fatal: cannot open store"), "{log_tail}");
            assert!(log_tail.contains("opening store"), "{log_tail}");
        }
        other => panic!("expected Died, got {other:?}"),
    }
    assert!(!d.is_running());
    let msg = d.start().await.unwrap_err().to_string();
    assert!(
        msg.starts_with("the SUT exited before it was ready (exit status: 3)"),
        "{msg}"
    );
}

#[tokio::test]
async fn pause_stops_answers_and_resume_brings_them_back() {
    if !python() {
        return;
    }
    let mut d = driver("driver-pause", SERVER, "");
    d.start().await.unwrap();
    d.pause().await.unwrap();
    assert!(d.is_paused() && d.is_running());
    assert!(!answers(&d).await);
    d.resume().await.unwrap();
    assert!(answers(&d).await);
    d.stop().await.unwrap();
    assert!(!d.is_running());
}

#[tokio::test]
async fn restart_and_kill_and_restart_come_back_on_the_same_port() {
    if !python() {
        return;
    }
    let mut d = driver("driver-restart", SERVER, "");
    d.start().await.unwrap();
    let first = d.pid().unwrap();
    d.restart().await.unwrap();
    let second = d.pid().unwrap();
    assert_ne!(first, second);
    assert!(answers(&d).await);
    d.kill_and_restart().await.unwrap();
    assert_ne!(d.pid().unwrap(), second);
    assert!(answers(&d).await);
    // Stopping a paused SUT continues it first, so SIGTERM is handled.
    d.pause().await.unwrap();
    d.stop().await.unwrap();
    assert!(!d.is_running());
}

#[tokio::test]
async fn stop_escalates_to_sigkill_after_the_grace() {
    if !python() {
        return;
    }
    // SIG_IGN survives exec: the server ignores SIGTERM.
    let mut d = driver(
        "driver-grace",
        "trap '' TERM; exec python3 -m http.server {sut.port} --bind 127.0.0.1",
        "stop_grace = \"500ms\"",
    );
    d.start().await.unwrap();
    let t = std::time::Instant::now();
    d.stop().await.unwrap();
    assert!(!d.is_running());
    assert!(t.elapsed() >= Duration::from_millis(500));
    let log = std::fs::read_to_string(d.log_path()).unwrap();
    assert!(log.contains("still running 0.5 s after SIGTERM"), "{log}");
    assert!(log.contains("sending SIGKILL"), "{log}");
}

#[tokio::test]
async fn an_unexpected_exit_is_reported() {
    if !python() {
        return;
    }
    let mut d = driver("driver-crash", SERVER, "");
    let mut events = d.take_events().unwrap();
    d.start().await.unwrap();
    let pid = d.pid().unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await.map(|e| e.what) {
                Some(SutEventKind::Exited {
                    expected, status, ..
                }) => break (expected, status),
                Some(_) => continue,
                None => panic!("events closed"),
            }
        }
    })
    .await
    .expect("an exit event");
    assert!(!exited.0, "the exit was not caused by the driver");
    assert!(exited.1.contains("9"), "{}", exited.1);
    assert!(!d.is_running());
    let log = std::fs::read_to_string(d.log_path()).unwrap();
    assert!(log.contains("(unexpected)"), "{log}");
}

#[tokio::test]
async fn dropping_the_driver_kills_the_sut() {
    if !python() {
        return;
    }
    let mut d = driver("driver-drop", SERVER, "");
    d.start().await.unwrap();
    let pid = d.pid().unwrap();
    drop(d);
    let gone = async {
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if stat.is_empty() || zombie {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the SUT is gone");
}

#[tokio::test]
async fn an_sut_andon_does_not_start_cannot_be_restarted_killed_or_paused() {
    let text = r#"name = "remote"
[ingress]
erp = "http://127.0.0.1:9/erp"
mes = "http://127.0.0.1:9/mes"
qms = "http://127.0.0.1:9/qms"
wms = "http://127.0.0.1:9/wms"
"#;
    let run = scratch("driver-remote");
    let mut d = SutDriver::new(resolved(text, None, &run), &run).unwrap();
    d.start().await.unwrap();
    assert!(d.is_running());
    for r in [d.kill().await, d.pause().await, d.restart().await] {
        let e = r.unwrap_err();
        assert!(matches!(e, SutError::NotApplicable { .. }), "{e}");
        assert!(e.to_string().contains("not applicable"), "{e}");
    }
    d.stop().await.unwrap();
}

#[tokio::test]
async fn an_image_needs_the_containers_runtime() {
    let text = r#"name = "boxed"
[start]
image = "acme/bridge:1.4"
ready = "{sut.url}/health"
[ingress]
erp = "{sut.url}/erp"
mes = "{sut.url}/mes"
qms = "{sut.url}/qms"
wms = "{sut.url}/wms"
"#;
    let run = scratch("driver-image");
    let mut d = SutDriver::new(resolved(text, Some(free_port().unwrap()), &run), &run).unwrap();
    let e = d.start().await.unwrap_err();
    assert!(matches!(e, SutError::NeedsContainers { .. }), "{e}");
}
