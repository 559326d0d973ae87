//! What the dialect reads from its contract files (`contracts/dialects/business-central/`):
//! the error table (per release), the documented limits and the `$metadata` documents.

use andon_contracts::dialects::business_central as bc;

pub use bc::Limits;

/// The status, Business Central error code and message template of andon's `problem` (its
/// `case`, when given) at `release` (`""`: as first written).
pub fn error_code(problem: &str, case: Option<&str>, release: &str) -> (u16, String, String) {
    let answer = match case {
        Some(c) => bc::error_case(problem, c, release),
        None => bc::error_of(problem, release),
    };
    answer
        .or_else(|| bc::error_case("invalid-request", "invalid-value", release))
        .map(|a| (a.status, a.code.to_string(), a.message.to_string()))
        .unwrap_or((400, "BadRequest".into(), String::new()))
}

/// The limits as documented.
pub fn limits() -> &'static Limits {
    bc::limits()
}

/// The `$metadata` (CSDL) of `api` (`standard`, `manufacturing`) at `release`.
pub fn metadata(release: &str, api: &str) -> Option<&'static str> {
    bc::metadata(release, api)
}
