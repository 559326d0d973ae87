//! The MQTT 5 face of the middleware: with `BROKER_URL` set it consumes the CloudEvents
//! the systems publish to a broker (CloudEvents MQTT binding, binary or structured mode),
//! in addition to the HTTP ingress.
//!
//! * A persistent session: clean start off, a session expiry, a client id that stays the
//!   same across restarts — the broker queues the QoS 1 messages published while the
//!   middleware is away and hands them over when it is back.
//! * A shared subscription per filter, `$share/{group}/{filter}` at QoS 1: instances in one
//!   group split the messages instead of each taking every one.
//! * Manual acknowledgements: a message is acknowledged (PUBACK) only after its event is
//!   committed to the store, or after it was dead-lettered; a failing store is retried,
//!   never acknowledged meanwhile.
//! * A retained message is stale (left by an earlier run or another plant): acknowledged
//!   and left alone.
//!
//! Each message is checked exactly as the HTTP ingress checks an event ([`ingress::accept`]
//! on the ingress of the system its `source` names) and stored by the same function
//! ([`ingress::take_in`]). The event loop runs in one task and the messages are taken in,
//! one at a time and in arrival order, by another ([`consume`]).

mod consume;

use andon_contracts::events::mqtt;
use andon_contracts::{CloudEvent, System};
use axum::http::{HeaderMap, HeaderValue, header};
use rumqttc::v5::MqttOptions;
use rumqttc::v5::mqttbytes::QoS;
use serde_json::Value;
use std::time::Duration;

use crate::config::MqttConfig;
use crate::defects::{Defect, Defects};
use crate::dialect::ErpDialects;
use crate::flows::Inbound;
use crate::ingress::{self, Refusal};

pub use consume::spawn;

/// Largest MQTT packet taken (bigger ones the broker does not send).
const MAX_PACKET: u32 = 1 << 20;

/// The connection options: MQTT 5, a persistent session, manual acknowledgements.
pub fn options(cfg: &MqttConfig, defects: &Defects) -> MqttOptions {
    let mut o = MqttOptions::new(
        cfg.client_id.clone(),
        cfg.broker.host.clone(),
        cfg.broker.port,
    );
    o.set_keep_alive(cfg.keep_alive.max(Duration::from_secs(5)))
        .set_manual_acks(true)
        .set_max_packet_size(Some(MAX_PACKET));
    // DEFECT: clean-session — the broker keeps nothing while the middleware is away.
    if defects.has(Defect::CleanSession) {
        o.set_clean_start(true).set_session_expiry_interval(Some(0));
    } else {
        o.set_clean_start(false)
            .set_session_expiry_interval(Some(cfg.session_expiry));
    }
    o
}

/// What to subscribe to: `$share/{group}/{filter}` at QoS 1 for each filter.
pub fn subscriptions(cfg: &MqttConfig, defects: &Defects) -> Vec<(String, QoS)> {
    // DEFECT: qos0-subscribe — the broker queues no QoS 0 message for an offline session.
    let qos = if defects.has(Defect::Qos0Subscribe) {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    cfg.filters
        .iter()
        .map(|f| {
            // DEFECT: no-shared-subscription — every instance gets every message.
            if defects.has(Defect::NoSharedSubscription) {
                (f.clone(), qos)
            } else {
                (format!("$share/{}/{f}", cfg.group), qos)
            }
        })
        .collect()
}

/// Whether a message is a stale retained one, acknowledged and left alone: the broker
/// sets RETAIN only on a message it kept from before the subscription.
pub fn is_stale(retain: bool, defects: &Defects) -> bool {
    // DEFECT: trust-retained — a retained message is taken for an event of now.
    retain && !defects.has(Defect::TrustRetained)
}

/// The system that emitted an event, from its `source` (`/andon/{system}/{plant}`).
pub fn system_of(source: &str) -> Option<System> {
    let rest = source.strip_prefix("/andon/")?;
    let (system, plant) = rest.split_once('/')?;
    if plant.is_empty() || plant.contains('/') {
        return None;
    }
    System::parse(system)
}

/// The event a message carries, checked as the HTTP ingress checks one posted to the
/// ingress of the system its `source` names.
pub fn read(
    topic: &str,
    content_type: Option<&str>,
    user_properties: &[(String, String)],
    payload: &[u8],
    dialects: &ErpDialects,
) -> Result<(CloudEvent, Inbound), Box<Refusal>> {
    let json = mqtt::decode(content_type, user_properties, payload).map_err(|e| {
        Box::new(Refusal::new(
            400,
            "invalid-event",
            "Invalid event",
            format!("The MQTT message on {topic:?} is not a CloudEvent: {e}"),
        ))
    })?;
    let source = json.get("source").and_then(Value::as_str).unwrap_or("");
    let Some(system) = system_of(source) else {
        return Err(Box::new(
            Refusal::new(
                400,
                "invalid-event",
                "Invalid event",
                format!(
                    "The source {source:?} names no system: /andon/{{erp|mes|qms|wms}}/{{plant}}"
                ),
            )
            .about(&json),
        ));
    };
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mqtt::STRUCTURED),
    );
    ingress::accept(system, &headers, &body, dialects)
}

#[cfg(test)]
mod tests;
