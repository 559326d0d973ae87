//! Identifier newtypes, checked on the way in (parse, don't validate).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why an identifier or quantity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is invalid: expected {expected}")]
pub struct IdError {
    /// Which identifier (plant, material, …).
    pub kind: &'static str,
    /// The offending value.
    pub value: String,
    /// What was expected, in words.
    pub expected: &'static str,
}

fn check(
    kind: &'static str,
    value: &str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    expected: &'static str,
) -> Result<(), IdError> {
    let n = value.chars().count();
    if n < min || n > max || !value.chars().all(allowed) {
        return Err(IdError {
            kind,
            value: value.to_string(),
            expected,
        });
    }
    Ok(())
}

fn upper_alnum(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn material_char(c: char) -> bool {
    upper_alnum(c) || matches!(c, '-' | '_' | '.' | '/')
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $min:expr, $max:expr, $allowed:expr, $expected:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and checks the identifier.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check($kind, &value, $min, $max, $allowed, $expected)?;
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_newtype!(
    /// A plant (SAP `WERKS`, ISA-95 Site): exactly 4 characters `[A-Z0-9]`.
    PlantId, "plant", 4, 4, upper_alnum, "exactly 4 characters A-Z or 0-9, such as \"1000\""
);
id_newtype!(
    /// A storage location (SAP `LGORT`): exactly 4 characters `[A-Z0-9]`.
    StorageLocation, "storage location", 4, 4, upper_alnum, "exactly 4 characters A-Z or 0-9, such as \"0001\""
);
id_newtype!(
    /// A material number (SAP `MATNR`): 1–40 characters `[A-Z0-9_./-]`.
    MaterialId, "material", 1, 40, material_char, "1 to 40 characters A-Z, 0-9, '-', '_', '.' or '/'"
);
id_newtype!(
    /// A batch (SAP `CHARG`, ISA-95 MaterialLot): 1–10 characters `[A-Z0-9]`.
    BatchId, "batch", 1, 10, upper_alnum, "1 to 10 characters A-Z or 0-9"
);
id_newtype!(
    /// A production order number (SAP `AUFNR`): 1–12 characters `[A-Z0-9]`.
    OrderId, "order", 1, 12, upper_alnum, "1 to 12 characters A-Z or 0-9"
);
id_newtype!(
    /// An operation number (SAP `VORNR`): exactly 4 digits.
    OperationId, "operation", 4, 4, |c: char| c.is_ascii_digit(), "exactly 4 digits, such as \"0010\""
);
id_newtype!(
    /// A unit of measure: 1–3 characters `[A-Z]` (`KG`, `G`, `PC`, `EA`, `L`, `BOX`).
    Unit, "unit", 1, 3, |c: char| c.is_ascii_uppercase(), "1 to 3 letters A-Z, such as \"KG\""
);
id_newtype!(
    /// A movement type (SAP `BWART`): exactly 3 digits.
    MovementTypeCode, "movement type", 3, 3, |c: char| c.is_ascii_digit(), "exactly 3 digits, such as \"261\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_must_be_four_upper_alnum() {
        assert!(PlantId::parse("1000").is_ok());
        assert!(PlantId::parse("100").is_err());
        assert!(PlantId::parse("10000").is_err());
        assert!(PlantId::parse("10a0").is_err());
    }

    #[test]
    fn material_accepts_sap_like_numbers() {
        assert!(MaterialId::parse("FG-1000-01").is_ok());
        assert!(MaterialId::parse("").is_err());
        assert!(MaterialId::parse("x".repeat(41)).is_err());
    }

    #[test]
    fn deserialize_reports_expectation() {
        let err = serde_json::from_str::<BatchId>("\"b-1\"").unwrap_err();
        assert!(err.to_string().contains("1 to 10 characters"), "{err}");
    }
}
