//! ERP state and business rules, free of HTTP: stock by plant / storage location /
//! material / batch / stock type, production orders with status, material documents with
//! movement types and reversals, confirmations with group and counter, notifications.
//! Every rejection is an [`ApiError`] with the stable code contracts/problems.yaml names (docs/domain.md).

use std::collections::{BTreeMap, HashMap};

use andon_contracts::api::{
    Confirmation, ConfirmationRequest, DocumentItemRef, GoodsMovementItem, GoodsMovementRequest,
    MaterialDocument, MaterialDocumentItem, QualityNotification, QualityNotificationRequest,
};
use andon_contracts::objects::{OrderStatus, ProductionOrder, StockRow, StockType};
use andon_contracts::quantity::format_milli;
use andon_contracts::{BatchId, Material, MaterialId, OrderId, PlantId, Quantity, StorageLocation};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::masterdata::{MasterData, parse_period};
use crate::problem::ApiError;

/// Key of a stock balance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StockKey {
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: Option<BatchId>,
    /// Stock type.
    pub stock_type: StockType,
}

/// Where a movement type takes stock from and puts it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Into the receipt stock type (quality inspection when the material needs inspection).
    Receipt,
    /// Out of the receipt stock type (reversal of a receipt).
    ReceiptReversal,
    /// Out of this stock type.
    Out(StockType),
    /// Into this stock type.
    In(StockType),
    /// From one stock type to another.
    Transfer(StockType, StockType),
    /// Out here, into the receiving plant (unrestricted).
    PlantToPlant,
    /// Back from the receiving plant.
    PlantToPlantReversal,
}

use StockType::{Blocked as B, QualityInspection as QI, Unrestricted as U};

/// The movement types the ERP knows: code, meaning, flow, whether it needs an order, and
/// the partner type that reverses it.
pub const MOVEMENT_TYPES: &[(&str, &str, Flow, bool, &str)] = &[
    (
        "101",
        "goods receipt for production order",
        Flow::Receipt,
        true,
        "102",
    ),
    (
        "102",
        "reversal of goods receipt for production order",
        Flow::ReceiptReversal,
        true,
        "101",
    ),
    (
        "261",
        "goods issue to production order",
        Flow::Out(U),
        true,
        "262",
    ),
    (
        "262",
        "reversal of goods issue to production order",
        Flow::In(U),
        true,
        "261",
    ),
    ("531", "by-product receipt", Flow::Receipt, true, "532"),
    (
        "532",
        "reversal of by-product receipt",
        Flow::ReceiptReversal,
        true,
        "531",
    ),
    (
        "321",
        "quality inspection to unrestricted",
        Flow::Transfer(QI, U),
        false,
        "322",
    ),
    (
        "322",
        "unrestricted to quality inspection",
        Flow::Transfer(U, QI),
        false,
        "321",
    ),
    (
        "349",
        "blocked to quality inspection",
        Flow::Transfer(B, QI),
        false,
        "350",
    ),
    (
        "350",
        "quality inspection to blocked",
        Flow::Transfer(QI, B),
        false,
        "349",
    ),
    (
        "343",
        "blocked to unrestricted",
        Flow::Transfer(B, U),
        false,
        "344",
    ),
    (
        "344",
        "unrestricted to blocked",
        Flow::Transfer(U, B),
        false,
        "343",
    ),
    (
        "551",
        "scrapping from unrestricted",
        Flow::Out(U),
        false,
        "552",
    ),
    (
        "552",
        "reversal of scrapping from unrestricted",
        Flow::In(U),
        false,
        "551",
    ),
    (
        "553",
        "scrapping from quality inspection",
        Flow::Out(QI),
        false,
        "554",
    ),
    (
        "554",
        "reversal of scrapping from quality inspection",
        Flow::In(QI),
        false,
        "553",
    ),
    (
        "601",
        "goods issue for delivery",
        Flow::Out(U),
        false,
        "602",
    ),
    (
        "602",
        "reversal of goods issue for delivery",
        Flow::In(U),
        false,
        "601",
    ),
    (
        "301",
        "plant-to-plant transfer",
        Flow::PlantToPlant,
        false,
        "302",
    ),
    (
        "302",
        "reversal of plant-to-plant transfer",
        Flow::PlantToPlantReversal,
        false,
        "301",
    ),
];

/// Looks up a movement type.
pub fn movement_type(code: &str) -> Option<(Flow, bool, &'static str)> {
    MOVEMENT_TYPES
        .iter()
        .find(|m| m.0 == code)
        .map(|m| (m.2, m.3, m.4))
}

/// A production order with what was posted against it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The order.
    pub order: ProductionOrder,
    /// Confirmed yield per operation (base unit, thousandths).
    pub confirmed_yield: BTreeMap<String, i64>,
    /// Confirmed scrap per operation.
    pub confirmed_scrap: BTreeMap<String, i64>,
    /// Goods received (101 − 102) in thousandths of the base unit.
    pub delivered: i64,
    /// Whether anything was posted against the order.
    pub has_postings: bool,
}

/// The whole ERP state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErpState {
    /// Stock balances in thousandths of the base unit.
    #[serde(with = "crate::saved::pairs")]
    pub stock: BTreeMap<StockKey, i64>,
    /// Production orders.
    pub orders: BTreeMap<OrderId, OrderRecord>,
    /// Material documents by (year, number).
    #[serde(with = "crate::saved::pairs")]
    pub documents: BTreeMap<(i32, String), MaterialDocument>,
    /// Confirmations in posting order.
    pub confirmations: Vec<Confirmation>,
    /// Confirmation group per order and operation.
    #[serde(with = "crate::saved::pairs")]
    pub groups: HashMap<(OrderId, String), String>,
    /// Quality notifications.
    pub notifications: Vec<QualityNotification>,
    next_document: u64,
    next_group: u64,
    next_notification: u64,
}

/// Tolerances and periods the rules need.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Over-confirmation tolerance in percent.
    pub tolerance_pct: u32,
}

impl ErpState {
    /// State seeded with the master data's initial stock.
    pub fn new(md: &MasterData) -> Self {
        let mut s = Self {
            next_document: 4_900_000_000,
            next_group: 100_000,
            next_notification: 200_000_000,
            ..Self::default()
        };
        for st in &md.stock {
            let Some(m) = md.material_in(&st.material, &st.plant) else {
                continue;
            };
            let Some(q) = m.to_base_milli(&st.quantity) else {
                continue;
            };
            *s.stock
                .entry(StockKey {
                    plant: st.plant.clone(),
                    storage_location: st.storage_location.clone(),
                    material: st.material.clone(),
                    batch: st.batch.clone(),
                    stock_type: st.stock_type,
                })
                .or_default() += q;
        }
        s
    }

    /// Stock rows with a non-zero quantity, filtered.
    pub fn stock_rows(
        &self,
        md: &MasterData,
        plant: Option<&PlantId>,
        material: Option<&MaterialId>,
        batch: Option<&BatchId>,
        sloc: Option<&StorageLocation>,
    ) -> Vec<StockRow> {
        self.stock
            .iter()
            .filter(|(k, q)| {
                **q != 0
                    && plant.is_none_or(|p| &k.plant == p)
                    && material.is_none_or(|m| &k.material == m)
                    && batch.is_none_or(|b| k.batch.as_ref() == Some(b))
                    && sloc.is_none_or(|s| &k.storage_location == s)
            })
            .map(|(k, q)| StockRow {
                plant: k.plant.clone(),
                storage_location: k.storage_location.clone(),
                material: k.material.clone(),
                batch: k.batch.clone(),
                stock_type: k.stock_type,
                quantity: Quantity::from_milli(
                    *q,
                    md.material_in(&k.material, &k.plant)
                        .map(|m| m.base_unit.clone())
                        .unwrap_or_else(|| {
                            andon_contracts::Unit::parse("EA").expect("valid literal")
                        }),
                ),
            })
            .collect()
    }

    /// Quantity of one balance.
    pub fn balance(&self, key: &StockKey) -> i64 {
        self.stock.get(key).copied().unwrap_or(0)
    }

    /// Adds a released order (the ERP's own activity).
    pub fn release_order(&mut self, order: ProductionOrder) {
        self.orders.insert(
            order.order.clone(),
            OrderRecord {
                order,
                confirmed_yield: BTreeMap::new(),
                confirmed_scrap: BTreeMap::new(),
                delivered: 0,
                has_postings: false,
            },
        );
    }

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
        // Plan every item against a scratch copy of the touched balances.
        let mut deltas: BTreeMap<StockKey, i64> = BTreeMap::new();
        let mut planned = Vec::new();
        let mut reversed_refs = Vec::new();
        for (idx, item) in req.items.iter().enumerate() {
            let at = |msg: String| {
                ApiError::invalid(
                    msg.clone(),
                    vec![andon_contracts::FieldError {
                        pointer: format!("/items/{idx}"),
                        message: msg,
                    }],
                )
            };
            let (flow, needs_order, partner) = movement_type(item.movement_type.as_str())
                .ok_or_else(|| {
                    ApiError::of(
                        "movement-type",
                        format!("Movement type {} is not defined", item.movement_type),
                    )
                })?;
            let mat = material_in_plant(md, &item.material, &item.plant)?;
            check_sloc(md, &item.plant, &item.storage_location)?;
            let qty = to_base(mat, &item.quantity)?;
            if qty <= 0 {
                return Err(at(format!(
                    "Item {}: quantity must be greater than 0",
                    idx + 1
                )));
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
            if needs_order {
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
            }
            let receipt_type = if mat.inspection_required { QI } else { U };
            let key = |plant: &PlantId, sloc: &StorageLocation, st: StockType| StockKey {
                plant: plant.clone(),
                storage_location: sloc.clone(),
                material: item.material.clone(),
                batch: item.batch.clone(),
                stock_type: st,
            };
            // Reversal of a specific item: check it and take its stock type.
            let mut reversed_type = None;
            if let Some(r) = &item.reversal_of {
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
                if orig.reversed || reversed_refs.contains(r) {
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
                reversed_type = Some(orig.stock_type);
                reversed_refs.push(r.clone());
            }
            let (debit, credit, stock_type) = match flow {
                Flow::Receipt => (
                    None,
                    Some(key(&item.plant, &item.storage_location, receipt_type)),
                    receipt_type,
                ),
                Flow::ReceiptReversal => {
                    let st = reversed_type.unwrap_or(receipt_type);
                    (Some(key(&item.plant, &item.storage_location, st)), None, st)
                }
                Flow::Out(st) => (Some(key(&item.plant, &item.storage_location, st)), None, st),
                Flow::In(st) => (None, Some(key(&item.plant, &item.storage_location, st)), st),
                Flow::Transfer(from, to) => (
                    Some(key(&item.plant, &item.storage_location, from)),
                    Some(key(&item.plant, &item.storage_location, to)),
                    from,
                ),
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
                    let here = key(&item.plant, &item.storage_location, U);
                    let there = key(other, &other_sloc, U);
                    if flow == Flow::PlantToPlant {
                        (Some(here), Some(there), U)
                    } else {
                        (Some(there), Some(here), U)
                    }
                }
            };
            if let Some(d) = &debit {
                let have = self.balance(d) + deltas.get(d).copied().unwrap_or(0);
                if have < qty {
                    if item.batch.is_some()
                        && !self.batch_exists(&item.plant, &item.material, item.batch.as_ref())
                    {
                        return Err(ApiError::unknown_master_data(format!(
                            "Batch {} does not exist for material {} in plant {}",
                            item.batch.as_ref().map(|b| b.as_str()).unwrap_or(""),
                            item.material,
                            item.plant
                        )));
                    }
                    return Err(ApiError::of(
                        "stock-deficit",
                        format!(
                            "Deficit of SL {} {} {} : {} {} {} {}",
                            d.stock_type.label(),
                            format_milli(qty - have.max(0)),
                            mat.base_unit,
                            item.material,
                            item.plant,
                            item.storage_location,
                            item.batch.as_ref().map(|b| b.as_str()).unwrap_or("")
                        ),
                    ));
                }
                *deltas.entry(d.clone()).or_default() -= qty;
            }
            if let Some(c) = &credit {
                *deltas.entry(c.clone()).or_default() += qty;
            }
            planned.push(MaterialDocumentItem {
                item: idx as u32 + 1,
                posted: item.clone(),
                quantity_base: Quantity::from_milli(qty, mat.base_unit.clone()),
                stock_type,
                reversed: false,
            });
        }
        // Commit.
        for (k, d) in deltas {
            let v = self.stock.entry(k).or_default();
            *v += d;
        }
        for r in &reversed_refs {
            if let Some(doc) = self
                .documents
                .get_mut(&(r.year, r.material_document.clone()))
                && let Some(it) = doc.items.iter_mut().find(|i| i.item == r.item)
            {
                it.reversed = true;
            }
        }
        for it in &planned {
            if let Some(order) = &it.posted.order
                && let Some(rec) = self.orders.get_mut(order)
            {
                rec.has_postings = true;
                if it.posted.material == rec.order.material {
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
            }
        }
        let number = self.next_document.to_string();
        self.next_document += 1;
        let doc = MaterialDocument {
            material_document: number.clone(),
            year: req.posting_date.year(),
            posting_date: req.posting_date,
            items: planned,
        };
        self.documents.insert((doc.year, number), doc.clone());
        Ok(doc)
    }

    /// Reverses every item of a document, last item first.
    pub fn reverse_document(
        &mut self,
        md: &MasterData,
        year: i32,
        number: &str,
        posting_date: NaiveDate,
        refs: andon_contracts::api::SourceRefs,
    ) -> Result<MaterialDocument, ApiError> {
        let doc = self
            .documents
            .get(&(year, number.to_string()))
            .ok_or_else(|| {
                ApiError::not_found(format!("Material document {number} {year} does not exist"))
            })?
            .clone();
        // Last item first: undoing the items in the opposite order always finds the stock
        // each one left behind (a document may move stock into a type a later item takes
        // it out of again).
        let items = doc
            .items
            .iter()
            .rev()
            .map(|it| {
                let partner = movement_type(it.posted.movement_type.as_str())
                    .map(|m| m.2)
                    .unwrap_or("");
                let mut posted = it.posted.clone();
                posted.movement_type = andon_contracts::MovementTypeCode::parse(partner)
                    .map_err(|e| ApiError::of("movement-type", e.to_string()))?;
                posted.quantity = it.quantity_base.clone();
                posted.reversal_of = Some(DocumentItemRef {
                    material_document: doc.material_document.clone(),
                    year,
                    item: it.item,
                });
                Ok(posted)
            })
            .collect::<Result<Vec<GoodsMovementItem>, ApiError>>()?;
        self.post_goods_movement(
            md,
            &GoodsMovementRequest {
                posting_date,
                header_text: Some(format!("Reversal of {number}")),
                items,
                refs,
            },
        )
    }

    fn document_item(&self, r: &DocumentItemRef) -> Option<&MaterialDocumentItem> {
        self.documents
            .get(&(r.year, r.material_document.clone()))?
            .items
            .iter()
            .find(|i| i.item == r.item)
    }

    fn batch_exists(
        &self,
        plant: &PlantId,
        material: &MaterialId,
        batch: Option<&BatchId>,
    ) -> bool {
        self.stock
            .keys()
            .any(|k| &k.plant == plant && &k.material == material && k.batch.as_ref() == batch)
    }

    /// Posts an operation confirmation.
    pub fn confirm(
        &mut self,
        md: &MasterData,
        rules: Rules,
        req: &ConfirmationRequest,
    ) -> Result<Confirmation, ApiError> {
        check_period(md, req.posting_date, Some(&req.plant))?;
        let rec = self.orders.get(&req.order).ok_or_else(|| {
            ApiError::unknown_master_data(format!("Order {} does not exist", req.order))
        })?;
        if rec.order.plant != req.plant {
            return Err(ApiError::unknown_master_data(format!(
                "Order {} belongs to plant {}, not {}",
                req.order, rec.order.plant, req.plant
            )));
        }
        check_order_status(&req.order, rec.order.status)?;
        if !rec
            .order
            .operations
            .iter()
            .any(|o| o.operation == req.operation)
        {
            return Err(ApiError::unknown_master_data(format!(
                "Operation {} does not exist in order {}",
                req.operation, req.order
            )));
        }
        let mat = material_in_plant(md, &rec.order.material, &req.plant)?;
        let y = to_base(mat, &req.yield_)?;
        let s = to_base(mat, &req.scrap)?;
        if let Some(r) = &req.rework {
            to_base(mat, r)?;
        }
        let op = req.operation.as_str().to_string();
        let done = rec.confirmed_yield.get(&op).copied().unwrap_or(0);
        let planned = rec.order.planned_quantity.milli;
        let limit = planned + planned * i64::from(rules.tolerance_pct) / 100;
        if done + y > limit {
            return Err(ApiError::of(
                "over-confirmation",
                format!(
                    "Confirmed yield {} {} for operation {} exceeds the planned {} {} by more than {} %",
                    format_milli(done + y),
                    mat.base_unit,
                    req.operation,
                    format_milli(planned),
                    mat.base_unit,
                    rules.tolerance_pct
                ),
            ));
        }
        let last_op = rec
            .order
            .operations
            .last()
            .map(|o| o.operation.as_str().to_string());
        let base_unit = mat.base_unit.clone();
        let rec = self.orders.get_mut(&req.order).expect("checked above");
        *rec.confirmed_yield.entry(op.clone()).or_default() += y;
        *rec.confirmed_scrap.entry(op.clone()).or_default() += s;
        rec.has_postings = true;
        rec.order.status = if rec.order.status == OrderStatus::Delivered
            || (req.final_ && last_op.as_deref() == Some(op.as_str()) && rec.delivered >= planned)
        {
            // Delivered stays delivered; a goods receipt that came first counts too.
            OrderStatus::Delivered
        } else if req.final_ && last_op.as_deref() == Some(op.as_str()) {
            OrderStatus::Confirmed
        } else if rec.order.status == OrderStatus::Released {
            OrderStatus::PartiallyConfirmed
        } else {
            rec.order.status
        };
        let status = rec.order.status;
        let group_key = (req.order.clone(), op);
        let group = match self.groups.get(&group_key) {
            Some(g) => g.clone(),
            None => {
                let g = format!("{:010}", self.next_group);
                self.next_group += 1;
                self.groups.insert(group_key, g.clone());
                g
            }
        };
        let counter = self
            .confirmations
            .iter()
            .filter(|c| c.confirmation_group == group)
            .count() as u32
            + 1;
        let conf = Confirmation {
            confirmation_group: group,
            confirmation_counter: counter,
            order: req.order.clone(),
            operation: req.operation.clone(),
            plant: req.plant.clone(),
            yield_: Quantity::from_milli(y, base_unit.clone()),
            scrap: Quantity::from_milli(s, base_unit),
            final_: req.final_,
            posting_date: req.posting_date,
            order_status: status,
        };
        self.confirmations.push(conf.clone());
        Ok(conf)
    }

    /// Records a quality notification.
    pub fn notify(
        &mut self,
        md: &MasterData,
        req: &QualityNotificationRequest,
    ) -> Result<QualityNotification, ApiError> {
        material_in_plant(md, &req.material, &req.plant)?;
        let n = QualityNotification {
            notification: format!("{:012}", self.next_notification),
            nonconformance: req.nonconformance.clone(),
            plant: req.plant.clone(),
        };
        self.next_notification += 1;
        self.notifications.push(n.clone());
        Ok(n)
    }
}

fn check_period(md: &MasterData, date: NaiveDate, plant: Option<&PlantId>) -> Result<(), ApiError> {
    let open = md
        .open_periods
        .iter()
        .filter_map(|p| parse_period(p))
        .any(|(y, m)| y == date.year() && m == date.month());
    if open {
        return Ok(());
    }
    let company = plant
        .and_then(|p| md.plant(p))
        .map(|p| p.company_code.clone())
        .unwrap_or_else(|| "1000".into());
    Err(ApiError::of(
        "period-closed",
        format!(
            "Posting only possible in periods {} in company code {company}",
            md.open_periods.join(" and ")
        ),
    ))
}

fn check_order_status(order: &OrderId, status: OrderStatus) -> Result<(), ApiError> {
    if status.accepts_postings() {
        return Ok(());
    }
    let why = match status {
        OrderStatus::Created => "is not released (status CRTD)".to_string(),
        OrderStatus::TechnicallyCompleted => "is technically completed (status TECO)".to_string(),
        OrderStatus::Closed => "is already closed (status CLSD)".to_string(),
        OrderStatus::Cancelled => "is flagged for deletion (status DLFL)".to_string(),
        s => format!("has status {s:?}"),
    };
    Err(ApiError::of("order-status", format!("Order {order} {why}")))
}

/// The material if maintained in the plant, else 422 `unknown-master-data`.
pub fn material_in_plant<'a>(
    md: &'a MasterData,
    material: &MaterialId,
    plant: &PlantId,
) -> Result<&'a Material, ApiError> {
    if md.plant(plant).is_none() {
        return Err(ApiError::unknown_master_data(format!(
            "Plant {plant} is not defined"
        )));
    }
    md.material_in(material, plant).ok_or_else(|| {
        ApiError::unknown_master_data(format!(
            "Material {material} not maintained in plant {plant}"
        ))
    })
}

fn check_sloc(md: &MasterData, plant: &PlantId, sloc: &StorageLocation) -> Result<(), ApiError> {
    match md.plant(plant) {
        Some(p) if p.storage_locations.contains(sloc) => Ok(()),
        _ => Err(ApiError::unknown_master_data(format!(
            "Storage location {sloc} is not defined for plant {plant}"
        ))),
    }
}

/// Converts to thousandths of the base unit, else 422 `uom-conversion`.
pub fn to_base(mat: &Material, q: &Quantity) -> Result<i64, ApiError> {
    mat.to_base_milli(q).ok_or_else(|| {
        let defined = mat.alternative_units.iter().any(|c| c.unit == q.unit);
        let detail = if defined {
            format!(
                "{q} is not a whole number of thousandths of {} for material {}",
                mat.base_unit, mat.material
            )
        } else {
            format!(
                "Unit {} is not defined for material {} (base unit {})",
                q.unit, mat.material, mat.base_unit
            )
        };
        ApiError::of("uom-conversion", detail)
    })
}
