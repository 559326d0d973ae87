//! Reading [`Measures`] from a history: one pass over the records (deliveries and effects,
//! in history order), then one pass over the emitted events (their latencies, counted in
//! the second of their intended time). Nothing is read twice and nothing large is copied:
//! a load run's history has millions of records.

use std::collections::BTreeMap;
use std::time::Duration;

use andon_contracts::{SourceRef, System};
use andon_simulators::history::{Entry, Outcome, Record};
use chrono::{DateTime, Utc};

use super::{LATE_SEND, Measures, Second, error_class, histogram};
use crate::history::index::{self as common, Ev, Events, micros, sys_idx};

/// Per event (by its number): when its first delivery attempt started and when the SUT
/// first acknowledged it.
struct Firsts {
    /// Start of the first attempt.
    sent_at: Vec<Option<DateTime<Utc>>>,
    /// The first 2xx answer.
    acked_at: Vec<Option<DateTime<Utc>>>,
}

impl Firsts {
    /// Nothing known yet for `n` events.
    fn new(n: usize) -> Self {
        Self {
            sent_at: vec![None; n],
            acked_at: vec![None; n],
        }
    }

    /// Notes one delivery attempt of event `n` that ended at `at` after `latency_us`.
    fn note(&mut self, n: usize, at: DateTime<Utc>, latency_us: u64, outcome: Outcome) {
        let started = at - chrono::Duration::microseconds(latency_us as i64);
        if self.sent_at[n].is_none() {
            self.sent_at[n] = Some(started);
        }
        if outcome == Outcome::Ok && self.acked_at[n].is_none() {
            self.acked_at[n] = Some(at);
        }
    }
}

/// Attempts and errors per second of the load, as the records come.
type AttemptsPerSecond = BTreeMap<u64, (u64, u64)>;

impl Measures {
    /// Reads the measures of a load that started at `start` and ran for `duration`.
    pub fn from_records(records: &[Record], start: DateTime<Utc>, duration: Duration) -> Self {
        let events = Events::build(records);
        let first = common::first_effects(records, &events);
        let end = start + chrono::Duration::from_std(duration).unwrap_or_default();
        let mut m = Measures::empty(start, duration);
        let firsts = m.read_records(records, &events, end);
        for ev in events.iter() {
            m.event(ev, &firsts, &first[ev.n]);
        }
        m
    }

    /// Nothing measured yet.
    fn empty(start: DateTime<Utc>, duration: Duration) -> Self {
        Measures {
            start,
            duration,
            routes: BTreeMap::new(),
            route_system: BTreeMap::new(),
            ingress: BTreeMap::new(),
            effects: BTreeMap::new(),
            emitted: 0,
            poison: 0,
            acked: 0,
            attempts: 0,
            errors: BTreeMap::new(),
            poison_rejected: 0,
            late_sends: 0,
            send_lag: histogram(),
            plants: BTreeMap::new(),
            seconds: Vec::new(),
        }
    }

    /// The second of the load instant `t` falls in (0 before the start).
    fn second_of(&self, t: DateTime<Utc>) -> u64 {
        (micros(self.start, t).max(0) / 1_000_000) as u64
    }

    /// The pass over the records: every delivery attempt counted (and its event's first
    /// send and acknowledgement noted), every effect within the load (ending at `end`)
    /// counted in its second and on its route.
    fn read_records(&mut self, records: &[Record], events: &Events, end: DateTime<Utc>) -> Firsts {
        let mut firsts = Firsts::new(events.map.len());
        let mut per_second = AttemptsPerSecond::new();
        for r in records {
            match &r.entry {
                Entry::Delivery {
                    event,
                    outcome,
                    status,
                    error,
                    latency_us,
                    ..
                } => {
                    let ev = events.get(event);
                    let poison = ev.is_some_and(|e| e.poison);
                    let slot = per_second.entry(self.second_of(r.at)).or_default();
                    self.attempt(poison, *outcome, *status, error.as_deref(), slot);
                    if let Some(ev) = ev {
                        firsts.note(ev.n, r.at, *latency_us, *outcome);
                    }
                }
                Entry::Effect { sources, .. } if r.at >= self.start && r.at <= end => {
                    self.effect(r, sources, events);
                }
                _ => {}
            }
        }
        for (s, (a, e)) in per_second {
            let sec = self.second(s);
            sec.attempts = a;
            sec.errors = e;
        }
        firsts
    }

    /// Counts one delivery attempt and, when the SUT did not take it, its error class; a
    /// poison event's 4xx is a rightful rejection, not an error. `slot` is its second's
    /// attempts and errors.
    fn attempt(
        &mut self,
        poison: bool,
        outcome: Outcome,
        status: Option<u16>,
        error: Option<&str>,
        slot: &mut (u64, u64),
    ) {
        self.attempts += 1;
        slot.0 += 1;
        if let Some(class) = error_class(outcome, status, error) {
            if poison && status.is_some_and(|s| (400..500).contains(&s)) {
                self.poison_rejected += 1;
            } else {
                *self.errors.entry(class).or_default() += 1;
                slot.1 += 1;
            }
        }
    }

    /// Counts one effect within the load in its second and on the route of its first
    /// source.
    fn effect(&mut self, r: &Record, sources: &[SourceRef], events: &Events) {
        let s = self.second_of(r.at);
        self.second(s).effects += 1;
        for src in sources.iter().take(1) {
            if let Some(ev) = events.get(src)
                && let Some(kind) = ev.kind
            {
                *self
                    .effects
                    .entry(common::route(ev.system, kind, r.system))
                    .or_default() += 1;
            }
        }
    }

    /// Counts one emitted event (in its second and its plant) and, unless it is poison,
    /// records its send lag, its ingress latency and its end-to-end latency per route
    /// (`first`: its first effect in each system).
    fn event(&mut self, ev: &Ev, firsts: &Firsts, first: &[Option<DateTime<Utc>>; 4]) {
        self.emitted += 1;
        let s = self.second_of(ev.intended_at);
        self.second(s).emitted += 1;
        let acked = if ev.poison {
            None
        } else {
            firsts.acked_at[ev.n]
        };
        let plant = self.plants.entry(ev.event.plant.to_string()).or_default();
        plant.emitted += 1;
        if acked.is_some() {
            plant.acked += 1;
        }
        if ev.poison {
            self.poison += 1;
            return;
        }
        if let Some(sent) = firsts.sent_at[ev.n] {
            self.send_lag(ev, sent);
        }
        if let Some(acked) = acked {
            self.ingress_sample(ev, s, acked);
        }
        self.route_samples(ev, s, first);
    }

    /// Records how long after its intended time the event's first attempt started.
    fn send_lag(&mut self, ev: &Ev, sent: DateTime<Utc>) {
        let lag = micros(ev.intended_at, sent).max(0) as u64;
        self.send_lag.saturating_record(lag.max(1));
        if lag > LATE_SEND.as_micros() as u64 {
            self.late_sends += 1;
        }
    }

    /// Records the event's ingress latency (intended time to first acknowledgement), for
    /// its system and its second `s`.
    fn ingress_sample(&mut self, ev: &Ev, s: u64, acked: DateTime<Utc>) {
        self.acked += 1;
        let us = (micros(ev.intended_at, acked).max(0) as u64).max(1);
        self.ingress
            .entry(ev.system)
            .or_insert_with(histogram)
            .saturating_record(us);
        let sec = self.second(s);
        sec.acked += 1;
        sec.ingress.saturating_record(us);
    }

    /// Records the event's end-to-end latency to its first effect in each system, per
    /// route and for its second `s`.
    fn route_samples(&mut self, ev: &Ev, s: u64, first: &[Option<DateTime<Utc>>; 4]) {
        let Some(kind) = ev.kind else { return };
        for target in System::ALL {
            if let Some(at) = first[sys_idx(target)] {
                let us = (micros(ev.intended_at, at).max(0) as u64).max(1);
                let route = common::route(ev.system, kind, target);
                self.route_system.entry(route.clone()).or_insert(ev.system);
                self.routes
                    .entry(route)
                    .or_insert_with(histogram)
                    .saturating_record(us);
                self.second(s).e2e.saturating_record(us);
            }
        }
    }

    /// Second `s`, made (with every second before it) when new.
    pub(super) fn second(&mut self, s: u64) -> &mut Second {
        // Seconds are few (one per second of the run): a dense vector.
        let i = s as usize;
        while self.seconds.len() <= i {
            let next = self.seconds.len() as u64;
            self.seconds.push(Second::new(next));
        }
        &mut self.seconds[i]
    }
}
