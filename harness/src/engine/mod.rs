//! The engine: a runtime hosting the simulators, the open-model load driver, the fault
//! scheduler, settling by quiescence, and the run itself (`andon run`, `andon replay`).
//!
//! * [`runtime`] — the simulators of a run (in-process; containers come as a second runtime).
//! * [`load`] — steps plant activity at the scenario's arrival rate.
//! * [`settle`] — waits for quiescence up to the settle limit.
//! * [`run`] — one scenario end to end into a run directory; re-checking and replaying one.

pub mod load;
pub mod run;
pub mod runtime;
pub mod settle;
