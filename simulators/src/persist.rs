//! A simulator's state saved to bytes and continued from them, so that a simulator whose
//! container is stopped and started again keeps its books: business state, the history,
//! idempotency keys answered, the outbound queue, counters and generators.
//!
//! Not kept: faults in force (the harness applies them again where it wants them), tokens
//! issued (clients authenticate again, as after a real restart), and timers in progress
//! (an inspection lot opened before the stop may get its result at once after it).
//!
//! The format is JSON with a version number; a file of another version or another system is
//! refused with a clear error rather than half read.

use andon_contracts::System;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::SimConfig;
use crate::emitter::SavedEmitter;
use crate::history::Record;
use crate::idempotency::SavedAnswer;
use crate::masterdata::MasterData;
pub use crate::saved::{FORMAT, StateError, behaviour, pairs};

/// Everything a simulator keeps across a restart.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedState {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// The system that saved it.
    pub system: System,
    /// Wall time of the save.
    pub saved_at: DateTime<Utc>,
    /// Business time at the save (business time goes on while the simulator is down).
    pub business_time: DateTime<Utc>,
    /// The settings in force (including an ingress set through the admin API).
    pub config: SimConfig,
    /// Master data as this system knew it.
    pub master: MasterData,
    /// The history so far.
    pub history: Vec<Record>,
    /// Final answers to idempotency keys.
    pub idempotency: Vec<SavedAnswer>,
    /// The outbound queue and its counters.
    pub emitter: SavedEmitter,
    /// The system's own state.
    pub behaviour: serde_json::Value,
}

/// Reads only the header first, so that a file of another version is refused for what it
/// is rather than for a field it lacks.
#[derive(Deserialize)]
struct Header {
    format: u32,
    system: System,
}

impl SavedState {
    /// Parses `bytes` saved by `expected`.
    pub fn parse(expected: System, bytes: &[u8]) -> Result<Self, StateError> {
        let header: Header = serde_json::from_slice(bytes)?;
        if header.format != FORMAT {
            return Err(StateError::Format {
                found: header.format,
            });
        }
        if header.system != expected {
            return Err(StateError::System {
                expected,
                found: header.system,
            });
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_format_or_system_is_refused_by_name() {
        let e = SavedState::parse(System::Erp, br#"{"format":99,"system":"erp"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "saved in format 99, this andon reads format 1"
        );
        let e = SavedState::parse(System::Erp, br#"{"format":1,"system":"wms"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the state was saved by the wms simulator, not the erp one"
        );
        let e = SavedState::parse(System::Erp, b"not json").unwrap_err();
        assert!(
            e.to_string().starts_with("not a saved simulator state"),
            "{e}"
        );
    }
}
