//! Reading a threshold: metric, comparison, limit with its unit, and the optional `on …`,
//! each mistake reported at its column.

use std::str::FromStr;

use super::{Latency, MAX_LATENCY, Metric, Op, Stat, Threshold, ThresholdError};

/// A cursor over the text that knows its column.
struct Cursor<'a> {
    /// The whole threshold.
    text: &'a str,
    /// Byte offset of what is read next.
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Skips spaces.
    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// What is left to read.
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// The 1-based column of what is read next.
    fn column(&self) -> usize {
        self.text[..self.pos].chars().count() + 1
    }

    /// A refusal at the current column.
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ThresholdError> {
        Err(ThresholdError {
            text: self.text.to_string(),
            column: self.column(),
            message: message.into(),
        })
    }

    /// Takes `word` (case-insensitive) followed by a space or the end.
    fn word(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        let n = word.len();
        let matches = rest.len() >= n
            && rest.is_char_boundary(n)
            && rest[..n].eq_ignore_ascii_case(word)
            && rest[n..].chars().next().is_none_or(char::is_whitespace);
        if matches {
            self.pos += n;
        }
        matches
    }

    /// Takes the next run of non-space characters.
    fn token(&mut self) -> &'a str {
        self.skip_ws();
        let rest = self.rest();
        let n = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    /// Takes a comparison.
    fn op(&mut self) -> Result<Op, ThresholdError> {
        self.skip_ws();
        for (sym, op) in [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("≤", Op::Le),
            ("≥", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.rest().starts_with(sym) {
                self.pos += sym.len();
                return Ok(op);
            }
        }
        self.fail("expected a comparison: <, <=, > or >=")
    }

    /// A number and what follows it (its unit, spaces allowed between).
    fn number(&mut self) -> Result<(f64, &'a str), ThresholdError> {
        self.skip_ws();
        let rest = self.rest();
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let Ok(x) = rest[..n].parse::<f64>() else {
            return self.fail("expected a number");
        };
        self.pos += n;
        self.skip_ws();
        let rest = self.rest();
        let u = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        self.pos += u;
        Ok((x, &rest[..u]))
    }
}

/// A statistic by name: `mean`, `avg`, `max`, `median` or `pNN[.N]`.
fn stat(s: &str) -> Option<Stat> {
    let s = s.to_ascii_lowercase();
    match s.as_str() {
        "mean" | "avg" => Some(Stat::Mean),
        "max" => Some(Stat::Max),
        "median" => Some(Stat::Percentile(50.0)),
        _ => {
            let p: f64 = s.strip_prefix('p')?.parse().ok()?;
            (p > 0.0 && p <= 100.0).then_some(Stat::Percentile(p))
        }
    }
}

impl Cursor<'_> {
    /// Reads the metric: `error rate`, `throughput`, or a latency statistic (optionally
    /// after `ingress`).
    fn metric(&mut self) -> Result<Metric, ThresholdError> {
        if self.word("error") {
            if !self.word("rate") {
                return self.fail("expected \"rate\" after \"error\"");
            }
            return Ok(Metric::ErrorRate);
        }
        if self.word("throughput") {
            return Ok(Metric::Throughput);
        }
        let which = if self.word("ingress") {
            Latency::Ingress
        } else {
            Latency::EndToEnd
        };
        let before = self.pos;
        let word = self.token();
        match stat(word) {
            Some(s) => Ok(Metric::Latency(which, s)),
            None => {
                self.pos = before;
                self.skip_ws();
                self.fail(format!(
                    "unknown metric {word:?}, expected p50, p95, p99, p99.9, mean, max \
                     (optionally after \"ingress\"), \"error rate\" or \"throughput\""
                ))
            }
        }
    }

    /// Reads the limit with its unit, in the metric's own measure (see [`Metric`]); a
    /// mistake is reported at the start of the number.
    fn limit(&mut self, metric: Metric) -> Result<f64, ThresholdError> {
        self.skip_ws();
        let at_value = self.pos;
        let (x, unit) = self.number()?;
        let limit = if !x.is_finite() || x < 0.0 {
            Err(LimitError::NotFinite(x))
        } else {
            match metric {
                Metric::Latency(..) => latency_limit(x, unit),
                Metric::ErrorRate => error_rate_limit(x, unit),
                Metric::Throughput => throughput_limit(x, unit),
            }
        };
        limit.or_else(|e| {
            self.pos = at_value;
            self.fail(e.to_string())
        })
    }

    /// Reads the optional `on <route or system>` to the end of the text.
    fn on(&mut self, metric: Metric) -> Result<Option<String>, ThresholdError> {
        if !self.word("on") {
            return Ok(None);
        }
        self.skip_ws();
        let on = self.rest().trim();
        if on.is_empty() {
            return self.fail("expected a route (mes.consumed -> erp) or a system after \"on\"");
        }
        if metric == Metric::ErrorRate {
            return self.fail("an error rate is over the whole run: drop \"on ...\"");
        }
        self.pos = self.text.len();
        Ok(Some(on.split_whitespace().collect::<Vec<_>>().join(" ")))
    }
}

/// What is wrong with a limit as written (its number and unit).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum LimitError {
    /// A negative, infinite or NaN number.
    #[error("expected a finite number of at least 0, found {0}")]
    NotFinite(f64),
    /// A latency without a known unit.
    #[error("a latency needs a unit: us, ms, s or m (found {0:?})")]
    LatencyUnit(String),
    /// A latency longer than [`MAX_LATENCY`].
    #[error("a latency bound is at most 30 days (found {x}{unit})")]
    LatencyTooLong {
        /// The number.
        x: f64,
        /// Its unit.
        unit: String,
    },
    /// An error rate with a unit other than `%`.
    #[error("an error rate is a percentage such as \"0.1 %\" (found {0:?})")]
    ErrorRateUnit(String),
    /// An error rate outside 0 to 100 %.
    #[error(
        "an error rate is between 0 % and 100 % (found {x}{unit}): a bound outside it judges nothing"
    )]
    ErrorRateRange {
        /// The number.
        x: f64,
        /// Its unit.
        unit: String,
    },
    /// A throughput that is not per second or per minute.
    #[error("a throughput is a rate such as \"2000/s\" or \"90000/min\" (found {0:?})")]
    ThroughputUnit(String),
}

/// A latency bound `x` `unit` in microseconds.
fn latency_limit(x: f64, unit: &str) -> Result<f64, LimitError> {
    let per = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        _ => return Err(LimitError::LatencyUnit(unit.to_string())),
    };
    let us = x * per;
    // Beyond the longest run andon takes, a latency bound judges nothing.
    if us > MAX_LATENCY.as_secs_f64() * 1e6 {
        return Err(LimitError::LatencyTooLong {
            x,
            unit: unit.to_string(),
        });
    }
    Ok(us)
}

/// An error-rate bound `x` `unit` (`%` or none) as a fraction.
fn error_rate_limit(x: f64, unit: &str) -> Result<f64, LimitError> {
    let rate = match unit {
        "%" => x / 100.0,
        "" => x,
        _ => return Err(LimitError::ErrorRateUnit(unit.to_string())),
    };
    // Over 100 % (or under 0) the threshold holds or fails whatever happens.
    if !(0.0..=1.0).contains(&rate) {
        return Err(LimitError::ErrorRateRange {
            x,
            unit: unit.to_string(),
        });
    }
    Ok(rate)
}

/// A throughput bound `x` `unit` per second.
fn throughput_limit(x: f64, unit: &str) -> Result<f64, LimitError> {
    match unit {
        "/s" => Ok(x),
        "/min" | "/m" => Ok(x / 60.0),
        _ => Err(LimitError::ThroughputUnit(unit.to_string())),
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    /// Reads metric, comparison, limit and the optional `on …`, in that order.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut c = Cursor { text, pos: 0 };
        let metric = c.metric()?;
        let op = c.op()?;
        let limit = c.limit(metric)?;
        let on = c.on(metric)?;
        c.skip_ws();
        if !c.rest().is_empty() {
            return c.fail(format!("unexpected {:?}", c.rest()));
        }
        Ok(Self {
            text: text.trim().to_string(),
            metric,
            op,
            limit,
            on,
        })
    }
}
