//! The open-model load driver: plant activity is stepped at the arrival rate of the
//! scenario's load profile, at its scheduled time, whether or not earlier work was
//! answered. Which system takes a step is drawn from the mix with the run's seed.

use std::time::Duration;

use andon_contracts::System;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

pub use crate::scenario::Mix;

impl Mix {
    /// Draws a system.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> System {
        let total = (self.erp + self.mes + self.qms + self.wms).max(f64::MIN_POSITIVE);
        let x = rng.random::<f64>() * total;
        if x < self.erp {
            System::Erp
        } else if x < self.erp + self.mes {
            System::Mes
        } else if x < self.erp + self.mes + self.qms {
            System::Qms
        } else {
            System::Wms
        }
    }
}

pub use crate::history::LoadStats;

/// Runs the load for `duration`: `rate_at(t)` steps per second at wall time `t`, each
/// handed to `step(system)`, which returns the events it emitted. `on_tick` is called
/// every 10 ms with the elapsed time (the fault scheduler and progress use it).
pub async fn drive(
    duration: Duration,
    seed: u64,
    mix: Mix,
    rate_at: impl Fn(Duration) -> f64,
    mut step: impl FnMut(System) -> usize,
    mut on_tick: impl FnMut(Duration),
) -> LoadStats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x10AD);
    let start = Instant::now();
    let tick = Duration::from_millis(10);
    let mut stats = LoadStats::default();
    // Fractional steps carry over between ticks, so low rates are honoured exactly.
    let mut owed = 0.0f64;
    let mut next = start;
    loop {
        let t = next.duration_since(start);
        if t >= duration {
            break;
        }
        tokio::time::sleep_until(next).await;
        let lateness = Instant::now().saturating_duration_since(next);
        on_tick(t);
        owed += rate_at(t).max(0.0) * tick.as_secs_f64();
        // A tolerance keeps sums like 100 × 0.1 from falling a hair short of whole steps.
        while owed >= 1.0 - 1e-9 {
            owed -= 1.0;
            stats.scheduled += 1;
            if lateness > Duration::from_millis(100) {
                stats.late += 1;
            }
            stats.max_lateness_ms = stats.max_lateness_ms.max(lateness.as_millis() as u64);
            stats.emitted += step(mix.draw(&mut rng)) as u64;
        }
        next += tick;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn schedules_the_rate_over_the_duration() {
        let mut steps = 0;
        let stats = drive(
            Duration::from_secs(2),
            1,
            Mix::default(),
            |_| 50.0,
            |_| {
                steps += 1;
                1
            },
            |_| {},
        )
        .await;
        assert_eq!(stats.scheduled, 100);
        assert_eq!(steps, 100);
        assert_eq!(stats.late, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn follows_a_changing_rate() {
        let stats = drive(
            Duration::from_secs(2),
            1,
            Mix::default(),
            |t| {
                if t < Duration::from_secs(1) {
                    10.0
                } else {
                    100.0
                }
            },
            |_| 0,
            |_| {},
        )
        .await;
        assert_eq!(stats.scheduled, 110);
    }

    #[test]
    fn the_mix_is_seeded_and_proportional() {
        let mut a = ChaCha8Rng::seed_from_u64(3);
        let mut b = ChaCha8Rng::seed_from_u64(3);
        let mix = Mix::default();
        let xs: Vec<_> = (0..1000).map(|_| mix.draw(&mut a)).collect();
        let ys: Vec<_> = (0..1000).map(|_| mix.draw(&mut b)).collect();
        assert_eq!(xs, ys);
        let mes = xs.iter().filter(|s| **s == System::Mes).count();
        assert!((500..700).contains(&mes), "{mes}");
    }
}
