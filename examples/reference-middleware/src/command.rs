//! A command of the outbox: the call it makes (target, verb, path, aggregate) and its body,
//! shared by the flows that plan commands and the dialects that translate them.

use andon_contracts::api::{GoodsMovementRequest, InspectionLotRequest, SourceRefs};
use andon_contracts::{BatchId, MaterialId, OrderId, PlantId, Quantity, StorageLocation, System};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// HTTP method of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verb {
    /// `GET` (look-ups).
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH` (Business Central subscriptions).
    Patch,
}

impl Verb {
    /// `GET`, `POST`, `PUT` or `PATCH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
        }
    }
}

/// One call to make for a source event, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The system to call.
    pub target: System,
    /// Method.
    pub verb: Verb,
    /// Path under the system's base URL.
    pub path: String,
    /// Commands of one aggregate (per target) are delivered in outbox order.
    pub aggregate: String,
    /// The body, or what is needed to build it.
    pub body: Body,
    /// A problem code that means "already done" (409 `work-order-exists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_on: Option<String>,
    /// Whether this command propagates a quality hold.
    #[serde(default)]
    pub hold: bool,
}

impl Command {
    /// `POST /api/v1/…` as written in dead letters.
    pub fn call(&self) -> String {
        format!("{} {}", self.verb.as_str(), self.path)
    }
}

/// The body of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// Complete.
    Ready {
        /// The JSON body.
        json: Value,
    },
    /// A 261 whose quantity is converted to the base unit of the material (looked up).
    Consumption {
        /// The request with the quantity in the entry unit.
        request: GoodsMovementRequest,
    },
    /// An inspection lot, sent only when the material needs inspection (looked up).
    InspectionLot {
        /// The request.
        request: InspectionLotRequest,
    },
    /// ERP 344 (unrestricted → blocked) for a hold: of `quantity` when given, else of the
    /// lot's unrestricted stock at that moment (looked up). What it moves is recorded on
    /// the lot so that the last release can move it back.
    HoldBlock {
        /// The lot bookkeeping key.
        lot: String,
        /// Which stock.
        stock: LotRef,
        /// A fixed quantity and its storage location (usage decision while held).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fixed: Option<(StorageLocation, Quantity)>,
        /// Posting date.
        posting_date: NaiveDate,
        /// Source event.
        refs: SourceRefs,
    },
    /// Built from the object an S/4HANA or Business Central notification names, read back
    /// from the plant's system when the command is first delivered.
    ReadBack {
        /// The plant whose system holds the object.
        plant: PlantId,
        /// What to read and what it becomes.
        object: ReadBack,
        /// Source event.
        refs: SourceRefs,
    },
    /// ERP 343 (blocked → unrestricted) of what the holds of the lot moved.
    HoldUnblock {
        /// The lot bookkeeping key.
        lot: String,
        /// Which stock.
        stock: LotRef,
        /// Posting date.
        posting_date: NaiveDate,
        /// Source event.
        refs: SourceRefs,
    },
}

/// Plant, material and batch of a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRef {
    /// Plant.
    pub plant: PlantId,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: BatchId,
}

impl LotRef {
    pub(crate) fn aggregate(&self) -> String {
        format!("lot/{}/{}/{}", self.plant, self.material, self.batch)
    }

    pub(crate) fn path(&self) -> String {
        format!(
            "/api/v1/lots/{}/{}/{}",
            seg(self.plant.as_str()),
            seg(self.material.as_str()),
            seg(self.batch.as_str())
        )
    }
}

/// The object a [`Body::ReadBack`] reads, and the andon body it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum ReadBack {
    /// `A_ProductionOrder_2` with operations and components → a work order download.
    WorkOrder {
        /// The order.
        order: OrderId,
    },
    /// `A_ProductionOrder_2` marked for deletion → a work order cancellation.
    Cancellation {
        /// The order.
        order: OrderId,
    },
    /// `A_Product` with descriptions, units and plants → a material master update.
    Material {
        /// The product.
        material: MaterialId,
    },
    /// Business Central: `productionOrders({id})` with routing lines and components → the
    /// work order download (`created`), or its update or, when the order reads
    /// `cancelled: true`, its cancellation (`updated`). The MES path is resolved from the
    /// order read back.
    BcOrder {
        /// The company id.
        company: String,
        /// The order's id (a GUID).
        id: String,
        /// Notified as `created` (else `updated`).
        created: bool,
    },
    /// Business Central: `manufacturingItems({id})` with units of measure → a material
    /// master update (the path is resolved from the item read back).
    BcItem {
        /// The company id.
        company: String,
        /// The item's id (a GUID).
        id: String,
    },
}

impl ReadBack {
    /// Whether the object is read from a Business Central system.
    pub fn is_bc(&self) -> bool {
        matches!(self, Self::BcOrder { .. } | Self::BcItem { .. })
    }
}

/// Percent-encodes one path segment (identifiers may contain `/` or `.`).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'~')
            || (b == b'.' && s != "." && s != "..")
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
