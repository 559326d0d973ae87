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

struct Mount {
    operation: StubOperation,
    regex: String,
    priority: u8,
    responder: ExampleResponder,
}

/// Reads the document and prepares one mock per answerable operation.
fn plan(text: &str, file: &str) -> Result<Plan, StubError> {
    let doc = parse_document(text, file)?;
    let invalid = |at: &str, message: String| StubError::Invalid {
        file: file.to_string(),
        at: at.to_string(),
        message,
    };
    if !doc.is_mapping() {
        return Err(invalid(
            "document",
            "expected a mapping with `openapi`, `info` and `paths` (an OpenAPI 3.x document)"
                .into(),
        ));
    }
    let draft = match doc.get("openapi") {
        Some(Yaml::String(v)) if v.starts_with("3.0") => Draft::Draft4,
        Some(Yaml::String(v)) if v.starts_with("3.") => Draft::Draft202012,
        Some(other) => {
            return Err(invalid(
                "openapi",
                format!(
                    "expected version 3.0.x or 3.1.x, found {}",
                    scalar_text(other)
                ),
            ));
        }
        None if doc.get("swagger").is_some() => {
            return Err(invalid(
                "swagger",
                "Swagger 2.0 is not supported: expected an OpenAPI 3.x document (`openapi: 3.1.0`)"
                    .into(),
            ));
        }
        None => {
            return Err(invalid(
                "openapi",
                "missing: expected `openapi: 3.0.x` or `openapi: 3.1.x`".into(),
            ));
        }
    };
    let paths = match doc.get("paths") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::Mapping(m)) => Some(m),
        Some(_) => {
            return Err(invalid(
                "paths",
                "expected a mapping of path templates".into(),
            ));
        }
    };
    let root = serde_json::to_value(&doc)
        .map_err(|e| invalid("document", format!("cannot be read as JSON: {e}")))?;
    let compiler = SchemaCompiler {
        root,
        draft,
        base_uri: base_uri(file),
    };
    let base_path = base_path(&doc);
    let mut mounts = Vec::new();
    let mut skipped = Vec::new();
    for (key, item) in paths.into_iter().flatten() {
        let Some(path) = key.as_str() else {
            return Err(invalid(
                "paths",
                format!(
                    "expected path templates as keys, found {}",
                    scalar_text(key)
                ),
            ));
        };
        let at = format!("paths.{path}");
        if !path.starts_with('/') {
            return Err(invalid(&at, "a path template must start with `/`".into()));
        }
        let (template_regex, params) =
            template_regex(path).map_err(|e| invalid(&at, e.to_string()))?;
        let regex = format!("^{}{template_regex}$", escape_regex(&base_path));
        let item = resolve(&doc, item, file, &at)?;
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let at = format!("{at}.{m}");
            let label = format!("{} {path}", m.to_ascii_uppercase());
            let op = resolve(&doc, op, file, &at)?;
            if !op.is_mapping() {
                return Err(invalid(&at, "expected an operation object".into()));
            }
            let Some(answer) = answer_of(&doc, op, file, &at)? else {
                skipped.push(SkippedOperation {
                    method: m.to_ascii_uppercase(),
                    path: path.to_string(),
                    reason: "no 2xx response with a JSON example (or without content)".into(),
                });
                continue;
            };
            let request = request_check(&doc, &compiler, op, file, &at, &label)?;
            mounts.push(Mount {
                operation: StubOperation {
                    method: m.to_ascii_uppercase(),
                    path: path.to_string(),
                    status: answer.status,
                    validates_request: request.is_some(),
                },
                regex: regex.clone(),
                priority: u8::try_from(params + 1).unwrap_or(u8::MAX),
                responder: ExampleResponder {
                    label: label.clone(),
                    status: answer.status,
                    body: answer.body,
                    request,
                },
            });
        }
    }
    if mounts.is_empty() {
        return Err(StubError::NothingToServe {
            file: file.to_string(),
        });
    }
    Ok(Plan {
        base_path,
        mounts,
        skipped,
    })
}

/// Parses YAML, or JSON when the text starts with `{` or the file ends in `.json`, keeping
/// the document's key order.
fn parse_document(text: &str, file: &str) -> Result<Yaml, StubError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let syntax = |line: usize, column: usize, message: String| StubError::Syntax {
        file: file.to_string(),
        line,
        column,
        message,
    };
    if trimmed.starts_with('{') || file.to_ascii_lowercase().ends_with(".json") {
        return serde_json::from_str::<Yaml>(trimmed).map_err(|e| {
            syntax(
                e.line(),
                e.column(),
                format!("expected a JSON OpenAPI document: {e}"),
            )
        });
    }
    if trimmed.is_empty() {
        return Err(syntax(
            1,
            1,
            "the document is empty: expected an OpenAPI 3.x document".into(),
        ));
    }
    let mut doc: Yaml = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        syntax(
            line,
            column,
            format!("expected a YAML OpenAPI document: {e}"),
        )
    })?;
    doc.apply_merge().map_err(|e| StubError::Invalid {
        file: file.to_string(),
        at: "document".into(),
        message: format!("bad merge key: {e}"),
    })?;
    Ok(doc)
}

/// Follows local `$ref`s (`#/components/...`) of OpenAPI objects.
fn resolve<'a>(
    doc: &'a Yaml,
    mut v: &'a Yaml,
    file: &str,
    at: &str,
) -> Result<&'a Yaml, StubError> {
    for _ in 0..32 {
        let Some(r) = v.get("$ref") else {
            return Ok(v);
        };
        let Some(r) = r.as_str() else {
            return Err(StubError::Invalid {
                file: file.to_string(),
                at: at.to_string(),
                message: "expected `$ref` to be a string".into(),
            });
        };
        let Some(pointer) = r.strip_prefix('#') else {
            return Err(StubError::Unsupported {
                file: file.to_string(),
                operation: at.to_string(),
                message: format!(
                    "external reference {r:?} to an OpenAPI object is not supported: only `#/...` references are (schemas may refer to files)"
                ),
            });
        };
        v = lookup(doc, pointer).ok_or_else(|| StubError::Invalid {
            file: file.to_string(),
            at: at.to_string(),
            message: format!("`$ref: {r}` points at nothing in the document"),
        })?;
    }
    Err(StubError::Invalid {
        file: file.to_string(),
        at: at.to_string(),
        message: "`$ref` chain is circular or longer than 32".into(),
    })
}

/// Looks up a JSON pointer (`/components/responses/Ok`) in the document.
fn lookup<'a>(doc: &'a Yaml, pointer: &str) -> Option<&'a Yaml> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let mut v = doc;
    for raw in pointer.strip_prefix('/')?.split('/') {
        let seg = percent_decode(raw).replace("~1", "/").replace("~0", "~");
        v = match v {
            Yaml::Mapping(m) => m
                .iter()
                .find(|(k, _)| key_text(k).as_deref() == Some(seg.as_str()))
                .map(|(_, v)| v)?,
            Yaml::Sequence(s) => s.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// A mapping key as text (`201` may be a number in YAML).
fn key_text(k: &Yaml) -> Option<String> {
    match k {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_text(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "nothing".into(),
        Yaml::Sequence(_) => "a list".into(),
        Yaml::Mapping(_) => "a mapping".into(),
        Yaml::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// The answer of an operation: status and, when it has content, the example body.
struct Answer {
    status: u16,
    body: Option<(Vec<u8>, String)>,
}

/// Picks the lowest 2xx response and its example.
fn answer_of(doc: &Yaml, op: &Yaml, file: &str, at: &str) -> Result<Option<Answer>, StubError> {
    let Some(Yaml::Mapping(responses)) = op.get("responses") else {
        return Ok(None);
    };
    let mut best: Option<(u16, &Yaml)> = None;
    for (k, v) in responses {
        let Some(k) = key_text(k) else { continue };
        let status = if k.eq_ignore_ascii_case("2XX") {
            200
        } else {
            match k.parse::<u16>() {
                Ok(s) if (200..300).contains(&s) => s,
                _ => continue,
            }
        };
        if best.is_none_or(|(b, _)| status < b) {
            best = Some((status, v));
        }
    }
    let Some((status, response)) = best else {
        return Ok(None);
    };
    let at = format!("{at}.responses.{status}");
    let response = resolve(doc, response, file, &at)?;
    let content = match response.get("content") {
        None | Some(Yaml::Null) => {
            return Ok(Some(Answer { status, body: None }));
        }
        Some(Yaml::Mapping(m)) if m.is_empty() => {
            return Ok(Some(Answer { status, body: None }));
        }
        Some(Yaml::Mapping(m)) => m,
        Some(_) => {
            return Err(StubError::Invalid {
                file: file.to_string(),
                at: format!("{at}.content"),
                message: "expected a mapping of media types".into(),
            });
        }
    };
    let Some((media_type, media)) = pick_json(content) else {
        return Ok(None);
    };
    let Some(example) = example_of(doc, media, file, &at)? else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(&example).map_err(|e| StubError::Invalid {
        file: file.to_string(),
        at: format!("{at}.content.{media_type}"),
        message: format!("the example cannot be written as JSON: {e}"),
    })?;
    Ok(Some(Answer {
        status,
        body: Some((bytes, media_type)),
    }))
}

/// The JSON media type of a `content` mapping: `application/json`, else the first JSON one.
fn pick_json(content: &serde_norway::Mapping) -> Option<(String, &Yaml)> {
    let entries: Vec<(String, &Yaml)> = content
        .iter()
        .filter_map(|(k, v)| key_text(k).map(|k| (k, v)))
        .collect();
    let essence = |k: &str| {
        k.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    entries
        .iter()
        .find(|(k, _)| essence(k) == "application/json")
        .or_else(|| entries.iter().find(|(k, _)| is_json(&essence(k))))
        .map(|(k, v)| (essence(k), *v))
}

fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json") || essence.ends_with("/json")
}

/// `example`, the first of `examples`, or the schema's `example` / first of `examples`.
fn example_of(doc: &Yaml, media: &Yaml, file: &str, at: &str) -> Result<Option<Json>, StubError> {
    let media = resolve(doc, media, file, at)?;
    let to_json = |v: &Yaml| {
        serde_json::to_value(v).map_err(|e| StubError::Invalid {
            file: file.to_string(),
            at: at.to_string(),
            message: format!("the example cannot be read as JSON: {e}"),
        })
    };
    if let Some(e) = media.get("example") {
        return to_json(e).map(Some);
    }
    if let Some(Yaml::Mapping(examples)) = media.get("examples") {
        for (name, ex) in examples {
            let ex = resolve(
                doc,
                ex,
                file,
                &format!("{at}.examples.{}", key_text(name).unwrap_or_default()),
            )?;
            if let Some(v) = ex.get("value") {
                return to_json(v).map(Some);
            }
        }
    }
    if let Some(schema) = media.get("schema") {
        let schema = resolve(doc, schema, file, &format!("{at}.schema"))?;
        if let Some(e) = schema.get("example") {
            return to_json(e).map(Some);
        }
        if let Some(Yaml::Sequence(examples)) = schema.get("examples")
            && let Some(e) = examples.first()
        {
            return to_json(e).map(Some);
        }
    }
    Ok(None)
}

/// What a request must satisfy.
struct RequestCheck {
    validator: Arc<Validator>,
    required: bool,
}

/// Compiles the operation's JSON request schema, if it has one.
fn request_check(
    doc: &Yaml,
    compiler: &SchemaCompiler,
    op: &Yaml,
    file: &str,
    at: &str,
    label: &str,
) -> Result<Option<RequestCheck>, StubError> {
    let Some(body) = op.get("requestBody") else {
        return Ok(None);
    };
    let at = format!("{at}.requestBody");
    let body = resolve(doc, body, file, &at)?;
    let required = body
        .get("required")
        .and_then(Yaml::as_bool)
        .unwrap_or(false);
    let Some(Yaml::Mapping(content)) = body.get("content") else {
        return Ok(None);
    };
    let Some((media_type, media)) = pick_json(content) else {
        return Ok(None);
    };
    let media = resolve(doc, media, file, &at)?;
    let Some(schema) = media.get("schema") else {
        return Ok(None);
    };
    let schema = serde_json::to_value(schema).map_err(|e| StubError::Invalid {
        file: file.to_string(),
        at: format!("{at}.content.{media_type}.schema"),
        message: format!("cannot be read as JSON: {e}"),
    })?;
    let validator = compiler
        .compile(schema)
        .map_err(|message| StubError::Unsupported {
            file: file.to_string(),
            operation: label.to_string(),
            message: format!("the request schema cannot be compiled: {message}"),
        })?;
    Ok(Some(RequestCheck {
        validator: Arc::new(validator),
        required,
    }))
}

/// Compiles request schemas with the whole document as root.
struct SchemaCompiler {
    root: Json,
    draft: Draft,
    base_uri: Option<String>,
}

/// The key under which an operation's schema is placed in the root for compiling.
const SCHEMA_SLOT: &str = "x-andon-request-schema";

impl SchemaCompiler {
    fn compile(&self, schema: Json) -> Result<Validator, jsonschema::ValidationError<'static>> {
        let mut root = self.root.clone();
        if let Json::Object(map) = &mut root {
            map.insert(SCHEMA_SLOT.into(), schema);
            map.insert("$ref".into(), Json::String(format!("#/{SCHEMA_SLOT}")));
        }
        let mut options = jsonschema::options()
            .with_draft(self.draft)
            .with_retriever(Retriever)
            .should_validate_formats(self.draft == Draft::Draft202012);
        if let Some(base) = &self.base_uri {
            options = options.with_base_uri(base.clone());
        }
        options.build(&root)
    }
}

/// `file://` URI of the document when `file` names a file on disk.
fn base_uri(file: &str) -> Option<String> {
    let path = std::fs::canonicalize(Path::new(file)).ok()?;
    let text = path.to_str()?;
    let mut uri = String::from("file://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    Some(uri)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolves external schema references: files next to the document, andon's own schemas.
struct Retriever;

impl jsonschema::Retrieve for Retriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Json, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let base = andon_contracts::validate::SCHEMA_BASE;
        if let Some(kind) = uri
            .strip_prefix(base)
            .and_then(|k| k.strip_suffix(".schema.json"))
        {
            return andon_contracts::validate::schema(kind)
                .cloned()
                .ok_or_else(|| format!("{uri} is not one of andon's contract schemas").into());
        }
        if let Some(path) = uri.strip_prefix("file://") {
            let path = percent_decode(path.split('#').next().unwrap_or(path));
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let value: Json = if text.trim_start().starts_with('{') {
                serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
            } else {
                serde_norway::from_str(&text).map_err(|e| format!("{path}: {e}"))?
            };
            return Ok(identified_by_location(value));
        }
        if uri.starts_with("json-schema:") {
            return Err(format!(
                "relative reference {uri} cannot be resolved: the document was not read from a file"
            )
            .into());
        }
        Err(format!(
            "external reference {uri} is not supported: only files next to the document and andon's own schemas are resolved"
        )
        .into())
    }
}

/// Drops the top-level `$id` of a schema read from a file, so that its relative references
/// resolve against the file's location, the same way the crawl that fetched it resolved
/// them (andon's own files mirror their `$id`s, so nothing else changes).
fn identified_by_location(mut value: Json) -> Json {
    if let Json::Object(map) = &mut value {
        map.remove("$id");
    }
    value
}

/// The path of the first `servers` URL, variables replaced by their defaults, without a
/// trailing `/`.
fn base_path(doc: &Yaml) -> String {
    let Some(server) = doc
        .get("servers")
        .and_then(Yaml::as_sequence)
        .and_then(|s| s.first())
    else {
        return String::new();
    };
    let Some(mut url) = server.get("url").and_then(Yaml::as_str).map(str::to_string) else {
        return String::new();
    };
    if let Some(Yaml::Mapping(vars)) = server.get("variables") {
        for (k, v) in vars {
            if let (Some(k), Some(d)) = (key_text(k), v.get("default").and_then(key_text)) {
                url = url.replace(&format!("{{{k}}}"), &d);
            }
        }
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or(""),
        None if url.starts_with('/') => url.as_str(),
        None => "",
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.trim_end_matches('/').to_string()
}

/// A path template that does not open and close its parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum TemplateError {
    /// A `{` without its `}`.
    #[error("unclosed `{{` in path template {0:?}")]
    Unclosed(String),
    /// `{}`.
    #[error("empty `{{}}` in path template {0:?}")]
    Empty(String),
    /// A `}` without its `{`.
    #[error("unmatched `}}` in path template {0:?}")]
    Unmatched(String),
}

/// `/orders/{order}/items` → `/orders/[^/]+/items` (escaped), with the number of parameters.
fn template_regex(path: &str) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut params = 0;
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&escape_regex(&rest[..open]));
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| TemplateError::Unclosed(path.to_string()))?;
        if close == 1 {
            return Err(TemplateError::Empty(path.to_string()));
        }
        out.push_str("[^/]+");
        params += 1;
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(TemplateError::Unmatched(path.to_string()));
    }
    out.push_str(&escape_regex(rest));
    Ok((out, params))
}

/// Escapes regex meta characters.
fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Answers an operation's example after checking the request body.
struct ExampleResponder {
    label: String,
    status: u16,
    body: Option<(Vec<u8>, String)>,
    request: Option<RequestCheck>,
}

impl Respond for ExampleResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(check) = &self.request
            && let Err(problem) = check.check(request, &self.label)
        {
            let status = problem.status;
            let body = serde_json::to_vec(&problem).unwrap_or_default();
            return ResponseTemplate::new(status).set_body_raw(body, PROBLEM_JSON);
        }
        let answer = ResponseTemplate::new(self.status);
        match &self.body {
            Some((bytes, media_type)) => answer.set_body_raw(bytes.clone(), media_type),
            None => answer,
        }
    }
}

impl RequestCheck {
    fn check(&self, request: &Request, label: &str) -> Result<(), Box<Problem>> {
        let path = request.url.path().to_string();
        let invalid = |detail: String, errors: Vec<FieldError>| {
            Box::new(
                Problem::of("invalid-request", detail)
                    .with_errors(errors)
                    .at(path.clone()),
            )
        };
        if request.body.is_empty() {
            if self.required {
                return Err(invalid(
                    format!("{label} needs a JSON body"),
                    vec![FieldError {
                        pointer: String::new(),
                        message: "the request body is required".into(),
                    }],
                ));
            }
            return Ok(());
        }
        let ct = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !is_json(&essence) {
            return Err(Box::new(
                Problem::of(
                    "unsupported-media-type",
                    format!("Content-Type must be application/json, got {ct:?}"),
                )
                .at(path),
            ));
        }
        let json: Json = serde_json::from_slice(&request.body).map_err(|e| {
            invalid(
                format!(
                    "Malformed JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
                vec![FieldError {
                    pointer: String::new(),
                    message: e.to_string(),
                }],
            )
        })?;
        if self.validator.is_valid(&json) {
            return Ok(());
        }
        let mut errors: Vec<FieldError> = Vec::new();
        let mut more = 0usize;
        for e in self.validator.iter_errors(&json) {
            if errors.len() < MAX_ERRORS {
                errors.push(FieldError {
                    pointer: e.instance_path().as_str().to_string(),
                    message: e.to_string(),
                });
            } else {
                more += 1;
            }
        }
        if more > 0 {
            errors.push(FieldError {
                pointer: String::new(),
                message: format!("{more} further violations not listed"),
            });
        }
        let listed: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| {
                format!(
                    "{}: {}",
                    if e.pointer.is_empty() {
                        "/"
                    } else {
                        &e.pointer
                    },
                    e.message
                )
            })
            .collect();
        Err(invalid(
            format!(
                "The body does not match the request schema of {label}: {}",
                listed.join("; ")
            ),
            errors,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORDERS: &str = r##"
openapi: 3.1.0
info: {title: Orders, version: "1"}
servers:
  - url: http://localhost:{port}/shop
    variables: {port: {default: "8080"}}
paths:
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OrderRequest'}
      responses:
        '400': {description: bad}
        '201':
          description: created
          content:
            application/json:
              examples:
                released: {value: {order: "100000001", status: released}}
                another: {value: {order: "100000002", status: created}}
  /orders/{order}:
    get:
      responses:
        200:
          $ref: '#/components/responses/Order'
    delete:
      responses:
        '204': {description: gone}
  /orders/mine:
    get:
      responses:
        '200':
          description: mine
          content:
            application/json:
              schema:
                type: object
                example: {mine: true}
  /reports:
    get:
      responses:
        '200':
          description: no example
          content:
            application/json:
              schema: {type: object}
components:
  schemas:
    OrderRequest:
      type: object
      required: [material, quantity]
      additionalProperties: false
      properties:
        material: {type: string, minLength: 1}
        quantity: {$ref: '#/components/schemas/Quantity'}
    Quantity: {type: number, exclusiveMinimum: 0}
  responses:
    Order:
      description: one order
      content:
        application/json:
          example: {order: "100000001", status: released}
"##;

    async fn orders() -> StubServer {
        start_stub(ORDERS, "orders.yaml", None)
            .await
            .expect("the document is served")
    }

    fn post(stub: &StubServer, body: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(format!("{}/shop/orders", stub.uri()))
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    #[tokio::test]
    async fn a_valid_request_gets_the_first_example_with_its_status() {
        let stub = orders().await;
        let r = post(&stub, r#"{"material": "RM-1", "quantity": 2.5}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: Json = r.json().await.unwrap();
        assert_eq!(body, json!({"order": "100000001", "status": "released"}));
    }

    #[tokio::test]
    async fn an_invalid_body_is_400_problem_json_with_pointers() {
        let stub = orders().await;
        let r = post(
            &stub,
            r#"{"material": "", "quantity": -1, "colour": "red"}"#,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], PROBLEM_JSON);
        let p: Problem = r.json().await.unwrap();
        assert_eq!(p.code, "invalid-request");
        assert_eq!(p.instance.as_deref(), Some("/shop/orders"));
        let pointers: Vec<&str> = p.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/quantity"), "{pointers:?}");
        assert!(pointers.contains(&"/material"), "{pointers:?}");
        assert!(pointers.contains(&""), "additional property: {pointers:?}");
        assert!(p.detail.contains("POST /orders"), "{}", p.detail);
    }

    #[tokio::test]
    async fn malformed_missing_or_mistyped_bodies_are_refused() {
        let stub = orders().await;
        let r = post(&stub, "{\"material\": ").send().await.unwrap();
        assert_eq!(r.status(), 400);
        let p: Problem = r.json().await.unwrap();
        assert!(
            p.detail.starts_with("Malformed JSON at line 1"),
            "{}",
            p.detail
        );

        let r = reqwest::Client::new()
            .post(format!("{}/shop/orders", stub.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        let r = reqwest::Client::new()
            .post(format!("{}/shop/orders", stub.uri()))
            .header("content-type", "text/plain")
            .body("material=RM-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);
    }

    #[tokio::test]
    async fn templates_match_segments_and_literal_paths_win() {
        let stub = orders().await;
        let get = |p: &str| reqwest::get(format!("{}/shop{p}", stub.uri()));
        let r = get("/orders/4711").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Json>().await.unwrap()["order"], "100000001");
        let r = get("/orders/mine").await.unwrap();
        assert_eq!(r.json::<Json>().await.unwrap(), json!({"mine": true}));
        assert_eq!(get("/orders/1/items").await.unwrap().status(), 404);
        let r = reqwest::Client::new()
            .delete(format!("{}/shop/orders/1", stub.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    #[tokio::test]
    async fn an_unknown_path_is_404() {
        let stub = orders().await;
        let r = reqwest::get(format!("{}/shop/invoices", stub.uri()))
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = reqwest::get(format!("{}/orders/1", stub.uri()))
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "the server path is part of every route");
    }

    #[tokio::test]
    async fn operations_are_listed_and_skipped_ones_say_why() {
        let stub = orders().await;
        let ops: Vec<String> = stub.operations().iter().map(|o| o.to_string()).collect();
        assert_eq!(
            ops,
            [
                "POST /orders -> 201",
                "GET /orders/{order} -> 200",
                "DELETE /orders/{order} -> 204",
                "GET /orders/mine -> 200"
            ]
        );
        assert!(stub.operations()[0].validates_request);
        assert_eq!(stub.base_path(), "/shop");
        assert_eq!(stub.skipped().len(), 1);
        assert_eq!(stub.skipped()[0].path, "/reports");
    }

    #[tokio::test]
    async fn bad_yaml_names_the_file_and_line() {
        let text = "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /x: [\n";
        let err = start_stub(text, "bad.yaml", None).await.unwrap_err();
        let StubError::Syntax { line, .. } = &err else {
            panic!("{err}")
        };
        assert!(*line >= 4, "{err}");
        assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
        assert!(err.to_string().contains("expected"), "{err}");
    }

    #[tokio::test]
    async fn bad_json_names_the_line() {
        let err = start_stub(
            "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}",
            "api.json",
            None,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().starts_with("api.json:3:"), "{err}");
    }

    #[tokio::test]
    async fn documents_that_are_not_openapi_3_say_what_was_expected() {
        let err = start_stub("swagger: '2.0'\npaths: {}\n", "old.yaml", None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("expected an OpenAPI 3.x"), "{err}");
        let err = start_stub("- a\n- b\n", "list.yaml", None)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("list.yaml: document: expected a mapping"),
            "{err}"
        );
        let err = start_stub("openapi: 3.1.0\npaths: {}\n", "empty.yaml", None)
            .await
            .unwrap_err();
        assert!(matches!(err, StubError::NothingToServe { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_unresolvable_external_reference_is_unsupported() {
        let text = r#"
openapi: 3.1.0
info: {title: x, version: "1"}
paths:
  /x:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: 'https://example.com/x.json'}
      responses:
        '200': {description: ok}
"#;
        let err = start_stub(text, "ext.yaml", None).await.unwrap_err();
        assert!(matches!(err, StubError::Unsupported { .. }), "{err}");
        assert!(err.to_string().starts_with("ext.yaml: POST /x:"), "{err}");
    }

    #[tokio::test]
    async fn openapi_3_0_json_documents_are_served() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "x", "version": "1"},
            "paths": {"/ping": {"put": {
                "requestBody": {"content": {"application/json": {"schema": {
                    "type": "object", "required": ["n"],
                    "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true}}
                }}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"example": {"pong": 1}}}}}
            }}}
        });
        let stub = start_stub(&doc.to_string(), "ping.json", None)
            .await
            .unwrap();
        let put = |b: &'static str| {
            reqwest::Client::new()
                .put(format!("{}/ping", stub.uri()))
                .header("content-type", "application/json")
                .body(b)
                .send()
        };
        assert_eq!(put(r#"{"n": 1}"#).await.unwrap().status(), 200);
        assert_eq!(put(r#"{"n": 0}"#).await.unwrap().status(), 400);
    }

    #[tokio::test]
    async fn serves_on_the_address_given() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let stub = start_stub(ORDERS, "orders.yaml", Some(addr)).await.unwrap();
        assert_eq!(stub.address(), addr);
        let busy = start_stub(ORDERS, "orders.yaml", Some(addr))
            .await
            .unwrap_err();
        assert!(matches!(busy, StubError::Bind { .. }), "{busy}");
    }

    #[tokio::test]
    async fn andons_own_erp_contract_is_served_with_its_file_references() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/openapi/erp.yaml");
        let text = std::fs::read_to_string(file).unwrap();
        let stub = start_stub(&text, file, None).await.unwrap();
        let post = stub
            .operations()
            .iter()
            .find(|o| o.method == "POST" && o.path == "/api/v1/material-documents")
            .expect("goods movements are stubbed");
        assert!(post.validates_request);
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/material-documents", stub.uri()))
            .header("content-type", "application/json")
            .body(r#"{"posting_date": "2026-11-02", "items": []}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let p: Problem = r.json().await.unwrap();
        assert!(p.errors.iter().any(|e| e.pointer == "/items"), "{p:?}");
        let golden = include_str!(
            "../../contracts/examples/valid/api__GoodsMovementRequest/consumption-261.json"
        );
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/material-documents", stub.uri()))
            .header("content-type", "application/json")
            .body(golden)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let doc: Json = r.json().await.unwrap();
        assert!(doc["material_document"].is_string(), "{doc}");
    }
}
