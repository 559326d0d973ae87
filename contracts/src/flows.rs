//! The flows (`contracts/flows.yaml`): which calls realise which source event, field by
//! field, which problem codes a right call may get, and which codes mean "already done".
//!
//! The file is embedded at build time and parsed once ([`flows`]). [`Flow::expected`]
//! evaluates a flow's calls for one event into [`Expected`] calls (conditions decided,
//! `each` expanded, every field expression evaluated), and [`judge`] compares a call the
//! middleware made with them and names every field it got wrong. The checkers of the
//! harness count effects and judge rejections with these; the docs render the same file.
//!
//! ```
//! let flows = andon_contracts::flows::flows();
//! let consumed = flows.get(andon_contracts::EventKind::MaterialConsumed).unwrap();
//! assert_eq!(consumed.calls[0].route, "/api/v1/material-documents");
//! ```

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use crate::events::{CloudEvent, EventKind, System};
use crate::json::JsonRef;
use crate::quantity::Quantity;

/// The text of `contracts/flows.yaml`.
pub const TEXT: &str = include_str!("../flows.yaml");

/// Every flow, as `contracts/flows.yaml` writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Flows {
    /// Format version.
    pub version: u64,
    /// One flow per event kind of the catalog, in file order.
    pub flows: Vec<Flow>,
    /// Rules across flows (`name`, `text`).
    pub rules: Vec<(String, String)>,
}

/// What a middleware must do for one kind of source event.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The source event's kind.
    pub event: EventKind,
    /// The systems that emit it.
    pub from: Vec<System>,
    /// One sentence on what must happen downstream.
    pub summary: String,
    /// `per lot` when events of this kind take effect in their lot's sequence order.
    pub ordered: Option<String>,
    /// The calls, in file order.
    pub calls: Vec<Call>,
}

/// One call of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The system called.
    pub to: System,
    /// `POST`, `PUT`.
    pub method: String,
    /// Route template (`/api/v1/lots/{plant}/{material}/{batch}/holds`).
    pub route: String,
    /// The effect it leaves in the history (`erp.goods_movement`).
    pub effect: String,
    /// Must it be made?
    pub need: Need,
    /// The condition under which it belongs to the flow.
    pub when: Option<When>,
    /// Problem codes that mean the effect is already there.
    pub done_on: Vec<String>,
    /// One call (or one goods-movement item) per element of this array field.
    pub each: Option<Expr>,
    /// Path parameters.
    pub path: Vec<(String, Expr)>,
    /// The body.
    pub body: Template,
    /// Problem codes a right call may get because of the target's state.
    pub rejections: Vec<String>,
}

impl Call {
    /// `POST /api/v1/material-documents`.
    pub fn request(&self) -> String {
        format!("{} {}", self.method, self.route)
    }

    /// Whether `code` is a legitimate rejection of this call when it was right.
    pub fn may_be_rejected_with(&self, code: &str) -> bool {
        self.rejections.iter().any(|c| c == code)
    }
}

/// Whether a call must be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// Exactly one effect.
    Required,
    /// May be made, never required.
    Allowed,
}

impl Need {
    /// `required` or `allowed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Required => "required",
            Need::Allowed => "allowed",
        }
    }
}

/// The condition of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Every data field (dotted path) has the value (a missing boolean reads `false`).
    Fields(Vec<(Vec<String>, Value)>),
    /// The material needs inspection on receipt (as the master stood when emitted).
    InspectionRequired,
}

/// A body (or part of one) to compare with what was sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// An object: each listed field.
    Object(Vec<(String, Template)>),
    /// An array whose every sent element must match one expected element.
    Array(Box<Template>),
    /// A value.
    Expr(Expr),
}

/// Where a `$` field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The event's `data`.
    Data,
    /// A CloudEvent attribute (`$event.time`).
    Event,
    /// The current element of `each` (`$item.batch`).
    Item,
}

/// An expression for a field's expected value.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field of the event.
    Field {
        /// Where.
        scope: Scope,
        /// Dotted path.
        path: Vec<String>,
        /// Optional in the call (`$order?`).
        optional: bool,
    },
    /// The UTC date of a timestamp.
    Date(Box<Expr>),
    /// A literal.
    Literal(Value),
    /// Present, not judged.
    Any,
    /// A value chosen by another field's value.
    Switch {
        /// The field.
        on: Box<Expr>,
        /// Value → expression.
        cases: Vec<(String, Expr)>,
    },
    /// Any of these is right.
    AnyOf(Vec<Expr>),
}

/// A problem with `flows.yaml` (a bug of andon's contract files, caught by its tests).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("contracts/flows.yaml: {at}: {message}")]
pub struct FlowsError {
    /// Where (`flows[3].calls[0].body.items`).
    pub at: String,
    /// What is wrong.
    pub message: String,
}

/// The flows of `contracts/flows.yaml`, parsed once.
///
/// # Panics
/// Never in a released build: the embedded file is parsed by this crate's tests.
pub fn flows() -> &'static Flows {
    static FLOWS: OnceLock<Flows> = OnceLock::new();
    FLOWS.get_or_init(|| Flows::parse(TEXT).unwrap_or_else(|e| panic!("{e}")))
}

impl Flows {
    /// Parses a flows document.
    pub fn parse(text: &str) -> Result<Flows, FlowsError> {
        let doc: serde_norway::Value = serde_norway::from_str(text).map_err(|e| FlowsError {
            at: e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_else(|| "the document".into()),
            message: e.to_string(),
        })?;
        parse::document(&doc)
    }

    /// The flow of an event kind.
    pub fn get(&self, kind: EventKind) -> Option<&Flow> {
        self.flows.iter().find(|f| f.event == kind)
    }
}

mod parse {
    //! Read from the YAML tree itself (not through JSON), so that fields keep the order
    //! the file gives them in messages and in the docs.
    use super::*;
    use serde_norway::{Mapping, Value as Y};

    fn err(at: &str, message: impl Into<String>) -> FlowsError {
        FlowsError {
            at: at.to_string(),
            message: message.into(),
        }
    }

    fn obj<'v>(v: &'v Y, at: &str) -> Result<&'v Mapping, FlowsError> {
        v.as_mapping().ok_or_else(|| err(at, "expected a mapping"))
    }

    fn entries<'v>(m: &'v Mapping, at: &str) -> Result<Vec<(&'v str, &'v Y)>, FlowsError> {
        m.iter()
            .map(|(k, v)| match k {
                Y::String(k) => Ok((k.as_str(), v)),
                Y::Bool(b) => Ok((if *b { "true" } else { "false" }, v)),
                other => Err(err(at, format!("key {other:?} must be a string"))),
            })
            .collect()
    }

    fn only(m: &Mapping, at: &str, keys: &[&str]) -> Result<(), FlowsError> {
        for (k, _) in entries(m, at)? {
            if !keys.contains(&k) {
                return Err(err(
                    at,
                    format!("unknown key {k:?}, expected one of {}", keys.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn text(m: &Mapping, key: &str, at: &str) -> Result<String, FlowsError> {
        m.get(key)
            .and_then(Y::as_str)
            .map(str::to_string)
            .ok_or_else(|| err(at, format!("`{key}` must be a string")))
    }

    fn strings(v: Option<&Y>, at: &str) -> Result<Vec<String>, FlowsError> {
        match v {
            None => Ok(Vec::new()),
            Some(Y::Sequence(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(at, "expected a list of strings"))
                })
                .collect(),
            Some(_) => Err(err(at, "expected a list of strings")),
        }
    }

    fn system(v: &Y, at: &str) -> Result<System, FlowsError> {
        v.as_str()
            .and_then(System::parse)
            .ok_or_else(|| err(at, "expected erp, mes, qms or wms"))
    }

    fn json(v: &Y, at: &str) -> Result<Value, FlowsError> {
        serde_json::to_value(v).map_err(|e| err(at, format!("not a JSON value: {e}")))
    }

    pub(super) fn document(doc: &Y) -> Result<Flows, FlowsError> {
        let m = obj(doc, "the document")?;
        only(m, "the document", &["version", "flows", "rules"])?;
        let version = m
            .get("version")
            .and_then(Y::as_u64)
            .ok_or_else(|| err("version", "expected a number"))?;
        let mut flows = Vec::new();
        for (i, f) in m
            .get("flows")
            .and_then(Y::as_sequence)
            .ok_or_else(|| err("flows", "expected a list"))?
            .iter()
            .enumerate()
        {
            flows.push(flow(f, &format!("flows[{i}]"))?);
        }
        for kind in EventKind::ALL {
            match flows.iter().filter(|f| f.event == *kind).count() {
                1 => {}
                n => {
                    return Err(err(
                        "flows",
                        format!("{kind} has {n} flows; every event kind has exactly one"),
                    ));
                }
            }
        }
        let mut rules = Vec::new();
        for (i, r) in m
            .get("rules")
            .and_then(Y::as_sequence)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let at = format!("rules[{i}]");
            let r = obj(r, &at)?;
            only(r, &at, &["name", "text"])?;
            rules.push((text(r, "name", &at)?, text(r, "text", &at)?));
        }
        Ok(Flows {
            version,
            flows,
            rules,
        })
    }

    fn flow(v: &Y, at: &str) -> Result<Flow, FlowsError> {
        let m = obj(v, at)?;
        only(m, at, &["event", "from", "summary", "ordered", "calls"])?;
        let name = text(m, "event", at)?;
        let event = EventKind::parse(&name)
            .ok_or_else(|| err(at, format!("{name:?} is not an event kind of the catalog")))?;
        let from = match m.get("from") {
            Some(Y::Sequence(a)) => a
                .iter()
                .map(|s| system(s, &format!("{at}.from")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s) => vec![system(s, &format!("{at}.from"))?],
            None => return Err(err(at, "`from` is missing")),
        };
        let mut calls = Vec::new();
        for (i, c) in m
            .get("calls")
            .and_then(Y::as_sequence)
            .ok_or_else(|| err(at, "`calls` must be a list"))?
            .iter()
            .enumerate()
        {
            calls.push(call(c, &format!("{at}.calls[{i}]"))?);
        }
        Ok(Flow {
            event,
            from,
            summary: text(m, "summary", at)?.trim().to_string(),
            ordered: m.get("ordered").and_then(Y::as_str).map(str::to_string),
            calls,
        })
    }

    fn call(v: &Y, at: &str) -> Result<Call, FlowsError> {
        let m = obj(v, at)?;
        only(
            m,
            at,
            &[
                "to",
                "request",
                "effect",
                "need",
                "when",
                "done_on",
                "each",
                "path",
                "body",
                "rejections",
            ],
        )?;
        let request = text(m, "request", at)?;
        let (method, route) = request
            .split_once(' ')
            .filter(|(meth, r)| matches!(*meth, "POST" | "PUT" | "PATCH") && r.starts_with('/'))
            .ok_or_else(|| err(at, "`request` must read like `POST /api/v1/…`"))?;
        let need = match m.get("need").and_then(Y::as_str) {
            Some("required") => Need::Required,
            Some("allowed") => Need::Allowed,
            _ => return Err(err(at, "`need` must be required or allowed")),
        };
        let when = match m.get("when") {
            None => None,
            Some(Y::String(s)) if s == "inspection_required" => Some(When::InspectionRequired),
            Some(Y::Mapping(w)) => Some(When::Fields(
                entries(w, &format!("{at}.when"))?
                    .into_iter()
                    .map(|(k, v)| {
                        Ok((
                            k.split('.').map(str::to_string).collect(),
                            json(v, &format!("{at}.when.{k}"))?,
                        ))
                    })
                    .collect::<Result<_, FlowsError>>()?,
            )),
            Some(_) => {
                return Err(err(
                    at,
                    "`when` must be inspection_required or a mapping of data fields to values",
                ));
            }
        };
        let mut path = Vec::new();
        if let Some(p) = m.get("path") {
            for (k, e) in entries(obj(p, &format!("{at}.path"))?, &format!("{at}.path"))? {
                if !route.contains(&format!("{{{k}}}")) {
                    return Err(err(at, format!("path parameter {k:?} is not in {route}")));
                }
                path.push((k.to_string(), expr(e, &format!("{at}.path.{k}"))?));
            }
        }
        for seg in route.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                && !path.iter().any(|(k, _)| k == name)
            {
                return Err(err(
                    at,
                    format!("path parameter {name:?} has no expression"),
                ));
            }
        }
        let body = template(
            m.get("body").ok_or_else(|| err(at, "`body` is missing"))?,
            &format!("{at}.body"),
        )?;
        let arrays = match &body {
            Template::Object(fields) => fields
                .iter()
                .filter(|(_, t)| matches!(t, Template::Array(_)))
                .count(),
            _ => return Err(err(at, "`body` must be a mapping")),
        };
        if arrays > 1 {
            return Err(err(at, "a body has at most one list of elements"));
        }
        Ok(Call {
            to: system(
                m.get("to").ok_or_else(|| err(at, "`to` is missing"))?,
                &format!("{at}.to"),
            )?,
            method: method.to_string(),
            route: route.to_string(),
            effect: text(m, "effect", at)?,
            need,
            when,
            done_on: strings(m.get("done_on"), &format!("{at}.done_on"))?,
            each: m
                .get("each")
                .map(|e| expr(e, &format!("{at}.each")))
                .transpose()?,
            path,
            body,
            rejections: strings(m.get("rejections"), &format!("{at}.rejections"))?,
        })
    }

    fn template(v: &Y, at: &str) -> Result<Template, FlowsError> {
        match v {
            Y::Mapping(m) if m.get("of").is_none() && m.get("any_of").is_none() => {
                Ok(Template::Object(
                    entries(m, at)?
                        .into_iter()
                        .map(|(k, t)| Ok((k.to_string(), template(t, &format!("{at}.{k}"))?)))
                        .collect::<Result<_, FlowsError>>()?,
                ))
            }
            Y::Sequence(a) => match a.as_slice() {
                [one] => Ok(Template::Array(Box::new(template(
                    one,
                    &format!("{at}[0]"),
                )?))),
                _ => Err(err(
                    at,
                    "a list in a body holds exactly one element template",
                )),
            },
            other => Ok(Template::Expr(expr(other, at)?)),
        }
    }

    pub(super) fn expr(v: &Y, at: &str) -> Result<Expr, FlowsError> {
        match v {
            Y::String(s) => string_expr(s, at),
            Y::Mapping(m) if m.get("any_of").is_some() => {
                only(m, at, &["any_of"])?;
                let alts = m
                    .get("any_of")
                    .and_then(Y::as_sequence)
                    .ok_or_else(|| err(at, "`any_of` takes a list"))?;
                Ok(Expr::AnyOf(
                    alts.iter()
                        .enumerate()
                        .map(|(i, a)| expr(a, &format!("{at}.any_of[{i}]")))
                        .collect::<Result<_, _>>()?,
                ))
            }
            Y::Mapping(m) if m.get("of").is_some() => {
                let mut on = None;
                let mut cases = Vec::new();
                for (k, e) in entries(m, at)? {
                    let x = expr(e, &format!("{at}.{k}"))?;
                    if k == "of" {
                        on = Some(x);
                    } else {
                        cases.push((k.to_string(), x));
                    }
                }
                if cases.is_empty() {
                    return Err(err(at, "`of` needs at least one case"));
                }
                Ok(Expr::Switch {
                    on: Box::new(on.ok_or_else(|| err(at, "`of` is missing"))?),
                    cases,
                })
            }
            Y::Mapping(_) | Y::Sequence(_) | Y::Tagged(_) => Err(err(at, "expected an expression")),
            other => Ok(Expr::Literal(json(other, at)?)),
        }
    }

    fn string_expr(s: &str, at: &str) -> Result<Expr, FlowsError> {
        if s == "any" {
            return Ok(Expr::Any);
        }
        if let Some(inner) = s.strip_prefix("date(").and_then(|r| r.strip_suffix(')')) {
            return Ok(Expr::Date(Box::new(string_expr(inner, at)?)));
        }
        let Some(rest) = s.strip_prefix('$') else {
            return Ok(Expr::Literal(Value::String(s.to_string())));
        };
        let (rest, optional) = match rest.strip_suffix('?') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let mut path: Vec<String> = rest.split('.').map(str::to_string).collect();
        if path
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(err(
                at,
                format!("{s:?} is not a field reference such as $plant"),
            ));
        }
        let scope = match path[0].as_str() {
            "event" if path.len() > 1 => {
                path.remove(0);
                Scope::Event
            }
            "item" if path.len() > 1 => {
                path.remove(0);
                Scope::Item
            }
            _ => Scope::Data,
        };
        Ok(Expr::Field {
            scope,
            path,
            optional,
        })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Field {
                scope,
                path,
                optional,
            } => {
                let s = match scope {
                    Scope::Data => "",
                    Scope::Event => "event.",
                    Scope::Item => "item.",
                };
                write!(
                    f,
                    "${s}{}{}",
                    path.join("."),
                    if *optional { "?" } else { "" }
                )
            }
            Expr::Date(e) => write!(f, "date({e})"),
            Expr::Literal(Value::String(s)) => write!(f, "\"{s}\""),
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Any => f.write_str("any"),
            Expr::Switch { on, cases } => {
                write!(f, "{on}: ")?;
                for (i, (k, e)) in cases.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} → {e}")?;
                }
                Ok(())
            }
            Expr::AnyOf(alts) => {
                for (i, e) in alts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The document a third party reads.

impl Flows {
    /// The flows as Markdown (`docs/flows.md`): the rules, how to read a field's
    /// expression, and per event its calls, fields, conditions and legitimate rejections.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        o.push_str("# The flows: what a middleware must do for each event\n\n");
        o.push_str(
            "Generated from [`contracts/flows.yaml`](../contracts/flows.yaml) by `andon docs flows`; \
             `cargo test` fails when this page and the file disagree. The checkers read the same file: \
             exactly-once counts the effects below, mapping compares every field of every call with \
             the value given here, and a business rejection excuses a missing effect only when the \
             call was right and its problem code is listed under *legitimate rejections*.\n",
        );
        o.push_str("\n## Rules\n\n");
        for (name, text) in &self.rules {
            o.push_str(&format!("* **{name}.** {}\n", text.trim()));
        }
        o.push_str(
            "\n## Reading a field\n\n\
             | written | means |\n|---|---|\n\
             | `$name`, `$a.b` | the field of the event's `data` |\n\
             | `$event.time`, `$event.sequence` | the CloudEvent attribute |\n\
             | `$item.name` | the field of the current element (calls made once per element) |\n\
             | `date($name)` | the UTC calendar date of that timestamp |\n\
             | `\"text\"`, `12` | this literal |\n\
             | `any` | present; its value is not judged |\n\
             | `$x: A → a, R → r` | `a` when the field is `A`, `r` when it is `R` |\n\
             | `e1 or e2` | either is right |\n\
             | a trailing `?` | optional: when sent it must be right |\n\n\
             A quantity is judged as an amount: the sent quantity converted to the base unit of the \
             material the call names must equal the expected one (so a unit the ERP can convert is \
             right; a number relabelled with another unit is not). A field the call sends that is not \
             listed is judged by the request schema only. Look-ups (`GET`) are never judged.\n",
        );
        for f in &self.flows {
            let from: Vec<String> = f.from.iter().map(|s| s.as_str().to_uppercase()).collect();
            o.push_str(&format!(
                "\n## `{}` (from {})\n\n{}\n",
                f.event,
                from.join(", "),
                f.summary
            ));
            if let Some(ord) = &f.ordered {
                o.push_str(&format!(
                    "\nOrdered {ord}: see the rule *ordered per lot*.\n"
                ));
            }
            if f.calls.is_empty() {
                continue;
            }
            o.push_str("\n| call | to | effect | need | when |\n|---|---|---|---|---|\n");
            for c in &f.calls {
                o.push_str(&format!(
                    "| `{}` | {} | `{}` | {} | {} |\n",
                    c.request(),
                    c.to.as_str().to_uppercase(),
                    c.effect,
                    c.need.as_str(),
                    match &c.when {
                        None => "always".to_string(),
                        Some(When::InspectionRequired) => {
                            "the material needs inspection on receipt".to_string()
                        }
                        Some(When::Fields(fs)) => fs
                            .iter()
                            .map(|(p, v)| format!("`{}` is `{}`", p.join("."), v))
                            .collect::<Vec<_>>()
                            .join(" and "),
                    }
                ));
            }
            for c in &f.calls {
                o.push_str(&format!(
                    "\n`{}` to {}{}:\n\n| field | value |\n|---|---|\n",
                    c.request(),
                    c.to.as_str().to_uppercase(),
                    match &c.each {
                        Some(e) => format!(", once per element of `{e}`"),
                        None => String::new(),
                    }
                ));
                for (k, e) in &c.path {
                    o.push_str(&format!("| path `{{{k}}}` | `{e}` |\n"));
                }
                fields_md(&mut o, "", &c.body);
                o.push_str(&format!(
                    "\nLegitimate rejections: {}.",
                    if c.rejections.is_empty() {
                        "none".to_string()
                    } else {
                        c.rejections
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
                if !c.done_on.is_empty() {
                    o.push_str(&format!(
                        " Already done (not a rejection): {}.",
                        c.done_on
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                o.push('\n');
            }
        }
        o
    }
}

fn fields_md(o: &mut String, prefix: &str, t: &Template) {
    match t {
        Template::Object(fields) => {
            for (k, t) in fields {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                fields_md(o, &name, t);
            }
        }
        Template::Array(e) => fields_md(o, &format!("{prefix}[]"), e),
        Template::Expr(e) => o.push_str(&format!("| `{prefix}` | `{e}` |\n")),
    }
}

// ---------------------------------------------------------------------------------------
// Reading in place: what exactly-once needs of a flow (which effects, of which movement
// type and item), without building the bodies.

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

// ---------------------------------------------------------------------------------------
// Evaluation.

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

struct Ctx<'a> {
    event: &'a CloudEvent,
    data: &'a Value,
    item: Option<&'a Value>,
}

fn lookup<'v>(mut v: &'v Value, path: &[String]) -> Option<&'v Value> {
    for p in path {
        v = v.get(p)?;
    }
    Some(v)
}

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

// ---------------------------------------------------------------------------------------
// Judging a call.

/// One field a call got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field, as a JSON pointer into the body (`/items/0/posting_date`) or `path:plant`
    /// for a path parameter.
    pub field: String,
    /// What was right, and where it comes from (`2026-11-02 (the event's posting_date)`).
    pub expected: String,
    /// What was sent (`missing` when the field was left out).
    pub sent: String,
}

/// What a call came to, judged against the flow of the event it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement<'f> {
    /// The call of the flow it was taken for (`None`: the flow makes no such call).
    pub call: Option<&'f Call>,
    /// Whether that call belongs to this event's flow.
    pub applies: Applies,
    /// Every field it got wrong.
    pub mismatches: Vec<Mismatch>,
}

impl Judgement<'_> {
    /// Right in every judged field, and a call the flow makes.
    pub fn is_right(&self) -> bool {
        self.call.is_some() && self.applies != Applies::No && self.mismatches.is_empty()
    }
}

/// A call the middleware made: where to, and what it sent.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// The system called.
    pub to: System,
    /// Method.
    pub method: &'a str,
    /// Route template, as the simulator matched it.
    pub route: &'a str,
    /// The path as requested (percent-encoded).
    pub path: &'a str,
    /// The body (`None`: not recorded).
    pub body: Option<&'a Value>,
}

/// Judges a call against the expected calls of the event it names.
pub fn judge<'f>(
    expected: &[Expected<'f>],
    sent: Sent<'_>,
    facts: &dyn Facts,
    plant: &str,
) -> Judgement<'f> {
    let candidates: Vec<&Expected<'f>> = expected
        .iter()
        .filter(|e| {
            e.call.to == sent.to && e.call.method == sent.method && e.call.route == sent.route
        })
        .collect();
    if candidates.is_empty() {
        return Judgement {
            call: None,
            applies: Applies::No,
            mismatches: Vec::new(),
        };
    }
    let cmp = Comparer { facts, plant };
    let params = path_params(sent.route, sent.path);
    let path_mismatches = |e: &Expected<'f>| -> Vec<Mismatch> {
        let mut out = Vec::new();
        for (k, w) in &e.path {
            let got = params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| Value::String(v.clone()));
            cmp.compare(&format!("path:{k}"), w, got.as_ref(), false, None, &mut out);
        }
        out
    };
    // The candidate that fits best: fewest wrong fields, then one that applies, then a
    // required call before an allowed one.
    let score = |e: &Expected<'f>, wrong: usize| {
        wrong * 4
            + usize::from(e.applies == Applies::No) * 2
            + usize::from(e.call.need == Need::Allowed)
    };
    // Bodies with a list of elements (goods movement items): each sent element is judged
    // against the best of every candidate's elements, with that candidate's other fields.
    let list_field = candidates.iter().find_map(|e| match &e.body {
        Want::Object(fields) => fields
            .iter()
            .find(|(_, w, _)| matches!(w, Want::Array(_)))
            .map(|(k, _, _)| k.clone()),
        _ => None,
    });
    if let (Some(field), Some(body)) = (list_field, sent.body)
        && let Some(elements) = body.get(&field).and_then(Value::as_array)
        && !elements.is_empty()
    {
        let mut mismatches = Vec::new();
        let mut chosen: Option<&Expected<'f>> = None;
        let mut worst_applies = Applies::Yes;
        for (i, el) in elements.iter().enumerate() {
            if is_correction(el) {
                continue;
            }
            let mut best: Option<(usize, &Expected<'f>, Vec<Mismatch>)> = None;
            for e in &candidates {
                let Want::Object(fields) = &e.body else {
                    continue;
                };
                let mut out = path_mismatches(e);
                for (k, w, optional) in fields {
                    let ptr = format!("/{k}");
                    match w {
                        Want::Array(elems) if *k == field => {
                            out.extend(cmp.best_element(&format!("{ptr}/{i}"), elems, el, None));
                        }
                        _ => cmp.compare(&ptr, w, body.get(k), *optional, None, &mut out),
                    }
                }
                let sc = score(e, out.len());
                if best.as_ref().is_none_or(|b| sc < b.0) {
                    best = Some((sc, e, out));
                }
            }
            if let Some((_, e, out)) = best {
                if e.applies == Applies::No {
                    worst_applies = Applies::No;
                }
                // The first element decides which call the request was (its need and
                // rejections); later elements add their own wrong fields.
                chosen.get_or_insert(e);
                for m in out {
                    if !mismatches.contains(&m) {
                        mismatches.push(m);
                    }
                }
            }
        }
        return match chosen {
            Some(e) => Judgement {
                call: Some(e.call),
                applies: if worst_applies == Applies::No {
                    Applies::No
                } else {
                    e.applies
                },
                mismatches,
            },
            // Only corrections (reversal items): not judged.
            None => Judgement {
                call: Some(candidates[0].call),
                applies: Applies::Yes,
                mismatches: Vec::new(),
            },
        };
    }
    let mut best: Option<(usize, &Expected<'f>, Vec<Mismatch>)> = None;
    for e in &candidates {
        let mut out = path_mismatches(e);
        if let Some(body) = sent.body {
            cmp.compare("", &e.body, Some(body), false, None, &mut out);
        }
        let sc = score(e, out.len());
        if best.as_ref().is_none_or(|b| sc < b.0) {
            best = Some((sc, e, out));
        }
    }
    let (_, e, mismatches) = best.expect("at least one candidate");
    Judgement {
        call: Some(e.call),
        applies: e.applies,
        mismatches,
    }
}

/// A goods-movement item that corrects an earlier posting (a reversal): not judged.
fn is_correction(item: &Value) -> bool {
    item.get("reversal_of").is_some_and(|v| !v.is_null())
}

/// The path parameters of `path` under the route template, percent-decoded.
fn path_params(route: &str, path: &str) -> Vec<(String, String)> {
    let r: Vec<&str> = route.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if r.len() != p.len() {
        return Vec::new();
    }
    r.iter()
        .zip(&p)
        .filter_map(|(t, v)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_string(), percent_decode(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(h) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => {
            if let Some(q) = as_quantity(other) {
                return q.to_string();
            }
            let t = other.to_string();
            if t.len() > 120 {
                let mut cut = 117;
                while !t.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}…", &t[..cut])
            } else {
                t
            }
        }
    }
}

fn as_quantity(v: &Value) -> Option<Quantity> {
    let m = v.as_object()?;
    if m.len() != 2 || !m.contains_key("value") || !m.contains_key("unit") {
        return None;
    }
    serde_json::from_value(v.clone()).ok()
}

fn with_origin(v: &Value, origin: &str) -> String {
    if origin.is_empty() {
        show(v)
    } else {
        format!("{} ({origin})", show(v))
    }
}

/// Semantic equality: numbers by value, a null field as absent.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x
                .iter()
                .chain(y.iter())
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.into_iter().all(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => same(p, q),
                (Some(p), None) | (None, Some(p)) => p.is_null(),
                (None, None) => true,
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        _ => a == b,
    }
}

/// Whether the sent value is what the expected one names: quantities as amounts.
fn equal(want: &Value, got: &Value, scope: Option<&Value>, facts: &dyn Facts, plant: &str) -> bool {
    if let (Some(w), Some(g)) = (as_quantity(want), as_quantity(got)) {
        if w.unit == g.unit {
            return w.milli == g.milli;
        }
        let material = scope
            .and_then(|s| s.get("material"))
            .and_then(Value::as_str);
        let plant = scope
            .and_then(|s| s.get("plant"))
            .and_then(Value::as_str)
            .unwrap_or(plant);
        return match material {
            Some(m) => match (facts.to_base(m, plant, &w), facts.to_base(m, plant, &g)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
            None => false,
        };
    }
    same(want, got)
}

/// Compares sent values with expected ones; quantities as amounts in the base unit.
struct Comparer<'a> {
    facts: &'a dyn Facts,
    plant: &'a str,
}

impl Comparer<'_> {
    /// The wrong fields of `el` against the best-fitting of `elems` (fewest wrong fields).
    fn best_element(
        &self,
        ptr: &str,
        elems: &[Want],
        el: &Value,
        scope: Option<&Value>,
    ) -> Vec<Mismatch> {
        let mut best: Option<Vec<Mismatch>> = None;
        for w in elems {
            let mut o = Vec::new();
            self.compare(ptr, w, Some(el), false, scope, &mut o);
            if best.as_ref().is_none_or(|b| o.len() < b.len()) {
                best = Some(o);
            }
        }
        best.unwrap_or_default()
    }

    fn equal(&self, want: &Value, got: &Value, scope: Option<&Value>) -> bool {
        equal(want, got, scope, self.facts, self.plant)
    }

    /// Adds to `out` every field of `got` that is not what `want` names.
    fn compare(
        &self,
        ptr: &str,
        want: &Want,
        got: Option<&Value>,
        optional: bool,
        scope: Option<&Value>,
        out: &mut Vec<Mismatch>,
    ) {
        let got = got.filter(|v| !v.is_null());
        let field = if ptr.is_empty() {
            "/".to_string()
        } else {
            ptr.to_string()
        };
        let missing = |expected: String, out: &mut Vec<Mismatch>| {
            if !optional {
                out.push(Mismatch {
                    field: field.clone(),
                    expected,
                    sent: "missing".into(),
                });
            }
        };
        match want {
            Want::Unknown => {}
            Want::Any => {
                if got.is_none() {
                    missing("a value".into(), out);
                }
            }
            Want::Value(w, origin) => match got {
                None => missing(with_origin(w, origin), out),
                Some(g) if !self.equal(w, g, scope) => out.push(Mismatch {
                    field,
                    expected: with_origin(w, origin),
                    sent: show(g),
                }),
                Some(_) => {}
            },
            Want::OneOf(alts) => {
                let expected = || {
                    alts.iter()
                        .map(|(v, o)| with_origin(v, o))
                        .collect::<Vec<_>>()
                        .join(" or ")
                };
                match got {
                    None => missing(expected(), out),
                    Some(g) if !alts.iter().any(|(w, _)| self.equal(w, g, scope)) => {
                        out.push(Mismatch {
                            field,
                            expected: expected(),
                            sent: show(g),
                        })
                    }
                    Some(_) => {}
                }
            }
            Want::Object(fields) => {
                let Some(obj) = got.filter(|g| g.is_object()) else {
                    match got {
                        None => missing("an object".into(), out),
                        Some(g) => out.push(Mismatch {
                            field,
                            expected: "an object".into(),
                            sent: show(g),
                        }),
                    }
                    return;
                };
                for (k, w, opt) in fields {
                    self.compare(&format!("{ptr}/{k}"), w, obj.get(k), *opt, Some(obj), out);
                }
            }
            Want::Array(elems) => {
                let Some(items) = got.and_then(Value::as_array) else {
                    out.push(Mismatch {
                        field,
                        expected: "a list".into(),
                        sent: got.map(show).unwrap_or_else(|| "missing".into()),
                    });
                    return;
                };
                for (i, el) in items.iter().enumerate() {
                    out.extend(self.best_element(&format!("{ptr}/{i}"), elems, el, scope));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoFacts;
    impl Facts for NoFacts {
        fn inspection_required(&self, _: &str, _: &str) -> Option<bool> {
            Some(true)
        }
        fn to_base(&self, _: &str, _: &str, q: &Quantity) -> Option<i64> {
            match q.unit.as_str() {
                "KG" => Some(q.milli),
                "G" => Some(q.milli / 1000),
                _ => None,
            }
        }
    }

    fn event(kind: &str, data: Value) -> CloudEvent {
        serde_json::from_value(json!({
            "specversion": "1.0", "id": "e1", "source": "/andon/mes/1000",
            "type": format!("andon.{kind}.v1"), "subject": "100000001",
            "time": "2026-11-02T07:30:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": 3,
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "data": data
        }))
        .unwrap()
    }

    /// Judges `body` as a POST to `route` at `to`.
    fn post<'f>(
        exp: &[Expected<'f>],
        to: System,
        route: &str,
        path: &str,
        body: &Value,
    ) -> Judgement<'f> {
        judge(
            exp,
            Sent {
                to,
                method: "POST",
                route,
                path,
                body: Some(body),
            },
            &NoFacts,
            "1000",
        )
    }

    fn consumed() -> (CloudEvent, Value) {
        let data = json!({"order": "100000001", "plant": "1000", "storage_location": "0001",
            "material": "RM-1", "batch": "R1", "quantity": {"value": 2500, "unit": "G"},
            "reservation_item": "0001", "posting_date": "2026-11-02"});
        (event("material.consumed", data.clone()), data)
    }

    fn movement(posting_date: &str, qty: Value, sloc: &str, mvt: &str) -> Value {
        json!({"posting_date": posting_date, "items": [{"movement_type": mvt, "plant": "1000",
            "storage_location": sloc, "material": "RM-1", "batch": "R1", "quantity": qty,
            "order": "100000001"}], "source": {"source": "/andon/mes/1000", "id": "e1"}})
    }

    fn judge_movement(body: &Value) -> Vec<Mismatch> {
        let (ev, data) = consumed();
        let flow = flows().get(EventKind::MaterialConsumed).unwrap();
        let exp = flow.expected(&ev, &data, &NoFacts);
        let j = post(
            &exp,
            System::Erp,
            "/api/v1/material-documents",
            "/api/v1/material-documents",
            body,
        );
        assert!(j.call.is_some());
        j.mismatches
    }

    #[test]
    fn the_embedded_flows_parse_and_cover_every_event_kind_once() {
        let f = flows();
        assert_eq!(f.flows.len(), EventKind::ALL.len());
        for flow in &f.flows {
            let mut from = flow.from.clone();
            from.sort();
            let mut emitters = flow.event.emitters().to_vec();
            emitters.sort();
            assert_eq!(from, emitters, "{}: `from` names the emitters", flow.event);
        }
    }

    #[test]
    fn a_right_call_has_no_mismatch_whatever_unit_it_converts_to() {
        assert!(
            judge_movement(&movement(
                "2026-11-02",
                json!({"value": 2.5, "unit": "KG"}),
                "0001",
                "261"
            ))
            .is_empty()
        );
        assert!(
            judge_movement(&movement(
                "2026-11-02",
                json!({"value": 2500, "unit": "G"}),
                "0001",
                "261"
            ))
            .is_empty()
        );
    }

    #[test]
    fn every_wrong_field_is_named_with_what_was_expected() {
        let m = judge_movement(&movement(
            "2026-12-06",
            json!({"value": 2500, "unit": "KG"}),
            "0002",
            "261",
        ));
        let mut fields: Vec<&str> = m.iter().map(|m| m.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "/items/0/quantity",
                "/items/0/storage_location",
                "/posting_date"
            ],
            "{m:?}"
        );
        let date = m.iter().find(|m| m.field == "/posting_date").unwrap();
        assert_eq!(date.expected, "2026-11-02 (the event's posting_date)");
        assert_eq!(date.sent, "2026-12-06");
    }

    #[test]
    fn a_by_product_is_expected_as_531_and_a_101_is_named_wrong() {
        let data = json!({"order": "1", "plant": "1000", "storage_location": "0001", "material": "BP-1",
            "batch": "P1", "quantity": {"value": 5, "unit": "KG"}, "posting_date": "2026-11-02",
            "manufacture_date": "2026-11-02", "genealogy": [], "by_product": true});
        let ev = event("material.produced", data.clone());
        let flow = flows().get(EventKind::MaterialProduced).unwrap();
        let exp = flow.expected(&ev, &data, &NoFacts);
        assert_eq!(exp[0].movement().unwrap().0, "531");
        let body = json!({"posting_date": "2026-11-02", "items": [{"movement_type": "101", "plant": "1000",
            "storage_location": "0001", "material": "BP-1", "batch": "P1", "quantity": {"value": 5, "unit": "KG"}, "order": "1"}]});
        let j = post(
            &exp,
            System::Erp,
            "/api/v1/material-documents",
            "/api/v1/material-documents",
            &body,
        );
        assert_eq!(j.mismatches.len(), 1, "{:?}", j.mismatches);
        assert_eq!(j.mismatches[0].field, "/items/0/movement_type");
        assert!(j.mismatches[0].expected.starts_with("531"));
    }

    #[test]
    fn a_shipment_may_post_its_items_in_one_document_or_one_each() {
        let data = json!({"delivery": "80001", "plant": "1000", "shipped_at": "2026-11-02T10:00:00Z", "items": [
            {"item": "000010", "material": "FG-1", "batch": "B1", "storage_location": "0001", "quantity": {"value": 1, "unit": "KG"}},
            {"item": "000020", "material": "FG-2", "batch": "B2", "storage_location": "0002", "quantity": {"value": 2, "unit": "KG"}}]});
        let ev = event("shipment.confirmed", data.clone());
        let exp = flows()
            .get(EventKind::ShipmentConfirmed)
            .unwrap()
            .expected(&ev, &data, &NoFacts);
        assert_eq!(exp.len(), 2);
        let item = |m: &str, b: &str, s: &str, q: i64| {
            json!({"movement_type": "601", "plant": "1000", "storage_location": s,
            "material": m, "batch": b, "quantity": {"value": q, "unit": "KG"}})
        };
        let sent = |items: Vec<Value>| json!({"posting_date": "2026-11-02", "items": items});
        let route = "/api/v1/material-documents";
        for body in [
            sent(vec![
                item("FG-1", "B1", "0001", 1),
                item("FG-2", "B2", "0002", 2),
            ]),
            sent(vec![item("FG-2", "B2", "0002", 2)]),
        ] {
            let j = post(&exp, System::Erp, route, route, &body);
            assert!(j.is_right(), "{:?}", j.mismatches);
        }
        let body = sent(vec![item("FG-2", "B2", "0001", 2)]);
        let j = post(&exp, System::Erp, route, route, &body);
        assert_eq!(j.mismatches.len(), 1);
    }

    #[test]
    fn path_parameters_are_judged_and_percent_decoded() {
        let data = json!({"hold_id": "H1", "plant": "1000", "material": "FG/1", "batch": "B1", "scope": "batch",
            "reason_code": "X", "placed_at": "2026-11-02T08:00:00Z"});
        let ev = event("lot.hold_placed", data.clone());
        let exp = flows()
            .get(EventKind::LotHoldPlaced)
            .unwrap()
            .expected(&ev, &data, &NoFacts);
        let body = json!({"hold_id": "H1", "reason_code": "X", "sequence": 3});
        let route = "/api/v1/lots/{plant}/{material}/{batch}/holds";
        let ok = post(
            &exp,
            System::Wms,
            route,
            "/api/v1/lots/1000/FG%2F1/B1/holds",
            &body,
        );
        assert!(ok.is_right(), "{:?}", ok.mismatches);
        let wrong = post(
            &exp,
            System::Wms,
            route,
            "/api/v1/lots/2000/FG%2F1/B1/holds",
            &body,
        );
        assert_eq!(wrong.mismatches[0].field, "path:plant");
    }

    #[test]
    fn a_call_the_flow_does_not_make_has_no_call() {
        let (ev, data) = consumed();
        let exp = flows()
            .get(EventKind::MaterialConsumed)
            .unwrap()
            .expected(&ev, &data, &NoFacts);
        let route = "/api/v1/receipts";
        let j = judge(
            &exp,
            Sent {
                to: System::Wms,
                method: "POST",
                route,
                path: route,
                body: None,
            },
            &NoFacts,
            "1000",
        );
        assert!(j.call.is_none() && !j.is_right());
    }

    #[test]
    fn bad_documents_are_refused_with_where() {
        let e = Flows::parse("version: 1\nflows: []\n").unwrap_err();
        assert!(e.message.contains("has 0 flows"), "{e}");
        let e =
            Flows::parse("version: 1\nflows: [{event: nope, from: erp, summary: x, calls: []}]\n")
                .unwrap_err();
        assert_eq!(e.at, "flows[0]");
    }
}
