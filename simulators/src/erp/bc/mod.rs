//! The ERP's Dynamics 365 Business Central dialect: API v2.0 (OData v4) on the ERP's business
//! core, under each Business Central plant's own base URL `/plant/{plant}` (one company per
//! plant): the standard API `api/v2.0/` (companies, items, item ledger entries, webhook
//! subscriptions) and the plant extension's API pages `api/andon/manufacturing/v1.0/`
//! (production orders, manufacturing items, item and output journal lines that post on
//! insert, capacity ledger entries, quality notifications, lot inventories).
//!
//! What makes real Business Central integrations fail, simulated: no idempotency key (a
//! middleware deduplicates by a natural key and reads back, [`ledger`]), webhook
//! subscriptions with the validation handshake, a three-day lifetime in business time and
//! renewal ([`subscriptions`]), notifications that name only the changed entity
//! ([`events`]), the documented request limits ([`limits`]), ETags, `$batch` and Business
//! Central's error body ([`error`]). The simulated system's clock is business time: the
//! `Date` of every answer is.
//!
//! Contract: `contracts/dialects/business-central/`.

mod batch;
pub mod contract;
pub mod entities;
pub mod error;
pub mod events;
mod exec;
pub mod journal;
pub mod ledger;
pub mod limits;
pub mod path;
pub mod subscriptions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use andon_contracts::PlantId;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::Value;

use crate::core::{Ctx, RequestNote};
use crate::dialect::{Binding, Dialect, binding_of};
use crate::history::DialectCall;

use super::Erp;
use error::BcError;
use path::{Api, Options, Resource};

/// State the dialect keeps beside the core.
#[derive(Debug, Default)]
pub struct BcState {
    /// Webhook subscriptions (shared with the ERP's wire form).
    pub subscriptions: Arc<subscriptions::Registry>,
    /// Request limits per plant.
    pub limits: limits::Limiter,
    /// Ledgers written through the dialect.
    pub ledgers: Mutex<ledger::Ledgers>,
}

/// The dialect's routes (merged into the ERP's router, behind the shared middleware).
pub fn routes(erp: Arc<Erp>) -> Router<()> {
    let mut r = Router::new();
    for api in [Api::Standard, Api::Manufacturing] {
        let root = format!("/plant/{{plant}}/{}", api.root());
        let handler = move |erp: State<Arc<Erp>>,
                            ctx: Ctx,
                            Path(params): Path<BTreeMap<String, String>>,
                            method: Method,
                            headers: HeaderMap,
                            RawQuery(query): RawQuery,
                            body: Bytes| async move {
            let req = Incoming {
                plant: params.get("plant").cloned().unwrap_or_default(),
                rest: params.get("rest").cloned().unwrap_or_default(),
                method,
                headers,
                query,
                body,
            };
            handle(erp.0, ctx, api, req).await
        };
        r = r
            .route(&root, any(handler))
            .route(&format!("{root}/"), any(handler))
            .route(&format!("{root}/{{*rest}}"), any(handler));
    }
    r.with_state(erp)
}

/// One request, as the operations read it.
pub(crate) struct Call {
    /// The plant's binding (its release).
    pub binding: Binding,
    /// The plant (its company).
    pub plant: PlantId,
    /// The API addressed.
    pub api: Api,
    /// The method.
    pub method: Method,
    /// The resource.
    pub res: Resource,
    /// The query options.
    pub opts: Options,
    /// `If-Match`.
    pub if_match: Option<String>,
    /// The body.
    pub body: Bytes,
    /// `http://host:port/plant/1000`.
    pub base: String,
    /// Trace context, token scope, lost answer.
    pub ctx: Ctx,
}

impl Call {
    /// The release of the plant's system.
    pub fn release(&self) -> &'static str {
        self.binding.release
    }

    /// `@odata.context` of `set` at this API.
    pub fn context(&self, set: &str) -> String {
        format!("{}/{}/$metadata#{set}", self.base, self.api.root())
    }
}

/// What an operation answered and what the history keeps of it.
pub(crate) struct Answer {
    /// Status.
    pub status: StatusCode,
    /// The body.
    pub body: Result<Option<Value>, BcError>,
    /// Raw content with its type (`$metadata`).
    pub raw: Option<(&'static str, Vec<u8>)>,
    /// What the history is told.
    pub note: Note,
}

/// What the history layer is told about an operation.
#[derive(Default)]
pub(crate) struct Note {
    /// The operation (`companies({id})/itemJournalLines`).
    pub op: String,
    /// Body as sent, if JSON.
    pub body: Option<Value>,
    /// Whether it kept the contract.
    pub valid: Option<bool>,
    /// What did not.
    pub violations: Vec<String>,
    /// The route of andon's API it amounts to.
    pub native_route: Option<&'static str>,
    /// Its body in andon's API.
    pub native_body: Option<Value>,
    /// The fault that answered instead of the system (`reject`), if any.
    pub fault: Option<&'static str>,
}

impl Answer {
    pub(crate) fn ok(status: StatusCode, v: Value, note: Note) -> Self {
        Self {
            status,
            body: Ok(Some(v)),
            raw: None,
            note,
        }
    }

    pub(crate) fn error(e: BcError, note: Note) -> Self {
        Self {
            status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            body: Err(e),
            raw: None,
            note,
        }
    }

    fn into_response(self) -> (Response, Note) {
        let resp = match (self.body, self.raw) {
            (Err(e), _) => e.response(),
            (Ok(_), Some((ct, bytes))) => {
                (self.status, [(header::CONTENT_TYPE, ct)], bytes).into_response()
            }
            (Ok(Some(v)), None) => {
                let tag = v
                    .get("@odata.etag")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let mut r = (self.status, axum::Json(v)).into_response();
                if let Some(t) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
                    r.headers_mut().insert(header::ETAG, t);
                }
                r
            }
            (Ok(None), None) => self.status.into_response(),
        };
        (resp, self.note)
    }
}

/// A request as it arrived.
struct Incoming {
    plant: String,
    rest: String,
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
}

/// The OpenAPI document of the plant's Business Central release (for
/// `GET /plant/{plant}/openapi.json`).
pub(crate) fn openapi(erp: &Erp, plant: &str) -> Option<Response> {
    let binding = bc_binding(erp, plant).ok()?.1;
    Some(
        match andon_contracts::dialects::business_central::openapi_json(binding.release) {
            Some(doc) => axum::Json(doc).into_response(),
            None => BcError::not_found(format!(
                "No OpenAPI document for release {}",
                binding.release
            ))
            .response(),
        },
    )
}

/// The plant's Business Central binding, or the 404 of a plant that has none.
pub(crate) fn bc_binding(erp: &Erp, plant: &str) -> Result<(PlantId, Binding), BcError> {
    let no = || BcError::not_found(format!("No Business Central system serves plant {plant}"));
    let plant = PlantId::parse(plant).map_err(|_| no())?;
    let b = erp.core.with_config(|c| binding_of(&c.dialects, &plant));
    if b.dialect != Dialect::BusinessCentral || erp.core.master().plant(&plant).is_none() {
        return Err(no());
    }
    Ok((plant, b))
}

/// The `Date` header of the simulated system: business time.
fn business_date(erp: &Erp) -> Option<HeaderValue> {
    let now = erp.core.clock.now();
    HeaderValue::from_str(&now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

async fn handle(erp: Arc<Erp>, ctx: Ctx, api: Api, req: Incoming) -> Response {
    let mut resp = match admit(&erp, ctx, api, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(),
    };
    if let Some(d) = business_date(&erp) {
        resp.headers_mut().insert(header::DATE, d);
    }
    resp.headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    resp
}

/// Checks the plant and the limits, reads the request, runs it.
async fn admit(erp: &Arc<Erp>, ctx: Ctx, api: Api, req: Incoming) -> Result<Response, BcError> {
    let (plant, binding) = bc_binding(erp, &req.plant)?;
    ctx.scope.check(&plant).map_err(BcError::from)?;
    let _permit = erp.bc.limits.admit(&plant).await?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query.as_deref().unwrap_or("")).unwrap_or_default();
    let res = Resource::parse(&req.rest)?;
    let opts = Options::parse(&pairs)?;
    let host = req
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let call = Call {
        base: format!("http://{host}/plant/{plant}"),
        binding,
        plant,
        api,
        if_match: req
            .headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        method: req.method,
        res,
        opts,
        body: req.body,
        ctx,
    };
    let isolated = req
        .headers
        .get("isolation")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("snapshot"));
    let answer = match call.res.set.as_str() {
        "subscriptions" => subscriptions::run(erp, &call).await,
        "$batch" => batch::run(erp, &call, isolated),
        _ => exec::run(erp, &call),
    };
    Ok(noted(&call, answer))
}

/// The answer, with what the history keeps of the call.
fn noted(call: &Call, answer: Answer) -> Response {
    let (mut resp, note) = answer.into_response();
    resp.extensions_mut().insert(RequestNote {
        route: format!("/{}/{}", call.api.root(), note.op),
        key: None,
        body: note.body.as_ref().map(andon_contracts::Json::new),
        valid: note.valid,
        violations: note.violations,
        fault: note.fault.map(str::to_string),
        dialect: DialectCall {
            dialect: call.binding.to_string(),
            native_route: note.native_route.map(str::to_string),
            native_body: note.native_body.as_ref().map(andon_contracts::Json::new),
        },
    });
    resp
}
