//! The delivery lease as this instance keeps it. Instances started on one `DATA_DIR` share
//! one store: all of them take events in (HTTP and MQTT), but only the holder of the lease
//! ([`crate::store::lease`]) delivers the outbox, so the one-in-flight-per-aggregate rule,
//! kept in the holder's memory, keeps each lot's and order's commands in order.
//!
//! The holder renews the lease every `LEASE_RENEW_EVERY` for `LEASE_TTL`; the others try to
//! take it as often and do when it is free (a holder stopped cleanly gives it up) or has
//! expired (a holder killed or hung). The lease is held under the instance's stable name
//! (`MQTT_CLIENT_ID`), so an instance started again under its name takes it back at once.
//! A holder whose renewal fails, or comes too late, starts no delivery from then on (calls
//! already under way finish; a row they leave pending is sent again, under the same
//! idempotency key, by the next holder).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Delivery;
use crate::config::LeaseConfig;
use crate::store::lease::{self, LeaseRow};
use crate::store::now_ms;

/// What this instance knows of the lease.
#[derive(Debug, Default)]
struct Known {
    /// Until when this instance may start deliveries (`None`: it does not hold the lease).
    valid_until: Option<Instant>,
    /// The holder at the last look.
    holder: Option<String>,
    /// Whether another instance shares the store (seen at the last look).
    peers: bool,
}

/// The delivery lease of this instance.
#[derive(Debug)]
pub struct Lease {
    name: String,
    config: LeaseConfig,
    known: Mutex<Known>,
}

impl Lease {
    /// The lease held under `name`, with `config`'s timing.
    pub fn new(name: impl Into<String>, config: LeaseConfig) -> Self {
        Self {
            name: name.into(),
            config,
            known: Mutex::new(Known::default()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name it is held under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this instance holds it now (and may start deliveries).
    pub fn held(&self) -> bool {
        self.known()
            .valid_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// The holder at the last look.
    pub fn holder(&self) -> Option<String> {
        self.known().holder.clone()
    }

    /// Whether other instances shared the store at the last look.
    pub fn has_peers(&self) -> bool {
        self.known().peers
    }

    /// Longest idle sleep of a holder's dispatcher while other instances share the store.
    pub fn peer_poll(&self) -> Duration {
        self.config.peer_poll
    }

    /// Whether the store's shared backlog is this instance's to report: when it holds the
    /// lease, or nobody validly does (`row` read now) — rather counted twice than not at
    /// all while a takeover is under way.
    pub fn reports_shared(&self, row: &LeaseRow) -> bool {
        self.held() || row.holder.as_deref().is_none_or(|h| h == self.name)
    }

    /// `/stats`: `delivery_lease` (held), `delivery_lease_holder` (a name or null).
    pub fn to_json(&self, row: &LeaseRow) -> (Value, Value) {
        (json!(self.held()), json!(row.holder))
    }

    /// Records a look at `at`: whether it is held, and the row read after.
    fn record(&self, at: Instant, held: bool, row: &LeaseRow, now: i64) -> bool {
        let mut k = self.known();
        let was = k.valid_until.is_some_and(|until| Instant::now() < until);
        k.valid_until = held.then(|| at + self.config.ttl);
        k.holder = row.holder.clone();
        let window = i64::try_from(self.config.ttl.as_millis() * 2).unwrap_or(i64::MAX);
        k.peers = !held || row.contended_ms >= now.saturating_sub(window);
        if held != was {
            tracing::info!(
                instance = %self.name,
                holder = row.holder.as_deref().unwrap_or(""),
                "{}",
                if held { "took the delivery lease: delivering" } else { "not holding the delivery lease: delivering nothing" }
            );
        }
        held && !was
    }
}

impl Delivery {
    /// The delivery lease of this instance.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Takes or renews the lease once; when it was just taken, wakes every dispatcher to
    /// deliver what is pending. Whether this instance holds it.
    pub async fn try_lease(&self) -> bool {
        let at = Instant::now();
        let me = self.lease.name.clone();
        let ttl = i64::try_from(self.lease.config.ttl.as_millis()).unwrap_or(i64::MAX);
        let taken = self
            .store
            .call(move |c, _| {
                let now = now_ms();
                let held = lease::take(c, &me, now, ttl)?;
                Ok((held, lease::current(c, now)?, now))
            })
            .await;
        match taken {
            Ok((held, row, now)) => {
                if self.lease.record(at, held, &row, now) {
                    for t in self.targets.values() {
                        t.wake.notify_one();
                    }
                }
                held
            }
            Err(e) => {
                // The lease runs out by itself (`held` turns false at its expiry).
                tracing::warn!(error = %e, "renewing the delivery lease failed");
                self.lease.held()
            }
        }
    }

    /// Gives the lease up, when held (a clean stop), so that another instance takes it
    /// over at its next try.
    pub async fn release_lease(&self) {
        let me = self.lease.name.clone();
        self.lease.known().valid_until = None;
        if let Err(e) = self.store.call(move |c, _| lease::release(c, &me)).await {
            tracing::warn!(error = %e, "giving up the delivery lease failed");
        }
    }

    /// Takes or renews the lease every `renew_every` until `stop`.
    pub(super) async fn keep_lease(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.lease.config.renew_every) => {}
                _ = stop.changed() => return,
            }
            self.try_lease().await;
        }
    }
}
