//! What a diff found: the changes, each with its severity, where (operation or channel, and
//! a pointer into the data) and what, and their three renderings — text for the terminal,
//! JSON for tools, Markdown for run reports.

use serde::Serialize;

use super::rules::{Rule, Severity};

/// One change between the two documents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// Breaking or compatible (the rule's).
    pub severity: Severity,
    /// The operation (`POST /api/v1/confirmations`, `operation erpSendEvents`) or channel
    /// (`channel erp`) it concerns.
    pub operation: String,
    /// Where inside it: `/requestBody/yield/value`, `/responses/201/status`,
    /// `/parameters/query/plant`, `/messages/material.changed/payload/data/plant`; `[]`
    /// stands for the items of an array. Empty for the operation or channel as a whole.
    pub pointer: String,
    /// What changed, in words.
    pub change: String,
    /// The rule that classified it.
    #[serde(serialize_with = "rule_name")]
    pub rule: Rule,
}

fn rule_name<S: serde::Serializer>(rule: &Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.name())
}

impl Change {
    /// A change classified by `rule`.
    pub fn new(
        rule: Rule,
        operation: impl Into<String>,
        pointer: impl Into<String>,
        change: impl Into<String>,
    ) -> Self {
        Self {
            severity: rule.severity(),
            operation: operation.into(),
            pointer: pointer.into(),
            change: change.into(),
            rule,
        }
    }

    /// The pointer as printed: `-` for the whole operation or channel.
    fn shown_pointer(&self) -> &str {
        if self.pointer.is_empty() {
            "-"
        } else {
            &self.pointer
        }
    }
}

/// The changes between two contract documents, breaking first, then by operation, pointer
/// and wording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    changes: Vec<Change>,
}

impl Diff {
    /// The diff of these changes (sorted, duplicates dropped).
    pub fn new(mut changes: Vec<Change>) -> Self {
        changes.sort();
        changes.dedup();
        Self { changes }
    }

    /// Every change, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The breaking changes.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.severity == Severity::Breaking)
    }

    /// Whether anything breaking changed.
    pub fn is_breaking(&self) -> bool {
        self.breaking().next().is_some()
    }

    /// `3 breaking, 5 compatible changes`.
    pub fn summary(&self) -> String {
        let breaking = self.breaking().count();
        let compatible = self.changes.len() - breaking;
        format!("{breaking} breaking, {compatible} compatible changes")
    }

    /// One line per change (`BREAKING  POST /x  /requestBody/a  …`), then the summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            out.push_str(&format!(
                "{}  {}  {}  {}\n",
                c.severity,
                c.operation,
                c.shown_pointer(),
                c.change
            ));
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// `{"changes": [{severity, operation, pointer, change, rule}], "summary": {breaking,
    /// compatible, text}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let breaking = self.breaking().count();
        serde_json::json!({
            "changes": self.changes,
            "summary": {
                "breaking": breaking,
                "compatible": self.changes.len() - breaking,
                "text": self.summary(),
            }
        })
    }

    /// A Markdown table of the changes and the summary, for embedding in a run report.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        if self.changes.is_empty() {
            out.push_str("No changes.\n");
        } else {
            out.push_str(
                "| Severity | Operation | Pointer | Change |\n| --- | --- | --- | --- |\n",
            );
            for c in &self.changes {
                let severity = match c.severity {
                    Severity::Breaking => "**BREAKING**",
                    Severity::Compatible => "compatible",
                };
                out.push_str(&format!(
                    "| {severity} | `{}` | `{}` | {} |\n",
                    cell(&c.operation).replace('`', "'"),
                    cell(c.shown_pointer()).replace('`', "'"),
                    cell(&c.change)
                ));
            }
        }
        out.push('\n');
        out.push_str(&self.summary());
        out.push('\n');
        out
    }
}

/// Text made safe for one cell of a Markdown table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff() -> Diff {
        Diff::new(vec![
            Change::new(
                Rule::OutputFieldAdded,
                "GET /a",
                "/responses/200/x",
                "field added",
            ),
            Change::new(Rule::OperationRemoved, "POST /b", "", "operation removed"),
            Change::new(Rule::OperationRemoved, "POST /b", "", "operation removed"),
        ])
    }

    #[test]
    fn text_lists_breaking_first_then_the_summary() {
        assert_eq!(
            diff().to_text(),
            "BREAKING  POST /b  -  operation removed\n\
             compatible  GET /a  /responses/200/x  field added\n\
             1 breaking, 1 compatible changes\n"
        );
        assert!(diff().is_breaking());
        assert_eq!(diff().breaking().count(), 1);
        assert!(!Diff::default().is_breaking());
    }

    #[test]
    fn json_is_the_changes_and_the_summary() {
        let j = diff().to_json();
        assert_eq!(j["changes"][0]["severity"], "breaking");
        assert_eq!(j["changes"][0]["rule"], "operation-removed");
        assert_eq!(j["changes"][1]["pointer"], "/responses/200/x");
        assert_eq!(j["summary"]["breaking"], 1);
        assert_eq!(j["summary"]["text"], "1 breaking, 1 compatible changes");
    }

    #[test]
    fn markdown_is_a_table_with_cells_escaped() {
        let d = Diff::new(vec![Change::new(
            Rule::InputEnumValuesRemoved,
            "GET /a",
            "/parameters/query/kind",
            "enum values removed: \"a|b\"",
        )]);
        let md = d.to_markdown();
        assert!(md.starts_with("| Severity | Operation | Pointer | Change |\n"));
        assert!(md.contains(
            "| **BREAKING** | `GET /a` | `/parameters/query/kind` | enum values removed: \"a\\|b\" |"
        ));
        assert!(md.ends_with("\n1 breaking, 0 compatible changes\n"));
        assert!(Diff::default().to_markdown().starts_with("No changes."));
    }
}
