//! A work order's execution script: the events MES will emit for it, in order, drawn once
//! when execution starts from a seed derived from the run seed and the order number —
//! operations started and completed, component batches consumed (only lots MES believes
//! available), confirmations with yield and scrap, output batches with genealogy, now and
//! then a by-product or a nonconformance.

use std::collections::VecDeque;

use andon_contracts::api::WorkOrder;
use andon_contracts::events::{
    EventKind, MaterialConsumed, MaterialProduced, NonconformanceCreated, OperationConfirmed,
    OperationEvent, ScrapReported,
};
use andon_contracts::objects::{BatchRef, OrderComponent, OrderOperation, StockType};
use andon_contracts::{BatchId, PlantId, Quantity, StorageLocation, Unit};
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::masterdata::{MasterData, Profile};

use super::{Mes, MesState, lot_id};

/// Events still to emit for one work order.
pub(super) type Script = VecDeque<(EventKind, serde_json::Value)>;

impl Mes {
    /// Builds the execution script of a work order.
    pub(super) fn script(
        &self,
        st: &mut MesState,
        wo: &WorkOrder,
        receipt: Option<StorageLocation>,
    ) -> Script {
        let mut rng = self.order_rng(&wo.order);
        let md = self.core.master().clone();
        let planned = wo.planned_quantity.milli;
        // 1.5 % rejects on average, as on a bottling line.
        let scrap_total =
            (planned as f64 * rng.random_range(0.0..0.03)).round() as i64 / 1000 * 1000;
        let mut w = Writer {
            mes: self,
            st,
            wo,
            receipt,
            profile: md.plant(&wo.plant).map(|p| p.profile).unwrap_or_default(),
            md,
            rng,
            plant: wo.plant.clone(),
            now: self.core.clock.now(),
            today: self.core.clock.today(),
            unit: wo.planned_quantity.unit.clone(),
            good: planned - scrap_total,
            scrap_total,
            genealogy: Vec::new(),
            out: VecDeque::new(),
        };
        for (i, op) in wo.operations.iter().enumerate() {
            let last = i + 1 == wo.operations.len();
            w.operation(op, i == 0, last);
        }
        w.out
    }
}

/// The script of one work order as it is written.
struct Writer<'a> {
    mes: &'a Mes,
    st: &'a mut MesState,
    wo: &'a WorkOrder,
    receipt: Option<StorageLocation>,
    md: MasterData,
    profile: Profile,
    rng: ChaCha8Rng,
    plant: PlantId,
    now: DateTime<Utc>,
    today: NaiveDate,
    unit: Unit,
    good: i64,
    scrap_total: i64,
    genealogy: Vec<BatchRef>,
    out: Script,
}

impl Writer<'_> {
    fn push(&mut self, kind: EventKind, data: impl Serialize) {
        self.out
            .push_back((kind, serde_json::to_value(data).unwrap_or_default()));
    }

    /// One operation: started, components consumed (the first), confirmed, output (the
    /// last), completed.
    fn operation(&mut self, op: &OrderOperation, first: bool, last: bool) {
        let wc = op.work_center.clone();
        self.push(
            EventKind::OperationStarted,
            OperationEvent {
                order: self.wo.order.clone(),
                operation: op.operation.clone(),
                plant: self.plant.clone(),
                work_center: wc.clone(),
                started_at: Some(self.now),
                completed_at: None,
            },
        );
        if first {
            for c in &self.wo.components {
                self.consume(c);
            }
        }
        self.confirm(op);
        if self.scrap_total > 0 && last {
            self.push(
                EventKind::ScrapReported,
                ScrapReported {
                    order: self.wo.order.clone(),
                    operation: op.operation.clone(),
                    plant: self.plant.clone(),
                    material: self.wo.material.clone(),
                    quantity: Quantity::from_milli(self.scrap_total, self.unit.clone()),
                    reason_code: "SC01".into(),
                },
            );
        }
        if last {
            self.output();
            self.by_product();
            self.nonconformance();
        }
        self.push(
            EventKind::OperationCompleted,
            OperationEvent {
                order: self.wo.order.clone(),
                operation: op.operation.clone(),
                plant: self.plant.clone(),
                work_center: wc,
                started_at: None,
                completed_at: Some(self.now),
            },
        );
    }

    /// Consumes a component from a batch MES believes is available and has enough left.
    fn consume(&mut self, c: &OrderComponent) {
        let plant = self.plant.clone();
        let Some(cm) = self.md.material_in(&c.material, &plant) else {
            return;
        };
        let batches: Vec<_> = self
            .md
            .stock
            .iter()
            .filter(|s| {
                s.plant == plant
                    && s.material == c.material
                    && s.stock_type == StockType::Unrestricted
            })
            .filter_map(|s| Some((s.batch.clone()?, cm.to_base_milli(&s.quantity)?)))
            .collect();
        let need = c.quantity.milli;
        let lots = self.mes.lots.lock().unwrap_or_else(|e| e.into_inner());
        let pick = batches.iter().find(|(b, q)| {
            let key = (plant.clone(), c.material.clone(), b.clone());
            let used = self.st.consumed.get(&lot_id(&key)).copied().unwrap_or(0);
            q - used >= need && (lots.get(&key).is_none() || lots.available(&key))
        });
        drop(lots);
        let Some((batch, _)) = pick else {
            self.mes.core.note(
                "mes.no_available_batch",
                serde_json::json!({ "order": self.wo.order, "material": c.material, "quantity": c.quantity }),
            );
            return;
        };
        let key = (plant.clone(), c.material.clone(), batch.clone());
        *self.st.consumed.entry(lot_id(&key)).or_default() += need;
        self.genealogy.push(BatchRef {
            material: c.material.clone(),
            batch: batch.clone(),
        });
        // Some terminals report in an alternative unit (grams for kilograms).
        let quantity = match cm.alternative_units.iter().find(|a| a.unit.as_str() == "G") {
            Some(_) if self.rng.random_bool(0.3) => {
                Quantity::from_milli(need * 1000, Unit::parse("G").expect("valid literal"))
            }
            _ => c.quantity.clone(),
        };
        let data = MaterialConsumed {
            order: self.wo.order.clone(),
            plant,
            storage_location: c.storage_location.clone(),
            material: c.material.clone(),
            batch: batch.clone(),
            quantity,
            reservation_item: c.reservation_item.clone(),
            posting_date: self.today,
        };
        self.push(EventKind::MaterialConsumed, data);
    }

    /// Confirms an operation's yield and scrap: discrete lines in 2–4 parts, batch plants
    /// at once.
    fn confirm(&mut self, op: &OrderOperation) {
        let chunks = match self.profile {
            Profile::Discrete => self.rng.random_range(2..=4),
            Profile::Batch => 1,
        };
        let (good, scrap_total) = (self.good, self.scrap_total);
        let mut left_good = good;
        let mut left_scrap = scrap_total;
        for k in 0..chunks {
            let lastc = k + 1 == chunks;
            let g = if lastc {
                left_good
            } else {
                (good / chunks as i64) / 1000 * 1000
            };
            let s = if lastc {
                left_scrap
            } else {
                (scrap_total / chunks as i64) / 1000 * 1000
            };
            left_good -= g;
            left_scrap -= s;
            let data = OperationConfirmed {
                order: self.wo.order.clone(),
                operation: op.operation.clone(),
                plant: self.plant.clone(),
                work_center: op.work_center.clone(),
                yield_: Quantity::from_milli(g, self.unit.clone()),
                scrap: Quantity::from_milli(s, self.unit.clone()),
                rework: Quantity::from_milli(0, self.unit.clone()),
                final_: lastc,
                posting_date: self.today,
            };
            self.push(EventKind::OperationConfirmed, data);
        }
    }

    /// A batch number for the order's plant (`P`: output, `Y`: by-product).
    fn next_batch(&mut self, prefix: char) -> BatchId {
        let batch = BatchId::parse(format!(
            "{prefix}{}{:06}",
            &self.plant.as_str()[..2],
            self.st.next_batch
        ))
        .expect("generated batch is valid");
        self.st.next_batch += 1;
        batch
    }

    /// Output: discrete lines fill several pallets (batches); batch plants one lot.
    fn output(&mut self) {
        let lots = match self.profile {
            Profile::Discrete => self.rng.random_range(1..=2i64),
            Profile::Batch => 1,
        };
        let good = self.good;
        let mut left = good;
        for n in 0..lots {
            let q = if n + 1 == lots {
                left
            } else {
                (good / lots) / 1000 * 1000
            };
            left -= q;
            if q <= 0 {
                continue;
            }
            let batch = self.next_batch('P');
            self.st.produced.push(BatchRef {
                material: self.wo.material.clone(),
                batch: batch.clone(),
            });
            let data = MaterialProduced {
                order: self.wo.order.clone(),
                plant: self.plant.clone(),
                // Output is received where the order says (the finished goods store), not
                // where its components were issued from.
                storage_location: self
                    .receipt
                    .clone()
                    .or_else(|| {
                        self.wo
                            .components
                            .first()
                            .map(|c| c.storage_location.clone())
                    })
                    .unwrap_or_else(|| StorageLocation::parse("0001").expect("valid literal")),
                material: self.wo.material.clone(),
                batch,
                quantity: Quantity::from_milli(q, self.unit.clone()),
                posting_date: self.today,
                manufacture_date: self.today,
                genealogy: if self.profile == Profile::Batch {
                    self.genealogy.clone()
                } else {
                    Vec::new()
                },
                by_product: false,
            };
            self.push(EventKind::MaterialProduced, data);
        }
    }

    /// A by-product now and then: regrind, trim or offcuts fed back as the first
    /// component's raw material (SAP 531 against the order). Batch plants make them more
    /// often than discrete lines.
    fn by_product(&mut self) {
        let rate = match self.profile {
            Profile::Batch => 0.25,
            Profile::Discrete => 0.08,
        };
        let Some(c) = self.wo.components.first() else {
            return;
        };
        if self.md.material_in(&c.material, &self.plant).is_none() || !self.rng.random_bool(rate) {
            return;
        }
        let q = (c.quantity.milli / 10 / 1000).max(1) * 1000;
        let batch = self.next_batch('Y');
        let data = MaterialProduced {
            order: self.wo.order.clone(),
            plant: self.plant.clone(),
            storage_location: c.storage_location.clone(),
            material: c.material.clone(),
            batch,
            quantity: Quantity::from_milli(q, c.quantity.unit.clone()),
            posting_date: self.today,
            manufacture_date: self.today,
            genealogy: Vec::new(),
            by_product: true,
        };
        self.push(EventKind::MaterialProduced, data);
    }

    /// A nonconformance on 2 % of orders.
    fn nonconformance(&mut self) {
        if !self.rng.random_bool(0.02) {
            return;
        }
        let nc = format!("MNC{:07}", self.st.next_nc);
        self.st.next_nc += 1;
        let data = NonconformanceCreated {
            nonconformance: nc,
            type_: "Q2".into(),
            plant: self.plant.clone(),
            material: self.wo.material.clone(),
            batch: None,
            defect_code: "D-SEAL".into(),
            text: "Seal integrity deviation on line".into(),
        };
        self.push(EventKind::NonconformanceCreated, data);
    }
}
