//! OData V2 as S/4HANA speaks it: the JSON value formats (`/Date(ms)/`, decimals as
//! strings), the `d` / `d.results` envelopes, resource paths with key predicates, and the
//! system query options andon supports (`$filter` with `eq` and `and`, `$top`, `$skip`,
//! `$inlinecount`, `$select`, `$expand`, `$format=json`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::error::SapError;

/// `/Date(ms)/` of a date at midnight UTC.
pub fn date(d: NaiveDate) -> String {
    let ms = d
        .and_hms_opt(0, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t).timestamp_millis())
        .unwrap_or(0);
    format!("/Date({ms})/")
}

/// `/Date(ms+0000)/` of an instant (Edm.DateTimeOffset).
pub fn date_time_offset(t: DateTime<Utc>) -> String {
    format!("/Date({}+0000)/", t.timestamp_millis())
}

/// Reads an Edm.DateTime as clients send it: `/Date(ms)/` (with an optional offset),
/// `2026-12-06T00:00:00` or `2026-12-06`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits = inner
            .split(['+', '-'])
            .find(|s| !s.is_empty())
            .unwrap_or("");
        let sign = if inner.starts_with('-') { -1 } else { 1 };
        let ms: i64 = digits.parse().ok()?;
        return DateTime::from_timestamp_millis(sign * ms).map(|d| d.date_naive());
    }
    let day = t.get(..10)?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// An Edm.Decimal of thousandths, as OData V2 JSON writes it (`"12.500"`).
pub fn decimal(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let m = milli.unsigned_abs();
    format!("{sign}{}.{:03}", m / 1000, m % 1000)
}

/// Reads an Edm.Decimal (a string, or a JSON number as lenient clients send it) into
/// thousandths; `None` when it is not a number with at most three decimals.
pub fn parse_decimal(v: &Value) -> Option<i64> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (neg, digits) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    if int.is_empty() && frac.is_empty()
        || frac.len() > 3
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: i64 = format!("{frac:0<3}").parse().ok()?;
    let m = whole.checked_mul(1000)?.checked_add(f)?;
    Some(if neg { -m } else { m })
}

/// The envelope of one entity: `{"d": {…}}`.
pub fn one(entity: Value) -> Value {
    json!({ "d": entity })
}

/// The envelope of a collection: `{"d": {"results": […]}}` with `__count` when asked.
pub fn many(results: Vec<Value>, count: Option<usize>) -> Value {
    let mut d = Map::new();
    if let Some(n) = count {
        d.insert("__count".into(), Value::String(n.to_string()));
    }
    d.insert("results".into(), Value::Array(results));
    json!({ "d": d })
}

/// A resource path under a service: the entity set or function import, its key
/// predicate, and a navigation property (`A_ProductionOrder_2('1')/to_ProductionOrderOperation`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    /// Entity set, function import, `$metadata` or `$batch`; empty for the service document.
    pub set: String,
    /// Key properties (a single unnamed key is stored under `""`).
    pub key: Option<BTreeMap<String, String>>,
    /// Navigation property, if any.
    pub nav: Option<String>,
}

impl Resource {
    /// Parses `rest`, the path after the service root.
    pub fn parse(rest: &str) -> Result<Self, SapError> {
        let rest = rest.trim_matches('/');
        let bad = || SapError::bad_request(format!("Resource path '{rest}' is not valid"));
        let (head, nav) = match rest.find(")/") {
            Some(i) => (&rest[..=i], Some(rest[i + 2..].to_string())),
            None => match rest.split_once('/') {
                Some((h, n)) if !h.contains('(') => (h, Some(n.to_string())),
                _ => (rest, None),
            },
        };
        if nav
            .as_deref()
            .is_some_and(|n| n.is_empty() || n.contains('/'))
        {
            return Err(bad());
        }
        let Some(open) = head.find('(') else {
            return Ok(Self {
                set: head.to_string(),
                key: None,
                nav,
            });
        };
        let inner = head[open + 1..].strip_suffix(')').ok_or_else(bad)?;
        let mut key = BTreeMap::new();
        for part in split_outside_quotes(inner, ',') {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) if !n.contains('\'') => (n.trim().to_string(), v.trim()),
                _ => (String::new(), part.trim()),
            };
            key.insert(name, literal(value).ok_or_else(bad)?);
        }
        Ok(Self {
            set: head[..open].to_string(),
            key: Some(key),
            nav,
        })
    }

    /// The key property `name` (or the single unnamed key).
    pub fn key_of(&self, name: &str) -> Option<&str> {
        let k = self.key.as_ref()?;
        k.get(name)
            .or_else(|| (k.len() == 1).then(|| k.get("")).flatten())
            .map(String::as_str)
    }
}

/// Splits on `sep` outside single-quoted literals.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// The value of an OData literal: `'text'` (with `''` for a quote), `datetime'…'`, or a
/// bare number or boolean.
pub fn literal(v: &str) -> Option<String> {
    let v = v.trim();
    let quoted = |s: &str| {
        s.strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .map(|r| r.replace("''", "'"))
    };
    if let Some(q) = quoted(v) {
        return Some(q);
    }
    for prefix in ["datetime", "datetimeoffset", "guid", "time"] {
        if let Some(r) = v.strip_prefix(prefix)
            && let Some(q) = quoted(r)
        {
            return Some(q);
        }
    }
    (!v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    .then(|| v.to_string())
}

/// The system query options of a request.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `$filter`: property equals value, all of them.
    pub filter: Vec<(String, String)>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: usize,
    /// `$inlinecount=allpages`.
    pub count: bool,
    /// `$select`, when given.
    pub select: Option<Vec<String>>,
    /// `$expand`.
    pub expand: Vec<String>,
    /// Function import parameters and other non-`$` options.
    pub params: BTreeMap<String, String>,
}

impl Options {
    /// Reads the query string's pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, SapError> {
        let mut o = Options::default();
        let number = |k: &str, v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| SapError::bad_request(format!("Invalid value '{v}' for {k}")))
        };
        for (k, v) in pairs {
            match k.as_str() {
                "$filter" => o.filter = filter(v)?,
                "$top" => o.top = Some(number(k, v)?),
                "$skip" => o.skip = number(k, v)?,
                "$inlinecount" => o.count = v == "allpages",
                "$select" => o.select = Some(list(v)),
                "$expand" => o.expand = list(v),
                "$format" if v == "json" => {}
                "$format" => {
                    return Err(SapError::bad_request(format!(
                        "Format '{v}' is not supported by andon; use $format=json"
                    )));
                }
                "$orderby" | "sap-client" | "sap-language" | "search" => {}
                other if other.starts_with('$') => {
                    return Err(SapError::bad_request(format!(
                        "System query option '{other}' is not supported"
                    )));
                }
                _ => {
                    let value = literal(v).unwrap_or_else(|| v.clone());
                    o.params.insert(k.clone(), value);
                }
            }
        }
        Ok(o)
    }

    /// Whether `entity` passes the filter.
    pub fn keeps(&self, entity: &Value) -> bool {
        self.filter.iter().all(|(p, want)| match entity.get(p) {
            Some(Value::String(s)) => s == want || date_matches(s, want),
            Some(Value::Bool(b)) => want == &b.to_string(),
            Some(Value::Null) | None => want.is_empty(),
            Some(other) => &other.to_string() == want,
        })
    }

    /// Filters, counts, pages and selects `all`, then wraps them.
    pub fn collection(&self, all: Vec<Value>) -> Value {
        let kept: Vec<Value> = all.into_iter().filter(|e| self.keeps(e)).collect();
        let count = self.count.then_some(kept.len());
        let page = kept
            .into_iter()
            .skip(self.skip)
            .take(self.top.unwrap_or(usize::MAX))
            .map(|e| self.selected(e))
            .collect();
        many(page, count)
    }

    /// `entity` with only the `$select`ed properties (and `__metadata`).
    pub fn selected(&self, entity: Value) -> Value {
        let (Some(sel), Value::Object(mut o)) = (&self.select, entity.clone()) else {
            return entity;
        };
        o.retain(|k, _| k == "__metadata" || sel.iter().any(|s| s == k || s == "*"));
        Value::Object(o)
    }
}

/// A `datetime'2026-12-06T00:00:00'` literal against a `/Date(ms)/` value.
fn date_matches(value: &str, want: &str) -> bool {
    value.starts_with("/Date(") && parse_date(value).is_some_and(|d| Some(d) == parse_date(want))
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `$filter`: `Prop eq 'v'` clauses joined by `and` (in any case), optionally parenthesised.
fn filter(text: &str) -> Result<Vec<(String, String)>, SapError> {
    filter_clauses(text).ok_or_else(|| {
        SapError::bad_request(format!(
            "Filter '{text}' is not supported: andon reads Property eq 'value' joined by and"
        ))
    })
}

/// The `Prop eq value` clauses of a `$filter` joined by `and` (in any case, optionally
/// parenthesised; values are quoted strings or plain literals), or `None` for anything else.
/// Shared by the OData dialects.
pub(crate) fn filter_clauses(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let clause_end = find_and(rest).unwrap_or(rest.len());
        let clause = rest[..clause_end].trim().trim_start_matches('(');
        let clause = clause.strip_suffix(')').unwrap_or(clause).trim();
        let (prop, value) = clause.split_once(" eq ")?;
        let prop = prop.trim();
        if prop.is_empty() || !prop.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        out.push((prop.to_string(), literal(value)?));
        rest = rest[clause_end..].trim_start();
        rest = rest
            .strip_prefix("and ")
            .or_else(|| rest.strip_prefix("AND "))
            .unwrap_or(rest);
    }
    Some(out)
}

/// The start of the next ` and ` outside a quoted literal.
fn find_and(s: &str) -> Option<usize> {
    let mut quoted = false;
    let bytes = s.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && s[i..].len() >= 5 && s[i..i + 5].eq_ignore_ascii_case(" and ") {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_decimals_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert_eq!(parse_date(&date(d)), Some(d));
        assert_eq!(parse_date("2026-12-06T00:00:00"), Some(d));
        assert_eq!(parse_date("/Date(1796515200000+0000)/"), Some(d));
        assert_eq!(decimal(12_500), "12.500");
        assert_eq!(decimal(-5), "-0.005");
        assert_eq!(parse_decimal(&json!("12.5")), Some(12_500));
        assert_eq!(parse_decimal(&json!(3)), Some(3000));
        assert_eq!(parse_decimal(&json!("1.2345")), None);
        assert_eq!(parse_decimal(&json!("x")), None);
    }

    #[test]
    fn resource_paths_with_keys_and_navigation() {
        let r =
            Resource::parse("A_ProductionOrder_2('1000001')/to_ProductionOrderOperation").unwrap();
        assert_eq!(r.set, "A_ProductionOrder_2");
        assert_eq!(r.key_of("ManufacturingOrder"), Some("1000001"));
        assert_eq!(r.nav.as_deref(), Some("to_ProductionOrderOperation"));
        let r = Resource::parse(
            "A_MaterialDocumentHeader(MaterialDocumentYear='2026',MaterialDocument='4900000001')",
        )
        .unwrap();
        assert_eq!(r.key_of("MaterialDocument"), Some("4900000001"));
        assert_eq!(r.key_of("MaterialDocumentYear"), Some("2026"));
        assert_eq!(Resource::parse("$metadata").unwrap().set, "$metadata");
        assert!(Resource::parse("A_X('1')/a/b").is_err());
    }

    #[test]
    fn filters_of_equalities_joined_by_and() {
        let pairs = vec![(
            "$filter".to_string(),
            "Material eq 'RM-1' and (Plant eq '1000') and Batch eq 'it''s'".to_string(),
        )];
        let o = Options::parse(&pairs).unwrap();
        assert_eq!(o.filter.len(), 3);
        assert_eq!(o.filter[2], ("Batch".into(), "it's".into()));
        assert!(o.keeps(&json!({"Material": "RM-1", "Plant": "1000", "Batch": "it's"})));
        assert!(!o.keeps(&json!({"Material": "RM-2", "Plant": "1000", "Batch": "it's"})));
        let bad = vec![("$filter".to_string(), "Material gt 'A'".to_string())];
        assert!(Options::parse(&bad).is_err());
    }
}
