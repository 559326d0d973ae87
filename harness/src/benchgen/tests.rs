//! Tests of the load generator: schedule arithmetic, tallies, and runs against a sink.

use super::*;
use andon_contracts::SourceRef;
use andon_simulators::history::Outcome;
use tokio::net::TcpListener;

#[test]
fn a_rate_is_max_or_a_positive_number() {
    assert_eq!("max".parse::<Rate>().ok(), Some(Rate::Max));
    assert_eq!("2500".parse::<Rate>().ok(), Some(Rate::PerSecond(2500.0)));
    for bad in ["0", "-3", "fast", "NaN", "inf"] {
        assert!(bad.parse::<Rate>().is_err(), "{bad}");
    }
}

#[test]
fn the_open_model_owes_each_tick_the_events_intended_by_then() {
    let total = scheduled(2500.0, Duration::from_secs(8));
    assert_eq!(total, 20_000);
    let mut done = 0;
    let mut per_tick = Vec::new();
    for tick in 0..=8000u64 {
        let due = owed(2500.0, TICK * tick as u32, done, total);
        assert_eq!(due.start, done);
        per_tick.push(due.end - due.start);
        done = due.end;
    }
    assert_eq!(done, total, "every scheduled event is emitted");
    assert_eq!(&per_tick[..5], &[1, 2, 3, 2, 3], "2.5 per 1 ms tick");
    assert_eq!(owed(1000.0, Duration::from_millis(1), 1, 8000), 1..2);
}

#[test]
fn a_late_tick_catches_up_with_every_event_owed() {
    // 10 ms late: events 1 to 10 (intended at 1, 2, … 10 ms) all go out now.
    assert_eq!(owed(1000.0, Duration::from_millis(10), 1, 100), 1..11);
    assert_eq!(
        intended_offset(1000.0, 10),
        chrono::Duration::milliseconds(10)
    );
    // Never past the schedule's end, never backwards.
    assert_eq!(owed(1000.0, Duration::from_secs(60), 90, 100), 90..100);
    assert_eq!(owed(1000.0, Duration::ZERO, 5, 100), 5..5);
}

#[test]
fn each_lane_gets_one_subject() {
    let s = subjects(32);
    assert_eq!(s.len(), 32);
    let mut lanes: Vec<usize> = s.iter().map(|s| lane_of(s, 32)).collect();
    lanes.sort_unstable();
    assert_eq!(lanes, (0..32).collect::<Vec<_>>());
    assert!(s.iter().all(|o| OrderId::parse(o).is_ok()));
}

#[test]
fn the_payload_is_a_valid_material_consumed() {
    let data = payload("100000001").expect("payload");
    andon_contracts::validate("events/material.consumed", &data).expect("valid");
}

#[tokio::test]
async fn the_sample_body_is_a_valid_cloudevent() {
    let body: serde_json::Value =
        serde_json::from_str(&sample_body().await.expect("body")).expect("JSON");
    andon_contracts::validate("cloudevent", &body).expect("valid");
    assert_eq!(body["type"], "andon.material.consumed.v1");
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms)
}

fn emitted(id: &str, intended_ms: i64) -> Record {
    let body = serde_json::json!({
        "specversion": "1.0", "id": id, "source": "/andon/mes/1000",
        "type": "andon.material.consumed.v1", "subject": "100000001",
        "time": "2026-11-22T06:14:00Z", "datacontenttype": "application/json",
        "plant": "1000", "sequence": 1,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "data": payload("100000001").expect("payload"),
    });
    Record {
        seq: 0,
        at: at(intended_ms),
        system: System::Mes,
        entry: Entry::EventEmitted {
            event: serde_json::from_value(body).expect("event"),
            intended_at: at(intended_ms),
            poison: None,
        },
    }
}

fn delivery(id: &str, attempt: u32, status: Option<u16>, at_ms: i64, us: u64) -> Record {
    Record {
        seq: 0,
        at: at(at_ms),
        system: System::Mes,
        entry: Entry::Delivery {
            event: SourceRef {
                source: "/andon/mes/1000".into(),
                id: id.into(),
            },
            attempt,
            url: "http://127.0.0.1/events".into(),
            outcome: if status == Some(202) {
                Outcome::Ok
            } else {
                Outcome::Fail
            },
            status,
            puback: None,
            error: status.is_none().then(|| "connection refused".into()),
            content_type: None,
            rejected: false,
            latency_us: us,
        },
    }
}

fn synthetic() -> Vec<Record> {
    vec![
        emitted("a", 0),
        emitted("b", 1),
        emitted("c", 2),
        // a: sent on time, answered after 1 ms.
        delivery("a", 1, Some(202), 1, 1_000),
        // b: its send started 20 ms late, answered after 2 ms.
        delivery("b", 1, Some(202), 23, 2_000),
        // c: no answer, then 503, then 202: 100 ms from intended to the last answer.
        delivery("c", 1, None, 3, 500),
        delivery("c", 2, Some(503), 50, 1_000),
        delivery("c", 3, Some(202), 102, 1_000),
    ]
}

#[test]
fn the_closed_loop_tally_counts_every_attempt_and_its_round_trip() {
    let t = tally(&synthetic(), false);
    assert_eq!((t.emitted, t.sent, t.ok, t.errors), (3, 5, 3, 2));
    assert_eq!(t.latency, t.service);
    assert_eq!(t.latency.p50_us, 1_000);
    assert_eq!(t.latency.max_us, 2_000);
    assert_eq!(t.late_starts, None);
}

#[test]
fn the_open_model_tally_measures_from_the_intended_time() {
    let t = tally(&synthetic(), true);
    assert_eq!((t.sent, t.ok, t.errors), (5, 3, 2));
    // From intended: a 1 ms, b 22 ms, c 1 / 48 / 100 ms; the round trips are unchanged.
    assert_eq!(t.latency.max_us, 100_000);
    assert!(
        (22_000..22_100).contains(&t.latency.p50_us),
        "{:?}",
        t.latency
    );
    assert_eq!(t.service.max_us, 2_000);
    // Only b's first send started more than 10 ms after its intended time.
    assert_eq!(t.late_starts, Some(1));
    assert_eq!(t.max_lateness_us, Some(20_000));
}

async fn sink() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}{}",
        listener.local_addr().expect("addr"),
        crate::bench::SINK_PATH
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(crate::bench::serve(
        crate::bench::Kind::Sink,
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (url, stop)
}

#[tokio::test]
async fn the_open_model_sends_and_records_every_scheduled_request() {
    let (url, _stop) = sink().await;
    let report = run(GenConfig {
        connections: 4,
        duration: Duration::from_millis(200),
        warmup: Duration::ZERO,
        rate: Rate::PerSecond(250.0),
        ..GenConfig::new(url)
    })
    .await
    .expect("run");
    assert_eq!(report.scheduled, Some(50));
    assert_eq!(report.tally.emitted, 50);
    assert_eq!(report.tally.sent, 50);
    assert_eq!(report.tally.ok, 50);
    assert_eq!(report.tally.errors, 0);
    assert_eq!((report.refused, report.unfinished), (0, 0));
    // One event_emitted and one delivery record per request.
    assert_eq!(report.history_records, 100);
    assert!(report.tally.late_starts.is_some());
}

#[tokio::test]
async fn the_closed_loop_records_every_request_after_the_warmup() {
    let (url, _stop) = sink().await;
    let report = run(GenConfig {
        connections: 4,
        duration: Duration::from_millis(100),
        warmup: Duration::from_millis(50),
        ..GenConfig::new(url)
    })
    .await
    .expect("run");
    assert!(report.tally.sent > 0);
    assert_eq!(report.tally.sent, report.tally.emitted);
    assert_eq!(report.tally.ok, report.tally.sent);
    assert_eq!(report.unfinished, 0);
    assert!(
        report.history_records > 2 * report.tally.sent as usize,
        "warm-up kept apart"
    );
    assert_eq!(report.tally.late_starts, None);
}

#[tokio::test]
async fn a_url_that_is_not_http_is_refused() {
    let e = run(GenConfig::new("ftp://x/events"))
        .await
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "ingress URL \"ftp://x/events\": scheme \"ftp\" is not supported (plain http only)"
    );
}
