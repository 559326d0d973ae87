//! Business time: wall time since the run started, stretched by `time_scale`.
//! SLA latencies are always wall time; only business timestamps are scaled.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use tokio::time::Instant;

/// The default business start: Monday 2 November 2026, 06:00 UTC (early shift).
pub fn default_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A clock that maps wall time to business time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: Instant,
    start: DateTime<Utc>,
    scale: f64,
}

impl Clock {
    /// Business time starts at `start` now and runs `scale` times faster than wall time.
    pub fn new(start: DateTime<Utc>, scale: f64) -> Self {
        Self {
            started: Instant::now(),
            start,
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    /// Business time now.
    pub fn now(&self) -> DateTime<Utc> {
        let wall = self.started.elapsed().as_secs_f64() * self.scale;
        // `as` saturates; the addition is checked: however large the scale, never a panic,
        // time stops at the end of what a date can hold.
        let ms = chrono::Duration::try_milliseconds((wall * 1000.0) as i64)
            .unwrap_or(chrono::Duration::MAX);
        self.start
            .checked_add_signed(ms)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Today's business date (posting date).
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(default_start(), 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_scale_saturates_instead_of_panicking() {
        let c = Clock::new(default_start(), 1e300);
        assert!(c.now() >= default_start());
        let _ = c.today();
    }
}
