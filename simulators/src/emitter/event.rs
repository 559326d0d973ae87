//! Building an event: its sequence within the aggregate, its id and trace context drawn
//! from the emitter's seeded generator (under the lanes lock, so that they depend only on
//! the seed and the events emitted before), and the poison copy of a payload the `poison`
//! fault sends.

use super::*;

impl Lanes {
    /// The next event of the aggregate `subject` from `source`: its sequence numbered on,
    /// a random id and trace context drawn (in that order), and the lane it goes to.
    pub(super) fn stamp(
        &mut self,
        kind: EventKind,
        plant: &PlantId,
        subject: &str,
        source: String,
        time: DateTime<Utc>,
        data: impl Into<Json>,
    ) -> (CloudEvent, usize) {
        let seq = self
            .sequences
            .entry((source.clone(), subject.to_string()))
            .or_insert(0);
        *seq += 1;
        let sequence = *seq;
        let mut idb = [0u8; 16];
        self.rng.fill_bytes(&mut idb);
        let id = uuid::Builder::from_random_bytes(idb)
            .into_uuid()
            .to_string();
        let tp = traceparent(&mut self.rng);
        let event = CloudEvent {
            specversion: "1.0".into(),
            id,
            source,
            type_: kind.type_name(),
            subject: subject.to_string(),
            time,
            datacontenttype: "application/json".into(),
            plant: plant.clone(),
            sequence,
            traceparent: tp,
            data: data.into(),
        };
        (event, lane_of(subject, self.queues.len()))
    }
}

/// Builds a W3C traceparent from random bytes.
pub fn traceparent(rng: &mut impl Rng) -> String {
    let mut t = [0u8; 16];
    let mut s = [0u8; 8];
    rng.fill_bytes(&mut t);
    rng.fill_bytes(&mut s);
    t[0] |= 1;
    s[0] |= 1;
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    hex(&t, &mut out);
    out.push('-');
    hex(&s, &mut out);
    out.push_str("-01");
    out
}

/// Appends the lower-case hex of `b` (a table: this runs for every event).
fn hex(b: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 0x0f)] as char);
    }
}

/// A poison copy of an event's payload, and why it is poison: with `unknown`, it names a
/// material (or order, or plant) no system knows; otherwise it breaks the event's schema (a
/// negative quantity, or a required field left out).
pub(super) fn poison_payload(
    mut data: serde_json::Value,
    unknown: bool,
) -> (serde_json::Value, String) {
    use serde_json::{Value, json};
    let Some(obj) = data.as_object_mut() else {
        return (json!({}), "schema-invalid: the payload is empty".into());
    };
    if unknown {
        for (field, value) in [
            ("material", "ZZ-UNKNOWN-MATERIAL"),
            ("order", "Z99999999999"),
            ("plant", "ZZZZ"),
        ] {
            if obj.contains_key(field) {
                obj.insert(field.into(), Value::String(value.into()));
                return (data, format!("unknown master data: {field} {value}"));
            }
        }
        if let Some(first) = obj
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .and_then(|a| a.first_mut())
            .and_then(Value::as_object_mut)
        {
            first.insert(
                "material".into(),
                Value::String("ZZ-UNKNOWN-MATERIAL".into()),
            );
            return (
                data,
                "unknown master data: material ZZ-UNKNOWN-MATERIAL".into(),
            );
        }
    }
    if let Some(q) = obj.get_mut("quantity").and_then(Value::as_object_mut) {
        q.insert("value".into(), json!(-1));
        return (data, "schema-invalid: a negative quantity".into());
    }
    for field in ["plant", "material", "order", "delivery"] {
        if obj.remove(field).is_some() {
            return (data, format!("schema-invalid: `{field}` left out"));
        }
    }
    (json!({}), "schema-invalid: the payload is empty".into())
}
