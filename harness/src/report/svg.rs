//! A few SVG primitives for the HTML report: a document, shapes, text, linear scales and
//! axes. Every piece of text goes through [`escape`]; every coordinate is printed with at
//! most one decimal, so the same input gives the same bytes.
//!
//! Shapes carry a CSS class; the report's stylesheet gives them their colours.

use std::fmt::Write as _;

use super::escape::escape;

/// Formats a coordinate: one decimal at most, no trailing `.0`, never `-0`.
///
/// ```
/// use andon::report::svg::num;
/// assert_eq!(num(12.0), "12");
/// assert_eq!(num(3.14159), "3.1");
/// assert_eq!(num(-0.01), "0");
/// ```
pub fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let tenths = (v * 10.0).round() as i64;
    if tenths % 10 == 0 {
        format!("{}", tenths / 10)
    } else {
        format!(
            "{}{}.{}",
            if tenths < 0 { "-" } else { "" },
            (tenths / 10).abs(),
            (tenths % 10).abs()
        )
    }
}

/// Where text is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// At its start.
    Start,
    /// At its middle.
    Middle,
    /// At its end.
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Middle => "middle",
            Self::End => "end",
        }
    }
}

/// An SVG document being drawn.
#[derive(Debug)]
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    /// An empty drawing of `width` × `height` user units.
    pub fn new(width: f64, height: f64) -> Self {
        Self {
            width,
            height,
            body: String::new(),
        }
    }

    /// A rectangle, with an optional tooltip.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str, title: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<rect class="{}" x="{}" y="{}" width="{}" height="{}""#,
            escape(class),
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
        self.close("rect", title);
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = writeln!(
            self.body,
            r#"<line class="{}" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
            escape(class),
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        );
    }

    /// A polyline through `points`; consecutive points that print the same are merged.
    pub fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        let mut coords: Vec<String> = Vec::with_capacity(points.len());
        for &(x, y) in points {
            let p = format!("{},{}", num(x), num(y));
            if coords.last() != Some(&p) {
                coords.push(p);
            }
        }
        let _ = writeln!(
            self.body,
            r#"<polyline class="{}" points="{}"/>"#,
            escape(class),
            coords.join(" ")
        );
    }

    /// A circle, with an optional tooltip.
    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, class: &str, title: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<circle class="{}" cx="{}" cy="{}" r="{}""#,
            escape(class),
            num(cx),
            num(cy),
            num(r)
        );
        self.close("circle", title);
    }

    /// A diamond centred on (`cx`, `cy`), with an optional tooltip.
    pub fn diamond(&mut self, cx: f64, cy: f64, r: f64, class: &str, title: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<polygon class="{}" points="{},{} {},{} {},{} {},{}""#,
            escape(class),
            num(cx),
            num(cy - r),
            num(cx + r),
            num(cy),
            num(cx),
            num(cy + r),
            num(cx - r),
            num(cy)
        );
        self.close("polygon", title);
    }

    /// A line of text whose baseline starts, centres or ends at (`x`, `y`).
    pub fn text(&mut self, x: f64, y: f64, anchor: Anchor, class: &str, text: &str) {
        let _ = writeln!(
            self.body,
            r#"<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>"#,
            escape(class),
            num(x),
            num(y),
            anchor.as_str(),
            escape(text)
        );
    }

    /// The finished `<svg>` element for inline use in HTML (no `xmlns` needed there);
    /// `label` is its accessible name.
    pub fn finish(self, label: &str) -> String {
        format!(
            "<svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{label}\">\n{body}</svg>",
            w = num(self.width),
            h = num(self.height),
            label = escape(label),
            body = self.body
        )
    }

    fn close(&mut self, element: &str, title: Option<&str>) {
        match title {
            Some(t) => {
                let _ = writeln!(self.body, "><title>{}</title></{element}>", escape(t));
            }
            None => self.body.push_str("/>\n"),
        }
    }
}

/// A linear map from a domain to a range of user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Linear {
    /// Maps `d0..=d1` onto `r0..=r1` (`r1 < r0` for a y axis that grows upwards).
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        Self { d0, d1, r0, r1 }
    }

    /// Where `v` lands; the middle of the range when the domain is empty.
    pub fn map(&self, v: f64) -> f64 {
        if (self.d1 - self.d0).abs() < f64::EPSILON {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// A "nice" tick step (1, 2 or 5 × a power of ten) giving about `target` ticks over
/// `0..=max`, and the axis end: the first multiple of the step at or above `max`.
///
/// ```
/// use andon::report::svg::nice_axis;
/// assert_eq!(nice_axis(87.0, 5), (20.0, 100.0));
/// assert_eq!(nice_axis(0.0, 5), (1.0, 1.0));
/// ```
pub fn nice_axis(max: f64, target: usize) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 1.0);
    }
    let raw = max / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    let end = (max / step - 1e-9).ceil().max(1.0) * step;
    (step, end)
}

/// The ticks `0, step, 2·step, … ≤ end`.
pub fn ticks(step: f64, end: f64) -> Vec<f64> {
    let n = (end / step + 1e-9).floor() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A horizontal axis at `y`: the baseline over the range of `x`, and a tick mark and label
/// below it at each `(value, label)`.
pub fn x_axis(svg: &mut Svg, x: &Linear, y: f64, ticks: &[(f64, String)]) {
    svg.line(x.r0, y, x.r1, y, "axis");
    for (v, label) in ticks {
        let px = x.map(*v);
        svg.line(px, y, px, y + 4.0, "axis");
        svg.text(px, y + 16.0, Anchor::Middle, "tick", label);
    }
}

/// A vertical axis at `x0` with a light grid line to `x1` at each `(value, label)`.
pub fn y_axis(svg: &mut Svg, y: &Linear, x0: f64, x1: f64, ticks: &[(f64, String)]) {
    svg.line(x0, y.r0, x0, y.r1, "axis");
    for (v, label) in ticks {
        let py = y.map(*v);
        svg.line(x0, py, x1, py, "grid");
        svg.text(x0 - 6.0, py + 4.0, Anchor::End, "tick", label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_compactly_and_stably() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-2.25), "-2.3");
        assert_eq!(num(-0.5), "-0.5");
        assert_eq!(num(1234.56), "1234.6");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn nice_axes_round_up_to_one_two_five_steps() {
        assert_eq!(nice_axis(10.0, 5), (2.0, 10.0));
        assert_eq!(nice_axis(11.0, 5), (5.0, 15.0));
        assert_eq!(nice_axis(0.003, 4), (0.001, 0.003));
        assert_eq!(ticks(2.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn text_and_tooltips_are_escaped() {
        let mut svg = Svg::new(10.0, 10.0);
        svg.text(1.0, 2.0, Anchor::Start, "t", "a<b & \"c\"");
        svg.rect(0.0, 0.0, 1.0, 1.0, "r", Some("x>y"));
        let out = svg.finish("chart <1>");
        assert!(out.contains(">a&lt;b &amp; &quot;c&quot;</text>"));
        assert!(out.contains("<title>x&gt;y</title></rect>"));
        assert!(out.contains(r#"aria-label="chart &lt;1&gt;""#));
    }

    #[test]
    fn scales_map_linearly_and_tolerate_empty_domains() {
        let s = Linear::new(0.0, 10.0, 100.0, 0.0);
        assert_eq!(s.map(5.0), 50.0);
        assert_eq!(Linear::new(3.0, 3.0, 0.0, 10.0).map(3.0), 5.0);
    }
}
