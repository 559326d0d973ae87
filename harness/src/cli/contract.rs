//! `andon contract diff OLD NEW`: what changed between two contract documents (two OpenAPI
//! 3.x or two AsyncAPI 3, YAML or JSON), each change breaking or compatible for the other
//! party. Exit 0 when nothing breaking changed, 1 when something did, 2 when a document
//! cannot be read or the two are of different kinds. The rules: `docs/contract-diff.md`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::contract_diff;

/// `andon contract`.
#[derive(Debug, Args)]
pub struct ContractArgs {
    /// What to do with contract documents.
    #[command(subcommand)]
    pub command: ContractCommand,
}

/// The `andon contract` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// What changed from OLD to NEW, each change breaking or compatible (exit 0: nothing
    /// breaking, 1: something breaking, 2: a document cannot be read or compared).
    Diff(DiffArgs),
}

/// `andon contract diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The document as it was (OpenAPI 3.0/3.1 or AsyncAPI 3; YAML, or JSON by extension).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The document as it is now, of the same kind.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// How to print the changes.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per change (`BREAKING  POST /x  /requestBody/a  …`), then a summary line.
    Text,
    /// `{"changes": [{severity, operation, pointer, change, rule}], "summary": {…}}`.
    Json,
    /// A Markdown table and the summary, for run reports.
    Markdown,
}

/// Runs `andon contract`.
pub fn run(args: ContractArgs) -> u8 {
    match args.command {
        ContractCommand::Diff(d) => diff(d),
    }
}

fn diff(args: DiffArgs) -> u8 {
    let diff = match contract_diff::diff_files(&args.old, &args.new) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("andon contract diff: {e}");
            return EXIT_USAGE;
        }
    };
    match args.format {
        Format::Text => print!("{}", diff.to_text()),
        Format::Markdown => print!("{}", diff.to_markdown()),
        Format::Json => match serde_json::to_string_pretty(&diff.to_json()) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("andon contract diff: cannot write JSON: {e}");
                return EXIT_FAILURE;
            }
        },
    }
    if diff.is_breaking() {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}
