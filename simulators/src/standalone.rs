//! One simulator on its own, as a process: its command line and its life from start to
//! stop. `andon-simulator SYSTEM` (the binary of this crate, the entrypoint of the simulator
//! containers) and `andon simulator SYSTEM` are both this module. It prints `ready` on
//! stdout once it listens.
//!
//! With `--state-dir`, the simulator is durable across a stop: on SIGTERM or Ctrl-C it stops
//! taking requests and writes its whole state (books, idempotency keys, outbound queue,
//! generators, history) to `DIR/SYSTEM.state`; started again with the same directory, it
//! continues from there. `docker stop` / `docker start` of a simulator container is thereby
//! an outage of a system that keeps its books, as a real one does.
//!
//! Exit codes, as andon's: [`EXIT_OK`] (0) stopped cleanly, [`EXIT_FAILURE`] (1) failed
//! while serving or saving, [`EXIT_USAGE`] (2) bad arguments, settings or master data.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use andon_contracts::{PlantId, System};
use clap::Args;
use tokio::net::TcpListener;

use crate::core::SystemSettings;
use crate::{History, MasterData, Simulator};

/// Stopped cleanly (SIGINT or SIGTERM).
pub const EXIT_OK: u8 = 0;
/// Failed while starting, serving or saving the state.
pub const EXIT_FAILURE: u8 = 1;
/// Bad arguments, settings or master data.
pub const EXIT_USAGE: u8 = 2;
/// The port a simulator listens on unless told otherwise (every andon container's port).
pub const PORT: u16 = 8080;

/// Arguments of one simulator (`andon simulator` and `andon-simulator`).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  andon-simulator erp --port 8080
  andon-simulator mes --settings mes.json --master plant.yaml --state-dir /state")]
pub struct SimulatorArgs {
    /// The system to simulate: erp, mes, qms or wms.
    #[arg(value_parser = parse_system)]
    pub system: System,
    /// Port to listen on.
    #[arg(long, default_value_t = PORT)]
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
    /// `--admin-token`.
    #[command(flatten)]
    pub admin: AdminTokenArg,
}

/// `--admin-token` (or `ANDON_ADMIN_TOKEN`), of every command that serves simulators:
/// `andon-simulator`, `andon simulator`, `andon serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct AdminTokenArg {
    /// The token the admin API (`/_andon/*` but `/_andon/health`) requires as
    /// `Authorization: Bearer TOKEN`; listening beyond loopback, one is generated and
    /// printed when none is given.
    #[arg(
        long,
        env = "ANDON_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

impl AdminTokenArg {
    /// The token a simulator listening on `bind` requires ([`admin_token`]).
    pub fn resolve(&self, prog: &str, bind: IpAddr) -> Option<String> {
        admin_token(prog, bind, self.admin_token.clone())
    }
}

/// What every andon process does first: logging on stderr at `default_filter` (`RUST_LOG`
/// wins), coloured only on a terminal, and small pages for the memory it keeps
/// ([`crate::memory::small_pages`]).
pub fn init_process(default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = crate::memory::small_pages() {
        tracing::debug!("{e}");
    }
}

/// A system named on the command line (`erp`, `mes`, `qms`, `wms`).
pub fn parse_system(s: &str) -> Result<System, String> {
    System::parse(s.trim())
        .ok_or_else(|| format!("{s:?} is not a system: expected erp, mes, qms or wms"))
}

/// The admin token a simulator listening on `bind` requires: the one given (`--admin-token`,
/// `ANDON_ADMIN_TOKEN`); none on loopback; beyond loopback a fresh one, printed on stderr,
/// because anyone on that network could otherwise rewrite the simulators through
/// `/_andon/*`. `prog` names the program in the message.
pub fn admin_token(prog: &str, bind: IpAddr, given: Option<String>) -> Option<String> {
    if let Some(t) = given.filter(|t| !t.is_empty()) {
        return Some(t);
    }
    if bind.is_loopback() {
        return None;
    }
    let t = uuid::Uuid::new_v4().simple().to_string();
    eprintln!(
        "{prog}: listening beyond loopback ({bind}): the admin API (/_andon/*, but /_andon/health) \
         needs `Authorization: Bearer {t}` (set ANDON_ADMIN_TOKEN or --admin-token to choose it)"
    );
    Some(t)
}

/// Runs one simulator until SIGTERM or Ctrl-C; returns the exit code. Errors go to stderr
/// after `prog: ` (the command as the user typed it: `andon simulator`, `andon-simulator`).
pub async fn run(args: SimulatorArgs, prog: &str) -> u8 {
    match serve(args, prog).await {
        Ok(()) => EXIT_OK,
        Err(Failure::Usage(m)) => {
            eprintln!("{prog}: {m}");
            EXIT_USAGE
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("{prog}: {m}");
            EXIT_FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Runtime(String),
}

async fn serve(args: SimulatorArgs, prog: &str) -> Result<(), Failure> {
    let system = args.system;
    let state_file = args
        .state_dir
        .as_ref()
        .map(|d| d.join(format!("{system}.state")));
    let sim = start(&args, state_file.as_deref())?;
    sim.set_admin_token(args.admin.resolve(prog, args.bind));
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {addr}: {e}")))?;
    println!("{system} http://{addr}");
    println!("ready");
    sim.serve(listener, crate::server::shutdown_signal())
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

/// The simulator as it starts: continued from `state_file` when there is one, else new
/// from the settings and master data the arguments name (both are read, and must be
/// right, either way).
fn start(args: &SimulatorArgs, state_file: Option<&Path>) -> Result<Simulator, Failure> {
    let system = args.system;
    let settings = settings(args.settings.as_deref())?;
    let master = match &args.master {
        Some(p) => MasterData::load(p).map_err(|e| Failure::Usage(e.to_string()))?,
        None => {
            let plant = PlantId::parse("1000").map_err(|e| Failure::Usage(e.to_string()))?;
            MasterData::generated(settings.config.seed, &[plant])
        }
    };
    match state_file.map(|f| (f, std::fs::read(f))) {
        Some((file, Ok(bytes))) => {
            let sim = Simulator::restore(system, &bytes).map_err(|e| {
                Failure::Runtime(format!(
                    "{}: cannot continue from the saved state: {e}",
                    file.display()
                ))
            })?;
            tracing::info!(%system, "continuing from the saved state");
            Ok(sim)
        }
        Some((file, Err(e))) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Failure::Runtime(format!("{}: {e}", file.display())))
        }
        _ => {
            let sim = Simulator::new(system, settings.config, master, History::new());
            settings
                .patch
                .apply(&sim.core)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            Ok(sim)
        }
    }
}

/// The settings in `file` (JSON), or the defaults without one; errors name the file, the
/// line and the column.
fn settings(file: Option<&Path>) -> Result<SystemSettings, Failure> {
    let Some(p) = file else {
        return Ok(SystemSettings::default());
    };
    let text = std::fs::read(p).map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))?;
    serde_json::from_slice::<SystemSettings>(&text).map_err(|e| {
        Failure::Usage(format!(
            "{}: line {}, column {}: {e} (expected the settings JSON: \
             {{\"config\": {{...}}, \"patch\": {{...}}}})",
            p.display(),
            e.line(),
            e.column()
        ))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_beyond_it_one_is_made_and_a_given_one_wins() {
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        assert_eq!(admin_token("andon-simulator", lo, None), None);
        assert_eq!(
            admin_token("andon-simulator", lo, Some(String::new())),
            None
        );
        let made = admin_token("andon-simulator", any, None).expect("a token beyond loopback");
        assert_eq!(made.len(), 32);
        assert_ne!(admin_token("andon-simulator", any, None), Some(made));
        assert_eq!(
            admin_token("andon-simulator", any, Some("mine".into())),
            Some("mine".into())
        );
    }

    #[test]
    fn a_bad_settings_file_is_named_with_its_line() {
        let dir = std::env::temp_dir().join(format!("andon-standalone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("settings.json");
        std::fs::write(&file, "{\n  \"config\": {\"seed\": \"x\"}\n}").expect("write");
        let Err(Failure::Usage(m)) = settings(Some(&file)) else {
            panic!("a usage error");
        };
        assert!(
            m.starts_with(&format!("{}: line 2,", file.display())),
            "{m}"
        );
        assert!(matches!(settings(None), Ok(s) if s.config.seed == 42));
        assert!(matches!(
            settings(Some(&dir.join("missing.json"))),
            Err(Failure::Usage(m)) if m.contains("missing.json")
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_system_is_parsed_and_anything_else_says_what_is_expected() {
        assert_eq!(parse_system(" wms "), Ok(System::Wms));
        assert!(parse_system("crm").is_err_and(|e| e.contains("expected erp, mes, qms or wms")));
    }
}
