//! Read from the YAML tree itself (not through JSON), so that fields keep the order
//! the file gives them in messages and in the docs.

use serde_json::Value;
use serde_norway::{Mapping, Value as Y};

use super::{Call, Expr, Flow, Flows, FlowsError, Need, Scope, Template, When};
use crate::events::{EventKind, System};

/// A [`FlowsError`] at `at`.
fn err(at: &str, message: impl Into<String>) -> FlowsError {
    FlowsError {
        at: at.to_string(),
        message: message.into(),
    }
}

/// The value as a mapping.
fn obj<'v>(v: &'v Y, at: &str) -> Result<&'v Mapping, FlowsError> {
    v.as_mapping().ok_or_else(|| err(at, "expected a mapping"))
}

/// The entries of a mapping in file order, keys as text (a YAML `true` key reads `"true"`).
fn entries<'v>(m: &'v Mapping, at: &str) -> Result<Vec<(&'v str, &'v Y)>, FlowsError> {
    m.iter()
        .map(|(k, v)| match k {
            Y::String(k) => Ok((k.as_str(), v)),
            Y::Bool(b) => Ok((if *b { "true" } else { "false" }, v)),
            other => Err(err(at, format!("key {other:?} must be a string"))),
        })
        .collect()
}

/// Refuses any key not in `keys`.
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

/// The string at `key`.
fn text(m: &Mapping, key: &str, at: &str) -> Result<String, FlowsError> {
    m.get(key)
        .and_then(Y::as_str)
        .map(str::to_string)
        .ok_or_else(|| err(at, format!("`{key}` must be a string")))
}

/// A list of strings (an absent one is empty).
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

/// A system name (`erp`, `mes`, `qms`, `wms`).
fn system(v: &Y, at: &str) -> Result<System, FlowsError> {
    v.as_str()
        .and_then(System::parse)
        .ok_or_else(|| err(at, "expected erp, mes, qms or wms"))
}

/// A YAML scalar as the JSON value it stands for.
fn json(v: &Y, at: &str) -> Result<Value, FlowsError> {
    serde_json::to_value(v).map_err(|e| err(at, format!("not a JSON value: {e}")))
}

/// The whole document: version, one flow per event kind of the catalog, and the rules.
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

/// One flow: its event, emitters, summary, ordering and calls.
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

/// One call of a flow: its request, need and condition, path parameters and body.
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
    let when = when(m.get("when"), at)?;
    let path = path_params(m.get("path"), route, at)?;
    let body = body(m.get("body"), at)?;
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

/// A call's condition (`when`): `inspection_required`, or data fields and their values.
fn when(v: Option<&Y>, at: &str) -> Result<Option<When>, FlowsError> {
    match v {
        None => Ok(None),
        Some(Y::String(s)) if s == "inspection_required" => Ok(Some(When::InspectionRequired)),
        Some(Y::Mapping(w)) => Ok(Some(When::Fields(
            entries(w, &format!("{at}.when"))?
                .into_iter()
                .map(|(k, v)| {
                    Ok((
                        k.split('.').map(str::to_string).collect(),
                        json(v, &format!("{at}.when.{k}"))?,
                    ))
                })
                .collect::<Result<_, FlowsError>>()?,
        ))),
        Some(_) => Err(err(
            at,
            "`when` must be inspection_required or a mapping of data fields to values",
        )),
    }
}

/// A call's path parameters (`path`): one expression for each `{name}` of the route, and
/// none for a name the route does not have.
fn path_params(v: Option<&Y>, route: &str, at: &str) -> Result<Vec<(String, Expr)>, FlowsError> {
    let mut path = Vec::new();
    if let Some(p) = v {
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
    Ok(path)
}

/// A call's body: a mapping with at most one list of elements.
fn body(v: Option<&Y>, at: &str) -> Result<Template, FlowsError> {
    let body = template(
        v.ok_or_else(|| err(at, "`body` is missing"))?,
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
    Ok(body)
}

/// A body template: a mapping of fields, a one-element list, or an expression.
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

/// An expression: a string form, `any_of` alternatives, an `of` switch, or a literal.
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

/// An expression written as a string: `any`, `date(…)`, `$field`, `$event.x`, `$item.x`
/// (with a trailing `?` when optional), or else a literal string.
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
