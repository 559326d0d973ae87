//! Scenarios: named multi-plant runs in YAML — plants, seed, duration, `time_scale`, an
//! open-model load profile, a fault timeline, per-system options, a settle limit and the
//! expectations the checkers judge.
//!
//! A scenario with a type error, an unknown key, an unknown fault kind or an impossible
//! timeline is refused before anything starts, every problem as
//! `FILE:LINE:COLUMN: what was expected`.
//!
//! * [`model`] — the types ([`PlantEntry`], [`LoadPhase`], [`Rate`], [`TimedFault`], …).
//! * `loader` — text → typed document → faults converted by hand → checks.
//! * `fault_entry` — one entry of `faults:` as a timed fault, each problem where it is.
//! * `fault_params` — what a simulator fault takes, learnt from its types.
//! * `validate` — the checks serde cannot make (timeline, options, SLA routes).
//! * [`profile`] — the load profile as a function of wall time.
//! * `yaml` — line and column of any node, for the messages.
//!
//! ```
//! use std::time::Duration;
//! use andon::scenario::Scenario;
//!
//! let s = Scenario::parse(
//!     "name: demo\nplants: [{ id: \"1000\", lines: 2, materials: 5 }]\nduration: 20s\n\
//!      load: [{ at: 0s, rate: 30/s }, { at: 10s, for: 5s, rate: 3000/min }]\n",
//!     "demo.yaml",
//! )
//! .unwrap();
//! assert_eq!(s.rate_at(Duration::from_secs(12)), 50.0);
//! assert_eq!(s.rate_at(Duration::from_secs(16)), 30.0);
//! ```

/// A path into the YAML document: `ypath!["faults", 3, "at"]`.
macro_rules! ypath {
    ($($seg:expr),* $(,)?) => {
        vec![$($crate::scenario::yaml::IntoSeg::into_seg($seg)),*]
    };
}
#[allow(unused_imports)]
pub(crate) use ypath;

mod broker;
mod dialects;
mod error;
mod fault_entry;
mod fault_params;
mod loader;
pub mod model;
pub mod profile;
pub mod threshold;
pub mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::core::ConfigPatch;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec};
use andon_simulators::masterdata::{MasterDataError, PlantSpec};
use andon_simulators::{MasterData, SimConfig};
use serde::Serialize;

pub use crate::history::Expect;
pub use broker::BrokerOptions;
pub use error::{Problem, ScenarioError};
pub use model::{
    BrokerFault, BrokerFaultKind, EngineFault, EngineFaultKind, FaultAction, LoadPhase, Mix,
    Options, Per, PlantEntry, Rate, RateError, Shape, SutFault, SutFaultKind, SystemOptions,
    Target, TimedFault, Upgrade,
};
pub use threshold::Threshold;
pub use yaml::MAX_FLOW_DEPTH;

/// Whether an SLA route reads `<system>.<event> -> <system>` (`"qms.hold -> wms"`).
pub fn route_is_well_formed(route: &str) -> bool {
    validate::route_ok(route)
}

/// A checked scenario. Past [`Scenario::parse`] the engine may trust it: the load has at
/// least one phase, phases are in order and do not overlap, rates are above 0, every fault
/// starts before the load ends and ends before the settle limit, SUT faults do not
/// overlap, options apply to their system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Name (a slug; names the run directory).
    pub name: String,
    /// What it imitates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seed of every generated value and chance decision (default 42).
    pub seed: u64,
    /// Plants to generate master data for (empty when `data` is given).
    pub plants: Vec<PlantEntry>,
    /// Master data file instead of generating, relative to the scenario's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// How long the load runs (wall time).
    pub duration: Dur,
    /// Business time runs this many times faster than wall time (default 1).
    pub time_scale: f64,
    /// The load profile.
    pub load: Vec<LoadPhase>,
    /// Shares of the steps per system (default: [`Mix::default`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix: Option<Mix>,
    /// The fault timeline, in file order.
    pub faults: Vec<TimedFault>,
    /// Per-system switches.
    pub options: Options,
    /// Longest wait for quiescence once the load has ended (default 30 s).
    pub settle: Dur,
    /// What the checkers judge.
    pub expect: Expect,
    /// Thresholds of a load run (`andon load`): they decide its exit code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Threshold>,
    /// Vendor upgrades cut over during the run, in time order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<Upgrade>,
    /// The transport every plant's events take, for each system whose events the SUT
    /// consumes over it (`mqtt`: published to the run's broker); a plant's own
    /// `transport` wins. Default: the SUT manifest's first (webhooks when it takes them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<crate::sut::Transport>,
    /// The run's MQTT broker, when a plant publishes to one.
    #[serde(skip_serializing_if = "BrokerOptions::is_default")]
    pub broker: BrokerOptions,
    /// Instances of the SUT started side by side (default 1, at most 8): each with its own
    /// `{sut.port}` and `{sut.instance}`, all consuming from the broker (behind one shared
    /// subscription, when the SUT is right); webhooks and the SUT faults go to the first.
    #[serde(skip_serializing_if = "is_one")]
    pub instances: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Scenario {
    /// Reads and checks a scenario file; a `data` file is loaded and checked too (relative
    /// to the scenario's folder).
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            file: file.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        loader::parse(&text, &file, Some(base))
    }

    /// Parses and checks scenario text; `file` names it in messages. Touches no file (a
    /// `data` file is not opened: see [`Scenario::load`]).
    pub fn parse(text: &str, file: &str) -> Result<Self, ScenarioError> {
        loader::parse(text, file, None)
    }

    /// The master data of the run: the `data` file (relative to `base_dir`, the scenario's
    /// folder) or data generated from the seed for `plants`; `options.erp.open_periods`,
    /// when given, replaces the open periods.
    pub fn master_data(&self, base_dir: &Path) -> Result<MasterData, MasterDataError> {
        let mut md = match &self.data {
            Some(data) => MasterData::load(&base_dir.join(data))?,
            None => MasterData::generate(self.seed, &self.plant_specs()),
        };
        if let Some(periods) = &self.options.erp.open_periods {
            md.open_periods = periods.clone();
        }
        Ok(md)
    }

    /// What master-data generation needs for each plant.
    pub fn plant_specs(&self) -> Vec<PlantSpec> {
        self.plants.iter().map(PlantEntry::spec).collect()
    }

    /// Steps of plant activity per second at wall time `t` since the load started (all
    /// plants, all systems; 0 from `duration` on). See [`profile`].
    pub fn rate_at(&self, t: Duration) -> f64 {
        if self.load.iter().all(|p| p.per == Per::All) {
            return profile::rate_at(&self.load, self.duration.0, t);
        }
        profile::rate_at(&self.aggregated_load(), self.duration.0, t)
    }

    /// Steps the load profile schedules in all.
    pub fn expected_steps(&self) -> f64 {
        profile::expected_steps(&self.aggregated_load(), self.duration.0)
    }

    /// The load phases with every rate over all plants (a `per: plant` rate multiplied by
    /// the number of plants).
    pub fn aggregated_load(&self) -> Vec<LoadPhase> {
        let plants = self.plants.len().max(1) as f64;
        self.load
            .iter()
            .map(|p| match p.per {
                Per::All => p.clone(),
                Per::Plant => LoadPhase {
                    rate: Rate(p.rate.0 * plants),
                    per: Per::All,
                    ..p.clone()
                },
            })
            .collect()
    }

    /// The shares of steps per system.
    pub fn mix(&self) -> Mix {
        self.mix.unwrap_or_default()
    }

    /// Rate multiplier of `system`'s activity at wall time `t`: the product of the factors
    /// of the `burst` faults on it in force then (1 when none). `burst` multiplies
    /// generation, which the load driver does, so the driver applies it.
    pub fn burst_factor(&self, system: System, t: Duration) -> f64 {
        self.faults
            .iter()
            .filter(|f| f.target.system() == Some(system) && f.in_force_at(t, self.duration.0))
            .filter_map(|f| match &f.spec {
                FaultAction::Simulator(FaultSpec {
                    kind: FaultKind::Burst { factor },
                    ..
                }) => Some(*factor),
                _ => None,
            })
            .product()
    }

    /// The load time plus the settle limit: nothing of the run lasts longer.
    pub fn run_limit(&self) -> Duration {
        self.duration.0 + self.settle.0
    }

    /// Faults on simulators, with their system, in file order.
    pub fn simulator_faults(&self) -> impl Iterator<Item = (Dur, System, &FaultSpec)> {
        self.faults
            .iter()
            .filter_map(|f| match (&f.spec, f.target.system()) {
                (FaultAction::Simulator(spec), Some(sys)) => Some((f.at, sys, spec)),
                _ => None,
            })
    }

    /// Faults on the SUT, in file order.
    pub fn sut_faults(&self) -> impl Iterator<Item = (Dur, SutFault)> {
        self.faults.iter().filter_map(|f| match &f.spec {
            FaultAction::Sut(s) => Some((f.at, *s)),
            FaultAction::Simulator(_) | FaultAction::Engine(_) | FaultAction::Broker(_) => None,
        })
    }

    /// Faults on the run's MQTT broker, in file order.
    pub fn broker_faults(&self) -> impl Iterator<Item = (Dur, BrokerFault)> {
        self.faults.iter().filter_map(|f| match &f.spec {
            FaultAction::Broker(b) => Some((f.at, *b)),
            _ => None,
        })
    }

    /// Faults through the container engine on simulators, with their system, in file order.
    pub fn engine_faults(&self) -> impl Iterator<Item = (Dur, System, EngineFault)> {
        self.faults
            .iter()
            .filter_map(|f| match (&f.spec, f.target.system()) {
                (FaultAction::Engine(e), Some(sys)) => Some((f.at, sys, *e)),
                _ => None,
            })
    }

    /// The settings `system`'s simulator starts with: the run's seed and `time_scale`, and
    /// the scenario's options for it.
    pub fn sim_config(&self, system: System) -> SimConfig {
        let o = self.options.of(system);
        let mut c = SimConfig {
            seed: self.seed,
            time_scale: self.time_scale,
            ..SimConfig::default()
        };
        if let Some(i) = o.idempotency {
            c.idempotency = i;
        }
        if let Some(a) = o.auth {
            c.auth.enabled = a;
        }
        if let Some(t) = o.over_confirmation_tolerance_pct {
            c.over_confirmation_tolerance_pct = t;
        }
        if let Some(b) = o.buffer_capacity {
            c.emitter.capacity = b;
        }
        if let Some(l) = o.lanes {
            c.emitter.lanes = l;
        }
        if let Some(a) = &o.activity {
            c.activity = a.clone();
        }
        if system == System::Erp {
            c.dialects = self.erp_dialects();
        }
        c
    }

    /// The vendor dialect of each plant's ERP that speaks one.
    pub fn erp_dialects(&self) -> andon_simulators::dialect::Dialects {
        self.plants
            .iter()
            .filter_map(|p| Some((p.id.clone(), p.erp.clone()?)))
            .filter(|(_, b)| b.dialect.per_plant())
            .collect()
    }

    /// The run-time switches of `system` (`PUT /_andon/config`), only those the scenario
    /// sets.
    pub fn config_patch(&self, system: System) -> ConfigPatch {
        let o = self.options.of(system);
        ConfigPatch {
            idempotency: o.idempotency,
            auth: o.auth,
            open_periods: o.open_periods.clone(),
            over_confirmation_tolerance_pct: o.over_confirmation_tolerance_pct,
            // Every plant's, so that a simulator kept from an earlier scenario forgets its.
            dialects: (system == System::Erp).then(|| {
                self.plants
                    .iter()
                    .map(|p| (p.id.clone(), p.erp.clone().unwrap_or_default()))
                    .collect()
            }),
        }
    }

    /// The cut-overs of the run: at each time, the ERP's switches that carry it out.
    pub fn cutovers(&self) -> impl Iterator<Item = (Dur, ConfigPatch)> + '_ {
        self.upgrades.iter().map(|u| {
            let patch = ConfigPatch {
                dialects: Some([(u.plant.clone(), u.erp.clone())].into()),
                ..ConfigPatch::default()
            };
            (u.at, patch)
        })
    }

    /// [`Scenario::sim_config`] for every simulator.
    pub fn sim_configs(&self) -> BTreeMap<System, SimConfig> {
        System::ALL
            .into_iter()
            .map(|s| (s, self.sim_config(s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name: cloud-erp-downtime-at-shift-change
seed: 7
plants:
  - { id: "1000", lines: 3, materials: 20, profile: discrete }
  - { id: "2000", lines: 2, materials: 8, profile: batch }
duration: 60s
time_scale: 480
load:
  - { at: 0s, rate: 50/s }
  - { at: 20s, for: 10s, rate: 500/s }
faults:
  - { at: 15s, for: 20s, target: erp, kind: unavailable, retry_after: 5s }
  - { at: 40s, for: 10s, target: mes, kind: duplicate, probability: 0.2, plant: 2000 }
  - { at: 30s, target: sut, kind: kill }
  - { at: 45s, for: 3s, target: sut, kind: pause }
  - { at: 10s, for: 20s, target: mes, kind: burst, factor: 3 }
options:
  erp: { idempotency: false, auth: true, open_periods: ["2026/11"], buffer_capacity: 500 }
  qms: { activity: { hold_rate: 0.3 } }
settle: 20s
expect:
  exactly_once: true
  sla:
    - { route: "qms.hold -> wms", p99: 2s }
"#;

    fn problems(text: &str) -> Vec<String> {
        match Scenario::parse(text, "t.yaml") {
            Ok(_) => panic!("expected problems"),
            Err(e) => e.problems().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_full_scenario_parses_into_the_model() {
        let s = Scenario::parse(OK, "t.yaml").unwrap();
        assert_eq!(s.seed, 7);
        assert_eq!(s.plants.len(), 2);
        assert_eq!(s.faults.len(), 5);
        assert_eq!(
            s.faults[2].spec,
            FaultAction::Sut(SutFault {
                kind: SutFaultKind::Kill,
                duration: None
            })
        );
        match &s.faults[1].spec {
            FaultAction::Simulator(spec) => {
                assert_eq!(spec.probability, Some(0.2));
                assert_eq!(spec.plant.as_ref().map(|p| p.as_str()), Some("2000"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.rate_at(Duration::from_secs(25)), 500.0);
        assert_eq!(s.rate_at(Duration::from_secs(31)), 50.0);
        assert_eq!(s.burst_factor(System::Mes, Duration::from_secs(15)), 3.0);
        assert_eq!(s.burst_factor(System::Mes, Duration::from_secs(35)), 1.0);
        let erp = s.sim_config(System::Erp);
        assert!(!erp.idempotency && erp.auth.enabled);
        assert_eq!(erp.emitter.capacity, 500);
        assert_eq!(erp.time_scale, 480.0);
        assert_eq!(s.sim_config(System::Qms).activity.hold_rate, 0.3);
        assert_eq!(
            s.config_patch(System::Erp).open_periods,
            Some(vec!["2026/11".to_string()])
        );
        let md = s.master_data(Path::new(".")).unwrap();
        assert_eq!(md.open_periods, vec!["2026/11".to_string()]);
        assert_eq!(md.plants.len(), 2);
        assert_eq!(s.run_limit(), Duration::from_secs(80));
        assert_eq!(s.mix(), Mix::default());
    }

    #[test]
    fn the_model_serialises_back_to_a_document_that_parses_the_same() {
        let s = Scenario::parse(OK, "t.yaml").unwrap();
        let yaml = serde_norway::to_string(&s).unwrap();
        let back = Scenario::parse(&yaml, "back.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(back, s);
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let text = OK.replace("time_scale: 480", "time_scale: fast");
        assert_eq!(
            problems(&text),
            ["t.yaml:8:13: time_scale: invalid type: string \"fast\", expected f64"]
        );
        let text = OK.replace("duration: 60s", "duration: soon");
        let p = problems(&text);
        assert!(p[0].starts_with("t.yaml:7:11: "), "{p:?}");
        let text = OK.replace("p99: 2s", "p99: 2x");
        let p = problems(&text);
        assert!(p[0].starts_with("t.yaml:25:40: "), "{p:?}");
    }

    #[test]
    fn fault_problems_point_at_the_key_or_value() {
        let text = OK.replace("kind: duplicate", "kind: meteor");
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with(
                "t.yaml:14:45: unknown fault kind \"meteor\", expected one of unavailable, refuse"
            ),
            "{p:?}"
        );
        let text = OK.replace("retry_after: 5s", "retry_aftr: 5s");
        let p = problems(&text);
        assert!(
            p[0].starts_with("t.yaml:13:58: unknown key `retry_aftr` for fault kind unavailable"),
            "{p:?}"
        );
        let text = OK.replace("factor: 3", "factor: lots");
        let p = problems(&text);
        assert!(
            p[0].starts_with("t.yaml:17:60: faults[4].factor: "),
            "{p:?}"
        );
    }

    #[test]
    fn the_timeline_is_checked_before_anything_starts() {
        let text = OK.replace(
            "{ at: 30s, target: sut, kind: kill }",
            "{ at: 46s, target: sut, kind: kill }",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("t.yaml:15:11: sut faults overlap: kill at 46s falls on pause from 45s to 48s (line 16)"), "{p:?}");
        let text = OK.replace(
            "{ at: 15s, for: 20s, target: erp",
            "{ at: 61s, for: 20s, target: erp",
        );
        assert!(
            problems(&text)[0]
                .starts_with("t.yaml:13:11: unavailable starts at 1m 1s, when the load has ended")
        );
        let text = OK.replace(
            "{ at: 15s, for: 20s, target: erp",
            "{ at: 15s, for: 70s, target: erp",
        );
        assert!(problems(&text)[0].starts_with("t.yaml:13:21: fault ends after the run"));
        let text = OK
            .replace("auth: true", "auth: false")
            .replace("kind: unavailable, retry_after: 5s", "kind: token_expiry");
        assert!(problems(&text)[0].contains("token_expiry on erp needs authentication"));
        let text = OK.replace(
            "{ at: 30s, target: sut, kind: kill }",
            "{ at: 30s, target: sut, kind: unavailable }",
        );
        assert!(problems(&text)[0].contains("acts on a simulator"));
        // A kill may keep the SUT down a while: that time counts against its next fault.
        let text = OK.replace(
            "{ at: 30s, target: sut, kind: kill }",
            "{ at: 43s, for: 3s, target: sut, kind: kill }",
        );
        assert!(
            problems(&text)[0].contains("sut faults overlap"),
            "{:?}",
            problems(&text)
        );
        let text = OK.replace(
            "{ at: 20s, for: 10s, rate: 500/s }",
            "{ at: 0s, rate: 500/s }",
        );
        assert!(problems(&text)[0].starts_with("t.yaml:11:11: load phases must be in time order"));
        let text = OK.replace("plant: 2000", "plant: 3000");
        assert!(problems(&text)[0].contains("plant \"3000\" is not a plant of this scenario"));
        let text = OK.replace("\"qms.hold -> wms\"", "\"qms.hold->wms\"");
        assert!(problems(&text)[0].contains("route \"qms.hold->wms\" is malformed"));
        let text = OK.replace(
            "qms: { activity",
            "qms: { open_periods: [\"2026/11\"], activity",
        );
        assert!(problems(&text)[0].contains("open_periods applies to erp only"));
    }

    #[test]
    fn several_problems_are_reported_together_in_file_order() {
        let text = OK.replace("time_scale: 480", "time_scale: 0").replace(
            "{ at: 45s, for: 3s, target: sut, kind: pause }",
            "{ at: 45s, target: sut, kind: pause }",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("t.yaml:8:13: "));
        assert!(p[1].starts_with("t.yaml:16:5: pause needs `for`"));
    }

    #[test]
    fn rates_accept_units() {
        assert_eq!(Rate::parse("3000/min").unwrap().0, 50.0);
        assert_eq!(Rate::parse("7200/h").unwrap().0, 2.0);
        assert_eq!(Rate::parse("12").unwrap().0, 12.0);
        assert!(Rate::parse("12/fortnight").is_err());
        assert!(Rate::parse("-1/s").is_err());
    }
}
