//! A simulator's settings: [`SimConfig`] for a run, [`ActivityConfig`] for the seeded plant
//! activity, and [`ConfigPatch`], the run-time switches `PUT /_andon/config` applies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::dialect::Dialects;
use crate::emitter::EmitterConfig;

use super::Core;

/// Settings of one simulator for a run. Defaults: seed 42, idempotency keys honoured,
/// authentication off, 1 MiB body limit, over-confirmation tolerance 10 %.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seed for every generated value and chance decision.
    #[serde(default = "seed")]
    pub seed: u64,
    /// Whether `Idempotency-Key` is honoured (off: an ERP without repeatable requests).
    #[serde(default = "yes")]
    pub idempotency: bool,
    /// Authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Largest accepted request body in bytes.
    #[serde(default = "body_limit")]
    pub body_limit: usize,
    /// Over-confirmation tolerance in percent of the planned quantity (ERP).
    #[serde(default = "tolerance")]
    pub over_confirmation_tolerance_pct: u32,
    /// Event delivery.
    #[serde(default)]
    pub emitter: EmitterConfig,
    /// Business time runs this many times faster than wall time.
    #[serde(default = "scale")]
    pub time_scale: f64,
    /// Business start time.
    #[serde(default = "crate::clock::default_start")]
    pub start: DateTime<Utc>,
    /// Shape of the generated plant activity.
    #[serde(default)]
    pub activity: ActivityConfig,
    /// The vendor dialect each plant speaks (ERP); a plant not listed speaks andon's API.
    #[serde(default, skip_serializing_if = "Dialects::is_empty")]
    pub dialects: Dialects,
}

/// Knobs of the seeded plant activity. Defaults: results 1 s after the inspection lot
/// opens, 90 % accepted, a hold on 5 % of QMS steps released 3–12 steps later, WMS
/// ships on 85 % of its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityConfig {
    /// Wall time from opening an inspection lot to its result.
    #[serde(default = "result_delay")]
    pub result_delay: crate::faults::Dur,
    /// Share of inspection lots accepted.
    #[serde(default = "accept_rate")]
    pub accept_rate: f64,
    /// Chance per QMS step of placing a hold.
    #[serde(default = "hold_rate")]
    pub hold_rate: f64,
    /// Chance per WMS step of shipping (otherwise a bin transfer).
    #[serde(default = "ship_rate")]
    pub ship_rate: f64,
}

fn result_delay() -> crate::faults::Dur {
    crate::faults::Dur(std::time::Duration::from_secs(1))
}
fn accept_rate() -> f64 {
    0.9
}
fn hold_rate() -> f64 {
    0.05
}
fn ship_rate() -> f64 {
    0.85
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            result_delay: result_delay(),
            accept_rate: accept_rate(),
            hold_rate: hold_rate(),
            ship_rate: ship_rate(),
        }
    }
}

fn seed() -> u64 {
    42
}
fn yes() -> bool {
    true
}
fn body_limit() -> usize {
    1 << 20
}
fn tolerance() -> u32 {
    10
}
fn scale() -> f64 {
    1.0
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: seed(),
            idempotency: true,
            auth: AuthConfig::default(),
            body_limit: body_limit(),
            over_confirmation_tolerance_pct: tolerance(),
            emitter: EmitterConfig::default(),
            time_scale: scale(),
            start: crate::clock::default_start(),
            activity: ActivityConfig::default(),
            dialects: Dialects::new(),
        }
    }
}

/// `PUT /_andon/config`: run-time switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// Honour idempotency keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<bool>,
    /// Require tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<bool>,
    /// Open posting periods (`2026/11`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_periods: Option<Vec<String>>,
    /// Over-confirmation tolerance in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_confirmation_tolerance_pct: Option<u32>,
    /// Plants whose dialect or release changes (a vendor upgrade cut over); the plants not
    /// named keep theirs. `andon` returns a plant to andon's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialects: Option<Dialects>,
}

/// Why a [`ConfigPatch`] cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigPatchError {
    /// An open posting period that is not `YYYY/MM`.
    #[error("open period {0:?} must be YYYY/MM")]
    Period(String),
    /// A vendor dialect for a system that has none.
    #[error(transparent)]
    Dialect(#[from] crate::dialect::DialectError),
}

impl ConfigPatch {
    /// Checks the patch without applying it.
    pub fn check(&self) -> Result<(), ConfigPatchError> {
        if let Some(bad) = self
            .open_periods
            .iter()
            .flatten()
            .find(|p| crate::masterdata::parse_period(p).is_none())
        {
            return Err(ConfigPatchError::Period(bad.clone()));
        }
        Ok(())
    }

    /// Applies the patch to a running simulator: open periods to its master data,
    /// idempotency and tolerance to its settings, authentication to its token issuer. A
    /// patch that does not [check](Self::check) changes nothing.
    pub fn apply(&self, core: &Core) -> Result<(), ConfigPatchError> {
        self.check()?;
        for binding in self.dialects.iter().flat_map(|d| d.values()) {
            binding.check_system(core.system)?;
        }
        if let Some(periods) = &self.open_periods {
            core.master
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .open_periods = periods.clone();
        }
        if let Ok(mut c) = core.config.write() {
            self.apply_to(&mut c);
        }
        if let Some(a) = self.auth {
            core.auth.set_enabled(a);
        }
        if let Some(d) = &self.dialects {
            // A vendor upgrade cut over: the history says from when each plant spoke what.
            core.note("dialects", serde_json::json!(d));
        }
        Ok(())
    }

    /// Applies the switches that live in [`SimConfig`] (idempotency, tolerance, dialects) to
    /// `config`.
    pub fn apply_to(&self, config: &mut SimConfig) {
        for (plant, binding) in self.dialects.iter().flatten() {
            if binding.dialect.per_plant() {
                config.dialects.insert(plant.clone(), binding.clone());
            } else {
                config.dialects.remove(plant);
            }
        }
        if let Some(i) = self.idempotency {
            config.idempotency = i;
        }
        if let Some(t) = self.over_confirmation_tolerance_pct {
            config.over_confirmation_tolerance_pct = t;
        }
    }
}

/// What one simulator starts with, in any runtime: its settings, then the run-time switches
/// applied right after the start. `andon simulator --settings FILE` (and
/// `andon-simulator --settings FILE`) read it as JSON: `{"config": {...}, "patch": {...}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// Settings at start.
    #[serde(default)]
    pub config: SimConfig,
    /// Run-time switches applied right after start (idempotency, auth, periods).
    #[serde(default)]
    pub patch: ConfigPatch,
}
