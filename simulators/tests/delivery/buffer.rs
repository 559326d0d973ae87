//! The bounded store-and-forward buffer: events wait while there is no ingress, a full
//! buffer refuses new events (and says so once per episode), and it drains when the SUT is
//! reachable again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use andon_simulators::emitter::EmitterConfig;
use andon_simulators::history::Entry;

use crate::helpers::*;

fn buffer_full_records(rig: &Rig) -> usize {
    rig.history.with_records(|r| {
        r.iter()
            .filter(|r| matches!(r.entry, Entry::BufferFull { .. }))
            .count()
    })
}

#[tokio::test]
async fn a_full_buffer_refuses_events_records_it_once_and_recovers_after_draining() {
    let rig = Rig::with(
        EmitterConfig {
            capacity: 5,
            ..fast(None)
        },
        SEED,
    );
    let accepted: Vec<_> = (1..=5).map(|i| rig.emit(&format!("10000000{i}"))).collect();
    // Give the delivery lanes the chance to run: without an ingress they must keep the events.
    tokio::task::yield_now().await;
    let full = rig
        .emit_in(PLANT, "100000006")
        .expect_err("the sixth event is refused");
    assert_eq!(full.capacity, 5);
    assert_eq!(buffer_full_records(&rig), 1);
    let Entry::BufferFull { capacity, refused } = rig
        .history
        .snapshot()
        .into_iter()
        .find(|r| matches!(r.entry, Entry::BufferFull { .. }))
        .expect("a buffer_full record")
        .entry
    else {
        unreachable!()
    };
    assert_eq!((capacity, refused), (5, 1));
    // Still full: refused again, but the episode is recorded only once.
    assert!(rig.emit_in(PLANT, "100000007").is_err());
    assert_eq!(buffer_full_records(&rig), 1);
    let stats = rig.emitter.stats();
    assert_eq!(
        (
            stats.pending,
            stats.emitted,
            stats.refused,
            stats.max_depth,
            stats.attempts
        ),
        (5, 5, 2, 5, 0)
    );
    assert!(!rig.emitter.has_room());

    let sut = accepting_sut().await;
    rig.emitter.set_ingress(Some(ingress_of(&sut)));
    rig.drained().await;
    let mut got: Vec<_> = received(&sut).await.iter().map(|e| e.key()).collect();
    let mut want = accepted.clone();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        got, want,
        "the five buffered events are delivered once each"
    );
    assert!(rig.emitter.has_room());
    let later = rig.emit("100000008");
    rig.drained().await;
    assert_eq!(rig.attempts_of(&later).len(), 1);
    assert_eq!(rig.emitter.stats().delivered, 6);
    // A new episode of fullness would be recorded again; this one was not repeated.
    assert_eq!(buffer_full_records(&rig), 1);
}

#[tokio::test]
async fn events_wait_without_an_ingress_and_go_out_when_one_is_set() {
    let rig = Rig::start(None);
    let events: Vec<_> = (1..=3).map(|_| rig.emit("100000001")).collect();
    // The lanes wake on every event; without an ingress nothing is attempted or lost.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(rig.emitter.stats().pending, 3);
    assert!(rig.attempts().is_empty());
    let sut = accepting_sut().await;
    rig.emitter.set_ingress(Some(ingress_of(&sut)));
    assert_eq!(rig.emitter.ingress(), Some(ingress_of(&sut)));
    rig.drained().await;
    let got: Vec<_> = received(&sut).await.iter().map(|e| e.key()).collect();
    assert_eq!(got, events, "delivered once each, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_emitters_never_overfill_the_buffer() {
    // The race is between checking for room and taking it: several rounds of four threads
    // released together make it likely to show if it exists.
    for round in 0..10 {
        let rig = Arc::new(Rig::with(
            EmitterConfig {
                capacity: 64,
                ..fast(None)
            },
            SEED,
        ));
        let accepted = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (rig, accepted, start) = (rig.clone(), accepted.clone(), start.clone());
                let rt = tokio::runtime::Handle::current();
                std::thread::spawn(move || {
                    let _guard = rt.enter();
                    start.wait();
                    for i in 0..200 {
                        if rig.emit_in(PLANT, &format!("{t}0000{i:04}")).is_ok() {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("emitting thread");
        }
        let stats = rig.emitter.stats();
        assert_eq!(
            accepted.load(Ordering::Relaxed),
            64,
            "round {round}: {stats:?}"
        );
        assert_eq!(
            (stats.pending, stats.max_depth, stats.emitted, stats.refused),
            (64, 64, 64, 800 - 64),
            "round {round}"
        );
    }
}
