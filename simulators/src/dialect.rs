//! API dialects: which API a simulator speaks to the middleware, per plant.
//!
//! A simulator is its business core (state, rules, history, faults, events) with one or
//! more dialects mounted on it. andon's own REST API (`andon`) is always served at the
//! root; a vendor dialect is served under a plant's own base URL (`/plant/{plant}`), one
//! vendor system per plant, and the core's events of that plant go out in the vendor's
//! form. Every dialect records the business effects in the same canonical form, so the
//! checkers judge them alike.
//!
//! Which plant speaks what is [`Dialects`], part of a simulator's settings; a
//! [`Binding`] names the dialect and its release (`s4hana@2502`). A plant not listed speaks
//! `andon`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use andon_contracts::PlantId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An API dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// andon's own REST API (`/api/v1/…`, `Idempotency-Key`, problem+json).
    Andon,
    /// SAP S/4HANA OData V2 services (ERP only).
    S4hana,
    /// Dynamics 365 Business Central API v2.0 (ERP only).
    BusinessCentral,
}

impl Dialect {
    /// Every dialect, in the order messages list them.
    pub const ALL: [Dialect; 3] = [Dialect::Andon, Dialect::S4hana, Dialect::BusinessCentral];

    /// The name written in scenarios, manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Andon => "andon",
            Dialect::S4hana => "s4hana",
            Dialect::BusinessCentral => "business-central",
        }
    }

    /// The releases andon simulates, oldest first.
    pub fn releases(self) -> &'static [&'static str] {
        match self {
            Dialect::Andon => &["1"],
            Dialect::S4hana => &["2408", "2502"],
            Dialect::BusinessCentral => &["24", "25"],
        }
    }

    /// The newest release: what a binding without a release means.
    pub fn newest(self) -> &'static str {
        self.releases().last().copied().unwrap_or("1")
    }

    /// Whether the dialect is served under the plant's own base URL.
    pub fn per_plant(self) -> bool {
        self != Dialect::Andon
    }

    fn parse(text: &str) -> Result<Self, DialectError> {
        let t = text.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|d| d.name() == t || (t == "bc" && *d == Dialect::BusinessCentral))
            .ok_or_else(|| DialectError::Unknown(text.to_string()))
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a dialect or binding was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    /// Not a dialect andon speaks.
    #[error("unknown dialect {0:?}, expected one of andon, s4hana, business-central")]
    Unknown(String),
    /// A release andon does not simulate.
    #[error("{dialect} has no release {release:?}; andon simulates {known}")]
    Release {
        /// The dialect.
        dialect: Dialect,
        /// The release as written.
        release: String,
        /// The releases there are, joined.
        known: String,
    },
    /// A vendor dialect for a system that has none.
    #[error("the {system} simulator speaks only andon, not {dialect}")]
    NotForSystem {
        /// The system.
        system: andon_contracts::System,
        /// The dialect.
        dialect: Dialect,
    },
}

/// A dialect at one release (`s4hana@2502`; `s4hana` alone is its newest release).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The dialect.
    pub dialect: Dialect,
    /// Its release.
    pub release: &'static str,
}

impl Binding {
    /// andon's own API.
    pub const ANDON: Binding = Binding {
        dialect: Dialect::Andon,
        release: "1",
    };

    /// `dialect` at `release` (`None`: the newest), if andon simulates it.
    pub fn new(dialect: Dialect, release: Option<&str>) -> Result<Self, DialectError> {
        let Some(r) = release.map(str::trim) else {
            return Ok(Self {
                dialect,
                release: dialect.newest(),
            });
        };
        dialect
            .releases()
            .iter()
            .find(|k| **k == r)
            .map(|release| Self { dialect, release })
            .ok_or_else(|| DialectError::Release {
                dialect,
                release: r.to_string(),
                known: dialect.releases().join(", "),
            })
    }

    /// Whether `system` can speak this binding (vendor dialects are ERP dialects).
    pub fn check_system(&self, system: andon_contracts::System) -> Result<(), DialectError> {
        if self.dialect.per_plant() && system != andon_contracts::System::Erp {
            return Err(DialectError::NotForSystem {
                system,
                dialect: self.dialect,
            });
        }
        Ok(())
    }
}

impl Default for Binding {
    fn default() -> Self {
        Self::ANDON
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.dialect, self.release)
    }
}

impl FromStr for Binding {
    type Err = DialectError;

    /// Reads `s4hana`, `s4hana@2502` or `business-central@25`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (d, r) = match s.split_once('@') {
            Some((d, r)) => (d, Some(r)),
            None => (s, None),
        };
        Binding::new(Dialect::parse(d)?, r)
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// `s4hana@2502`, or `{dialect: s4hana, release: "2502"}`.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Parts {
                dialect: String,
                #[serde(default)]
                release: Option<ReleaseText>,
            },
        }
        /// A release written as text or as a number (`2502`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum ReleaseText {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Raw::Parts { dialect, release } => {
                let release = release.map(|r| match r {
                    ReleaseText::Text(t) => t,
                    ReleaseText::Number(n) => n.to_string(),
                });
                Binding::new(
                    Dialect::parse(&dialect).map_err(serde::de::Error::custom)?,
                    release.as_deref(),
                )
                .map_err(serde::de::Error::custom)
            }
        }
    }
}

/// Which plant speaks which vendor dialect; a plant not listed speaks `andon`.
pub type Dialects = BTreeMap<PlantId, Binding>;

/// The binding of `plant` in `dialects`.
pub fn binding_of(dialects: &Dialects, plant: &PlantId) -> Binding {
    dialects.get(plant).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_read_with_and_without_a_release() {
        let b: Binding = "s4hana@2408".parse().unwrap();
        assert_eq!((b.dialect, b.release), (Dialect::S4hana, "2408"));
        let b: Binding = "s4hana".parse().unwrap();
        assert_eq!(b.release, "2502");
        let b: Binding = "BC@24".parse().unwrap();
        assert_eq!(b.dialect, Dialect::BusinessCentral);
        assert_eq!(b.to_string(), "business-central@24");
    }

    #[test]
    fn unknown_dialects_and_releases_are_refused_with_what_there_is() {
        let e = "sap@1".parse::<Binding>().unwrap_err();
        assert!(e.to_string().contains("expected one of andon, s4hana"));
        let e = "s4hana@1909".parse::<Binding>().unwrap_err();
        assert!(e.to_string().contains("2408, 2502"), "{e}");
    }

    #[test]
    fn a_binding_reads_from_yaml_as_text_or_parts() {
        let b: Binding = serde_json::from_str(r#"{"dialect":"s4hana","release":2408}"#).unwrap();
        assert_eq!(b.release, "2408");
        let b: Binding = serde_json::from_str(r#""s4hana@2502""#).unwrap();
        assert_eq!(b.release, "2502");
        assert_eq!(serde_json::to_string(&b).unwrap(), r#""s4hana@2502""#);
    }

    #[test]
    fn vendor_dialects_are_erp_dialects() {
        let b: Binding = "s4hana".parse().unwrap();
        assert!(b.check_system(andon_contracts::System::Erp).is_ok());
        assert!(b.check_system(andon_contracts::System::Mes).is_err());
    }
}
