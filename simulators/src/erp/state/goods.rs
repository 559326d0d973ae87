//! Goods movements: every item of a material document planned against a scratch copy of
//! the balances it touches (movement type, material, storage location, batch, order,
//! reversal and stock checked first), then committed all together or not at all.

use std::collections::BTreeMap;

use andon_contracts::api::{
    DocumentItemRef, GoodsMovementItem, GoodsMovementRequest, MaterialDocument,
    MaterialDocumentItem,
};
use andon_contracts::objects::{OrderStatus, StockType};
use andon_contracts::quantity::format_milli;
use andon_contracts::{Material, PlantId, Quantity, StorageLocation};
use chrono::{Datelike, NaiveDate};

use crate::masterdata::MasterData;
use crate::problem::ApiError;

use super::{
    ErpState, Flow, StockKey, check_order_status, check_period, check_sloc, material_in_plant,
    movement_type, to_base,
};

use StockType::{QualityInspection as QI, Unrestricted as U};

/// A goods movement planned and not yet committed.
#[derive(Default)]
struct Plan {
    /// Changes of the balances touched.
    deltas: BTreeMap<StockKey, i64>,
    /// The document's items.
    items: Vec<MaterialDocumentItem>,
    /// Items of earlier documents this one reverses.
    reversed: Vec<DocumentItemRef>,
}

/// Balances an item takes from and puts to, and the stock type it posts.
type Keys = (Option<StockKey>, Option<StockKey>, StockType);

impl ErpState {
    /// Posts a goods movement: all items or none.
    pub fn post_goods_movement(
        &mut self,
        md: &MasterData,
        req: &GoodsMovementRequest,
    ) -> Result<MaterialDocument, ApiError> {
        check_period(md, req.posting_date, req.items.first().map(|i| &i.plant))?;
        if req.items.is_empty() {
            return Err(ApiError::invalid(
                "A material document needs at least one item",
                vec![],
            ));
        }
        let mut plan = Plan::default();
        for (idx, item) in req.items.iter().enumerate() {
            let planned = self.plan_item(md, idx, item, &mut plan)?;
            plan.items.push(planned);
        }
        self.commit(&plan);
        Ok(self.record_document(req.posting_date, plan.items))
    }

    /// Checks one item and plans its stock changes into `plan`.
    fn plan_item(
        &self,
        md: &MasterData,
        idx: usize,
        item: &GoodsMovementItem,
        plan: &mut Plan,
    ) -> Result<MaterialDocumentItem, ApiError> {
        let (flow, needs_order, partner) =
            movement_type(item.movement_type.as_str()).ok_or_else(|| {
                ApiError::of(
                    "movement-type",
                    format!("Movement type {} is not defined", item.movement_type),
                )
            })?;
        let mat = material_in_plant(md, &item.material, &item.plant)?;
        check_sloc(md, &item.plant, &item.storage_location)?;
        let qty = to_base(mat, &item.quantity)?;
        check_item(idx, item, mat, qty)?;
        if needs_order {
            self.check_item_order(item)?;
        }
        let receipt_type = if mat.inspection_required { QI } else { U };
        // Reversal of a specific item: check it and take its stock type.
        let mut reversed_type = None;
        if let Some(r) = &item.reversal_of {
            reversed_type = Some(self.check_reversal(item, r, partner, qty, &plan.reversed)?);
            plan.reversed.push(r.clone());
        }
        let (debit, credit, stock_type) = flow_keys(md, item, flow, receipt_type, reversed_type)?;
        if let Some(d) = &debit {
            self.check_debit(d, qty, item, mat, &plan.deltas)?;
            *plan.deltas.entry(d.clone()).or_default() -= qty;
        }
        if let Some(c) = &credit {
            *plan.deltas.entry(c.clone()).or_default() += qty;
        }
        Ok(MaterialDocumentItem {
            item: idx as u32 + 1,
            posted: item.clone(),
            quantity_base: Quantity::from_milli(qty, mat.base_unit.clone()),
            stock_type,
            reversed: false,
        })
    }

    /// The order of an item whose movement type needs one: it exists, takes postings and
    /// belongs to the item's plant.
    fn check_item_order(&self, item: &GoodsMovementItem) -> Result<(), ApiError> {
        let order = item.order.as_ref().ok_or_else(|| {
            ApiError::of(
                "order-required",
                format!("Movement type {} needs an order", item.movement_type),
            )
        })?;
        let rec = self.orders.get(order).ok_or_else(|| {
            ApiError::unknown_master_data(format!("Order {order} does not exist"))
        })?;
        check_order_status(order, rec.order.status)?;
        if rec.order.plant != item.plant {
            return Err(ApiError::unknown_master_data(format!(
                "Order {order} belongs to plant {}, not {}",
                rec.order.plant, item.plant
            )));
        }
        Ok(())
    }

    /// The item `r` an item reverses: posted with the partner movement type, not reversed
    /// yet (nor earlier in this document), with the same material, plant, batch and
    /// quantity. Its stock type is the reversal's.
    fn check_reversal(
        &self,
        item: &GoodsMovementItem,
        r: &DocumentItemRef,
        partner: &str,
        qty: i64,
        reversed: &[DocumentItemRef],
    ) -> Result<StockType, ApiError> {
        let orig = self.document_item(r).ok_or_else(|| {
            ApiError::unknown_master_data(format!(
                "Material document {} {} item {} does not exist",
                r.material_document, r.year, r.item
            ))
        })?;
        if orig.posted.movement_type.as_str() != partner {
            return Err(ApiError::of(
                "reversal-mismatch",
                format!(
                    "Movement type {} cannot reverse an item posted with {}",
                    item.movement_type, orig.posted.movement_type
                ),
            ));
        }
        if orig.reversed || reversed.contains(r) {
            return Err(ApiError::of(
                "already-reversed",
                format!(
                    "Material document {} {} item {} has already been reversed",
                    r.material_document, r.year, r.item
                ),
            ));
        }
        if orig.posted.material != item.material
            || orig.posted.batch != item.batch
            || orig.posted.plant != item.plant
            || orig.quantity_base.milli != qty
        {
            return Err(ApiError::of(
                "reversal-mismatch",
                "A reversal must repeat the material, plant, batch and quantity of the item it reverses",
            ));
        }
        Ok(orig.stock_type)
    }

    /// The balance `d` has `qty` to give, counting what earlier items of the document took:
    /// a deficit otherwise (an unknown batch when the batch does not exist at all).
    fn check_debit(
        &self,
        d: &StockKey,
        qty: i64,
        item: &GoodsMovementItem,
        mat: &Material,
        deltas: &BTreeMap<StockKey, i64>,
    ) -> Result<(), ApiError> {
        let have = self.balance(d) + deltas.get(d).copied().unwrap_or(0);
        if have >= qty {
            return Ok(());
        }
        let batch = item.batch.as_ref().map(|b| b.as_str()).unwrap_or("");
        if item.batch.is_some()
            && !self.batch_exists(&item.plant, &item.material, item.batch.as_ref())
        {
            return Err(ApiError::unknown_master_data(format!(
                "Batch {batch} does not exist for material {} in plant {}",
                item.material, item.plant
            )));
        }
        Err(ApiError::of(
            "stock-deficit",
            format!(
                "Deficit of SL {} {} {} : {} {} {} {batch}",
                d.stock_type.label(),
                format_milli(qty - have.max(0)),
                mat.base_unit,
                item.material,
                item.plant,
                item.storage_location,
            ),
        ))
    }

    /// Commits a plan: the balances, the reversed items, the orders posted against.
    fn commit(&mut self, plan: &Plan) {
        for (k, d) in &plan.deltas {
            *self.stock.entry(k.clone()).or_default() += d;
        }
        for r in &plan.reversed {
            if let Some(doc) = self
                .documents
                .get_mut(&(r.year, r.material_document.clone()))
                && let Some(it) = doc.items.iter_mut().find(|i| i.item == r.item)
            {
                it.reversed = true;
            }
        }
        for it in &plan.items {
            self.posted_against_order(it);
        }
    }

    /// Marks an item's order as posted against; a goods receipt of the order's material
    /// delivers it (`DLV`), and its reversal takes the delivery back.
    fn posted_against_order(&mut self, it: &MaterialDocumentItem) {
        let Some(rec) = it
            .posted
            .order
            .as_ref()
            .and_then(|o| self.orders.get_mut(o))
        else {
            return;
        };
        rec.has_postings = true;
        if it.posted.material != rec.order.material {
            return;
        }
        match it.posted.movement_type.as_str() {
            "101" => rec.delivered += it.quantity_base.milli,
            "102" => rec.delivered -= it.quantity_base.milli,
            _ => {}
        }
        if rec.order.status == OrderStatus::Confirmed
            && rec.delivered >= rec.order.planned_quantity.milli
        {
            rec.order.status = OrderStatus::Delivered;
        } else if rec.order.status == OrderStatus::Delivered
            && rec.delivered < rec.order.planned_quantity.milli
        {
            // A reversed goods receipt takes the delivery back (DLV is reset).
            rec.order.status = OrderStatus::Confirmed;
        }
    }

    /// Numbers and keeps a posted document.
    fn record_document(
        &mut self,
        posting_date: NaiveDate,
        items: Vec<MaterialDocumentItem>,
    ) -> MaterialDocument {
        let number = self.next_document.to_string();
        self.next_document += 1;
        let doc = MaterialDocument {
            material_document: number.clone(),
            year: posting_date.year(),
            posting_date,
            items,
        };
        self.documents.insert((doc.year, number), doc.clone());
        doc
    }
}

/// An item's quantity is positive, and a batch-managed material names its batch.
fn check_item(
    idx: usize,
    item: &GoodsMovementItem,
    mat: &Material,
    qty: i64,
) -> Result<(), ApiError> {
    if qty <= 0 {
        let msg = format!("Item {}: quantity must be greater than 0", idx + 1);
        return Err(ApiError::invalid(
            msg.clone(),
            vec![andon_contracts::FieldError {
                pointer: format!("/items/{idx}"),
                message: msg,
            }],
        ));
    }
    if mat.batch_managed && item.batch.is_none() {
        return Err(ApiError::of(
            "batch-required",
            format!(
                "Material {} is handled in batches: enter a batch",
                item.material
            ),
        ));
    }
    Ok(())
}

/// The balance of the item's material and batch at `plant`/`sloc` in stock type `st`.
fn stock_key(
    item: &GoodsMovementItem,
    plant: &PlantId,
    sloc: &StorageLocation,
    st: StockType,
) -> StockKey {
    StockKey {
        plant: plant.clone(),
        storage_location: sloc.clone(),
        material: item.material.clone(),
        batch: item.batch.clone(),
        stock_type: st,
    }
}

/// The balances an item's flow takes from and puts to.
fn flow_keys(
    md: &MasterData,
    item: &GoodsMovementItem,
    flow: Flow,
    receipt_type: StockType,
    reversed_type: Option<StockType>,
) -> Result<Keys, ApiError> {
    let key = |st| stock_key(item, &item.plant, &item.storage_location, st);
    Ok(match flow {
        Flow::Receipt => (None, Some(key(receipt_type)), receipt_type),
        Flow::ReceiptReversal => {
            let st = reversed_type.unwrap_or(receipt_type);
            (Some(key(st)), None, st)
        }
        Flow::Out(st) => (Some(key(st)), None, st),
        Flow::In(st) => (None, Some(key(st)), st),
        Flow::Transfer(from, to) => (Some(key(from)), Some(key(to)), from),
        Flow::PlantToPlant | Flow::PlantToPlantReversal => {
            let other = item.receiving_plant.as_ref().ok_or_else(|| {
                ApiError::of(
                    "receiving-plant-required",
                    format!(
                        "Movement type {} needs a receiving plant",
                        item.movement_type
                    ),
                )
            })?;
            material_in_plant(md, &item.material, other)?;
            let other_sloc = item
                .receiving_storage_location
                .clone()
                .unwrap_or_else(|| item.storage_location.clone());
            check_sloc(md, other, &other_sloc)?;
            let here = key(U);
            let there = stock_key(item, other, &other_sloc, U);
            if flow == Flow::PlantToPlant {
                (Some(here), Some(there), U)
            } else {
                (Some(there), Some(here), U)
            }
        }
    })
}
