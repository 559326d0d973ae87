//! Test helpers: the four simulators in-process on one shared history, the middleware
//! in-process ([`Mw`]) or as a child process ([`ChildMw`]), waiting for quiescence, and
//! readers of the history (effects, requests, emitted and acknowledged events) with the
//! exactly-once check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use andon_contracts::{CloudEvent, EventKind, PlantId, SourceRef, System};
use andon_reference_middleware::{Config, Defect};
use andon_simulators::core::EmitRequest;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec};
use andon_simulators::history::{Entry, Outcome, RequestEntry};
use andon_simulators::masterdata::{PlantSpec, Profile};
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// The seed of every test.
pub const SEED: u64 = 42;
/// The plant of every test.
pub const PLANT: &str = "1000";

/// Installs a subscriber when `TEST_LOG` is set (`TEST_LOG=debug`).
pub fn init_tracing() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system's temp dir.
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("andon-mw-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One effect recorded by a simulator.
#[derive(Debug, Clone)]
pub struct Effect {
    /// Effect name (`erp.goods_movement`).
    pub effect: String,
    /// Business key.
    pub key: String,
    /// Source events declared by the SUT.
    pub sources: Vec<SourceRef>,
    /// Details.
    pub detail: Value,
}

/// One request the SUT made.
#[derive(Debug, Clone)]
pub struct Req {
    /// System called.
    pub system: System,
    /// When the simulator recorded it.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// `Idempotency-Key`.
    pub key: Option<String>,
    /// `traceparent`.
    pub traceparent: Option<String>,
    /// Source references in the body.
    pub sources: Vec<SourceRef>,
    /// Whether the body was valid.
    pub valid: Option<bool>,
    /// Status answered.
    pub status: u16,
    /// Answered by a fault.
    pub fault: Option<String>,
    /// Replayed answer.
    pub replayed: bool,
    /// Problem code.
    pub problem: Option<String>,
}

/// The four simulators on one history.
pub struct Plant {
    /// The shared history.
    pub history: History,
    sims: BTreeMap<System, Simulator>,
    /// Base URL per simulator.
    pub urls: BTreeMap<System, String>,
    stop: watch::Sender<bool>,
}

/// Simulator settings for fast tests: results at once, quick emitter retries.
pub fn sim_config() -> SimConfig {
    let mut c = SimConfig {
        seed: SEED,
        ..SimConfig::default()
    };
    c.activity.result_delay = Dur(Duration::ZERO);
    c.emitter.backoff_base = Dur(Duration::from_millis(20));
    c.emitter.backoff_max = Dur(Duration::from_millis(300));
    c.emitter.timeout = Dur(Duration::from_secs(3));
    c
}

impl Plant {
    /// Starts ERP, MES, QMS and WMS with [`sim_config`].
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Starts the simulators with `tweak` applied to the settings.
    pub async fn with(tweak: impl Fn(&mut SimConfig)) -> Self {
        init_tracing();
        let master = MasterData::generate(
            SEED,
            &[PlantSpec {
                id: PlantId::parse(PLANT).expect("plant"),
                lines: 2,
                materials: 4,
                profile: Profile::Discrete,
            }],
        );
        let history = History::new();
        let (stop, _) = watch::channel(false);
        let mut sims = BTreeMap::new();
        let mut urls = BTreeMap::new();
        for system in System::ALL {
            let mut config = sim_config();
            tweak(&mut config);
            let sim = Simulator::new(system, config, master.clone(), history.clone());
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            urls.insert(
                system,
                format!("http://{}", listener.local_addr().expect("addr")),
            );
            let mut rx = stop.subscribe();
            let s = sim.clone();
            tokio::spawn(async move {
                let _ = s
                    .serve(listener, async move {
                        let _ = rx.wait_for(|v| *v).await;
                    })
                    .await;
            });
            sims.insert(system, sim);
        }
        Self {
            history,
            sims,
            urls,
            stop,
        }
    }

    /// One simulator.
    pub fn sim(&self, system: System) -> &Simulator {
        &self.sims[&system]
    }

    /// Points every emitter at the middleware at `mw_url`.
    pub fn connect(&self, mw_url: &str) {
        for (system, sim) in &self.sims {
            sim.core
                .emitter
                .set_ingress(Some(format!("{mw_url}/events/{system}")));
        }
    }

    /// Applies a fault; returns its id.
    pub fn fault(&self, system: System, spec: FaultSpec) -> String {
        self.sim(system)
            .core
            .faults
            .add(spec)
            .expect("fault applies")
    }

    /// Applies a fault of `kind` on every request or event of `system`.
    pub fn fault_kind(&self, system: System, kind: FaultKind) -> String {
        self.fault(system, FaultSpec::new(kind))
    }

    /// Clears a fault.
    pub fn clear(&self, system: System, id: &str) {
        assert!(
            self.sim(system).core.faults.clear(id),
            "fault {id} was in force"
        );
    }

    /// Generates `n` steps of `system`'s plant activity.
    pub fn step(&self, system: System, n: usize) -> usize {
        self.sim(system).behaviour.step(n)
    }

    /// Emits one event of `system` now.
    pub fn emit(&self, system: System, kind: &str, data: Value) -> SourceRef {
        self.sim(system)
            .behaviour
            .emit_event(EmitRequest {
                kind: kind.into(),
                plant: PlantId::parse(PLANT).expect("plant"),
                subject: None,
                data,
                poison: None,
            })
            .unwrap_or_else(|e| panic!("emitting {kind}: {e:?}"))
    }

    /// Emits a poison event of `system` (it breaks the contract).
    pub fn emit_poison(&self, system: System, kind: &str, data: Value) -> SourceRef {
        self.sim(system)
            .behaviour
            .emit_event(EmitRequest {
                kind: kind.into(),
                plant: PlantId::parse(PLANT).expect("plant"),
                subject: None,
                data,
                poison: Some("test poison".into()),
            })
            .unwrap_or_else(|e| panic!("emitting poison {kind}: {e:?}"))
    }

    /// Events waiting in the emitters.
    pub fn emitter_pending(&self) -> usize {
        self.sims
            .values()
            .map(|s| s.core.emitter.stats().pending)
            .sum()
    }

    /// A state snapshot.
    pub fn snapshot(&self, system: System) -> Value {
        self.sim(system).behaviour.snapshot()
    }

    /// Waits until the emitters are drained and the middleware has nothing pending (and the
    /// history stands still for a moment).
    pub async fn settle(&self, mw_url: &str) {
        self.settle_within(mw_url, Duration::from_secs(40)).await;
    }

    /// [`Plant::settle`] with a deadline.
    pub async fn settle_within(&self, mw_url: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let client = reqwest::Client::new();
        let mut quiet = 0;
        let mut last_len = 0;
        loop {
            let stats = stats_of(&client, mw_url).await;
            let busy = self.emitter_pending() > 0
                || stats.as_ref().is_none_or(|s| {
                    s["pending"] != 0 || s["waiting_lot_events"] != 0 || s["write_behind"] != 0
                });
            let len = self.history.len();
            if !busy && len == last_len {
                quiet += 1;
                if quiet >= 3 {
                    return;
                }
            } else {
                quiet = 0;
            }
            last_len = len;
            assert!(
                Instant::now() < deadline,
                "no quiescence within {limit:?}: emitters pending {}, middleware {stats:?}",
                self.emitter_pending()
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Every effect recorded.
    pub fn effects(&self) -> Vec<Effect> {
        self.history.with_records(|rs| {
            rs.iter()
                .filter_map(|r| match &r.entry {
                    Entry::Effect {
                        effect,
                        key,
                        sources,
                        detail,
                        ..
                    } => Some(Effect {
                        effect: effect.clone(),
                        key: key.clone(),
                        sources: sources.clone(),
                        detail: detail.to_value(),
                    }),
                    _ => None,
                })
                .collect()
        })
    }

    /// Effects named `name`.
    pub fn effects_named(&self, name: &str) -> Vec<Effect> {
        self.effects()
            .into_iter()
            .filter(|e| e.effect == name)
            .collect()
    }

    /// Every request the SUT made to the simulators' APIs.
    pub fn requests(&self) -> Vec<Req> {
        self.history.with_records(|rs| {
            rs.iter()
                .filter_map(|r| match r.entry.request() {
                    Some(RequestEntry {
                        method,
                        path,
                        idempotency_key,
                        traceparent,
                        sources,
                        valid,
                        status,
                        fault,
                        replayed,
                        problem,
                        ..
                    }) if path.starts_with("/api/") => Some(Req {
                        system: r.system,
                        at: r.at,
                        method: method.clone(),
                        path: path.clone(),
                        key: idempotency_key.clone(),
                        traceparent: traceparent.clone(),
                        sources: sources.clone(),
                        valid: *valid,
                        status: *status,
                        fault: fault.clone(),
                        replayed: *replayed,
                        problem: problem.clone(),
                    }),
                    _ => None,
                })
                .collect()
        })
    }

    /// Every event emitted (duplicates included once), by key.
    pub fn emitted(&self) -> BTreeMap<SourceRef, CloudEvent> {
        self.history.with_records(|rs| {
            rs.iter()
                .filter_map(|r| match &r.entry {
                    Entry::EventEmitted { event, .. } => {
                        Some((event.key(), CloudEvent::clone(event)))
                    }
                    _ => None,
                })
                .collect()
        })
    }

    /// Events the middleware acknowledged with 2xx.
    pub fn acknowledged(&self) -> BTreeSet<SourceRef> {
        self.history.with_records(|rs| {
            rs.iter()
                .filter_map(|r| match &r.entry {
                    Entry::Delivery {
                        event,
                        outcome: Outcome::Ok,
                        ..
                    } => Some(event.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Effects that realise the same source event more than once: `(source, effect, key)`.
    pub fn doubled_effects(&self) -> Vec<(SourceRef, String, String, usize)> {
        let mut count: BTreeMap<(SourceRef, String, String), usize> = BTreeMap::new();
        for e in self.effects() {
            for s in &e.sources {
                *count
                    .entry((s.clone(), e.effect.clone(), e.key.clone()))
                    .or_default() += 1;
            }
        }
        count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|((s, e, k), n)| (s, e, k, n))
            .collect()
    }

    /// Acknowledged events whose expected effects are missing and that were not
    /// dead-lettered: `(event, missing effect)`.
    pub fn lost_effects(
        &self,
        dead_lettered: &BTreeSet<SourceRef>,
    ) -> Vec<(SourceRef, String, &'static str)> {
        let emitted = self.emitted();
        let mut seen: BTreeMap<SourceRef, BTreeSet<String>> = BTreeMap::new();
        for e in self.effects() {
            for s in e.sources {
                seen.entry(s).or_default().insert(e.effect.clone());
            }
        }
        let inspected: BTreeSet<String> = self
            .sim(System::Erp)
            .core
            .master()
            .materials
            .iter()
            .filter(|m| m.inspection_required)
            .map(|m| m.material.to_string())
            .collect();
        let mut lost = Vec::new();
        for key in self.acknowledged() {
            if dead_lettered.contains(&key) {
                continue;
            }
            let Some(event) = emitted.get(&key) else {
                continue;
            };
            let Some(kind) = event.kind() else { continue };
            let mut expected = expected_effects(kind);
            if kind == EventKind::MaterialProduced
                && event
                    .data
                    .str("material")
                    .is_some_and(|m| inspected.contains(m))
            {
                expected.push("qms.inspection_lot");
            }
            let got = seen.get(&key).cloned().unwrap_or_default();
            for e in expected {
                if !got.contains(e) {
                    lost.push((key.clone(), event.type_.clone(), e));
                }
            }
        }
        lost
    }
}

impl Drop for Plant {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The effects a source event must have where it must land.
pub fn expected_effects(kind: EventKind) -> Vec<&'static str> {
    use EventKind as K;
    match kind {
        K::ProductionOrderReleased => vec!["mes.work_order"],
        K::ProductionOrderChanged => vec!["mes.work_order_changed"],
        K::ProductionOrderCancelled => vec!["mes.work_order_cancelled"],
        K::MaterialChanged => vec!["mes.material", "qms.material", "wms.material"],
        K::OperationConfirmed => vec!["erp.confirmation"],
        K::MaterialConsumed => vec!["erp.goods_movement"],
        K::MaterialProduced => vec!["erp.goods_movement", "wms.receipt"],
        K::UsageDecisionMade => vec!["erp.goods_movement", "mes.lot_status", "wms.lot_status"],
        K::LotHoldPlaced => vec!["mes.hold", "wms.hold"],
        K::LotHoldReleased => vec!["mes.release", "wms.release"],
        K::NonconformanceCreated => vec!["erp.quality_notification"],
        K::ShipmentConfirmed => vec!["erp.goods_movement"],
        _ => vec![],
    }
}

/// `GET {url}/stats` (`None` when it does not answer).
pub async fn stats_of(client: &reqwest::Client, url: &str) -> Option<Value> {
    client
        .get(format!("{url}/stats"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Middleware settings for fast tests against `plant`, with the store in `dir`.
pub fn mw_config(plant: &Plant, dir: &Path) -> Config {
    let mut c = Config::new(dir);
    for (system, url) in &plant.urls {
        c = c.target(*system, url.clone());
    }
    c.client_timeout = Duration::from_secs(1);
    c.backoff_base = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(300);
    c.lot_wait = Duration::from_secs(2);
    c.idle_poll = Duration::from_millis(100);
    c.workers = 4;
    c
}

/// The middleware running in-process.
pub struct Mw {
    /// Base URL.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), andon_reference_middleware::Error>>>,
    _dir: TempDir,
}

impl Mw {
    /// The correct middleware against `plant`, connected to its emitters.
    pub async fn start(plant: &Plant) -> Self {
        Self::start_with(plant, |c| c).await
    }

    /// The middleware with `defects` on.
    pub async fn with_defects(plant: &Plant, defects: &[Defect]) -> Self {
        let d = defects.to_vec();
        Self::start_with(plant, move |mut c| {
            for x in d {
                c = c.defect(x);
            }
            c
        })
        .await
    }

    /// The middleware with `tweak` applied to its config, connected to `plant`'s emitters.
    pub async fn start_with(plant: &Plant, tweak: impl FnOnce(Config) -> Config) -> Self {
        let dir = TempDir::new();
        let config = tweak(mw_config(plant, dir.path()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(andon_reference_middleware::run_on(
            config,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        wait_healthy(&url).await;
        plant.connect(&url);
        Self {
            url,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> Value {
        stats_of(&reqwest::Client::new(), &self.url)
            .await
            .expect("stats")
    }

    /// `GET /dead-letters`.
    pub async fn dead_letters(&self) -> Vec<Value> {
        dead_letters_of(&self.url).await
    }

    /// Stops it gracefully and waits.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await
                .expect("middleware task")
                .expect("middleware ran cleanly");
        }
    }
}

impl Drop for Mw {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// `GET {url}/dead-letters`.
pub async fn dead_letters_of(url: &str) -> Vec<Value> {
    reqwest::get(format!("{url}/dead-letters"))
        .await
        .expect("dead letters")
        .json()
        .await
        .expect("dead letters JSON")
}

/// Source events of dead letters.
pub fn dead_lettered(list: &[Value]) -> BTreeSet<SourceRef> {
    list.iter()
        .filter_map(|d| {
            Some(SourceRef {
                source: d["source_event"]["source"].as_str()?.to_string(),
                id: d["source_event"]["id"].as_str()?.to_string(),
            })
        })
        .collect()
}

/// Waits until `GET {url}/health` answers 200.
pub async fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/health")).await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The middleware as a child process (the crate's own binary), for kill -9.
pub struct ChildMw {
    /// Base URL.
    pub url: String,
    child: tokio::process::Child,
}

impl ChildMw {
    /// Starts the binary against `plant` with its store in `dir`, connected to the emitters.
    pub async fn spawn(plant: &Plant, dir: &Path, defects: &[Defect]) -> Self {
        let mut cmd =
            tokio::process::Command::new(env!("CARGO_BIN_EXE_andon-reference-middleware"));
        cmd.env_clear()
            .env("PORT", "0")
            .env("DATA_DIR", dir)
            .env("CLIENT_TIMEOUT", "1s")
            .env("BACKOFF_BASE", "20ms")
            .env("BACKOFF_MAX", "300ms")
            .env("LOT_WAIT", "2s")
            // `ack-before-persist` never writes behind while a test runs: a kill loses it all.
            .env("WRITE_BEHIND_FLUSH", "1h")
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .env(
                "DEFECTS",
                defects
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .kill_on_drop(true);
        for (system, url) in &plant.urls {
            cmd.env(format!("{}_URL", system.as_str().to_ascii_uppercase()), url);
        }
        let mut child = cmd.spawn().expect("spawn the middleware binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(u) = line.strip_prefix("listening on ") {
                    return u.trim().to_string();
                }
            }
            panic!("the middleware ended without printing its URL");
        })
        .await
        .expect("the middleware printed its URL");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        wait_healthy(&url).await;
        plant.connect(&url);
        Self { url, child }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("kill -9");
        let _ = self.child.wait().await;
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> Value {
        stats_of(&reqwest::Client::new(), &self.url)
            .await
            .expect("stats")
    }
}

/// POSTs a CloudEvent straight to an ingress; returns the status.
pub async fn post_event(client: &reqwest::Client, url: &str, system: System, event: &Value) -> u16 {
    client
        .post(format!("{url}/events/{system}"))
        .header("content-type", "application/cloudevents+json")
        .json(event)
        .send()
        .await
        .expect("post event")
        .status()
        .as_u16()
}

/// An `operation.started` event of MES with id `id`.
pub fn started_event(id: &str, sequence: u64) -> Value {
    serde_json::json!({
        "specversion": "1.0", "id": id, "source": format!("/andon/mes/{PLANT}"), "type": "andon.operation.started.v1",
        "subject": "1000001", "time": "2026-11-02T06:10:00Z", "datacontenttype": "application/json",
        "plant": PLANT, "sequence": sequence,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "data": {"order": "1000001", "operation": "0010", "plant": PLANT, "work_center": "LINE-1",
                 "started_at": "2026-11-02T06:10:00Z"}
    })
}

/// A raw-material lot of the generated plant with unrestricted stock in KG:
/// `(material, batch)`; grams are its alternative unit.
pub fn kg_raw_lot() -> (&'static str, &'static str) {
    ("RM-1000-02", "R1022")
}

/// Releases one order in ERP and waits until MES has it; returns the order number.
pub async fn released_order(plant: &Plant, mw_url: &str) -> String {
    assert_eq!(plant.step(System::Erp, 1), 1);
    plant.settle(mw_url).await;
    let wo = plant.effects_named("mes.work_order");
    wo.last().expect("a work order reached MES").key.clone()
}

/// The trace id of a `traceparent`.
pub fn trace_id(tp: &str) -> &str {
    tp.split('-').nth(1).unwrap_or_default()
}

/// A `throttle` fault: `limit` requests per second on `path`.
pub fn throttle(limit: u32) -> FaultSpec {
    FaultSpec::new(FaultKind::Throttle {
        limit,
        per: Dur(Duration::from_secs(1)),
    })
}

/// Requests with the same key answered 429 and retried sooner than one second later:
/// `(key, gap)`.
pub fn retries_before_retry_after(reqs: &[Req]) -> Vec<(String, chrono::Duration)> {
    let mut by_key: BTreeMap<&str, Vec<&Req>> = BTreeMap::new();
    for r in reqs.iter().filter(|r| r.system == System::Erp) {
        if let Some(k) = &r.key {
            by_key.entry(k).or_default().push(r);
        }
    }
    let mut early = Vec::new();
    for (k, rs) in by_key {
        for w in rs.windows(2) {
            if w[0].status == 429 {
                let gap = w[1].at - w[0].at;
                if gap < chrono::Duration::seconds(1) {
                    early.push((k.to_string(), gap));
                }
            }
        }
    }
    early
}
