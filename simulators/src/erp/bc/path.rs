//! Resource paths and query options of the Business Central dialect (OData v4):
//! `companies({id})/items({id})`, `subscriptions('{id}')`, `$batch`, `$metadata`; `$filter`
//! (`Prop eq value` joined by `and`), `$top`, `$skip`, `$select`, `$expand`.

use serde_json::{Map, Value};

use super::error::BcError;

/// Which API a request is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The standard API, `api/v2.0/`.
    Standard,
    /// The plant extension's API pages, `api/andon/manufacturing/v1.0/`.
    Manufacturing,
}

impl Api {
    /// The name of its `$metadata` document in the contract (`standard`, `manufacturing`).
    pub fn metadata_name(self) -> &'static str {
        match self {
            Api::Standard => "standard",
            Api::Manufacturing => "manufacturing",
        }
    }

    /// The API root below the plant's base URL.
    pub fn root(self) -> &'static str {
        match self {
            Api::Standard => "api/v2.0",
            Api::Manufacturing => "api/andon/manufacturing/v1.0",
        }
    }
}

/// A resource path below an API root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// The company key, when the path goes through `companies({id})`.
    pub company: Option<String>,
    /// The entity set (`items`, `subscriptions`, `companies`, `$batch`, `$metadata`; empty:
    /// the service document).
    pub set: String,
    /// The entity key.
    pub key: Option<String>,
}

/// One path segment: a name and its key (`items(5f…)`, `subscriptions('x')`).
fn segment(seg: &str) -> Result<(String, Option<String>), BcError> {
    let bad = || BcError::bad_request(format!("The request URI segment '{seg}' is not valid"));
    match seg.split_once('(') {
        None => Ok((seg.to_string(), None)),
        Some((name, rest)) => {
            let key = rest.strip_suffix(')').ok_or_else(bad)?;
            let key = key
                .strip_prefix('\'')
                .and_then(|k| k.strip_suffix('\''))
                .map(|k| k.replace("''", "'"))
                .unwrap_or_else(|| key.to_string());
            if name.is_empty() || key.is_empty() {
                return Err(bad());
            }
            Ok((name.to_string(), Some(key)))
        }
    }
}

impl Resource {
    /// Reads the path below an API root.
    pub fn parse(rest: &str) -> Result<Self, BcError> {
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] => Ok(Self::default()),
            [one] => {
                let (set, key) = segment(one)?;
                if set == "companies" {
                    return Ok(Self {
                        company: key.clone(),
                        set,
                        key,
                    });
                }
                Ok(Self {
                    company: None,
                    set,
                    key,
                })
            }
            [company, entity] => {
                let (c, ck) = segment(company)?;
                let (set, key) = segment(entity)?;
                if c != "companies" || ck.is_none() {
                    return Err(BcError::not_found(format!(
                        "The request URI '{rest}' does not name a company's entity"
                    )));
                }
                Ok(Self {
                    company: ck,
                    set,
                    key,
                })
            }
            _ => Err(BcError::not_found(format!(
                "Navigation in '{rest}' is not served: use $expand"
            ))),
        }
    }
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
    /// `$select`.
    pub select: Option<Vec<String>>,
    /// `$expand`.
    pub expand: Vec<String>,
    /// Other parameters (`validationToken` never comes here; `company` is one).
    pub params: Vec<(String, String)>,
}

impl Options {
    /// Reads the query string's pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, BcError> {
        let mut o = Options::default();
        let number = |k: &str, v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| BcError::bad_request(format!("Invalid value '{v}' for {k}")))
        };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "$filter" => {
                    o.filter = crate::erp::s4hana::odata::filter_clauses(v).ok_or_else(|| {
                        let msg = format!("Filter '{v}' is not supported: andon reads property eq 'value' joined by and");
                        BcError::case("invalid-request", Some("query"), msg, "")
                    })?;
                }
                "$top" => o.top = Some(number(k, v)?),
                "$skip" => o.skip = number(k, v)?,
                "$select" => o.select = Some(list(v)),
                "$expand" => o.expand = list(v),
                "$orderby" | "$count" | "$schemaversion" | "tenant" | "company" => {}
                other if other.starts_with('$') => {
                    return Err(BcError::bad_request(format!(
                        "The query parameter '{other}' is not supported"
                    )));
                }
                _ => o.params.push((k.clone(), v.clone())),
            }
        }
        Ok(o)
    }

    /// Whether `entity` passes the filter (numbers compare as numbers).
    pub fn keeps(&self, entity: &Value) -> bool {
        self.filter.iter().all(|(p, want)| match entity.get(p) {
            Some(Value::String(s)) => s.eq_ignore_ascii_case(want),
            Some(Value::Bool(b)) => want == &b.to_string(),
            Some(Value::Number(n)) => n
                .as_f64()
                .zip(want.parse::<f64>().ok())
                .is_some_and(|(a, b)| a == b),
            Some(Value::Null) | None => want.is_empty() || want == "null",
            Some(_) => false,
        })
    }

    /// Filters, pages and selects `all`, then wraps them with `context`.
    pub fn collection(&self, context: &str, all: Vec<Value>) -> Value {
        let page: Vec<Value> = all
            .into_iter()
            .filter(|e| self.keeps(e))
            .skip(self.skip)
            .take(self.top.unwrap_or(usize::MAX))
            .map(|e| self.selected(e))
            .collect();
        let mut o = Map::new();
        o.insert("@odata.context".into(), Value::String(context.to_string()));
        o.insert("value".into(), Value::Array(page));
        Value::Object(o)
    }

    /// `entity` with only the `$select`ed properties (and the annotations).
    pub fn selected(&self, entity: Value) -> Value {
        let (Some(sel), Value::Object(mut o)) = (&self.select, entity.clone()) else {
            return entity;
        };
        o.retain(|k, _| k.starts_with('@') || sel.iter().any(|s| s == k || s == "*"));
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_the_company_the_set_and_the_key() {
        let r = Resource::parse("companies(c1)/items(i-1)").unwrap();
        assert_eq!(
            (r.company.as_deref(), r.set.as_str(), r.key.as_deref()),
            (Some("c1"), "items", Some("i-1"))
        );
        let r = Resource::parse("subscriptions('it''s')").unwrap();
        assert_eq!(
            (r.set.as_str(), r.key.as_deref()),
            ("subscriptions", Some("it's"))
        );
        assert_eq!(Resource::parse("").unwrap(), Resource::default());
        assert!(Resource::parse("companies(c1)/items(x)/ledger").is_err());
        assert!(Resource::parse("vendors(1)/items").is_err());
    }

    #[test]
    fn filters_compare_text_and_numbers() {
        let pairs = vec![(
            "$filter".to_string(),
            "documentNumber eq 'D-1' and entryNumber eq 7".to_string(),
        )];
        let o = Options::parse(&pairs).unwrap();
        assert!(o.keeps(&json!({"documentNumber": "D-1", "entryNumber": 7})));
        assert!(!o.keeps(&json!({"documentNumber": "D-1", "entryNumber": 8})));
        let bad = vec![("$filter".to_string(), "startswith(number,'1')".to_string())];
        assert!(Options::parse(&bad).is_err());
    }

    #[test]
    fn collections_page_and_select() {
        let pairs = vec![
            ("$top".to_string(), "1".to_string()),
            ("$skip".to_string(), "1".to_string()),
            ("$select".to_string(), "number".to_string()),
        ];
        let o = Options::parse(&pairs).unwrap();
        let c = o.collection(
            "ctx",
            vec![
                json!({"number": "1", "x": 1, "@odata.etag": "e1"}),
                json!({"number": "2", "x": 2, "@odata.etag": "e2"}),
            ],
        );
        assert_eq!(c["value"], json!([{"number": "2", "@odata.etag": "e2"}]));
        assert_eq!(c["@odata.context"], "ctx");
    }
}
