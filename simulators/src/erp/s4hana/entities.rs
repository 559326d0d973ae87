//! The ERP's business objects as S/4HANA's entity types: production orders with their
//! operations and components, confirmations, material documents and their items, stock
//! in the account model and the product master. Values are formatted as OData V2 JSON
//! (see [`super::odata`]); every entity carries `__metadata`.

use andon_contracts::api::{Confirmation, MaterialDocument, MaterialDocumentItem};
use andon_contracts::objects::{Material, OrderStatus, StockType};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::odata::{date, decimal};
use crate::erp::state::{ErpState, OrderRecord};

/// Where entities live: the plant's base URL, for `__metadata.uri`.
#[derive(Debug, Clone)]
pub struct Place {
    /// `http://host:port/plant/1000`.
    pub base: String,
}

impl Place {
    /// `__metadata` of an entity of `service`, type `ty`, at `path` (set and key).
    pub fn meta(&self, service: &str, ty: &str, path: &str) -> Value {
        let uri = format!("{}/sap/opu/odata/sap/{service}/{path}", self.base);
        json!({ "id": uri, "uri": uri, "type": format!("{service}.{ty}") })
    }
}

/// The InventoryStockType code of a stock type.
pub fn stock_type_code(t: StockType) -> &'static str {
    match t {
        StockType::Unrestricted => "01",
        StockType::QualityInspection => "02",
        StockType::Blocked => "07",
    }
}

/// A weak ETag over `value`'s content.
pub fn etag(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"'{hex}'\"")
}

/// Puts `etag` into the entity's `__metadata`.
pub fn with_etag(mut entity: Value, etag: &str) -> Value {
    if let Some(m) = entity.get_mut("__metadata").and_then(Value::as_object_mut) {
        m.insert("etag".into(), Value::String(etag.to_string()));
    }
    entity
}

const ORDERS: &str = "API_PRODUCTION_ORDER_2_SRV";

/// `A_ProductionOrder_2` of `r` (with its ETag).
pub fn order(place: &Place, r: &OrderRecord) -> Value {
    let o = &r.order;
    let confirmed = r.confirmed_yield.values().max().copied().unwrap_or(0);
    let s = o.status;
    let mut e = json!({
        "__metadata": place.meta(ORDERS, "A_ProductionOrder_2Type",
            &format!("A_ProductionOrder_2('{}')", o.order)),
        "ManufacturingOrder": o.order.as_str(),
        "ManufacturingOrderCategory": "10",
        "ManufacturingOrderType": o.order_type,
        "ProductionPlant": o.plant.as_str(),
        "Material": o.material.as_str(),
        "ProductionUnit": o.planned_quantity.unit.as_str(),
        "TotalQuantity": decimal(o.planned_quantity.milli),
        "MfgOrderPlannedScrapQty": decimal(0),
        "MfgOrderConfirmedYieldQty": decimal(confirmed),
        "MfgOrderPlannedStartDate": date(o.basic_start),
        "MfgOrderPlannedEndDate": date(o.basic_finish),
        "StorageLocation": o.storage_location.as_str(),
        "OrderIsCreated": true,
        "OrderIsReleased": s != OrderStatus::Created && s != OrderStatus::Cancelled,
        "OrderIsConfirmed": matches!(s, OrderStatus::Confirmed | OrderStatus::Delivered),
        "OrderIsPartiallyConfirmed": s == OrderStatus::PartiallyConfirmed,
        "OrderIsTechnicallyCompleted": matches!(s, OrderStatus::TechnicallyCompleted | OrderStatus::Closed),
        "OrderIsMarkedForDeletion": s == OrderStatus::Cancelled,
        "LastChangeDateTime": super::odata::date_time_offset(
            o.basic_start.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default()),
    });
    let tag = etag(&e);
    e = with_etag(e, &tag);
    e
}

/// `A_ProductionOrderOperation_2` rows of `r`.
pub fn operations(place: &Place, r: &OrderRecord) -> Vec<Value> {
    let o = &r.order;
    o.operations
        .iter()
        .map(|op| {
            let id = op.operation.as_str();
            json!({
                "__metadata": place.meta(ORDERS, "A_ProductionOrderOperation_2Type",
                    &format!("A_ProductionOrderOperation_2(ManufacturingOrder='{}',ManufacturingOrderOperation='{id}')", o.order)),
                "ManufacturingOrder": o.order.as_str(),
                "ManufacturingOrderOperation": id,
                "ManufacturingOrderSequence": "0",
                "MfgOrderOperationText": op.description,
                "WorkCenter": op.work_center,
                "ProductionPlant": o.plant.as_str(),
                "OpPlannedTotalQuantity": decimal(o.planned_quantity.milli),
                "OperationUnit": o.planned_quantity.unit.as_str(),
                "OpTotalConfirmedYieldQty": decimal(r.confirmed_yield.get(id).copied().unwrap_or(0)),
            })
        })
        .collect()
}

/// The reservation number of an order's components.
pub fn reservation_of(order: &str) -> String {
    format!("{:0>10}", order.trim_start_matches('0'))
}

/// What order `order` has withdrawn of `material` (261 less 262), in the base unit.
pub fn withdrawn(
    st: &ErpState,
    order: &andon_contracts::OrderId,
    material: &andon_contracts::MaterialId,
) -> i64 {
    st.documents
        .values()
        .flat_map(|d| &d.items)
        .filter(|it| it.posted.order.as_ref() == Some(order) && &it.posted.material == material)
        .map(|it| match it.posted.movement_type.as_str() {
            "261" => it.quantity_base.milli,
            "262" => -it.quantity_base.milli,
            _ => 0,
        })
        .sum()
}

/// `A_ProductionOrderComponent_4` rows of `r`; withdrawn quantities from `st`'s documents.
pub fn components(place: &Place, r: &OrderRecord, st: &ErpState) -> Vec<Value> {
    let o = &r.order;
    let reservation = reservation_of(o.order.as_str());
    o.components
        .iter()
        .map(|c| {
            let withdrawn = withdrawn(st, &o.order, &c.material);
            json!({
                "__metadata": place.meta(ORDERS, "A_ProductionOrderComponent_4Type",
                    &format!("A_ProductionOrderComponent_4(Reservation='{reservation}',ReservationItem='{}')", c.reservation_item)),
                "Reservation": reservation,
                "ReservationItem": c.reservation_item,
                "ManufacturingOrder": o.order.as_str(),
                "Material": c.material.as_str(),
                "Plant": o.plant.as_str(),
                "StorageLocation": c.storage_location.as_str(),
                "RequiredQuantity": decimal(c.quantity.milli),
                "BaseUnit": c.quantity.unit.as_str(),
                "WithdrawnQuantity": decimal(withdrawn),
            })
        })
        .collect()
}

const CONFIRMATIONS: &str = "API_PROD_ORDER_CONFIRMATION_2_SRV";

/// `ProdnOrdConf2` of a confirmation (`reversal`: the cancellation of an earlier one).
pub fn confirmation(place: &Place, c: &Confirmation, text: &str, reversed: bool) -> Value {
    let count = format!("{:08}", c.confirmation_counter);
    json!({
        "__metadata": place.meta(CONFIRMATIONS, "ProdnOrdConf2Type",
            &format!("ProdnOrdConf2(ConfirmationGroup='{}',ConfirmationCount='{count}')", c.confirmation_group)),
        "ConfirmationGroup": c.confirmation_group,
        "ConfirmationCount": count,
        "OrderID": c.order.as_str(),
        "OrderOperation": c.operation.as_str(),
        "Sequence": "0",
        "WorkCenter": "",
        "Plant": c.plant.as_str(),
        "FinalConfirmationType": if c.final_ { "X" } else { "" },
        "IsFinalConfirmation": c.final_,
        "ConfirmationUnit": c.yield_.unit.as_str(),
        "ConfirmationYieldQuantity": decimal(c.yield_.milli.abs()),
        "ConfirmationScrapQuantity": decimal(c.scrap.milli.abs()),
        "ConfirmationReworkQuantity": decimal(0),
        "PostingDate": date(c.posting_date),
        "ConfirmationText": text,
        "IsReversed": reversed,
        "IsReversal": c.yield_.milli < 0 || c.scrap.milli < 0,
    })
}

const DOCUMENTS: &str = "API_MATERIAL_DOCUMENT_SRV";

/// `A_MaterialDocumentHeader` of `d`, with its items when `expand`.
pub fn document(place: &Place, d: &MaterialDocument, expand: bool, iso: bool) -> Value {
    let code = goods_movement_code(d);
    let mut e = json!({
        "__metadata": place.meta(DOCUMENTS, "A_MaterialDocumentHeaderType",
            &format!("A_MaterialDocumentHeader(MaterialDocumentYear='{}',MaterialDocument='{}')", d.year, d.material_document)),
        "MaterialDocumentYear": d.year.to_string(),
        "MaterialDocument": d.material_document,
        "InventoryTransactionType": if code == "02" { "WF" } else { "WA" },
        "DocumentDate": date(d.posting_date),
        "PostingDate": date(d.posting_date),
        "CreationDate": date(d.posting_date),
        "GoodsMovementCode": code,
        "MaterialDocumentHeaderText": "",
        "ReferenceDocument": "",
    });
    if expand {
        e["to_MaterialDocumentItem"] = json!({ "results": d.items.iter().map(|it| item(place, d, it, iso)).collect::<Vec<_>>() });
    }
    e
}

/// The GoodsMovementCode a document would have been posted with.
fn goods_movement_code(d: &MaterialDocument) -> &'static str {
    match d.items.first().map(|i| i.posted.movement_type.as_str()) {
        _ if d.items.iter().any(|i| i.posted.reversal_of.is_some()) => "06",
        Some("101" | "102" | "531" | "532") => "02",
        Some("261" | "262" | "201" | "551" | "601") => "03",
        Some("311" | "301" | "321" | "343" | "344" | "350") => "04",
        _ => "05",
    }
}

/// `A_MaterialDocumentItem` of item `it` of `d`.
pub fn item(place: &Place, d: &MaterialDocument, it: &MaterialDocumentItem, iso: bool) -> Value {
    let p = &it.posted;
    let rev = p.reversal_of.as_ref();
    let mut e = json!({
        "__metadata": place.meta(DOCUMENTS, "A_MaterialDocumentItemType",
            &format!("A_MaterialDocumentItem(MaterialDocumentYear='{}',MaterialDocument='{}',MaterialDocumentItem='{}')", d.year, d.material_document, it.item)),
        "MaterialDocumentYear": d.year.to_string(),
        "MaterialDocument": d.material_document,
        "MaterialDocumentItem": it.item.to_string(),
        "Material": p.material.as_str(),
        "Plant": p.plant.as_str(),
        "StorageLocation": p.storage_location.as_str(),
        "Batch": p.batch.as_ref().map(|b| b.as_str()).unwrap_or(""),
        "GoodsMovementType": p.movement_type.as_str(),
        "InventoryStockType": stock_type_code(it.stock_type),
        "ManufacturingOrder": p.order.as_ref().map(|o| o.as_str()).unwrap_or(""),
        "IssuingOrReceivingPlant": p.receiving_plant.as_ref().map(|x| x.as_str()).unwrap_or(""),
        "IssuingOrReceivingStorageLoc": p.receiving_storage_location.as_ref().map(|x| x.as_str()).unwrap_or(""),
        "EntryUnit": p.quantity.unit.as_str(),
        "QuantityInEntryUnit": decimal(p.quantity.milli),
        "QuantityInBaseUnit": decimal(it.quantity_base.milli),
        "MaterialBaseUnit": it.quantity_base.unit.as_str(),
        "ReversedMaterialDocumentYear": rev.map(|r| r.year.to_string()).unwrap_or_default(),
        "ReversedMaterialDocument": rev.map(|r| r.material_document.clone()).unwrap_or_default(),
        "ReversedMaterialDocumentItem": rev.map(|r| r.item.to_string()).unwrap_or_default(),
        "GoodsMovementIsCancelled": it.reversed,
        "MaterialDocumentItemText": "",
    });
    if iso {
        e["EntryUnitISOCode"] = Value::String(super::units::iso_of(p.quantity.unit.as_str()));
    }
    e
}

const STOCK: &str = "API_MATERIAL_STOCK_SRV";

/// `A_MatlStkInAcctMod` rows of every stock balance of `plant`.
pub fn stock(
    place: &Place,
    st: &ErpState,
    plant: &andon_contracts::PlantId,
    md: &crate::masterdata::MasterData,
) -> Vec<Value> {
    st.stock_rows(md, Some(plant), None, None, None)
        .into_iter()
        .map(|r| {
            let batch = r.batch.as_ref().map(|b| b.as_str()).unwrap_or("");
            let ty = stock_type_code(r.stock_type);
            json!({
                "__metadata": place.meta(STOCK, "A_MatlStkInAcctModType",
                    &format!("A_MatlStkInAcctMod(Material='{}',Plant='{}',StorageLocation='{}',Batch='{batch}',Supplier='',Customer='',WBSElementInternalID='00000000',SDDocument='',SDDocumentItem='000000',InventorySpecialStockType='',InventoryStockType='{ty}')",
                        r.material, r.plant, r.storage_location)),
                "Material": r.material.as_str(),
                "Plant": r.plant.as_str(),
                "StorageLocation": r.storage_location.as_str(),
                "Batch": batch,
                "Supplier": "",
                "Customer": "",
                "WBSElementInternalID": "00000000",
                "SDDocument": "",
                "SDDocumentItem": "000000",
                "InventorySpecialStockType": "",
                "InventoryStockType": ty,
                "MaterialBaseUnit": r.quantity.unit.as_str(),
                "MatlWrhsStkQtyInMatlBaseUnit": decimal(r.quantity.milli),
            })
        })
        .collect()
}

const PRODUCTS: &str = "API_PRODUCT_SRV";

/// `A_Product` of `m` (`finished`: made in the plant from a bill of materials), with the
/// navigations named in `expand`.
pub fn product(place: &Place, m: &Material, finished: bool, expand: &[String]) -> Value {
    let id = m.material.as_str();
    let mut e = json!({
        "__metadata": place.meta(PRODUCTS, "A_ProductType", &format!("A_Product('{id}')")),
        "Product": id,
        "ProductType": if finished { "FERT" } else { "ROH" },
        "BaseUnit": m.base_unit.as_str(),
        "IsMarkedForDeletion": false,
    });
    for nav in expand {
        if let Some(rows) = product_nav(place, m, nav) {
            e[nav.as_str()] = json!({ "results": rows });
        }
    }
    e
}

/// The rows of navigation `nav` of product `m`, if it is one.
pub fn product_nav(place: &Place, m: &Material, nav: &str) -> Option<Vec<Value>> {
    let id = m.material.as_str();
    let rows = match nav {
        "to_Description" => vec![json!({
            "__metadata": place.meta(PRODUCTS, "A_ProductDescriptionType",
                &format!("A_ProductDescription(Product='{id}',Language='EN')")),
            "Product": id, "Language": "EN", "ProductDescription": m.description,
        })],
        "to_ProductUnitsOfMeasure" => m
            .alternative_units
            .iter()
            .map(|u| json!({
                "__metadata": place.meta(PRODUCTS, "A_ProductUnitsOfMeasureType",
                    &format!("A_ProductUnitsOfMeasure(Product='{id}',AlternativeUnit='{}')", u.unit)),
                "Product": id,
                "AlternativeUnit": u.unit.as_str(),
                "QuantityNumerator": u.numerator.to_string(),
                "QuantityDenominator": u.denominator.to_string(),
            }))
            .collect(),
        "to_Plant" => m
            .plants
            .iter()
            .map(|p| json!({
                "__metadata": place.meta(PRODUCTS, "A_ProductPlantType",
                    &format!("A_ProductPlant(Product='{id}',Plant='{p}')")),
                "Product": id,
                "Plant": p.as_str(),
                "IsBatchManagementRequired": m.batch_managed,
                "HasPostToInspectionStock": m.inspection_required,
            }))
            .collect(),
        _ => return None,
    };
    Some(rows)
}

const NOTIFICATIONS: &str = "API_QUALITYNOTIFICATION_SRV";

/// `A_QualityNotification` of a notification created from `req` on `created`.
pub fn notification(
    place: &Place,
    n: &andon_contracts::api::QualityNotification,
    req: &andon_contracts::api::QualityNotificationRequest,
    created: chrono::NaiveDate,
) -> Value {
    json!({
        "__metadata": place.meta(NOTIFICATIONS, "A_QualityNotificationType",
            &format!("A_QualityNotification('{}')", n.notification)),
        "QualityNotification": n.notification,
        "NotificationType": req.type_,
        "NotificationText": req.text.chars().take(40).collect::<String>(),
        "Material": req.material.as_str(),
        "Plant": n.plant.as_str(),
        "Batch": req.batch.as_ref().map(|b| b.as_str()).unwrap_or(""),
        "DefectCode": req.defect_code,
        "ExternalReference": n.nonconformance,
        "CreationDate": date(created),
    })
}

/// `A_QualityNotification` of a notification created through andon's API: what the core
/// keeps of it (its number, nonconformance and plant).
pub fn notification_kept(place: &Place, n: &andon_contracts::api::QualityNotification) -> Value {
    json!({
        "__metadata": place.meta(NOTIFICATIONS, "A_QualityNotificationType",
            &format!("A_QualityNotification('{}')", n.notification)),
        "QualityNotification": n.notification,
        "NotificationType": "",
        "NotificationText": "",
        "Material": "",
        "Plant": n.plant.as_str(),
        "Batch": "",
        "DefectCode": "",
        "ExternalReference": n.nonconformance,
        "CreationDate": null,
    })
}
