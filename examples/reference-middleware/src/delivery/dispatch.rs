//! The dispatcher of one target: it claims the due heads of the outbox's aggregates, at
//! most one in flight per aggregate and `WORKERS` in all, and delivers them — only while
//! this instance holds the delivery lease ([`super::lease`]): the one-in-flight rule is
//! kept in memory, so one instance alone may deliver a shared outbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Delivery, Target};
use crate::store::{self, OutboxRow, now_ms};

impl Delivery {
    pub(super) async fn dispatch(
        self: Arc<Self>,
        target: Arc<Target>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tasks: JoinSet<String> = JoinSet::new();
        let mut inflight: HashSet<String> = HashSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while let Some(done) = tasks.try_join_next() {
                if let Ok(aggregate) = done {
                    inflight.remove(&aggregate);
                }
            }
            if tasks.is_empty() {
                // A task that panicked leaves its aggregate behind: forget it.
                inflight.clear();
            }
            let sleep = match target.paused_for() {
                Some(pause) => pause,
                // Another instance delivers the shared outbox; taking the lease wakes us.
                None if !self.lease.held() => self.settings.idle_poll,
                None => {
                    if self.claim(&target, &mut tasks, &mut inflight).await {
                        continue;
                    }
                    self.idle_sleep(&target).await
                }
            };
            tokio::select! {
                () = target.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(aggregate) = done {
                        inflight.remove(&aggregate);
                    }
                }
                () = tokio::time::sleep(sleep) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        // In-flight calls are abandoned: their rows stay pending and are retried with the
        // same key at the next start.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Claims the due heads of aggregates not in flight, as many as there are free
    /// workers, and starts their deliveries: whether any started.
    async fn claim(
        self: &Arc<Self>,
        target: &Arc<Target>,
        tasks: &mut JoinSet<String>,
        inflight: &mut HashSet<String>,
    ) -> bool {
        let free = self.settings.workers.saturating_sub(tasks.len());
        if free == 0 {
            return false;
        }
        let system = target.system;
        let limit = free + inflight.len();
        let rows = match self
            .store
            .call(move |c, _| store::claimable(c, system, now_ms(), limit))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox failed");
                return false;
            }
        };
        let fresh: Vec<OutboxRow> = rows
            .into_iter()
            .filter(|r| !inflight.contains(&r.aggregate))
            .take(free)
            .collect();
        let started = !fresh.is_empty();
        for row in fresh {
            inflight.insert(row.aggregate.clone());
            let me = self.clone();
            let t = target.clone();
            tasks.spawn(async move {
                let aggregate = row.aggregate.clone();
                me.deliver(&t, row).await;
                aggregate
            });
        }
        started
    }

    /// How long an idle dispatcher sleeps: until the next row becomes due, at most
    /// `idle_poll` — and at most the lease's `peer_poll` while other instances share the
    /// store, as the commands they store do not wake this one.
    async fn idle_sleep(&self, target: &Target) -> Duration {
        let mut sleep = self.settings.idle_poll;
        if self.lease.has_peers() {
            sleep = sleep.min(self.lease.peer_poll());
        }
        let system = target.system;
        if let Ok(Some(due)) = self
            .store
            .call(move |c, _| store::next_due(c, system, now_ms()))
            .await
        {
            let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
            sleep = sleep.min(wait.max(Duration::from_millis(5)));
        }
        sleep
    }
}
