//! `andon-simulator SYSTEM`: one simulator and nothing else of andon (no harness, no
//! cucumber, no container client), the entrypoint of the simulator containers. The same
//! command line and behaviour as `andon simulator SYSTEM`: see
//! `andon_simulators::standalone`.

use std::process::ExitCode;

use andon_simulators::standalone::{self, EXIT_FAILURE, SimulatorArgs};
use clap::{ArgAction, Parser};

/// mimalloc, as in `andon`: the simulators keep every record they write, and glibc's
/// per-thread arenas pay for that growth in `mprotect` calls.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `andon-simulator`: one simulator of ERP, MES, QMS or WMS, durable across a stop.
#[derive(Debug, Parser)]
#[command(
    name = "andon-simulator",
    version,
    about = "One andon simulator (ERP, MES, QMS or WMS), durable across a stop"
)]
struct Cli {
    /// More log output on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    #[command(flatten)]
    args: SimulatorArgs,
}

impl Cli {
    /// The log filter the flags ask for, as `andon simulator`'s.
    fn log_filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "warn",
            (false, 0) => "info,hyper=warn",
            (false, 1) => "debug,hyper=info",
            (false, _) => "trace",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    standalone::init_process(cli.log_filter());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("andon-simulator: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(standalone::run(cli.args, "andon-simulator"));
    // Delivery tasks may still wait on timers: do not wait for them.
    runtime.shutdown_background();
    ExitCode::from(code)
}
