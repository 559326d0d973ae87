//! Test helpers: an emitter wired to a scripted SUT ingress (wiremock), readers of the
//! delivery records in the history, and waits with deadlines instead of sleeps.

use std::sync::Once;
use std::time::Duration;

use andon_contracts::{CloudEvent, EventKind, PlantId, SourceRef, System};
use andon_simulators::History;
use andon_simulators::clock::Clock;
use andon_simulators::emitter::{BufferFull, Emitter, EmitterConfig};
use andon_simulators::faults::{Dur, FaultKind, FaultSpec, Faults};
use andon_simulators::history::{Entry, Outcome, Record};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The plant every event is for.
pub const PLANT: &str = "1000";
/// The path of the scripted ingress.
pub const INGRESS_PATH: &str = "/events/mes";
/// The seed of every emitter unless a test says otherwise.
pub const SEED: u64 = 7;
/// How long a test waits for something that should happen quickly.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Installs a tracing subscriber when `TEST_LOG` is set.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

/// A plant id.
pub fn plant(id: &str) -> PlantId {
    PlantId::parse(id).expect("valid plant")
}

/// Fast delivery settings: backoff 10 ms doubling to 100 ms, 300 ms timeout.
pub fn fast(ingress: Option<String>) -> EmitterConfig {
    EmitterConfig {
        ingress,
        backoff_base: Dur(Duration::from_millis(10)),
        backoff_max: Dur(Duration::from_millis(100)),
        timeout: Dur(Duration::from_millis(300)),
        ..EmitterConfig::default()
    }
}

/// The `data` of a `material.consumed` event for `order`.
pub fn consumed(order: &str) -> Value {
    json!({
        "order": order,
        "plant": PLANT,
        "storage_location": "0001",
        "material": "RM-1000-01",
        "batch": "R1011",
        "quantity": {"value": 12.5, "unit": "KG"},
        "reservation_item": "0001",
        "posting_date": "2026-11-02",
    })
}

/// An MES emitter with its history and faults.
pub struct Rig {
    /// The emitter under test.
    pub emitter: Emitter,
    /// The history it appends to.
    pub history: History,
    /// The fault registry it consults.
    pub faults: Faults,
}

impl Rig {
    /// An emitter with [`fast`] settings delivering to `ingress`.
    pub fn start(ingress: Option<String>) -> Self {
        Self::with(fast(ingress), SEED)
    }

    /// An emitter with these settings and seed.
    pub fn with(config: EmitterConfig, seed: u64) -> Self {
        init_tracing();
        let history = History::new();
        let faults = Faults::new(System::Mes, history.clone(), seed);
        let emitter = Emitter::start(
            System::Mes,
            history.clone(),
            faults.clone(),
            Clock::default(),
            config,
            seed,
        );
        Self {
            emitter,
            history,
            faults,
        }
    }

    /// Emits `material.consumed` for order `subject` in plant 1000.
    #[track_caller]
    pub fn emit(&self, subject: &str) -> SourceRef {
        self.emit_in(PLANT, subject)
            .expect("the buffer has room for the event")
    }

    /// Emits `material.consumed` for order `subject` in `plant`.
    pub fn emit_in(&self, plant_id: &str, subject: &str) -> Result<SourceRef, BufferFull> {
        self.emitter.emit(
            EventKind::MaterialConsumed,
            &plant(plant_id),
            subject,
            consumed(subject),
            Utc::now(),
            None,
        )
    }

    /// Applies an emitter fault on every plant; returns its id.
    pub fn fault(&self, kind: FaultKind) -> String {
        self.faults
            .add(FaultSpec::new(kind))
            .expect("the fault is valid")
    }

    /// Every delivery attempt recorded so far, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.history
            .with_records(|r| r.iter().filter_map(Attempt::of).collect())
    }

    /// The delivery attempts of one event, in order.
    pub fn attempts_of(&self, event: &SourceRef) -> Vec<Attempt> {
        self.attempts()
            .into_iter()
            .filter(|a| &a.event == event)
            .collect()
    }

    /// The events recorded as emitted, in order.
    pub fn emitted(&self) -> Vec<CloudEvent> {
        self.history.with_records(|records| {
            records
                .iter()
                .filter_map(|r| match &r.entry {
                    Entry::EventEmitted { event, .. } => Some(CloudEvent::clone(event)),
                    _ => None,
                })
                .collect()
        })
    }

    /// Waits until nothing is pending, at most [`PATIENCE`].
    pub async fn drained(&self) {
        if tokio::time::timeout(PATIENCE, self.emitter.drained())
            .await
            .is_err()
        {
            panic!(
                "the emitter did not drain within {PATIENCE:?}: {:?}\nattempts: {:#?}",
                self.emitter.stats(),
                self.attempts()
            );
        }
    }

    /// Waits until `cond` holds over the history, at most [`PATIENCE`].
    pub async fn wait_for(&self, what: &str, cond: impl FnMut(&[Record]) -> bool) {
        wait_for_history(&self.history, what, cond).await;
    }

    /// Waits until `n` attempts are recorded.
    pub async fn wait_for_attempts(&self, n: usize) {
        self.wait_for(&format!("{n} delivery attempts"), |r| {
            r.iter().filter_map(Attempt::of).count() >= n
        })
        .await;
    }
}

/// Waits until `cond` holds over `history`, re-checking on every append (and at least every
/// 50 ms), at most [`PATIENCE`].
pub async fn wait_for_history(
    history: &History,
    what: &str,
    mut cond: impl FnMut(&[Record]) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if history.with_records(&mut cond) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "waited {PATIENCE:?} for {what}; history: {:#?}",
            history.snapshot()
        );
        let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), history.changed()).await;
    }
}

/// One `delivery` record of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// When it was recorded (after the answer, the error or the timeout).
    pub at: DateTime<Utc>,
    /// The event.
    pub event: SourceRef,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Outcome.
    pub outcome: Outcome,
    /// HTTP status, if answered.
    pub status: Option<u16>,
    /// Error text, if not answered.
    pub error: Option<String>,
    /// Rejected as invalid.
    pub rejected: bool,
    /// Round trip.
    pub latency: Duration,
}

impl Attempt {
    /// The attempt a record describes, if it is a delivery record.
    pub fn of(r: &Record) -> Option<Self> {
        let Entry::Delivery {
            event,
            attempt,
            outcome,
            status,
            error,
            rejected,
            latency_us,
            ..
        } = &r.entry
        else {
            return None;
        };
        Some(Self {
            at: r.at,
            event: event.clone(),
            attempt: *attempt,
            outcome: *outcome,
            status: *status,
            error: error.clone(),
            rejected: *rejected,
            latency: Duration::from_micros(*latency_us),
        })
    }

    /// The pause before `next`: time between the two records minus `next`'s round trip.
    pub fn pause_before(&self, next: &Attempt) -> Duration {
        let between = (next.at - self.at).to_std().unwrap_or_default();
        between.saturating_sub(next.latency)
    }
}

/// A scripted SUT ingress that acknowledges everything with 202.
pub async fn accepting_sut() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INGRESS_PATH))
        .respond_with(ResponseTemplate::new(202))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The ingress URL of `server`.
pub fn ingress_of(server: &MockServer) -> String {
    format!("{}{INGRESS_PATH}", server.uri())
}

/// The CloudEvents the SUT received, in arrival order.
pub async fn received(server: &MockServer) -> Vec<CloudEvent> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .map(|r| {
            serde_json::from_slice(&r.body).unwrap_or_else(|e| {
                panic!(
                    "the SUT received something that is not a CloudEvent ({e}): {}",
                    String::from_utf8_lossy(&r.body)
                )
            })
        })
        .collect()
}

/// Waits until the SUT has received at least `n` requests, at most [`PATIENCE`].
pub async fn wait_for_requests(server: &MockServer, n: usize) -> Vec<CloudEvent> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = received(server).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "the SUT received {} of {n} requests within {PATIENCE:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
