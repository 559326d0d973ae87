//! Thresholds of a load run, k6-style: each is one line of a scenario's `thresholds:`, and
//! together they decide the exit code of `andon load`.
//!
//! ```text
//! p99 < 2s on mes.consumed -> erp      end-to-end latency of a route (source event -> effect)
//! ingress p95 <= 150ms                 the SUT's answer to a delivery, all systems
//! ingress p99 < 300ms on mes           ... of one emitting system
//! max < 10s                            every route together
//! error rate < 0.1 %                   SUT errors over deliveries
//! throughput >= 2000/s                 effects per second (also `/min`)
//! throughput >= 500/s on mes.consumed -> erp
//! ```
//!
//! Statistics: `p50`, `p90`, `p95`, `p99`, `p99.9` (any `pNN[.N]`), `mean`, `max`.
//! Comparisons: `<`, `<=`, `>`, `>=` (also `≤`, `≥`). Durations: `us`, `ms`, `s`, `m`
//! with decimals (`1.5s`). A threshold that cannot be read says at which column and what
//! was expected; one whose metric has no sample is *unknown*, never passed.

mod read;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The highest latency bound a threshold takes: the longest duration andon takes anywhere.
pub const MAX_LATENCY: std::time::Duration = andon_simulators::faults::Dur::MAX;

/// Which latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Source event's intended send time to its effect in the target simulator.
    EndToEnd,
    /// A delivery to the SUT's ingress until its answer.
    Ingress,
}

/// A statistic of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// A percentile, 0 < p <= 100.
    Percentile(f64),
    /// The mean.
    Mean,
    /// The maximum.
    Max,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency statistic (limit in microseconds).
    Latency(Latency, Stat),
    /// SUT errors over deliveries (limit as a fraction).
    ErrorRate,
    /// Effects per second (limit per second).
    Throughput,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// One threshold, as written and as understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The text as written.
    pub text: String,
    /// What it measures.
    pub metric: Metric,
    /// How the value compares with the limit.
    pub op: Op,
    /// The limit: microseconds, a fraction, or per second (see [`Metric`]).
    pub limit: f64,
    /// The route (`mes.consumed -> erp`) or emitting system (`mes`) it is about, if one.
    pub on: Option<String>,
}

/// A threshold that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("threshold {text:?}, column {column}: {message}")]
pub struct ThresholdError {
    /// The text.
    pub text: String,
    /// 1-based column of the problem.
    pub column: usize,
    /// What was expected.
    pub message: String,
}

/// What a run measured, as the thresholds ask for it.
pub trait Observed {
    /// The latency statistic in microseconds over `on` (a route, an emitting system, or
    /// all), or `None` without samples.
    fn latency(&self, which: Latency, stat: Stat, on: Option<&str>) -> Option<f64>;
    /// SUT errors over deliveries, or `None` without deliveries.
    fn error_rate(&self) -> Option<f64>;
    /// Effects per second over the load (on a route, or all), or `None` without effects.
    fn throughput(&self, on: Option<&str>) -> Option<f64>;
}

/// How a threshold came out.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It held; the value measured.
    Pass(f64),
    /// It was breached; the value measured.
    Breached(f64),
    /// Nothing to measure it on (never a pass).
    Unknown(String),
}

impl Threshold {
    /// Compares what was measured with the limit.
    pub fn judge(&self, observed: &impl Observed) -> Outcome {
        let on = self.on.as_deref();
        let value = match self.metric {
            Metric::Latency(which, stat) => observed.latency(which, stat, on),
            Metric::ErrorRate => observed.error_rate(),
            Metric::Throughput => observed.throughput(on),
        };
        match value {
            Some(v) if self.op.holds(v, self.limit) => Outcome::Pass(v),
            Some(v) => Outcome::Breached(v),
            None => Outcome::Unknown(match on {
                Some(on) => format!("no sample on {on}"),
                None => "no sample".into(),
            }),
        }
    }

    /// `value` in the threshold's own unit, for reports (`1.84s`, `0.02 %`, `2140/s`).
    pub fn show(&self, value: f64) -> String {
        match self.metric {
            Metric::Latency(..) => show_micros(value),
            Metric::ErrorRate => format!("{} %", trim(value * 100.0)),
            Metric::Throughput => format!("{}/s", trim(value)),
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn show_micros(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", trim(us / 1e6))
    } else if us >= 1e3 {
        format!("{}ms", trim(us / 1e3))
    } else {
        format!("{}us", trim(us))
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.metric {
            Metric::Latency(which, stat) => {
                if which == Latency::Ingress {
                    f.write_str("ingress ")?;
                }
                match stat {
                    Stat::Percentile(p) => write!(f, "p{}", trim(p))?,
                    Stat::Mean => f.write_str("mean")?,
                    Stat::Max => f.write_str("max")?,
                }
            }
            Metric::ErrorRate => f.write_str("error rate")?,
            Metric::Throughput => f.write_str("throughput")?,
        }
        write!(f, " {} {}", self.op.as_str(), self.show(self.limit))?;
        if let Some(on) = &self.on {
            write!(f, " on {on}")?;
        }
        Ok(())
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(s: &str) -> Threshold {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_the_thresholds_of_the_issue() {
        let a = t("p99 < 2s on mes.consumed -> erp");
        assert_eq!(
            a.metric,
            Metric::Latency(Latency::EndToEnd, Stat::Percentile(99.0))
        );
        assert_eq!((a.op, a.limit), (Op::Lt, 2e6));
        assert_eq!(a.on.as_deref(), Some("mes.consumed -> erp"));
        let b = t("error rate < 0.1 %");
        assert_eq!((b.metric, b.op), (Metric::ErrorRate, Op::Lt));
        assert!((b.limit - 0.001).abs() < 1e-12);
        let c = t("throughput ≥ 2000/s");
        assert_eq!(
            (c.metric, c.op, c.limit),
            (Metric::Throughput, Op::Ge, 2000.0)
        );
        let d = t("ingress p99.9 <= 1.5s on mes");
        assert_eq!(
            d.metric,
            Metric::Latency(Latency::Ingress, Stat::Percentile(99.9))
        );
        assert_eq!((d.limit, d.on.as_deref()), (1.5e6, Some("mes")));
        assert_eq!(t("throughput > 90000/min").limit, 1500.0);
    }

    #[test]
    fn a_bad_threshold_says_where_and_what_was_expected() {
        let e = |s: &str| s.parse::<Threshold>().unwrap_err();
        let x = e("p99 2s");
        assert_eq!(
            (x.column, x.message.as_str()),
            (5, "expected a comparison: <, <=, > or >=")
        );
        let x = e("p99 < 2 on mes.consumed -> erp");
        assert_eq!(x.column, 7);
        assert!(
            x.message.starts_with("a latency needs a unit"),
            "{}",
            x.message
        );
        let x = e("latency < 2s");
        assert_eq!(x.column, 1);
        assert!(
            x.message.starts_with("unknown metric \"latency\""),
            "{}",
            x.message
        );
        let x = e("error rate < 0.1 % on mes");
        assert!(x.message.contains("whole run"), "{}", x.message);
        let x = e("throughput >= 2000");
        assert!(x.message.contains("2000/s"), "{}", x.message);
        assert_eq!(
            e("p101 < 2s").message.split(',').next(),
            Some("unknown metric \"p101\"")
        );
        assert_eq!(
            e("p99 < 2s on").to_string(),
            "threshold \"p99 < 2s on\", column 12: expected a route (mes.consumed -> erp) or a system after \"on\""
        );
    }

    struct Fixed;
    impl Observed for Fixed {
        fn latency(&self, which: Latency, _: Stat, on: Option<&str>) -> Option<f64> {
            match (which, on) {
                (Latency::EndToEnd, Some("mes.consumed -> erp")) => Some(1_840_000.0),
                (Latency::EndToEnd, Some(_)) => None,
                _ => Some(90_000.0),
            }
        }
        fn error_rate(&self) -> Option<f64> {
            Some(0.002)
        }
        fn throughput(&self, _: Option<&str>) -> Option<f64> {
            Some(2140.0)
        }
    }

    #[test]
    fn judges_pass_breach_and_unknown() {
        assert_eq!(
            t("p99 < 2s on mes.consumed -> erp").judge(&Fixed),
            Outcome::Pass(1_840_000.0)
        );
        assert_eq!(
            t("error rate < 0.1 %").judge(&Fixed),
            Outcome::Breached(0.002)
        );
        assert_eq!(
            t("throughput >= 2000/s").judge(&Fixed),
            Outcome::Pass(2140.0)
        );
        assert!(matches!(
            t("p99 < 2s on qms.hold -> wms").judge(&Fixed),
            Outcome::Unknown(r) if r == "no sample on qms.hold -> wms"
        ));
        let r = t("p99 < 2s on mes.consumed -> erp");
        assert_eq!(r.show(1_840_000.0), "1.84s");
        assert_eq!(t("error rate < 0.1 %").show(0.002), "0.2 %");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// What a threshold prints reads back as the same threshold.
        #[test]
        fn display_reads_back(
            ingress in any::<bool>(),
            kind in 0u8..5,
            p in prop::sample::select(vec![50.0, 90.0, 95.0, 99.0, 99.9]),
            op in prop::sample::select(vec![Op::Lt, Op::Le, Op::Gt, Op::Ge]),
            limit_ms in 1u32..100_000,
            on in prop::option::of(prop::sample::select(vec!["mes.consumed -> erp", "qms.hold -> wms", "mes"])),
        ) {
            let metric = match kind {
                0 => Metric::Latency(if ingress { Latency::Ingress } else { Latency::EndToEnd }, Stat::Percentile(p)),
                1 => Metric::Latency(Latency::EndToEnd, Stat::Max),
                2 => Metric::Latency(Latency::Ingress, Stat::Mean),
                3 => Metric::ErrorRate,
                _ => Metric::Throughput,
            };
            let limit = match metric {
                Metric::Latency(..) => f64::from(limit_ms) * 1e3,
                Metric::ErrorRate => f64::from(limit_ms % 1000) / 1000.0,
                Metric::Throughput => f64::from(limit_ms),
            };
            let on = if metric == Metric::ErrorRate { None } else { on.map(str::to_string) };
            let th = Threshold { text: String::new(), metric, op, limit, on };
            let back: Threshold = th.to_string().parse().map_err(|e: ThresholdError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.metric, th.metric);
            prop_assert_eq!(back.op, th.op);
            prop_assert!((back.limit - th.limit).abs() <= th.limit.abs() * 1e-9 + 1e-9, "{} vs {}", back.limit, th.limit);
            prop_assert_eq!(back.on, th.on);
        }
    }
}
