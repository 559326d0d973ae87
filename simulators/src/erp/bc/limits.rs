//! Business Central's documented request limits, per plant (one integration user per
//! company): requests in a sliding window, requests processed at once and queued beyond
//! those. A request over a limit is answered 429 with `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use andon_contracts::PlantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::contract::{Limits, limits};
use super::error::BcError;

/// The limits of every plant.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    plants: Mutex<HashMap<PlantId, Arc<PlantLimits>>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(limits().clone())
    }
}

/// One plant's window and its processing slots.
#[derive(Debug)]
struct PlantLimits {
    window: Mutex<VecDeque<Instant>>,
    slots: Arc<Semaphore>,
    /// Requests processed or queued.
    waiting: AtomicUsize,
}

/// A request admitted: holds its processing slot.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    plant: Arc<PlantLimits>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.plant.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes one from `waiting` if the request leaves before it is admitted.
struct Queued(Option<Arc<PlantLimits>>);

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Limiter {
    /// A limiter with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            plants: Mutex::default(),
        }
    }

    fn plant(&self, plant: &PlantId) -> Arc<PlantLimits> {
        let mut plants = self.plants.lock().unwrap_or_else(|e| e.into_inner());
        plants
            .entry(plant.clone())
            .or_insert_with(|| {
                Arc::new(PlantLimits {
                    window: Mutex::default(),
                    slots: Arc::new(Semaphore::new((self.limits.max_concurrent as usize).max(1))),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Admits a request of `plant`, waiting for a processing slot; 429 over a limit.
    pub async fn admit(&self, plant: &PlantId) -> Result<Permit, BcError> {
        let p = self.plant(plant);
        self.count(&p)?;
        let most = (self.limits.max_concurrent + self.limits.max_queued) as usize;
        if p.waiting.fetch_add(1, Ordering::SeqCst) >= most {
            p.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(BcError::too_many(
                format!("More than {most} requests of this user are being processed or queued"),
                self.limits.retry_after_seconds,
            ));
        }
        let mut queued = Queued(Some(p.clone()));
        let slot = p.slots.clone().acquire_owned().await;
        queued.0 = None;
        match slot {
            Ok(slot) => Ok(Permit {
                _slot: slot,
                plant: p,
            }),
            Err(_) => {
                p.waiting.fetch_sub(1, Ordering::SeqCst);
                Err(BcError::too_many("The service is shutting down", 1))
            }
        }
    }

    /// Counts the request in the plant's sliding window.
    fn count(&self, p: &PlantLimits) -> Result<(), BcError> {
        let now = Instant::now();
        let span = self.limits.window();
        let mut w = p.window.lock().unwrap_or_else(|e| e.into_inner());
        while w.front().is_some_and(|t| now.duration_since(*t) >= span) {
            w.pop_front();
        }
        if w.len() >= self.limits.requests_per_window as usize {
            let oldest = w.front().copied().unwrap_or(now);
            let wait = span.saturating_sub(now.duration_since(oldest));
            return Err(BcError::too_many(
                format!(
                    "Too many requests: {} in {} seconds",
                    self.limits.requests_per_window,
                    span.as_secs()
                ),
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                    .max(self.limits.retry_after_seconds),
            ));
        }
        w.push_back(now);
        Ok(())
    }
}

/// The documented limits with another window, for tests.
pub fn scaled(requests: u32, window: Duration, concurrent: u32, queued: u32) -> Limits {
    Limits {
        requests_per_window: requests,
        window_seconds: window.as_secs(),
        max_concurrent: concurrent,
        max_queued: queued,
        ..limits().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant() -> PlantId {
        PlantId::parse("1000").unwrap()
    }

    #[tokio::test]
    async fn requests_beyond_the_window_are_answered_429_with_retry_after() {
        let l = Limiter::new(scaled(3, Duration::from_secs(300), 5, 95));
        for _ in 0..3 {
            drop(l.admit(&plant()).await.unwrap());
        }
        let e = l.admit(&plant()).await.unwrap_err();
        assert_eq!(e.status, 429);
        assert!(e.retry_after.unwrap() >= 299, "{e:?}");
        let other = PlantId::parse("2000").unwrap();
        assert!(
            l.admit(&other).await.is_ok(),
            "each plant has its own window"
        );
    }

    #[tokio::test]
    async fn requests_beyond_processing_and_queue_are_refused() {
        let l = Limiter::new(scaled(100, Duration::from_secs(300), 1, 1));
        let held = l.admit(&plant()).await.unwrap();
        let l2 = Arc::new(l);
        let l3 = l2.clone();
        let queued = tokio::spawn(async move { l3.admit(&plant()).await.map(drop) });
        // The second request waits for the slot; a third finds no room.
        while l2.plant(&plant()).waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let e = l2.admit(&plant()).await.unwrap_err();
        assert_eq!(e.status, 429);
        drop(held);
        assert!(queued.await.unwrap().is_ok());
    }
}
