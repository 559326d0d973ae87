use andon_contracts::System;
use andon_simulators::SimConfig;
use andon_simulators::core::ActivityConfig;
use serde_json::json;

use crate::helpers::*;

fn fg(md: &andon_simulators::MasterData) -> String {
    md.boms[0].material.to_string()
}

#[tokio::test]
async fn an_inspection_lot_gets_a_result_then_a_usage_decision() {
    let cfg = SimConfig {
        activity: ActivityConfig {
            result_delay: andon_simulators::faults::Dur(std::time::Duration::ZERO),
            hold_rate: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let qms = sim_with(System::Qms, cfg, master());
    let md = qms.core.master().clone();
    let (s, lot) = call(&qms, "POST", "/api/v1/inspection-lots", Some(with_source(json!({
        "origin": "04", "plant": "1000", "storage_location": "0001", "material": fg(&md), "batch": "P10000001", "order": "1000001", "quantity": { "value": 40, "unit": md.materials.iter().find(|m| m.material.as_str() == fg(&md)).unwrap().base_unit }
    })))).await;
    assert_eq!(s, 201, "{lot}");
    assert_eq!(qms.behaviour.step(5), 2);
    let kinds: Vec<String> = emitted(&qms.core.history.snapshot())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        vec!["inspection_result.recorded", "usage_decision.made"]
    );
    let (_, after) = call(
        &qms,
        "GET",
        &format!(
            "/api/v1/inspection-lots/{}",
            lot["inspection_lot"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert!(after["valuation"] == "A" || after["valuation"] == "R");
}

#[tokio::test]
async fn only_origin_04_is_in_the_contract() {
    let qms = sim(System::Qms);
    let md = qms.core.master().clone();
    let (s, p) = call(&qms, "POST", "/api/v1/inspection-lots", Some(with_source(json!({
        "origin": "01", "plant": "1000", "storage_location": "0001", "material": fg(&md), "batch": "P1", "quantity": { "value": 1, "unit": "PC" }
    })))).await;
    assert_eq!(
        (s.as_u16(), p["code"].as_str()),
        (400, Some("invalid-request"))
    );
    assert_eq!(p["errors"][0]["pointer"], "/origin");
}

#[tokio::test]
async fn holds_are_placed_and_later_released() {
    let cfg = SimConfig {
        activity: ActivityConfig {
            hold_rate: 0.5,
            ..Default::default()
        },
        ..Default::default()
    };
    let qms = sim_with(System::Qms, cfg, master());
    qms.behaviour.step(60);
    let events = emitted(&qms.core.history.snapshot());
    let placed: Vec<_> = events
        .iter()
        .filter(|(k, _)| k == "lot.hold_placed")
        .map(|(_, d)| d["hold_id"].clone())
        .collect();
    let released: Vec<_> = events
        .iter()
        .filter(|(k, _)| k == "lot.hold_released")
        .map(|(_, d)| d["hold_id"].clone())
        .collect();
    assert!(!placed.is_empty() && !released.is_empty());
    for r in &released {
        let p = placed
            .iter()
            .position(|p| p == r)
            .expect("released hold was placed");
        let rp = events
            .iter()
            .position(|(k, d)| k == "lot.hold_released" && &d["hold_id"] == r)
            .unwrap();
        let pp = events
            .iter()
            .position(|(k, d)| k == "lot.hold_placed" && d["hold_id"] == placed[p])
            .unwrap();
        assert!(pp < rp);
    }
}
