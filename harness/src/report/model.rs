//! [`RunReport`]: what every reporter renders, derived once from a run's history (by
//! `RunReport::from_run`, beside the figures it draws in `figures`).

use std::collections::BTreeMap;

use andon_contracts::System;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::check::{SlaBudget, Status, Verdict};

use super::latency::LatencySummary;

/// How a run ended, as `andon run` exits (the rule: [`crate::check::overall`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    /// Every required checker judged and none failed.
    Pass,
    /// At least one checker failed.
    Fail,
    /// Nothing failed, but not enough was judged to pass: why.
    Inconclusive(String),
    /// The run could not be carried out (the SUT never became ready, a bad manifest, …).
    Error(String),
    /// The run did not reach its verdict: Ctrl-C, SIGTERM or a kill stopped it. A run
    /// directory says this from its start until the verdict replaces it.
    Interrupted(String),
}

impl Exit {
    /// The process exit code: 0 pass, 1 fail, 2 error, 5 inconclusive, 130 interrupted
    /// (128 + SIGINT; a SIGTERM'd command exits 143).
    pub fn code(&self) -> i32 {
        match self {
            Self::Pass => 0,
            Self::Fail => 1,
            Self::Error(_) => 2,
            Self::Inconclusive(_) => 5,
            Self::Interrupted(_) => 130,
        }
    }

    /// `pass`, `fail`, `inconclusive`, `error` or `interrupted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Inconclusive(_) => "inconclusive",
            Self::Error(_) => "error",
            Self::Interrupted(_) => "interrupted",
        }
    }
}

/// One fault of the run, from its `applied` record to its `cleared` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpan {
    /// Fault id (unique per target system).
    pub id: String,
    /// The simulator that suffered it.
    pub target: System,
    /// Fault kind (`unavailable`, `duplicate`, …).
    pub kind: String,
    /// The kind's parameters and filters as applied (`retry_after`, `probability`, …),
    /// without the id, the kind and the duration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
    /// When it was cleared; `None` when it was still active at the end of the history.
    pub cleared_at: Option<DateTime<Utc>>,
    /// How many times it changed an answer or a delivery.
    pub fired: u64,
}

/// Something the harness did to the SUT process (`kill`, `restart`, `pause`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SutAction {
    /// `kill`, `restart`, `pause`, …
    pub kind: String,
    /// When it was done.
    pub at: DateTime<Utc>,
    /// When it ended (a pause's `SIGCONT`); `None` for an instant action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// What followed, in a few words (`ready again after 2.1 s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Faults and SUT actions over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Faults on the simulators, by time applied.
    pub faults: Vec<FaultSpan>,
    /// Actions on the SUT, by time.
    pub sut: Vec<SutAction>,
}

/// Traffic in one wall-clock second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    /// Seconds since the run started (this point covers `second..second + 1`).
    pub second: u64,
    /// Source events emitted in that second.
    pub events_emitted: u64,
    /// Business effects committed in that second.
    pub effects: u64,
}

/// What the engine knows about a run besides its history (serialisable, so a run
/// directory can keep it and `andon check` can render the reports again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Scenario name.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// `andon` version that ran it.
    pub andon_version: String,
    /// The SUT, as its manifest names it.
    pub sut: String,
    /// When the run started.
    pub started: DateTime<Utc>,
    /// When it ended (after settling).
    pub ended: DateTime<Utc>,
    /// How it ended.
    pub exit: Exit,
    /// What the SUT driver did to the SUT, in order.
    pub sut_actions: Vec<SutAction>,
}

/// Everything a reporter renders about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// `andon` version that ran it.
    pub andon_version: String,
    /// The SUT, as its manifest names it.
    pub sut: String,
    /// When the run started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub ended: DateTime<Utc>,
    /// Every checker's verdict, in the order they ran.
    pub verdicts: Vec<Verdict>,
    /// How the run ended.
    pub exit: Exit,
    /// Faults and SUT actions.
    pub timeline: Timeline,
    /// Propagation latency samples per route ([`route_name`]), in microseconds, ascending.
    pub latencies: BTreeMap<String, Vec<u64>>,
    /// The scenario's SLA budgets (drawn on the latency plots).
    pub budgets: Vec<SlaBudget>,
    /// Events emitted and effects committed per second, one point per second of the run.
    pub throughput: Vec<ThroughputPoint>,
    /// What the load concluded, for a load run (`andon load`).
    pub load: Option<crate::load::report::LoadReport>,
    /// The vendor dialects the run spoke, its cut-overs, and what changed between releases.
    pub dialects: super::dialects::DialectSummary,
}

impl RunReport {
    /// Length of the run in seconds (never negative).
    pub fn duration_secs(&self) -> f64 {
        self.offset_secs(self.ended)
    }

    /// Seconds from the start of the run to `at` (negative before it).
    pub fn offset_secs(&self, at: DateTime<Utc>) -> f64 {
        let d = at - self.started;
        d.num_microseconds()
            .map_or(d.num_milliseconds() as f64 / 1e3, |us| us as f64 / 1e6)
    }

    /// Percentiles per route.
    pub fn latency_summaries(&self) -> BTreeMap<&str, LatencySummary> {
        self.latencies
            .iter()
            .filter_map(|(route, samples)| LatencySummary::of(samples).map(|s| (route.as_str(), s)))
            .collect()
    }

    /// Number of verdicts with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.verdicts.iter().filter(|v| v.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::RunData;
    use andon_contracts::CloudEvent;
    use andon_simulators::MasterData;
    use andon_simulators::history::{Entry, Outcome, Record};
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_790_000_000_000 + ms).unwrap()
    }

    fn rec(seq: u64, ms: i64, system: System, entry: Entry) -> Record {
        Record {
            seq,
            at: t(ms),
            system,
            entry,
        }
    }

    fn event(id: &str, kind: &str, poison: Option<&str>, intended_ms: i64) -> Entry {
        Entry::EventEmitted {
            event: CloudEvent {
                specversion: "1.0".into(),
                id: id.into(),
                source: "/andon/mes/1000".into(),
                type_: format!("andon.{kind}.v1"),
                subject: "x".into(),
                time: t(intended_ms),
                datacontenttype: "application/json".into(),
                plant: serde_json::from_value(serde_json::json!("1000")).unwrap(),
                sequence: 1,
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                data: serde_json::json!({}).into(),
            }
            .into(),
            intended_at: t(intended_ms),
            poison: poison.map(Into::into),
        }
    }

    fn effect(id: &str, outcome: Outcome) -> Entry {
        Entry::Effect {
            effect: "erp.goods_movement".into(),
            key: "k".into(),
            sources: vec![andon_contracts::SourceRef {
                source: "/andon/mes/1000".into(),
                id: id.into(),
            }],
            traceparent: None,
            outcome,
            detail: andon_contracts::Json::null(),
        }
    }

    fn fault(id: &str, action: &str, spec: serde_json::Value) -> Entry {
        Entry::Fault {
            id: id.into(),
            action: action.into(),
            kind: "unavailable".into(),
            spec: spec.into(),
        }
    }

    fn run(records: Vec<Record>) -> RunData {
        RunData {
            records,
            snapshots: BTreeMap::new(),
            master: MasterData {
                open_periods: vec![],
                plants: vec![],
                materials: vec![],
                boms: vec![],
                routings: vec![],
                stock: vec![],
            },
            expect: Default::default(),
            dead_letters: None,
        }
    }

    fn meta() -> RunMeta {
        RunMeta {
            scenario: "s".into(),
            seed: 1,
            andon_version: "0.1.0".into(),
            sut: "ref".into(),
            started: t(0),
            ended: t(3_000),
            exit: Exit::Pass,
            sut_actions: vec![],
        }
    }

    #[test]
    fn latency_runs_from_intended_send_to_first_effect_per_target() {
        let records = vec![
            rec(
                1,
                100,
                System::Mes,
                event("e1", "material.consumed", None, 50),
            ),
            rec(2, 400, System::Erp, effect("e1", Outcome::Ok)),
            rec(3, 900, System::Erp, effect("e1", Outcome::Ok)),
            rec(
                4,
                200,
                System::Mes,
                event("e2", "material.consumed", None, 200),
            ),
            rec(5, 1_200, System::Erp, effect("e2", Outcome::Info)),
            rec(
                6,
                300,
                System::Mes,
                event("p", "material.consumed", Some("schema"), 300),
            ),
            rec(7, 500, System::Erp, effect("p", Outcome::Ok)),
            rec(
                8,
                300,
                System::Mes,
                event("e3", "material.consumed", None, 300),
            ),
            rec(9, 500, System::Erp, effect("e3", Outcome::Fail)),
        ];
        let report = RunReport::from_run(meta(), &run(records), vec![]);
        assert_eq!(
            report.latencies,
            BTreeMap::from([("mes.consumed -> erp".to_string(), vec![350_000, 1_000_000])])
        );
    }

    #[test]
    fn throughput_counts_per_second_and_covers_the_whole_run() {
        let records = vec![
            rec(
                1,
                100,
                System::Mes,
                event("e1", "material.consumed", None, 50),
            ),
            rec(
                2,
                999,
                System::Mes,
                event("e2", "material.consumed", None, 50),
            ),
            rec(3, 1_000, System::Erp, effect("e1", Outcome::Ok)),
            rec(4, 3_500, System::Erp, effect("e2", Outcome::Ok)),
        ];
        let report = RunReport::from_run(meta(), &run(records), vec![]);
        let got: Vec<_> = report
            .throughput
            .iter()
            .map(|p| (p.second, p.events_emitted, p.effects))
            .collect();
        assert_eq!(got, vec![(0, 2, 0), (1, 0, 1), (2, 0, 0), (3, 0, 1)]);
    }

    #[test]
    fn fault_spans_join_applied_fired_and_cleared_per_system() {
        let spec = serde_json::json!({"id": null, "kind": "unavailable", "retry_after": "5s",
                                      "probability": null, "for": "10s"});
        let records = vec![
            rec(1, 500, System::Erp, fault("f1", "applied", spec)),
            rec(
                2,
                600,
                System::Erp,
                fault("f1", "fired", serde_json::json!({})),
            ),
            rec(
                3,
                700,
                System::Wms,
                fault("f1", "applied", serde_json::json!({})),
            ),
            rec(
                4,
                1_500,
                System::Erp,
                fault("f1", "cleared", serde_json::json!({"fired": 3})),
            ),
        ];
        let report = RunReport::from_run(meta(), &run(records), vec![]);
        let f = &report.timeline.faults;
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].target, f[0].fired, f[0].cleared_at),
            (System::Erp, 3, Some(t(1_500)))
        );
        assert_eq!(
            f[0].params,
            BTreeMap::from([("retry_after".to_string(), serde_json::json!("5s"))])
        );
        assert_eq!((f[1].target, f[1].cleared_at), (System::Wms, None));
    }
}
