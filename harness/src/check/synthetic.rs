//! A fabricated, consistent run — what a correct SUT's run looks like — of any size, for
//! tests and benchmarks of the checkers. Every source event is delivered once and
//! acknowledged, every flow's effects land once with the right source references,
//! idempotency keys and trace context, the ERP stock and the MES and WMS lots in the
//! snapshots follow from the activity, and one ERP `unavailable` fault is applied and
//! cleared in the middle (its 503 answers precede the retries that land). Every checker
//! passes on it, except ordering, which is unknown (nothing was reordered).

use std::collections::BTreeMap;

use andon_contracts::objects::StockType;
use andon_contracts::quantity::format_milli;
use andon_contracts::{CloudEvent, EventKind, PlantId, SourceRef, System};
use andon_simulators::MasterData;
use andon_simulators::history::{Entry, Outcome, Record};
use andon_simulators::masterdata::{PlantSpec, Profile};
use chrono::{DateTime, Duration, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{Expect, RunData};

/// Records one production cycle writes at most (a cycle is never cut short).
const CYCLE_MAX: usize = 64;

type Lot = (String, String, String);

#[derive(Clone)]
struct LotState {
    status: StockType,
    holds: Vec<String>,
    last_sequence: u64,
    quantity: Option<(i64, String)>,
}

struct Gen {
    records: Vec<Record>,
    rng: ChaCha8Rng,
    now: DateTime<Utc>,
    next_id: u64,
    sequences: BTreeMap<(String, String), u64>,
    stock: BTreeMap<(String, String, String, Option<String>, StockType), i64>,
    units: BTreeMap<String, String>,
    mes_lots: BTreeMap<Lot, LotState>,
    wms_lots: BTreeMap<Lot, LotState>,
    erp_down: bool,
}

fn st_name(st: StockType) -> &'static str {
    match st {
        StockType::Unrestricted => "unrestricted",
        StockType::QualityInspection => "quality_inspection",
        StockType::Blocked => "blocked",
    }
}

impl Gen {
    fn push(&mut self, system: System, entry: Entry) {
        self.now += Duration::microseconds(self.rng.random_range(20..200));
        self.records.push(Record {
            seq: self.records.len() as u64 + 1,
            at: self.now,
            system,
            entry,
        });
    }

    fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes * 2);
        for i in 0..bytes {
            let b: u8 = self.rng.random();
            let b = if i == 0 { b | 1 } else { b };
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Emits and delivers an event; returns its reference and trace id.
    fn emit(
        &mut self,
        system: System,
        kind: EventKind,
        subject: &str,
        data: Value,
    ) -> (SourceRef, String) {
        let source = format!("/andon/{}/1000", system.as_str());
        let seq = self
            .sequences
            .entry((source.clone(), subject.to_string()))
            .or_insert(0);
        *seq += 1;
        let sequence = *seq;
        self.next_id += 1;
        let id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            self.next_id >> 16,
            self.next_id
        );
        let trace = self.hex(16);
        let span = self.hex(8);
        let event = CloudEvent {
            specversion: "1.0".into(),
            id: id.clone(),
            source: source.clone(),
            type_: kind.type_name(),
            subject: subject.to_string(),
            time: self.now,
            datacontenttype: "application/json".into(),
            plant: PlantId::parse("1000").expect("valid literal"),
            sequence,
            traceparent: format!("00-{trace}-{span}-01"),
            data: data.into(),
        };
        let intended_at = self.now;
        self.push(
            system,
            Entry::EventEmitted {
                event: event.into(),
                intended_at,
                poison: None,
            },
        );
        let r = SourceRef { source, id };
        self.push(
            system,
            Entry::Delivery {
                event: r.clone(),
                attempt: 1,
                url: format!("http://127.0.0.1:9/events/{}", system.as_str()),
                outcome: Outcome::Ok,
                status: Some(202),
                error: None,
                content_type: Some("application/json".into()),
                rejected: false,
                latency_us: 800,
            },
        );
        (r, trace)
    }

    /// The SUT's call realising `src`, and the effect it commits.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        system: System,
        method: &str,
        path: &str,
        route: &str,
        src: &(SourceRef, String),
        effect: &str,
        key: String,
        detail: Value,
    ) {
        let traceparent = format!("00-{}-{}-01", src.1, self.hex(8));
        let idem = self.hex(16);
        if system == System::Erp && self.erp_down {
            // The fault answers first (without Retry-After here, so that the fabricated SUT
            // may retry at once and the clock need not stop); the retry lands.
            self.push(
                system,
                Entry::Request {
                    method: method.into(),
                    path: path.into(),
                    route: path.into(),
                    idempotency_key: Some(idem.clone()),
                    traceparent: Some(traceparent.clone()),
                    sources: Vec::new(),
                    body: None,
                    valid: None,
                    violations: Vec::new(),
                    status: 503,
                    content_type: Some("application/problem+json".into()),
                    problem: Some("service-unavailable".into()),
                    replayed: false,
                    fault: Some("unavailable".into()),
                    retry_after_s: None,
                    latency_us: 50,
                },
            );
            self.now += Duration::milliseconds(self.rng.random_range(50..400));
        }
        self.push(
            system,
            Entry::Request {
                method: method.into(),
                path: path.into(),
                route: route.into(),
                idempotency_key: Some(idem),
                traceparent: Some(traceparent.clone()),
                sources: vec![src.0.clone()],
                body: None,
                valid: Some(true),
                violations: Vec::new(),
                status: 201,
                content_type: Some("application/json".into()),
                problem: None,
                replayed: false,
                fault: None,
                retry_after_s: None,
                latency_us: 1200,
            },
        );
        self.push(
            system,
            Entry::Effect {
                effect: effect.into(),
                key,
                sources: vec![src.0.clone()],
                traceparent: Some(traceparent),
                outcome: Outcome::Ok,
                detail: detail.into(),
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn movement(
        &mut self,
        src: &(SourceRef, String),
        mvt: &str,
        material: &str,
        batch: &str,
        milli: i64,
        from: Option<StockType>,
        to: Option<StockType>,
    ) {
        let unit = self
            .units
            .get(material)
            .cloned()
            .unwrap_or_else(|| "PC".into());
        for (st, sign) in [(from, -1), (to, 1)] {
            if let Some(st) = st {
                *self
                    .stock
                    .entry((
                        "1000".into(),
                        "0001".into(),
                        material.into(),
                        Some(batch.into()),
                        st,
                    ))
                    .or_default() += sign * milli;
            }
        }
        let st = from.or(to).unwrap_or(StockType::Unrestricted);
        let q = json!({ "value": milli as f64 / 1000.0, "unit": unit });
        self.next_id += 1;
        let doc = format!("{}", 4_900_000_000u64 + self.next_id);
        self.call(
            System::Erp,
            "POST",
            "/api/v1/material-documents",
            "/api/v1/material-documents",
            src,
            "erp.goods_movement",
            format!("{mvt}:1000:{material}:{batch}"),
            json!({
                "material_document": doc, "year": 2026, "item": 1, "movement_type": mvt,
                "plant": "1000", "storage_location": "0001", "material": material, "batch": batch,
                "quantity": q, "quantity_base": q, "stock_type": st_name(st),
            }),
        );
    }

    fn lot_call(
        &mut self,
        system: System,
        what: &str,
        lot: &Lot,
        src: &(SourceRef, String),
        seq: u64,
        change: impl Fn(&mut LotState),
    ) {
        let lots = if system == System::Mes {
            &mut self.mes_lots
        } else {
            &mut self.wms_lots
        };
        let l = lots.entry(lot.clone()).or_insert(LotState {
            status: StockType::Unrestricted,
            holds: Vec::new(),
            last_sequence: 0,
            quantity: None,
        });
        let prev = l.last_sequence;
        change(l);
        l.last_sequence = l.last_sequence.max(seq);
        let l = l.clone();
        let (path, route, method) = match what {
            "hold" => (
                format!("/api/v1/lots/{}/{}/{}/holds", lot.0, lot.1, lot.2),
                "/api/v1/lots/{plant}/{material}/{batch}/holds",
                "POST",
            ),
            "release" => (
                format!("/api/v1/lots/{}/{}/{}/holds/H/release", lot.0, lot.1, lot.2),
                "/api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release",
                "POST",
            ),
            _ => (
                format!("/api/v1/lots/{}/{}/{}/status", lot.0, lot.1, lot.2),
                "/api/v1/lots/{plant}/{material}/{batch}/status",
                "PUT",
            ),
        };
        self.call(
            system,
            method,
            &path,
            route,
            src,
            &format!("{}.{what}", system.as_str()),
            format!("{}/{}/{}", lot.0, lot.1, lot.2),
            json!({
                "sequence": seq, "previous_sequence": prev, "stale": seq < prev,
                "status": st_name(l.status), "holds": l.holds,
                "available": l.status == StockType::Unrestricted && l.holds.is_empty(),
                "change": {},
            }),
        );
    }

    fn lot_json(lot: &Lot, l: &LotState) -> Value {
        let mut v = json!({
            "plant": lot.0, "material": lot.1, "batch": lot.2, "status": st_name(l.status),
            "holds": l.holds, "available": l.status == StockType::Unrestricted && l.holds.is_empty(),
            "last_sequence": l.last_sequence,
        });
        if let Some((q, unit)) = &l.quantity {
            v["quantity"] = json!({ "value": *q as f64 / 1000.0, "unit": unit });
        }
        v
    }
}

/// A consistent run of about `n` records (exactly `n`: the last cycle that fits is followed
/// by `synthetic.padding` notes), drawn from `seed`.
pub fn synthetic_history(n: usize, seed: u64) -> RunData {
    let master = MasterData::generate(
        seed,
        &[PlantSpec {
            id: PlantId::parse("1000").expect("valid literal"),
            lines: 2,
            materials: 6,
            profile: Profile::Discrete,
        }],
    );
    let start = DateTime::parse_from_rfc3339("2026-11-02T06:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default();
    let mut g = Gen {
        records: Vec::with_capacity(n),
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_C4EC),
        now: start,
        next_id: 0,
        sequences: BTreeMap::new(),
        stock: BTreeMap::new(),
        units: master
            .materials
            .iter()
            .map(|m| {
                (
                    m.material.as_str().to_string(),
                    m.base_unit.as_str().to_string(),
                )
            })
            .collect(),
        mes_lots: BTreeMap::new(),
        wms_lots: BTreeMap::new(),
        erp_down: false,
    };
    for s in &master.stock {
        *g.stock
            .entry((
                s.plant.as_str().into(),
                s.storage_location.as_str().into(),
                s.material.as_str().into(),
                s.batch.as_ref().map(|b| b.as_str().to_string()),
                s.stock_type,
            ))
            .or_default() += s.quantity.milli;
    }
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
    let (fault_on, fault_off) = (n * 2 / 5, n / 2);
    let mut fault_state = 0;
    let mut cycle = 0u64;
    while g.records.len() + CYCLE_MAX <= n {
        if fault_state == 0 && g.records.len() >= fault_on {
            g.push(
                System::Erp,
                Entry::Fault {
                    id: "erp-unavailable-1".into(),
                    action: "applied".into(),
                    kind: "unavailable".into(),
                    spec: json!({ "kind": "unavailable", "retry_after": "1s" }).into(),
                },
            );
            g.erp_down = true;
            fault_state = 1;
        } else if fault_state == 1 && g.records.len() >= fault_off {
            g.push(
                System::Erp,
                Entry::Fault {
                    id: "erp-unavailable-1".into(),
                    action: "cleared".into(),
                    kind: "unavailable".into(),
                    spec: json!({ "fired": 1 }).into(),
                },
            );
            g.erp_down = false;
            fault_state = 2;
        }
        cycle += 1;
        let order = format!("{}", 1_000_000 + cycle);
        let (fg, inspected) = fgs[g.rng.random_range(0..fgs.len())].clone();
        let fg_unit = g.units.get(&fg).cloned().unwrap_or_else(|| "PC".into());
        // 1. Order released → MES work order.
        let e = g.emit(
            System::Erp,
            EventKind::ProductionOrderReleased,
            &order,
            json!({ "order": order, "plant": "1000", "material": fg, "order_type": "PP01",
                    "planned_quantity": { "value": 10.0, "unit": fg_unit } }),
        );
        g.call(
            System::Mes,
            "POST",
            "/api/v1/work-orders",
            "/api/v1/work-orders",
            &e,
            "mes.work_order",
            order.clone(),
            json!({ "order": order }),
        );
        // 2. Consumption of one base unit of a raw batch → ERP 261.
        let (rm, rb) = raws[g.rng.random_range(0..raws.len())].clone();
        let rm_unit = g.units.get(&rm).cloned().unwrap_or_else(|| "PC".into());
        let e = g.emit(
            System::Mes,
            EventKind::MaterialConsumed,
            &order,
            json!({ "order": order, "plant": "1000", "storage_location": "0001", "material": rm, "batch": rb,
                    "quantity": { "value": 1.0, "unit": rm_unit }, "reservation_item": "0001", "posting_date": "2026-11-02" }),
        );
        g.movement(
            &e,
            "261",
            &rm,
            &rb,
            1000,
            Some(StockType::Unrestricted),
            None,
        );
        // 3. Confirmation → ERP confirmation.
        let e = g.emit(
            System::Mes,
            EventKind::OperationConfirmed,
            &order,
            json!({ "order": order, "operation": "0010", "plant": "1000", "work_center": "LINE-1",
                    "yield": { "value": 10.0, "unit": fg_unit }, "scrap": { "value": 0.0, "unit": fg_unit },
                    "rework": { "value": 0.0, "unit": fg_unit }, "final": true, "posting_date": "2026-11-02" }),
        );
        g.call(
            System::Erp,
            "POST",
            "/api/v1/confirmations",
            "/api/v1/confirmations",
            &e,
            "erp.confirmation",
            format!("{order}/0010"),
            json!({ "confirmation_group": order }),
        );
        // 4. Output → ERP 101, WMS receipt, QMS inspection lot.
        let batch = format!("P1{cycle:08}");
        let lot: Lot = ("1000".into(), fg.clone(), batch.clone());
        let e = g.emit(
            System::Mes,
            EventKind::MaterialProduced,
            &order,
            json!({ "order": order, "plant": "1000", "storage_location": "0001", "material": fg, "batch": batch,
                    "quantity": { "value": 10.0, "unit": fg_unit }, "posting_date": "2026-11-02",
                    "manufacture_date": "2026-11-02", "genealogy": [], "by_product": false }),
        );
        let receipt_type = if inspected {
            StockType::QualityInspection
        } else {
            StockType::Unrestricted
        };
        g.movement(&e, "101", &fg, &batch, 10_000, None, Some(receipt_type));
        g.wms_lots.insert(
            lot.clone(),
            LotState {
                status: receipt_type,
                holds: Vec::new(),
                last_sequence: 0,
                quantity: Some((10_000, fg_unit.clone())),
            },
        );
        g.call(
            System::Wms,
            "POST",
            "/api/v1/receipts",
            "/api/v1/receipts",
            &e,
            "wms.receipt",
            format!("1000/{fg}/{batch}"),
            json!({ "on_hand_after": 10_000 }),
        );
        if inspected {
            g.call(
                System::Qms,
                "POST",
                "/api/v1/inspection-lots",
                "/api/v1/inspection-lots",
                &e,
                "qms.inspection_lot",
                format!("1000/{fg}/{batch}"),
                json!({ "origin": "04" }),
            );
            // 5. Usage decision A → ERP 321, MES and WMS lot status.
            let subject = format!("{fg}/{batch}");
            let e = g.emit(
                System::Qms,
                EventKind::UsageDecisionMade,
                &subject,
                json!({ "inspection_lot": format!("{:012}", cycle), "plant": "1000", "storage_location": "0001",
                        "material": fg, "batch": batch, "quantity": { "value": 10.0, "unit": fg_unit },
                        "code": "A1", "valuation": "A" }),
            );
            let seq = g.sequences[&("/andon/qms/1000".to_string(), subject.clone())];
            g.movement(
                &e,
                "321",
                &fg,
                &batch,
                10_000,
                Some(StockType::QualityInspection),
                Some(StockType::Unrestricted),
            );
            for sys in [System::Mes, System::Wms] {
                g.lot_call(sys, "lot_status", &lot, &e, seq, |l| {
                    l.status = StockType::Unrestricted
                });
            }
        }
        // 6. Every fifth lot: a hold, then its release.
        if cycle.is_multiple_of(5) {
            let subject = format!("{fg}/{batch}");
            let hold = format!("H{cycle:07}");
            let e = g.emit(
                System::Qms,
                EventKind::LotHoldPlaced,
                &subject,
                json!({ "hold_id": hold, "plant": "1000", "material": fg, "batch": batch, "scope": "batch",
                        "reason_code": "QH01", "placed_at": g.now }),
            );
            let seq = g.sequences[&("/andon/qms/1000".to_string(), subject.clone())];
            for sys in [System::Mes, System::Wms] {
                let h = hold.clone();
                g.lot_call(sys, "hold", &lot, &e, seq, move |l| l.holds.push(h.clone()));
            }
            let e = g.emit(
                System::Qms,
                EventKind::LotHoldReleased,
                &subject,
                json!({ "hold_id": hold, "plant": "1000", "material": fg, "batch": batch, "released_at": g.now }),
            );
            let seq = g.sequences[&("/andon/qms/1000".to_string(), subject.clone())];
            for sys in [System::Mes, System::Wms] {
                let h = hold.clone();
                g.lot_call(sys, "release", &lot, &e, seq, move |l| {
                    l.holds.retain(|x| *x != h)
                });
            }
        }
        // 7. Shipment of three units of an available lot → ERP 601.
        let available = g
            .wms_lots
            .get(&lot)
            .is_some_and(|l| l.status == StockType::Unrestricted && l.holds.is_empty());
        if available {
            let delivery = format!("{}", 80_000_000 + cycle);
            g.push(
                System::Wms,
                Entry::Note {
                    name: "wms.pick".into(),
                    detail: json!({ "delivery": delivery, "plant": "1000", "material": fg, "batch": batch,
                                    "quantity": { "value": 3.0, "unit": fg_unit }, "holds": [] }).into(),
                },
            );
            if let Some(l) = g.wms_lots.get_mut(&lot) {
                l.quantity = Some((7_000, fg_unit.clone()));
            }
            let e = g.emit(
                System::Wms,
                EventKind::ShipmentConfirmed,
                &delivery,
                json!({ "delivery": delivery, "plant": "1000", "shipped_at": g.now, "items": [
                    { "item": "000010", "material": fg, "batch": batch, "storage_location": "0001",
                      "quantity": { "value": 3.0, "unit": fg_unit } } ] }),
            );
            g.movement(
                &e,
                "601",
                &fg,
                &batch,
                3_000,
                Some(StockType::Unrestricted),
                None,
            );
        }
    }
    while g.records.len() < n {
        g.push(
            System::Wms,
            Entry::Note {
                name: "synthetic.padding".into(),
                detail: andon_contracts::Json::null(),
            },
        );
    }
    let stock: Vec<Value> = g
        .stock
        .iter()
        .filter(|(_, q)| **q != 0)
        .map(|(k, q)| {
            json!({
                "plant": k.0, "storage_location": k.1, "material": k.2, "batch": k.3,
                "stock_type": st_name(k.4),
                "quantity": { "value": format_milli(*q).parse::<f64>().unwrap_or(0.0),
                              "unit": g.units.get(&k.2).cloned().unwrap_or_else(|| "PC".into()) },
            })
        })
        .collect();
    let mut snapshots = BTreeMap::new();
    snapshots.insert(System::Erp, json!({ "system": "erp", "stock": stock }));
    snapshots.insert(
        System::Mes,
        json!({ "system": "mes", "lots": g.mes_lots.iter().map(|(k, l)| Gen::lot_json(k, &Gen::without_quantity(l))).collect::<Vec<_>>() }),
    );
    snapshots.insert(
        System::Wms,
        json!({ "system": "wms", "lots": g.wms_lots.iter().map(|(k, l)| Gen::lot_json(k, l)).collect::<Vec<_>>() }),
    );
    snapshots.insert(
        System::Qms,
        json!({ "system": "qms", "inspection_lots": [], "holds": [] }),
    );
    RunData {
        records: g.records,
        snapshots,
        master,
        expect: Expect::default(),
        dead_letters: Some(Vec::new()),
    }
}

impl Gen {
    fn without_quantity(l: &LotState) -> LotState {
        LotState {
            quantity: None,
            ..l.clone()
        }
    }
}
