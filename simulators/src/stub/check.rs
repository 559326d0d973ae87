//! Checking a request against its operation: the request body schema compiled once with
//! the whole document as root (external references resolved against the file and andon's
//! own schemas), problem+json answers for bodies that do not match, and the responder that
//! answers with the example.

use super::*;

/// What a request must satisfy.
pub(super) struct RequestCheck {
    pub(super) validator: Arc<Validator>,
    pub(super) required: bool,
}

/// Compiles the operation's JSON request schema, if it has one.
pub(super) fn request_check(
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
pub(super) struct SchemaCompiler {
    pub(super) root: Json,
    pub(super) draft: Draft,
    pub(super) base_uri: Option<String>,
}

/// The key under which an operation's schema is placed in the root for compiling.
pub(super) const SCHEMA_SLOT: &str = "x-andon-request-schema";

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
pub(super) fn base_uri(file: &str) -> Option<String> {
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

pub(super) fn percent_decode(s: &str) -> String {
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
pub(super) struct Retriever;

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
pub(super) fn identified_by_location(mut value: Json) -> Json {
    if let Json::Object(map) = &mut value {
        map.remove("$id");
    }
    value
}

/// Answers an operation's example after checking the request body.
pub(super) struct ExampleResponder {
    pub(super) label: String,
    pub(super) status: u16,
    pub(super) body: Option<(Vec<u8>, String)>,
    pub(super) request: Option<RequestCheck>,
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
    /// Checks the request body: present when required, JSON by content type and syntax,
    /// and matching the schema; otherwise the problem to answer (at the request's path).
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
        json_content_type(request, &path)?;
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
        let errors = self.violations(&json);
        let listed = first_violations(&errors);
        Err(invalid(
            format!("The body does not match the request schema of {label}: {listed}"),
            errors,
        ))
    }

    /// The body's schema violations, at most [`MAX_ERRORS`], then one line counting the
    /// rest.
    fn violations(&self, json: &Json) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut more = 0usize;
        for e in self.validator.iter_errors(json) {
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
        errors
    }
}

/// The request's content type must be JSON (`application/json`, `…+json` or `…/json`);
/// otherwise a 415 `unsupported-media-type` problem at `path`.
fn json_content_type(request: &Request, path: &str) -> Result<(), Box<Problem>> {
    let (ct, essence) = crate::problem::content_type(&request.headers);
    if !is_json(&essence) {
        return Err(Box::new(
            Problem::of(
                "unsupported-media-type",
                format!("Content-Type must be application/json, got {ct:?}"),
            )
            .at(path.to_string()),
        ));
    }
    Ok(())
}

/// The first three violations as `pointer: message` (`/` for the whole body), joined for
/// the problem's detail.
fn first_violations(errors: &[FieldError]) -> String {
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
    listed.join("; ")
}
