//! Request and response bodies of the simulators' REST APIs.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::events::SourceRef;
use crate::ids::{
    BatchId, MaterialId, MovementTypeCode, OperationId, OrderId, PlantId, StorageLocation,
};
use crate::objects::{
    Material, OrderComponent, OrderOperation, OrderStatus, ProductionOrder, StockRow, StockType,
};
use crate::quantity::Quantity;

/// The source event(s) a call realises: `source` for one, `sources` for several.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRefs {
    /// The one source event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    /// Several source events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRef>,
}

impl SourceRefs {
    /// All referenced source events.
    pub fn all(&self) -> Vec<SourceRef> {
        self.source
            .iter()
            .cloned()
            .chain(self.sources.iter().cloned())
            .collect()
    }
}

/// `POST /api/v1/confirmations` (SAP ProdnOrdConf).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationRequest {
    /// Order.
    pub order: OrderId,
    /// Operation.
    pub operation: OperationId,
    /// Plant.
    pub plant: PlantId,
    /// Good quantity.
    #[serde(rename = "yield")]
    pub yield_: Quantity,
    /// Scrap.
    pub scrap: Quantity,
    /// Rework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rework: Option<Quantity>,
    /// Final confirmation.
    #[serde(rename = "final")]
    pub final_: bool,
    /// Posting date.
    pub posting_date: NaiveDate,
    /// Work centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_center: Option<String>,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// Answer to a confirmation: SAP confirmation group + counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// Confirmation group (`RUECK`): per order operation.
    pub confirmation_group: String,
    /// Confirmation counter (`RMZHL`): 1, 2, 3… per group.
    pub confirmation_counter: u32,
    /// Order.
    pub order: OrderId,
    /// Operation.
    pub operation: OperationId,
    /// Plant.
    pub plant: PlantId,
    /// Good quantity (base unit).
    #[serde(rename = "yield")]
    pub yield_: Quantity,
    /// Scrap (base unit).
    pub scrap: Quantity,
    /// Final confirmation.
    #[serde(rename = "final")]
    pub final_: bool,
    /// Posting date.
    pub posting_date: NaiveDate,
    /// Order status after the confirmation.
    pub order_status: OrderStatus,
}

/// The document a reversal item reverses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentItemRef {
    /// Material document number.
    pub material_document: String,
    /// Year.
    pub year: i32,
    /// Item (1-based).
    pub item: u32,
}

/// One item of a goods movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsMovementItem {
    /// Movement type.
    pub movement_type: MovementTypeCode,
    /// Material.
    pub material: MaterialId,
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchId>,
    /// Quantity in the entry unit.
    pub quantity: Quantity,
    /// Order reference (101, 261, 531 and their reversals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
    /// Reason for movement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The item this one reverses (reversal movement types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversal_of: Option<DocumentItemRef>,
    /// Receiving plant (301).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_plant: Option<PlantId>,
    /// Receiving storage location (301).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_storage_location: Option<StorageLocation>,
}

/// `POST /api/v1/material-documents` (SAP A_MaterialDocumentHeader).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsMovementRequest {
    /// Posting date.
    pub posting_date: NaiveDate,
    /// Header text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text: Option<String>,
    /// Items.
    pub items: Vec<GoodsMovementItem>,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// An item of a posted material document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialDocumentItem {
    /// Item number (1-based).
    pub item: u32,
    /// The item as posted.
    #[serde(flatten)]
    pub posted: GoodsMovementItem,
    /// Quantity converted to the base unit.
    pub quantity_base: Quantity,
    /// Stock type debited or credited.
    pub stock_type: StockType,
    /// Whether this item has since been reversed.
    #[serde(default)]
    pub reversed: bool,
}

/// A posted material document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialDocument {
    /// Document number (10 digits).
    pub material_document: String,
    /// Document year.
    pub year: i32,
    /// Posting date.
    pub posting_date: NaiveDate,
    /// Items.
    pub items: Vec<MaterialDocumentItem>,
}

/// `POST /api/v1/material-documents/{year}/{number}/reversal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// Posting date of the reversal.
    pub posting_date: NaiveDate,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `POST /api/v1/quality-notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityNotificationRequest {
    /// The nonconformance number in the originating system.
    pub nonconformance: String,
    /// Notification type.
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
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// Answer to a quality notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityNotification {
    /// ERP notification number.
    pub notification: String,
    /// The originating nonconformance.
    pub nonconformance: String,
    /// Plant.
    pub plant: PlantId,
}

/// `GET /api/v1/stock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockList {
    /// Rows.
    pub stock: Vec<StockRow>,
}

/// `GET /api/v1/production-orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductionOrderList {
    /// Orders.
    pub orders: Vec<ProductionOrder>,
}

/// `POST /api/v1/work-orders` and `PUT /api/v1/work-orders/{order}`: a released order downloaded to MES.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderDownload {
    /// Order.
    pub order: OrderId,
    /// Plant.
    pub plant: PlantId,
    /// Material to produce.
    pub material: MaterialId,
    /// Planned quantity.
    pub planned_quantity: Quantity,
    /// Storage location for the output.
    pub storage_location: StorageLocation,
    /// Operations.
    pub operations: Vec<OrderOperation>,
    /// Components.
    pub components: Vec<OrderComponent>,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// Execution status of a work order in MES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderStatus {
    /// Received, not started.
    Downloaded,
    /// Being executed.
    InProgress,
    /// All operations finally confirmed.
    Completed,
    /// Cancelled in ERP.
    Cancelled,
}

/// A work order as MES holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrder {
    /// Order.
    pub order: OrderId,
    /// Plant.
    pub plant: PlantId,
    /// Material to produce.
    pub material: MaterialId,
    /// Planned quantity.
    pub planned_quantity: Quantity,
    /// Execution status.
    pub status: WorkOrderStatus,
    /// Operations.
    pub operations: Vec<OrderOperation>,
    /// Components.
    pub components: Vec<OrderComponent>,
    /// Number of downloads/changes applied.
    pub revision: u32,
}

/// `POST /api/v1/work-orders/{order}/cancellation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderCancellation {
    /// Why.
    pub reason: String,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `PUT /api/v1/materials/{material}` on MES, QMS and WMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialMasterUpdate {
    /// The material master.
    #[serde(flatten)]
    pub material: Material,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `POST /api/v1/lots/{plant}/{material}/{batch}/holds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Hold id from QMS.
    pub hold_id: String,
    /// Reason code.
    pub reason_code: String,
    /// The source event's `sequence` (per lot).
    pub sequence: u64,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `POST /api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldReleaseRequest {
    /// The source event's `sequence` (per lot).
    pub sequence: u64,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `PUT /api/v1/lots/{plant}/{material}/{batch}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotStatusUpdate {
    /// New disposition.
    pub status: StockType,
    /// The source event's `sequence` (per lot).
    pub sequence: u64,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `POST /api/v1/inspection-lots`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionLotRequest {
    /// Origin (`04` goods receipt from production).
    pub origin: String,
    /// Plant.
    pub plant: PlantId,
    /// Storage location of the lot.
    pub storage_location: StorageLocation,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Producing order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
    /// Quantity.
    pub quantity: Quantity,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// `POST /api/v1/receipts` on WMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Quantity.
    pub quantity: Quantity,
    /// Producing order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
    /// Source event(s).
    #[serde(flatten)]
    pub refs: SourceRefs,
}

/// Answer to a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Receipt number.
    pub receipt: String,
    /// Bin the lot was put away to.
    pub bin: String,
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
    /// Quantity received.
    pub quantity: Quantity,
    /// Whether the lot can be picked now.
    pub available: bool,
}

/// `POST /oauth/token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until expiry.
    pub expires_in: u64,
    /// Granted scope (`plant:1000 plant:2000`).
    pub scope: String,
}
