//! The reconciliation checker's truth: the stock and lot status the plant's own events
//! imply, with and without the events whose ERP call was legitimately rejected.

use std::collections::{BTreeMap, BTreeSet};

use andon_contracts::EventKind;
use andon_contracts::objects::StockType;

use crate::check::RunData;
use crate::check::common::{self, Ev, Events, FastMap, FastSet, Key, Materials};

/// A stock balance: plant, storage location, material, batch, stock type.
pub(super) type StockKey<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, StockType);
/// A lot: plant, material, batch.
pub(super) type LotKey<'a> = (&'a str, &'a str, &'a str);

/// Stock balances, in thousandths of the base unit.
#[derive(Default)]
pub(super) struct Ledger<'a> {
    /// The balance of each key.
    pub(super) qty: FastMap<StockKey<'a>, i64>,
}

impl<'a> Ledger<'a> {
    /// Adds `d` to a balance.
    fn add(&mut self, k: StockKey<'a>, d: i64) {
        *self.qty.entry(k).or_default() += d;
    }

    /// A balance (0 when absent).
    pub(super) fn get(&self, k: &StockKey<'a>) -> i64 {
        self.qty.get(k).copied().unwrap_or(0)
    }

    /// Moves the unrestricted stock of every lot in `held` (every storage location) to
    /// blocked.
    fn block(&mut self, held: &FastSet<LotKey<'_>>) {
        if held.is_empty() {
            return;
        }
        let keys: Vec<StockKey<'a>> = self
            .qty
            .iter()
            .filter(|(k, q)| {
                k.4 == StockType::Unrestricted
                    && **q != 0
                    && k.3.is_some_and(|b| held.contains(&(k.0, k.2, b)))
            })
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            let q = self.qty.insert(k, 0).unwrap_or(0);
            self.add((k.0, k.1, k.2, k.3, StockType::Blocked), q);
        }
    }
}

/// The truth about the plant, from its events.
pub(super) struct Truth<'a> {
    /// The stock the events imply.
    pub(super) all: Ledger<'a>,
    /// The same without the events whose ERP call was legitimately rejected.
    pub(super) without_rejected: Ledger<'a>,
    /// Source events touching each stock key: how many, and the last one.
    pub(super) touched: FastMap<StockKey<'a>, (u64, Key<'a>)>,
    /// Holds in force per lot (hold id → placing event).
    pub(super) holds: BTreeMap<LotKey<'a>, BTreeMap<&'a str, Key<'a>>>,
    /// Holds in force per lot, without the events whose ERP call was rejected.
    holds_without_rejected: BTreeMap<LotKey<'a>, BTreeSet<&'a str>>,
    /// Last usage decision per lot.
    pub(super) decisions: BTreeMap<LotKey<'a>, (&'a str, usize)>,
    /// QMS events per lot (for explanations).
    pub(super) lot_events: BTreeMap<LotKey<'a>, Vec<Key<'a>>>,
    /// Events that moved stock.
    pub(super) moving_events: u64,
    /// Events whose quantity could not be converted to the base unit.
    pub(super) unconvertible: u64,
}

/// A stock key from its parts.
pub(super) fn stock_key<'a>(
    plant: &'a str,
    sloc: &'a str,
    material: &'a str,
    batch: Option<&'a str>,
    st: StockType,
) -> StockKey<'a> {
    (plant, sloc, material, batch, st)
}

/// The stock movements of one event (`None`: a quantity could not be converted).
fn deltas<'a>(ev: &Ev<'a>, materials: &Materials<'_>) -> Option<Vec<(StockKey<'a>, i64)>> {
    use EventKind as K;
    let d: andon_contracts::JsonRef<'a> = ev.event.data.as_ref();
    let f = |n: &str| common::field(d, n);
    let base = |material: &str, plant: &str, q: Option<andon_contracts::Quantity>| {
        q.and_then(|q| materials.to_base(material, plant, ev.idx, &q).map(|x| x.0))
    };
    Some(match ev.kind? {
        K::MaterialConsumed => {
            let (p, s, m) = (f("plant")?, f("storage_location")?, f("material")?);
            let q = base(m, p, common::quantity(d, "quantity"))?;
            vec![(stock_key(p, s, m, f("batch"), StockType::Unrestricted), -q)]
        }
        K::MaterialProduced => {
            let (p, s, m) = (f("plant")?, f("storage_location")?, f("material")?);
            let q = base(m, p, common::quantity(d, "quantity"))?;
            let st = if materials.inspection(m, p, ev.idx).0.unwrap_or(false) {
                StockType::QualityInspection
            } else {
                StockType::Unrestricted
            };
            vec![(stock_key(p, s, m, f("batch"), st), q)]
        }
        K::UsageDecisionMade => {
            let (p, s, m) = (f("plant")?, f("storage_location")?, f("material")?);
            let q = base(m, p, common::quantity(d, "quantity"))?;
            let to = if f("valuation") == Some("R") {
                StockType::Blocked
            } else {
                StockType::Unrestricted
            };
            vec![
                (
                    stock_key(p, s, m, f("batch"), StockType::QualityInspection),
                    -q,
                ),
                (stock_key(p, s, m, f("batch"), to), q),
            ]
        }
        K::ShipmentConfirmed => {
            let p = f("plant")?;
            let mut out = Vec::new();
            for it in d.get("items")?.items()? {
                let (s, m) = (
                    common::field(it, "storage_location")?,
                    common::field(it, "material")?,
                );
                let q = base(m, p, common::quantity(it, "quantity"))?;
                out.push((
                    stock_key(p, s, m, common::field(it, "batch"), StockType::Unrestricted),
                    -q,
                ));
            }
            out
        }
        _ => return Some(Vec::new()),
    })
}

/// The truth from the master data's initial stock and every non-poison event, in history
/// order; finally the lots with a hold in force have their unrestricted stock blocked.
pub(super) fn truth<'a>(
    run: &'a RunData,
    events: &Events<'a>,
    materials: &Materials<'_>,
    rejected_erp: &FastSet<Key<'a>>,
) -> Truth<'a> {
    let mut t = Truth {
        all: Ledger::default(),
        without_rejected: Ledger::default(),
        touched: FastMap::default(),
        holds: BTreeMap::new(),
        holds_without_rejected: BTreeMap::new(),
        decisions: BTreeMap::new(),
        lot_events: BTreeMap::new(),
        moving_events: 0,
        unconvertible: 0,
    };
    t.initial_stock(run, materials);
    for ev in events.iter() {
        if ev.poison {
            continue;
        }
        let rejected = rejected_erp.contains(&ev.key());
        t.quality_event(ev, rejected);
        t.movements(ev, materials, rejected);
    }
    t.block_held();
    t
}

impl<'a> Truth<'a> {
    /// Adds the master data's initial stock to both ledgers.
    fn initial_stock(&mut self, run: &'a RunData, materials: &Materials<'_>) {
        for s in &run.master.stock {
            let Some(m) = materials.at(s.material.as_str(), s.plant.as_str(), 0) else {
                continue;
            };
            let Some(q) = m.to_base_milli(&s.quantity) else {
                continue;
            };
            let k = stock_key(
                s.plant.as_str(),
                s.storage_location.as_str(),
                s.material.as_str(),
                s.batch.as_ref().map(|b| b.as_str()),
                s.stock_type,
            );
            self.all.add(k, q);
            self.without_rejected.add(k, q);
        }
    }

    /// Notes a hold, a release or a usage decision (`rejected`: its ERP call was
    /// legitimately rejected).
    fn quality_event(&mut self, ev: &Ev<'a>, rejected: bool) {
        use EventKind as K;
        let Some(K::LotHoldPlaced | K::LotHoldReleased | K::UsageDecisionMade) = ev.kind else {
            return;
        };
        let Some(lot) = ev.lot() else {
            return;
        };
        let k = ev.key();
        self.lot_events.entry(lot).or_default().push(k);
        let hold = ev.field("hold_id").unwrap_or("");
        match ev.kind {
            Some(K::LotHoldPlaced) => {
                self.holds.entry(lot).or_default().insert(hold, k);
                if !rejected {
                    self.holds_without_rejected
                        .entry(lot)
                        .or_default()
                        .insert(hold);
                }
            }
            Some(K::LotHoldReleased) => {
                if let Some(h) = self.holds.get_mut(&lot) {
                    h.remove(hold);
                }
                if !rejected && let Some(h) = self.holds_without_rejected.get_mut(&lot) {
                    h.remove(hold);
                }
            }
            _ => {
                self.decisions
                    .insert(lot, (ev.field("valuation").unwrap_or("A"), ev.idx));
            }
        }
    }

    /// Books the stock movements of an event (`rejected`: not in the ledger without the
    /// rejected events).
    fn movements(&mut self, ev: &Ev<'a>, materials: &Materials<'_>, rejected: bool) {
        let Some(ds) = deltas(ev, materials) else {
            self.unconvertible += 1;
            return;
        };
        if ds.is_empty() {
            return;
        }
        self.moving_events += 1;
        let k = ev.key();
        for (sk, q) in ds {
            self.all.add(sk, q);
            if !rejected {
                self.without_rejected.add(sk, q);
            }
            let e = self.touched.entry(sk).or_insert((0, k));
            e.0 += 1;
            e.1 = k;
        }
    }

    /// Blocks the unrestricted stock of the lots with a hold in force, in each ledger.
    fn block_held(&mut self) {
        let held: FastSet<LotKey<'a>> = self
            .holds
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(l, _)| *l)
            .collect();
        self.all.block(&held);
        let held: FastSet<LotKey<'a>> = self
            .holds_without_rejected
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(l, _)| *l)
            .collect();
        self.without_rejected.block(&held);
    }
}
