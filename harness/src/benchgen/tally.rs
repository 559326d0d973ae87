//! What a generator run measured: latency percentiles per kind of lateness, and the
//! tally of a run's history records.

use std::collections::HashMap;

use andon_simulators::history::{Entry, Record};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::LATE;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// Latencies as they are recorded: a histogram (three significant digits) and the exact
/// largest value.
pub(super) struct Latencies {
    histogram: Histogram<u64>,
    max: u64,
}

impl Latencies {
    fn new() -> Self {
        // 1 µs to an hour at three significant digits; larger values saturate.
        let histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .unwrap_or_else(|_| unreachable!("the bounds are valid"));
        Self { histogram, max: 0 }
    }

    fn record(&mut self, us: u64) {
        self.histogram.saturating_record(us.max(1));
        self.max = self.max.max(us);
    }

    fn percentiles(&self) -> Percentiles {
        let h = &self.histogram;
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            // A bucket's highest value may lie above the largest value recorded.
            p50_us: h.value_at_quantile(0.5).min(self.max),
            p90_us: h.value_at_quantile(0.9).min(self.max),
            p99_us: h.value_at_quantile(0.99).min(self.max),
            p999_us: h.value_at_quantile(0.999).min(self.max),
            max_us: self.max,
        }
    }
}

/// What a window of history records says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Events generated.
    pub emitted: u64,
    /// Requests sent: `delivery` records, one per attempt.
    pub sent: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests not answered 2xx (another status, or no answer).
    pub errors: u64,
    /// The headline latency: each attempt's round trip (closed loop), or from the event's
    /// intended time to the answer (open model).
    pub latency: Percentiles,
    /// Each attempt's round trip as the emitter recorded it (`latency_us`), in both modes.
    pub service: Percentiles,
    /// First attempts that started more than [`LATE`] after their intended time (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_starts: Option<u64>,
    /// Worst lateness of a first attempt's start, in microseconds (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lateness_us: Option<u64>,
}

pub(super) fn micros(d: chrono::Duration) -> u64 {
    d.num_microseconds().unwrap_or(i64::MAX).max(0) as u64
}

/// Counts and latencies of `records`, every `delivery` record among them. With
/// `from_intended`, latency runs from the event's intended time (its `event_emitted`
/// record, which must be among `records`) and late starts are counted.
pub fn tally(records: &[Record], from_intended: bool) -> Tally {
    let mut intended: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut t = Tally::default();
    if from_intended {
        for r in records {
            if let Entry::EventEmitted {
                event, intended_at, ..
            } = &r.entry
            {
                intended.insert(event.id.as_str(), *intended_at);
            }
        }
        t.late_starts = Some(0);
        t.max_lateness_us = Some(0);
    }
    let mut latency = Latencies::new();
    let mut service = Latencies::new();
    for r in records {
        match &r.entry {
            Entry::EventEmitted { .. } => t.emitted += 1,
            Entry::Delivery {
                event,
                attempt,
                status,
                puback,
                latency_us,
                ..
            } => {
                t.sent += 1;
                // A 2xx answer, or a broker's successful PUBACK.
                if status.is_some_and(|s| (200..300).contains(&s)) || *puback == Some(0) {
                    t.ok += 1;
                } else {
                    t.errors += 1;
                }
                service.record(*latency_us);
                let mut headline = *latency_us;
                if let Some(&at) = intended.get(event.id.as_str()) {
                    headline = micros(r.at - at);
                    if *attempt == 1 {
                        let started = r.at - chrono::Duration::microseconds(*latency_us as i64);
                        let late = micros(started - at);
                        if let Some(n) = t.late_starts.as_mut()
                            && late > LATE.as_micros() as u64
                        {
                            *n += 1;
                        }
                        if let Some(m) = t.max_lateness_us.as_mut() {
                            *m = (*m).max(late);
                        }
                    }
                }
                latency.record(headline);
            }
            _ => {}
        }
    }
    t.latency = latency.percentiles();
    t.service = service.percentiles();
    t
}
