//! Per-lot resequencing and hold bookkeeping.
//!
//! Lot events (`usage_decision.made`, `lot.hold_*`, `inspection_result.recorded`) are
//! applied per lot (`source` + `subject`) in `sequence` order: an event whose predecessor
//! has not arrived waits, bounded by `lot_wait`, after which it goes ahead; an event older
//! than one already applied is stale and applies nothing (a late hold never overwrites a
//! newer release). The lot state (holds in force, what they moved to blocked stock) lives
//! in SQLite next to the inbox, and is changed in the same transaction as the outbox rows.

use std::collections::{BTreeMap, BTreeSet};

use andon_contracts::{CloudEvent, EventData, System};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Policy, StoreError, insert_commands};
use crate::defects::Defect;
use crate::flows::{self, Blocked, LotFacts};

/// The bookkeeping of one lot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LotState {
    /// Highest sequence applied.
    pub last_applied: u64,
    /// Holds in force.
    pub holds: BTreeSet<String>,
    /// What the holds moved to blocked stock (moved back by the last release).
    pub blocked: Blocked,
}

/// What to do with a lot event that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Apply it now.
    Apply,
    /// Its predecessor has not arrived: wait.
    Wait,
    /// Older than what was applied: apply nothing.
    Stale,
}

impl LotState {
    /// Decides about an event of `sequence` that has waited `waited_ms` of `wait_ms`.
    pub fn arrival(&self, sequence: u64, waited_ms: i64, wait_ms: i64) -> Arrival {
        if sequence <= self.last_applied {
            Arrival::Stale
        } else if sequence == self.last_applied + 1 || waited_ms >= wait_ms {
            Arrival::Apply
        } else {
            Arrival::Wait
        }
    }

    /// Applies a lot event to the bookkeeping; returns what the flows need to know.
    pub fn apply(&mut self, data: &EventData, sequence: u64) -> LotFacts {
        let mut released_last_hold = false;
        match data {
            EventData::HoldPlaced(h) => {
                self.holds.insert(h.hold_id.clone());
            }
            EventData::HoldReleased(h) => {
                released_last_hold = self.holds.remove(&h.hold_id) && self.holds.is_empty();
            }
            _ => {}
        }
        self.last_applied = self.last_applied.max(sequence);
        LotFacts {
            holds_in_force: self.holds.len(),
            released_last_hold,
        }
    }
}

/// Loads the state of `lot` (default when unknown).
pub fn load(conn: &Connection, lot: &str) -> Result<LotState, StoreError> {
    let state: Option<String> = conn
        .query_row("SELECT state FROM lots WHERE lot = ?1", params![lot], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match state {
        Some(s) => serde_json::from_str(&s)?,
        None => LotState::default(),
    })
}

/// Saves the state of `lot`.
pub fn save(conn: &Connection, lot: &str, state: &LotState) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO lots (lot, state) VALUES (?1, ?2) ON CONFLICT(lot) DO UPDATE SET state = excluded.state",
        params![lot, serde_json::to_string(state)?],
    )?;
    Ok(())
}

/// Records the arrival of a lot event (already in the inbox) and applies whatever of its
/// lot can be applied now. Returns the targets that got commands.
pub fn arrive(
    conn: &Connection,
    policy: &Policy,
    event: &CloudEvent,
    now_ms: i64,
) -> Result<BTreeSet<System>, StoreError> {
    let lot = flows::lot_key(event);
    conn.execute(
        "INSERT OR IGNORE INTO lot_events (source, id, lot, sequence, arrived_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, 'waiting')",
        params![event.source, event.id, lot, event.sequence as i64, now_ms],
    )?;
    advance(conn, policy, &lot, now_ms)
}

/// Applies the waiting events of `lot` that are next in line or have waited long enough.
pub fn advance(
    conn: &Connection,
    policy: &Policy,
    lot: &str,
    now_ms: i64,
) -> Result<BTreeSet<System>, StoreError> {
    let mut state = load(conn, lot)?;
    let waiting: Vec<(String, String, i64, i64)> = conn
        .prepare_cached(
            "SELECT source, id, sequence, arrived_ms FROM lot_events WHERE lot = ?1 AND state = 'waiting' ORDER BY arrived_ms, sequence",
        )?
        .query_map(params![lot], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut waiting = waiting;
    // DEFECT: reorder-status — lot events apply in arrival order, stale ones included.
    let in_arrival_order = policy.defects.has(Defect::ReorderStatus);
    if !in_arrival_order {
        waiting.sort_by_key(|w| w.2);
    }
    let mut targets = BTreeSet::new();
    for (source, id, sequence, arrived_ms) in waiting {
        let sequence = sequence.max(0) as u64;
        let arrival = if in_arrival_order {
            Arrival::Apply
        } else {
            state.arrival(sequence, now_ms - arrived_ms, policy.lot_wait_ms)
        };
        match arrival {
            Arrival::Wait => break,
            Arrival::Stale => {
                mark(conn, &source, &id, "stale")?;
                tracing::info!(
                    lot,
                    sequence,
                    last_applied = state.last_applied,
                    "stale lot event applies nothing"
                );
            }
            Arrival::Apply => {
                let event = super::inbox_event(conn, &source, &id)?;
                let data = event.typed_data().map_err(StoreError::Event)?;
                let facts = state.apply(&data, sequence);
                let commands = flows::plan(&event, &data, facts, &policy.defects);
                targets.extend(insert_commands(
                    conn, policy, &event, &commands, None, now_ms,
                )?);
                mark(conn, &source, &id, "applied")?;
            }
        }
    }
    save(conn, lot, &state)?;
    Ok(targets)
}

fn mark(conn: &Connection, source: &str, id: &str, state: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE lot_events SET state = ?3 WHERE source = ?1 AND id = ?2",
        params![source, id, state],
    )?;
    Ok(())
}

/// Lets every lot event that has waited `lot_wait` go ahead. Returns the targets that got
/// commands.
pub fn advance_expired(
    conn: &Connection,
    policy: &Policy,
    now_ms: i64,
) -> Result<BTreeSet<System>, StoreError> {
    let lots: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT lot FROM lot_events WHERE state = 'waiting' AND arrived_ms <= ?1",
        )?
        .query_map(params![now_ms - policy.lot_wait_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut targets = BTreeSet::new();
    for lot in lots {
        targets.extend(advance(conn, policy, &lot, now_ms)?);
    }
    Ok(targets)
}

/// Adds what a hold block moved to the lot's bookkeeping.
pub fn add_blocked(conn: &Connection, lot: &str, moved: &Blocked) -> Result<(), StoreError> {
    let mut state = load(conn, lot)?;
    flows::add_blocked(&mut state.blocked, moved);
    save(conn, lot, &state)
}

/// Takes what the holds of the lot moved (the last release moves it back).
pub fn take_blocked(conn: &Connection, lot: &str) -> Result<Blocked, StoreError> {
    let mut state = load(conn, lot)?;
    let blocked = std::mem::take(&mut state.blocked);
    save(conn, lot, &state)?;
    Ok(blocked)
}

/// Holds in force per lot (for `/stats`).
pub fn holds_in_force(conn: &Connection) -> Result<BTreeMap<String, usize>, StoreError> {
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT lot, state FROM lots")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for (lot, state) in rows {
        let s: LotState = serde_json::from_str(&state)?;
        if !s.holds.is_empty() {
            out.insert(lot, s.holds.len());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use andon_contracts::events::{HoldPlaced, HoldReleased};
    use andon_contracts::{BatchId, MaterialId, PlantId};

    use super::*;

    fn placed(id: &str) -> EventData {
        EventData::HoldPlaced(HoldPlaced {
            hold_id: id.into(),
            plant: PlantId::parse("1000").unwrap(),
            material: MaterialId::parse("FG-1").unwrap(),
            batch: BatchId::parse("B1").unwrap(),
            scope: "batch".into(),
            reason_code: "QH01".into(),
            placed_at: chrono::Utc::now(),
        })
    }

    fn released(id: &str) -> EventData {
        EventData::HoldReleased(HoldReleased {
            hold_id: id.into(),
            plant: PlantId::parse("1000").unwrap(),
            material: MaterialId::parse("FG-1").unwrap(),
            batch: BatchId::parse("B1").unwrap(),
            released_at: chrono::Utc::now(),
        })
    }

    #[test]
    fn events_apply_in_sequence_and_a_gap_waits_until_the_bound() {
        let mut s = LotState::default();
        assert_eq!(s.arrival(2, 0, 10_000), Arrival::Wait);
        assert_eq!(s.arrival(2, 10_000, 10_000), Arrival::Apply);
        assert_eq!(s.arrival(1, 0, 10_000), Arrival::Apply);
        s.apply(&placed("H1"), 1);
        s.apply(&released("H1"), 2);
        assert_eq!(s.arrival(1, 0, 10_000), Arrival::Stale);
        assert_eq!(s.arrival(3, 0, 10_000), Arrival::Apply);
    }

    #[test]
    fn holds_stack_and_only_the_last_release_frees_the_lot() {
        let mut s = LotState::default();
        assert_eq!(s.apply(&placed("H1"), 1).holds_in_force, 1);
        assert_eq!(s.apply(&placed("H2"), 2).holds_in_force, 2);
        assert!(!s.apply(&released("H1"), 3).released_last_hold);
        assert!(s.apply(&released("H2"), 4).released_last_hold);
        assert!(
            !s.apply(&released("H9"), 5).released_last_hold,
            "an unknown hold frees nothing"
        );
    }
}
