//! The QMS simulator: opens an inspection lot per goods receipt it is told about, records a
//! result after a configurable delay, makes the usage decision (accept or reject at a seeded
//! rate), and places and releases holds on a seeded schedule — holds can arrive while the
//! lot is being picked or consumed: that race is the point.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use andon_contracts::api::InspectionLotRequest;
use andon_contracts::events::{
    EventKind, HoldPlaced, HoldReleased, InspectionResultRecorded, NonconformanceCreated,
    UsageDecisionMade,
};
use andon_contracts::objects::{InspectionLot, StockType, Valuation};
use andon_contracts::{BatchId, MaterialId, PlantId, StorageLocation};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::core::{Behaviour, Core, Ctx, JsonBody, PlannedEvent, Tick, assemble};
use crate::lot_api::{MaterialReplica, material_routes};
use crate::problem::ApiError;

/// An inspection lot with its progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LotRecord {
    /// The inspection lot.
    pub lot: InspectionLot,
    /// Storage location of the batch.
    pub storage_location: StorageLocation,
    /// Result valuation, once recorded.
    pub result: Option<Valuation>,
    #[serde(skip)]
    opened: Option<Instant>,
}

/// A quality hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hold {
    /// Hold id.
    pub hold_id: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Reason code.
    pub reason_code: String,
    /// Whether it was released.
    pub released: bool,
    release_at_step: u64,
}

/// QMS state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct QmsState {
    /// Inspection lots by number.
    pub lots: BTreeMap<String, LotRecord>,
    /// Holds placed.
    pub holds: Vec<Hold>,
    next_lot: u64,
    next_hold: u64,
    next_nc: u64,
    steps: u64,
}

/// The QMS simulator.
pub struct Qms {
    /// Shared parts.
    pub core: Core,
    /// State.
    pub state: Mutex<QmsState>,
    rng: Mutex<ChaCha8Rng>,
}

impl Qms {
    /// A QMS over `core`.
    pub fn new(core: Core) -> Arc<Self> {
        let seed = core.config().seed;
        Arc::new(Self {
            core,
            state: Mutex::new(QmsState {
                next_lot: 10_000_000_001,
                next_hold: 1,
                next_nc: 1,
                ..Default::default()
            }),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x0005_0000)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, QmsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides the next event of the quality department, if any: a hold due for release, a
    /// new hold on the seeded schedule, a result after the delay, a usage decision.
    fn next_event(
        &self,
        st: &mut QmsState,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(EventKind, PlantId, serde_json::Value)> {
        st.steps += 1;
        let cfg = self.core.config().activity;
        let now = self.core.clock.now();
        if let Some(e) = release_due_hold(st, now) {
            return vec![e];
        }
        if rng.random_bool(cfg.hold_rate.clamp(0.0, 1.0))
            && let Some(out) = self.place_hold(st, rng, now)
        {
            return out;
        }
        if let Some(e) = record_result(st, rng, &cfg) {
            return vec![e];
        }
        usage_decision(st).into_iter().collect()
    }

    /// A new hold: on produced lots (the WMS race) or component lots (the MES race), with a
    /// nonconformance half the time; none when there is no lot to hold.
    fn place_hold(
        &self,
        st: &mut QmsState,
        rng: &mut ChaCha8Rng,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Vec<(EventKind, PlantId, serde_json::Value)>> {
        let pool = self.hold_pool(st, rng);
        if pool.is_empty() {
            return None;
        }
        let (plant, material, batch) = pool[rng.random_range(0..pool.len())].clone();
        let hold_id = format!("H{:07}", st.next_hold);
        st.next_hold += 1;
        let reason = ["QH01", "QH02", "QH07"][rng.random_range(0..3)].to_string();
        let release_at_step = st.steps + rng.random_range(3..=12);
        st.holds.push(Hold {
            hold_id: hold_id.clone(),
            plant: plant.clone(),
            material: material.clone(),
            batch: batch.clone(),
            reason_code: reason.clone(),
            released: false,
            release_at_step,
        });
        let mut out = vec![(
            EventKind::LotHoldPlaced,
            plant.clone(),
            serde_json::to_value(HoldPlaced {
                hold_id,
                plant: plant.clone(),
                material: material.clone(),
                batch: batch.clone(),
                scope: "batch".into(),
                reason_code: reason,
                placed_at: now,
            })
            .unwrap_or_default(),
        )];
        if rng.random_bool(0.5) {
            out.push(nonconformance(st, plant, material, batch));
        }
        Some(out)
    }

    /// The lots a new hold may fall on: lots produced and accepted (seven times in ten
    /// when there are both) or raw-material lots of the initial unrestricted stock.
    fn hold_pool(
        &self,
        st: &QmsState,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(PlantId, MaterialId, BatchId)> {
        let produced: Vec<(PlantId, MaterialId, BatchId)> = st
            .lots
            .values()
            .filter(|l| l.lot.valuation == Some(Valuation::A))
            .map(|l| {
                (
                    l.lot.plant.clone(),
                    l.lot.material.clone(),
                    l.lot.batch.clone(),
                )
            })
            .collect();
        let raw: Vec<(PlantId, MaterialId, BatchId)> = self
            .core
            .master()
            .stock
            .iter()
            .filter(|s| s.stock_type == StockType::Unrestricted)
            .filter_map(|s| Some((s.plant.clone(), s.material.clone(), s.batch.clone()?)))
            .collect();
        if !produced.is_empty() && (raw.is_empty() || rng.random_bool(0.7)) {
            produced
        } else {
            raw
        }
    }
}

/// A nonconformance (suspected contamination) on the lot just put on hold, numbered next.
fn nonconformance(
    st: &mut QmsState,
    plant: PlantId,
    material: MaterialId,
    batch: BatchId,
) -> (EventKind, PlantId, serde_json::Value) {
    let nc = format!("QNC{:07}", st.next_nc);
    st.next_nc += 1;
    (
        EventKind::NonconformanceCreated,
        plant.clone(),
        serde_json::to_value(NonconformanceCreated {
            nonconformance: nc,
            type_: "Q3".into(),
            plant,
            material,
            batch: Some(batch),
            defect_code: "D-CONTAM".into(),
            text: "Suspected contamination found in retained sample".into(),
        })
        .unwrap_or_default(),
    )
}

/// Releases the first hold due, if any.
fn release_due_hold(
    st: &mut QmsState,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(EventKind, PlantId, serde_json::Value)> {
    if let Some(h) = st
        .holds
        .iter_mut()
        .find(|h| !h.released && h.release_at_step <= st.steps)
    {
        h.released = true;
        let data = HoldReleased {
            hold_id: h.hold_id.clone(),
            plant: h.plant.clone(),
            material: h.material.clone(),
            batch: h.batch.clone(),
            released_at: now,
        };
        return Some((
            EventKind::LotHoldReleased,
            h.plant.clone(),
            serde_json::to_value(data).unwrap_or_default(),
        ));
    }
    None
}

/// Records the result of the first lot whose delay is over.
fn record_result(
    st: &mut QmsState,
    rng: &mut ChaCha8Rng,
    cfg: &crate::core::ActivityConfig,
) -> Option<(EventKind, PlantId, serde_json::Value)> {
    let due = st
        .lots
        .values_mut()
        .find(|l| l.result.is_none() && l.opened.is_none_or(|o| o.elapsed() >= cfg.result_delay.0));
    if let Some(l) = due {
        let valuation = if rng.random_bool(cfg.accept_rate.clamp(0.0, 1.0)) {
            Valuation::A
        } else {
            Valuation::R
        };
        l.result = Some(valuation);
        let result = match valuation {
            Valuation::A => rng.random_range(98.0..100.0),
            Valuation::R => rng.random_range(80.0..95.0),
        };
        let data = InspectionResultRecorded {
            inspection_lot: l.lot.inspection_lot.clone(),
            plant: l.lot.plant.clone(),
            material: l.lot.material.clone(),
            batch: l.lot.batch.clone(),
            characteristic: "PURITY".into(),
            result: (result * 100.0f64).round() / 100.0,
            valuation,
        };
        return Some((
            EventKind::InspectionResultRecorded,
            l.lot.plant.clone(),
            serde_json::to_value(data).unwrap_or_default(),
        ));
    }
    None
}

/// Makes the usage decision of the first lot with a result and none yet.
fn usage_decision(st: &mut QmsState) -> Option<(EventKind, PlantId, serde_json::Value)> {
    if let Some(l) = st
        .lots
        .values_mut()
        .find(|l| l.result.is_some() && l.lot.valuation.is_none())
    {
        let valuation = l.result.unwrap_or(Valuation::A);
        let code = match valuation {
            Valuation::A => "A1",
            Valuation::R => "R1",
        };
        l.lot.valuation = Some(valuation);
        l.lot.usage_decision = Some(code.into());
        let data = UsageDecisionMade {
            inspection_lot: l.lot.inspection_lot.clone(),
            plant: l.lot.plant.clone(),
            storage_location: l.storage_location.clone(),
            material: l.lot.material.clone(),
            batch: l.lot.batch.clone(),
            quantity: l.lot.quantity.clone(),
            code: code.into(),
            valuation,
        };
        return Some((
            EventKind::UsageDecisionMade,
            l.lot.plant.clone(),
            serde_json::to_value(data).unwrap_or_default(),
        ));
    }
    None
}

impl MaterialReplica for Qms {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Behaviour for Qms {
    fn core(&self) -> &Core {
        &self.core
    }

    fn snapshot(&self) -> serde_json::Value {
        let st = self.lock();
        serde_json::json!({
            "system": "qms",
            "inspection_lots": st.lots.values().map(|l| &l.lot).collect::<Vec<_>>(),
            "holds": st.holds,
        })
    }

    fn save(&self) -> serde_json::Value {
        let st = self.lock();
        serde_json::json!([&*st, &*self.rng.lock().unwrap_or_else(|e| e.into_inner())])
    }

    fn restore(&self, saved: serde_json::Value) -> Result<(), crate::saved::StateError> {
        let (mut state, rng): (QmsState, ChaCha8Rng) =
            crate::saved::behaviour(andon_contracts::System::Qms, saved)?;
        // The result delay of a lot still open starts again: its timer did not survive.
        let now = Instant::now();
        for l in state.lots.values_mut().filter(|l| l.result.is_none()) {
            l.opened = Some(now);
        }
        *self.lock() = state;
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = rng;
        Ok(())
    }

    fn next_events(&self) -> Tick {
        let events = {
            let mut st = self.lock();
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            self.next_event(&mut st, &mut rng)
        };
        // An idle tick still advances the hold schedule.
        Tick::Emit(
            events
                .into_iter()
                .map(|(kind, plant, data)| PlannedEvent {
                    kind,
                    plant,
                    subject: crate::core::subject_of(kind, &data),
                    data,
                })
                .collect(),
        )
    }
}

/// The QMS router.
pub fn router(qms: Arc<Qms>) -> Router {
    let api = Router::new()
        .route("/api/v1/inspection-lots", post(open_lot))
        .route("/api/v1/inspection-lots/{lot}", get(get_lot))
        .with_state(qms.clone())
        .merge(material_routes(qms.clone()));
    assemble(qms.core.clone(), qms, api)
}

async fn open_lot(
    State(qms): State<Arc<Qms>>,
    ctx: Ctx,
    JsonBody(req): JsonBody<InspectionLotRequest>,
) -> Result<Response, ApiError> {
    ctx.scope.check(&req.plant)?;
    if req.origin != "04" {
        return Err(ApiError::of(
            "inspection-origin",
            format!(
                "Inspection lot origin {} is not set up; andon's QMS opens origin 04 (goods receipt from production)",
                req.origin
            ),
        ));
    }
    {
        let md = qms.core.master();
        let m = md.material_in(&req.material, &req.plant).ok_or_else(|| {
            ApiError::unknown_master_data(format!(
                "Material {} not maintained in plant {}",
                req.material, req.plant
            ))
        })?;
        if m.to_base_milli(&req.quantity).is_none() {
            return Err(ApiError::of(
                "uom-conversion",
                format!(
                    "Unit {} is not defined for material {} (base unit {})",
                    req.quantity.unit, m.material, m.base_unit
                ),
            ));
        }
    }
    let lot = {
        let mut st = qms.lock();
        let number = format!("{:012}", st.next_lot);
        st.next_lot += 1;
        let lot = InspectionLot {
            inspection_lot: number.clone(),
            origin: req.origin.clone(),
            plant: req.plant.clone(),
            material: req.material.clone(),
            batch: req.batch.clone(),
            order: req.order.clone(),
            quantity: req.quantity.clone(),
            usage_decision: None,
            valuation: None,
        };
        st.lots.insert(
            number,
            LotRecord {
                lot: lot.clone(),
                storage_location: req.storage_location.clone(),
                result: None,
                opened: Some(Instant::now()),
            },
        );
        lot
    };
    qms.core.effect(
        &ctx,
        "qms.inspection_lot",
        format!("{}/{}/{}", req.plant, req.material, req.batch),
        req.refs.all(),
        serde_json::to_value(&lot).unwrap_or_default(),
    );
    Ok((StatusCode::CREATED, Json(lot)).into_response())
}

async fn get_lot(
    State(qms): State<Arc<Qms>>,
    ctx: Ctx,
    Path(lot): Path<String>,
) -> Result<Response, ApiError> {
    let st = qms.lock();
    let l = st
        .lots
        .get(&lot)
        .ok_or_else(|| ApiError::not_found(format!("Inspection lot {lot} does not exist")))?;
    ctx.scope.check(&l.lot.plant)?;
    Ok(Json(&l.lot).into_response())
}
