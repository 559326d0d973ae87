//! The MES simulator: runs the work orders it received. For each it generates operations,
//! consumption of component batches (only unrestricted lots it has not been told are held),
//! confirmations with yield and scrap, output batches with genealogy, and final
//! confirmations — at the scenario's rate and in the plant's profile (discrete: many small
//! confirmations; batch: fewer, larger ones). Each order's script is drawn from a seed
//! derived from the run seed and the order number, so it does not depend on arrival order.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use andon_contracts::api::{WorkOrder, WorkOrderCancellation, WorkOrderDownload, WorkOrderStatus};
use andon_contracts::events::EventKind;
use andon_contracts::objects::BatchRef;
use andon_contracts::{MaterialId, OrderId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::core::{Behaviour, Core, Ctx, JsonBody, PlannedEvent, Tick, assemble};
use crate::lot_api::{LotKeeper, MaterialReplica, lot_routes, material_routes};
use crate::lots::{LotKey, Lots};
use crate::problem::ApiError;

mod script;

/// A work order with its execution script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkOrderRecord {
    /// The work order.
    pub work_order: WorkOrder,
    /// Where the order's output is received (the download's `storage_location`).
    #[serde(default)]
    pub receipt_location: Option<andon_contracts::StorageLocation>,
    /// Events still to emit, in order (generated when execution starts).
    #[serde(with = "script_serde")]
    pub script: Option<VecDeque<(EventKind, serde_json::Value)>>,
}

/// A work order's script with event kinds by name (`material.consumed`).
mod script_serde {
    use std::collections::VecDeque;

    use andon_contracts::EventKind;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    type Script = Option<VecDeque<(EventKind, serde_json::Value)>>;

    pub fn serialize<S: Serializer>(script: &Script, s: S) -> Result<S::Ok, S::Error> {
        script
            .as_ref()
            .map(|q| q.iter().map(|(k, d)| (k.name(), d)).collect::<Vec<_>>())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Script, D::Error> {
        let Some(items) = Option::<Vec<(String, serde_json::Value)>>::deserialize(d)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .map(|(k, v)| {
                EventKind::parse(&k)
                    .map(|k| (k, v))
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown event kind {k:?}")))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// MES state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MesState {
    /// Work orders by number.
    pub work_orders: BTreeMap<OrderId, WorkOrderRecord>,
    /// Quantity of each component batch MES has consumed (thousandths of the base unit).
    pub consumed: BTreeMap<String, i64>,
    /// Output batches produced.
    pub produced: Vec<BatchRef>,
    next_batch: u64,
    next_nc: u64,
    cursor: usize,
}

/// The MES simulator.
pub struct Mes {
    /// Shared parts.
    pub core: Core,
    /// State.
    pub state: Mutex<MesState>,
    /// Lot status as MES was told (locked after `state` when both are needed).
    pub lots: Mutex<Lots>,
}

impl Mes {
    /// An MES over `core`.
    pub fn new(core: Core) -> Arc<Self> {
        Arc::new(Self {
            core,
            state: Mutex::new(MesState {
                next_batch: 1,
                next_nc: 1,
                ..Default::default()
            }),
            lots: Mutex::new(Lots::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, MesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn order_rng(&self, order: &OrderId) -> ChaCha8Rng {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        order.hash(&mut h);
        ChaCha8Rng::seed_from_u64(self.core.config().seed ^ h.finish())
    }
}

fn lot_id(k: &LotKey) -> String {
    format!("{}/{}/{}", k.0, k.1, k.2)
}

impl LotKeeper for Mes {
    fn core(&self) -> &Core {
        &self.core
    }
    fn lots(&self) -> MutexGuard<'_, Lots> {
        self.lots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MaterialReplica for Mes {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Behaviour for Mes {
    fn core(&self) -> &Core {
        &self.core
    }

    fn snapshot(&self) -> serde_json::Value {
        let st = self.lock();
        let lots = self.lots.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "system": "mes",
            "work_orders": st.work_orders.values().map(|w| &w.work_order).collect::<Vec<_>>(),
            "lots": lots.lots.values().map(|(k, _)| lots.status(k)).collect::<Vec<_>>(),
            "consumed": st.consumed,
            "produced": st.produced,
        })
    }

    fn save(&self) -> serde_json::Value {
        // `state` before `lots`, as everywhere.
        let st = self.lock();
        serde_json::json!([&*st, &*self.lots.lock().unwrap_or_else(|e| e.into_inner())])
    }

    fn restore(&self, saved: serde_json::Value) -> Result<(), crate::saved::StateError> {
        let (state, lots): (MesState, Lots) =
            crate::saved::behaviour(andon_contracts::System::Mes, saved)?;
        *self.lock() = state;
        *self.lots.lock().unwrap_or_else(|e| e.into_inner()) = lots;
        Ok(())
    }

    fn next_events(&self) -> Tick {
        let mut st = self.lock();
        let active: Vec<OrderId> = st
            .work_orders
            .values()
            .filter(|w| {
                matches!(
                    w.work_order.status,
                    WorkOrderStatus::Downloaded | WorkOrderStatus::InProgress
                )
            })
            .map(|w| w.work_order.order.clone())
            .collect();
        if active.is_empty() {
            return Tick::Done;
        }
        let order = active[st.cursor % active.len()].clone();
        st.cursor += 1;
        if st.work_orders[&order].script.is_none() {
            let wo = st.work_orders[&order].work_order.clone();
            let receipt = st.work_orders[&order].receipt_location.clone();
            let script = self.script(&mut st, &wo, receipt);
            let rec = st.work_orders.get_mut(&order).expect("present");
            rec.script = Some(script);
            rec.work_order.status = WorkOrderStatus::InProgress;
        }
        let rec = st.work_orders.get_mut(&order).expect("present");
        let item = rec.script.as_mut().and_then(|s| s.pop_front());
        if rec.script.as_ref().is_some_and(|s| s.is_empty()) {
            rec.work_order.status = WorkOrderStatus::Completed;
        }
        Tick::one_or_done(item.map(|(kind, data)| PlannedEvent {
            kind,
            plant: rec.work_order.plant.clone(),
            subject: order.to_string(),
            data,
        }))
    }
}

/// The MES router.
pub fn router(mes: Arc<Mes>) -> Router {
    let api = Router::new()
        .route("/api/v1/work-orders", post(download))
        .route(
            "/api/v1/work-orders/{order}",
            get(get_work_order).put(change),
        )
        .route("/api/v1/work-orders/{order}/cancellation", post(cancel))
        .with_state(mes.clone())
        .merge(lot_routes(mes.clone()))
        .merge(material_routes(mes.clone()));
    assemble(mes.core.clone(), mes, api)
}

fn check_download(mes: &Mes, req: &WorkOrderDownload) -> Result<(), ApiError> {
    let md = mes.core.master();
    if md.plant(&req.plant).is_none() {
        return Err(ApiError::unknown_master_data(format!(
            "Plant {} is not defined",
            req.plant
        )));
    }
    let known = |m: &MaterialId| md.material_in(m, &req.plant).is_some();
    if !known(&req.material) {
        return Err(ApiError::unknown_master_data(format!(
            "Material {} not maintained in plant {}",
            req.material, req.plant
        )));
    }
    if let Some(c) = req.components.iter().find(|c| !known(&c.material)) {
        return Err(ApiError::unknown_master_data(format!(
            "Component {} not maintained in plant {}",
            c.material, req.plant
        )));
    }
    if req.operations.is_empty() {
        return Err(ApiError::invalid(
            "A work order needs at least one operation",
            vec![],
        ));
    }
    Ok(())
}

fn work_order_of(req: &WorkOrderDownload, revision: u32) -> WorkOrder {
    WorkOrder {
        order: req.order.clone(),
        plant: req.plant.clone(),
        material: req.material.clone(),
        planned_quantity: req.planned_quantity.clone(),
        status: WorkOrderStatus::Downloaded,
        operations: req.operations.clone(),
        components: req.components.clone(),
        revision,
    }
}

async fn download(
    State(mes): State<Arc<Mes>>,
    ctx: Ctx,
    JsonBody(req): JsonBody<WorkOrderDownload>,
) -> Result<Response, ApiError> {
    ctx.scope.check(&req.plant)?;
    check_download(&mes, &req)?;
    let wo = {
        let mut st = mes.lock();
        if st.work_orders.contains_key(&req.order) {
            return Err(ApiError::of(
                "work-order-exists",
                format!("Work order {} was already downloaded", req.order),
            ));
        }
        let wo = work_order_of(&req, 1);
        st.work_orders.insert(
            req.order.clone(),
            WorkOrderRecord {
                work_order: wo.clone(),
                receipt_location: Some(req.storage_location.clone()),
                script: None,
            },
        );
        wo
    };
    mes.core.effect(
        &ctx,
        "mes.work_order",
        req.order.to_string(),
        req.refs.all(),
        serde_json::to_value(&wo).unwrap_or_default(),
    );
    Ok((StatusCode::CREATED, Json(wo)).into_response())
}

async fn change(
    State(mes): State<Arc<Mes>>,
    ctx: Ctx,
    Path(order): Path<String>,
    JsonBody(req): JsonBody<WorkOrderDownload>,
) -> Result<Response, ApiError> {
    ctx.scope.check(&req.plant)?;
    if req.order.as_str() != order {
        return Err(ApiError::invalid(
            format!(
                "The path names order {order} but the body names {}",
                req.order
            ),
            vec![],
        ));
    }
    check_download(&mes, &req)?;
    let wo = {
        let mut st = mes.lock();
        let rec = st
            .work_orders
            .get_mut(&req.order)
            .ok_or_else(|| ApiError::not_found(format!("Work order {order} is not known")))?;
        if rec.work_order.status != WorkOrderStatus::Downloaded {
            return Err(ApiError::of(
                "work-order-status",
                format!(
                    "Work order {order} is {:?}; it can no longer change",
                    rec.work_order.status
                ),
            ));
        }
        rec.work_order = work_order_of(&req, rec.work_order.revision + 1);
        rec.receipt_location = Some(req.storage_location.clone());
        rec.work_order.clone()
    };
    mes.core.effect(
        &ctx,
        "mes.work_order_changed",
        order,
        req.refs.all(),
        serde_json::to_value(&wo).unwrap_or_default(),
    );
    Ok(Json(wo).into_response())
}

async fn cancel(
    State(mes): State<Arc<Mes>>,
    ctx: Ctx,
    Path(order): Path<String>,
    JsonBody(req): JsonBody<WorkOrderCancellation>,
) -> Result<Response, ApiError> {
    let wo = {
        let mut st = mes.lock();
        let rec = OrderId::parse(order.clone())
            .ok()
            .and_then(|o| st.work_orders.get_mut(&o))
            .ok_or_else(|| ApiError::not_found(format!("Work order {order} is not known")))?;
        ctx.scope.check(&rec.work_order.plant)?;
        if rec.work_order.status == WorkOrderStatus::Completed {
            return Err(ApiError::of(
                "work-order-status",
                format!("Work order {order} is completed and cannot be cancelled"),
            ));
        }
        rec.work_order.status = WorkOrderStatus::Cancelled;
        rec.script = Some(VecDeque::new());
        rec.work_order.clone()
    };
    mes.core.effect(
        &ctx,
        "mes.work_order_cancelled",
        order,
        req.refs.all(),
        serde_json::json!({ "reason": req.reason }),
    );
    Ok(Json(wo).into_response())
}

async fn get_work_order(
    State(mes): State<Arc<Mes>>,
    ctx: Ctx,
    Path(order): Path<String>,
) -> Result<Response, ApiError> {
    let st = mes.lock();
    let rec = OrderId::parse(order.clone())
        .ok()
        .and_then(|o| st.work_orders.get(&o))
        .ok_or_else(|| ApiError::not_found(format!("Work order {order} is not known")))?;
    ctx.scope.check(&rec.work_order.plant)?;
    Ok(Json(&rec.work_order).into_response())
}
