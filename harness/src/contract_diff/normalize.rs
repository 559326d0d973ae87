//! Documents brought to the one schema dialect the typed model reads (OpenAPI 3.1, JSON
//! Schema 2020-12) before they are read, so the comparison sees one language:
//! * **OpenAPI 3.0** — `nullable: true` becomes `null` among the `type`s; a boolean
//!   `exclusiveMinimum`/`exclusiveMaximum` becomes the numeric bound it qualifies (the
//!   upgrade the OpenAPI 3.1 release notes describe). A `$ref`'s siblings stay ignored, as
//!   3.0 says.
//! * **JSON Schema 2020-12** (OpenAPI 3.1, AsyncAPI 3, external schema files) — a `$ref`
//!   with sibling keywords that shape the data (`type`, `properties`, `required`, …) is
//!   a conjunction: it becomes `allOf: [{$ref}]` beside those keywords, which the typed
//!   model (it reads a `$ref` object as a bare reference) would otherwise drop.
//!
//! Data is left alone: `example`, `examples`, `default`, `const`, `enum` and `x-` extension
//! values are not descended into (but a property that happens to be *named* `example` is).

use serde_json::{Map, Value};

/// The schema language a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAPI 3.0's schema object (an extended subset of JSON Schema draft 5).
    OpenApi30,
    /// JSON Schema 2020-12 and what reads like it (OpenAPI 3.1, AsyncAPI 3).
    JsonSchema,
}

/// Keywords whose values are data, not schemas.
const DATA: [&str; 5] = ["example", "examples", "default", "const", "enum"];
/// Keywords whose values map names (of properties, definitions) to schemas.
const NAMES: [&str; 6] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "schemas",
    "dependentSchemas",
];
/// Keywords beside a `$ref` that change what the comparison sees.
const SHAPING: [&str; 10] = [
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "allOf",
    "oneOf",
    "anyOf",
    "additionalProperties",
];

/// Rewrites `doc` in place into the dialect the typed model reads.
pub fn normalize(doc: &mut Value, dialect: Dialect) {
    absolute_flow_urls(doc);
    walk(doc, dialect, false);
}

/// OAuth flow URLs may be relative to the server (`tokenUrl: /oauth/token`); the typed
/// model reads them as absolute URLs, so a relative one is put on a placeholder origin
/// (they are compared as written either way).
fn absolute_flow_urls(doc: &mut Value) {
    let Some(schemes) = doc
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for flow in schemes
        .values_mut()
        .filter_map(|s| s.get_mut("flows").and_then(Value::as_object_mut))
        .flat_map(|f| f.values_mut())
        .filter_map(Value::as_object_mut)
    {
        for key in ["tokenUrl", "authorizationUrl", "refreshUrl"] {
            if let Some(Value::String(u)) = flow.get_mut(key)
                && !u.contains("://")
            {
                *u = format!("http://relative.invalid/{}", u.trim_start_matches('/'));
            }
        }
    }
}

fn walk(v: &mut Value, dialect: Dialect, names: bool) {
    match v {
        Value::Object(o) => {
            if !names {
                match dialect {
                    Dialect::OpenApi30 => upgrade_30(o),
                    Dialect::JsonSchema => ref_with_siblings(o),
                }
            }
            for (k, child) in o.iter_mut() {
                if names {
                    walk(child, dialect, false);
                } else if !DATA.contains(&k.as_str()) && !k.starts_with("x-") {
                    walk(child, dialect, NAMES.contains(&k.as_str()));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, dialect, false);
            }
        }
        _ => {}
    }
}

/// OpenAPI 3.0 → 3.1 for one schema object (anything else has no such boolean keys).
fn upgrade_30(o: &mut Map<String, Value>) {
    match o.get("nullable") {
        Some(Value::Bool(true)) => {
            o.remove("nullable");
            let types = match o.remove("type") {
                Some(Value::String(t)) => Some(serde_json::json!([t, "null"])),
                Some(Value::Array(mut ts)) => {
                    if !ts.iter().any(|t| t == "null") {
                        ts.push("null".into());
                    }
                    Some(Value::Array(ts))
                }
                other => other,
            };
            if let Some(t) = types {
                o.insert("type".into(), t);
            }
        }
        Some(Value::Bool(false)) => {
            o.remove("nullable");
        }
        _ => {}
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(on)) = o.get(exclusive) {
            let on = *on;
            o.remove(exclusive);
            if on && let Some(b) = o.remove(bound) {
                o.insert(exclusive.into(), b);
            }
        }
    }
}

/// `{$ref: X, type: object, …}` → `{allOf: [{$ref: X}], type: object, …}`.
fn ref_with_siblings(o: &mut Map<String, Value>) {
    if !matches!(o.get("$ref"), Some(Value::String(_)))
        || !SHAPING.iter().any(|k| o.contains_key(*k))
    {
        return;
    }
    let Some(r) = o.remove("$ref") else {
        return;
    };
    let reference = serde_json::json!({ "$ref": r });
    match o.get_mut("allOf") {
        Some(Value::Array(all)) => all.insert(0, reference),
        _ => {
            o.insert("allOf".into(), Value::Array(vec![reference]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_30_nullable_and_exclusive_bounds_become_31() {
        let mut v = json!({"properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "integer", "minimum": 0, "exclusiveMinimum": true,
                  "maximum": 9, "exclusiveMaximum": false},
            "example": {"type": "integer", "nullable": true}
        }, "example": {"nullable": true}});
        normalize(&mut v, Dialect::OpenApi30);
        assert_eq!(v["properties"]["a"], json!({"type": ["string", "null"]}));
        assert_eq!(
            v["properties"]["b"],
            json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 9})
        );
        assert_eq!(
            v["properties"]["example"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(
            v["example"],
            json!({"nullable": true}),
            "data is left alone"
        );
    }

    #[test]
    fn relative_oauth_urls_read_as_urls() {
        let mut doc = json!({"components": {"securitySchemes": {"o": {"type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}}}}}});
        normalize(&mut doc, Dialect::OpenApi30);
        assert_eq!(
            doc.pointer("/components/securitySchemes/o/flows/clientCredentials/tokenUrl"),
            Some(&json!("http://relative.invalid/oauth/token"))
        );
    }

    #[test]
    fn a_ref_with_shaping_siblings_becomes_all_of() {
        let mut v = json!({
            "s": {"$ref": "#/x", "type": "object", "properties": {"p": {"type": "string"}}},
            "t": {"$ref": "#/y", "description": "only words"},
            "u": {"$ref": "#/z", "allOf": [{"required": ["p"]}]}
        });
        normalize(&mut v, Dialect::JsonSchema);
        assert_eq!(v["s"]["allOf"], json!([{"$ref": "#/x"}]));
        assert!(v["s"].get("$ref").is_none());
        assert_eq!(v["t"]["$ref"], "#/y");
        assert_eq!(
            v["u"]["allOf"],
            json!([{"$ref": "#/z"}, {"required": ["p"]}])
        );
        let mut w = json!({"$ref": "#/x", "type": "object"});
        normalize(&mut w, Dialect::OpenApi30);
        assert_eq!(w["$ref"], "#/x", "3.0 ignores a $ref's siblings");
    }
}
