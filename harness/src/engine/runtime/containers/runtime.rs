//! [`Containers`]: the four simulators of a run, each in its own container on a private
//! network created for the run, driven through their admin APIs on published ports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::MasterData;
use andon_simulators::emitter::EmitterStats;
use andon_simulators::history::{Entry, Record};
use chrono::Utc;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::image::SimulatorImage;
use super::{
    Admin, ContainerError, IMAGE, PORT, SimulatorContainer, SimulatorSettings, check_engine,
    image_tag, remove_network, run_labels,
};
use crate::scenario::{EngineFault, EngineFaultKind};

/// Longest wait for a simulator container to print `ready`.
const STARTUP: Duration = Duration::from_secs(60);
/// Grace between SIGTERM and SIGKILL when a simulator is stopped (it saves its state).
const STOP_GRACE_S: i32 = 20;

/// One simulator container.
struct Node {
    container: ContainerAsync<SimulatorImage>,
    /// Its name on the run's network (`andon-…-erp`).
    name: String,
    /// Its admin API on the published port (which changes when it is started again or
    /// reconnected); shared with the stepper and the poller.
    admin: SharedAdmin,
}

/// An admin handle that follows the published port.
type SharedAdmin = Arc<RwLock<Admin>>;

fn current(admin: &SharedAdmin) -> Admin {
    admin.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Node {
    fn admin(&self) -> Admin {
        current(&self.admin)
    }
}

/// The simulators of a run in containers.
pub struct Containers {
    run: String,
    /// The plant network: simulators and SUT find each other here by name; `disconnect`
    /// takes a simulator off it.
    network: String,
    /// The control network, through which the published ports reach each simulator (so
    /// that andon keeps driving a plant that is cut off the plant network).
    control: String,
    docker: Docker,
    nodes: BTreeMap<System, Node>,
    steppers: Mutex<BTreeMap<System, mpsc::UnboundedSender<usize>>>,
    stepper_tasks: Mutex<Vec<JoinHandle<()>>>,
    emitted: Arc<AtomicU64>,
    activity: Arc<AtomicUsize>,
    pending: Arc<AtomicUsize>,
    /// Each simulator's emitter counters, as last read.
    emitters: Arc<Mutex<BTreeMap<System, EmitterStats>>>,
    poller: Mutex<Option<JoinHandle<()>>>,
    engine_records: Mutex<Vec<Record>>,
    fault_ids: AtomicU64,
    /// The network of the broker and the SUT, once the run has a broker.
    mqtt: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containers")
            .field("run", &self.run)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

fn engine_error(action: &str, what: impl ToString, e: impl ToString) -> ContainerError {
    ContainerError::Engine {
        action: action.to_string(),
        what: what.to_string(),
        why: e.to_string(),
    }
}

/// The run's two networks, `RUN-ctl` (published ports) and `RUN-plant` (the systems and
/// the SUT); on failure whatever the run made is removed.
async fn create_networks(
    docker: &Docker,
    run: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(String, String), ContainerError> {
    // "-ctl" sorts before "-plant": the engine routes published ports through the
    // network first in name order, the control one.
    let (network, control) = (format!("{run}-plant"), format!("{run}-ctl"));
    for name in [&control, &network] {
        if let Err(e) = docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            })
            .await
        {
            let _ = super::remove_run(run).await;
            return Err(engine_error("creating the network", name, e));
        }
    }
    Ok((network, control))
}

/// Starts one simulator's container on the control network, joins it to the plant
/// network, and reaches its admin API.
async fn start_node(
    image: SimulatorImage,
    system: System,
    run: &str,
    labels: &BTreeMap<String, String>,
    docker: &Docker,
    control: &str,
    network: &str,
) -> Result<(System, String, ContainerAsync<SimulatorImage>, Admin), ContainerError> {
    let name = format!("{run}-{system}");
    let request = labels
        .iter()
        .fold(image.with_network(control.to_string()), |r, (k, v)| {
            r.with_label(k.clone(), v.clone())
        })
        .with_container_name(name.clone())
        .with_startup_timeout(STARTUP)
        .with_host(
            super::placement::HOST_GATEWAY,
            testcontainers::core::Host::HostGateway,
        );
    let container = request.start().await.map_err(|e| ContainerError::Start {
        what: name.clone(),
        why: e.to_string(),
    })?;
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: name.clone(),
                endpoint_config: None,
            },
        )
        .await
        .map_err(|e| engine_error("joining the plant network", &name, e))?;
    let admin = container.admin().await?;
    Ok((system, name, container, admin))
}

impl Containers {
    /// Creates the run's network and starts the four simulators on it, each with its
    /// settings and the run's master data; returns once every one is ready.
    pub async fn start(
        master: &MasterData,
        settings: &BTreeMap<System, SimulatorSettings>,
    ) -> Result<Self, ContainerError> {
        let tag = image_tag();
        check_engine(&[format!("{IMAGE}:{tag}")]).await?;
        if let Ok(n) = super::reap_leftovers().await
            && n > 0
        {
            tracing::info!(
                removed = n,
                "removed containers of andon runs that were killed"
            );
        }
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .map_err(|e| ContainerError::NoEngine(e.to_string()))?;
        let run = format!("andon-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let labels = run_labels(&run);
        let (network, control) = create_networks(&docker, &run, &labels).await?;
        let started = futures::future::join_all(System::ALL.into_iter().map(|system| {
            let image = SimulatorImage::new(system)
                .with_settings(&settings.get(&system).cloned().unwrap_or_default())
                .with_master(master);
            start_node(image, system, &run, &labels, &docker, &control, &network)
        }))
        .await;
        let mut nodes = BTreeMap::new();
        let mut failure = None;
        for r in started {
            match r {
                Ok((system, name, container, admin)) => {
                    nodes.insert(
                        system,
                        Node {
                            container,
                            name,
                            admin: Arc::new(RwLock::new(admin)),
                        },
                    );
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let me = Self {
            network,
            control,
            run,
            docker,
            nodes,
            steppers: Mutex::new(BTreeMap::new()),
            stepper_tasks: Mutex::new(Vec::new()),
            emitted: Arc::new(AtomicU64::new(0)),
            activity: Arc::new(AtomicUsize::new(0)),
            pending: Arc::new(AtomicUsize::new(0)),
            emitters: Arc::default(),
            poller: Mutex::new(None),
            engine_records: Mutex::new(Vec::new()),
            fault_ids: AtomicU64::new(0),
            mqtt: std::sync::OnceLock::new(),
        };
        if let Some(e) = failure {
            // Containers that were created but did not start are not in `nodes`.
            let run = me.run.clone();
            me.stop().await;
            let _ = super::remove_run(&run).await;
            return Err(e);
        }
        me.start_steppers();
        me.start_poller();
        Ok(me)
    }

    /// The run's id: the network's name and the prefix of every container's name.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The network the simulators (and a containerised SUT) are on.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The network of published ports.
    pub(super) fn control_network(&self) -> &str {
        &self.control
    }

    /// The network the run's broker shares with the SUT's container (named on first use).
    pub(super) fn broker_network(&self) -> String {
        self.mqtt
            .get_or_init(|| format!("{}-mqtt", self.run))
            .clone()
    }

    /// [`Containers::broker_network`], when the run has a broker.
    pub(super) fn joined_broker_network(&self) -> Option<&str> {
        self.mqtt.get().map(String::as_str)
    }

    pub(super) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// A simulator's URL as another container on the run's network reaches it.
    pub fn internal_url(&self, system: System) -> String {
        format!("http://{}-{system}:{PORT}", self.run)
    }

    /// A simulator's URL as this host reaches it (published port).
    pub fn host_url(&self, system: System) -> String {
        self.nodes
            .get(&system)
            .map(|n| n.admin().url().to_string())
            .unwrap_or_default()
    }

    /// A simulator's admin API.
    pub fn admin(&self, system: System) -> Option<Admin> {
        self.nodes.get(&system).map(Node::admin)
    }

    fn start_steppers(&self) {
        let mut senders = BTreeMap::new();
        let mut tasks = Vec::new();
        for (system, node) in &self.nodes {
            let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
            let emitted = self.emitted.clone();
            let admin = node.admin.clone();
            let system = *system;
            tasks.push(tokio::spawn(async move {
                // Steps asked for while a call is out are sent together with the next one.
                while let Some(mut n) = rx.recv().await {
                    while let Ok(more) = rx.try_recv() {
                        n += more;
                    }
                    match current(&admin).step(n).await {
                        Ok(out) => {
                            emitted.fetch_add(out as u64, Ordering::Relaxed);
                        }
                        Err(e) => tracing::warn!(%system, error = %e, "activity step failed"),
                    }
                }
            }));
            senders.insert(system, tx);
        }
        *self.steppers.lock().unwrap_or_else(|e| e.into_inner()) = senders;
        *self.stepper_tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
    }

    fn start_poller(&self) {
        let admins: Vec<(System, SharedAdmin)> = self
            .nodes
            .iter()
            .map(|(s, n)| (*s, n.admin.clone()))
            .collect();
        let (activity, pending) = (self.activity.clone(), self.pending.clone());
        let emitters = self.emitters.clone();
        let mut last: BTreeMap<System, (usize, usize)> = BTreeMap::new();
        let task = tokio::spawn(async move {
            loop {
                for (system, admin) in &admins {
                    // A paused or stopped simulator keeps its last reading.
                    if let Ok(h) = current(admin).health().await {
                        last.insert(*system, (h.activity, h.emitter.pending));
                        emitters
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(*system, h.emitter);
                    }
                }
                activity.store(last.values().map(|v| v.0).sum(), Ordering::Relaxed);
                pending.store(last.values().map(|v| v.1).sum(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        *self.poller.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Asks `system` for `n` steps of plant activity; sent in the background (the events
    /// emitted are counted in [`Containers::emitted`]).
    pub fn step(&self, system: System, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(tx) = self
            .steppers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&system)
        {
            let _ = tx.send(n);
        }
    }

    /// Waits until every step asked for has been carried out; returns the events emitted.
    pub async fn finish_steps(&self) -> u64 {
        self.steppers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let tasks =
            std::mem::take(&mut *self.stepper_tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
        self.emitted.load(Ordering::Relaxed)
    }

    /// History records that are not idle reads, and buffered events, over all simulators, as
    /// last read.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.activity.load(Ordering::Relaxed),
            self.pending.load(Ordering::Relaxed),
        )
    }

    /// Each simulator's emitter counters, as last read (every 100 ms).
    pub fn emitter_stats(&self) -> BTreeMap<System, EmitterStats> {
        self.emitters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets where a simulator delivers its events.
    pub async fn set_ingress(
        &self,
        system: System,
        url: Option<&str>,
    ) -> Result<(), ContainerError> {
        match self.nodes.get(&system) {
            Some(n) => Ok(n.admin().set_ingress(url).await?),
            None => Ok(()),
        }
    }

    /// The admin API of `system`'s simulator (`None`: the run has no such simulator).
    pub(super) fn admin_of(&self, system: System) -> Option<Admin> {
        self.nodes.get(&system).map(Node::admin)
    }

    /// Carries out a fault through the container engine and, after its `for`, undoes it.
    /// Both ends are recorded in the history as the simulator's fault (it cannot record a
    /// fault it is suffering itself).
    pub async fn engine_fault(
        &self,
        system: System,
        fault: EngineFault,
    ) -> Result<(), ContainerError> {
        let Some(node) = self.nodes.get(&system) else {
            return Ok(());
        };
        let id = format!(
            "engine-{}",
            self.fault_ids.fetch_add(1, Ordering::Relaxed) + 1
        );
        let kind = fault.kind.name();
        let what = node.name.clone();
        match fault.kind {
            EngineFaultKind::Pause => node
                .container
                .pause()
                .await
                .map_err(|e| engine_error("pause", &what, e))?,
            EngineFaultKind::Stop => node
                .container
                .stop_with_timeout(Some(STOP_GRACE_S))
                .await
                .map_err(|e| engine_error("stop", &what, e))?,
            EngineFaultKind::Disconnect => self
                .docker
                .disconnect_network(
                    &self.network,
                    NetworkDisconnectRequest {
                        container: what.clone(),
                        force: Some(true),
                    },
                )
                .await
                .map_err(|e| engine_error("network disconnect", &what, e))?,
        }
        self.record(
            system,
            &id,
            "applied",
            kind,
            serde_json::to_value(fault).unwrap_or_default(),
        );
        tokio::time::sleep(fault.duration.0).await;
        let undone = match fault.kind {
            EngineFaultKind::Pause => node
                .container
                .unpause()
                .await
                .map_err(|e| engine_error("unpause", &what, e)),
            EngineFaultKind::Stop => self.start_again(node).await,
            EngineFaultKind::Disconnect => match self
                .docker
                .connect_network(
                    &self.network,
                    NetworkConnectRequest {
                        container: what.clone(),
                        endpoint_config: None,
                    },
                )
                .await
            {
                // The engine publishes the port anew on reconnect.
                Ok(()) => self.follow_port(node).await,
                Err(e) => Err(engine_error("network connect", &what, e)),
            },
        };
        self.record(
            system,
            &id,
            "cleared",
            kind,
            serde_json::json!({ "ok": undone.is_ok() }),
        );
        undone
    }

    /// `docker start` of a stopped simulator: it continues from its saved state, on a new
    /// published port.
    async fn start_again(&self, node: &Node) -> Result<(), ContainerError> {
        node.container
            .start()
            .await
            .map_err(|e| engine_error("start", &node.name, e))?;
        self.follow_port(node).await
    }

    /// Points the node's admin handle at its current published port, once it answers.
    async fn follow_port(&self, node: &Node) -> Result<(), ContainerError> {
        let admin = node.container.admin().await?;
        admin.wait_ready(STARTUP).await?;
        *node.admin.write().unwrap_or_else(|e| e.into_inner()) = admin;
        Ok(())
    }

    fn record(&self, system: System, id: &str, action: &str, kind: &str, spec: serde_json::Value) {
        self.engine_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Record {
                seq: 0,
                at: Utc::now(),
                system,
                entry: Entry::Fault {
                    id: id.to_string(),
                    action: action.to_string(),
                    kind: kind.to_string(),
                    spec: andon_contracts::Json::from(spec),
                },
            });
    }

    /// Every simulator's state snapshot.
    pub async fn snapshots(&self) -> Result<BTreeMap<System, serde_json::Value>, ContainerError> {
        let mut out = BTreeMap::new();
        for (system, node) in &self.nodes {
            out.insert(*system, node.admin().state().await?);
        }
        Ok(out)
    }

    /// The run's history: every simulator's records and the engine's faults, in time
    /// order, numbered again as one journal.
    pub async fn records(&self) -> Result<Vec<Record>, ContainerError> {
        let mut all = Vec::new();
        for node in self.nodes.values() {
            all.extend(node.admin().history().await?);
        }
        all.extend(
            self.engine_records
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        all.sort_by_key(|r| r.at);
        for (i, r) in all.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        Ok(all)
    }

    /// Stops and removes every container and the network of the run.
    pub async fn stop(self) {
        if let Some(p) = self.poller.lock().unwrap_or_else(|e| e.into_inner()).take() {
            p.abort();
        }
        self.steppers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for t in std::mem::take(&mut *self.stepper_tasks.lock().unwrap_or_else(|e| e.into_inner()))
        {
            t.abort();
        }
        let removals = self.nodes.into_values().map(|n| {
            let name = n.name.clone();
            async move {
                // A paused container cannot be removed gracefully: unpause it first.
                let _ = n.container.unpause().await;
                if let Err(e) = n.container.rm().await {
                    tracing::warn!(container = name, error = %e, "could not remove a container");
                }
            }
        });
        futures::future::join_all(removals).await;
        // The broker's container, and anything that did not go the orderly way (a
        // container that never started), before the networks they are on.
        let _ = super::remove_run(&self.run).await;
        remove_network(&self.docker, &self.network).await;
        remove_network(&self.docker, &self.control).await;
    }
}
