//! Microsoft Dynamics 365 Business Central (API v2.0 and the plant extension's custom API
//! `andon/manufacturing/v1.0`, OData v4): the files of `contracts/dialects/business-central/`
//! as the simulator, the checkers and the documentation read them — the error table, the
//! limits, the OpenAPI document and the CSDL of each release, the AsyncAPI document of the
//! webhook notifications and the fields of andon's flows BC cannot carry.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

pub use super::Unjudged;

mod markdown;

pub use markdown::{errors_markdown, limits_markdown, unjudged_markdown};

/// The releases andon simulates, oldest first.
pub const RELEASES: [&str; 2] = ["24", "25"];

/// The newest release.
pub const NEWEST: &str = "25";

/// What the company id of a plant is derived from: the id is the UUID version 5 (RFC 9562)
/// of this URL, `{plant}` filled in, in the URL namespace, written lowercase 8-4-4-4-12
/// (`303641a7-6832-5013-96a9-1241f2854802` for plant 1000).
pub const COMPANY_ID_NAME: &str = "https://andon.dev/dialects/business-central/companies/{plant}";

/// `contracts/dialects/business-central/errors.yaml` as written.
pub const ERRORS: &str = include_str!("../../dialects/business-central/errors.yaml");

/// The names a message template of `errors.yaml` may hold as `{name}`, which the simulator
/// fills in.
pub const PLACEHOLDERS: &[&str] = &[
    "actual",    // requests counted (429)
    "count",     // requests in a $batch
    "current",   // the value a field has (TestField messages)
    "entity",    // an entity type (`Item`, `productionOrder`)
    "expected",  // the value a field must have
    "field",     // a field's caption (`Item No.`, `Status`)
    "fields",    // the fields of a line that make no movement
    "id",        // an entity's key
    "item",      // an item number
    "length",    // a string's length
    "max",       // a limit (characters, bytes, requests, subscriptions)
    "maximum",   // the limit of requests (429)
    "method",    // an HTTP method
    "operation", // an operation number
    "order",     // a production order number
    "plant",     // the plant
    "property",  // a JSON property of a request body
    "related",   // the table a value was looked up in
    "resource",  // a subscription's resource
    "seconds",   // the handshake timeout
    "segment",   // a URL path segment
    "status",    // a production order's status
    "table",     // a table (`Item Journal Line`)
    "tolerance", // the over-confirmation tolerance in %
    "type",      // an entryType, an OData type, a content type
    "unit",      // a unit of measure code
    "value",     // a value sent
];

/// One row of the error table: a problem code of andon's API (and a case of it) and the
/// BC answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRow {
    /// andon's problem code (`stock-deficit`).
    pub problem: String,
    /// The case of the problem the row answers; `None` on the problem's default row.
    #[serde(default)]
    pub case: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// BC error code (`error.code`).
    pub code: String,
    /// Message template (`{name}` placeholders, see [`PLACEHOLDERS`]).
    pub message: String,
    /// `bc` (a code BC itself answers in that situation) or `modelled`.
    pub origin: String,
    /// When it is answered.
    pub meaning: String,
    /// What differs from a release on, by release.
    #[serde(default)]
    pub releases: BTreeMap<String, ReleaseChange>,
}

/// What a release changes in a row of the error table; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseChange {
    /// HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// BC error code.
    #[serde(default)]
    pub code: Option<String>,
    /// Message template.
    #[serde(default)]
    pub message: Option<String>,
    /// `bc` or `modelled`.
    #[serde(default)]
    pub origin: Option<String>,
}

/// What the dialect answers for a row in one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// BC error code.
    pub code: &'a str,
    /// Message template.
    pub message: &'a str,
    /// `bc` or `modelled`.
    pub origin: &'a str,
}

impl ErrorRow {
    /// The answer in `release`: the row with the changes of every release up to it applied
    /// (the row as written for a release andon does not simulate).
    pub fn at(&self, release: &str) -> Answer<'_> {
        let mut a = Answer {
            status: self.status,
            code: &self.code,
            message: &self.message,
            origin: &self.origin,
        };
        let Some(upto) = RELEASES.iter().position(|r| *r == release) else {
            return a;
        };
        for r in &RELEASES[..=upto] {
            let Some(c) = self.releases.get(*r) else {
                continue;
            };
            a.status = c.status.unwrap_or(a.status);
            a.code = c.code.as_deref().unwrap_or(a.code);
            a.message = c.message.as_deref().unwrap_or(a.message);
            a.origin = c.origin.as_deref().unwrap_or(a.origin);
        }
        a
    }
}

impl Answer<'_> {
    /// The message with each `{name}` of `values` filled in (names not given stay as they
    /// are).
    pub fn render(&self, values: &[(&str, &str)]) -> String {
        values
            .iter()
            .fold(self.message.to_string(), |m, (name, value)| {
                m.replace(&format!("{{{name}}}"), value)
            })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    errors: Vec<ErrorRow>,
}

/// The error table (empty if the file is broken, which a test rules out).
pub fn errors() -> &'static [ErrorRow] {
    static TABLE: OnceLock<Vec<ErrorRow>> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_norway::from_str::<Table>(ERRORS)
            .map(|t| t.errors)
            .unwrap_or_default()
    })
}

/// The default answer to andon's `problem` in `release`, if the table has one.
pub fn error_of(problem: &str, release: &str) -> Option<Answer<'static>> {
    errors()
        .iter()
        .find(|r| r.problem == problem && r.case.is_none())
        .map(|r| r.at(release))
}

/// The answer to the `case` of andon's `problem` in `release` (`invalid-request`,
/// `required`), falling back to the problem's default answer.
pub fn error_case(problem: &str, case: &str, release: &str) -> Option<Answer<'static>> {
    errors()
        .iter()
        .find(|r| r.problem == problem && r.case.as_deref() == Some(case))
        .map(|r| r.at(release))
        .or_else(|| error_of(problem, release))
}

/// `contracts/dialects/business-central/limits.yaml` as written.
pub const LIMITS: &str = include_str!("../../dialects/business-central/limits.yaml");

/// The limits of a plant's simulated BC system (see `limits.yaml` for the source of each).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests admitted per sliding window, per plant and client.
    pub requests_per_window: u32,
    /// The sliding window, wall-clock seconds.
    pub window_seconds: u64,
    /// Requests processed at the same time.
    pub max_concurrent: u32,
    /// Requests waiting beyond those processed.
    pub max_queued: u32,
    /// Requests in one `$batch`.
    pub max_batch_operations: u32,
    /// The subscriber's time to answer the validation handshake, wall-clock seconds.
    pub handshake_timeout_seconds: u64,
    /// A subscription's life from its create or renewal, days of business time.
    pub subscription_lifetime_days: u32,
    /// Live subscriptions per plant.
    pub max_subscriptions: u32,
    /// `Retry-After` of a 429 for a full queue, and the least of one for the rate window,
    /// seconds.
    pub retry_after_seconds: u64,
}

impl Limits {
    /// The sliding window.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_seconds)
    }

    /// `Retry-After` of a 429 for a full queue.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_seconds)
    }

    /// A subscription's life, in business time.
    pub fn subscription_lifetime(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.subscription_lifetime_days))
    }
}

/// The limits.
///
/// # Panics
/// Never in a released build: the embedded file is parsed by this crate's tests.
pub fn limits() -> &'static Limits {
    static LIMITS_READ: OnceLock<Limits> = OnceLock::new();
    LIMITS_READ.get_or_init(|| {
        serde_norway::from_str(LIMITS)
            .unwrap_or_else(|e| panic!("contracts/dialects/business-central/limits.yaml: {e}"))
    })
}

/// The OpenAPI document of each release, as written.
pub const OPENAPI: &[(&str, &str)] = &[
    (
        "24",
        include_str!("../../dialects/business-central/24/openapi.yaml"),
    ),
    (
        "25",
        include_str!("../../dialects/business-central/25/openapi.yaml"),
    ),
];

/// The OpenAPI document of `release`, as JSON (`None` for a release andon does not
/// simulate, or a document that does not read, which a test rules out).
pub fn openapi_json(release: &str) -> Option<serde_json::Value> {
    let (_, text) = OPENAPI.iter().find(|(r, _)| *r == release)?;
    serde_norway::from_str(text).ok()
}

/// The CSDL of each release and API: `(release, api, document)`; `api` is `standard`
/// (`api/v2.0/$metadata`) or `manufacturing` (`api/andon/manufacturing/v1.0/$metadata`).
macro_rules! csdl {
    ($($release:literal),+) => {
        &[$(
            ($release, "standard", include_str!(concat!(
                "../../dialects/business-central/", $release, "/metadata/standard.xml"))),
            ($release, "manufacturing", include_str!(concat!(
                "../../dialects/business-central/", $release, "/metadata/manufacturing.xml"))),
        )+]
    };
}

/// Every `$metadata` document andon serves.
pub const METADATA: &[(&str, &str, &str)] = csdl!("24", "25");

/// The `$metadata` (CSDL) of `api` (`standard`, `manufacturing`) at `release`, if andon
/// serves it.
pub fn metadata(release: &str, api: &str) -> Option<&'static str> {
    METADATA
        .iter()
        .find(|(r, a, _)| *r == release && *a == api)
        .map(|(_, _, doc)| *doc)
}

/// The API root (below the plant base) whose `$metadata` is `api`'s.
pub fn api_root(api: &str) -> Option<&'static str> {
    match api {
        "standard" => Some("api/v2.0"),
        "manufacturing" => Some("api/andon/manufacturing/v1.0"),
        _ => None,
    }
}

/// The AsyncAPI document of the webhook notifications and the validation handshake.
pub const ASYNCAPI: &str = include_str!("../../dialects/business-central/asyncapi.yaml");

/// `contracts/dialects/business-central/unjudged.yaml` as written.
pub const UNJUDGED: &str = include_str!("../../dialects/business-central/unjudged.yaml");

/// The fields of andon's flows Business Central cannot carry.
pub fn unjudged() -> &'static [Unjudged] {
    static TABLE: OnceLock<Vec<Unjudged>> = OnceLock::new();
    TABLE.get_or_init(|| super::read_unjudged(UNJUDGED).unwrap_or_default())
}

#[cfg(test)]
mod tests;
