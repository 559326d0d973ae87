//! The MQTT consumer's counters, shown under `mqtt` in `GET /stats`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

/// What the MQTT consumer has seen and done since it started.
#[derive(Debug, Default)]
pub struct MqttStats {
    /// Connected to the broker and subscribed.
    pub connected: AtomicBool,
    /// Subscribed at least once since the start (the middleware is not ready before: a
    /// plant publishing meanwhile would reach no one).
    pub subscribed: AtomicBool,
    /// Messages received (every PUBLISH, retained ones included).
    pub received: AtomicU64,
    /// Events stored (committed) for the first time.
    pub stored: AtomicU64,
    /// Events already in the inbox (same `source` + `id`).
    pub duplicates: AtomicU64,
    /// Messages refused (not a CloudEvent, or one the ingress refuses): dead-lettered.
    pub refused: AtomicU64,
    /// Retained messages acknowledged and left alone.
    pub retained_ignored: AtomicU64,
    /// Connections made again after the first one was lost.
    pub reconnects: AtomicU64,
}

impl MqttStats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "connected": self.connected.load(Ordering::Relaxed),
            "received": n(&self.received),
            "stored": n(&self.stored),
            "duplicates": n(&self.duplicates),
            "refused": n(&self.refused),
            "retained_ignored": n(&self.retained_ignored),
            "reconnects": n(&self.reconnects),
        })
    }
}
