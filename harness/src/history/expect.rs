//! What a scenario expects of a run (`expect.json` in the run directory): the checkers it
//! turns on, the SLA budgets, the reconciliations, the safety rules, and which checkers
//! the verdict requires.

use std::time::Duration;

use andon_simulators::faults::Dur;
use serde::{Deserialize, Serialize};

/// An SLA budget for one route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaBudget {
    /// Route, such as `qms.hold -> wms`.
    pub route: String,
    /// Budget for the median.
    #[serde(default)]
    pub p50: Option<Dur>,
    /// Budget for the 95th percentile.
    #[serde(default)]
    pub p95: Option<Dur>,
    /// Budget for the 99th percentile.
    #[serde(default)]
    pub p99: Option<Dur>,
    /// Budget for the maximum.
    #[serde(default)]
    pub max: Option<Dur>,
    /// The phase the budget holds for (default: all samples, whatever the phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

/// When a latency sample was taken, relative to the faults of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No fault in force when the event was meant to be sent.
    Steady,
    /// Some fault applied and not yet cleared when the event was meant to be sent.
    DuringFault,
    /// After a fault healed, until every event emitted before the heal had its effects.
    Recovery,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 3] = [Phase::Steady, Phase::DuringFault, Phase::Recovery];

    /// The name in reports (`steady`, `during_fault`, `recovery`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steady => "steady",
            Self::DuringFault => "during_fault",
            Self::Recovery => "recovery",
        }
    }
}

/// What to reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconcile {
    /// ERP stock per plant/material/batch/stock type against the plant's true activity.
    Inventory,
    /// Lot status agreement across ERP, WMS, MES and QMS.
    LotStatus,
}

/// Safety settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyExpect {
    /// Time a hold may take to reach the WMS and MES before a pick or consumption of the
    /// lot counts as unsafe (default 60 s, docs/domain.md's design default).
    #[serde(default = "hold_grace")]
    pub hold_grace: Dur,
}

fn hold_grace() -> Dur {
    Dur(Duration::from_secs(60))
}

impl Default for SafetyExpect {
    fn default() -> Self {
        Self {
            hold_grace: hold_grace(),
        }
    }
}

/// The checkers, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// Exactly-once effects.
    ExactlyOnce,
    /// Stock and lot status.
    Reconciliation,
    /// Propagation latency.
    Sla,
    /// The calls' contract.
    Contract,
    /// Every field of every call against its source event.
    Mapping,
    /// Held lots and vanished rejections.
    Safety,
    /// Per-lot order.
    Ordering,
}

impl CheckName {
    /// The name in verdicts (`exactly_once`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExactlyOnce => "exactly_once",
            Self::Reconciliation => "reconciliation",
            Self::Sla => "sla",
            Self::Contract => "contract",
            Self::Mapping => "mapping",
            Self::Safety => "safety",
            Self::Ordering => "ordering",
        }
    }
}

/// A scenario's expectations: which checkers run, with which budgets, and which must be
/// exercised. Defaults: every checker on, reconcile inventory and lot status, no SLA
/// budgets (latencies are still reported), `required` as below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ExpectDoc")]
pub struct Expect {
    /// Run the exactly-once checker.
    pub exactly_once: bool,
    /// What the reconciliation checker compares (empty: skip it).
    pub reconcile: Vec<Reconcile>,
    /// Run the contract checker.
    pub contract: bool,
    /// Run the mapping checker (every field of every call against its source event).
    pub mapping: bool,
    /// Safety settings (`false` in YAML is not allowed; omit to use defaults).
    pub safety: SafetyExpect,
    /// Run the ordering checker.
    pub ordering: bool,
    /// SLA budgets per route.
    pub sla: Vec<SlaBudget>,
    /// The checkers that must be exercised: one of them `unknown` makes the run
    /// inconclusive, never a pass. Default: exactly-once (when on) and every checker the
    /// `expect` block asks for by name (`ordering: true`, `contract: true`,
    /// `mapping: true`, a `reconcile` list, `sla` budgets).
    pub required: Vec<CheckName>,
}

/// `expect` as written: which keys were given decides `required`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectDoc {
    #[serde(default)]
    exactly_once: Option<bool>,
    #[serde(default)]
    reconcile: Option<Vec<Reconcile>>,
    #[serde(default)]
    contract: Option<bool>,
    #[serde(default)]
    mapping: Option<bool>,
    #[serde(default)]
    safety: SafetyExpect,
    #[serde(default)]
    ordering: Option<bool>,
    #[serde(default)]
    sla: Vec<SlaBudget>,
    #[serde(default)]
    required: Option<Vec<CheckName>>,
}

impl From<ExpectDoc> for Expect {
    fn from(d: ExpectDoc) -> Self {
        let exactly_once = d.exactly_once.unwrap_or(true);
        let required = d.required.unwrap_or_else(|| {
            let mut r = Vec::new();
            let mut ask = |on: bool, c: CheckName| {
                if on && !r.contains(&c) {
                    r.push(c);
                }
            };
            ask(exactly_once, CheckName::ExactlyOnce);
            ask(
                d.reconcile.as_ref().is_some_and(|r| !r.is_empty()),
                CheckName::Reconciliation,
            );
            ask(!d.sla.is_empty(), CheckName::Sla);
            ask(d.contract == Some(true), CheckName::Contract);
            ask(d.mapping == Some(true), CheckName::Mapping);
            ask(d.ordering == Some(true), CheckName::Ordering);
            r
        });
        Self {
            exactly_once,
            reconcile: d.reconcile.unwrap_or_else(both),
            contract: d.contract.unwrap_or(true),
            mapping: d.mapping.unwrap_or(true),
            safety: d.safety,
            ordering: d.ordering.unwrap_or(true),
            sla: d.sla,
            required,
        }
    }
}

fn both() -> Vec<Reconcile> {
    vec![Reconcile::Inventory, Reconcile::LotStatus]
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            exactly_once: true,
            reconcile: both(),
            contract: true,
            mapping: true,
            safety: SafetyExpect::default(),
            ordering: true,
            sla: Vec::new(),
            required: vec![CheckName::ExactlyOnce],
        }
    }
}
