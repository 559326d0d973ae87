//! What the emitter does with each kind of answer of the SUT's ingress: 2xx acknowledges,
//! 5xx/408/429/timeouts/connection errors are retried with backoff, other 4xx reject.

use std::time::Duration;

use andon_simulators::emitter::EmitterConfig;
use andon_simulators::faults::Dur;
use andon_simulators::history::Outcome;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// Mounts `first` for the first `n` requests, then 200 for every later one.
async fn sut_answering(first: ResponseTemplate, n: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INGRESS_PATH))
        .respond_with(first)
        .up_to_n_times(n)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(INGRESS_PATH))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn two_503s_then_200_deliver_once_after_three_attempts_with_growing_backoff() {
    let sut = sut_answering(ResponseTemplate::new(503), 2).await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let event = rig.emit("100000001");
    rig.drained().await;

    let attempts = rig.attempts_of(&event);
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.outcome, a.status))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, Outcome::Fail, Some(503)),
            (2, Outcome::Fail, Some(503)),
            (3, Outcome::Ok, Some(200)),
        ]
    );
    assert!(attempts.iter().all(|a| !a.rejected && a.error.is_none()));
    let stats = rig.emitter.stats();
    assert_eq!(
        (
            stats.emitted,
            stats.delivered,
            stats.rejected,
            stats.attempts,
            stats.pending
        ),
        (1, 1, 0, 3, 0)
    );
    // Backoff: base 10 ms with jitter 0.5–1, doubling: the first pause is at least 5 ms and
    // the second is not shorter than the first (a few ms of scheduling noise allowed).
    let first = attempts[0].pause_before(&attempts[1]);
    let second = attempts[1].pause_before(&attempts[2]);
    assert!(first >= Duration::from_millis(4), "first pause {first:?}");
    assert!(
        second + Duration::from_millis(5) >= first,
        "backoff shrank: {first:?} then {second:?}"
    );
    // The SUT saw the same event three times.
    let got = received(&sut).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|e| e.key() == event));
}

#[tokio::test]
async fn backoff_grows_to_the_maximum_and_no_further() {
    let sut = sut_answering(ResponseTemplate::new(500), 6).await;
    let rig = Rig::with(
        EmitterConfig {
            backoff_max: Dur(Duration::from_millis(40)),
            ..fast(Some(ingress_of(&sut)))
        },
        SEED,
    );
    let event = rig.emit("100000001");
    rig.drained().await;
    let attempts = rig.attempts_of(&event);
    assert_eq!(attempts.len(), 7, "{attempts:#?}");
    let pauses: Vec<Duration> = attempts
        .windows(2)
        .map(|w| w[0].pause_before(&w[1]))
        .collect();
    // 10, 20, 40, then capped at 40 ms (uncapped the last would be 320 ms), each times a
    // jitter of 0.5–1.
    let first = pauses[0];
    let last = pauses[pauses.len() - 1];
    assert!(
        last >= Duration::from_millis(19),
        "capped pause {last:?} ({pauses:?})"
    );
    assert!(last > first, "backoff did not grow: {pauses:?}");
    assert!(
        pauses.iter().all(|p| *p < Duration::from_millis(150)),
        "a pause went past the 40 ms maximum: {pauses:?}"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_waits_that_long_before_the_next_attempt() {
    let sut = sut_answering(
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        1,
    )
    .await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let event = rig.emit("100000001");
    rig.drained().await;
    let attempts = rig.attempts_of(&event);
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert_eq!(
        (attempts[0].outcome, attempts[0].status),
        (Outcome::Fail, Some(429))
    );
    assert_eq!(
        (attempts[1].outcome, attempts[1].status),
        (Outcome::Ok, Some(200))
    );
    let between = (attempts[1].at - attempts[0].at)
        .to_std()
        .expect("records in order");
    assert!(
        between >= Duration::from_millis(900),
        "Retry-After: 1 not honoured: next attempt after {between:?}"
    );
}

#[tokio::test]
async fn a_408_is_retried_not_rejected() {
    let sut = sut_answering(ResponseTemplate::new(408), 1).await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let event = rig.emit("100000001");
    rig.drained().await;
    let attempts = rig.attempts_of(&event);
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.outcome, a.status, a.rejected))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Outcome::Fail, Some(408), false),
            (Outcome::Ok, Some(200), false)
        ]
    );
    assert_eq!(rig.emitter.stats().rejected, 0);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_indeterminate_then_retried_and_delivered() {
    let sut = sut_answering(
        ResponseTemplate::new(200).set_delay(Duration::from_secs(2)),
        1,
    )
    .await;
    let rig = Rig::start(Some(ingress_of(&sut)));
    let event = rig.emit("100000001");
    rig.drained().await;
    let attempts = rig.attempts_of(&event);
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let timed_out = &attempts[0];
    assert_eq!(
        timed_out.outcome,
        Outcome::Info,
        "a timeout is indeterminate"
    );
    assert_eq!(timed_out.status, None);
    assert!(
        timed_out
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{timed_out:?}"
    );
    assert!(
        timed_out.latency >= Duration::from_millis(250),
        "the attempt ended before the 300 ms timeout: {timed_out:?}"
    );
    assert!(!timed_out.rejected);
    assert_eq!((attempts[1].attempt, attempts[1].outcome), (2, Outcome::Ok));
    assert_eq!(rig.emitter.stats().delivered, 1);
}

#[tokio::test]
async fn a_400_or_422_rejects_the_event_without_a_retry() {
    for status in [400u16, 422] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(INGRESS_PATH))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        let rig = Rig::start(Some(ingress_of(&server)));
        let event = rig.emit("100000001");
        rig.drained().await;
        let attempts = rig.attempts_of(&event);
        assert_eq!(attempts.len(), 1, "{status}: {attempts:#?}");
        let a = &attempts[0];
        assert_eq!(
            (a.attempt, a.outcome, a.status, a.rejected),
            (1, Outcome::Fail, Some(status), true),
            "{status}"
        );
        let stats = rig.emitter.stats();
        assert_eq!(
            (
                stats.rejected,
                stats.delivered,
                stats.attempts,
                stats.pending
            ),
            (1, 0, 1, 0),
            "{status}"
        );
        // A later event is not held up by the rejected one.
        let next = rig.emit("100000001");
        rig.wait_for_attempts(2).await;
        assert_eq!(rig.attempts_of(&next).len(), 1);
        assert_eq!(received(&server).await.len(), 2, "{status}");
    }
}

#[tokio::test]
async fn a_refused_connection_keeps_events_pending_until_a_reachable_ingress_is_set() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dead = format!("http://127.0.0.1:{port}{INGRESS_PATH}");
    let rig = Rig::start(Some(dead.clone()));
    let events: Vec<_> = (1..=3).map(|i| rig.emit(&format!("10000000{i}"))).collect();
    // Tried and retried (the head of a lane is retried before the events behind it).
    rig.wait_for("retries of the first event", |records| {
        records
            .iter()
            .filter_map(Attempt::of)
            .filter(|a| a.event == events[0])
            .count()
            >= 3
    })
    .await;
    for a in rig.attempts() {
        assert_eq!(
            (a.outcome, a.status, a.rejected),
            (Outcome::Fail, None, false),
            "{a:?}"
        );
        let error = a.error.as_deref().unwrap_or_default();
        assert!(
            error.to_ascii_lowercase().contains("connect"),
            "the error should say the connection failed: {error:?}"
        );
    }
    let stats = rig.emitter.stats();
    assert_eq!((stats.pending, stats.delivered, stats.rejected), (3, 0, 0));

    let sut = accepting_sut().await;
    rig.emitter.set_ingress(Some(ingress_of(&sut)));
    rig.drained().await;
    assert_eq!(rig.emitter.stats().delivered, 3);
    let mut got: Vec<_> = received(&sut).await.iter().map(|e| e.key()).collect();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    let mut want = events.clone();
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, want, "each event delivered exactly once");
    for e in &events {
        let last = rig.attempts_of(e).pop().expect("attempts");
        assert_eq!(last.outcome, Outcome::Ok);
    }
    let first = rig.attempts_of(&events[0]);
    assert!(first.len() >= 4, "{first:#?}");
    assert_eq!(first.last().map(|a| a.attempt), Some(first.len() as u32));
}
