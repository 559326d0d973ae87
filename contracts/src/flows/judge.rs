//! Judging a call: [`judge`] picks, among the expected calls of an event, the one a call
//! the middleware made fits best, and names every field it got wrong ([`Mismatch`]).
//! Quantities are compared as amounts in the material's base unit. This runs once per
//! recorded call, so it borrows what it compares and allocates only for what it reports.

use serde_json::Value;

use super::{Applies, Call, Expected, Facts, Need, Want};
use crate::events::System;
use crate::quantity::Quantity;

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
        return no_call();
    }
    let judging = Judging {
        cmp: Comparer { facts, plant },
        params: path_params(sent.route, sent.path),
    };
    // Bodies with a list of elements (goods movement items): each sent element is judged
    // against the best of every candidate's elements, with that candidate's other fields.
    if let (Some(field), Some(body)) = (list_field(&candidates), sent.body)
        && let Some(elements) = body.get(field).and_then(Value::as_array)
        && !elements.is_empty()
    {
        return judging.by_element(&candidates, field, body, elements);
    }
    judging.whole(&candidates, sent.body)
}

/// The judgement of a call the flow does not make.
fn no_call<'f>() -> Judgement<'f> {
    Judgement {
        call: None,
        applies: Applies::No,
        mismatches: Vec::new(),
    }
}

/// The body field that holds a list of elements, in the first candidate that has one.
fn list_field<'e>(candidates: &[&'e Expected<'_>]) -> Option<&'e str> {
    candidates.iter().find_map(|e| match &e.body {
        Want::Object(fields) => fields
            .iter()
            .find(|(_, w, _)| matches!(w, Want::Array(_)))
            .map(|(k, _, _)| k.as_str()),
        _ => None,
    })
}

/// How well a candidate fits (lower is better): fewest wrong fields, then one that
/// applies, then a required call before an allowed one.
fn score(e: &Expected<'_>, wrong: usize) -> usize {
    wrong * 4
        + usize::from(e.applies == Applies::No) * 2
        + usize::from(e.call.need == Need::Allowed)
}

/// A candidate with its score and its wrong fields.
type Fit<'c, 'f> = (usize, &'c Expected<'f>, Vec<Mismatch>);

/// One call being judged: how to compare, and the path parameters it was sent with.
struct Judging<'a> {
    /// Compares values.
    cmp: Comparer<'a>,
    /// The call's path parameters, percent-decoded.
    params: Vec<(String, String)>,
}

impl Judging<'_> {
    /// The wrong path parameters of the call against a candidate.
    fn path_mismatches(&self, e: &Expected<'_>) -> Vec<Mismatch> {
        let mut out = Vec::new();
        for (k, w) in &e.path {
            let got = self
                .params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| Value::String(v.clone()));
            self.cmp
                .compare(&format!("path:{k}"), w, got.as_ref(), false, None, &mut out);
        }
        out
    }

    /// Judges a body whose list `field` holds `elements` (none of them a correction
    /// decides nothing): each element against the candidate it fits best.
    fn by_element<'f>(
        &self,
        candidates: &[&Expected<'f>],
        field: &str,
        body: &Value,
        elements: &[Value],
    ) -> Judgement<'f> {
        let mut mismatches = Vec::new();
        let mut chosen: Option<&Expected<'f>> = None;
        let mut worst_applies = Applies::Yes;
        for (i, el) in elements.iter().enumerate() {
            if is_correction(el) {
                continue;
            }
            if let Some((_, e, out)) = self.best_for_element(candidates, field, body, i, el) {
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
        match chosen {
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
        }
    }

    /// The candidate element `i` of the list `field` fits best, judged with the
    /// candidate's other fields.
    fn best_for_element<'c, 'f>(
        &self,
        candidates: &[&'c Expected<'f>],
        field: &str,
        body: &Value,
        i: usize,
        el: &Value,
    ) -> Option<Fit<'c, 'f>> {
        let mut best: Option<Fit<'c, 'f>> = None;
        for e in candidates {
            let Want::Object(fields) = &e.body else {
                continue;
            };
            let mut out = self.path_mismatches(e);
            for (k, w, optional) in fields {
                let ptr = format!("/{k}");
                match w {
                    Want::Array(elems) if *k == field => {
                        out.extend(
                            self.cmp
                                .best_element(&format!("{ptr}/{i}"), elems, el, None),
                        );
                    }
                    _ => self
                        .cmp
                        .compare(&ptr, w, body.get(k), *optional, None, &mut out),
                }
            }
            let sc = score(e, out.len());
            if best.as_ref().is_none_or(|b| sc < b.0) {
                best = Some((sc, e, out));
            }
        }
        best
    }

    /// Judges the whole body against every candidate and keeps the best fit.
    fn whole<'f>(&self, candidates: &[&Expected<'f>], body: Option<&Value>) -> Judgement<'f> {
        let mut best: Option<Fit<'_, 'f>> = None;
        for e in candidates {
            let mut out = self.path_mismatches(e);
            if let Some(body) = body {
                self.cmp
                    .compare("", &e.body, Some(body), false, None, &mut out);
            }
            let sc = score(e, out.len());
            if best.as_ref().is_none_or(|b| sc < b.0) {
                best = Some((sc, e, out));
            }
        }
        match best {
            Some((_, e, mismatches)) => Judgement {
                call: Some(e.call),
                applies: e.applies,
                mismatches,
            },
            // No candidate: `judge` does not get here.
            None => no_call(),
        }
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

/// `%XX` escapes decoded (a malformed one is kept as it is).
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

/// A sent or expected value as a message shows it: text bare, a quantity as `2.5 KG`,
/// anything else as JSON cut at 120 characters.
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

/// The value as a quantity, when it is exactly `{value, unit}`.
fn as_quantity(v: &Value) -> Option<Quantity> {
    let m = v.as_object()?;
    if m.len() != 2 || !m.contains_key("value") || !m.contains_key("unit") {
        return None;
    }
    serde_json::from_value(v.clone()).ok()
}

/// A value with where it comes from: `2026-11-02 (the event's posting_date)`.
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
    /// The material master.
    facts: &'a dyn Facts,
    /// The event's plant, for a quantity whose scope names none.
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

    /// [`equal`] with the facts and the event's plant.
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
        let Some(got) = got.filter(|v| !v.is_null()) else {
            missing(ptr, want, optional, out);
            return;
        };
        match want {
            Want::Unknown | Want::Any => {}
            Want::Value(w, origin) => {
                if !self.equal(w, got, scope) {
                    out.push(Mismatch {
                        field: field_of(ptr),
                        expected: with_origin(w, origin),
                        sent: show(got),
                    });
                }
            }
            Want::OneOf(alts) => {
                if !alts.iter().any(|(w, _)| self.equal(w, got, scope)) {
                    out.push(Mismatch {
                        field: field_of(ptr),
                        expected: one_of(alts),
                        sent: show(got),
                    });
                }
            }
            Want::Object(fields) => {
                if !got.is_object() {
                    out.push(Mismatch {
                        field: field_of(ptr),
                        expected: "an object".into(),
                        sent: show(got),
                    });
                    return;
                }
                for (k, w, opt) in fields {
                    self.compare(&format!("{ptr}/{k}"), w, got.get(k), *opt, Some(got), out);
                }
            }
            Want::Array(elems) => {
                let Some(items) = got.as_array() else {
                    out.push(Mismatch {
                        field: field_of(ptr),
                        expected: "a list".into(),
                        sent: show(got),
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

/// Adds to `out` that the field at `ptr` is missing (absent or null), unless nothing is
/// judged there or it is optional; a list is never optional.
fn missing(ptr: &str, want: &Want, optional: bool, out: &mut Vec<Mismatch>) {
    let expected = match want {
        Want::Unknown => return,
        Want::Array(_) => "a list".into(),
        _ if optional => return,
        Want::Any => "a value".into(),
        Want::Value(w, origin) => with_origin(w, origin),
        Want::OneOf(alts) => one_of(alts),
        Want::Object(_) => "an object".into(),
    };
    out.push(Mismatch {
        field: field_of(ptr),
        expected,
        sent: "missing".into(),
    });
}

/// The field a mismatch names: the JSON pointer, `/` for the whole body.
fn field_of(ptr: &str) -> String {
    if ptr.is_empty() {
        "/".to_string()
    } else {
        ptr.to_string()
    }
}

/// Alternatives as a message reads them: `a (origin) or b (origin)`.
fn one_of(alts: &[(Value, String)]) -> String {
    alts.iter()
        .map(|(v, o)| with_origin(v, o))
        .collect::<Vec<_>>()
        .join(" or ")
}
