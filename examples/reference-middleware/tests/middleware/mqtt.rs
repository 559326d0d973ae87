//! Events consumed from an MQTT 5 broker (Mosquitto): stored once and acknowledged,
//! duplicates recognised, stale retained messages and poison left alone, and what was
//! published while the middleware was down handed over when it is back — by a persistent
//! session, not by the `clean-session` defect; through a broker restart too.

use std::path::Path;
use std::time::{Duration, Instant};

use andon_reference_middleware::{BrokerUrl, Config, Defect, MqttConfig};
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::broker::{Broker, Publisher};
use crate::helpers::{
    Plant, TempDir, dead_letters_of, mw_config, started_event, stats_of, wait_healthy,
};

/// The topic the MES of plant 1000 publishes `operation.started` on.
const TOPIC: &str = "andon/1000/mes/operation.started";

/// The middleware in-process, consuming from a broker, with its store in a directory
/// that outlives it (so that it can be started again on the same store).
pub struct MqttMw {
    /// Base URL.
    pub url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), andon_reference_middleware::Error>>,
}

/// The consumer's settings on `broker` as client `client_id`.
pub fn consumer(broker: &Broker, client_id: &str) -> MqttConfig {
    MqttConfig {
        client_id: client_id.into(),
        ..MqttConfig::new(BrokerUrl {
            host: "127.0.0.1".into(),
            port: broker.port,
        })
    }
}

impl MqttMw {
    /// Starts it with `config` and waits until it is subscribed.
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(andon_reference_middleware::run_on(
            config,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        wait_healthy(&url).await;
        let mw = Self { url, stop, task };
        mw.wait_for("connected and subscribed", |s| {
            s["mqtt"]["connected"] == true
        })
        .await;
        mw
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> Value {
        stats_of(&reqwest::Client::new(), &self.url)
            .await
            .expect("stats")
    }

    /// Polls `/stats` until `cond` holds (20 s at most) in two reads in a row; returns the
    /// second. One answer reads the store's counts before the consumer's, so a message
    /// counted as stored may not be in that answer's inbox yet: the next answer has it.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut held = false;
        loop {
            let s = self.stats().await;
            let holds = cond(&s);
            if holds && held {
                return s;
            }
            held = holds;
            if holds {
                continue;
            }
            assert!(Instant::now() < deadline, "never {what}: {s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops it gracefully (its session stays on the broker).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("middleware task")
            .expect("middleware ran cleanly");
    }
}

/// The middleware's config against `plant`, store in `dir`, consuming with `mqtt`.
pub fn config(plant: &Plant, dir: &Path, mqtt: MqttConfig, defects: &[Defect]) -> Config {
    let mut c = mw_config(plant, dir);
    c.mqtt = Some(mqtt);
    for d in defects {
        c = c.defect(*d);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_stored_once_and_retained_and_poison_messages_are_left_alone() {
    let broker = Broker::start().await;
    let mut publisher = Publisher::connect(broker.port);
    // Left on the broker by an earlier run: delivered with RETAIN at the subscription.
    publisher
        .event(TOPIC, &started_event("stale-1", 1), true)
        .await;
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let mw = MqttMw::start(config(&plant, dir.path(), consumer(&broker, "mw-a"), &[])).await;
    let s = mw
        .wait_for("ignored the retained message", |s| {
            s["mqtt"]["retained_ignored"] == 1
        })
        .await;
    assert_eq!(
        (s["inbox"].clone(), s["mqtt"]["stored"].clone()),
        (0.into(), 0.into()),
        "{s}"
    );

    publisher
        .event(TOPIC, &started_event("e-1", 2), false)
        .await;
    let s = mw
        .wait_for("stored e-1", |s| s["mqtt"]["stored"] == 1)
        .await;
    assert_eq!(s["inbox"], 1, "{s}");

    publisher
        .event(TOPIC, &started_event("e-1", 2), false)
        .await;
    let s = mw
        .wait_for("saw the duplicate", |s| s["mqtt"]["duplicates"] == 1)
        .await;
    assert_eq!(
        (s["inbox"].clone(), s["duplicates"].clone()),
        (1.into(), 1.into()),
        "{s}"
    );

    let not_an_event = PublishProperties {
        content_type: Some("text/plain".into()),
        ..PublishProperties::default()
    };
    publisher
        .raw(TOPIC, b"hello".to_vec(), not_an_event, false)
        .await;
    let s = mw
        .wait_for("refused the poison", |s| s["mqtt"]["refused"] == 1)
        .await;
    assert_eq!(s["inbox"], 1, "{s}");
    assert_eq!(s["mqtt"]["received"], 4, "{s}");
    let dead = dead_letters_of(&mw.url).await;
    let poison = dead
        .iter()
        .find(|d| d["call"] == format!("MQTT {TOPIC}"))
        .unwrap_or_else(|| panic!("dead-lettered: {dead:?}"));
    assert_eq!(poison["reason"], "rejected-at-ingress", "{poison}");
    assert_eq!(poison["problem"]["code"], "invalid-event", "{poison}");
    // Acknowledged: after a restart on the same session nothing of it comes back.
    mw.stop().await;
    let mw = MqttMw::start(config(&plant, dir.path(), consumer(&broker, "mw-a"), &[])).await;
    publisher
        .event(TOPIC, &started_event("e-2", 3), false)
        .await;
    let s = mw
        .wait_for("stored e-2", |s| s["mqtt"]["stored"] == 1)
        .await;
    assert_eq!(
        s["mqtt"]["received"], 1,
        "nothing acknowledged came back: {s}"
    );
    mw.stop().await;
}

/// Publishes a message the middleware refuses: taken in after everything the broker
/// queued before it (one connection, in order), so `refused == 1` says those are done.
async fn marker(publisher: &mut Publisher) {
    let props = PublishProperties {
        content_type: Some("text/plain".into()),
        ..PublishProperties::default()
    };
    publisher.raw(TOPIC, b"marker".to_vec(), props, false).await;
}

/// Starts the middleware on `broker` and stops it, publishes `n` events while it is
/// down (and restarts the broker if asked), starts it again with the same client id and
/// store: its stats once a marker published after the restart has been taken in.
async fn published_while_down(
    broker: &mut Broker,
    n: u64,
    defects: &[Defect],
    restart_broker: bool,
) -> Value {
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let mqtt = consumer(broker, "mw-b");
    let cfg = || config(&plant, dir.path(), mqtt.clone(), defects);
    MqttMw::start(cfg()).await.stop().await;
    let mut publisher = Publisher::connect(broker.port);
    for i in 0..n {
        publisher
            .event(TOPIC, &started_event(&format!("down-{i}"), i + 1), false)
            .await;
    }
    if restart_broker {
        broker.restart().await;
        publisher = Publisher::connect(broker.port);
    }
    let mw = MqttMw::start(cfg()).await;
    marker(&mut publisher).await;
    let s = mw
        .wait_for("took the marker in", |s| s["mqtt"]["refused"] == 1)
        .await;
    mw.stop().await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_the_middleware_is_down_arrive_through_its_persistent_session() {
    let mut broker = Broker::start().await;
    let s = published_while_down(&mut broker, 5, &[], false).await;
    assert_eq!(s["mqtt"]["stored"], 5, "{s}");
    assert_eq!(s["inbox"], 5, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_loses_the_events_published_while_the_middleware_is_down() {
    let mut broker = Broker::start().await;
    let s = published_while_down(&mut broker, 5, &[Defect::CleanSession], false).await;
    assert_eq!(s["mqtt"]["stored"], 0, "{s}");
    assert_eq!(s["inbox"], 0, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_subscribe_loses_the_events_published_while_the_middleware_is_down() {
    let mut broker = Broker::start().await;
    let s = published_while_down(&mut broker, 5, &[Defect::Qos0Subscribe], false).await;
    assert_eq!(s["inbox"], 0, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_survive_a_broker_restart_with_persistence() {
    let mut broker = Broker::start().await;
    let s = published_while_down(&mut broker, 5, &[], true).await;
    assert_eq!(s["mqtt"]["stored"], 5, "{s}");
    assert_eq!(s["inbox"], 5, "{s}");
    assert!(broker.dir().join("mosquitto.db").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_retained_takes_a_stale_retained_message_in() {
    let broker = Broker::start().await;
    let mut publisher = Publisher::connect(broker.port);
    publisher
        .event(TOPIC, &started_event("stale-1", 1), true)
        .await;
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let mqtt = consumer(&broker, "mw-r");
    let mw = MqttMw::start(config(&plant, dir.path(), mqtt, &[Defect::TrustRetained])).await;
    let s = mw
        .wait_for("stored the retained message", |s| s["mqtt"]["stored"] == 1)
        .await;
    assert_eq!(
        (s["inbox"].clone(), s["mqtt"]["retained_ignored"].clone()),
        (1.into(), 0.into()),
        "{s}"
    );
    mw.stop().await;
}

/// Two instances in one group (client ids `mw-1`, `mw-2`, a store each) and `n` events
/// published: what each stored, once `done` holds for the pair.
async fn two_instances(n: u64, defects: &[Defect], done: impl Fn(u64, u64) -> bool) -> (u64, u64) {
    let broker = Broker::start().await;
    let plant = Plant::start().await;
    let (d1, d2) = (TempDir::new(), TempDir::new());
    let mw1 = MqttMw::start(config(
        &plant,
        d1.path(),
        consumer(&broker, "mw-1"),
        defects,
    ))
    .await;
    let mw2 = MqttMw::start(config(
        &plant,
        d2.path(),
        consumer(&broker, "mw-2"),
        defects,
    ))
    .await;
    let mut publisher = Publisher::connect(broker.port);
    for i in 0..n {
        publisher
            .event(TOPIC, &started_event(&format!("e-{i}"), i + 1), false)
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stored = |s: Value| s["mqtt"]["stored"].as_u64().unwrap_or(0);
        let (a, b) = (stored(mw1.stats().await), stored(mw2.stats().await));
        if done(a, b) {
            mw1.stop().await;
            mw2.stop().await;
            return (a, b);
        }
        assert!(Instant::now() < deadline, "stored {a} and {b} of {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_in_one_group_split_the_events_between_them() {
    let (a, b) = two_instances(6, &[], |a, b| a + b >= 6).await;
    assert_eq!(a + b, 6);
    assert!(a > 0 && b > 0, "split: {a} and {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shared_subscription_gives_every_instance_every_event() {
    let (a, b) = two_instances(6, &[Defect::NoSharedSubscription], |a, b| a == 6 && b == 6).await;
    assert_eq!((a, b), (6, 6));
}

/// The middleware's binary consuming from `broker` as client `mw-k`, its store in `dir`.
async fn spawn_binary(
    plant: &Plant,
    dir: &Path,
    broker: &Broker,
    defects: &[Defect],
) -> (tokio::process::Child, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_andon-reference-middleware"));
    cmd.env_clear()
        .env("PORT", "0")
        .env("DATA_DIR", dir)
        .env("BROKER_URL", format!("mqtt://127.0.0.1:{}", broker.port))
        .env("MQTT_CLIENT_ID", "mw-k")
        // `ack-before-store` never writes behind while a test runs: its kill loses it all.
        .env("WRITE_BEHIND_FLUSH", "1h")
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()),
        )
        .env(
            "DEFECTS",
            defects
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(","),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (system, url) in &plant.urls {
        cmd.env(format!("{}_URL", system.as_str().to_ascii_uppercase()), url);
    }
    let mut child = cmd.spawn().expect("spawn the middleware binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(u) = line.strip_prefix("listening on ") {
                return u.trim().to_string();
            }
        }
        panic!("the middleware ended without printing its URL");
    })
    .await
    .expect("the middleware printed its URL");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// Publishes `n` events to the binary, kills it (-9) once `ready` holds for its stats,
/// starts the correct middleware on the same store and session: its stats once a marker
/// published after the restart has been taken in.
async fn killed_while_taking_in(
    n: u64,
    defects: &[Defect],
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let broker = Broker::start().await;
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let (mut child, url) = spawn_binary(&plant, dir.path(), &broker, defects).await;
    wait_healthy(&url).await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut publisher = Publisher::connect(broker.port);
    let mut published = false;
    loop {
        let s = stats_of(&client, &url).await.expect("stats");
        if !published && s["mqtt"]["connected"] == true {
            for i in 0..n {
                publisher
                    .event(TOPIC, &started_event(&format!("k-{i}"), i + 1), false)
                    .await;
            }
            published = true;
        } else if published && ready(&s) {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {s}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().expect("kill -9");
    let _ = child.wait().await;
    let mw = MqttMw::start(config(&plant, dir.path(), consumer(&broker, "mw-k"), &[])).await;
    marker(&mut publisher).await;
    let s = mw
        .wait_for("took the marker in", |s| s["mqtt"]["refused"] == 1)
        .await;
    mw.stop().await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_minus_nine_while_taking_in_loses_nothing() {
    let s = killed_while_taking_in(20, &[], |s| s["mqtt"]["received"] == 20).await;
    assert_eq!(s["inbox"], 20, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_before_store_loses_what_was_acknowledged_but_not_stored_at_a_kill() {
    let s = killed_while_taking_in(20, &[Defect::AckBeforeStore], |s| {
        s["mqtt"]["stored"] == 20 && s["write_behind"].as_u64() > Some(0)
    })
    .await;
    // Never written behind (`WRITE_BEHIND_FLUSH` is an hour here): all of it is lost.
    assert_eq!(s["inbox"], 0, "lost what was acknowledged: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleware_reconnects_when_the_broker_comes_back() {
    let mut broker = Broker::start().await;
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let mw = MqttMw::start(config(&plant, dir.path(), consumer(&broker, "mw-c"), &[])).await;
    broker.restart().await;
    mw.wait_for("connected again", |s| {
        s["mqtt"]["reconnects"] == 1 && s["mqtt"]["connected"] == true
    })
    .await;
    let mut publisher = Publisher::connect(broker.port);
    publisher
        .event(TOPIC, &started_event("after", 1), false)
        .await;
    let s = mw
        .wait_for("stored the event", |s| s["mqtt"]["stored"] == 1)
        .await;
    assert_eq!(s["inbox"], 1, "{s}");
    mw.stop().await;
}
