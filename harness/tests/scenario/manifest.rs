//! `sut.toml`: parsing with positions, placeholders, the reference manifest.

use andon::sut::{Ingress, IngressError, ManifestError, Placeholders, SutManifest};
use andon_contracts::System;

use crate::helpers::{repo, resolved, scratch, urls};

const MANAGED: &str = r#"name = "acme-bridge"

[start]
command = ["./acme-bridge", "--port", "{sut.port}", "--data", "{run.dir}/sut"]
env = { ERP_URL = "{erp.url}", MES_URL = "{mes.url}", QMS_URL = "{qms.url}", WMS_URL = "{wms.url}", JSON = "{{\"a\": 1}}", SELF = "{andon}" }
ready = "{sut.url}/health"
ready_timeout = "5s"

[ingress]
erp = "{sut.url}/events/erp"
mes = "{sut.url}/events/mes"
qms = "{sut.url}/events/qms"
wms = "{sut.url}/events/wms"

[capabilities]
dead_letters = "{sut.url}/dead-letters"
"#;

fn refused(text: &str) -> String {
    match SutManifest::parse(text, "sut.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e @ ManifestError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn placeholders_are_filled_for_a_run() {
    let run = scratch("manifest-fill");
    let sut = resolved(MANAGED, Some(45678), &run);
    let start = sut.start.expect("managed");
    assert_eq!(
        start.command,
        [
            "./acme-bridge",
            "--port",
            "45678",
            "--data",
            &format!("{}/sut", run.display())
        ]
    );
    assert_eq!(start.env["ERP_URL"], urls()[&System::Erp]);
    assert_eq!(start.env["JSON"], "{\"a\": 1}");
    assert_eq!(
        start.env["SELF"],
        std::env::current_exe().unwrap().display().to_string()
    );
    assert_eq!(start.ready, "http://127.0.0.1:45678/health");
    assert_eq!(start.ready_timeout, std::time::Duration::from_secs(5));
    assert_eq!(start.stop_grace, std::time::Duration::from_secs(10));
    assert_eq!(
        sut.ingress[&System::Wms].as_str(),
        "http://127.0.0.1:45678/events/wms"
    );
    assert_eq!(
        sut.dead_letters.as_deref(),
        Some("http://127.0.0.1:45678/dead-letters")
    );
    assert_eq!(sut.port, Some(45678));
}

#[test]
fn the_reference_manifest_parses_and_resolves() {
    let path = repo().join("examples/reference-middleware/sut.toml");
    let m = SutManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(m.is_managed());
    let run = scratch("manifest-reference");
    let sut = m
        .resolve(&Placeholders::new(urls(), Some(40001), &run))
        .unwrap();
    let start = sut.start.unwrap();
    let andon = std::env::current_exe().unwrap().display().to_string();
    assert_eq!(
        start.command,
        [andon.as_str(), "reference-sut", "--port", "40001"]
    );
    assert_eq!(start.env["DATA_DIR"], format!("{}/sut", run.display()));
    assert_eq!(
        sut.ingress[&System::Mes].as_str(),
        "http://127.0.0.1:40001/events/mes"
    );
    assert!(sut.dead_letters.is_some());
}

#[test]
fn a_relative_program_path_is_taken_from_the_manifest_folder() {
    let dir = scratch("manifest-relative");
    std::fs::write(dir.join("sut.toml"), MANAGED).unwrap();
    let m = SutManifest::load(&dir.join("sut.toml")).unwrap();
    let sut = m
        .resolve(&Placeholders::new(urls(), Some(1), &dir))
        .unwrap();
    assert_eq!(
        sut.start.unwrap().command[0],
        dir.join("./acme-bridge").display().to_string()
    );
}

#[test]
fn an_already_running_sut_needs_no_start_and_no_port() {
    let text = r#"name = "remote"
[ingress]
erp = "http://bridge.example/events/erp"
mes = "http://bridge.example/events/mes"
qms = "http://bridge.example/events/qms"
wms = "http://bridge.example/events/wms"
"#;
    let m = SutManifest::parse(text, "sut.toml").unwrap();
    assert!(!m.is_managed());
    let sut = resolved(text, None, &scratch("manifest-remote"));
    assert!(sut.start.is_none() && sut.port.is_none() && sut.dead_letters.is_none());
    let bad = text.replace("http://bridge.example/events/qms", "{sut.url}/events/qms");
    assert_eq!(
        refused(&bad),
        "sut.toml:5:8: {sut.url} is only known when andon starts the SUT: add [start], or write the running SUT's address"
    );
}

#[test]
fn an_https_ingress_is_refused_at_its_line_not_retried_for_the_whole_run() {
    let text = r#"name = "remote"
[ingress]
erp = "http://bridge.example/events/erp"
mes = "https://bridge.example/events/mes"
qms = "http://bridge.example/events/qms"
wms = "http://bridge.example/events/wms"
"#;
    let e = refused(text);
    assert!(
        e.starts_with("sut.toml:4:7: \"https://bridge.example/events/mes\": andon delivers events over plain HTTP"),
        "{e}"
    );
    // A placeholder that fills in as https is refused when the run resolves it.
    assert!(matches!(
        Ingress::parse("https://x/events"),
        Err(IngressError::Https(_))
    ));
    assert!(matches!(
        Ingress::parse("http://"),
        Err(IngressError::Undeliverable { .. })
    ));
    assert_eq!(
        Ingress::parse("http://x:1/e").map(|i| i.to_string()).ok(),
        Some("http://x:1/e".to_string())
    );
}

#[test]
fn an_unknown_key_is_refused_with_its_position() {
    let e = refused(&MANAGED.replace("ready_timeout", "ready_timout"));
    assert!(
        e.starts_with("sut.toml:7:1: unknown field `ready_timout`, expected one of"),
        "{e}"
    );
    let e = refused(&MANAGED.replace("[capabilities]", "[capabilities]\nsnapshots = \"x\""));
    assert!(
        e.starts_with("sut.toml:16:1: unknown field `snapshots`"),
        "{e}"
    );
}

#[test]
fn a_type_error_is_refused_with_its_position() {
    let e = refused(&MANAGED.replace("ready = \"{sut.url}/health\"", "ready = 8080"));
    assert!(
        e.starts_with("sut.toml:6:9: invalid type: integer `8080`, expected a string"),
        "{e}"
    );
    let e = refused(&MANAGED.replace("\"5s\"", "\"soon\""));
    assert!(e.starts_with("sut.toml:7:17: duration \"soon\""), "{e}");
}

#[test]
fn an_unknown_placeholder_is_named_where_it_is_written() {
    let e = refused(&MANAGED.replace("{mes.url}\", QMS", "{mes.uri}\", QMS"));
    assert_eq!(
        e,
        "sut.toml:5:43: unknown placeholder {mes.uri}, expected one of {erp.url}, {mes.url}, {qms.url}, {wms.url}, {erp.dialects}, {erp.PLANT.url}, {sut.port}, {sut.url}, {run.dir}, {andon}, {broker}, {sut.instance}"
    );
    let e = refused(&MANAGED.replace("\"{sut.url}/health\"", "\"{sut.url/health\""));
    assert!(e.starts_with("sut.toml:6:10: an unclosed `{`"), "{e}");
}

#[test]
fn missing_or_contradictory_parts_are_refused() {
    let e = refused(&MANAGED.replace("ready = \"{sut.url}/health\"\n", ""));
    assert!(e.starts_with("sut.toml:3:1: [start] needs `ready`"), "{e}");
    let e = refused(&MANAGED.replace(
        "ready_timeout",
        "args = [\"--port\", \"{sut.port}\"]\nready_timeout",
    ));
    assert!(
        e.starts_with("sut.toml:7:8: `args` are the container's arguments"),
        "{e}"
    );
    let ingress = MANAGED.find("[ingress]").unwrap();
    let caps = MANAGED.find("[capabilities]").unwrap();
    let e = refused(&format!("{}{}", &MANAGED[..ingress], &MANAGED[caps..]));
    assert!(e.contains("missing field `ingress`"), "{e}");
    let e = refused(&MANAGED.replace("wms = \"{sut.url}/events/wms\"\n", ""));
    assert!(e.contains("missing field `wms`"), "{e}");
    let e = refused(&MANAGED.replace("\"{sut.url}/events/erp\"", "\"ftp://x/events/erp\""));
    assert!(
        e.starts_with("sut.toml:10:7: \"ftp://x/events/erp\" must be an http:// or https:// URL"),
        "{e}"
    );
}

#[test]
fn a_missing_manifest_is_named() {
    let e = SutManifest::load(&repo().join("nowhere/sut.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nowhere/sut.toml: cannot read the SUT manifest"),
        "{e}"
    );
}

#[test]
fn the_vendor_dialects_a_sut_speaks_are_capabilities() {
    let with = MANAGED.to_string() + "dialects = [\"s4hana\"]\n";
    let m = SutManifest::parse(&with, "sut.toml").expect("parses");
    assert_eq!(
        m.capabilities.names(),
        vec!["dead_letters".to_string(), "s4hana".to_string()]
    );
    let e = refused(&(MANAGED.to_string() + "dialects = [\"s4hana\", \"sap\"]\n"));
    assert!(
        e.starts_with("sut.toml:17:23: unknown dialect \"sap\" in capabilities.dialects"),
        "{e}"
    );
}

/// `MANAGED` with its `[ingress]` replaced by `ingress`.
fn with_ingress(ingress: &str) -> String {
    let start = MANAGED.find("[ingress]").unwrap();
    let end = MANAGED.find("[capabilities]").unwrap();
    format!(
        "{}[ingress]\n{ingress}\n{}",
        &MANAGED[..start],
        &MANAGED[end..]
    )
}

#[test]
fn a_system_consumed_from_a_broker_names_its_filter_layout_and_mode() {
    let text = with_ingress(
        r#"erp = "{sut.url}/events/erp"
mes = { webhook = "{sut.url}/events/mes", mqtt = "andon/+/mes/#" }
qms = { mqtt = "$share/g/acme/+/qms/#", topic = "acme/{plant}/qms/{kind}", mode = "structured" }
wms = "{sut.url}/events/wms""#,
    );
    let m = SutManifest::parse(&text, "sut.toml").unwrap();
    assert!(m.consumes_mqtt());
    assert!(m.capabilities.names().contains(&"mqtt".to_string()));
    let mes = m.ingress[&System::Mes].mqtt.as_ref().unwrap();
    assert_eq!(mes.topic, andon::sut::manifest::DEFAULT_TOPIC);
    assert_eq!(mes.url("b:1"), "mqtt://b:1/andon/{plant}/{system}/{kind}");
    let qms = m.ingress[&System::Qms].mqtt.as_ref().unwrap();
    assert_eq!(
        qms.url("b:1"),
        "mqtt://b:1/acme/{plant}/qms/{kind}?mode=structured"
    );
    assert!(m.ingress[&System::Qms].webhook.is_none());
    let run = scratch("manifest-mqtt");
    let sut = resolved(&text, Some(45678), &run);
    assert!(
        !sut.ingress.contains_key(&System::Qms),
        "no webhook for qms"
    );
    assert_eq!(
        sut.mqtt.keys().copied().collect::<Vec<_>>(),
        [System::Mes, System::Qms]
    );
}

#[test]
fn a_broker_ingress_that_would_miss_its_own_topics_is_refused_at_its_line() {
    for (entry, expected) in [
        (
            r#"mes = { mqtt = "andon/+/qms/#" }"#,
            "which the filter \"andon/+/qms/#\" does not match",
        ),
        (
            r#"mes = { mqtt = "andon/#", topic = "andon/{line}" }"#,
            "unknown placeholder {line}",
        ),
        (r#"mes = { mqtt = "andon/x#" }"#, "+ must be a whole level"),
        (
            r#"mes = { mqtt = "andon/#", mode = "xml" }"#,
            "expected binary or structured",
        ),
        (
            r#"mes = { topic = "andon/{plant}" }"#,
            "`topic` and `mode` go with `mqtt`",
        ),
        (r#"mes = { }"#, "needs `webhook` (a URL) or `mqtt`"),
        (
            r#"mes = { mqtt = "andon/#", qos = 2 }"#,
            "unknown field `qos`",
        ),
        ("mes = 3", "expected a URL or a table"),
    ] {
        let text = with_ingress(&format!(
            "erp = \"{{sut.url}}/events/erp\"\n{entry}\nqms = \"{{sut.url}}/events/qms\"\nwms = \"{{sut.url}}/events/wms\""
        ));
        let e = refused(&text);
        let line = text.lines().position(|l| l.starts_with("mes =")).unwrap() + 1;
        assert!(e.starts_with(&format!("sut.toml:{line}:")), "{entry}: {e}");
        assert!(e.contains(expected), "{entry}: {e}");
    }
}

#[test]
fn the_broker_and_the_instance_are_placeholders() {
    let text = MANAGED.replace(
        "SELF = \"{andon}\"",
        "SELF = \"{andon}\", BROKER = \"{broker}\", ID = \"bridge{sut.instance}\"",
    );
    let run = scratch("manifest-broker");
    let m = SutManifest::parse(&text, "sut.toml").unwrap();
    let mut ph = Placeholders::new(urls(), Some(45678), &run);
    let one = m.resolve(&ph).unwrap().start.unwrap();
    assert_eq!(
        (one.env["BROKER"].as_str(), one.env["ID"].as_str()),
        ("", "bridge")
    );
    ph.broker = Some("mqtt://127.0.0.1:1884".into());
    ph.sut_instance = 2;
    let two = m.resolve(&ph).unwrap().start.unwrap();
    assert_eq!(two.env["BROKER"], "mqtt://127.0.0.1:1884");
    assert_eq!(two.env["ID"], "bridge-2");
}
