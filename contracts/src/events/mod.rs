//! The event catalog: CloudEvents 1.0 envelopes and the `data` of each event kind.
//!
//! This module holds the systems, the kinds of the catalog and the envelope; the
//! payload of each kind and [`EventData`] are in `data`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::PlantId;

mod data;
pub mod mqtt;

pub use data::{
    AdjustmentDirection, EventData, HoldPlaced, HoldReleased, InspectionResultRecorded,
    InventoryAdjusted, InventoryTransferred, MaterialConsumed, MaterialProduced,
    NonconformanceCreated, OperationConfirmed, OperationEvent, OrderCancelled, OrderChanged,
    ScrapReported, ShipmentConfirmed, ShipmentItem, UsageDecisionMade,
};

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
