//! Two AsyncAPI 3 documents compared from the other party's side: channels removed, added
//! or readdressed; their messages removed or added, and the payloads of those in both
//! compared field by field — as output when the application *sends* them (the other party
//! consumes: a required field removed or retyped breaks it), as input when it *receives*
//! them (the other party produces: a newly required field breaks it), both ways when no
//! operation says; then operations removed, added, or changed in action, channel or
//! messages.

mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oas3::spec::{ObjectOrReference, Schema};
use serde_json::Value;

use self::model::{Action, AsyncApi, Channel, Operation, Payload, channel_and_message};
use super::change::Change;
use super::document::{Document, typed};
use super::error::DiffError;
use super::fields::{self, Side, escape};
use super::resolve::Resolver;
use super::rules::Rule;
use super::shape::{Builder, Shape};

/// The changes from the AsyncAPI document `old` to `new`.
pub fn compare(old: &Document, new: &Document) -> Result<Vec<Change>, DiffError> {
    let (x, y): (AsyncApi, AsyncApi) = (old.typed()?, new.typed()?);
    let (mut rx, mut ry) = (Resolver::new(old), Resolver::new(new));
    let mut a = Doc {
        root: rx.root().to_path_buf(),
        shapes: Builder::new(&mut rx),
    };
    let mut b = Doc {
        root: ry.root().to_path_buf(),
        shapes: Builder::new(&mut ry),
    };
    let (ops_x, ops_y) = (a.operations(&x)?, b.operations(&y)?);
    let mut flows = Flows::default();
    flows.add(&ops_x);
    flows.add(&ops_y);
    let mut out = Vec::new();
    for key in x
        .channels
        .keys()
        .chain(y.channels.keys())
        .collect::<BTreeSet<_>>()
    {
        let op = format!("channel {key}");
        let rule = match (x.channels.get(key), y.channels.get(key)) {
            (Some(_), None) => Rule::ChannelRemoved,
            (None, Some(_)) => Rule::ChannelAdded,
            (Some(cx), Some(cy)) => {
                let old = a.shapes.resolver().item(&a.root, cx)?;
                let new = b.shapes.resolver().item(&b.root, cy)?;
                let mut pair = Pair {
                    a: &mut a,
                    b: &mut b,
                    flows: &flows,
                    out: &mut out,
                };
                pair.channel(key, &op, &old, &new)?;
                continue;
            }
            (None, None) => continue,
        };
        let text = if rule == Rule::ChannelRemoved {
            "channel removed"
        } else {
            "channel added"
        };
        out.push(Change::new(rule, op, "", text));
    }
    operations(&ops_x, &ops_y, &mut out);
    Ok(out)
}

/// One document being read.
struct Doc<'a> {
    root: PathBuf,
    shapes: Builder<'a>,
}

impl Doc<'_> {
    /// The operations, references followed.
    fn operations(&mut self, doc: &AsyncApi) -> Result<BTreeMap<String, Operation>, DiffError> {
        let mut out = BTreeMap::new();
        for (key, op) in &doc.operations {
            let (_, op) = self.shapes.resolver().item(&self.root, op)?;
            out.insert(key.clone(), op);
        }
        Ok(out)
    }

    /// A payload as compared: fields of a JSON schema, or an opaque schema in another format.
    fn payload(&mut self, file: &Path, at: &str, p: Option<&Payload>) -> Result<Form, DiffError> {
        Ok(match p {
            None => Form::Fields(Shape::default()),
            Some(Payload::Schema(s)) => Form::Fields(self.shapes.shape(file, s)?),
            Some(Payload::MultiFormat(m)) if m.is_json_schema() => {
                let s: Schema = typed(file, &format!("{at}/schema"), m.schema.clone())?;
                Form::Fields(self.shapes.shape(file, &s)?)
            }
            Some(Payload::MultiFormat(m)) => {
                Form::Opaque(m.schema_format.clone(), m.schema.clone())
            }
        })
    }
}

/// A payload as compared.
enum Form {
    Fields(Shape),
    Opaque(String, Value),
}

/// Who writes each message: the actions of the operations naming it (a message key of
/// `None`: every message of the channel).
#[derive(Default)]
struct Flows(BTreeMap<(String, Option<String>), BTreeSet<Action>>);

impl Flows {
    fn add(&mut self, ops: &BTreeMap<String, Operation>) {
        for op in ops.values() {
            let (channel, _) = channel_and_message(&op.channel.reference);
            let messages: Vec<Option<String>> = if op.messages.is_empty() {
                vec![None]
            } else {
                op.messages
                    .iter()
                    .map(|m| channel_and_message(&m.reference).1)
                    .collect()
            };
            for m in messages {
                self.0
                    .entry((channel.clone(), m))
                    .or_default()
                    .insert(op.action);
            }
        }
    }

    /// The side of the message `message` of `channel`; `None`: unknown or both.
    fn side(&self, channel: &str, message: &str) -> Option<Side> {
        let mut actions = BTreeSet::new();
        for m in [None, Some(message.to_string())] {
            if let Some(a) = self.0.get(&(channel.to_string(), m)) {
                actions.extend(a.iter().map(|a| *a == Action::Send));
            }
        }
        match (actions.contains(&true), actions.contains(&false)) {
            (true, false) => Some(Side::Output),
            (false, true) => Some(Side::Input),
            _ => None,
        }
    }
}

/// Both documents, while a channel present in both is compared.
struct Pair<'p, 'a> {
    a: &'p mut Doc<'a>,
    b: &'p mut Doc<'a>,
    flows: &'p Flows,
    out: &'p mut Vec<Change>,
}

impl Pair<'_, '_> {
    fn channel(
        &mut self,
        key: &str,
        op: &str,
        (fx, x): &(PathBuf, Channel),
        (fy, y): &(PathBuf, Channel),
    ) -> Result<(), DiffError> {
        if x.address != y.address {
            let show = |a: &Option<String>| a.clone().unwrap_or_else(|| "(none)".into());
            let text = format!(
                "address changed from {} to {}",
                show(&x.address),
                show(&y.address)
            );
            self.out
                .push(Change::new(Rule::ChannelAddressChanged, op, "", text));
        }
        for m in x
            .messages
            .keys()
            .chain(y.messages.keys())
            .collect::<BTreeSet<_>>()
        {
            let at = format!("/messages/{}", escape(m));
            let (mx, my) = match (x.messages.get(m), y.messages.get(m)) {
                (Some(_), None) => {
                    self.out
                        .push(Change::new(Rule::MessageRemoved, op, at, "message removed"));
                    continue;
                }
                (None, Some(_)) => {
                    self.out
                        .push(Change::new(Rule::MessageAdded, op, at, "message added"));
                    continue;
                }
                (Some(mx), Some(my)) => (mx, my),
                (None, None) => continue,
            };
            let side = self.flows.side(key, m);
            self.message(op, &format!("{at}/payload"), side, (fx, mx), (fy, my))?;
        }
        Ok(())
    }

    fn message(
        &mut self,
        op: &str,
        at: &str,
        side: Option<Side>,
        (fx, mx): (&Path, &ObjectOrReference<model::Message>),
        (fy, my): (&Path, &ObjectOrReference<model::Message>),
    ) -> Result<(), DiffError> {
        let (fx, mx) = self.a.shapes.resolver().item(fx, mx)?;
        let (fy, my) = self.b.shapes.resolver().item(fy, my)?;
        let old = self.a.payload(&fx, at, mx.payload.as_ref())?;
        let new = self.b.payload(&fy, at, my.payload.as_ref())?;
        match (&old, &new, side) {
            (Form::Fields(x), Form::Fields(y), Some(side)) => {
                fields::compare(x, y, side, op, at, self.out);
            }
            (Form::Fields(x), Form::Fields(y), None) => {
                fields::compare_both_ways(x, y, op, at, self.out);
            }
            (Form::Opaque(f, x), Form::Opaque(g, y), _) if f == g && x == y => {}
            _ => {
                let format = |f: &Form| match f {
                    Form::Fields(_) => "JSON Schema".to_string(),
                    Form::Opaque(f, _) => f.clone(),
                };
                let text = format!(
                    "payload ({} → {}) changed: not compared field by field",
                    format(&old),
                    format(&new)
                );
                self.out
                    .push(Change::new(Rule::PayloadFormatChanged, op, at, text));
            }
        }
        Ok(())
    }
}

/// Operations removed, added, or changed in action, channel or messages.
fn operations(
    old: &BTreeMap<String, Operation>,
    new: &BTreeMap<String, Operation>,
    out: &mut Vec<Change>,
) {
    for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let op = format!("operation {key}");
        let (x, y) = match (old.get(key), new.get(key)) {
            (Some(_), None) => {
                out.push(Change::new(
                    Rule::OperationRemoved,
                    op,
                    "",
                    "operation removed",
                ));
                continue;
            }
            (None, Some(_)) => {
                out.push(Change::new(Rule::OperationAdded, op, "", "operation added"));
                continue;
            }
            (Some(x), Some(y)) => (x, y),
            (None, None) => continue,
        };
        if x.action != y.action {
            let text = format!("action changed from {} to {}", x.action, y.action);
            out.push(Change::new(Rule::OperationChanged, &op, "", text));
        }
        let (cx, cy) = (
            channel_and_message(&x.channel.reference).0,
            channel_and_message(&y.channel.reference).0,
        );
        if cx != cy {
            let text = format!("channel changed from {cx} to {cy}");
            out.push(Change::new(Rule::OperationChanged, &op, "", text));
            continue;
        }
        operation_messages(x, y, &op, out);
    }
}

/// The messages an operation in both documents names (none named: all of the channel's).
fn operation_messages(x: &Operation, y: &Operation, op: &str, out: &mut Vec<Change>) {
    let names = |o: &Operation| -> BTreeSet<String> {
        o.messages
            .iter()
            .map(|m| match channel_and_message(&m.reference) {
                (_, Some(m)) => m,
                (c, None) => c,
            })
            .collect()
    };
    let (was, is) = (names(x), names(y));
    match (was.is_empty(), is.is_empty()) {
        (true, true) => {}
        (true, false) => out.push(Change::new(
            Rule::MessageRemoved,
            op,
            "/messages",
            "now limited to some of the channel's messages",
        )),
        (false, true) => out.push(Change::new(
            Rule::MessageAdded,
            op,
            "/messages",
            "now concerns every message of the channel",
        )),
        (false, false) => {
            for m in was.difference(&is) {
                let at = format!("/messages/{}", escape(m));
                out.push(Change::new(
                    Rule::MessageRemoved,
                    op,
                    at,
                    "message removed from the operation",
                ));
            }
            for m in is.difference(&was) {
                let at = format!("/messages/{}", escape(m));
                out.push(Change::new(
                    Rule::MessageAdded,
                    op,
                    at,
                    "message added to the operation",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
