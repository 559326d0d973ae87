//! Helpers of the report tests: the fixed report, golden files with a readable diff, and
//! a small well-formedness checker for XML (and HTML with void elements).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use andon::check::{Phase, SlaBudget, Status, Verdict, Witness};
use andon::report::{Exit, FaultSpan, RunReport, SutAction, ThroughputPoint, Timeline};
use andon_contracts::{SourceRef, System};
use andon_simulators::faults::Dur;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

/// `2026-11-02T06:00:00Z` plus `secs`.
pub fn t(secs: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()
        + chrono::Duration::milliseconds((secs * 1000.0) as i64)
}

fn verdict(checker: &str, status: Status) -> Verdict {
    Verdict {
        checker: checker.into(),
        status,
        counts: BTreeMap::new(),
        witnesses: vec![],
        reason: None,
        details: serde_json::Value::Null,
    }
}

fn dur(ms: u64) -> Option<Dur> {
    Some(Dur(Duration::from_millis(ms)))
}

/// A deterministic spread of `n` latency samples around `base_us` with a tail.
fn samples(n: u64, base_us: u64, tail_us: u64) -> Vec<u64> {
    let mut s: Vec<u64> = (0..n)
        .map(|i| {
            let jitter = (i * 7919) % 1000 * base_us / 1000;
            let tail = if i % 50 == 49 {
                tail_us * (4 - (i / 50) % 4) / 4
            } else {
                0
            };
            base_us / 2 + jitter + tail
        })
        .collect();
    s.sort_unstable();
    s
}

/// The fixed report of the golden tests: two checkers pass, one fails with witnesses whose
/// text holds `<`, `&` and quotes, one is unknown; three faults (one never fired, one never
/// cleared) and three SUT actions over a one-minute run.
pub fn fixture() -> RunReport {
    let mut exactly_once = verdict("exactly_once", Status::Fail);
    exactly_once.counts = BTreeMap::from([
        ("events".into(), 1840),
        ("lost".into(), 1),
        ("duplicated".into(), 1),
    ]);
    exactly_once.reason = Some("1 lost & 1 duplicated effect out of 1840 events".into());
    exactly_once.witnesses = vec![
        Witness {
            event: Some(SourceRef {
                source: "/andon/mes/1000".into(),
                id: "mes-1000-000123".into(),
            }),
            system: Some(System::Erp),
            expected: "one goods movement 261 for <order 100000001> & batch \"B000123\"".into(),
            happened: "none after 30 s; the SUT's call got 503 from 'erp' and was never retried"
                .into(),
            trace_id: Some("0af7651916cd43dd8448eb211c80319c".into()),
        },
        Witness {
            event: Some(SourceRef {
                source: "/andon/qms/1000".into(),
                id: "qms-1000-000042".into(),
            }),
            system: Some(System::Wms),
            expected: "one hold of lot L-42".into(),
            happened: "two holds: <hold id=\"H1\"/> and <hold id=\"H2\"/> (see https://erp.example.invalid/api?a=1&b=2)".into(),
            trace_id: None,
        },
    ];
    let mut reconciliation = verdict("reconciliation", Status::Pass);
    reconciliation.counts = BTreeMap::from([("stock_rows".into(), 120), ("lots".into(), 48)]);
    let ordering = verdict("ordering", Status::Pass);
    let mut sla = verdict("sla", Status::Unknown);
    sla.reason =
        Some("route \"qms.release -> wms\" had no event: its budget was never exercised".into());
    sla.details = json!({"routes": {"qms.hold -> wms": {"p99_us": 2_400_000}}});

    let throughput = (0..60u64)
        .map(|s| {
            let emitted = match s {
                20..30 => 120,
                _ => 40 + (s * 13) % 9,
            };
            let effects = match s {
                15..35 => 8 + s % 3,
                35..40 => 300 - (s - 35) * 40,
                _ => 52 + (s * 11) % 7,
            };
            ThroughputPoint {
                second: s,
                events_emitted: emitted,
                effects,
            }
        })
        .collect();

    RunReport {
        scenario: "cloud-erp-downtime-at-shift-change".into(),
        seed: 42,
        andon_version: "0.1.0".into(),
        sut: "reference middleware (R&D build)".into(),
        started: t(0.0),
        ended: t(60.0),
        verdicts: vec![exactly_once, reconciliation, ordering, sla],
        exit: Exit::Fail,
        timeline: Timeline {
            faults: vec![
                FaultSpan {
                    id: "f1".into(),
                    target: System::Erp,
                    kind: "unavailable".into(),
                    params: BTreeMap::from([("retry_after".into(), json!("5s"))]),
                    applied_at: t(15.0),
                    cleared_at: Some(t(35.0)),
                    fired: 214,
                },
                FaultSpan {
                    id: "f2".into(),
                    target: System::Mes,
                    kind: "duplicate".into(),
                    params: BTreeMap::from([("probability".into(), json!(0.2))]),
                    applied_at: t(40.0),
                    cleared_at: Some(t(50.0)),
                    fired: 0,
                },
                FaultSpan {
                    id: "f3".into(),
                    target: System::Wms,
                    kind: "hang".into(),
                    params: BTreeMap::new(),
                    applied_at: t(52.5),
                    cleared_at: None,
                    fired: 3,
                },
            ],
            sut: vec![
                SutAction {
                    kind: "kill".into(),
                    at: t(30.0),
                    until: None,
                    note: Some("SIGKILL mid-burst".into()),
                },
                SutAction {
                    kind: "restart".into(),
                    at: t(31.0),
                    until: None,
                    note: Some("ready again after 2.1 s".into()),
                },
                SutAction {
                    kind: "pause".into(),
                    at: t(44.0),
                    until: Some(t(47.0)),
                    note: None,
                },
            ],
        },
        latencies: BTreeMap::from([
            (
                "mes.consumed -> erp".into(),
                samples(400, 180_000, 9_000_000),
            ),
            ("qms.hold -> wms".into(), samples(60, 900_000, 2_800_000)),
            ("erp.material -> mes".into(), samples(5, 40_000, 0)),
        ]),
        budgets: vec![
            SlaBudget {
                route: "qms.hold -> wms".into(),
                p50: None,
                p95: None,
                p99: dur(2_000),
                max: None,
                phase: None,
            },
            SlaBudget {
                route: "mes.consumed -> erp".into(),
                p50: dur(1_000),
                p95: None,
                p99: dur(10_000),
                max: None,
                phase: None,
            },
            SlaBudget {
                route: "qms.hold -> wms".into(),
                p50: None,
                p95: None,
                p99: dur(60_000),
                max: None,
                phase: Some(Phase::DuringFault),
            },
        ],
        throughput,
        load: None,
        dialects: Default::default(),
    }
}

/// Compares `actual` with `tests/report/golden/<name>`; with `UPDATE_GOLDEN=1`, writes it
/// instead. On a difference, fails with a line diff and leaves the actual output beside
/// the target directory's temp files.
pub fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/report/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} is unreadable ({e}); run `UPDATE_GOLDEN=1 cargo test -p andon --test report` to create it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("golden-actual-{name}"));
    let _ = std::fs::write(&out, actual);
    panic!(
        "{name} differs from its golden file {}\n(actual output: {}; accept it with UPDATE_GOLDEN=1)\n{}",
        path.display(),
        out.display(),
        diff(&expected, actual)
    );
}

/// A unified-style line diff (`-` golden, `+` actual) with two lines of context, at most
/// 60 lines of it.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > 20_000_000 {
        let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        return format!(
            "first difference at line {}:\n- {}\n+ {}",
            i + 1,
            a.get(i).unwrap_or(&"<end>"),
            b.get(i).unwrap_or(&"<end>")
        );
    }
    // Longest common subsequence, from the end.
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, usize, &str)> = Vec::new(); // (op, golden line number, text)
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i + 1, a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', i + 1, b[j]));
            j += 1;
        } else {
            ops.push(('-', i + 1, a[i]));
            i += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|o| o.0 != ' ')
    };
    let mut out = String::new();
    let mut shown = 0;
    let mut gap = false;
    for (k, (op, line, text)) in ops.iter().enumerate() {
        if !near(k) {
            gap = true;
            continue;
        }
        if gap || shown == 0 {
            out.push_str(&format!("@@ golden line {line} @@\n"));
            gap = false;
        }
        out.push_str(&format!("{op} {text}\n"));
        shown += 1;
        if shown >= 60 {
            out.push_str("… (diff cut)\n");
            break;
        }
    }
    out
}

/// Elements HTML writes without an end tag.
const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "link"];

/// Checks that `doc` is well-formed: balanced and properly nested tags, quoted attributes,
/// no stray `<`, only known entities. In `html` mode, void elements need no end tag, a
/// doctype is allowed and `<style>` holds raw text; otherwise one root element is required.
pub fn check_well_formed(doc: &str, html: bool) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = doc;
    let at = |rest: &str| doc.len() - rest.len();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            check_text(rest).map_err(|e| format!("{e} at byte {}", at(rest)))?;
            break;
        };
        check_text(&rest[..lt]).map_err(|e| format!("{e} at byte {}", at(rest)))?;
        rest = &rest[lt..];
        let skip_to = |rest: &str, end: &str| -> Result<usize, String> {
            rest.find(end)
                .map(|i| i + end.len())
                .ok_or(format!("unterminated {end:?} at byte {}", at(rest)))
        };
        if rest.starts_with("<?") {
            rest = &rest[skip_to(rest, "?>")?..];
        } else if rest.starts_with("<!--") {
            rest = &rest[skip_to(rest, "-->")?..];
        } else if html && rest.starts_with("<!DOCTYPE") {
            rest = &rest[skip_to(rest, ">")?..];
        } else if let Some(close) = rest.strip_prefix("</") {
            let end = close
                .find('>')
                .ok_or(format!("unterminated end tag at byte {}", at(rest)))?;
            let name = close[..end].trim();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?} at byte {}", at(rest))),
            }
            rest = &close[end + 1..];
        } else {
            let (name, self_closing, after) =
                parse_start_tag(&rest[1..]).map_err(|e| format!("{e} at byte {}", at(rest)))?;
            if stack.is_empty() {
                roots += 1;
            }
            rest = after;
            if self_closing || (html && VOID.contains(&name)) {
                continue;
            }
            if html && (name == "style" || name == "script") {
                let end = format!("</{name}>");
                rest = &rest[skip_to(rest, &end)?..];
                continue;
            }
            stack.push(name);
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{open}> is never closed"));
    }
    if !html && roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

/// Parses `name attr="v" …>` or `…/>`; returns the name, whether it closed itself and the
/// rest after `>`.
fn parse_start_tag(s: &str) -> Result<(&str, bool, &str), String> {
    let name_end = s
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .ok_or("unterminated start tag")?;
    let name = &s[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
    {
        return Err(format!("bad element name {name:?}"));
    }
    let mut rest = &s[name_end..];
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/>") {
            return Ok((name, true, after));
        }
        if let Some(after) = rest.strip_prefix('>') {
            return Ok((name, false, after));
        }
        let eq = rest
            .find('=')
            .ok_or(format!("attribute without value in <{name}>"))?;
        let attr = rest[..eq].trim();
        if attr.is_empty()
            || !attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("bad attribute name {attr:?} in <{name}>"));
        }
        let value = &rest[eq + 1..];
        let quote = value
            .chars()
            .next()
            .filter(|q| *q == '"' || *q == '\'')
            .ok_or(format!("unquoted attribute {attr} in <{name}>"))?;
        let end = value[1..]
            .find(quote)
            .ok_or(format!("unterminated attribute {attr}"))?;
        let v = &value[1..1 + end];
        if v.contains('<') {
            return Err(format!("'<' in attribute {attr} of <{name}>"));
        }
        check_text(v)?;
        rest = &value[end + 2..];
    }
}

/// Text may hold entities only in their known forms.
fn check_text(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        rest = &rest[i + 1..];
        let end = rest.find(';').ok_or("'&' without ';'")?;
        let entity = &rest[..end];
        let ok = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
            || entity
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || entity
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &rest[end + 1..];
    }
    Ok(())
}

/// Every `<svg …>…</svg>` element of an HTML page.
pub fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("svg closed") + start + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}
