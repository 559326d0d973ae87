//! The ERP's business objects as Business Central's entities (OData v4 JSON): the company of
//! a plant, items, the manufacturing extension's items with their units of measure,
//! production orders with routing lines and components, lot inventories. Every entity has
//! a GUID `id` (stable: derived from what it is) and an `@odata.etag` over its content.

use andon_contracts::PlantId;
use andon_contracts::objects::{Material, OrderStatus, StockType};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::erp::state::{ErpState, OrderRecord};

/// A stable GUID for `kind`/`key` (a v5 UUID in andon's namespace).
pub fn guid(kind: &str, key: &str) -> String {
    const NS: uuid::Uuid = uuid::Uuid::from_u128(0x6a6e_646f_6e00_4bc0_8000_0000_0000_0001);
    uuid::Uuid::new_v5(&NS, format!("{kind}/{key}").as_bytes()).to_string()
}

/// The id of the company that is `plant`: the v5 UUID (URL namespace) of the name the
/// contract gives it (`COMPANY_ID_NAME`).
pub fn company_id(plant: &PlantId) -> String {
    let name = andon_contracts::dialects::business_central::COMPANY_ID_NAME
        .replace("{plant}", plant.as_str());
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// A decimal of thousandths as a JSON number.
pub fn number(milli: i64) -> Value {
    if milli % 1000 == 0 {
        json!(milli / 1000)
    } else {
        json!(milli as f64 / 1000.0)
    }
}

/// Thousandths of a JSON number (at most three decimals kept).
pub fn milli_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .and_then(|i| i.checked_mul(1000))
            .or_else(|| n.as_f64().map(|f| (f * 1000.0).round() as i64)),
        _ => None,
    }
}

/// An Edm.Date.
pub fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An Edm.DateTimeOffset (UTC, milliseconds).
pub fn date_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `W/"JzE…'"`-like ETag over the entity's content.
pub fn etag(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"JzE5OzE{hex}Jw==\"")
}

/// `entity` with its `@odata.etag` first.
pub fn tagged(entity: Value) -> Value {
    let tag = etag(&entity);
    let mut o = Map::new();
    o.insert("@odata.etag".into(), Value::String(tag));
    if let Value::Object(m) = entity {
        o.extend(m);
    }
    Value::Object(o)
}

/// The company of `plant`.
pub fn company(plant: &PlantId, release: &str) -> Value {
    json!({
        "id": company_id(plant),
        "systemVersion": format!("{release}.0.0.0"),
        "name": format!("PLANT {plant}"),
        "displayName": format!("Plant {plant}"),
        "businessProfileId": "",
    })
}

/// The standard `items` entity of `m` in `plant`.
pub fn item(m: &Material, st: &ErpState, plant: &PlantId) -> Value {
    let inventory: i64 = st
        .stock
        .iter()
        .filter(|(k, _)| &k.plant == plant && k.material == m.material)
        .map(|(_, q)| *q)
        .sum();
    tagged(json!({
        "id": guid("item", m.material.as_str()),
        "number": m.material.as_str(),
        "displayName": m.description,
        "type": "Inventory",
        "blocked": false,
        "baseUnitOfMeasureCode": m.base_unit.as_str(),
        "inventory": number(inventory),
        "lastModifiedDateTime": "2026-11-02T06:00:00.000Z",
    }))
}

/// The manufacturing extension's item of `m`, with its units of measure when `expand`.
pub fn manufacturing_item(m: &Material, expand: bool) -> Value {
    let mut e = json!({
        "id": guid("item", m.material.as_str()),
        "number": m.material.as_str(),
        "displayName": m.description,
        "baseUnitOfMeasureCode": m.base_unit.as_str(),
        "lotTracked": m.batch_managed,
        "inspectionRequired": m.inspection_required,
        "lastModifiedDateTime": "2026-11-02T06:00:00.000Z",
    });
    if expand {
        let base = json!({ "code": m.base_unit.as_str(), "qtyPerUnitOfMeasure": 1 });
        let units: Vec<Value> = std::iter::once(base)
            .chain(m.alternative_units.iter().map(|u| {
                let per = u.numerator as f64 / u.denominator.max(1) as f64;
                json!({ "code": u.unit.as_str(), "qtyPerUnitOfMeasure": (per * 100_000.0).round() / 100_000.0 })
            }))
            .collect();
        e["unitsOfMeasure"] = Value::Array(units);
    }
    tagged(e)
}

/// The status of an order as Business Central shows it.
fn order_status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::TechnicallyCompleted | OrderStatus::Closed | OrderStatus::Delivered => {
            "Finished"
        }
        _ => "Released",
    }
}

/// The manufacturing extension's production order of `r`, with routing lines and
/// components as `expand` names them.
pub fn production_order(r: &OrderRecord, st: &ErpState, md_desc: &str, expand: &[String]) -> Value {
    let o = &r.order;
    let finished = r.confirmed_yield.values().max().copied().unwrap_or(0);
    let mut e = json!({
        "id": guid("productionOrder", o.order.as_str()),
        "number": o.order.as_str(),
        "status": order_status(o.status),
        "cancelled": o.status == OrderStatus::Cancelled,
        "itemNumber": o.material.as_str(),
        "description": md_desc,
        "quantity": number(o.planned_quantity.milli),
        "unitOfMeasureCode": o.planned_quantity.unit.as_str(),
        "locationCode": o.storage_location.as_str(),
        "startingDate": date(o.basic_start),
        "endingDate": date(o.basic_finish),
        "finishedQuantity": number(finished),
        "lastModifiedDateTime": date_time(
            o.basic_start.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default()),
    });
    let tag = etag(&e);
    if expand.iter().any(|x| x == "routingLines") {
        e["routingLines"] = o
            .operations
            .iter()
            .map(|op| {
                let id = op.operation.as_str();
                json!({
                    "operationNumber": id,
                    "workCenterNumber": op.work_center,
                    "description": op.description,
                    "finishedQuantity": number(r.confirmed_yield.get(id).copied().unwrap_or(0)),
                })
            })
            .collect();
    }
    if expand.iter().any(|x| x == "components") {
        e["components"] = o
            .components
            .iter()
            .map(|c| {
                let consumed = crate::erp::s4hana::entities::withdrawn(st, &o.order, &c.material);
                json!({
                    "lineNumber": c.reservation_item.parse::<u32>().map_or(json!(c.reservation_item), |n| json!(n)),
                    "itemNumber": c.material.as_str(),
                    "quantity": number(c.quantity.milli),
                    "unitOfMeasureCode": c.quantity.unit.as_str(),
                    "locationCode": c.storage_location.as_str(),
                    "consumedQuantity": number(consumed),
                })
            })
            .collect();
    }
    if let Value::Object(m) = &mut e {
        let mut o = Map::new();
        o.insert("@odata.etag".into(), Value::String(tag));
        o.extend(std::mem::take(m));
        return Value::Object(o);
    }
    e
}

/// The inventory status name of a stock type.
pub fn status_name(t: StockType) -> &'static str {
    match t {
        StockType::Unrestricted => "Unrestricted",
        StockType::QualityInspection => "QualityInspection",
        StockType::Blocked => "Blocked",
    }
}

/// The stock type of an inventory status name.
pub fn status_of(name: &str) -> Option<StockType> {
    match name {
        "Unrestricted" => Some(StockType::Unrestricted),
        "QualityInspection" => Some(StockType::QualityInspection),
        "Blocked" => Some(StockType::Blocked),
        _ => None,
    }
}

/// The lot inventories of `plant`: one row per location, item, lot and status.
pub fn lot_inventories(
    st: &ErpState,
    plant: &PlantId,
    md: &crate::masterdata::MasterData,
) -> Vec<Value> {
    st.stock
        .iter()
        .filter(|(k, q)| &k.plant == plant && **q != 0)
        .map(|(k, q)| {
            let unit = md
                .material_in(&k.material, plant)
                .map(|m| m.base_unit.as_str().to_string())
                .unwrap_or_default();
            json!({
                "itemNumber": k.material.as_str(),
                "locationCode": k.storage_location.as_str(),
                "lotNumber": k.batch.as_ref().map(|b| b.as_str()).unwrap_or(""),
                "inventoryStatus": status_name(k.stock_type),
                "quantity": number(*q),
                "unitOfMeasureCode": unit,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_guids_and_differ_by_kind() {
        let a = guid("item", "FG-100");
        assert_eq!(a, guid("item", "FG-100"));
        assert_ne!(a, guid("productionOrder", "FG-100"));
        assert_eq!(a.len(), 36);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn numbers_keep_thousandths() {
        assert_eq!(number(12_000), json!(12));
        assert_eq!(number(12_500), json!(12.5));
        assert_eq!(milli_of(&json!(12.5)), Some(12_500));
        assert_eq!(milli_of(&json!(3)), Some(3_000));
        assert_eq!(milli_of(&json!("3")), None);
    }

    #[test]
    fn the_etag_leads_and_follows_the_content() {
        let a = tagged(json!({"number": "1"}));
        let b = tagged(json!({"number": "2"}));
        assert_ne!(a["@odata.etag"], b["@odata.etag"]);
        assert_eq!(a.as_object().unwrap().keys().next().unwrap(), "@odata.etag");
    }
}
