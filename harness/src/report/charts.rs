//! The report's charts, each a self-contained inline `<svg>`: the fault timeline (a
//! Gantt over the run), throughput over time, and the latency percentile curve of a
//! route. Colours come from CSS classes (`sys-erp`, `emitted`, `budget`, …) defined by
//! the HTML page.

use andon_contracts::System;
use chrono::{DateTime, Utc};

use super::latency::quantile;
use super::svg::{Anchor, Linear, Svg, nice_axis, num, ticks, x_axis, y_axis};
use super::{FaultSpan, RunReport, SutAction, fmt_us};
use crate::check::SlaBudget;

/// Width of the full-width charts, in user units.
const WIDTH: f64 = 960.0;

/// Time ticks over `0..=duration` seconds: seconds up to five minutes, minutes beyond.
fn time_ticks(duration: f64) -> Vec<(f64, String)> {
    let (unit, suffix) = if duration > 300.0 {
        (60.0, "m")
    } else {
        (1.0, "s")
    };
    let (step, end) = nice_axis(duration / unit, 8);
    ticks(step, end)
        .into_iter()
        .filter(|t| *t * unit <= duration + 1e-6)
        .map(|t| (t * unit, format!("{}{suffix}", num(t))))
        .collect()
}

/// The time domain of a run's charts: its duration, at least a second.
fn run_span(r: &RunReport) -> f64 {
    r.duration_secs().max(1.0)
}

/// The CSS class of a target system.
fn sys_class(s: System) -> String {
    format!("sys-{s}")
}

/// Width of the fault timeline's label column.
const TIMELINE_LABEL: f64 = 220.0;
/// Height of one fault timeline row.
const TIMELINE_ROW: f64 = 30.0;
/// Space above the fault timeline's first row.
const TIMELINE_TOP: f64 = 8.0;

/// Where times land on the fault timeline: the run, its span and the time scale.
struct TimeScale<'r> {
    r: &'r RunReport,
    span: f64,
    x: Linear,
}

impl TimeScale<'_> {
    /// The x of instant `t`, kept within the run.
    fn at(&self, t: DateTime<Utc>) -> f64 {
        self.x.map(self.r.offset_secs(t).clamp(0.0, self.span))
    }
}

/// The fault timeline: one row per fault (a bar from applied to cleared, open-ended when
/// it was never cleared) and one row for the SUT's actions (diamonds, bars for pauses).
/// `None` when the run had neither.
pub fn fault_timeline(r: &RunReport) -> Option<String> {
    let faults = &r.timeline.faults;
    let sut = &r.timeline.sut;
    if faults.is_empty() && sut.is_empty() {
        return None;
    }
    let rows = faults.len() + usize::from(!sut.is_empty());
    let axis_y = TIMELINE_TOP + rows as f64 * TIMELINE_ROW + 4.0;
    let mut svg = Svg::new(WIDTH, axis_y + 26.0);
    let span = run_span(r);
    let scale = TimeScale {
        r,
        span,
        x: Linear::new(0.0, span, TIMELINE_LABEL, WIDTH - 16.0),
    };

    // Vertical grid lines first, so bars are drawn over them.
    let time = time_ticks(span);
    for (v, _) in &time {
        let gx = scale.x.map(*v);
        svg.line(gx, TIMELINE_TOP, gx, axis_y, "grid");
    }
    for (i, f) in faults.iter().enumerate() {
        fault_row(&mut svg, &scale, f, TIMELINE_TOP + i as f64 * TIMELINE_ROW);
    }
    if !sut.is_empty() {
        let y = TIMELINE_TOP + faults.len() as f64 * TIMELINE_ROW;
        sut_row(&mut svg, &scale, sut, y);
    }
    x_axis(&mut svg, &scale.x, axis_y, &time);
    Some(svg.finish("Fault timeline over the run"))
}

/// One fault's row at height `y`: its label and note, and a bar from applied to cleared.
fn fault_row(svg: &mut Svg, scale: &TimeScale, f: &FaultSpan, y: f64) {
    let (r, span) = (scale.r, scale.span);
    svg.text(
        8.0,
        y + 13.0,
        Anchor::Start,
        "label",
        &format!("{} · {}", f.target, f.kind),
    );
    let fired = match f.fired {
        0 => "never fired".to_string(),
        n => format!("fired {n}×"),
    };
    let note_class = if f.fired == 0 { "note never" } else { "note" };
    svg.text(
        8.0,
        y + 25.0,
        Anchor::Start,
        note_class,
        &format!("{} · {fired}", f.id),
    );
    let x0 = scale.at(f.applied_at);
    let x1 = f.cleared_at.map_or(scale.x.map(span), |c| scale.at(c));
    let open = if f.cleared_at.is_none() { " open" } else { "" };
    let until = f.cleared_at.map_or("not cleared".to_string(), |c| {
        format!("cleared at {}s", num(r.offset_secs(c)))
    });
    let title = format!(
        "{} {} ({}) on {}: applied at {}s, {until}, {fired}",
        f.kind,
        f.id,
        params_text(f),
        f.target,
        num(r.offset_secs(f.applied_at)),
    );
    svg.rect(
        x0,
        y + 5.0,
        (x1 - x0).max(3.0),
        TIMELINE_ROW - 10.0,
        &format!("bar {}{open}", sys_class(f.target)),
        Some(&title),
    );
}

/// The SUT's row at height `y`: a diamond per action, a bar for the ones that last.
fn sut_row(svg: &mut Svg, scale: &TimeScale, sut: &[SutAction], y: f64) {
    let r = scale.r;
    svg.text(8.0, y + 13.0, Anchor::Start, "label", "sut");
    let kinds: Vec<&str> = sut.iter().map(|a| a.kind.as_str()).collect();
    svg.text(8.0, y + 25.0, Anchor::Start, "note", &kinds.join(", "));
    for a in sut {
        let x0 = scale.at(a.at);
        let mut title = format!("{} at {}s", a.kind, num(r.offset_secs(a.at)));
        if let Some(u) = a.until {
            title.push_str(&format!(" until {}s", num(r.offset_secs(u))));
        }
        if let Some(n) = &a.note {
            title.push_str(&format!(": {n}"));
        }
        if let Some(u) = a.until {
            svg.rect(
                x0,
                y + 8.0,
                (scale.at(u) - x0).max(3.0),
                TIMELINE_ROW - 16.0,
                "bar sys-sut",
                None,
            );
        }
        svg.diamond(
            x0,
            y + TIMELINE_ROW / 2.0,
            7.0,
            "mark sys-sut",
            Some(&title),
        );
    }
}

/// A fault's parameters as `k=v, …` (`no parameters` when it has none).
pub fn params_text(f: &super::FaultSpan) -> String {
    if f.params.is_empty() {
        return "no parameters".into();
    }
    f.params
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Events emitted and effects committed per second, over shaded fault periods and SUT
/// actions. `None` when the run has no second of throughput.
pub fn throughput(r: &RunReport) -> Option<String> {
    if r.throughput.is_empty() {
        return None;
    }
    const LEFT: f64 = 56.0;
    const TOP: f64 = 28.0;
    const HEIGHT: f64 = 280.0;
    const BOTTOM: f64 = 34.0;
    let span = run_span(r).max(r.throughput.len() as f64);
    let mut svg = Svg::new(WIDTH, HEIGHT);
    let x = Linear::new(0.0, span, LEFT, WIDTH - 16.0);
    let peak = r
        .throughput
        .iter()
        .map(|p| p.events_emitted.max(p.effects))
        .max()
        .unwrap_or(0);
    let (step, end) = nice_axis(peak as f64, 5);
    let y = Linear::new(0.0, end, HEIGHT - BOTTOM, TOP);

    for f in &r.timeline.faults {
        let x0 = x.map(r.offset_secs(f.applied_at).clamp(0.0, span));
        let x1 = x.map(
            f.cleared_at
                .map_or(span, |c| r.offset_secs(c).clamp(0.0, span)),
        );
        let title = format!("{} {} on {}", f.kind, f.id, f.target);
        svg.rect(
            x0,
            TOP,
            (x1 - x0).max(2.0),
            HEIGHT - BOTTOM - TOP,
            "band",
            Some(&title),
        );
    }
    for a in &r.timeline.sut {
        let px = x.map(r.offset_secs(a.at).clamp(0.0, span));
        svg.line(px, TOP, px, HEIGHT - BOTTOM, "sut-mark");
    }
    let labels: Vec<(f64, String)> = ticks(step, end).into_iter().map(|v| (v, num(v))).collect();
    y_axis(&mut svg, &y, LEFT, WIDTH - 16.0, &labels);
    x_axis(&mut svg, &x, HEIGHT - BOTTOM, &time_ticks(span));
    svg.text(LEFT, 14.0, Anchor::Start, "tick", "per second");

    let line = |pick: fn(&super::ThroughputPoint) -> u64| -> Vec<(f64, f64)> {
        r.throughput
            .iter()
            .map(|p| (x.map(p.second as f64 + 0.5), y.map(pick(p) as f64)))
            .collect()
    };
    svg.polyline(&line(|p| p.events_emitted), "line emitted");
    svg.polyline(&line(|p| p.effects), "line effects");

    // Legend, top right.
    let lx = WIDTH - 300.0;
    svg.line(lx, 10.0, lx + 24.0, 10.0, "line emitted");
    svg.text(lx + 30.0, 14.0, Anchor::Start, "tick", "events emitted");
    svg.line(lx + 140.0, 10.0, lx + 164.0, 10.0, "line effects");
    svg.text(lx + 170.0, 14.0, Anchor::Start, "tick", "effects committed");
    Some(svg.finish("Events emitted and effects committed per second"))
}

/// A load run's latency over time: per second of intended send time, the end-to-end p50
/// and p99 over every route and the ingress p99, on a log scale of milliseconds (a burst
/// stays readable next to the steady state). `None` without a second with a sample.
pub fn latency_over_time(load: &crate::load::report::LoadReport) -> Option<String> {
    let rows: Vec<_> = load
        .seconds
        .iter()
        .filter(|s| s.e2e_p99_us > 0 || s.ingress_p99_us > 0)
        .collect();
    if rows.is_empty() {
        return None;
    }
    const LEFT: f64 = 64.0;
    const TOP: f64 = 28.0;
    const HEIGHT: f64 = 280.0;
    const BOTTOM: f64 = 34.0;
    let span = load
        .seconds
        .len()
        .max(load.duration_s.ceil() as usize)
        .max(1) as f64;
    let mut svg = Svg::new(WIDTH, HEIGHT);
    let x = Linear::new(0.0, span, LEFT, WIDTH - 16.0);
    let peak = rows
        .iter()
        .map(|s| s.e2e_p99_us.max(s.ingress_p99_us))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // Decades of microseconds from the smallest sample's to above the peak.
    let low = rows
        .iter()
        .flat_map(|s| [s.e2e_p50_us, s.ingress_p99_us, s.e2e_p99_us])
        .filter(|v| *v > 0)
        .min()
        .unwrap_or(1)
        .max(1) as f64;
    let (d0, d1) = (
        low.log10().floor(),
        peak.log10().ceil().max(low.log10().floor() + 1.0),
    );
    let y = Linear::new(d0, d1, HEIGHT - BOTTOM, TOP);
    let labels: Vec<(f64, String)> = (d0 as i32..=d1 as i32)
        .map(|d| (f64::from(d), fmt_us(10f64.powi(d) as u64)))
        .collect();
    y_axis(&mut svg, &y, LEFT, WIDTH - 16.0, &labels);
    x_axis(&mut svg, &x, HEIGHT - BOTTOM, &time_ticks(span));
    svg.text(LEFT, 14.0, Anchor::Start, "tick", "latency (log scale)");
    let line = |pick: fn(&crate::load::report::SecondRow) -> u64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|s| pick(s) > 0)
            .map(|s| {
                (
                    x.map(s.second as f64 + 0.5),
                    y.map((pick(s) as f64).log10()),
                )
            })
            .collect()
    };
    svg.polyline(&line(|s| s.e2e_p50_us), "line e2e-p50");
    svg.polyline(&line(|s| s.e2e_p99_us), "line e2e-p99");
    svg.polyline(&line(|s| s.ingress_p99_us), "line ingress-p99");
    let lx = WIDTH - 420.0;
    for (i, (class, label)) in [
        ("line e2e-p50", "end-to-end p50"),
        ("line e2e-p99", "end-to-end p99"),
        ("line ingress-p99", "ingress p99"),
    ]
    .into_iter()
    .enumerate()
    {
        let px = lx + 140.0 * i as f64;
        svg.line(px, 10.0, px + 24.0, 10.0, class);
        svg.text(px + 30.0, 14.0, Anchor::Start, "tick", label);
    }
    Some(svg.finish("Latency per second of intended send time"))
}

/// Quantiles a curve is drawn through: `x = -log10(1 - q)` from 0 (p0) to 3 (p99.9).
const CURVE_STEPS: usize = 60;
/// Right end of the percentile axis: p99.9.
const X_END: f64 = 3.0;

/// Where quantile `q` lands on the percentile axis.
fn pct_x(q: f64) -> f64 {
    (-(1.0 - q).max(10f64.powf(-X_END)).log10()).clamp(0.0, X_END)
}

/// Width of a latency curve.
const CURVE_W: f64 = 300.0;
/// Height of a latency curve.
const CURVE_H: f64 = 200.0;
/// Room for the latency labels.
const CURVE_LEFT: f64 = 56.0;
/// Room for the route's name.
const CURVE_TOP: f64 = 30.0;
/// Room for the percentile labels.
const CURVE_BOTTOM: f64 = 30.0;
/// Room for half of the `p99.9` label.
const CURVE_RIGHT: f64 = 24.0;

/// An SLA budget drawn on a latency curve: quantile, name, budget and measured value (µs).
type Mark<'a> = (f64, &'a str, u64, u64);

/// A route's latency percentile curve, p0 to p99.9 on a log scale of `1 - q` (the tail
/// stretched, as HdrHistogram plots it), with the route's SLA budgets as markers: red
/// when the measured percentile is over budget. Only budgets over the whole run are drawn:
/// a budget for one phase (`steady`, `during_fault`, `recovery`) is judged by the SLA
/// checker on that phase's samples, which this curve does not separate.
pub fn latency_curve(route: &str, sorted: &[u64], budgets: &[SlaBudget]) -> String {
    let mut svg = Svg::new(CURVE_W, CURVE_H);
    svg.text(8.0, 16.0, Anchor::Start, "label", route);
    svg.text(
        CURVE_W - 8.0,
        16.0,
        Anchor::End,
        "note",
        &format!("n={}", sorted.len()),
    );
    let marks = budget_marks(route, sorted, budgets);
    let top = quantile(sorted, 0.999).unwrap_or(0);
    let top = marks.iter().map(|m| m.2).fold(top, u64::max);
    let (step, end) = nice_axis(top as f64, 4);
    let x = Linear::new(0.0, X_END, CURVE_LEFT, CURVE_W - CURVE_RIGHT);
    let y = Linear::new(0.0, end, CURVE_H - CURVE_BOTTOM, CURVE_TOP);
    curve_axes(&mut svg, &x, &y, step, end);
    let points: Vec<(f64, f64)> = (0..=CURVE_STEPS)
        .filter_map(|i| {
            let px = X_END * i as f64 / CURVE_STEPS as f64;
            let q = 1.0 - 10f64.powf(-px);
            quantile(sorted, q).map(|v| (x.map(px), y.map(v as f64)))
        })
        .collect();
    svg.polyline(&points, "line latency");
    budget_markers(&mut svg, &x, &y, marks);
    svg.finish(&format!("Latency percentiles of {route}"))
}

/// The route's whole-run budgets that have a measured percentile to compare with.
fn budget_marks<'a>(route: &str, sorted: &[u64], budgets: &'a [SlaBudget]) -> Vec<Mark<'a>> {
    budgets
        .iter()
        .filter(|b| b.route == route && b.phase.is_none())
        .flat_map(|b| {
            [
                (0.5, "p50", b.p50),
                (0.95, "p95", b.p95),
                (0.99, "p99", b.p99),
                (1.0, "max", b.max),
            ]
        })
        .filter_map(|(q, name, d)| {
            let budget = d?.0.as_micros().min(u128::from(u64::MAX)) as u64;
            Some((q, name, budget, quantile(sorted, q)?))
        })
        .collect()
}

/// The latency axis (ticks every `step` up to `end`) and the percentile axis.
fn curve_axes(svg: &mut Svg, x: &Linear, y: &Linear, step: f64, end: f64) {
    let labels: Vec<(f64, String)> = ticks(step, end)
        .into_iter()
        .map(|v| {
            (
                v,
                if v == 0.0 {
                    "0".into()
                } else {
                    fmt_us(v as u64)
                },
            )
        })
        .collect();
    y_axis(svg, y, CURVE_LEFT, CURVE_W - CURVE_RIGHT, &labels);
    let pct = [
        (0.0, "p0"),
        (0.5, "p50"),
        (0.9, "p90"),
        (0.99, "p99"),
        (0.999, "p99.9"),
    ];
    let pct: Vec<(f64, String)> = pct
        .iter()
        .map(|(q, l)| (pct_x(*q), l.to_string()))
        .collect();
    x_axis(svg, x, CURVE_H - CURVE_BOTTOM, &pct);
}

/// Each budget as a tick and a circle at its percentile, `over` when measured above it.
fn budget_markers(svg: &mut Svg, x: &Linear, y: &Linear, marks: Vec<Mark>) {
    for (q, name, budget, measured) in marks {
        let over = if measured > budget { " over" } else { "" };
        let px = x.map(pct_x(q));
        let py = y.map(budget as f64);
        svg.line(px - 10.0, py, px + 10.0, py, &format!("budget{over}"));
        svg.circle(
            px,
            py,
            3.5,
            &format!("budget{over}"),
            Some(&format!(
                "{name} budget {}, measured {}",
                fmt_us(budget),
                fmt_us(measured)
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ticks_switch_to_minutes_for_long_runs() {
        let short: Vec<String> = time_ticks(60.0).into_iter().map(|t| t.1).collect();
        assert_eq!(short, ["0s", "10s", "20s", "30s", "40s", "50s", "60s"]);
        let long: Vec<String> = time_ticks(1800.0).into_iter().map(|t| t.1).collect();
        assert_eq!(long.last().map(String::as_str), Some("30m"));
    }

    #[test]
    fn percentile_axis_stretches_the_tail() {
        assert_eq!(pct_x(0.0), 0.0);
        assert!((pct_x(0.9) - 1.0).abs() < 1e-9);
        assert!((pct_x(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(pct_x(1.0), 3.0);
    }
}
