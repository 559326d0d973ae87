//! `andon test [FEATURES…]`: run Gherkin features against a SUT (exit 0 all passed or
//! skipped, 1 any failed, 5 none failed but some inconclusive, 2 usage or configuration
//! error), and `andon steps`: the step library.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILURE, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE};
use crate::bdd::{self, RuntimeKind, TestError, TestOptions};

/// `andon test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Feature files or directories (default: `features/`).
    #[arg(value_name = "FEATURES")]
    pub features: Vec<PathBuf>,
    /// SUT manifest (default: the bundled reference middleware).
    #[arg(long, value_name = "sut.toml")]
    pub sut: Option<PathBuf>,
    /// Only scenarios whose tags match, such as "@smoke and not @slow".
    #[arg(long, value_name = "EXPR")]
    pub tags: Option<String>,
    /// Where simulators and the SUT run.
    #[arg(long, value_enum, default_value = "in-process")]
    pub runtime: RuntimeKind,
    /// Scenarios run at once (default 8 in-process, where a scenario mostly waits on wall
    /// time; 2 in containers, where starting containers is work).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Where junit.xml, cucumber.json, report.html and the run directories go
    /// (default: `runs/test-<time>`).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Stop at the first failed scenario.
    #[arg(long)]
    pub fail_fast: bool,
    /// The API every plant's ERP speaks, whatever the steps say: `erp=s4hana@2502` runs the
    /// whole suite against that vendor release (gate an upgrade: run it for the release in
    /// production and for the next one).
    #[arg(long = "dialect", value_name = "erp=DIALECT[@RELEASE]", value_parser = super::serve::parse_erp_dialect)]
    pub dialect: Option<andon_simulators::dialect::Binding>,
    /// How every plant's events reach the SUT, for each system whose events it consumes
    /// that way (its manifest's `[ingress]`): `webhook`, or `mqtt` (published to a
    /// Mosquitto andon starts for the run). A plant's own `transport` in the scenario wins.
    #[arg(long, value_enum, value_name = "webhook|mqtt")]
    pub transport: Option<crate::sut::Transport>,
}

/// Scenarios at once when `--concurrency` is not given. In-process a scenario spends its
/// time waiting on wall-clock load, faults and settling (the whole suite at six at once
/// kept two cores about a third busy), so eight share two cores; in containers each
/// scenario starts and stops containers, which is work for the engine.
pub fn default_concurrency(runtime: RuntimeKind) -> usize {
    match runtime {
        RuntimeKind::InProcess => 8,
        RuntimeKind::Containers => 2,
    }
}

/// Runs `andon test`.
pub async fn run(args: TestArgs) -> u8 {
    let features = if args.features.is_empty() {
        vec![PathBuf::from("features")]
    } else {
        args.features
    };
    let report_dir = args.report_dir.unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "test-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    let opts = TestOptions {
        features,
        sut: args.sut,
        tags: args.tags,
        runtime: args.runtime,
        concurrency: args
            .concurrency
            .unwrap_or(default_concurrency(args.runtime)),
        report_dir,
        fail_fast: args.fail_fast,
        andon: None,
        erp_dialect: args.dialect,
        transport: args.transport,
    };
    let outcome = match super::run::interruptible(bdd::run(&opts)).await {
        Ok(outcome) => outcome,
        Err(stop) => return stop.code(),
    };
    match outcome {
        Ok(s) => {
            println!(
                "\nandon test: {} scenarios: {} passed, {} failed, {} inconclusive, {} configuration errors, {} skipped",
                s.scenarios.len(),
                s.count("passed"),
                s.count("failed"),
                s.count("inconclusive"),
                s.count("error"),
                s.count("skipped")
            );
            for f in &s.files {
                println!("  {}", f.display());
            }
            // A wrong feature or manifest first: the verdicts beside it are not to be trusted.
            if s.count("error") > 0 {
                for e in s.scenarios.iter().filter(|x| x.status == "error") {
                    eprintln!(
                        "andon test: {}:{}: {}",
                        e.uri,
                        e.line,
                        e.message.as_deref().unwrap_or("configuration error")
                    );
                }
                EXIT_USAGE
            } else if s.failed || s.count("failed") > 0 {
                EXIT_FAILURE
            } else if s.count("inconclusive") > 0 {
                EXIT_INCONCLUSIVE
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            match &e {
                TestError::Steps(_) => {
                    eprintln!("andon test: the features use steps the library does not have:\n{e}")
                }
                _ => eprintln!("andon test: {e}"),
            }
            EXIT_USAGE
        }
    }
}

/// `andon steps`.
#[derive(Debug, Args)]
pub struct StepsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StepsFormat,
}

/// How `andon steps` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StepsFormat {
    /// Grouped by topic, for the terminal.
    Text,
    /// Markdown (`docs/steps.md`).
    Markdown,
}

/// Runs `andon steps`.
pub fn steps(args: StepsArgs) -> u8 {
    print!(
        "{}",
        bdd::steps::render(matches!(args.format, StepsFormat::Markdown))
    );
    EXIT_OK
}
