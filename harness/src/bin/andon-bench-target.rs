//! `andon-bench-target`: serves one of the benchmark targets of `ci/bench-erp.sh` and
//! `ci/bench-load.sh` (see `andon::bench`) until Ctrl-C or SIGTERM, or, as
//! `andon-bench-target generate`, runs andon's own load generator (`andon::benchgen`).
//!
//! Prints `listening http://ADDR` on stdout once bound; `--print-body` prints the request
//! body the benchmark posts and exits; `--synthetic-run DIR` writes the fabricated run
//! `ci/bench-check.sh` checks; `--memory N` measures what the ERP keeps per posting.
//! `generate` prints one JSON line of results (or, with
//! `--print-body`, the CloudEvent it posts).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use std::time::Duration;

use andon::bench::{self, Kind};
use andon::benchgen::{self, GenConfig, Rate};
use clap::{Parser, Subcommand};

/// Serves a benchmark target.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Post this many goods movements to the ERP in process (after as many again to warm
    /// up), print what each keeps in memory as one JSON line (`andon::bench::memory`) and
    /// exit.
    #[arg(long, value_name = "POSTINGS")]
    memory: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load an ingress with andon's emitter and print the results as one JSON line.
    Generate(Generate),
}

#[derive(Debug, clap::Args)]
struct Generate {
    /// The ingress URL (the sink's `http://ADDR/events`).
    #[arg(long, required_unless_present = "print_body")]
    url: Option<String>,
    /// Parallel connections (the emitter's lanes).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The measured window.
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The unmeasured warm-up before it.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// `max` (closed loop, as wrk) or requests per second (open model).
    #[arg(long, default_value = "max")]
    rate: Rate,
    /// Seed of the event ids and trace contexts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the CloudEvent the generator posts and exit.
    #[arg(long)]
    print_body: bool,
}

async fn generate(g: Generate) -> ExitCode {
    if g.print_body {
        return match benchgen::sample_body().await {
            Ok(body) => {
                println!("{body}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("andon-bench-target: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = GenConfig {
        connections: g.connections,
        duration: g.duration,
        warmup: g.warmup,
        rate: g.rate,
        seed: g.seed,
        ..GenConfig::new(g.url.unwrap_or_default())
    };
    match benchgen::run(config).await {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("andon-bench-target: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("andon-bench-target: {e}");
            ExitCode::from(2)
        }
    }
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
    if let Err(e) = andon::memory::small_pages() {
        tracing::debug!("{e}");
    }
    if let Some(Command::Generate(g)) = args.command {
        return generate(g).await;
    }
    if let Some(dir) = &args.synthetic_run {
        return match andon::check::synthetic::synthetic_history(args.records, 1).save(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("andon-bench-target: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(postings) = args.memory {
        return match bench::memory(postings, postings, bench::resident_bytes).await {
            Ok(report) => {
                println!("{}", serde_json::json!(report));
                ExitCode::SUCCESS
            }
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
