//! RFC 9457 problem details, the error shape of every simulator, and the catalog of every
//! problem code (`contracts/problems.yaml`): [`Problem::of`] takes a code's status and title
//! from it, so what the simulators answer and what the docs say cannot drift.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The text of `contracts/problems.yaml`.
pub const CATALOG: &str = include_str!("../problems.yaml");

/// What a middleware should do with a problem code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Remedy {
    /// Try again later.
    Retry,
    /// Fetch a new token, then retry.
    Reauthenticate,
    /// A business rejection: keep it visible, do not retry blindly.
    DeadLetter,
    /// The effect is already there.
    Done,
    /// The call itself is wrong.
    Fix,
    /// Only the admin API answers it.
    Admin,
}

/// One code of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemDef {
    /// Stable code (`stock-deficit`).
    pub code: String,
    /// HTTP status.
    pub status: u16,
    /// Title.
    pub title: String,
    /// The systems that answer it (`erp`, `mes`, …).
    pub systems: Vec<String>,
    /// What a middleware should do.
    #[serde(rename = "do")]
    pub remedy: Remedy,
    /// When it is answered.
    pub when: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogDoc {
    #[allow(dead_code)]
    version: u32,
    problems: Vec<ProblemDef>,
}

/// Every problem code, as `contracts/problems.yaml` lists them.
///
/// # Panics
/// Never in a released build: the embedded file is parsed by this crate's tests.
pub fn catalog() -> &'static [ProblemDef] {
    static CAT: OnceLock<Vec<ProblemDef>> = OnceLock::new();
    CAT.get_or_init(|| {
        serde_norway::from_str::<CatalogDoc>(CATALOG)
            .unwrap_or_else(|e| panic!("contracts/problems.yaml: {e}"))
            .problems
    })
}

/// The catalog as Markdown (`docs/problems.md`).
pub fn markdown() -> String {
    let mut o = String::from(
        "# Problem codes\n\n\
         Generated from [`contracts/problems.yaml`](../contracts/problems.yaml) by `andon docs problems`; \
         `cargo test` fails when this page and the file disagree, and when a simulator answers a code \
         the file does not list. Every error answer is `application/problem+json` (RFC 9457) with \
         `type` `https://andon.dev/problems/<code>`, `title`, `status`, `detail` and the stable `code`; \
         schema violations add `errors[]` with JSON pointers.\n\n\
         *What to do*: **retry** later (with backoff; wait out `Retry-After` when given, and pause \
         every call to that system meanwhile); **reauthenticate** (fetch a new token, then retry); \
         **dead-letter** (a business rejection: keep it visible and do not retry it blindly — \
         [`flows.md`](flows.md) lists, per call, which of these a right call may get); **done** (the \
         effect is already there); **fix** (the call is wrong: a bug of the middleware); **admin** \
         (only the admin API `/_andon/…` answers it). A 422 `reject` fault answers with whatever \
         code and status the scenario names.\n\n\
         | code | status | title | answered by | what to do | when |\n|---|---|---|---|---|---|\n",
    );
    for d in catalog() {
        let remedy = match d.remedy {
            Remedy::Retry => "retry",
            Remedy::Reauthenticate => "reauthenticate",
            Remedy::DeadLetter => "dead-letter",
            Remedy::Done => "done",
            Remedy::Fix => "fix",
            Remedy::Admin => "admin",
        };
        o.push_str(&format!(
            "| `{}` | {} | {} | {} | {remedy} | {} |\n",
            d.code,
            d.status,
            d.title,
            d.systems
                .iter()
                .map(|s| s.to_uppercase())
                .collect::<Vec<_>>()
                .join(", "),
            d.when.replace('|', "\\|")
        ));
    }
    o
}

/// The catalog entry of a code.
pub fn definition(code: &str) -> Option<&'static ProblemDef> {
    catalog().iter().find(|d| d.code == code)
}

/// One field-level violation, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldError {
    /// JSON pointer to the field (`/items/0/quantity`).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// `application/problem+json` body (RFC 9457) with andon's stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `https://andon.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short human title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Message modelled on the real system's.
    pub detail: String,
    /// Stable machine code (`stock-deficit`).
    pub code: String,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Field-level violations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Base of problem type URIs.
pub const PROBLEM_BASE: &str = "https://andon.dev/problems/";

impl Problem {
    /// A problem with a stable code.
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: format!("{PROBLEM_BASE}{code}"),
            title: title.to_string(),
            status,
            detail: detail.into(),
            code: code.to_string(),
            instance: None,
            errors: Vec::new(),
        }
    }

    /// A problem of a catalogued code: its status and title from `contracts/problems.yaml`.
    /// A code the catalog does not list is a bug of andon: it panics in debug builds (so
    /// every test that reaches it fails) and answers 500 otherwise.
    pub fn of(code: &str, detail: impl Into<String>) -> Self {
        match definition(code) {
            Some(d) => Self::new(d.status, code, &d.title, detail),
            None => {
                debug_assert!(
                    false,
                    "problem code {code:?} is not in contracts/problems.yaml"
                );
                Self::new(500, code, "Uncatalogued problem", detail)
            }
        }
    }

    /// Adds field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets the instance (request path).
    pub fn at(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_with_unique_codes_and_answers_take_their_status_from_it() {
        let codes: std::collections::BTreeSet<&str> =
            catalog().iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes.len(), catalog().len(), "codes are unique");
        let p = Problem::of("stock-deficit", "Deficit of SL Unrestricted-use 10 KG");
        assert_eq!((p.status, p.title.as_str()), (422, "Deficit of stock"));
        assert_eq!(p.type_, "https://andon.dev/problems/stock-deficit");
    }
}
