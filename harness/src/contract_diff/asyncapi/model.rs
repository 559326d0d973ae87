//! The parts of an AsyncAPI 3 document the comparison reads, as typed serde structures (no
//! maintained Rust crate models AsyncAPI 3 with JSON Schema payloads the way `oas3` models
//! OpenAPI, so these are andon's own): channels with their address and messages,
//! operations with their action, channel and messages, and message payloads — a schema
//! (read with `oas3`'s JSON Schema model, shared with the OpenAPI comparison) or a
//! multi-format schema object. Everything else in the document is ignored.

use std::collections::BTreeMap;

use oas3::spec::{ObjectOrReference, Schema};
use serde::Deserialize;
use serde_json::Value;

/// An AsyncAPI 3 document.
#[derive(Debug, Clone, Deserialize)]
pub struct AsyncApi {
    /// Channels by key.
    #[serde(default)]
    pub channels: BTreeMap<String, ObjectOrReference<Channel>>,
    /// Operations by key.
    #[serde(default)]
    pub operations: BTreeMap<String, ObjectOrReference<Operation>>,
}

/// A channel.
#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    /// Its address (`/events/erp`, `plant.{plant}.events`); absent or null: dynamic.
    #[serde(default)]
    pub address: Option<String>,
    /// The messages that travel over it, by key.
    #[serde(default)]
    pub messages: BTreeMap<String, ObjectOrReference<Message>>,
}

/// What the application does with an operation's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The application sends them: the other party consumes.
    Send,
    /// The application receives them: the other party produces.
    Receive,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Send => "send",
            Action::Receive => "receive",
        })
    }
}

/// An operation.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    /// Send or receive.
    pub action: Action,
    /// The channel (`#/channels/erp`).
    pub channel: Reference,
    /// The channel's messages it concerns (`#/channels/erp/messages/x`); empty: all.
    #[serde(default)]
    pub messages: Vec<Reference>,
}

/// A `$ref`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reference {
    /// The reference, as written.
    #[serde(rename = "$ref")]
    pub reference: String,
}

/// A message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Its payload; absent: anything.
    #[serde(default)]
    pub payload: Option<Payload>,
}

/// A message payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// `{schemaFormat, schema}`.
    MultiFormat(MultiFormat),
    /// A schema (AsyncAPI Schema: JSON Schema draft 7 and a little more), or a `$ref` to one.
    Schema(Schema),
}

/// A schema in a named format.
#[derive(Debug, Clone, Deserialize)]
pub struct MultiFormat {
    /// The format (`application/vnd.apache.avro;version=1.9.0`, `application/schema+json;version=draft-07`).
    #[serde(rename = "schemaFormat")]
    pub schema_format: String,
    /// The schema, in that format.
    pub schema: Value,
}

impl MultiFormat {
    /// Whether the format is JSON Schema or reads like it (AsyncAPI, OpenAPI schema
    /// objects), so the schema can be compared field by field.
    pub fn is_json_schema(&self) -> bool {
        let f = self.schema_format.to_ascii_lowercase();
        [
            "application/vnd.aai.asyncapi",
            "application/schema+",
            "application/vnd.oai.openapi",
        ]
        .iter()
        .any(|p| f.starts_with(p))
    }
}

/// The channel key a reference like `#/channels/erp` names, and the message key of
/// `#/channels/erp/messages/x`; a reference elsewhere stands for itself.
pub fn channel_and_message(reference: &str) -> (String, Option<String>) {
    let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
    let Some(rest) = reference.strip_prefix("#/channels/") else {
        return (reference.to_string(), None);
    };
    let mut parts = rest.splitn(3, '/');
    let channel = unescape(parts.next().unwrap_or_default());
    match (parts.next(), parts.next()) {
        (Some("messages"), Some(m)) => (channel, Some(unescape(m))),
        _ => (channel, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_channels_and_messages() {
        assert_eq!(channel_and_message("#/channels/erp"), ("erp".into(), None));
        assert_eq!(
            channel_and_message("#/channels/a~1b/messages/x.y"),
            ("a/b".into(), Some("x.y".into()))
        );
        assert_eq!(
            channel_and_message("other.yaml#/c"),
            ("other.yaml#/c".into(), None)
        );
    }
}
