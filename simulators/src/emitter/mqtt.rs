//! The broker transport: events published to an MQTT 5 broker at QoS 1, in the CloudEvents
//! MQTT binding (`andon_contracts::events::mqtt`), each attempt settled by the broker's
//! PUBACK.
//!
//! An ingress of the form `mqtt://host:port/<topic template>[?mode=structured]` names the
//! broker and the topic layout (`{plant}`, `{system}`, `{kind}`, `{subject}`). One
//! [`Publisher`] per broker and emitter holds one MQTT connection (clean start: a plant
//! keeps its outbox itself, not in the broker); when the connection breaks, every publish
//! waiting for its PUBACK fails (the emitter retries it, as after a lost HTTP answer) and a
//! fresh connection is made.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use andon_contracts::events::mqtt::{self, Mode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{PubAckReason, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::oneshot;

use super::IngressError;

/// Where events go on a broker: its address and the topic layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    /// `host:port`.
    pub broker: String,
    host: String,
    port: u16,
    /// The topic template.
    pub topic: String,
    /// Binary or structured mode.
    pub mode: Mode,
}

impl MqttTarget {
    /// Parses `mqtt://host[:port]/<topic template>[?mode=binary|structured]`.
    pub fn parse(url: &str) -> Result<Self, IngressError> {
        let invalid = |message: String| IngressError::Invalid {
            url: url.to_string(),
            message,
        };
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| invalid("expected mqtt://host:port/<topic>".into()))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, topic) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| invalid(format!("port {p:?} is not a number")))?,
            ),
            None => (authority, 1883),
        };
        if host.is_empty() {
            return Err(IngressError::NoHost {
                url: url.to_string(),
            });
        }
        mqtt::check_template(topic).map_err(invalid)?;
        let mut mode = Mode::Binary;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("mode", m)) => {
                    mode = Mode::parse(m).ok_or_else(|| {
                        invalid(format!("mode {m:?}: expected binary or structured"))
                    })?;
                }
                _ => return Err(invalid(format!("unknown parameter {pair:?} (mode=…)"))),
            }
        }
        Ok(Self {
            broker: format!("{host}:{port}"),
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            topic: topic.to_string(),
            mode,
        })
    }
}

/// How the broker settled one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked {
    /// The PUBACK's reason code (0: success, 16: no matching subscribers).
    pub reason: u8,
    /// Whether the broker had taken a publish to this topic for a subscriber (reason 0)
    /// earlier on this connection: a subscription that was there and is gone.
    pub was_subscribed: bool,
}

/// The PUBACK reason code's number (MQTT 5, 3.4.2.1).
fn reason_code(r: &PubAckReason) -> u8 {
    match r {
        PubAckReason::Success => 0x00,
        PubAckReason::NoMatchingSubscribers => 0x10,
        PubAckReason::UnspecifiedError => 0x80,
        PubAckReason::ImplementationSpecificError => 0x83,
        PubAckReason::NotAuthorized => 0x87,
        PubAckReason::TopicNameInvalid => 0x90,
        PubAckReason::PacketIdentifierInUse => 0x91,
        PubAckReason::QuotaExceeded => 0x97,
        PubAckReason::PayloadFormatInvalid => 0x99,
    }
}

type Waiter = oneshot::Sender<Result<Acked, String>>;

/// Publishes waiting for their PUBACK: in the order they were handed to the client (until
/// the event loop numbers them), then by packet identifier.
#[derive(Default)]
struct Waiting {
    unnumbered: VecDeque<Waiter>,
    numbered: HashMap<u16, Waiter>,
}

impl Waiting {
    /// Fails every waiting publish with `why`.
    fn fail_all(&mut self, why: &str) {
        for w in self
            .unnumbered
            .drain(..)
            .chain(self.numbered.drain().map(|(_, w)| w))
        {
            let _ = w.send(Err(why.to_string()));
        }
    }
}

/// One MQTT connection to a broker, shared by the lanes of an emitter.
pub(crate) struct Publisher {
    /// The client of the current connection, and the publishes waiting on it (one lock:
    /// the order of the waiters is the order of the requests).
    state: Mutex<(AsyncClient, Waiting)>,
    /// Connections made (the client id's suffix).
    generation: AtomicU64,
    /// Topics the broker took a publish for a subscriber on, on this connection (forgotten
    /// on a new connection: a restarted broker matches its restored sessions late).
    subscribed: Mutex<std::collections::HashSet<String>>,
    base_id: String,
}

impl Publisher {
    /// A publisher to `target`'s broker, identified as `client_id`; its connection task
    /// runs until the publisher is dropped.
    pub(crate) fn start(target: &MqttTarget, client_id: &str) -> Arc<Self> {
        let (client, eventloop) = connect(target, client_id, 0);
        let p = Arc::new(Self {
            state: Mutex::new((client, Waiting::default())),
            generation: AtomicU64::new(0),
            subscribed: Mutex::new(std::collections::HashSet::new()),
            base_id: client_id.to_string(),
        });
        let weak = Arc::downgrade(&p);
        let target = target.clone();
        tokio::spawn(async move { drive(weak, target, eventloop).await });
        p
    }

    /// Publishes `message` on `topic` at QoS 1 and waits for the broker's PUBACK.
    pub(crate) async fn publish(
        &self,
        topic: String,
        message: mqtt::Message,
    ) -> Result<Acked, String> {
        let (tx, rx) = oneshot::channel();
        let key = topic.clone();
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let properties = PublishProperties {
                content_type: Some(message.content_type),
                user_properties: message.user_properties,
                ..Default::default()
            };
            state
                .0
                .try_publish_with_properties(
                    topic,
                    QoS::AtLeastOnce,
                    false,
                    message.payload,
                    properties,
                )
                .map_err(|e| format!("the MQTT client refused the publish: {e}"))?;
            state.1.unnumbered.push_back(tx);
        }
        let mut acked = rx
            .await
            .unwrap_or_else(|_| Err("the broker connection was dropped".into()))?;
        let mut seen = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        if acked.reason == 0 {
            seen.insert(key);
        } else {
            acked.was_subscribed = seen.contains(&key);
        }
        Ok(acked)
    }
}

/// A client and its event loop for `target`.
fn connect(target: &MqttTarget, client_id: &str, generation: u64) -> (AsyncClient, EventLoop) {
    let mut o = MqttOptions::new(
        format!("{client_id}-{generation}"),
        target.host.clone(),
        target.port,
    );
    o.set_clean_start(true)
        .set_keep_alive(Duration::from_secs(5))
        .set_request_channel_capacity(65_536)
        .set_connection_timeout(5);
    AsyncClient::new(o, 65_536)
}

/// The connection task: numbers the publishes as the event loop sends them, settles each
/// by its PUBACK, and on a broken connection fails every waiting publish and connects
/// afresh (after a short pause while the broker cannot be reached).
async fn drive(weak: std::sync::Weak<Publisher>, target: MqttTarget, mut eventloop: EventLoop) {
    use rumqttc::v5::mqttbytes::v5::Packet;
    loop {
        let polled = eventloop.poll().await;
        let Some(p) = weak.upgrade() else { return };
        match polled {
            Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) => {
                let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = state.1.unnumbered.pop_front() {
                    state.1.numbered.insert(pkid, w);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = state.1.numbered.remove(&ack.pkid) {
                    let _ = w.send(Ok(Acked {
                        reason: reason_code(&ack.reason),
                        was_subscribed: false,
                    }));
                }
            }
            Ok(_) => {}
            Err(e) => {
                let why = format!("broker {}: {e}", target.broker);
                let generation = p.generation.fetch_add(1, Ordering::Relaxed) + 1;
                let (client, fresh) = connect(&target, &p.base_id, generation);
                {
                    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
                    state.1.fail_all(&why);
                    state.0 = client;
                }
                p.subscribed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                drop(p);
                eventloop = fresh;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_broker_the_topic_layout_and_the_mode() {
        let t = MqttTarget::parse("mqtt://127.0.0.1:1884/acme/{plant}/{system}/{kind}").unwrap();
        assert_eq!(t.broker, "127.0.0.1:1884");
        assert_eq!(t.topic, "acme/{plant}/{system}/{kind}");
        assert_eq!(t.mode, Mode::Binary);
        let t = MqttTarget::parse("mqtt://broker/a/{plant}?mode=structured").unwrap();
        assert_eq!(
            (t.broker.as_str(), t.mode),
            ("broker:1883", Mode::Structured)
        );
        for bad in [
            "mqtt://h:x/a",
            "mqtt:///a",
            "mqtt://h:1/a/+",
            "mqtt://h:1/a?mode=xml",
            "mqtt://h:1/a?qos=2",
            "mqtt://h:1/a/{line}",
            "mqtt://h:1/",
        ] {
            assert!(MqttTarget::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn reason_codes_are_mqtt_5s() {
        assert_eq!(reason_code(&PubAckReason::Success), 0);
        assert_eq!(reason_code(&PubAckReason::NoMatchingSubscribers), 16);
        assert_eq!(reason_code(&PubAckReason::QuotaExceeded), 0x97);
    }
}
