//! `andon reference-sut`: the bundled reference middleware, run from the `andon` binary
//! (the bundled `sut.toml` starts it this way), with its named defects.

use andon_reference_middleware::{Args, Config, defects, run as run_middleware, shutdown_signal};

use super::{EXIT_FAILURE, EXIT_OK};

/// Arguments of `andon reference-sut`: the wiring contract of the middleware
/// (`--port`, `ERP_URL` … `DATA_DIR`, `--defect NAME`).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  andon reference-sut --list-defects
  ERP_URL=http://127.0.0.1:8101 MES_URL=http://127.0.0.1:8102 QMS_URL=http://127.0.0.1:8103 \\
  WMS_URL=http://127.0.0.1:8104 DATA_DIR=/tmp/sut andon reference-sut --port 8080 --defect late-hold")]
pub struct ReferenceSutArgs {
    /// The middleware's settings.
    #[command(flatten)]
    pub args: Args,
    /// Print each defect with the real-world bug it imitates, then exit.
    #[arg(long)]
    pub list_defects: bool,
}

/// Runs the middleware until Ctrl-C or SIGTERM.
pub async fn run(args: ReferenceSutArgs) -> u8 {
    if args.list_defects {
        print!("{}", defects::listing());
        return EXIT_OK;
    }
    match run_middleware(Config::from(args.args), shutdown_signal()).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("andon reference-sut: {e}");
            EXIT_FAILURE
        }
    }
}
