//! Two OpenAPI documents compared operation by operation, from the client's side:
//! operations removed or added (by path template — placeholder names aside — and method),
//! then for each operation in both: its parameters, its request body (required or not,
//! media types, then the fields as input), its responses (status codes, media types, then
//! the fields as output) and its security. Every step emits [`Change`]s classified by the
//! rules of [`super::rules`].

mod read;
mod security;

use std::collections::{BTreeMap, BTreeSet};

use oas3::Spec;

use self::read::{Body, Doc, Param, Site, View, path_identity};
use super::change::Change;
use super::document::Document;
use super::error::DiffError;
use super::fields::{self, Side};
use super::resolve::Resolver;
use super::rules::Rule;
use super::shape::{Builder, Shape};

/// The changes from the OpenAPI document `old` to `new`.
pub fn compare(old: &Document, new: &Document) -> Result<Vec<Change>, DiffError> {
    let (old_spec, new_spec): (Spec, Spec) = (old.typed()?, new.typed()?);
    let (mut old_refs, mut new_refs) = (Resolver::new(old), Resolver::new(new));
    let mut a = Doc {
        spec: &old_spec,
        raw: old.raw(),
        root: old_refs.root().to_path_buf(),
        shapes: Builder::new(&mut old_refs),
    };
    let mut b = Doc {
        spec: &new_spec,
        raw: new.raw(),
        root: new_refs.root().to_path_buf(),
        shapes: Builder::new(&mut new_refs),
    };
    let (was, is) = (sites(&old_spec), sites(&new_spec));
    let mut out = Vec::new();
    for key in was.keys().chain(is.keys()).collect::<BTreeSet<_>>() {
        match (was.get(key), is.get(key)) {
            (Some(s), None) => out.push(Change::new(
                Rule::OperationRemoved,
                name(s),
                "",
                "operation removed",
            )),
            (None, Some(s)) => out.push(Change::new(
                Rule::OperationAdded,
                name(s),
                "",
                "operation added",
            )),
            (Some(x), Some(y)) => {
                let (vx, vy) = (a.view(*x)?, b.view(*y)?);
                operation(&vx, &vy, &name(y), &mut out);
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// Every operation of the document by (path identity, method).
fn sites(spec: &Spec) -> BTreeMap<(String, String), Site<'_>> {
    let mut out = BTreeMap::new();
    for (path, item) in spec.paths.iter().flatten() {
        let methods = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ];
        for (method, op) in methods {
            let Some(op) = op else { continue };
            let site = Site {
                path,
                method,
                item,
                op,
            };
            out.insert((path_identity(path), method.to_string()), site);
        }
    }
    out
}

/// `POST /api/v1/confirmations`.
fn name(site: &Site<'_>) -> String {
    format!("{} {}", site.method, site.path)
}

/// The rules between two views of one operation.
fn operation(old: &View, new: &View, op: &str, out: &mut Vec<Change>) {
    parameters(&old.params, &new.params, op, out);
    request_body(old.body.as_ref(), new.body.as_ref(), op, out);
    responses(&old.responses, &new.responses, op, out);
    security::compare(&old.security, &new.security, op, out);
}

fn parameters(
    old: &BTreeMap<(String, String), Param>,
    new: &BTreeMap<(String, String), Param>,
    op: &str,
    out: &mut Vec<Change>,
) {
    for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let (rule, p, text) = match (old.get(key), new.get(key)) {
            (Some(p), None) => (Rule::ParameterRemoved, p, "parameter removed"),
            (None, Some(p)) if p.required => {
                (Rule::ParameterNewlyRequired, p, "new required parameter")
            }
            (None, Some(p)) => (Rule::ParameterAdded, p, "optional parameter added"),
            (Some(a), Some(b)) => {
                let at = format!("/parameters/{}", b.shown);
                fields::compare(&a.shape, &b.shape, Side::Input, op, &at, out);
                match (a.required, b.required) {
                    (false, true) => (
                        Rule::ParameterNewlyRequired,
                        b,
                        "optional parameter made required",
                    ),
                    (true, false) => (
                        Rule::ParameterMadeOptional,
                        b,
                        "required parameter made optional",
                    ),
                    _ => continue,
                }
            }
            (None, None) => continue,
        };
        out.push(Change::new(
            rule,
            op,
            format!("/parameters/{}", p.shown),
            text,
        ));
    }
}

fn request_body(old: Option<&Body>, new: Option<&Body>, op: &str, out: &mut Vec<Change>) {
    let (was, is) = (
        old.is_some_and(|b| b.required),
        new.is_some_and(|b| b.required),
    );
    let text = match (old, new) {
        (None, None) => None,
        (Some(_), None) => Some("request body removed"),
        (None, Some(_)) if is => Some("new required request body"),
        (None, Some(_)) => Some("optional request body added"),
        (Some(_), Some(_)) if is && !was => Some("optional request body made required"),
        (Some(_), Some(_)) if was && !is => Some("required request body made optional"),
        (Some(_), Some(_)) => None,
    };
    if let Some(text) = text {
        let rule = if is && !was {
            Rule::RequestBodyNewlyRequired
        } else {
            Rule::RequestBodyRelaxed
        };
        out.push(Change::new(rule, op, "/requestBody", text));
    }
    if let (Some(a), Some(b)) = (old, new) {
        media(&a.media, &b.media, Side::Input, op, "/requestBody", out);
    }
}

fn responses(
    old: &BTreeMap<String, BTreeMap<String, Shape>>,
    new: &BTreeMap<String, BTreeMap<String, Shape>>,
    op: &str,
    out: &mut Vec<Change>,
) {
    for code in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let at = format!("/responses/{code}");
        match (old.get(code), new.get(code)) {
            (Some(_), None) if code.starts_with('2') => out.push(Change::new(
                Rule::SuccessStatusRemoved,
                op,
                at,
                format!("success status {code} removed"),
            )),
            (Some(_), None) => out.push(Change::new(
                Rule::StatusRemoved,
                op,
                at,
                format!("status {code} removed"),
            )),
            (None, Some(_)) => out.push(Change::new(
                Rule::StatusAdded,
                op,
                at,
                format!("status {code} added"),
            )),
            (Some(a), Some(b)) => media(a, b, Side::Output, op, &at, out),
            (None, None) => {}
        }
    }
}

/// Media types removed or added, and the fields of those in both. `application/json` is
/// the default and not shown in the pointer; others are (`/requestBody(text/csv)`).
fn media(
    old: &BTreeMap<String, Shape>,
    new: &BTreeMap<String, Shape>,
    side: Side,
    op: &str,
    at: &str,
    out: &mut Vec<Change>,
) {
    for m in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let here = if m == "application/json" {
            at.to_string()
        } else {
            format!("{at}({m})")
        };
        match (old.get(m), new.get(m)) {
            (Some(_), None) => out.push(Change::new(
                Rule::MediaTypeRemoved,
                op,
                here,
                format!("media type {m} removed"),
            )),
            (None, Some(_)) => out.push(Change::new(
                Rule::MediaTypeAdded,
                op,
                here,
                format!("media type {m} added"),
            )),
            (Some(a), Some(b)) => fields::compare(a, b, side, op, &here, out),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests;
