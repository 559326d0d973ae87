//! Hand-built histories: a builder that writes the records the simulators would write.

use std::collections::BTreeMap;
use std::path::PathBuf;

use andon::check::{Expect, RunData, Status, Verdict};
use andon_contracts::{CloudEvent, PlantId, SourceRef, System};
use andon_simulators::MasterData;
use andon_simulators::history::{Entry, Outcome, Record, RequestEntry};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("check-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Plant 1000 with one raw material (KG, also in G), one finished good that needs
/// inspection (FG-1) and one that does not (FG-2), and 100 KG of RM-1 batch R1.
pub fn master() -> MasterData {
    MasterData::parse(
        r#"
plants:
  - plant: "1000"
materials:
  - material: RM-1
    base_unit: KG
    alternative_units: [{ unit: G, numerator: 1, denominator: 1000 }]
    plants: ["1000"]
  - material: FG-1
    base_unit: PC
    inspection_required: true
    plants: ["1000"]
  - material: FG-2
    base_unit: PC
    plants: ["1000"]
stock:
  - { plant: "1000", storage_location: "0001", material: RM-1, batch: R1, quantity: { value: 100, unit: KG } }
"#,
        "test master",
    )
    .expect("test master data is valid")
}

/// An emitted event as the tests refer to it.
#[derive(Debug, Clone)]
pub struct Ev {
    pub r: SourceRef,
    pub trace: String,
    pub system: System,
}

/// Builds a history record by record; the clock moves only when told.
pub struct H {
    pub records: Vec<Record>,
    pub start: DateTime<Utc>,
    pub now: DateTime<Utc>,
    n: u64,
    sequences: BTreeMap<(String, String), u64>,
    pub snapshots: BTreeMap<System, Value>,
    pub expect: Expect,
    pub dead_letters: Option<Vec<Value>>,
    pub master: MasterData,
}

impl Default for H {
    fn default() -> Self {
        Self::new()
    }
}

impl H {
    pub fn new() -> Self {
        let start = DateTime::parse_from_rfc3339("2026-11-02T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Self {
            records: Vec::new(),
            start,
            now: start,
            n: 0,
            sequences: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            expect: Expect::default(),
            dead_letters: Some(Vec::new()),
            master: master(),
        }
    }

    /// Sets the clock to `ms` after the start.
    pub fn at(&mut self, ms: i64) -> &mut Self {
        self.now = self.start + Duration::milliseconds(ms);
        self
    }

    pub fn push(&mut self, system: System, entry: Entry) -> usize {
        self.records.push(Record {
            seq: self.records.len() as u64 + 1,
            at: self.now,
            system,
            entry,
        });
        self.records.len() - 1
    }

    fn event(
        &mut self,
        system: System,
        kind: &str,
        subject: &str,
        data: Value,
        poison: Option<&str>,
    ) -> Ev {
        self.n += 1;
        let source = format!("/andon/{system}/1000");
        let seq = self
            .sequences
            .entry((source.clone(), subject.to_string()))
            .or_insert(0);
        *seq += 1;
        let sequence = *seq;
        let trace = format!("{:032x}", 0xabc0_0000_u128 + u128::from(self.n));
        let traceparent = format!("00-{trace}-{:016x}-01", 0x1000 + self.n);
        let event = CloudEvent {
            specversion: "1.0".into(),
            id: format!("ev-{}", self.n),
            source: source.clone(),
            type_: format!("andon.{kind}.v1"),
            subject: subject.into(),
            time: self.now,
            datacontenttype: "application/json".into(),
            plant: PlantId::parse("1000").unwrap(),
            sequence,
            traceparent,
            data: data.into(),
        };
        let r = event.key();
        let intended_at = self.now;
        self.push(
            system,
            Entry::EventEmitted {
                event: event.into(),
                intended_at,
                poison: poison.map(str::to_string),
            },
        );
        Ev { r, trace, system }
    }

    /// Emits an event (not delivered yet).
    pub fn emit(&mut self, system: System, kind: &str, subject: &str, data: Value) -> Ev {
        self.event(system, kind, subject, data, None)
    }

    /// Emits a poison event.
    pub fn emit_poison(&mut self, system: System, kind: &str, subject: &str, data: Value) -> Ev {
        self.event(system, kind, subject, data, Some("unknown master data"))
    }

    /// One delivery attempt answered `status`.
    pub fn deliver(&mut self, ev: &Ev, status: u16) -> &mut Self {
        let rejected = (400..500).contains(&status) && status != 408 && status != 429;
        self.push(
            ev.system,
            Entry::Delivery {
                event: ev.r.clone(),
                attempt: 1,
                url: "http://sut/events".into(),
                outcome: if (200..300).contains(&status) {
                    Outcome::Ok
                } else {
                    Outcome::Fail
                },
                status: Some(status),
                puback: None,
                error: None,
                content_type: Some(if status >= 400 {
                    "application/problem+json".into()
                } else {
                    "application/json".into()
                }),
                rejected,
                latency_us: 500,
            },
        );
        self
    }

    /// Emits and acknowledges an event.
    pub fn acked(&mut self, system: System, kind: &str, subject: &str, data: Value) -> Ev {
        let ev = self.emit(system, kind, subject, data);
        self.deliver(&ev, 202);
        ev
    }

    /// A request from the SUT.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        system: System,
        method: &str,
        route: &str,
        sources: &[&Ev],
        status: u16,
        problem: Option<&str>,
        idempotency_key: Option<&str>,
        traceparent: Option<&str>,
    ) -> usize {
        self.push(
            system,
            Entry::Request(Box::new(RequestEntry {
                method: method.into(),
                path: route.into(),
                route: route.into(),
                idempotency_key: idempotency_key.map(str::to_string),
                traceparent: traceparent.map(str::to_string),
                sources: sources.iter().map(|e| e.r.clone()).collect(),
                body: None,
                valid: Some(true),
                violations: Vec::new(),
                status,
                content_type: Some(if status >= 400 {
                    "application/problem+json".into()
                } else {
                    "application/json".into()
                }),
                problem: problem.map(str::to_string),
                replayed: false,
                fault: None,
                retry_after_s: None,
                if_match: None,
                latency_us: 900,
                dialect: None,
            })),
        )
    }

    /// A correct call realising `ev` (201) — without the effect.
    pub fn ok_request(&mut self, system: System, method: &str, route: &str, ev: &Ev) -> usize {
        let tp = format!("00-{}-00000000000000aa-01", ev.trace);
        self.request(
            system,
            method,
            route,
            &[ev],
            201,
            None,
            Some("key"),
            Some(&tp),
        )
    }

    /// A call rejected with 422 `problem`.
    pub fn rejected(&mut self, system: System, route: &str, ev: &Ev, problem: &str) -> usize {
        let tp = format!("00-{}-00000000000000aa-01", ev.trace);
        self.request(
            system,
            "POST",
            route,
            &[ev],
            422,
            Some(problem),
            Some("key"),
            Some(&tp),
        )
    }

    /// Sets the path of request record `i` (its route stays the template).
    pub fn with_path(&mut self, i: usize, to: &str) -> &mut Self {
        if let Some(RequestEntry { path, .. }) = self.records[i].entry.request_mut() {
            *path = to.to_string();
        }
        self
    }

    /// Sets the body the SUT sent on request record `i`.
    pub fn with_body(&mut self, i: usize, body: Value) -> &mut Self {
        if let Some(RequestEntry { body: b, .. }) = self.records[i].entry.request_mut() {
            *b = Some(body.into());
        }
        self
    }

    /// An effect.
    pub fn effect(
        &mut self,
        system: System,
        name: &str,
        key: &str,
        sources: &[&Ev],
        detail: Value,
    ) -> usize {
        let tp = sources
            .first()
            .map(|e| format!("00-{}-00000000000000aa-01", e.trace));
        self.push(
            system,
            Entry::Effect {
                effect: name.into(),
                key: key.into(),
                sources: sources.iter().map(|e| e.r.clone()).collect(),
                traceparent: tp,
                outcome: Outcome::Ok,
                detail: detail.into(),
            },
        )
    }

    /// A correct call and its effect.
    pub fn lands(
        &mut self,
        system: System,
        name: &str,
        key: &str,
        ev: &Ev,
        detail: Value,
    ) -> usize {
        let route = match name {
            "erp.goods_movement" => "/api/v1/material-documents",
            "erp.confirmation" => "/api/v1/confirmations",
            "mes.work_order" => "/api/v1/work-orders",
            "wms.receipt" => "/api/v1/receipts",
            "qms.inspection_lot" => "/api/v1/inspection-lots",
            _ => "/api/v1/lots/{plant}/{material}/{batch}/holds",
        };
        self.ok_request(system, "POST", route, ev);
        self.effect(system, name, key, &[ev], detail)
    }

    /// A goods movement effect (and its call) realising `ev`.
    pub fn gm(
        &mut self,
        ev: &Ev,
        mvt: &str,
        material: &str,
        batch: &str,
        qty: f64,
        unit: &str,
    ) -> usize {
        self.lands(
            System::Erp,
            "erp.goods_movement",
            &format!("{mvt}:1000:{material}:{batch}"),
            ev,
            gm_detail(mvt, material, batch, qty, unit),
        )
    }

    /// A lot status effect at MES or WMS.
    #[allow(clippy::too_many_arguments)]
    pub fn lot_effect(
        &mut self,
        system: System,
        what: &str,
        lot: (&str, &str),
        ev: &Ev,
        sequence: u64,
        previous: u64,
        status: &str,
        holds: &[&str],
    ) -> usize {
        self.lands(
            system,
            &format!("{system}.{what}"),
            &format!("1000/{}/{}", lot.0, lot.1),
            ev,
            json!({
                "sequence": sequence, "previous_sequence": previous, "stale": sequence < previous,
                "status": status, "holds": holds,
                "available": status == "unrestricted" && holds.is_empty(), "change": {},
            }),
        )
    }

    pub fn fault(&mut self, system: System, id: &str, action: &str, kind: &str) -> usize {
        self.push(
            system,
            Entry::Fault {
                id: id.into(),
                action: action.into(),
                kind: kind.into(),
                spec: json!({ "kind": kind }).into(),
            },
        )
    }

    pub fn note(&mut self, system: System, name: &str, detail: Value) -> usize {
        self.push(
            system,
            Entry::Note {
                name: name.into(),
                detail: detail.into(),
            },
        )
    }

    pub fn stock(&mut self, rows: &[(&str, &str, &str, f64, &str)]) -> &mut Self {
        let rows: Vec<Value> = rows
            .iter()
            .map(|(m, b, st, q, u)| {
                json!({ "plant": "1000", "storage_location": "0001", "material": m, "batch": b,
                        "stock_type": st, "quantity": { "value": q, "unit": u } })
            })
            .collect();
        self.snapshots
            .insert(System::Erp, json!({ "system": "erp", "stock": rows }));
        self
    }

    pub fn lots(&mut self, system: System, lots: &[(&str, &str, &str, &[&str])]) -> &mut Self {
        let lots: Vec<Value> = lots
            .iter()
            .map(|(m, b, st, holds)| {
                json!({ "plant": "1000", "material": m, "batch": b, "status": st, "holds": holds,
                        "available": *st == "unrestricted" && holds.is_empty(), "last_sequence": 1 })
            })
            .collect();
        self.snapshots
            .insert(system, json!({ "system": system.as_str(), "lots": lots }));
        self
    }

    pub fn run(&self) -> RunData {
        RunData {
            records: self.records.clone(),
            snapshots: self.snapshots.clone(),
            master: self.master.clone(),
            expect: self.expect.clone(),
            dead_letters: self.dead_letters.clone(),
        }
    }
}

pub fn gm_detail(mvt: &str, material: &str, batch: &str, qty: f64, unit: &str) -> Value {
    json!({
        "material_document": "4900000001", "year": 2026, "item": 1, "movement_type": mvt,
        "plant": "1000", "storage_location": "0001", "material": material, "batch": batch,
        "quantity": { "value": qty, "unit": unit }, "quantity_base": { "value": qty, "unit": unit },
        "stock_type": "unrestricted", "reversal_of": null,
    })
}

pub fn q(value: f64, unit: &str) -> Value {
    json!({ "value": value, "unit": unit })
}

pub fn consumed(order: &str, material: &str, batch: &str, qty: Value) -> Value {
    json!({ "order": order, "plant": "1000", "storage_location": "0001", "material": material,
            "batch": batch, "quantity": qty, "reservation_item": "0001", "posting_date": "2026-11-02" })
}

pub fn produced(order: &str, material: &str, batch: &str, qty: Value) -> Value {
    json!({ "order": order, "plant": "1000", "storage_location": "0001", "material": material,
            "batch": batch, "quantity": qty, "posting_date": "2026-11-02",
            "manufacture_date": "2026-11-02", "genealogy": [], "by_product": false })
}

pub fn decision(material: &str, batch: &str, qty: Value, valuation: &str) -> Value {
    json!({ "inspection_lot": "010000000001", "plant": "1000", "storage_location": "0001",
            "material": material, "batch": batch, "quantity": qty,
            "code": format!("{valuation}1"), "valuation": valuation })
}

pub fn hold(id: &str, material: &str, batch: &str) -> Value {
    json!({ "hold_id": id, "plant": "1000", "material": material, "batch": batch, "scope": "batch",
            "reason_code": "QH01", "placed_at": "2026-11-02T06:00:00Z" })
}

pub fn release(id: &str, material: &str, batch: &str) -> Value {
    json!({ "hold_id": id, "plant": "1000", "material": material, "batch": batch,
            "released_at": "2026-11-02T06:00:00Z" })
}

pub fn shipment(delivery: &str, items: &[(&str, &str, f64, &str)]) -> Value {
    json!({ "delivery": delivery, "plant": "1000", "shipped_at": "2026-11-02T06:00:00Z",
            "items": items.iter().enumerate().map(|(i, (m, b, qty, u))| json!({
                "item": format!("{:06}", (i + 1) * 10), "material": m, "batch": b,
                "storage_location": "0001", "quantity": { "value": qty, "unit": u } })).collect::<Vec<_>>() })
}

/// Panics with the verdict when the status is not `want`.
pub fn assert_status(v: &Verdict, want: Status) {
    assert_eq!(
        v.status,
        want,
        "{} was {:?}, expected {want:?}: {}",
        v.checker,
        v.status,
        serde_json::to_string_pretty(v).unwrap()
    );
}
