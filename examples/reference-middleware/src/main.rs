//! `andon-reference-middleware`: parses arguments, installs tracing, runs the library.

use std::process::ExitCode;

use andon_reference_middleware::{Args, Config, defects, run, shutdown_signal};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The andon reference middleware (a correct SUT with switchable defects).
#[derive(Debug, Parser)]
#[command(name = "andon-reference-middleware", version, about)]
struct Cli {
    #[command(flatten)]
    args: Args,
    /// Print each defect with the real-world bug it imitates, then exit.
    #[arg(long)]
    list_defects: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list_defects {
        print!("{}", defects::listing());
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Config::from(cli.args), shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("andon-reference-middleware: {e}");
            ExitCode::FAILURE
        }
    }
}
