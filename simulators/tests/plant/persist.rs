//! A simulator saved and continued from its state (a container stopped and started again)
//! goes on exactly as one that never stopped: same business state, same history, same
//! generated ids and sequences, same idempotent answers, same undelivered events.

use andon_contracts::System;
use andon_simulators::history::{Entry, Record};
use andon_simulators::persist::StateError;
use andon_simulators::{SimConfig, Simulator};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::*;

/// What must be the same in a restored simulator and one that never stopped: the events
/// generated (business `time` and wall `at` aside), the other records by kind, the
/// business state and the outbound counters.
#[derive(Debug, PartialEq)]
struct Observed {
    events: Vec<(String, String, String, u64, Value)>,
    records: Vec<String>,
    state: Value,
    stats: andon_simulators::emitter::EmitterStats,
    seqs_contiguous: bool,
}

fn observe(sim: &Simulator) -> Observed {
    let history: Vec<Record> = sim.core.history.snapshot();
    Observed {
        events: history
            .iter()
            .filter_map(|r| match &r.entry {
                Entry::EventEmitted { event, .. } => Some((
                    event.id.clone(),
                    event.type_.clone(),
                    event.subject.clone(),
                    event.sequence,
                    without_times(event.data.to_value()),
                )),
                _ => None,
            })
            .collect(),
        records: history
            .iter()
            .map(|r| {
                serde_json::to_value(&r.entry).unwrap()["record"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect(),
        state: without_times(sim.behaviour.snapshot()),
        stats: sim.core.emitter.stats(),
        seqs_contiguous: history.iter().zip(1u64..).all(|(r, n)| r.seq == n),
    }
}

/// `v` with every timestamp replaced: business time runs with the wall clock, so the two
/// simulators stamp the same events a few milliseconds apart.
fn without_times(v: Value) -> Value {
    match v {
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(&s).is_ok() => json!("<time>"),
        Value::Array(a) => Value::Array(a.into_iter().map(without_times).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, without_times(v))).collect())
        }
        v => v,
    }
}

/// Business work for `system` so that its steps have something to do.
async fn give_work(sim: &Simulator, system: System, work_order: &Value) {
    if system == System::Mes {
        let (s, body) = call(sim, "POST", "/api/v1/work-orders", Some(work_order.clone())).await;
        assert_eq!(s, 201, "{body}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// For every system, seed and split point: steps before a save plus steps after the
    /// restore give what the same steps give without a stop.
    #[test]
    fn every_system_continues_from_its_saved_state_as_if_it_had_never_stopped(
        seed in 0u64..1000,
        before in 0usize..40,
        after in 1usize..40,
    ) {
        runtime().block_on(async {
            let md = master();
            let config = SimConfig { seed, ..SimConfig::default() };
            let wo = crate::mes::work_order(&md, "1000001");
            for system in [System::Erp, System::Mes, System::Qms, System::Wms] {
                let stopped = sim_with(system, config.clone(), md.clone());
                let never = sim_with(system, config.clone(), md.clone());
                give_work(&stopped, system, &wo).await;
                give_work(&never, system, &wo).await;
                stopped.behaviour.step(before);
                never.behaviour.step(before);
                let bytes = stopped.save_state().await.unwrap();
                drop(stopped);
                let restored = Simulator::restore(system, &bytes).unwrap();
                restored.behaviour.step(after);
                never.behaviour.step(after);
                let (r, n) = (observe(&restored), observe(&never));
                prop_assert!(r.seqs_contiguous, "{system}: sequence numbers have a gap");
                prop_assert_eq!(r, n, "{} after {} + {} steps", system, before, after);
            }
            Ok(())
        })?;
    }
}

async fn keyed(sim: &Simulator, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/work-orders")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = sim.router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, replayed, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn an_idempotency_key_answered_before_the_stop_replays_after_it() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    let wo = crate::mes::work_order(&md, "1000002");
    let first = keyed(&mes, "wo-1000002", &wo).await;
    assert_eq!(first.0, 201, "{}", first.2);
    let restored = Simulator::restore(System::Mes, &mes.save_state().await.unwrap()).unwrap();
    let again = keyed(&restored, "wo-1000002", &wo).await;
    assert_eq!(again.0, 201);
    assert_eq!(again.1.as_deref(), Some("true"), "the answer is a replay");
    assert_eq!(again.2, first.2);
    let mut other = wo.clone();
    other["planned_quantity"]["value"] = json!(7);
    let reuse = keyed(&restored, "wo-1000002", &other).await;
    assert_eq!(reuse.0, 422, "{}", reuse.2);
    // One work order, one effect, even counting the history from before the stop.
    let effects = effects(&restored.core.history.snapshot(), "mes.work_order");
    assert_eq!(effects.len(), 1, "{effects:?}");
}

#[tokio::test]
async fn undelivered_events_and_the_ingress_survive_a_restore_and_are_delivered() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(503))
        .up_to_n_times(1_000_000)
        .mount(&server)
        .await;
    let erp = sim(System::Erp);
    erp.core
        .emitter
        .set_ingress(Some(format!("{}/ingress", server.uri())));
    let emitted = erp.behaviour.step(5);
    assert!(emitted > 0);
    // Refused by the SUT so far: nothing delivered, everything still queued.
    let bytes = erp.save_state().await.unwrap();
    drop(erp);
    server.reset().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let restored = Simulator::restore(System::Erp, &bytes).unwrap();
    assert_eq!(restored.core.emitter.stats().pending, emitted);
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        restored.core.emitter.drained(),
    )
    .await
    .expect("the queue drains once the SUT answers");
    let stats = restored.core.emitter.stats();
    assert_eq!(stats.delivered as usize, emitted);
    assert_eq!(stats.emitted as usize, emitted);
}

#[tokio::test]
async fn business_time_goes_on_across_the_stop() {
    let qms = sim(System::Qms);
    let before = qms.core.clock.now();
    let restored = Simulator::restore(System::Qms, &qms.save_state().await.unwrap()).unwrap();
    assert!(restored.core.clock.now() >= before);
}

#[test]
fn a_state_of_another_system_or_a_damaged_one_is_refused() {
    let rt = runtime();
    let bytes = rt.block_on(async { sim(System::Wms).save_state().await.unwrap() });
    let _guard = rt.enter();
    let e = Simulator::restore(System::Erp, &bytes).err().unwrap();
    assert!(matches!(e, StateError::System { .. }), "{e}");
    let mut text: Value = serde_json::from_slice(&bytes).unwrap();
    text["behaviour"] = json!({ "lots": 5 });
    let e = Simulator::restore(System::Wms, &serde_json::to_vec(&text).unwrap())
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("the wms state does not fit"),
        "{e}"
    );
    let e = Simulator::restore(System::Wms, &bytes[..bytes.len() / 2])
        .err()
        .unwrap();
    assert!(matches!(e, StateError::Malformed(_)), "{e}");
}
