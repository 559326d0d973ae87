//! The ERP of some plants is an SAP S/4HANA system (`ERP_DIALECTS`, e.g.
//! `1000=andon@1,2000=s4hana@2408`). For those plants the middleware keeps its flows — the
//! outbox commands are planned in andon's canonical form — and speaks S/4HANA at the two
//! edges:
//!
//! * **in**: SAP business events (`sap.s4.beh.…`) are notifications naming an object;
//!   [`plan`] turns one into the same MES/QMS/WMS commands as the andon event it stands for,
//!   with a [`crate::flows::Body::ReadBack`] body that is built at delivery time from the
//!   object read back from the plant's system ([`wire`]);
//! * **out**: a command to the ERP of an S/4HANA plant is translated just before it is sent
//!   ([`wire::outbound`]): a goods movement becomes a material document deep insert, a
//!   confirmation a `ProdnOrdConf2`, a quality notification an `A_QualityNotification`, and
//!   look-ups (material master, stock) read
//!   `API_PRODUCT_SRV` and `API_MATERIAL_STOCK_SRV`. Every `POST` carries a CSRF token of the
//!   plant's session ([`session`]) and a repeatable request (`RequestID` = the command's
//!   idempotency key, `RepeatabilityCreation` = its first attempt).
//! * **vendor upgrades**: a plant's system can move from 2408 to 2502 under the middleware;
//!   a create refused 400 for its model (`Property 'X' is invalid|required`) makes the
//!   middleware read the material document service's `$metadata` again
//!   ([`wire::release_of_metadata`]), switch the plant ([`Releases`], kept in the store) and
//!   send the command again in the new release, under a new `RequestID`
//!   ([`retranslated_request_id`]).

pub mod session;
pub mod wire;

use std::collections::BTreeMap;

use andon_contracts::api::SourceRefs;
use andon_contracts::{CloudEvent, MaterialId, OrderId, PlantId, System};
use serde_json::Value;

use crate::command::{Body, Command, Verb, seg};

/// A release of S/4HANA the middleware speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// 2408: material document items carry the SAP unit (`EntryUnit`).
    R2408,
    /// 2502: material document items carry the ISO unit (`EntryUnitISOCode`).
    R2502,
}

impl Release {
    /// `2408` or `2502`.
    pub fn name(self) -> &'static str {
        match self {
            Self::R2408 => "2408",
            Self::R2502 => "2502",
        }
    }

    /// The release named `2408` or `2502`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "2408" => Some(Self::R2408),
            "2502" => Some(Self::R2502),
            _ => None,
        }
    }
}

/// The S/4HANA release each plant's system is spoken to at, starting from `ERP_DIALECTS`
/// (or what the store last detected) and changed when a plant's system turns out to have
/// been upgraded (DESIGN.md, *Vendor upgrades*). One detection at a time per plant.
#[derive(Debug, Default)]
pub struct Releases {
    current: std::sync::Mutex<BTreeMap<PlantId, Release>>,
    detecting: std::sync::Mutex<BTreeMap<PlantId, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl Releases {
    /// The releases of the S/4HANA plants (`ERP_DIALECTS`).
    pub fn new(plants: impl IntoIterator<Item = (PlantId, Release)>) -> Self {
        Self {
            current: std::sync::Mutex::new(plants.into_iter().collect()),
            detecting: std::sync::Mutex::default(),
        }
    }

    /// Takes `detected` (plant, release), as the store kept them, for the plants that are
    /// S/4HANA plants; others are ignored.
    pub fn adopt(&self, detected: &[(String, String)]) {
        for (plant, release) in detected {
            if let (Ok(p), Some(r)) = (PlantId::parse(plant.as_str()), Release::parse(release)) {
                self.set(&p, r);
            }
        }
    }

    /// The release `plant`'s system is spoken to at (`None`: not an S/4HANA plant).
    pub fn of(&self, plant: &PlantId) -> Option<Release> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(plant)
            .copied()
    }

    /// Switches `plant` (an S/4HANA plant) to `release`.
    pub fn set(&self, plant: &PlantId, release: Release) {
        if let Some(slot) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(plant)
        {
            *slot = release;
        }
    }

    /// The lock one detection of `plant`'s release holds.
    pub fn detection(&self, plant: &PlantId) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.detecting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(plant.clone())
            .or_default()
            .clone()
    }
}

/// The `RequestID` of a request re-translated for `release` after its system refused the
/// translation sent under `key` (SAP keeps that refusal for `key`, and a changed body under
/// the same `RequestID` is refused as a reuse): the first 32 hex digits of
/// SHA-256(`key|s4hana@release`), the same on every retry.
pub fn retranslated_request_id(key: &str, release: Release) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{key}|s4hana@{}", release.name()).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Types of the SAP business events start with this.
pub const EVENT_PREFIX: &str = "sap.s4.beh.";

/// Whether `type_` is an SAP business event type.
pub fn is_sap_event(type_: &str) -> bool {
    type_.starts_with(EVENT_PREFIX)
}

/// What an SAP business event notifies: the object to read back and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `ProductionOrder.Released`.
    OrderReleased(OrderId),
    /// `ProductionOrder.Changed`.
    OrderChanged(OrderId),
    /// `ProductionOrder.Deleted`: the order is marked for deletion.
    OrderDeleted(OrderId),
    /// `Product.Changed`.
    ProductChanged(MaterialId),
}

impl Notification {
    /// Reads the notification of `event` (type and data); `Err` says why it is not one.
    pub fn decode(event: &CloudEvent) -> Result<Self, String> {
        let data = event.data.to_value();
        let field = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("data.{k} is missing"))
        };
        let order = || -> Result<OrderId, String> {
            let plant = field("ProductionPlant")?;
            if plant != event.plant.as_str() {
                return Err(format!(
                    "data.ProductionPlant {plant} is not the event's plant {}",
                    event.plant
                ));
            }
            let o = field("ManufacturingOrder")?;
            OrderId::parse(o).map_err(|e| format!("data.ManufacturingOrder {o:?}: {e}"))
        };
        let base = "sap.s4.beh.productionorder.v1.ProductionOrder.";
        match event.type_.as_str() {
            t if t == format!("{base}Released.v1") => Ok(Self::OrderReleased(order()?)),
            t if t == format!("{base}Changed.v1") => Ok(Self::OrderChanged(order()?)),
            t if t == format!("{base}Deleted.v1") => Ok(Self::OrderDeleted(order()?)),
            "sap.s4.beh.product.v1.Product.Changed.v1" => {
                let p = field("Product")?;
                MaterialId::parse(p)
                    .map(Self::ProductChanged)
                    .map_err(|e| format!("data.Product {p:?}: {e}"))
            }
            other => Err(format!("SAP event type {other:?} has no flow here")),
        }
    }
}

pub use crate::command::ReadBack;

/// The commands an S/4HANA notification implies: those of the andon event it stands for
/// (DESIGN.md's flow table), with bodies read back at delivery time.
pub fn plan(event: &CloudEvent, n: &Notification) -> Vec<Command> {
    let refs = SourceRefs {
        source: Some(event.key()),
        sources: Vec::new(),
    };
    let command = |target, verb, path: String, aggregate: String, object| Command {
        target,
        verb,
        path,
        aggregate,
        body: Body::ReadBack {
            plant: event.plant.clone(),
            object,
            refs: refs.clone(),
        },
        done_on: None,
        hold: false,
    };
    match n {
        Notification::OrderReleased(order) => vec![Command {
            done_on: Some("work-order-exists".into()),
            ..command(
                System::Mes,
                Verb::Post,
                "/api/v1/work-orders".into(),
                format!("order/{order}"),
                ReadBack::WorkOrder {
                    order: order.clone(),
                },
            )
        }],
        Notification::OrderChanged(order) => vec![command(
            System::Mes,
            Verb::Put,
            format!("/api/v1/work-orders/{}", seg(order.as_str())),
            format!("order/{order}"),
            ReadBack::WorkOrder {
                order: order.clone(),
            },
        )],
        Notification::OrderDeleted(order) => vec![command(
            System::Mes,
            Verb::Post,
            format!("/api/v1/work-orders/{}/cancellation", seg(order.as_str())),
            format!("order/{order}"),
            ReadBack::Cancellation {
                order: order.clone(),
            },
        )],
        Notification::ProductChanged(material) => [System::Mes, System::Qms, System::Wms]
            .into_iter()
            .map(|target| {
                command(
                    target,
                    Verb::Put,
                    format!("/api/v1/materials/{}", seg(material.as_str())),
                    format!("material/{material}"),
                    ReadBack::Material {
                        material: material.clone(),
                    },
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn releases_start_from_the_manifest_and_take_what_was_detected() {
        let p = |s: &str| PlantId::parse(s).unwrap();
        let r = Releases::new([(p("1000"), Release::R2408)]);
        assert_eq!(r.of(&p("1000")), Some(Release::R2408));
        assert_eq!(r.of(&p("2000")), None);
        r.adopt(&[
            ("1000".into(), "2502".into()),
            ("2000".into(), "2502".into()),
            ("3000".into(), "2502".into()),
        ]);
        assert_eq!(r.of(&p("1000")), Some(Release::R2502));
        assert_eq!(r.of(&p("2000")), None, "an andon plant stays andon");
        assert_eq!(r.of(&p("3000")), None);
        let a = retranslated_request_id("0123456789abcdef0123456789abcdef", Release::R2502);
        assert_eq!(a.len(), 32);
        assert_ne!(a, "0123456789abcdef0123456789abcdef");
        assert_ne!(
            a,
            retranslated_request_id("0123456789abcdef0123456789abcdef", Release::R2408)
        );
    }

    #[test]
    fn a_released_order_notification_plans_the_work_order_download() {
        let e: CloudEvent = serde_json::from_value(json!({
            "specversion": "1.0", "id": "e-1", "source": "/andon/erp/1000",
            "type": "sap.s4.beh.productionorder.v1.ProductionOrder.Released.v1",
            "subject": "1000001", "time": "2026-11-02T06:10:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": 1,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "data": {"ManufacturingOrder": "1000001", "ManufacturingOrderType": "PP01", "ProductionPlant": "1000"}
        }))
        .unwrap();
        let n = Notification::decode(&e).unwrap();
        assert_eq!(
            n,
            Notification::OrderReleased(OrderId::parse("1000001").unwrap())
        );
        let cmds = plan(&e, &n);
        assert_eq!(cmds.len(), 1);
        assert_eq!(
            (cmds[0].target, cmds[0].path.as_str()),
            (System::Mes, "/api/v1/work-orders")
        );
        assert!(matches!(cmds[0].body, Body::ReadBack { .. }));
        let mut other_plant = e.clone();
        other_plant.plant = PlantId::parse("2000").unwrap();
        assert!(Notification::decode(&other_plant).is_err());
    }
}
