//! Reading an OpenAPI document for the stub: YAML or JSON with positions, local and
//! external references, path templates as regexes, and each operation's example answer.

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use super::*;

/// Parses YAML, or JSON when the text starts with `{` or the file ends in `.json`, keeping
/// the document's key order.
pub(super) fn parse_document(text: &str, file: &str) -> Result<Yaml, StubError> {
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
pub(super) fn resolve<'a>(
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
pub(super) fn lookup<'a>(doc: &'a Yaml, pointer: &str) -> Option<&'a Yaml> {
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
pub(super) fn key_text(k: &Yaml) -> Option<String> {
    match k {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn scalar_text(v: &Yaml) -> String {
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
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Option<(Vec<u8>, String)>,
}

/// Picks the lowest 2xx response and its example.
pub(super) fn answer_of(
    doc: &Yaml,
    op: &Yaml,
    file: &str,
    at: &str,
) -> Result<Option<Answer>, StubError> {
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
pub(super) fn pick_json(content: &serde_norway::Mapping) -> Option<(String, &Yaml)> {
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

pub(super) fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json") || essence.ends_with("/json")
}

/// `example`, the first of `examples`, or the schema's `example` / first of `examples`.
pub(super) fn example_of(
    doc: &Yaml,
    media: &Yaml,
    file: &str,
    at: &str,
) -> Result<Option<Json>, StubError> {
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

/// The path of the first `servers` URL, variables replaced by their defaults, without a
/// trailing `/`.
pub(super) fn base_path(doc: &Yaml) -> String {
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
pub(super) enum TemplateError {
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
pub(super) fn template_regex(path: &str) -> Result<(String, usize), TemplateError> {
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
pub(super) fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
