//! `andon-bench-target`: serves one of the two benchmark targets of `ci/bench-erp.sh`
//! (see `andon::bench`) until Ctrl-C or SIGTERM.
//!
//! Prints `listening http://ADDR` on stdout once bound; `--print-body` prints the request
//! body the benchmark posts and exits; `--synthetic-run DIR` writes the fabricated run
//! `ci/bench-check.sh` checks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use andon::bench::{self, Kind};
use clap::Parser;

/// Serves a benchmark target.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Which server.
    #[arg(long, value_enum, default_value = "erp")]
    kind: Kind,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Print the request body and exit.
    #[arg(long)]
    print_body: bool,
    /// Write a fabricated, consistent run directory of `--records` history records here
    /// (for `ci/bench-check.sh`) and exit.
    #[arg(long, value_name = "DIR")]
    synthetic_run: Option<std::path::PathBuf>,
    /// Records of the synthetic run.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
}

/// mimalloc: the simulators keep every record they write, and glibc's per-thread arenas
/// pay for that growth in `mprotect` calls (about a tenth of the ERP's time under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    if let Some(dir) = &args.synthetic_run {
        return match andon::check::synthetic::synthetic_history(args.records, 1).save(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("andon-bench-target: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.print_body {
        println!("{}", bench::request_body());
        return ExitCode::SUCCESS;
    }
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("andon-bench-target: cannot listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("listening http://{a}"),
        Err(e) => {
            eprintln!("andon-bench-target: {e}");
            return ExitCode::FAILURE;
        }
    }
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => None } } => {}
        }
    };
    match bench::serve(args.kind, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("andon-bench-target: {e}");
            ExitCode::FAILURE
        }
    }
}
