//! Evaluation: a flow's calls for one event. [`Flow::expected`] decides each call's
//! condition with the [`Facts`] of the material master, expands `each`, and evaluates
//! every field expression into a [`Want`], giving the [`Expected`] calls the judge
//! compares with.

use serde_json::Value;

use super::{Call, Expr, Flow, Scope, Template, When};
use crate::events::CloudEvent;
use crate::quantity::Quantity;

/// What the judge needs to know beyond the event: the material master as it stood when
/// the event was emitted.
pub trait Facts {
    /// Whether the material needs inspection on receipt in the plant: `Some(true|false)`,
    /// or `None` when unknown or when a later change flipped it (either is right then).
    fn inspection_required(&self, material: &str, plant: &str) -> Option<bool>;
    /// A quantity in thousandths of the material's base unit, when it converts.
    fn to_base(&self, material: &str, plant: &str, q: &Quantity) -> Option<i64>;
}

/// The expected value of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// This value (with the expression it came from, for messages).
    Value(Value, String),
    /// Any of these values.
    OneOf(Vec<(Value, String)>),
    /// Present; not judged.
    Any,
    /// The event does not have the field the expression reads: not judged.
    Unknown,
    /// An object, field by field (`true`: optional in the call).
    Object(Vec<(String, Want, bool)>),
    /// An array: every sent element must match one of these.
    Array(Vec<Want>),
}

/// Whether an expected call belongs to the flow of this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// It does.
    Yes,
    /// Its condition could go either way (the material master changed later).
    Maybe,
    /// Its condition is false: the call is not part of this event's flow.
    No,
}

/// One call of a flow, evaluated for one event (one per element with `each`).
#[derive(Debug, Clone, PartialEq)]
pub struct Expected<'f> {
    /// The call of the flow.
    pub call: &'f Call,
    /// Its index in the flow.
    pub index: usize,
    /// Whether it belongs to this event's flow.
    pub applies: Applies,
    /// Path parameters.
    pub path: Vec<(String, Want)>,
    /// The body.
    pub body: Want,
}

impl Expected<'_> {
    /// The expected movement type and (material, batch) of a goods movement call's first
    /// item, when the body has `items`.
    pub fn movement(&self) -> Option<(&str, Option<&str>, Option<&str>)> {
        let Want::Object(fields) = &self.body else {
            return None;
        };
        let (_, Want::Array(items), _) = fields.iter().find(|(k, _, _)| k == "items")? else {
            return None;
        };
        let Want::Object(item) = items.first()? else {
            return None;
        };
        let get = |name: &str| {
            item.iter()
                .find(|(k, _, _)| k == name)
                .and_then(|(_, w, _)| match w {
                    Want::Value(Value::String(s), _) => Some(s.as_str()),
                    _ => None,
                })
        };
        Some((get("movement_type")?, get("material"), get("batch")))
    }
}

/// What expressions are evaluated against: the event, its data, and the current `each`
/// element.
struct Ctx<'a> {
    /// The event (for `$event.…`).
    event: &'a CloudEvent,
    /// Its `data`.
    data: &'a Value,
    /// The current element of `each` (for `$item.…`).
    item: Option<&'a Value>,
}

/// The value at a dotted path.
fn lookup<'v>(mut v: &'v Value, path: &[String]) -> Option<&'v Value> {
    for p in path {
        v = v.get(p)?;
    }
    Some(v)
}

/// A CloudEvent attribute as a JSON value.
fn envelope(event: &CloudEvent, name: &str) -> Option<Value> {
    Some(match name {
        "time" => Value::String(
            event
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        "sequence" => Value::from(event.sequence),
        "subject" => Value::String(event.subject.clone()),
        "plant" => Value::String(event.plant.as_str().to_string()),
        "id" => Value::String(event.id.clone()),
        "source" => Value::String(event.source.clone()),
        "type" => Value::String(event.type_.clone()),
        _ => return None,
    })
}

/// Where an expression's value comes from, as a mismatch message says it.
fn origin(e: &Expr) -> String {
    match e {
        Expr::Field { scope, path, .. } => {
            let whose = match scope {
                Scope::Data => "the event's",
                Scope::Event => "the event's",
                Scope::Item => "the shipment item's",
            };
            format!("{whose} {}", path.join("."))
        }
        Expr::Date(inner) => format!("the date of {}", origin(inner)),
        Expr::Literal(_) => "the flow".into(),
        Expr::Any => String::new(),
        Expr::Switch { on, .. } => format!("by {}", origin(on)),
        Expr::AnyOf(_) => String::new(),
    }
}

impl Ctx<'_> {
    /// The value of an expression; `None` when the event lacks it (or for `any` and
    /// alternatives).
    fn value(&self, e: &Expr) -> Option<Value> {
        match e {
            Expr::Field { scope, path, .. } => match scope {
                Scope::Data => lookup(self.data, path).filter(|v| !v.is_null()).cloned(),
                Scope::Item => lookup(self.item?, path).filter(|v| !v.is_null()).cloned(),
                Scope::Event => envelope(self.event, path.first()?),
            },
            Expr::Date(inner) => {
                let v = self.value(inner)?;
                let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
                Some(Value::String(
                    t.with_timezone(&chrono::Utc).date_naive().to_string(),
                ))
            }
            Expr::Literal(v) => Some(v.clone()),
            Expr::Any | Expr::AnyOf(_) => None,
            Expr::Switch { on, cases } => {
                let v = self.value(on).unwrap_or(Value::Bool(false));
                let key = match &v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let (_, e) = cases.iter().find(|(k, _)| *k == key)?;
                self.value(e)
            }
        }
    }

    /// The expected value of a field written as `e`.
    fn want(&self, e: &Expr) -> Want {
        match e {
            Expr::Any => Want::Any,
            Expr::AnyOf(alts) => {
                let vals: Vec<(Value, String)> = alts
                    .iter()
                    .filter_map(|a| Some((self.value(a)?, origin(a))))
                    .collect();
                if vals.is_empty() {
                    Want::Unknown
                } else {
                    Want::OneOf(vals)
                }
            }
            other => match self.value(other) {
                Some(v) => Want::Value(v, origin(other)),
                None => Want::Unknown,
            },
        }
    }

    /// The expected value of a body template, field by field.
    fn template(&self, t: &Template) -> Want {
        match t {
            Template::Object(fields) => Want::Object(
                fields
                    .iter()
                    .map(|(k, t)| {
                        let optional =
                            matches!(t, Template::Expr(Expr::Field { optional: true, .. }));
                        (k.clone(), self.template(t), optional)
                    })
                    .collect(),
            ),
            Template::Array(elem) => Want::Array(vec![self.template(elem)]),
            Template::Expr(e) => self.want(e),
        }
    }
}

impl Flow {
    /// The flow's calls for `event` (its data already parsed), conditions decided and
    /// `each` expanded.
    pub fn expected<'f>(
        &'f self,
        event: &CloudEvent,
        data: &Value,
        facts: &dyn Facts,
    ) -> Vec<Expected<'f>> {
        let mut out = Vec::new();
        for (index, call) in self.calls.iter().enumerate() {
            let base = Ctx {
                event,
                data,
                item: None,
            };
            let applies = match &call.when {
                None => Applies::Yes,
                Some(When::Fields(fields)) => {
                    let all = fields.iter().all(|(path, want)| {
                        let got = lookup(data, path).cloned().unwrap_or(match want {
                            Value::Bool(_) => Value::Bool(false),
                            _ => Value::Null,
                        });
                        &got == want
                    });
                    if all { Applies::Yes } else { Applies::No }
                }
                Some(When::InspectionRequired) => {
                    match (
                        data.get("material").and_then(Value::as_str),
                        data.get("plant").and_then(Value::as_str),
                    ) {
                        (Some(m), Some(p)) => match facts.inspection_required(m, p) {
                            Some(true) => Applies::Yes,
                            Some(false) => Applies::No,
                            None => Applies::Maybe,
                        },
                        _ => Applies::Maybe,
                    }
                }
            };
            let items: Vec<Option<&Value>> = match &call.each {
                Some(Expr::Field {
                    scope: Scope::Data,
                    path,
                    ..
                }) => lookup(data, path)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(Some).collect())
                    .unwrap_or_default(),
                Some(_) => Vec::new(),
                None => vec![None],
            };
            for item in items {
                let ctx = Ctx { item, ..base };
                out.push(Expected {
                    call,
                    index,
                    applies,
                    path: call
                        .path
                        .iter()
                        .map(|(k, e)| (k.clone(), ctx.want(e)))
                        .collect(),
                    body: ctx.template(&call.body),
                });
            }
        }
        out
    }
}
