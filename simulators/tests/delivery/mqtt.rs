//! The broker transport against a real Mosquitto: what a subscriber receives (the
//! CloudEvents MQTT binding), the PUBACK in the history, a broker that is down, and plants
//! routed to different transports.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use andon_contracts::events::mqtt;
use andon_simulators::emitter::Routes;
use andon_simulators::history::{Entry, Outcome};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::Value;
use tokio::sync::mpsc;

use super::helpers::*;

/// A Mosquitto of the test's own, on a free port, with its files in a fresh directory.
pub struct Mosquitto {
    child: Option<Child>,
    conf: PathBuf,
    pub port: u16,
}

impl Mosquitto {
    pub async fn start(name: &str) -> Self {
        let program = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("Mosquitto is not installed: run ci/install-mosquitto.sh");
        let dir = std::env::temp_dir().join(format!("andon-mqtt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut m = Self {
            child: None,
            conf,
            port,
        };
        m.run(program).await;
        m
    }

    async fn run(&mut self, program: PathBuf) {
        self.child = Some(
            Command::new(program)
                .arg("-c")
                .arg(&self.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto starts"),
        );
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "mosquitto did not listen"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn start_again(&mut self) {
        self.run(PathBuf::from("/usr/sbin/mosquitto")).await;
    }

    pub fn ingress(&self) -> String {
        format!(
            "mqtt://127.0.0.1:{}/andon/{{plant}}/{{system}}/{{kind}}",
            self.port
        )
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A subscriber to `filter` at QoS 1; each message received comes out of the channel as
/// (topic, event JSON decoded from the binding).
async fn subscriber(port: u16, filter: &str) -> mpsc::UnboundedReceiver<(String, Value)> {
    let mut o = MqttOptions::new("test-subscriber", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    tokio::spawn(async move {
        let _client = client;
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(s) = subscribed_tx.take() {
                        let _ = s.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let props = p.properties.clone().unwrap_or_default();
                    let event = mqtt::decode(
                        props.content_type.as_deref(),
                        &props.user_properties,
                        &p.payload,
                    )
                    .expect("a CloudEvent");
                    let topic = String::from_utf8_lossy(&p.topic).to_string();
                    let _ = tx.send((topic, event));
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(PATIENCE, subscribed)
        .await
        .expect("subscribed in time")
        .unwrap();
    rx
}

/// The PUBACK reason codes recorded, in order.
fn pubacks(rig: &Rig) -> Vec<(Outcome, Option<u8>, String)> {
    rig.history.with_records(|r| {
        r.iter()
            .filter_map(|r| match &r.entry {
                Entry::Delivery {
                    outcome,
                    puback,
                    url,
                    ..
                } => Some((*outcome, *puback, url.clone())),
                _ => None,
            })
            .collect()
    })
}

#[tokio::test]
async fn a_subscriber_receives_each_event_in_the_cloudevents_mqtt_binding() {
    let broker = Mosquitto::start("binding").await;
    let mut rx = subscriber(broker.port, "andon/#").await;
    let rig = Rig::start(Some(broker.ingress()));
    let keys = [rig.emit("WO-1"), rig.emit("WO-2")];
    rig.drained().await;
    let emitted = rig.emitted();
    for e in &emitted {
        let (topic, got) = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(topic, "andon/1000/mes/material.consumed");
        assert_eq!(
            got,
            serde_json::to_value(e).unwrap(),
            "the event, attribute for attribute"
        );
    }
    let acks = pubacks(&rig);
    assert_eq!(acks.len(), keys.len());
    for (outcome, puback, url) in acks {
        assert_eq!((outcome, puback), (Outcome::Ok, Some(0)));
        assert_eq!(
            url,
            format!(
                "mqtt://127.0.0.1:{}/andon/1000/mes/material.consumed",
                broker.port
            )
        );
    }
}

#[tokio::test]
async fn a_publish_nobody_subscribed_to_is_kept_and_published_again_once_someone_is() {
    let broker = Mosquitto::start("nobody").await;
    let rig = Rig::start(Some(broker.ingress()));
    rig.emit("WO-1");
    rig.wait_for_attempts(2).await;
    let first = pubacks(&rig)[0].clone();
    assert_eq!(
        (first.0, first.1),
        (Outcome::Fail, Some(16)),
        "no matching subscribers"
    );
    assert_eq!(rig.emitter.stats().pending, 1, "kept in the outbox");
    let mut rx = subscriber(broker.port, "andon/#").await;
    rig.drained().await;
    let (_, got) = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["subject"], "WO-1");
    let last = pubacks(&rig).last().unwrap().clone();
    assert_eq!((last.0, last.1), (Outcome::Ok, Some(0)));
}

#[tokio::test]
async fn while_the_broker_is_down_events_wait_in_the_outbox_and_go_once_it_is_back() {
    let mut broker = Mosquitto::start("down").await;
    broker.stop();
    let rig = Rig::start(Some(broker.ingress()));
    rig.emit("WO-1");
    rig.wait_for_attempts(2).await;
    assert!(
        pubacks(&rig)
            .iter()
            .all(|(o, p, _)| *o != Outcome::Ok && p.is_none())
    );
    assert_eq!(rig.emitter.stats().pending, 1, "kept in the outbox");
    broker.start_again().await;
    let mut rx = subscriber(broker.port, "andon/#").await;
    rig.drained().await;
    let (_, got) = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["subject"], "WO-1");
    assert_eq!(pubacks(&rig).last().unwrap().0, Outcome::Ok);
}

#[tokio::test]
async fn one_plant_publishes_to_the_broker_while_another_posts_webhooks() {
    let broker = Mosquitto::start("mixed").await;
    let mut rx = subscriber(broker.port, "andon/#").await;
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let rig = Rig::start(None);
    rig.emitter.set_routes(Routes {
        default: Some(format!("{}{INGRESS_PATH}", server.uri())),
        plants: [(plant("2000"), broker.ingress())].into(),
    });
    rig.emit_in("1000", "WO-1").unwrap();
    rig.emit_in("2000", "WO-2").unwrap();
    rig.drained().await;
    let (topic, got) = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (topic.as_str(), got["subject"].as_str()),
        ("andon/2000/mes/material.consumed", Some("WO-2"))
    );
    let posted = server.received_requests().await.unwrap();
    assert_eq!(posted.len(), 1);
    let body: Value = serde_json::from_slice(&posted[0].body).unwrap();
    assert_eq!(body["subject"], "WO-1");
}
