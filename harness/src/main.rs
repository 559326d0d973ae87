//! The `andon` command: parses the arguments, installs logging on stderr, runs the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the simulators keep every record they write, and glibc's per-thread arenas
/// pay for that growth in `mprotect` calls (about a tenth of the ERP's time under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = andon::cli::Cli::parse();
    andon_simulators::standalone::init_process(cli.log_filter());
    andon::cli::run(cli)
}
