//! Canonical business objects (ISA-95 / SAP S/4HANA names).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, MaterialId, OperationId, OrderId, PlantId, StorageLocation, Unit};
use crate::quantity::Quantity;

/// An alternative unit of measure: `numerator / denominator` base units per alternative unit
/// (SAP `UMREZ` / `UMREN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConversion {
    /// The alternative unit.
    pub unit: Unit,
    /// Base units per `denominator` alternative units.
    pub numerator: u32,
    /// Alternative units per `numerator` base units.
    pub denominator: u32,
}

/// The material master (SAP Material / ISA-95 MaterialDefinition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    /// Material number.
    pub material: MaterialId,
    /// Short text.
    #[serde(default)]
    pub description: String,
    /// Base unit of measure: stock is kept in it.
    pub base_unit: Unit,
    /// Alternative units with conversions.
    #[serde(default)]
    pub alternative_units: Vec<UnitConversion>,
    /// Whether the material is managed in batches.
    #[serde(default = "yes")]
    pub batch_managed: bool,
    /// Whether a goods receipt from production goes to quality inspection stock.
    #[serde(default)]
    pub inspection_required: bool,
    /// Plants where the material is maintained.
    #[serde(default)]
    pub plants: Vec<PlantId>,
}

fn yes() -> bool {
    true
}

impl Material {
    /// Converts a quantity in any known unit into thousandths of the base unit.
    /// Returns `None` when the unit has no conversion or the result is not a whole thousandth.
    pub fn to_base_milli(&self, q: &Quantity) -> Option<i64> {
        if q.unit == self.base_unit {
            return Some(q.milli);
        }
        let conv = self.alternative_units.iter().find(|c| c.unit == q.unit)?;
        let num = i128::from(q.milli) * i128::from(conv.numerator);
        let den = i128::from(conv.denominator);
        if den == 0 || num % den != 0 {
            return None;
        }
        i64::try_from(num / den).ok()
    }
}

/// Stock types (SAP InventoryStockType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockType {
    /// Unrestricted-use stock (01): may be consumed and shipped.
    Unrestricted,
    /// Quality-inspection stock (02).
    QualityInspection,
    /// Blocked stock (07).
    Blocked,
}

impl StockType {
    /// The SAP-like label used in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unrestricted => "Unrestricted-use",
            Self::QualityInspection => "Quality inspection",
            Self::Blocked => "Blocked",
        }
    }
}

/// One row of stock: (plant, storage location, material, batch, stock type) → quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockRow {
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Material.
    pub material: MaterialId,
    /// Batch (`null` for materials not managed in batches).
    pub batch: Option<BatchId>,
    /// Stock type.
    pub stock_type: StockType,
    /// Quantity in the base unit.
    pub quantity: Quantity,
}

/// Status of a production order (SAP system statuses CRTD, REL, PCNF, CNF, DLV, TECO, CLSD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// CRTD.
    Created,
    /// REL.
    Released,
    /// PCNF.
    PartiallyConfirmed,
    /// CNF.
    Confirmed,
    /// DLV.
    Delivered,
    /// TECO.
    TechnicallyCompleted,
    /// CLSD.
    Closed,
    /// Cancelled before execution (deletion flag).
    Cancelled,
}

impl OrderStatus {
    /// Whether confirmations and goods movements may be posted against the order.
    pub fn accepts_postings(self) -> bool {
        matches!(
            self,
            Self::Released | Self::PartiallyConfirmed | Self::Confirmed | Self::Delivered
        )
    }
}

/// An operation of a production order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderOperation {
    /// Operation number (`0010`, `0020`…).
    pub operation: OperationId,
    /// Work centre.
    pub work_center: String,
    /// Short text.
    #[serde(default)]
    pub description: String,
}

/// A component (reservation item) of a production order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderComponent {
    /// Reservation item (`0001`…).
    pub reservation_item: String,
    /// Component material.
    pub material: MaterialId,
    /// Required quantity for the whole order.
    pub quantity: Quantity,
    /// Storage location the component is staged from.
    pub storage_location: StorageLocation,
}

/// A production order (SAP ManufacturingOrder / ISA-95 OperationsRequest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductionOrder {
    /// Order number.
    pub order: OrderId,
    /// Order type (`PP01`).
    pub order_type: String,
    /// Plant.
    pub plant: PlantId,
    /// Header material (what the order produces).
    pub material: MaterialId,
    /// Planned quantity.
    pub planned_quantity: Quantity,
    /// Storage location for the goods receipt.
    pub storage_location: StorageLocation,
    /// System status.
    pub status: OrderStatus,
    /// Production hold flag.
    #[serde(default)]
    pub production_hold: bool,
    /// Basic start date.
    pub basic_start: NaiveDate,
    /// Basic finish date.
    pub basic_finish: NaiveDate,
    /// Operations in sequence.
    pub operations: Vec<OrderOperation>,
    /// Components.
    pub components: Vec<OrderComponent>,
    /// Confirmed yield so far (base unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_yield: Option<Quantity>,
    /// Confirmed scrap so far (base unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_scrap: Option<Quantity>,
}

/// A reference from the master data to a batch (genealogy, shipments).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRef {
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
}

/// Lot status as the WMS and MES see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotStatus {
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// The disposition from the usage decision (or `quality_inspection` before it).
    pub status: StockType,
    /// Holds in force (they stack).
    pub holds: Vec<String>,
    /// Whether the lot may be consumed (MES) or picked (WMS): unrestricted and no hold.
    pub available: bool,
    /// Highest source sequence applied to the lot.
    pub last_sequence: u64,
    /// Quantity on hand in the warehouse (WMS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

/// Valuation of a usage decision or result: accept or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Valuation {
    /// Accepted.
    A,
    /// Rejected.
    R,
}

/// Inspection lot (SAP InspectionLot / ISA-95 TestResult).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionLot {
    /// Inspection lot number (12 digits).
    pub inspection_lot: String,
    /// Origin (`04` goods receipt from production).
    pub origin: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Order that produced the batch.
    pub order: Option<OrderId>,
    /// Lot quantity.
    pub quantity: Quantity,
    /// Usage decision code, once made.
    pub usage_decision: Option<String>,
    /// Valuation of the usage decision, once made.
    pub valuation: Option<Valuation>,
}
