//! `andon simulator SYSTEM`: one simulator, as a container's entrypoint or by hand. The
//! command line and the work are `andon_simulators::standalone`, which the smaller
//! `andon-simulator` binary (the simulator containers' entrypoint) runs as well: it prints
//! `ready` on stdout once it listens, and with `--state-dir` it keeps its state across a
//! stop.

/// Arguments of `andon simulator` (those of `andon-simulator`).
pub use andon_simulators::standalone::SimulatorArgs;

/// Runs one simulator until SIGTERM or Ctrl-C; returns the exit code.
pub async fn run(args: SimulatorArgs) -> u8 {
    andon_simulators::standalone::run(args, "andon simulator").await
}
