//! At-least-once delivery of CloudEvents to the SUT's ingress, as a plant's outbound
//! queue does it: per-aggregate lanes (events of one aggregate go out in order), retry with
//! exponential backoff and jitter on 5xx, 408, 429 and timeouts (honouring `Retry-After`),
//! 4xx taken as rejection, and a bounded store-and-forward buffer while the SUT cannot be
//! reached. Emitter faults (`duplicate`, `reorder`, `partition`, `clock_skew`) act here.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use andon_contracts::{CloudEvent, EventKind, Json, PlantId, SourceRef, System};
use chrono::{DateTime, Utc};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::faults::{Dur, FaultKind, Faults, PoisonMode};
use crate::history::{Entry, History, Outcome};
pub use crate::http1::IngressError;
use crate::http1::{LaneConnection, PostError, Target};

mod delivery;
mod event;
pub mod mqtt;
mod route;

use delivery::lane_loop;
use event::poison_payload;
pub use event::traceparent;
pub(crate) use route::Dest;
pub use route::{Routes, verify_ingress};

/// Delivery settings. Defaults: 10 000 events buffered, 4 lanes, 5 s timeout,
/// backoff from 100 ms doubling to 5 s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitterConfig {
    /// Ingress URL of the SUT for this system's events (none: buffer until set).
    #[serde(default)]
    pub ingress: Option<String>,
    /// Bound of the store-and-forward buffer.
    #[serde(default = "capacity")]
    pub capacity: usize,
    /// Parallel delivery lanes (events of one aggregate always share a lane).
    #[serde(default = "lanes")]
    pub lanes: usize,
    /// Time allowed for one delivery.
    #[serde(default = "timeout")]
    pub timeout: Dur,
    /// First backoff.
    #[serde(default = "backoff_base")]
    pub backoff_base: Dur,
    /// Longest backoff.
    #[serde(default = "backoff_max")]
    pub backoff_max: Dur,
}

fn capacity() -> usize {
    10_000
}
fn lanes() -> usize {
    4
}
fn timeout() -> Dur {
    Dur(Duration::from_secs(5))
}
fn backoff_base() -> Dur {
    Dur(Duration::from_millis(100))
}
fn backoff_max() -> Dur {
    Dur(Duration::from_secs(5))
}

impl Default for EmitterConfig {
    fn default() -> Self {
        Self {
            ingress: None,
            capacity: capacity(),
            lanes: lanes(),
            timeout: timeout(),
            backoff_base: backoff_base(),
            backoff_max: backoff_max(),
        }
    }
}

/// The buffer is full: the event was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the outbound buffer of {capacity} events is full")]
pub struct BufferFull {
    /// The bound.
    pub capacity: usize,
}

/// Counters of the emitter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmitterStats {
    /// Events waiting or being delivered.
    pub pending: usize,
    /// Events generated.
    pub emitted: u64,
    /// Events acknowledged with 2xx.
    pub delivered: u64,
    /// Events rejected with 4xx.
    pub rejected: u64,
    /// Delivery attempts made.
    pub attempts: u64,
    /// Events refused because the buffer was full.
    pub refused: u64,
    /// The buffer bound.
    pub capacity: usize,
    /// Deepest the buffer has been.
    pub max_depth: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    /// The event, shared with its `event_emitted` record.
    event: Arc<CloudEvent>,
    attempt: u32,
    /// A re-send injected by the `duplicate` fault (never duplicated again).
    duplicate: bool,
    /// How many later events of its aggregate have overtaken it (`reorder`).
    overtaken: usize,
}

impl Queued {
    fn new(event: Arc<CloudEvent>) -> Self {
        Self {
            event,
            attempt: 0,
            duplicate: false,
            overtaken: 0,
        }
    }
}

/// The lanes' queues, and what is drawn or numbered under their lock.
struct Lanes {
    queues: Vec<VecDeque<Queued>>,
    sequences: HashMap<(String, String), u64>,
    /// Ids and trace contexts: depends on the seed and the events emitted only.
    rng: ChaCha8Rng,
    /// Backoff jitter: kept apart so that retries do not shift the ids that follow.
    jitter: ChaCha8Rng,
}

/// The outbound queue of one simulator.
#[derive(Clone)]
pub struct Emitter {
    inner: Arc<Inner>,
}

struct Inner {
    system: System,
    history: History,
    faults: Faults,
    clock: Clock,
    /// The settings as started (the ingress is in `ingress`, which can change).
    config: EmitterConfig,
    ingress: watch::Sender<Routes>,
    /// One broker connection per broker address (see [`mqtt::Publisher`]).
    publishers: Mutex<HashMap<String, Arc<mqtt::Publisher>>>,
    lanes: Mutex<Lanes>,
    wake: Vec<Arc<Notify>>,
    pending: AtomicUsize,
    emitted: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    attempts: AtomicU64,
    refused: AtomicU64,
    max_depth: AtomicUsize,
    full_episode: AtomicBool,
    idle: Notify,
    /// Set while a save waits for the deliveries in flight: lanes take nothing new.
    halted: AtomicBool,
    /// Deliveries in flight (taken from a lane, not yet settled).
    active: AtomicUsize,
    settled: Notify,
    /// How an event goes out when its plant speaks a vendor dialect (see [`WireForm`]).
    wire: std::sync::RwLock<Option<WireForm>>,
}

/// The form an event is delivered in and where to, decided when it is sent. The ERP sets
/// one for plants that speak a vendor dialect (S/4HANA's business events, Business
/// Central's webhook notifications).
pub type WireForm = Arc<dyn Fn(&CloudEvent) -> Wire + Send + Sync>;

/// How one event goes out.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    /// As the history keeps it, to the ingress.
    Canonical,
    /// This JSON instead, to the ingress.
    Json(serde_json::Value),
    /// This JSON (`application/json`) to `url` instead of the ingress (a webhook
    /// subscription's notification URL).
    To {
        /// Where.
        url: String,
        /// What.
        body: serde_json::Value,
    },
    /// Not sent at all (no one is subscribed): the history notes `note` with `detail`.
    Dropped {
        /// The note's name.
        note: &'static str,
        /// Its detail.
        detail: serde_json::Value,
    },
}

/// The outbound queue of an emitter as saved across a restart: what is still to deliver
/// (deliveries in flight are settled first), per-aggregate sequences, the generators and
/// the counters.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedEmitter {
    queues: Vec<Vec<Queued>>,
    #[serde(with = "crate::saved::pairs")]
    sequences: HashMap<(String, String), u64>,
    rng: ChaCha8Rng,
    jitter: ChaCha8Rng,
    stats: EmitterStats,
}

impl Inner {
    /// The connection to `target`'s broker, made on first use.
    fn publisher(&self, target: &mqtt::MqttTarget) -> Arc<mqtt::Publisher> {
        let mut p = self.publishers.lock().unwrap_or_else(|e| e.into_inner());
        p.entry(target.broker.clone())
            .or_insert_with(|| {
                static N: AtomicU64 = AtomicU64::new(0);
                let n = N.fetch_add(1, Ordering::Relaxed);
                let id = format!("andon-{}-{}-{n}", self.system, std::process::id());
                mqtt::Publisher::start(target, &id)
            })
            .clone()
    }

    /// How `event` goes out: its wire form, or the event as kept.
    fn wire(&self, event: &CloudEvent) -> Wire {
        let wire = self.wire.read().unwrap_or_else(|e| e.into_inner()).clone();
        wire.map_or(Wire::Canonical, |f| f(event))
    }
}

impl Emitter {
    /// An emitter for `system`; delivery tasks start at once.
    pub fn start(
        system: System,
        history: History,
        faults: Faults,
        clock: Clock,
        config: EmitterConfig,
        seed: u64,
    ) -> Self {
        let lanes = config.lanes.max(1);
        let inner = Arc::new(Inner {
            system,
            history,
            faults,
            clock,
            ingress: watch::channel(Routes {
                default: config.ingress.clone(),
                plants: Default::default(),
            })
            .0,
            publishers: Mutex::new(HashMap::new()),
            config,
            lanes: Mutex::new(Lanes {
                queues: (0..lanes).map(|_| VecDeque::new()).collect(),
                sequences: HashMap::new(),
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0xE517_0000 ^ ((system as u64) << 8)),
                jitter: ChaCha8Rng::seed_from_u64(seed ^ 0x0117_7E20 ^ ((system as u64) << 8)),
            }),
            wake: (0..lanes).map(|_| Arc::new(Notify::new())).collect(),
            pending: AtomicUsize::new(0),
            emitted: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            max_depth: AtomicUsize::new(0),
            full_episode: AtomicBool::new(false),
            idle: Notify::new(),
            halted: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            settled: Notify::new(),
            wire: std::sync::RwLock::new(None),
        });
        for lane in 0..lanes {
            let inner = Arc::downgrade(&inner);
            tokio::spawn(async move { lane_loop(inner, lane).await });
        }
        Self { inner }
    }

    /// Sets the form events are delivered in (see [`WireForm`]).
    pub fn set_wire_form(&self, form: WireForm) {
        *self.inner.wire.write().unwrap_or_else(|e| e.into_inner()) = Some(form);
    }

    /// Sets (or unsets) the ingress URL of every plant without one of its own.
    pub fn set_ingress(&self, url: Option<String>) {
        self.inner.ingress.send_modify(|r| r.default = url);
        self.wake_lanes();
    }

    /// Sets (or unsets) `plant`'s own ingress URL.
    pub fn set_plant_ingress(&self, plant: &PlantId, url: Option<String>) {
        self.inner.ingress.send_modify(|r| match url {
            Some(u) => {
                r.plants.insert(plant.clone(), u);
            }
            None => {
                r.plants.remove(plant);
            }
        });
        self.wake_lanes();
    }

    /// Sets every route at once.
    pub fn set_routes(&self, routes: Routes) {
        self.inner.ingress.send_replace(routes);
        self.wake_lanes();
    }

    fn wake_lanes(&self) {
        for w in &self.inner.wake {
            w.notify_one();
        }
    }

    /// The ingress URL of every plant without one of its own.
    pub fn ingress(&self) -> Option<String> {
        self.inner.ingress.borrow().default.clone()
    }

    /// Every route.
    pub fn routes(&self) -> Routes {
        self.inner.ingress.borrow().clone()
    }

    /// Counts `n` events that could not be generated or accepted because the buffer is
    /// full; the first refusal of a full episode is recorded in the history.
    pub fn refuse(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.inner.refused.fetch_add(n, Ordering::Relaxed);
        // The first refusal of the episode swaps the flag: it alone writes the record.
        if !self.inner.full_episode.swap(true, Ordering::Relaxed) {
            self.inner.history.append(
                self.inner.system,
                Entry::BufferFull {
                    capacity: self.capacity(),
                    refused: self.inner.refused.load(Ordering::Relaxed),
                },
            );
        }
    }

    /// Whether the buffer has room.
    pub fn has_room(&self) -> bool {
        self.inner.pending.load(Ordering::SeqCst) < self.capacity()
    }

    fn capacity(&self) -> usize {
        self.inner.config.capacity
    }

    /// Generates an event and queues it for delivery. `data` is its payload (a
    /// `serde_json::Value`, or JSON text already built); `intended_at` is when the plant
    /// meant to send it; `poison` says why the payload is poison, if it is.
    pub fn emit(
        &self,
        kind: EventKind,
        plant: &PlantId,
        subject: &str,
        data: impl Into<Json>,
        intended_at: DateTime<Utc>,
        poison: Option<String>,
    ) -> Result<SourceRef, BufferFull> {
        let is_poison = poison.is_some();
        self.reserve()?;
        let source = format!("/andon/{}/{}", self.inner.system, plant);
        let time = self.event_time(plant, subject);
        let (event, lane) = self
            .inner
            .lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stamp(kind, plant, subject, source, time, data);
        let event = Arc::new(event);
        self.inner.history.append(
            self.inner.system,
            Entry::EventEmitted {
                event: event.clone(),
                intended_at,
                poison,
            },
        );
        self.inner.emitted.fetch_add(1, Ordering::Relaxed);
        let key = event.key();
        let poisoned = if is_poison {
            None
        } else {
            self.inner.faults.decide_emitter(
                "poison",
                plant,
                || serde_json::json!({ "subject": subject }),
            )
        };
        let original = poisoned.as_ref().map(|_| event.data.to_value());
        // `mixed` picks by the (seeded) id of the valid event: either mode, repeatably.
        let odd = event.id.bytes().last().is_some_and(|b| b % 2 == 1);
        self.push(lane, Queued::new(event));
        // A `poison` fault mixes a poison message in after a valid one: the same kind and
        // aggregate, its payload broken (schema) or naming master data nobody knows.
        if let (Some(FaultKind::Poison { mode }), Some(data_of)) = (poisoned, original) {
            let unknown = match mode {
                PoisonMode::Schema => false,
                PoisonMode::UnknownMasterData => true,
                PoisonMode::Mixed => odd,
            };
            let (data, why) = poison_payload(data_of, unknown);
            // Refused like any emit when the buffer is full (counted there).
            let _ = self.emit(kind, plant, subject, data, intended_at, Some(why));
        }
        Ok(key)
    }

    /// Takes a place in the buffer atomically (concurrent emits never overfill it); when
    /// the buffer is full the event is refused.
    fn reserve(&self) -> Result<(), BufferFull> {
        let cap = self.capacity();
        let reserved = self
            .inner
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| {
                (p < cap).then_some(p + 1)
            });
        let Ok(before) = reserved else {
            self.refuse(1);
            return Err(BufferFull { capacity: cap });
        };
        self.inner
            .max_depth
            .fetch_max(before + 1, Ordering::Relaxed);
        Ok(())
    }

    /// The event's time: business time now, shifted when a `clock_skew` fault acts.
    fn event_time(&self, plant: &PlantId, subject: &str) -> DateTime<Utc> {
        let mut time = self.inner.clock.now();
        if let Some(FaultKind::ClockSkew { offset_secs }) = self.inner.faults.decide_emitter(
            "clock_skew",
            plant,
            || serde_json::json!({ "subject": subject }),
        ) {
            time += chrono::Duration::seconds(offset_secs);
        }
        time
    }

    /// Queues an event not counted in `pending` yet.
    fn enqueue(&self, lane: usize, q: Queued) {
        let depth = self.inner.pending.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.max_depth.fetch_max(depth, Ordering::Relaxed);
        self.push(lane, q);
    }

    /// Queues an event already counted in `pending`.
    fn push(&self, lane: usize, q: Queued) {
        self.inner
            .lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .queues[lane]
            .push_back(q);
        self.inner.wake[lane].notify_one();
    }

    /// Counters.
    pub fn stats(&self) -> EmitterStats {
        let i = &self.inner;
        EmitterStats {
            pending: i.pending.load(Ordering::SeqCst),
            emitted: i.emitted.load(Ordering::Relaxed),
            delivered: i.delivered.load(Ordering::Relaxed),
            rejected: i.rejected.load(Ordering::Relaxed),
            attempts: i.attempts.load(Ordering::Relaxed),
            refused: i.refused.load(Ordering::Relaxed),
            capacity: self.capacity(),
            max_depth: i.max_depth.load(Ordering::Relaxed),
        }
    }

    /// Saves the queue: lanes stop taking events, deliveries in flight are settled
    /// (delivered, or back at the head of their lane) within the delivery timeout, then the
    /// queue is copied and delivery goes on.
    pub async fn save(&self) -> SavedEmitter {
        let i = &self.inner;
        i.halted.store(true, Ordering::SeqCst);
        // A lane takes an event under the lanes lock and checks `halted` there: once the
        // lock has been taken here, every delivery that will ever start is counted.
        drop(i.lanes.lock().unwrap_or_else(|e| e.into_inner()));
        let timeout = i.config.timeout.0;
        let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(1);
        loop {
            let settled = i.settled.notified();
            if i.active.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                tracing::warn!(system = %i.system, "deliveries still in flight at the save");
                break;
            }
        }
        let saved = {
            let l = i.lanes.lock().unwrap_or_else(|e| e.into_inner());
            SavedEmitter {
                queues: l
                    .queues
                    .iter()
                    .map(|q| q.iter().cloned().collect())
                    .collect(),
                sequences: l.sequences.clone(),
                rng: l.rng.clone(),
                jitter: l.jitter.clone(),
                stats: self.stats(),
            }
        };
        i.halted.store(false, Ordering::SeqCst);
        for w in &i.wake {
            w.notify_one();
        }
        saved
    }

    /// Goes on from a saved queue (on an emitter that has emitted nothing yet). Events keep
    /// their lane when the number of lanes is the same, and their aggregate's lane otherwise.
    pub fn restore(&self, saved: SavedEmitter) {
        let i = &self.inner;
        let pending: usize = saved.queues.iter().map(Vec::len).sum();
        {
            let mut l = i.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let lanes = l.queues.len();
            let same = saved.queues.len() == lanes;
            for (n, queue) in saved.queues.into_iter().enumerate() {
                for q in queue {
                    let lane = if same {
                        n
                    } else {
                        lane_of(&q.event.subject, lanes)
                    };
                    l.queues[lane].push_back(q);
                }
            }
            l.sequences = saved.sequences;
            l.rng = saved.rng;
            l.jitter = saved.jitter;
        }
        let st = saved.stats;
        i.pending.store(pending, Ordering::SeqCst);
        i.emitted.store(st.emitted, Ordering::Relaxed);
        i.delivered.store(st.delivered, Ordering::Relaxed);
        i.rejected.store(st.rejected, Ordering::Relaxed);
        i.attempts.store(st.attempts, Ordering::Relaxed);
        i.refused.store(st.refused, Ordering::Relaxed);
        i.max_depth
            .store(st.max_depth.max(pending), Ordering::Relaxed);
        for w in &i.wake {
            w.notify_one();
        }
    }

    /// Waits until nothing is pending.
    pub async fn drained(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// The lane of an aggregate's events among `lanes`.
pub fn lane_of(subject: &str, lanes: usize) -> usize {
    let mut h = DefaultHasher::new();
    subject.hash(&mut h);
    (h.finish() as usize) % lanes.max(1)
}
