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
use andon_contracts::{
    BatchId, Material, MaterialId, OrderId, PlantId, Quantity, StorageLocation, Unit,
};
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

mod goods;
mod movement;

pub use movement::{Flow, MOVEMENT_TYPES, movement_type};

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
    /// Confirmations cancelled, as (group, counter).
    #[serde(default)]
    pub cancelled_confirmations: std::collections::BTreeSet<(String, u32)>,
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

/// A confirmation that passed the checks: its operation, and yield and scrap in
/// thousandths of the material's base unit.
struct CheckedConfirmation {
    op: String,
    yield_: i64,
    scrap: i64,
    base_unit: Unit,
}

impl OrderRecord {
    /// Adds a checked confirmation's yield and scrap to its operation and moves the order's
    /// status on; returns the new status. Delivered stays delivered; a final confirmation
    /// of the last operation confirms the order, or delivers it when a goods receipt of
    /// the planned quantity came first; any other confirmation of a released order
    /// confirms it partially.
    fn book_confirmation(
        &mut self,
        req: &ConfirmationRequest,
        ok: &CheckedConfirmation,
    ) -> OrderStatus {
        let op = &ok.op;
        let planned = self.order.planned_quantity.milli;
        let last_op = self
            .order
            .operations
            .last()
            .map(|o| o.operation.as_str().to_string());
        *self.confirmed_yield.entry(op.clone()).or_default() += ok.yield_;
        *self.confirmed_scrap.entry(op.clone()).or_default() += ok.scrap;
        self.has_postings = true;
        self.order.status = if self.order.status == OrderStatus::Delivered
            || (req.final_ && last_op.as_deref() == Some(op.as_str()) && self.delivered >= planned)
        {
            // Delivered stays delivered; a goods receipt that came first counts too.
            OrderStatus::Delivered
        } else if req.final_ && last_op.as_deref() == Some(op.as_str()) {
            OrderStatus::Confirmed
        } else if self.order.status == OrderStatus::Released {
            OrderStatus::PartiallyConfirmed
        } else {
            self.order.status
        };
        self.order.status
    }
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
    /// Cancels confirmation `counter` of `group`: its yield and scrap come off its operation
    /// and a reversal with the quantities negated is booked under the group's next counter;
    /// cancelling a final confirmation moves a confirmed order back to partially confirmed.
    pub fn cancel_confirmation(
        &mut self,
        group: &str,
        counter: u32,
    ) -> Result<Confirmation, ApiError> {
        let orig = self
            .confirmations
            .iter()
            .find(|c| c.confirmation_group == group && c.confirmation_counter == counter)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!("Confirmation {group}/{counter} does not exist"))
            })?;
        let key = (group.to_string(), counter);
        if orig.yield_.milli < 0
            || orig.scrap.milli < 0
            || self.cancelled_confirmations.contains(&key)
        {
            return Err(ApiError::of(
                "already-reversed",
                format!("Confirmation {group}/{counter} is a cancellation or already cancelled"),
            ));
        }
        let rec = self
            .orders
            .get_mut(&orig.order)
            .ok_or_else(|| ApiError::not_found(format!("Order {} does not exist", orig.order)))?;
        let op = orig.operation.as_str().to_string();
        *rec.confirmed_yield.entry(op.clone()).or_default() -= orig.yield_.milli;
        *rec.confirmed_scrap.entry(op).or_default() -= orig.scrap.milli;
        if orig.final_ && rec.order.status == OrderStatus::Confirmed {
            rec.order.status = OrderStatus::PartiallyConfirmed;
        }
        let next = self
            .confirmations
            .iter()
            .filter(|c| c.confirmation_group == group)
            .count() as u32
            + 1;
        let reversal = Confirmation {
            confirmation_counter: next,
            yield_: Quantity::from_milli(-orig.yield_.milli, orig.yield_.unit.clone()),
            scrap: Quantity::from_milli(-orig.scrap.milli, orig.scrap.unit.clone()),
            final_: false,
            order_status: rec.order.status,
            ..orig
        };
        self.confirmations.push(reversal.clone());
        self.cancelled_confirmations.insert(key);
        Ok(reversal)
    }

    pub fn confirm(
        &mut self,
        md: &MasterData,
        rules: Rules,
        req: &ConfirmationRequest,
    ) -> Result<Confirmation, ApiError> {
        let ok = self.check_confirmation(md, rules, req)?;
        let rec = self.orders.get_mut(&req.order).expect("checked above");
        let status = rec.book_confirmation(req, &ok);
        let group = self.confirmation_group(&req.order, ok.op);
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
            yield_: Quantity::from_milli(ok.yield_, ok.base_unit.clone()),
            scrap: Quantity::from_milli(ok.scrap, ok.base_unit),
            final_: req.final_,
            posting_date: req.posting_date,
            order_status: status,
        };
        self.confirmations.push(conf.clone());
        Ok(conf)
    }

    /// Checks a confirmation before anything is posted: an open period, an order of the
    /// plant in a status that allows confirming, an operation of the order, quantities in
    /// units of the order's material, and the yield of the operation not beyond the
    /// planned quantity plus the tolerance.
    fn check_confirmation(
        &self,
        md: &MasterData,
        rules: Rules,
        req: &ConfirmationRequest,
    ) -> Result<CheckedConfirmation, ApiError> {
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
        Ok(CheckedConfirmation {
            op,
            yield_: y,
            scrap: s,
            base_unit: mat.base_unit.clone(),
        })
    }

    /// The confirmation group of the order's operation: the one it already has, or the
    /// next number.
    fn confirmation_group(&mut self, order: &OrderId, op: String) -> String {
        let group_key = (order.clone(), op);
        match self.groups.get(&group_key) {
            Some(g) => g.clone(),
            None => {
                let g = format!("{:010}", self.next_group);
                self.next_group += 1;
                self.groups.insert(group_key, g.clone());
                g
            }
        }
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
