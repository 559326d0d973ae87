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

/// The ingress URLs as parsed (once per URL, not per request): each URL's destination, or
/// why events cannot be delivered to it.
type Parsed = HashMap<String, Result<Dest, IngressError>>;

/// The task of one lane: takes the lane's next event while there is an ingress, attempts
/// its delivery on the lane's own connection and settles it (delivered, rejected, or back
/// at the head of the lane to retry after a backoff); waits for a change when there is
/// nothing to send. Ends when the emitter is gone.
pub(super) async fn lane_loop(weak: std::sync::Weak<Inner>, lane: usize) {
    let mut faults_changed = match weak.upgrade() {
        Some(i) => i.faults.changes(),
        None => return,
    };
    let mut routes_rx = match weak.upgrade() {
        Some(i) => i.ingress.subscribe(),
        None => return,
    };
    let mut routes = routes_rx.borrow_and_update().clone();
    let mut parsed: Parsed = HashMap::new();
    let mut connection = LaneConnection::default();
    let mut expiry = Expiry::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if routes_rx.has_changed().unwrap_or(false) {
            routes = routes_rx.borrow_and_update().clone();
        }
        // Without an ingress the events stay queued (taking one would lose it).
        let next = if routes.any() {
            take(&inner, lane)
        } else {
            None
        };
        let Some(mut item) = next else {
            // Nothing to send, no ingress, or partitioned: wait for a change.
            wait_for_change(inner, lane, &mut faults_changed).await;
            continue;
        };
        let Some(url) = routes.of(&item.event.plant) else {
            // This plant has no ingress yet: its event waits at the head of the lane.
            inner.lanes.lock().unwrap_or_else(|e| e.into_inner()).queues[lane].push_front(item);
            settle(&inner);
            wait_for_change(inner, lane, &mut faults_changed).await;
            continue;
        };
        let dest = parsed
            .entry(url.to_string())
            .or_insert_with(|| Dest::parse(url));
        item.attempt += 1;
        match attempt(&inner, &mut connection, &mut expiry, url, dest, &item).await {
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

/// What one attempt sends for `item`: the event in its wire form, or a body for another
/// URL; `None` when its wire form drops it (noted in the history).
enum Sent {
    /// The event as kept.
    Event,
    /// This JSON in its place.
    Json(serde_json::Value),
    /// This JSON to `url` (over HTTP, whatever the ingress), `target` being it parsed.
    Elsewhere {
        url: String,
        target: Result<Target, IngressError>,
        body: Vec<u8>,
    },
}

impl Sent {
    /// The HTTP body of the event in its wire form (not for [`Sent::Elsewhere`], which has
    /// its own).
    fn body(self, item: &Queued) -> Vec<u8> {
        match self {
            Sent::Json(v) => serde_json::to_vec(&v).unwrap_or_default(),
            _ => serde_json::to_vec(&*item.event).unwrap_or_default(),
        }
    }
}

fn wire(inner: &Inner, item: &Queued) -> Option<Sent> {
    Some(match inner.wire(&item.event) {
        Wire::Canonical => Sent::Event,
        Wire::Json(v) => Sent::Json(v),
        Wire::To { url, body } => Sent::Elsewhere {
            target: Target::parse_as(&url, "application/json"),
            url,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        },
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

/// How an attempt ended, as the history records it.
struct Settled {
    outcome: Outcome,
    status: Option<u16>,
    puback: Option<u8>,
    error: Option<String>,
    content_type: Option<String>,
    rejected: bool,
    next: Attempt,
}

impl Settled {
    /// No answer: `error`, tried again later.
    fn failed(error: String) -> Self {
        Self {
            outcome: Outcome::Fail,
            status: None,
            puback: None,
            error: Some(error),
            content_type: None,
            rejected: false,
            next: Attempt::Retry(None),
        }
    }
}

/// One delivery attempt to `url` (`dest`: the same, parsed, or why it cannot be): POSTed
/// on the lane's `connection`, or published to a broker.
async fn attempt(
    inner: &Inner,
    connection: &mut LaneConnection,
    expiry: &mut Expiry,
    url: &str,
    dest: &Result<Dest, IngressError>,
    item: &Queued,
) -> Attempt {
    let Some(sent) = wire(inner, item) else {
        return Attempt::Dropped;
    };
    inner.attempts.fetch_add(1, Ordering::Relaxed);
    let timeout = inner.config.timeout.0;
    let started = std::time::Instant::now();
    let (url, settled) = match (sent, dest) {
        (Sent::Elsewhere { url, target, body }, _) => {
            let s = post(connection, expiry, timeout, target.as_ref(), item, &body).await;
            (url, s)
        }
        (sent, Ok(Dest::Mqtt(m))) => {
            let json = match sent {
                Sent::Json(v) => v,
                _ => serde_json::to_value(&*item.event).unwrap_or_default(),
            };
            publish(inner, expiry, timeout, m, item, &json).await
        }
        (sent, Ok(Dest::Http(t))) => {
            let s = post(connection, expiry, timeout, Ok(t), item, &sent.body(item)).await;
            (url.to_string(), s)
        }
        (sent, Err(e)) => {
            let s = post(connection, expiry, timeout, Err(e), item, &sent.body(item)).await;
            (url.to_string(), s)
        }
    };
    let latency_us = started.elapsed().as_micros() as u64;
    inner.history.append(
        inner.system,
        Entry::Delivery {
            event: item.event.key(),
            attempt: item.attempt,
            url,
            outcome: settled.outcome,
            status: settled.status,
            puback: settled.puback,
            error: settled.error,
            content_type: settled.content_type,
            rejected: settled.rejected,
            latency_us,
        },
    );
    settled.next
}

/// POSTs `body` to `target` within `timeout`.
async fn post(
    connection: &mut LaneConnection,
    expiry: &mut Expiry,
    timeout: Duration,
    target: Result<&Target, &IngressError>,
    item: &Queued,
    body: &[u8],
) -> Settled {
    let result = match target {
        Ok(target) => {
            expiry
                .run(
                    timeout,
                    connection.post(target, &item.event.traceparent, body),
                )
                .await
        }
        Err(why) => Some(Err(PostError::from(why.clone()))),
    };
    match result {
        Some(Ok(answer)) => {
            let s = answer.status;
            let (outcome, rejected, next) = match s {
                200..=299 => (Outcome::Ok, false, Attempt::Delivered),
                408 | 429 | 500..=599 => (Outcome::Fail, false, Attempt::Retry(answer.retry_after)),
                _ => (Outcome::Fail, true, Attempt::Rejected),
            };
            Settled {
                outcome,
                status: Some(s),
                puback: None,
                error: None,
                content_type: answer.content_type,
                rejected,
                next,
            }
        }
        None => Settled {
            outcome: Outcome::Info,
            ..Settled::failed(format!("timed out after {timeout:?}"))
        },
        Some(Err(e)) => Settled::failed(e.to_string()),
    }
}

/// Publishes the event (`json`, its structured form) to `target`'s broker at QoS 1 within
/// `timeout`: acknowledged by a PUBACK with reason code 0 (success: the broker took it for
/// its subscribers), and by 0x10 (no matching subscribers) on a topic the broker had taken
/// a publish for a subscriber on earlier on this connection (a subscription that was there
/// and is gone: the broker took the message and had no one to give it to). Kept and
/// published again after a backoff on a 0x10 before that (no one consumes the topic yet: the
/// middleware's first subscription is not in place, or a restarted broker has not matched
/// its restored sessions), after a failure code, a broken connection, or no PUBACK in time.
/// Returns the topic's URL and how it ended.
async fn publish(
    inner: &Inner,
    expiry: &mut Expiry,
    timeout: Duration,
    target: &mqtt::MqttTarget,
    item: &Queued,
    json: &serde_json::Value,
) -> (String, Settled) {
    let e = &item.event;
    let kind = e.kind().map_or(e.type_.as_str(), |k| k.name());
    let topic = andon_contracts::events::mqtt::topic(
        &target.topic,
        e.plant.as_str(),
        inner.system.as_str(),
        kind,
        &e.subject,
    );
    let url = format!("mqtt://{}/{topic}", target.broker);
    let message = andon_contracts::events::mqtt::encode(json, target.mode);
    let publisher = inner.publisher(target);
    let settled = match expiry.run(timeout, publisher.publish(topic, message)).await {
        Some(Ok(mqtt::Acked {
            reason: r @ (0 | 0x10),
            was_subscribed,
        })) if r == 0 || was_subscribed => Settled {
            outcome: Outcome::Ok,
            status: None,
            puback: Some(r),
            error: None,
            content_type: None,
            rejected: false,
            next: Attempt::Delivered,
        },
        Some(Ok(mqtt::Acked { reason: 0x10, .. })) => Settled {
            puback: Some(0x10),
            ..Settled::failed("no matching subscribers: no one consumes this topic yet".into())
        },
        Some(Ok(mqtt::Acked { reason, .. })) => Settled {
            puback: Some(reason),
            ..Settled::failed(format!(
                "the broker refused the publish (reason code {reason:#04x})"
            ))
        },
        Some(Err(why)) => Settled::failed(why),
        None => Settled {
            outcome: Outcome::Info,
            ..Settled::failed(format!("no PUBACK within {timeout:?}"))
        },
    };
    (url, settled)
}
