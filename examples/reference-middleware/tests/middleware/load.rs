//! Ingress throughput: the store is not the bottleneck of a shift-change burst.

use std::time::{Duration, Instant};

use andon_contracts::System;
use tokio::net::TcpListener;

use crate::helpers::{TempDir, post_event, wait_healthy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_stores_a_burst_of_events_quickly() {
    let dir = TempDir::new();
    // No targets: only the ingress and the store are measured.
    let config = andon_reference_middleware::Config::new(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(andon_reference_middleware::run_on(
        config,
        listener,
        async move {
            let _ = rx.await;
        },
    ));
    wait_healthy(&url).await;
    let client = reqwest::Client::new();
    let n = 3000u64;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..32u64 {
        let (client, url) = (client.clone(), url.clone());
        set.spawn(async move {
            for i in (w..n).step_by(32) {
                let mut e = crate::helpers::started_event(&format!("burst-{i}"), i + 1);
                e["type"] = "andon.operation.confirmed.v1".into();
                e["data"] = serde_json::json!({"order": "1000001", "operation": "0010", "plant": "1000",
                    "work_center": "LINE-1", "yield": {"value": 1, "unit": "PC"}, "scrap": {"value": 0, "unit": "PC"},
                    "rework": {"value": 0, "unit": "PC"}, "final": false, "posting_date": "2026-11-02"});
                assert_eq!(post_event(&client, &url, System::Mes, &e).await, 202);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    let stats: serde_json::Value = reqwest::get(format!("{url}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["inbox"], n);
    assert_eq!(
        stats["pending"], n,
        "one ERP command per confirmation, stored"
    );
    let rate = n as f64 / elapsed.as_secs_f64();
    eprintln!("{n} events in {elapsed:?}: {rate:.0}/s");
    assert!(elapsed < Duration::from_secs(30), "{rate:.0} events/s");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
