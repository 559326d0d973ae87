//! Security requirements: an operation accepts any one of its alternatives, each a set of
//! schemes (with scopes) that must all be satisfied; none declared is one empty alternative
//! (no authentication). A client that got in one way before still gets in when some new
//! alternative asks no more of it — otherwise a requirement was added (breaking). A new
//! alternative that asks less than every old one relaxes the requirement (compatible).

use std::collections::{BTreeMap, BTreeSet};

use oas3::spec::SecurityRequirement;

use crate::contract_diff::change::Change;
use crate::contract_diff::rules::Rule;

/// One way in: scheme name → scopes.
pub type Alternative = BTreeMap<String, BTreeSet<String>>;

/// The alternatives of an operation: its own `security` when it declares one (`explicit`),
/// else the document's.
pub fn effective(
    own: &[SecurityRequirement],
    explicit: bool,
    global: &[SecurityRequirement],
) -> Vec<Alternative> {
    let declared = if explicit { own } else { global };
    if declared.is_empty() {
        return vec![Alternative::new()];
    }
    declared
        .iter()
        .map(|r| {
            r.0.iter()
                .map(|(scheme, scopes)| (scheme.clone(), scopes.iter().cloned().collect()))
                .collect()
        })
        .collect()
}

/// Whether a client satisfying `client` satisfies `needed` as well.
fn satisfies(client: &Alternative, needed: &Alternative) -> bool {
    needed.iter().all(|(scheme, scopes)| {
        client
            .get(scheme)
            .is_some_and(|have| scopes.is_subset(have))
    })
}

/// The security rules between the alternatives of one operation.
pub fn compare(old: &[Alternative], new: &[Alternative], operation: &str, out: &mut Vec<Change>) {
    for client in old {
        if !new.iter().any(|needed| satisfies(client, needed)) {
            out.push(Change::new(
                Rule::SecurityRequirementAdded,
                operation,
                "/security",
                format!("{} no longer accepted: now {}", show(client), show_all(new)),
            ));
        }
    }
    for alt in new {
        if !old.iter().any(|before| satisfies(alt, before)) {
            out.push(Change::new(
                Rule::SecurityRelaxed,
                operation,
                "/security",
                format!("{} now accepted", show(alt)),
            ));
        }
    }
}

fn show(alt: &Alternative) -> String {
    if alt.is_empty() {
        return "no authentication".into();
    }
    alt.iter()
        .map(|(scheme, scopes)| {
            if scopes.is_empty() {
                scheme.clone()
            } else {
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                format!("{scheme}({})", scopes.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

fn show_all(alts: &[Alternative]) -> String {
    alts.iter().map(show).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt(schemes: &[(&str, &[&str])]) -> Alternative {
        schemes
            .iter()
            .map(|(s, scopes)| {
                (
                    s.to_string(),
                    scopes.iter().map(|x| x.to_string()).collect(),
                )
            })
            .collect()
    }

    fn rules(old: &[Alternative], new: &[Alternative]) -> Vec<(Rule, String)> {
        let mut out = Vec::new();
        compare(old, new, "GET /x", &mut out);
        out.into_iter().map(|c| (c.rule, c.change)).collect()
    }

    #[test]
    fn a_requirement_added_where_there_was_none_is_breaking() {
        let none = vec![Alternative::new()];
        let bearer = vec![alt(&[("bearer", &[])])];
        assert_eq!(
            rules(&none, &bearer),
            vec![(
                Rule::SecurityRequirementAdded,
                "no authentication no longer accepted: now bearer".to_string()
            )]
        );
        assert_eq!(
            rules(&bearer, &none),
            vec![(
                Rule::SecurityRelaxed,
                "no authentication now accepted".to_string()
            )]
        );
        assert!(rules(&bearer, &bearer).is_empty());
    }

    #[test]
    fn a_scope_more_is_a_requirement_added_and_an_alternative_more_a_relaxation() {
        let read = vec![alt(&[("oauth", &["read"])])];
        let read_write = vec![alt(&[("oauth", &["read", "write"])])];
        assert_eq!(
            rules(&read, &read_write)[0].0,
            Rule::SecurityRequirementAdded
        );
        let either = vec![alt(&[("oauth", &["read"])]), alt(&[("key", &[])])];
        assert_eq!(
            rules(&read, &either),
            vec![(Rule::SecurityRelaxed, "key now accepted".to_string())]
        );
    }
}
