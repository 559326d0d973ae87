//! Quantities with their unit, held as thousandths so sums never drift.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::Unit;

/// A quantity in a unit of measure. `value` has at most 3 decimals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quantity {
    /// The amount in thousandths of `unit`.
    pub milli: i64,
    /// The unit of measure.
    pub unit: Unit,
}

/// Why a quantity was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantityError {
    /// Negative, not finite, or beyond the supported range.
    #[error("quantity {0} is out of range: expected a finite number between 0 and 1e12")]
    OutOfRange(f64),
    /// More than three decimals.
    #[error("quantity {0} has more than 3 decimals")]
    TooPrecise(f64),
}

impl Quantity {
    /// Builds a quantity from a decimal value, checking range and precision.
    pub fn new(value: f64, unit: Unit) -> Result<Self, QuantityError> {
        if !value.is_finite() || !(0.0..=1e12).contains(&value) {
            return Err(QuantityError::OutOfRange(value));
        }
        // `value` has at most 3 decimals exactly when it is the double nearest to
        // `milli / 1000` for the rounded `milli` (both below 2^53, so this is exact).
        // A relative tolerance would wrongly accept `1000.0004` and round it away.
        let rounded = (value * 1000.0).round();
        if rounded / 1000.0 != value {
            return Err(QuantityError::TooPrecise(value));
        }
        Ok(Self {
            milli: rounded as i64,
            unit,
        })
    }

    /// Builds a quantity from thousandths.
    pub fn from_milli(milli: i64, unit: Unit) -> Self {
        Self { milli, unit }
    }

    /// The decimal value.
    pub fn value(&self) -> f64 {
        self.milli as f64 / 1000.0
    }

    /// True when the quantity is zero.
    pub fn is_zero(&self) -> bool {
        self.milli == 0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", format_milli(self.milli), self.unit)
    }
}

/// Formats thousandths as a plain decimal (`12.5`, `3`, `0.001`).
pub fn format_milli(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    let (int, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        format!("{sign}{int}")
    } else {
        let frac = format!("{frac:03}");
        format!("{sign}{int}.{}", frac.trim_end_matches('0'))
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    value: f64,
    unit: Unit,
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            value: self.value(),
            unit: self.unit.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        Quantity::new(w.value, w.unit).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kg() -> Unit {
        Unit::parse("KG").unwrap()
    }

    #[test]
    fn rejects_negative_and_too_precise() {
        assert!(Quantity::new(-1.0, kg()).is_err());
        assert!(Quantity::new(1.0001, kg()).is_err());
        assert!(Quantity::new(1000.0004, kg()).is_err());
        assert!(Quantity::new(123_456_789.001, kg()).is_ok());
        assert_eq!(Quantity::new(0.3, kg()).unwrap().milli, 300);
        assert!(Quantity::new(f64::NAN, kg()).is_err());
        assert_eq!(Quantity::new(12.5, kg()).unwrap().milli, 12_500);
    }

    #[test]
    fn displays_trimmed_decimals() {
        assert_eq!(Quantity::from_milli(12_500, kg()).to_string(), "12.5 KG");
        assert_eq!(format_milli(1), "0.001");
        assert_eq!(format_milli(-3000), "-3");
    }

    proptest! {
        #[test]
        fn json_round_trip_is_exact(milli in 0i64..1_000_000_000_000) {
            let q = Quantity::from_milli(milli, kg());
            let json = serde_json::to_string(&q).unwrap();
            let back: Quantity = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, q);
        }

        #[test]
        fn a_fourth_decimal_is_refused(milli in 0i64..1_000_000_000_000, tenth in 1i64..10) {
            let value = milli as f64 / 1000.0 + tenth as f64 / 10_000.0;
            // Skip values the double cannot tell apart from a 3-decimal one.
            prop_assume!((value * 10_000.0).round() as i64 % 10 != 0);
            prop_assert!(Quantity::new(value, kg()).is_err());
        }
    }
}
