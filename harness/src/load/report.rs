//! What a load run concluded (`load.json` in the run directory), and its exit code.
//!
//! The verdict, most serious first:
//!
//! * **invalid** — the generator did not apply the load it was asked for: steps of the
//!   load driver started more than 100 ms after their scheduled time (the harness itself
//!   fell behind), or the emitters refused events because their buffers were full. The
//!   figures are kept, but they do not describe the asked-for load: exit [`EXIT_INVALID`].
//! * **breached** — a threshold was over its limit, or could not be measured (unknown is
//!   never a pass): exit [`EXIT_BREACHED`].
//! * **pass** — every threshold held (a run without thresholds passes).
//!
//! A checker that failed (exactly-once, reconciliation, …) makes `andon load` exit 1 as
//! `andon run` does, unless the run was invalid.

use std::collections::BTreeMap;
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::emitter::EmitterStats;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::Overrides;
use super::live::DepthSample;
use super::measure::{LATE_SEND, Measures, Second};
use super::threshold::{Outcome, Threshold};
use crate::history::LoadStats;

/// Exit code of a load run with a threshold breached (or unknown).
pub const EXIT_BREACHED: u8 = 3;
/// Exit code of a load run whose generator fell behind or dropped events.
pub const EXIT_INVALID: u8 = 4;
/// The file in the run directory.
pub const FILE: &str = "load.json";

/// The verdict of a load run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadVerdict {
    /// Every threshold held.
    Pass,
    /// A threshold was breached or unknown.
    Breached,
    /// The generator did not apply the load.
    Invalid,
}

impl LoadVerdict {
    /// `pass`, `breached`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Breached => "breached",
            Self::Invalid => "invalid",
        }
    }
}

/// A latency distribution, in microseconds (`count`, `min_us`, `p50_us` … `max_us`,
/// `mean_us`).
pub use crate::history::LatencySummary as Summary;

/// What the generator did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// Steps of plant activity the profile scheduled.
    pub scheduled_steps: u64,
    /// Steps that started more than 100 ms after their time.
    pub late_steps: u64,
    /// Worst lateness of a step, in milliseconds.
    pub max_step_lateness_ms: u64,
    /// Source events emitted.
    pub events: u64,
    /// Events the emitters refused (buffer full).
    pub dropped: u64,
    /// Events whose first send started more than 100 ms after their intended time
    /// (queued behind their aggregate's earlier events or a busy connection).
    pub late_sends: u64,
    /// Intended time to the first send's start.
    pub send_lag: Summary,
    /// Delivery lanes (connections) per emitter.
    pub connections: usize,
}

/// Throughput over the load window, per second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Source events the plants meant to send.
    pub emitted_per_s: f64,
    /// Source events the SUT acknowledged.
    pub acked_per_s: f64,
    /// Effects committed in the target simulators.
    pub effects_per_s: f64,
    /// Effects per route.
    pub routes: BTreeMap<String, f64>,
    /// Per plant: events emitted and acknowledged per second.
    pub plants: BTreeMap<String, PlantRate>,
}

/// One plant's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PlantRate {
    /// Emitted per second.
    pub emitted_per_s: f64,
    /// Acknowledged per second.
    pub acked_per_s: f64,
}

/// SUT errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    /// Delivery attempts.
    pub attempts: u64,
    /// Failed attempts (poison rejections aside).
    pub total: u64,
    /// `total` over the attempts that were not poison rejections.
    pub rate: f64,
    /// By class (`503 server error`, `429 too many requests`, `timeout`, …).
    pub by_class: BTreeMap<String, u64>,
    /// Poison events the SUT rightly rejected.
    pub poison_rejected: u64,
}

/// One emitter's buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Buffer {
    /// Deepest it has been.
    pub max_depth: usize,
    /// Its bound.
    pub capacity: usize,
    /// Events refused while full.
    pub refused: u64,
}

/// One second of the load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondRow {
    /// Seconds since the load started.
    pub second: u64,
    /// Events emitted (by intended time).
    pub emitted: u64,
    /// Of those, acknowledged.
    pub acked: u64,
    /// Effects committed in it.
    pub effects: u64,
    /// Failed delivery attempts that ended in it.
    pub errors: u64,
    /// End-to-end p50 of its events.
    pub e2e_p50_us: u64,
    /// End-to-end p99 of its events.
    pub e2e_p99_us: u64,
    /// Ingress p50 of its events.
    pub ingress_p50_us: u64,
    /// Ingress p99 of its events.
    pub ingress_p99_us: u64,
}

/// One threshold and how it came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// As written.
    pub threshold: String,
    /// `pass`, `breached` or `unknown`.
    pub outcome: String,
    /// The value measured, in the threshold's unit (`1.84s`, `0.02 %`, `2140/s`).
    pub measured: Option<String>,
    /// Why it is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Everything `load.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Pass, breached or invalid.
    pub verdict: LoadVerdict,
    /// Why the run is invalid.
    pub invalid: Vec<String>,
    /// What is worth knowing but decides nothing.
    pub warnings: Vec<String>,
    /// The flags that changed the scenario.
    pub overrides: Overrides,
    /// Length of the load, in seconds.
    pub duration_s: f64,
    /// What the generator did.
    pub generator: Generator,
    /// Throughput.
    pub throughput: Throughput,
    /// End-to-end latency, every route.
    pub e2e: Summary,
    /// End-to-end latency per route.
    pub routes: BTreeMap<String, Summary>,
    /// Ingress latency, every system.
    pub ingress: Summary,
    /// Ingress latency per emitting system.
    pub ingress_by_system: BTreeMap<System, Summary>,
    /// SUT errors.
    pub errors: Errors,
    /// Emitter buffers.
    pub buffers: BTreeMap<System, Buffer>,
    /// Buffer depths once a second.
    pub depths: Vec<DepthSample>,
    /// Per second.
    pub seconds: Vec<SecondRow>,
    /// The thresholds.
    pub thresholds: Vec<ThresholdResult>,
}

/// What the load produced besides the history.
pub struct Inputs<'a> {
    /// The measures from the history.
    pub measures: &'a Measures,
    /// What the load driver did.
    pub driver: &'a LoadStats,
    /// Emitter counters at the end.
    pub emitters: &'a BTreeMap<System, EmitterStats>,
    /// Buffer depths once a second.
    pub depths: &'a [DepthSample],
    /// The scenario's thresholds.
    pub thresholds: &'a [Threshold],
    /// The flags.
    pub overrides: &'a Overrides,
    /// Lanes per emitter.
    pub connections: usize,
}

impl LoadReport {
    /// Judges the load: whether the run is valid, what it measured, and how each threshold
    /// came out.
    pub fn build(i: Inputs<'_>) -> Self {
        let m = i.measures;
        let secs = m.duration.as_secs_f64().max(1e-9);
        let dropped: u64 = i.emitters.values().map(|e| e.refused).sum();
        let invalid = invalidity(&i, dropped);
        let thresholds = judge(i.thresholds, m);
        let verdict = if !invalid.is_empty() {
            LoadVerdict::Invalid
        } else if thresholds.iter().any(|t| t.outcome != "pass") {
            LoadVerdict::Breached
        } else {
            LoadVerdict::Pass
        };
        LoadReport {
            verdict,
            invalid,
            warnings: warnings(m),
            overrides: i.overrides.clone(),
            duration_s: m.duration.as_secs_f64(),
            generator: Generator::of(&i, dropped),
            throughput: Throughput::of(m, secs),
            e2e: Summary::of_histogram(&m.e2e_all()),
            routes: m
                .routes
                .iter()
                .map(|(r, h)| (r.clone(), Summary::of_histogram(h)))
                .collect(),
            ingress: Summary::of_histogram(&m.ingress_all()),
            ingress_by_system: m
                .ingress
                .iter()
                .map(|(s, h)| (*s, Summary::of_histogram(h)))
                .collect(),
            errors: Errors::of(m),
            buffers: i
                .emitters
                .iter()
                .map(|(s, e)| {
                    (
                        *s,
                        Buffer {
                            max_depth: e.max_depth,
                            capacity: e.capacity,
                            refused: e.refused,
                        },
                    )
                })
                .collect(),
            depths: i.depths.to_vec(),
            seconds: m.seconds.iter().map(SecondRow::of).collect(),
            thresholds,
        }
    }

    /// The exit code of the load alone (0, [`EXIT_BREACHED`] or [`EXIT_INVALID`]).
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            LoadVerdict::Pass => 0,
            LoadVerdict::Breached => EXIT_BREACHED,
            LoadVerdict::Invalid => EXIT_INVALID,
        }
    }

    /// Length of the load.
    pub fn duration(&self) -> Duration {
        // Read back from a file: whatever it says, never a panic.
        Duration::try_from_secs_f64(self.duration_s).unwrap_or_default()
    }
}

/// Why the run does not measure the SUT, if it does not: the generator fell behind, or
/// events were dropped (`dropped` of them) because the emitters' buffers were full.
fn invalidity(i: &Inputs<'_>, dropped: u64) -> Vec<String> {
    let mut invalid = Vec::new();
    if i.driver.late > 0 {
        invalid.push(format!(
            "the generator fell behind: {} of {} steps started more than 100 ms after their \
             scheduled time (worst {} ms); lower the rate or give the harness more CPU",
            i.driver.late, i.driver.scheduled, i.driver.max_lateness_ms
        ));
    }
    if dropped > 0 {
        invalid.push(format!(
            "{dropped} events were dropped: the emitters' buffers were full ({}); \
             raise options.<system>.buffer_capacity or --connections, or lower the rate",
            i.emitters
                .iter()
                .filter(|(_, e)| e.refused > 0)
                .map(|(s, e)| format!("{s}: {} of {}", e.refused, e.capacity))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    invalid
}

/// What is worth knowing without making the run invalid: more than 1 % of the sends
/// started late.
fn warnings(m: &Measures) -> Vec<String> {
    let mut warnings = Vec::new();
    let sendable = m.emitted.saturating_sub(m.poison).max(1);
    if m.late_sends * 100 > sendable {
        warnings.push(format!(
            "{} of {} sends ({:.1} %) started more than {} ms after their intended time: the \
             SUT's ingress held them back (every connection busy, or an aggregate's earlier \
             event unanswered); their latency counts that wait",
            m.late_sends,
            sendable,
            100.0 * m.late_sends as f64 / sendable as f64,
            LATE_SEND.as_millis()
        ));
    }
    warnings
}

/// Each threshold judged against the measures.
fn judge(thresholds: &[Threshold], m: &Measures) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| {
            let (outcome, measured, why) = match t.judge(m) {
                Outcome::Pass(v) => ("pass", Some(t.show(v)), None),
                Outcome::Breached(v) => ("breached", Some(t.show(v)), None),
                Outcome::Unknown(why) => ("unknown", None, Some(why)),
            };
            ThresholdResult {
                threshold: t.text.clone(),
                outcome: outcome.into(),
                measured,
                why,
            }
        })
        .collect()
}

impl Generator {
    /// What the load driver and emitters did (`dropped` events refused by full buffers).
    fn of(i: &Inputs<'_>, dropped: u64) -> Self {
        let m = i.measures;
        Generator {
            scheduled_steps: i.driver.scheduled,
            late_steps: i.driver.late,
            max_step_lateness_ms: i.driver.max_lateness_ms,
            events: m.emitted,
            dropped,
            late_sends: m.late_sends,
            send_lag: Summary::of_histogram(&m.send_lag),
            connections: i.connections,
        }
    }
}

impl Throughput {
    /// Rates over the `secs` seconds of the load: overall, per route and per plant.
    fn of(m: &Measures, secs: f64) -> Self {
        Throughput {
            emitted_per_s: m.emitted as f64 / secs,
            acked_per_s: m.acked as f64 / secs,
            effects_per_s: m.effect_count() as f64 / secs,
            routes: m
                .effects
                .iter()
                .map(|(r, n)| (r.clone(), *n as f64 / secs))
                .collect(),
            plants: m
                .plants
                .iter()
                .map(|(p, c)| {
                    (
                        p.clone(),
                        PlantRate {
                            emitted_per_s: c.emitted as f64 / secs,
                            acked_per_s: c.acked as f64 / secs,
                        },
                    )
                })
                .collect(),
        }
    }
}

impl Errors {
    /// Failed delivery attempts, their rate over the attempts that count (poison
    /// rejections aside) and their classes.
    fn of(m: &Measures) -> Self {
        let counted = m.attempts.saturating_sub(m.poison_rejected);
        Errors {
            attempts: m.attempts,
            total: m.error_count(),
            rate: if counted == 0 {
                0.0
            } else {
                m.error_count() as f64 / counted as f64
            },
            by_class: m.errors.clone(),
            poison_rejected: m.poison_rejected,
        }
    }
}

impl SecondRow {
    /// One second's counts and latency quantiles.
    fn of(s: &Second) -> Self {
        SecondRow {
            second: s.second,
            emitted: s.emitted,
            acked: s.acked,
            effects: s.effects,
            errors: s.errors,
            e2e_p50_us: q(&s.e2e, 0.5),
            e2e_p99_us: q(&s.e2e, 0.99),
            ingress_p50_us: q(&s.ingress, 0.5),
            ingress_p99_us: q(&s.ingress, 0.99),
        }
    }
}

/// The `q` quantile of `h`, 0 when it is empty.
fn q(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn inputs<'a>(
        m: &'a Measures,
        driver: &'a LoadStats,
        emitters: &'a BTreeMap<System, EmitterStats>,
        thresholds: &'a [Threshold],
        overrides: &'a Overrides,
    ) -> Inputs<'a> {
        Inputs {
            measures: m,
            driver,
            emitters,
            depths: &[],
            thresholds,
            overrides,
            connections: 32,
        }
    }

    #[test]
    fn a_generator_that_fell_behind_makes_the_run_invalid_whatever_the_thresholds() {
        let m = Measures::from_records(&[], Utc::now(), Duration::from_secs(10));
        let driver = LoadStats {
            scheduled: 100,
            late: 3,
            max_lateness_ms: 250,
            emitted: 100,
        };
        let o = Overrides::default();
        let r = LoadReport::build(inputs(&m, &driver, &BTreeMap::new(), &[], &o));
        assert_eq!(r.verdict, LoadVerdict::Invalid);
        assert_eq!(r.exit_code(), EXIT_INVALID);
        assert!(r.invalid[0].contains("3 of 100 steps"), "{:?}", r.invalid);
    }

    #[test]
    fn dropped_events_make_the_run_invalid() {
        let m = Measures::from_records(&[], Utc::now(), Duration::from_secs(10));
        let emitters = BTreeMap::from([(
            System::Mes,
            EmitterStats {
                refused: 7,
                capacity: 100,
                ..EmitterStats::default()
            },
        )]);
        let o = Overrides::default();
        let r = LoadReport::build(inputs(&m, &LoadStats::default(), &emitters, &[], &o));
        assert_eq!(r.verdict, LoadVerdict::Invalid);
        assert!(r.invalid[0].contains("mes: 7 of 100"), "{:?}", r.invalid);
    }

    #[test]
    fn an_unknown_threshold_is_not_a_pass() {
        let m = Measures::from_records(&[], Utc::now(), Duration::from_secs(10));
        let t: Vec<Threshold> = vec!["p99 < 2s on mes.consumed -> erp".parse().unwrap()];
        let o = Overrides::default();
        let r = LoadReport::build(inputs(&m, &LoadStats::default(), &BTreeMap::new(), &t, &o));
        assert_eq!(r.verdict, LoadVerdict::Breached);
        assert_eq!(r.exit_code(), EXIT_BREACHED);
        assert_eq!(r.thresholds[0].outcome, "unknown");
    }

    #[test]
    fn no_thresholds_and_a_valid_generator_pass() {
        let m = Measures::from_records(&[], Utc::now(), Duration::from_secs(10));
        let o = Overrides::default();
        let r = LoadReport::build(inputs(&m, &LoadStats::default(), &BTreeMap::new(), &[], &o));
        assert_eq!(r.verdict, LoadVerdict::Pass);
        assert_eq!(r.exit_code(), 0);
    }
}
