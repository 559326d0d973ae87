//! `verdict.json`: the whole report for machines, with latency percentiles instead of raw
//! samples.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::check::{SlaBudget, Status, Verdict};

use super::latency::LatencySummary;
use super::{Exit, ReportError, Reporter, RunReport, ThroughputPoint, Timeline};

/// Writes `verdict.json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerdictJson;

/// The document, field by field.
#[derive(Serialize)]
struct Document<'a> {
    scenario: &'a str,
    seed: u64,
    andon_version: &'a str,
    sut: &'a str,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    duration_ms: i64,
    /// `"pass"`, `"fail"` or `{"error": "…"}`.
    exit: &'a Exit,
    exit_code: i32,
    summary: Summary,
    verdicts: &'a [Verdict],
    timeline: &'a Timeline,
    latency: BTreeMap<&'a str, LatencySummary>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    budgets: &'a [SlaBudget],
    throughput: &'a [ThroughputPoint],
}

#[derive(Serialize)]
struct Summary {
    pass: usize,
    fail: usize,
    unknown: usize,
}

impl Reporter for VerdictJson {
    fn name(&self) -> &'static str {
        "verdict"
    }

    fn file_name(&self) -> &'static str {
        "verdict.json"
    }

    fn render(&self, r: &RunReport) -> Result<String, ReportError> {
        let doc = Document {
            scenario: &r.scenario,
            seed: r.seed,
            andon_version: &r.andon_version,
            sut: &r.sut,
            started: r.started,
            ended: r.ended,
            duration_ms: (r.ended - r.started).num_milliseconds(),
            exit: &r.exit,
            exit_code: r.exit.code(),
            summary: Summary {
                pass: r.count(Status::Pass),
                fail: r.count(Status::Fail),
                unknown: r.count(Status::Unknown),
            },
            verdicts: &r.verdicts,
            timeline: &r.timeline,
            latency: r.latency_summaries(),
            budgets: &r.budgets,
            throughput: &r.throughput,
        };
        let mut text = serde_json::to_string_pretty(&doc)?;
        text.push('\n');
        Ok(text)
    }
}
