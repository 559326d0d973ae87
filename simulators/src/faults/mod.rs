//! Faults: what each simulator can be made to suffer, switchable at run time. The kinds
//! and their parameters are data ([`FaultKind`], [`FaultSpec`], in `spec`); [`Faults`] is
//! the registry that applies them and decides, request by request and event by event,
//! which one acts.
//!
//! Called-system faults change how the simulator answers the SUT (`unavailable`, `refuse`,
//! `hang`, `slow`, `throttle`, `reset`, `commit_then_reset`, `reject`, `token_expiry`).
//! Emitter faults change how it delivers events (`duplicate`, `reorder`, `poison`, `burst`,
//! `clock_skew`, `partition`). Every decision that involves chance is drawn from a seeded RNG.

mod spec;

pub use spec::{ApplyError, Dur, DurError, FaultKind, FaultSpec, FaultSpecError, PoisonMode};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use andon_contracts::{PlantId, System};
use chrono::{DateTime, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::history::{Entry, History};

/// A fault in force.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveFault {
    /// The fault.
    pub spec: FaultSpec,
    /// Id.
    pub id: String,
    /// When it was applied.
    pub since: DateTime<Utc>,
    /// How many times it acted.
    pub fired: u64,
    #[serde(skip)]
    window: (Option<Instant>, u32),
}

impl ActiveFault {
    /// Whether this is an API fault (not an emitter, `refuse` or `token_expiry` fault)
    /// whose path prefix and method, where given, match the request.
    fn matches_api(&self, method: &str, path: &str) -> bool {
        if self.spec.kind.is_emitter_fault()
            || matches!(
                self.spec.kind,
                FaultKind::Refuse | FaultKind::TokenExpiry | FaultKind::CsrfExpiry
            )
        {
            return false;
        }
        if let Some(p) = &self.spec.path
            && !path.starts_with(p.as_str())
        {
            return false;
        }
        if let Some(m) = &self.spec.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        true
    }

    /// What this fault does to a matching request, if it acts: a throttle counts the
    /// request in its window and acts beyond the limit; any other fault acts by chance
    /// (its probability, drawn from `rng`).
    fn api_decision(&mut self, rng: &mut ChaCha8Rng) -> Option<ApiFault> {
        let kind = match &self.spec.kind {
            FaultKind::Throttle { limit, per } => {
                return throttled(&mut self.window, *limit, per.0);
            }
            kind => kind,
        };
        if let Some(p) = self.spec.probability
            && !rng.random_bool(p)
        {
            return None;
        }
        Some(match kind {
            FaultKind::Unavailable { retry_after } => ApiFault::Unavailable(retry_after.0),
            FaultKind::Hang => ApiFault::Hang,
            FaultKind::Slow { median, p99 } => {
                ApiFault::Slow(lognormal(rng, median.0, p99.map(|d| d.0)))
            }
            FaultKind::Reset => ApiFault::Reset,
            FaultKind::CommitThenReset => ApiFault::CommitThenReset,
            FaultKind::Reject {
                code,
                status,
                detail,
            } => ApiFault::Reject {
                status: *status,
                code: code.clone(),
                detail: detail.clone(),
            },
            _ => return None,
        })
    }
}

/// A throttle's fixed window (its start and the requests counted in it): counts this
/// request, starting a new window when the last one is over, and answers `Throttled` with
/// the time left in the window (at least a second) once more than `limit` were counted.
/// Chance does not apply.
fn throttled(window: &mut (Option<Instant>, u32), limit: u32, per: Duration) -> Option<ApiFault> {
    let now = Instant::now();
    let (start, count) = window;
    let window_start = match start {
        Some(s) if now.duration_since(*s) < per => *s,
        _ => {
            *start = Some(now);
            *count = 0;
            now
        }
    };
    *count += 1;
    if *count <= limit {
        return None;
    }
    let left = per.saturating_sub(now.duration_since(window_start));
    Some(ApiFault::Throttled(left.max(Duration::from_secs(1))))
}

/// The decision for one API request.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFault {
    /// 503 + Retry-After.
    Unavailable(Duration),
    /// Never answer.
    Hang,
    /// Delay, then process.
    Slow(Duration),
    /// 429 + Retry-After.
    Throttled(Duration),
    /// Drop the connection.
    Reset,
    /// Process, then drop the connection.
    CommitThenReset,
    /// Answer this problem.
    Reject {
        /// Status.
        status: u16,
        /// Code.
        code: String,
        /// Detail.
        detail: Option<String>,
    },
}

/// The faults of one simulator.
#[derive(Clone)]
pub struct Faults {
    system: System,
    history: History,
    inner: Arc<Mutex<State>>,
    /// Flips to true while a `refuse` fault is in force.
    refuse: watch::Sender<bool>,
    /// Bumped whenever faults change (hung requests and the emitter watch it).
    changed: watch::Sender<u64>,
}

struct State {
    active: Vec<ActiveFault>,
    next_id: u64,
    rng: ChaCha8Rng,
    /// Tokens issued before this instant are expired (token_expiry).
    tokens_valid_after: Option<DateTime<Utc>>,
    /// CSRF tokens issued before this instant are expired (csrf_expiry).
    csrf_valid_after: Option<DateTime<Utc>>,
}

impl Faults {
    /// No faults; chance drawn from `seed`.
    pub fn new(system: System, history: History, seed: u64) -> Self {
        Self {
            system,
            history,
            inner: Arc::new(Mutex::new(State {
                active: Vec::new(),
                next_id: 1,
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0xFA17_0000 ^ system as u64),
                tokens_valid_after: None,
                csrf_valid_after: None,
            })),
            refuse: watch::channel(false).0,
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a fault; returns its id. A fault with `for` clears itself.
    pub fn add(&self, mut spec: FaultSpec) -> Result<String, ApplyError> {
        spec.verify()?;
        let id = {
            let mut st = self.lock();
            let id = spec.id.clone().unwrap_or_else(|| {
                let id = format!("{}-{}-{}", self.system, spec.kind.name(), st.next_id);
                st.next_id += 1;
                id
            });
            if st.active.iter().any(|f| f.id == id) {
                return Err(ApplyError::Duplicate(id));
            }
            spec.id = Some(id.clone());
            if spec.kind == FaultKind::TokenExpiry {
                st.tokens_valid_after = Some(Utc::now());
            }
            if spec.kind == FaultKind::CsrfExpiry {
                st.csrf_valid_after = Some(Utc::now());
            }
            st.active.push(ActiveFault {
                spec: spec.clone(),
                id: id.clone(),
                since: Utc::now(),
                fired: 0,
                window: (None, 0),
            });
            id
        };
        self.history.append(
            self.system,
            Entry::Fault {
                id: id.clone(),
                action: "applied".into(),
                kind: spec.kind.name().into(),
                spec: andon_contracts::Json::new(&spec),
            },
        );
        self.refresh();
        if let Some(d) = spec.duration {
            let me = self.clone();
            let fid = id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(d.0).await;
                me.clear(&fid);
            });
        }
        Ok(id)
    }

    /// Clears one fault; returns whether it was in force.
    pub fn clear(&self, id: &str) -> bool {
        let removed = {
            let mut st = self.lock();
            let before = st.active.len();
            let removed: Vec<ActiveFault> =
                st.active.iter().filter(|f| f.id == id).cloned().collect();
            st.active.retain(|f| f.id != id);
            if before != st.active.len() {
                removed
            } else {
                Vec::new()
            }
        };
        for f in &removed {
            self.record_cleared(f);
        }
        self.refresh();
        !removed.is_empty()
    }

    /// Clears every fault.
    pub fn clear_all(&self) -> usize {
        let removed = std::mem::take(&mut self.lock().active);
        for f in &removed {
            self.record_cleared(f);
        }
        self.refresh();
        removed.len()
    }

    fn record_cleared(&self, f: &ActiveFault) {
        self.history.append(
            self.system,
            Entry::Fault {
                id: f.id.clone(),
                action: "cleared".into(),
                kind: f.spec.kind.name().into(),
                spec: serde_json::json!({ "fired": f.fired }).into(),
            },
        );
    }

    fn refresh(&self) {
        let refusing = self
            .lock()
            .active
            .iter()
            .any(|f| f.spec.kind == FaultKind::Refuse);
        self.refuse.send_if_modified(|r| {
            let changed = *r != refusing;
            *r = refusing;
            changed
        });
        self.changed.send_modify(|n| *n += 1);
    }

    /// Faults in force.
    pub fn active(&self) -> Vec<ActiveFault> {
        self.lock().active.clone()
    }

    /// Watch that is true while the simulator must refuse connections.
    pub fn refusing(&self) -> watch::Receiver<bool> {
        self.refuse.subscribe()
    }

    /// Watch bumped whenever faults change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether the fault with `id` is still in force.
    pub fn is_active(&self, id: &str) -> bool {
        self.lock().active.iter().any(|f| f.id == id)
    }

    /// Tokens issued before this are expired.
    pub fn tokens_valid_after(&self) -> Option<DateTime<Utc>> {
        self.lock().tokens_valid_after
    }

    /// CSRF tokens issued before this instant are expired (`csrf_expiry`).
    pub fn csrf_valid_after(&self) -> Option<DateTime<Utc>> {
        self.lock().csrf_valid_after
    }

    fn record_fired(&self, id: &str, kind: &str, detail: serde_json::Value) {
        self.history.append(
            self.system,
            Entry::Fault {
                id: id.to_string(),
                action: "fired".into(),
                kind: kind.to_string(),
                spec: detail.into(),
            },
        );
    }

    /// Decides whether an API fault acts on this request; returns the fault id and decision.
    pub fn decide_api(&self, method: &str, path: &str) -> Option<(String, ApiFault)> {
        self.decide_api_where(method, path, |_| true)
    }

    /// [`Faults::decide_api`] among the faults whose kind `takes` (a vendor dialect answers
    /// some kinds itself, per operation).
    pub fn decide_api_where(
        &self,
        method: &str,
        path: &str,
        takes: impl Fn(&FaultKind) -> bool,
    ) -> Option<(String, ApiFault)> {
        let mut st = self.lock();
        let State { active, rng, .. } = &mut *st;
        for f in active.iter_mut() {
            if !takes(&f.spec.kind) || !f.matches_api(method, path) {
                continue;
            }
            let Some(decision) = f.api_decision(rng) else {
                continue;
            };
            f.fired += 1;
            let id = f.id.clone();
            let kind = f.spec.kind.name();
            drop(st);
            self.record_fired(
                &id,
                kind,
                serde_json::json!({ "method": method, "path": path }),
            );
            return Some((id, decision));
        }
        None
    }

    /// Whether no fault at all is in force (the emitter's fast path).
    pub fn none_active(&self) -> bool {
        self.lock().active.is_empty()
    }

    /// Whether an emitter fault of `name` is in force for `plant`; counts and records it as
    /// fired when chance says it acts. Returns the fault's kind when it acts.
    pub fn decide_emitter(
        &self,
        name: &str,
        plant: &PlantId,
        detail: impl FnOnce() -> serde_json::Value,
    ) -> Option<FaultKind> {
        let mut st = self.lock();
        // Most deliveries meet no fault: decide without building the record's detail.
        if st.active.is_empty() {
            return None;
        }
        let State { active, rng, .. } = &mut *st;
        for f in active.iter_mut() {
            if f.spec.kind.name() != name {
                continue;
            }
            if let Some(p) = &f.spec.plant
                && p != plant
            {
                continue;
            }
            if let Some(p) = f.spec.probability
                && !rng.random_bool(p)
            {
                continue;
            }
            f.fired += 1;
            let id = f.id.clone();
            let kind = f.spec.kind.clone();
            drop(st);
            self.record_fired(&id, name, detail());
            return Some(kind);
        }
        None
    }

    /// Whether a fault of `name` is in force for `plant` (no chance, nothing recorded).
    pub fn in_force(&self, name: &str, plant: Option<&PlantId>) -> Option<FaultKind> {
        self.lock()
            .active
            .iter()
            .find(|f| {
                f.spec.kind.name() == name
                    && match (&f.spec.plant, plant) {
                        (Some(fp), Some(p)) => fp == p,
                        _ => true,
                    }
            })
            .map(|f| f.spec.kind.clone())
    }

    /// A uniform draw in [0, 1) from the fault RNG (for emitter decisions).
    pub fn draw(&self) -> f64 {
        self.lock().rng.random()
    }
}

/// Draws a log-normal latency with the given median and 99th percentile.
fn lognormal(rng: &mut ChaCha8Rng, median: Duration, p99: Option<Duration>) -> Duration {
    let m = median.as_secs_f64().max(1e-6);
    let p99 = p99.map(|d| d.as_secs_f64()).unwrap_or(m * 4.0).max(m);
    let sigma = (p99 / m).ln() / 2.326;
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    Duration::from_secs_f64((m.ln() + sigma * z).exp().min(600.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> Faults {
        Faults::new(System::Erp, History::new(), 7)
    }

    #[test]
    fn parses_fault_specs_from_yaml_like_json() {
        let spec: FaultSpec = serde_json::from_value(serde_json::json!({
            "kind": "unavailable", "retry_after": "5s", "for": "20s"
        }))
        .unwrap();
        assert_eq!(
            spec.kind,
            FaultKind::Unavailable {
                retry_after: Dur(Duration::from_secs(5))
            }
        );
        assert_eq!(spec.duration, Some(Dur(Duration::from_secs(20))));
        let err = serde_json::from_value::<FaultSpec>(serde_json::json!({"kind": "meteor"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant"), "{err}");
    }

    #[tokio::test]
    async fn throttle_answers_429_above_the_limit_within_the_window() {
        let f = faults();
        f.add(FaultSpec::new(FaultKind::Throttle {
            limit: 2,
            per: Dur(Duration::from_secs(60)),
        }))
        .unwrap();
        assert!(f.decide_api("POST", "/api/v1/x").is_none());
        assert!(f.decide_api("POST", "/api/v1/x").is_none());
        match f.decide_api("POST", "/api/v1/x") {
            Some((_, ApiFault::Throttled(d))) => assert!(d > Duration::from_secs(50)),
            other => panic!("expected throttling, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn path_filter_limits_api_faults() {
        let f = faults();
        let mut spec = FaultSpec::new(FaultKind::Reset);
        spec.path = Some("/api/v1/material-documents".into());
        f.add(spec).unwrap();
        assert!(f.decide_api("POST", "/api/v1/confirmations").is_none());
        assert_eq!(
            f.decide_api("POST", "/api/v1/material-documents")
                .map(|d| d.1),
            Some(ApiFault::Reset)
        );
    }

    #[tokio::test]
    async fn refuse_flips_the_watch_and_clear_restores() {
        let f = faults();
        let rx = f.refusing();
        let id = f.add(FaultSpec::new(FaultKind::Refuse)).unwrap();
        assert!(*rx.borrow());
        assert!(f.clear(&id));
        assert!(!*rx.borrow());
    }

    #[tokio::test]
    async fn probability_draws_are_seeded() {
        let run = || {
            let f = faults();
            let mut s = FaultSpec::new(FaultKind::Reset);
            s.probability = Some(0.5);
            f.add(s).unwrap();
            (0..64)
                .map(|_| f.decide_api("GET", "/api").is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mut s = FaultSpec::new(FaultKind::Reset);
        s.probability = Some(1.5);
        assert!(s.verify().is_err());
        assert!(
            FaultSpec::new(FaultKind::Throttle {
                limit: 0,
                per: Dur(Duration::from_secs(1))
            })
            .verify()
            .is_err()
        );
    }
}
