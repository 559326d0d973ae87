//! `report.html`: one self-contained page a person reads after a run.
//!
//! Header (scenario, seed, SUT, exit, one badge per checker), the checkers' table, the
//! fault timeline (SVG Gantt and a table), throughput over time, latency percentiles per
//! route (table and one small SVG curve each, with SLA budgets), and the witnesses of
//! every failing or unknown checker. Styles are inline, charts are inline SVG, there is
//! no script and nothing is fetched: the file opens offline, from a CI artifact or a mail.
//! Every text from the run is escaped.

use std::fmt::Write as _;

use crate::check::{Status, Verdict};
use crate::load::report::{LoadReport, LoadVerdict};

use super::charts::{fault_timeline, latency_curve, latency_over_time, params_text, throughput};
use super::escape::escape;
use super::svg::num;
use super::{Exit, ReportError, Reporter, RunReport, fmt_us};

/// Writes `report.html`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl Reporter for Html {
    fn name(&self) -> &'static str {
        "html"
    }

    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &RunReport) -> Result<String, ReportError> {
        let mut h = String::with_capacity(64 * 1024);
        head(&mut h, r);
        header(&mut h, r);
        h.push_str("<main>\n");
        if let Some(l) = &r.load {
            load(&mut h, l);
        }
        checkers(&mut h, r);
        dialects(&mut h, r);
        faults(&mut h, r);
        traffic(&mut h, r);
        latency(&mut h, r);
        witnesses(&mut h, r);
        h.push_str("</main>\n");
        let _ = writeln!(
            h,
            "<footer>andon {} · seed {} · this page is self-contained: no script, nothing fetched</footer>\n</body>\n</html>",
            escape(&r.andon_version),
            r.seed
        );
        Ok(h)
    }
}

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa;
        --pass: #1a7f37; --fail: #cf222e; --unknown: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; color: var(--fg); background: var(--bg);
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1000px; margin: 0 auto; }
h1 { font-size: 24px; margin: 0 0 8px; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; display: flex; align-items: center; gap: 8px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--soft); padding: 8px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; }
dl.meta { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 16px; margin: 8px 0 12px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 12px; font-size: 12px; font-weight: 600;
         color: #fff; text-transform: uppercase; letter-spacing: .03em; vertical-align: middle; }
.badge.pass { background: var(--pass); } .badge.fail, .badge.error { background: var(--fail); }
.badge.unknown, .badge.inconclusive { background: var(--unknown); }
.badges { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; padding: 0; list-style: none; }
.badges a { text-decoration: none; color: inherit; }
.chk { display: inline-flex; align-items: center; gap: 6px; border: 1px solid var(--line); border-radius: 14px;
       padding: 2px 10px 2px 4px; font-size: 13px; }
.summary { color: var(--muted); margin: 4px 0; }
.error-box { border: 1px solid var(--fail); background: #ffebe9; padding: 8px 12px; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { word-break: break-word; }
td.event { white-space: nowrap; }
td.trace { word-break: break-all; }
.muted { color: var(--muted); }
.over { color: var(--fail); font-weight: 600; }
.never { color: var(--unknown); }
figure { margin: 8px 0; }
svg { max-width: 100%; height: auto; font-family: inherit; }
svg .axis { stroke: #8c959f; stroke-width: 1; }
svg .grid { stroke: #eaeef2; stroke-width: 1; }
svg .tick { fill: var(--muted); font-size: 11px; }
svg .label { fill: var(--fg); font-size: 12px; font-weight: 600; }
svg .note { fill: var(--muted); font-size: 11px; }
svg .note.never { fill: var(--unknown); }
svg .bar { stroke-width: 1; }
svg .bar.open { fill-opacity: .45; stroke-dasharray: 4 3; }
svg .sys-erp { fill: #8250df; stroke: #8250df; } svg .sys-mes { fill: #0969da; stroke: #0969da; }
svg .sys-qms { fill: #bf3989; stroke: #bf3989; } svg .sys-wms { fill: #1a7f37; stroke: #1a7f37; }
svg .sys-sut { fill: #cf222e; stroke: #cf222e; }
svg .mark { stroke: #fff; stroke-width: 1.5; }
svg .band { fill: #cf222e; fill-opacity: .07; }
svg .sut-mark { stroke: #cf222e; stroke-width: 1.5; stroke-dasharray: 3 3; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .line.emitted { stroke: #0969da; } svg .line.effects { stroke: #e16f24; }
svg .line.latency { stroke: #0969da; }
svg .line.e2e-p50 { stroke: #0969da; } svg .line.e2e-p99 { stroke: #cf222e; }
svg .line.ingress-p99 { stroke: #e16f24; stroke-dasharray: 4 3; }
svg line.budget { stroke: #59636e; stroke-width: 2; } svg circle.budget { fill: #fff; stroke: #59636e; stroke-width: 2; }
svg line.budget.over { stroke: #cf222e; } svg circle.budget.over { stroke: #cf222e; }
.curves { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 8px 16px; }
.sys { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.sys.erp { background: #8250df; } .sys.mes { background: #0969da; } .sys.qms { background: #bf3989; }
.sys.wms { background: #1a7f37; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"#;

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Unknown => "unknown",
    }
}

fn badge(class: &str) -> String {
    format!(r#"<span class="badge {class}">{class}</span>"#)
}

/// An HTML id for a checker's section: letters, digits, `-` and `_` only.
fn anchor(checker: &str) -> String {
    let slug: String = checker
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("checker-{slug}")
}

fn time(r: &RunReport, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{}s", num(r.offset_secs(at)))
}

fn head(h: &mut String, r: &RunReport) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · {} · andon</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&r.scenario),
        r.exit.as_str()
    );
}

fn header(h: &mut String, r: &RunReport) {
    h.push_str("<header>\n");
    let _ = writeln!(
        h,
        "<h1>{} {}</h1>",
        escape(&r.scenario),
        badge(r.exit.as_str())
    );
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string();
    let _ = writeln!(
        h,
        "<dl class=\"meta\">\n<dt>seed</dt><dd class=\"mono\">{}</dd><dt>started</dt><dd>{}</dd>\n\
         <dt>SUT</dt><dd>{}</dd><dt>ended</dt><dd>{}</dd>\n\
         <dt>andon</dt><dd>{}</dd><dt>duration</dt><dd>{} s</dd>\n</dl>",
        r.seed,
        fmt(r.started),
        escape(&r.sut),
        fmt(r.ended),
        escape(&r.andon_version),
        num(r.duration_secs()),
    );
    if let Exit::Error(why) = &r.exit {
        let _ = writeln!(
            h,
            "<div class=\"error-box\"><strong>The run could not be completed.</strong><pre>{}</pre></div>",
            escape(why)
        );
    }
    if let Exit::Inconclusive(why) = &r.exit {
        let _ = writeln!(
            h,
            "<div class=\"error-box\"><strong>Inconclusive: not enough was judged to pass.</strong><pre>{}</pre></div>",
            escape(why)
        );
    }
    h.push_str("<ul class=\"badges\">\n");
    for v in &r.verdicts {
        let status = status_str(v.status);
        let chip = format!(
            "<span class=\"chk\">{} {}</span>",
            badge(status),
            escape(&v.checker)
        );
        if v.status == Status::Pass {
            let _ = writeln!(h, "<li>{chip}</li>");
        } else {
            let _ = writeln!(h, "<li><a href=\"#{}\">{chip}</a></li>", anchor(&v.checker));
        }
    }
    h.push_str("</ul>\n");
    let _ = writeln!(
        h,
        "<p class=\"summary\">{} pass · {} fail · {} unknown (unknown is not a pass: the property was not exercised)</p>",
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::Unknown)
    );
    h.push_str("</header>\n");
}

fn counts(v: &Verdict) -> String {
    v.counts
        .iter()
        .map(|(k, n)| format!("{}={n}", escape(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn checkers(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"checkers\">\n<h2>Checkers</h2>\n");
    if r.verdicts.is_empty() {
        h.push_str("<p class=\"muted\">No checker ran.</p>\n</section>\n");
        return;
    }
    h.push_str("<table>\n<thead><tr><th>checker</th><th>verdict</th><th>summary</th><th>counts</th></tr></thead>\n<tbody>\n");
    for v in &r.verdicts {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"wrap\">{}</td><td class=\"mono wrap\">{}</td></tr>",
            escape(&v.checker),
            badge(status_str(v.status)),
            escape(v.reason.as_deref().unwrap_or("")),
            counts(v)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// The vendor dialects the SUT spoke, cut-overs, and the contract changes between the
/// releases the run saw.
fn dialects(h: &mut String, r: &RunReport) {
    let d = &r.dialects;
    if d.is_empty() {
        return;
    }
    h.push_str("<section id=\"dialects\">\n<h2>Vendor APIs</h2>\n");
    let used: Vec<String> = d
        .used
        .iter()
        .map(|u| format!("<code>{}</code>", escape(u)))
        .collect();
    let _ = writeln!(h, "<p>Calls in: {}</p>", used.join(", "));
    for (at, what) in &d.cutovers {
        let _ = writeln!(
            h,
            "<p>Cut over at {:.1} s: <code>{}</code></p>",
            r.offset_secs(*at),
            escape(what)
        );
    }
    for rd in &d.diffs {
        let (old, new, changes) = (&rd.old, &rd.new, &rd.changes);
        let breaking = changes.iter().filter(|c| c.breaking).count();
        let _ = writeln!(
            h,
            "<h3>{} → {}: {breaking} breaking, {} compatible changes</h3>",
            escape(old),
            escape(new),
            changes.len() - breaking
        );
        h.push_str("<table>\n<thead><tr><th></th><th>operation</th><th>where</th><th>change</th></tr></thead>\n<tbody>\n");
        for c in changes {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                if c.breaking {
                    "<span class=\"badge fail\">breaking</span>"
                } else {
                    "compatible"
                },
                escape(&c.operation),
                escape(&c.pointer),
                escape(&c.change)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

fn faults(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"faults\">\n<h2>Fault timeline</h2>\n");
    let Some(svg) = fault_timeline(r) else {
        h.push_str("<p class=\"muted\">No fault was applied in this run.</p>\n</section>\n");
        return;
    };
    let _ = writeln!(h, "<figure>\n{svg}\n</figure>");
    if !r.timeline.faults.is_empty() {
        h.push_str("<table>\n<thead><tr><th>fault</th><th>target</th><th>kind</th><th>parameters</th><th class=\"num\">applied</th><th class=\"num\">cleared</th><th class=\"num\">fired</th></tr></thead>\n<tbody>\n");
        for f in &r.timeline.faults {
            let cleared = f
                .cleared_at
                .map_or("not cleared".to_string(), |c| time(r, c));
            let fired = if f.fired == 0 {
                "<span class=\"never\">never</span>".to_string()
            } else {
                f.fired.to_string()
            };
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td><span class=\"sys {t}\"></span>{t}</td><td>{}</td><td class=\"mono wrap\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{fired}</td></tr>",
                escape(&f.id),
                escape(&f.kind),
                escape(&params_text(f)),
                time(r, f.applied_at),
                cleared,
                t = f.target,
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    if !r.timeline.sut.is_empty() {
        h.push_str("<table>\n<thead><tr><th>SUT action</th><th class=\"num\">at</th><th class=\"num\">until</th><th>note</th></tr></thead>\n<tbody>\n");
        for a in &r.timeline.sut {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"wrap\">{}</td></tr>",
                escape(&a.kind),
                time(r, a.at),
                a.until.map_or(String::new(), |u| time(r, u)),
                escape(a.note.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

fn traffic(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"throughput\">\n<h2>Throughput</h2>\n");
    match throughput(r) {
        Some(svg) => {
            let emitted: u64 = r.throughput.iter().map(|p| p.events_emitted).sum();
            let effects: u64 = r.throughput.iter().map(|p| p.effects).sum();
            let _ = writeln!(
                h,
                "<p class=\"muted\">{emitted} events emitted and {effects} effects committed; shaded: faults active; dashed: SUT actions.</p>\n<figure>\n{svg}\n</figure>"
            );
        }
        None => h.push_str("<p class=\"muted\">No traffic was recorded.</p>\n"),
    }
    h.push_str("</section>\n");
}

fn latency(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"latency\">\n<h2>Latency per route</h2>\n");
    let summaries = r.latency_summaries();
    if summaries.is_empty() {
        h.push_str("<p class=\"muted\">No effect realised a source event: no latency to show.</p>\n</section>\n");
        return;
    }
    h.push_str("<p class=\"muted\">From the source event's intended send time to the first effect at the target, in wall time.</p>\n");
    h.push_str("<table>\n<thead><tr><th>route</th><th class=\"num\">n</th><th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n");
    for (route, s) in &summaries {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(route),
            s.count,
            fmt_us(s.p50_us),
            fmt_us(s.p90_us),
            fmt_us(s.p95_us),
            fmt_us(s.p99_us),
            fmt_us(s.p999_us),
            fmt_us(s.max_us)
        );
    }
    h.push_str("</tbody>\n</table>\n<div class=\"curves\">\n");
    for (route, samples) in &r.latencies {
        if samples.is_empty() {
            continue;
        }
        let _ = writeln!(
            h,
            "<figure>\n{}\n</figure>",
            latency_curve(route, samples, &r.budgets)
        );
    }
    h.push_str("</div>\n");
    if !r.budgets.is_empty() {
        h.push_str("<p class=\"muted\">Circles: SLA budgets of the scenario (red when the measured percentile is over).</p>\n");
    }
    h.push_str("</section>\n");
}

/// The load section of `andon load`: verdict, generator, thresholds, latency over time and
/// by route, SUT errors and emitter buffers.
fn load(h: &mut String, l: &LoadReport) {
    let verdict = l.verdict.as_str();
    let class = match l.verdict {
        LoadVerdict::Pass => "pass",
        LoadVerdict::Breached => "fail",
        LoadVerdict::Invalid => "unknown",
    };
    let _ = writeln!(
        h,
        "<section id=\"load\">\n<h2>Load <span class=\"badge {class}\">{verdict}</span></h2>"
    );
    for why in &l.invalid {
        let _ = writeln!(h, "<p class=\"error-box\">Invalid run: {}</p>", escape(why));
    }
    for w in &l.warnings {
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", escape(w));
    }
    load_generator(h, l);
    load_thresholds(h, l);
    if let Some(svg) = latency_over_time(l) {
        let _ = writeln!(
            h,
            "<figure>\n{svg}\n</figure>\n<p class=\"muted\">Measured from each event's intended send time (no coordinated omission); the full distributions per second are in <code>latency.hlog</code>.</p>"
        );
    }
    load_latencies(h, l);
    load_errors_and_buffers(h, l);
    h.push_str("</section>\n");
}

/// One paragraph on what the generator did: events, rates, connections, late and dropped.
fn load_generator(h: &mut String, l: &LoadReport) {
    let g = &l.generator;
    let _ = writeln!(
        h,
        "<p>{} events over {:.0} s ({:.1}/s emitted, {:.1}/s acknowledged, {:.1} effects/s); {} connections per emitter; \
         {} steps scheduled, {} late; {} events dropped; {} sends started late (send lag p99 {}).</p>",
        g.events,
        l.duration_s,
        l.throughput.emitted_per_s,
        l.throughput.acked_per_s,
        l.throughput.effects_per_s,
        g.connections,
        g.scheduled_steps,
        g.late_steps,
        g.dropped,
        g.late_sends,
        fmt_us(g.send_lag.p99_us)
    );
}

/// The thresholds and how each came out, as a table (nothing without thresholds).
fn load_thresholds(h: &mut String, l: &LoadReport) {
    if !l.thresholds.is_empty() {
        h.push_str("<table>\n<thead><tr><th>threshold</th><th>outcome</th><th class=\"num\">measured</th></tr></thead>\n<tbody>\n");
        for t in &l.thresholds {
            let badge_class = match t.outcome.as_str() {
                "pass" => "pass",
                "breached" => "fail",
                _ => "unknown",
            };
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td><span class=\"badge {badge_class}\">{}</span></td><td class=\"num\">{}</td></tr>",
                escape(&t.threshold),
                escape(&t.outcome),
                escape(t.measured.as_deref().or(t.why.as_deref()).unwrap_or(""))
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
}

/// Latency percentiles per emitting system (ingress) and per route (end to end), as a
/// table.
fn load_latencies(h: &mut String, l: &LoadReport) {
    h.push_str("<table>\n<thead><tr><th>latency</th><th class=\"num\">n</th><th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n");
    let ingress = l
        .ingress_by_system
        .iter()
        .map(|(s, v)| (format!("ingress from {s}"), v));
    let routes = l.routes.iter().map(|(r, v)| (format!("end-to-end {r}"), v));
    for (name, s) in ingress.chain(routes) {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&name),
            s.count,
            fmt_us(s.p50_us),
            fmt_us(s.p95_us),
            fmt_us(s.p99_us),
            fmt_us(s.p999_us),
            fmt_us(s.max_us)
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// SUT errors by class and the emitter buffers' deepest fill.
fn load_errors_and_buffers(h: &mut String, l: &LoadReport) {
    let e = &l.errors;
    let classes = if e.by_class.is_empty() {
        "none".to_string()
    } else {
        e.by_class
            .iter()
            .map(|(c, n)| format!("{} × {n}", escape(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        h,
        "<p>SUT errors: {} of {} delivery attempts ({:.3} %): {classes}; {} poison events rightly rejected.</p>",
        e.total,
        e.attempts,
        e.rate * 100.0,
        e.poison_rejected
    );
    let buffers = l
        .buffers
        .iter()
        .map(|(s, b)| format!("{s} deepest {} of {}", b.max_depth, b.capacity))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(h, "<p class=\"muted\">Emitter buffers: {buffers}.</p>");
}

fn witnesses(h: &mut String, r: &RunReport) {
    let shown: Vec<&Verdict> = r
        .verdicts
        .iter()
        .filter(|v| v.status != Status::Pass)
        .collect();
    if shown.is_empty() {
        return;
    }
    h.push_str("<section id=\"witnesses\">\n<h2>Failing and unknown checkers</h2>\n");
    for v in shown {
        let _ = writeln!(
            h,
            "<h3 id=\"{}\">{} <code>{}</code></h3>",
            anchor(&v.checker),
            badge(status_str(v.status)),
            escape(&v.checker)
        );
        if let Some(reason) = &v.reason {
            let _ = writeln!(h, "<p>{}</p>", escape(reason));
        }
        if !v.counts.is_empty() {
            let _ = writeln!(h, "<p class=\"mono\">{}</p>", counts(v));
        }
        if !v.witnesses.is_empty() {
            h.push_str("<table>\n<thead><tr><th class=\"num\">#</th><th>event</th><th>system</th><th>expected</th><th>happened</th><th>trace id</th></tr></thead>\n<tbody>\n");
            for (i, w) in v.witnesses.iter().enumerate() {
                let event = w.event.as_ref().map_or(String::new(), |e| {
                    format!("{}<br>{}", escape(&e.source), escape(&e.id))
                });
                let _ = writeln!(
                    h,
                    "<tr><td class=\"num\">{}</td><td class=\"mono event\">{event}</td><td>{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td><td class=\"mono trace\">{}</td></tr>",
                    i + 1,
                    w.system.map_or(String::new(), |s| s.to_string()),
                    escape(&w.expected),
                    escape(&w.happened),
                    escape(w.trace_id.as_deref().unwrap_or(""))
                );
            }
            h.push_str("</tbody>\n</table>\n");
        } else if v.status == Status::Fail {
            h.push_str("<p class=\"muted\">The checker listed no witness.</p>\n");
        }
        if !v.details.is_null() {
            let details = serde_json::to_string_pretty(&v.details).unwrap_or_default();
            let _ = writeln!(
                h,
                "<details><summary>details</summary><pre>{}</pre></details>",
                escape(&details)
            );
        }
    }
    h.push_str("</section>\n");
}
