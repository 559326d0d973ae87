//! The consumer's two tasks: [`poll`] keeps rumqttc's event loop turning (keep-alives,
//! reconnects, subscriptions) and hands each PUBLISH over a channel to [`take`], which
//! takes the messages in one at a time, in arrival order, and acknowledges each only when
//! it is done with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use andon_contracts::CloudEvent;
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, Filter, Packet, Publish, RetainForwardRule, SubscribeReasonCode,
};
use rumqttc::v5::{AsyncClient, Event, EventLoop};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{is_stale, options, read, subscriptions};
use crate::config::MqttConfig;
use crate::defects::{Defect, Defects};
use crate::flows::Inbound;
use crate::ingress::{self, AppState, MqttStats, Taken};
use crate::store::StoreError;

/// A PUBLISH and the connection it came on.
struct Delivered {
    connection: u64,
    publish: Publish,
}

/// What both tasks share.
struct Link {
    client: AsyncClient,
    stats: Arc<MqttStats>,
    /// Counts connections (ConnAcks): an acknowledgement is only sent on the connection
    /// its message came on (a packet id means nothing on another).
    connection: AtomicU64,
    /// `(filter, QoS)` subscribed after each ConnAck.
    subscriptions: Vec<(String, QoS)>,
    defects: Defects,
    retry_base: Duration,
    retry_max: Duration,
}

/// Starts consuming from the broker of `cfg` into `app`'s store until `stop`.
pub fn spawn(
    cfg: MqttConfig,
    defects: Defects,
    app: AppState,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let (client, eventloop) = AsyncClient::new(options(&cfg, &defects), 64);
    let link = Arc::new(Link {
        client,
        stats: app.mqtt.clone().unwrap_or_default(),
        connection: AtomicU64::new(0),
        subscriptions: subscriptions(&cfg, &defects),
        defects,
        retry_base: cfg.retry_base,
        retry_max: cfg.retry_max.max(cfg.retry_base),
    });
    tracing::info!(
        broker = %format!("{}:{}", cfg.broker.host, cfg.broker.port),
        client_id = %cfg.client_id,
        subscriptions = ?link.subscriptions.iter().map(|(f, _)| f).collect::<Vec<_>>(),
        "consuming events from MQTT"
    );
    let (tx, rx) = mpsc::unbounded_channel();
    vec![
        tokio::spawn(poll(eventloop, link.clone(), tx, stop.clone())),
        tokio::spawn(take(rx, link, app, stop)),
    ]
}

/// Waits `pause`; `false` when asked to stop meanwhile.
async fn pause(pause: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

/// Turns the event loop until `stop`: connects (again, after a short backoff, whenever the
/// connection is lost), subscribes when the broker has no session, and hands every
/// PUBLISH to [`take`]. Never gives up.
async fn poll(
    mut eventloop: EventLoop,
    link: Arc<Link>,
    tx: mpsc::UnboundedSender<Delivered>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = link.retry_base;
    let mut lost = false;
    let mut awaiting_subacks = 0usize;
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.changed() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = link.retry_base;
                if std::mem::take(&mut lost) {
                    MqttStats::bump(&link.stats.reconnects);
                }
                awaiting_subacks = link.connected(&ack);
            }
            Ok(Event::Incoming(Packet::SubAck(suback))) => {
                for code in &suback.return_codes {
                    if !matches!(code, SubscribeReasonCode::Success(_)) {
                        tracing::error!(?code, "the broker refused a subscription");
                    }
                }
                awaiting_subacks = awaiting_subacks.saturating_sub(1);
                if awaiting_subacks == 0 {
                    link.stats.connected.store(true, Ordering::SeqCst);
                    link.stats.subscribed.store(true, Ordering::SeqCst);
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                MqttStats::bump(&link.stats.received);
                let connection = link.connection.load(Ordering::SeqCst);
                if tx
                    .send(Delivered {
                        connection,
                        publish,
                    })
                    .is_err()
                {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                link.stats.connected.store(false, Ordering::SeqCst);
                lost = true;
                tracing::warn!(error = %e, retry_in = ?backoff, "MQTT connection lost");
                if !pause(backoff, &mut stop).await {
                    break;
                }
                backoff = (backoff * 2).min(link.retry_max);
            }
        }
    }
    link.stats.connected.store(false, Ordering::SeqCst);
    disconnect(&mut eventloop, &link.client).await;
}

/// Sends DISCONNECT (the session stays, for its expiry interval) and lets it go out.
async fn disconnect(eventloop: &mut EventLoop, client: &AsyncClient) {
    if client.try_disconnect().is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

impl Link {
    /// A new connection: subscribes (again), in one SUBSCRIBE; returns how many SUBACKs to
    /// wait for. Without a session the broker has no subscription; with one, subscribing
    /// again is harmless (it replaces the same subscription, and retained messages are
    /// only sent for a new one) and needed: Mosquitto 2.0 restores a shared subscription
    /// from its persistence file after a restart, hands over what it queued, but then
    /// forwards nothing new to it until it is subscribed again.
    fn connected(&self, ack: &ConnAck) -> usize {
        let n = self.connection.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(
            connection = n,
            session_present = ack.session_present,
            "connected to the MQTT broker"
        );
        let filters = self.subscriptions.iter().map(|(path, qos)| Filter {
            retain_forward_rule: RetainForwardRule::OnNewSubscribe,
            ..Filter::new(path.clone(), *qos)
        });
        match self.client.try_subscribe_many(filters) {
            Ok(()) => 1,
            Err(e) => {
                tracing::error!(error = %e, "subscribing failed");
                0
            }
        }
    }

    /// Acknowledges a message, on the connection it came on only (after a reconnect the
    /// broker sends an unacknowledged message again, and it is a duplicate then).
    async fn ack(&self, d: &Delivered) {
        if d.connection != self.connection.load(Ordering::SeqCst) {
            tracing::debug!(
                pkid = d.publish.pkid,
                "not acknowledged: its connection is gone"
            );
            return;
        }
        if let Err(e) = self.client.ack(&d.publish).await {
            tracing::warn!(error = %e, "acknowledging a message failed");
        }
    }

    /// Runs `attempt` until it succeeds, pausing between failures (doubling); `None` when
    /// asked to stop meanwhile.
    async fn until_done<T, F, Fut>(
        &self,
        what: &str,
        stop: &mut watch::Receiver<bool>,
        mut attempt: F,
    ) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut wait = self.retry_base;
        loop {
            match attempt().await {
                Ok(t) => return Some(t),
                Err(e) => {
                    tracing::error!(error = %e, retry_in = ?wait, "{what} failed; not acknowledged");
                    if !pause(wait, stop).await {
                        return None;
                    }
                    wait = (wait * 2).min(self.retry_max);
                }
            }
        }
    }
}

/// Takes the messages in, one at a time and in arrival order, until `stop`.
async fn take(
    mut rx: mpsc::UnboundedReceiver<Delivered>,
    link: Arc<Link>,
    app: AppState,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let d = tokio::select! {
            d = rx.recv() => d,
            _ = stop.changed() => None,
        };
        let Some(d) = d else { return };
        if !take_one(&link, &app, &d, &mut stop).await {
            return;
        }
    }
}

/// One message: a stale retained one is acknowledged and left alone; a refused one is
/// dead-lettered, then acknowledged; an accepted one is stored, then acknowledged. `false`
/// when asked to stop before it was done with (it is not acknowledged then).
async fn take_one(
    link: &Link,
    app: &AppState,
    d: &Delivered,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let p = &d.publish;
    let topic = String::from_utf8_lossy(&p.topic);
    if is_stale(p.retain, &link.defects) {
        tracing::info!(%topic, "a retained message is stale, not an event of now: ignored");
        MqttStats::bump(&link.stats.retained_ignored);
        link.ack(d).await;
        return true;
    }
    // DEFECT: ack-before-store — acknowledged on arrival, stored later in the background.
    let early = link.defects.has(Defect::AckBeforeStore);
    if early {
        link.ack(d).await;
    }
    let props = p.properties.as_ref();
    let content_type = props.and_then(|p| p.content_type.as_deref());
    let user_properties = props.map_or(&[][..], |p| p.user_properties.as_slice());
    match read(
        &topic,
        content_type,
        user_properties,
        &p.payload,
        app.delivery.dialects(),
    ) {
        Err(refusal) => {
            tracing::warn!(%topic, code = refusal.code, detail = %refusal.detail, "MQTT message refused");
            let call = format!("MQTT {topic}");
            let listed = link
                .until_done("dead-lettering a refused message", stop, || {
                    ingress::dead_letter(&app.store, call.clone(), &refusal)
                })
                .await;
            if listed.is_none() {
                return false;
            }
            MqttStats::bump(&link.stats.refused);
        }
        Ok((event, data)) => match store(link, app, event, &data, stop).await {
            Some(Taken::Duplicate) => MqttStats::bump(&link.stats.duplicates),
            Some(Taken::Stored | Taken::Buffered) => MqttStats::bump(&link.stats.stored),
            None => return false,
        },
    }
    if !early {
        link.ack(d).await;
    }
    true
}

/// Stores an accepted event, again and again while the store fails.
async fn store(
    link: &Link,
    app: &AppState,
    event: CloudEvent,
    data: &Inbound,
    stop: &mut watch::Receiver<bool>,
) -> Option<Taken> {
    let write_behind = app.mqtt_write_behind.as_deref();
    link.until_done("storing an MQTT event", stop, || {
        ingress::take_in(app, event.clone(), data, write_behind)
    })
    .await
}
