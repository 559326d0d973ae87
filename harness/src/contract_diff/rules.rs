//! The rules: every kind of change `andon contract diff` reports, with its severity, in
//! the order `docs/contract-diff.md` lists them (that page's table is [`markdown`], and a
//! test fails when the page is stale).
//!
//! The point of view is the other party's — a client of an OpenAPI server, the peer of an
//! AsyncAPI application: a change is **breaking** when something that party did correctly
//! against the old document can fail against the new one. Data flows two ways, and each
//! field rule exists once per way:
//! * **input** — what the other party writes and the documented side reads: request
//!   parameters and bodies, and the payloads of messages an AsyncAPI application
//!   *receives*;
//! * **output** — what the documented side writes and the other party reads: response
//!   bodies, and the payloads of messages an AsyncAPI application *sends*.
//!
//! A message no operation names is judged both ways (the stricter verdict wins).
//! Descriptions, titles, examples, formats, patterns, lengths and numeric bounds are not
//! compared.

use serde::Serialize;

/// Breaking or compatible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something a conforming client or peer did can fail now.
    Breaking,
    /// Nothing a conforming client or peer did can fail (notes included).
    Compatible,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Breaking => "BREAKING",
            Self::Compatible => "compatible",
        })
    }
}

/// One rule: a kind of change. The variants are in the order of the documentation, which
/// is the order of [`RULES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// An OpenAPI operation (path + method) or an AsyncAPI operation removed.
    OperationRemoved,
    /// A parameter added as required, or an optional one made required.
    ParameterNewlyRequired,
    /// A request body added as required, or an optional one made required.
    RequestBodyNewlyRequired,
    /// A media type of a request body or response removed.
    MediaTypeRemoved,
    /// A success status code (2xx) removed.
    SuccessStatusRemoved,
    /// A security requirement added: a way in that was accepted is refused.
    SecurityRequirementAdded,
    /// Input: a new field that is required.
    InputFieldNewlyRequired,
    /// Input: an optional field made required.
    InputFieldMadeRequired,
    /// Input: a field removed from a schema with `additionalProperties: false`.
    InputFieldRemovedClosed,
    /// Input: a schema newly closed with `additionalProperties: false`.
    InputSchemaClosed,
    /// Input: a type changed so that a value accepted before is refused.
    InputTypeChanged,
    /// Input: enum values removed (or an enum imposed).
    InputEnumValuesRemoved,
    /// Output: a required field removed.
    OutputFieldRemoved,
    /// Output: a required field made optional.
    OutputFieldMadeOptional,
    /// Output: a type changed so that a value never seen before can come.
    OutputTypeChanged,
    /// Output: enum values added to a field of a closed schema.
    OutputEnumValuesAddedClosed,
    /// An AsyncAPI channel removed.
    ChannelRemoved,
    /// An AsyncAPI channel's address changed.
    ChannelAddressChanged,
    /// A message removed from a channel or an operation.
    MessageRemoved,
    /// An AsyncAPI operation's action (send/receive) or channel changed.
    OperationChanged,
    /// A payload in a schema format other than JSON Schema changed.
    PayloadFormatChanged,
    /// An operation added.
    OperationAdded,
    /// An optional parameter added.
    ParameterAdded,
    /// A required parameter made optional.
    ParameterMadeOptional,
    /// A parameter removed.
    ParameterRemoved,
    /// A request body added as optional, made optional, or removed.
    RequestBodyRelaxed,
    /// A media type added.
    MediaTypeAdded,
    /// A status code other than 2xx removed.
    StatusRemoved,
    /// A status code added.
    StatusAdded,
    /// A security requirement relaxed: a new way in is accepted.
    SecurityRelaxed,
    /// Input: an optional field added.
    InputOptionalFieldAdded,
    /// Input: a required field made optional.
    InputFieldMadeOptional,
    /// Input: a field removed from an open schema.
    InputFieldRemoved,
    /// Input: a type widened.
    InputTypeWidened,
    /// Input: enum values added (or the enum lifted).
    InputEnumValuesAdded,
    /// Output: enum values added to a field of an open schema.
    OutputEnumValuesAdded,
    /// Output: a field added.
    OutputFieldAdded,
    /// Output: an optional field removed.
    OutputOptionalFieldRemoved,
    /// Output: an optional field made required.
    OutputFieldMadeRequired,
    /// Output: a type narrowed.
    OutputTypeNarrowed,
    /// Output: enum values removed.
    OutputEnumValuesRemoved,
    /// An AsyncAPI channel added.
    ChannelAdded,
    /// A message added to a channel or an operation.
    MessageAdded,
}

use Rule::*;
use Severity::{Breaking, Compatible};

/// One row of the list.
#[derive(Debug, Clone, Copy)]
pub struct RuleRow {
    /// The rule.
    pub rule: Rule,
    /// Breaking or compatible.
    pub severity: Severity,
    /// Its stable name, as the JSON output gives it.
    pub name: &'static str,
    /// When it applies.
    pub when: &'static str,
}

const fn row(rule: Rule, severity: Severity, name: &'static str, when: &'static str) -> RuleRow {
    RuleRow {
        rule,
        severity,
        name,
        when,
    }
}

/// The list: every rule with its severity, its name and when it applies, breaking first.
pub const RULES: [RuleRow; 43] = [
    row(
        OperationRemoved,
        Breaking,
        "operation-removed",
        "an operation (OpenAPI: path and method; AsyncAPI: operation) removed",
    ),
    row(
        ParameterNewlyRequired,
        Breaking,
        "parameter-newly-required",
        "a parameter added as required, or an optional parameter made required",
    ),
    row(
        RequestBodyNewlyRequired,
        Breaking,
        "request-body-newly-required",
        "a request body added as required, or an optional one made required",
    ),
    row(
        MediaTypeRemoved,
        Breaking,
        "media-type-removed",
        "a media type of a request body or of a response removed",
    ),
    row(
        SuccessStatusRemoved,
        Breaking,
        "success-status-removed",
        "a success status code (2xx) removed",
    ),
    row(
        SecurityRequirementAdded,
        Breaking,
        "security-requirement-added",
        "a security requirement added: a way of authenticating that was accepted (or none) is refused",
    ),
    row(
        InputFieldNewlyRequired,
        Breaking,
        "input-field-newly-required",
        "request or received message: a new field that is required",
    ),
    row(
        InputFieldMadeRequired,
        Breaking,
        "input-field-made-required",
        "request or received message: an optional field made required",
    ),
    row(
        InputFieldRemovedClosed,
        Breaking,
        "input-field-removed-closed",
        "request or received message: a field removed from a schema with `additionalProperties: false` (senders of it now fail)",
    ),
    row(
        InputSchemaClosed,
        Breaking,
        "input-schema-closed",
        "request or received message: `additionalProperties: false` added to a schema",
    ),
    row(
        InputTypeChanged,
        Breaking,
        "input-type-changed",
        "request or received message: a type changed so that a value accepted before is refused (`oneOf`/`anyOf` alternatives removed included)",
    ),
    row(
        InputEnumValuesRemoved,
        Breaking,
        "input-enum-values-removed",
        "request or received message: enum values removed, or an enum imposed on a field that had none",
    ),
    row(
        OutputFieldRemoved,
        Breaking,
        "output-field-removed",
        "response or sent message: a required field removed",
    ),
    row(
        OutputFieldMadeOptional,
        Breaking,
        "output-field-made-optional",
        "response or sent message: a required field made optional",
    ),
    row(
        OutputTypeChanged,
        Breaking,
        "output-type-changed",
        "response or sent message: a type changed so that a value never seen before can come (`null` and `oneOf`/`anyOf` alternatives added included)",
    ),
    row(
        OutputEnumValuesAddedClosed,
        Breaking,
        "output-enum-values-added-closed",
        "response or sent message: enum values added (or the enum lifted) on a field of a closed schema (`additionalProperties: false`)",
    ),
    row(
        ChannelRemoved,
        Breaking,
        "channel-removed",
        "AsyncAPI: a channel removed",
    ),
    row(
        ChannelAddressChanged,
        Breaking,
        "channel-address-changed",
        "AsyncAPI: a channel's address changed",
    ),
    row(
        MessageRemoved,
        Breaking,
        "message-removed",
        "AsyncAPI: a message removed from a channel or an operation",
    ),
    row(
        OperationChanged,
        Breaking,
        "operation-changed",
        "AsyncAPI: an operation's action (send/receive) or channel changed",
    ),
    row(
        PayloadFormatChanged,
        Breaking,
        "payload-format-changed",
        "AsyncAPI: a payload in a schema format other than JSON Schema changed (it is not compared field by field)",
    ),
    row(
        OperationAdded,
        Compatible,
        "operation-added",
        "an operation added",
    ),
    row(
        ParameterAdded,
        Compatible,
        "parameter-added",
        "an optional parameter added",
    ),
    row(
        ParameterMadeOptional,
        Compatible,
        "parameter-made-optional",
        "a required parameter made optional",
    ),
    row(
        ParameterRemoved,
        Compatible,
        "parameter-removed",
        "a parameter removed (one still sent is ignored)",
    ),
    row(
        RequestBodyRelaxed,
        Compatible,
        "request-body-relaxed",
        "a request body added as optional, made optional, or removed",
    ),
    row(
        MediaTypeAdded,
        Compatible,
        "media-type-added",
        "a media type added",
    ),
    row(
        StatusRemoved,
        Compatible,
        "status-removed",
        "a status code other than 2xx removed",
    ),
    row(
        StatusAdded,
        Compatible,
        "status-added",
        "a status code added",
    ),
    row(
        SecurityRelaxed,
        Compatible,
        "security-relaxed",
        "a security requirement relaxed: a new way of authenticating is accepted",
    ),
    row(
        InputOptionalFieldAdded,
        Compatible,
        "input-optional-field-added",
        "request or received message: an optional field added",
    ),
    row(
        InputFieldMadeOptional,
        Compatible,
        "input-field-made-optional",
        "request or received message: a required field made optional",
    ),
    row(
        InputFieldRemoved,
        Compatible,
        "input-field-removed",
        "request or received message: a field removed from an open schema (one still sent is ignored)",
    ),
    row(
        InputTypeWidened,
        Compatible,
        "input-type-widened",
        "request or received message: a type widened (every value accepted before still is)",
    ),
    row(
        InputEnumValuesAdded,
        Compatible,
        "input-enum-values-added",
        "request or received message: enum values added, or the enum lifted",
    ),
    row(
        OutputEnumValuesAdded,
        Compatible,
        "output-enum-values-added",
        "response or sent message: enum values added (or the enum lifted) on a field of an open schema — a note: a client should handle values it does not know",
    ),
    row(
        OutputFieldAdded,
        Compatible,
        "output-field-added",
        "response or sent message: a field added",
    ),
    row(
        OutputOptionalFieldRemoved,
        Compatible,
        "output-optional-field-removed",
        "response or sent message: an optional field removed",
    ),
    row(
        OutputFieldMadeRequired,
        Compatible,
        "output-field-made-required",
        "response or sent message: an optional field made required",
    ),
    row(
        OutputTypeNarrowed,
        Compatible,
        "output-type-narrowed",
        "response or sent message: a type narrowed (every value that can come could before)",
    ),
    row(
        OutputEnumValuesRemoved,
        Compatible,
        "output-enum-values-removed",
        "response or sent message: enum values removed, or an enum imposed",
    ),
    row(
        ChannelAdded,
        Compatible,
        "channel-added",
        "AsyncAPI: a channel added",
    ),
    row(
        MessageAdded,
        Compatible,
        "message-added",
        "AsyncAPI: a message added to a channel or an operation",
    ),
];

// Row i is the rule whose discriminant is i, and every rule has a row.
const _: () = {
    let mut i = 0;
    while i < RULES.len() {
        assert!(RULES[i].rule as usize == i);
        i += 1;
    }
    assert!(MessageAdded as usize == RULES.len() - 1);
};

impl Rule {
    /// The rule's row of [`RULES`].
    pub fn row(self) -> &'static RuleRow {
        &RULES[self as usize]
    }

    /// Breaking or compatible.
    pub fn severity(self) -> Severity {
        self.row().severity
    }

    /// The stable name (`input-field-newly-required`), as the JSON output gives it.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// When the rule applies, in a sentence fragment.
    pub fn when(self) -> &'static str {
        self.row().when
    }
}

/// The rules as a Markdown table (severity, name, when), as `docs/contract-diff.md` holds it.
pub fn markdown() -> String {
    let mut out = String::from("| Severity | Rule | When |\n| --- | --- | --- |\n");
    for r in &RULES {
        out.push_str(&format!("| {} | `{}` | {} |\n", r.severity, r.name, r.when));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_listed_once_with_a_unique_name_breaking_first() {
        let names: std::collections::BTreeSet<_> = RULES.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), RULES.len());
        let first_compatible = RULES
            .iter()
            .position(|r| r.severity == Compatible)
            .expect("a compatible rule");
        assert!(
            RULES[first_compatible..]
                .iter()
                .all(|r| r.severity == Compatible)
        );
    }

    #[test]
    fn the_documentation_holds_the_current_list() {
        let page =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/contract-diff.md");
        let page = std::fs::read_to_string(page).expect("docs/contract-diff.md");
        assert!(
            page.contains(&markdown()),
            "docs/contract-diff.md is stale: its rule table must be\n{}",
            markdown()
        );
    }
}
