//! The `data` of each event kind: one payload type per kind, and [`EventData`], the typed
//! payload of an event decoded by its kind.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::EventKind;
use crate::ids::{BatchId, MaterialId, OperationId, OrderId, PlantId, StorageLocation};
use crate::objects::{BatchRef, Material, ProductionOrder, Valuation};
use crate::quantity::Quantity;

/// `production_order.cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCancelled {
    /// Order.
    pub order: OrderId,
    /// Plant.
    pub plant: PlantId,
    /// Why.
    pub reason: String,
}

/// `production_order.changed`: the order after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderChanged {
    /// The order as it is now.
    #[serde(flatten)]
    pub order: ProductionOrder,
    /// Why it changed.
    pub change_reason: String,
}

/// `operation.started` and `operation.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationEvent {
    /// Order.
    pub order: OrderId,
    /// Operation.
    pub operation: OperationId,
    /// Plant.
    pub plant: PlantId,
    /// Work centre.
    pub work_center: String,
    /// When it started (started) — absent on completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed (completed) — absent on started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// `operation.confirmed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationConfirmed {
    /// Order.
    pub order: OrderId,
    /// Operation.
    pub operation: OperationId,
    /// Plant.
    pub plant: PlantId,
    /// Work centre.
    pub work_center: String,
    /// Good quantity.
    #[serde(rename = "yield")]
    pub yield_: Quantity,
    /// Scrap quantity.
    pub scrap: Quantity,
    /// Rework quantity.
    pub rework: Quantity,
    /// Final confirmation.
    #[serde(rename = "final")]
    pub final_: bool,
    /// Posting date.
    pub posting_date: NaiveDate,
}

/// `material.consumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialConsumed {
    /// Order.
    pub order: OrderId,
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Component material.
    pub material: MaterialId,
    /// Component batch.
    pub batch: BatchId,
    /// Quantity, in the entry unit the MES uses (may be an alternative unit).
    pub quantity: Quantity,
    /// Reservation item.
    pub reservation_item: String,
    /// Posting date.
    pub posting_date: NaiveDate,
}

/// `material.produced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialProduced {
    /// Order.
    pub order: OrderId,
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Material produced.
    pub material: MaterialId,
    /// New batch.
    pub batch: BatchId,
    /// Quantity.
    pub quantity: Quantity,
    /// Posting date.
    pub posting_date: NaiveDate,
    /// Manufacture date.
    pub manufacture_date: NaiveDate,
    /// Input batches consumed into this batch.
    #[serde(default)]
    pub genealogy: Vec<BatchRef>,
    /// A by-product (movement 531) rather than the header material (101).
    #[serde(default)]
    pub by_product: bool,
}

/// `scrap.reported`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapReported {
    /// Order.
    pub order: OrderId,
    /// Operation.
    pub operation: OperationId,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Quantity.
    pub quantity: Quantity,
    /// Reason code.
    pub reason_code: String,
}

/// `inspection_result.recorded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionResultRecorded {
    /// Inspection lot.
    pub inspection_lot: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Inspection characteristic.
    pub characteristic: String,
    /// Measured value.
    pub result: f64,
    /// Valuation.
    pub valuation: Valuation,
}

/// `usage_decision.made`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageDecisionMade {
    /// Inspection lot.
    pub inspection_lot: String,
    /// Plant.
    pub plant: PlantId,
    /// Storage location of the lot.
    pub storage_location: StorageLocation,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Lot quantity.
    pub quantity: Quantity,
    /// Usage decision code (`A1`, `R1`).
    pub code: String,
    /// Valuation.
    pub valuation: Valuation,
}

/// `lot.hold_placed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldPlaced {
    /// Hold id.
    pub hold_id: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Scope (`batch`).
    pub scope: String,
    /// Reason code.
    pub reason_code: String,
    /// When the hold was placed.
    pub placed_at: DateTime<Utc>,
}

/// `lot.hold_released`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldReleased {
    /// Hold id.
    pub hold_id: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// When the hold was released.
    pub released_at: DateTime<Utc>,
}

/// `nonconformance.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonconformanceCreated {
    /// Nonconformance number.
    pub nonconformance: String,
    /// Notification type (`Q2` internal, `Q3` vendor…).
    #[serde(rename = "type")]
    pub type_: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchId>,
    /// Defect code.
    pub defect_code: String,
    /// Text.
    pub text: String,
}

/// `inventory.transferred`: a bin-to-bin move inside the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryTransferred {
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Quantity.
    pub quantity: Quantity,
    /// From bin.
    pub from_bin: String,
    /// To bin.
    pub to_bin: String,
}

/// Direction of an inventory adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdjustmentDirection {
    /// More found than recorded.
    Gain,
    /// Less found than recorded.
    Loss,
}

/// `inventory.adjusted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryAdjusted {
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Quantity.
    pub quantity: Quantity,
    /// Gain or loss.
    pub direction: AdjustmentDirection,
    /// Reason code.
    pub reason_code: String,
}

/// One item of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentItem {
    /// Delivery item (`000010`).
    pub item: String,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Quantity.
    pub quantity: Quantity,
}

/// `shipment.confirmed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentConfirmed {
    /// Outbound delivery number.
    pub delivery: String,
    /// Plant.
    pub plant: PlantId,
    /// When goods issue happened.
    pub shipped_at: DateTime<Utc>,
    /// Items.
    pub items: Vec<ShipmentItem>,
}

/// The typed `data` of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `production_order.released`.
    OrderReleased(ProductionOrder),
    /// `production_order.changed`.
    OrderChanged(OrderChanged),
    /// `production_order.cancelled`.
    OrderCancelled(OrderCancelled),
    /// `material.changed`.
    MaterialChanged(Material),
    /// `operation.started`.
    OperationStarted(OperationEvent),
    /// `operation.completed`.
    OperationCompleted(OperationEvent),
    /// `operation.confirmed`.
    OperationConfirmed(OperationConfirmed),
    /// `material.consumed`.
    MaterialConsumed(MaterialConsumed),
    /// `material.produced`.
    MaterialProduced(MaterialProduced),
    /// `scrap.reported`.
    ScrapReported(ScrapReported),
    /// `inspection_result.recorded`.
    InspectionResultRecorded(InspectionResultRecorded),
    /// `usage_decision.made`.
    UsageDecisionMade(UsageDecisionMade),
    /// `lot.hold_placed`.
    HoldPlaced(HoldPlaced),
    /// `lot.hold_released`.
    HoldReleased(HoldReleased),
    /// `nonconformance.created`.
    NonconformanceCreated(NonconformanceCreated),
    /// `inventory.transferred`.
    InventoryTransferred(InventoryTransferred),
    /// `inventory.adjusted`.
    InventoryAdjusted(InventoryAdjusted),
    /// `shipment.confirmed`.
    ShipmentConfirmed(ShipmentConfirmed),
}

impl EventData {
    /// Decodes the `data` of an event of `kind`.
    pub fn decode(kind: EventKind, v: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Self::decode_text(kind, &v.to_string())
    }

    /// Decodes the `data` of an event of `kind` from its JSON text.
    pub fn decode_text(kind: EventKind, v: &str) -> Result<Self, serde_json::Error> {
        use serde_json::from_str as f;
        Ok(match kind {
            EventKind::ProductionOrderReleased => Self::OrderReleased(f(v)?),
            EventKind::ProductionOrderChanged => Self::OrderChanged(f(v)?),
            EventKind::ProductionOrderCancelled => Self::OrderCancelled(f(v)?),
            EventKind::MaterialChanged => Self::MaterialChanged(f(v)?),
            EventKind::OperationStarted => Self::OperationStarted(f(v)?),
            EventKind::OperationCompleted => Self::OperationCompleted(f(v)?),
            EventKind::OperationConfirmed => Self::OperationConfirmed(f(v)?),
            EventKind::MaterialConsumed => Self::MaterialConsumed(f(v)?),
            EventKind::MaterialProduced => Self::MaterialProduced(f(v)?),
            EventKind::ScrapReported => Self::ScrapReported(f(v)?),
            EventKind::InspectionResultRecorded => Self::InspectionResultRecorded(f(v)?),
            EventKind::UsageDecisionMade => Self::UsageDecisionMade(f(v)?),
            EventKind::LotHoldPlaced => Self::HoldPlaced(f(v)?),
            EventKind::LotHoldReleased => Self::HoldReleased(f(v)?),
            EventKind::NonconformanceCreated => Self::NonconformanceCreated(f(v)?),
            EventKind::InventoryTransferred => Self::InventoryTransferred(f(v)?),
            EventKind::InventoryAdjusted => Self::InventoryAdjusted(f(v)?),
            EventKind::ShipmentConfirmed => Self::ShipmentConfirmed(f(v)?),
        })
    }

    /// The kind of this payload.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::OrderReleased(_) => EventKind::ProductionOrderReleased,
            Self::OrderChanged(_) => EventKind::ProductionOrderChanged,
            Self::OrderCancelled(_) => EventKind::ProductionOrderCancelled,
            Self::MaterialChanged(_) => EventKind::MaterialChanged,
            Self::OperationStarted(_) => EventKind::OperationStarted,
            Self::OperationCompleted(_) => EventKind::OperationCompleted,
            Self::OperationConfirmed(_) => EventKind::OperationConfirmed,
            Self::MaterialConsumed(_) => EventKind::MaterialConsumed,
            Self::MaterialProduced(_) => EventKind::MaterialProduced,
            Self::ScrapReported(_) => EventKind::ScrapReported,
            Self::InspectionResultRecorded(_) => EventKind::InspectionResultRecorded,
            Self::UsageDecisionMade(_) => EventKind::UsageDecisionMade,
            Self::HoldPlaced(_) => EventKind::LotHoldPlaced,
            Self::HoldReleased(_) => EventKind::LotHoldReleased,
            Self::NonconformanceCreated(_) => EventKind::NonconformanceCreated,
            Self::InventoryTransferred(_) => EventKind::InventoryTransferred,
            Self::InventoryAdjusted(_) => EventKind::InventoryAdjusted,
            Self::ShipmentConfirmed(_) => EventKind::ShipmentConfirmed,
        }
    }

    /// Encodes the payload as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::to_value as t;
        let r = match self {
            Self::OrderReleased(d) => t(d),
            Self::OrderChanged(d) => t(d),
            Self::OrderCancelled(d) => t(d),
            Self::MaterialChanged(d) => t(d),
            Self::OperationStarted(d) | Self::OperationCompleted(d) => t(d),
            Self::OperationConfirmed(d) => t(d),
            Self::MaterialConsumed(d) => t(d),
            Self::MaterialProduced(d) => t(d),
            Self::ScrapReported(d) => t(d),
            Self::InspectionResultRecorded(d) => t(d),
            Self::UsageDecisionMade(d) => t(d),
            Self::HoldPlaced(d) => t(d),
            Self::HoldReleased(d) => t(d),
            Self::NonconformanceCreated(d) => t(d),
            Self::InventoryTransferred(d) => t(d),
            Self::InventoryAdjusted(d) => t(d),
            Self::ShipmentConfirmed(d) => t(d),
        };
        r.expect("event payloads always serialize")
    }
}
