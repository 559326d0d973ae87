//! `andon load`: a scenario as an open-model load test whose thresholds decide the exit.
//!
//! Standard output: the checker lines of `andon run`, then the load: throughput, latency
//! (ingress and end-to-end), SUT errors by class, the generator's own figures, each
//! threshold with what was measured, the run directory and `PASS`, `BREACHED`, `INVALID`,
//! `FAIL` or `ERROR: why`. Exit codes: 0 the thresholds held (and no checker failed), 1 a
//! checker failed or the run failed, 2 a usage or configuration error, 3 a threshold was
//! breached or could not be measured, 4 the run is invalid (the generator fell behind or
//! dropped events: the figures do not describe the asked-for load).

use std::io::Write;

use andon_simulators::faults::Dur;
use clap::Args;

use super::run::{EXIT_INTERRUPTED, ScenarioRunArgs, interruptible, print_checkers, refused};
use super::{EXIT_FAILURE, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE};
use crate::engine::run::{self, RunError};
use crate::load::Overrides;
use crate::load::report::{LoadReport, LoadVerdict, Summary};
use crate::report::{Exit, fmt_us};
use crate::scenario::Rate;

/// Arguments of `andon load`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 thresholds held, 1 a checker failed, 2 usage or configuration \
error, 3 a threshold breached or unknown, 4 run invalid (the generator fell behind or dropped events).

Examples:
  andon load scenarios/load-shift-change-3-plants.yaml
  andon load scenarios/load-shift-change-10-plants.yaml --sut my-bridge/sut.toml --report-dir out/shift
  andon load scenarios/load-batch-closure-spike.yaml --rate 200/s --duration 20s --plants 5"
)]
pub struct LoadArgs {
    /// The scenario (with its `thresholds:`), the SUT and where the run goes.
    #[command(flatten)]
    pub run: ScenarioRunArgs,
    /// Scale the load profile so its first phase runs at this rate (`500/s`, `30000/min`);
    /// the shape (ramps, spikes) is kept.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<Rate>,
    /// Run the load this long instead (`30s`, `2m`); later phases are dropped.
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub duration: Option<Dur>,
    /// Number of plants instead (the scenario's plants repeated with new ids); rates of
    /// phases written `per: plant` grow with it.
    #[arg(long, value_name = "N")]
    pub plants: Option<usize>,
    /// Delivery lanes (connections) of every emitter (default: the scenario's, else 32).
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    Rate::parse(s)
}

fn parse_dur(s: &str) -> Result<Dur, String> {
    Dur::read(s).map_err(|e| e.to_string())
}

/// `andon load`.
pub async fn run(args: LoadArgs) -> u8 {
    let mut opts = args.run.options();
    opts.load = Some(Overrides {
        rate: args.rate,
        duration: args.duration,
        plants: args.plants,
        connections: args.connections,
    });
    match interruptible(run::run(&opts)).await {
        Ok(r) => conclude(r),
        Err(stop) => stop.code(),
    }
}

fn conclude(outcome: Result<run::RunOutcome, RunError>) -> u8 {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return refused("load", &e),
    };
    let mut out = std::io::stdout().lock();
    let _ = print_checkers(&mut out, &outcome.report);
    if let Some(l) = &outcome.load {
        let _ = print_load(&mut out, l);
    }
    let _ = writeln!(out, "run directory: {}", outcome.dir.display());
    let code = exit_code(&outcome.report.exit, outcome.load.as_ref());
    let _ = match (
        &outcome.report.exit,
        outcome.load.as_ref().map(|l| l.verdict),
    ) {
        (Exit::Error(why), _) => writeln!(out, "ERROR: {why}"),
        (Exit::Interrupted(why), _) => writeln!(out, "INTERRUPTED: {why}"),
        (_, Some(LoadVerdict::Invalid)) => writeln!(out, "INVALID"),
        (Exit::Fail, _) => writeln!(out, "FAIL"),
        (_, Some(LoadVerdict::Breached)) => writeln!(out, "BREACHED"),
        (Exit::Inconclusive(why), _) => writeln!(out, "INCONCLUSIVE: {why}"),
        _ => writeln!(out, "PASS"),
    };
    let _ = out.flush();
    code
}

/// The exit code of a load run: an error (2), an invalid run (4), a failed checker (1), a
/// breached threshold (3), an inconclusive judgement (5), else 0.
pub fn exit_code(exit: &Exit, load: Option<&LoadReport>) -> u8 {
    match (exit, load) {
        (Exit::Error(_), _) => EXIT_USAGE,
        (Exit::Interrupted(_), _) => EXIT_INTERRUPTED,
        (_, Some(l)) if l.verdict == LoadVerdict::Invalid => l.exit_code(),
        (Exit::Fail, _) => EXIT_FAILURE,
        (_, Some(l)) if l.verdict == LoadVerdict::Breached => l.exit_code(),
        (Exit::Inconclusive(_), _) => EXIT_INCONCLUSIVE,
        (_, Some(l)) => l.exit_code(),
        (Exit::Pass, None) => EXIT_OK,
    }
}

fn line(s: &Summary) -> String {
    if s.count == 0 {
        return "no sample".to_string();
    }
    format!(
        "p50 {}  p95 {}  p99 {}  max {}  (n {})",
        fmt_us(s.p50_us),
        fmt_us(s.p95_us),
        fmt_us(s.p99_us),
        fmt_us(s.max_us),
        s.count
    )
}

/// The load part of the summary.
pub fn print_load(out: &mut impl Write, l: &LoadReport) -> std::io::Result<()> {
    let t = &l.throughput;
    writeln!(
        out,
        "load {:.0}s: {:.1} events/s emitted, {:.1}/s acknowledged, {:.1} effects/s",
        l.duration_s, t.emitted_per_s, t.acked_per_s, t.effects_per_s
    )?;
    writeln!(out, "  ingress          {}", line(&l.ingress))?;
    writeln!(out, "  end-to-end       {}", line(&l.e2e))?;
    for (route, s) in &l.routes {
        writeln!(out, "    {route:<28} {}", line(s))?;
    }
    let e = &l.errors;
    let classes = e
        .by_class
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "  errors           {} of {} attempts ({:.3} %){}",
        e.total,
        e.attempts,
        e.rate * 100.0,
        if classes.is_empty() {
            String::new()
        } else {
            format!(": {classes}")
        }
    )?;
    let g = &l.generator;
    let deepest = l.buffers.values().map(|b| b.max_depth).max().unwrap_or(0);
    writeln!(
        out,
        "  generator        {} steps ({} late, worst {} ms), {} events, {} dropped, {} sends late (lag p99 {}), {} connections, buffer deepest {deepest}",
        g.scheduled_steps,
        g.late_steps,
        g.max_step_lateness_ms,
        g.events,
        g.dropped,
        g.late_sends,
        fmt_us(g.send_lag.p99_us),
        g.connections
    )?;
    for why in &l.invalid {
        writeln!(out, "  INVALID: {why}")?;
    }
    for w in &l.warnings {
        writeln!(out, "  note: {w}")?;
    }
    for t in &l.thresholds {
        let shown = t.measured.as_deref().or(t.why.as_deref()).unwrap_or("");
        let outcome = match t.outcome.as_str() {
            "pass" => "pass",
            "breached" => "BREACHED",
            _ => "unknown",
        };
        writeln!(out, "  threshold {:<40} {outcome:<9} {shown}", t.threshold)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: LoadVerdict) -> LoadReport {
        let m = crate::load::measure::Measures::from_records(
            &[],
            chrono::Utc::now(),
            std::time::Duration::from_secs(1),
        );
        let mut r = LoadReport::build(crate::load::report::Inputs {
            measures: &m,
            driver: &crate::engine::load::LoadStats::default(),
            emitters: &Default::default(),
            depths: &[],
            thresholds: &[],
            overrides: &Overrides::default(),
            connections: 1,
        });
        r.verdict = verdict;
        r
    }

    #[test]
    fn exit_codes_put_an_invalid_run_first() {
        let invalid = report(LoadVerdict::Invalid);
        let breached = report(LoadVerdict::Breached);
        let pass = report(LoadVerdict::Pass);
        assert_eq!(exit_code(&Exit::Fail, Some(&invalid)), 4);
        assert_eq!(exit_code(&Exit::Fail, Some(&breached)), 1);
        assert_eq!(exit_code(&Exit::Pass, Some(&breached)), 3);
        assert_eq!(exit_code(&Exit::Pass, Some(&pass)), 0);
        assert_eq!(exit_code(&Exit::Error("x".into()), Some(&pass)), 2);
    }
}
