//! Latency percentiles from raw samples (microseconds), by nearest rank.
//!
//! Reports keep every sample of a run so percentiles are exact; the SLA checker's HDR
//! histograms (3 significant digits) may differ from these in the last digit.

use serde::{Deserialize, Serialize};

/// The nearest-rank `q`-quantile (`0.0..=1.0`) of ascending `sorted` samples; `None` when
/// there are none. `q = 0` is the minimum and `q = 1` the maximum.
///
/// ```
/// use andon::history::latency::quantile;
/// let s: Vec<u64> = (1..=100).collect();
/// assert_eq!(quantile(&s, 0.5), Some(50));
/// assert_eq!(quantile(&s, 0.99), Some(99));
/// assert_eq!(quantile(&s, 1.0), Some(100));
/// assert_eq!(quantile(&[], 0.5), None);
/// ```
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    // The small allowance keeps 0.99 × 100 at rank 99 despite binary fractions.
    let rank = ((q * n as f64) - 1e-9).ceil().max(1.0) as usize;
    Some(sorted[rank.min(n) - 1])
}

/// Percentiles of one route, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
    /// Arithmetic mean, rounded down.
    pub mean_us: u64,
}

impl LatencySummary {
    /// Summarises ascending `sorted` samples; `None` when there are none.
    pub fn of(sorted: &[u64]) -> Option<Self> {
        let q = |q| quantile(sorted, q);
        let sum: u128 = sorted.iter().map(|&s| u128::from(s)).sum();
        Some(Self {
            count: sorted.len() as u64,
            min_us: q(0.0)?,
            p50_us: q(0.5)?,
            p90_us: q(0.9)?,
            p95_us: q(0.95)?,
            p99_us: q(0.99)?,
            p999_us: q(0.999)?,
            max_us: q(1.0)?,
            mean_us: (sum / sorted.len() as u128) as u64,
        })
    }

    /// Summarises an HDR histogram (3 significant digits); all zero when it is empty.
    pub fn of_histogram(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            min_us: h.min(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p95_us: h.value_at_quantile(0.95),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean() as u64,
        }
    }
}

/// A latency in microseconds for people: `850µs`, `12.3ms`, `2.45s`.
///
/// ```
/// use andon::history::latency::fmt_us;
/// assert_eq!(fmt_us(850), "850µs");
/// assert_eq!(fmt_us(12_340), "12.3ms");
/// assert_eq!(fmt_us(2_000_000), "2s");
/// assert_eq!(fmt_us(2_456_000), "2.46s");
/// ```
pub fn fmt_us(us: u64) -> String {
    fn trim(s: String) -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{}ms", trim(format!("{:.1}", us as f64 / 1e3))),
        _ => format!("{}s", trim(format!("{:.2}", us as f64 / 1e6))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_is_every_percentile() {
        let s = LatencySummary::of(&[7]).expect("one sample");
        assert_eq!(
            (s.min_us, s.p50_us, s.p999_us, s.max_us, s.mean_us),
            (7, 7, 7, 7, 7)
        );
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<u64> = (1..=1000).collect();
        let sum = LatencySummary::of(&s).expect("samples");
        assert_eq!(
            (sum.p50_us, sum.p90_us, sum.p95_us, sum.p99_us, sum.p999_us),
            (500, 900, 950, 990, 999)
        );
        assert_eq!(sum.mean_us, 500);
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(LatencySummary::of(&[]), None);
    }
}
