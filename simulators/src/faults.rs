//! Faults as data: what each simulator can be made to suffer, switchable at run time.
//!
//! Called-system faults change how the simulator answers the SUT (`unavailable`, `refuse`,
//! `hang`, `slow`, `throttle`, `reset`, `commit_then_reset`, `reject`, `token_expiry`).
//! Emitter faults change how it delivers events (`duplicate`, `reorder`, `poison`, `burst`,
//! `clock_skew`, `partition`). Every decision that involves chance is drawn from a seeded RNG.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use andon_contracts::{PlantId, System};
use chrono::{DateTime, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::history::{Entry, History};

/// Why a duration was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurError {
    /// A number of seconds below 0 or over [`Dur::MAX`].
    #[error("duration {0} is out of range: expected 0 to {max} seconds (30 days)", max = Dur::MAX.as_secs())]
    SecsOutOfRange(f64),
    /// Text that is not a duration.
    #[error("duration {text:?}: {message} (expected e.g. \"5s\", \"250ms\", \"2m\")")]
    Unreadable {
        /// The text given.
        text: String,
        /// Why it does not parse.
        message: String,
    },
    /// A duration over [`Dur::MAX`].
    #[error("duration {0:?} is out of range: expected at most 30 days")]
    OutOfRange(String),
}

/// A duration written as `5s`, `250ms`, `2m` (or a number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl Dur {
    /// The longest duration andon takes anywhere (a scenario, a settle limit, a fault's
    /// `for`, a load phase's `at`): 30 days. Longer is a typo, and would overflow clocks.
    pub const MAX: Duration = Duration::from_secs(30 * 24 * 3600);

    /// A number of seconds as a duration, within `0..=MAX`.
    pub fn from_secs(s: f64) -> Result<Self, DurError> {
        match Duration::try_from_secs_f64(s) {
            Ok(d) if d <= Self::MAX => Ok(Dur(d)),
            _ => Err(DurError::SecsOutOfRange(s)),
        }
    }

    /// `5s`, `250ms`, `2m` as a duration, within `0..=MAX`.
    pub fn read(text: &str) -> Result<Self, DurError> {
        let d = humantime::parse_duration(text.trim()).map_err(|e| DurError::Unreadable {
            text: text.to_string(),
            message: e.to_string(),
        })?;
        if d > Self::MAX {
            return Err(DurError::OutOfRange(text.to_string()));
        }
        Ok(Dur(d))
    }

    /// [`Dur::read`] with the reason as text (for command-line parsers).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::read(text).map_err(|e| e.to_string())
    }
}

impl std::str::FromStr for Dur {
    type Err = DurError;

    fn from_str(text: &str) -> Result<Self, DurError> {
        Self::read(text)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Dur::from_secs(s),
            Raw::Text(t) => Dur::read(&t),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// What to do to poison an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PoisonMode {
    /// The payload breaks the schema (a negative quantity, a missing field).
    #[default]
    Schema,
    /// The payload names master data no system knows.
    UnknownMasterData,
    /// Either, at random.
    Mixed,
}

/// One fault kind with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// 503 with `Retry-After`.
    Unavailable {
        /// `Retry-After` value.
        #[serde(default = "five_s")]
        retry_after: Dur,
    },
    /// Connection refused: the simulator stops listening.
    Refuse,
    /// Accept the request and never answer (until the fault is cleared; then reset).
    Hang,
    /// Answer late: log-normal latency with this median and 99th percentile.
    Slow {
        /// Median added latency.
        median: Dur,
        /// 99th percentile of added latency.
        #[serde(default)]
        p99: Option<Dur>,
    },
    /// 429 above `limit` requests per `per` (cloud ERP API limits).
    Throttle {
        /// Requests allowed per window.
        limit: u32,
        /// The window.
        #[serde(default = "one_s")]
        per: Dur,
    },
    /// Drop the connection without an answer, before processing.
    Reset,
    /// Process and commit the request, then drop the connection: the ambiguous case.
    CommitThenReset,
    /// Answer a business error (default 422 `period-closed`).
    Reject {
        /// Problem code.
        #[serde(default = "period_closed")]
        code: String,
        /// HTTP status.
        #[serde(default = "s422")]
        status: u16,
        /// Detail text.
        #[serde(default)]
        detail: Option<String>,
    },
    /// 401 for every token issued before the fault started, until the SUT re-authenticates.
    TokenExpiry,
    /// Deliver some events twice (same `id`).
    Duplicate,
    /// Deliver events of one aggregate out of order within a window.
    Reorder {
        /// How many later events of the aggregate may overtake.
        #[serde(default = "three")]
        window: usize,
    },
    /// Emit schema-invalid or unknown-master-data events among valid ones.
    Poison {
        /// How to poison.
        #[serde(default)]
        mode: PoisonMode,
    },
    /// Multiply the generation rate.
    Burst {
        /// Rate multiplier.
        #[serde(default = "ten")]
        factor: f64,
    },
    /// Skew the business timestamps of emitted events.
    ClockSkew {
        /// Offset added to `time` (may be negative: `-30s` is written as `offset_secs: -30`).
        offset_secs: i64,
    },
    /// The plant cannot reach the SUT: events buffer and flood on heal.
    Partition,
}

fn five_s() -> Dur {
    Dur(Duration::from_secs(5))
}
fn one_s() -> Dur {
    Dur(Duration::from_secs(1))
}
fn period_closed() -> String {
    "period-closed".into()
}
fn s422() -> u16 {
    422
}
fn three() -> usize {
    3
}
fn ten() -> f64 {
    10.0
}

impl FaultKind {
    /// The kind's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "unavailable",
            Self::Refuse => "refuse",
            Self::Hang => "hang",
            Self::Slow { .. } => "slow",
            Self::Throttle { .. } => "throttle",
            Self::Reset => "reset",
            Self::CommitThenReset => "commit_then_reset",
            Self::Reject { .. } => "reject",
            Self::TokenExpiry => "token_expiry",
            Self::Duplicate => "duplicate",
            Self::Reorder { .. } => "reorder",
            Self::Poison { .. } => "poison",
            Self::Burst { .. } => "burst",
            Self::ClockSkew { .. } => "clock_skew",
            Self::Partition => "partition",
        }
    }

    /// Whether the fault acts on the events the simulator emits (rather than on its API).
    pub fn is_emitter_fault(&self) -> bool {
        matches!(
            self,
            Self::Duplicate
                | Self::Reorder { .. }
                | Self::Poison { .. }
                | Self::Burst { .. }
                | Self::ClockSkew { .. }
                | Self::Partition
        )
    }

    /// Names of every called-system fault kind.
    pub const CALLED: &'static [&'static str] = &[
        "unavailable",
        "refuse",
        "hang",
        "slow",
        "throttle",
        "reset",
        "commit_then_reset",
        "reject",
        "token_expiry",
    ];
    /// Names of every emitter fault kind.
    pub const EMITTER: &'static [&'static str] = &[
        "duplicate",
        "reorder",
        "poison",
        "burst",
        "clock_skew",
        "partition",
    ];
}

/// A fault to apply: the kind plus where and how often it acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Id (assigned when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Kind and parameters.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Chance that the fault acts on a matching request or event (default 1).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Only requests whose path starts with this (API faults).
    #[serde(default)]
    pub path: Option<String>,
    /// Only this HTTP method (API faults).
    #[serde(default)]
    pub method: Option<String>,
    /// Only events of this plant (emitter faults).
    #[serde(default)]
    pub plant: Option<PlantId>,
    /// Clear the fault by itself after this long.
    #[serde(default, rename = "for")]
    pub duration: Option<Dur>,
}

impl FaultSpec {
    /// A fault of this kind on everything, always.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            id: None,
            kind,
            probability: None,
            path: None,
            method: None,
            plant: None,
            duration: None,
        }
    }

    /// Checks parameters that serde cannot.
    pub fn verify(&self) -> Result<(), FaultSpecError> {
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(FaultSpecError::Probability(p));
        }
        match &self.kind {
            FaultKind::Throttle { limit: 0, .. } => Err(FaultSpecError::ThrottleLimit),
            FaultKind::Throttle { per, .. } if per.0.is_zero() => {
                Err(FaultSpecError::ThrottleWindow)
            }
            FaultKind::Burst { factor } if !(*factor >= 1.0 && factor.is_finite()) => {
                Err(FaultSpecError::BurstFactor(*factor))
            }
            FaultKind::Reorder { window: 0 } => Err(FaultSpecError::ReorderWindow),
            FaultKind::Reject { status, .. } if !(400..600).contains(status) => {
                Err(FaultSpecError::RejectStatus(*status))
            }
            _ => Ok(()),
        }
    }

    /// [`FaultSpec::verify`] with the reason as text (the scenario loader matches on it).
    pub fn check(&self) -> Result<(), String> {
        self.verify().map_err(|e| e.to_string())
    }
}

/// A fault's parameter that serde accepted and the fault cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    /// A probability outside 0..=1.
    #[error("probability {0} must be between 0 and 1")]
    Probability(f64),
    /// A throttle limit of 0.
    #[error("throttle limit must be at least 1")]
    ThrottleLimit,
    /// A throttle window of 0s.
    #[error("throttle window `per` must be longer than 0s")]
    ThrottleWindow,
    /// A burst factor below 1.
    #[error("burst factor {0} must be at least 1")]
    BurstFactor(f64),
    /// A reorder window of 0.
    #[error("reorder window must be at least 1")]
    ReorderWindow,
    /// A reject status that is not 4xx or 5xx.
    #[error("reject status {0} must be 4xx or 5xx")]
    RejectStatus(u16),
}

/// Why a fault was not applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Its parameters do not hold.
    #[error(transparent)]
    Spec(#[from] FaultSpecError),
    /// Its id is taken.
    #[error("a fault with id {0:?} is already in force")]
    Duplicate(String),
}

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
            })),
            refuse: watch::channel(false).0,
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`Faults::add`] with the reason as text (the harness's runtime reports it so).
    pub fn apply(&self, spec: FaultSpec) -> Result<String, String> {
        self.add(spec).map_err(|e| e.to_string())
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
        let mut st = self.lock();
        let State { active, rng, .. } = &mut *st;
        for f in active.iter_mut() {
            if f.spec.kind.is_emitter_fault()
                || matches!(f.spec.kind, FaultKind::Refuse | FaultKind::TokenExpiry)
            {
                continue;
            }
            if let Some(p) = &f.spec.path
                && !path.starts_with(p.as_str())
            {
                continue;
            }
            if let Some(m) = &f.spec.method
                && !m.eq_ignore_ascii_case(method)
            {
                continue;
            }
            let decision = match &f.spec.kind {
                FaultKind::Throttle { limit, per } => {
                    // Fixed window: counts every matching request, chance does not apply.
                    let now = Instant::now();
                    let (start, count) = &mut f.window;
                    let window_start = match start {
                        Some(s) if now.duration_since(*s) < per.0 => *s,
                        _ => {
                            *start = Some(now);
                            *count = 0;
                            now
                        }
                    };
                    *count += 1;
                    if *count <= *limit {
                        continue;
                    }
                    let left = per.0.saturating_sub(now.duration_since(window_start));
                    ApiFault::Throttled(left.max(Duration::from_secs(1)))
                }
                kind => {
                    if let Some(p) = f.spec.probability
                        && !rng.random_bool(p)
                    {
                        continue;
                    }
                    match kind {
                        FaultKind::Unavailable { retry_after } => {
                            ApiFault::Unavailable(retry_after.0)
                        }
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
                        _ => continue,
                    }
                }
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
        f.apply(FaultSpec::new(FaultKind::Throttle {
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
        f.apply(spec).unwrap();
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
        let id = f.apply(FaultSpec::new(FaultKind::Refuse)).unwrap();
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
            f.apply(s).unwrap();
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
        assert!(s.check().is_err());
        assert!(
            FaultSpec::new(FaultKind::Throttle {
                limit: 0,
                per: Dur(Duration::from_secs(1))
            })
            .check()
            .is_err()
        );
    }
}
