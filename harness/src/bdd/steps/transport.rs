//! The transport steps: which plants publish their events to the run's MQTT broker.

use serde_json::json;

use super::*;

pub(super) fn all_publish(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    w.before_run("transport")?;
    w.transport = Some("mqtt".into());
    Ok(())
}

pub(super) fn plant_transport(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("transport")?;
    let id = a.req("id")?;
    let system = a.req("system")?.to_ascii_lowercase();
    let how = if a.req("how")?.starts_with("publishes") {
        "mqtt"
    } else {
        "webhook"
    };
    if !w.plants.iter().any(|p| p["id"] == id) {
        w.plants
            .push(json!({ "id": id, "lines": 2, "materials": 10 }));
    }
    for p in w.plants.iter_mut().filter(|p| p["id"] == id) {
        if !p["transport"].is_object() {
            p["transport"] = json!({});
        }
        p["transport"][system.as_str()] = json!(how);
    }
    Ok(())
}

pub(super) fn f_broker(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let kind = match a.req("what")? {
        "killed" => "kill",
        "restarted" => "restart",
        _ => "stop",
    };
    match (kind, a.get("for")) {
        ("stop", None) => Err("a broker that is down needs a duration: down at 6s for 4s".into()),
        ("stop", Some(_)) | (_, None) => super::setup::fault(w, a, "broker", kind, json!({})),
        (_, Some(_)) => Err(format!(
            "a broker {kind} has no duration: it is started again at once"
        )),
    }
}

/// The step's `n`, a whole number (`what` names it in the error).
fn whole(a: &Args<'_>, what: &str) -> Result<u32, String> {
    a.req("n")?
        .parse()
        .map_err(|_| format!("{what} is a whole number"))
}

pub(super) fn stale_retained(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("broker")?;
    let n = whole(a, "the number of stale retained events")?;
    w.broker.insert("stale_retained".into(), json!(n));
    Ok(())
}

pub(super) fn instances(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("instances")?;
    w.instances = Some(whole(a, "the number of instances")?);
    Ok(())
}

pub(super) fn f_broker_partition(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    super::setup::fault(w, a, "broker", "partition", json!({}))
}

pub(super) fn max_queued(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("broker")?;
    let n = whole(a, "the broker's queue bound")?;
    w.broker.insert("max_queued_messages".into(), json!(n));
    Ok(())
}

pub(super) fn broker_dropped(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let dropped: Vec<String> = w
        .ran
        .as_ref()
        .ok_or_else(|| "internal: checked before the run".to_string())?
        .outcome
        .report
        .timeline
        .sut
        .iter()
        .filter(|s| s.kind == "broker dropped")
        .map(|s| {
            format!(
                "{}: {}",
                s.at.format("%H:%M:%S"),
                s.note.as_deref().unwrap_or("")
            )
        })
        .collect();
    match (a.req("what")? == "drops no", dropped.is_empty()) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err(format!(
            "the broker dropped messages it had acknowledged:\n  {}\n(run directory {})",
            dropped.join("\n  "),
            w.run_dir()
        )),
        (false, true) => Err(format!(
            "the broker dropped nothing: no client's queue overflowed (its log is {}/broker/mosquitto.log)",
            w.run_dir()
        )),
    }
}
