//! The ERP's SAP S/4HANA dialect: OData V2 services of S/4HANA on the ERP's business core,
//! served where a real system serves them, under each S/4HANA plant's own base URL:
//! `/plant/{plant}/sap/opu/odata/sap/{SERVICE}/…` (one S/4HANA system per plant).
//!
//! Served (contracts/dialects/s4hana/): `API_PRODUCTION_ORDER_2_SRV` (orders, operations,
//! components), `API_PROD_ORDER_CONFIRMATION_2_SRV` (confirmations), `API_MATERIAL_DOCUMENT_SRV`
//! (deep insert, read, `Cancel`), `API_MATERIAL_STOCK_SRV` (stock in the account model) and
//! `API_PRODUCT_SRV` (the material master) and `API_QUALITYNOTIFICATION_SRV` (quality
//! notifications), each with `$metadata` and `$batch`; the CSRF
//! token protocol ([`csrf`]), SAP Gateway's repeatable requests (`RequestID` +
//! `RepeatabilityCreation`) as the only idempotency, ETags, and SAP's error body ([`error`]).
//!
//! Parts: [`odata`] (value formats, envelopes, resource paths, query options),
//! [`entities`] (the core's objects as entity types), `create` (create bodies checked per
//! release and turned into the core's requests), `exec` (one operation against the core),
//! `batch` (`$batch`), [`events`] (the core's events as SAP business events).

mod batch;
mod create;
pub mod csrf;
pub mod entities;
pub mod error;
pub mod events;
mod exec;
pub mod odata;
pub mod units;

use std::sync::Arc;

use andon_contracts::PlantId;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::core::{Ctx, RequestNote};
use crate::dialect::{Binding, Dialect, binding_of};
use crate::history::DialectCall;
use crate::idempotency::{Begin, StoredResponse, fingerprint};

use super::Erp;
use error::SapError;
use odata::{Options, Resource};

/// The services served, as SAP names them.
pub const SERVICES: [&str; 6] = [
    "API_PRODUCTION_ORDER_2_SRV",
    "API_PROD_ORDER_CONFIRMATION_2_SRV",
    "API_MATERIAL_DOCUMENT_SRV",
    "API_MATERIAL_STOCK_SRV",
    "API_PRODUCT_SRV",
    "API_QUALITYNOTIFICATION_SRV",
];

/// Where the services of a plant live, below the simulator's root.
pub fn base_path(plant: &PlantId) -> String {
    format!("/plant/{plant}")
}

/// The dialect's routes (merged into the ERP's router, behind the shared middleware).
pub fn routes(erp: Arc<Erp>) -> Router<()> {
    const ROOT: &str = "/plant/{plant}/sap/opu/odata/sap/{service}";
    Router::new()
        .route(ROOT, any(service_root))
        .route(&format!("{ROOT}/"), any(service_root))
        .route(&format!("{ROOT}/{{*rest}}"), any(resource))
        .with_state(erp)
}

/// One request to a service, as the operations read it.
pub(crate) struct Call {
    /// The plant's binding (its release).
    pub binding: Binding,
    /// The plant whose system this is.
    pub plant: PlantId,
    /// The service.
    pub service: String,
    /// The method.
    pub method: Method,
    /// The resource.
    pub res: Resource,
    /// The query options.
    pub opts: Options,
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
    /// `__metadata.uri`s are built on this.
    pub place: entities::Place,
    /// Trace context, token scope, lost answer.
    pub ctx: Ctx,
}

impl Call {
    /// Whether release 2502's changes are in force for this call's plant.
    pub fn is_2502(&self) -> bool {
        create::is_2502(self.binding.release)
    }
}

/// What an operation answered and what the history keeps of it.
pub(crate) struct Answer {
    /// Status.
    pub status: StatusCode,
    /// JSON body, or bytes with their content type (`$metadata`, `$batch`).
    pub body: Body,
    /// `ETag`.
    pub etag: Option<String>,
    /// The note for the history (route, body check, native meaning).
    pub note: Note,
}

/// An answer's body.
pub(crate) enum Body {
    /// JSON.
    Json(serde_json::Value),
    /// Other content, with its content type.
    Raw(String, Vec<u8>),
    /// An error.
    Error(SapError),
}

/// What the history layer is told about an operation.
#[derive(Default)]
pub(crate) struct Note {
    /// Operation template (`A_MaterialDocumentHeader`, `A_ProductionOrder_2({key})`).
    pub op: String,
    /// Body as sent, if JSON.
    pub body: Option<serde_json::Value>,
    /// Whether it kept the contract.
    pub valid: Option<bool>,
    /// What did not.
    pub violations: Vec<String>,
    /// The route of andon's API it amounts to.
    pub native_route: Option<&'static str>,
    /// Its body in andon's API.
    pub native_body: Option<serde_json::Value>,
}

impl Answer {
    pub(crate) fn json(status: StatusCode, v: serde_json::Value, note: Note) -> Self {
        Self {
            status,
            body: Body::Json(v),
            etag: None,
            note,
        }
    }

    pub(crate) fn error(e: SapError, note: Note) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        Self {
            status,
            body: Body::Error(e),
            etag: None,
            note,
        }
    }

    /// The HTTP answer for `service`.
    fn into_response(self, service: &str) -> (Response, Note) {
        let mut resp = match self.body {
            Body::Json(v) => (self.status, axum::Json(v)).into_response(),
            Body::Raw(ct, bytes) => {
                (self.status, [(header::CONTENT_TYPE, ct)], bytes).into_response()
            }
            Body::Error(e) => e.response(service),
        };
        if let Some(tag) = self.etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            resp.headers_mut().insert(header::ETAG, tag);
        }
        resp.headers_mut()
            .insert("dataserviceversion", HeaderValue::from_static("2.0"));
        (resp, self.note)
    }
}

async fn service_root(
    erp: State<Arc<Erp>>,
    ctx: Ctx,
    Path((plant, service)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        erp.0,
        ctx,
        plant,
        service,
        String::new(),
        method,
        headers,
        q,
        body,
    )
    .await
}

async fn resource(
    erp: State<Arc<Erp>>,
    ctx: Ctx,
    Path((plant, service, rest)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(erp.0, ctx, plant, service, rest, method, headers, q, body).await
}

/// The plant's S/4HANA binding, or the 404 of a plant that has no S/4HANA system.
fn s4_binding(erp: &Erp, plant: &str) -> Result<(PlantId, Binding), SapError> {
    let no = || SapError::not_found(format!("No S/4HANA system serves plant {plant}"));
    let plant = PlantId::parse(plant).map_err(|_| no())?;
    let b = erp.core.with_config(|c| binding_of(&c.dialects, &plant));
    if b.dialect != Dialect::S4hana || erp.core.master().plant(&plant).is_none() {
        return Err(no());
    }
    Ok((plant, b))
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    erp: Arc<Erp>,
    ctx: Ctx,
    plant: String,
    service: String,
    rest: String,
    method: Method,
    headers: HeaderMap,
    q: Option<String>,
    body: Bytes,
) -> Response {
    let (plant, binding) = match s4_binding(&erp, &plant) {
        Ok(x) => x,
        Err(e) => return e.response(&service),
    };
    if !SERVICES.contains(&service.as_str()) {
        return SapError::not_found(format!("Service {service} is not served by andon"))
            .response(&service);
    }
    let issued = match erp
        .s4
        .csrf
        .guard(&method, &headers, erp.core.faults.csrf_valid_after())
    {
        Ok(csrf::Csrf::Issue(h)) => h,
        Ok(csrf::Csrf::None) => Vec::new(),
        Err(refused) => return *refused,
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let parsed = Resource::parse(&rest).and_then(|res| Ok((res, Options::parse(&pairs)?)));
    let (res, opts) = match parsed {
        Ok(x) => x,
        Err(e) => return e.response(&service),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let call = Call {
        place: entities::Place {
            base: format!("http://{host}{}", base_path(&plant)),
        },
        binding,
        plant,
        service: service.clone(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        if_match: headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        method,
        res,
        opts,
        body,
        ctx,
    };
    let mut resp = repeatable(&erp, &headers, call).await;
    for (k, v) in issued {
        resp.headers_mut().append(k, v);
    }
    resp
}

/// Runs `call`, as a repeatable request when it carries `RequestID` (SAP Gateway's
/// idempotency: the stored answer for a repeat).
async fn repeatable(erp: &Erp, headers: &HeaderMap, call: Call) -> Response {
    let request_id = headers
        .get("requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let changing = call.method == Method::POST;
    let honoured = erp.core.with_config(|c| c.idempotency);
    let (Some(id), true, true) = (request_id.clone(), changing, honoured) else {
        return run(erp, call, request_id);
    };
    let service = call.service.clone();
    if headers.get("repeatabilitycreation").is_none() {
        let e = SapError::bad_request(
            "RequestID needs RepeatabilityCreation (the time the request was first sent)",
        );
        return with_result(e.response(&service), "rejected");
    }
    let scope = format!("{}:{service}/{}", call.plant, call.res.set);
    let fp = fingerprint(call.method.as_str(), &scope, &call.body);
    match erp.core.idempotency.begin(&scope, &id, fp) {
        Begin::Replay(stored) => with_result(stored.replay(), "accepted"),
        Begin::Refuse(e) => with_result(SapError::from(e).response(&service), "rejected"),
        Begin::Proceed(claim) => {
            let resp = run(erp, call, request_id);
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut stored = HeaderMap::new();
            for h in [header::CONTENT_TYPE, header::ETAG, header::LOCATION] {
                if let Some(v) = parts.headers.get(&h) {
                    stored.insert(h, v.clone());
                }
            }
            claim.complete(StoredResponse {
                status: parts.status,
                headers: stored,
                body: bytes.clone(),
            });
            with_result(
                Response::from_parts(parts, axum::body::Body::from(bytes)),
                "accepted",
            )
        }
    }
}

fn with_result(mut r: Response, result: &'static str) -> Response {
    r.headers_mut()
        .insert("repeatabilityresult", HeaderValue::from_static(result));
    r
}

/// Runs one operation and tells the history what it was.
fn run(erp: &Erp, call: Call, request_id: Option<String>) -> Response {
    let service = call.service.clone();
    let binding = call.binding.clone();
    let answer = if call.res.set == "$batch" {
        batch::run(erp, call)
    } else {
        exec::run(erp, &call)
    };
    let (mut resp, note) = answer.into_response(&service);
    let op = if note.op.is_empty() {
        "".to_string()
    } else {
        format!("/{}", note.op)
    };
    resp.extensions_mut().insert(RequestNote {
        route: format!("/sap/opu/odata/sap/{service}{op}"),
        key: request_id,
        body: note.body.as_ref().map(andon_contracts::Json::new),
        valid: note.valid,
        violations: note.violations,
        fault: None,
        dialect: DialectCall {
            dialect: binding.to_string(),
            native_route: note.native_route.map(str::to_string),
            native_body: note.native_body.as_ref().map(andon_contracts::Json::new),
        },
    });
    resp
}

/// The OpenAPI document of the plant's S/4HANA release (for `GET /plant/{plant}/openapi.json`).
pub(crate) fn openapi(erp: &Erp, plant: &str) -> Option<Response> {
    let binding = s4_binding(erp, plant).ok()?.1;
    Some(
        match andon_contracts::dialects::s4hana::openapi_json(binding.release) {
            Some(doc) => axum::Json(doc).into_response(),
            None => SapError::not_found(format!(
                "No OpenAPI document for release {}",
                binding.release
            ))
            .response(""),
        },
    )
}

/// State the dialect keeps beside the core: the CSRF sessions.
#[derive(Debug, Default)]
pub struct S4State {
    /// Sessions and their CSRF tokens.
    pub csrf: csrf::Sessions,
    /// Quality notifications as created through the dialect (the core keeps their number,
    /// nonconformance and plant), by number.
    pub notifications: std::sync::Mutex<std::collections::HashMap<String, serde_json::Value>>,
}
