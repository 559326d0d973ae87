//! `junit.xml`: one `<testsuite>` for the scenario, one `<testcase>` per checker.
//!
//! * pass → an empty test case;
//! * fail → `<failure message="summary">` whose text lists counts and witnesses;
//! * unknown → `<skipped message="reason"/>`: CI shows it as not run, never as passed;
//! * a run that ended in error → an extra `run` test case with `<error message=…>`, so a
//!   run that could not check anything cannot look green.
//!
//! Checkers have no time of their own: test cases say `time="0"`, the suite the run's
//! duration.

use std::fmt::Write as _;

use crate::check::{Status, Verdict, Witness};

use super::escape::{escape, escape_attr};
use super::{Exit, ReportError, Reporter, RunReport};

/// Writes `junit.xml`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Junit;

impl Reporter for Junit {
    fn name(&self) -> &'static str {
        "junit"
    }

    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, r: &RunReport) -> Result<String, ReportError> {
        let errors = usize::from(matches!(r.exit, Exit::Error(_)));
        let inconclusive = usize::from(matches!(r.exit, Exit::Inconclusive(_)));
        let tests = r.verdicts.len() + errors + inconclusive;
        let failures = r.count(Status::Fail) + inconclusive;
        let skipped = r.count(Status::Unknown);
        let time = format!("{:.3}", r.duration_secs().max(0.0));
        let counts = format!(
            r#"tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{time}""#
        );
        let classname = escape_attr(&format!("andon.{}", r.scenario));

        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(x, r#"<testsuites name="andon" {counts}>"#);
        let _ = writeln!(
            x,
            r#"  <testsuite name="{}" {counts} timestamp="{}">"#,
            escape_attr(&r.scenario),
            r.started.format("%Y-%m-%dT%H:%M:%S")
        );
        properties(&mut x, r);
        run_case(&mut x, &r.exit, &classname, &time);
        for v in &r.verdicts {
            checker_case(&mut x, v, &classname);
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        Ok(x)
    }
}

/// The suite's `<properties>`: seed, SUT, andon's version, start, end and exit.
fn properties(x: &mut String, r: &RunReport) {
    x.push_str("    <properties>\n");
    for (name, value) in [
        ("seed", r.seed.to_string()),
        ("sut", r.sut.clone()),
        ("andon_version", r.andon_version.clone()),
        ("started", r.started.to_rfc3339()),
        ("ended", r.ended.to_rfc3339()),
        ("exit", r.exit.as_str().to_string()),
    ] {
        let _ = writeln!(
            x,
            r#"      <property name="{name}" value="{}"/>"#,
            escape_attr(&value)
        );
    }
    x.push_str("    </properties>\n");
}

/// The extra `run` test case of a run that ended in error (`<error>`) or inconclusive
/// (`<failure>`); nothing for a run that ended normally.
fn run_case(x: &mut String, exit: &Exit, classname: &str, time: &str) {
    // Unknown is never a pass: a CI system reading this file must see a failure.
    let (element, kind, why) = match exit {
        Exit::Error(why) => ("error", "run-error", why),
        Exit::Inconclusive(why) => ("failure", "inconclusive", why),
        _ => return,
    };
    let _ = writeln!(
        x,
        r#"    <testcase name="run" classname="{classname}" time="{time}">"#
    );
    let _ = writeln!(
        x,
        r#"      <{element} message="{}" type="{kind}">{}</{element}>"#,
        escape_attr(first_line(why)),
        escape(why)
    );
    x.push_str("    </testcase>\n");
}

/// One checker's test case: empty (or with its `<system-out>`) when it passed,
/// `<failure>` when it failed, `<skipped>` when its verdict is unknown.
fn checker_case(x: &mut String, v: &Verdict, classname: &str) {
    let _ = write!(
        x,
        r#"    <testcase name="{}" classname="{classname}" time="0""#,
        escape_attr(&v.checker)
    );
    match v.status {
        Status::Pass => {
            let out = describe(v, false);
            if out.is_empty() {
                x.push_str("/>\n");
            } else {
                let _ = writeln!(x, ">\n      <system-out>{}</system-out>", escape(&out));
                x.push_str("    </testcase>\n");
            }
        }
        Status::Fail => {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>",
                escape_attr(&failure_message(v)),
                escape_attr(&v.checker),
                escape(&describe(v, true))
            );
            x.push_str("    </testcase>\n");
        }
        Status::Unknown => {
            let reason = v
                .reason
                .as_deref()
                .unwrap_or("unknown: the checker gave no reason");
            let _ = writeln!(
                x,
                ">\n      <skipped message=\"{}\"/>",
                escape_attr(&format!("unknown: {reason}"))
            );
            x.push_str("    </testcase>\n");
        }
    }
}

/// The first line of `s` (an error's headline).
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The `message` of a failure: the checker's summary, or its non-zero counts.
fn failure_message(v: &Verdict) -> String {
    if let Some(reason) = &v.reason {
        return reason.clone();
    }
    let counts = counts_line(v);
    if counts.is_empty() {
        format!("{} failed", v.checker)
    } else {
        format!("{} failed: {counts}", v.checker)
    }
}

fn counts_line(v: &Verdict) -> String {
    v.counts
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Summary, counts and (for a failure) witnesses as plain text.
fn describe(v: &Verdict, witnesses: bool) -> String {
    let mut out = String::new();
    if let Some(reason) = &v.reason {
        let _ = writeln!(out, "{reason}");
    }
    let counts = counts_line(v);
    if !counts.is_empty() {
        let _ = writeln!(out, "counts: {counts}");
    }
    if witnesses {
        for (i, w) in v.witnesses.iter().enumerate() {
            out.push_str(&witness_text(i + 1, w));
        }
    }
    out
}

/// One witness, as a few indented lines.
fn witness_text(n: usize, w: &Witness) -> String {
    let mut out = format!("witness {n}:");
    if let Some(e) = &w.event {
        let _ = write!(out, " event {} {}", e.source, e.id);
    }
    if let Some(s) = w.system {
        let _ = write!(out, " at {s}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  expected: {}", w.expected);
    let _ = writeln!(out, "  happened: {}", w.happened);
    if let Some(t) = &w.trace_id {
        let _ = writeln!(out, "  trace id: {t}");
    }
    out
}
