//! The checkers over hand-built histories (pass, fail with the witness, unknown with the
//! reason), run directories, a large synthetic run, and one end-to-end run of the four
//! simulators with the test playing the SUT.

mod contract;
mod end_to_end;
mod exactly_once;
mod helpers;
mod mapping;
mod ordering;
mod reconciliation;
mod rundir;
mod safety;
mod sla;
mod synthetic;
