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

pub(super) fn stale_retained(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("broker")?;
    let n: u32 = a
        .req("n")?
        .parse()
        .map_err(|_| "the number of stale retained events is a whole number".to_string())?;
    w.broker.insert("stale_retained".into(), json!(n));
    Ok(())
}

pub(super) fn instances(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("instances")?;
    let n: u32 = a
        .req("n")?
        .parse()
        .map_err(|_| "the number of instances is a whole number".to_string())?;
    w.instances = Some(n);
    Ok(())
}
