use andon_contracts::events::mqtt::{Mode, encode};
use serde_json::json;

use super::*;
use crate::config::BrokerUrl;
use crate::ingress::tests::event;

fn cfg() -> MqttConfig {
    MqttConfig {
        filters: vec!["andon/#".into(), "plant/+/events".into()],
        group: "g1".into(),
        client_id: "mw-1".into(),
        session_expiry: 600,
        ..MqttConfig::new(BrokerUrl {
            host: "127.0.0.1".into(),
            port: 18830,
        })
    }
}

fn with(d: Defect) -> Defects {
    [d].into_iter().collect()
}

fn read_event(e: &Value, mode: Mode) -> Result<(CloudEvent, Inbound), Box<Refusal>> {
    let m = encode(e, mode);
    read(
        "andon/1000/mes/x",
        Some(&m.content_type),
        &m.user_properties,
        &m.payload,
        &ErpDialects::default(),
    )
}

#[test]
fn the_session_is_persistent_with_manual_acks_unless_clean_session() {
    let o = options(&cfg(), &Defects::none());
    assert!(!o.clean_start());
    assert_eq!(o.session_expiry_interval(), Some(600));
    assert!(o.manual_acks());
    assert_eq!(o.client_id(), "mw-1");
    assert_eq!(o.keep_alive(), Duration::from_secs(5));
    assert_eq!(o.broker_address(), ("127.0.0.1".to_string(), 18830));
    let clean = options(&cfg(), &with(Defect::CleanSession));
    assert!(clean.clean_start());
    assert_eq!(clean.session_expiry_interval(), Some(0));
}

#[test]
fn each_filter_is_a_shared_subscription_at_qos_1_unless_a_defect_says_otherwise() {
    assert_eq!(
        subscriptions(&cfg(), &Defects::none()),
        [
            ("$share/g1/andon/#".to_string(), QoS::AtLeastOnce),
            ("$share/g1/plant/+/events".to_string(), QoS::AtLeastOnce)
        ]
    );
    for (filter, _) in subscriptions(&cfg(), &Defects::none()) {
        mqtt::check_filter(&filter).unwrap();
    }
    let qos0 = subscriptions(&cfg(), &with(Defect::Qos0Subscribe));
    assert!(
        qos0.iter()
            .all(|(f, q)| *q == QoS::AtMostOnce && f.starts_with("$share/g1/"))
    );
    let plain = subscriptions(&cfg(), &with(Defect::NoSharedSubscription));
    assert_eq!(
        plain,
        [
            ("andon/#".to_string(), QoS::AtLeastOnce),
            ("plant/+/events".to_string(), QoS::AtLeastOnce)
        ]
    );
}

#[test]
fn a_retained_message_is_stale_unless_retained_messages_are_trusted() {
    assert!(is_stale(true, &Defects::none()));
    assert!(!is_stale(false, &Defects::none()));
    assert!(!is_stale(true, &with(Defect::TrustRetained)));
}

#[test]
fn the_system_is_read_from_the_source() {
    assert_eq!(system_of("/andon/mes/1000"), Some(System::Mes));
    assert_eq!(system_of("/andon/erp/2000"), Some(System::Erp));
    assert_eq!(system_of("/andon/qms/1000"), Some(System::Qms));
    assert_eq!(system_of("/andon/wms/1000"), Some(System::Wms));
    for bad in [
        "",
        "/andon/mes",
        "/andon/mes/",
        "/andon/plc/1000",
        "andon/mes/1000",
        "/andon/mes/1000/x",
        "/other/mes/1000",
    ] {
        assert_eq!(system_of(bad), None, "{bad:?}");
    }
}

#[test]
fn a_message_in_either_mode_is_checked_as_the_http_ingress_checks_it() {
    for mode in [Mode::Binary, Mode::Structured] {
        let (e, _) = read_event(&event(), mode).unwrap();
        assert_eq!(
            (e.id.as_str(), e.source.as_str()),
            ("e-1", "/andon/mes/1000")
        );
    }
    let mut wrong = event();
    wrong["source"] = json!("/andon/qms/1000");
    let r = read_event(&wrong, Mode::Binary).unwrap_err();
    assert_eq!(r.code, "invalid-event", "{r:?}");
    // An SAP business event: from the ERP only, of a plant whose ERP speaks S/4HANA.
    let mut sap = event();
    sap["type"] = json!("sap.s4.beh.product.v1.Product.Changed.v1");
    sap["data"] = json!({"Product": "RM-1"});
    assert_eq!(
        read_event(&sap, Mode::Binary).unwrap_err().code,
        "wrong-ingress"
    );
    sap["source"] = json!("/andon/erp/1000");
    assert_eq!(
        read_event(&sap, Mode::Binary).unwrap_err().code,
        "wrong-dialect"
    );
    let mut broken = event();
    broken["data"]["order"] = json!("lower-case");
    assert_eq!(
        read_event(&broken, Mode::Binary).unwrap_err().code,
        "invalid-event"
    );
    let mut nowhere = event();
    nowhere["source"] = json!("/andon/plc/1000");
    let r = read_event(&nowhere, Mode::Structured).unwrap_err();
    assert_eq!(r.code, "invalid-event");
    assert!(r.detail.contains("names no system"), "{}", r.detail);
}

#[test]
fn an_undecodable_message_is_refused_with_the_reason() {
    let r = read(
        "t",
        Some("text/plain"),
        &[],
        b"hello",
        &ErpDialects::default(),
    )
    .unwrap_err();
    assert_eq!(r.code, "invalid-event");
    assert!(
        r.detail.contains("not a CloudEvent") && r.detail.contains("specversion"),
        "{}",
        r.detail
    );
    let r = read(
        "t",
        Some(mqtt::STRUCTURED),
        &[],
        b"{not json",
        &ErpDialects::default(),
    )
    .unwrap_err();
    assert!(r.detail.contains("not JSON"), "{}", r.detail);
}
