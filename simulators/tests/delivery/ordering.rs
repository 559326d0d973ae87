//! Per-aggregate order: a retried event holds back the later events of its aggregate, so
//! the SUT acknowledges them in `sequence` order however often it answers 503.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use andon_contracts::CloudEvent;
use andon_simulators::history::Outcome;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn events_of_one_aggregate_are_acknowledged_in_sequence_order_despite_random_503s() {
    let acked: Arc<Mutex<Vec<CloudEvent>>> = Arc::default();
    let rejected_503 = Arc::new(Mutex::new(0usize));
    let sut = MockServer::start().await;
    {
        let acked = acked.clone();
        let rejected_503 = rejected_503.clone();
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(99));
        Mock::given(method("POST"))
            .and(path(INGRESS_PATH))
            .respond_with(move |req: &Request| {
                let event: CloudEvent = serde_json::from_slice(&req.body).expect("a CloudEvent");
                if rng.lock().expect("rng").random_bool(0.4) {
                    *rejected_503.lock().expect("count") += 1;
                    return ResponseTemplate::new(503);
                }
                acked.lock().expect("acked").push(event);
                ResponseTemplate::new(200)
            })
            .mount(&sut)
            .await;
    }
    let rig = Rig::start(Some(ingress_of(&sut)));
    let subjects = ["100000001", "100000002"];
    let mut emitted = Vec::new();
    for _ in 0..20 {
        for s in subjects {
            emitted.push(rig.emit(s));
        }
    }
    rig.drained().await;
    assert!(
        *rejected_503.lock().expect("count") > 0,
        "the script should have answered 503 at least once"
    );

    let acked = acked.lock().expect("acked").clone();
    assert_eq!(acked.len(), 40, "every event acknowledged exactly once");
    let mut acked_ids: Vec<_> = acked.iter().map(|e| e.id.clone()).collect();
    acked_ids.sort();
    acked_ids.dedup();
    assert_eq!(acked_ids.len(), 40, "no event acknowledged twice");
    for s in subjects {
        let order: Vec<u64> = acked
            .iter()
            .filter(|e| e.subject == s)
            .map(|e| e.sequence)
            .collect();
        assert_eq!(
            order,
            (1..=20).collect::<Vec<_>>(),
            "acknowledged order of {s}"
        );
    }

    // Every request the SUT saw, retries included: within an aggregate the sequence never
    // goes back (a retry repeats it, a later event never overtakes an unacknowledged one).
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for e in received(&sut).await {
        let prev = last.entry(e.subject.clone()).or_insert(0);
        assert!(
            e.sequence >= *prev,
            "{}: sequence {} arrived after {}",
            e.subject,
            e.sequence,
            prev
        );
        *prev = e.sequence;
    }

    // The history tells the same story: failed attempts, then one acknowledged attempt.
    for e in &emitted {
        let attempts = rig.attempts_of(e);
        let (last, before) = attempts.split_last().expect("attempted");
        assert_eq!(last.outcome, Outcome::Ok, "{attempts:#?}");
        assert!(
            before
                .iter()
                .all(|a| a.outcome == Outcome::Fail && a.status == Some(503))
        );
        let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
        assert_eq!(numbers, (1..=attempts.len() as u32).collect::<Vec<_>>());
    }
}
