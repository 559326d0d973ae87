//! `andon docs PAGE`: the pages of `docs/` that andon generates from the files its code
//! reads — `flows` (`contracts/flows.yaml`), `problems` (`contracts/problems.yaml`) and
//! `steps` (the step library) — so that the docs and the judgement cannot drift.

use clap::Args;

use super::EXIT_OK;

/// `andon docs`.
#[derive(Debug, Args)]
pub struct DocsArgs {
    /// The page.
    #[arg(value_enum)]
    pub page: Page,
}

/// A generated page.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Page {
    /// `docs/flows.md`: which calls a middleware must make for each event, field by field.
    Flows,
    /// `docs/problems.md`: every problem code the simulators answer, and what to do.
    Problems,
    /// `docs/steps.md`: the step library.
    Steps,
}

/// Prints the page as Markdown.
pub fn run(args: DocsArgs) -> u8 {
    print!("{}", page(args.page));
    EXIT_OK
}

/// The Markdown of a page.
pub fn page(p: Page) -> String {
    match p {
        Page::Flows => andon_contracts::flows::flows().markdown(),
        Page::Problems => andon_contracts::problem::markdown(),
        Page::Steps => crate::bdd::steps::render(true),
    }
}
