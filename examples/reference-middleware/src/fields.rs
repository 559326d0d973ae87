//! Reading the fields of a vendor's JSON entity, with an error that names the field: shared
//! by the S/4HANA and Business Central translations.

use serde_json::Value;

/// The text field `k` of `e`.
pub fn text<'a>(e: &'a Value, k: &str) -> Result<&'a str, String> {
    e.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{k} is missing"))
}

/// The text field `k` of `e`, parsed by `f`.
pub fn parsed<T, E: std::fmt::Display>(
    e: &Value,
    k: &str,
    f: impl Fn(String) -> Result<T, E>,
) -> Result<T, String> {
    let t = text(e, k)?;
    f(t.to_string()).map_err(|err| format!("{k} {t:?}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_or_unparsable_field_is_named() {
        let e = json!({"Plant": "1000", "Qty": "x"});
        assert_eq!(text(&e, "Plant"), Ok("1000"));
        assert_eq!(text(&e, "Batch"), Err("Batch is missing".into()));
        let n = parsed(&e, "Qty", |t| t.parse::<u32>());
        assert!(n.unwrap_err().starts_with("Qty \"x\": "));
    }
}
