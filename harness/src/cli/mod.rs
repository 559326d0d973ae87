//! The `andon` command line: the clap definitions, the exit codes and the dispatch.
//!
//! Each subcommand has its own file here holding its clap `Args` and a `run` that turns
//! them into the library's options, calls the library and prints the outcome. Adding a
//! subcommand is a variant of [`Command`], a file, and an arm in [`run`].
//!
//! Exit codes, for every subcommand: [`EXIT_OK`] (0), [`EXIT_FAILURE`] (1: a runtime
//! failure, or for checking commands a failed check), [`EXIT_USAGE`] (2: bad arguments or
//! configuration; clap's own errors exit 2 as well), [`EXIT_INCONCLUSIVE`] (5: nothing
//! failed but a required checker could not judge: never a pass). `andon load` adds 3
//! (a threshold breached or not measurable) and 4 (the run is invalid).

pub mod contract;
pub mod coverage;
pub mod docs;
pub mod load;
pub mod reference_sut;
pub mod run;
pub mod serve;
pub mod simulator;
pub mod test;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

/// Success.
pub const EXIT_OK: u8 = 0;
/// A runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// A usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Nothing failed, but not enough was judged to pass (a required checker unknown).
pub const EXIT_INCONCLUSIVE: u8 = 5;

/// `andon`: contract testing and plant simulation for manufacturing integration.
#[derive(Debug, Parser)]
#[command(
    name = "andon",
    version,
    about = "Contract testing and plant simulation for manufacturing integration",
    long_about = "andon surrounds a middleware under test with stateful simulators of ERP, MES, \
                  QMS and WMS, and judges from what they recorded whether the integration \
                  contracts held.",
    propagate_version = true
)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Gherkin features against a SUT and gate on them (exit 0 pass, 1 fail, 2 error,
    /// 5 inconclusive).
    Test(test::TestArgs),
    /// The step library, grouped by topic, with an example for each step.
    Steps(test::StepsArgs),
    /// The generated pages of docs/ (flows, problems, steps) as Markdown.
    Docs(docs::DocsArgs),
    /// Which calls of the flows recorded runs exercised, and what none of them did.
    Coverage(coverage::CoverageArgs),
    /// Contract documents: `andon contract diff OLD NEW` classifies what changed between two
    /// OpenAPI or AsyncAPI documents as breaking or compatible (exit 0 none breaking, 1
    /// breaking, 2 bad input).
    Contract(contract::ContractArgs),
    /// Standalone simulators (and OpenAPI example stubs) for onboarding a plant adapter.
    Serve(serve::ServeArgs),
    /// Run one scenario against a SUT and judge it (exit 0 pass, 1 fail, 2 error, 5
    /// inconclusive).
    Run(run::RunArgs),
    /// Load-test a SUT with a scenario's open-model profile; thresholds decide the exit
    /// (0 held, 1 checker failed, 2 error, 3 breached, 4 run invalid, 5 inconclusive).
    Load(load::LoadArgs),
    /// Re-run every checker on a recorded run directory, without re-running.
    Check(run::CheckArgs),
    /// Re-drive the source traffic of a recorded run (same scenario, seed and master data).
    Replay(run::ReplayArgs),
    /// The bundled reference middleware (a correct SUT with switchable named defects).
    ReferenceSut(Box<reference_sut::ReferenceSutArgs>),
    /// One simulator, durable across a stop (as `andon-simulator`, the entrypoint of the
    /// simulator containers).
    #[command(after_help = "Examples:
  andon simulator erp --port 8080
  andon simulator mes --settings mes.json --master plant.yaml --state-dir /state")]
    Simulator(simulator::SimulatorArgs),
}

impl Cli {
    /// The log filter the flags ask for (`RUST_LOG` takes precedence in `main`).
    pub fn log_filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "warn",
            // `andon test` prints the scenarios; the engine's progress notes would interleave.
            (false, 0) if matches!(self.command, Command::Test(_)) => "warn",
            (false, 0) => "info,hyper=warn,reqwest=warn,wiremock=warn",
            (false, 1) => "debug,hyper=info,reqwest=info,wiremock=info",
            (false, _) => "trace",
        }
    }
}

/// Runs the parsed command line; the exit code follows the conventions above.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("andon: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Test(args) => test::run(args).await,
            Command::Steps(args) => test::steps(args),
            Command::Docs(args) => docs::run(args),
            Command::Coverage(args) => coverage::run(args),
            Command::Contract(args) => contract::run(args),
            Command::Serve(args) => serve::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Check(args) => run::check(args).await,
            Command::Replay(args) => run::replay(args).await,
            Command::ReferenceSut(args) => reference_sut::run(*args).await,
            Command::Simulator(args) => simulator::run(args).await,
        }
    });
    // Delivery tasks of the simulators may still wait on timers: do not wait for them.
    runtime.shutdown_background();
    ExitCode::from(code)
}
