//! What a load run measured, read from its history after the run (so `andon check` could
//! read it again from the run directory): latencies in HDR histograms, throughput, SUT
//! errors by class, per second and per plant.
//!
//! * **End-to-end**, per route (`mes.consumed -> erp`): the source event's intended send
//!   time to the first effect realising it in the target simulator, as the SLA checker
//!   measures it ([`crate::check::sla`]).
//! * **Ingress**, per emitting system: the event's intended send time to the SUT's first
//!   2xx answer to its delivery. Measured from the intended time, not from when the
//!   request left, so time spent queued behind a slow SUT is counted (no coordinated
//!   omission); `send lag` (intended time to the first attempt's start) says how much of
//!   it was queueing.
//! * **Errors**: delivery attempts the SUT did not take, by class (`5xx`, `429`, `408`,
//!   `4xx rejected`, `timeout`, `connection`). Rejections of poison events are the SUT
//!   doing its job and are counted apart, not as errors.
//! * **Throughput**: effects committed within the load window, per second of it.
//!
//! Each sample falls in the second of its event's intended time: the per-second series and
//! the HDR interval log show the latency of what was sent at that second.

mod read;

use std::collections::BTreeMap;
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::history::Outcome;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::threshold::{Latency, Observed, Stat};

/// A send that starts this long after its intended time is counted late.
pub const LATE_SEND: Duration = Duration::from_millis(100);

/// An empty latency histogram: 1 µs to one day, 3 significant digits (longer latencies
/// saturate at a day).
pub fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 86_400_000_000, 3)
        .expect("the bounds and precision are valid")
}

/// One second of the load.
#[derive(Debug, Clone)]
pub struct Second {
    /// Seconds since the load started.
    pub second: u64,
    /// Events the plants meant to send in it.
    pub emitted: u64,
    /// Of those, acknowledged by the SUT.
    pub acked: u64,
    /// Effects committed in it.
    pub effects: u64,
    /// Delivery attempts that ended in it, and of those errors.
    pub attempts: u64,
    /// Errors among `attempts`.
    pub errors: u64,
    /// End-to-end latency of its events, every route.
    pub e2e: Histogram<u64>,
    /// Ingress latency of its events, every system.
    pub ingress: Histogram<u64>,
}

impl Second {
    /// An empty second.
    pub fn new(second: u64) -> Self {
        Self {
            second,
            emitted: 0,
            acked: 0,
            effects: 0,
            attempts: 0,
            errors: 0,
            e2e: histogram(),
            ingress: histogram(),
        }
    }
}

/// Events of one plant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlantCounts {
    /// Emitted within the load.
    pub emitted: u64,
    /// Of those, acknowledged by the SUT.
    pub acked: u64,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct Measures {
    /// When the load started.
    pub start: DateTime<Utc>,
    /// How long it ran.
    pub duration: Duration,
    /// End-to-end latency per route.
    pub routes: BTreeMap<String, Histogram<u64>>,
    /// End-to-end latency per route, by the route's emitting system.
    route_system: BTreeMap<String, System>,
    /// Ingress latency per emitting system.
    pub ingress: BTreeMap<System, Histogram<u64>>,
    /// Effects committed within the load window, per route.
    pub effects: BTreeMap<String, u64>,
    /// Source events emitted.
    pub emitted: u64,
    /// Of those, poison.
    pub poison: u64,
    /// Acknowledged (2xx) at least once.
    pub acked: u64,
    /// Delivery attempts.
    pub attempts: u64,
    /// Failed attempts by class.
    pub errors: BTreeMap<String, u64>,
    /// Poison events the SUT rejected (4xx): expected, not errors.
    pub poison_rejected: u64,
    /// Events whose first attempt started more than [`LATE_SEND`] after its intended time.
    pub late_sends: u64,
    /// Send lag: intended time to the first attempt's start.
    pub send_lag: Histogram<u64>,
    /// Per plant.
    pub plants: BTreeMap<String, PlantCounts>,
    /// Per second of the load (and of the settling after it, while samples land there).
    pub seconds: Vec<Second>,
}

/// The class of a failed delivery attempt, `None` when the SUT took it.
pub fn error_class(outcome: Outcome, status: Option<u16>, error: Option<&str>) -> Option<String> {
    if outcome == Outcome::Ok {
        return None;
    }
    Some(match status {
        Some(429) => "429 too many requests".to_string(),
        Some(408) => "408 request timeout".to_string(),
        Some(s @ 500..=599) => format!("{s} server error"),
        Some(s) => format!("{s} rejected"),
        None if outcome == Outcome::Info => "timeout".to_string(),
        None => match error {
            Some(e) if e.contains("timed out") => "timeout".to_string(),
            _ => "connection".to_string(),
        },
    })
}

impl Measures {
    /// Every route's end-to-end latency in one histogram.
    pub fn e2e_all(&self) -> Histogram<u64> {
        merged(self.routes.values())
    }

    /// Every system's ingress latency in one histogram.
    pub fn ingress_all(&self) -> Histogram<u64> {
        merged(self.ingress.values())
    }

    /// Failed delivery attempts (poison rejections aside).
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Effects committed within the load window.
    pub fn effect_count(&self) -> u64 {
        self.effects.values().sum()
    }

    fn secs(&self) -> f64 {
        self.duration.as_secs_f64().max(1e-9)
    }
}

fn merged<'a>(hs: impl Iterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut all = histogram();
    for h in hs {
        // Same bounds and precision everywhere: adding cannot fail.
        let _ = all.add(h);
    }
    all
}

/// A statistic of a histogram, `None` when it is empty.
pub fn stat(h: &Histogram<u64>, stat: Stat) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    Some(match stat {
        Stat::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
        Stat::Mean => h.mean(),
        Stat::Max => h.max() as f64,
    })
}

impl Observed for Measures {
    fn latency(&self, which: Latency, s: Stat, on: Option<&str>) -> Option<f64> {
        let system = on.and_then(|o| System::ALL.into_iter().find(|x| x.as_str() == o));
        let h = match (which, on, system) {
            (Latency::EndToEnd, None, _) => self.e2e_all(),
            (Latency::EndToEnd, Some(_), Some(sys)) => merged(
                self.routes
                    .iter()
                    .filter(|(r, _)| self.route_system.get(*r) == Some(&sys))
                    .map(|(_, h)| h),
            ),
            (Latency::EndToEnd, Some(route), None) => self.routes.get(route)?.clone(),
            (Latency::Ingress, None, _) => self.ingress_all(),
            (Latency::Ingress, Some(_), Some(sys)) => self.ingress.get(&sys)?.clone(),
            // An ingress latency of a route is the ingress of its emitting system.
            (Latency::Ingress, Some(route), None) => {
                self.ingress.get(self.route_system.get(route)?)?.clone()
            }
        };
        stat(&h, s)
    }

    fn error_rate(&self) -> Option<f64> {
        let counted = self.attempts.saturating_sub(self.poison_rejected);
        (counted > 0).then(|| self.error_count() as f64 / counted as f64)
    }

    fn throughput(&self, on: Option<&str>) -> Option<f64> {
        let system = on.and_then(|o| System::ALL.into_iter().find(|x| x.as_str() == o));
        let n = match (on, system) {
            (None, _) => self.effect_count(),
            (Some(_), Some(sys)) => self
                .effects
                .iter()
                .filter(|(r, _)| self.route_system.get(*r) == Some(&sys))
                .map(|(_, n)| n)
                .sum(),
            (Some(route), None) => *self.effects.get(route)?,
        };
        (n > 0 || self.emitted > 0).then(|| n as f64 / self.secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use andon_contracts::{CloudEvent, EventKind, PlantId, SourceRef};
    use andon_simulators::history::{Entry, Record};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        "2026-12-01T06:00:00Z".parse().unwrap()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::milliseconds(ms)
    }

    fn event(id: &str, kind: EventKind) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id: id.into(),
            source: "/andon/mes/1000".into(),
            type_: kind.type_name(),
            subject: format!("order-{id}"),
            time: t0(),
            datacontenttype: "application/json".into(),
            plant: PlantId::parse("1000").unwrap(),
            sequence: 1,
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            data: serde_json::json!({}).into(),
        }
    }

    fn rec(seq: u64, ms: i64, system: System, entry: Entry) -> Record {
        Record {
            seq,
            at: at(ms),
            system,
            entry,
        }
    }

    fn emitted(seq: u64, ms: i64, e: &CloudEvent, poison: bool) -> Record {
        rec(
            seq,
            ms,
            System::Mes,
            Entry::EventEmitted {
                event: e.clone().into(),
                intended_at: at(ms),
                poison: poison.then(|| "schema".to_string()),
            },
        )
    }

    fn delivery(seq: u64, ms: i64, e: &SourceRef, status: u16, latency_ms: u64) -> Record {
        rec(
            seq,
            ms,
            System::Mes,
            Entry::Delivery {
                event: e.clone(),
                attempt: 1,
                url: "http://sut/events".into(),
                outcome: if status < 300 {
                    Outcome::Ok
                } else {
                    Outcome::Fail
                },
                status: Some(status),
                puback: None,
                error: None,
                content_type: None,
                rejected: (400..500).contains(&status) && status != 429,
                latency_us: latency_ms * 1000,
            },
        )
    }

    fn effect(seq: u64, ms: i64, e: &SourceRef) -> Record {
        rec(
            seq,
            ms,
            System::Erp,
            Entry::Effect {
                effect: "erp.goods_movement".into(),
                key: "261".into(),
                sources: vec![e.clone()],
                traceparent: None,
                outcome: Outcome::Ok,
                detail: serde_json::json!({}).into(),
            },
        )
    }

    #[test]
    fn latencies_count_from_the_intended_time_and_poison_rejections_are_not_errors() {
        let a = event("a", EventKind::MaterialConsumed);
        let p = event("p", EventKind::MaterialConsumed);
        let records = vec![
            emitted(1, 0, &a, false),
            emitted(2, 0, &p, true),
            // Queued 150 ms, refused once with 503, taken at 300 ms; posted at 400 ms.
            delivery(3, 160, &a.key(), 503, 10),
            delivery(4, 300, &a.key(), 202, 20),
            delivery(5, 20, &p.key(), 400, 5),
            effect(6, 400, &a.key()),
        ];
        let m = Measures::from_records(&records, t0(), Duration::from_secs(1));
        assert_eq!((m.emitted, m.poison, m.acked), (2, 1, 1));
        let ingress = &m.ingress[&System::Mes];
        assert_eq!(ingress.len(), 1);
        assert!(
            (299_000..=301_000).contains(&ingress.max()),
            "{}",
            ingress.max()
        );
        let route = &m.routes["mes.consumed -> erp"];
        assert!((399_000..=401_000).contains(&route.max()));
        assert_eq!(
            m.errors,
            BTreeMap::from([("503 server error".to_string(), 1)])
        );
        assert_eq!(m.poison_rejected, 1);
        // One error over the two attempts that were not poison rejections.
        assert_eq!(m.error_rate(), Some(0.5));
        // The first attempt started at 150 ms: a late send.
        assert_eq!(m.late_sends, 1);
        assert_eq!(m.throughput(Some("mes.consumed -> erp")), Some(1.0));
        assert_eq!(m.throughput(Some("mes")), Some(1.0));
        assert!(
            m.latency(Latency::EndToEnd, Stat::Max, Some("mes"))
                .unwrap()
                >= 399_000.0,
            "a system's end-to-end latency is that of its routes"
        );
        assert_eq!(m.seconds[0].emitted, 2);
        assert_eq!(m.seconds[0].effects, 1);
    }

    #[test]
    fn effects_after_the_load_window_are_not_throughput() {
        let a = event("a", EventKind::MaterialConsumed);
        let records = vec![
            emitted(1, 0, &a, false),
            delivery(2, 5, &a.key(), 202, 5),
            effect(3, 2_500, &a.key()),
        ];
        let m = Measures::from_records(&records, t0(), Duration::from_secs(2));
        assert_eq!(m.effect_count(), 0);
        // Its latency still counts.
        assert_eq!(m.routes["mes.consumed -> erp"].len(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

        /// Whatever the queueing and answer times, every acknowledged event has one ingress
        /// sample no smaller than its queueing plus its answer time, and the late sends are
        /// exactly those queued longer than 100 ms.
        #[test]
        fn every_acknowledged_event_has_one_honest_ingress_sample(
            events in proptest::collection::vec((0i64..2_000, 0i64..400, 1u64..200, any::<bool>()), 1..60)
        ) {
            let mut records = Vec::new();
            let mut seq = 0;
            let mut expected_late = 0;
            let mut acked = 0;
            let mut worst = 0i64;
            for (i, (intended, queued, answer, ok)) in events.iter().enumerate() {
                let e = event(&format!("e{i}"), EventKind::OperationConfirmed);
                seq += 1;
                records.push(emitted(seq, *intended, &e, false));
                let end = intended + queued + *answer as i64;
                seq += 1;
                records.push(delivery(seq, end, &e.key(), if *ok { 202 } else { 503 }, *answer));
                if *queued > 100 {
                    expected_late += 1;
                }
                if *ok {
                    acked += 1;
                    worst = worst.max(queued + *answer as i64);
                }
            }
            records.sort_by_key(|r| r.at);
            let m = Measures::from_records(&records, t0(), Duration::from_secs(3));
            prop_assert_eq!(m.acked, acked);
            let all = m.ingress_all();
            prop_assert_eq!(all.len(), acked);
            prop_assert_eq!(m.late_sends, expected_late);
            if acked > 0 {
                // HDR keeps 3 significant digits.
                let max = all.max() as f64;
                let want = (worst * 1000) as f64;
                prop_assert!((max - want).abs() <= want * 0.001 + 1.0, "{} vs {}", max, want);
            }
        }
    }

    #[test]
    fn error_classes() {
        assert_eq!(error_class(Outcome::Ok, Some(202), None), None);
        assert_eq!(
            error_class(Outcome::Fail, Some(503), None).as_deref(),
            Some("503 server error")
        );
        assert_eq!(
            error_class(Outcome::Fail, Some(429), None).as_deref(),
            Some("429 too many requests")
        );
        assert_eq!(
            error_class(Outcome::Fail, Some(400), None).as_deref(),
            Some("400 rejected")
        );
        assert_eq!(
            error_class(Outcome::Info, None, Some("timed out after 5s")).as_deref(),
            Some("timeout")
        );
        assert_eq!(
            error_class(Outcome::Fail, None, Some("connection refused")).as_deref(),
            Some("connection")
        );
    }

    #[test]
    fn stats_of_an_empty_histogram_are_unknown() {
        assert_eq!(stat(&histogram(), Stat::Max), None);
        let mut h = histogram();
        h.record(1000).unwrap();
        assert_eq!(stat(&h, Stat::Max), Some(1000.0));
    }
}
