//! The servers of the benchmark scripts. `ci/bench-erp.sh` loads the first two with the same
//! request, to measure what the ERP simulator costs per goods movement against the floor of
//! the HTTP stack:
//!
//! * [`Kind::Erp`] — the ERP simulator with its whole middleware (contract validation,
//!   history, authentication and idempotency layers, faults) and its business rules,
//!   over master data holding 10⁹ KG of one raw-material batch and a released order, so
//!   that consumption (261) never runs out;
//! * [`Kind::Trivial`] — an axum handler that decodes the same body into the contract type
//!   and answers 201 with a small JSON document.
//!
//! `ci/bench-load.sh` loads the third with CloudEvents, to measure load generators (andon's
//! own, `crate::benchgen`, beside wrk and oha) rather than a server:
//!
//! * [`Kind::Sink`] — a trivial ingress: any `POST /events` has its body read in full and is
//!   answered 202 with an empty body.
//!
//! All run on the same connection-serving loop (`andon_simulators::server::serve`), so the
//! difference is the simulator's own work.

use std::future::Future;

use andon_contracts::api::GoodsMovementRequest;
use andon_contracts::objects::{OrderComponent, OrderOperation, OrderStatus, ProductionOrder};
use andon_contracts::{
    MaterialId, OperationId, OrderId, PlantId, Quantity, StorageLocation, System, Unit,
};
use andon_simulators::erp::{self, Erp};
use andon_simulators::{Core, History, MasterData, SimConfig};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The ERP simulator.
    Erp,
    /// A trivial handler of the same request.
    Trivial,
    /// A trivial CloudEvents ingress: `POST /events` answered 202.
    Sink,
}

/// The path both servers answer.
pub const PATH: &str = "/api/v1/material-documents";
/// The path the sink answers.
pub const SINK_PATH: &str = "/events";
/// The released order the postings consume for.
pub const ORDER: &str = "100000001";

/// One plant, one raw material in KG with 10⁹ KG in batch `B1`, one finished good.
pub const MASTER_DATA: &str = r#"
open_periods: ["2026/11", "2026/10"]
plants:
  - plant: "1000"
    company_code: "1000"
    storage_locations: ["0001"]
materials:
  - material: RM-1
    description: Raw material
    base_unit: KG
    batch_managed: true
    inspection_required: false
    plants: ["1000"]
  - material: FG-1
    description: Finished good
    base_unit: PC
    batch_managed: true
    inspection_required: false
    plants: ["1000"]
stock:
  - plant: "1000"
    storage_location: "0001"
    material: RM-1
    batch: B1
    stock_type: unrestricted
    quantity: {value: 1000000000, unit: KG}
"#;

/// The request both servers are loaded with: 1 KG of RM-1 batch B1 consumed for the
/// order (261), without an `Idempotency-Key`, so that every request posts.
pub fn request_body() -> serde_json::Value {
    serde_json::json!({
        "posting_date": "2026-11-02",
        "items": [{
            "movement_type": "261",
            "material": "RM-1",
            "plant": "1000",
            "storage_location": "0001",
            "batch": "B1",
            "quantity": {"value": 1, "unit": "KG"},
            "order": ORDER
        }],
        "source": {"source": "/andon/mes/1000", "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}
    })
}

/// The ERP simulator's router over [`MASTER_DATA`] with order [`ORDER`] released.
pub fn erp_router() -> Result<Router, String> {
    erp_router_on(History::new())
}

/// [`erp_router`], writing its history into `history`.
fn erp_router_on(history: History) -> Result<Router, String> {
    let md = MasterData::parse(MASTER_DATA, "bench master data").map_err(|e| e.to_string())?;
    let core = Core::new(System::Erp, SimConfig::default(), md, history);
    let erp = Erp::new(core);
    erp.state
        .lock()
        .map_err(|_| "ERP state poisoned".to_string())?
        .release_order(order().map_err(|e| e.to_string())?);
    Ok(erp::router(erp))
}

fn order() -> Result<ProductionOrder, andon_contracts::IdError> {
    let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
    let kg = Unit::parse("KG")?;
    let pc = Unit::parse("PC")?;
    let sloc = StorageLocation::parse("0001")?;
    Ok(ProductionOrder {
        order: OrderId::parse(ORDER)?,
        order_type: "PP01".into(),
        plant: PlantId::parse("1000")?,
        material: MaterialId::parse("FG-1")?,
        planned_quantity: Quantity::from_milli(1_000_000, pc),
        storage_location: sloc.clone(),
        status: OrderStatus::Released,
        production_hold: false,
        basic_start: day,
        basic_finish: day,
        operations: vec![OrderOperation {
            operation: OperationId::parse("0010")?,
            work_center: "LINE-1".into(),
            description: "Mix".into(),
        }],
        components: vec![OrderComponent {
            reservation_item: "0001".into(),
            material: MaterialId::parse("RM-1")?,
            quantity: Quantity::from_milli(1_000_000_000_000, kg),
            storage_location: sloc,
        }],
        confirmed_yield: None,
        confirmed_scrap: None,
    })
}

/// The trivial handler: decode the body, answer 201 with a small document.
pub fn trivial_router() -> Router {
    async fn post_movement(
        Json(req): Json<GoodsMovementRequest>,
    ) -> (StatusCode, Json<serde_json::Value>) {
        (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "material_document": "4900000000",
                "year": 2026,
                "items": req.items.len(),
            })),
        )
    }
    Router::new()
        .route(PATH, post(post_movement))
        .route("/_andon/health", get(|| async { "ok" }))
}

/// The trivial ingress: read the body in full (whatever its content type), answer 202 with
/// an empty body.
pub fn sink_router() -> Router {
    async fn accept(body: Bytes) -> StatusCode {
        drop(body);
        StatusCode::ACCEPTED
    }
    Router::new()
        .route(SINK_PATH, post(accept))
        .route("/_andon/health", get(|| async { "ok" }))
}

/// What the ERP keeps per posting, measured in process by [`memory`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemoryReport {
    /// Postings measured (after the warm-up).
    pub postings: usize,
    /// The request body's JSON text, in bytes: the baseline (what the SUT sent).
    pub body_bytes: usize,
    /// Bytes the history holds per posting: the resident memory a copy of the history takes
    /// (the request and the effect record, every string, body and detail they own, and the
    /// allocator's rounding), over every posting.
    pub history_bytes: f64,
    /// The growth of resident memory per posting over the measured postings: the history
    /// (with its vector's spare capacity) and the ERP's state (the material documents).
    pub resident_bytes: f64,
    /// `size_of` one history record.
    pub record_size: usize,
}

/// Posts `warmup + postings` goods movements ([`request_body`]) to the ERP simulator in
/// process (no sockets), and measures with `live` (the process's resident bytes,
/// [`resident_bytes`]) what each posting keeps: in the history, and in all.
pub async fn memory(
    warmup: usize,
    postings: usize,
    live: impl Fn() -> i64,
) -> Result<MemoryReport, String> {
    use tower::ServiceExt;
    let history = History::new();
    let router = erp_router_on(history.clone())?;
    let body = request_body().to_string();
    let post = |router: Router| {
        let req = axum::http::Request::post(PATH)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.clone()));
        async move {
            let req = req.map_err(|e| e.to_string())?;
            let resp = router.oneshot(req).await.map_err(|e| e.to_string())?;
            match resp.status() {
                StatusCode::CREATED => Ok(()),
                s => Err(format!("the ERP answered {s} to a posting")),
            }
        }
    };
    for _ in 0..warmup {
        post(router.clone()).await?;
    }
    let before = live();
    for _ in 0..postings {
        post(router.clone()).await?;
    }
    let after = live();
    let records = history.len();
    let copy = history.snapshot();
    let history_total = live() - after;
    drop(copy);
    let all = warmup + postings;
    if records != 2 * all {
        return Err(format!(
            "{records} history records for {all} postings: expected a request and an effect each"
        ));
    }
    Ok(MemoryReport {
        postings,
        body_bytes: body.len(),
        history_bytes: history_total as f64 / all as f64,
        resident_bytes: (after - before) as f64 / postings.max(1) as f64,
        record_size: std::mem::size_of::<andon_simulators::history::Record>(),
    })
}

/// The process's resident memory in bytes (`VmRSS` of `/proc/self/status`; 0 where it
/// cannot be read).
pub fn resident_bytes() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<i64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Serves `kind` on `listener` until `shutdown` resolves.
pub async fn serve(
    kind: Kind,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = match kind {
        Kind::Erp => erp_router().map_err(std::io::Error::other)?,
        Kind::Trivial => trivial_router(),
        Kind::Sink => sink_router(),
    };
    // Never refusing: no fault registry behind any of them.
    let (_keep, refusing) = watch::channel(false);
    andon_simulators::server::serve(listener, router, refusing, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn memory_posts_every_movement_and_measures_with_the_gauge_it_is_given() {
        // A gauge that grows by 1,000 bytes at every reading: the history's copy is read
        // once after the postings (1,000 over 6 postings), the growth twice apart (1,000
        // over 4).
        let readings = std::sync::atomic::AtomicI64::new(0);
        let gauge = || readings.fetch_add(1000, std::sync::atomic::Ordering::Relaxed);
        let r = memory(2, 4, gauge).await.expect("measured");
        assert_eq!(
            (r.postings, r.body_bytes),
            (4, request_body().to_string().len())
        );
        assert_eq!(r.resident_bytes, 250.0);
        assert!((r.history_bytes - 1000.0 / 6.0).abs() < 1e-9);
        assert_eq!(
            r.record_size,
            std::mem::size_of::<andon_simulators::history::Record>()
        );
        assert!(resident_bytes() > 0, "VmRSS is readable on Linux");
    }

    async fn post(router: Router) -> (StatusCode, serde_json::Value) {
        let r = router
            .oneshot(
                Request::post(PATH)
                    .header("content-type", "application/json")
                    .body(Body::from(request_body().to_string()))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn the_erp_posts_the_bench_request_again_and_again() {
        andon_contracts::validate("api/GoodsMovementRequest", &request_body()).expect("valid");
        let router = erp_router().expect("router");
        for _ in 0..3 {
            let (status, doc) = post(router.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{doc}");
        }
    }

    #[tokio::test]
    async fn the_sink_reads_a_cloudevent_and_answers_202_with_no_body() {
        let body = crate::benchgen::sample_body().await.expect("body");
        let r = sink_router()
            .oneshot(
                Request::post(SINK_PATH)
                    .header("content-type", "application/cloudevents+json")
                    .body(Body::from(body))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(bytes.is_empty());
    }

    #[tokio::test]
    async fn the_trivial_handler_answers_201() {
        let (status, doc) = post(trivial_router()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(doc["items"], 1);
    }
}
