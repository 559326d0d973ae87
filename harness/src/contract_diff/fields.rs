//! The field rules: two [`Shape`]s of the same place (a request body, a parameter, a
//! response, a message payload) compared field by field, on the side the data flows
//! ([`Side`]). Each step below is one group of rules of [`super::rules`]: the types, the
//! enum values, the properties (added, removed, required or not, the schema closed), the
//! items of arrays, the `oneOf`/`anyOf` alternatives.

use std::collections::BTreeSet;

use serde_json::Value;

use super::change::Change;
use super::rules::{Rule, Severity};
use super::shape::Shape;

/// Which way the data flows, seen from the documented side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The other party writes it: requests, messages the application receives.
    Input,
    /// The documented side writes it: responses, messages the application sends.
    Output,
}

/// Compares the shapes `old` and `new` found at `pointer` of `operation`.
pub fn compare(
    old: &Shape,
    new: &Shape,
    side: Side,
    operation: &str,
    pointer: &str,
    out: &mut Vec<Change>,
) {
    let mut f = Fields {
        side,
        operation,
        out,
    };
    f.walk(old, new, pointer, new.closed);
}

/// Compares as [`compare`] does for data whose direction is unknown (an AsyncAPI message no
/// operation names): both ways, keeping at each pointer the breaking verdicts if there are
/// any, else the output side's.
pub fn compare_both_ways(
    old: &Shape,
    new: &Shape,
    operation: &str,
    pointer: &str,
    out: &mut Vec<Change>,
) {
    let (mut input, mut output) = (Vec::new(), Vec::new());
    compare(old, new, Side::Input, operation, pointer, &mut input);
    compare(old, new, Side::Output, operation, pointer, &mut output);
    let breaking_at: BTreeSet<String> = input
        .iter()
        .chain(&output)
        .filter(|c| c.severity == Severity::Breaking)
        .map(|c| c.pointer.clone())
        .collect();
    let output_at: BTreeSet<String> = output.iter().map(|c| c.pointer.clone()).collect();
    let mut said: BTreeSet<(String, String)> = BTreeSet::new();
    for c in output {
        if !breaking_at.contains(&c.pointer) || c.severity == Severity::Breaking {
            said.insert((c.pointer.clone(), c.change.clone()));
            out.push(c);
        }
    }
    for c in input {
        let keep = if breaking_at.contains(&c.pointer) {
            c.severity == Severity::Breaking
                && !said.contains(&(c.pointer.clone(), c.change.clone()))
        } else {
            !output_at.contains(&c.pointer)
        };
        if keep {
            out.push(c);
        }
    }
}

struct Fields<'a> {
    side: Side,
    operation: &'a str,
    out: &'a mut Vec<Change>,
}

impl Fields<'_> {
    fn push(&mut self, rule: Rule, pointer: &str, change: String) {
        self.out
            .push(Change::new(rule, self.operation, pointer, change));
    }

    /// One place: `closed` says whether the schema holding it refuses other fields (an
    /// output enum of a closed schema is a promise of its values).
    fn walk(&mut self, old: &Shape, new: &Shape, pointer: &str, closed: bool) {
        if old.recursive.is_some() || new.recursive.is_some() {
            return; // compared where the recursion started
        }
        self.types(old, new, pointer);
        self.values(old, new, pointer, closed || new.closed);
        self.properties(old, new, pointer);
        if let (Some(a), Some(b)) = (&old.items, &new.items) {
            self.walk(a, b, &format!("{pointer}/[]"), closed);
        }
        self.variants(old, new, pointer, closed);
    }

    fn types(&mut self, old: &Shape, new: &Shape, pointer: &str) {
        if old.types == new.types {
            return;
        }
        let text = format!(
            "type changed from {} to {}",
            show_types(&old.types),
            show_types(&new.types)
        );
        let rule = match self.side {
            Side::Input if covers(&new.types, &old.types) => Rule::InputTypeWidened,
            Side::Input => Rule::InputTypeChanged,
            Side::Output if covers(&old.types, &new.types) => Rule::OutputTypeNarrowed,
            Side::Output => Rule::OutputTypeChanged,
        };
        self.push(rule, pointer, text);
    }

    fn values(&mut self, old: &Shape, new: &Shape, pointer: &str, closed: bool) {
        let (input, output) = (self.side == Side::Input, self.side == Side::Output);
        let more = match (input, closed) {
            (true, _) => Rule::InputEnumValuesAdded,
            (false, true) => Rule::OutputEnumValuesAddedClosed,
            (false, false) => Rule::OutputEnumValuesAdded,
        };
        let fewer = if output {
            Rule::OutputEnumValuesRemoved
        } else {
            Rule::InputEnumValuesRemoved
        };
        match (&old.values, &new.values) {
            (None, None) => {}
            (Some(o), Some(n)) => {
                let removed: Vec<&Value> = o.iter().filter(|v| !n.contains(v)).collect();
                let added: Vec<&Value> = n.iter().filter(|v| !o.contains(v)).collect();
                if !removed.is_empty() {
                    self.push(
                        fewer,
                        pointer,
                        format!("enum values removed: {}", show_values(&removed)),
                    );
                }
                if !added.is_empty() {
                    let text = format!("enum values added: {}{}", show_values(&added), note(more));
                    self.push(more, pointer, text);
                }
            }
            (Some(o), None) => {
                let was: Vec<&Value> = o.iter().collect();
                let text = format!(
                    "enum lifted: any value now (was one of {}){}",
                    show_values(&was),
                    note(more)
                );
                self.push(more, pointer, text);
            }
            (None, Some(n)) => {
                let now: Vec<&Value> = n.iter().collect();
                self.push(
                    fewer,
                    pointer,
                    format!("enum imposed: one of {}", show_values(&now)),
                );
            }
        }
    }

    fn properties(&mut self, old: &Shape, new: &Shape, pointer: &str) {
        let names: BTreeSet<&String> = old
            .properties
            .keys()
            .chain(&old.required)
            .chain(new.properties.keys())
            .chain(&new.required)
            .collect();
        let any = Shape::default();
        for name in names {
            let at = format!("{pointer}/{}", escape(name));
            let (was, is) = (old.has(name), new.has(name));
            let (req_old, req_new) = (old.required.contains(name), new.required.contains(name));
            match (was, is) {
                (true, false) => self.removed(&at, req_old, new.closed),
                (false, true) => self.added(&at, req_new),
                _ => {
                    self.required(&at, req_old, req_new);
                    let a = old.properties.get(name).unwrap_or(&any);
                    let b = new.properties.get(name).unwrap_or(&any);
                    self.walk(a, b, &at, new.closed);
                }
            }
        }
        if self.side == Side::Input && !old.closed && new.closed {
            let text = "additionalProperties: false added: undeclared fields are refused".into();
            self.push(Rule::InputSchemaClosed, pointer, text);
        }
    }

    fn removed(&mut self, at: &str, was_required: bool, closed: bool) {
        let (rule, text) = match (self.side, was_required, closed) {
            (Side::Input, _, true) => (
                Rule::InputFieldRemovedClosed,
                "field removed from a closed schema: senders of it now fail",
            ),
            (Side::Input, _, false) => (Rule::InputFieldRemoved, "field removed (ignored if sent)"),
            (Side::Output, true, _) => (Rule::OutputFieldRemoved, "required field removed"),
            (Side::Output, false, _) => {
                (Rule::OutputOptionalFieldRemoved, "optional field removed")
            }
        };
        self.push(rule, at, text.into());
    }

    fn added(&mut self, at: &str, required: bool) {
        let (rule, text) = match (self.side, required) {
            (Side::Input, true) => (Rule::InputFieldNewlyRequired, "new required field"),
            (Side::Input, false) => (Rule::InputOptionalFieldAdded, "optional field added"),
            (Side::Output, true) => (Rule::OutputFieldAdded, "field added (required)"),
            (Side::Output, false) => (Rule::OutputFieldAdded, "field added (optional)"),
        };
        self.push(rule, at, text.into());
    }

    fn required(&mut self, at: &str, was: bool, is: bool) {
        let (rule, text) = match (self.side, was, is) {
            (Side::Input, false, true) => {
                (Rule::InputFieldMadeRequired, "optional field made required")
            }
            (Side::Input, true, false) => {
                (Rule::InputFieldMadeOptional, "required field made optional")
            }
            (Side::Output, true, false) => (
                Rule::OutputFieldMadeOptional,
                "required field made optional",
            ),
            (Side::Output, false, true) => (
                Rule::OutputFieldMadeRequired,
                "optional field made required",
            ),
            _ => return,
        };
        self.push(rule, at, text.into());
    }

    fn variants(&mut self, old: &Shape, new: &Shape, pointer: &str, closed: bool) {
        for (i, (a, b)) in old.variants.iter().zip(&new.variants).enumerate() {
            self.walk(a, b, &format!("{pointer}/oneOf[{i}]"), closed);
        }
        let (was, is) = (old.variants.len(), new.variants.len());
        if was == is {
            return;
        }
        let restricts = is > 0 && (was == 0 || is < was);
        let rule = match (self.side, restricts) {
            (Side::Input, true) => Rule::InputTypeChanged,
            (Side::Input, false) => Rule::InputTypeWidened,
            (Side::Output, true) => Rule::OutputTypeNarrowed,
            (Side::Output, false) => Rule::OutputTypeChanged,
        };
        let text = format!("oneOf/anyOf alternatives changed from {was} to {is}");
        self.push(rule, pointer, text);
    }
}

/// Whether every value of the types `narrow` is one of the types `wide` (empty: any;
/// an integer is a number).
fn covers(wide: &BTreeSet<&'static str>, narrow: &BTreeSet<&'static str>) -> bool {
    if wide.is_empty() {
        return true;
    }
    !narrow.is_empty()
        && narrow
            .iter()
            .all(|t| wide.contains(t) || (*t == "integer" && wide.contains("number")))
}

fn show_types(types: &BTreeSet<&'static str>) -> String {
    if types.is_empty() {
        return "any".into();
    }
    types.iter().copied().collect::<Vec<_>>().join("|")
}

/// What a compatible output enum change asks of clients all the same.
fn note(rule: Rule) -> &'static str {
    if rule == Rule::OutputEnumValuesAdded {
        " (note: clients must tolerate values they do not know)"
    } else {
        ""
    }
}

/// At most ten values as JSON, then how many more.
fn show_values(values: &[&Value]) -> String {
    let mut shown: Vec<String> = values.iter().take(10).map(|v| v.to_string()).collect();
    if values.len() > 10 {
        shown.push(format!("… ({} more)", values.len() - 10));
    }
    shown.join(", ")
}

/// A property name as a JSON-pointer segment.
pub fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}
