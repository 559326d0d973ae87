use andon_contracts::System;
use andon_simulators::history::Entry;

use crate::helpers::*;

fn events_of(sim: &andon_simulators::Simulator) -> Vec<andon_contracts::CloudEvent> {
    sim.core
        .history
        .snapshot()
        .into_iter()
        .filter_map(|r| match r.entry {
            Entry::EventEmitted { event, .. } => Some(andon_contracts::CloudEvent::clone(&event)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_erp_activity() {
    let a = sim(System::Erp);
    let b = sim(System::Erp);
    assert_eq!(a.behaviour.step(30), 30);
    assert_eq!(b.behaviour.step(30), 30);
    let (ea, eb) = (events_of(&a), events_of(&b));
    assert_eq!(ea.len(), 30);
    for (x, y) in ea.iter().zip(&eb) {
        assert_eq!(
            (&x.id, &x.type_, &x.subject, &x.data, &x.traceparent),
            (&y.id, &y.type_, &y.subject, &y.data, &y.traceparent)
        );
    }
}

#[tokio::test]
async fn another_seed_gives_other_activity() {
    let a = sim(System::Erp);
    let cfg = andon_simulators::SimConfig {
        seed: 43,
        ..Default::default()
    };
    let b = sim_with(System::Erp, cfg, master());
    a.behaviour.step(10);
    b.behaviour.step(10);
    assert_ne!(
        events_of(&a)
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        events_of(&b)
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn every_generated_event_matches_its_schema() {
    let erp = sim(System::Erp);
    erp.behaviour.step(20);
    let mes = sim(System::Mes);
    for e in events_of(&erp)
        .iter()
        .filter(|e| e.type_.contains("released"))
        .take(5)
    {
        let mut wo = e.data.to_value();
        for k in [
            "order_type",
            "status",
            "production_hold",
            "basic_start",
            "basic_finish",
            "confirmed_yield",
            "confirmed_scrap",
        ] {
            wo.as_object_mut().unwrap().remove(k);
        }
        let (s, _) = call(&mes, "POST", "/api/v1/work-orders", Some(with_source(wo))).await;
        assert_eq!(s, 201);
    }
    mes.behaviour.step(200);
    let all: Vec<_> = events_of(&erp).into_iter().chain(events_of(&mes)).collect();
    assert!(all.len() > 40, "{}", all.len());
    for e in &all {
        let kind = e.kind().expect("catalog kind");
        andon_contracts::validate("cloudevent", &serde_json::to_value(e).unwrap())
            .unwrap_or_else(|v| panic!("{kind}: {v}"));
        andon_contracts::validate(&format!("events/{}", kind.name()), &e.data.to_value())
            .unwrap_or_else(|v| panic!("{kind}: {v}"));
        e.typed_data().unwrap_or_else(|v| panic!("{kind}: {v}"));
    }
}

#[tokio::test]
async fn sequences_increase_per_aggregate() {
    let erp = sim(System::Erp);
    erp.behaviour.step(40);
    let mut last = std::collections::HashMap::new();
    for e in events_of(&erp) {
        let prev = last.insert(e.subject.clone(), e.sequence).unwrap_or(0);
        assert_eq!(e.sequence, prev + 1, "subject {}", e.subject);
    }
}
