//! The WMS simulator: puts away receipts, picks and ships against seeded customer demand
//! using only lots it believes available, and notes every pick so the safety checker can
//! tell whether a lot the QMS had put on hold was picked.

use std::sync::{Arc, Mutex, MutexGuard};

use andon_contracts::api::{Receipt, ReceiptRequest};
use andon_contracts::events::{
    AdjustmentDirection, EventKind, InventoryAdjusted, InventoryTransferred, ShipmentConfirmed,
    ShipmentItem,
};
use andon_contracts::{Quantity, StorageLocation};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::core::{Behaviour, Core, Ctx, JsonBody, PlannedEvent, Tick, assemble};
use crate::lot_api::{LotKeeper, MaterialReplica, lot_routes, material_routes};
use crate::lots::{LotKey, Lots};
use crate::problem::ApiError;

/// The WMS simulator.
pub struct Wms {
    /// Shared parts.
    pub core: Core,
    /// Lots with quantity on hand, status and holds as WMS was told.
    pub lots: Mutex<Lots>,
    generator: Mutex<Gen>,
}

/// The seeded warehouse activity: its random draws and the next document numbers.
#[derive(Serialize, Deserialize)]
struct Gen {
    rng: ChaCha8Rng,
    next_receipt: u64,
    next_delivery: u64,
}

impl Wms {
    /// A WMS over `core`.
    pub fn new(core: Core) -> Arc<Self> {
        let seed = core.config().seed;
        Arc::new(Self {
            core,
            lots: Mutex::new(Lots::default()),
            generator: Mutex::new(Gen {
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0057_0000),
                next_receipt: 1,
                next_delivery: 80_000_001,
            }),
        })
    }

    fn generator(&self) -> MutexGuard<'_, Gen> {
        self.generator.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next event of the warehouse, if any: with the seeded ship rate a shipment of an
    /// available lot, otherwise a bin transfer (or, one time in ten, a cycle-count loss) of
    /// any lot in stock; none when no lot has a whole unit on hand.
    fn next_event(&self, g: &mut Gen) -> Option<PlannedEvent> {
        let ship = g
            .rng
            .random_bool(self.core.config().activity.ship_rate.clamp(0.0, 1.0));
        let mut lots = self.lots();
        let stocked: Vec<_> = lots
            .lots
            .values()
            .filter(|(_, l)| l.quantity.as_ref().is_some_and(|q| q.milli >= 1000))
            .map(|(k, _)| k.clone())
            .collect();
        if stocked.is_empty() {
            return None;
        }
        let now = self.core.clock.now();
        if ship {
            return self.ship(g, &mut lots, &stocked, now);
        }
        let key = stocked[g.rng.random_range(0..stocked.len())].clone();
        let lot = lots.entry(&key, andon_contracts::objects::StockType::Unrestricted);
        let q = lot.quantity.clone()?;
        let subject = format!("{}/{}", key.1, key.2);
        if g.rng.random_bool(0.1) {
            return adjusted(key, q, subject);
        }
        transferred(g, key, q, subject)
    }

    /// Picks part of a random available lot among `stocked` (at most half its whole units,
    /// at least one) for a new delivery, notes the pick with the holds the lot had, and
    /// confirms the shipment; none when no stocked lot is available.
    fn ship(
        &self,
        g: &mut Gen,
        lots: &mut Lots,
        stocked: &[LotKey],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<PlannedEvent> {
        let available: Vec<_> = stocked
            .iter()
            .filter(|k| lots.available(k))
            .cloned()
            .collect();
        if available.is_empty() {
            return None;
        }
        let key = available[g.rng.random_range(0..available.len())].clone();
        let lot = lots.entry(&key, andon_contracts::objects::StockType::Unrestricted);
        let have = lot.quantity.as_ref().map(|q| q.milli).unwrap_or(0);
        let unit = lot.quantity.as_ref().map(|q| q.unit.clone())?;
        let sloc = lot
            .storage_location
            .clone()
            .unwrap_or_else(|| StorageLocation::parse("0001").expect("valid literal"));
        let units = (have / 1000).max(1);
        let take = (g.rng.random_range(1..=((units + 1) / 2).max(1))).min(units) * 1000;
        lot.quantity = Some(Quantity::from_milli(have - take, unit.clone()));
        let delivery = g.next_delivery.to_string();
        g.next_delivery += 1;
        self.core.note("wms.pick", serde_json::json!({
            "delivery": delivery, "plant": key.0, "material": key.1, "batch": key.2,
            "quantity": Quantity::from_milli(take, unit.clone()), "holds": lot.holds.keys().collect::<Vec<_>>(),
        }));
        let data = ShipmentConfirmed {
            delivery: delivery.clone(),
            plant: key.0.clone(),
            shipped_at: now,
            items: vec![ShipmentItem {
                item: "000010".into(),
                material: key.1.clone(),
                batch: key.2.clone(),
                storage_location: sloc,
                quantity: Quantity::from_milli(take, unit),
            }],
        };
        Some(PlannedEvent {
            kind: EventKind::ShipmentConfirmed,
            plant: key.0.clone(),
            subject: delivery,
            data: serde_json::to_value(data).ok()?,
        })
    }
}

/// A cycle-count loss of one unit of the lot `key` (whose quantity is `q`).
fn adjusted(key: LotKey, q: Quantity, subject: String) -> Option<PlannedEvent> {
    let data = InventoryAdjusted {
        plant: key.0.clone(),
        material: key.1.clone(),
        batch: key.2.clone(),
        quantity: Quantity::from_milli(1000, q.unit.clone()),
        direction: AdjustmentDirection::Loss,
        reason_code: "CC01".into(),
    };
    Some(PlannedEvent {
        kind: EventKind::InventoryAdjusted,
        plant: key.0,
        subject,
        data: serde_json::to_value(data).ok()?,
    })
}

/// A transfer of the whole lot `key` (quantity `q`) between two random bins.
fn transferred(g: &mut Gen, key: LotKey, q: Quantity, subject: String) -> Option<PlannedEvent> {
    let bin = |n: u32| format!("A-{:02}-{:02}", n / 10 + 1, n % 10 + 1);
    let data = InventoryTransferred {
        plant: key.0.clone(),
        material: key.1.clone(),
        batch: key.2.clone(),
        quantity: q,
        from_bin: bin(g.rng.random_range(0..50)),
        to_bin: bin(g.rng.random_range(50..99)),
    };
    Some(PlannedEvent {
        kind: EventKind::InventoryTransferred,
        plant: key.0,
        subject,
        data: serde_json::to_value(data).ok()?,
    })
}

impl LotKeeper for Wms {
    fn core(&self) -> &Core {
        &self.core
    }
    fn lots(&self) -> MutexGuard<'_, Lots> {
        self.lots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MaterialReplica for Wms {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Behaviour for Wms {
    fn core(&self) -> &Core {
        &self.core
    }

    fn snapshot(&self) -> serde_json::Value {
        let lots = self.lots();
        serde_json::json!({
            "system": "wms",
            "lots": lots.lots.values().map(|(k, _)| lots.status(k)).collect::<Vec<_>>(),
        })
    }

    fn save(&self) -> serde_json::Value {
        let lots = self.lots();
        serde_json::json!([&*lots, &*self.generator()])
    }

    fn restore(&self, saved: serde_json::Value) -> Result<(), crate::saved::StateError> {
        let (lots, generator): (Lots, Gen) =
            crate::saved::behaviour(andon_contracts::System::Wms, saved)?;
        *self.lots() = lots;
        *self.generator() = generator;
        Ok(())
    }

    fn next_events(&self) -> Tick {
        let mut g = self.generator();
        Tick::one_or_done(self.next_event(&mut g))
    }
}

/// The WMS router.
pub fn router(wms: Arc<Wms>) -> Router {
    let api = Router::new()
        .route("/api/v1/receipts", post(receive))
        .with_state(wms.clone())
        .merge(lot_routes(wms.clone()))
        .merge(material_routes(wms.clone()));
    assemble(wms.core.clone(), wms, api)
}

async fn receive(
    State(wms): State<Arc<Wms>>,
    ctx: Ctx,
    JsonBody(req): JsonBody<ReceiptRequest>,
) -> Result<Response, ApiError> {
    ctx.scope.check(&req.plant)?;
    let (base, unit) = {
        let md = wms.core.master();
        let m = md.material_in(&req.material, &req.plant).ok_or_else(|| {
            ApiError::unknown_master_data(format!(
                "Material {} not maintained in plant {}",
                req.material, req.plant
            ))
        })?;
        if !md
            .plant(&req.plant)
            .is_some_and(|p| p.storage_locations.contains(&req.storage_location))
        {
            return Err(ApiError::unknown_master_data(format!(
                "Storage location {} is not defined for plant {}",
                req.storage_location, req.plant
            )));
        }
        let base = crate::erp::state::to_base(m, &req.quantity)?;
        (base, m.base_unit.clone())
    };
    if base <= 0 {
        return Err(ApiError::invalid(
            "The received quantity must be greater than 0",
            vec![andon_contracts::FieldError {
                pointer: "/quantity/value".into(),
                message: "must be greater than 0".into(),
            }],
        ));
    }
    let key = (req.plant.clone(), req.material.clone(), req.batch.clone());
    let initial = wms.initial_status(&key);
    let (available, total) = {
        let mut lots = wms.lots();
        let lot = lots.entry(&key, initial);
        let total = lot.quantity.as_ref().map(|q| q.milli).unwrap_or(0) + base;
        lot.quantity = Some(Quantity::from_milli(total, unit.clone()));
        lot.storage_location = Some(req.storage_location.clone());
        (lots.available(&key), total)
    };
    let number = {
        let mut g = wms.generator();
        let n = format!("R{:09}", g.next_receipt);
        g.next_receipt += 1;
        n
    };
    let receipt = Receipt {
        receipt: number,
        bin: "A-01-01".into(),
        plant: req.plant.clone(),
        material: req.material.clone(),
        batch: req.batch.clone(),
        quantity: Quantity::from_milli(base, unit),
        available,
    };
    wms.core.effect(
        &ctx,
        "wms.receipt",
        format!("{}/{}/{}", req.plant, req.material, req.batch),
        req.refs.all(),
        serde_json::json!({ "receipt": receipt, "on_hand_after": total }),
    );
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}
