//! The step library: every step is one row of [`library`] — its topic, its sentence, the
//! regular expression that matches it, what it does, an example — so the runner, the
//! undefined-step check and `andon steps` read the same table and cannot drift apart.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cucumber::gherkin::Table;
use regex::Regex;
use serde_json::{Map, Value, json};

use super::console::config;
use super::world::{AndonWorld, StepResult, explain, inconclusive, require};
use crate::check::{self, Checker, Status, Verdict};

/// What a step is about; `andon steps` groups by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    /// Plants, master data, seed, time.
    Plants,
    /// Switches of the simulated systems.
    Systems,
    /// The middleware under test.
    Middleware,
    /// Load phases.
    Load,
    /// The fault timeline.
    Faults,
    /// Running and settling.
    Running,
    /// Exactly-once effects.
    ExactlyOnce,
    /// Stock and lot status reconciliation.
    Reconciliation,
    /// Propagation latency.
    Latency,
    /// The integration contract.
    Contract,
    /// Held lots and dead letters.
    Safety,
    /// Ordering of lot status changes.
    Ordering,
    /// Any checker's verdict.
    Verdicts,
}

impl Topic {
    /// Every topic, in the order `andon steps` prints them.
    pub const ALL: [Topic; 13] = [
        Topic::Plants,
        Topic::Systems,
        Topic::Middleware,
        Topic::Load,
        Topic::Faults,
        Topic::Running,
        Topic::ExactlyOnce,
        Topic::Reconciliation,
        Topic::Latency,
        Topic::Contract,
        Topic::Safety,
        Topic::Ordering,
        Topic::Verdicts,
    ];

    /// Heading.
    pub fn title(self) -> &'static str {
        match self {
            Topic::Plants => "Plants and master data",
            Topic::Systems => "Simulated systems",
            Topic::Middleware => "The middleware under test",
            Topic::Load => "Load",
            Topic::Faults => "Faults",
            Topic::Running => "Running",
            Topic::ExactlyOnce => "Exactly-once",
            Topic::Reconciliation => "Reconciliation",
            Topic::Latency => "Latency (SLA)",
            Topic::Contract => "Contract",
            Topic::Safety => "Safety and dead letters",
            Topic::Ordering => "Ordering",
            Topic::Verdicts => "Verdicts",
        }
    }
}

/// A step's handler.
#[derive(Clone, Copy)]
pub enum Action {
    /// Builds the scenario (`Given`, also usable as `When`).
    Setup(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
    /// Sets what it names, then runs the scenario (`When`, also usable as `Given`).
    Run(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
    /// Judges the run, running it first if no step has (`Then`).
    Check(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
    /// Holds only when the SUT declares this capability (`Given`); registered only then,
    /// so without it the step and its scenario are skipped, never passed.
    Capability(&'static str),
    /// Builds the scenario like [`Action::Setup`], for andon's self-tests only: it switches
    /// on a defect of the bundled reference middleware, so it is registered only when the
    /// run's SUT is that middleware; against another SUT its scenario is skipped.
    SelfTest(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
}

/// One step of the library.
pub struct StepDef {
    /// Topic.
    pub topic: Topic,
    /// The sentence, with `{placeholders}`.
    pub text: &'static str,
    /// Regular expression matching the whole step text.
    pub pattern: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// An example, as written in a feature (keyword included; a table follows on the next
    /// lines when the step takes one).
    pub example: &'static str,
    /// The handler.
    pub action: Action,
}

impl StepDef {
    /// The keyword it is listed under.
    pub fn keyword(&self) -> &'static str {
        match self.action {
            Action::Setup(_) | Action::Capability(_) | Action::SelfTest(_) => "Given",
            Action::Run(_) => "When",
            Action::Check(_) => "Then",
        }
    }

    /// The sentence as documented (`text`), read as a pattern: `{…}` is any text, `[…]`
    /// is optional, `a|b` are alternative words and `(a b|c d)` alternative phrases, ` / `
    /// separates alternative sentences. Every step a bundled feature uses matches the
    /// documented sentence of its step, so `andon steps` and `docs/steps.md` show every
    /// phrasing the features use.
    pub fn documented(&self) -> Regex {
        let alts: Vec<String> = self.text.split(" / ").map(documented_sentence).collect();
        Regex::new(&format!("(?i)^(?:{})$", alts.join("|")))
            .unwrap_or_else(|e| panic!("documented sentence {:?}: {e}", self.text))
    }

    /// Whether a step of this Gherkin type may use it.
    pub fn accepts(&self, ty: cucumber::gherkin::StepType) -> bool {
        use cucumber::gherkin::StepType as T;
        match self.action {
            Action::Setup(_) | Action::Run(_) | Action::SelfTest(_) => {
                matches!(ty, T::Given | T::When)
            }
            Action::Capability(_) => ty == T::Given,
            Action::Check(_) => ty == T::Then,
        }
    }
}

/// One documented sentence as a regular expression (see [`StepDef::documented`]).
fn documented_sentence(s: &str) -> String {
    // Placeholders first: their own `|` are not alternatives.
    let mut flat: Vec<char> = Vec::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    flat.push('\u{0}');
                }
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            c => flat.push(c),
        }
    }
    pattern_of(&flat)
}

fn pattern_of(chars: &[char]) -> String {
    fn lit(w: &str) -> String {
        regex::escape(w).replace('\u{0}', ".+?")
    }
    fn word(w: &str) -> String {
        if w.contains('|') {
            format!(
                "(?:{})",
                w.split('|').map(lit).collect::<Vec<_>>().join("|")
            )
        } else {
            lit(w)
        }
    }
    /// The index of the bracket closing the one at `open`.
    fn closing(chars: &[char], open: usize) -> Option<usize> {
        let (o, c) = (chars[open], if chars[open] == '(' { ')' } else { ']' });
        let mut depth = 0;
        for (i, x) in chars.iter().enumerate().skip(open) {
            if *x == o {
                depth += 1;
            } else if *x == c {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
        }
        None
    }
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ' ' if chars.get(i + 1) == Some(&'[') => {
                let end = closing(chars, i + 1).unwrap_or(chars.len());
                out.push_str(&format!(
                    "(?: {})?",
                    pattern_of(&chars[i + 2..end.min(chars.len())])
                ));
                i = end + 1;
            }
            '[' => {
                let end = closing(chars, i).unwrap_or(chars.len());
                out.push_str(&format!(
                    "(?:{})?",
                    pattern_of(&chars[i + 1..end.min(chars.len())])
                ));
                i = end + 1;
            }
            '(' => {
                let end = closing(chars, i).unwrap_or(chars.len());
                let inner = &chars[i + 1..end.min(chars.len())];
                if inner.contains(&'|') {
                    let parts: Vec<String> = inner.split(|c| *c == '|').map(pattern_of).collect();
                    out.push_str(&format!("(?:{})", parts.join("|")));
                } else {
                    out.push_str(&format!("\\({}\\)", pattern_of(inner)));
                }
                i = end + 1;
            }
            ' ' => {
                out.push(' ');
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '[' | ']' | '(' | ')') {
                    i += 1;
                }
                out.push_str(&word(&chars[start..i].iter().collect::<String>()));
                if i == start {
                    // A stray closing bracket: taken literally.
                    out.push_str(&regex::escape(&chars[i].to_string()));
                    i += 1;
                }
            }
        }
    }
    out
}

/// The matched step: its captures by name and its data table.
pub struct Args<'a> {
    caps: BTreeMap<&'a str, &'a str>,
    /// The step's data table.
    pub table: Option<&'a Table>,
}

impl<'a> Args<'a> {
    /// Reads the captures of `re` on `text`.
    pub fn new(re: &'a Regex, text: &'a str, table: Option<&'a Table>) -> Option<Self> {
        let c = re.captures(text)?;
        let caps = re
            .capture_names()
            .flatten()
            .filter_map(|n| c.name(n).map(|m| (n, m.as_str())))
            .collect();
        Some(Self { caps, table })
    }

    /// A named capture, when it matched.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.caps.get(name).copied()
    }

    /// A named capture the pattern always has.
    pub fn req(&self, name: &str) -> Result<&'a str, String> {
        self.get(name)
            .ok_or_else(|| format!("internal: the step has no {name:?}"))
    }

    /// The table as rows keyed by lower-case header.
    pub fn rows(&self) -> Result<Vec<BTreeMap<String, String>>, String> {
        let t = self
            .table
            .ok_or_else(|| "this step needs a data table under it".to_string())?;
        let mut rows = t.rows.iter();
        let head: Vec<String> = rows
            .next()
            .ok_or_else(|| "the table has no header row".to_string())?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        Ok(rows
            .map(|r| {
                head.iter()
                    .cloned()
                    .zip(r.iter().map(|c| c.trim().to_string()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .collect())
    }
}

macro_rules! sys {
    () => {
        "(?P<sys>ERP|MES|QMS|WMS)"
    };
}
macro_rules! dur {
    ($name:literal) => {
        concat!(
            "(?P<",
            $name,
            r">\d+(?:\.\d+)?\s*(?:ms|milliseconds?|s|secs?|seconds?|min|minutes?|h|hours?))"
        )
    };
}
macro_rules! window {
    () => {
        concat!("(?:from|at) ", dur!("at"), "(?: for ", dur!("for"), ")?")
    };
}
macro_rules! share {
    () => {
        r"(?: on (?P<share>\d+(?:\.\d+)?) ?% of (?:its |the )?(?:calls|events|postings|requests))?"
    };
}
macro_rules! num {
    ($name:literal) => {
        concat!("(?P<", $name, r">\d+(?:\.\d+)?)")
    };
}

/// A duration written in a step (`5s`, `500 ms`, `2 minutes`), as milliseconds for the
/// scenario file.
pub fn dur_text(text: &str) -> Result<String, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| config(format!("{text:?} is not a duration such as 5s or 500ms")))?;
    let ms = match unit.trim() {
        "ms" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
        "min" | "minute" | "minutes" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        other => {
            return Err(config(format!(
                "{text:?}: unknown unit {other:?}, expected ms, s, min or h"
            )));
        }
    };
    let ms = (n * ms).round();
    if !(0.0..=MAX_STEP_MS).contains(&ms) {
        return Err(config(format!(
            "{text:?}: a duration in a step is at most {} days",
            MAX_STEP_MS / 86_400_000.0
        )));
    }
    Ok(format!("{}ms", ms as u64))
}

/// The longest duration a step takes: a year.
const MAX_STEP_MS: f64 = 365.0 * 86_400_000.0;

fn system_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| config(format!("{text:?} is not a number")))
}

fn integer(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        config(format!(
            "{text:?} is not a whole number from 0 to {}",
            u64::MAX
        ))
    })
}

// ---------------------------------------------------------------------------------------
// Set-up handlers.

fn plant(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn plants_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn master_data(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("master data")?;
    let p = w.resolve(a.req("file")?);
    if !p.exists() {
        return Err(format!("master data file {} does not exist", p.display()));
    }
    w.data = Some(std::fs::canonicalize(&p).unwrap_or(p));
    Ok(())
}

fn seed(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("seed")?;
    w.seed = Some(integer(a.req("seed")?)?);
    Ok(())
}

fn time_scale(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("time scale")?;
    w.time_scale = Some(number(a.req("scale")?)?);
    Ok(())
}

fn systems_named(name: &str) -> Vec<String> {
    match name {
        "ERP" | "MES" | "QMS" | "WMS" => vec![system_key(name)],
        _ => ["erp", "mes", "qms", "wms"].map(String::from).to_vec(),
    }
}

fn idempotency(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("idempotency")?;
    let on = !a.req("verb")?.starts_with("ignore");
    for s in systems_named(a.req("who")?) {
        w.options_of(&s).insert("idempotency".into(), json!(on));
    }
    Ok(())
}

fn auth(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("authentication")?;
    for s in systems_named(a.req("who")?) {
        w.options_of(&s).insert("auth".into(), json!(true));
    }
    Ok(())
}

fn open_periods(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn tolerance(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("over-confirmation tolerance")?;
    w.options_of("erp").insert(
        "over_confirmation_tolerance_pct".into(),
        json!(integer(a.req("pct")?)?),
    );
    Ok(())
}

fn buffer(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("buffer")?;
    let s = system_key(a.req("sys")?);
    w.options_of(&s)
        .insert("buffer_capacity".into(), json!(integer(a.req("n")?)?));
    Ok(())
}

fn activity(w: &mut AndonWorld, system: &str, key: &str, value: Value) {
    let o = w.options_of(system);
    let act = o
        .entry("activity")
        .or_insert_with(|| Value::Object(Map::new()));
    act[key] = value;
}

fn hold_rate(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("hold rate")?;
    let p = number(a.req("pct")?)?;
    activity(w, "qms", "hold_rate", json!(p / 100.0));
    Ok(())
}

fn accept_rate(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("accept rate")?;
    let p = number(a.req("pct")?)?;
    activity(w, "qms", "accept_rate", json!(p / 100.0));
    Ok(())
}

fn result_delay(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("result delay")?;
    let d = dur_text(a.req("d")?)?;
    activity(w, "qms", "result_delay", json!(d));
    Ok(())
}

fn ship_rate(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("ship rate")?;
    let p = number(a.req("pct")?)?;
    activity(w, "wms", "ship_rate", json!(p / 100.0));
    Ok(())
}

fn reference(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    w.before_run("middleware")?;
    w.sut = None;
    w.defects.clear();
    Ok(())
}

fn with_defects(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn manifest(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("middleware")?;
    let p = w.resolve(a.req("file")?);
    crate::sut::SutManifest::load(&p).map_err(|e| e.to_string())?;
    w.sut = Some(p);
    w.defects.clear();
    Ok(())
}

fn set_first_phase(w: &mut AndonWorld, rate: Value) {
    w.load.retain(|p| p["at"] != "0ms" && p["at"] != "0s");
    w.load.insert(0, json!({ "at": "0s", "rate": rate }));
}

fn steady_load(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("load")?;
    let r = number(a.req("rate")?)?;
    set_first_phase(w, json!(format!("{r}/s")));
    Ok(())
}

fn burst_load(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn ramp_load(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn load_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn mix(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("mix")?;
    let mut m = Map::new();
    for k in ["erp", "mes", "qms", "wms"] {
        m.insert(k.into(), json!(number(a.req(k)?)? / 100.0));
    }
    w.mix = Some(Value::Object(m));
    Ok(())
}

/// Appends a fault to the timeline.
fn fault(w: &mut AndonWorld, a: &Args<'_>, target: &str, kind: &str, params: Value) -> StepResult {
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

fn sim_target(a: &Args<'_>) -> Result<String, String> {
    Ok(system_key(a.req("sys")?))
}

fn f_unavailable(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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
        fn $name(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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
    f_duplicate => "duplicate",
    f_partition => "partition",
    f_engine_pause => "pause",
    f_engine_stop => "stop",
    f_engine_disconnect => "disconnect",
}

fn f_slow(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    fault(
        w,
        a,
        &t,
        "slow",
        json!({ "median": dur_text(a.req("median")?)? }),
    )
}

fn f_throttle(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn f_reject(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let mut p = json!({ "status": integer(a.req("status")?)? });
    if let Some(c) = a.get("code") {
        p["code"] = json!(c);
    }
    fault(w, a, &t, "reject", p)
}

fn f_reorder(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    fault(
        w,
        a,
        &t,
        "reorder",
        json!({ "window": integer(a.req("window")?)? }),
    )
}

fn f_poison(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let mode = match a.get("mode") {
        Some("schema-invalid") => "schema",
        Some("unknown master data") => "unknown_master_data",
        _ => "mixed",
    };
    fault(w, a, &t, "poison", json!({ "mode": mode }))
}

fn f_burst(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    fault(
        w,
        a,
        &t,
        "burst",
        json!({ "factor": number(a.req("factor")?)? }),
    )
}

fn f_clock_skew(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let t = sim_target(a)?;
    let n = integer(a.req("secs")?)? as i64;
    let offset = if a.get("dir") == Some("behind") {
        -n
    } else {
        n
    };
    fault(w, a, &t, "clock_skew", json!({ "offset_secs": offset }))
}

fn f_sut(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let kind = match a.req("what")? {
        "killed" => "kill",
        "restarted" => "restart",
        _ => "pause",
    };
    if kind == "pause" && a.get("for").is_none() {
        return Err("a frozen middleware needs a duration: frozen at 10s for 5s".into());
    }
    if kind != "pause" && a.get("for").is_some() {
        return Err(format!("a {kind} has no duration"));
    }
    fault(w, a, "sut", kind, json!({}))
}

fn faults_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn settle(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("settle")?;
    w.settle = Some(dur_text(a.req("d")?)?);
    Ok(())
}

fn hold_grace(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("hold grace")?;
    w.hold_grace = Some(dur_text(a.req("d")?)?);
    Ok(())
}

fn run_for(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    w.before_run("run")?;
    w.duration = Some(dur_text(a.req("d")?)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Checks.

fn count(v: &Verdict, name: &str) -> u64 {
    v.counts.get(name).copied().unwrap_or(0)
}

/// Requires the counts `zero` to be 0 while `exercised` is positive.
fn none_of(w: &AndonWorld, v: &Verdict, zero: &[&str], exercised: &str, what: &str) -> StepResult {
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

fn exactly_once(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::exactly_once::ExactlyOnce, |_| {})?;
    require(w, &v, Status::Pass)
}

fn not_lost(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::exactly_once::ExactlyOnce, |_| {})?;
    none_of(w, &v, &["lost"], "acknowledged", "no lost effect")
}

fn not_duplicated(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::exactly_once::ExactlyOnce, |_| {})?;
    none_of(
        w,
        &v,
        &["duplicated"],
        "acknowledged",
        "no duplicated effect",
    )
}

fn reconcile(w: &mut AndonWorld, what: &str) -> StepResult {
    let r: Vec<check::Reconcile> =
        serde_json::from_value(json!([what])).map_err(|e| format!("internal: {e}"))?;
    let v = w.judge(&check::reconciliation::Reconciliation, |e| e.reconcile = r)?;
    require(w, &v, Status::Pass)
}

fn stock_reconciles(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    reconcile(w, "inventory")
}

fn lots_agree(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    reconcile(w, "lot_status")
}

fn phase_name(text: Option<&str>) -> Option<&'static str> {
    match text? {
        "while steady" | "steady" => Some("steady"),
        "during faults" | "during a fault" | "during_fault" | "during fault" => {
            Some("during_fault")
        }
        "in recovery" | "recovery" => Some("recovery"),
        _ => None,
    }
}

fn budgets(w: &mut AndonWorld, list: Vec<Value>) -> StepResult {
    let budgets: Vec<check::SlaBudget> = list
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("latency budget: {e}"))?;
    let v = w.judge(&check::sla::Sla, |e| e.sla = budgets)?;
    require(w, &v, Status::Pass)
}

fn latency(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn latency_exceeded(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let q = a.req("q")?;
    let mut b = json!({ "route": a.req("route")? });
    b[q] = json!(dur_text(a.req("d")?)?);
    let budget: check::SlaBudget =
        serde_json::from_value(b).map_err(|e| format!("latency budget: {e}"))?;
    let v = w.judge(&check::sla::Sla, |e| e.sla = vec![budget])?;
    require(w, &v, Status::Fail)
}

fn latency_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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
fn thresholds_hold(w: &mut AndonWorld, texts: Vec<String>) -> StepResult {
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

fn threshold_holds(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    thresholds_hold(w, vec![a.req("t")?.to_string()])
}

fn threshold_table(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let mut list = Vec::new();
    for (i, row) in a.rows()?.into_iter().enumerate() {
        let t = row
            .get("threshold")
            .ok_or_else(|| format!("row {}: a threshold column is needed", i + 1))?;
        list.push(t.to_string());
    }
    thresholds_hold(w, list)
}

fn drains(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn contract(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::contract::Contract, |_| {})?;
    require(w, &v, Status::Pass)
}

fn contract_part(w: &mut AndonWorld, zero: &[&str], what: &str) -> StepResult {
    let v = w.judge(&check::contract::Contract, |_| {})?;
    none_of(w, &v, zero, "calls", what)
}

fn idempotency_keys(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["missing_idempotency_key"],
        "an idempotency key on every call",
    )
}

fn traceparents(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["missing_traceparent", "broken_traceparent"],
        "a valid traceparent on every call",
    )
}

fn retry_after(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["retry_after_ignored"],
        "no call inside a Retry-After wait",
    )
}

fn problem_json(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["non_problem_errors"],
        "every error answer as problem+json",
    )
}

fn mapping(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::mapping::Mapping, |_| {})?;
    require(w, &v, Status::Pass)
}

fn plant_scope(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    contract_part(
        w,
        &["plant_scope_refused"],
        "no call refused 403 plant-scope",
    )
}

fn no_held_lot_used(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
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

fn dead_lettered(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
    let v = w.judge(&check::safety::Safety, |_| {})?;
    none_of(
        w,
        &v,
        &["vanished"],
        "rejections",
        "every rejected posting dead-lettered or recovered (none vanished)",
    )
}

fn dead_letters_at_least(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn no_stale_overwrite(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
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

fn checker_arg(a: &Args<'_>) -> Result<Box<dyn Checker>, String> {
    let n = a.req("checker")?;
    checker_named(n).ok_or_else(|| {
        format!("unknown check {n:?}: expected exactly-once, reconciliation, SLA, contract, safety or ordering")
    })
}

fn verdict_is(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
    let c = checker_arg(a)?;
    let want = match a.req("status")? {
        "passes" => Status::Pass,
        "fails" => Status::Fail,
        _ => Status::Unknown,
    };
    let v = w.judge(c.as_ref(), |_| {})?;
    require(w, &v, want)
}

fn verdict_count(w: &mut AndonWorld, a: &Args<'_>) -> StepResult {
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

fn every_check_passes(w: &mut AndonWorld, _: &Args<'_>) -> StepResult {
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

// ---------------------------------------------------------------------------------------
// The table.

/// The step library, in `andon steps` order.
pub fn library() -> &'static [StepDef] {
    static LIB: OnceLock<Vec<StepDef>> = OnceLock::new();
    LIB.get_or_init(build)
}

/// The compiled patterns, index for index with [`library`].
pub fn regexes() -> &'static [Regex] {
    static RE: OnceLock<Vec<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        library()
            .iter()
            .map(|d| {
                Regex::new(d.pattern)
                    .unwrap_or_else(|e| panic!("step pattern {:?}: {e}", d.pattern))
            })
            .collect()
    })
}

fn build() -> Vec<StepDef> {
    use Action::{Capability, Check, Run, SelfTest, Setup};
    use Topic as T;
    let s = |topic, text, pattern, doc, example, action| StepDef {
        topic,
        text,
        pattern,
        doc,
        example,
        action,
    };
    vec![
        // Plants.
        s(
            T::Plants,
            "plant {id} with {n} line|lines making {m} material|materials [in discrete|batch mode]",
            r#"^(?:a |the )?plant "?(?P<id>[A-Z0-9]{4})"? with (?P<lines>\d+) (?:production )?lines? (?:making|and) (?P<materials>\d+) (?:finished )?materials?(?: in (?P<profile>discrete|batch) mode)?$"#,
            "Adds a plant whose master data is generated from the seed (default: one discrete plant 1000 with 2 lines and 10 materials).",
            "Given plant 1000 with 3 lines making 20 materials",
            Setup(plant),
        ),
        s(
            T::Plants,
            "the plants:",
            r"^the plants:?$",
            "Adds plants from a table: plant, lines, materials, profile (discrete or batch).",
            "Given the plants:\n  | plant | lines | materials | profile  |\n  | 1000  | 3     | 20        | discrete |\n  | 2000  | 2     | 8         | batch    |",
            Setup(plants_table),
        ),
        s(
            T::Plants,
            "the master data from \"{file}\"",
            r#"^the master data (?:from|in) "(?P<file>[^"]+)"$"#,
            "Uses a master-data file (YAML, as `andon serve --data` takes) instead of generated plants; the path is relative to the feature file.",
            "Given the master data from \"../ci/examples/plant-3000.yaml\"",
            Setup(master_data),
        ),
        s(
            T::Plants,
            "the seed {n}",
            r"^the seed (?:is )?(?P<seed>\d+)$",
            "Fixes the seed of the generated activity (default: derived from the scenario's name, so a feature always replays the same traffic).",
            "Given the seed 4242",
            Setup(seed),
        ),
        s(
            T::Plants,
            "business time runs {n} times faster",
            r"^business time runs (?P<scale>\d+(?:\.\d+)?) times? faster(?: than wall time)?$",
            "Sets the time scale: a wall second is this many business seconds (default 60).",
            "Given business time runs 120 times faster",
            Setup(time_scale),
        ),
        // Systems.
        s(
            T::Systems,
            "the {system|simulators} ignores|honours idempotency keys",
            r"^(?:the )?(?P<who>ERP|MES|QMS|WMS|simulators|every system) (?P<verb>ignores?|honou?rs?) idempotency keys$",
            "Switches `Idempotency-Key` handling: when ignored, every POST creates a new posting, so only the middleware's own dedup protects the ERP.",
            "Given the ERP ignores idempotency keys",
            Setup(idempotency),
        ),
        s(
            T::Systems,
            "the {system} requires OAuth tokens / every system requires OAuth tokens",
            r"^(?:the )?(?P<who>ERP|MES|QMS|WMS|every system) requires? OAuth(?: 2\.0)? tokens$",
            "Requires OAuth 2.0 client-credentials tokens (the middleware must fetch and renew them).",
            "Given the ERP requires OAuth tokens",
            Setup(auth),
        ),
        s(
            T::Systems,
            "the ERP has only the posting periods {list} open",
            r"^the ERP has only the posting periods? (?P<periods>\d{4}/\d{2}(?:(?:, | and )\d{4}/\d{2})*) open$",
            "Sets the open posting periods, newest first; a posting dated in another period is refused with 422 `period-closed`.",
            "Given the ERP has only the posting period 2026/10 open",
            Setup(open_periods),
        ),
        s(
            T::Systems,
            "the ERP tolerates over-confirmation up to {n} %",
            r"^the ERP tolerates over-confirmation (?:of |up to )?(?P<pct>\d+) ?%$",
            "Sets the over-confirmation tolerance in percent of the planned quantity (default 10).",
            "Given the ERP tolerates over-confirmation up to 5 %",
            Setup(tolerance),
        ),
        s(
            T::Systems,
            "the {system} buffers at most {n} events",
            concat!(r"^the ", sys!(), r" buffers at most (?P<n>\d+) events$"),
            "Bounds the store-and-forward buffer of the system's outbound events (default 10,000); beyond it the plant loses events and the history says so.",
            "Given the MES buffers at most 500 events",
            Setup(buffer),
        ),
        s(
            T::Systems,
            "the QMS puts {p} % of its steps on hold",
            r"^the QMS puts (?P<pct>\d+(?:\.\d+)?) ?% of (?:its steps|lots) on hold$",
            "Chance per QMS step of placing a quality hold (default 5 %).",
            "Given the QMS puts 20 % of its steps on hold",
            Setup(hold_rate),
        ),
        s(
            T::Systems,
            "the QMS accepts {p} % of inspection lots",
            r"^the QMS accepts (?P<pct>\d+(?:\.\d+)?) ?% of (?:its )?inspection lots$",
            "Share of inspection lots accepted; the rest are rejected and their stock is blocked (default 90 %).",
            "Given the QMS accepts 50 % of inspection lots",
            Setup(accept_rate),
        ),
        s(
            T::Systems,
            "the QMS records results {d} after the lot opens",
            concat!(
                r"^the QMS records (?:inspection )?results ",
                dur!("d"),
                r" after the (?:inspection )?lot opens$"
            ),
            "Wall time from opening an inspection lot to its result (default 1 s).",
            "Given the QMS records results 3s after the lot opens",
            Setup(result_delay),
        ),
        s(
            T::Systems,
            "the WMS ships on {p} % of its steps",
            r"^the WMS ships on (?P<pct>\d+(?:\.\d+)?) ?% of its steps$",
            "Chance per WMS step of a shipment (otherwise a bin transfer; default 85 %).",
            "Given the WMS ships on 95 % of its steps",
            Setup(ship_rate),
        ),
        // Middleware.
        s(
            T::Middleware,
            "the reference middleware",
            r"^the (?:bundled )?reference middleware$",
            "Runs against the bundled reference middleware (a correct SUT with a durable outbox); the default when `--sut` is not given.",
            "Given the reference middleware",
            Setup(reference),
        ),
        s(
            T::Middleware,
            "the reference middleware with the defect \"{name}\" [and \"{name}\"]",
            r#"^the (?:bundled )?reference middleware with the defects? "(?P<d1>[a-z0-9-]+)"(?: and "(?P<d2>[a-z0-9-]+)")?$"#,
            "Switches on named defects of the reference middleware (`andon reference-sut --list-defects`), to prove a feature catches what it claims. A self-test of andon: against another SUT (`--sut`) its scenario is skipped, never failed; tag such scenarios `@self-test`.",
            "Given the reference middleware with the defect \"no-dedup\"",
            SelfTest(with_defects),
        ),
        s(
            T::Middleware,
            "the middleware described by \"{sut.toml}\"",
            r#"^the middleware (?:described by|from) "(?P<file>[^"]+)"$"#,
            "Runs against the SUT a manifest describes (relative to the feature file), instead of the one of the run.",
            "Given the middleware described by \"../examples/reference-middleware/sut.toml\"",
            Setup(manifest),
        ),
        s(
            T::Middleware,
            "the middleware lists its dead letters",
            r"^the middleware lists its dead letters$",
            "Requires the SUT's `dead_letters` capability; without it the scenario is skipped (not passed).",
            "Given the middleware lists its dead letters",
            Capability("dead_letters"),
        ),
        s(
            T::Middleware,
            "the middleware reports its backlog",
            r"^the middleware reports its backlog$",
            "Requires the SUT's `backlog` capability (settling waits for its backlog to empty); without it the scenario is skipped.",
            "Given the middleware reports its backlog",
            Capability("backlog"),
        ),
        // Load.
        s(
            T::Load,
            "a steady load of {rate} steps per second",
            concat!(
                r"^a steady load of ",
                num!("rate"),
                r" steps? (?:per second|/s)$"
            ),
            "The open-model arrival rate over all plants from the start (default 40 steps/s).",
            "Given a steady load of 50 steps per second",
            Setup(steady_load),
        ),
        s(
            T::Load,
            "a shift-change burst of {rate} steps per second at {at} for {for}",
            concat!(
                r"^a (?:shift-change )?burst of ",
                num!("rate"),
                r" steps? (?:per second|/s) at ",
                dur!("at"),
                " for ",
                dur!("for"),
                "$"
            ),
            "Raises the rate for a while, then returns to the rate before.",
            "Given a shift-change burst of 200 steps per second at 10s for 5s",
            Setup(burst_load),
        ),
        s(
            T::Load,
            "the load ramps to {rate} steps per second from {at} over {for}",
            concat!(
                r"^the load ramps to ",
                num!("rate"),
                r" steps? (?:per second|/s) from ",
                dur!("at"),
                " over ",
                dur!("for"),
                "$"
            ),
            "Rises linearly from the rate before, then holds.",
            "Given the load ramps to 120 steps per second from 5s over 10s",
            Setup(ramp_load),
        ),
        s(
            T::Load,
            "the load phases:",
            r"^the load phases:?$",
            "The whole load profile as a table: at, rate (`50/s`, `3000/min`), for, shape (constant, ramp, spike).",
            "Given the load phases:\n  | at  | rate  | for | shape |\n  | 0s  | 40/s  |     |       |\n  | 10s | 150/s | 5s  | spike |",
            Setup(load_table),
        ),
        s(
            T::Load,
            "the activity mix is ERP {a} %, MES {b} %, QMS {c} %, WMS {d} %",
            concat!(
                r"^the activity mix is ERP ",
                num!("erp"),
                r" ?%, MES ",
                num!("mes"),
                r" ?%, QMS ",
                num!("qms"),
                r" ?%,? (?:and )?WMS ",
                num!("wms"),
                r" ?%$"
            ),
            "Shares of the steps per system (default ERP 10 %, MES 60 %, QMS 15 %, WMS 15 %).",
            "Given the activity mix is ERP 10 %, MES 50 %, QMS 30 %, WMS 10 %",
            Setup(mix),
        ),
        // Faults.
        s(
            T::Faults,
            "the {system} is unavailable from {at} for {for} [with Retry-After {d}] / the {system} is unavailable with Retry-After {d} from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r" is unavailable (?:with Retry-After (?P<retry2>\d+(?:\.\d+)?\s*(?:ms|s|min)) )?",
                window!(),
                r"(?: with Retry-After (?P<retry>\d+(?:\.\d+)?\s*(?:ms|s|min)))?",
                share!(),
                "$"
            ),
            "Answers 503 (with `Retry-After` when given), like a cloud ERP in maintenance.",
            "Given the ERP is unavailable from 5s for 10s with Retry-After 2s",
            Setup(f_unavailable),
        ),
        s(
            T::Faults,
            "the {system} refuses connections from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                " refuses connections ",
                window!(),
                share!(),
                "$"
            ),
            "Refuses TCP connections (the service is down).",
            "Given the ERP refuses connections from 5s for 6s",
            Setup(f_refuse),
        ),
        s(
            T::Faults,
            "the {system} hangs from {at} for {for}",
            concat!(r"^the ", sys!(), " hangs ", window!(), share!(), "$"),
            "Accepts requests and never answers until the fault clears (the middleware's timeouts are on trial).",
            "Given the ERP hangs from 5s for 6s",
            Setup(f_hang),
        ),
        s(
            T::Faults,
            "the {system} answers slowly (median {d}) from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r" answers slowly \(median ",
                dur!("median"),
                r"\) ",
                window!(),
                share!(),
                "$"
            ),
            "Adds log-normal latency with this median.",
            "Given the ERP answers slowly (median 400ms) from 5s for 10s",
            Setup(f_slow),
        ),
        s(
            T::Faults,
            "the {system} allows only {n} calls per {per} from {at} [for {for}]",
            concat!(
                r"^the ",
                sys!(),
                r" allows only (?P<limit>\d+) calls? (?:per (?:second|(?P<per>\d+(?:\.\d+)?\s*(?:ms|s|min))) )?",
                window!(),
                "$"
            ),
            "Answers 429 with `Retry-After` above the limit (a Business-Central-like API limit).",
            "Given the ERP allows only 20 calls per second from 0s",
            Setup(f_throttle),
        ),
        s(
            T::Faults,
            "the {system} resets connections from {at} for {for} [on {p} % of calls]",
            concat!(
                r"^the ",
                sys!(),
                " resets connections ",
                window!(),
                share!(),
                r#"(?: (?:on|for) calls to "(?P<path>[^"]+)")?$"#
            ),
            "Drops the connection before processing.",
            "Given the ERP resets connections from 5s for 10s on 10 % of calls",
            Setup(f_reset),
        ),
        s(
            T::Faults,
            "the {system} commits but loses the answer from {at} for {for} [on {p} % of calls]",
            concat!(
                r"^the ",
                sys!(),
                " commits (?:postings |calls )?but loses the answer ",
                window!(),
                share!(),
                r#"(?: (?:on|for) calls to "(?P<path>[^"]+)")?$"#
            ),
            "Processes and commits the call, then drops the connection: the ambiguous outcome a retry must not double-post.",
            "Given the ERP commits but loses the answer from 5s for 20s on 20 % of calls",
            Setup(f_commit_then_reset),
        ),
        s(
            T::Faults,
            "the {system} rejects calls [to \"{path}\"] with {status} \"{code}\" from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r#" rejects calls(?: to "(?P<path>[^"]+)")? with (?P<status>\d{3})(?: "(?P<code>[a-z0-9-]+)")? "#,
                window!(),
                share!(),
                "$"
            ),
            "Answers a business error (default 422 `period-closed`) as problem+json.",
            "Given the ERP rejects calls to \"/api/v1/material-documents\" with 422 \"period-closed\" from 5s for 5s",
            Setup(f_reject),
        ),
        s(
            T::Faults,
            "the {system} expires tokens early from {at} for {for}",
            concat!(r"^the ", sys!(), " expires tokens early ", window!(), "$"),
            "Rejects valid tokens with 401 `unauthorized` (the middleware must fetch a new one and retry).",
            "Given the ERP expires tokens early from 5s for 10s",
            Setup(f_token_expiry),
        ),
        s(
            T::Faults,
            "the {system} sends events twice from {at} for {for} [on {p} % of events]",
            concat!(
                r"^the ",
                sys!(),
                " sends (?:every event|events) twice ",
                window!(),
                share!(),
                "$"
            ),
            "Delivers events again (at-least-once delivery): effects must still land once.",
            "Given the MES sends events twice from 5s for 20s on 30 % of events",
            Setup(f_duplicate),
        ),
        s(
            T::Faults,
            "the {system} reorders events in windows of {n} from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r" reorders events in windows of (?P<window>\d+) ",
                window!(),
                share!(),
                "$"
            ),
            "Holds events back and delivers each window out of order.",
            "Given the QMS reorders events in windows of 3 from 5s for 20s",
            Setup(f_reorder),
        ),
        s(
            T::Faults,
            "the {system} mixes in poison messages [(schema-invalid|unknown master data)] from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r" mixes in poison messages(?: \((?P<mode>schema-invalid|unknown master data|mixed)\))? ",
                window!(),
                share!(),
                "$"
            ),
            "Turns events into poison: schema-invalid payloads or unknown materials; the middleware must reject or dead-letter them without stopping.",
            "Given the MES mixes in poison messages from 5s for 20s on 5 % of events",
            Setup(f_poison),
        ),
        s(
            T::Faults,
            "the {system} emits {factor} times its load from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r" emits (?P<factor>\d+(?:\.\d+)?) times its (?:load|activity) ",
                window!(),
                "$"
            ),
            "Multiplies the system's generated activity (a shift-change burst at one source).",
            "Given the MES emits 4 times its load from 10s for 5s",
            Setup(f_burst),
        ),
        s(
            T::Faults,
            "the {system} [of plant {id}] clock runs {n} seconds ahead|behind from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r"(?: of plant (?P<plant>[A-Z0-9]{4}))? clock runs (?P<secs>\d+) seconds? (?P<dir>ahead|behind) ",
                window!(),
                "$"
            ),
            "Skews the timestamps the system writes.",
            "Given the QMS clock runs 90 seconds behind from 0s",
            Setup(f_clock_skew),
        ),
        s(
            T::Faults,
            "the {system} [of plant {id}] is cut off from the middleware from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                r"(?: of plant (?P<plant>[A-Z0-9]{4}))? is cut off from the middleware ",
                window!(),
                "$"
            ),
            "A plant network partition: the system cannot reach the middleware, buffers its events and floods them on heal.",
            "Given the MES is cut off from the middleware from 5s for 10s",
            Setup(f_partition),
        ),
        s(
            T::Faults,
            "the {system} container is paused from {at} for {for}",
            concat!(r"^the ", sys!(), " container is paused ", window!(), "$"),
            "Pauses the simulator's container (`--runtime containers`): connections are accepted by the kernel and hang until it is unpaused. In-process: a hang.",
            "Given the ERP container is paused from 5s for 6s",
            Setup(f_engine_pause),
        ),
        s(
            T::Faults,
            "the {system} container is stopped from {at} for {for}",
            concat!(r"^the ", sys!(), " container is stopped ", window!(), "$"),
            "Stops the simulator's container and starts it again (`--runtime containers`): connections are refused, the books survive the restart. In-process: refused connections.",
            "Given the ERP container is stopped from 5s for 6s",
            Setup(f_engine_stop),
        ),
        s(
            T::Faults,
            "the {system} container is disconnected from the plant network from {at} for {for}",
            concat!(
                r"^the ",
                sys!(),
                " container is disconnected from the plant network ",
                window!(),
                "$"
            ),
            "Disconnects the simulator's container from the run's network (`--runtime containers`): it cannot reach the middleware nor be reached, buffers its events and floods them on reconnect. In-process: a hang and a partition.",
            "Given the MES container is disconnected from the plant network from 5s for 10s",
            Setup(f_engine_disconnect),
        ),
        s(
            T::Faults,
            "the middleware is killed|restarted at {at} / the middleware is frozen at {at} for {for}",
            concat!(
                r"^the middleware is (?P<what>killed|restarted|frozen) at ",
                dur!("at"),
                "(?: for ",
                dur!("for"),
                ")?$"
            ),
            "SUT faults by the driver: SIGKILL and start again, SIGTERM and start again, or SIGSTOP for a while then SIGCONT.",
            "Given the middleware is killed at 12s",
            Setup(f_sut),
        ),
        s(
            T::Faults,
            "the faults:",
            r"^the faults:?$",
            "The fault timeline as a table: at, for, target (erp, mes, qms, wms, sut), kind, and any parameter of the kind (retry_after, limit, per, probability, path, window, mode, factor, …).",
            "Given the faults:\n  | at  | for | target | kind        | retry_after |\n  | 5s  | 10s | erp    | unavailable | 2s          |\n  | 20s |     | sut    | kill        |             |",
            Setup(faults_table),
        ),
        // Running.
        s(
            T::Running,
            "settling takes at most {d}",
            concat!(r"^settling takes at most ", dur!("d"), "$"),
            "Limits the wait for quiescence after the load (default 30 s).",
            "Given settling takes at most 45s",
            Setup(settle),
        ),
        s(
            T::Running,
            "held lots may take up to {d} to reach WMS and MES",
            concat!(
                r"^held lots may take up to ",
                dur!("d"),
                r" to reach (?:the )?WMS and MES$"
            ),
            "The hold grace of the safety check: a pick or consumption this soon after a hold is not counted as unsafe (default 60 s).",
            "Given held lots may take up to 30s to reach WMS and MES",
            Setup(hold_grace),
        ),
        s(
            T::Running,
            "the plants run for {d}",
            concat!(r"^the plants? runs? for ", dur!("d"), "$"),
            "Runs the scenario: simulators, the middleware, the load for this long with the faults, then settling; `Then` steps judge what was recorded. (A `Then` step runs the scenario for 20 s if no step has.)",
            "When the plants run for 30s",
            Run(run_for),
        ),
        // Checks.
        s(
            T::ExactlyOnce,
            "every acknowledged event has exactly one effect",
            r"^every acknowledged (?:source )?event has exactly one effect(?: where it must land)?$",
            "Exactly-once: no lost, duplicated or unexpected effect per business key (indeterminate outcomes accounted).",
            "Then every acknowledged event has exactly one effect",
            Check(exactly_once),
        ),
        s(
            T::ExactlyOnce,
            "no acknowledged event is lost",
            r"^no acknowledged event is lost$",
            "Every event the middleware acknowledged has its effects.",
            "Then no acknowledged event is lost",
            Check(not_lost),
        ),
        s(
            T::ExactlyOnce,
            "no business effect is posted twice",
            r"^no (?:business )?effect is posted twice$",
            "No event has its effect twice (a double goods movement, a second receipt).",
            "Then no business effect is posted twice",
            Check(not_duplicated),
        ),
        s(
            T::Reconciliation,
            "ERP stock reconciles with the plants' activity",
            r"^(?:the )?ERP stock reconciles with the plants?'? activity$",
            "ERP stock per plant, material, batch and stock type equals what the plants' true activity implies.",
            "Then ERP stock reconciles with the plants' activity",
            Check(stock_reconciles),
        ),
        s(
            T::Reconciliation,
            "lot status agrees across ERP, MES, QMS and WMS",
            r"^lot status agrees across (?:the )?ERP, MES, QMS and WMS$",
            "Every lot has the same status in every system once settled.",
            "Then lot status agrees across ERP, MES, QMS and WMS",
            Check(lots_agree),
        ),
        s(
            T::Latency,
            "the p{50|95|99}|max latency of \"{route}\" is at most {d} [while steady|during faults|in recovery]",
            concat!(
                r#"^the (?P<q>p50|p95|p99|max|maximum) latency of "(?P<route>[^"]+)" is at most "#,
                dur!("d"),
                r"(?: (?P<phase>while steady|during faults|in recovery))?$"
            ),
            "Propagation latency from the plant's intended send time to the first effect at the target (HDR histogram), over the whole run or one phase. Routes are named `<source>.<event> -> <target>`, such as `mes.consumed -> erp`.",
            "Then the p99 latency of \"mes.consumed -> erp\" is at most 5s while steady",
            Check(latency),
        ),
        s(
            T::Latency,
            "the p{50|95|99}|max latency of \"{route}\" exceeds {d}",
            concat!(
                r#"^the (?P<q>p50|p95|p99|max) latency of "(?P<route>[^"]+)" exceeds "#,
                dur!("d"),
                "$"
            ),
            "The budget is broken: for features that prove a slow middleware is caught.",
            "Then the p99 latency of \"qms.hold -> wms\" exceeds 5s",
            Check(latency_exceeded),
        ),
        s(
            T::Latency,
            "propagation latency stays within:",
            r"^propagation latency stays within:?$",
            "Several budgets as a table: route, phase (steady, during faults, recovery; empty: all), p50, p95, p99, max.",
            "Then propagation latency stays within:\n  | route               | phase  | p50 | p99 |\n  | mes.consumed -> erp | steady | 1s  | 5s  |\n  | qms.hold -> wms     |        |     | 5s  |",
            Check(latency_table),
        ),
        s(
            T::Latency,
            "the load threshold \"{t}\" holds",
            r#"^the load threshold "(?P<t>[^"]+)" holds$"#,
            "A k6-style threshold of `andon load` (`p99 < 2s on mes.consumed -> erp`, `ingress p99 < 300ms`, `error rate < 0.1 %`, `throughput >= 100/s`), measured from the intended send times over the run's load.",
            "Then the load threshold \"ingress p99 < 500ms\" holds",
            Check(threshold_holds),
        ),
        s(
            T::Latency,
            "the load thresholds hold:",
            r"^the load thresholds hold:?$",
            "Several thresholds as a table with a `threshold` column; every one must hold (one that cannot be measured does not).",
            "Then the load thresholds hold:\n  | threshold                        |\n  | p99 < 2s on mes.consumed -> erp  |\n  | error rate < 0.1 %               |",
            Check(threshold_table),
        ),
        s(
            T::Latency,
            "every backlog drains within {d} after its fault heals",
            concat!(
                r"^every backlog drains within ",
                dur!("d"),
                r" after its fault heals$"
            ),
            "Time to drain: from a fault's heal until every event emitted before it has its effects.",
            "Then every backlog drains within 30s after its fault heals",
            Check(drains),
        ),
        s(
            T::Contract,
            "every call the middleware makes honours the contract",
            r"^every call the middleware makes honou?rs the contract$",
            "Contract: schemas, idempotency keys, traceparent, source references, problem+json errors, Retry-After waits.",
            "Then every call the middleware makes honours the contract",
            Check(contract),
        ),
        s(
            T::Contract,
            "every call carries an idempotency key",
            r"^every (?:call|posting) carries an idempotency key$",
            "No call without `Idempotency-Key`.",
            "Then every call carries an idempotency key",
            Check(idempotency_keys),
        ),
        s(
            T::Contract,
            "every call carries a valid traceparent",
            r"^every call carries a valid traceparent$",
            "Every call has a W3C `traceparent` that continues the event's trace.",
            "Then every call carries a valid traceparent",
            Check(traceparents),
        ),
        s(
            T::Contract,
            "the middleware waits out every Retry-After",
            r"^the middleware waits out every Retry-After$",
            "No call to a system inside the wait its 429 or 503 asked for.",
            "Then the middleware waits out every Retry-After",
            Check(retry_after),
        ),
        s(
            T::Contract,
            "every error the middleware answers is problem+json",
            r"^every error the middleware answers is problem\+json$",
            "The middleware's own error answers to the plants are RFC 9457 problem details.",
            "Then every error the middleware answers is problem+json",
            Check(problem_json),
        ),
        s(
            T::Contract,
            "every call carries what its source event implies",
            r"^every call carries what its source event implies$",
            "Mapping: every field of every call (posting date, movement type, plant, storage location, material, batch, quantity in the base unit, order, operation, hold, sequence, status) is what `contracts/flows.yaml` derives from the source event, and no call is one the event's flow does not make.",
            "Then every call carries what its source event implies",
            Check(mapping),
        ),
        s(
            T::Contract,
            "no call is refused for another plant's scope",
            r"^no call is refused for another plant's (?:token )?scope$",
            "No call answered 403 `plant-scope`: every token the middleware uses covers the plant of the call (one token for all its plants, or one per plant).",
            "Then no call is refused for another plant's scope",
            Check(plant_scope),
        ),
        s(
            T::Safety,
            "no held or blocked lot is consumed or shipped",
            r"^no held or blocked lot is consumed or shipped$",
            "Safety: no consumption or pick of a lot on hold or blocked, beyond the hold grace.",
            "Then no held or blocked lot is consumed or shipped",
            Check(no_held_lot_used),
        ),
        s(
            T::Safety,
            "every rejected posting|event is dead-lettered / no posting into a closed period is silently dropped",
            r"^(?:every rejected (?:posting|event) is dead-lettered|no posting into a closed period is silently dropped)$",
            "A posting the target refused (a closed period, unknown master data) is dead-lettered or recovered, never silently dropped.",
            "Then every rejected posting is dead-lettered",
            Check(dead_lettered),
        ),
        s(
            T::Safety,
            "at least {n} event|events is|are dead-lettered",
            r"^at least (?P<n>\d+) events? (?:is|are) dead-lettered$",
            "The middleware's dead-letter list holds at least this many events.",
            "Then at least 1 event is dead-lettered",
            Check(dead_letters_at_least),
        ),
        s(
            T::Ordering,
            "no lot status is overwritten by a stale event",
            r"^no lot status is overwritten by a stale event$",
            "Ordering: per-lot changes applied in order; no late hold undoes a release, no release lands before its hold.",
            "Then no lot status is overwritten by a stale event",
            Check(no_stale_overwrite),
        ),
        s(
            T::Verdicts,
            "the {check} check (passes|fails|is unknown)",
            r"^the (?P<checker>exactly-once|reconciliation|SLA|latency|contract|mapping|safety|ordering) check (?P<status>passes|fails|is unknown)$",
            "Any checker's verdict, with every expectation on.",
            "Then the exactly-once check fails",
            Check(verdict_is),
        ),
        s(
            T::Verdicts,
            "the {check} check counts (at least|at most|more than|exactly) {n} {name} / the {check} check counts no {name}",
            r"^the (?P<checker>exactly-once|reconciliation|SLA|latency|contract|mapping|safety|ordering) check counts (?:(?P<op>at least|at most|more than|exactly) (?P<n>\d+)|no) (?P<name>[a-z_ -]+)$",
            "A count of a checker's verdict (`andon check` and verdict.json list them: lost, duplicated, stale_overwrites, missing_idempotency_key, …).",
            "Then the exactly-once check counts at least 1 duplicated",
            Check(verdict_count),
        ),
        s(
            T::Verdicts,
            "every check passes",
            r"^every check passes$",
            "Every checker of the run passed (none failed, none unknown).",
            "Then every check passes",
            Check(every_check_passes),
        ),
    ]
}

/// Steps a text matches, for a Gherkin step type: indices into [`library`].
pub fn matching(text: &str, ty: cucumber::gherkin::StepType) -> Vec<usize> {
    library()
        .iter()
        .zip(regexes())
        .enumerate()
        .filter(|(_, (d, re))| d.accepts(ty) && re.is_match(text))
        .map(|(i, _)| i)
        .collect()
}

/// The library steps closest to `text` (by the similarity of their example sentences).
pub fn closest(text: &str, n: usize) -> Vec<&'static StepDef> {
    fn words(s: &str) -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| c.is_whitespace() || c == '"')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    }
    let input = words(text);
    let mut scored: Vec<(f64, f64, &StepDef)> = library()
        .iter()
        .map(|d| {
            let ex = d.example.lines().next().unwrap_or("");
            let ex = ex.split_once(' ').map(|x| x.1).unwrap_or(ex);
            let mut vocab = words(ex);
            vocab.extend(words(d.text));
            // How well each word typed is covered by some word of the step (typos count
            // almost fully), then how close the whole sentences are.
            let coverage = input
                .iter()
                .map(|w| {
                    vocab
                        .iter()
                        .map(|v| strsim::normalized_levenshtein(w, v))
                        .fold(0.0, f64::max)
                })
                .sum::<f64>()
                / input.len().max(1) as f64;
            let whole = strsim::normalized_levenshtein(&text.to_lowercase(), &ex.to_lowercase());
            (coverage, whole, d)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    scored.into_iter().take(n).map(|x| x.2).collect()
}

/// Runs the step `ctx` matched: the cucumber entry point of every library step.
pub fn dispatch(
    w: &mut AndonWorld,
    ctx: cucumber::step::Context,
) -> futures::future::LocalBoxFuture<'_, ()> {
    Box::pin(async move {
        let step = ctx.step;
        let found = matching(&step.value, step.ty);
        let Some(&i) = found.first() else {
            panic!("no library step matches {:?}", step.value);
        };
        let def = &library()[i];
        let re = &regexes()[i];
        let Some(args) = Args::new(re, &step.value, step.table.as_ref()) else {
            panic!("internal: {:?} stopped matching", step.value);
        };
        let result = match def.action {
            Action::Setup(f) | Action::SelfTest(f) => f(w, &args),
            Action::Run(f) => match f(w, &args) {
                Ok(()) => w.run().await,
                e => e,
            },
            Action::Check(f) => match w.ensure_ran().await {
                Ok(()) => f(w, &args),
                e => e,
            },
            Action::Capability(_) => Ok(()),
        };
        // A step that does not hold panics (cucumber's only way to fail a step) with its
        // message marked, so that the console and the reports say "failed" or
        // "inconclusive", and keep "panicked" for real panics of andon.
        if let Err(msg) = result {
            if let Some(rest) = msg.strip_prefix(super::console::CONFIG) {
                panic!(
                    "{}{rest} (the step at line {}: {})",
                    super::console::CONFIG,
                    step.position.line,
                    step.value
                );
            }
            if msg.starts_with(super::console::INCONCLUSIVE) {
                panic!("{msg}");
            }
            panic!("{}{msg}", super::console::FAILED);
        }
    })
}

/// The library as text (`andon steps`) or Markdown (`docs/steps.md`).
pub fn render(markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("# The andon step library\n\n");
        out.push_str("Generated by `andon docs steps`; `cargo test` fails when this file and the code disagree.\n");
        out.push_str("`Given` steps may also be written as `When` (and the run step as `Given`); `And` and `But` take the keyword before them.\n");
        out.push_str("Durations are written `500ms`, `5s`, `2 minutes`; systems are `ERP`, `MES`, `QMS`, `WMS`.\n");
    }
    for topic in Topic::ALL {
        let steps: Vec<&StepDef> = library().iter().filter(|d| d.topic == topic).collect();
        if steps.is_empty() {
            continue;
        }
        if markdown {
            out.push_str(&format!("\n## {}\n", topic.title()));
        } else {
            out.push_str(&format!(
                "\n{}\n{}\n",
                topic.title(),
                "=".repeat(topic.title().len())
            ));
        }
        for d in steps {
            if markdown {
                out.push_str(&format!(
                    "\n### {} {}\n\n{}\n\n```gherkin\n{}\n```\n",
                    d.keyword(),
                    d.text.replace('|', "\\|"),
                    d.doc,
                    d.example
                ));
            } else {
                out.push_str(&format!("\n  {} {}\n    {}\n", d.keyword(), d.text, d.doc));
                for line in d.example.lines() {
                    out.push_str(&format!("    e.g. {line}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cucumber::gherkin::StepType;

    fn ty_of(example: &str) -> StepType {
        match example.split(' ').next() {
            Some("Given") => StepType::Given,
            Some("When") => StepType::When,
            _ => StepType::Then,
        }
    }

    #[test]
    fn every_example_matches_its_own_step_and_no_other() {
        for (i, d) in library().iter().enumerate() {
            let first = d.example.lines().next().unwrap();
            let (_, text) = first.split_once(' ').unwrap();
            let found = matching(text, ty_of(first));
            assert_eq!(
                found,
                vec![i],
                "{:?} matches {:?}",
                first,
                found.iter().map(|j| library()[*j].text).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn durations_read_as_business_language() {
        assert_eq!(dur_text("5s").unwrap(), "5000ms");
        assert_eq!(dur_text("500 ms").unwrap(), "500ms");
        assert_eq!(dur_text("2 minutes").unwrap(), "120000ms");
        assert_eq!(dur_text("1.5s").unwrap(), "1500ms");
        assert!(dur_text("5 parsecs").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn the_closest_step_to_a_typo_is_the_intended_one() {
        let c = closest("the ERP is unavaliable from 5s for 10s", 3);
        assert_eq!(
            c[0].text,
            "the {system} is unavailable from {at} for {for} [with Retry-After {d}] / the {system} is unavailable with Retry-After {d} from {at} for {for}"
        );
    }

    #[test]
    fn steps_build_the_scenario_document() {
        let mut w = AndonWorld {
            slug: "s".into(),
            title: "t".into(),
            ..Default::default()
        };
        for (ty, text) in [
            (
                StepType::Given,
                "plant 2000 with 2 lines making 8 materials in batch mode",
            ),
            (
                StepType::Given,
                "the ERP is unavailable from 5s for 10s with Retry-After 2s",
            ),
            (
                StepType::Given,
                "the ERP commits but loses the answer from 5s for 20s on 20 % of calls",
            ),
            (StepType::Given, "the middleware is frozen at 10s for 3s"),
            (StepType::Given, "the MES ignores idempotency keys"),
            (StepType::Given, "a steady load of 50 steps per second"),
        ] {
            let i = matching(text, ty)[0];
            let args = Args::new(&regexes()[i], text, None).unwrap();
            let Action::Setup(f) = library()[i].action else {
                panic!("{text}")
            };
            f(&mut w, &args).unwrap();
        }
        let d = w.scenario_doc();
        assert_eq!(
            d["plants"][0],
            json!({"id": "2000", "lines": 2, "materials": 8, "profile": "batch"})
        );
        assert_eq!(
            d["faults"][0],
            json!({"at": "5000ms", "for": "10000ms", "target": "erp", "kind": "unavailable", "retry_after": "2000ms"})
        );
        assert_eq!(d["faults"][1]["probability"], json!(0.2));
        assert_eq!(
            d["faults"][2],
            json!({"at": "10000ms", "for": "3000ms", "target": "sut", "kind": "pause"})
        );
        assert_eq!(d["options"]["mes"]["idempotency"], json!(false));
        assert_eq!(d["load"][0]["rate"], "50/s");
    }
}
