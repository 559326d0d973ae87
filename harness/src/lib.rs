//! # andon
//!
//! The harness and the `andon` command: it starts the simulators of ERP, MES, QMS and WMS
//! around a middleware under test, drives scenarios with their fault timelines, and judges
//! what the simulators recorded: scenario → runtime → history → checkers → reporters.
//!
//! Layout, from the bottom of the import graph up (a test keeps it free of cycles):
//! * [`history`] — the run's record: the run directory (made, written, read back), what
//!   a scenario expects, the indexes over the history the checkers, load measures and
//!   reports share, latency percentiles. It imports no other module of the crate.
//! * [`sut`] — the SUT manifest (`sut.toml`, placeholders, the parsed ingress endpoint)
//!   and the driver that starts, stops, kills, pauses and restarts a local SUT.
//! * [`check`] — the `Checker` trait and one module per checker (index, judge, witness).
//! * [`scenario`] — the scenario model (YAML), its loader with `FILE:LINE:COLUMN` errors,
//!   the timeline checks, the load profile and the thresholds.
//! * [`load`] — `andon load`: flags on the scenario, the live sampler, measures from the
//!   history, `load.json` and the HDR interval log.
//! * [`report`] — the `Reporter` trait and the run directory's `verdict.json`, `junit.xml`
//!   and self-contained `report.html` (SVG charts), from one `RunReport`.
//! * [`engine`] — the [`engine::runtime::Runtime`] seam with its rooms `in_process` and
//!   [`containers`] (testcontainers; also re-exported here for its Rust API), the
//!   open-model load driver, settling, and the run as its stages (`engine::run`:
//!   prepare, start, drive, settle, collect, judge, report; `andon check` and `replay`).
//! * [`contract_diff`] — `andon contract diff`: what changed between two OpenAPI or two
//!   AsyncAPI documents, each change breaking or compatible for the other party.
//! * [`coverage`] — which calls of the flows a set of runs exercised (`andon coverage`).
//! * [`bdd`] — `andon test`: the step library (one table feeding the runner, the
//!   undefined-step check and `andon steps`), the cucumber world and the test summary.
//! * [`serve`] — `andon serve`: the chosen simulators and OpenAPI example stubs, standalone,
//!   sharing one history, until a shutdown signal.
//! * [`bench`] — the servers the benchmarks load: the ERP simulator set up for endless
//!   goods movements, a trivial handler of the same request (`ci/bench-erp.sh`), and a
//!   trivial event sink (`ci/bench-load.sh`).
//! * [`benchgen`] — andon's load generator (the emitter) alone against a sink, closed loop
//!   or open model, for `ci/bench-load.sh`.
//! * [`cli`] — the command line: one clap definition per subcommand (`cli/serve.rs`, …),
//!   the exit codes, and the dispatch `main` calls. Parsing only; the work is elsewhere.

pub mod bdd;
pub mod bench;
pub mod benchgen;
pub mod broker;
pub mod check;
pub mod cli;
pub mod contract_diff;
pub mod coverage;
pub mod engine;
/// The containers runtime (under [`engine::runtime`]), at the top for its Rust API.
pub use engine::runtime::containers;
pub mod history;
pub mod load;
/// How andon's own process takes memory from the kernel (shared with `andon-simulator`).
pub use andon_simulators::memory;
pub mod report;
pub mod scenario;
pub mod serve;
pub mod sut;

#[cfg(test)]
mod layout;
