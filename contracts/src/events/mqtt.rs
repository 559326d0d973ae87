//! The CloudEvents MQTT protocol binding (MQTT 5), as andon publishes events to a broker
//! and as a consumer reads them back, plus the topic layout and MQTT topic filters.
//!
//! **Binary mode** (the default): the payload is the event's `data` (JSON), the MQTT 5
//! Content Type property is its `datacontenttype` (`application/json`), and every other
//! attribute — `specversion`, `id`, `source`, `type`, `subject`, `time` and the extensions
//! `plant`, `sequence`, `traceparent` — is a user property of the same name, its value as
//! text (an integer attribute in decimal). **Structured mode**: the payload is the whole
//! event as JSON and the Content Type is `application/cloudevents+json`.

use serde_json::{Map, Value};

/// The Content Type of a structured-mode message.
pub const STRUCTURED: &str = "application/cloudevents+json";

/// Attributes of integer type: decoded from their text back to a JSON number.
const INTEGER_ATTRIBUTES: [&str; 1] = ["sequence"];

/// How an event is carried in an MQTT message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Attributes as user properties, `data` as the payload.
    #[default]
    Binary,
    /// The whole event as the payload.
    Structured,
}

impl Mode {
    /// Its name (`binary`, `structured`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Binary => "binary",
            Mode::Structured => "structured",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "binary" => Some(Mode::Binary),
            "structured" => Some(Mode::Structured),
            _ => None,
        }
    }
}

/// What an MQTT 5 PUBLISH carries for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The Content Type property.
    pub content_type: String,
    /// The user properties, in the event's attribute order.
    pub user_properties: Vec<(String, String)>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Why a message is not a CloudEvent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not JSON.
    #[error("the payload is not JSON ({content_type}): {why}")]
    Json {
        /// The message's Content Type.
        content_type: String,
        /// The parser's words.
        why: String,
    },
    /// A structured-mode payload that is not a JSON object.
    #[error("a structured-mode payload must be a JSON object")]
    NotAnObject,
    /// A binary-mode message without `specversion`.
    #[error(
        "no `specversion` user property: not a binary-mode CloudEvent (nor structured: \
         Content Type {0:?})"
    )]
    NoSpecversion(String),
}

/// The message carrying `event` (its structured JSON form: an object with `data`) in `mode`.
pub fn encode(event: &Value, mode: Mode) -> Message {
    let Some(attributes) = event.as_object().filter(|_| mode == Mode::Binary) else {
        return Message {
            content_type: STRUCTURED.to_string(),
            user_properties: Vec::new(),
            payload: serde_json::to_vec(event).unwrap_or_default(),
        };
    };
    let mut content_type = "application/json".to_string();
    let mut user_properties = Vec::with_capacity(attributes.len());
    for (name, value) in attributes {
        match (name.as_str(), value) {
            ("data" | "data_base64", _) => {}
            ("datacontenttype", Value::String(ct)) => content_type = ct.clone(),
            (_, Value::String(s)) => user_properties.push((name.clone(), s.clone())),
            (_, Value::Null) => {}
            (_, other) => user_properties.push((name.clone(), other.to_string())),
        }
    }
    let payload = event
        .get("data")
        .map(|d| serde_json::to_vec(d).unwrap_or_default())
        .unwrap_or_default();
    Message {
        content_type,
        user_properties,
        payload,
    }
}

/// The event a message carries, in its structured JSON form, whichever the mode: a
/// Content Type of `application/cloudevents+json` is structured mode, anything else is
/// binary mode and needs the `specversion` user property.
pub fn decode(
    content_type: Option<&str>,
    user_properties: &[(String, String)],
    payload: &[u8],
) -> Result<Value, DecodeError> {
    let ct = content_type.unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    let json = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).map_err(|e| DecodeError::Json {
            content_type: ct.to_string(),
            why: e.to_string(),
        })
    };
    if essence.eq_ignore_ascii_case(STRUCTURED) {
        let event = json(payload)?;
        return if event.is_object() {
            Ok(event)
        } else {
            Err(DecodeError::NotAnObject)
        };
    }
    if !user_properties.iter().any(|(k, _)| k == "specversion") {
        return Err(DecodeError::NoSpecversion(ct.to_string()));
    }
    let mut event = Map::new();
    for (name, value) in user_properties {
        let v = match value.parse::<u64>() {
            Ok(n) if INTEGER_ATTRIBUTES.contains(&name.as_str()) => Value::from(n),
            _ => Value::String(value.clone()),
        };
        event.insert(name.clone(), v);
    }
    if !ct.is_empty() {
        event.insert("datacontenttype".into(), Value::String(ct.to_string()));
    }
    event.insert("data".into(), json(payload)?);
    Ok(Value::Object(event))
}

/// The topic of an event under `template`, whose placeholders are `{plant}`, `{system}`,
/// `{kind}` (the event kind's name, e.g. `operation.confirmed`) and `{subject}`. A value
/// that holds `/`, `+` or `#` has them replaced by `_` (it stays one topic level).
pub fn topic(template: &str, plant: &str, system: &str, kind: &str, subject: &str) -> String {
    let level = |s: &str| s.replace(['/', '+', '#'], "_");
    template
        .replace("{plant}", &level(plant))
        .replace("{system}", &level(system))
        .replace("{kind}", &level(kind))
        .replace("{subject}", &level(subject))
}

/// Why a topic template cannot be published to.
pub fn check_template(template: &str) -> Result<(), String> {
    if template.is_empty() {
        return Err("the topic template is empty".into());
    }
    if template.contains(['+', '#']) {
        return Err(format!(
            "{template:?}: a topic to publish to cannot hold the wildcards + or #"
        ));
    }
    if template.starts_with('$') {
        return Err(format!(
            "{template:?}: topics starting with $ are the broker's"
        ));
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("{template:?}: an unclosed {{"))?;
        let name = &rest[open + 1..open + close];
        if !["plant", "system", "kind", "subject"].contains(&name) {
            return Err(format!(
                "{template:?}: unknown placeholder {{{name}}} (known: {{plant}}, {{system}}, \
                 {{kind}}, {{subject}})"
            ));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// Whether `topic` matches the MQTT topic `filter` (`+`: one level, `#`: the rest). A
/// shared subscription's `$share/<group>/` prefix is taken off first.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let filter = shared_filter(filter).unwrap_or(filter);
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return !topic.starts_with('$'),
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The filter of a shared subscription (`$share/<group>/<filter>`), if it is one.
pub fn shared_filter(filter: &str) -> Option<&str> {
    let rest = filter.strip_prefix("$share/")?;
    rest.split_once('/').map(|(_, f)| f)
}

/// Why `filter` is not a valid MQTT topic filter.
pub fn check_filter(filter: &str) -> Result<(), String> {
    let inner = if filter.starts_with("$share/") {
        shared_filter(filter).ok_or_else(|| format!("{filter:?}: $share/<group>/<filter>"))?
    } else {
        filter
    };
    if inner.is_empty() {
        return Err("the topic filter is empty".into());
    }
    let levels: Vec<&str> = inner.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let bad = (level.contains('#') && (*level != "#" || i + 1 != levels.len()))
            || (level.contains('+') && *level != "+");
        if bad {
            return Err(format!(
                "{filter:?}: + must be a whole level and # the whole last level"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "specversion": "1.0", "id": "e-1", "source": "/andon/mes/1000",
            "type": "andon.operation.confirmed.v1", "subject": "WO-1",
            "time": "2026-01-01T00:00:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": 7, "traceparent": "00-ab-cd-01",
            "data": {"order": "WO-1", "yield": 5}
        })
    }

    #[test]
    fn binary_mode_carries_attributes_as_user_properties_and_data_as_payload() {
        let m = encode(&event(), Mode::Binary);
        assert_eq!(m.content_type, "application/json");
        assert!(m.user_properties.contains(&("sequence".into(), "7".into())));
        assert!(m.user_properties.contains(&("id".into(), "e-1".into())));
        assert!(!m.user_properties.iter().any(|(k, _)| k == "data"));
        assert_eq!(
            serde_json::from_slice::<Value>(&m.payload).unwrap(),
            json!({"order": "WO-1", "yield": 5})
        );
        let back = decode(Some(&m.content_type), &m.user_properties, &m.payload).unwrap();
        assert_eq!(back, event());
    }

    #[test]
    fn structured_mode_is_the_whole_event() {
        let m = encode(&event(), Mode::Structured);
        assert_eq!(m.content_type, STRUCTURED);
        assert!(m.user_properties.is_empty());
        assert_eq!(decode(Some(STRUCTURED), &[], &m.payload).unwrap(), event());
    }

    #[test]
    fn a_message_without_specversion_is_not_an_event() {
        let e = decode(Some("application/json"), &[], b"{}").unwrap_err();
        assert!(matches!(e, DecodeError::NoSpecversion(_)));
        let e = decode(Some(STRUCTURED), &[], b"[1]").unwrap_err();
        assert_eq!(e, DecodeError::NotAnObject);
        let props = [("specversion".to_string(), "1.0".to_string())];
        let e = decode(Some("application/json"), &props, b"{").unwrap_err();
        assert!(matches!(e, DecodeError::Json { .. }));
    }

    #[test]
    fn topics_fill_the_template_one_level_per_value() {
        let t = topic(
            "acme/{plant}/{system}/{kind}",
            "1000",
            "mes",
            "operation.confirmed",
            "x",
        );
        assert_eq!(t, "acme/1000/mes/operation.confirmed");
        assert_eq!(topic("a/{subject}", "", "", "", "L/1+#"), "a/L_1__");
        assert!(check_template("acme/{plant}/{line}").is_err());
        assert!(check_template("acme/+/x").is_err());
        assert!(check_template("acme/{plant}/{system}/{kind}").is_ok());
    }

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(filter_matches(
            "andon/+/mes/#",
            "andon/1000/mes/operation.confirmed"
        ));
        assert!(filter_matches("andon/#", "andon"));
        assert!(!filter_matches("andon/+/mes/#", "andon/1000/qms/x"));
        assert!(!filter_matches("andon/+", "andon/1000/mes"));
        assert!(filter_matches("$share/g/andon/+/mes/#", "andon/1/mes/a"));
        assert!(!filter_matches("#", "$SYS/broker"));
        assert!(check_filter("andon/+/mes/#").is_ok());
        assert!(check_filter("andon/x#").is_err());
        assert!(check_filter("andon/#/x").is_err());
        assert!(check_filter("$share/g").is_err());
    }
}
