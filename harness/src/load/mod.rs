//! Load testing (`andon load`): a scenario run as an open-model load test.
//!
//! ```text
//! scenario (+ --rate --duration --plants --connections) ─ refuse before anything starts
//! the run of engine::run, with the load driver stepping plant activity at the profile's
//!   rate on its own clock (sent at their time, answered or not); every second the
//!   emitters' buffer depths are sampled and, in-process, the new history is read for the
//!   live line (rate, p99 so far, errors)
//! after settling: measures from the history (measure), thresholds judged (threshold),
//!   validity of the generator, load.json, latency.hlog (hlog), the report's load section
//! ```
//!
//! * [`threshold`] — k6-style thresholds read with the column of a mistake.
//! * [`measure`] — latencies (HDR), throughput, errors by class, per second and plant.
//! * [`hlog`] — the HDR interval log.
//! * [`live`] — the sampler and the live progress line.
//! * [`report`] — `load.json`, the verdict and the exit code.

pub mod hlog;
pub mod live;
pub mod measure;
pub mod report;
/// Thresholds are part of the scenario (`thresholds:`); kept under this path too.
pub use crate::scenario::threshold;

use std::time::Duration;

use andon_contracts::PlantId;
use andon_simulators::faults::Dur;
use serde::{Deserialize, Serialize};

use crate::scenario::validate::MAX_RATE;
use crate::scenario::{Rate, Scenario};

/// Delivery lanes (connections) of each emitter in a load run when neither the scenario
/// (`options.<system>.lanes`) nor `--connections` says.
pub const DEFAULT_CONNECTIONS: usize = 32;

/// What `andon load` changes in the scenario, from its flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    /// Scale every phase so the first runs at this rate (the profile's shape is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// How long the load runs instead (later phases are dropped, longer ones cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// The number of plants instead (the scenario's plants repeated with new ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plants: Option<usize>,
    /// Delivery lanes of every emitter instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
}

impl Overrides {
    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the flags to `s` in turn (rate, duration, plants, connections), or says
    /// which one cannot apply and why.
    pub fn apply_to(&self, s: &mut Scenario) -> Result<(), OverrideError> {
        if let Some(r) = self.rate {
            scale_rate(s, r)?;
        }
        if let Some(d) = self.duration {
            cut_to(s, d)?;
        }
        if let Some(n) = self.plants {
            set_plants(s, n)?;
        }
        set_lanes(s, self.connections)
    }
}

/// Why a flag of `andon load` cannot apply to the scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverrideError {
    /// `--rate` with a first phase at rate 0.
    #[error("--rate {0}: the scenario's first load phase has rate 0, so there is nothing to scale")]
    NothingToScale(Rate),
    /// `--rate` of 0 or less.
    #[error("--rate {0}: the rate must be above 0")]
    RateNotPositive(Rate),
    /// `--rate` that puts a phase above [`MAX_RATE`].
    #[error(
        "--rate {rate}: a load phase would run at {phase} steps/s, above the most andon drives ({max} steps/s)",
        max = MAX_RATE
    )]
    RateTooHigh {
        /// The flag.
        rate: Rate,
        /// The phase's scaled rate, steps per second.
        phase: f64,
    },
    /// `--duration 0s`.
    #[error("--duration must be longer than 0s")]
    DurationZero,
    /// `--duration` before every load phase.
    #[error("--duration {}: every load phase starts after it", show(*.0))]
    NoPhaseLeft(Duration),
    /// `--duration` that would end the load before a fault starts.
    #[error(
        "--duration {}: the {kind} fault on {target} starts at {}, after the load would end; \
         choose a longer duration or a scenario without it",
        show(*.duration),
        show(*.at)
    )]
    FaultAfterLoad {
        /// The flag.
        duration: Duration,
        /// The fault's kind.
        kind: &'static str,
        /// Its target.
        target: &'static str,
        /// When it starts.
        at: Duration,
    },
    /// `--duration` that would end the run's settle limit before a fault ends.
    #[error(
        "--duration {}: the {kind} fault on {target} lasts until {}, past the settle limit \
         ({} after the load); choose a longer duration",
        show(*.duration),
        show(*.until),
        show(*.settle)
    )]
    FaultPastSettle {
        /// The flag.
        duration: Duration,
        /// The fault's kind.
        kind: &'static str,
        /// Its target.
        target: &'static str,
        /// When it ends.
        until: Duration,
        /// The scenario's settle limit.
        settle: Duration,
    },
    /// `--plants 0`.
    #[error("--plants must be at least 1")]
    PlantsZero,
    /// `--plants` with a scenario whose plants come from a data file.
    #[error(
        "--plants {count}: the scenario reads its plants from a data file ({data}); \
         --plants needs a scenario with `plants:`"
    )]
    PlantsFromData {
        /// The flag.
        count: usize,
        /// The data file, as the scenario names it.
        data: String,
    },
    /// `--connections 0`.
    #[error("--connections must be at least 1")]
    ConnectionsZero,
}

/// Scales every phase so that the first runs at `r`.
fn scale_rate(s: &mut Scenario, r: Rate) -> Result<(), OverrideError> {
    let first = s.load.first().map(|p| p.rate.0).unwrap_or(0.0);
    if first <= 0.0 {
        return Err(OverrideError::NothingToScale(r));
    }
    if r.0 <= 0.0 || r.0.is_nan() {
        return Err(OverrideError::RateNotPositive(r));
    }
    let k = r.0 / first;
    for p in &mut s.load {
        p.rate = Rate(p.rate.0 * k);
        if p.rate.0 > MAX_RATE {
            return Err(OverrideError::RateTooHigh {
                rate: r,
                phase: p.rate.0,
            });
        }
    }
    Ok(())
}

/// Makes the load last `d`: later phases dropped, longer ones cut; refused when a fault
/// would be lost or outlast the settle limit.
fn cut_to(s: &mut Scenario, d: Dur) -> Result<(), OverrideError> {
    if d.0.is_zero() {
        return Err(OverrideError::DurationZero);
    }
    s.load.retain(|p| p.at.0 < d.0);
    if s.load.is_empty() {
        return Err(OverrideError::NoPhaseLeft(d.0));
    }
    for p in &mut s.load {
        if let Some(f) = p.for_
            && p.at.0 + f.0 > d.0
        {
            p.for_ = Some(Dur(d.0 - p.at.0));
        }
    }
    if let Some(f) = s.faults.iter().find(|f| f.at.0 >= d.0) {
        return Err(OverrideError::FaultAfterLoad {
            duration: d.0,
            kind: f.spec.kind_name(),
            target: f.target.as_str(),
            at: f.at.0,
        });
    }
    for f in &s.faults {
        let end = f.ends_at(d.0);
        if end > d.0 + s.settle.0 {
            return Err(OverrideError::FaultPastSettle {
                duration: d.0,
                kind: f.spec.kind_name(),
                target: f.target.as_str(),
                until: end,
                settle: s.settle.0,
            });
        }
    }
    s.duration = d;
    Ok(())
}

/// Makes the scenario have `n` plants ([`grow_plants`]).
fn set_plants(s: &mut Scenario, n: usize) -> Result<(), OverrideError> {
    if n == 0 {
        return Err(OverrideError::PlantsZero);
    }
    if s.plants.is_empty() {
        return Err(OverrideError::PlantsFromData {
            count: n,
            data: s
                .data
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        });
    }
    s.plants = grow_plants(&s.plants, n);
    Ok(())
}

/// Gives every emitter `lanes` delivery lanes, or (without the flag) the scenario's own,
/// else [`DEFAULT_CONNECTIONS`].
fn set_lanes(s: &mut Scenario, lanes: Option<usize>) -> Result<(), OverrideError> {
    if lanes == Some(0) {
        return Err(OverrideError::ConnectionsZero);
    }
    for o in [
        &mut s.options.erp,
        &mut s.options.mes,
        &mut s.options.qms,
        &mut s.options.wms,
    ] {
        match lanes {
            Some(c) => o.lanes = Some(c),
            None => {
                o.lanes.get_or_insert(DEFAULT_CONNECTIONS);
            }
        }
    }
    Ok(())
}

/// `n` plants: the first ones as written, then the written ones again in turn, each with
/// the next free id (`1000`, `2000`, … `9000`, then `1100`, `1200`, …).
pub fn grow_plants(
    plants: &[crate::scenario::PlantEntry],
    n: usize,
) -> Vec<crate::scenario::PlantEntry> {
    let mut out: Vec<_> = plants.iter().take(n).cloned().collect();
    let mut used: std::collections::BTreeSet<String> =
        out.iter().map(|p| p.id.to_string()).collect();
    let mut candidates = (1..=9)
        .map(|k| k * 1000)
        .chain((1..=9).flat_map(|k| (1..=9).map(move |h| k * 1000 + h * 100)))
        .chain(1000..10_000)
        .map(|v: u32| format!("{v:04}"));
    let mut i = 0;
    while out.len() < n {
        let Some(id) = candidates.find(|c| !used.contains(c)) else {
            break;
        };
        used.insert(id.clone());
        let mut p = plants[i % plants.len()].clone();
        let Ok(pid) = PlantId::parse(&id) else {
            continue;
        };
        p.id = pid;
        out.push(p);
        i += 1;
    }
    out
}

/// A duration as humantime writes it (`1m 5s`).
fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
name: t
plants:
  - { id: "1000", lines: 2 }
  - { id: "2000", lines: 1, profile: batch }
duration: 30s
load:
  - { at: 0s, rate: 10/s }
  - { at: 10s, for: 10s, rate: 50/s, shape: spike }
  - { at: 25s, rate: 20/s }
faults:
  - { at: 12s, for: 5s, target: erp, kind: slow, median: 100ms, p99: 1s }
"#;

    fn scenario() -> Scenario {
        Scenario::parse(SCENARIO, "t.yaml").unwrap()
    }

    #[test]
    fn rate_scales_the_profile_and_keeps_its_shape() {
        let mut s = scenario();
        Overrides {
            rate: Some(Rate(100.0)),
            ..Overrides::default()
        }
        .apply_to(&mut s)
        .unwrap();
        let rates: Vec<f64> = s.load.iter().map(|p| p.rate.0).collect();
        assert_eq!(rates, vec![100.0, 500.0, 200.0]);
    }

    #[test]
    fn duration_drops_later_phases_and_refuses_to_lose_a_fault() {
        let mut s = scenario();
        Overrides {
            duration: Some(Dur(Duration::from_secs(15))),
            ..Overrides::default()
        }
        .apply_to(&mut s)
        .unwrap();
        assert_eq!(s.load.len(), 2);
        assert_eq!(s.load[1].for_, Some(Dur(Duration::from_secs(5))));
        let mut s = scenario();
        let e = Overrides {
            duration: Some(Dur(Duration::from_secs(11))),
            ..Overrides::default()
        }
        .apply_to(&mut s)
        .unwrap_err();
        assert!(
            e.to_string().contains("slow fault on erp starts at 12s"),
            "{e}"
        );
    }

    #[test]
    fn plants_grow_with_new_ids_and_the_same_shapes() {
        let s = scenario();
        let p = grow_plants(&s.plants, 10);
        let ids: Vec<String> = p.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(
            ids,
            [
                "1000", "2000", "3000", "4000", "5000", "6000", "7000", "8000", "9000", "1100"
            ]
        );
        assert_eq!(p[2].lines, 2);
        assert_eq!(p[3].lines, 1);
        assert_eq!(grow_plants(&s.plants, 1).len(), 1);
    }

    #[test]
    fn connections_set_every_emitter_and_default_to_32() {
        let mut s = scenario();
        Overrides::default().apply_to(&mut s).unwrap();
        assert_eq!(s.options.mes.lanes, Some(DEFAULT_CONNECTIONS));
        let mut s = scenario();
        Overrides {
            connections: Some(8),
            ..Overrides::default()
        }
        .apply_to(&mut s)
        .unwrap();
        assert_eq!(s.options.wms.lanes, Some(8));
    }

    #[test]
    fn bad_flags_say_which() {
        let mut s = scenario();
        let e = Overrides {
            plants: Some(0),
            ..Overrides::default()
        }
        .apply_to(&mut s)
        .unwrap_err();
        assert!(e.to_string().contains("--plants"), "{e}");
    }
}
