//! Settling by quiescence: after the load, wait until nothing has happened for a quiet
//! period and every emitter's buffer is empty — up to the settle limit, never a fixed sleep.

use std::time::Duration;

use tokio::time::Instant;

/// How settling ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// Quiet and drained, after this long.
    Quiet {
        /// Time spent settling, in milliseconds.
        after_ms: u64,
    },
    /// The limit passed with work still pending.
    Limit {
        /// Events still pending in the emitters.
        pending: usize,
    },
}

/// Waits for quiescence: `activity()` returns a counter that grows with every history
/// record, `pending()` the events waiting in emitters. Quiet means the counter did not move
/// for `quiet` and nothing is pending.
pub async fn settle(
    limit: Duration,
    quiet: Duration,
    mut activity: impl FnMut() -> usize,
    mut pending: impl FnMut() -> usize,
) -> Settled {
    let start = Instant::now();
    let mut last = activity();
    let mut since = Instant::now();
    loop {
        let now = Instant::now();
        let a = activity();
        if a != last {
            last = a;
            since = now;
        }
        let p = pending();
        if p == 0 && now.duration_since(since) >= quiet {
            return Settled::Quiet {
                after_ms: now.duration_since(start).as_millis() as u64,
            };
        }
        if now.duration_since(start) >= limit {
            return Settled::Limit { pending: p };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn returns_once_quiet_and_drained() {
        let n = Cell::new(0usize);
        let r = settle(
            Duration::from_secs(30),
            Duration::from_millis(500),
            || {
                let v = n.get();
                if v < 10 {
                    n.set(v + 1);
                }
                v
            },
            || 0,
        )
        .await;
        assert!(
            matches!(r, Settled::Quiet { after_ms } if after_ms < 2_000),
            "{r:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_limit_with_pending_work() {
        let r = settle(
            Duration::from_secs(2),
            Duration::from_millis(100),
            || 0,
            || 3,
        )
        .await;
        assert_eq!(r, Settled::Limit { pending: 3 });
    }
}
