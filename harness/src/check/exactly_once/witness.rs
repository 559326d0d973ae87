//! The exactly-once checker's witnesses: effects, calls and lost effects in words.

use andon_contracts::{SourceRef, System};
use andon_simulators::history::{Entry, Record, RequestEntry};

use super::index::Group;
use crate::check::Witness;
use crate::check::common::{self, Ev, describe, fmt_time, fmt_us, micros, sys};

/// What the SUT's calls referencing the event came to, for a lost effect.
fn calls_text(records: &[Record], reqs: Option<&Vec<usize>>, target: System) -> String {
    let Some(reqs) = reqs else {
        return "the SUT made no call referencing it".into();
    };
    let last = reqs.iter().rev().find(|&&i| records[i].system == target);
    let Some(&i) = last else {
        return format!("the SUT made no call to {} referencing it", sys(target));
    };
    let Some(RequestEntry {
        method,
        route,
        status,
        problem,
        fault,
        ..
    }) = records[i].entry.request()
    else {
        return String::new();
    };
    let answer = if *status == 0 {
        "got no answer".to_string()
    } else {
        let p = problem
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        format!("was answered {status}{p}")
    };
    let f = fault
        .as_deref()
        .map(|f| format!(" (fault {f})"))
        .unwrap_or_default();
    format!(
        "the SUT's last call to {} referencing it, {method} {route} at {}, {answer}{f}",
        sys(target),
        fmt_time(records[i].at)
    )
}

/// An effect record in words (`erp.goods_movement 261:… (document 49…) at <time>`).
pub(super) fn effect_text(r: &Record) -> String {
    match &r.entry {
        Entry::Effect {
            effect,
            key,
            detail,
            ..
        } => {
            let doc = common::field(detail, "material_document")
                .map(|d| format!(" (document {d})"))
                .unwrap_or_default();
            format!("{effect} {key}{doc} at {}", fmt_time(r.at))
        }
        _ => String::new(),
    }
}

/// The witness of an effect that names no emitted event.
pub(super) fn unattributed_witness(
    r: &Record,
    sources: &[SourceRef],
    traceparent: Option<&str>,
) -> Witness {
    Witness {
        event: sources.first().cloned(),
        system: Some(r.system),
        expected: "every effect to reference the source event it realises".into(),
        happened: format!(
            "{} recorded {} {}",
            sys(r.system),
            effect_text(r),
            if sources.is_empty() {
                "with no source reference".to_string()
            } else {
                format!(
                    "referencing {} that was never emitted",
                    sources
                        .iter()
                        .map(|s| format!("{} {}", s.source, s.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        trace_id: traceparent.and_then(common::trace_id).map(str::to_string),
    }
}

/// The witness of a lost effect: how many of the wanted landed, how long ago the event was
/// intended, and what the SUT's last call to the target came to.
pub(super) fn lost_witness(
    records: &[Record],
    ev: &Ev<'_>,
    g: &Group<'_>,
    reqs: Option<&Vec<usize>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> Witness {
    let age = end
        .map(|e| {
            format!(
                " {} after it was intended",
                fmt_us(micros(ev.intended_at, e).max(0))
            )
        })
        .unwrap_or_default();
    let found = if g.found > 0 {
        format!("{} of {}", g.found, g.wanted)
    } else {
        "none".into()
    };
    Witness {
        event: Some(ev.source_ref()),
        system: Some(g.slot.system),
        expected: format!("{} for {}", g.slot.phrase(), describe(ev)),
        happened: format!("{found}{age}; {}", calls_text(records, reqs, g.slot.system)),
        trace_id: ev.trace(),
    }
}
