//! `andon coverage RUN_DIR…`: which calls of the flows the recorded runs exercised (effects
//! per flow call and run), and what none of them did. Exit 0 when every required call of
//! every flow and every event kind occurred in some run, 1 otherwise, 2 when a run cannot be
//! read.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::check::RunData;
use crate::coverage::{self, Coverage};

/// `andon coverage`.
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Run directories (as `andon run` writes them).
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<PathBuf>,
}

/// Prints the table and the gaps.
pub fn run(args: CoverageArgs) -> u8 {
    let universe = coverage::universe();
    let mut runs = Vec::new();
    let mut total = Coverage::default();
    for dir in &args.runs {
        let data = match RunData::load(dir) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("andon coverage: {e}");
                return EXIT_USAGE;
            }
        };
        let c = Coverage::of(&data, &universe);
        total.add(&c);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        runs.push((name, c));
    }
    print!("{}", coverage::markdown(&runs, &universe));
    let gaps = coverage::gaps(&total, &universe);
    if gaps.is_empty() {
        println!("\nevery required call of every flow and every event kind occurred");
        EXIT_OK
    } else {
        println!("\nnot exercised:");
        for g in &gaps {
            println!("  {g}");
        }
        EXIT_FAILURE
    }
}
