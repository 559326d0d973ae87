//! The vendor dialects' contract files (`contracts/dialects/`): what the simulators serve and
//! read, and what the documentation renders.

use serde::Deserialize;

pub mod business_central;

/// A field of andon's flows a vendor's API cannot carry (a dialect's `unjudged.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unjudged {
    /// The event kind whose derived field it is (`production_order.cancelled`).
    #[serde(default)]
    pub event: Option<String>,
    /// The call (`POST /api/v1/quality-notifications`).
    #[serde(default)]
    pub route: Option<String>,
    /// The field, as a JSON pointer into the call's body.
    pub field: String,
    /// How many characters the vendor's API keeps of it, when that is the limit.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Why.
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnjudgedFile {
    unjudged: Vec<Unjudged>,
}

/// The rows of an `unjudged.yaml` (`text`), or why it does not read.
fn read_unjudged(text: &str) -> Result<Vec<Unjudged>, serde_norway::Error> {
    serde_norway::from_str::<UnjudgedFile>(text).map(|t| t.unjudged)
}

/// SAP S/4HANA (OData V2): how andon's business rules answer, in SAP's error form.
pub mod s4hana {
    use std::sync::OnceLock;

    use serde::Deserialize;

    pub use super::Unjudged;

    /// `contracts/dialects/s4hana/errors.yaml` as written.
    pub const ERRORS: &str = include_str!("../dialects/s4hana/errors.yaml");

    /// One row of the error table: a problem code of andon's API and its SAP answer.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ErrorRow {
        /// andon's problem code (`stock-deficit`).
        pub problem: String,
        /// HTTP status.
        pub status: u16,
        /// SAP message class and number (`M7/021`).
        pub code: String,
        /// `sap` (S/4HANA's own message) or `modelled`.
        pub origin: String,
        /// The application component in `innererror.application.component_id`.
        pub component: String,
        /// What it means.
        pub meaning: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        errors: Vec<ErrorRow>,
    }

    /// The error table (empty if the file is broken, which a test rules out).
    pub fn errors() -> &'static [ErrorRow] {
        static TABLE: OnceLock<Vec<ErrorRow>> = OnceLock::new();
        TABLE.get_or_init(|| {
            serde_norway::from_str::<Table>(ERRORS)
                .map(|t| t.errors)
                .unwrap_or_default()
        })
    }

    /// The EDMX of each release and service: `(release, service, document)`.
    macro_rules! edmx {
        ($($release:literal: $($service:literal),+;)+) => {
            &[$($(($release, $service, include_str!(concat!(
                "../dialects/s4hana/", $release, "/metadata/", $service, ".xml")))),+),+]
        };
    }

    /// Every `$metadata` document andon serves.
    pub const METADATA: &[(&str, &str, &str)] = edmx! {
        "2408": "API_PRODUCTION_ORDER_2_SRV", "API_PROD_ORDER_CONFIRMATION_2_SRV",
            "API_MATERIAL_DOCUMENT_SRV", "API_MATERIAL_STOCK_SRV", "API_PRODUCT_SRV",
            "API_QUALITYNOTIFICATION_SRV";
        "2502": "API_PRODUCTION_ORDER_2_SRV", "API_PROD_ORDER_CONFIRMATION_2_SRV",
            "API_MATERIAL_DOCUMENT_SRV", "API_MATERIAL_STOCK_SRV", "API_PRODUCT_SRV",
            "API_QUALITYNOTIFICATION_SRV";
    };

    /// The OpenAPI document of each release, as written.
    pub const OPENAPI: &[(&str, &str)] = &[
        ("2408", include_str!("../dialects/s4hana/2408/openapi.yaml")),
        ("2502", include_str!("../dialects/s4hana/2502/openapi.yaml")),
    ];

    /// The AsyncAPI document of the SAP business events the dialect publishes.
    pub const ASYNCAPI: &str = include_str!("../dialects/s4hana/asyncapi.yaml");

    /// The `$metadata` (EDMX) of `service` at `release`, if andon serves it.
    pub fn metadata(release: &str, service: &str) -> Option<&'static str> {
        METADATA
            .iter()
            .find(|(r, s, _)| *r == release && *s == service)
            .map(|(_, _, doc)| *doc)
    }

    /// The OpenAPI document of `release`, as JSON (`None` for a release andon does not
    /// simulate, or a document that does not read, which a test rules out).
    pub fn openapi_json(release: &str) -> Option<serde_json::Value> {
        let (_, text) = OPENAPI.iter().find(|(r, _)| *r == release)?;
        serde_norway::from_str(text).ok()
    }

    /// `contracts/dialects/s4hana/unjudged.yaml` as written.
    pub const UNJUDGED: &str = include_str!("../dialects/s4hana/unjudged.yaml");

    /// The fields of andon's flows S/4HANA cannot carry.
    pub fn unjudged() -> &'static [Unjudged] {
        static TABLE: OnceLock<Vec<Unjudged>> = OnceLock::new();
        TABLE.get_or_init(|| super::read_unjudged(UNJUDGED).unwrap_or_default())
    }

    /// The row of `problem`, if the table has one.
    pub fn error_of(problem: &str) -> Option<&'static ErrorRow> {
        errors().iter().find(|r| r.problem == problem)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_unjudged_fields_read() {
            let t = crate::dialects::read_unjudged(super::UNJUDGED).expect("reads");
            assert_eq!(t.len(), super::unjudged().len());
            assert!(t.iter().all(|u| u.event.is_some() != u.route.is_some()));
        }

        #[test]
        fn every_release_has_its_documents() {
            for release in ["2408", "2502"] {
                let doc = super::openapi_json(release).expect("the OpenAPI document reads");
                assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
                for service in ["API_MATERIAL_DOCUMENT_SRV", "API_PRODUCT_SRV"] {
                    let x = super::metadata(release, service).expect("EDMX");
                    assert!(
                        x.contains(&format!("Namespace=\"{service}\"")),
                        "{release} {service}"
                    );
                }
            }
            assert!(super::metadata("1909", "API_PRODUCT_SRV").is_none());
            let a: serde_json::Value = serde_norway::from_str(super::ASYNCAPI).expect("AsyncAPI");
            assert_eq!(a["asyncapi"], "3.0.0");
        }

        #[test]
        fn the_error_table_reads_and_names_only_known_problem_codes() {
            let t: super::Table = serde_norway::from_str(super::ERRORS).expect("errors.yaml");
            assert!(t.errors.len() >= 20);
            let catalog = crate::problem::catalog();
            for row in &t.errors {
                assert!(
                    ["precondition-required", "precondition-failed"]
                        .contains(&row.problem.as_str())
                        || catalog.iter().any(|p| p.code == row.problem),
                    "{} is not a problem code of docs/problems.md",
                    row.problem
                );
                assert!(["sap", "modelled"].contains(&row.origin.as_str()));
            }
        }
    }
}
