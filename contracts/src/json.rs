//! A JSON value kept as its text.
//!
//! Histories hold hundreds of thousands of event payloads and effect details. As a
//! `serde_json::Value` each object is a B-tree (a 12-field goods movement takes about
//! 3 KB); as text it takes its own length. [`Json`] is written and read as the JSON it
//! holds, so the files do not change, and its fields are read in place: [`Json::str`] and
//! friends scan the text for one key without building anything.

use std::fmt;

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// An owned JSON value, stored as compact JSON text.
#[derive(Clone)]
pub struct Json(Box<RawValue>);

/// A borrowed JSON value inside a [`Json`] (a field of it, an item of an array).
#[derive(Clone, Copy)]
pub struct JsonRef<'a>(&'a RawValue);

impl Json {
    /// `null`.
    pub fn null() -> Self {
        Self(RawValue::from_string("null".into()).expect("null is JSON"))
    }

    /// The JSON text of anything serializable (a value that cannot be serialized, such as
    /// a map with non-string keys, becomes `null`).
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Self {
        serde_json::value::to_raw_value(value).map_or_else(|_| Self::null(), Self)
    }

    /// Takes JSON text as it is, after checking that it is JSON.
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.trim().to_string()).map(Self)
    }

    /// Takes a borrowed raw value (as read by a `serde_json` deserializer).
    pub fn from_raw(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }

    /// A borrowed view, to read fields.
    pub fn as_ref(&self) -> JsonRef<'_> {
        JsonRef(&self.0)
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// Parses the whole value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }

    /// Decodes the value as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.text())
    }

    /// The field `key` of an object (`None`: not an object, or no such field).
    pub fn get(&self, key: &str) -> Option<JsonRef<'_>> {
        self.as_ref().get(key)
    }

    /// The string field `key` (see [`JsonRef::as_str`]).
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.text() == "null"
    }
}

impl<'a> JsonRef<'a> {
    /// The JSON text.
    pub fn text(self) -> &'a str {
        self.0.get()
    }

    /// The field `key` of an object, found by scanning the text (values are skipped, not
    /// built). `None`: not an object, or no such field.
    pub fn get(self, key: &str) -> Option<JsonRef<'a>> {
        let [v] = self.pick([key]);
        v
    }

    /// Several fields of an object in one scan of its text.
    pub fn pick<const N: usize>(self, keys: [&str; N]) -> [Option<JsonRef<'a>>; N] {
        struct Find<'k, const N: usize>([&'k str; N]);
        impl<'de, const N: usize> Visitor<'de> for Find<'_, N> {
            type Value = [Option<JsonRef<'de>>; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found = [None; N];
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match self.0.iter().position(|want| *want == k) {
                        Some(i) => found[i] = Some(JsonRef(map.next_value::<&'de RawValue>()?)),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(found)
            }
        }
        if !self.text().starts_with('{') {
            return [None; N];
        }
        let mut de = serde_json::Deserializer::from_str(self.text());
        de.deserialize_map(Find(keys)).unwrap_or([None; N])
    }

    /// The string field `key`.
    pub fn str(self, key: &str) -> Option<&'a str> {
        self.get(key)?.as_str()
    }

    /// The value as a string: its text between the quotes. Identifiers in the contract
    /// (plants, materials, batches, documents) cannot hold characters JSON escapes; a
    /// free-text string that does is returned with its escapes as written.
    pub fn as_str(self) -> Option<&'a str> {
        let t = self.text();
        t.strip_prefix('"')?.strip_suffix('"')
    }

    /// The value as an unsigned integer.
    pub fn as_u64(self) -> Option<u64> {
        self.text().parse().ok()
    }

    /// The value as a number.
    pub fn as_f64(self) -> Option<f64> {
        serde_json::from_str::<f64>(self.text()).ok()
    }

    /// The value as a boolean.
    pub fn as_bool(self) -> Option<bool> {
        match self.text() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.text() == "null"
    }

    /// The items of an array (`None`: not an array).
    pub fn items(self) -> Option<Vec<JsonRef<'a>>> {
        if !self.text().starts_with('[') {
            return None;
        }
        serde_json::from_str::<Vec<&'a RawValue>>(self.text())
            .ok()
            .map(|v| v.into_iter().map(JsonRef).collect())
    }

    /// Decodes the value as `T` (borrowing from the text where `T` borrows).
    pub fn decode<T: Deserialize<'a>>(self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.text())
    }

    /// Parses the whole value.
    pub fn to_value(self) -> Value {
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }

    /// An owned copy.
    pub fn to_owned(self) -> Json {
        Json::from_raw(self.0)
    }
}

impl Default for Json {
    fn default() -> Self {
        Self::null()
    }
}

impl From<Value> for Json {
    fn from(v: Value) -> Self {
        Self::new(&v)
    }
}

impl From<&Value> for Json {
    fn from(v: &Value) -> Self {
        Self::new(v)
    }
}

impl<'a> From<&'a Json> for JsonRef<'a> {
    fn from(j: &'a Json) -> Self {
        j.as_ref()
    }
}

impl PartialEq for Json {
    /// Equal when they hold the same value (whatever the spacing or the order of keys).
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.to_value() == other.to_value()
    }
}

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl fmt::Debug for JsonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Json {
    /// Read through a `Value`, so that it also works where serde buffers the input
    /// (flattened and internally tagged types), which a raw value does not; readers on a
    /// hot path read a `&RawValue` and use [`Json::from_raw`].
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Self::new(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_read_in_place() {
        let j = Json::new(&json!({
            "a": "x", "n": 12, "f": 1.5, "b": true, "z": null,
            "o": {"unit": "PC", "value": 3.0}, "l": [{"m": "M1"}, {"m": "M2"}]
        }));
        assert_eq!(j.str("a"), Some("x"));
        assert_eq!(j.get("n").and_then(JsonRef::as_u64), Some(12));
        assert_eq!(j.get("f").and_then(JsonRef::as_f64), Some(1.5));
        assert_eq!(j.get("b").and_then(JsonRef::as_bool), Some(true));
        assert!(j.get("z").is_some_and(JsonRef::is_null));
        assert_eq!(j.get("o").and_then(|o| o.str("unit")), Some("PC"));
        let items = j.get("l").and_then(JsonRef::items).unwrap();
        assert_eq!(
            items.iter().filter_map(|i| i.str("m")).collect::<Vec<_>>(),
            ["M1", "M2"]
        );
        assert!(j.get("missing").is_none());
        assert!(
            j.get("a").unwrap().get("x").is_none(),
            "a string has no fields"
        );
        assert_eq!(j.str("n"), None, "a number is not a string");
        let [a, b, none] = j.as_ref().pick(["a", "b", "none"]);
        assert_eq!(
            (a.and_then(JsonRef::as_str), b.and_then(JsonRef::as_bool)),
            (Some("x"), Some(true))
        );
        assert!(none.is_none());
    }

    #[test]
    fn reads_and_writes_as_the_json_it_holds() {
        let text = r#"{"event":{"a":[1,2],"b":"c"}}"#;
        #[derive(Serialize, Deserialize)]
        struct Wrap {
            event: Json,
        }
        let w: Wrap = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&w).unwrap(), text);
        assert_eq!(w.event, json!({"b": "c", "a": [1, 2]}));
        assert_eq!(Json::from_text(" [1, 2] ").unwrap(), Json::new(&[1, 2]));
        assert!(Json::from_text("{").is_err());
    }

    #[test]
    fn a_duplicate_key_reads_as_its_last_value_like_serde_json() {
        let j = Json::from_text(r#"{"k":"first","k":"second"}"#).unwrap();
        assert_eq!(j.str("k"), Some("second"));
        assert_eq!(j.str("k"), j.to_value()["k"].as_str());
    }
}
