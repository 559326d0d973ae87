//! Booking on the ERP's core for every dialect: a confirmation, a goods movement, a
//! reversal, each with the business effects it records in the history.

use andon_contracts::api::{
    Confirmation, ConfirmationRequest, GoodsMovementRequest, MaterialDocument, QualityNotification,
    QualityNotificationRequest, ReversalRequest, SourceRefs,
};

use andon_contracts::api::{DocumentItemRef, MaterialDocumentItem};
use andon_contracts::{
    BatchId, Json, MaterialId, MovementTypeCode, OrderId, PlantId, Quantity, StockType,
    StorageLocation,
};
use serde::Serialize;

use super::Erp;
use crate::core::Ctx;
use crate::problem::ApiError;

/// Books a confirmation and records its effect (for andon's API and every dialect).
pub(super) fn book_confirmation(
    erp: &Erp,
    ctx: &Ctx,
    req: &ConfirmationRequest,
) -> Result<Confirmation, ApiError> {
    let conf = {
        let md = erp.core.master();
        erp.lock().confirm(&md, erp.rules(), req)?
    };
    record_confirmation(erp, ctx, req, &conf);
    Ok(conf)
}

/// Records the effect of a booked confirmation.
pub(super) fn record_confirmation(
    erp: &Erp,
    ctx: &Ctx,
    req: &ConfirmationRequest,
    conf: &Confirmation,
) {
    erp.core.effect(
        ctx,
        "erp.confirmation",
        format!("{}/{}", req.order, req.operation),
        req.refs.all(),
        serde_json::to_value(conf).unwrap_or_default(),
    );
}

/// Posts a goods movement and records its effects (for andon's API and every dialect).
pub(super) fn post_goods(
    erp: &Erp,
    ctx: &Ctx,
    req: &GoodsMovementRequest,
) -> Result<MaterialDocument, ApiError> {
    let doc = {
        let md = erp.core.master();
        erp.lock().post_goods_movement(&md, req)?
    };
    record_document(erp, ctx, &doc, &req.refs);
    Ok(doc)
}

pub(super) fn record_document(erp: &Erp, ctx: &Ctx, doc: &MaterialDocument, refs: &SourceRefs) {
    for it in &doc.items {
        let p = &it.posted;
        erp.core.effect_json(
            ctx,
            "erp.goods_movement",
            format!(
                "{}:{}:{}:{}",
                p.movement_type,
                p.plant,
                p.material,
                p.batch.as_ref().map(|b| b.as_str()).unwrap_or("-")
            ),
            refs.all(),
            Json::new(&GoodsMovementDetail::of(doc, it)),
        );
    }
}

/// The detail of an `erp.goods_movement` effect: one item of a material document,
/// serialized straight into the history's JSON text.
#[derive(Serialize)]
struct GoodsMovementDetail<'a> {
    batch: &'a Option<BatchId>,
    item: u32,
    material: &'a MaterialId,
    material_document: &'a str,
    movement_type: &'a MovementTypeCode,
    order: &'a Option<OrderId>,
    plant: &'a PlantId,
    quantity: &'a Quantity,
    quantity_base: &'a Quantity,
    receiving_plant: &'a Option<PlantId>,
    reversal_of: &'a Option<DocumentItemRef>,
    stock_type: &'a StockType,
    storage_location: &'a StorageLocation,
    year: i32,
}

impl<'a> GoodsMovementDetail<'a> {
    fn of(doc: &'a MaterialDocument, it: &'a MaterialDocumentItem) -> Self {
        let p = &it.posted;
        Self {
            batch: &p.batch,
            item: it.item,
            material: &p.material,
            material_document: &doc.material_document,
            movement_type: &p.movement_type,
            order: &p.order,
            plant: &p.plant,
            quantity: &p.quantity,
            quantity_base: &it.quantity_base,
            receiving_plant: &p.receiving_plant,
            reversal_of: &p.reversal_of,
            stock_type: &it.stock_type,
            storage_location: &p.storage_location,
            year: doc.year,
        }
    }
}

/// Reverses material document `(year, number)` and records the effects (for andon's API and
/// every dialect): every item's plant must be in the caller's scope.
pub(super) fn reverse_doc(
    erp: &Erp,
    ctx: &Ctx,
    (year, number): (i32, &str),
    req: &ReversalRequest,
) -> Result<MaterialDocument, ApiError> {
    let doc = {
        let md = erp.core.master();
        let mut st = erp.lock();
        if let Some(d) = st.documents.get(&(year, number.to_string())) {
            for it in &d.items {
                ctx.scope.check(&it.posted.plant)?;
            }
        }
        st.reverse_document(&md, year, number, req.posting_date, req.refs.clone())?
    };
    record_document(erp, ctx, &doc, &req.refs);
    Ok(doc)
}

/// Creates a quality notification and records its effect (for andon's API and every
/// dialect).
pub(super) fn notify(
    erp: &Erp,
    ctx: &Ctx,
    req: &QualityNotificationRequest,
) -> Result<QualityNotification, ApiError> {
    let n = {
        let md = erp.core.master();
        erp.lock().notify(&md, req)?
    };
    record_notification(erp, ctx, req, &n);
    Ok(n)
}

/// Records the effect of a created quality notification.
pub(super) fn record_notification(
    erp: &Erp,
    ctx: &Ctx,
    req: &QualityNotificationRequest,
    n: &QualityNotification,
) {
    erp.core.effect(
        ctx,
        "erp.quality_notification",
        req.nonconformance.clone(),
        req.refs.all(),
        serde_json::to_value(n).unwrap_or_default(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detail as it was first written: a `serde_json::Value` object.
    fn as_a_value(doc: &MaterialDocument, it: &MaterialDocumentItem) -> serde_json::Value {
        let p = &it.posted;
        serde_json::json!({
            "material_document": doc.material_document,
            "year": doc.year,
            "item": it.item,
            "movement_type": p.movement_type,
            "plant": p.plant,
            "storage_location": p.storage_location,
            "material": p.material,
            "batch": p.batch,
            "order": p.order,
            "quantity": p.quantity,
            "quantity_base": it.quantity_base,
            "stock_type": it.stock_type,
            "receiving_plant": p.receiving_plant,
            "reversal_of": p.reversal_of,
        })
    }

    /// A document of one item that posted `posted` (the item's fields beside its own).
    fn document(mut posted: serde_json::Value) -> MaterialDocument {
        posted["item"] = 1.into();
        posted["stock_type"] = "unrestricted".into();
        posted["reversed"] = false.into();
        posted["quantity_base"] = serde_json::json!({ "value": 1000, "unit": "G" });
        serde_json::from_value(serde_json::json!({
            "material_document": "4900000001", "year": 2026, "posting_date": "2026-11-02",
            "items": [posted]
        }))
        .expect("a material document")
    }

    #[test]
    fn a_goods_movement_detail_reads_as_the_value_object_it_replaced() {
        let full = document(serde_json::json!({
            "movement_type": "311", "material": "RM-1", "plant": "1000",
            "storage_location": "0001", "batch": "B1", "quantity": { "value": 1, "unit": "KG" },
            "order": "100000001", "receiving_plant": "2000",
            "reversal_of": { "material_document": "4900000000", "year": 2026, "item": 2 }
        }));
        let bare = document(serde_json::json!({
            "movement_type": "261", "material": "RM-1", "plant": "1000",
            "storage_location": "0001", "quantity": { "value": 1, "unit": "KG" }
        }));
        for doc in [full, bare] {
            let it = &doc.items[0];
            assert_eq!(
                Json::new(&GoodsMovementDetail::of(&doc, it)).to_value(),
                as_a_value(&doc, it)
            );
        }
    }
}
