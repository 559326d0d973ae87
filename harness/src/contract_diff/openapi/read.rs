//! One OpenAPI operation read into what the rules compare ([`View`]): its parameters (the
//! path item's and its own, its own winning), its request body and responses by media
//! type, each schema a [`Shape`] with references expanded, and its security alternatives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oas3::Spec;
use oas3::spec::{MediaType, Operation, Parameter, ParameterIn, PathItem};
use serde_json::Value;

use super::security::{self, Alternative};
use crate::contract_diff::error::DiffError;
use crate::contract_diff::fields::escape;
use crate::contract_diff::shape::{Builder, Shape};

/// One document being read: its model, its tree and its shape builder.
#[derive(Debug)]
pub struct Doc<'a> {
    /// The typed document.
    pub spec: &'a Spec,
    /// Its normalized tree (for what the model does not keep).
    pub raw: &'a Value,
    /// Builds shapes, following references.
    pub shapes: Builder<'a>,
    /// The document's file.
    pub root: PathBuf,
}

/// Where an operation is: its path template and method, and the path item.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The path template as written (`/documents/{year}/{number}`).
    pub path: &'a str,
    /// The method, upper case.
    pub method: &'a str,
    /// The path item holding it.
    pub item: &'a PathItem,
    /// The operation.
    pub op: &'a Operation,
}

/// A parameter as compared.
#[derive(Debug, Clone)]
pub struct Param {
    /// `query/plant` (path parameters under the name they have).
    pub shown: String,
    /// Required.
    pub required: bool,
    /// Its schema.
    pub shape: Shape,
}

/// A request body as compared.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// Required.
    pub required: bool,
    /// Schema by media type.
    pub media: BTreeMap<String, Shape>,
}

/// An operation as compared.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Parameters by (location, name); path parameters by their position in the template,
    /// so renaming one is no change; header names in lower case.
    pub params: BTreeMap<(String, String), Param>,
    /// The request body.
    pub body: Option<Body>,
    /// Response schemas by status code and media type.
    pub responses: BTreeMap<String, BTreeMap<String, Shape>>,
    /// Security alternatives.
    pub security: Vec<Alternative>,
}

impl Doc<'_> {
    /// The view of the operation at `site`.
    pub fn view(&mut self, site: Site<'_>) -> Result<View, DiffError> {
        Ok(View {
            params: self.params(site)?,
            body: self.body(site.op)?,
            responses: self.responses(site.op)?,
            security: self.security(site),
        })
    }

    fn params(&mut self, site: Site<'_>) -> Result<BTreeMap<(String, String), Param>, DiffError> {
        let mut out = BTreeMap::new();
        for p in site.item.parameters.iter().chain(&site.op.parameters) {
            let (file, p) = self.shapes.resolver().item(&self.root, p)?;
            let (key, shown) = param_key(site.path, &p);
            let schema = p.schema.as_ref();
            let shape = match (schema, &p.content) {
                (Some(s), _) => self.shapes.shape(&file, s)?,
                (None, Some(content)) => match content.values().next() {
                    Some(m) => self.media_shape(&file, m)?,
                    None => Shape::default(),
                },
                (None, None) => Shape::default(),
            };
            let required = p.required.unwrap_or(false) || p.location == ParameterIn::Path;
            out.insert(
                key,
                Param {
                    shown,
                    required,
                    shape,
                },
            );
        }
        Ok(out)
    }

    fn body(&mut self, op: &Operation) -> Result<Option<Body>, DiffError> {
        let Some(b) = &op.request_body else {
            return Ok(None);
        };
        let (file, b) = self.shapes.resolver().item(&self.root, b)?;
        let mut body = Body {
            required: b.required.unwrap_or(false),
            media: BTreeMap::new(),
        };
        for (media, m) in &b.content {
            let shape = self.media_shape(&file, m)?;
            body.media.insert(media.to_ascii_lowercase(), shape);
        }
        Ok(Some(body))
    }

    fn responses(
        &mut self,
        op: &Operation,
    ) -> Result<BTreeMap<String, BTreeMap<String, Shape>>, DiffError> {
        let mut out = BTreeMap::new();
        for (code, r) in op.responses.iter().flatten() {
            let (file, r) = self.shapes.resolver().item(&self.root, r)?;
            let mut media = BTreeMap::new();
            for (name, m) in &r.content {
                let shape = self.media_shape(&file, m)?;
                media.insert(name.to_ascii_lowercase(), shape);
            }
            let code = if code.eq_ignore_ascii_case("default") {
                "default".to_string()
            } else {
                code.to_ascii_uppercase() // `2xx` is `2XX`
            };
            out.insert(code, media);
        }
        Ok(out)
    }

    fn media_shape(&mut self, file: &Path, m: &MediaType) -> Result<Shape, DiffError> {
        match &m.schema {
            Some(s) => self.shapes.shape(file, s),
            None => Ok(Shape::default()),
        }
    }

    fn security(&self, site: Site<'_>) -> Vec<Alternative> {
        // The model reads an absent `security` and an empty one alike; only the latter
        // overrides the document's.
        let explicit = self
            .raw
            .pointer(&format!(
                "/paths/{}/{}",
                escape(site.path),
                site.method.to_ascii_lowercase()
            ))
            .and_then(|op| op.get("security"))
            .is_some();
        security::effective(&site.op.security, explicit, &self.spec.security)
    }
}

/// The key of a parameter and how it is shown.
fn param_key(path: &str, p: &Parameter) -> ((String, String), String) {
    let location = match p.location {
        ParameterIn::Path => "path",
        ParameterIn::Query => "query",
        ParameterIn::Header => "header",
        ParameterIn::Cookie => "cookie",
    };
    let name = match p.location {
        ParameterIn::Path => template_params(path)
            .iter()
            .position(|n| *n == p.name)
            .map_or_else(|| p.name.clone(), |i| format!("#{i}")),
        ParameterIn::Header => p.name.to_ascii_lowercase(),
        _ => p.name.clone(),
    };
    (
        (location.to_string(), name),
        format!("{location}/{}", escape(&p.name)),
    )
}

/// The names of the `{…}` placeholders of a path template, in order.
fn template_params(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .collect()
}

/// A path template with its placeholders unnamed (`/a/{}/b`): the identity of a path.
pub fn path_identity(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for c in path.chars() {
        match (inside, c) {
            (false, '{') => {
                inside = true;
                out.push('{');
            }
            (true, '}') => {
                inside = false;
                out.push('}');
            }
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_placeholders_are_unnamed_for_identity_and_listed_in_order() {
        assert_eq!(path_identity("/a/{year}/b/{n}"), "/a/{}/b/{}");
        assert_eq!(template_params("/a/{year}/b/{n}"), vec!["year", "n"]);
        assert_eq!(path_identity("/plain"), "/plain");
    }
}
