//! Any OpenAPI 3.x document served as a stub on wiremock: every operation answers its
//! first 2xx response example, after checking the request body against the operation's
//! `requestBody` schema.
//!
//! This covers the stateless edges: endpoints andon does not model with state, a vendor's
//! API a plant adapter also calls, or a quick look at what a contract promises.
//!
//! * **Matching**: one wiremock [`Mock`] per path and method; a path template segment
//!   `{x}` matches `[^/]+`; the path of the first `servers` URL is a prefix. Literal
//!   paths win over templated ones (`/orders/mine` before `/orders/{order}`). Anything
//!   else is wiremock's plain 404.
//! * **Answer**: the lowest 2xx response (`2XX` counts as 200) with a JSON media type
//!   (`application/json` preferred, else any `…+json` or `…/json`); its `example`, else the
//!   first of `examples` (document order), else the schema's `example` or first of
//!   `examples`. A 2xx response without `content` answers with an empty body. An
//!   operation without either is skipped and listed in [`StubServer::skipped`].
//! * **Validation**: a JSON `requestBody` schema is compiled once (JSON Schema 2020-12 for
//!   OpenAPI 3.1, draft 4 for 3.0, where `nullable` is not understood) with the whole
//!   document as root, so `#/components/...` references resolve. External references
//!   resolve against the document's file (`../schemas/x.json`) and against andon's own
//!   contract schemas (`https://andon.dev/schemas/...`); any other reference is reported as
//!   unsupported. A body that is missing (when required), not JSON, of another media type
//!   or not matching is answered with `application/problem+json` (RFC 9457): 400
//!   `invalid-request` with JSON-pointer `errors`, or 415 `unsupported-media-type`.
//! * **Errors**: a bad document is a [`StubError`] naming the file and what was expected,
//!   with line and column for syntax errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), andon_simulators::stub::StubError> {
//! let text = std::fs::read_to_string("api.yaml").unwrap_or_default();
//! let stub = andon_simulators::stub::start_stub(&text, "api.yaml", None).await?;
//! println!("{} serves {} operations", stub.uri(), stub.operations().len());
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use andon_contracts::{FieldError, Problem};
use jsonschema::{Draft, Validator};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::problem::PROBLEM_JSON;

mod check;
mod document;
#[cfg(test)]
mod tests;

use check::*;
use document::*;

/// The HTTP methods an OpenAPI path item can hold, in the order they are mounted.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// At most this many violations are listed in one 400 answer.
const MAX_ERRORS: usize = andon_contracts::validate::MAX_VIOLATIONS;

/// A document that cannot be served, or an address that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StubError {
    /// The text is not YAML or JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File name.
        file: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What was expected.
        message: String,
    },
    /// The document is not a usable OpenAPI 3.x document.
    #[error("{file}: {at}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// Where in the document (`paths./orders.post.requestBody`).
        at: String,
        /// What was expected.
        message: String,
    },
    /// An operation uses something the stub cannot serve (an external reference it cannot
    /// resolve, a schema it cannot compile).
    #[error("{file}: {operation}: {message}")]
    Unsupported {
        /// File name.
        file: String,
        /// The operation (`POST /orders`).
        operation: String,
        /// What is not supported.
        message: String,
    },
    /// No operation has a 2xx response to answer with.
    #[error(
        "{file}: no operation has a 2xx response with a JSON example (or without content) to serve"
    )]
    NothingToServe {
        /// File name.
        file: String,
    },
    /// The address could not be bound.
    #[error("{file}: cannot listen on {addr}: {source}")]
    Bind {
        /// File name.
        file: String,
        /// The address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// One operation the stub answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubOperation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template as written in the document (`/orders/{order}`), without the server
    /// prefix.
    pub path: String,
    /// Status of the answer.
    pub status: u16,
    /// Whether the request body is checked against a schema.
    pub validates_request: bool,
}

impl fmt::Display for StubOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.status)
    }
}

/// An operation the document defines but the stub does not answer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedOperation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template.
    pub path: String,
    /// Why it is not served.
    pub reason: String,
}

/// A running stub. Dropping it stops the server.
pub struct StubServer {
    server: MockServer,
    file: String,
    base_path: String,
    operations: Vec<StubOperation>,
    skipped: Vec<SkippedOperation>,
}

impl fmt::Debug for StubServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StubServer")
            .field("uri", &self.server.uri())
            .field("file", &self.file)
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

impl StubServer {
    /// Base URI of the server (`http://127.0.0.1:PORT`), without the document's server path.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        *self.server.address()
    }

    /// The file name the document was given under.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The path prefix taken from the document's first `servers` URL (often empty).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The operations answered, in document order.
    pub fn operations(&self) -> &[StubOperation] {
        &self.operations
    }

    /// The operations defined but not answered, with the reason.
    pub fn skipped(&self) -> &[SkippedOperation] {
        &self.skipped
    }
}

/// Parses an OpenAPI 3.x document (YAML or JSON; `file_name` names it in errors and is the
/// base for relative external references) and serves its examples on `addr`, or on an
/// ephemeral port of 127.0.0.1 when `addr` is `None`.
#[tracing::instrument(skip(openapi_yaml_or_json))]
pub async fn start_stub(
    openapi_yaml_or_json: &str,
    file_name: &str,
    addr: Option<SocketAddr>,
) -> Result<StubServer, StubError> {
    let plan = plan(openapi_yaml_or_json, file_name)?;
    let builder = MockServer::builder().disable_request_recording();
    let server = match addr {
        Some(addr) => {
            let listener = std::net::TcpListener::bind(addr).map_err(|source| StubError::Bind {
                file: file_name.to_string(),
                addr,
                source,
            })?;
            builder.listener(listener).start().await
        }
        None => builder.start().await,
    };
    let mut operations = Vec::with_capacity(plan.mounts.len());
    for m in plan.mounts {
        Mock::given(method(&m.operation.method))
            .and(path_regex(m.regex))
            .respond_with(m.responder)
            .with_priority(m.priority)
            .named(format!("{} {}", m.operation.method, m.operation.path))
            .mount(&server)
            .await;
        operations.push(m.operation);
    }
    for s in &plan.skipped {
        tracing::info!(file = file_name, method = %s.method, path = %s.path, reason = %s.reason, "operation not stubbed");
    }
    tracing::info!(file = file_name, uri = %server.uri(), operations = operations.len(), "stub started");
    Ok(StubServer {
        server,
        file: file_name.to_string(),
        base_path: plan.base_path,
        operations,
        skipped: plan.skipped,
    })
}

/// Everything to mount, decided before binding anything.
struct Plan {
    base_path: String,
    mounts: Vec<Mount>,
    skipped: Vec<SkippedOperation>,
}

/// One operation's mock: what it serves, the path regex it matches, its priority (literal
/// paths first) and the responder.
struct Mount {
    operation: StubOperation,
    regex: String,
    priority: u8,
    responder: ExampleResponder,
}

/// A document that is not usable: the file, where, and what was expected.
fn invalid(file: &str, at: &str, message: String) -> StubError {
    StubError::Invalid {
        file: file.to_string(),
        at: at.to_string(),
        message,
    }
}

/// Reads the document and prepares one mock per answerable operation.
fn plan(text: &str, file: &str) -> Result<Plan, StubError> {
    let doc = parse_document(text, file)?;
    if !doc.is_mapping() {
        return Err(invalid(
            file,
            "document",
            "expected a mapping with `openapi`, `info` and `paths` (an OpenAPI 3.x document)"
                .into(),
        ));
    }
    let draft = schema_draft(&doc, file)?;
    let paths = match doc.get("paths") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::Mapping(m)) => Some(m),
        Some(_) => {
            return Err(invalid(
                file,
                "paths",
                "expected a mapping of path templates".into(),
            ));
        }
    };
    let root = serde_json::to_value(&doc)
        .map_err(|e| invalid(file, "document", format!("cannot be read as JSON: {e}")))?;
    let mut planner = Planner {
        doc: &doc,
        file,
        compiler: SchemaCompiler {
            root,
            draft,
            base_uri: base_uri(file),
        },
        base_path: base_path(&doc),
        mounts: Vec::new(),
        skipped: Vec::new(),
    };
    for (key, item) in paths.into_iter().flatten() {
        planner.path(key, item)?;
    }
    if planner.mounts.is_empty() {
        return Err(StubError::NothingToServe {
            file: file.to_string(),
        });
    }
    Ok(Plan {
        base_path: planner.base_path,
        mounts: planner.mounts,
        skipped: planner.skipped,
    })
}

/// The JSON Schema draft of the document's schemas, by its `openapi` version: draft 4 for
/// 3.0, 2020-12 for 3.1; any other version (or Swagger 2.0) is not served.
fn schema_draft(doc: &Yaml, file: &str) -> Result<Draft, StubError> {
    match doc.get("openapi") {
        Some(Yaml::String(v)) if v.starts_with("3.0") => Ok(Draft::Draft4),
        Some(Yaml::String(v)) if v.starts_with("3.") => Ok(Draft::Draft202012),
        Some(other) => Err(invalid(
            file,
            "openapi",
            format!(
                "expected version 3.0.x or 3.1.x, found {}",
                scalar_text(other)
            ),
        )),
        None if doc.get("swagger").is_some() => Err(invalid(
            file,
            "swagger",
            "Swagger 2.0 is not supported: expected an OpenAPI 3.x document (`openapi: 3.1.0`)"
                .into(),
        )),
        None => Err(invalid(
            file,
            "openapi",
            "missing: expected `openapi: 3.0.x` or `openapi: 3.1.x`".into(),
        )),
    }
}

/// Goes through the document's paths, collecting a mock per answerable operation and the
/// operations skipped.
struct Planner<'a> {
    doc: &'a Yaml,
    file: &'a str,
    compiler: SchemaCompiler,
    base_path: String,
    mounts: Vec<Mount>,
    skipped: Vec<SkippedOperation>,
}

impl<'a> Planner<'a> {
    /// One path item: its template must start with `/`; it becomes a regex under the base
    /// path, and each of its operations is planned in [`METHODS`] order.
    fn path(&mut self, key: &'a Yaml, item: &'a Yaml) -> Result<(), StubError> {
        let file = self.file;
        let Some(path) = key.as_str() else {
            return Err(invalid(
                file,
                "paths",
                format!(
                    "expected path templates as keys, found {}",
                    scalar_text(key)
                ),
            ));
        };
        let at = format!("paths.{path}");
        if !path.starts_with('/') {
            return Err(invalid(
                file,
                &at,
                "a path template must start with `/`".into(),
            ));
        }
        let (template_regex, params) =
            template_regex(path).map_err(|e| invalid(file, &at, e.to_string()))?;
        let regex = format!("^{}{template_regex}$", escape_regex(&self.base_path));
        let item = resolve(self.doc, item, file, &at)?;
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            self.operation(path, m, op, &at, &regex, params)?;
        }
        Ok(())
    }

    /// One operation (method `m` of `path`): skipped without a 2xx answer to give,
    /// otherwise a mock answering it after checking the request body against its schema.
    fn operation(
        &mut self,
        path: &str,
        m: &str,
        op: &'a Yaml,
        at: &str,
        regex: &str,
        params: usize,
    ) -> Result<(), StubError> {
        let (doc, file) = (self.doc, self.file);
        let at = format!("{at}.{m}");
        let label = format!("{} {path}", m.to_ascii_uppercase());
        let op = resolve(doc, op, file, &at)?;
        if !op.is_mapping() {
            return Err(invalid(file, &at, "expected an operation object".into()));
        }
        let Some(answer) = answer_of(doc, op, file, &at)? else {
            self.skipped.push(SkippedOperation {
                method: m.to_ascii_uppercase(),
                path: path.to_string(),
                reason: "no 2xx response with a JSON example (or without content)".into(),
            });
            return Ok(());
        };
        let request = request_check(doc, &self.compiler, op, file, &at, &label)?;
        self.mounts.push(Mount {
            operation: StubOperation {
                method: m.to_ascii_uppercase(),
                path: path.to_string(),
                status: answer.status,
                validates_request: request.is_some(),
            },
            regex: regex.to_string(),
            priority: u8::try_from(params + 1).unwrap_or(u8::MAX),
            responder: ExampleResponder {
                label,
                status: answer.status,
                body: answer.body,
                request,
            },
        });
        Ok(())
    }
}
