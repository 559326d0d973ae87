//! The scenario model and the SUT driver as a user meets them: scenario files that load or
//! are refused with file, line and column; `sut.toml` manifests and their placeholders; a
//! real child process started, watched, signalled and stopped.

mod driver;
mod helpers;
mod loading;
mod manifest;
mod ranges;
mod refusals;
