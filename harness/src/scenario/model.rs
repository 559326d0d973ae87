//! The scenario as data: plants, load phases, the fault timeline, per-system options.
//!
//! These types are what [`super::Scenario`] holds once a file has been parsed and checked;
//! past the loader the engine trusts them (rates are positive, phases are ordered, every
//! fault fits in the run).

use std::fmt;
use std::time::Duration;

use andon_contracts::{PlantId, System};
use andon_simulators::core::ActivityConfig;
use andon_simulators::dialect::Binding;
use andon_simulators::faults::{Dur, FaultSpec};
use andon_simulators::masterdata::{PlantSpec, Profile};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::broker::{BrokerFault, BrokerFaultKind};

/// One plant to generate master data and activity for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantEntry {
    /// Plant id (4 characters, such as `"1000"`).
    #[serde(deserialize_with = "super::yaml::at_scalar")]
    pub id: PlantId,
    /// Production lines (default 1).
    #[serde(default = "one")]
    pub lines: u32,
    /// Finished materials (default 10).
    #[serde(default = "ten")]
    pub materials: u32,
    /// MES profile (default discrete).
    #[serde(default)]
    pub profile: Profile,
    /// The API the plant's ERP speaks (`{dialect: s4hana, release: "2408"}` or
    /// `s4hana@2408`; default andon's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erp: Option<Binding>,
    /// How the plant's systems deliver their events, where not as the SUT's manifest
    /// first offers (`{mes: mqtt}`: its MES publishes to the run's broker).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub transport: std::collections::BTreeMap<System, crate::sut::Transport>,
}

fn one() -> u32 {
    1
}
fn ten() -> u32 {
    10
}

impl PlantEntry {
    /// What master-data generation needs to know about the plant.
    pub fn spec(&self) -> PlantSpec {
        PlantSpec {
            id: self.id.clone(),
            lines: self.lines,
            materials: self.materials,
            profile: self.profile,
        }
    }
}

/// A vendor upgrade cut over while the run goes on: from `at`, the plant's ERP speaks
/// `erp` (a new release of its dialect, or another dialect), at the same base URL, with
/// events and calls in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upgrade {
    /// When (wall time since the run started).
    #[serde(deserialize_with = "super::yaml::at_scalar")]
    pub at: Dur,
    /// The plant whose ERP is upgraded.
    #[serde(deserialize_with = "super::yaml::at_scalar")]
    pub plant: PlantId,
    /// What it speaks from then on (`s4hana@2502`).
    pub erp: Binding,
}

/// An arrival rate in steps of plant activity per second, written `50/s`, `3000/min`,
/// `7200/h` or as a bare number of steps per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Rate(pub f64);

impl Rate {
    /// Steps per second.
    pub fn per_second(self) -> f64 {
        self.0
    }

    /// Reads `50/s`, `3000/min`, `7200/h`, `2.5/sec` or `50`.
    pub fn read(text: &str) -> Result<Self, RateError> {
        let t = text.trim();
        let (count, unit) = t.split_once('/').unwrap_or((t, "s"));
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            other => {
                return Err(RateError::UnknownUnit {
                    text: text.to_string(),
                    unit: other.to_string(),
                });
            }
        };
        let n: f64 = count
            .trim()
            .parse()
            .map_err(|_| RateError::NotANumber(text.to_string()))?;
        if !n.is_finite() || n < 0.0 {
            return Err(RateError::Negative(text.to_string()));
        }
        Ok(Rate(n / per))
    }

    /// [`Rate::read`] with the reason as text (for command-line parsers).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::read(text).map_err(|e| e.to_string())
    }
}

/// Why a rate was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// A unit other than per second, minute or hour.
    #[error(
        "rate {text:?}: unknown unit {unit:?}, expected s, min or h (such as \"50/s\" or \"3000/min\")"
    )]
    UnknownUnit {
        /// The rate as written.
        text: String,
        /// The unit.
        unit: String,
    },
    /// A count that is not a number.
    #[error("rate {0:?}: expected a number of steps per unit, such as \"50/s\" or \"3000/min\"")]
    NotANumber(String),
    /// A negative or infinite count.
    #[error("rate {0:?} must be a non-negative number")]
    Negative(String),
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as \"50/s\" or \"3000/min\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
                Rate::read(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
                Rate::read(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Rate, E> {
                Rate::read(&v.to_string()).map_err(E::custom)
            }
        }
        // Parsing inside the visitor lets a YAML deserializer stamp errors with the
        // position of the rate itself.
        d.deserialize_any(V)
    }
}

/// How a load phase reaches its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The rate from `at` (for `for` when given, then back to the rate before).
    #[default]
    Constant,
    /// Linear from the rate before to this one over `for`, then this rate.
    Ramp,
    /// This rate for the first 20 % of `for`, then the rate before.
    Spike,
}

/// One phase of the open-model load profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPhase {
    /// When the phase starts (wall time since the run started).
    #[serde(deserialize_with = "super::yaml::at_scalar")]
    pub at: Dur,
    /// How long the phase's own rate lasts (constant), rises (ramp) or spikes (spike);
    /// without it a constant phase lasts until the next phase.
    #[serde(
        default,
        rename = "for",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::yaml::at_scalar_opt"
    )]
    pub for_: Option<Dur>,
    /// Steps of plant activity per second, over all plants (or per plant: see `per`).
    pub rate: Rate,
    /// Shape (default constant).
    #[serde(default)]
    pub shape: Shape,
    /// Whether `rate` is over all plants (default) or for each plant.
    #[serde(default, skip_serializing_if = "Per::is_all")]
    pub per: Per,
}

/// What a load phase's rate is counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// All plants together.
    #[default]
    All,
    /// Each plant: the rate is multiplied by the number of plants.
    Plant,
}

impl Per {
    fn is_all(&self) -> bool {
        *self == Per::All
    }
}

/// Relative shares of the load's steps per system (weights; they need not add up to 1).
/// Default: ERP 0.1, MES 0.6, QMS 0.15, WMS 0.15. A share left out of a written mix is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// ERP (order releases, master-data changes).
    #[serde(default)]
    pub erp: f64,
    /// MES (execution).
    #[serde(default)]
    pub mes: f64,
    /// QMS (results, decisions, holds).
    #[serde(default)]
    pub qms: f64,
    /// WMS (picks, shipments, moves).
    #[serde(default)]
    pub wms: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            erp: 0.1,
            mes: 0.6,
            qms: 0.15,
            wms: 0.15,
        }
    }
}

impl Mix {
    /// The share of `system`, normalised so the four add up to 1.
    pub fn share(&self, system: System) -> f64 {
        let total = self.erp + self.mes + self.qms + self.wms;
        if total <= 0.0 {
            return 0.0;
        }
        let w = match system {
            System::Erp => self.erp,
            System::Mes => self.mes,
            System::Qms => self.qms,
            System::Wms => self.wms,
        };
        w / total
    }
}

/// Switches of one simulator for the run. Unset fields keep the simulator's defaults
/// (idempotency keys honoured, no authentication, periods 2026/11 and 2026/10 open,
/// over-confirmation tolerance 10 %, a buffer of 10,000 events, the default activity).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemOptions {
    /// Honour `Idempotency-Key` (off: every POST creates a new posting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<bool>,
    /// Require OAuth 2.0 client-credentials tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<bool>,
    /// Open posting periods, `YYYY/MM`, newest first (ERP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_periods: Option<Vec<String>>,
    /// Over-confirmation tolerance in percent of the planned quantity (ERP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_confirmation_tolerance_pct: Option<u32>,
    /// Bound of the store-and-forward buffer of the system's emitter, in events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_capacity: Option<usize>,
    /// Parallel delivery lanes (connections) of the system's emitter (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lanes: Option<usize>,
    /// Shape of the seeded plant activity (QMS: `result_delay`, `accept_rate`,
    /// `hold_rate`; WMS: `ship_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityConfig>,
}

/// Per-system switches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// ERP.
    #[serde(default)]
    pub erp: SystemOptions,
    /// MES.
    #[serde(default)]
    pub mes: SystemOptions,
    /// QMS.
    #[serde(default)]
    pub qms: SystemOptions,
    /// WMS.
    #[serde(default)]
    pub wms: SystemOptions,
}

impl Options {
    /// The options of one system.
    pub fn of(&self, system: System) -> &SystemOptions {
        match system {
            System::Erp => &self.erp,
            System::Mes => &self.mes,
            System::Qms => &self.qms,
            System::Wms => &self.wms,
        }
    }
}

/// What a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The ERP simulator.
    Erp,
    /// The MES simulator.
    Mes,
    /// The QMS simulator.
    Qms,
    /// The WMS simulator.
    Wms,
    /// The middleware under test (through the SUT driver).
    Sut,
    /// The run's MQTT broker (when a plant publishes to one).
    Broker,
}

impl Target {
    /// Every target, in file order.
    pub const ALL: [Target; 6] = [
        Target::Erp,
        Target::Mes,
        Target::Qms,
        Target::Wms,
        Target::Sut,
        Target::Broker,
    ];

    /// The simulator, or `None` for the SUT.
    pub fn system(self) -> Option<System> {
        match self {
            Self::Erp => Some(System::Erp),
            Self::Mes => Some(System::Mes),
            Self::Qms => Some(System::Qms),
            Self::Wms => Some(System::Wms),
            Self::Sut | Self::Broker => None,
        }
    }

    /// The name in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Erp => "erp",
            Self::Mes => "mes",
            Self::Qms => "qms",
            Self::Wms => "wms",
            Self::Sut => "sut",
            Self::Broker => "broker",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the SUT driver does to the middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SutFaultKind {
    /// SIGTERM, wait for the exit (SIGKILL after a grace), then start again (after `for`).
    Restart,
    /// SIGKILL, then start again (after `for`).
    Kill,
    /// SIGSTOP for `for`, then SIGCONT.
    Pause,
    /// A slow consumer for `for`: frozen (SIGSTOP) 800 ms of every second, running 200 ms;
    /// what it has not taken queues up at its ingress or on the broker.
    Slow,
}

impl SutFaultKind {
    /// Every SUT fault kind.
    pub const ALL: [SutFaultKind; 4] = [Self::Restart, Self::Kill, Self::Pause, Self::Slow];

    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Slow => "slow",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A fault on the SUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SutFault {
    /// What to do.
    pub kind: SutFaultKind,
    /// How long a pause or a slow spell lasts (both need one), or how long a `restart` or `kill` keeps
    /// the SUT down before it is started again (default: started again at once).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
}

/// What the container engine does to a simulator's container (`pause`, `stop`,
/// `disconnect`). In the containers runtime these are real; in-process they are
/// simulated by the nearest simulator faults (see [`EngineFaultKind::in_process`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineFaultKind {
    /// `docker pause` for `for`: connections hang, nothing is generated or delivered.
    Pause,
    /// `docker stop` for `for`, then `docker start`: connections are refused; the
    /// simulator keeps its books, its outbound queue and its history across the stop.
    Stop,
    /// `docker network disconnect` for `for`: the system is cut off the run's network
    /// (no route either way); its events buffer and flood on reconnect.
    Disconnect,
}

impl EngineFaultKind {
    /// Every engine fault kind.
    pub const ALL: [EngineFaultKind; 3] = [Self::Pause, Self::Stop, Self::Disconnect];

    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Stop => "stop",
            Self::Disconnect => "disconnect",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The simulator faults that stand in for this one in the in-process runtime: requests
    /// hang (`pause`, `disconnect`) or are refused (`stop`), and events are held
    /// (`partition`) until the fault ends.
    pub fn in_process(self) -> [andon_simulators::faults::FaultKind; 2] {
        use andon_simulators::faults::FaultKind;
        match self {
            Self::Pause | Self::Disconnect => [FaultKind::Hang, FaultKind::Partition],
            Self::Stop => [FaultKind::Refuse, FaultKind::Partition],
        }
    }
}

/// A fault through the container engine on a simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFault {
    /// What to do.
    pub kind: EngineFaultKind,
    /// How long it lasts.
    #[serde(rename = "for")]
    pub duration: Dur,
}

/// What a timed fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// A fault applied to a simulator (through its fault registry or admin API).
    Simulator(FaultSpec),
    /// A fault applied to the SUT by the driver.
    Sut(SutFault),
    /// A fault applied to a simulator's container by the container engine.
    Engine(EngineFault),
    /// A fault applied to the run's MQTT broker.
    Broker(BrokerFault),
}

impl FaultAction {
    /// The kind's name (`unavailable`, `kill`, …).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Simulator(s) => s.kind.name(),
            Self::Sut(s) => s.kind.name(),
            Self::Engine(e) => e.kind.name(),
            Self::Broker(b) => b.kind.name(),
        }
    }

    /// The fault's `for`, if any.
    pub fn duration(&self) -> Option<Dur> {
        match self {
            Self::Simulator(s) => s.duration,
            Self::Sut(s) => s.duration,
            Self::Engine(e) => Some(e.duration),
            Self::Broker(b) => b.duration,
        }
    }
}

/// One entry of the fault timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedFault {
    /// When the fault is applied (wall time since the run started).
    pub at: Dur,
    /// What it acts on.
    pub target: Target,
    /// The fault; `Simulator` exactly when `target` is a simulator.
    pub spec: FaultAction,
}

impl TimedFault {
    /// When the fault ends: `at + for`, the same instant for `restart` and `kill`, and the
    /// end of the load (`run_duration`) for a simulator fault without `for`.
    pub fn ends_at(&self, run_duration: Duration) -> Duration {
        match (&self.spec, self.spec.duration()) {
            (_, Some(d)) => self.at.0 + d.0,
            (FaultAction::Sut(_) | FaultAction::Broker(_), None) => self.at.0,
            (FaultAction::Simulator(_) | FaultAction::Engine(_), None) => {
                run_duration.max(self.at.0)
            }
        }
    }

    /// Whether the fault is in force at wall time `t` (`at <= t < ends_at`).
    pub fn in_force_at(&self, t: Duration, run_duration: Duration) -> bool {
        self.at.0 <= t && t < self.ends_at(run_duration)
    }
}

impl Serialize for TimedFault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = match &self.spec {
            FaultAction::Simulator(spec) => serde_json::to_value(spec),
            FaultAction::Sut(spec) => serde_json::to_value(spec),
            FaultAction::Engine(spec) => serde_json::to_value(spec),
            FaultAction::Broker(spec) => serde_json::to_value(spec),
        }
        .map_err(serde::ser::Error::custom)?;
        if let Some(m) = map.as_object_mut() {
            m.retain(|_, v| !v.is_null());
            m.insert(
                "at".into(),
                serde_json::to_value(self.at).unwrap_or_default(),
            );
            m.insert("target".into(), self.target.as_str().into());
        }
        map.serialize(s)
    }
}
