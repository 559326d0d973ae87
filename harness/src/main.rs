//! The `andon` command: parses the arguments, installs logging on stderr, runs the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc: the simulators keep every record they write, and glibc's per-thread arenas
/// pay for that growth in `mprotect` calls (about a tenth of the ERP's time under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = andon::cli::Cli::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(cli.log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = andon::memory::small_pages() {
        tracing::debug!("{e}");
    }
    andon::cli::run(cli)
}
