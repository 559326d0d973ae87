//! `andon serve`: the chosen simulators, standalone, each on its own listener, sharing one
//! history; optionally OpenAPI example stubs next to them. Runs until a shutdown signal,
//! then stops every server and writes the history as JSON Lines if asked to.
//!
//! ```no_run
//! # async fn demo() -> Result<(), andon::serve::ServeError> {
//! use andon::serve::ServeOptions;
//!
//! let running = ServeOptions::default().start().await?;
//! for e in running.endpoints() {
//!     println!("{} {}", e.name, e.url);
//! }
//! let summary = running.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # let _ = summary; Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use andon_contracts::{PlantId, System};
use andon_simulators::auth::AuthConfig;
use andon_simulators::masterdata::MasterDataError;
use andon_simulators::stub::{StubError, StubServer, start_stub};
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

mod running;

use running::follow_requests;

/// Where the master data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterSource {
    /// A YAML file (see `MasterData::load`).
    File(PathBuf),
    /// Generated from the run's seed for these plants, each with
    /// [`GENERATED_LINES`] lines and [`GENERATED_MATERIALS`] finished materials.
    Generated(Vec<PlantId>),
}

pub use andon_simulators::masterdata::{GENERATED_LINES, GENERATED_MATERIALS};

/// One OpenAPI document to serve as a stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubSpec {
    /// The document (YAML or JSON).
    pub file: PathBuf,
    /// Port; `None` takes the next default port after the simulators' (8105, 8106, …).
    pub port: Option<u16>,
}

/// What `andon serve` starts.
///
/// Defaults: all four systems on 127.0.0.1 ports 8101 (ERP), 8102 (MES), 8103 (QMS) and
/// 8104 (WMS); master data generated for plant `1000` from seed 42; idempotency keys
/// honoured; authentication off; no event ingress (events wait in each simulator's
/// buffer); no stubs; no history file.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// Systems to simulate, each once.
    pub systems: Vec<System>,
    /// Master data.
    pub master: MasterSource,
    /// Seed of the generated master data and of every chance decision.
    pub seed: u64,
    /// Address every server listens on.
    pub bind: IpAddr,
    /// Ports that differ from [`default_port`] (0: any free port).
    pub ports: BTreeMap<System, u16>,
    /// Where each system delivers its events.
    pub ingress: BTreeMap<System, String>,
    /// Whether `Idempotency-Key` is honoured.
    pub idempotency: bool,
    /// The vendor dialect a system speaks for every plant (default: andon's own API).
    pub dialects: BTreeMap<System, andon_simulators::dialect::Binding>,
    /// Whether bearer tokens are required.
    pub auth: bool,
    /// OpenAPI documents to serve as example stubs.
    pub stubs: Vec<StubSpec>,
    /// Where to write the history (JSON Lines) on shutdown.
    pub history: Option<PathBuf>,
    /// The token the admin API requires (`None`: open, as on loopback).
    pub admin_token: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            systems: System::ALL.to_vec(),
            master: MasterSource::Generated(vec![PlantId::parse("1000").expect("valid literal")]),
            seed: 42,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: BTreeMap::new(),
            ingress: BTreeMap::new(),
            idempotency: true,
            dialects: BTreeMap::new(),
            auth: false,
            stubs: Vec::new(),
            history: None,
            admin_token: None,
        }
    }
}

/// The default port of a system: 8101 ERP, 8102 MES, 8103 QMS, 8104 WMS.
pub fn default_port(system: System) -> u16 {
    match system {
        System::Erp => 8101,
        System::Mes => 8102,
        System::Qms => 8103,
        System::Wms => 8104,
    }
}

/// The first default port of stubs (8105, then 8106, …).
pub const FIRST_STUB_PORT: u16 = 8105;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The master-data file is bad (names file, line and column).
    #[error(transparent)]
    MasterData(#[from] MasterDataError),
    /// A stub document cannot be served.
    #[error(transparent)]
    Stub(StubError),
    /// A stub document cannot be read.
    #[error("{file}: {source}")]
    StubFile {
        /// The file.
        file: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The options contradict themselves.
    #[error("{0}")]
    Options(String),
    /// The history file cannot be created.
    #[error("{file}: cannot create the history file: {source}")]
    HistoryFile {
        /// The file.
        file: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A port cannot be bound.
    #[error(
        "{name}: cannot listen on {addr}: {source} (choose another with --port {name}=PORT, 0 for any free port)"
    )]
    Bind {
        /// System or stub.
        name: String,
        /// The address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// A server stopped with an error.
    #[error("{name} stopped: {source}")]
    Serve {
        /// System.
        name: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing the history failed.
    #[error("{file}: cannot write the history: {source}")]
    HistoryWrite {
        /// The file.
        file: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl ServeError {
    /// Whether the user can fix this by changing arguments or files (exit 2) rather than a
    /// failure while running (exit 1).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::MasterData(_)
            | Self::StubFile { .. }
            | Self::Options(_)
            | Self::HistoryFile { .. } => true,
            Self::Stub(e) => !matches!(e, StubError::Bind { .. }),
            Self::Bind { .. } | Self::Serve { .. } | Self::HistoryWrite { .. } => false,
        }
    }
}

/// Something that answers on a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `erp`, `mes`, `qms`, `wms`, or `stub`.
    pub name: String,
    /// The system, for simulators.
    pub system: Option<System>,
    /// Base URL (`http://127.0.0.1:8101`).
    pub url: String,
    /// What it serves, in one line (ingress of a simulator, operations of a stub).
    pub detail: String,
}

/// What a run of `andon serve` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records in the history.
    pub records: usize,
    /// Where they were written.
    pub history_file: Option<PathBuf>,
}

/// The running servers. Dropping it without [`Running::run_until`] stops the stubs but
/// leaves the simulator tasks to the runtime.
pub struct Running {
    endpoints: Vec<Endpoint>,
    history: History,
    history_file: Option<(PathBuf, File)>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<(String, std::io::Result<()>)>,
    stubs: Vec<StubServer>,
    simulators: Vec<Simulator>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl ServeOptions {
    /// The port `system` listens on.
    pub fn port_of(&self, system: System) -> u16 {
        self.ports
            .get(&system)
            .copied()
            .unwrap_or_else(|| default_port(system))
    }

    /// Checks the options against each other.
    fn check(&self) -> Result<(), ServeError> {
        if self.systems.is_empty() {
            return Err(ServeError::Options(
                "no system to serve: name at least one of erp, mes, qms, wms".into(),
            ));
        }
        let mut taken: BTreeMap<u16, String> = BTreeMap::new();
        let stub_ports = self.stub_ports();
        let all = self
            .systems
            .iter()
            .map(|s| (s.to_string(), self.port_of(*s)))
            .chain(
                self.stubs
                    .iter()
                    .zip(&stub_ports)
                    .map(|(s, p)| (format!("stub {}", s.file.display()), *p)),
            );
        for (name, port) in all {
            if port == 0 {
                continue;
            }
            if let Some(other) = taken.insert(port, name.clone()) {
                return Err(ServeError::Options(format!(
                    "{other} and {name} both want port {port}"
                )));
            }
        }
        for (system, url) in &self.ingress {
            let ok = reqwest::Url::parse(url)
                .map(|u| matches!(u.scheme(), "http" | "https"))
                .unwrap_or(false);
            if !ok {
                return Err(ServeError::Options(format!(
                    "ingress of {system}: {url:?} is not an http(s) URL"
                )));
            }
        }
        Ok(())
    }

    fn stub_ports(&self) -> Vec<u16> {
        let mut next = FIRST_STUB_PORT;
        self.stubs
            .iter()
            .map(|s| {
                s.port.unwrap_or_else(|| {
                    let p = next;
                    next = next.saturating_add(1);
                    p
                })
            })
            .collect()
    }

    fn master_data(&self) -> Result<MasterData, ServeError> {
        Ok(match &self.master {
            MasterSource::File(path) => MasterData::load(path)?,
            MasterSource::Generated(plants) => generated_master(self.seed, plants),
        })
    }

    /// Checks the options, reads the master data and the stub documents, binds every
    /// listener, and starts serving. Must run inside a tokio runtime.
    #[tracing::instrument(skip(self), fields(systems = ?self.systems, seed = self.seed))]
    pub async fn start(self) -> Result<Running, ServeError> {
        self.check()?;
        let master = self.master_data()?;
        let documents = self.stub_documents()?;
        let history_file = self.history_file()?;
        let listeners = self.bind().await?;
        let history = History::new();
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let (mut endpoints, simulators) =
            self.serve_simulators(listeners, &master, &history, &shutdown, &mut tasks)?;
        let stubs = self.start_stubs(&documents, &mut endpoints).await?;

        let follower = history.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = follow_requests(follower) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });

        Ok(Running {
            endpoints,
            history,
            history_file,
            shutdown,
            tasks,
            stubs,
            simulators,
        })
    }

    /// The text of every stub's OpenAPI document.
    fn stub_documents(&self) -> Result<Vec<String>, ServeError> {
        self.stubs
            .iter()
            .map(|spec| {
                std::fs::read_to_string(&spec.file).map_err(|source| ServeError::StubFile {
                    file: spec.file.clone(),
                    source,
                })
            })
            .collect()
    }

    /// The file the history is streamed to, created now, when one is asked for.
    fn history_file(&self) -> Result<Option<(PathBuf, File)>, ServeError> {
        let Some(path) = &self.history else {
            return Ok(None);
        };
        let file = File::create(path).map_err(|source| ServeError::HistoryFile {
            file: path.clone(),
            source,
        })?;
        Ok(Some((path.clone(), file)))
    }

    /// A listener for each chosen simulator (each once, in system order).
    async fn bind(&self) -> Result<Vec<(System, TcpListener)>, ServeError> {
        let mut systems = self.systems.clone();
        systems.sort();
        systems.dedup();
        let mut listeners = Vec::new();
        for system in systems {
            let addr = SocketAddr::new(self.bind, self.port_of(system));
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind {
                    name: system.to_string(),
                    addr,
                    source,
                })?;
            listeners.push((system, listener));
        }
        Ok(listeners)
    }

    /// Starts a simulator on each listener, sharing `history`, until `shutdown`; returns
    /// their endpoints and the simulators.
    fn serve_simulators(
        &self,
        listeners: Vec<(System, TcpListener)>,
        master: &MasterData,
        history: &History,
        shutdown: &watch::Sender<bool>,
        tasks: &mut JoinSet<(String, std::io::Result<()>)>,
    ) -> Result<(Vec<Endpoint>, Vec<Simulator>), ServeError> {
        let config = SimConfig {
            seed: self.seed,
            idempotency: self.idempotency,
            auth: AuthConfig {
                enabled: self.auth,
                ..AuthConfig::default()
            },
            ..SimConfig::default()
        };
        let mut endpoints = Vec::new();
        let mut simulators = Vec::new();
        for (system, listener) in listeners {
            let addr = listener.local_addr().map_err(|source| ServeError::Serve {
                name: system.to_string(),
                source,
            })?;
            let mut config = config.clone();
            let binding = self.dialects.get(&system).filter(|b| b.dialect.per_plant());
            if let Some(b) = binding {
                config.dialects = master
                    .plant_ids()
                    .into_iter()
                    .map(|p| (p, b.clone()))
                    .collect();
            }
            let sim = Simulator::new(system, config, master.clone(), history.clone());
            sim.set_admin_token(self.admin_token.clone());
            let ingress = self.ingress.get(&system).cloned();
            sim.core.emitter.set_ingress(ingress.clone());
            let url = format!("http://{addr}");
            tracing::info!(%system, %url, "simulator listening");
            let lines = binding
                .map(|b| dialect_lines(b, &url, master))
                .unwrap_or_default();
            endpoints.push(Endpoint {
                name: system.to_string(),
                system: Some(system),
                url,
                detail: match ingress {
                    Some(u) => format!("events to {u}"),
                    None => "no ingress: events wait in the buffer (PUT /_andon/ingress)".into(),
                } + &lines,
            });
            let mut stop = shutdown.subscribe();
            let serving = sim.clone();
            tasks.spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                (system.to_string(), serving.serve(listener, stopped).await)
            });
            simulators.push(sim);
        }
        Ok((endpoints, simulators))
    }

    /// Starts a stub for each OpenAPI document, adding its endpoint.
    async fn start_stubs(
        &self,
        documents: &[String],
        endpoints: &mut Vec<Endpoint>,
    ) -> Result<Vec<StubServer>, ServeError> {
        let mut stubs = Vec::new();
        for ((spec, text), port) in self.stubs.iter().zip(documents).zip(self.stub_ports()) {
            let file = spec.file.display().to_string();
            let stub = start_stub(text, &file, Some(SocketAddr::new(self.bind, port)))
                .await
                .map_err(ServeError::Stub)?;
            let skipped = stub.skipped().len();
            endpoints.push(Endpoint {
                name: "stub".into(),
                system: None,
                url: format!("http://{}{}", stub.address(), stub.base_path()),
                detail: format!(
                    "{file}: {} operations{}",
                    stub.operations().len(),
                    if skipped > 0 {
                        format!(" ({skipped} without an example, not served)")
                    } else {
                        String::new()
                    }
                ),
            });
            stubs.push(stub);
        }
        Ok(stubs)
    }
}

/// Master data generated for `plants` as `andon serve` does (see
/// [`MasterData::generated`]).
pub fn generated_master(seed: u64, plants: &[PlantId]) -> MasterData {
    MasterData::generated(seed, plants)
}

/// The detail lines of a simulator that speaks `binding`: each plant's base URL.
fn dialect_lines(
    binding: &andon_simulators::dialect::Binding,
    url: &str,
    master: &MasterData,
) -> String {
    master
        .plant_ids()
        .iter()
        .map(|p| {
            format!(
                "\n      {:<12} {url}/plant/{p} (plant {p})",
                binding.to_string()
            )
        })
        .collect()
}
