//! `andon run`, `andon check` and `andon replay`: arguments, and the summary they print.
//!
//! Standard output: one line per checker (`CHECKER  STATUS  summary`), up to three
//! witnesses under each failing one, then the run directory and `PASS`, `FAIL` or
//! `ERROR: why`. Exit codes: 0 every checker passed (unknown is not a failure, and is
//! shown as such), 1 a checker failed, 2 a usage or configuration error, or a SUT that
//! never became ready.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILURE, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE};
use crate::check::Status;
use crate::engine::run::{self, RunError, RunOptions};
use crate::engine::runtime::RuntimeKind;
use crate::report::Exit;

/// Arguments of `andon run`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  andon run scenarios/baseline-single-plant.yaml
  andon run scenarios/cloud-erp-downtime.yaml --sut my-bridge/sut.toml --report-dir out/erp-down
  andon run scenarios/hold-races-picking.yaml --defect late-hold")]
pub struct RunArgs {
    /// The scenario, the SUT and where the run goes.
    #[command(flatten)]
    pub run: ScenarioRunArgs,
}

/// What `andon run` and `andon load` share: the scenario, the SUT, the run directory and
/// the runtime.
#[derive(Debug, Args)]
pub struct ScenarioRunArgs {
    /// The scenario (YAML).
    #[arg(value_name = "SCENARIO.yaml")]
    pub scenario: PathBuf,
    /// The SUT manifest (default: the bundled reference middleware).
    #[arg(long, value_name = "sut.toml")]
    pub sut: Option<PathBuf>,
    /// A defect of the bundled reference middleware to switch on (repeatable; see
    /// `andon reference-sut --list-defects`).
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// The run directory (default: runs/<scenario>-<UTC time>).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Where the simulators and the SUT run (containers: images from ci/images.sh).
    #[arg(long, value_enum, default_value_t = RuntimeKind::InProcess)]
    pub runtime: RuntimeKind,
    /// The API every plant's ERP speaks, whatever the scenario says (its cut-overs dropped):
    /// `erp=s4hana@2502`, `erp=business-central@24`, `erp=andon`.
    #[arg(long = "dialect", value_name = "erp=DIALECT[@RELEASE]", value_parser = super::serve::parse_erp_dialect)]
    pub dialect: Option<andon_simulators::dialect::Binding>,
    /// How every plant's events reach the SUT, for each system whose events it consumes
    /// that way (its manifest's `[ingress]`): `webhook`, or `mqtt` (published to a
    /// Mosquitto andon starts for the run). A plant's own `transport` in the scenario wins.
    #[arg(long, value_enum, value_name = "webhook|mqtt")]
    pub transport: Option<crate::sut::Transport>,
}

impl ScenarioRunArgs {
    /// The run options these arguments ask for.
    pub fn options(self) -> RunOptions {
        let mut opts = RunOptions::new(self.scenario);
        opts.sut = self.sut;
        opts.defects = self.defects;
        opts.report_dir = self.report_dir;
        opts.runtime = self.runtime;
        opts.erp_dialect = self.dialect;
        opts.transport = self.transport;
        opts
    }
}

/// Arguments of `andon check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A run directory written by `andon run`.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

/// Arguments of `andon replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A run directory written by `andon run`.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// The SUT to re-drive the traffic against (default: the one the run used).
    #[arg(long, value_name = "sut.toml")]
    pub sut: Option<PathBuf>,
    /// The new run directory (default: RUN_DIR/replay-<UTC time>).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Where the simulators and the SUT run.
    #[arg(long, value_enum, default_value_t = RuntimeKind::InProcess)]
    pub runtime: RuntimeKind,
}

/// `andon run`.
pub async fn run(args: RunArgs) -> u8 {
    let opts = args.run.options();
    match interruptible(run::run(&opts)).await {
        Ok(r) => conclude("run", r),
        Err(stop) => stop.code(),
    }
}

/// Exit code of a command interrupted with Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Exit code of a command stopped with SIGTERM (128 + SIGTERM), as CI systems and
/// `timeout` send when they cancel a job.
pub const EXIT_TERMINATED: u8 = 143;

/// The signal that stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: a CI system, `timeout`, `docker stop`, `kill`.
    Terminate,
}

impl Stopped {
    /// The conventional exit code: 128 + the signal's number.
    pub fn code(self) -> u8 {
        match self {
            Self::Interrupt => EXIT_INTERRUPTED,
            Self::Terminate => EXIT_TERMINATED,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }
}

/// Resolves with the first SIGINT or SIGTERM. The handlers are installed when this is
/// called, so a signal that arrives before the first poll is not lost.
pub fn stop_signal() -> impl Future<Output = Stopped> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => tokio::select! {
                    _ = int.recv() => Stopped::Interrupt,
                    _ = term.recv() => Stopped::Terminate,
                },
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    Stopped::Interrupt
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            Stopped::Interrupt
        }
    }
}

/// Runs `fut` until it ends or SIGINT/SIGTERM. On a signal, `fut` is dropped (its
/// `run.json` still says *interrupted*, as it does from a run's start), then what the run
/// started outside this process is stopped: the SUT's process group, and the containers
/// and networks this process created.
pub async fn interruptible<T>(fut: impl Future<Output = T>) -> Result<T, Stopped> {
    let stop = stop_signal();
    let stopped = tokio::select! {
        out = fut => return Ok(out),
        stopped = stop => stopped,
    };
    eprintln!(
        "andon: {}: stopping the SUT, removing this run's containers and networks",
        stopped.name()
    );
    let killed = crate::sut::stop_own().await;
    if killed > 0 {
        eprintln!("andon: stopped {killed} SUT process group(s)");
    }
    match crate::containers::remove_own().await {
        Ok(n) if n > 0 => eprintln!("andon: removed {n} containers and networks"),
        Ok(_) => {}
        // No engine: nothing of ours can be there.
        Err(crate::containers::ContainerError::NoEngine(_)) => {}
        Err(e) => eprintln!("andon: {e}"),
    }
    Err(stopped)
}

/// `andon check`.
pub async fn check(args: CheckArgs) -> u8 {
    let dir = args.run_dir;
    let out = tokio::task::spawn_blocking(move || run::recheck(&dir)).await;
    match out {
        Ok(r) => conclude("check", r),
        Err(e) => {
            eprintln!("andon check: {e}");
            EXIT_FAILURE
        }
    }
}

/// `andon replay`.
pub async fn replay(args: ReplayArgs) -> u8 {
    match run::replay_options(&args.run_dir, args.sut, args.report_dir) {
        Ok(mut opts) => {
            opts.runtime = args.runtime;
            match interruptible(run::run(&opts)).await {
                Ok(r) => conclude("replay", r),
                Err(stop) => stop.code(),
            }
        }
        Err(e) => conclude("replay", Err(e)),
    }
}

/// Prints the outcome and turns it into the exit code.
fn conclude(command: &str, outcome: Result<run::RunOutcome, RunError>) -> u8 {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return refused(command, &e),
    };
    let mut out = std::io::stdout().lock();
    let _ = print_summary(&mut out, &outcome);
    let _ = out.flush();
    match &outcome.report.exit {
        Exit::Pass => EXIT_OK,
        Exit::Fail => EXIT_FAILURE,
        Exit::Inconclusive(_) => EXIT_INCONCLUSIVE,
        Exit::Error(_) => EXIT_USAGE,
        Exit::Interrupted(_) => EXIT_INTERRUPTED,
    }
}

/// Prints why a run could not be made and returns its exit code (2 for a usage or
/// configuration error, 1 otherwise).
pub fn refused(command: &str, e: &RunError) -> u8 {
    eprintln!("andon {command}: {e}");
    if e.is_usage() {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

/// The summary of a run, as `andon run` prints it.
pub fn print_summary(out: &mut impl Write, outcome: &run::RunOutcome) -> std::io::Result<()> {
    let r = &outcome.report;
    print_checkers(out, r)?;
    writeln!(out, "run directory: {}", outcome.dir.display())?;
    match &r.exit {
        Exit::Pass => writeln!(out, "PASS"),
        Exit::Fail => writeln!(out, "FAIL"),
        Exit::Inconclusive(why) => writeln!(out, "INCONCLUSIVE: {why}"),
        Exit::Error(why) => writeln!(out, "ERROR: {why}"),
        Exit::Interrupted(why) => writeln!(out, "INTERRUPTED: {why}"),
    }
}

/// The run's heading line and one line per checker, with up to three witnesses under a
/// failing one.
pub fn print_checkers(out: &mut impl Write, r: &crate::report::RunReport) -> std::io::Result<()> {
    writeln!(
        out,
        "scenario {}  seed {}  sut {}  {:.1}s",
        r.scenario,
        r.seed,
        r.sut,
        r.duration_secs()
    )?;
    for v in &r.verdicts {
        let status = match v.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Unknown => "unknown",
        };
        let summary = v.reason.clone().unwrap_or_else(|| {
            v.counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        writeln!(out, "  {:<16} {:<8} {summary}", v.checker, status)?;
        if v.status == Status::Fail {
            for w in v.witnesses.iter().take(3) {
                let event = w
                    .event
                    .as_ref()
                    .map(|e| format!("{} {}: ", e.source, e.id))
                    .unwrap_or_default();
                let trace = w
                    .trace_id
                    .as_ref()
                    .map(|t| format!(" (trace {t})"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "      {event}expected {}; {}{trace}",
                    w.expected, w.happened
                )?;
            }
        }
    }
    Ok(())
}
