//! A fabricated, consistent run — what a correct SUT's run looks like — of any size, for
//! tests and benchmarks of the checkers. Every source event is delivered once and
//! acknowledged, every flow's effects land once with the right source references,
//! idempotency keys and trace context, the ERP stock and the MES and WMS lots in the
//! snapshots follow from the activity, and one ERP `unavailable` fault is applied and
//! cleared in the middle (its 503 answers precede the retries that land). Every checker
//! passes on it, except ordering, which is unknown (nothing was reordered).

mod builder;
mod cycle;

use std::collections::BTreeMap;

use andon_contracts::quantity::format_milli;
use andon_contracts::{PlantId, System};
use andon_simulators::MasterData;
use andon_simulators::history::Entry;
use andon_simulators::masterdata::{PlantSpec, Profile};
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{Expect, RunData};
use builder::{Gen, st_name};
use cycle::Materials;

/// Records one production cycle writes at most (a cycle is never cut short).
const CYCLE_MAX: usize = 64;

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
    let mut g = start(&master, n, seed);
    let materials = Materials::of(&master);
    let (fault_on, fault_off) = (n * 2 / 5, n / 2);
    let mut fault_state = 0;
    let mut cycle = 0u64;
    while g.records.len() + CYCLE_MAX <= n {
        if fault_state == 0 && g.records.len() >= fault_on {
            g.erp_fault(
                "applied",
                json!({ "kind": "unavailable", "retry_after": "1s" }),
            );
            fault_state = 1;
        } else if fault_state == 1 && g.records.len() >= fault_off {
            g.erp_fault("cleared", json!({ "fired": 1 }));
            fault_state = 2;
        }
        cycle += 1;
        g.cycle(cycle, &materials);
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
    let snapshots = snapshots(&g);
    RunData {
        records: g.records,
        snapshots,
        master,
        expect: Expect::default(),
        dead_letters: Some(Vec::new()),
    }
}

/// The builder at the start of the run: the clock at 06:00, the master data's units and
/// initial stock.
fn start(master: &MasterData, n: usize, seed: u64) -> Gen {
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
    g
}

/// The simulators' final state: the ERP stock, the MES and WMS lots, an empty QMS.
fn snapshots(g: &Gen) -> BTreeMap<System, Value> {
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
    snapshots
}
