//! What a run's report says about vendor dialects: which dialect and release the SUT's calls
//! were made in, when a plant's ERP was cut over to another release, and — when a run saw
//! two releases of one dialect (a rollout in progress, an upgrade cut over) — what changed
//! between their contracts, as `andon contract diff` reports it.

use std::collections::BTreeSet;
use std::path::Path;

use andon_simulators::history::{Entry, Record};
use chrono::{DateTime, Utc};

use crate::contract_diff::{Document, diff};

/// The vendor dialects of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialectSummary {
    /// Every dialect and release a call was made in (`s4hana@2408`), sorted.
    pub used: Vec<String>,
    /// Cut-overs: when, and the plants' new dialects as the ERP noted them.
    pub cutovers: Vec<(DateTime<Utc>, String)>,
    /// Per vendor dialect, the contract changes between the oldest and the newest release
    /// used, when there are two.
    pub diffs: Vec<ReleaseDiff>,
}

/// What changed between two releases' contracts.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseDiff {
    /// The older release (`s4hana@2408`).
    pub old: String,
    /// The newer release.
    pub new: String,
    /// Each change.
    pub changes: Vec<ChangeRow>,
}

/// One change between two releases.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    /// Whether it breaks a client of the older release.
    pub breaking: bool,
    /// The operation.
    pub operation: String,
    /// Where in it.
    pub pointer: String,
    /// What changed.
    pub change: String,
}

impl DialectSummary {
    /// Whether there is anything to say (a run on andon's own API only has nothing).
    pub fn is_empty(&self) -> bool {
        self.used.is_empty() && self.cutovers.is_empty()
    }
}

/// The summary of `records`.
pub fn summarize(records: &[Record]) -> DialectSummary {
    let mut used = BTreeSet::new();
    let mut cutovers = Vec::new();
    for r in records {
        match &r.entry {
            Entry::Request(req) => {
                if let Some(d) = &req.dialect {
                    used.insert(d.dialect.trim_end_matches(" ($batch)").to_string());
                }
            }
            Entry::Note { name, detail } if name == "dialects" => {
                cutovers.push((r.at, detail.to_value().to_string()));
            }
            _ => {}
        }
    }
    let used: Vec<String> = used.into_iter().collect();
    let diffs = ["s4hana", "business-central"]
        .into_iter()
        .filter_map(|dialect| {
            let releases: Vec<&str> = used
                .iter()
                .filter_map(|u| u.strip_prefix(dialect)?.strip_prefix('@'))
                .collect();
            match (releases.first(), releases.last()) {
                (Some(old), Some(new)) if old != new => release_diff(dialect, old, new),
                _ => None,
            }
        })
        .collect();
    DialectSummary {
        used,
        cutovers,
        diffs,
    }
}

/// The contract changes of `dialect` from release `old` to `new`.
fn release_diff(dialect: &str, old: &str, new: &str) -> Option<ReleaseDiff> {
    let documents = match dialect {
        "s4hana" => andon_contracts::dialects::s4hana::OPENAPI,
        _ => andon_contracts::dialects::business_central::OPENAPI,
    };
    let doc = |release: &str| {
        let (_, text) = documents.iter().find(|(r, _)| *r == release)?;
        let name = format!("contracts/dialects/{dialect}/{release}/openapi.yaml");
        Document::parse(Path::new(&name), text).ok()
    };
    let d = diff(&doc(old)?, &doc(new)?).ok()?;
    let changes = d
        .changes()
        .iter()
        .map(|c| ChangeRow {
            breaking: c.severity == crate::contract_diff::Severity::Breaking,
            operation: c.operation.clone(),
            pointer: c.pointer.clone(),
            change: c.change.clone(),
        })
        .collect();
    Some(ReleaseDiff {
        old: format!("{dialect}@{old}"),
        new: format!("{dialect}@{new}"),
        changes,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_changes_from_2408_to_2502_include_the_iso_unit() {
        let d = super::release_diff("s4hana", "2408", "2502").expect("a diff");
        assert_eq!(
            (d.old.as_str(), d.new.as_str()),
            ("s4hana@2408", "s4hana@2502")
        );
        assert!(
            d.changes
                .iter()
                .any(|c| c.breaking && c.pointer.ends_with("EntryUnitISOCode"))
        );
    }

    #[test]
    fn the_changes_from_24_to_25_make_the_unit_and_date_required() {
        let d = super::release_diff("business-central", "24", "25").expect("a diff");
        assert_eq!(d.old, "business-central@24");
        let breaking: Vec<&str> = d
            .changes
            .iter()
            .filter(|c| c.breaking)
            .map(|c| c.pointer.as_str())
            .collect();
        assert!(
            breaking.iter().any(|p| p.ends_with("unitOfMeasureCode")),
            "{breaking:?}"
        );
        assert!(
            breaking.iter().any(|p| p.ends_with("postingDate")),
            "{breaking:?}"
        );
    }
}
