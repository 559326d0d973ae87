//! SAP Gateway's CSRF protection, per plant system: a session cookie
//! (`SAP_SESSIONID_ANDON_100`, from `Set-Cookie`) and the token fetched for it with
//! `X-CSRF-Token: Fetch`; both go on every `POST`. A `403` with `X-CSRF-Token: Required`
//! means the token expired: it is dropped, and the next call fetches a new one.
//! Also the headers of SAP's repeatable requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use andon_contracts::PlantId;
use reqwest::header::{HeaderMap, SET_COOKIE};

/// The session cookie's name.
pub const COOKIE: &str = "SAP_SESSIONID_ANDON_100";
/// The CSRF token header.
pub const CSRF: &str = "x-csrf-token";

/// The CSRF session with one plant's system.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Session {
    /// `SAP_SESSIONID_ANDON_100=…`, once the system set it.
    pub cookie: Option<String>,
    /// The token of the session, once fetched.
    pub token: Option<String>,
}

impl Session {
    /// Takes the token and the session cookie of a fetch's answer.
    pub fn fetched(&mut self, headers: &HeaderMap) -> Result<String, String> {
        if let Some(c) = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|kv| kv.trim().starts_with(&format!("{COOKIE}=")))
        {
            self.cookie = Some(c.trim().to_string());
        }
        let token = headers
            .get(CSRF)
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("required"))
            .ok_or("the CSRF fetch answered no token")?
            .to_string();
        self.token = Some(token.clone());
        Ok(token)
    }
}

/// The sessions, one per plant system; each behind an async lock so one fetch serves
/// every call waiting for it.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<PlantId, Arc<tokio::sync::Mutex<Session>>>>,
}

impl Sessions {
    /// The session with `plant`'s system.
    pub fn of(&self, plant: &PlantId) -> Arc<tokio::sync::Mutex<Session>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(plant.clone())
            .or_default()
            .clone()
    }
}

/// Whether an answer is SAP's CSRF refusal (`403`, `X-CSRF-Token: Required`).
pub fn csrf_refused(status: u16, headers: &HeaderMap) -> bool {
    status == 403
        && headers
            .get(CSRF)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("required"))
}

/// `RepeatabilityCreation`: an RFC 7231 date (`Sun, 06 Dec 2026 20:15:00 GMT`) of `ms`.
pub fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn a_fetch_keeps_the_cookie_and_the_token() {
        let mut h = HeaderMap::new();
        h.insert(CSRF, HeaderValue::from_static("abc=="));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("SAP_SESSIONID_ANDON_100=s1; path=/; HttpOnly"),
        );
        let mut s = Session::default();
        assert_eq!(s.fetched(&h).unwrap(), "abc==");
        assert_eq!(s.cookie.as_deref(), Some("SAP_SESSIONID_ANDON_100=s1"));
        let mut required = HeaderMap::new();
        required.insert(CSRF, HeaderValue::from_static("Required"));
        assert!(csrf_refused(403, &required) && !csrf_refused(403, &HeaderMap::new()));
        assert_eq!(
            http_date(1_796_588_100_000),
            "Sun, 06 Dec 2026 20:15:00 GMT"
        );
    }
}
