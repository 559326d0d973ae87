//! The seed fixes every event id and trace context, whatever the SUT answers.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use andon_contracts::CloudEvent;

use crate::helpers::*;

fn ids_and_traces(events: &[CloudEvent]) -> Vec<(String, String, u64)> {
    events
        .iter()
        .map(|e| (e.id.clone(), e.traceparent.clone(), e.sequence))
        .collect()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids_and_traceparents() {
    let a = Rig::with(fast(None), 42);
    let b = Rig::with(fast(None), 42);
    let c = Rig::with(fast(None), 43);
    for rig in [&a, &b, &c] {
        for i in 0..5 {
            rig.emit(&format!("10000000{}", i % 2));
        }
    }
    let (ea, eb, ec) = (a.emitted(), b.emitted(), c.emitted());
    assert_eq!(ids_and_traces(&ea), ids_and_traces(&eb));
    assert_ne!(
        ids_and_traces(&ea),
        ids_and_traces(&ec),
        "another seed, other ids"
    );
    for e in &ea {
        assert!(uuid::Uuid::parse_str(&e.id).is_ok(), "{}", e.id);
        let parts: Vec<&str> = e.traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{}", e.traceparent);
        assert_eq!((parts[0], parts[3]), ("00", "01"));
        assert_eq!((parts[1].len(), parts[2].len()), (32, 16));
        assert!(parts[1].chars().any(|c| c != '0') && parts[2].chars().any(|c| c != '0'));
        andon_contracts::validate("cloudevent", &serde_json::to_value(e).expect("json"))
            .unwrap_or_else(|v| panic!("{v}"));
    }
}

#[tokio::test]
async fn retries_in_between_do_not_change_the_ids_that_follow() {
    // One emitter's SUT answers 503 a few times, the other's acknowledges at once; events
    // emitted after the retries must still get the same ids from the same seed.
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INGRESS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&flaky)
        .await;
    Mock::given(method("POST"))
        .and(path(INGRESS_PATH))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&flaky)
        .await;
    let steady = accepting_sut().await;
    let a = Rig::with(fast(Some(ingress_of(&flaky))), 42);
    let b = Rig::with(fast(Some(ingress_of(&steady))), 42);
    for rig in [&a, &b] {
        rig.emit("100000001");
        rig.drained().await;
        for _ in 0..3 {
            rig.emit("100000002");
        }
        rig.drained().await;
    }
    assert_eq!(a.attempts().len(), 4 + 3, "the flaky SUT caused retries");
    assert_eq!(b.attempts().len(), 4);
    assert_eq!(ids_and_traces(&a.emitted()), ids_and_traces(&b.emitted()));
}
