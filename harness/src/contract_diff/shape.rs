//! A schema as the comparison sees it: a [`Shape`] — the types a value may have, the
//! values an enum allows, the properties with which are required and whether others are
//! refused, the items of an array, the `oneOf`/`anyOf` alternatives. Built from the typed
//! schema with every `$ref` expanded in place, so a change inside a shared component shows
//! at the field of every operation that reaches it; `allOf` parts are merged into one.
//!
//! A reference met again while it is being expanded (a recursive schema) becomes a
//! [`Shape::recursive`] leaf: the comparison stops there, having compared that schema once
//! further up the same path. Nesting beyond [`MAX_DEPTH`] or expansion beyond [`MAX_NODES`]
//! (a hostile document) is an error, not a stack overflow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use oas3::spec::{
    ObjectOrReference, ObjectSchema, Schema, SchemaType as Type, SchemaTypeSet as TypeSet,
};
use serde_json::Value;

use super::error::DiffError;
use super::resolve::{Resolver, Target};

/// Deepest nesting of schemas (through properties, items and references) expanded.
pub const MAX_DEPTH: usize = 128;
/// Most schema nodes one schema expands into from where it is used (a parameter, a body).
pub const MAX_NODES: usize = 200_000;

/// What a schema allows, for comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shape {
    /// The JSON types allowed (`integer`, `string`, `null`, …); empty: any.
    pub types: BTreeSet<&'static str>,
    /// The values allowed (`enum`, `const`); `None`: any of the types.
    pub values: Option<Vec<Value>>,
    /// The properties of an object.
    pub properties: BTreeMap<String, Shape>,
    /// The required property names.
    pub required: BTreeSet<String>,
    /// `additionalProperties: false`: no property beside those declared.
    pub closed: bool,
    /// The items of an array.
    pub items: Option<Box<Shape>>,
    /// `oneOf`/`anyOf` alternatives.
    pub variants: Vec<Shape>,
    /// Set on a leaf standing for a reference already being expanded (its text).
    pub recursive: Option<String>,
}

impl Shape {
    /// The leaf for a reference met again inside its own expansion.
    pub fn recursive(reference: &str) -> Self {
        Self {
            recursive: Some(reference.to_string()),
            ..Self::default()
        }
    }

    /// Whether the schema names `field` (as a property or a required name).
    pub fn has(&self, field: &str) -> bool {
        self.properties.contains_key(field) || self.required.contains(field)
    }

    /// `allOf`: `other`'s constraints added to these.
    fn merge(&mut self, other: Shape) {
        self.types = match (self.types.is_empty(), other.types.is_empty()) {
            (true, _) => other.types,
            (_, true) => std::mem::take(&mut self.types),
            _ => self.types.intersection(&other.types).copied().collect(),
        };
        self.values = match (self.values.take(), other.values) {
            (Some(a), Some(b)) => Some(a.into_iter().filter(|v| b.contains(v)).collect()),
            (a, b) => a.or(b),
        };
        for (name, shape) in other.properties {
            match self.properties.get_mut(&name) {
                Some(mine) => mine.merge(shape),
                None => {
                    self.properties.insert(name, shape);
                }
            }
        }
        self.required.extend(other.required);
        self.closed |= other.closed;
        self.items = match (self.items.take(), other.items) {
            (Some(mut a), Some(b)) => {
                a.merge(*b);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self.variants.extend(other.variants);
        self.recursive = self.recursive.take().or(other.recursive);
    }
}

/// Builds shapes, expanding references through a [`Resolver`].
#[derive(Debug)]
pub struct Builder<'r> {
    resolver: &'r mut Resolver,
    expanding: Vec<Target>,
    depth: usize,
    nodes: usize,
}

impl<'r> Builder<'r> {
    /// A builder reading references through `resolver`.
    pub fn new(resolver: &'r mut Resolver) -> Self {
        Self {
            resolver,
            expanding: Vec::new(),
            depth: 0,
            nodes: 0,
        }
    }

    /// The resolver (for the non-schema references of the caller).
    pub fn resolver(&mut self) -> &mut Resolver {
        self.resolver
    }

    /// The shape of `schema`, written in the file `base`.
    pub fn shape(&mut self, base: &Path, schema: &Schema) -> Result<Shape, DiffError> {
        if self.depth == 0 {
            self.nodes = 0; // the budget is per schema expanded from its place of use
        }
        self.nodes += 1;
        self.depth += 1;
        let limit = match (self.depth > MAX_DEPTH, self.nodes > MAX_NODES) {
            (true, _) => Some((MAX_DEPTH, "levels")),
            (_, true) => Some((MAX_NODES, "nodes")),
            _ => None,
        };
        let out = match limit {
            Some((limit, what)) => Err(DiffError::TooLarge {
                file: base.display().to_string(),
                reference: reference_of(schema)
                    .unwrap_or("(inline schema)")
                    .to_string(),
                limit,
                what,
            }),
            None => self.expand(base, schema),
        };
        self.depth -= 1;
        out
    }

    fn expand(&mut self, base: &Path, schema: &Schema) -> Result<Shape, DiffError> {
        let object = match schema {
            Schema::Boolean(_) => return Ok(Shape::default()),
            Schema::Object(o) => o.as_ref(),
        };
        match object {
            ObjectOrReference::Object(o) => self.object(base, o),
            ObjectOrReference::Ref { ref_path, .. } => {
                let target = self.resolver.target(base, ref_path)?;
                if self.expanding.contains(&target) {
                    return Ok(Shape::recursive(ref_path));
                }
                let value = self.resolver.value(base, ref_path, &target)?;
                let inner: Schema = super::document::typed(&target.file, &target.pointer, value)?;
                self.expanding.push(target.clone());
                let out = self.shape(&target.file, &inner);
                self.expanding.pop();
                out
            }
        }
    }

    fn object(&mut self, base: &Path, o: &ObjectSchema) -> Result<Shape, DiffError> {
        let mut shape = Shape {
            types: types(o.schema_type.as_ref()),
            values: match (&o.const_value, o.enum_values.is_empty()) {
                (Some(c), _) => Some(vec![c.clone()]),
                (None, false) => Some(o.enum_values.clone()),
                (None, true) => None,
            },
            required: o.required.iter().cloned().collect(),
            closed: matches!(
                o.additional_properties,
                Some(Schema::Boolean(oas3::spec::BooleanSchema(false)))
            ),
            ..Shape::default()
        };
        for (name, p) in &o.properties {
            let p = self.shape(base, p)?;
            shape.properties.insert(name.clone(), p);
        }
        if let Some(items) = &o.items {
            shape.items = Some(Box::new(self.shape(base, items)?));
        }
        for v in o.one_of.iter().chain(&o.any_of) {
            let v = self.shape(base, v)?;
            shape.variants.push(v);
        }
        for part in &o.all_of {
            let part = self.shape(base, part)?;
            shape.merge(part);
        }
        if shape.types.is_empty() {
            // Properties without a `type` describe an object, items an array: documents
            // that add the `type` they always meant change nothing.
            if !shape.properties.is_empty() || !shape.required.is_empty() || shape.closed {
                shape.types.insert("object");
            } else if shape.items.is_some() {
                shape.types.insert("array");
            }
        }
        Ok(shape)
    }
}

fn reference_of(schema: &Schema) -> Option<&str> {
    match schema {
        Schema::Object(o) => match o.as_ref() {
            ObjectOrReference::Ref { ref_path, .. } => Some(ref_path),
            ObjectOrReference::Object(_) => None,
        },
        Schema::Boolean(_) => None,
    }
}

fn types(set: Option<&TypeSet>) -> BTreeSet<&'static str> {
    let name = |t: &Type| match t {
        Type::Boolean => "boolean",
        Type::Integer => "integer",
        Type::Number => "number",
        Type::String => "string",
        Type::Array => "array",
        Type::Object => "object",
        Type::Null => "null",
    };
    match set {
        None => BTreeSet::new(),
        Some(TypeSet::Single(t)) => BTreeSet::from([name(t)]),
        Some(TypeSet::Multiple(ts)) => ts.iter().map(name).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract_diff::document::Document;

    fn shapes(yaml: &str) -> Result<Shape, DiffError> {
        let doc = Document::parse(Path::new("t.yaml"), yaml).expect("doc");
        let mut r = Resolver::new(&doc);
        let root = r.root().to_path_buf();
        let (_, s) = r.follow::<Schema>(&root, "#/components/schemas/A")?;
        Builder::new(&mut r).shape(&root, &s)
    }

    #[test]
    fn references_expand_all_of_merges_and_cycles_stop() {
        let s = shapes(
            "openapi: 3.1.0\ncomponents:\n  schemas:\n    A:\n      allOf:\n      - $ref: '#/components/schemas/B'\n      - required: [b]\n        additionalProperties: false\n    B:\n      type: object\n      properties:\n        b: {type: string, enum: [x, y]}\n        next: {$ref: '#/components/schemas/B'}\n",
        )
        .expect("shape");
        assert_eq!(s.types, BTreeSet::from(["object"]));
        assert!(s.closed);
        assert_eq!(s.required, BTreeSet::from(["b".to_string()]));
        assert_eq!(
            s.properties["b"].values,
            Some(vec![Value::from("x"), Value::from("y")])
        );
        assert_eq!(
            s.properties["next"].recursive.as_deref(),
            Some("#/components/schemas/B"),
            "B is expanded once on each path"
        );
    }

    #[test]
    fn a_schema_referring_to_itself_directly_is_a_leaf_and_a_dangling_one_an_error() {
        let s = shapes(
            "openapi: 3.1.0\ncomponents:\n  schemas:\n    A: {$ref: '#/components/schemas/A'}\n",
        )
        .expect("shape");
        assert_eq!(s.recursive.as_deref(), Some("#/components/schemas/A"));
        let e = shapes(
            "openapi: 3.1.0\ncomponents:\n  schemas:\n    A: {$ref: '#/components/schemas/Z'}\n",
        )
        .expect_err("dangling");
        assert!(e.to_string().contains("has no node"), "{e}");
    }

    /// Components `S0`…`S{n-1}`, each with `fan` properties referring to the next.
    fn chain(n: usize, fan: usize) -> String {
        let mut doc = String::from("openapi: 3.1.0\ncomponents:\n  schemas:\n");
        for i in 0..n {
            doc.push_str(&format!("    S{i}:\n      properties:\n"));
            for p in 0..fan {
                doc.push_str(&format!(
                    "        p{p}: {{$ref: '#/components/schemas/S{}'}}\n",
                    i + 1
                ));
            }
        }
        doc.push_str(&format!("    S{n}: {{type: string}}\n"));
        doc.replace("S0:", "A:").replace("/S0'", "/A'")
    }

    #[test]
    fn a_schema_expanding_beyond_the_budget_or_nesting_too_deep_is_refused() {
        let e = shapes(&chain(12, 4)).expect_err("4^12 nodes").to_string();
        assert!(e.contains("beyond 200000 nodes"), "{e}");
        let e = shapes(&chain(MAX_DEPTH + 5, 1))
            .expect_err("too deep")
            .to_string();
        assert!(e.contains("beyond 128 levels"), "{e}");
        assert!(shapes(&chain(20, 1)).is_ok());
    }
}
