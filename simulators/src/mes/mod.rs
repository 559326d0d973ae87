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
use andon_contracts::events::{
    EventKind, MaterialConsumed, MaterialProduced, NonconformanceCreated, OperationConfirmed,
    OperationEvent, ScrapReported,
};
use andon_contracts::objects::{BatchRef, StockType};
use andon_contracts::{BatchId, MaterialId, OrderId, Quantity, Unit};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::core::{Behaviour, Core, Ctx, JsonBody, PlannedEvent, Tick, assemble};
use crate::lot_api::{LotKeeper, MaterialReplica, lot_routes, material_routes};
use crate::lots::{LotKey, Lots};
use crate::masterdata::Profile;
use crate::problem::ApiError;

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

    /// Builds the execution script of a work order.
    fn script(
        &self,
        st: &mut MesState,
        wo: &WorkOrder,
        receipt: Option<andon_contracts::StorageLocation>,
    ) -> VecDeque<(EventKind, serde_json::Value)> {
        let mut rng = self.order_rng(&wo.order);
        let md = self.core.master().clone();
        let plant = wo.plant.clone();
        let profile = md.plant(&plant).map(|p| p.profile).unwrap_or_default();
        let now = self.core.clock.now();
        let today = self.core.clock.today();
        let mut out = VecDeque::new();
        let ev = |kind, v: serde_json::Value| (kind, v);
        let planned = wo.planned_quantity.milli;
        // 1.5 % rejects on average, as on a bottling line.
        let scrap_total =
            (planned as f64 * rng.random_range(0.0..0.03)).round() as i64 / 1000 * 1000;
        let good = planned - scrap_total;
        let unit = wo.planned_quantity.unit.clone();
        let mut genealogy = Vec::new();
        for (i, op) in wo.operations.iter().enumerate() {
            let first = i == 0;
            let last = i + 1 == wo.operations.len();
            let wc = op.work_center.clone();
            out.push_back(ev(
                EventKind::OperationStarted,
                serde_json::to_value(OperationEvent {
                    order: wo.order.clone(),
                    operation: op.operation.clone(),
                    plant: plant.clone(),
                    work_center: wc.clone(),
                    started_at: Some(now),
                    completed_at: None,
                })
                .unwrap_or_default(),
            ));
            if first {
                for c in &wo.components {
                    let Some(cm) = md.material_in(&c.material, &plant) else {
                        continue;
                    };
                    // Pick a component batch MES believes is available and has enough left.
                    let batches: Vec<_> = md
                        .stock
                        .iter()
                        .filter(|s| {
                            s.plant == plant
                                && s.material == c.material
                                && s.stock_type == StockType::Unrestricted
                        })
                        .filter_map(|s| Some((s.batch.clone()?, cm.to_base_milli(&s.quantity)?)))
                        .collect();
                    let need = c.quantity.milli;
                    let lots = self.lots.lock().unwrap_or_else(|e| e.into_inner());
                    let pick = batches.iter().find(|(b, q)| {
                        let key = (plant.clone(), c.material.clone(), b.clone());
                        let used = st.consumed.get(&lot_id(&key)).copied().unwrap_or(0);
                        q - used >= need && (lots.get(&key).is_none() || lots.available(&key))
                    });
                    drop(lots);
                    let Some((batch, _)) = pick else {
                        self.core.note("mes.no_available_batch", serde_json::json!({ "order": wo.order, "material": c.material, "quantity": c.quantity }));
                        continue;
                    };
                    let key = (plant.clone(), c.material.clone(), batch.clone());
                    *st.consumed.entry(lot_id(&key)).or_default() += need;
                    genealogy.push(BatchRef {
                        material: c.material.clone(),
                        batch: batch.clone(),
                    });
                    // Some terminals report in an alternative unit (grams for kilograms).
                    let quantity =
                        match cm.alternative_units.iter().find(|a| a.unit.as_str() == "G") {
                            Some(_) if rng.random_bool(0.3) => Quantity::from_milli(
                                need * 1000,
                                Unit::parse("G").expect("valid literal"),
                            ),
                            _ => c.quantity.clone(),
                        };
                    out.push_back(ev(
                        EventKind::MaterialConsumed,
                        serde_json::to_value(MaterialConsumed {
                            order: wo.order.clone(),
                            plant: plant.clone(),
                            storage_location: c.storage_location.clone(),
                            material: c.material.clone(),
                            batch: batch.clone(),
                            quantity,
                            reservation_item: c.reservation_item.clone(),
                            posting_date: today,
                        })
                        .unwrap_or_default(),
                    ));
                }
            }
            let chunks = match profile {
                Profile::Discrete => rng.random_range(2..=4),
                Profile::Batch => 1,
            };
            let mut left_good = good;
            let mut left_scrap = scrap_total;
            for k in 0..chunks {
                let lastc = k + 1 == chunks;
                let g = if lastc {
                    left_good
                } else {
                    (good / chunks as i64) / 1000 * 1000
                };
                let s = if lastc {
                    left_scrap
                } else {
                    (scrap_total / chunks as i64) / 1000 * 1000
                };
                left_good -= g;
                left_scrap -= s;
                out.push_back(ev(
                    EventKind::OperationConfirmed,
                    serde_json::to_value(OperationConfirmed {
                        order: wo.order.clone(),
                        operation: op.operation.clone(),
                        plant: plant.clone(),
                        work_center: wc.clone(),
                        yield_: Quantity::from_milli(g, unit.clone()),
                        scrap: Quantity::from_milli(s, unit.clone()),
                        rework: Quantity::from_milli(0, unit.clone()),
                        final_: lastc,
                        posting_date: today,
                    })
                    .unwrap_or_default(),
                ));
            }
            if scrap_total > 0 && last {
                out.push_back(ev(
                    EventKind::ScrapReported,
                    serde_json::to_value(ScrapReported {
                        order: wo.order.clone(),
                        operation: op.operation.clone(),
                        plant: plant.clone(),
                        material: wo.material.clone(),
                        quantity: Quantity::from_milli(scrap_total, unit.clone()),
                        reason_code: "SC01".into(),
                    })
                    .unwrap_or_default(),
                ));
            }
            if last {
                // Output: discrete lines fill several pallets (batches); batch plants one lot.
                let lots = match profile {
                    Profile::Discrete => rng.random_range(1..=2i64),
                    Profile::Batch => 1,
                };
                let mut left = good;
                for n in 0..lots {
                    let q = if n + 1 == lots {
                        left
                    } else {
                        (good / lots) / 1000 * 1000
                    };
                    left -= q;
                    if q <= 0 {
                        continue;
                    }
                    let batch =
                        BatchId::parse(format!("P{}{:06}", &plant.as_str()[..2], st.next_batch))
                            .expect("generated batch is valid");
                    st.next_batch += 1;
                    st.produced.push(BatchRef {
                        material: wo.material.clone(),
                        batch: batch.clone(),
                    });
                    out.push_back(ev(
                        EventKind::MaterialProduced,
                        serde_json::to_value(MaterialProduced {
                            order: wo.order.clone(),
                            plant: plant.clone(),
                            // Output is received where the order says (the finished
                            // goods store), not where its components were issued from.
                            storage_location: receipt
                                .clone()
                                .or_else(|| {
                                    wo.components.first().map(|c| c.storage_location.clone())
                                })
                                .unwrap_or_else(|| {
                                    andon_contracts::StorageLocation::parse("0001")
                                        .expect("valid literal")
                                }),
                            material: wo.material.clone(),
                            batch,
                            quantity: Quantity::from_milli(q, unit.clone()),
                            posting_date: today,
                            manufacture_date: today,
                            genealogy: if profile == Profile::Batch {
                                genealogy.clone()
                            } else {
                                Vec::new()
                            },
                            by_product: false,
                        })
                        .unwrap_or_default(),
                    ));
                }
                // A by-product now and then: regrind, trim or offcuts fed back as the first
                // component's raw material (SAP 531 against the order). Batch plants make
                // them more often than discrete lines.
                let by_product_rate = match profile {
                    Profile::Batch => 0.25,
                    Profile::Discrete => 0.08,
                };
                if let Some(c) = wo.components.first()
                    && md.material_in(&c.material, &plant).is_some()
                    && rng.random_bool(by_product_rate)
                {
                    let q = (c.quantity.milli / 10 / 1000).max(1) * 1000;
                    let batch =
                        BatchId::parse(format!("Y{}{:06}", &plant.as_str()[..2], st.next_batch))
                            .expect("generated batch is valid");
                    st.next_batch += 1;
                    out.push_back(ev(
                        EventKind::MaterialProduced,
                        serde_json::to_value(MaterialProduced {
                            order: wo.order.clone(),
                            plant: plant.clone(),
                            storage_location: c.storage_location.clone(),
                            material: c.material.clone(),
                            batch,
                            quantity: Quantity::from_milli(q, c.quantity.unit.clone()),
                            posting_date: today,
                            manufacture_date: today,
                            genealogy: Vec::new(),
                            by_product: true,
                        })
                        .unwrap_or_default(),
                    ));
                }
                if rng.random_bool(0.02) {
                    let nc = format!("MNC{:07}", st.next_nc);
                    st.next_nc += 1;
                    out.push_back(ev(
                        EventKind::NonconformanceCreated,
                        serde_json::to_value(NonconformanceCreated {
                            nonconformance: nc,
                            type_: "Q2".into(),
                            plant: plant.clone(),
                            material: wo.material.clone(),
                            batch: None,
                            defect_code: "D-SEAL".into(),
                            text: "Seal integrity deviation on line".into(),
                        })
                        .unwrap_or_default(),
                    ));
                }
            }
            out.push_back(ev(
                EventKind::OperationCompleted,
                serde_json::to_value(OperationEvent {
                    order: wo.order.clone(),
                    operation: op.operation.clone(),
                    plant: plant.clone(),
                    work_center: wc,
                    started_at: None,
                    completed_at: Some(now),
                })
                .unwrap_or_default(),
            ));
        }
        out
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
