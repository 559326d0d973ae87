//! Faults as data: their kinds and parameters ([`FaultKind`], [`FaultSpec`]), the
//! durations they are written with ([`Dur`]), and why a spec is refused.

use std::time::Duration;

use andon_contracts::PlantId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// S/4HANA dialect: every CSRF token issued before the fault is answered 403 "CSRF token
    /// validation failed" until the SUT fetches a new one.
    CsrfExpiry,
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
            Self::CsrfExpiry => "csrf_expiry",
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
        "csrf_expiry",
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
