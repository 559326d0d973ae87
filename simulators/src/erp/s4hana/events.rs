//! The ERP's events as S/4HANA publishes them for a plant that speaks S/4HANA: SAP
//! business events (`sap.s4.beh.…`) in CloudEvents, notification style — the data names
//! the object and the consumer reads it back through the API.
//!
//! The history keeps every event in andon's canonical form (so the checkers judge every
//! dialect alike); this is the form the middleware receives. `source`, `id`, `sequence`,
//! `plant` and `traceparent` are the canonical event's.

use andon_contracts::CloudEvent;
use andon_contracts::events::EventKind;
use serde_json::{Value, json};

/// The SAP event type of an ERP event kind, if S/4HANA publishes one for it.
pub fn sap_type(kind: EventKind) -> Option<&'static str> {
    Some(match kind {
        EventKind::ProductionOrderReleased => {
            "sap.s4.beh.productionorder.v1.ProductionOrder.Released.v1"
        }
        EventKind::ProductionOrderChanged => {
            "sap.s4.beh.productionorder.v1.ProductionOrder.Changed.v1"
        }
        EventKind::ProductionOrderCancelled => {
            "sap.s4.beh.productionorder.v1.ProductionOrder.Deleted.v1"
        }
        EventKind::MaterialChanged => "sap.s4.beh.product.v1.Product.Changed.v1",
        _ => return None,
    })
}

/// Every SAP event type the dialect publishes.
pub const TYPES: [&str; 4] = [
    "sap.s4.beh.productionorder.v1.ProductionOrder.Released.v1",
    "sap.s4.beh.productionorder.v1.ProductionOrder.Changed.v1",
    "sap.s4.beh.productionorder.v1.ProductionOrder.Deleted.v1",
    "sap.s4.beh.product.v1.Product.Changed.v1",
];

/// The order type in an order event's data (`order_type`, or `order.order_type`).
fn order_type(data: &Value) -> &str {
    data.get("order_type")
        .or_else(|| data.pointer("/order/order_type"))
        .and_then(Value::as_str)
        .unwrap_or("PP01")
}

/// `ev` as S/4HANA would publish it, as the JSON to deliver; `None` for an event S/4HANA
/// does not publish (it goes out in andon's form).
pub fn wire(ev: &CloudEvent) -> Option<Value> {
    let kind = ev.kind()?;
    let ty = sap_type(kind)?;
    let data = if kind == EventKind::MaterialChanged {
        json!({ "Product": ev.subject })
    } else {
        json!({
            "ManufacturingOrder": ev.subject,
            "ManufacturingOrderType": order_type(&ev.data.to_value()),
            "ProductionPlant": ev.plant.as_str(),
        })
    };
    let mut v = serde_json::to_value(ev).ok()?;
    v["type"] = Value::String(ty.to_string());
    v["data"] = data;
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_kind_has_its_type_listed() {
        for k in [
            EventKind::ProductionOrderReleased,
            EventKind::ProductionOrderChanged,
            EventKind::ProductionOrderCancelled,
            EventKind::MaterialChanged,
        ] {
            assert!(TYPES.contains(&sap_type(k).unwrap()));
        }
        assert_eq!(sap_type(EventKind::MaterialConsumed), None);
    }
}
