//! The synthetic run's builder: the records, the clock, the random draws, and the stock
//! and lots a correct SUT's calls leave behind.

use std::collections::BTreeMap;

use andon_contracts::objects::StockType;
use andon_contracts::{CloudEvent, EventKind, PlantId, SourceRef, System};
use andon_simulators::history::{Entry, Outcome, Record, RequestEntry};
use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// A lot: plant, material, batch.
pub(super) type Lot = (String, String, String);

/// A stock balance's key: plant, storage location, material, batch, stock type.
pub(super) type StockKey = (String, String, String, Option<String>, StockType);

/// A lot as the MES or WMS holds it.
#[derive(Clone)]
pub(super) struct LotState {
    /// Its status.
    pub(super) status: StockType,
    /// The holds in force.
    pub(super) holds: Vec<String>,
    /// The highest sequence applied.
    pub(super) last_sequence: u64,
    /// Its quantity and unit, in thousandths (the WMS only).
    pub(super) quantity: Option<(i64, String)>,
}

/// The run being fabricated.
pub(super) struct Gen {
    /// The history so far.
    pub(super) records: Vec<Record>,
    /// The random draws.
    pub(super) rng: ChaCha8Rng,
    /// The clock.
    pub(super) now: DateTime<Utc>,
    /// The last number drawn for ids and documents.
    pub(super) next_id: u64,
    /// The last sequence per (source, subject).
    pub(super) sequences: BTreeMap<(String, String), u64>,
    /// The ERP stock, in thousandths of the base unit.
    pub(super) stock: BTreeMap<StockKey, i64>,
    /// Each material's base unit.
    pub(super) units: BTreeMap<String, String>,
    /// The MES's lots.
    pub(super) mes_lots: BTreeMap<Lot, LotState>,
    /// The WMS's lots.
    pub(super) wms_lots: BTreeMap<Lot, LotState>,
    /// Whether the ERP `unavailable` fault is in force.
    pub(super) erp_down: bool,
}

/// A stock type as the snapshots spell it.
pub(super) fn st_name(st: StockType) -> &'static str {
    match st {
        StockType::Unrestricted => "unrestricted",
        StockType::QualityInspection => "quality_inspection",
        StockType::Blocked => "blocked",
    }
}

impl Gen {
    /// Appends a record, the clock moving on by 20 to 200 µs.
    pub(super) fn push(&mut self, system: System, entry: Entry) {
        self.now += Duration::microseconds(self.rng.random_range(20..200));
        self.records.push(Record {
            seq: self.records.len() as u64 + 1,
            at: self.now,
            system,
            entry,
        });
    }

    /// `bytes` random bytes in hex (the first one odd, so never all zero).
    pub(super) fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes * 2);
        for i in 0..bytes {
            let b: u8 = self.rng.random();
            let b = if i == 0 { b | 1 } else { b };
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Emits and delivers an event; returns its reference and trace id.
    pub(super) fn emit(
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
                puback: None,
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
    pub(super) fn call(
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
                Entry::Request(Box::new(RequestEntry {
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
                    if_match: None,
                    latency_us: 50,
                    dialect: None,
                })),
            );
            self.now += Duration::milliseconds(self.rng.random_range(50..400));
        }
        self.push(
            system,
            Entry::Request(Box::new(RequestEntry {
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
                if_match: None,
                latency_us: 1200,
                dialect: None,
            })),
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

    /// The ERP goods movement realising `src`: books it in the stock and records the call
    /// and its effect.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn movement(
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

    /// The MES or WMS call realising `src` on a lot (`hold`, `release`, `lot_status`):
    /// applies `change` to the lot and records the call and its effect.
    pub(super) fn lot_call(
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

    /// A lot as the MES or WMS snapshot shows it.
    pub(super) fn lot_json(lot: &Lot, l: &LotState) -> Value {
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

    /// The lot without its quantity (the MES snapshot shows none).
    pub(super) fn without_quantity(l: &LotState) -> LotState {
        LotState {
            quantity: None,
            ..l.clone()
        }
    }
}
