//! `andon simulator SYSTEM`: one simulator, as a container's entrypoint (the containers
//! runtime starts one per system) or by hand. It prints `ready` on stdout once it listens.
//!
//! With `--state-dir`, the simulator is durable across a stop: on SIGTERM or Ctrl-C it stops
//! taking requests and writes its whole state (books, idempotency keys, outbound queue,
//! generators, history) to `DIR/SYSTEM.state`; started again with the same directory, it
//! continues from there. `docker stop` / `docker start` of a simulator container is thereby
//! an outage of a system that keeps its books, as a real one does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use andon_contracts::System;
use andon_simulators::{History, MasterData, Simulator};
use clap::Args;
use tokio::net::TcpListener;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::containers::SimulatorSettings;

/// Arguments of `andon simulator`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  andon simulator erp --port 8080
  andon simulator mes --settings mes.json --master plant.yaml --state-dir /state")]
pub struct SimulatorArgs {
    /// The system to simulate: erp, mes, qms or wms.
    #[arg(value_parser = super::serve::parse_system)]
    pub system: System,
    /// Port to listen on.
    #[arg(long, default_value_t = crate::containers::PORT)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind: IpAddr,
    /// Settings (JSON: `{"config": {...}, "patch": {...}}`, as the containers runtime
    /// writes them); default: the simulator's defaults.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Master data (YAML or JSON); default: generated for plant 1000.
    #[arg(long, value_name = "FILE")]
    pub master: Option<PathBuf>,
    /// Keep the state here across a stop (written on SIGTERM, read on start).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The token the admin API (`/_andon/*` but `/_andon/health`) requires as
    /// `Authorization: Bearer TOKEN`; beyond loopback one is generated when none is given.
    #[arg(
        long,
        env = "ANDON_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

/// Runs one simulator until SIGTERM or Ctrl-C; returns the exit code.
pub async fn run(args: SimulatorArgs) -> u8 {
    match serve(args).await {
        Ok(()) => EXIT_OK,
        Err(Failure::Usage(m)) => {
            eprintln!("andon simulator: {m}");
            EXIT_USAGE
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("andon simulator: {m}");
            EXIT_FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Runtime(String),
}

async fn serve(args: SimulatorArgs) -> Result<(), Failure> {
    let system = args.system;
    let settings = match &args.settings {
        Some(p) => {
            let text =
                std::fs::read(p).map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))?;
            serde_json::from_slice::<SimulatorSettings>(&text).map_err(|e| {
                Failure::Usage(format!(
                    "{}: line {}, column {}: {e}",
                    p.display(),
                    e.line(),
                    e.column()
                ))
            })?
        }
        None => SimulatorSettings::default(),
    };
    let master = match &args.master {
        Some(p) => MasterData::load(p).map_err(|e| Failure::Usage(e.to_string()))?,
        None => crate::serve::generated_master(
            settings.config.seed,
            &[andon_contracts::PlantId::parse("1000")
                .map_err(|e| Failure::Usage(e.to_string()))?],
        ),
    };
    let state_file = args
        .state_dir
        .as_ref()
        .map(|d| d.join(format!("{system}.state")));
    let sim = match state_file.as_deref().map(std::fs::read) {
        Some(Ok(bytes)) => {
            let sim = Simulator::restore(system, &bytes).map_err(|e| {
                Failure::Runtime(format!(
                    "{}: cannot continue from the saved state: {e}",
                    state_file.as_deref().unwrap_or(Path::new("")).display()
                ))
            })?;
            tracing::info!(%system, "continuing from the saved state");
            sim
        }
        Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Failure::Runtime(format!(
                "{}: {e}",
                state_file.as_deref().unwrap_or(Path::new("")).display()
            )));
        }
        _ => {
            let sim = Simulator::new(system, settings.config.clone(), master, History::new());
            settings
                .patch
                .apply(&sim.core)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            sim
        }
    };
    sim.set_admin_token(super::admin_token(args.bind, args.admin_token.clone()));
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {addr}: {e}")))?;
    println!("{system} http://{addr}");
    println!("ready");
    sim.serve(listener, andon_reference_middleware::shutdown_signal())
        .await
        .map_err(|e| Failure::Runtime(format!("serving stopped: {e}")))?;
    if let Some(file) = state_file {
        let bytes = sim
            .save_state()
            .await
            .map_err(|e| Failure::Runtime(format!("cannot save the state: {e}")))?;
        write_atomically(&file, &bytes)
            .map_err(|e| Failure::Runtime(format!("{}: {e}", file.display())))?;
        tracing::info!(%system, bytes = bytes.len(), "state saved");
    }
    Ok(())
}

/// Writes `bytes` to `file` through a temporary file in the same directory, so a stop in
/// the middle leaves the previous state, never half of one.
fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("state.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}
