//! The SLA checker's witnesses: the slowest events of an exceeded budget.

use andon_contracts::System;

use super::index::Sample;
use crate::check::common::{self, describe, fmt_time, fmt_us, sys};
use crate::check::{SlaBudget, Witness};

/// An exceeded budget, for its witnesses.
pub(super) struct Exceeded<'b> {
    /// Its number in `expect.sla`.
    pub(super) bi: usize,
    /// The budget.
    pub(super) b: &'b SlaBudget,
    /// ` (phase)`, or nothing.
    pub(super) phase_text: &'b str,
    /// Which metrics were over, and by how much.
    pub(super) summary: String,
    /// How many samples and lower bounds were judged.
    pub(super) judged: u64,
    /// The lower bounds of the events without an effect.
    pub(super) censored: &'b [&'b Sample<'b>],
}

impl Exceeded<'_> {
    /// The witness of one slow event.
    pub(super) fn witness(&self, s: &Sample<'_>, ev: &common::Ev<'_>) -> Witness {
        let b = self.b;
        let target = b.route.rsplit(' ').next().and_then(System::parse);
        let censored = self.censored.iter().any(|c| c.event == s.event);
        Witness {
            event: Some(ev.source_ref()),
            system: target,
            expected: format!(
                "route {}{} within its budget ({})",
                b.route,
                self.phase_text,
                budget_text(b)
            ),
            happened: format!(
                "{} over {} events ({} without an effect by the end); {} took {}{} (intended at {}, {} at {} at {}, {})",
                self.summary,
                self.judged,
                self.censored.len(),
                describe(ev),
                if censored { "at least " } else { "" },
                fmt_us(s.us as i64),
                fmt_time(ev.intended_at),
                if censored {
                    "still no effect"
                } else {
                    "first effect"
                },
                target.map(sys).unwrap_or_default(),
                fmt_time(s.effect_at),
                s.phase.as_str().replace('_', " ")
            ),
            trace_id: ev.trace(),
        }
    }
}

/// The budget in words (`p95 ≤ 2 s, max ≤ 5 s`).
pub(super) fn budget_text(b: &SlaBudget) -> String {
    let mut parts = Vec::new();
    for (n, d) in [
        ("p50", &b.p50),
        ("p95", &b.p95),
        ("p99", &b.p99),
        ("max", &b.max),
    ] {
        if let Some(d) = d {
            parts.push(format!("{n} ≤ {}", fmt_us(d.0.as_micros() as i64)));
        }
    }
    parts.join(", ")
}
