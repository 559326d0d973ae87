//! What a report draws from the history alone, without the verdicts: fault spans,
//! throughput per second and propagation latencies per route (see
//! [`RunReport::from_run`](super::RunReport::from_run)), and the dialects spoken.

use std::collections::{BTreeMap, HashMap};

use andon_contracts::System;
use andon_simulators::history::{Entry, Outcome, Record};
use chrono::{DateTime, Utc};

use crate::check::RunData;
use crate::history::index::FastMap;

use super::model::{FaultSpan, RunMeta, RunReport, ThroughputPoint, Timeline};
use super::route::route_name;
use crate::check::Verdict;

/// What a report draws from the history alone, without the verdicts (see
/// [`RunReport::from_run`] for what each is).
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    pub(super) faults: Vec<FaultSpan>,
    pub(super) throughput: Vec<ThroughputPoint>,
    pub(super) latencies: BTreeMap<String, Vec<u64>>,
    pub(super) dialects: super::dialects::DialectSummary,
}

impl RunFigures {
    /// The figures of `run`, which started at `started` and ended at `ended`.
    pub fn of(run: &RunData, started: DateTime<Utc>, ended: DateTime<Utc>) -> Self {
        let records = &run.records;
        Self {
            faults: fault_spans(records),
            throughput: throughput(records, started, ended),
            latencies: latencies(records),
            dialects: super::dialects::summarize(records),
        }
    }
}

impl RunReport {
    /// Derives the report of a run from its history.
    ///
    /// * timeline: one [`FaultSpan`] per `fault` record id and system (`applied`,
    ///   `fired`, `cleared`), plus the SUT actions of `meta`;
    /// * throughput: `event_emitted` and `effect` records per wall second since
    ///   `meta.started`;
    /// * latency: for each non-poison source event and each system where an effect
    ///   realising it landed, the time from the event's `intended_at` to the first such
    ///   effect, under the route [`route_name`]`(kind, emitter, effect system)`.
    ///   Effects with outcome `fail` do not count; `info` (committed, answer lost) does.
    pub fn from_run(meta: RunMeta, run: &RunData, verdicts: Vec<Verdict>) -> Self {
        let figures = RunFigures::of(run, meta.started, meta.ended);
        Self::from_figures(meta, run, verdicts, figures)
    }

    /// [`RunReport::from_run`] with its figures already drawn from the history (by
    /// [`RunFigures::of`], which needs no verdict and so can run beside the checkers).
    pub fn from_figures(
        meta: RunMeta,
        run: &RunData,
        verdicts: Vec<Verdict>,
        figures: RunFigures,
    ) -> Self {
        let RunFigures {
            faults,
            throughput,
            latencies,
            dialects,
        } = figures;
        Self {
            timeline: Timeline {
                faults,
                sut: meta.sut_actions,
            },
            throughput,
            latencies,
            budgets: run.expect.sla.clone(),
            scenario: meta.scenario,
            seed: meta.seed,
            andon_version: meta.andon_version,
            sut: meta.sut,
            started: meta.started,
            ended: meta.ended,
            verdicts,
            exit: meta.exit,
            load: None,
            dialects,
        }
    }
}

fn fault_spans(records: &[Record]) -> Vec<FaultSpan> {
    let mut spans: Vec<FaultSpan> = Vec::new();
    let mut index: HashMap<(System, &str), usize> = HashMap::new();
    for r in records {
        let Entry::Fault {
            id,
            action,
            kind,
            spec,
        } = &r.entry
        else {
            continue;
        };
        let i = *index.entry((r.system, id.as_str())).or_insert_with(|| {
            spans.push(FaultSpan {
                id: id.clone(),
                target: r.system,
                kind: kind.clone(),
                params: BTreeMap::new(),
                applied_at: r.at,
                cleared_at: None,
                fired: 0,
            });
            spans.len() - 1
        });
        let span = &mut spans[i];
        match action.as_str() {
            "applied" => {
                span.applied_at = r.at;
                span.params = params(&spec.to_value());
            }
            "fired" => span.fired += 1,
            "cleared" => {
                span.cleared_at = Some(r.at);
                // The simulator counts firings too; trust the larger count.
                let counted = spec.get("fired").and_then(|f| f.as_u64()).unwrap_or(0);
                span.fired = span.fired.max(counted);
            }
            _ => {}
        }
    }
    spans.sort_by(|a, b| (a.applied_at, a.target, &a.id).cmp(&(b.applied_at, b.target, &b.id)));
    spans
}

/// The parameters of an applied fault worth showing: everything but the id, the kind, the
/// duration (the span shows it) and unset filters.
fn params(spec: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    spec.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !v.is_null() && !matches!(k.as_str(), "id" | "kind" | "for"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn throughput(
    records: &[Record],
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
) -> Vec<ThroughputPoint> {
    let second_of = |at: DateTime<Utc>| ((at - started).num_milliseconds().max(0) / 1000) as u64;
    let run_ms = (ended - started).num_milliseconds().max(0) as u64;
    let mut points: Vec<ThroughputPoint> = (0..run_ms.div_ceil(1000))
        .map(|second| ThroughputPoint {
            second,
            events_emitted: 0,
            effects: 0,
        })
        .collect();
    for r in records {
        let (emitted, effects) = match &r.entry {
            Entry::EventEmitted { .. } => (1, 0),
            Entry::Effect { outcome, .. } if *outcome != Outcome::Fail => (0, 1),
            _ => continue,
        };
        let s = second_of(r.at) as usize;
        while points.len() <= s {
            points.push(ThroughputPoint {
                second: points.len() as u64,
                events_emitted: 0,
                effects: 0,
            });
        }
        points[s].events_emitted += emitted;
        points[s].effects += effects;
    }
    points
}

fn latencies(records: &[Record]) -> BTreeMap<String, Vec<u64>> {
    struct Source<'a> {
        kind: &'a str,
        emitter: System,
        intended_at: DateTime<Utc>,
    }
    // Keys borrowed from the history, hashed with Fx: a history holds millions of records.
    type Key<'a> = (&'a str, &'a str);
    let mut sources: FastMap<Key<'_>, Source> = FastMap::default();
    for r in records {
        if let Entry::EventEmitted {
            event,
            intended_at,
            poison: None,
        } = &r.entry
        {
            sources.entry((&event.source, &event.id)).or_insert(Source {
                kind: &event.type_,
                emitter: r.system,
                intended_at: *intended_at,
            });
        }
    }
    let mut first: FastMap<(Key<'_>, System), DateTime<Utc>> = FastMap::default();
    for r in records {
        let Entry::Effect {
            sources: realised,
            outcome,
            ..
        } = &r.entry
        else {
            continue;
        };
        if *outcome == Outcome::Fail {
            continue;
        }
        for s in realised {
            first
                .entry(((s.source.as_str(), s.id.as_str()), r.system))
                .and_modify(|at| *at = (*at).min(r.at))
                .or_insert(r.at);
        }
    }
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for ((key, target), at) in first {
        let Some(src) = sources.get(&key) else {
            continue;
        };
        let d = at - src.intended_at;
        let us = d.num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
        out.entry(route_name(src.kind, src.emitter, target))
            .or_default()
            .push(us);
    }
    for samples in out.values_mut() {
        samples.sort_unstable();
    }
    out
}
