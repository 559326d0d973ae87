//! The load profile as a function of wall time: what the open-model load driver asks for
//! every tick.
//!
//! Each phase leaves a *level* behind it, the rate in force once it is over:
//!
//! | shape | while its `for` runs (`d` since `at`) | afterwards (its level) |
//! |---|---|---|
//! | constant, no `for` | its rate | its rate |
//! | constant, `for` | its rate | the level before it |
//! | ramp, `for` | linear from the level before it to its rate | its rate |
//! | spike, `for` | its rate for the first 20 % of `for`, then the level before | the level before it |
//!
//! Before the first phase and from `duration` on the rate is 0. The loader refuses
//! phases out of order or overlapping (a phase starting while the one before still runs
//! its `for`), so "the level before" is always the rate just before the phase starts.

use std::time::Duration;

use super::model::{LoadPhase, Shape};

/// Share of a spike's `for` spent at the spike's rate.
pub const SPIKE_SHARE: f64 = 0.2;

/// Steps per second at wall time `t` (never negative, never NaN).
pub fn rate_at(phases: &[LoadPhase], duration: Duration, t: Duration) -> f64 {
    if t >= duration {
        return 0.0;
    }
    let mut level = 0.0_f64;
    let mut now = 0.0_f64;
    for p in phases {
        if p.at.0 > t {
            break;
        }
        let d = t - p.at.0;
        let rate = if p.rate.0.is_finite() {
            p.rate.0.max(0.0)
        } else {
            0.0
        };
        let before = level;
        (now, level) = match (p.shape, p.for_.map(|f| f.0)) {
            (Shape::Constant, None) | (_, Some(Duration::ZERO)) => (rate, rate),
            (Shape::Constant, Some(f)) => (if d < f { rate } else { before }, before),
            (Shape::Ramp, Some(f)) => {
                let x = if d < f {
                    before + (rate - before) * (d.as_secs_f64() / f.as_secs_f64())
                } else {
                    rate
                };
                (x, rate)
            }
            (Shape::Spike, Some(f)) => {
                let high = d.as_secs_f64() < f.as_secs_f64() * SPIKE_SHARE;
                (if high { rate } else { before }, before)
            }
            // Refused by the loader; read as a constant rate.
            (Shape::Ramp | Shape::Spike, None) => (rate, rate),
        };
    }
    if now.is_finite() { now.max(0.0) } else { 0.0 }
}

/// Steps the profile asks for over the whole load, summed in 10 ms ticks as the load
/// driver schedules them.
pub fn expected_steps(phases: &[LoadPhase], duration: Duration) -> f64 {
    let tick = Duration::from_millis(10);
    let mut t = Duration::ZERO;
    let mut total = 0.0;
    while t < duration {
        total += rate_at(phases, duration, t) * tick.as_secs_f64();
        t += tick;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Rate;
    use andon_simulators::faults::Dur;
    use proptest::prelude::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    fn phase(at: f64, rate: f64, for_: Option<f64>, shape: Shape) -> LoadPhase {
        LoadPhase {
            at: Dur(s(at)),
            for_: for_.map(|f| Dur(s(f))),
            rate: Rate(rate),
            shape,
            per: Default::default(),
        }
    }

    #[test]
    fn constant_phases_hold_their_rate_until_the_next() {
        let p = [
            phase(0.0, 50.0, None, Shape::Constant),
            phase(20.0, 80.0, None, Shape::Constant),
        ];
        assert_eq!(rate_at(&p, s(60.0), s(0.0)), 50.0);
        assert_eq!(rate_at(&p, s(60.0), s(19.99)), 50.0);
        assert_eq!(rate_at(&p, s(60.0), s(20.0)), 80.0);
        assert_eq!(rate_at(&p, s(60.0), s(59.9)), 80.0);
        assert_eq!(rate_at(&p, s(60.0), s(60.0)), 0.0);
    }

    #[test]
    fn a_constant_burst_with_for_returns_to_the_rate_before() {
        let p = [
            phase(0.0, 50.0, None, Shape::Constant),
            phase(20.0, 500.0, Some(10.0), Shape::Constant),
        ];
        assert_eq!(rate_at(&p, s(60.0), s(25.0)), 500.0);
        assert_eq!(rate_at(&p, s(60.0), s(30.0)), 50.0);
    }

    #[test]
    fn a_ramp_is_linear_from_the_level_before_and_then_stays() {
        let p = [
            phase(0.0, 10.0, None, Shape::Constant),
            phase(10.0, 110.0, Some(10.0), Shape::Ramp),
        ];
        assert_eq!(rate_at(&p, s(60.0), s(10.0)), 10.0);
        assert!((rate_at(&p, s(60.0), s(15.0)) - 60.0).abs() < 1e-9);
        assert_eq!(rate_at(&p, s(60.0), s(20.0)), 110.0);
        assert_eq!(rate_at(&p, s(60.0), s(40.0)), 110.0);
    }

    #[test]
    fn a_spike_lasts_the_first_fifth_of_its_for() {
        let p = [
            phase(0.0, 20.0, None, Shape::Constant),
            phase(10.0, 300.0, Some(10.0), Shape::Spike),
        ];
        assert_eq!(rate_at(&p, s(60.0), s(11.9)), 300.0);
        assert_eq!(rate_at(&p, s(60.0), s(12.0)), 20.0);
        assert_eq!(rate_at(&p, s(60.0), s(25.0)), 20.0);
    }

    #[test]
    fn nothing_before_the_first_phase_and_expected_steps_add_up() {
        let p = [phase(5.0, 10.0, None, Shape::Constant)];
        assert_eq!(rate_at(&p, s(10.0), s(4.0)), 0.0);
        assert!((expected_steps(&p, s(10.0)) - 50.0).abs() < 0.2);
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![Just(Shape::Constant), Just(Shape::Ramp), Just(Shape::Spike)]
    }

    /// Valid profiles: ordered, non-overlapping phases inside the duration.
    fn profile() -> impl Strategy<Value = (Vec<LoadPhase>, f64)> {
        prop::collection::vec(
            (
                0.1f64..20.0,
                0.01f64..1000.0,
                prop::option::of(0.1f64..1.0),
                shape(),
            ),
            1..8,
        )
        .prop_map(|raw| {
            let mut t = 0.0;
            let mut out = Vec::new();
            for (gap, rate, share, shape) in raw {
                let for_ = match shape {
                    Shape::Constant => share.map(|x| x * gap),
                    _ => Some(share.unwrap_or(0.5) * gap),
                };
                out.push(phase(t, rate, for_, shape));
                t += gap;
            }
            (out, t)
        })
    }

    proptest! {
        #[test]
        fn the_rate_is_never_negative_and_stays_within_the_phase_rates(
            (phases, duration) in profile(),
            x in 0.0f64..1.2,
        ) {
            let t = s(duration * x);
            let r = rate_at(&phases, s(duration), t);
            let max = phases.iter().map(|p| p.rate.0).fold(0.0, f64::max);
            prop_assert!(r >= 0.0 && r.is_finite());
            prop_assert!(r <= max + 1e-9);
            if t >= s(duration) {
                prop_assert_eq!(r, 0.0);
            }
        }

        #[test]
        fn a_constant_phase_without_for_is_exactly_its_rate(
            (phases, duration) in profile(),
            x in 0.0f64..1.0,
        ) {
            let t = s(duration * x);
            let current = phases.iter().rev().find(|p| p.at.0 <= t);
            if let Some(p) = current
                && p.shape == Shape::Constant
                && p.for_.is_none()
            {
                prop_assert_eq!(rate_at(&phases, s(duration), t), p.rate.0);
            }
        }

        #[test]
        fn a_ramp_stays_between_its_endpoints(
            (phases, duration) in profile(),
            x in 0.0f64..1.0,
        ) {
            let t = s(duration * x);
            let idx = phases.iter().rposition(|p| p.at.0 <= t);
            if let Some(i) = idx
                && phases[i].shape == Shape::Ramp
            {
                let before = if i == 0 {
                    0.0
                } else {
                    rate_at(&phases, s(duration), phases[i].at.0 - Duration::from_nanos(1))
                };
                let r = rate_at(&phases, s(duration), t);
                let (lo, hi) = (before.min(phases[i].rate.0), before.max(phases[i].rate.0));
                prop_assert!(r >= lo - 1e-6 && r <= hi + 1e-6, "{r} not in [{lo}, {hi}]");
            }
        }

        #[test]
        fn unordered_or_odd_phases_never_panic_or_go_negative(
            raw in prop::collection::vec((0.0f64..100.0, -10.0f64..100.0, prop::option::of(0.0f64..50.0), shape()), 0..6),
            t in 0.0f64..120.0,
        ) {
            let phases: Vec<_> = raw.into_iter().map(|(a, r, f, sh)| phase(a, r, f, sh)).collect();
            let r = rate_at(&phases, s(100.0), s(t));
            prop_assert!(r >= 0.0 && r.is_finite());
        }
    }
}
