//! What a simulator fault entry may say, learnt from [`FaultKind`] and [`FaultSpec`]
//! themselves rather than restated here: the parameters of each kind, the keys every
//! simulator fault may carry, and whether a value fits its key. Adding a parameter to a
//! fault kind needs no edit in the loader.
//!
//! The types are asked through serde. A kind's parameters are the list serde gives when
//! a kind is read with a key no kind has (its variants deny unknown fields); the common
//! keys are the ones [`FaultSpec`] writes besides its kind; a value is checked by reading
//! a spec of that kind with that one key. The JSON values are read through [`Json`], whose
//! error ([`DeError`]) tells a missing field (the value itself was fine) from a bad value,
//! with the same text serde_json gives.

use std::fmt;
use std::sync::OnceLock;

use andon_simulators::faults::{FaultKind, FaultSpec};
use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserialize, Deserializer, Expected, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// A key no fault kind has: reading a kind with it makes serde list the kind's parameters.
const PROBE: &str = "\u{0}andon-probe";

/// Why serde refused a value read through [`Json`], with serde_json's own wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum DeError {
    /// A field the type needs is absent.
    #[error("{0}")]
    MissingField(String),
    /// A key the type does not take; `expected` is every key it does take.
    #[error("{message}")]
    UnknownField {
        /// serde_json's message.
        message: String,
        /// The keys the type takes, in declaration order.
        expected: &'static [&'static str],
    },
    /// A variant (a fault kind) the type does not have.
    #[error("{0}")]
    UnknownVariant(String),
    /// Any other refusal: a value of the wrong type or out of range.
    #[error("{0}")]
    Value(String),
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Value(serde_json::Error::custom(msg).to_string())
    }

    fn invalid_type(unexp: Unexpected, exp: &dyn Expected) -> Self {
        Self::Value(serde_json::Error::invalid_type(unexp, exp).to_string())
    }

    fn invalid_value(unexp: Unexpected, exp: &dyn Expected) -> Self {
        Self::Value(serde_json::Error::invalid_value(unexp, exp).to_string())
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Self::Value(serde_json::Error::invalid_length(len, exp).to_string())
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::UnknownVariant(serde_json::Error::unknown_variant(variant, expected).to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::UnknownField {
            message: serde_json::Error::unknown_field(field, expected).to_string(),
            expected,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::MissingField(serde_json::Error::missing_field(field).to_string())
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::Value(serde_json::Error::duplicate_field(field).to_string())
    }
}

/// A JSON value as a serde deserializer whose error is [`DeError`]; it hands every value
/// to the visitor as serde_json's own `Value` deserializer does.
///
/// When `null_is_given`, a null is handed over as a value that is there (`Some` of
/// nothing), so that an optional parameter written without a value is refused as its
/// type refuses null instead of being read as absent.
#[derive(Debug, Clone, Copy)]
struct Json<'a> {
    value: &'a Value,
    null_is_given: bool,
}

impl<'a> Json<'a> {
    /// `value`, with null read as serde_json reads it.
    fn new(value: &'a Value) -> Self {
        Self {
            value,
            null_is_given: false,
        }
    }

    /// A value inside this one, read the same way.
    fn inner(self, value: &'a Value) -> Self {
        Self { value, ..self }
    }
}

impl<'de> Deserializer<'de> for Json<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null if self.null_is_given => v.visit_some(Json::new(self.value)),
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => v.visit_u64(u),
                (None, Some(i), _) => v.visit_i64(i),
                (None, None, Some(f)) => v.visit_f64(f),
                (None, None, None) => Err(de::Error::custom("a number out of range")),
            },
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(|x| self.inner(x)));
                let out = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(map) => {
                let mut access =
                    MapDeserializer::new(map.iter().map(|(k, x)| (k.as_str(), self.inner(x))));
                let out = v.visit_map(&mut access)?;
                access.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null if self.null_is_given => v.visit_some(Json::new(self.value)),
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, DeError> for Json<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// The parameters of fault kind `kind` as serde names them, in declaration order; `None`
/// when no simulator fault kind has that name.
pub(super) fn params(kind: &str) -> Option<&'static [&'static str]> {
    let mut probe = Map::new();
    probe.insert("kind".into(), Value::String(kind.to_string()));
    probe.insert(PROBE.into(), Value::Null);
    match FaultKind::deserialize(Json::new(&Value::Object(probe))) {
        // A kind without parameters takes the probe without a word.
        Ok(_) => Some(&[]),
        Err(DeError::UnknownField { expected, .. }) => Some(expected),
        Err(_) => None,
    }
}

/// The keys every simulator fault may carry besides its kind's parameters (`id`,
/// `probability`, `path`, …), in the order [`FaultSpec`] declares them.
pub(super) fn common() -> &'static [String] {
    static COMMON: OnceLock<Vec<String>> = OnceLock::new();
    COMMON.get_or_init(|| {
        // A kind without parameters, so that every key written besides `kind` is common.
        let spec = FaultSpec::new(FaultKind::Refuse);
        serde_json::to_string(&spec)
            .ok()
            .and_then(|json| serde_json::from_str::<Keys>(&json).ok())
            .map(|keys| keys.0.into_iter().filter(|k| k != "kind").collect())
            .unwrap_or_default()
    })
}

/// The keys of a JSON object in the order they are written.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(KeysVisitor)
    }
}

/// Whether `value` fits `key` of a simulator fault of kind `kind` (a parameter of the kind
/// or a common key): a spec of that kind is read with that one key. Other parameters the
/// kind needs are absent then, which is not the value's fault.
///
/// A key written without a value (`p99:`, `id: ~`) is refused as its type refuses null,
/// even where the key is optional: say it or leave it out.
pub(super) fn check(kind: &str, key: &str, value: &Value) -> Result<(), DeError> {
    let mut one = Map::new();
    one.insert("kind".into(), Value::String(kind.to_string()));
    one.insert(key.to_string(), value.clone());
    let one = Value::Object(one);
    let read = |null_is_given| match FaultSpec::deserialize(Json {
        value: &one,
        null_is_given,
    }) {
        Ok(_) | Err(DeError::MissingField(_)) => Ok(()),
        Err(e) => Err(e),
    };
    read(false)?;
    if value.is_null() {
        // Taken as absent: read again with the null as a value of the key's type.
        read(true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_known_with_its_parameters() {
        for kind in FaultKind::CALLED.iter().chain(FaultKind::EMITTER) {
            assert!(params(kind).is_some(), "{kind}");
        }
        assert_eq!(params("slow"), Some(&["median", "p99"][..]));
        assert_eq!(params("reject"), Some(&["code", "status", "detail"][..]));
        assert_eq!(params("refuse"), Some(&[][..]));
        assert_eq!(params("meteor"), None);
        assert_eq!(params("pause"), None);
    }

    #[test]
    fn the_common_keys_are_the_specs_own_in_order() {
        assert_eq!(
            common(),
            ["id", "probability", "path", "method", "plant", "for"]
        );
    }

    #[test]
    fn values_are_checked_with_serde_jsons_words() {
        let v = |j: &str| -> Value { serde_json::from_str(j).unwrap_or(Value::Null) };
        assert_eq!(check("throttle", "limit", &v("3")), Ok(()));
        assert_eq!(check("slow", "p99", &v("\"2s\"")), Ok(()));
        assert_eq!(
            check("throttle", "limit", &v("\"x\"")).map_err(|e| e.to_string()),
            Err(serde_json::from_value::<u32>(v("\"x\""))
                .unwrap_err()
                .to_string())
        );
        assert_eq!(
            check("duplicate", "probability", &v("\"often\"")).map_err(|e| e.to_string()),
            Err("invalid type: string \"often\", expected f64".to_string())
        );
        for (kind, key, expected) in [
            (
                "slow",
                "p99",
                "data did not match any variant of untagged enum Raw",
            ),
            ("reject", "detail", "invalid type: null, expected a string"),
            ("duplicate", "id", "invalid type: null, expected a string"),
            ("throttle", "limit", "invalid type: null, expected u32"),
        ] {
            assert_eq!(
                check(kind, key, &Value::Null).map_err(|e| e.to_string()),
                Err(expected.to_string()),
                "{kind}.{key}"
            );
        }
    }
}
