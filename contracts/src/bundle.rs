//! One self-contained OpenAPI document per simulator, as `/openapi.json` serves it.
//!
//! The documents in `contracts/openapi/` refer to the JSON Schemas beside them
//! (`../schemas/api/Confirmation.schema.json`), which a client reading the served URL cannot
//! fetch. [`bundled_openapi`] copies every schema a document reaches into
//! `components/schemas` (key: the schema's kind with `.` for `/`: `api.Confirmation`,
//! `common`) and rewrites every reference to a local one
//! (`#/components/schemas/common/$defs/batch`). The files stay the source; this is derived
//! from them each time.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value};

use crate::System;
use crate::validate::{openapi, schema};

/// The OpenAPI document of `system` with every schema it reaches inside it: no `$ref` leaves
/// the document. `Err` names what could not be resolved (a bug of the contract files, which
/// a test rules out).
pub fn bundled_openapi(system: System) -> Result<Value, String> {
    let mut doc: Value = serde_norway::from_str(openapi(system))
        .map_err(|e| format!("the {system} OpenAPI document: {e}"))?;
    let mut queue = VecDeque::new();
    rewrite(&mut doc, "openapi", None, &mut queue)?;
    let mut bundled: BTreeMap<String, Value> = BTreeMap::new();
    while let Some(kind) = queue.pop_front() {
        let key = key_of(&kind);
        if bundled.contains_key(&key) {
            continue;
        }
        let mut s = schema(&kind)
            .ok_or_else(|| format!("no schema {kind:?} (referred to from the documents)"))?
            .clone();
        if let Some(o) = s.as_object_mut() {
            // A `$id` would make the local references below resolve against it.
            o.remove("$id");
            o.remove("$schema");
        }
        let dir = kind.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        rewrite(&mut s, &format!("schemas/{dir}"), Some(&key), &mut queue)?;
        bundled.insert(key, s);
    }
    let components = doc
        .as_object_mut()
        .ok_or("the OpenAPI document is not a mapping")?
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()));
    let schemas = components
        .as_object_mut()
        .ok_or("components is not a mapping")?
        .entry("schemas")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or("components/schemas is not a mapping")?;
    for (k, v) in bundled {
        schemas.insert(k, v);
    }
    Ok(doc)
}

/// `api/Confirmation` → `api.Confirmation`.
fn key_of(kind: &str) -> String {
    kind.replace('/', ".")
}

/// Rewrites every `$ref` under `v`. `dir` is the folder of the file `v` came from (relative
/// to `contracts/`); `own` is the components key of the schema `v` is (its `#/…` references
/// point into itself), `None` for the OpenAPI document.
fn rewrite(
    v: &mut Value,
    dir: &str,
    own: Option<&str>,
    queue: &mut VecDeque<String>,
) -> Result<(), String> {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref") {
                *r = local(r, dir, own, queue)?;
            }
            for (k, child) in o.iter_mut() {
                if k != "$ref" {
                    rewrite(child, dir, own, queue)?;
                }
            }
        }
        Value::Array(items) => {
            for child in items {
                rewrite(child, dir, own, queue)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// One reference made local, queueing the schema it names.
fn local(
    r: &str,
    dir: &str,
    own: Option<&str>,
    queue: &mut VecDeque<String>,
) -> Result<String, String> {
    let (file, fragment) = r.split_once('#').unwrap_or((r, ""));
    if file.is_empty() {
        return Ok(match own {
            Some(key) => format!("#/components/schemas/{key}{fragment}"),
            None => r.to_string(),
        });
    }
    let path = normalize(&format!("{dir}/{file}"))?;
    let kind = path
        .strip_prefix("schemas/")
        .and_then(|p| p.strip_suffix(".schema.json"))
        .ok_or_else(|| format!("{r:?} (from {dir}) is not a schema of contracts/schemas"))?
        .to_string();
    let key = key_of(&kind);
    queue.push_back(kind);
    Ok(format!("#/components/schemas/{key}{fragment}"))
}

/// `openapi/../schemas/api/X.schema.json` → `schemas/api/X.schema.json`.
fn normalize(path: &str) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()
                    .ok_or_else(|| format!("{path:?} leaves contracts/"))?;
            }
            p => out.push(p),
        }
    }
    Ok(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` under `v`.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, c) in o {
                    match (k.as_str(), c) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(c, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
            _ => {}
        }
    }

    /// The node a local reference (`#/a/b~1c`) points at.
    fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
        doc.pointer(r.strip_prefix('#')?)
    }

    #[test]
    fn every_served_document_is_self_contained_and_every_reference_resolves() {
        for system in System::ALL {
            let doc = bundled_openapi(system).expect("bundles");
            assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
            let mut all = Vec::new();
            refs(&doc, &mut all);
            assert!(!all.is_empty());
            for r in &all {
                assert!(r.starts_with("#/"), "{system}: {r} leaves the document");
                assert!(
                    resolve(&doc, r).is_some(),
                    "{system}: {r} points at nothing"
                );
            }
            // No embedded `$id` to re-base the references.
            let text = doc.to_string();
            assert!(!text.contains("\"$id\""), "{system}");
        }
    }

    #[test]
    fn paths_are_normalized_inside_contracts_only() {
        assert_eq!(
            normalize("openapi/../schemas/api/X.schema.json").unwrap(),
            "schemas/api/X.schema.json"
        );
        assert!(normalize("../../etc/passwd").is_err());
    }
}
