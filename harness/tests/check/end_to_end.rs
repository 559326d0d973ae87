//! The four simulators in-process, sharing one history, delivering to a stub ingress that
//! acknowledges everything; the test plays a correct SUT by hand for a few events, then
//! the checkers judge what the simulators recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use andon::check::exactly_once::ExactlyOnce;
use andon::check::{Checker, RunData, Status, run_all};
use andon_contracts::{CloudEvent, PlantId, System};
use andon_simulators::history::Entry;
use andon_simulators::masterdata::{PlantSpec, Profile};
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::assert_status;

struct Plant {
    sims: BTreeMap<System, Simulator>,
    history: History,
    master: MasterData,
    calls: u64,
}

impl Plant {
    async fn call(
        &mut self,
        system: System,
        method: &str,
        uri: &str,
        body: Option<Value>,
        event: Option<&CloudEvent>,
    ) -> (StatusCode, Value) {
        self.calls += 1;
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ev) = event {
            let trace = ev.traceparent.split('-').nth(1).unwrap().to_string();
            req = req
                .header(
                    "traceparent",
                    format!("00-{trace}-{:016x}-01", 0xbeef_0000 + self.calls),
                )
                .header("idempotency-key", format!("{}-{}", ev.id, self.calls));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(
                body.map(|b| Body::from(b.to_string()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        let resp = self.sims[&system]
            .router
            .clone()
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn admin(&mut self, system: System, path: &str, body: Value) -> Value {
        let (s, v) = self.call(system, "POST", path, Some(body), None).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    fn events(&self) -> Vec<CloudEvent> {
        self.history
            .snapshot()
            .into_iter()
            .filter_map(|r| match r.entry {
                Entry::EventEmitted { event, .. } => Some(CloudEvent::clone(&event)),
                _ => None,
            })
            .collect()
    }

    fn last_event(&self, kind: &str) -> CloudEvent {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e.type_ == format!("andon.{kind}.v1"))
            .unwrap_or_else(|| panic!("no {kind} emitted"))
    }

    async fn expect_ok(
        &mut self,
        system: System,
        method: &str,
        uri: &str,
        body: Value,
        ev: &CloudEvent,
    ) -> Value {
        let (s, v) = self.call(system, method, uri, Some(body), Some(ev)).await;
        assert!(s.is_success(), "{method} {uri} to {system}: {s} {v}");
        v
    }

    /// What a correct SUT does for each event (DESIGN.md's flows), by hand.
    async fn realise(&mut self, ev: &CloudEvent) {
        let d = ev.data.to_value();
        let src = json!({ "source": ev.source, "id": ev.id });
        let with_source = |mut v: Value| {
            v["source"] = src.clone();
            v
        };
        match ev.type_.as_str() {
            "andon.production_order.released.v1" => {
                let body = with_source(json!({
                    "order": d["order"], "plant": d["plant"], "material": d["material"],
                    "planned_quantity": d["planned_quantity"], "storage_location": d["storage_location"],
                    "operations": d["operations"], "components": d["components"],
                }));
                self.expect_ok(System::Mes, "POST", "/api/v1/work-orders", body, ev)
                    .await;
            }
            "andon.production_order.changed.v1" => {
                let body = with_source(json!({
                    "order": d["order"], "plant": d["plant"], "material": d["material"],
                    "planned_quantity": d["planned_quantity"], "storage_location": d["storage_location"],
                    "operations": d["operations"], "components": d["components"],
                }));
                let uri = format!("/api/v1/work-orders/{}", d["order"].as_str().unwrap());
                self.expect_ok(System::Mes, "PUT", &uri, body, ev).await;
            }
            "andon.production_order.cancelled.v1" => {
                let uri = format!(
                    "/api/v1/work-orders/{}/cancellation",
                    d["order"].as_str().unwrap()
                );
                self.expect_ok(
                    System::Mes,
                    "POST",
                    &uri,
                    with_source(json!({ "reason": d["reason"] })),
                    ev,
                )
                .await;
            }
            "andon.material.changed.v1" => {
                let uri = format!("/api/v1/materials/{}", d["material"].as_str().unwrap());
                for s in [System::Mes, System::Qms, System::Wms] {
                    self.expect_ok(s, "PUT", &uri, with_source(json!({ "material": d })), ev)
                        .await;
                }
            }
            "andon.material.consumed.v1" => {
                let body = with_source(json!({ "posting_date": d["posting_date"], "items": [{
                    "movement_type": "261", "material": d["material"], "plant": d["plant"],
                    "storage_location": d["storage_location"], "batch": d["batch"],
                    "quantity": d["quantity"], "order": d["order"] }] }));
                self.expect_ok(System::Erp, "POST", "/api/v1/material-documents", body, ev)
                    .await;
            }
            "andon.material.produced.v1" => {
                let body = with_source(json!({ "posting_date": d["posting_date"], "items": [{
                    "movement_type": "101", "material": d["material"], "plant": d["plant"],
                    "storage_location": d["storage_location"], "batch": d["batch"],
                    "quantity": d["quantity"], "order": d["order"] }] }));
                self.expect_ok(System::Erp, "POST", "/api/v1/material-documents", body, ev)
                    .await;
                let lot = with_source(json!({
                    "plant": d["plant"], "storage_location": d["storage_location"], "material": d["material"],
                    "batch": d["batch"], "quantity": d["quantity"], "order": d["order"],
                }));
                self.expect_ok(System::Wms, "POST", "/api/v1/receipts", lot.clone(), ev)
                    .await;
                let inspected = self
                    .master
                    .materials
                    .iter()
                    .any(|m| m.material.as_str() == d["material"] && m.inspection_required);
                if inspected {
                    let mut body = lot;
                    body["origin"] = json!("04");
                    self.expect_ok(System::Qms, "POST", "/api/v1/inspection-lots", body, ev)
                        .await;
                }
            }
            "andon.lot.hold_placed.v1" => {
                let (p, m, b) = (
                    d["plant"].as_str().unwrap(),
                    d["material"].as_str().unwrap(),
                    d["batch"].as_str().unwrap(),
                );
                // ERP 344 of the lot's unrestricted stock, when there is some.
                let (_, stock) = self
                    .call(
                        System::Erp,
                        "GET",
                        &format!("/api/v1/stock?plant={p}&material={m}&batch={b}"),
                        None,
                        Some(ev),
                    )
                    .await;
                for row in stock["stock"].as_array().cloned().unwrap_or_default() {
                    if row["stock_type"] == "unrestricted" {
                        let body = with_source(json!({ "posting_date": "2026-11-02", "items": [{
                            "movement_type": "344", "material": m, "plant": p,
                            "storage_location": row["storage_location"], "batch": b, "quantity": row["quantity"] }] }));
                        self.expect_ok(System::Erp, "POST", "/api/v1/material-documents", body, ev)
                            .await;
                    }
                }
                let uri = format!("/api/v1/lots/{p}/{m}/{b}/holds");
                for s in [System::Mes, System::Wms] {
                    let body = with_source(
                        json!({ "hold_id": d["hold_id"], "reason_code": d["reason_code"], "sequence": ev.sequence }),
                    );
                    self.expect_ok(s, "POST", &uri, body, ev).await;
                }
            }
            other => panic!("the hand-played SUT does not handle {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_played_correct_sut_passes_and_a_dropped_effect_is_named() {
    // The SUT's ingress: acknowledges every event.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingress = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/events/{system}",
        axum::routing::post(|| async { StatusCode::ACCEPTED }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let master = MasterData::generate(
        7,
        &[PlantSpec {
            id: PlantId::parse("1000").unwrap(),
            lines: 2,
            materials: 4,
            profile: Profile::Discrete,
        }],
    );
    let history = History::new();
    let mut sims = BTreeMap::new();
    for s in System::ALL {
        let sim = Simulator::new(s, SimConfig::default(), master.clone(), history.clone());
        sim.core
            .emitter
            .set_ingress(Some(format!("{ingress}/events/{s}")));
        sims.insert(s, sim);
    }
    let mut plant = Plant {
        sims,
        history,
        master: master.clone(),
        calls: 0,
    };

    // ERP releases orders on its own; realise whatever it emitted until an order is out.
    let mut done = 0;
    while !plant
        .events()
        .iter()
        .any(|e| e.type_ == "andon.production_order.released.v1")
    {
        plant
            .admin(System::Erp, "/_andon/activity/step", json!({ "count": 1 }))
            .await;
    }
    let erp_events = plant.events();
    for ev in &erp_events[done..] {
        plant.realise(ev).await;
    }
    done = erp_events.len();
    let order = plant.last_event("production_order.released");
    let od = order.data.to_value();

    // MES consumes the first component from a batch of the initial stock.
    let comp = &od["components"][0];
    let batch = master
        .stock
        .iter()
        .find(|s| s.material.as_str() == comp["material"])
        .and_then(|s| s.batch.clone())
        .unwrap();
    plant
        .admin(
            System::Mes,
            "/_andon/events",
            json!({
            "kind": "material.consumed", "plant": "1000", "data": {
                "order": od["order"], "plant": "1000", "storage_location": comp["storage_location"],
                "material": comp["material"], "batch": batch.as_str(),
                "quantity": { "value": 1.0, "unit": comp["quantity"]["unit"] },
                "reservation_item": comp["reservation_item"], "posting_date": "2026-11-02" } }),
        )
        .await;
    // … produces the order's material …
    plant
        .admin(
            System::Mes,
            "/_andon/events",
            json!({
            "kind": "material.produced", "plant": "1000", "data": {
                "order": od["order"], "plant": "1000", "storage_location": od["storage_location"],
                "material": od["material"], "batch": "P1000001",
                "quantity": { "value": 10.0, "unit": od["planned_quantity"]["unit"] },
                "posting_date": "2026-11-02", "manufacture_date": "2026-11-02" } }),
        )
        .await;
    // … and the QMS puts the new lot on hold.
    plant
        .admin(System::Qms, "/_andon/events", json!({
            "kind": "lot.hold_placed", "plant": "1000", "data": {
                "hold_id": "H0000001", "plant": "1000", "material": od["material"], "batch": "P1000001",
                "scope": "batch", "reason_code": "QH01", "placed_at": "2026-11-02T06:00:00Z" } }))
        .await;
    let all = plant.events();
    for ev in &all[done..] {
        plant.realise(ev).await;
    }

    for s in plant.sims.values() {
        tokio::time::timeout(Duration::from_secs(20), s.core.emitter.drained())
            .await
            .expect("every event delivered");
    }
    let run = RunData {
        records: plant.history.snapshot(),
        snapshots: plant
            .sims
            .iter()
            .map(|(s, sim)| (*s, sim.behaviour.snapshot()))
            .collect(),
        master: master.clone(),
        expect: Default::default(),
        dead_letters: Some(Vec::new()),
    };

    let v = ExactlyOnce.check(&run);
    assert_status(&v, Status::Pass);
    assert!(v.count("judged") >= 4, "{:?}", v.counts);
    for v in run_all(&run) {
        assert_ne!(
            v.status,
            Status::Fail,
            "{}",
            serde_json::to_string_pretty(&v).unwrap()
        );
    }

    // Drop the ERP posting of the consumption: exactly-once names the event.
    let consumption = plant.last_event("material.consumed");
    let mut broken = run.clone();
    broken.records.retain(|r| {
        !matches!(&r.entry, Entry::Effect { effect, sources, .. }
            if effect == "erp.goods_movement" && sources.contains(&consumption.key()))
    });
    assert_eq!(broken.records.len(), run.records.len() - 1);
    let v = ExactlyOnce.check(&broken);
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("lost"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.event.as_ref(), Some(&consumption.key()));
    assert_eq!(w.system, Some(System::Erp));
    assert!(
        w.expected
            .starts_with("one ERP goods movement 261 for material.consumed of"),
        "{}",
        w.expected
    );
    assert!(w.happened.contains("answered 201"), "{}", w.happened);
}
