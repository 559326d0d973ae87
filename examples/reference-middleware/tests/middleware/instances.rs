//! Several instances of the middleware side by side behind one shared subscription, on one
//! `DATA_DIR` (one store): both take events in, only the holder of the delivery lease
//! delivers, so each lot's commands reach the systems once and in order; killed with
//! SIGKILL, the holder is replaced by the other within a few seconds, which delivers what
//! was pending. Under `no-shared-subscription` each copy keeps a store of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use andon_contracts::{SourceRef, System};
use andon_reference_middleware::Defect;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::broker::{Broker, Publisher};
use crate::helpers::{PLANT, Plant, TempDir, kg_raw_lot, stats_of, wait_healthy};
use crate::mqtt::{MqttMw, config, consumer};
use crate::scenarios::{hold_placed, hold_released, mes_lot, wms_lot};

const QMS: &str = "/andon/qms/1000";

/// Hold `k` of the test lot placed (sequence `2k+1`) or released (`2k+2`), as QMS
/// publishes it.
fn lot_event(k: u64, placed: bool) -> (String, Value) {
    let (material, batch) = kg_raw_lot();
    let hold = format!("H{}", 8000 + k);
    let (kind, data, seq) = if placed {
        (
            "hold_placed",
            hold_placed(&hold, material, batch),
            2 * k + 1,
        )
    } else {
        (
            "hold_released",
            hold_released(&hold, material, batch),
            2 * k + 2,
        )
    };
    let id = format!("lot-{kind}-{k}");
    let event = json!({
        "specversion": "1.0", "id": id, "source": QMS, "type": format!("andon.lot.{kind}.v1"),
        "subject": format!("{material}/{batch}"), "time": "2026-11-02T06:30:00Z",
        "datacontenttype": "application/json", "plant": PLANT, "sequence": seq,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "data": data
    });
    (id, event)
}

/// Publishes holds `from..to`, each placed then released; returns `(id, placed)` of each.
async fn publish_holds(publisher: &mut Publisher, from: u64, to: u64) -> Vec<(String, bool)> {
    let mut sent = Vec::new();
    for k in from..to {
        for placed in [true, false] {
            let (id, event) = lot_event(k, placed);
            let topic = format!("andon/{PLANT}/qms/lot.hold");
            publisher.event(&topic, &event, false).await;
            sent.push((id, placed));
        }
    }
    sent
}

/// Every hold and release landed once at MES and WMS, the lot is free again with the last
/// sequence applied, and the ERP blocked and unblocked the stock in turn (344, 343, …).
fn delivered_once_in_order(plant: &Plant, sent: &[(String, bool)]) {
    for (id, placed) in sent {
        let src = SourceRef {
            source: QMS.into(),
            id: id.clone(),
        };
        let names = if *placed {
            ["mes.hold", "wms.hold"]
        } else {
            ["mes.release", "wms.release"]
        };
        for name in names {
            let n = plant
                .effects_named(name)
                .iter()
                .filter(|e| e.sources.contains(&src))
                .count();
            assert_eq!(n, 1, "{name} of {id} landed {n} times");
        }
    }
    assert!(plant.doubled_effects().is_empty(), "no effect twice");
    let (material, batch) = kg_raw_lot();
    for lot in [
        mes_lot(plant, material, batch).expect("MES lot"),
        wms_lot(plant, material, batch).expect("WMS lot"),
    ] {
        assert_eq!(lot["holds"], json!([]), "{lot}");
        assert_eq!(lot["available"], true, "{lot}");
        assert_eq!(lot["last_sequence"], sent.len(), "{lot}");
    }
    let stale: Vec<_> = plant
        .effects()
        .into_iter()
        .filter(|e| e.detail["stale"] == true)
        .collect();
    assert!(stale.is_empty(), "no status change out of order: {stale:?}");
    let moves: Vec<Value> = plant
        .effects_named("erp.goods_movement")
        .iter()
        .map(|e| e.detail["movement_type"].clone())
        .collect();
    let expected: Vec<Value> = (0..sent.len() / 2)
        .flat_map(|_| [json!("344"), json!("343")])
        .collect();
    assert_eq!(moves, expected, "blocked and unblocked in turn");
}

/// Polls `GET {url}/stats` until `cond` holds (20 s at most).
async fn wait_stats(url: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats_of(&client, url).await.unwrap_or_default();
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never {what}: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `cond` holds (20 s at most).
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The middleware's binary as MQTT client `name`, its store in `dir`: the child and its URL.
async fn spawn_instance(
    plant: &Plant,
    dir: &Path,
    broker: &Broker,
    name: &str,
) -> (tokio::process::Child, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_andon-reference-middleware"));
    cmd.env_clear()
        .env("PORT", "0")
        .env("DATA_DIR", dir)
        .env("BROKER_URL", format!("mqtt://127.0.0.1:{}", broker.port))
        .env("MQTT_CLIENT_ID", name)
        .env("CLIENT_TIMEOUT", "1s")
        .env("BACKOFF_BASE", "20ms")
        .env("BACKOFF_MAX", "300ms")
        .env("LOT_WAIT", "2s")
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()),
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
    wait_healthy(&url).await;
    (child, url)
}

/// Four holds published, each placed then released, with the instance at `holder_url`
/// holding the lease: both take events in, only the holder delivers them, once and in
/// order. What was sent.
async fn holds_delivered_by_the_holder(
    plant: &Plant,
    publisher: &mut Publisher,
    holder_url: &str,
    other: &MqttMw,
) -> Vec<(String, bool)> {
    // Both take events in; only the first delivers them, once and in order.
    let sent = publish_holds(publisher, 0, 4).await;
    // A release reaches MES and WMS before the ERP unblocks the stock: wait for all three.
    wait_until("all four releases at MES, WMS and the ERP", || {
        plant.effects_named("mes.release").len() == 4
            && plant.effects_named("wms.release").len() == 4
            && plant.effects_named("erp.goods_movement").len() == 8
    })
    .await;
    delivered_once_in_order(plant, &sent);
    let stored = |s: &Value| s["mqtt"]["stored"].as_u64().unwrap_or(0);
    let (a, b) = (
        stored(
            &stats_of(&reqwest::Client::new(), holder_url)
                .await
                .expect("stats"),
        ),
        stored(&other.stats().await),
    );
    assert_eq!(a + b, 8, "each event stored once: {a} + {b}");
    assert!(b > 0, "the second took events in, the first delivered them");

    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_store_deliver_each_lot_once_and_in_order_and_one_takes_over() {
    let broker = Broker::start().await;
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let (mut first, first_url) =
        spawn_instance(&plant, dir.path(), &broker, "andon-reference").await;
    wait_stats(&first_url, "the first holds the lease", |s| {
        s["delivery_lease"] == true && s["mqtt"]["connected"] == true
    })
    .await;
    let second = MqttMw::start(config(
        &plant,
        dir.path(),
        consumer(&broker, "andon-reference-2"),
        &[],
    ))
    .await;
    let s = second.stats().await;
    assert_eq!(
        (
            s["delivery_lease"].clone(),
            s["delivery_lease_holder"].clone()
        ),
        (json!(false), json!("andon-reference")),
        "{s}"
    );

    let mut publisher = Publisher::connect(broker.port);
    let mut sent = holds_delivered_by_the_holder(&plant, &mut publisher, &first_url, &second).await;

    // MES unavailable: commands wait in the shared outbox; only the holder counts them.
    let outage = plant.fault(
        System::Mes,
        FaultSpec::new(FaultKind::Unavailable {
            retry_after: Dur(Duration::from_millis(200)),
        }),
    );
    sent.extend(publish_holds(&mut publisher, 4, 6).await);
    let s = second
        .wait_for("MES commands pending", |s| {
            s["inbox"] == 12 && s["pending"].as_u64() >= Some(4)
        })
        .await;
    assert_eq!(
        s["backlog"], 0,
        "a non-holder does not count the shared outbox: {s}"
    );
    let held = stats_of(&reqwest::Client::new(), &first_url)
        .await
        .expect("stats");
    assert!(
        held["backlog"].as_u64() >= Some(4),
        "the holder counts it: {held}"
    );

    // The holder is killed: the second takes the lease over and delivers what is pending.
    first.start_kill().expect("kill -9");
    let _ = first.wait().await;
    let killed = Instant::now();
    plant.clear(System::Mes, &outage);
    second
        .wait_for("took the lease over", |s| s["delivery_lease"] == true)
        .await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(4), "taken over after {took:?}");
    wait_until("all six releases at MES", || {
        plant.effects_named("mes.release").len() == 6
            && plant.effects_named("wms.release").len() == 6
    })
    .await;
    let s = second
        .wait_for("nothing pending", |s| {
            s["pending"] == 0 && s["backlog"] == 0
        })
        .await;
    assert_eq!(s["delivery_lease_holder"], "andon-reference-2", "{s}");
    delivered_once_in_order(&plant, &sent);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shared_subscription_gives_each_copy_its_own_store_and_its_own_keys() {
    let broker = Broker::start().await;
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let defects = [Defect::NoSharedSubscription];
    let mut copies = Vec::new();
    for name in ["mw-1", "mw-2"] {
        let mqtt = consumer(&broker, name);
        copies.push(MqttMw::start(config(&plant, dir.path(), mqtt, &defects)).await);
    }
    for name in ["middleware-mw-1.db", "middleware-mw-2.db"] {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    assert!(
        !dir.path().join("middleware.db").exists(),
        "no shared store"
    );
    for c in &copies {
        let s = c.stats().await;
        assert_eq!(
            s["delivery_lease"], true,
            "each holds its own store's lease: {s}"
        );
    }
    let mut publisher = Publisher::connect(broker.port);
    let (id, event) = lot_event(0, true);
    publisher
        .event("andon/1000/qms/lot.hold", &event, false)
        .await;
    let src = SourceRef {
        source: QMS.into(),
        id,
    };
    wait_until("both copies called MES", || {
        let keys: std::collections::BTreeSet<_> = plant
            .requests()
            .into_iter()
            .filter(|r| r.system == System::Mes && r.sources.contains(&src))
            .filter_map(|r| r.key)
            .collect();
        keys.len() == 2
    })
    .await;
    for c in copies {
        assert_eq!(c.stats().await["inbox"], 1);
        c.stop().await;
    }
}
