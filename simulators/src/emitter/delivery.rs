//! Delivery: one task per lane takes the next event of its lane, posts it to the ingress
//! within the timeout, records the attempt, and retries with backoff, duplicates or moves
//! on as the answer and the faults in force say.

use super::*;

/// How one delivery attempt ended.
enum Attempt {
    /// Acknowledged with 2xx.
    Delivered,
    /// Rejected with a 4xx other than 408 and 429.
    Rejected,
    /// To be tried again, after `Retry-After` if the answer gave one.
    Retry(Option<Duration>),
    /// Not sent: the wire form dropped it.
    Dropped,
}

/// The ingress URL as last parsed (once per URL, not per request): the URL and its target,
/// or why events cannot be delivered to it.
type Parsed = Option<(String, Result<Target, IngressError>)>;

/// The task of one lane: takes the lane's next event while there is an ingress, attempts
/// its delivery on the lane's own connection and settles it (delivered, rejected, or back
/// at the head of the lane to retry after a backoff); waits for a change when there is
/// nothing to send. Ends when the emitter is gone.
pub(super) async fn lane_loop(weak: std::sync::Weak<Inner>, lane: usize) {
    let mut faults_changed = match weak.upgrade() {
        Some(i) => i.faults.changes(),
        None => return,
    };
    let mut parsed: Parsed = None;
    let mut connection = LaneConnection::default();
    let mut expiry = Expiry::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        reparse(&inner, &mut parsed);
        // Without an ingress the events stay queued (taking one would lose it).
        let next = if parsed.is_some() {
            take(&inner, lane)
        } else {
            None
        };
        let (Some((url, target)), Some(mut item)) = (parsed.as_ref(), next) else {
            // Nothing to send, no ingress, or partitioned: wait for a change.
            wait_for_change(inner, lane, &mut faults_changed).await;
            continue;
        };
        item.attempt += 1;
        match attempt(&inner, &mut connection, &mut expiry, url, target, &item).await {
            Attempt::Delivered => {
                delivered(&inner, lane, item);
                finish(&inner, lane);
                settle(&inner);
            }
            Attempt::Rejected => {
                inner.rejected.fetch_add(1, Ordering::Relaxed);
                finish(&inner, lane);
                settle(&inner);
            }
            Attempt::Dropped => {
                finish(&inner, lane);
                settle(&inner);
            }
            Attempt::Retry(after) => {
                let wait = requeue(&inner, lane, item, after);
                settle(&inner);
                drop(inner);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Parses the ingress URL again when it changed since `parsed`; forgets it when unset.
fn reparse(inner: &Inner, parsed: &mut Parsed) {
    match inner.ingress.borrow().as_deref() {
        Some(url) if parsed.as_ref().is_none_or(|(s, _)| s != url) => {
            *parsed = Some((url.to_string(), Target::parse(url)));
        }
        Some(_) => {}
        None => *parsed = None,
    }
}

/// Takes the lane's next event under the lanes lock and counts it as in flight; none while
/// a save has halted the lanes.
fn take(inner: &Inner, lane: usize) -> Option<Queued> {
    let mut l = inner.lanes.lock().unwrap_or_else(|e| e.into_inner());
    if inner.halted.load(Ordering::SeqCst) {
        return None;
    }
    let next = pick(inner, &mut l, lane);
    if next.is_some() {
        inner.active.fetch_add(1, Ordering::SeqCst);
    }
    next
}

/// Waits until the lane is woken, the ingress or the faults change, or half a second has
/// passed; lets go of the emitter meanwhile.
async fn wait_for_change(
    inner: Arc<Inner>,
    lane: usize,
    faults_changed: &mut watch::Receiver<u64>,
) {
    let wake = inner.wake[lane].clone();
    let mut ingress_rx = inner.ingress.subscribe();
    drop(inner);
    tokio::select! {
        () = wake.notified() => {}
        _ = ingress_rx.changed() => {}
        _ = faults_changed.changed() => {}
        () = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
}

/// Counts a delivered event; under a `duplicate` fault, queues it once more (never a
/// duplicate of a duplicate).
fn delivered(inner: &Arc<Inner>, lane: usize, item: Queued) {
    inner.delivered.fetch_add(1, Ordering::Relaxed);
    let dup = !item.duplicate
        && inner
            .faults
            .decide_emitter(
                "duplicate",
                &item.event.plant,
                || serde_json::json!({ "event": item.event.key() }),
            )
            .is_some();
    if dup {
        // Re-sent later, as after a lost acknowledgement; queued before this
        // one is finished so that the emitter never looks drained in between.
        Emitter {
            inner: inner.clone(),
        }
        .enqueue(
            lane,
            Queued {
                duplicate: true,
                ..Queued::new(item.event)
            },
        );
    }
}

/// Puts an event whose attempt failed back at the head of its lane (order within the
/// aggregate is kept) and returns how long the lane waits: `Retry-After` (at most a
/// minute) if given, otherwise the exponential backoff with jitter.
fn requeue(inner: &Inner, lane: usize, item: Queued, after: Option<Duration>) -> Duration {
    let (base, max) = (inner.config.backoff_base.0, inner.config.backoff_max.0);
    let exp = base.saturating_mul(1u32 << item.attempt.min(16).saturating_sub(1));
    let cap = exp.min(max);
    let jitter = {
        let mut l = inner.lanes.lock().unwrap_or_else(|e| e.into_inner());
        l.jitter.random_range(0.5..=1.0)
    };
    let wait = after
        .map(|a| a.min(Duration::from_secs(60)))
        .unwrap_or_else(|| cap.mul_f64(jitter));
    inner.lanes.lock().unwrap_or_else(|e| e.into_inner()).queues[lane].push_front(item);
    wait
}

/// Takes the next event of the lane whose plant is not partitioned (a partition holds back
/// only its own plant's aggregates; an aggregate never spans plants, so its order is kept).
/// Under a `reorder` fault, a later event of the same aggregate may overtake it, as long as
/// no event is overtaken by more than `window` later ones.
fn pick(inner: &Inner, l: &mut Lanes, lane: usize) -> Option<Queued> {
    let queue = &mut l.queues[lane];
    if inner.faults.none_active() {
        return queue.pop_front();
    }
    let mut partitioned: Vec<(PlantId, bool)> = Vec::new();
    let head = queue.iter().position(|q| {
        let plant = &q.event.plant;
        let cut = match partitioned.iter().find(|(p, _)| p == plant) {
            Some((_, cut)) => *cut,
            None => {
                let cut = inner.faults.in_force("partition", Some(plant)).is_some();
                partitioned.push((plant.clone(), cut));
                cut
            }
        };
        !cut
    })?;
    let first = &queue[head];
    if first.attempt == 0
        && let Some(FaultKind::Reorder { window }) =
            inner.faults.in_force("reorder", Some(&first.event.plant))
        && first.overtaken < window
    {
        let plant = first.event.plant.clone();
        let (source, subject) = (first.event.source.clone(), first.event.subject.clone());
        let same = |q: &Queued| q.event.source == source && q.event.subject == subject;
        let later = queue
            .iter()
            .enumerate()
            .skip(head + 1)
            .filter(|(_, q)| same(q) && q.attempt == 0)
            .take(window - first.overtaken)
            .map(|(i, _)| i)
            .last();
        if let Some(i) = later
            && inner
                .faults
                .decide_emitter(
                    "reorder",
                    &plant,
                    || serde_json::json!({ "subject": subject }),
                )
                .is_some()
        {
            for q in queue.range_mut(head..i).filter(|q| same(q)) {
                q.overtaken += 1;
            }
            return queue.remove(i);
        }
    }
    queue.remove(head)
}

/// A delivery taken from a lane is over (a save may be waiting for it).
fn settle(inner: &Inner) {
    inner.active.fetch_sub(1, Ordering::SeqCst);
    inner.settled.notify_waiters();
}

/// A delivered or rejected event leaves the buffer: wakes those waiting for it to drain,
/// and ends a full episode once there is room again.
fn finish(inner: &Inner, _lane: usize) {
    let left = inner.pending.fetch_sub(1, Ordering::SeqCst) - 1;
    if left == 0 {
        inner.idle.notify_waiters();
    }
    if left < inner.config.capacity {
        inner.full_episode.store(false, Ordering::Relaxed);
    }
}

/// A lane's delivery timeout: one timer for all its attempts, moved on only when an attempt
/// could outlast it. An attempt times out between its timeout and a sixteenth later
/// (arming a timer for every request costs the generator a few per cent of its time).
struct Expiry {
    /// The timer, moved on only when an attempt could outlast it.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Expiry {
    /// A timer that has already fired.
    fn new() -> Self {
        Self {
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// `fut`'s output, or `None` if it took `timeout` or longer.
    async fn run<F: std::future::Future>(
        &mut self,
        timeout: Duration,
        fut: F,
    ) -> Option<F::Output> {
        let due = tokio::time::Instant::now() + timeout;
        if self.timer.deadline() < due {
            self.timer.as_mut().reset(due + timeout / 16);
        }
        tokio::select! {
            biased;
            out = fut => Some(out),
            () = self.timer.as_mut() => None,
        }
    }
}

/// What one attempt sends for `item`, and where when not to the ingress; `None` when its
/// wire form drops it (noted in the history).
#[allow(clippy::type_complexity)]
fn wire(
    inner: &Inner,
    item: &Queued,
) -> Option<(Vec<u8>, Option<(String, Result<Target, IngressError>)>)> {
    Some(match inner.wire(&item.event) {
        Wire::Canonical => (serde_json::to_vec(&*item.event).unwrap_or_default(), None),
        Wire::Json(v) => (serde_json::to_vec(&v).unwrap_or_default(), None),
        Wire::To { url, body } => {
            let target = Target::parse_as(&url, "application/json");
            (
                serde_json::to_vec(&body).unwrap_or_default(),
                Some((url, target)),
            )
        }
        Wire::Dropped { note, detail } => {
            inner.history.append(
                inner.system,
                Entry::Note {
                    name: note.to_string(),
                    detail: detail.into(),
                },
            );
            return None;
        }
    })
}

/// One delivery attempt to `url` (`target`: the same, parsed, or why it cannot be) on the
/// lane's `connection`.
async fn attempt(
    inner: &Inner,
    connection: &mut LaneConnection,
    expiry: &mut Expiry,
    url: &str,
    target: &Result<Target, IngressError>,
    item: &Queued,
) -> Attempt {
    let Some((body, elsewhere)) = wire(inner, item) else {
        return Attempt::Dropped;
    };
    let (url, target) = match &elsewhere {
        Some((u, t)) => (u.as_str(), t),
        None => (url, target),
    };
    inner.attempts.fetch_add(1, Ordering::Relaxed);
    let timeout = inner.config.timeout.0;
    let started = std::time::Instant::now();
    let result = match target {
        Ok(target) => {
            expiry
                .run(
                    timeout,
                    connection.post(target, &item.event.traceparent, &body),
                )
                .await
        }
        Err(why) => Some(Err(PostError::from(why.clone()))),
    };
    let latency_us = started.elapsed().as_micros() as u64;
    let mut content_type = None;
    let (outcome, status, error, rejected, next) = match result {
        Some(Ok(answer)) => {
            let s = answer.status;
            content_type = answer.content_type;
            match s {
                200..=299 => (Outcome::Ok, Some(s), None, false, Attempt::Delivered),
                408 | 429 | 500..=599 => (
                    Outcome::Fail,
                    Some(s),
                    None,
                    false,
                    Attempt::Retry(answer.retry_after),
                ),
                _ => (Outcome::Fail, Some(s), None, true, Attempt::Rejected),
            }
        }
        None => (
            Outcome::Info,
            None,
            Some(format!("timed out after {timeout:?}")),
            false,
            Attempt::Retry(None),
        ),
        Some(Err(e)) => (
            Outcome::Fail,
            None,
            Some(e.to_string()),
            false,
            Attempt::Retry(None),
        ),
    };
    inner.history.append(
        inner.system,
        Entry::Delivery {
            event: item.event.key(),
            attempt: item.attempt,
            url: url.to_string(),
            outcome,
            status,
            error,
            content_type,
            rejected,
            latency_us,
        },
    );
    next
}
