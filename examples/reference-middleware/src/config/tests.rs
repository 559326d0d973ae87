use clap::Parser;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[test]
fn arguments_fill_the_config() {
    let cli = Cli::try_parse_from([
        "x",
        "--port",
        "8080",
        "--erp-url",
        "http://erp:1/",
        "--data-dir",
        "/tmp/d",
        "--defect",
        "wrong-uom",
        "--defect",
        "late-hold,no-dedup",
        "--client-timeout",
        "250ms",
        "--erp-dialects",
        "1000=s4hana@2408,2000=business-central@24,3000=bc",
        "--bc-notify-url",
        "http://mw:8080/events/erp/bc/",
        "--bc-renew-every",
        "250",
    ])
    .unwrap();
    let c = Config::from(cli.args);
    assert_eq!(c.listen.port(), 8080);
    assert_eq!(c.targets[&System::Erp], "http://erp:1");
    assert!(!c.targets.contains_key(&System::Mes));
    assert_eq!(c.database(), PathBuf::from("/tmp/d/middleware.db"));
    assert!(c.defects.has(Defect::WrongUom) && c.defects.has(Defect::NoDedup));
    assert_eq!(c.client_timeout, Duration::from_millis(250));
    assert_eq!(
        c.erp_dialects.s4(&PlantId::parse("1000").unwrap()),
        Some(crate::Release::R2408)
    );
    assert_eq!(
        c.erp_dialects.bc(&PlantId::parse("2000").unwrap()),
        Some(crate::BcRelease::R24)
    );
    assert_eq!(
        c.erp_dialects.bc(&PlantId::parse("3000").unwrap()),
        Some(crate::BcRelease::R25)
    );
    assert_eq!(
        c.bc_notify_url.as_deref(),
        Some("http://mw:8080/events/erp/bc")
    );
    assert_eq!(c.bc_renew_every, Duration::from_millis(250));
    let d = Config::from(
        Cli::try_parse_from(["x", "--bc-renew-every", "2s"])
            .unwrap()
            .args,
    );
    assert_eq!(
        (d.bc_renew_every, d.bc_notify_url),
        (Duration::from_secs(2), None)
    );
    assert_eq!(
        Config::from(Cli::try_parse_from(["x"]).unwrap().args).bc_renew_every,
        Duration::from_millis(500)
    );
}

#[test]
fn a_malformed_erp_dialects_value_is_a_usage_error() {
    for bad in ["1000=s4hana@1909", "1000=business-central@23"] {
        let e = Cli::try_parse_from(["x", "--erp-dialects", bad])
            .err()
            .expect("refused");
        assert!(e.to_string().contains("no release"), "{e}");
    }
}

#[test]
fn broker_settings_fill_the_mqtt_config_and_an_empty_url_means_none() {
    let c = Config::from(Cli::try_parse_from(["x"]).unwrap().args);
    assert_eq!(c.mqtt, None);
    let c = Config::from(Cli::try_parse_from(["x", "--broker-url", ""]).unwrap().args);
    assert_eq!(c.mqtt, None);
    let cli = Cli::try_parse_from([
        "x",
        "--broker-url",
        "mqtt://broker.local",
        "--mqtt-subscribe",
        "andon/1000/#, andon/+/erp/#",
        "--mqtt-group",
        "g1",
        "--mqtt-client-id",
        "mw-2",
        "--mqtt-session-expiry",
        "60",
    ])
    .unwrap();
    let m = Config::from(cli.args).mqtt.expect("mqtt");
    assert_eq!(
        m.broker,
        BrokerUrl {
            host: "broker.local".into(),
            port: 1883
        }
    );
    assert_eq!(m.filters, ["andon/1000/#", "andon/+/erp/#"]);
    assert_eq!((m.group.as_str(), m.client_id.as_str()), ("g1", "mw-2"));
    assert_eq!(m.session_expiry, 60);
    let d = Config::from(
        Cli::try_parse_from(["x", "--broker-url", "mqtt://127.0.0.1:18830/"])
            .unwrap()
            .args,
    )
    .mqtt
    .expect("mqtt");
    assert_eq!(
        (d.broker.port, d.filters.clone()),
        (18830, vec!["andon/#".to_string()])
    );
    assert_eq!(
        (d.group.as_str(), d.client_id.as_str()),
        ("andon-reference", "andon-reference")
    );
    assert_eq!(d.session_expiry, 3600);
}

#[test]
fn a_malformed_broker_url_is_an_error_naming_the_variable_and_the_form() {
    for bad in [
        "127.0.0.1:1883",
        "http://127.0.0.1:1883",
        "mqtt://",
        "mqtt://host:0",
        "mqtt://host:99999",
        "mqtt://host:port",
        "mqtt://host:1883/topic",
        "mqtts://host",
    ] {
        let e = broker_url(bad).expect_err(bad);
        assert!(
            e.contains("BROKER_URL") && e.contains("mqtt://HOST[:PORT]"),
            "{e}"
        );
        let usage = Cli::try_parse_from(["x", "--broker-url", bad])
            .err()
            .expect(bad);
        assert!(usage.to_string().contains("BROKER_URL"), "{usage}");
    }
    assert_eq!(
        broker_url("tcp://[::1]:1884").unwrap().0.unwrap(),
        BrokerUrl {
            host: "::1".into(),
            port: 1884
        }
    );
}

#[test]
fn bad_topic_filters_group_and_client_id_are_refused() {
    for bad in [
        "",
        " , ",
        "andon/#/x",
        "andon/a+",
        "$share/g/andon/#",
        "$SYS/#",
    ] {
        let e = topic_filters(bad).expect_err(bad);
        assert!(e.starts_with("MQTT_SUBSCRIBE"), "{e}");
    }
    for bad in ["", "a/b", "g+", "#"] {
        assert!(share_group(bad).unwrap_err().contains("MQTT_GROUP"));
    }
    assert!(client_id(" ").unwrap_err().contains("MQTT_CLIENT_ID"));
    assert!(Cli::try_parse_from(["x", "--mqtt-session-expiry", "-1"]).is_err());
}

#[test]
fn an_unknown_defect_is_a_usage_error_and_an_empty_list_is_none() {
    assert!(Cli::try_parse_from(["x", "--defect", "meteor"]).is_err());
    let c = Config::from(Cli::try_parse_from(["x", "--defect", ""]).unwrap().args);
    assert!(c.defects.is_empty());
}

#[test]
fn instances_share_middleware_db_but_no_shared_subscription_gives_each_its_own_file() {
    let parse = |args: &[&str]| {
        Config::from(
            Cli::try_parse_from(["x", "--data-dir", "/tmp/d"].iter().chain(args))
                .unwrap()
                .args,
        )
    };
    let c = parse(&["--mqtt-client-id", "andon-reference-2"]);
    assert_eq!(
        c.identity(),
        "andon-reference-2",
        "the name without a broker"
    );
    assert_eq!(c.database(), PathBuf::from("/tmp/d/middleware.db"));
    assert_eq!(parse(&[]).identity(), "andon-reference");
    let d = parse(&[
        "--broker-url",
        "mqtt://b",
        "--mqtt-client-id",
        "mw/2",
        "--defect",
        "no-shared-subscription",
    ]);
    assert_eq!(d.identity(), "mw/2");
    assert_eq!(d.database(), PathBuf::from("/tmp/d/middleware-mw_2.db"));
}

#[test]
fn the_lease_timing_has_defaults_and_a_ttl_of_at_least_two_renewals() {
    let c = Config::from(Cli::try_parse_from(["x"]).unwrap().args);
    assert_eq!(c.lease, LeaseConfig::default());
    assert_eq!(
        (c.lease.renew_every, c.lease.ttl),
        (Duration::from_millis(500), Duration::from_secs(2))
    );
    let c = Config::from(
        Cli::try_parse_from(["x", "--lease-renew-every", "200ms", "--lease-ttl", "300"])
            .unwrap()
            .args,
    );
    assert_eq!(
        (c.lease.renew_every, c.lease.ttl),
        (Duration::from_millis(200), Duration::from_millis(400))
    );
}
