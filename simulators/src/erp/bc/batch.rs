//! `$batch` (OData v4 JSON batch): `{"requests": [{id, method, url, headers, body}]}` answered
//! `{"responses": [{id, status, headers, body}]}`, at most the documented number of
//! operations. Each operation stands alone; with `Isolation: snapshot` the whole batch is one
//! transaction — the ERP's state is held and put back when an operation fails, whose error
//! then answers for every operation. Each operation is recorded in the history as a call of
//! its own.

use std::time::Instant;

use andon_contracts::api::{
    Confirmation, ConfirmationRequest, GoodsMovementRequest, MaterialDocument, QualityNotification,
    QualityNotificationRequest,
};
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::error::BcError;
use super::exec::{self, checked, template};
use super::path::{Options, Resource};
use super::{Answer, Call, Note, journal};
use crate::erp::Erp;
use crate::history::{DialectCall, Entry, RequestEntry};

/// Runs a `$batch`.
pub(super) fn run(erp: &Erp, call: &Call, isolated: bool) -> Answer {
    let note = Note {
        op: "$batch".into(),
        ..Note::default()
    };
    if call.method != Method::POST {
        return Answer::error(BcError::method("$batch takes POST"), note);
    }
    let calls = match parse(call) {
        Ok(c) => c,
        Err(e) => return Answer::error(e, note),
    };
    let answers: Vec<(String, Answer)> = if isolated {
        transaction(erp, calls)
    } else {
        calls.into_iter().map(|(id, c)| (id, one(erp, c))).collect()
    };
    let responses: Vec<Value> = answers.iter().map(|(id, a)| response(id, a)).collect();
    Answer::ok(StatusCode::OK, json!({ "responses": responses }), note)
}

/// The batch's operations as calls of their own, with their ids.
fn parse(outer: &Call) -> Result<Vec<(String, Call)>, BcError> {
    let body: Value = serde_json::from_slice(&outer.body)
        .map_err(|e| BcError::bad_request(format!("The batch is not JSON: {e}")))?;
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| BcError::bad_request("The batch needs a 'requests' array"))?;
    let most = super::contract::limits().max_batch_operations as usize;
    if requests.len() > most {
        let msg = format!(
            "The batch has {} operations; at most {most} are allowed",
            requests.len()
        );
        return Err(BcError::case(
            "invalid-request",
            Some("batch-size"),
            msg,
            "",
        ));
    }
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| inner(outer, i, r))
        .collect()
}

fn inner(outer: &Call, i: usize, r: &Value) -> Result<(String, Call), BcError> {
    let id = r
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| (i + 1).to_string(), str::to_string);
    let method: Method = r
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| m.to_ascii_uppercase().parse().ok())
        .ok_or_else(|| BcError::bad_request(format!("Operation {id} has no method")))?;
    let url = r.get("url").and_then(Value::as_str).unwrap_or("");
    let root = outer.api.root();
    let rel = url.find(root).map_or(url, |i| &url[i + root.len()..]);
    let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let res = Resource::parse(path)?;
    if matches!(res.set.as_str(), "$batch" | "subscriptions") {
        return Err(BcError::bad_request(format!(
            "Operation {id}: {} cannot be batched",
            res.set
        )));
    }
    let header = |k: &str| {
        r.get("headers")
            .and_then(|h| h.as_object())
            .and_then(|h| h.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    let body = r
        .get("body")
        .map(|b| Bytes::from(b.to_string()))
        .unwrap_or_default();
    // Each operation may carry its own trace (Business Central ignores it; andon's history
    // reads it, as it does the request's).
    let mut ctx = outer.ctx.clone();
    if let Some(tp) = header("traceparent") {
        ctx.traceparent = Some(tp);
    }
    Ok((
        id,
        Call {
            binding: outer.binding.clone(),
            plant: outer.plant.clone(),
            api: outer.api,
            method,
            res,
            opts: Options::parse(&pairs)?,
            if_match: header("if-match"),
            body,
            base: outer.base.clone(),
            ctx,
        },
    ))
}

/// One operation on its own.
fn one(erp: &Erp, c: Call) -> Answer {
    let started = Instant::now();
    let a = exec::run(erp, &c);
    record(erp, &c, &a, started);
    a
}

/// What an operation of a transaction booked, recorded once it commits.
enum Booked {
    Document(MaterialDocument, GoodsMovementRequest, Value),
    Confirmation(Box<(Confirmation, ConfirmationRequest, Value)>),
    Notification(QualityNotification, QualityNotificationRequest),
}

/// Every operation against the state held, or none of them.
fn transaction(erp: &Erp, calls: Vec<(String, Call)>) -> Vec<(String, Answer)> {
    let md = erp.core.master().clone();
    let mut st = erp.lock();
    let saved = st.clone();
    let mut done = Vec::new();
    for (id, c) in &calls {
        let started = Instant::now();
        let (answer, booked) = apply(erp, &mut st, &md, c);
        record(erp, c, &answer, started);
        match booked.filter(|_| answer.status.as_u16() < 400) {
            Some(b) => done.push((id.clone(), answer, b)),
            None => {
                *st = saved;
                drop(st);
                let failed = response(id, &answer);
                return calls
                    .iter()
                    .map(|(i, _)| (i.clone(), failure(&failed)))
                    .collect();
            }
        }
    }
    drop(st);
    done.into_iter()
        .zip(&calls)
        .map(|((id, answer, booked), (_, c))| (id, commit(erp, c, answer, booked)))
        .collect()
}

/// The failure that answers for every operation of a failed transaction.
fn failure(failed: &Value) -> Answer {
    let status = failed["status"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok());
    Answer::ok(
        status.unwrap_or(StatusCode::BAD_REQUEST),
        failed["body"].clone(),
        Note::default(),
    )
}

/// Records a committed operation's effects and ledger entries; its answer.
fn commit(erp: &Erp, c: &Call, answer: Answer, booked: Booked) -> Answer {
    let mut ledgers = erp.bc.ledgers.lock().unwrap_or_else(|e| e.into_inner());
    let l = ledgers.entry(c.plant.clone()).or_default();
    let text = |b: &Value, k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let body = match booked {
        Booked::Document(d, req, b) => {
            crate::erp::booking::record_document(erp, &c.ctx, &d, &req.refs);
            let n = l.post_items(&d, &text(&b, "documentNumber"), &text(&b, "description"));
            exec::applied(posted(&b, n), &d)
        }
        Booked::Confirmation(x) => {
            let (conf, req, b) = *x;
            crate::erp::booking::record_confirmation(erp, &c.ctx, &req, &conf);
            let n = l.post_output(&conf, &text(&b, "documentNumber"));
            posted(&b, n)
        }
        Booked::Notification(n, req) => {
            crate::erp::booking::record_notification(erp, &c.ctx, &req, &n);
            l.post_notification(&n.notification, &req)
        }
    };
    Answer {
        body: Ok(Some(body)),
        ..answer
    }
}

fn posted(b: &Value, entry: u64) -> Value {
    let mut v = b.clone();
    v["entryNumber"] = json!(entry);
    super::entities::tagged(v)
}

/// One create of a transaction against the held state.
fn apply(
    erp: &Erp,
    st: &mut crate::erp::ErpState,
    md: &crate::masterdata::MasterData,
    c: &Call,
) -> (Answer, Option<Booked>) {
    let mut note = Note {
        op: template(c),
        ..Note::default()
    };
    let body: Value = serde_json::from_slice(&c.body).unwrap_or(Value::Null);
    note.body = Some(body.clone());
    let at = exec::HeldLookup {
        st,
        md,
        plant: &c.plant,
        today: erp.core.clock.today(),
    };
    let booked = match (c.method.clone(), c.res.set.as_str()) {
        (Method::POST, "itemJournalLines") => {
            match checked(
                &mut note,
                "/api/v1/material-documents",
                journal::item_line(&body, &c.plant, c.release(), &at),
            ) {
                Ok(req) => st
                    .post_goods_movement(md, &req)
                    .map(|d| Booked::Document(d, req, body.clone()))
                    .map_err(BcError::from),
                Err(e) => Err(e),
            }
        }
        (Method::POST, "outputJournalLines") => {
            match checked(
                &mut note,
                "/api/v1/confirmations",
                journal::output_line(&body, &c.plant, &at),
            ) {
                Ok(req) => st
                    .confirm(md, erp.rules(), &req)
                    .map(|conf| Booked::Confirmation(Box::new((conf, req, body.clone()))))
                    .map_err(BcError::from),
                Err(e) => Err(e),
            }
        }
        (Method::POST, "qualityNotifications") => {
            match checked(
                &mut note,
                "/api/v1/quality-notifications",
                journal::notification(&body, &c.plant),
            ) {
                Ok(req) => st
                    .notify(md, &req)
                    .map(|n| Booked::Notification(n, req))
                    .map_err(BcError::from),
                Err(e) => Err(e),
            }
        }
        _ => Err(BcError::bad_request(format!(
            "An isolated batch takes POSTs of journal lines and quality notifications, not {} {}",
            c.method, c.res.set
        ))),
    };
    let booked = booked.and_then(|b| exec::fault_rejects(erp, c, &mut note).map(|()| b));
    match booked {
        Ok(b) => (Answer::ok(StatusCode::CREATED, Value::Null, note), Some(b)),
        Err(e) => (Answer::error(e.at_release(c.release()), note), None),
    }
}

/// The JSON response of an operation.
fn response(id: &str, a: &Answer) -> Value {
    let body = match &a.body {
        Ok(Some(v)) => v.clone(),
        Ok(None) => Value::Null,
        Err(e) => e.body(),
    };
    json!({ "id": id, "status": a.status.as_u16(), "headers": {"content-type": "application/json"}, "body": body })
}

/// Records an operation of a batch as a call of its own.
fn record(erp: &Erp, c: &Call, a: &Answer, started: Instant) {
    let problem = a.body.as_ref().err().map(|e| e.problem.clone());
    let route = format!("/{}/{}", c.api.root(), a.note.op);
    erp.core.history.append(
        erp.core.system,
        Entry::Request(Box::new(RequestEntry {
            method: c.method.to_string(),
            path: format!("/plant/{}{route}", c.plant),
            route,
            idempotency_key: None,
            traceparent: c.ctx.traceparent.clone(),
            if_match: c.if_match.clone(),
            sources: vec![],
            body: a.note.body.as_ref().map(andon_contracts::Json::new),
            valid: a.note.valid,
            violations: a.note.violations.clone(),
            status: a.status.as_u16(),
            content_type: Some("application/json".into()),
            problem,
            replayed: false,
            fault: a.note.fault.map(str::to_string),
            retry_after_s: None,
            latency_us: started.elapsed().as_micros() as u64,
            dialect: Some(Box::new(DialectCall {
                dialect: format!("{} ($batch)", c.binding),
                native_route: a.note.native_route.map(str::to_string),
                native_body: a.note.native_body.as_ref().map(andon_contracts::Json::new),
            })),
        })),
    );
}
