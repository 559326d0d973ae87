//! Connection-level faults of a simulator served on a real socket, seen by a real HTTP
//! client: `refuse`, `reset`, `hang`, `commit_then_reset`, and `slow` finishing the work of
//! a client that gave up.

use std::future::Future;
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::faults::{FaultKind, FaultSpec};
use andon_simulators::history::{Entry, Outcome, RequestEntry};
use andon_simulators::masterdata::{PlantSpec, Profile};
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::helpers::*;

/// A simulator served on 127.0.0.1 on an ephemeral port; shuts down when dropped.
struct Served {
    sim: Simulator,
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Served {
    async fn start(system: System) -> Self {
        init_tracing();
        let master = MasterData::generate(
            1,
            &[PlantSpec {
                id: plant(PLANT),
                lines: 1,
                materials: 2,
                profile: Profile::Discrete,
            }],
        );
        let sim = Simulator::new(system, SimConfig::default(), master, History::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let served = sim.clone();
        let task = tokio::spawn(async move {
            served
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
        });
        Self {
            sim,
            base,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Applies a fault through the admin API over the socket; returns its id.
    async fn apply(&self, client: &reqwest::Client, spec: Value) -> String {
        let r = client
            .post(self.url("/_andon/faults"))
            .json(&spec)
            .send()
            .await
            .expect("admin API answers");
        assert_eq!(r.status(), 201, "applying {spec}");
        let body: Value = r.json().await.expect("json");
        body["id"].as_str().expect("fault id").to_string()
    }

    /// Clears a fault through the admin API over the socket.
    async fn clear(&self, client: &reqwest::Client, id: &str) {
        let r = client
            .delete(self.url(&format!("/_andon/faults/{id}")))
            .send()
            .await
            .expect("admin API answers");
        assert_eq!(r.status(), 204, "clearing {id}");
    }

    /// Stops serving and waits for the server to end cleanly.
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the server stops on shutdown")
            .expect("server task")
            .expect("server ends without an error");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client without connection reuse, so that every request opens a connection.
fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(timeout)
        .build()
        .expect("client")
}

/// Retries `attempt` every 20 ms until it yields a value, at most [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out = format!("{out}: {s}");
        src = s.source();
    }
    out
}

#[tokio::test]
async fn refuse_closes_the_port_and_clearing_opens_the_same_port_again() {
    let srv = Served::start(System::Erp).await;
    let http = client(Duration::from_secs(5));
    let health = srv.url("/_andon/health");
    assert_eq!(http.get(&health).send().await.expect("up").status(), 200);

    let id = srv
        .sim
        .core
        .faults
        .add(FaultSpec::new(FaultKind::Refuse))
        .expect("valid fault");
    let refused = eventually("connection refused", || {
        let req = http.get(&health).send();
        async move {
            match req.await {
                // A connection racing the close of the listener may be reset instead.
                Err(e) if error_chain(&e).to_ascii_lowercase().contains("refused") => Some(e),
                _ => None,
            }
        }
    })
    .await;
    assert!(refused.is_connect(), "{}", error_chain(&refused));
    assert!(refused.status().is_none());

    assert!(srv.sim.core.faults.clear(&id));
    let status = eventually("answers again on the same port", || {
        let req = http.get(&health).send();
        async move { req.await.ok().map(|r| r.status()) }
    })
    .await;
    assert_eq!(status, 200);
    let stock = http
        .get(srv.url("/api/v1/stock?plant=1000"))
        .send()
        .await
        .expect("the API answers too");
    assert_eq!(stock.status(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn reset_drops_the_connection_without_an_answer_until_cleared() {
    let srv = Served::start(System::Erp).await;
    let http = client(Duration::from_secs(5));
    let id = srv.apply(&http, json!({"kind": "reset"})).await;
    let err = http
        .get(srv.url("/api/v1/stock?plant=1000"))
        .send()
        .await
        .expect_err("no answer under reset");
    assert!(err.status().is_none(), "{err:?}");
    assert!(
        !err.is_timeout() && !err.is_connect(),
        "{}",
        error_chain(&err)
    );
    // The admin API is not affected, and the history names the fault.
    srv.sim.core.history.with_records(|r| {
        assert!(
            r.iter().any(|r| matches!( r.entry.request(),
                Some(RequestEntry { fault: Some(f), path, .. }) if f == "reset" && path == "/api/v1/stock"
            )),
            "a request record with fault reset"
        );
    });
    srv.clear(&http, &id).await;
    let ok = http
        .get(srv.url("/api/v1/stock?plant=1000"))
        .send()
        .await
        .expect("answered after clearing");
    assert_eq!(ok.status(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn hang_makes_the_client_time_out_and_clearing_restores_answers() {
    let srv = Served::start(System::Erp).await;
    let http = client(Duration::from_secs(5));
    let impatient = client(Duration::from_millis(300));
    let id = srv
        .apply(&http, json!({"kind": "hang", "path": "/api/v1/stock"}))
        .await;
    let started = Instant::now();
    let err = impatient
        .get(srv.url("/api/v1/stock?plant=1000"))
        .send()
        .await
        .expect_err("a hung request is never answered");
    assert!(err.is_timeout(), "{}", error_chain(&err));
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Other paths still answer while the fault hangs the stock endpoint.
    let order = impatient
        .get(srv.url("/api/v1/production-orders?plant=1000"))
        .send()
        .await
        .expect("not hung");
    assert_eq!(order.status(), 200);
    srv.clear(&http, &id).await;
    let ok = impatient
        .get(srv.url("/api/v1/stock?plant=1000"))
        .send()
        .await
        .expect("answered after clearing");
    assert_eq!(ok.status(), 200);
    srv.stop().await;
}

/// Unrestricted stock of a batch in plant 1000, through the API.
async fn unrestricted(http: &reqwest::Client, srv: &Served, material: &str, batch: &str) -> f64 {
    let body: Value = http
        .get(srv.url(&format!(
            "/api/v1/stock?plant={PLANT}&material={material}&batch={batch}"
        )))
        .send()
        .await
        .expect("stock")
        .json()
        .await
        .expect("json");
    body["stock"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["stock_type"] == "unrestricted")
        .map(|r| r["quantity"]["value"].as_f64().expect("number"))
        .sum()
}

/// A consumption the ERP can post: a released order of its own activity and a raw
/// material batch with stock, as the body of `POST /api/v1/material-documents`; and the
/// batch's unrestricted stock before.
struct Consumption {
    posting: Value,
    material: String,
    batch: String,
    before: f64,
}

async fn consumption(srv: &Served, http: &reqwest::Client, event_id: &str) -> Consumption {
    let step = http
        .post(srv.url("/_andon/activity/step"))
        .json(&json!({"count": 3}))
        .send()
        .await
        .expect("step");
    assert_eq!(step.status(), 200);
    let orders: Value = http
        .get(srv.url("/api/v1/production-orders?plant=1000&status=released"))
        .send()
        .await
        .expect("orders")
        .json()
        .await
        .expect("json");
    let order = orders["orders"][0]["order"]
        .as_str()
        .expect("a released order")
        .to_string();
    let (material, batch, unit) = {
        let md = srv.sim.core.master();
        let s = md
            .stock
            .iter()
            .find(|s| s.material.as_str().starts_with("RM-") && s.batch.is_some())
            .expect("raw material stock");
        let unit = md
            .materials
            .iter()
            .find(|m| m.material == s.material)
            .expect("material")
            .base_unit
            .to_string();
        (
            s.material.to_string(),
            s.batch.as_ref().expect("batch").to_string(),
            unit,
        )
    };
    let before = unrestricted(http, srv, &material, &batch).await;
    assert!(before >= 2.0);
    let posting = json!({
        "posting_date": srv.sim.core.clock.today().to_string(),
        "items": [{
            "movement_type": "261",
            "material": material,
            "plant": PLANT,
            "storage_location": "0001",
            "batch": batch,
            "quantity": {"value": 1, "unit": unit},
            "order": order,
        }],
        "source": {"source": "/andon/mes/1000", "id": event_id},
    });
    Consumption {
        posting,
        material,
        batch,
        before,
    }
}

/// Posts `c` with an `Idempotency-Key`.
async fn post(
    http: &reqwest::Client,
    srv: &Served,
    c: &Consumption,
    key: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(srv.url("/api/v1/material-documents"))
        .header("idempotency-key", key)
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&c.posting)
        .send()
        .await
}

/// The outcomes of the ERP's goods-movement effects so far.
fn movement_outcomes(srv: &Served) -> Vec<Outcome> {
    srv.sim.core.history.with_records(|r| {
        r.iter()
            .filter_map(|r| match &r.entry {
                Entry::Effect {
                    effect, outcome, ..
                } if effect == "erp.goods_movement" => Some(*outcome),
                _ => None,
            })
            .collect()
    })
}

#[tokio::test]
async fn commit_then_reset_posts_the_consumption_but_the_client_never_sees_the_answer() {
    let srv = Served::start(System::Erp).await;
    let http = client(Duration::from_secs(5));
    let c = consumption(&srv, &http, "evt-commit-then-reset").await;
    let id = srv
        .apply(
            &http,
            json!({"kind": "commit_then_reset", "path": "/api/v1/material-documents", "method": "POST"}),
        )
        .await;
    let err = post(&http, &srv, &c, "consume-1")
        .await
        .expect_err("the answer is lost");
    assert!(
        err.status().is_none() && !err.is_timeout(),
        "{}",
        error_chain(&err)
    );
    // …but the consumption is committed.
    let after = unrestricted(&http, &srv, &c.material, &c.batch).await;
    assert!(
        (c.before - after - 1.0).abs() < 1e-9,
        "{} -> {after}",
        c.before
    );
    assert_eq!(
        movement_outcomes(&srv),
        vec![Outcome::Info],
        "one indeterminate effect"
    );

    // The SUT's retry with the same key gets the committed answer and posts nothing twice.
    srv.clear(&http, &id).await;
    let retry = post(&http, &srv, &c, "consume-1")
        .await
        .expect("answered after clearing");
    assert_eq!(retry.status(), 201);
    assert_eq!(
        retry
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert!((unrestricted(&http, &srv, &c.material, &c.batch).await - after).abs() < 1e-9);
    srv.stop().await;
}

#[tokio::test]
async fn a_slow_erp_finishes_the_posting_its_client_gave_up_on_and_a_fresh_key_books_it_twice() {
    let srv = Served::start(System::Erp).await;
    let http = client(Duration::from_secs(5));
    let c = consumption(&srv, &http, "evt-slow").await;
    srv.apply(
        &http,
        json!({"kind": "slow", "median": "600ms", "p99": "600ms", "path": "/api/v1/material-documents"}),
    )
    .await;
    // A middleware with a timeout shorter than the ERP's answer gives up…
    let impatient = client(Duration::from_millis(150));
    let err = post(&impatient, &srv, &c, "consume-1")
        .await
        .expect_err("the client gives up");
    assert!(err.is_timeout(), "{}", error_chain(&err));
    // …and the ERP still commits the posting, like a real one.
    let after = eventually("the posting committed after the client left", || async {
        let now = unrestricted(&http, &srv, &c.material, &c.batch).await;
        ((c.before - now - 1.0).abs() < 1e-9).then_some(now)
    })
    .await;
    assert_eq!(
        movement_outcomes(&srv),
        vec![Outcome::Info],
        "the answer never arrived"
    );
    srv.sim.core.history.with_records(|r| {
        assert!(
            r.iter().any(|r| matches!( r.entry.request(),
                Some(RequestEntry { fault: Some(f), status: 201, .. }) if f == "slow")),
            "the request record says the slow answer was not seen"
        );
    });
    // A retry under the same key gets the committed answer: nothing twice.
    let same = post(&http, &srv, &c, "consume-1").await.expect("answered");
    assert_eq!(same.status(), 201);
    assert!((unrestricted(&http, &srv, &c.material, &c.batch).await - after).abs() < 1e-9);
    // A retry under a fresh key is a new posting: the double posting andon must catch.
    let fresh = post(&http, &srv, &c, "consume-2").await.expect("answered");
    assert_eq!(fresh.status(), 201);
    assert!((unrestricted(&http, &srv, &c.material, &c.batch).await - (after - 1.0)).abs() < 1e-9);
    srv.stop().await;
}

#[tokio::test]
async fn serving_goes_on_and_stops_on_shutdown_when_the_fault_registry_is_gone() {
    let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let (refuse, refusing) = tokio::sync::watch::channel(false);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/ping", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(andon_simulators::server::serve(
        listener,
        router,
        refusing,
        async {
            let _ = stopped.await;
        },
    ));
    drop(refuse);
    let http = client(Duration::from_secs(2));
    for _ in 0..3 {
        let r = http.get(&url).send().await.expect("still served");
        assert_eq!(r.text().await.expect("body"), "pong");
    }
    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the server stops on shutdown")
        .expect("server task")
        .expect("no error");
}
