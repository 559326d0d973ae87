//! While a load runs: the emitters' buffer depths sampled once a second, and the live
//! line of the progress bar (current rate, ingress p99 so far, errors), read from the
//! history as it grows (in-process; in containers the line shows the rate from the
//! emitters' counters only, as the history is fetched at the end).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::History;
use andon_simulators::emitter::EmitterStats;
use andon_simulators::history::{Entry, Outcome};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::measure::{error_class, histogram};
use crate::history::latency::fmt_us;

/// The emitters at one second of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthSample {
    /// Seconds since the load started.
    pub second: u64,
    /// Events waiting or being delivered, per emitting system.
    pub pending: BTreeMap<System, usize>,
}

/// The sampler and the live counters.
pub struct Live {
    next: Duration,
    cursor: u64,
    intended: HashMap<(String, String), DateTime<Utc>>,
    ingress: Histogram<u64>,
    acked: u64,
    errors: u64,
    attempts: u64,
    /// Emitted per sampled second, for the current rate.
    last_emitted: u64,
    rate: f64,
    /// The samples taken.
    pub depths: Vec<DepthSample>,
    /// The emitters' counters at the last sample.
    pub emitters: BTreeMap<System, EmitterStats>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// Nothing sampled yet.
    pub fn new() -> Self {
        Self {
            next: Duration::ZERO,
            cursor: 0,
            intended: HashMap::new(),
            ingress: histogram(),
            acked: 0,
            errors: 0,
            attempts: 0,
            last_emitted: 0,
            rate: 0.0,
            depths: Vec::new(),
            emitters: BTreeMap::new(),
        }
    }

    /// Called on every tick of the load driver with the time since the load started;
    /// samples once a second. Returns the live line when it sampled.
    pub fn tick(
        &mut self,
        t: Duration,
        emitters: impl FnOnce() -> BTreeMap<System, EmitterStats>,
        history: Option<&History>,
    ) -> Option<String> {
        if t < self.next {
            return None;
        }
        let elapsed = self.next;
        self.next += Duration::from_secs(1);
        self.emitters = emitters();
        self.depths.push(DepthSample {
            second: elapsed.as_secs(),
            pending: self.emitters.iter().map(|(s, e)| (*s, e.pending)).collect(),
        });
        let emitted: u64 = self.emitters.values().map(|e| e.emitted).sum();
        if elapsed > Duration::ZERO {
            self.rate = emitted.saturating_sub(self.last_emitted) as f64;
        }
        self.last_emitted = emitted;
        if let Some(h) = history {
            self.read(h);
        }
        Some(self.line(history.is_some()))
    }

    fn read(&mut self, history: &History) {
        let cursor = &mut self.cursor;
        let (intended, ingress) = (&mut self.intended, &mut self.ingress);
        let (acked, errors, attempts) = (&mut self.acked, &mut self.errors, &mut self.attempts);
        history.with_records(|records| {
            for r in records.iter().skip(*cursor as usize) {
                match &r.entry {
                    Entry::EventEmitted {
                        event,
                        intended_at,
                        poison: None,
                    } => {
                        intended.insert((event.source.clone(), event.id.clone()), *intended_at);
                    }
                    Entry::Delivery {
                        event,
                        outcome,
                        status,
                        error,
                        ..
                    } => {
                        *attempts += 1;
                        let key = (event.source.clone(), event.id.clone());
                        if *outcome == Outcome::Ok {
                            if let Some(at) = intended.remove(&key) {
                                *acked += 1;
                                let us = (r.at - at).num_microseconds().unwrap_or(0).max(1);
                                ingress.saturating_record(us as u64);
                            }
                        } else if intended.contains_key(&key)
                            && error_class(*outcome, *status, error.as_deref()).is_some()
                        {
                            *errors += 1;
                        }
                    }
                    _ => {}
                }
            }
            *cursor = records.len() as u64;
        });
    }

    /// `412 ev/s · ingress p99 180ms · errors 0 (0.00 %) · buffered 12`.
    pub fn line(&self, with_history: bool) -> String {
        let buffered: usize = self.emitters.values().map(|e| e.pending).sum();
        let mut s = format!("{:.0} ev/s", self.rate);
        if with_history {
            let p99 = if self.ingress.is_empty() {
                "-".to_string()
            } else {
                fmt_us(self.ingress.value_at_quantile(0.99))
            };
            let pct = if self.attempts == 0 {
                0.0
            } else {
                100.0 * self.errors as f64 / self.attempts as f64
            };
            s.push_str(&format!(
                " · ingress p99 {p99} · errors {} ({pct:.2} %)",
                self.errors
            ));
        }
        s.push_str(&format!(" · buffered {buffered}"));
        s
    }

    /// Events the emitters refused because their buffer was full, over all systems.
    pub fn dropped(&self) -> u64 {
        self.emitters.values().map(|e| e.refused).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use andon_contracts::{EventKind, PlantId};

    fn stats(emitted: u64, pending: usize) -> BTreeMap<System, EmitterStats> {
        BTreeMap::from([(
            System::Mes,
            EmitterStats {
                emitted,
                pending,
                ..EmitterStats::default()
            },
        )])
    }

    #[test]
    fn samples_once_a_second_and_reads_only_new_records() {
        let h = History::new();
        let mut live = Live::new();
        assert!(
            live.tick(Duration::ZERO, || stats(0, 0), Some(&h))
                .is_some()
        );
        assert!(
            live.tick(Duration::from_millis(500), || stats(5, 1), Some(&h))
                .is_none()
        );
        let at = Utc::now();
        let event = andon_contracts::CloudEvent {
            specversion: "1.0".into(),
            id: "e1".into(),
            source: "/andon/mes/1000".into(),
            type_: EventKind::MaterialConsumed.type_name(),
            subject: "order-1".into(),
            time: at,
            datacontenttype: "application/json".into(),
            plant: PlantId::parse("1000").unwrap(),
            sequence: 1,
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            data: serde_json::json!({}).into(),
        };
        h.append(
            System::Mes,
            Entry::EventEmitted {
                event: event.clone().into(),
                intended_at: at,
                poison: None,
            },
        );
        h.append(
            System::Mes,
            Entry::Delivery {
                event: event.key(),
                attempt: 1,
                url: "http://sut".into(),
                outcome: Outcome::Fail,
                status: Some(503),
                puback: None,
                error: None,
                content_type: None,
                rejected: false,
                latency_us: 10,
            },
        );
        h.append(
            System::Mes,
            Entry::Delivery {
                event: event.key(),
                attempt: 2,
                url: "http://sut".into(),
                outcome: Outcome::Ok,
                status: Some(202),
                puback: None,
                error: None,
                content_type: None,
                rejected: false,
                latency_us: 10,
            },
        );
        let line = live
            .tick(Duration::from_secs(1), || stats(40, 7), Some(&h))
            .unwrap();
        assert!(line.starts_with("40 ev/s"), "{line}");
        assert!(line.contains("errors 1 (50.00 %)"), "{line}");
        assert!(line.ends_with("buffered 7"), "{line}");
        assert_eq!(live.depths.len(), 2);
        assert_eq!(live.depths[1].pending[&System::Mes], 7);
        // Read again: nothing new is counted twice.
        live.tick(Duration::from_secs(2), || stats(40, 0), Some(&h));
        assert_eq!(live.acked, 1);
        assert_eq!(live.errors, 1);
    }
}
