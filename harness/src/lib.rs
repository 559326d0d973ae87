//! # andon
//!
//! The harness and the `andon` command: it starts the simulators of ERP, MES, QMS and WMS
//! around a middleware under test, and (in the next milestones) drives scenarios, faults
//! and checkers over what they recorded.
//!
//! Layout:
//! * [`cli`] — the command line: one clap definition per subcommand (`cli/serve.rs`, …),
//!   the exit codes, and the dispatch `main` calls. Parsing only; the work is elsewhere.
//! * [`serve`] — `andon serve`: the chosen simulators and OpenAPI example stubs, standalone,
//!   sharing one history, until a shutdown signal.
//! * [`bench`] — the two servers `ci/bench-erp.sh` loads: the ERP simulator set up for
//!   endless goods movements, and a trivial handler of the same request.
//! * [`report`] — the `Reporter` trait and the run directory's `verdict.json`, `junit.xml`
//!   and self-contained `report.html` (SVG charts), from one `RunReport`.
//! * [`scenario`] — the scenario model (YAML), its loader with `FILE:LINE:COLUMN` errors,
//!   the timeline checks and the load profile.
//! * [`sut`] — the SUT manifest (`sut.toml`, placeholders) and the driver that starts,
//!   stops, kills, pauses and restarts the middleware under test.

pub mod bench;
pub mod check;
pub mod cli;
pub mod engine;
pub mod report;
pub mod scenario;
pub mod serve;
pub mod sut;
