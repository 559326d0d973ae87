//! The HTTP face of the middleware: `POST /events/{erp,mes,qms,wms}` (CloudEvents,
//! structured mode), `GET /health`, `GET /dead-letters` (the `dead_letters` capability)
//! and `GET /stats`.
//!
//! An event is answered 202 only after it and the commands it implies are committed; a
//! redelivery of a stored event answers 200 with no second effect; an invalid event
//! answers 400 problem+json and is listed as a dead letter (`rejected-at-ingress`), so a
//! poison message never vanishes silently. Business Central systems notify through webhooks
//! instead ([`bc`]).

pub mod bc;
mod counters;
mod write_behind;

pub use counters::MqttStats;
pub use write_behind::WriteBehind;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use andon_contracts::{CloudEvent, EventData, FieldError, Problem, System};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::delivery::Delivery;
use crate::dialect::ErpDialects;
use crate::flows::Inbound;
use crate::s4hana::{self, Notification};
use crate::store::{self, DeadLetterInput, Store, StoreError, now_ms};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Delivery (to wake workers and refresh caches).
    pub delivery: Arc<Delivery>,
    /// True while the delivery workers run.
    pub ready: Arc<AtomicBool>,
    /// DEFECT: ack-before-persist — events acknowledged but not yet stored.
    pub write_behind: Option<Arc<WriteBehind>>,
    /// The MQTT consumer's counters, when it runs (`BROKER_URL`).
    pub mqtt: Option<Arc<MqttStats>>,
    /// DEFECT: ack-before-store — MQTT messages acknowledged but not yet stored.
    pub mqtt_write_behind: Option<Arc<WriteBehind>>,
}

/// An answer with an RFC 9457 problem body.
pub fn problem(
    status: u16,
    code: &str,
    title: &str,
    detail: impl Into<String>,
    errors: Vec<FieldError>,
) -> Response {
    let p = Problem::new(status, code, title, detail).with_errors(errors);
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(&p),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// Why an event was refused at the door.
#[derive(Debug, Clone)]
pub struct Refusal {
    status: u16,
    /// The problem code (`invalid-event`, `wrong-ingress`, …).
    pub code: &'static str,
    title: &'static str,
    /// What is wrong, in words.
    pub detail: String,
    errors: Vec<FieldError>,
    source: Option<String>,
    id: Option<String>,
    type_: Option<String>,
}

impl Refusal {
    /// A refusal with an answer status, a problem code, its title and the detail.
    pub fn new(status: u16, code: &'static str, title: &'static str, detail: String) -> Self {
        Self {
            status,
            code,
            title,
            detail,
            errors: Vec::new(),
            source: None,
            id: None,
            type_: None,
        }
    }

    /// The refused event's `source`, `id` and `type`, read from its JSON.
    pub fn about(mut self, json: &Value) -> Self {
        let s = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
        self.source = s("source");
        self.id = s("id");
        self.type_ = s("type");
        self
    }

    fn problem_json(&self) -> Value {
        serde_json::to_value(
            Problem::new(self.status, self.code, self.title, self.detail.clone())
                .with_errors(self.errors.clone()),
        )
        .unwrap_or(Value::Null)
    }
}

/// Checks an event offered on the ingress of `system`: content type, JSON, the CloudEvents
/// envelope and its data against the contract, and that `system` emits its type. An SAP
/// business event is taken on the ERP ingress for a plant whose ERP is S/4HANA
/// ([`accept_sap`]).
pub fn accept(
    system: System,
    headers: &HeaderMap,
    body: &[u8],
    dialects: &ErpDialects,
) -> Result<(CloudEvent, Inbound), Box<Refusal>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/cloudevents+json");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/cloudevents+json" && essence != "application/json" {
        return Err(Box::new(Refusal::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            format!("Events are application/cloudevents+json (structured mode), got {ct:?}"),
        )));
    }
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(Refusal::new(
            400,
            "invalid-event",
            "Invalid event",
            format!(
                "Malformed JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        ))
    })?;
    if json
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(s4hana::is_sap_event)
    {
        return accept_sap(system, json, dialects);
    }
    if let Err(v) = andon_contracts::validate("cloudevent", &json) {
        let mut r = Refusal::new(
            400,
            "invalid-event",
            "Invalid event",
            format!("The event breaks the contract: {v}"),
        )
        .about(&json);
        r.errors =
            v.0.into_iter()
                .map(|x| FieldError {
                    pointer: x.pointer,
                    message: x.message,
                })
                .collect();
        return Err(Box::new(r));
    }
    let event: CloudEvent = serde_json::from_value(json.clone()).map_err(|e| {
        Refusal::new(
            400,
            "invalid-event",
            "Invalid event",
            format!("The event cannot be read: {e}"),
        )
        .about(&json)
    })?;
    let emitted_here = event.kind().is_some_and(|k| k.emitters().contains(&system))
        && event.source.starts_with(&format!("/andon/{system}/"));
    if !emitted_here {
        return Err(Box::new(
            Refusal::new(
                400,
                "wrong-ingress",
                "Event not emitted by this system",
                format!(
                    "{} from {} is not an event of {system}",
                    event.type_, event.source
                ),
            )
            .about(&json),
        ));
    }
    let data = event.typed_data().map_err(|e| {
        Refusal::new(
            400,
            "invalid-event",
            "Invalid event",
            format!("The data cannot be read: {e}"),
        )
        .about(&json)
    })?;
    Ok((event, Inbound::Andon(data)))
}

/// An SAP business event (`sap.s4.beh.…`): the CloudEvents envelope with andon's extension
/// attributes (`plant`, `sequence`, `traceparent`), on the ERP ingress, of a plant whose ERP
/// `ERP_DIALECTS` names as S/4HANA, with the key fields its type needs in `data`.
fn accept_sap(
    system: System,
    json: Value,
    dialects: &ErpDialects,
) -> Result<(CloudEvent, Inbound), Box<Refusal>> {
    let refuse = |code: &'static str, title: &'static str, detail: String| {
        Box::new(Refusal::new(400, code, title, detail).about(&json))
    };
    let event: CloudEvent = serde_json::from_value(json.clone()).map_err(|e| {
        refuse(
            "invalid-event",
            "Invalid event",
            format!("The event cannot be read: {e}"),
        )
    })?;
    if event.specversion != "1.0" || event.id.is_empty() || event.source.is_empty() {
        return Err(refuse(
            "invalid-event",
            "Invalid event",
            "specversion 1.0, id and source are required".into(),
        ));
    }
    if system != System::Erp {
        return Err(refuse(
            "wrong-ingress",
            "Event not emitted by this system",
            format!("{} is an ERP event, not an event of {system}", event.type_),
        ));
    }
    if dialects.s4(&event.plant).is_none() {
        return Err(refuse(
            "wrong-dialect",
            "Plant does not speak S/4HANA",
            format!(
                "{} for plant {}, whose ERP speaks andon (ERP_DIALECTS)",
                event.type_, event.plant
            ),
        ));
    }
    let n = Notification::decode(&event).map_err(|e| {
        refuse(
            "invalid-event",
            "Invalid event",
            format!("The data cannot be read: {e}"),
        )
    })?;
    Ok((event, Inbound::S4hana(n)))
}

/// `POST /events/{system}`.
pub async fn receive(
    State(app): State<AppState>,
    Path(system): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(system) = System::parse(&system) else {
        return problem(
            404,
            "not-found",
            "Not found",
            format!("No ingress for {system:?}: use erp, mes, qms or wms"),
            vec![],
        );
    };
    let (event, data) = match accept(system, &headers, &body, app.delivery.dialects()) {
        Ok(e) => e,
        Err(refusal) => {
            tracing::warn!(%system, code = refusal.code, detail = %refusal.detail, "event rejected at ingress");
            record_refusal(&app.store, system, &refusal).await;
            return problem(
                refusal.status,
                refusal.code,
                refusal.title,
                refusal.detail,
                refusal.errors,
            );
        }
    };
    match take_in(&app, event, &data, app.write_behind.as_deref()).await {
        Ok(Taken::Duplicate) => {
            (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response()
        }
        Ok(Taken::Stored | Taken::Buffered) => {
            (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "storing an event failed");
            let mut r = problem(
                503,
                "store-unavailable",
                "Store unavailable",
                "The event could not be stored; retry later",
                vec![],
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

/// How an accepted event was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Stored with the commands it implies (committed).
    Stored,
    /// Already in the inbox (same `source` + `id`): no second effect.
    Duplicate,
    /// DEFECT: ack-before-persist / ack-before-store — buffered, not stored yet.
    Buffered,
}

/// Takes in an accepted event, whichever door it came through (HTTP or MQTT): stores it
/// and its commands in one transaction, wakes the delivery workers of the targets that
/// got commands and refreshes the material cache. `Ok` means committed (or a duplicate);
/// only then may the sender be acknowledged.
pub async fn take_in(
    app: &AppState,
    event: CloudEvent,
    data: &Inbound,
    write_behind: Option<&WriteBehind>,
) -> Result<Taken, StoreError> {
    // DEFECT: ack-before-persist / ack-before-store — acknowledged now, stored later.
    if let Some(wb) = write_behind {
        wb.push(event);
        return Ok(Taken::Buffered);
    }
    let key = event.key();
    let ingested = app
        .store
        .call(move |c, p| store::ingest(c, p, &event, now_ms()))
        .await?;
    app.delivery.wake(&ingested.targets);
    if let Inbound::Andon(EventData::MaterialChanged(m)) = data {
        app.delivery.material_changed(m);
    }
    if ingested.duplicate {
        tracing::debug!(source = %key.source, id = %key.id, "duplicate event: no second effect");
        Ok(Taken::Duplicate)
    } else {
        Ok(Taken::Stored)
    }
}

async fn record_refusal(store: &Store, system: System, refusal: &Refusal) {
    if let Err(e) = dead_letter(store, format!("POST /events/{system}"), refusal).await {
        tracing::error!(error = %e, "recording a rejected event failed");
    }
}

/// Lists a refused event as a dead letter (`rejected-at-ingress`) of the ingress `call`
/// it came through (`POST /events/mes`, `MQTT andon/1000/mes/…`).
pub async fn dead_letter(store: &Store, call: String, refusal: &Refusal) -> Result<(), StoreError> {
    let d = DeadLetterInput {
        target: "ingress".into(),
        call,
        status: Some(refusal.status),
        reason: "rejected-at-ingress".into(),
        problem: Some(refusal.problem_json()),
    };
    let (source, id, type_) = (
        refusal.source.clone(),
        refusal.id.clone(),
        refusal.type_.clone(),
    );
    store
        .call(move |c, _| {
            store::record_dead_letter(c, source.as_deref(), id.as_deref(), type_.as_deref(), &d)
        })
        .await
}

/// `GET /health`: ready only when the store is open and the workers run.
pub async fn health(State(app): State<AppState>) -> Response {
    let store_ok =
        app.store.is_open() && app.store.call(|c, _| Ok(c.is_autocommit())).await.is_ok();
    // Consuming from a broker, it is ready once its subscriptions are in place.
    let subscribed = app
        .mqtt
        .as_ref()
        .is_none_or(|m| m.subscribed.load(Ordering::SeqCst));
    if store_ok && app.ready.load(Ordering::SeqCst) && subscribed {
        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "store": store_ok, "workers": app.ready.load(Ordering::SeqCst), "subscribed": subscribed})),
        )
            .into_response()
    }
}

/// `GET /dead-letters`.
pub async fn dead_letters(State(app): State<AppState>) -> Response {
    match app.store.call(|c, _| store::dead_letters(c)).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => problem(
            503,
            "store-unavailable",
            "Store unavailable",
            e.to_string(),
            vec![],
        ),
    }
}

/// `GET /stats`: inbox, outbox and lot counters, and the delivery lease
/// (`delivery_lease`: whether this instance holds it; `delivery_lease_holder`).
///
/// `backlog` (the harness's capability: all work still owed, summed over the instances)
/// counts the shared outbox and waiting lot events only at the lease's holder — or at
/// every instance while nobody holds it — plus this instance's own write-behind buffers.
pub async fn stats(State(app): State<AppState>) -> Response {
    let pending_write_behind: usize = [&app.write_behind, &app.mqtt_write_behind]
        .iter()
        .filter_map(|w| w.as_ref().map(|w| w.len()))
        .sum();
    let read = app
        .store
        .call(|c, _| Ok((store::stats(c)?, store::lease::current(c, now_ms())?)))
        .await;
    match read {
        Ok((s, lease)) => {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["write_behind"] = json!(pending_write_behind);
            let shared = if app.delivery.lease().reports_shared(&lease) {
                ["pending", "waiting_lot_events"].as_slice()
            } else {
                [].as_slice()
            };
            let owed: u64 = shared
                .iter()
                .chain(&["write_behind"])
                .filter_map(|k| v[*k].as_u64())
                .sum();
            v["backlog"] = json!(owed);
            let (held, holder) = app.delivery.lease().to_json(&lease);
            v["delivery_lease"] = held;
            v["delivery_lease_holder"] = holder;
            if let Some(m) = &app.mqtt {
                v["mqtt"] = m.to_json();
            }
            Json(v).into_response()
        }
        Err(e) => problem(
            503,
            "store-unavailable",
            "Store unavailable",
            e.to_string(),
            vec![],
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    /// A valid `operation.started` event (the MQTT consumer's tests read it too).
    pub(crate) fn event() -> Value {
        json!({
            "specversion": "1.0", "id": "e-1", "source": "/andon/mes/1000", "type": "andon.operation.started.v1",
            "subject": "100000001", "time": "2026-11-02T06:10:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": 1,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "data": {"order": "100000001", "operation": "0010", "plant": "1000", "work_center": "LINE-1",
                     "started_at": "2026-11-02T06:10:00Z"}
        })
    }

    #[test]
    fn a_valid_event_is_accepted_on_its_systems_ingress_only() {
        let body = serde_json::to_vec(&event()).unwrap();
        assert!(
            accept(
                System::Mes,
                &headers("application/cloudevents+json"),
                &body,
                &ErpDialects::default()
            )
            .is_ok()
        );
        let wrong = accept(
            System::Qms,
            &headers("application/cloudevents+json"),
            &body,
            &ErpDialects::default(),
        )
        .unwrap_err();
        assert_eq!((wrong.status, wrong.code), (400, "wrong-ingress"));
        assert_eq!(wrong.id.as_deref(), Some("e-1"));
    }

    #[test]
    fn invalid_events_are_refused_with_a_pointer() {
        let mut e = event();
        e["data"]["order"] = json!("lower-case");
        let r = accept(
            System::Mes,
            &headers("application/cloudevents+json"),
            &serde_json::to_vec(&e).unwrap(),
            &ErpDialects::default(),
        )
        .unwrap_err();
        assert_eq!(r.status, 400);
        assert!(!r.errors.is_empty(), "{r:?}");
        let r = accept(
            System::Mes,
            &headers("application/cloudevents+json"),
            b"{",
            &ErpDialects::default(),
        )
        .unwrap_err();
        assert_eq!(r.code, "invalid-event");
        let r = accept(
            System::Mes,
            &headers("text/plain"),
            b"{}",
            &ErpDialects::default(),
        )
        .unwrap_err();
        assert_eq!(r.status, 415);
        andon_contracts::validate("api/Problem", &r.problem_json()).unwrap();
    }

    #[test]
    fn an_sap_event_is_taken_only_for_an_s4hana_plant_on_the_erp_ingress() {
        let body = serde_json::to_vec(&json!({
            "specversion": "1.0", "id": "e-9", "source": "/andon/erp/1000",
            "type": "sap.s4.beh.product.v1.Product.Changed.v1",
            "subject": "RM-1", "time": "2026-11-02T06:10:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": 1,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "data": {"Product": "RM-1"}
        }))
        .unwrap();
        let h = headers("application/cloudevents+json");
        let s4: ErpDialects = "1000=s4hana@2502".parse().unwrap();
        let (_, data) = accept(System::Erp, &h, &body, &s4).unwrap();
        assert!(matches!(
            data,
            Inbound::S4hana(Notification::ProductChanged(_))
        ));
        let andon = accept(System::Erp, &h, &body, &ErpDialects::default()).unwrap_err();
        assert_eq!(andon.code, "wrong-dialect");
        assert_eq!(
            accept(System::Mes, &h, &body, &s4).unwrap_err().code,
            "wrong-ingress"
        );
    }
}
