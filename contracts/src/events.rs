//! The event catalog: CloudEvents 1.0 envelopes and the `data` of each event kind.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, MaterialId, OperationId, OrderId, PlantId, StorageLocation};
use crate::objects::{BatchRef, Material, ProductionOrder, Valuation};
use crate::quantity::Quantity;

/// The four simulated systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// Enterprise resource planning (SAP S/4HANA-like).
    Erp,
    /// Manufacturing execution.
    Mes,
    /// Quality management.
    Qms,
    /// Warehouse management.
    Wms,
}

impl System {
    /// All systems, in a fixed order.
    pub const ALL: [System; 4] = [System::Erp, System::Mes, System::Qms, System::Wms];

    /// Lower-case name (`erp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Erp => "erp",
            Self::Mes => "mes",
            Self::Qms => "qms",
            Self::Wms => "wms",
        }
    }

    /// Parses `erp`, `mes`, `qms` or `wms` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "erp" => Some(Self::Erp),
            "mes" => Some(Self::Mes),
            "qms" => Some(Self::Qms),
            "wms" => Some(Self::Wms),
            _ => None,
        }
    }
}

impl std::fmt::Display for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! kinds {
    ($($variant:ident => $name:literal, [$($sys:ident),+];)*) => {
        /// Every event kind of the catalog.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $(
            #[doc = concat!("`", $name, "`")]
            $variant,
        )* }

        impl EventKind {
            /// All kinds, in catalog order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];

            /// The catalog name, such as `material.consumed`.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }

            /// The systems that emit this kind.
            pub fn emitters(self) -> &'static [System] {
                match self { $(Self::$variant => &[$(System::$sys),+]),* }
            }
        }
    };
}

kinds! {
    ProductionOrderReleased => "production_order.released", [Erp];
    ProductionOrderChanged => "production_order.changed", [Erp];
    ProductionOrderCancelled => "production_order.cancelled", [Erp];
    MaterialChanged => "material.changed", [Erp];
    OperationStarted => "operation.started", [Mes];
    OperationCompleted => "operation.completed", [Mes];
    OperationConfirmed => "operation.confirmed", [Mes];
    MaterialConsumed => "material.consumed", [Mes];
    MaterialProduced => "material.produced", [Mes];
    ScrapReported => "scrap.reported", [Mes];
    InspectionResultRecorded => "inspection_result.recorded", [Qms];
    UsageDecisionMade => "usage_decision.made", [Qms];
    LotHoldPlaced => "lot.hold_placed", [Qms];
    LotHoldReleased => "lot.hold_released", [Qms];
    NonconformanceCreated => "nonconformance.created", [Qms, Mes];
    InventoryTransferred => "inventory.transferred", [Wms];
    InventoryAdjusted => "inventory.adjusted", [Wms];
    ShipmentConfirmed => "shipment.confirmed", [Wms];
}

impl EventKind {
    /// The CloudEvents `type`, such as `andon.material.consumed.v1`.
    pub fn type_name(self) -> String {
        // Put together by hand: every emitted event names its type, and `format!` costs.
        let name = self.name();
        let mut t = String::with_capacity(name.len() + 9);
        t.push_str("andon.");
        t.push_str(name);
        t.push_str(".v1");
        t
    }

    /// Finds a kind by catalog name or CloudEvents type.
    pub fn parse(s: &str) -> Option<Self> {
        let name = s
            .strip_prefix("andon.")
            .and_then(|r| r.strip_suffix(".v1"))
            .unwrap_or(s);
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A CloudEvents 1.0 envelope in structured mode with andon's extensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per source.
    pub id: String,
    /// `/andon/<system>/<plant>`.
    pub source: String,
    /// `andon.<kind>.v1`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The aggregate the event is about.
    pub subject: String,
    /// Business time (scaled).
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// Extension: the plant.
    pub plant: PlantId,
    /// Extension: per-aggregate sequence.
    pub sequence: u64,
    /// Extension: W3C trace context.
    pub traceparent: String,
    /// The event payload.
    pub data: crate::Json,
}

impl CloudEvent {
    /// The event kind named by `type`, if it is in the catalog.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.type_)
    }

    /// The `source` + `id` pair that identifies the event.
    pub fn key(&self) -> SourceRef {
        SourceRef {
            source: self.source.clone(),
            id: self.id.clone(),
        }
    }

    /// Decodes `data` as the typed payload of the event's kind.
    pub fn typed_data(&self) -> Result<EventData, String> {
        let kind = self
            .kind()
            .ok_or_else(|| format!("unknown event type {:?}", self.type_))?;
        EventData::decode_text(kind, self.data.text()).map_err(|e| e.to_string())
    }
}

/// A reference to the source event a call realises (`source` + `id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// CloudEvents `source`.
    pub source: String,
    /// CloudEvents `id`.
    pub id: String,
}

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
