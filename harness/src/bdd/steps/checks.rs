//! The `Then` steps: each judges the run with a checker (or a load threshold) and says
//! pass, fail with the witnesses, or inconclusive with why.

use serde_json::{Value, json};

use super::*;
use crate::check::{self, Checker, Status, Verdict};

pub(super) fn count(v: &Verdict, name: &str) -> u64 {
    v.counts.get(name).copied().unwrap_or(0)
}

/// Requires the counts `zero` to be 0 while `exercised` is positive.
pub(super) fn none_of(
    w: &AndonWorld,
    v: &Verdict,
    zero: &[&str],
    exercised: &str,
    what: &str,
) -> StepResult {
    let bad: u64 = zero.iter().map(|k| count(v, k)).sum();
    if count(v, exercised) == 0 {
        return Err(inconclusive(
            w,
            v,
            &format!("expected {what}, but nothing exercised it ({exercised} 0)"),
        ));
    }
    if bad > 0 {
        return Err(explain(
            w,
            v,
            &format!("expected {what} ({} 0)", zero.join(" + ")),
        ));
    }
    Ok(())
}

pub(super) fn exactly_once(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::exactly_once::ExactlyOnce, |_| {})?;
    require(w, &v, Status::Pass)
}

pub(super) fn not_lost(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::exactly_once::ExactlyOnce, |_| {})?;
    none_of(w, &v, &["lost"], "acknowledged", "no lost effect")
}

pub(super) fn not_duplicated(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::exactly_once::ExactlyOnce, |_| {})?;
    none_of(
        w,
        &v,
        &["duplicated"],
        "acknowledged",
        "no duplicated effect",
    )
}

pub(super) fn reconcile(w: &mut AndonWorld, what: &str) -> StepResult {
    let r: Vec<check::Reconcile> =
        serde_json::from_value(json!([what])).map_err(|e| format!("internal: {e}"))?;
    let v = w.judge(&check::reconciliation::Reconciliation, |e| e.reconcile = r)?;
    require(w, &v, Status::Pass)
}

pub(super) fn stock_reconciles(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    reconcile(w, "inventory")
}

pub(super) fn lots_agree(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    reconcile(w, "lot_status")
}

pub(super) fn phase_name(text: Option<&str>) -> Option<&'static str> {
    match text? {
        "while steady" | "steady" => Some("steady"),
        "during faults" | "during a fault" | "during_fault" | "during fault" => {
            Some("during_fault")
        }
        "in recovery" | "recovery" => Some("recovery"),
        _ => None,
    }
}

pub(super) fn budgets(w: &mut AndonWorld, list: Vec<Value>) -> StepResult {
    let budgets: Vec<check::SlaBudget> = list
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("latency budget: {e}"))?;
    let v = w.judge(&check::sla::Sla, |e| e.sla = budgets)?;
    require(w, &v, Status::Pass)
}

pub(super) fn latency(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let q = match a.req("q")? {
        "max" | "maximum" => "max".to_string(),
        p => format!("p{}", p.trim_start_matches('p')),
    };
    let mut b = json!({ "route": a.req("route")? });
    b[q] = json!(dur_text(a.req("d")?)?);
    if let Some(p) = phase_name(a.get("phase")) {
        b["phase"] = json!(p);
    }
    budgets(w, vec![b])
}

pub(super) fn latency_exceeded(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let q = a.req("q")?;
    let mut b = json!({ "route": a.req("route")? });
    b[q] = json!(dur_text(a.req("d")?)?);
    let budget: check::SlaBudget =
        serde_json::from_value(b).map_err(|e| format!("latency budget: {e}"))?;
    let v = w.judge(&check::sla::Sla, |e| e.sla = vec![budget])?;
    require(w, &v, Status::Fail)
}

pub(super) fn latency_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let mut list = Vec::new();
    for (i, row) in a.rows()?.into_iter().enumerate() {
        let route = row
            .get("route")
            .ok_or_else(|| format!("row {}: a route column is needed", i + 1))?;
        let mut b = json!({ "route": route });
        for q in ["p50", "p95", "p99", "max"] {
            if let Some(d) = row.get(q) {
                b[q] = json!(dur_text(d)?);
            }
        }
        if let Some(p) = row.get("phase") {
            b["phase"] = json!(phase_name(Some(p)).ok_or_else(|| format!(
                "row {}: phase {p:?}: expected steady, during faults or recovery",
                i + 1
            ))?);
        }
        list.push(b);
    }
    budgets(w, list)
}

/// Judges k6-style load thresholds on what the run recorded (measured from the history,
/// over the load window: from the first event's intended send for the run's duration).
pub(super) fn thresholds_hold(w: &mut AndonWorld, texts: Vec<String>) -> StepResult {
    let mut thresholds = Vec::new();
    for t in &texts {
        thresholds.push(
            t.parse::<crate::load::threshold::Threshold>()
                .map_err(|e| e.to_string())?,
        );
    }
    let duration = w
        .duration
        .as_deref()
        .and_then(|d| humantime::parse_duration(d).ok())
        .unwrap_or(std::time::Duration::from_secs(20));
    let ran = w
        .ran
        .as_ref()
        .ok_or_else(|| "internal: judged before the run".to_string())?;
    let start = ran
        .data
        .records
        .iter()
        .find_map(|r| match &r.entry {
            andon_simulators::history::Entry::EventEmitted { intended_at, .. } => {
                Some(*intended_at)
            }
            _ => None,
        })
        .unwrap_or(ran.outcome.report.started);
    let m = crate::load::measure::Measures::from_records(&ran.data.records, start, duration);
    let mut bad = Vec::new();
    for t in &thresholds {
        match t.judge(&m) {
            crate::load::threshold::Outcome::Pass(_) => {}
            crate::load::threshold::Outcome::Breached(v) => {
                bad.push(format!("{:?} was breached: measured {}", t.text, t.show(v)));
            }
            crate::load::threshold::Outcome::Unknown(why) => {
                bad.push(format!("{:?} could not be measured: {why}", t.text));
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "expected the load thresholds to hold, but\n  {}\n  (run directory {})",
        bad.join("\n  "),
        w.run_dir()
    ))
}

pub(super) fn threshold_holds(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    thresholds_hold(w, vec![a.req("t")?.to_string()])
}

pub(super) fn threshold_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let mut list = Vec::new();
    for (i, row) in a.rows()?.into_iter().enumerate() {
        let t = row
            .get("threshold")
            .ok_or_else(|| format!("row {}: a threshold column is needed", i + 1))?;
        list.push(t.to_string());
    }
    thresholds_hold(w, list)
}

pub(super) fn drains(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let limit_ms: u64 = dur_text(a.req("d")?)?
        .trim_end_matches("ms")
        .parse()
        .unwrap_or(0);
    let v = w.judge(&check::sla::Sla, |_| {})?;
    let faults = v.details["faults"].as_array().cloned().unwrap_or_default();
    let healed: Vec<&Value> = faults.iter().filter(|f| !f["cleared"].is_null()).collect();
    if healed.is_empty() {
        return Err(inconclusive(
            w,
            &v,
            "expected a simulator fault to heal so its backlog could drain; none did",
        ));
    }
    let slow: Vec<String> = healed
        .iter()
        .filter_map(|f| {
            let us = f["time_to_drain_us"].as_u64()?;
            (us > limit_ms * 1000).then(|| {
                format!(
                    "{} ({}) took {:.1} s",
                    f["id"].as_str().unwrap_or("?"),
                    f["kind"].as_str().unwrap_or("?"),
                    us as f64 / 1e6
                )
            })
        })
        .collect();
    if !slow.is_empty() {
        return Err(format!(
            "expected every backlog to drain within {} after its fault healed: {}\n  run directory: {}",
            a.req("d")?,
            slow.join("; "),
            w.run_dir()
        ));
    }
    Ok(())
}

pub(super) fn contract(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::contract::Contract, |_| {})?;
    require(w, &v, Status::Pass)
}

pub(super) fn contract_part(w: &mut AndonWorld, zero: &[&str], what: &str) -> StepResult {
    let v = w.judge(&check::contract::Contract, |_| {})?;
    none_of(w, &v, zero, "calls", what)
}

pub(super) fn idempotency_keys(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["missing_idempotency_key"],
        "an idempotency key on every call",
    )
}

pub(super) fn traceparents(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["missing_traceparent", "broken_traceparent"],
        "a valid traceparent on every call",
    )
}

pub(super) fn retry_after(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["retry_after_ignored"],
        "no call inside a Retry-After wait",
    )
}

pub(super) fn problem_json(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["non_problem_errors"],
        "every error answer as problem+json",
    )
}

pub(super) fn mapping(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::mapping::Mapping, |_| {})?;
    require(w, &v, Status::Pass)
}

pub(super) fn plant_scope(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["plant_scope_refused"],
        "no call refused 403 plant-scope",
    )
}

pub(super) fn no_held_lot_used(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::safety::Safety, |_| {})?;
    if count(&v, "holds") + count(&v, "rejected_lots") == 0 {
        return Err(inconclusive(
            w,
            &v,
            "expected held or blocked lots to exist, but none did (no hold placed, no lot rejected)",
        ));
    }
    none_of(
        w,
        &v,
        &["unsafe_consumptions", "unsafe_picks"],
        "uses",
        "no held or blocked lot consumed or shipped",
    )
}

pub(super) fn dead_lettered(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::safety::Safety, |_| {})?;
    none_of(
        w,
        &v,
        &["vanished"],
        "rejections",
        "every rejected posting dead-lettered or recovered (none vanished)",
    )
}

pub(super) fn dead_letters_at_least(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let n = integer(a.req("n")?)?;
    let v = w.judge(&check::safety::Safety, |_| {})?;
    if count(&v, "dead_lettered") < n {
        return Err(explain(
            w,
            &v,
            &format!(
                "expected at least {n} dead-lettered events, but there were {}",
                count(&v, "dead_lettered")
            ),
        ));
    }
    Ok(())
}

pub(super) fn no_stale_overwrite(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::ordering::Ordering, |_| {})?;
    require(w, &v, Status::Pass)
}

/// A checker by the name a feature gives it.
pub fn checker_named(name: &str) -> Option<Box<dyn Checker>> {
    Some(
        match name.to_ascii_lowercase().replace(['-', '_'], " ").as_str() {
            "exactly once" => Box::new(check::exactly_once::ExactlyOnce),
            "reconciliation" => Box::new(check::reconciliation::Reconciliation),
            "sla" | "latency" => Box::new(check::sla::Sla),
            "contract" => Box::new(check::contract::Contract),
            "mapping" => Box::new(check::mapping::Mapping),
            "safety" => Box::new(check::safety::Safety),
            "ordering" => Box::new(check::ordering::Ordering),
            _ => return None,
        },
    )
}

pub(super) fn checker_arg(a: &Args<'_>) -> Result<Box<dyn Checker>, String> {
    let n = a.req("checker")?;
    checker_named(n).ok_or_else(|| {
        format!("unknown check {n:?}: expected exactly-once, reconciliation, SLA, contract, safety or ordering")
    })
}

pub(super) fn verdict_is(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let c = checker_arg(a)?;
    let want = match a.req("status")? {
        "passes" => Status::Pass,
        "fails" => Status::Fail,
        _ => Status::Unknown,
    };
    let v = w.judge(c.as_ref(), |_| {})?;
    require(w, &v, want)
}

pub(super) fn verdict_count(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let c = checker_arg(a)?;
    let name = a.req("name")?.replace([' ', '-'], "_");
    let n = match a.get("n") {
        Some(n) => integer(n)?,
        None => 0,
    };
    let op = a.get("op").unwrap_or("no");
    let v = w.judge(c.as_ref(), |_| {})?;
    if !v.counts.contains_key(&name) {
        return Err(format!(
            "the {} check counts no {name:?}; it counts {}",
            v.checker,
            v.counts.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let got = count(&v, &name);
    let ok = match op {
        "at least" => got >= n,
        "at most" => got <= n,
        "more than" => got > n,
        "exactly" => got == n,
        _ => got == 0,
    };
    if !ok {
        let want = if op == "no" {
            format!("no {name}")
        } else {
            format!("{op} {n} {name}")
        };
        return Err(explain(
            w,
            &v,
            &format!(
                "expected the {} check to count {want}, but it counted {got}",
                v.checker
            ),
        ));
    }
    Ok(())
}

pub(super) fn every_check_passes(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let Some(ran) = &w.ran else {
        return Err("internal: judged before the run".into());
    };
    let bad: Vec<Verdict> = ran
        .outcome
        .report
        .verdicts
        .iter()
        .filter(|v| v.status != Status::Pass)
        .cloned()
        .collect();
    if let Some(first) = bad
        .iter()
        .find(|v| v.status == Status::Fail)
        .or(bad.first())
    {
        let names: Vec<String> = bad
            .iter()
            .map(|v| format!("{} {}", v.checker, v.status.as_str()))
            .collect();
        return Err(explain(
            w,
            first,
            &format!(
                "expected every check to pass, but {} did not",
                names.join(", ")
            ),
        ));
    }
    Ok(())
}
