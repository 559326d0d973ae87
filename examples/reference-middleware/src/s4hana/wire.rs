//! S/4HANA on the wire: OData V2 values (`"12.500"`, `/Date(ms)/`), the objects read back
//! (production orders, products, stock) mapped to andon's, and andon's ERP requests
//! (goods movements, confirmations, quality notifications) translated into the creates
//! S/4HANA takes.

use andon_contracts::api::{
    ConfirmationRequest, GoodsMovementRequest, MaterialMasterUpdate, QualityNotificationRequest,
    SourceRefs, WorkOrderCancellation, WorkOrderDownload,
};
use andon_contracts::objects::{
    OrderComponent, OrderOperation, StockRow, StockType, UnitConversion,
};
use andon_contracts::{
    BatchId, Material, MaterialId, OperationId, OrderId, PlantId, Quantity, StorageLocation, Unit,
};
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::Release;
use crate::command::seg;
use crate::fields::{parsed, text};

/// Production orders.
pub const ORDERS: &str = "API_PRODUCTION_ORDER_2_SRV";
/// Confirmations.
pub const CONFIRMATIONS: &str = "API_PROD_ORDER_CONFIRMATION_2_SRV";
/// Material documents (goods movements).
pub const DOCUMENTS: &str = "API_MATERIAL_DOCUMENT_SRV";
/// Stock.
pub const STOCK: &str = "API_MATERIAL_STOCK_SRV";
/// Product master.
pub const PRODUCTS: &str = "API_PRODUCT_SRV";
/// Quality notifications.
pub const NOTIFICATIONS: &str = "API_QUALITYNOTIFICATION_SRV";

/// The longest `NotificationText` (characters).
const NOTIFICATION_TEXT_MAX: usize = 40;

/// The path of `resource` of `service` below the ERP's root, for `plant`'s system.
pub fn path(plant: &PlantId, service: &str, resource: &str) -> String {
    format!(
        "/plant/{}/sap/opu/odata/sap/{service}/{resource}",
        seg(plant.as_str())
    )
}

/// An OData string key: `'value'` (quotes doubled, the rest escaped as a path segment).
pub fn key(value: &str) -> String {
    format!("'{}'", seg(&value.replace('\'', "''")))
}

/// An OData string literal in `$filter`.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `GET` of one production order with its operations and components.
pub fn order_read(plant: &PlantId, order: &OrderId) -> (String, Vec<(&'static str, String)>) {
    (
        path(
            plant,
            ORDERS,
            &format!("A_ProductionOrder_2({})", key(order.as_str())),
        ),
        vec![(
            "$expand",
            "to_ProductionOrderOperation,to_ProductionOrderComponent".into(),
        )],
    )
}

/// `GET` of one product with its descriptions, units of measure and plants.
pub fn product_read(
    plant: &PlantId,
    material: &MaterialId,
) -> (String, Vec<(&'static str, String)>) {
    (
        path(
            plant,
            PRODUCTS,
            &format!("A_Product({})", key(material.as_str())),
        ),
        vec![(
            "$expand",
            "to_Description,to_ProductUnitsOfMeasure,to_Plant".into(),
        )],
    )
}

/// `GET` of the stock of one batch.
pub fn stock_read(
    plant: &PlantId,
    material: &MaterialId,
    batch: &BatchId,
) -> (String, Vec<(&'static str, String)>) {
    (
        path(plant, STOCK, "A_MatlStkInAcctMod"),
        vec![(
            "$filter",
            format!(
                "Material eq {} and Plant eq {} and Batch eq {}",
                literal(material.as_str()),
                literal(plant.as_str()),
                literal(batch.as_str())
            ),
        )],
    )
}

/// The `$metadata` (EDMX) of the material document service, whose model tells the releases
/// apart.
pub fn metadata_path(plant: &PlantId) -> String {
    path(plant, DOCUMENTS, "$metadata")
}

/// The release whose model the EDMX `edmx` of `API_MATERIAL_DOCUMENT_SRV` is: 2502 when the
/// entity type `A_MaterialDocumentItemType` has the property `EntryUnitISOCode`, 2408 when it
/// has not; `None` when the document has no such entity type (not that service's model).
/// The confirmation service's model is the same in both releases (2502 requires
/// `PostingDate`, which the middleware always sends), so it tells nothing apart.
pub fn release_of_metadata(edmx: &str) -> Option<Release> {
    let start = edmx
        .find("<EntityType Name=\"A_MaterialDocumentItemType\"")
        .or_else(|| edmx.find("<EntityType Name='A_MaterialDocumentItemType'"))?;
    let rest = &edmx[start..];
    let item = &rest[..rest.find("</EntityType>").unwrap_or(rest.len())];
    let iso = ["\"EntryUnitISOCode\"", "'EntryUnitISOCode'"]
        .iter()
        .any(|name| item.contains(&format!("<Property Name={name}")));
    Some(if iso { Release::R2502 } else { Release::R2408 })
}

/// Whether an SAP error answer refuses a create because of its model: a 400 whose
/// `error.message.value` says `Property 'X' is invalid` or `Property 'X' is required` (SAP
/// Gateway's `/IWBEP/CM_MGW_RT/000`). After a vendor upgrade that is what the old release's
/// body gets.
pub fn refused_for_model(status: u16, answer: Option<&Value>) -> bool {
    let message = answer
        .and_then(|a| a.get("error")?.get("message")?.get("value")?.as_str())
        .unwrap_or("");
    status == 400
        && message.split("Property '").skip(1).any(|tail| {
            tail.split_once('\'').is_some_and(|(name, after)| {
                !name.is_empty()
                    && (after.starts_with(" is invalid") || after.starts_with(" is required"))
            })
        })
}

/// An Edm.Decimal of thousandths: `"12.500"`.
pub fn decimal(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let m = milli.unsigned_abs();
    format!("{sign}{}.{:03}", m / 1000, m % 1000)
}

/// Reads an Edm.Decimal (a string; a number from a lenient server) into thousandths.
pub fn parse_decimal(v: &Value) -> Option<i64> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (neg, digits) = match text.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    let frac = frac.trim_end_matches('0');
    if (int.is_empty() && frac.is_empty())
        || frac.len() > 3
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let m = whole
        .checked_mul(1000)?
        .checked_add(format!("{frac:0<3}").parse().ok()?)?;
    Some(if neg { -m } else { m })
}

/// An Edm.DateTime of a date: `/Date(ms)/` at midnight UTC.
pub fn date(d: NaiveDate) -> String {
    let ms = d
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis());
    format!("/Date({ms})/")
}

/// The ISO code (UN/ECE Recommendation 20) of an SAP unit, as release 2502 asks for it;
/// a unit without one is sent as it is (the ERP refuses what it does not know).
pub fn iso_unit(unit: &str) -> &str {
    match unit {
        "KG" => "KGM",
        "G" => "GRM",
        "PC" | "ST" => "PCE",
        "L" => "LTR",
        "M" => "MTR",
        "BOX" => "BX",
        other => other,
    }
}

/// The entity of an OData V2 answer: `d`.
pub fn entity(answer: Value) -> Result<Value, String> {
    match answer {
        Value::Object(mut o) => o.remove("d").ok_or_else(|| "no \"d\" in the answer".into()),
        _ => Err("the answer is not a JSON object".into()),
    }
}

fn milli(e: &Value, k: &str) -> Result<i64, String> {
    e.get(k)
        .and_then(parse_decimal)
        .ok_or_else(|| format!("{k} is not a decimal"))
}

fn quantity(e: &Value, amount: &str, unit: &str) -> Result<Quantity, String> {
    Ok(Quantity::from_milli(
        milli(e, amount)?,
        parsed(e, unit, Unit::parse)?,
    ))
}

/// The rows of an expanded navigation (`{"results": […]}`).
fn rows<'a>(e: &'a Value, nav: &str) -> &'a [Value] {
    e.get(nav)
        .and_then(|n| n.get("results"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A production order read back (with operations and components) as the work order MES
/// downloads.
pub fn work_order(e: &Value, refs: &SourceRefs) -> Result<WorkOrderDownload, String> {
    let operations = rows(e, "to_ProductionOrderOperation")
        .iter()
        .map(|op| {
            Ok(OrderOperation {
                operation: parsed(op, "ManufacturingOrderOperation", OperationId::parse)?,
                work_center: text(op, "WorkCenter")?.to_string(),
                description: text(op, "MfgOrderOperationText").unwrap_or("").to_string(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let components = rows(e, "to_ProductionOrderComponent")
        .iter()
        .map(|c| {
            Ok(OrderComponent {
                reservation_item: text(c, "ReservationItem")?.to_string(),
                material: parsed(c, "Material", MaterialId::parse)?,
                quantity: quantity(c, "RequiredQuantity", "BaseUnit")?,
                storage_location: parsed(c, "StorageLocation", StorageLocation::parse)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(WorkOrderDownload {
        order: parsed(e, "ManufacturingOrder", OrderId::parse)?,
        plant: parsed(e, "ProductionPlant", PlantId::parse)?,
        material: parsed(e, "Material", MaterialId::parse)?,
        planned_quantity: quantity(e, "TotalQuantity", "ProductionUnit")?,
        storage_location: parsed(e, "StorageLocation", StorageLocation::parse)?,
        operations,
        components,
        refs: refs.clone(),
    })
}

/// The cancellation of a production order read back: `None` when it is not (or no longer)
/// marked for deletion.
pub fn cancellation(e: &Value, refs: &SourceRefs) -> Option<WorkOrderCancellation> {
    (e.get("OrderIsMarkedForDeletion") == Some(&Value::Bool(true))).then(|| WorkOrderCancellation {
        reason: "Production order marked for deletion in S/4HANA".into(),
        refs: refs.clone(),
    })
}

/// A product read back (with descriptions, units of measure and plants) as andon's material
/// master; the quality inspection flag is the one of `plant`.
pub fn material(e: &Value, plant: &PlantId) -> Result<Material, String> {
    let alternative_units = rows(e, "to_ProductUnitsOfMeasure")
        .iter()
        .map(|u| {
            let whole = |k: &str| -> Result<u32, String> {
                let m = milli(u, k)?;
                u32::try_from(m / 1000)
                    .ok()
                    .filter(|n| m % 1000 == 0 && *n > 0)
                    .ok_or_else(|| format!("{k} is not a positive whole number"))
            };
            Ok(UnitConversion {
                unit: parsed(u, "AlternativeUnit", Unit::parse)?,
                numerator: whole("QuantityNumerator")?,
                denominator: whole("QuantityDenominator")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let plants = rows(e, "to_Plant");
    let here = plants
        .iter()
        .find(|p| p.get("Plant").and_then(Value::as_str) == Some(plant.as_str()))
        .or(plants.first());
    let flag = |k: &str, default: bool| {
        here.and_then(|p| p.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(default)
    };
    let description = rows(e, "to_Description")
        .iter()
        .find(|d| d.get("Language").and_then(Value::as_str) == Some("EN"))
        .or(rows(e, "to_Description").first())
        .and_then(|d| d.get("ProductDescription"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(Material {
        material: parsed(e, "Product", MaterialId::parse)?,
        description,
        base_unit: parsed(e, "BaseUnit", Unit::parse)?,
        alternative_units,
        batch_managed: flag("IsBatchManagementRequired", true),
        inspection_required: flag("HasPostToInspectionStock", false),
        plants: plants
            .iter()
            .map(|p| parsed(p, "Plant", PlantId::parse))
            .collect::<Result<_, _>>()?,
    })
}

/// The material master update MES, QMS and WMS take.
pub fn material_update(m: &Material, refs: &SourceRefs) -> MaterialMasterUpdate {
    MaterialMasterUpdate {
        material: m.clone(),
        refs: refs.clone(),
    }
}

/// Stock in the account model (`A_MatlStkInAcctMod` rows) as andon's stock rows; rows of
/// stock types andon does not know are left out.
pub fn stock_rows(collection: &Value) -> Result<Vec<StockRow>, String> {
    let list = collection
        .get("results")
        .and_then(Value::as_array)
        .ok_or("no results in the stock answer")?;
    let mut out = Vec::new();
    for r in list {
        let stock_type = match text(r, "InventoryStockType")? {
            "01" => StockType::Unrestricted,
            "02" => StockType::QualityInspection,
            "07" => StockType::Blocked,
            _ => continue,
        };
        let batch = text(r, "Batch").unwrap_or("");
        out.push(StockRow {
            plant: parsed(r, "Plant", PlantId::parse)?,
            storage_location: parsed(r, "StorageLocation", StorageLocation::parse)?,
            material: parsed(r, "Material", MaterialId::parse)?,
            batch: (!batch.is_empty())
                .then(|| BatchId::parse(batch.to_string()))
                .transpose()
                .map_err(|e| format!("Batch {batch:?}: {e}"))?,
            stock_type,
            quantity: quantity(r, "MatlWrhsStkQtyInMatlBaseUnit", "MaterialBaseUnit")?,
        });
    }
    Ok(out)
}

/// What an ERP command of andon's API becomes on an S/4HANA system: a `POST` of `body` to
/// `resource` of `service`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The service.
    pub service: &'static str,
    /// The entity set.
    pub resource: &'static str,
    /// The OData body.
    pub body: Value,
}

/// Translates the andon request `body` of the ERP command at `path` for an S/4HANA system of
/// `release`; `Err` when the body cannot be read (a bug, not a business outcome).
pub fn outbound(path: &str, body: &Value, release: Release) -> Result<Outbound, String> {
    match path {
        "/api/v1/material-documents" => {
            let r: GoodsMovementRequest =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            Ok(Outbound {
                service: DOCUMENTS,
                resource: "A_MaterialDocumentHeader",
                body: material_document(&r, release)?,
            })
        }
        "/api/v1/confirmations" => {
            let r: ConfirmationRequest =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            Ok(Outbound {
                service: CONFIRMATIONS,
                resource: "ProdnOrdConf2",
                body: confirmation(&r),
            })
        }
        "/api/v1/quality-notifications" => {
            let r: QualityNotificationRequest =
                serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
            Ok(Outbound {
                service: NOTIFICATIONS,
                resource: "A_QualityNotification",
                body: quality_notification(&r),
            })
        }
        other => Err(format!("no S/4HANA translation of {other}")),
    }
}

/// The GoodsMovementCode of a document whose first item has `movement_type`: `02` goods
/// receipt for a production order, `03` goods issue, `04` transfer posting.
pub fn goods_movement_code(movement_type: &str) -> Result<&'static str, String> {
    match movement_type {
        "101" | "102" | "531" | "532" => Ok("02"),
        "261" | "262" | "201" | "551" | "601" => Ok("03"),
        "301" | "311" | "321" | "343" | "344" | "350" => Ok("04"),
        other => Err(format!("no GoodsMovementCode for movement type {other}")),
    }
}

/// A goods movement as a material document deep insert (`A_MaterialDocumentHeader` with
/// `to_MaterialDocumentItem`).
pub fn material_document(r: &GoodsMovementRequest, release: Release) -> Result<Value, String> {
    let first = r.items.first().ok_or("a goods movement without items")?;
    let mut header = Map::new();
    header.insert(
        "GoodsMovementCode".into(),
        json!(goods_movement_code(first.movement_type.as_str())?),
    );
    header.insert("PostingDate".into(), json!(date(r.posting_date)));
    if let Some(t) = &r.header_text {
        header.insert("MaterialDocumentHeaderText".into(), json!(t));
    }
    let items: Vec<Value> = r
        .items
        .iter()
        .map(|i| {
            let mut item = Map::new();
            item.insert("Material".into(), json!(i.material.as_str()));
            item.insert("Plant".into(), json!(i.plant.as_str()));
            item.insert("StorageLocation".into(), json!(i.storage_location.as_str()));
            if let Some(b) = &i.batch {
                item.insert("Batch".into(), json!(b.as_str()));
            }
            item.insert("GoodsMovementType".into(), json!(i.movement_type.as_str()));
            item.insert(
                "QuantityInEntryUnit".into(),
                json!(decimal(i.quantity.milli)),
            );
            let unit = i.quantity.unit.as_str();
            match release {
                Release::R2408 => item.insert("EntryUnit".into(), json!(unit)),
                Release::R2502 => item.insert("EntryUnitISOCode".into(), json!(iso_unit(unit))),
            };
            if let Some(o) = &i.order {
                item.insert("ManufacturingOrder".into(), json!(o.as_str()));
            }
            if let Some(p) = &i.receiving_plant {
                item.insert("IssuingOrReceivingPlant".into(), json!(p.as_str()));
            }
            if let Some(s) = &i.receiving_storage_location {
                item.insert("IssuingOrReceivingStorageLoc".into(), json!(s.as_str()));
            }
            Value::Object(item)
        })
        .collect();
    header.insert(
        "to_MaterialDocumentItem".into(),
        json!({ "results": items }),
    );
    Ok(Value::Object(header))
}

/// A confirmation as `ProdnOrdConf2`; the posting date is always sent (2502 requires it,
/// and 2408 would otherwise take its own date).
pub fn confirmation(r: &ConfirmationRequest) -> Value {
    let mut c = json!({
        "OrderID": r.order.as_str(),
        "OrderOperation": r.operation.as_str(),
        "Plant": r.plant.as_str(),
        "ConfirmationUnit": r.yield_.unit.as_str(),
        "ConfirmationYieldQuantity": decimal(r.yield_.milli),
        "ConfirmationScrapQuantity": decimal(r.scrap.milli),
        "FinalConfirmationType": if r.final_ { "X" } else { "" },
        "PostingDate": date(r.posting_date),
    });
    if let Some(rw) = r.rework.as_ref().filter(|rw| rw.milli != 0) {
        c["ConfirmationReworkQuantity"] = json!(decimal(rw.milli));
    }
    c
}

/// A quality notification as `A_QualityNotification`: the nonconformance number of the system
/// that found the defect is the `ExternalReference`; the text is cut to the 40 characters
/// `NotificationText` holds (and left out when empty); `Batch` only when there is one.
pub fn quality_notification(r: &QualityNotificationRequest) -> Value {
    let mut n = json!({
        "NotificationType": r.type_,
        "Material": r.material.as_str(),
        "Plant": r.plant.as_str(),
        "DefectCode": r.defect_code,
        "ExternalReference": r.nonconformance,
    });
    let text: String = r.text.chars().take(NOTIFICATION_TEXT_MAX).collect();
    if !text.is_empty() {
        n["NotificationText"] = json!(text);
    }
    if let Some(b) = &r.batch {
        n["Batch"] = json!(b.as_str());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> SourceRefs {
        SourceRefs::default()
    }

    #[test]
    fn the_release_is_read_from_the_material_document_model() {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contracts/dialects/s4hana"
        );
        for (dir, release) in [("2408", Release::R2408), ("2502", Release::R2502)] {
            let edmx = std::fs::read_to_string(format!(
                "{root}/{dir}/metadata/API_MATERIAL_DOCUMENT_SRV.xml"
            ))
            .unwrap();
            assert_eq!(release_of_metadata(&edmx), Some(release), "{dir}");
            let other = std::fs::read_to_string(format!(
                "{root}/{dir}/metadata/API_PROD_ORDER_CONFIRMATION_2_SRV.xml"
            ))
            .unwrap();
            assert_eq!(release_of_metadata(&other), None, "{dir}: another service");
        }
        let refusal = |code: &str, text: &str| json!({"error": {"code": code, "message": {"lang": "en", "value": text}}});
        let r = refusal(
            "/IWBEP/CM_MGW_RT/000",
            "Property 'EntryUnitISOCode' is required",
        );
        assert!(refused_for_model(400, Some(&r)));
        let r = refusal("/IWBEP/CM_MGW_RT/000", "Property 'EntryUnit' is invalid");
        assert!(refused_for_model(400, Some(&r)));
        assert!(!refused_for_model(422, Some(&r)));
        let r = refusal("M7/021", "Deficit of unrestricted stock");
        assert!(!refused_for_model(400, Some(&r)));
        assert!(!refused_for_model(400, None));
    }

    #[test]
    fn decimals_and_dates_are_written_as_odata_v2() {
        assert_eq!(decimal(12_500), "12.500");
        assert_eq!(decimal(-5), "-0.005");
        assert_eq!(parse_decimal(&json!("12.500")), Some(12_500));
        assert_eq!(parse_decimal(&json!("0.5")), Some(500));
        assert_eq!(parse_decimal(&json!("1.0001")), None);
        assert_eq!(
            date(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()),
            "/Date(1795305600000)/"
        );
    }

    #[test]
    fn a_consumption_is_a_goods_issue_with_the_unit_of_the_release() {
        let r: GoodsMovementRequest = serde_json::from_value(json!({
            "posting_date": "2026-11-22",
            "items": [{"movement_type": "261", "material": "RM-1", "plant": "1000", "storage_location": "0001",
                       "batch": "R1", "quantity": {"value": 12.5, "unit": "KG"}, "order": "1000001"}],
            "source": {"source": "/andon/mes/1000", "id": "e-1"}
        }))
        .unwrap();
        let old = material_document(&r, Release::R2408).unwrap();
        assert_eq!(old["GoodsMovementCode"], "03");
        assert_eq!(old["PostingDate"], "/Date(1795305600000)/");
        let item = &old["to_MaterialDocumentItem"]["results"][0];
        assert_eq!(item["QuantityInEntryUnit"], "12.500");
        assert_eq!(item["EntryUnit"], "KG");
        assert_eq!(item["ManufacturingOrder"], "1000001");
        assert!(item.get("EntryUnitISOCode").is_none());
        let new = material_document(&r, Release::R2502).unwrap();
        let item = &new["to_MaterialDocumentItem"]["results"][0];
        assert_eq!(item["EntryUnitISOCode"], "KGM");
        assert!(item.get("EntryUnit").is_none());
        assert_eq!(goods_movement_code("531").unwrap(), "02");
        assert_eq!(goods_movement_code("344").unwrap(), "04");
    }

    #[test]
    fn a_nonconformance_is_a_quality_notification_keyed_by_its_number() {
        let body = json!({
            "nonconformance": "NC-1000-0042", "type": "Q3", "plant": "1000", "material": "RM-1",
            "batch": "R1", "defect_code": "CRACK-01",
            "text": "Cracks on the housing of every part of the lot, found at incoming inspection",
            "source": {"source": "/andon/qms/1000", "id": "e-7"}
        });
        for release in [Release::R2408, Release::R2502] {
            let out = outbound("/api/v1/quality-notifications", &body, release).unwrap();
            assert_eq!(
                (out.service, out.resource),
                ("API_QUALITYNOTIFICATION_SRV", "A_QualityNotification")
            );
            assert_eq!(
                out.body,
                json!({
                    "NotificationType": "Q3",
                    "NotificationText": "Cracks on the housing of every part of t",
                    "Material": "RM-1",
                    "Plant": "1000",
                    "Batch": "R1",
                    "DefectCode": "CRACK-01",
                    "ExternalReference": "NC-1000-0042"
                })
            );
        }
        // Without a batch: no Batch; the text is cut by characters, not bytes.
        let r: QualityNotificationRequest = serde_json::from_value(json!({
            "nonconformance": "NC-2", "type": "Q3", "plant": "1000", "material": "RM-1",
            "defect_code": "D1", "text": "Ä".repeat(45),
            "source": {"source": "/andon/mes/1000", "id": "e-8"}
        }))
        .unwrap();
        let n = quality_notification(&r);
        assert!(n.get("Batch").is_none());
        assert_eq!(n["NotificationText"], "Ä".repeat(40));
        assert_eq!(n["ExternalReference"], "NC-2");
        // A body that is not a quality notification request is a bug, not a posting.
        assert!(outbound("/api/v1/quality-notifications", &json!({}), Release::R2502).is_err());
    }

    #[test]
    fn an_order_and_a_product_read_back_map_to_andons_objects() {
        let order = json!({
            "ManufacturingOrder": "1000001", "ProductionPlant": "1000", "Material": "FG-1",
            "TotalQuantity": "12.000", "ProductionUnit": "PC", "StorageLocation": "0001",
            "OrderIsMarkedForDeletion": false,
            "to_ProductionOrderOperation": {"results": [
                {"ManufacturingOrderOperation": "0010", "WorkCenter": "LINE-1", "MfgOrderOperationText": "Assemble"}]},
            "to_ProductionOrderComponent": {"results": [
                {"ReservationItem": "0001", "Material": "RM-1", "RequiredQuantity": "2.500", "BaseUnit": "KG",
                 "StorageLocation": "0001"}]}
        });
        let wo = work_order(&order, &refs()).unwrap();
        assert_eq!(wo.planned_quantity.milli, 12_000);
        assert_eq!(wo.operations[0].operation.as_str(), "0010");
        assert_eq!(wo.components[0].quantity.milli, 2_500);
        assert!(cancellation(&order, &refs()).is_none());
        let product = json!({
            "Product": "RM-1", "BaseUnit": "KG",
            "to_Description": {"results": [{"Language": "EN", "ProductDescription": "Resin"}]},
            "to_ProductUnitsOfMeasure": {"results": [
                {"AlternativeUnit": "G", "QuantityNumerator": "1", "QuantityDenominator": "1000"}]},
            "to_Plant": {"results": [{"Plant": "1000", "IsBatchManagementRequired": true, "HasPostToInspectionStock": true}]}
        });
        let m = material(&product, &PlantId::parse("1000").unwrap()).unwrap();
        assert_eq!(m.description, "Resin");
        assert_eq!(
            (
                m.alternative_units[0].numerator,
                m.alternative_units[0].denominator
            ),
            (1, 1000)
        );
        assert!(m.inspection_required && m.batch_managed);
        let rows = stock_rows(&json!({"results": [
            {"Material": "RM-1", "Plant": "1000", "StorageLocation": "0001", "Batch": "R1",
             "InventoryStockType": "07", "MaterialBaseUnit": "KG", "MatlWrhsStkQtyInMatlBaseUnit": "3.000"}]}))
        .unwrap();
        assert_eq!(
            (rows[0].stock_type, rows[0].quantity.milli),
            (StockType::Blocked, 3_000)
        );
    }
}
