//! Runs over the MQTT transport against the reference middleware (a real Mosquitto): a
//! queue bound smaller than the middleware's downtime makes the broker drop what it
//! acknowledged, which the run counts lost and names in its timeline; a slow consumer loses
//! nothing.

use super::helpers::*;

fn on_the_broker(
    dir: &std::path::Path,
    name: &str,
    extra: &str,
    faults: &[&str],
) -> std::path::PathBuf {
    let path = scenario(dir, name, 8, faults);
    let text = std::fs::read_to_string(&path).expect("scenario");
    std::fs::write(&path, format!("{text}transport: mqtt\n{extra}")).expect("scenario written");
    path
}

/// Mosquitto must be here: `ci/test.sh` installs it (ci/install-mosquitto.sh).
fn mosquitto() {
    andon::broker::find()
        .expect("Mosquitto is installed (ci/install-mosquitto.sh; ci/test.sh runs it)");
}

/// Runs a scenario on the broker and returns the run directory and the timeline of its
/// actions (SUT faults, broker faults and drops), asserting its exit code.
fn run_on_the_broker(
    name: &str,
    extra: &str,
    fault: &str,
    exit: i32,
) -> (std::path::PathBuf, Vec<serde_json::Value>) {
    let dir = scratch(name);
    let sc = on_the_broker(&dir, name, extra, &[fault]);
    let run = dir.join("out");
    let (out, stdout, stderr) = run_into(&sc, &run, &[]);
    assert_eq!(out.status.code(), Some(exit), "{stdout}\n{stderr}");
    let t = timeline(&run);
    (run, t)
}

fn timeline(run: &std::path::Path) -> Vec<serde_json::Value> {
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
    r["meta"]["sut_actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_queue_bound_smaller_than_the_downtime_drops_what_the_broker_acknowledged() {
    mosquitto();
    let (run, timeline) = run_on_the_broker(
        "queue-bound",
        "broker: { max_queued_messages: 20 }\n",
        "  - { at: 2s, for: 4s, target: sut, kind: kill }",
        1,
    );
    assert_eq!(status_of(&run, "exactly_once"), "fail");
    let dropped: Vec<_> = timeline
        .into_iter()
        .filter(|a| a["kind"] == "broker dropped")
        .collect();
    assert!(
        !dropped.is_empty(),
        "no drop in the timeline of {}",
        run.display()
    );
    let note = dropped[0]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("client andon-reference") && note.contains("max_queued_messages 20"),
        "{note}"
    );
}

#[test]
fn a_slow_consumer_on_the_broker_loses_nothing() {
    mosquitto();
    let (_, timeline) = run_on_the_broker(
        "slow-consumer",
        "",
        "  - { at: 1s, for: 5s, target: sut, kind: slow }",
        0,
    );
    let slow: Vec<_> = timeline
        .into_iter()
        .filter(|a| a["kind"] == "slow" || a["kind"] == "broker dropped")
        .collect();
    assert_eq!(slow.len(), 1, "one slow spell, no drop: {slow:?}");
}

#[test]
fn a_partition_needs_the_middleware_in_a_container() {
    let dir = scratch("broker-partition");
    let sc = on_the_broker(
        &dir,
        "partition-in-process",
        "",
        &["  - { at: 1s, for: 3s, target: broker, kind: partition }"],
    );
    let (out, stdout, stderr) = run_into(&sc, &dir.join("out"), &[]);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("a partition between the broker and the SUT needs both in containers")
            && stderr.contains("--runtime containers"),
        "{stderr}"
    );
}
