//! One production cycle of the synthetic run, step by step: an order released, a raw
//! material consumed, the operation confirmed, the output received (and inspected), every
//! fifth lot held and released, and a shipment of an available lot.

use andon_contracts::objects::StockType;
use andon_contracts::{EventKind, SourceRef, System};
use andon_simulators::MasterData;
use andon_simulators::history::Entry;
use rand::RngExt;
use serde_json::{Value, json};

use super::builder::{Gen, Lot, LotState};

/// An emitted event's reference and trace id.
type Emitted = (SourceRef, String);

/// The materials a cycle draws from.
pub(super) struct Materials {
    /// Raw materials with a batch in stock: (material, batch).
    raws: Vec<(String, String)>,
    /// Finished goods: (material, whether it needs inspection).
    fgs: Vec<(String, bool)>,
}

impl Materials {
    /// The raw batches in the master data's stock and its finished goods.
    pub(super) fn of(master: &MasterData) -> Self {
        let raws: Vec<(String, String)> = master
            .stock
            .iter()
            .filter_map(|s| {
                Some((
                    s.material.as_str().to_string(),
                    s.batch.as_ref()?.as_str().to_string(),
                ))
            })
            .collect();
        let fgs: Vec<(String, bool)> = master
            .materials
            .iter()
            .filter(|m| m.material.as_str().starts_with("FG-"))
            .map(|m| (m.material.as_str().to_string(), m.inspection_required))
            .collect();
        Self { raws, fgs }
    }
}

/// What one cycle makes: its production order and finished good.
struct Cycle {
    /// The cycle's number (from 1).
    n: u64,
    /// The production order.
    order: String,
    /// The finished good.
    fg: String,
    /// Whether it needs inspection.
    inspected: bool,
    /// Its base unit.
    fg_unit: String,
}

impl Gen {
    /// The ERP `unavailable` fault `applied` or `cleared`.
    pub(super) fn erp_fault(&mut self, action: &str, spec: Value) {
        self.push(
            System::Erp,
            Entry::Fault {
                id: "erp-unavailable-1".into(),
                action: action.into(),
                kind: "unavailable".into(),
                spec: spec.into(),
            },
        );
        self.erp_down = action == "applied";
    }

    /// Production cycle number `n`.
    pub(super) fn cycle(&mut self, n: u64, materials: &Materials) {
        let order = format!("{}", 1_000_000 + n);
        let fgs = &materials.fgs;
        let (fg, inspected) = fgs[self.rng.random_range(0..fgs.len())].clone();
        let fg_unit = self.units.get(&fg).cloned().unwrap_or_else(|| "PC".into());
        let c = Cycle {
            n,
            order,
            fg,
            inspected,
            fg_unit,
        };
        self.release_order(&c);
        self.consume(&c, materials);
        self.confirm(&c);
        let (lot, e) = self.produce(&c);
        if c.inspected {
            self.inspect(&c, &lot, &e);
        }
        if c.n.is_multiple_of(5) {
            self.hold_and_release(&c, &lot);
        }
        self.ship(&c, &lot);
    }

    /// 1. Order released → MES work order.
    fn release_order(&mut self, c: &Cycle) {
        let Cycle {
            order, fg, fg_unit, ..
        } = c;
        let e = self.emit(
            System::Erp,
            EventKind::ProductionOrderReleased,
            order,
            json!({ "order": order, "plant": "1000", "material": fg, "order_type": "PP01",
                    "planned_quantity": { "value": 10.0, "unit": fg_unit } }),
        );
        self.call(
            System::Mes,
            "POST",
            "/api/v1/work-orders",
            "/api/v1/work-orders",
            &e,
            "mes.work_order",
            order.clone(),
            json!({ "order": order }),
        );
    }

    /// 2. Consumption of one base unit of a raw batch → ERP 261.
    fn consume(&mut self, c: &Cycle, materials: &Materials) {
        let order = &c.order;
        let raws = &materials.raws;
        let (rm, rb) = raws[self.rng.random_range(0..raws.len())].clone();
        let rm_unit = self.units.get(&rm).cloned().unwrap_or_else(|| "PC".into());
        let e = self.emit(
            System::Mes,
            EventKind::MaterialConsumed,
            order,
            json!({ "order": order, "plant": "1000", "storage_location": "0001", "material": rm, "batch": rb,
                    "quantity": { "value": 1.0, "unit": rm_unit }, "reservation_item": "0001", "posting_date": "2026-11-02" }),
        );
        self.movement(
            &e,
            "261",
            &rm,
            &rb,
            1000,
            Some(StockType::Unrestricted),
            None,
        );
    }

    /// 3. Confirmation → ERP confirmation.
    fn confirm(&mut self, c: &Cycle) {
        let Cycle { order, fg_unit, .. } = c;
        let e = self.emit(
            System::Mes,
            EventKind::OperationConfirmed,
            order,
            json!({ "order": order, "operation": "0010", "plant": "1000", "work_center": "LINE-1",
                    "yield": { "value": 10.0, "unit": fg_unit }, "scrap": { "value": 0.0, "unit": fg_unit },
                    "rework": { "value": 0.0, "unit": fg_unit }, "final": true, "posting_date": "2026-11-02" }),
        );
        self.call(
            System::Erp,
            "POST",
            "/api/v1/confirmations",
            "/api/v1/confirmations",
            &e,
            "erp.confirmation",
            format!("{order}/0010"),
            json!({ "confirmation_group": order }),
        );
    }

    /// 4. Output → ERP 101 and WMS receipt; the lot made and the production event.
    fn produce(&mut self, c: &Cycle) -> (Lot, Emitted) {
        let Cycle {
            n,
            order,
            fg,
            inspected,
            fg_unit,
        } = c;
        let batch = format!("P1{n:08}");
        let lot: Lot = ("1000".into(), fg.clone(), batch.clone());
        let e = self.emit(
            System::Mes,
            EventKind::MaterialProduced,
            order,
            json!({ "order": order, "plant": "1000", "storage_location": "0001", "material": fg, "batch": batch,
                    "quantity": { "value": 10.0, "unit": fg_unit }, "posting_date": "2026-11-02",
                    "manufacture_date": "2026-11-02", "genealogy": [], "by_product": false }),
        );
        let receipt_type = if *inspected {
            StockType::QualityInspection
        } else {
            StockType::Unrestricted
        };
        self.movement(&e, "101", fg, &batch, 10_000, None, Some(receipt_type));
        self.wms_lots.insert(
            lot.clone(),
            LotState {
                status: receipt_type,
                holds: Vec::new(),
                last_sequence: 0,
                quantity: Some((10_000, fg_unit.clone())),
            },
        );
        self.call(
            System::Wms,
            "POST",
            "/api/v1/receipts",
            "/api/v1/receipts",
            &e,
            "wms.receipt",
            format!("1000/{fg}/{batch}"),
            json!({ "on_hand_after": 10_000 }),
        );
        (lot, e)
    }

    /// 4. (continued) The QMS inspection lot for the production event `e`; then
    ///    5. the usage decision A → ERP 321, MES and WMS lot status.
    fn inspect(&mut self, c: &Cycle, lot: &Lot, e: &Emitted) {
        let Cycle { n, fg, fg_unit, .. } = c;
        let batch = &lot.2;
        self.call(
            System::Qms,
            "POST",
            "/api/v1/inspection-lots",
            "/api/v1/inspection-lots",
            e,
            "qms.inspection_lot",
            format!("1000/{fg}/{batch}"),
            json!({ "origin": "04" }),
        );
        let subject = format!("{fg}/{batch}");
        let e = self.emit(
            System::Qms,
            EventKind::UsageDecisionMade,
            &subject,
            json!({ "inspection_lot": format!("{:012}", n), "plant": "1000", "storage_location": "0001",
                    "material": fg, "batch": batch, "quantity": { "value": 10.0, "unit": fg_unit },
                    "code": "A1", "valuation": "A" }),
        );
        let seq = self.sequences[&("/andon/qms/1000".to_string(), subject.clone())];
        self.movement(
            &e,
            "321",
            fg,
            batch,
            10_000,
            Some(StockType::QualityInspection),
            Some(StockType::Unrestricted),
        );
        for sys in [System::Mes, System::Wms] {
            self.lot_call(sys, "lot_status", lot, &e, seq, |l| {
                l.status = StockType::Unrestricted
            });
        }
    }

    /// 6. Every fifth lot: a hold, then its release.
    fn hold_and_release(&mut self, c: &Cycle, lot: &Lot) {
        let Cycle { n, fg, .. } = c;
        let batch = &lot.2;
        let subject = format!("{fg}/{batch}");
        let hold = format!("H{n:07}");
        let e = self.emit(
            System::Qms,
            EventKind::LotHoldPlaced,
            &subject,
            json!({ "hold_id": hold, "plant": "1000", "material": fg, "batch": batch, "scope": "batch",
                    "reason_code": "QH01", "placed_at": self.now }),
        );
        let seq = self.sequences[&("/andon/qms/1000".to_string(), subject.clone())];
        for sys in [System::Mes, System::Wms] {
            let h = hold.clone();
            self.lot_call(sys, "hold", lot, &e, seq, move |l| l.holds.push(h.clone()));
        }
        let e = self.emit(
            System::Qms,
            EventKind::LotHoldReleased,
            &subject,
            json!({ "hold_id": hold, "plant": "1000", "material": fg, "batch": batch, "released_at": self.now }),
        );
        let seq = self.sequences[&("/andon/qms/1000".to_string(), subject.clone())];
        for sys in [System::Mes, System::Wms] {
            let h = hold.clone();
            self.lot_call(sys, "release", lot, &e, seq, move |l| {
                l.holds.retain(|x| *x != h)
            });
        }
    }

    /// 7. Shipment of three units of the lot, when available → ERP 601.
    fn ship(&mut self, c: &Cycle, lot: &Lot) {
        let Cycle { n, fg, fg_unit, .. } = c;
        let batch = &lot.2;
        let available = self
            .wms_lots
            .get(lot)
            .is_some_and(|l| l.status == StockType::Unrestricted && l.holds.is_empty());
        if !available {
            return;
        }
        let delivery = format!("{}", 80_000_000 + n);
        self.push(
            System::Wms,
            Entry::Note {
                name: "wms.pick".into(),
                detail:
                    json!({ "delivery": delivery, "plant": "1000", "material": fg, "batch": batch,
                                "quantity": { "value": 3.0, "unit": fg_unit }, "holds": [] })
                    .into(),
            },
        );
        if let Some(l) = self.wms_lots.get_mut(lot) {
            l.quantity = Some((7_000, fg_unit.clone()));
        }
        let e = self.emit(
            System::Wms,
            EventKind::ShipmentConfirmed,
            &delivery,
            json!({ "delivery": delivery, "plant": "1000", "shipped_at": self.now, "items": [
                { "item": "000010", "material": fg, "batch": batch, "storage_location": "0001",
                  "quantity": { "value": 3.0, "unit": fg_unit } } ] }),
        );
        self.movement(
            &e,
            "601",
            fg,
            batch,
            3_000,
            Some(StockType::Unrestricted),
            None,
        );
    }
}
