//! Booking on the ERP's core for every dialect: a confirmation, a goods movement, a
//! reversal, each with the business effects it records in the history.

use andon_contracts::api::{
    Confirmation, ConfirmationRequest, GoodsMovementRequest, MaterialDocument, QualityNotification,
    QualityNotificationRequest, ReversalRequest, SourceRefs,
};

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
        erp.core.effect(
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
            }),
        );
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
