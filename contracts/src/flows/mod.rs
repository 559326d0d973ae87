//! The flows (`contracts/flows.yaml`): which calls realise which source event, field by
//! field, which problem codes a right call may get, and which codes mean "already done".
//!
//! The file is embedded at build time and parsed once ([`flows`]). [`Flow::expected`]
//! evaluates a flow's calls for one event into [`Expected`] calls (conditions decided,
//! `each` expanded, every field expression evaluated), and [`judge()`] compares a call the
//! middleware made with them and names every field it got wrong. The checkers of the
//! harness count effects and judge rejections with these; the docs render the same file.
//!
//! This module holds the model and its loading; the rest is in parts:
//! * `parse` — the model read from the YAML tree, with `at` paths in errors.
//! * `markdown` — [`Flows::markdown`], the document a third party reads.
//! * `in_place` — what exactly-once needs of a flow, read from an event's JSON text.
//! * `eval` — [`Facts`], [`Want`] and [`Expected`]: a flow's calls for one event.
//! * `judge` — [`judge()`] and its [`Mismatch`]es.
//!
//! ```
//! let flows = andon_contracts::flows::flows();
//! let consumed = flows.get(andon_contracts::EventKind::MaterialConsumed).unwrap();
//! assert_eq!(consumed.calls[0].route, "/api/v1/material-documents");
//! ```

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use crate::events::{EventKind, System};

mod eval;
mod in_place;
mod judge;
mod markdown;
mod parse;
#[cfg(test)]
mod tests;

pub use eval::{Applies, Expected, Facts, Want};
pub use judge::{Judgement, Mismatch, Sent, judge};

/// The text of `contracts/flows.yaml`.
pub const TEXT: &str = include_str!("../../flows.yaml");

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
