//! The middleware under test, as andon sees it: its manifest (`sut.toml`) and the driver
//! that starts, stops, kills, pauses and restarts it.
//!
//! * [`manifest`] — [`SutManifest`]: parse `sut.toml` (errors as `FILE:LINE:COLUMN: …`),
//!   fill its placeholders ([`Placeholders`] → [`ResolvedSut`]).
//! * [`driver`] — [`SutDriver`]: the child process, readiness, `sut.log`, signals.
//! * [`redact`] — the run directory's copy of `sut.toml`, secret-looking values redacted.
//!
//! A run picks the SUT's port first ([`free_port`]), fills the placeholders, then starts:
//!
//! ```no_run
//! # async fn run(urls: std::collections::BTreeMap<andon_contracts::System, String>) -> anyhow::Result<()> {
//! use andon::sut::{free_port, Placeholders, SutDriver, SutManifest};
//! let manifest = SutManifest::load("examples/reference-middleware/sut.toml".as_ref())?;
//! let run_dir = std::path::Path::new("runs/demo");
//! let port = manifest.is_managed().then(free_port).transpose()?;
//! let sut = manifest.resolve(&Placeholders::new(urls, port, run_dir))?;
//! let mut driver = SutDriver::new(sut, run_dir)?;
//! driver.start().await?;          // waits for `ready` to answer 2xx
//! driver.kill_and_restart().await?;
//! driver.stop().await?;
//! # Ok(()) }
//! ```

pub mod driver;
mod error;
pub mod manifest;
mod process;
pub mod redact;

pub use driver::{SutDriver, SutError, SutEvent, SutEventKind, free_port, stop_own};
pub use manifest::{
    Capabilities, Ingress, IngressError, IngressSpec, ManifestError, MqttIngress, Placeholders,
    ResolvedStart, ResolvedSut, StartSpec, SutManifest, Template, Transport,
};
