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

/// Version of the saved-state format.
pub const FORMAT: u32 = 1;

/// Why a state could not be saved or continued from.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bytes are not a saved state.
    #[error("not a saved simulator state: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Saved by another version of the format.
    #[error("saved in format {found}, this andon reads format {FORMAT}")]
    Format {
        /// The version found.
        found: u32,
    },
    /// Saved by another system.
    #[error("the state was saved by the {found} simulator, not the {expected} one")]
    System {
        /// The system asked for.
        expected: System,
        /// The system that saved it.
        found: System,
    },
    /// The system-specific part does not fit.
    #[error("the {system} state does not fit: {message}")]
    Behaviour {
        /// The system.
        system: System,
        /// What is wrong.
        message: String,
    },
}

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

/// Serde for maps whose keys are not strings (JSON objects cannot hold them): a list of
/// `[key, value]` pairs.
pub mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the map as pairs.
    pub fn serialize<'a, M, K, V, S>(map: &'a M, s: S) -> Result<S::Ok, S::Error>
    where
        &'a M: IntoIterator<Item = (&'a K, &'a V)>,
        K: Serialize + 'a,
        V: Serialize + 'a,
        S: Serializer,
    {
        s.collect_seq(map)
    }

    /// Reads the pairs back into a map.
    pub fn deserialize<'de, M, K, V, D>(d: D) -> Result<M, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Reads a behaviour's part of a saved state.
pub fn behaviour<T: serde::de::DeserializeOwned>(
    system: System,
    v: serde_json::Value,
) -> Result<T, StateError> {
    serde_json::from_value(v).map_err(|e| StateError::Behaviour {
        system,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Tuples {
        #[serde(with = "pairs")]
        b: BTreeMap<(i32, String), u64>,
        #[serde(with = "pairs")]
        h: HashMap<(String, String), String>,
    }

    #[test]
    fn maps_with_tuple_keys_round_trip_as_pairs() {
        let t = Tuples {
            b: [((2026, "49".to_string()), 7)].into_iter().collect(),
            h: [(("a".to_string(), "b".to_string()), "c".to_string())]
                .into_iter()
                .collect(),
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#"{"b":[[[2026,"49"],7]],"h":[[["a","b"],"c"]]}"#);
        assert_eq!(serde_json::from_str::<Tuples>(&text).unwrap(), t);
    }

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
