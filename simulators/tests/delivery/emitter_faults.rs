//! Emitter faults: `duplicate`, `reorder`, `partition`, `clock_skew` and `poison` change what reaches
//! the SUT, and each leaves a `fault` record in the history.

use std::collections::BTreeMap;
use std::time::Duration;

use andon_simulators::clock::default_start;
use andon_simulators::faults::{FaultKind, FaultSpec};
use andon_simulators::history::{Entry, Outcome, Record};

use crate::helpers::*;

fn fired(records: &[Record], kind: &str) -> usize {
    records
        .iter()
        .filter(|r| {
            matches!(&r.entry, Entry::Fault { action, kind: k, .. } if action == "fired" && k == kind)
        })
        .count()
}

#[tokio::test]
async fn duplicate_with_probability_1_delivers_every_event_exactly_twice_with_the_same_id() {
    let sut = accepting_sut().await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let mut spec = FaultSpec::new(FaultKind::Duplicate);
    spec.probability = Some(1.0);
    rig.faults.add(spec).expect("valid fault");
    let events: Vec<_> = (1..=3).map(|i| rig.emit(&format!("10000000{i}"))).collect();
    rig.drained().await;

    let got = received(&sut).await;
    assert_eq!(got.len(), 6, "each event twice, no more: {got:#?}");
    for key in &events {
        let copies: Vec<_> = got.iter().filter(|e| &e.key() == key).collect();
        assert_eq!(copies.len(), 2, "{key:?}");
        assert_eq!(
            copies[0], copies[1],
            "a duplicate is the same event, byte for byte"
        );
        let attempts = rig.attempts_of(key);
        assert_eq!(attempts.len(), 2);
        assert!(attempts.iter().all(|a| a.outcome == Outcome::Ok));
    }
    assert_eq!(rig.history.with_records(|r| fired(r, "duplicate")), 3);
    let stats = rig.emitter.stats();
    assert_eq!((stats.emitted, stats.pending), (3, 0));
}

#[tokio::test]
async fn reorder_lets_later_events_of_an_aggregate_overtake_within_the_window() {
    let sut = accepting_sut().await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    rig.fault(FaultKind::Reorder { window: 3 });
    let events: Vec<_> = (0..10).map(|_| rig.emit("100000001")).collect();
    rig.drained().await;

    let got = received(&sut).await;
    let order: Vec<u64> = got.iter().map(|e| e.sequence).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=10).collect::<Vec<_>>(),
        "each event exactly once"
    );
    assert!(
        order.windows(2).any(|w| w[0] > w[1]),
        "some event should arrive before an earlier one: {order:?}"
    );
    // No event is overtaken by more than `window` later events of its aggregate.
    for (i, seq) in order.iter().enumerate() {
        let overtaken_by = order[..i].iter().filter(|s| *s > seq).count();
        assert!(
            overtaken_by <= 3,
            "sequence {seq} was overtaken by {overtaken_by} events: {order:?}"
        );
    }
    assert!(rig.history.with_records(|r| fired(r, "reorder")) > 0);
    assert_eq!(rig.emitter.stats().delivered, events.len() as u64);
}

#[tokio::test]
async fn partition_holds_every_event_until_healed_then_floods_in_order() {
    let sut = accepting_sut().await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let id = rig.fault(FaultKind::Partition);
    let events: Vec<_> = (0..5).map(|_| rig.emit("100000001")).collect();
    // Proving that nothing is sent takes an observation window.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rig.emitter.drained())
            .await
            .is_err(),
        "nothing can drain while partitioned"
    );
    assert!(received(&sut).await.is_empty(), "the SUT received nothing");
    assert!(rig.attempts().is_empty());
    assert_eq!(rig.emitter.stats().pending, 5);

    assert!(rig.faults.clear(&id));
    rig.drained().await;
    let got: Vec<_> = received(&sut).await.iter().map(|e| e.key()).collect();
    assert_eq!(got, events, "all of them, once each, in order");
}

#[tokio::test]
async fn a_partition_of_one_plant_does_not_hold_back_another_plants_events() {
    let sut = accepting_sut().await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let mut spec = FaultSpec::new(FaultKind::Partition);
    spec.plant = Some(plant("1000"));
    let id = rig.faults.add(spec).expect("valid fault");
    // Same order number in both plants: the same delivery lane, different aggregates.
    let held: Vec<_> = (0..3).map(|_| rig.emit("100000001")).collect();
    let other = rig.emit_in("2000", "100000001").expect("room");
    let got = wait_for_requests(&sut, 1).await;
    assert_eq!(
        got.iter().map(|e| e.key()).collect::<Vec<_>>(),
        vec![other.clone()],
        "only plant 2000's event goes out"
    );
    // The SUT records the request before it answers: wait until the emitter has settled
    // the delivery (its record is written, then the buffer shrinks, without a pause).
    rig.wait_for("plant 2000's event delivered", |r| {
        r.iter()
            .filter_map(Attempt::of)
            .any(|a| a.event == other && a.outcome == Outcome::Ok)
    })
    .await;
    assert_eq!(rig.emitter.stats().pending, 3);

    assert!(rig.faults.clear(&id));
    rig.drained().await;
    let got: Vec<_> = received(&sut).await.iter().map(|e| e.key()).collect();
    assert_eq!(&got[1..], &held[..], "plant 1000 floods in, in order");
}

#[tokio::test]
async fn clock_skew_moves_the_business_time_of_emitted_events() {
    let sut = accepting_sut().await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let id = rig.fault(FaultKind::ClockSkew { offset_secs: 3600 });
    let skewed = rig.emit("100000001");
    assert!(rig.faults.clear(&id));
    let plain = rig.emit("100000001");
    rig.drained().await;

    let times: BTreeMap<_, _> = rig
        .emitted()
        .into_iter()
        .map(|e| (e.id.clone(), e.time))
        .collect();
    let ahead = times[&skewed.id] - default_start();
    let now = times[&plain.id] - default_start();
    let slack = chrono::Duration::seconds(10);
    assert!(
        ahead >= chrono::Duration::hours(1) && ahead < chrono::Duration::hours(1) + slack,
        "skewed event is {ahead} after the business start"
    );
    assert!(
        now >= chrono::Duration::zero() && now < slack,
        "unskewed event is {now} after the business start"
    );
    // The SUT sees the skewed time as emitted.
    let got = received(&sut).await;
    let delivered = got.iter().find(|e| e.key() == skewed).expect("delivered");
    assert_eq!(delivered.time, times[&skewed.id]);
    assert!(rig.history.with_records(|r| fired(r, "clock_skew")) == 1);
}

#[tokio::test]
async fn poison_mixes_a_poison_copy_in_after_each_chosen_event() {
    let sut = accepting_sut().await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    rig.fault(FaultKind::Poison {
        mode: andon_simulators::faults::PoisonMode::Mixed,
    });
    let valid: Vec<_> = (1..=4).map(|i| rig.emit(&format!("10000000{i}"))).collect();
    rig.drained().await;

    let got = received(&sut).await;
    assert_eq!(
        got.len(),
        8,
        "every valid event and a poison copy of each: {got:#?}"
    );
    let (poison, marked): (Vec<String>, usize) = rig.history.with_records(|r| {
        let reasons: Vec<String> = r
            .iter()
            .filter_map(|r| match &r.entry {
                Entry::EventEmitted {
                    poison: Some(why), ..
                } => Some(why.clone()),
                _ => None,
            })
            .collect();
        (reasons, fired(r, "poison"))
    });
    assert_eq!(marked, 4);
    assert_eq!(poison.len(), 4, "each copy is marked poison in the history");
    // `mixed`: schema-invalid and unknown master data, alternately.
    assert!(
        poison.iter().any(|p| p.starts_with("schema-invalid")),
        "{poison:?}"
    );
    assert!(
        poison.iter().any(|p| p.starts_with("unknown master data")),
        "{poison:?}"
    );
    for e in got.iter().filter(|e| !valid.contains(&e.key())) {
        let data = e.data.to_value();
        let broken = andon_contracts::validate("events/material.consumed", &data).is_err();
        let unknown = data["material"] == "ZZ-UNKNOWN-MATERIAL";
        assert!(broken || unknown, "{data}");
    }
}
