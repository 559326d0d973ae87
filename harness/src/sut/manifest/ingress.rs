//! The manifest's `[ingress]`: per system, a webhook URL, a broker subscription, or both.
//!
//! ```toml
//! [ingress]
//! erp = "{sut.url}/events/erp"                                   # webhooks only
//! mes = { webhook = "{sut.url}/events/mes", mqtt = "andon/+/mes/#" }
//! qms = { mqtt = "acme/+/qms/#", topic = "acme/{plant}/qms/{kind}", mode = "structured" }
//! ```
//!
//! `mqtt` is the topic filter the SUT subscribes to; `topic` the layout andon publishes
//! under (default `andon/{plant}/{system}/{kind}`), each of whose topics the filter must
//! match; `mode` the CloudEvents MQTT binding's mode (`binary`, the default, or
//! `structured`).

use andon_contracts::System;
use andon_contracts::events::mqtt::{self, Mode};
use serde::Deserialize;
use toml::Spanned;

use super::Template;

/// The default topic layout: a unified namespace of plant, system and event kind.
pub const DEFAULT_TOPIC: &str = "andon/{plant}/{system}/{kind}";

/// One system's ingress as written: a URL, or a table (read as a value first: its problems
/// are placed at the entry).
pub(super) type RawIngressEntry = Spanned<toml::Value>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngressTable {
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    mqtt: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

/// How events reach the SUT.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// POSTed to the SUT's webhook URL.
    Webhook,
    /// Published to the run's MQTT broker.
    Mqtt,
}

impl Transport {
    /// Its name in manifests and scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Webhook => "webhook",
            Transport::Mqtt => "mqtt",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broker subscription the SUT declares for a system's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttIngress {
    /// The topic filter the SUT subscribes to.
    pub filter: String,
    /// The topic layout andon publishes under.
    pub topic: String,
    /// Binary or structured mode.
    pub mode: Mode,
}

impl MqttIngress {
    /// The emitter's ingress URL on the broker at `broker` (`host:port`).
    pub fn url(&self, broker: &str) -> String {
        let mode = match self.mode {
            Mode::Binary => "",
            Mode::Structured => "?mode=structured",
        };
        format!("mqtt://{broker}/{}{mode}", self.topic)
    }
}

/// One system's ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressSpec {
    /// Where webhooks go, if the SUT takes them.
    pub webhook: Option<Template>,
    /// The SUT's subscription, if it consumes from a broker.
    pub mqtt: Option<MqttIngress>,
}

impl IngressSpec {
    /// The transport a plant uses when the scenario says nothing: webhooks when the SUT
    /// takes them, otherwise the broker.
    pub fn default_transport(&self) -> Transport {
        if self.webhook.is_some() {
            Transport::Webhook
        } else {
            Transport::Mqtt
        }
    }

    /// Whether the SUT takes this system's events over `t`.
    pub fn takes(&self, t: Transport) -> bool {
        match t {
            Transport::Webhook => self.webhook.is_some(),
            Transport::Mqtt => self.mqtt.is_some(),
        }
    }
}

/// Reads one system's entry; `err` places a problem at a byte offset of the file.
pub(super) fn entry(
    system: System,
    raw: RawIngressEntry,
    err: &dyn Fn(usize, String) -> super::ManifestError,
) -> Result<IngressSpec, super::ManifestError> {
    let span = raw.span();
    let at = span.start;
    let t: RawIngressTable = match raw.into_inner() {
        toml::Value::String(u) => {
            return Ok(IngressSpec {
                webhook: Some(Template::from(Spanned::new(span, u))),
                mqtt: None,
            });
        }
        v @ toml::Value::Table(_) => v.try_into().map_err(|e: toml::de::Error| {
            err(at, format!("ingress.{system}: {}", e.message().trim()))
        })?,
        other => {
            return Err(err(
                at,
                format!(
                    "ingress.{system}: expected a URL or a table such as {{ webhook = \"…\", mqtt = \"andon/+/{system}/#\" }}, got a {}",
                    other.type_str()
                ),
            ));
        }
    };
    // The table's values are placed at the entry (their own spans are not kept).
    let webhook = t
        .webhook
        .map(|w| Template::from(Spanned::new(span.clone(), w)));
    let Some(filter) = t.mqtt else {
        if t.topic.is_some() || t.mode.is_some() {
            return Err(err(
                at,
                format!(
                    "ingress.{system}: `topic` and `mode` go with `mqtt` (the topic filter the SUT subscribes to)"
                ),
            ));
        }
        return match webhook {
            Some(w) => Ok(IngressSpec {
                webhook: Some(w),
                mqtt: None,
            }),
            None => Err(err(
                at,
                format!(
                    "ingress.{system} needs `webhook` (a URL) or `mqtt` (a topic filter), such as {{ mqtt = \"andon/+/{system}/#\" }}"
                ),
            )),
        };
    };
    let mqtt = subscription(system, filter, t.topic, t.mode)
        .map_err(|m| err(at, format!("ingress.{system}{m}")))?;
    Ok(IngressSpec {
        webhook,
        mqtt: Some(mqtt),
    })
}

/// A broker subscription read: its filter, topic layout and mode, each checked; why not,
/// as the rest of a message that begins with `ingress.<system>`.
fn subscription(
    system: System,
    filter: String,
    topic: Option<String>,
    mode: Option<String>,
) -> Result<MqttIngress, String> {
    mqtt::check_filter(&filter).map_err(|m| format!(".mqtt: {m}"))?;
    let topic = topic.unwrap_or_else(|| DEFAULT_TOPIC.to_string());
    mqtt::check_template(&topic).map_err(|m| format!(".topic: {m}"))?;
    let mode = match mode {
        None => Mode::Binary,
        Some(m) => {
            Mode::parse(&m).ok_or_else(|| format!(".mode: {m:?}, expected binary or structured"))?
        }
    };
    if let Some(example) = unmatched(system, &topic, &filter) {
        return Err(format!(
            ": andon would publish to {example:?} (topic {topic:?}), which the filter {filter:?} does not match"
        ));
    }
    Ok(MqttIngress {
        filter,
        topic,
        mode,
    })
}

/// A topic of `system`'s events under `template` that `filter` does not match, if any.
fn unmatched(system: System, template: &str, filter: &str) -> Option<String> {
    andon_contracts::EventKind::ALL
        .iter()
        .filter(|k| k.emitters().contains(&system))
        .map(|k| mqtt::topic(template, "1000", system.as_str(), k.name(), "WO-1"))
        .find(|t| !mqtt::filter_matches(filter, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_the_filter_would_miss_are_found() {
        assert_eq!(unmatched(System::Mes, DEFAULT_TOPIC, "andon/+/mes/#"), None);
        assert!(unmatched(System::Mes, DEFAULT_TOPIC, "andon/+/qms/#").is_some());
        assert!(unmatched(System::Mes, "acme/{plant}/x", "acme/+/x").is_none());
    }

    #[test]
    fn urls_carry_the_layout_and_the_mode() {
        let m = MqttIngress {
            filter: "a/#".into(),
            topic: "a/{plant}".into(),
            mode: Mode::Structured,
        };
        assert_eq!(m.url("b:1"), "mqtt://b:1/a/{plant}?mode=structured");
    }
}
