//! Integration tests of the reference middleware against the four simulators running
//! in-process on one shared history. The middleware runs in-process, or as a child process
//! (its own binary) where a test kills it with SIGKILL.
//!
//! * `cli` — `--list-defects` and usage errors.
//! * `flows` — every flow of DESIGN.md lands once, with key, trace and source reference.
//! * `resilience` — duplicates, ERP downtime, throttling, hangs, refused connections,
//!   lost answers, token expiry, rejections, poison and reordered lot events.
//! * `restart` — kill -9 during delivery and right after an acknowledgement.
//! * `defects` — one test per named defect, showing the behaviour it changes.
//! * `s4hana` — plants whose ERP is SAP S/4HANA (2408, 2502): read-back, postings, CSRF,
//!   repeatable requests.
//! * `bc` — a plant whose ERP is Business Central, against a fake of it: subscriptions,
//!   renewal by the system's clock, notifications read back, postings read back after a
//!   lost answer.
//! * `mqtt` — events consumed from a Mosquitto broker of the test's own (`broker`):
//!   acknowledged after they are stored, duplicates, retained and poison messages, a
//!   persistent session across restarts of the middleware and of the broker.
//! * `instances` — several instances on one store behind one broker: one delivers (the
//!   delivery lease), in order and once; another takes over when it is killed.

mod bc;
mod broker;
mod cli;
mod defects;
mod flows;
mod helpers;
mod instances;
mod load;
mod mqtt;
mod resilience;
mod restart;
mod s4hana;
mod scenarios;
