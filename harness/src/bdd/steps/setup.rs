//! The set-up steps: plants and master data, the systems' switches, the middleware under
//! test, load phases, the fault timeline, settling and running.

use serde_json::{Map, Value, json};

use super::*;

pub(super) fn plant(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("plant")?;
    let id = a.req("id")?;
    w.plants.retain(|p| p["id"] != id);
    w.plants.push(json!({
        "id": id,
        "lines": integer(a.req("lines")?)?,
        "materials": integer(a.req("materials")?)?,
        "profile": a.get("profile").unwrap_or("discrete"),
    }));
    Ok(())
}

pub(super) fn plants_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("plants")?;
    for (i, row) in a.rows()?.into_iter().enumerate() {
        let id = row
            .get("plant")
            .or(row.get("id"))
            .ok_or_else(|| format!("row {}: a plant column is needed", i + 1))?;
        let mut p = json!({ "id": id });
        for (col, key) in [("lines", "lines"), ("materials", "materials")] {
            if let Some(v) = row.get(col) {
                p[key] = json!(integer(v).map_err(|e| format!("row {}: {col}: {e}", i + 1))?);
            }
        }
        if let Some(v) = row.get("profile") {
            if !matches!(v.as_str(), "discrete" | "batch") {
                return Err(format!(
                    "row {}: profile {v:?}: expected discrete or batch",
                    i + 1
                ));
            }
            p["profile"] = json!(v);
        }
        w.plants.retain(|q| q["id"] != p["id"]);
        w.plants.push(p);
    }
    Ok(())
}

/// The dialect a step names (`S/4HANA`, `Business Central`, `andon's API`).
fn dialect_name(text: &str) -> &'static str {
    match text.to_ascii_lowercase().as_str() {
        "s/4hana" | "s4hana" => "s4hana",
        "business central" | "business-central" => "business-central",
        _ => "andon",
    }
}

pub(super) fn erp_dialect(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("ERP dialect")?;
    let id = a.req("id")?;
    let dialect = dialect_name(a.req("dialect")?);
    let text = match a.get("release") {
        Some(r) => format!("{dialect}@{r}"),
        None => dialect.to_string(),
    };
    let binding: andon_simulators::dialect::Binding = text
        .parse()
        .map_err(|e: andon_simulators::dialect::DialectError| e.to_string())?;
    if !w.plants.iter().any(|p| p["id"] == id) {
        w.plants
            .push(json!({ "id": id, "lines": 2, "materials": 10 }));
    }
    for p in w.plants.iter_mut().filter(|p| p["id"] == id) {
        p["erp"] = json!(binding.to_string());
    }
    Ok(())
}

pub(super) fn erp_upgrade(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("ERP upgrade")?;
    let text = format!("{}@{}", dialect_name(a.req("dialect")?), a.req("release")?);
    let binding: andon_simulators::dialect::Binding = text
        .parse()
        .map_err(|e: andon_simulators::dialect::DialectError| e.to_string())?;
    w.upgrades.push(json!({
        "at": a.req("at")?,
        "plant": a.req("id")?,
        "erp": binding.to_string(),
    }));
    Ok(())
}

pub(super) fn master_data(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("master data")?;
    let p = w.resolve(a.req("file")?);
    if !p.exists() {
        return Err(format!("master data file {} does not exist", p.display()));
    }
    w.data = Some(std::fs::canonicalize(&p).unwrap_or(p));
    Ok(())
}

pub(super) fn seed(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("seed")?;
    w.seed = Some(integer(a.req("seed")?)?);
    Ok(())
}

pub(super) fn time_scale(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("time scale")?;
    w.time_scale = Some(number(a.req("scale")?)?);
    Ok(())
}

pub(super) fn systems_named(name: &str) -> Vec<String> {
    match name {
        "ERP" | "MES" | "QMS" | "WMS" => vec![system_key(name)],
        _ => ["erp", "mes", "qms", "wms"].map(String::from).to_vec(),
    }
}

pub(super) fn idempotency(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("idempotency")?;
    let on = !a.req("verb")?.starts_with("ignore");
    for s in systems_named(a.req("who")?) {
        w.options_of(&s).insert("idempotency".into(), json!(on));
    }
    Ok(())
}

pub(super) fn auth(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("authentication")?;
    for s in systems_named(a.req("who")?) {
        w.options_of(&s).insert("auth".into(), json!(true));
    }
    Ok(())
}

pub(super) fn open_periods(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("posting periods")?;
    let list: Vec<String> = a
        .req("periods")?
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "and")
        .map(String::from)
        .collect();
    w.options_of("erp")
        .insert("open_periods".into(), json!(list));
    Ok(())
}

pub(super) fn tolerance(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("over-confirmation tolerance")?;
    w.options_of("erp").insert(
        "over_confirmation_tolerance_pct".into(),
        json!(integer(a.req("pct")?)?),
    );
    Ok(())
}

pub(super) fn buffer(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("buffer")?;
    let s = system_key(a.req("sys")?);
    w.options_of(&s)
        .insert("buffer_capacity".into(), json!(integer(a.req("n")?)?));
    Ok(())
}

pub(super) fn activity(w: &mut AndonWorld, system: &str, key: &str, value: Value) {
    let o = w.options_of(system);
    let act = o
        .entry("activity")
        .or_insert_with(|| Value::Object(Map::new()));
    act[key] = value;
}

pub(super) fn hold_rate(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("hold rate")?;
    let p = number(a.req("pct")?)?;
    activity(w, "qms", "hold_rate", json!(p / 100.0));
    Ok(())
}

pub(super) fn accept_rate(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("accept rate")?;
    let p = number(a.req("pct")?)?;
    activity(w, "qms", "accept_rate", json!(p / 100.0));
    Ok(())
}

pub(super) fn result_delay(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("result delay")?;
    let d = dur_text(a.req("d")?)?;
    activity(w, "qms", "result_delay", json!(d));
    Ok(())
}

pub(super) fn ship_rate(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("ship rate")?;
    let p = number(a.req("pct")?)?;
    activity(w, "wms", "ship_rate", json!(p / 100.0));
    Ok(())
}

pub(super) fn reference(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    w.before_run("middleware")?;
    w.sut = None;
    w.defects.clear();
    Ok(())
}

pub(super) fn with_defects(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("defects")?;
    let known: Vec<&str> = andon_reference_middleware::Defect::ALL
        .iter()
        .map(|d| d.name())
        .collect();
    w.sut = None;
    for name in [a.get("d1"), a.get("d2")].into_iter().flatten() {
        if !known.contains(&name) {
            return Err(format!(
                "unknown defect {name:?}: the reference middleware has {}",
                known.join(", ")
            ));
        }
        if !w.defects.iter().any(|d| d == name) {
            w.defects.push(name.to_string());
        }
    }
    Ok(())
}

pub(super) fn manifest(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("middleware")?;
    let p = w.resolve(a.req("file")?);
    crate::sut::SutManifest::load(&p).map_err(|e| e.to_string())?;
    w.sut = Some(p);
    w.defects.clear();
    Ok(())
}

pub(super) fn set_first_phase(w: &mut AndonWorld, rate: Value) {
    w.load.retain(|p| p["at"] != "0ms" && p["at"] != "0s");
    w.load.insert(0, json!({ "at": "0s", "rate": rate }));
}

pub(super) fn steady_load(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("load")?;
    let r = number(a.req("rate")?)?;
    set_first_phase(w, json!(format!("{r}/s")));
    Ok(())
}

pub(super) fn burst_load(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("load")?;
    let r = number(a.req("rate")?)?;
    if w.load.is_empty() {
        set_first_phase(w, json!("40/s"));
    }
    w.load.push(json!({
        "at": dur_text(a.req("at")?)?,
        "for": dur_text(a.req("for")?)?,
        "rate": format!("{r}/s"),
    }));
    Ok(())
}

pub(super) fn ramp_load(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("load")?;
    let r = number(a.req("rate")?)?;
    if w.load.is_empty() {
        set_first_phase(w, json!("40/s"));
    }
    w.load.push(json!({
        "at": dur_text(a.req("at")?)?,
        "for": dur_text(a.req("for")?)?,
        "rate": format!("{r}/s"),
        "shape": "ramp",
    }));
    Ok(())
}

pub(super) fn load_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("load")?;
    w.load.clear();
    for (i, row) in a.rows()?.into_iter().enumerate() {
        let at = row
            .get("at")
            .ok_or_else(|| format!("row {}: an at column is needed", i + 1))?;
        let rate = row
            .get("rate")
            .ok_or_else(|| format!("row {}: a rate column is needed", i + 1))?;
        let mut p = json!({ "at": dur_text(at)?, "rate": rate });
        if let Some(f) = row.get("for") {
            p["for"] = json!(dur_text(f)?);
        }
        if let Some(s) = row.get("shape") {
            p["shape"] = json!(s);
        }
        w.load.push(p);
    }
    Ok(())
}

pub(super) fn mix(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("mix")?;
    let mut m = Map::new();
    for k in ["erp", "mes", "qms", "wms"] {
        m.insert(k.into(), json!(number(a.req(k)?)? / 100.0));
    }
    w.mix = Some(Value::Object(m));
    Ok(())
}

/// Appends a fault to the timeline.
pub(super) fn fault(
    w: &mut AndonWorld,
    a: &Args<'_>,
    target: &str,
    kind: &str,
    params: Value,
) -> StepResult {
    w.before_run("fault")?;
    let mut f = json!({ "at": dur_text(a.req("at")?)?, "target": target, "kind": kind });
    if let Some(d) = a.get("for") {
        f["for"] = json!(dur_text(d)?);
    }
    if let Some(s) = a.get("share") {
        f["probability"] = json!(number(s)? / 100.0);
    }
    if let Some(p) = a.get("path") {
        f["path"] = json!(p);
    }
    if let Some(p) = a.get("plant") {
        f["plant"] = json!(p);
    }
    if let Value::Object(m) = params {
        for (k, v) in m {
            f[k] = v;
        }
    }
    w.faults.push(f);
    Ok(())
}

pub(super) fn sim_target(a: &Args<'_>) -> Result<String, String> {
    Ok(system_key(a.req("sys")?))
}

pub(super) fn f_unavailable(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let mut p = json!({});
    if let Some(r) = a.get("retry").or(a.get("retry2")) {
        p["retry_after"] = json!(dur_text(r)?);
    }
    fault(w, a, &t, "unavailable", p)
}

/// Handlers of simulator faults that take no parameter beyond timing and share.
macro_rules! plain_faults {
    ($($name:ident => $kind:literal),* $(,)?) => {$(
        pub(super) fn $name(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
            let t = sim_target(a)?;
            fault(w, a, &t, $kind, json!({}))
        }
    )*};
}

plain_faults! {
    f_refuse => "refuse",
    f_hang => "hang",
    f_reset => "reset",
    f_commit_then_reset => "commit_then_reset",
    f_token_expiry => "token_expiry",
    f_csrf_expiry => "csrf_expiry",
    f_duplicate => "duplicate",
    f_partition => "partition",
    f_engine_pause => "pause",
    f_engine_stop => "stop",
    f_engine_disconnect => "disconnect",
}

pub(super) fn f_slow(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    fault(
        w,
        a,
        &t,
        "slow",
        json!({ "median": dur_text(a.req("median")?)? }),
    )
}

pub(super) fn f_throttle(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let per = a
        .get("per")
        .map(dur_text)
        .transpose()?
        .unwrap_or("1000ms".into());
    fault(
        w,
        a,
        &t,
        "throttle",
        json!({ "limit": integer(a.req("limit")?)?, "per": per }),
    )
}

pub(super) fn f_reject(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let mut p = json!({ "status": integer(a.req("status")?)? });
    if let Some(c) = a.get("code") {
        p["code"] = json!(c);
    }
    fault(w, a, &t, "reject", p)
}

pub(super) fn f_reorder(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    fault(
        w,
        a,
        &t,
        "reorder",
        json!({ "window": integer(a.req("window")?)? }),
    )
}

pub(super) fn f_poison(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let mode = match a.get("mode") {
        Some("schema-invalid") => "schema",
        Some("unknown master data") => "unknown_master_data",
        _ => "mixed",
    };
    fault(w, a, &t, "poison", json!({ "mode": mode }))
}

pub(super) fn f_burst(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    fault(
        w,
        a,
        &t,
        "burst",
        json!({ "factor": number(a.req("factor")?)? }),
    )
}

pub(super) fn f_clock_skew(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let n = integer(a.req("secs")?)? as i64;
    let offset = if a.get("dir") == Some("behind") {
        -n
    } else {
        n
    };
    fault(w, a, &t, "clock_skew", json!({ "offset_secs": offset }))
}

pub(super) fn f_sut(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let kind = match a.req("what")? {
        "killed" => "kill",
        "restarted" => "restart",
        "slow" => "slow",
        _ => "pause",
    };
    if matches!(kind, "pause" | "slow") && a.get("for").is_none() {
        return Err(format!(
            "a {} middleware needs a duration: {} at 10s for 5s",
            a.req("what")?,
            a.req("what")?
        ));
    }
    fault(w, a, "sut", kind, json!({}))
}

pub(super) fn faults_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("faults")?;
    for (i, row) in a.rows()?.into_iter().enumerate() {
        let mut f = Map::new();
        for (k, v) in row {
            let value = match k.as_str() {
                "at" | "for" | "retry_after" | "median" | "p99" | "per" => json!(dur_text(&v)?),
                "target" => json!(v.to_ascii_lowercase()),
                "kind" | "path" | "method" | "plant" | "code" | "detail" | "mode" | "id" => {
                    json!(v)
                }
                _ => match serde_json::from_str::<Value>(&v) {
                    Ok(n @ Value::Number(_)) | Ok(n @ Value::Bool(_)) => n,
                    _ => json!(v),
                },
            };
            f.insert(k, value);
        }
        for need in ["at", "target", "kind"] {
            if !f.contains_key(need) {
                return Err(format!("row {}: a {need} column is needed", i + 1));
            }
        }
        w.faults.push(Value::Object(f));
    }
    Ok(())
}

pub(super) fn settle(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("settle")?;
    w.settle = Some(dur_text(a.req("d")?)?);
    Ok(())
}

pub(super) fn hold_grace(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("hold grace")?;
    w.hold_grace = Some(dur_text(a.req("d")?)?);
    Ok(())
}

pub(super) fn run_for(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("run")?;
    w.duration = Some(dur_text(a.req("d")?)?);
    Ok(())
}
