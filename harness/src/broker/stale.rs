//! Stale retained messages: what an earlier run or another plant leaves on a broker. Before
//! the SUT starts, andon publishes, retained, events that never happened in this run — a
//! shipment of one unit of a lot of the master data's initial stock, on the WMS's topic — so
//! that a middleware acting on a retained message posts what the checkers cannot trace to
//! any event of the run (`unknown_sources`).

use std::time::Duration;

use andon_contracts::events::mqtt;
use andon_contracts::{EventKind, System};
use andon_simulators::masterdata::MasterData;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};

use crate::sut::MqttIngress;

/// The stale events: `n` shipments of one unit of lots of the initial stock (none without
/// a batch-managed lot), under delivery numbers and ids no run draws.
pub fn events(master: &MasterData, n: u32) -> Vec<Value> {
    let lots: Vec<_> = master.stock.iter().filter(|s| s.batch.is_some()).collect();
    if lots.is_empty() {
        return Vec::new();
    }
    (0..n as usize)
        .map(|i| {
            let lot = lots[i % lots.len()];
            let delivery = format!("{}", 89_990_001 + i);
            json!({
                "specversion": "1.0",
                "id": format!("stale-retained-{:04}", i + 1),
                "source": format!("/andon/wms/{}", lot.plant),
                "type": EventKind::ShipmentConfirmed.type_name(),
                "subject": delivery,
                "time": "2026-01-01T00:00:00Z",
                "datacontenttype": "application/json",
                "plant": lot.plant,
                "sequence": 1,
                "traceparent": format!("00-{:032x}-{:016x}-01", 0x57a1e_u64 + i as u64, i + 1),
                "data": {
                    "delivery": delivery,
                    "plant": lot.plant,
                    "shipped_at": "2026-01-01T00:00:00Z",
                    "items": [{
                        "item": "000010",
                        "material": lot.material,
                        "batch": lot.batch,
                        "storage_location": lot.storage_location,
                        "quantity": { "value": 1, "unit": lot.quantity.unit },
                    }],
                },
            })
        })
        .collect()
}

/// Publishes `events`, retained at QoS 1, each on its topic under `wms`'s layout, to the
/// broker at `address`; waits for every PUBACK. Returns the topics.
pub async fn publish(
    address: &str,
    wms: &MqttIngress,
    events: &[Value],
) -> Result<Vec<String>, String> {
    let (host, port) = address
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("broker address {address:?}"))?;
    let mut o = MqttOptions::new("andon-stale-retained", host, port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(o, 64);
    let mut topics = Vec::new();
    for e in events {
        let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        let topic = mqtt::topic(
            &wms.topic,
            &field("plant"),
            System::Wms.as_str(),
            EventKind::ShipmentConfirmed.name(),
            &field("subject"),
        );
        let m = mqtt::encode(e, wms.mode);
        let props = PublishProperties {
            content_type: Some(m.content_type),
            user_properties: m.user_properties,
            ..Default::default()
        };
        client
            .publish_with_properties(topic.clone(), QoS::AtLeastOnce, true, m.payload, props)
            .await
            .map_err(|e| e.to_string())?;
        topics.push(topic);
    }
    let mut acked = 0;
    let wait = async {
        while acked < events.len() {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(format!("publishing the stale retained events: {e}")),
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| "no PUBACK for the stale retained events within 10 s".to_string())??;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    Ok(topics)
}
