//! Load testing (`andon load`, issue 7 in progress): the parts built so far.
//!
//! * [`threshold`] — k6-style thresholds (`p99 < 2s on mes.consumed -> erp`, `error rate
//!   < 0.1 %`, `throughput >= 2000/s`): read with the column of a mistake, judged against
//!   what a run measured (pass, breached, or unknown when there is no sample).

pub mod threshold;
