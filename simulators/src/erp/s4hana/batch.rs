//! `$batch` (OData V2, `multipart/mixed`): reads one by one, and change sets all or
//! nothing — the ERP's state is held for the whole change set and put back when one of its
//! operations fails, whose error then answers for the whole change set. Each operation is
//! recorded in the history as a call of its own.

use std::time::Instant;

use andon_contracts::api::{ConfirmationRequest, GoodsMovementRequest};
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::entities as ent;
use super::error::SapError;
use super::odata::{Options, Resource};
use super::{Answer, Body, Call, Note, create, exec};
use crate::erp::Erp;
use crate::history::{DialectCall, Entry, RequestEntry};

/// One part of a batch: a request, or a change set of requests.
enum Part {
    Request(Inner),
    ChangeSet(Vec<Inner>),
}

/// A request inside a batch.
struct Inner {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    if_match: Option<String>,
    body: Vec<u8>,
}

/// Runs a `$batch`.
pub(super) fn run(erp: &Erp, call: Call) -> Answer {
    let note = Note {
        op: "$batch".into(),
        ..Note::default()
    };
    if call.method != Method::POST {
        return Answer::error(
            SapError::of("method-not-allowed", "$batch takes POST"),
            note,
        );
    }
    let parts = match boundary(&call.content_type).and_then(|b| parse_batch(&call.body, &b)) {
        Ok(p) => p,
        Err(e) => return Answer::error(e, note),
    };
    let mut out = String::new();
    let outer = format!("batchresponse_{}", random_hex());
    for part in parts {
        out.push_str(&format!("--{outer}\r\n"));
        match part {
            Part::Request(r) => out.push_str(&http_part(&single(erp, &call, r))),
            Part::ChangeSet(ops) => out.push_str(&change_set(erp, &call, ops)),
        }
    }
    out.push_str(&format!("--{outer}--\r\n"));
    Answer {
        status: StatusCode::ACCEPTED,
        body: Body::Raw(
            format!("multipart/mixed; boundary={outer}"),
            out.into_bytes(),
        ),
        etag: None,
        note,
    }
}

fn random_hex() -> String {
    use rand::RngExt;
    format!("{:016x}", rand::rng().random::<u64>())
}

/// The boundary of a `multipart/mixed` content type.
fn boundary(content_type: &Option<String>) -> Result<String, SapError> {
    let ct = content_type.as_deref().unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("multipart/mixed") {
        return Err(SapError::of(
            "unsupported-media-type",
            format!("$batch needs Content-Type multipart/mixed, got {ct:?}"),
        ));
    }
    ct.split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .next()
        .ok_or_else(|| SapError::bad_request("multipart/mixed without a boundary"))
}

/// Splits `body` at `--boundary` lines into the parts' bytes.
fn split<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let text = body;
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&text[i..], delim.as_bytes()) {
        starts.push(i + pos);
        i += pos + delim.len();
    }
    for w in starts.windows(2) {
        let part = &text[w[0] + delim.len()..w[1]];
        parts.push(trim_crlf(part));
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_crlf(mut b: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = b {
        b = rest;
    }
    b
}

/// Headers (lower-cased names) and body of a MIME part or HTTP message.
fn head_body(b: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(b, b"\r\n\r\n") {
        Some(i) => (&b[..i], &b[i + 4..]),
        None => match find(b, b"\n\n") {
            Some(i) => (&b[..i], &b[i + 2..]),
            None => (b, &b[b.len()..]),
        },
    };
    let lines = String::from_utf8_lossy(head);
    let headers = lines
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (headers, body)
}

fn header<'h>(h: &'h [(String, String)], name: &str) -> Option<&'h str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_batch(body: &[u8], b: &str) -> Result<Vec<Part>, SapError> {
    let mut out = Vec::new();
    for raw in split(body, b) {
        if raw.starts_with(b"--") || raw.is_empty() {
            continue;
        }
        let (h, inner) = head_body(raw);
        let ct = header(&h, "content-type").unwrap_or("");
        if ct.to_ascii_lowercase().starts_with("multipart/mixed") {
            let cb = boundary(&Some(ct.to_string()))?;
            let ops = split(inner, &cb)
                .into_iter()
                .filter(|p| !p.starts_with(b"--") && !p.is_empty())
                .map(|p| request(head_body(p).1))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Part::ChangeSet(ops));
        } else {
            out.push(Part::Request(request(inner)?));
        }
    }
    Ok(out)
}

/// An `application/http` part's request.
fn request(b: &[u8]) -> Result<Inner, SapError> {
    let b = trim_crlf(b);
    let line_end = find(b, b"\n").unwrap_or(b.len());
    let line = String::from_utf8_lossy(&b[..line_end]).trim().to_string();
    let mut words = line.split_whitespace();
    let (Some(m), Some(url)) = (words.next(), words.next()) else {
        return Err(SapError::bad_request(format!(
            "Batch part with request line {line:?}"
        )));
    };
    let method = Method::from_bytes(m.as_bytes())
        .map_err(|_| SapError::bad_request(format!("Method {m:?}")))?;
    let (h, body) = head_body(&b[(line_end + 1).min(b.len())..]);
    let (path, q) = url.split_once('?').unwrap_or((url, ""));
    let query = url::form_urlencoded_pairs(q);
    Ok(Inner {
        method,
        path: path
            .rsplit("_SRV/")
            .next()
            .unwrap_or(path)
            .trim_start_matches('/')
            .to_string(),
        query,
        if_match: header(&h, "if-match").map(str::to_string),
        body: trim_crlf(body).to_vec(),
    })
}

/// Query-string pairs, percent-decoded.
mod url {
    pub(super) fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
    }
}

/// The inner call of `r` in `outer`'s service.
fn inner_call(outer: &Call, r: Inner) -> Result<Call, SapError> {
    Ok(Call {
        binding: outer.binding.clone(),
        plant: outer.plant.clone(),
        service: outer.service.clone(),
        method: r.method,
        res: Resource::parse(&r.path)?,
        opts: Options::parse(&r.query)?,
        if_match: r.if_match,
        body: Bytes::from(r.body),
        content_type: Some("application/json".into()),
        place: outer.place.clone(),
        ctx: outer.ctx.clone(),
    })
}

/// A request outside a change set: a read.
fn single(erp: &Erp, outer: &Call, r: Inner) -> Answer {
    let note = Note::default();
    if r.method != Method::GET {
        return Answer::error(
            SapError::bad_request("Outside a change set a batch may only read"),
            note,
        );
    }
    match inner_call(outer, r) {
        Ok(c) => {
            let started = Instant::now();
            let a = exec::run(erp, &c);
            record(erp, &c, &a, started);
            a
        }
        Err(e) => Answer::error(e, note),
    }
}

/// A change set: every operation against the state held, or none of them.
fn change_set(erp: &Erp, outer: &Call, ops: Vec<Inner>) -> String {
    let calls: Result<Vec<Call>, SapError> =
        ops.into_iter().map(|r| inner_call(outer, r)).collect();
    let calls = match calls {
        Ok(c) => c,
        Err(e) => return http_part(&Answer::error(e, Note::default())),
    };
    let md = erp.core.master().clone();
    let mut st = erp.lock();
    let saved = st.clone();
    let mut done = Vec::new();
    for c in &calls {
        let started = Instant::now();
        let (answer, booked) = apply(erp, &mut st, &md, c);
        let Some(booked) = booked.filter(|_| answer.status.as_u16() < 400) else {
            record(erp, c, &answer, started);
            *st = saved;
            return http_part(&answer);
        };
        record(erp, c, &answer, started);
        done.push((answer, booked));
    }
    drop(st);
    let b = format!("changesetresponse_{}", random_hex());
    let mut out = format!("Content-Type: multipart/mixed; boundary={b}\r\n\r\n");
    for ((answer, booked), c) in done.into_iter().zip(&calls) {
        match booked {
            Booked::Document(d, req) => {
                crate::erp::booking::record_document(erp, &c.ctx, &d, &req.refs)
            }
            Booked::Confirmation(b) => {
                crate::erp::booking::record_confirmation(erp, &c.ctx, &b.1, &b.0)
            }
        }
        out.push_str(&format!("--{b}\r\n{}", http_part(&answer)));
    }
    out.push_str(&format!("--{b}--\r\n"));
    out
}

/// What a change set's operation booked, recorded once the change set commits.
enum Booked {
    Document(andon_contracts::api::MaterialDocument, GoodsMovementRequest),
    Confirmation(Box<(andon_contracts::api::Confirmation, ConfirmationRequest)>),
}

/// One create of a change set against the held state.
fn apply(
    erp: &Erp,
    st: &mut crate::erp::ErpState,
    md: &crate::masterdata::MasterData,
    c: &Call,
) -> (Answer, Option<Booked>) {
    let mut note = Note {
        op: c.res.set.clone(),
        ..Note::default()
    };
    let body: Value = serde_json::from_slice(&c.body).unwrap_or(Value::Null);
    note.body = Some(body.clone());
    let iso = c.is_2502();
    match (c.method.clone(), c.res.set.as_str()) {
        (Method::POST, "A_MaterialDocumentHeader") => {
            let req = match exec::checked(
                &mut note,
                "/api/v1/material-documents",
                create::goods_movement(&body, &c.plant, c.binding.release),
            ) {
                Ok(r) => r,
                Err(e) => return (Answer::error(e, note), None),
            };
            match st.post_goods_movement(md, &req) {
                Ok(d) => (
                    Answer::json(
                        StatusCode::CREATED,
                        json!({"d": ent::document(&c.place, &d, true, iso)}),
                        note,
                    ),
                    Some(Booked::Document(d, req)),
                ),
                Err(e) => (Answer::error(e.into(), note), None),
            }
        }
        (Method::POST, "ProdnOrdConf2") => {
            let today = erp.core.clock.today();
            let req = match exec::checked(
                &mut note,
                "/api/v1/confirmations",
                create::confirmation(&body, &c.plant, c.binding.release, today),
            ) {
                Ok(r) => r,
                Err(e) => return (Answer::error(e, note), None),
            };
            match st.confirm(md, erp.rules(), &req) {
                Ok(conf) => (
                    Answer::json(
                        StatusCode::CREATED,
                        json!({"d": ent::confirmation(&c.place, &conf, "", false)}),
                        note,
                    ),
                    Some(Booked::Confirmation(Box::new((conf, req)))),
                ),
                Err(e) => (Answer::error(e.into(), note), None),
            }
        }
        _ => (
            Answer::error(
                SapError::bad_request(format!(
                    "A change set takes creates of A_MaterialDocumentHeader or ProdnOrdConf2, not {} {}",
                    c.method, c.res.set
                )),
                note,
            ),
            None,
        ),
    }
}

/// Records an operation of a batch as a call of its own.
fn record(erp: &Erp, c: &Call, a: &Answer, started: Instant) {
    let problem = match &a.body {
        Body::Error(e) => Some(e.problem.clone()),
        _ => None,
    };
    erp.core.history.append(
        erp.core.system,
        Entry::Request(Box::new(RequestEntry {
            method: c.method.to_string(),
            path: format!(
                "{}/sap/opu/odata/sap/{}/{}",
                super::base_path(&c.plant),
                c.service,
                a.note.op
            ),
            route: format!("/sap/opu/odata/sap/{}/{}", c.service, a.note.op),
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
            fault: None,
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

/// An `application/http` part with the answer `a`.
fn http_part(a: &Answer) -> String {
    let reason = a.status.canonical_reason().unwrap_or("");
    let (ct, body) = match &a.body {
        Body::Json(v) => ("application/json", v.to_string()),
        Body::Raw(ct, b) => (ct.as_str(), String::from_utf8_lossy(b).into_owned()),
        Body::Error(e) => ("application/json", e.body("").to_string()),
    };
    format!(
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 {} {reason}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}\r\n",
        a.status.as_u16(),
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &str = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_2\r\n\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nPOST A_MaterialDocumentHeader HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--changeset_2--\r\n\r\n--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET A_ProductionOrder_2('1')?$select=Material HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--batch_1--\r\n";

    #[test]
    fn a_batch_reads_as_change_sets_and_requests() {
        let parts = parse_batch(BATCH.as_bytes(), "batch_1").unwrap();
        assert_eq!(parts.len(), 2);
        let Part::ChangeSet(ops) = &parts[0] else {
            panic!("a change set first")
        };
        assert_eq!(
            (ops[0].method.as_str(), ops[0].path.as_str()),
            ("POST", "A_MaterialDocumentHeader")
        );
        assert_eq!(ops[0].body, b"{\"a\":1}");
        let Part::Request(r) = &parts[1] else {
            panic!("then a request")
        };
        assert_eq!(r.path, "A_ProductionOrder_2('1')");
        assert_eq!(
            r.query,
            vec![("$select".to_string(), "Material".to_string())]
        );
    }

    #[test]
    fn a_batch_without_a_boundary_is_refused() {
        assert!(boundary(&Some("multipart/mixed".into())).is_err());
        assert!(boundary(&Some("application/json".into())).is_err());
        assert_eq!(
            boundary(&Some("multipart/mixed; boundary=\"b_1\"".into())).unwrap(),
            "b_1"
        );
    }
}
