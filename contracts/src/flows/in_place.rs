//! Reading in place: what exactly-once needs of a flow (which effects, of which movement
//! type and item), read straight from the event's JSON text without building the bodies.

use serde_json::Value;

use super::{Applies, Call, Expr, Facts, Scope, Template, When};
use crate::json::JsonRef;

impl Expr {
    /// The text this expression names for an event, read in place: a field of `data` or of
    /// the `each` element, a literal, or a switch on such a field. `None` for anything
    /// else (a date, `any`, alternatives) or when the field is absent.
    pub fn text_in<'a>(&'a self, data: JsonRef<'a>, item: Option<JsonRef<'a>>) -> Option<&'a str> {
        match self {
            Expr::Field { scope, path, .. } => {
                let mut v = match scope {
                    Scope::Data => data,
                    Scope::Item => item?,
                    Scope::Event => return None,
                };
                for p in path {
                    v = v.get(p)?;
                }
                v.as_str()
            }
            Expr::Literal(Value::String(s)) => Some(s.as_str()),
            Expr::Switch { on, cases } => {
                let key: &str = match on.as_ref() {
                    Expr::Field {
                        scope: Scope::Data,
                        path,
                        ..
                    } => {
                        let mut v = Some(data);
                        for p in path {
                            v = v.and_then(|x| x.get(p));
                        }
                        match v {
                            None => "false",
                            Some(x) => match x.as_bool() {
                                Some(true) => "true",
                                Some(false) => "false",
                                None => x.as_str()?,
                            },
                        }
                    }
                    _ => return None,
                };
                cases
                    .iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, e)| e.text_in(data, item))
            }
            _ => None,
        }
    }
}

impl Call {
    /// Whether the call belongs to the flow of an event with this `data`.
    pub fn applies_in(&self, data: JsonRef<'_>, facts: &dyn Facts) -> Applies {
        match &self.when {
            None => Applies::Yes,
            Some(When::Fields(fields)) => {
                let all = fields.iter().all(|(path, want)| {
                    let mut v = Some(data);
                    for p in path {
                        v = v.and_then(|x| x.get(p));
                    }
                    match (v, want) {
                        (None, Value::Bool(b)) => !*b,
                        (None, _) => want.is_null(),
                        (Some(x), Value::Bool(b)) => x.as_bool() == Some(*b),
                        (Some(x), Value::String(w)) => x.as_str() == Some(w.as_str()),
                        (Some(x), other) => x.to_value() == *other,
                    }
                });
                if all { Applies::Yes } else { Applies::No }
            }
            Some(When::InspectionRequired) => match (data.str("material"), data.str("plant")) {
                (Some(m), Some(p)) => match facts.inspection_required(m, p) {
                    Some(true) => Applies::Yes,
                    Some(false) => Applies::No,
                    None => Applies::Maybe,
                },
                _ => Applies::Maybe,
            },
        }
    }

    /// The elements the call is made for: one per element of `each`, or one (`None`).
    pub fn elements<'a>(&self, data: JsonRef<'a>) -> Vec<Option<JsonRef<'a>>> {
        match &self.each {
            None => vec![None],
            Some(Expr::Field {
                scope: Scope::Data,
                path,
                ..
            }) => {
                let mut v = Some(data);
                for p in path {
                    v = v.and_then(|x| x.get(p));
                }
                v.and_then(JsonRef::items)
                    .map(|items| items.into_iter().map(Some).collect())
                    .unwrap_or_default()
            }
            Some(_) => Vec::new(),
        }
    }

    /// The template of one element of the body's list (goods movement items), if any.
    pub fn element_template(&self) -> Option<&Template> {
        let Template::Object(fields) = &self.body else {
            return None;
        };
        fields.iter().find_map(|(_, t)| match t {
            Template::Array(e) => Some(e.as_ref()),
            _ => None,
        })
    }

    /// The expression of a field of the element template (`movement_type`, `material`).
    pub fn element_field(&self, name: &str) -> Option<&Expr> {
        let Template::Object(fields) = self.element_template()? else {
            return None;
        };
        fields.iter().find_map(|(k, t)| match t {
            Template::Expr(e) if k == name => Some(e),
            _ => None,
        })
    }
}
