//! What every part of a saved state shares: the format version, [`StateError`] (why a state
//! could not be saved or continued from), the serde of maps with non-string keys, and
//! reading a behaviour's own part. It sits below the modules whose state is saved, so
//! that they can use it without depending on [`crate::persist`], which assembles them.

use andon_contracts::System;

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
    /// The idempotency answers do not fit.
    #[error("the {system} state does not fit: {source}")]
    Idempotency {
        /// The system.
        system: System,
        /// What is wrong.
        source: crate::idempotency::RestoreError,
    },
    /// The system-specific part does not fit.
    #[error("the {system} state does not fit: {source}")]
    Behaviour {
        /// The system.
        system: System,
        /// What is wrong.
        source: serde_json::Error,
    },
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
    serde_json::from_value(v).map_err(|source| StateError::Behaviour { system, source })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serialize};

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
}
