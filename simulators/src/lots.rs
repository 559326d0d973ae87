//! Lot status as MES and WMS keep it: the disposition from the usage decision, holds that
//! stack, and the sequence of every change applied. A change whose source sequence is lower
//! than one already applied is still applied (the simulators do what they are told, as the
//! real systems do) but is marked `stale` in the effect, so the ordering checker sees it.

use std::collections::BTreeMap;

use andon_contracts::objects::{LotStatus, StockType};
use andon_contracts::{BatchId, MaterialId, PlantId, Quantity};
use serde::{Deserialize, Serialize};

/// Key of a lot.
pub type LotKey = (PlantId, MaterialId, BatchId);

/// One lot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lot {
    /// Disposition.
    pub status: StockType,
    /// Holds in force, with the sequence that placed them.
    pub holds: BTreeMap<String, u64>,
    /// Highest source sequence applied.
    pub last_sequence: u64,
    /// Quantity on hand (WMS), in thousandths of the base unit.
    pub quantity: Option<Quantity>,
    /// Where the lot was received (WMS): shipments issue it from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<andon_contracts::StorageLocation>,
}

/// What applying a change did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The lot after the change.
    pub status: LotStatus,
    /// The change carried a lower sequence than one already applied.
    pub stale: bool,
    /// The highest sequence applied before this change.
    pub previous_sequence: u64,
    /// The sequence this change carried.
    pub sequence: u64,
}

/// All lots a system knows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lots {
    /// Lots by key.
    pub lots: BTreeMap<String, (LotKey, Lot)>,
}

fn id(k: &LotKey) -> String {
    format!("{}/{}/{}", k.0, k.1, k.2)
}

impl Lots {
    /// The lot, created with `initial` status when unknown.
    pub fn entry(&mut self, key: &LotKey, initial: StockType) -> &mut Lot {
        &mut self
            .lots
            .entry(id(key))
            .or_insert_with(|| {
                (
                    key.clone(),
                    Lot {
                        status: initial,
                        holds: BTreeMap::new(),
                        last_sequence: 0,
                        quantity: None,
                        storage_location: None,
                    },
                )
            })
            .1
    }

    /// The lot, if known.
    pub fn get(&self, key: &LotKey) -> Option<&Lot> {
        self.lots.get(&id(key)).map(|(_, l)| l)
    }

    /// Whether the lot may be used (consumed, picked): unrestricted and no hold.
    pub fn available(&self, key: &LotKey) -> bool {
        self.get(key)
            .is_some_and(|l| l.status == StockType::Unrestricted && l.holds.is_empty())
    }

    /// The lot as the API shows it.
    pub fn status(&self, key: &LotKey) -> Option<LotStatus> {
        self.get(key).map(|l| view(key, l))
    }

    fn apply(
        &mut self,
        key: &LotKey,
        initial: StockType,
        sequence: u64,
        f: impl FnOnce(&mut Lot),
    ) -> Applied {
        let lot = self.entry(key, initial);
        let previous = lot.last_sequence;
        f(lot);
        lot.last_sequence = lot.last_sequence.max(sequence);
        Applied {
            status: view(key, lot),
            stale: sequence < previous,
            previous_sequence: previous,
            sequence,
        }
    }

    /// Places a hold.
    pub fn hold(
        &mut self,
        key: &LotKey,
        initial: StockType,
        hold_id: &str,
        sequence: u64,
    ) -> Applied {
        self.apply(key, initial, sequence, |l| {
            l.holds.insert(hold_id.to_string(), sequence);
        })
    }

    /// Releases a hold; `None` when the hold is not in force.
    pub fn release(&mut self, key: &LotKey, hold_id: &str, sequence: u64) -> Option<Applied> {
        if !self.get(key).is_some_and(|l| l.holds.contains_key(hold_id)) {
            return None;
        }
        Some(self.apply(key, StockType::Unrestricted, sequence, |l| {
            l.holds.remove(hold_id);
        }))
    }

    /// Sets the disposition.
    pub fn set_status(&mut self, key: &LotKey, status: StockType, sequence: u64) -> Applied {
        self.apply(key, status, sequence, |l| l.status = status)
    }
}

fn view(key: &LotKey, l: &Lot) -> LotStatus {
    LotStatus {
        plant: key.0.clone(),
        material: key.1.clone(),
        batch: key.2.clone(),
        status: l.status,
        holds: l.holds.keys().cloned().collect(),
        available: l.status == StockType::Unrestricted && l.holds.is_empty(),
        last_sequence: l.last_sequence,
        quantity: l.quantity.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LotKey {
        (
            PlantId::parse("1000").unwrap(),
            MaterialId::parse("FG-1").unwrap(),
            BatchId::parse("B1").unwrap(),
        )
    }

    #[test]
    fn holds_stack_and_release_one_by_one() {
        let mut l = Lots::default();
        l.set_status(&key(), StockType::Unrestricted, 1);
        l.hold(&key(), StockType::Unrestricted, "H1", 2);
        l.hold(&key(), StockType::Unrestricted, "H2", 3);
        assert!(!l.release(&key(), "H1", 4).unwrap().status.available);
        assert!(l.release(&key(), "H2", 5).unwrap().status.available);
    }

    #[test]
    fn a_late_hold_is_applied_but_marked_stale() {
        let mut l = Lots::default();
        l.hold(&key(), StockType::Unrestricted, "H1", 1);
        l.release(&key(), "H1", 2).unwrap();
        let late = l.hold(&key(), StockType::Unrestricted, "H1", 1);
        assert!(late.stale);
        assert_eq!(late.previous_sequence, 2);
        assert!(!l.available(&key()));
    }

    #[test]
    fn release_of_unknown_hold_is_none() {
        let mut l = Lots::default();
        assert!(l.release(&key(), "H9", 1).is_none());
    }
}
