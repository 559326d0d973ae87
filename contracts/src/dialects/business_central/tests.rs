use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

/// The dialect's README, as written.
const README: &str = include_str!("../../../dialects/business-central/README.md");

/// The part of the README between `<!-- generated from FILE: begin -->` and its end marker.
fn generated(file: &str) -> &'static str {
    let begin = format!("<!-- generated from {file}: begin -->\n");
    let end = format!("<!-- generated from {file}: end -->");
    let from = README
        .find(&begin)
        .unwrap_or_else(|| panic!("README.md has no {begin}"))
        + begin.len();
    let to = README[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("README.md has no {end}"))
        + from;
    &README[from..to]
}

#[test]
fn every_yaml_file_reads() {
    let t: Table = serde_norway::from_str(ERRORS).expect("errors.yaml");
    assert_eq!(t.errors.len(), errors().len());
    let _: Limits = serde_norway::from_str(LIMITS).expect("limits.yaml");
    let u = crate::dialects::read_unjudged(UNJUDGED).expect("unjudged.yaml");
    assert_eq!(u.len(), unjudged().len());
    assert!(u.iter().all(|u| u.event.is_some() != u.route.is_some()));
    assert!(
        u.iter()
            .all(|u| u.field.starts_with('/') && !u.why.is_empty())
    );
    let a: Value = serde_norway::from_str(ASYNCAPI).expect("asyncapi.yaml");
    assert_eq!(a["asyncapi"], "3.0.0");
    for (release, _) in OPENAPI {
        let doc = openapi_json(release).expect("the OpenAPI document reads as JSON");
        assert_eq!(doc["openapi"], "3.0.3", "{release}");
        assert_eq!(doc["info"]["version"], *release);
    }
    assert!(openapi_json("23").is_none());
    assert_eq!(RELEASES.last(), Some(&NEWEST));
}

#[test]
fn the_error_table_names_only_known_problem_codes_once_per_case() {
    let catalog = crate::problem::catalog();
    let mut seen = BTreeSet::new();
    for row in errors() {
        assert!(
            ["precondition-required", "precondition-failed"].contains(&row.problem.as_str())
                || catalog.iter().any(|p| p.code == row.problem),
            "{} is not a problem code of docs/problems.md",
            row.problem
        );
        assert!(
            seen.insert((row.problem.clone(), row.case.clone())),
            "{} {:?} twice",
            row.problem,
            row.case
        );
        for release in RELEASES {
            let a = row.at(release);
            assert!(["bc", "modelled"].contains(&a.origin), "{}", row.problem);
            assert!((400..600).contains(&a.status), "{}", row.problem);
            assert!(
                a.code == "BadRequest" || a.code.contains('_'),
                "{} is not in BC's form",
                a.code
            );
        }
        assert!(
            row.releases.keys().all(|r| RELEASES.contains(&r.as_str())),
            "{}: a release andon does not simulate",
            row.problem
        );
    }
    for (problem, case) in &seen {
        if case.is_some() {
            assert!(
                seen.contains(&(problem.clone(), None)),
                "{problem}: no default row"
            );
        }
    }
}

#[test]
fn message_templates_use_only_known_placeholders() {
    for row in errors() {
        for release in RELEASES {
            let message = row.at(release).message;
            for part in message.split('{').skip(1) {
                let name = part.split('}').next().unwrap_or_default();
                assert!(
                    PLACEHOLDERS.contains(&name),
                    "{}: {{{name}}} is not in PLACEHOLDERS",
                    row.problem
                );
            }
        }
    }
    let a = error_of("stock-deficit", "24").expect("a row");
    assert_eq!(
        a.render(&[("item", "RM-1")]),
        "You have insufficient quantity of Item RM-1 on inventory."
    );
}

#[test]
fn release_25_changes_the_code_of_a_stock_deficit_and_nothing_else() {
    let changed: Vec<&ErrorRow> = errors().iter().filter(|r| !r.releases.is_empty()).collect();
    assert_eq!(changed.len(), 1);
    let (old, new) = (
        error_of("stock-deficit", "24").expect("24"),
        error_of("stock-deficit", "25").expect("25"),
    );
    assert_eq!(old.code, "Application_DialogException");
    assert_eq!(new.code, "Application_InsufficientInventory");
    assert_eq!((old.status, new.status), (400, 400));
    assert_eq!(new.origin, "modelled");
    let required = error_case("invalid-request", "required", "25").expect("a row");
    assert_eq!(required.code, "BadRequest_RequiredParamNotProvided");
    let unknown_case = error_case("invalid-request", "no-such-case", "24").expect("fallback");
    assert_eq!(unknown_case.code, "BadRequest");
    assert!(error_of("work-order-exists", "25").is_none());
}

#[test]
fn the_limits_are_sane() {
    let l = limits();
    assert_eq!((l.requests_per_window, l.window_seconds), (6000, 300));
    assert_eq!(l.max_concurrent + l.max_queued, 100);
    assert!(l.max_concurrent > 0 && l.max_concurrent <= l.max_queued);
    assert_eq!(l.max_batch_operations, 100);
    assert!(l.handshake_timeout() < l.window());
    assert!(l.retry_after_seconds >= 1 && l.retry_after() < l.window());
    assert_eq!(l.subscription_lifetime(), chrono::TimeDelta::days(3));
    assert_eq!(l.max_subscriptions, 200);
}

/// The schema `name` of the OpenAPI document `doc`.
fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// The strings of the array at `v`.
fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn release_25_requires_the_unit_and_the_posting_date_of_item_journal_lines() {
    for (release, required) in [("24", false), ("25", true)] {
        let doc = openapi_json(release).expect("reads");
        let req = strings(&schema(&doc, "ItemJournalLineCreate")["required"]);
        for field in ["postingDate", "unitOfMeasureCode"] {
            assert_eq!(req.contains(field), required, "{release} {field}");
        }
        for field in ["documentNumber", "entryType", "itemNumber", "quantity"] {
            assert!(req.contains(field), "{release} {field}");
        }
    }
}

#[test]
fn an_item_journal_line_can_answer_every_400_code_of_its_release() {
    for release in RELEASES {
        let doc = openapi_json(release).expect("reads");
        let error = schema(&doc, "ItemJournalLineError");
        let listed = strings(&error["properties"]["error"]["properties"]["code"]["enum"]);
        let table: BTreeSet<String> = errors()
            .iter()
            .map(|r| r.at(release))
            .filter(|a| a.status == 400)
            .map(|a| a.code.to_string())
            .collect();
        assert_eq!(listed, table, "release {release}");
    }
}

#[test]
fn every_path_is_under_an_api_root_and_its_entity_sets_are_in_the_csdl() {
    for release in RELEASES {
        let doc = openapi_json(release).expect("reads");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 20, "{release}: {} paths", paths.len());
        for path in paths.keys() {
            let (api, rest) = ["standard", "manufacturing"]
                .iter()
                .find_map(|api| {
                    let root = format!("/{}/", api_root(api)?);
                    path.strip_prefix(&root).map(|rest| (*api, rest))
                })
                .unwrap_or_else(|| panic!("{path} is under no API root"));
            let csdl = metadata(release, api).expect("CSDL");
            assert!(
                csdl.contains("<edmx:Edmx Version=\"4.0\""),
                "{release} {api}"
            );
            assert!(
                csdl.contains("Namespace=\"Microsoft.NAV\""),
                "{release} {api}"
            );
            let set = rest.rsplit('/').next().unwrap_or(rest);
            let set = set.split('(').next().unwrap_or(set);
            if set.starts_with('$') {
                continue;
            }
            assert!(
                csdl.contains(&format!("EntitySet Name=\"{set}\""))
                    || csdl.contains(&format!("NavigationProperty Name=\"{set}\"")),
                "{release}: {set} of {path} is not in {api}.xml"
            );
        }
    }
    assert!(metadata("23", "standard").is_none());
    assert!(api_root("finance").is_none());
}

#[test]
fn every_property_of_a_create_body_is_in_the_csdl() {
    for release in RELEASES {
        let doc = openapi_json(release).expect("reads");
        let csdl = metadata(release, "manufacturing").expect("CSDL");
        for body in [
            "ItemJournalLineCreate",
            "OutputJournalLineCreate",
            "QualityNotificationCreate",
        ] {
            let props = schema(&doc, body)["properties"].as_object().expect("props");
            for p in props.keys() {
                assert!(
                    csdl.contains(&format!("Property Name=\"{p}\"")),
                    "{release} {body}.{p}"
                );
            }
        }
    }
}

#[test]
fn the_readme_holds_the_generated_tables() {
    assert_eq!(generated("errors.yaml"), errors_markdown());
    assert_eq!(generated("limits.yaml"), limits_markdown());
    assert_eq!(generated("unjudged.yaml"), unjudged_markdown());
}
