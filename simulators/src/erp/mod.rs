//! The ERP simulator (SAP S/4HANA-like): production orders, stock, material documents,
//! confirmations and quality notifications; it releases orders on its own (the seeded
//! plant activity) and emits `production_order.*` and `material.changed` events.

pub mod bc;
mod booking;
pub mod s4hana;
pub mod state;

use std::sync::{Arc, Mutex};

use andon_contracts::api::{
    ConfirmationRequest, GoodsMovementRequest, ProductionOrderList, QualityNotificationRequest,
    ReversalRequest, StockList,
};
use andon_contracts::events::{EventKind, OrderCancelled, OrderChanged};
use andon_contracts::objects::{OrderComponent, OrderStatus, ProductionOrder};
use andon_contracts::{BatchId, MaterialId, OrderId, PlantId, Quantity, StorageLocation};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::core::{Behaviour, Core, Ctx, JsonBody, PlannedEvent, Tick, assemble};
use crate::problem::ApiError;
use booking::{book_confirmation, post_goods, reverse_doc};
pub use state::{ErpState, Rules, StockKey};

/// The ERP simulator.
pub struct Erp {
    /// Shared parts.
    pub core: Core,
    /// Business state (one lock: postings on one material and batch are serialised).
    pub state: Mutex<ErpState>,
    generator: Mutex<Generator>,
    /// What the S/4HANA dialect keeps beside the core (its sessions).
    pub s4: s4hana::S4State,
    /// What the Business Central dialect keeps beside the core (subscriptions, limits,
    /// ledgers).
    pub bc: bc::BcState,
}

#[derive(Serialize, Deserialize)]
struct Generator {
    rng: ChaCha8Rng,
    next_order: u64,
    plant_cursor: usize,
}

impl Erp {
    /// An ERP over `core`, with the master data's initial stock.
    pub fn new(core: Core) -> Arc<Self> {
        let state = ErpState::new(&core.master());
        let seed = core.config().seed;
        let dialects = core.with_config(|c| c.dialects.clone());
        if !dialects.is_empty() {
            // From the start, the history says which plant speaks what.
            core.note("dialects", serde_json::json!(dialects));
        }
        let config = core.config.clone();
        let bc = bc::BcState::default();
        let (subs, clock, history) = (bc.subscriptions.clone(), core.clock, core.history.clone());
        core.emitter.set_wire_form(std::sync::Arc::new(move |ev| {
            let dialect = {
                let plants = config.read().unwrap_or_else(|e| e.into_inner());
                crate::dialect::binding_of(&plants.dialects, &ev.plant).dialect
            };
            match dialect {
                crate::dialect::Dialect::S4hana => s4hana::events::wire(ev)
                    .map_or(crate::emitter::Wire::Canonical, crate::emitter::Wire::Json),
                crate::dialect::Dialect::BusinessCentral => {
                    bc::events::wire(ev, &subs, clock.now(), &history)
                }
                crate::dialect::Dialect::Andon => crate::emitter::Wire::Canonical,
            }
        }));
        Arc::new(Self {
            core,
            state: Mutex::new(state),
            generator: Mutex::new(Generator {
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0E52_0000),
                next_order: 1_000_001,
                plant_cursor: 0,
            }),
            s4: s4hana::S4State::default(),
            bc,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ErpState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rules(&self) -> Rules {
        Rules {
            tolerance_pct: self.core.with_config(|c| c.over_confirmation_tolerance_pct),
        }
    }

    /// Releases one generated production order and emits `production_order.released`.
    fn release_next(&self, g: &mut Generator) -> Option<PlannedEvent> {
        let md = self.core.master().clone();
        if md.plants.is_empty() {
            return None;
        }
        let plant = md.plants[g.plant_cursor % md.plants.len()].clone();
        g.plant_cursor += 1;
        let boms: Vec<_> = md.boms.iter().filter(|b| b.plant == plant.plant).collect();
        if boms.is_empty() {
            return None;
        }
        let bom = boms[g.rng.random_range(0..boms.len())];
        let mat = md.material_in(&bom.material, &plant.plant)?;
        let planned = match plant.profile {
            crate::masterdata::Profile::Discrete => g.rng.random_range(5..=50) * 10_000,
            crate::masterdata::Profile::Batch => g.rng.random_range(5..=50) * 100_000,
        };
        let components = bom
            .components
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let cm = md.material_in(&c.material, &plant.plant)?;
                let per = cm.to_base_milli(&c.quantity)?;
                let qty = per as i128 * planned as i128 / bom.base_quantity.milli.max(1) as i128;
                Some(OrderComponent {
                    reservation_item: format!("{:04}", i + 1),
                    material: c.material.clone(),
                    quantity: Quantity::from_milli(qty as i64, cm.base_unit.clone()),
                    storage_location: plant.storage_locations[0].clone(),
                })
            })
            .collect();
        let operations = md
            .routings
            .iter()
            .find(|r| r.material == bom.material && r.plant == plant.plant)
            .map(|r| r.operations.clone())
            .unwrap_or_default();
        let order_id = OrderId::parse(g.next_order.to_string()).ok()?;
        g.next_order += 1;
        let today = self.core.clock.today();
        let order = ProductionOrder {
            order: order_id.clone(),
            order_type: "PP01".into(),
            plant: plant.plant.clone(),
            material: bom.material.clone(),
            planned_quantity: Quantity::from_milli(planned, mat.base_unit.clone()),
            // Output goes to the plant's finished-goods store (its second storage location,
            // when it has one); components are issued from the first.
            storage_location: plant
                .storage_locations
                .get(1)
                .unwrap_or(&plant.storage_locations[0])
                .clone(),
            status: OrderStatus::Released,
            production_hold: false,
            basic_start: today,
            basic_finish: today + chrono::Days::new(1),
            operations,
            components,
            confirmed_yield: None,
            confirmed_scrap: None,
        };
        self.lock().release_order(order.clone());
        Some(PlannedEvent {
            kind: EventKind::ProductionOrderReleased,
            plant: plant.plant.clone(),
            subject: order_id.as_str().to_string(),
            data: serde_json::to_value(&order).ok()?,
        })
    }

    fn change_some_order(&self, g: &mut Generator) -> Option<PlannedEvent> {
        let (order, cancel) = {
            let st = self.lock();
            let open: Vec<_> = st
                .orders
                .values()
                .filter(|r| r.order.status == OrderStatus::Released && !r.has_postings)
                .collect();
            if open.is_empty() {
                return None;
            }
            let r = open[g.rng.random_range(0..open.len())];
            (r.order.clone(), g.rng.random_bool(0.3))
        };
        let plant = order.plant.clone();
        if cancel {
            if let Some(r) = self.lock().orders.get_mut(&order.order) {
                r.order.status = OrderStatus::Cancelled;
            }
            let data = OrderCancelled {
                order: order.order.clone(),
                plant: plant.clone(),
                reason: "Customer order withdrawn".into(),
            };
            return Some(PlannedEvent {
                kind: EventKind::ProductionOrderCancelled,
                plant: plant.clone(),
                subject: order.order.as_str().to_string(),
                data: serde_json::to_value(data).ok()?,
            });
        }
        let mut changed = order.clone();
        let extra = changed.planned_quantity.milli / 10;
        changed.planned_quantity.milli += extra;
        for c in &mut changed.components {
            c.quantity.milli += c.quantity.milli / 10;
        }
        if let Some(r) = self.lock().orders.get_mut(&order.order) {
            r.order = changed.clone();
        }
        let data = OrderChanged {
            order: changed,
            change_reason: "Planned quantity increased".into(),
        };
        Some(PlannedEvent {
            kind: EventKind::ProductionOrderChanged,
            plant: plant.clone(),
            subject: order.order.as_str().to_string(),
            data: serde_json::to_value(data).ok()?,
        })
    }

    fn change_some_material(&self, g: &mut Generator) -> Option<PlannedEvent> {
        let (plant, mat) = {
            let mut md = self.core.master.write().unwrap_or_else(|e| e.into_inner());
            if md.materials.is_empty() {
                return None;
            }
            let i = g.rng.random_range(0..md.materials.len());
            let m = &mut md.materials[i];
            m.description = format!(
                "{} (rev {})",
                m.description.split(" (rev").next().unwrap_or(""),
                g.rng.random_range(2..99)
            );
            let plant = m
                .plants
                .first()
                .cloned()
                .or_else(|| md.plants.first().map(|p| p.plant.clone()))?;
            (plant, md.materials[i].clone())
        };
        Some(PlannedEvent {
            kind: EventKind::MaterialChanged,
            plant: plant.clone(),
            subject: mat.material.as_str().to_string(),
            data: serde_json::to_value(&mat).ok()?,
        })
    }
}

impl Behaviour for Erp {
    fn core(&self) -> &Core {
        &self.core
    }

    fn snapshot(&self) -> serde_json::Value {
        let st = self.lock();
        let md = self.core.master();
        serde_json::json!({
            "system": "erp",
            "stock": st.stock_rows(&md, None, None, None, None),
            "orders": st.orders.values().map(|r| {
                let mut o = r.order.clone();
                o.confirmed_yield = Some(Quantity::from_milli(r.confirmed_yield.values().max().copied().unwrap_or(0), o.planned_quantity.unit.clone()));
                o.confirmed_scrap = Some(Quantity::from_milli(r.confirmed_scrap.values().sum(), o.planned_quantity.unit.clone()));
                o
            }).collect::<Vec<_>>(),
            "documents": st.documents.values().collect::<Vec<_>>(),
            "confirmations": st.confirmations,
            "notifications": st.notifications,
            "open_periods": md.open_periods,
        })
    }

    fn save(&self) -> serde_json::Value {
        let g = self.generator.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!([&*self.lock(), &*g])
    }

    fn restore(&self, saved: serde_json::Value) -> Result<(), crate::saved::StateError> {
        let (state, generator): (ErpState, Generator) =
            crate::saved::behaviour(andon_contracts::System::Erp, saved)?;
        *self.lock() = state;
        *self.generator.lock().unwrap_or_else(|e| e.into_inner()) = generator;
        Ok(())
    }

    fn next_events(&self) -> Tick {
        let mut g = self.generator.lock().unwrap_or_else(|e| e.into_inner());
        let roll: f64 = g.rng.random();
        let event = if roll < 0.05 {
            self.change_some_material(&mut g)
        } else if roll < 0.08 {
            self.change_some_order(&mut g)
        } else {
            None
        };
        // A step that finds nothing to do is idle; the activity goes on.
        Tick::Emit(
            event
                .or_else(|| self.release_next(&mut g))
                .into_iter()
                .collect(),
        )
    }
}

/// The ERP's router: its API behind the shared middleware, plus the admin API.
pub fn router(erp: Arc<Erp>) -> Router {
    let api = Router::new()
        .route("/api/v1/confirmations", post(confirm))
        .route("/api/v1/material-documents", post(post_movement))
        .route(
            "/api/v1/material-documents/{year}/{number}",
            get(get_document),
        )
        .route(
            "/api/v1/material-documents/{year}/{number}/reversal",
            post(reverse),
        )
        .route("/api/v1/quality-notifications", post(notify))
        .route("/api/v1/stock", get(stock))
        .route("/api/v1/production-orders", get(list_orders))
        .route("/api/v1/production-orders/{order}", get(get_order))
        .route("/api/v1/materials/{material}", get(get_material))
        .route("/plant/{plant}/openapi.json", get(plant_openapi))
        .with_state(erp.clone())
        .merge(s4hana::routes(erp.clone()))
        .merge(bc::routes(erp.clone()));
    assemble(erp.core.clone(), erp, api)
}

/// `GET /plant/{plant}/openapi.json`: the OpenAPI document of the vendor dialect and
/// release the plant's ERP speaks.
async fn plant_openapi(State(erp): State<Arc<Erp>>, Path(plant): Path<String>) -> Response {
    s4hana::openapi(&erp, &plant)
        .or_else(|| bc::openapi(&erp, &plant))
        .unwrap_or_else(|| {
            crate::problem::problem_response(&andon_contracts::Problem::of(
                "not-found",
                format!("plant {plant} speaks no vendor dialect"),
            ))
        })
}

async fn confirm(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    JsonBody(req): JsonBody<ConfirmationRequest>,
) -> Result<Response, ApiError> {
    ctx.scope.check(&req.plant)?;
    let conf = book_confirmation(&erp, &ctx, &req)?;
    Ok((StatusCode::CREATED, Json(conf)).into_response())
}

async fn post_movement(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    JsonBody(req): JsonBody<GoodsMovementRequest>,
) -> Result<Response, ApiError> {
    for it in &req.items {
        ctx.scope.check(&it.plant)?;
    }
    let doc = post_goods(&erp, &ctx, &req)?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

/// The `{year}/{number}` of a material document path; a year that is not a number is a
/// 400 problem rather than axum's plain-text rejection.
fn document_path(
    path: Result<Path<(i32, String)>, axum::extract::rejection::PathRejection>,
) -> Result<(i32, String), ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::invalid(e.body_text(), vec![]))
}

async fn reverse(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    path: Result<Path<(i32, String)>, axum::extract::rejection::PathRejection>,
    JsonBody(req): JsonBody<ReversalRequest>,
) -> Result<Response, ApiError> {
    let (year, number) = document_path(path)?;
    let doc = reverse_doc(&erp, &ctx, (year, &number), &req)?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn notify(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    JsonBody(req): JsonBody<QualityNotificationRequest>,
) -> Result<Response, ApiError> {
    ctx.scope.check(&req.plant)?;
    let n = booking::notify(&erp, &ctx, &req)?;
    Ok((StatusCode::CREATED, Json(n)).into_response())
}

async fn get_document(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    path: Result<Path<(i32, String)>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let (year, number) = document_path(path)?;
    let st = erp.lock();
    let d = st.documents.get(&(year, number.clone())).ok_or_else(|| {
        ApiError::not_found(format!("Material document {number} {year} does not exist"))
    })?;
    // Another plant's document is not this token's to read.
    for it in &d.items {
        ctx.scope.check(&it.posted.plant)?;
    }
    Ok(Json(d).into_response())
}

/// Query of `GET /api/v1/stock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    plant: Option<String>,
    material: Option<String>,
    batch: Option<String>,
    storage_location: Option<String>,
}

fn parse_opt<T>(
    v: Option<String>,
    f: impl Fn(String) -> Result<T, andon_contracts::IdError>,
) -> Result<Option<T>, ApiError> {
    v.map(f)
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string(), vec![]))
}

async fn stock(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    q: Result<Query<StockQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text(), vec![]))?;
    let plant = parse_opt(q.plant, PlantId::parse)?;
    if let Some(p) = &plant {
        ctx.scope.check(p)?;
    }
    let material = parse_opt(q.material, MaterialId::parse)?;
    let batch = parse_opt(q.batch, BatchId::parse)?;
    let sloc = parse_opt(q.storage_location, StorageLocation::parse)?;
    let md = erp.core.master();
    let mut rows = erp.lock().stock_rows(
        &md,
        plant.as_ref(),
        material.as_ref(),
        batch.as_ref(),
        sloc.as_ref(),
    );
    rows.retain(|r| ctx.scope.check(&r.plant).is_ok());
    Ok(Json(StockList { stock: rows }).into_response())
}

/// Query of `GET /api/v1/production-orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    plant: Option<String>,
    status: Option<OrderStatus>,
}

async fn list_orders(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    q: Result<Query<OrderQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text(), vec![]))?;
    let plant = parse_opt(q.plant, PlantId::parse)?;
    let orders = erp
        .lock()
        .orders
        .values()
        .filter(|r| plant.as_ref().is_none_or(|p| &r.order.plant == p))
        .filter(|r| q.status.is_none_or(|s| r.order.status == s))
        .filter(|r| ctx.scope.check(&r.order.plant).is_ok())
        .map(|r| r.order.clone())
        .collect();
    Ok(Json(ProductionOrderList { orders }).into_response())
}

async fn get_order(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    Path(order): Path<String>,
) -> Result<Response, ApiError> {
    let st = erp.lock();
    let r = OrderId::parse(order.clone())
        .ok()
        .and_then(|o| st.orders.get(&o))
        .ok_or_else(|| ApiError::not_found(format!("Order {order} does not exist")))?;
    ctx.scope.check(&r.order.plant)?;
    Ok(Json(&r.order).into_response())
}

/// Query of `GET /api/v1/materials/{material}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialQuery {
    plant: Option<String>,
}

async fn get_material(
    State(erp): State<Arc<Erp>>,
    ctx: Ctx,
    Path(material): Path<String>,
    q: Result<Query<MaterialQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text(), vec![]))?;
    let md = erp.core.master();
    let plant = parse_opt(q.plant, PlantId::parse)?;
    if let Some(p) = &plant {
        ctx.scope.check(p)?;
    }
    let m = md
        .materials
        .iter()
        .find(|m| {
            m.material.as_str() == material
                && plant
                    .as_ref()
                    .is_none_or(|p| m.plants.is_empty() || m.plants.contains(p))
        })
        .ok_or_else(|| match &plant {
            Some(p) => {
                ApiError::not_found(format!("Material {material} not maintained in plant {p}"))
            }
            None => ApiError::not_found(format!("Material {material} does not exist")),
        })?;
    ctx.scope.check_any(&m.plants)?;
    Ok(Json(m).into_response())
}
