//! The world of one Gherkin scenario: the scenario it is building (plants, load, faults,
//! options, the SUT), then the run and what it recorded, which `Then` steps judge.
//!
//! Steps never talk to simulators themselves: `Given` steps fill a scenario document of
//! the same shape as a `scenarios/*.yaml` file, the run step writes it out and hands it to
//! the scenario engine (so a feature is refused exactly where a scenario file would be),
//! and `Then` steps re-run one checker on the recorded run with the settings they name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::check::{Checker, Expect, RunData, Status, Verdict};
use crate::engine::run::{RunOptions, RunOutcome};

/// What every scenario of one `andon test` shares.
#[derive(Debug, Clone)]
pub struct TestContext {
    /// The SUT manifest given on the command line (`None`: the bundled middleware).
    pub sut: Option<PathBuf>,
    /// Capabilities the SUT declares.
    pub capabilities: Vec<String>,
    /// Where run directories and scenario files go.
    pub report_dir: PathBuf,
    /// The program `{andon}` names in manifests.
    pub andon: Option<PathBuf>,
    /// Where the simulators and the SUT run.
    pub runtime: crate::engine::runtime::RuntimeKind,
    /// The dialect every plant's ERP speaks, whatever the steps say.
    pub erp_dialect: Option<andon_simulators::dialect::Binding>,
    /// `andon test --transport`.
    pub transport: Option<crate::sut::Transport>,
}

/// A finished run, and the recorded history loaded for the checkers.
pub struct Ran {
    /// What the engine wrote.
    pub outcome: RunOutcome,
    /// The run directory read back.
    pub data: RunData,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ran({})", self.outcome.dir.display())
    }
}

/// The world of one scenario.
#[derive(Debug, Default)]
pub struct AndonWorld {
    /// Shared settings (set by the before-hook).
    pub ctx: Option<Arc<TestContext>>,
    /// Feature file the scenario is in.
    pub feature_file: Option<PathBuf>,
    /// File-safe name of the scenario, unique within the run.
    pub slug: String,
    /// Human name (`Feature: Scenario`).
    pub title: String,
    /// Plants (`{id, lines, materials, profile}`).
    pub plants: Vec<Value>,
    /// Master data file (absolute).
    pub data: Option<PathBuf>,
    /// Seed (default: derived from the scenario's name).
    pub seed: Option<u64>,
    /// Business time per wall time.
    pub time_scale: Option<f64>,
    /// Load phases.
    pub load: Vec<Value>,
    /// Shares of the activity per system.
    pub mix: Option<Value>,
    /// The fault timeline.
    pub faults: Vec<Value>,
    /// Vendor upgrades cut over during the run (`{at, plant, erp}`).
    pub upgrades: Vec<Value>,
    /// The transport every plant's events take (`mqtt`), when a step says.
    pub transport: Option<String>,
    /// How the run's broker is set up (`stale_retained`, …).
    pub broker: Map<String, Value>,
    /// Instances of the SUT side by side, when a step says.
    pub instances: Option<u32>,
    /// Per-system options (`erp` → `{idempotency: false, …}`).
    pub options: BTreeMap<String, Map<String, Value>>,
    /// Settle limit.
    pub settle: Option<String>,
    /// Safety's hold grace.
    pub hold_grace: Option<String>,
    /// Defects of the bundled middleware.
    pub defects: Vec<String>,
    /// A manifest named by the scenario itself.
    pub sut: Option<PathBuf>,
    /// How long the load lasts.
    pub duration: Option<String>,
    /// The run, once made.
    pub ran: Option<Ran>,
}

impl cucumber::World for AndonWorld {
    type Error = std::convert::Infallible;

    async fn new() -> Result<Self, Self::Error> {
        Ok(Self::default())
    }
}

/// Result of a step: `Err` is the message the step fails with.
pub type StepResult = Result<(), String>;

impl AndonWorld {
    /// The shared settings.
    pub fn ctx(&self) -> Result<&TestContext, String> {
        self.ctx
            .as_deref()
            .ok_or_else(|| "internal: the scenario has no test context".to_string())
    }

    /// A path written in a feature, relative to the feature file's directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let base = self
            .feature_file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let here = base.join(p);
        if here.exists() { here } else { p.to_path_buf() }
    }

    /// The options of `system`, to change.
    pub fn options_of(&mut self, system: &str) -> &mut Map<String, Value> {
        self.options.entry(system.to_string()).or_default()
    }

    /// Fails once the run has been made: the scenario can no longer change.
    pub fn before_run(&self, what: &str) -> StepResult {
        if self.ran.is_some() {
            return Err(format!(
                "{what}: the plants have already run; put set-up steps before the step that runs them"
            ));
        }
        Ok(())
    }

    /// The scenario document (the shape of a `scenarios/*.yaml` file).
    pub fn scenario_doc(&self) -> Value {
        let plants = if self.plants.is_empty() && self.data.is_none() {
            vec![json!({ "id": "1000", "lines": 2, "materials": 10, "profile": "discrete" })]
        } else {
            self.plants.clone()
        };
        let load = if self.load.is_empty() {
            vec![json!({ "at": "0s", "rate": "40/s" })]
        } else {
            self.load.clone()
        };
        let mut doc = json!({
            "name": self.slug,
            "description": self.title,
            "seed": self.seed.unwrap_or_else(|| seed_of(&self.title)),
            "plants": plants,
            "duration": self.duration.clone().unwrap_or_else(|| "20s".into()),
            "time_scale": self.time_scale.unwrap_or(60.0),
            "load": load,
            "faults": self.faults,
            "options": self.options,
            "settle": self.settle.clone().unwrap_or_else(|| "30s".into()),
            "expect": {
                "exactly_once": true,
                "reconcile": ["inventory", "lot_status"],
                "contract": true,
                "ordering": true,
                "safety": { "hold_grace": self.hold_grace.clone().unwrap_or_else(|| "60s".into()) },
            },
        });
        if let Some(m) = &self.mix {
            doc["mix"] = m.clone();
        }
        if !self.upgrades.is_empty() {
            doc["upgrades"] = json!(self.upgrades);
        }
        if let Some(t) = &self.transport {
            doc["transport"] = json!(t);
        }
        if !self.broker.is_empty() {
            doc["broker"] = json!(self.broker);
        }
        if let Some(n) = self.instances {
            doc["instances"] = json!(n);
        }
        if let Some(d) = &self.data {
            doc["data"] = json!(d.display().to_string());
        }
        if self.plants.is_empty() && self.data.is_some() {
            doc["plants"] = json!([]);
        }
        doc
    }

    /// Writes the scenario out and runs it through the engine, once.
    pub async fn run(&mut self) -> StepResult {
        if self.ran.is_some() {
            return Err("the plants have already run once in this scenario".into());
        }
        let ctx = self.ctx()?.clone();
        let scenarios = ctx.report_dir.join("scenarios");
        std::fs::create_dir_all(&scenarios)
            .map_err(|e| format!("cannot create {}: {e}", scenarios.display()))?;
        let file = scenarios.join(format!("{}.yaml", self.slug));
        let mut doc = self.scenario_doc();
        if let Some(t) = ctx.transport
            && doc.get("transport").is_none_or(|v| v.is_null())
        {
            doc["transport"] = json!(t.as_str());
        }
        if let (Some(b), Some(plants)) = (&ctx.erp_dialect, doc["plants"].as_array_mut()) {
            for p in plants {
                p["erp"] = json!(b.to_string());
            }
            if let Some(d) = doc.get_mut("upgrades") {
                // The suite runs against one release: an upgrade step would leave it.
                *d = json!([]);
            }
        }
        let yaml = serde_norway::to_string(&doc)
            .map_err(|e| format!("internal: the scenario does not serialize: {e}"))?;
        let text = format!(
            "# {}\n# Written by `andon test` from the steps of the scenario.\n{yaml}",
            self.title
        );
        std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let opts = RunOptions {
            scenario: file.clone(),
            sut: self.sut.clone().or(ctx.sut.clone()),
            defects: self.defects.clone(),
            report_dir: Some(ctx.report_dir.join("runs").join(&self.slug)),
            master: None,
            progress: false,
            andon: ctx.andon.clone(),
            runtime: ctx.runtime,
            load: None,
            // `andon test --dialect` is applied to the scenario text above.
            erp_dialect: None,
            transport: None,
        };
        if opts.sut.is_some() && !opts.defects.is_empty() {
            return Err("defects belong to the bundled reference middleware; this scenario runs another SUT".into());
        }
        // Each run is driven on a thread of its own (its tasks on the runtime's workers), so
        // that scenarios running side by side do not share the thread that polls the steps.
        let handle = tokio::runtime::Handle::current();
        let outcome =
            tokio::task::spawn_blocking(move || handle.block_on(crate::engine::run::run(&opts)))
                .await
                .map_err(|e| format!("internal: the run panicked: {e}"))?
                .map_err(|e| {
                    let msg = format!("the scenario could not run: {e}");
                    // A scenario or manifest refused: the feature is wrong, not the SUT.
                    if e.is_usage() {
                        super::console::config(msg)
                    } else {
                        msg
                    }
                })?;
        if let crate::report::Exit::Error(why) = &outcome.report.exit {
            return Err(format!(
                "the run ended in an error: {why} (run directory {})",
                outcome.dir.display()
            ));
        }
        let data =
            RunData::load(&outcome.dir).map_err(|e| format!("cannot read the run back: {e}"))?;
        self.ran = Some(Ran { outcome, data });
        Ok(())
    }

    /// Runs the scenario if no step has yet.
    pub async fn ensure_ran(&mut self) -> StepResult {
        if self.ran.is_none() {
            self.run().await?;
        }
        Ok(())
    }

    /// Runs `checker` on the recorded run with `tweak` applied to the expectations.
    pub fn judge(
        &mut self,
        checker: &dyn Checker,
        tweak: impl FnOnce(&mut Expect),
    ) -> Result<Verdict, String> {
        let ran = self
            .ran
            .as_mut()
            .ok_or_else(|| "internal: judged before the run".to_string())?;
        let saved = ran.data.expect.clone();
        tweak(&mut ran.data.expect);
        let v = checker.check(&ran.data);
        ran.data.expect = saved;
        Ok(v)
    }

    /// Where the run went, for messages.
    pub fn run_dir(&self) -> String {
        self.ran
            .as_ref()
            .map(|r| r.outcome.dir.display().to_string())
            .unwrap_or_else(|| "(not run)".into())
    }
}

/// Requires `want` of a verdict, or explains it in plain language.
pub fn require(w: &AndonWorld, v: &Verdict, want: Status) -> StepResult {
    if v.status == want {
        return Ok(());
    }
    Err(explain(
        w,
        v,
        &format!(
            "expected the {} check to {}, but it was {}",
            v.checker,
            status_verb(want),
            v.status.as_str().to_ascii_uppercase()
        ),
    ))
}

/// `pass`, `fail`, `be unknown`.
pub fn status_verb(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Unknown => "be unknown",
    }
}

/// A failure message: the headline, then the verdict it rests on (status and reason, the
/// non-zero counts, the first witnesses) and where the run is. A verdict that is unknown
/// makes the message inconclusive (never a pass, and not a failure of the middleware).
pub fn explain(w: &AndonWorld, v: &Verdict, headline: &str) -> String {
    if v.status == Status::Unknown {
        return inconclusive(w, v, headline);
    }
    describe_verdict(w, v, headline)
}

/// An inconclusive message: the step's property was not exercised, so it cannot pass.
pub fn inconclusive(w: &AndonWorld, v: &Verdict, headline: &str) -> String {
    format!(
        "{}{}",
        super::console::INCONCLUSIVE,
        describe_verdict(w, v, headline)
    )
}

fn describe_verdict(w: &AndonWorld, v: &Verdict, headline: &str) -> String {
    let mut out = format!(
        "{headline}\n  the {} check: {}",
        v.checker,
        v.status.as_str().to_ascii_uppercase()
    );
    if let Some(r) = v.reason.as_deref().filter(|r| !r.is_empty()) {
        out.push_str(&format!(" — {r}"));
    }
    let counts: Vec<String> = v
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !counts.is_empty() {
        out.push_str(&format!("\n  counts: {}", counts.join(", ")));
    }
    for wi in v.witnesses.iter().take(5) {
        out.push_str(&format!("\n  - expected {}; {}", wi.expected, wi.happened));
        if let Some(t) = &wi.trace_id {
            out.push_str(&format!(" (trace {t})"));
        }
    }
    if v.witnesses.len() > 5 {
        out.push_str(&format!(
            "\n  … and {} more witnesses",
            v.witnesses.len() - 5
        ));
    }
    out.push_str(&format!("\n  run directory: {}", w.run_dir()));
    out
}

/// A stable seed from a scenario's name (FNV-1a), so a feature replays the same traffic.
pub fn seed_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % 1_000_000
}

/// A file-safe slug of `text`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.truncate(60);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_safe_and_seeds_stable() {
        assert_eq!(
            slug("ERP outage: 503 & Retry-After!"),
            "erp-outage-503-retry-after"
        );
        assert_eq!(seed_of("a"), seed_of("a"));
        assert_ne!(seed_of("a"), seed_of("b"));
    }

    #[test]
    fn the_default_scenario_is_one_plant_at_a_steady_load() {
        let w = AndonWorld {
            slug: "s".into(),
            title: "t".into(),
            ..Default::default()
        };
        let d = w.scenario_doc();
        assert_eq!(d["plants"][0]["id"], "1000");
        assert_eq!(d["load"][0]["rate"], "40/s");
        assert_eq!(d["expect"]["reconcile"], json!(["inventory", "lot_status"]));
    }
}
