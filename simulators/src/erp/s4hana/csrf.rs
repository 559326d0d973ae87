//! SAP Gateway's CSRF protection: a `GET` with `X-CSRF-Token: Fetch` answers a token bound
//! to the session cookie; every modifying request must send that token with that cookie,
//! else 403 `CSRF token validation failed` with `X-CSRF-Token: Required`. A `csrf_expiry`
//! fault expires every token issued before it.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::RngExt;

use crate::problem::ProblemCode;

/// The session cookie's name.
pub const COOKIE: &str = "SAP_SESSIONID_ANDON_100";
/// The token header.
pub const HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// Sessions and the CSRF token of each.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

#[derive(Debug, Clone)]
struct Session {
    token: String,
    issued: DateTime<Utc>,
}

/// What a request needs from the CSRF protocol.
#[derive(Debug)]
pub enum Csrf {
    /// Nothing (a read without `Fetch`).
    None,
    /// Answer with these headers (a fetch: the token, and the cookie of a new session).
    Issue(Vec<(header::HeaderName, HeaderValue)>),
}

fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

/// The value of cookie `name` in `headers`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks (`POST`, `PUT`, `PATCH`, `MERGE`, `DELETE`) or serves (`X-CSRF-Token: Fetch`)
    /// the token of a request; `Err` is the 403 to answer. Tokens issued before
    /// `valid_after` are expired.
    pub fn guard(
        &self,
        method: &Method,
        headers: &HeaderMap,
        valid_after: Option<DateTime<Utc>>,
    ) -> Result<Csrf, Box<Response>> {
        let sent = headers.get(HEADER).and_then(|v| v.to_str().ok());
        let session = cookie(headers, COOKIE);
        let fresh = |s: &Session| valid_after.is_none_or(|t| s.issued > t);
        if matches!(*method, Method::GET | Method::HEAD) {
            if !sent.is_some_and(|s| s.eq_ignore_ascii_case("fetch")) {
                return Ok(Csrf::None);
            }
            return Ok(Csrf::Issue(self.fetch(session, fresh)));
        }
        let ok = match (sent, &session) {
            (Some(t), Some(id)) => self
                .lock()
                .get(id)
                .is_some_and(|s| s.token == t && fresh(s)),
            _ => false,
        };
        if ok {
            Ok(Csrf::None)
        } else {
            Err(Box::new(refused()))
        }
    }

    /// The token of `session` (a new session when it has none or its token expired).
    fn fetch(
        &self,
        session: Option<String>,
        fresh: impl Fn(&Session) -> bool,
    ) -> Vec<(header::HeaderName, HeaderValue)> {
        let mut map = self.lock();
        if let Some(id) = &session
            && let Some(s) = map.get(id).filter(|s| fresh(s))
        {
            return token_header(&s.token).into_iter().collect();
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.issued)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let id = session.unwrap_or_else(|| random_hex(32));
        let token = format!("{}==", random_hex(22));
        map.insert(
            id.clone(),
            Session {
                token: token.clone(),
                issued: Utc::now(),
            },
        );
        let mut out: Vec<_> = token_header(&token).into_iter().collect();
        if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={id}; path=/; HttpOnly")) {
            out.push((header::SET_COOKIE, v));
        }
        out
    }
}

fn token_header(token: &str) -> Option<(header::HeaderName, HeaderValue)> {
    HeaderValue::from_str(token)
        .ok()
        .map(|v| (header::HeaderName::from_static(HEADER), v))
}

/// 403 `CSRF token validation failed`, as SAP Gateway answers it.
fn refused() -> Response {
    let mut r = (StatusCode::FORBIDDEN, "CSRF token validation failed").into_response();
    r.headers_mut().insert(
        header::HeaderName::from_static(HEADER),
        HeaderValue::from_static("Required"),
    );
    r.extensions_mut()
        .insert(ProblemCode("csrf-token-invalid".into()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn fetched(s: &Sessions, h: &HeaderMap) -> (String, String) {
        let Ok(Csrf::Issue(out)) = s.guard(&Method::GET, h, None) else {
            panic!("a fetch issues")
        };
        let token = out[0].1.to_str().unwrap().to_string();
        let cookie = out
            .iter()
            .find(|(k, _)| k == header::SET_COOKIE)
            .map(|(_, v)| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .unwrap_or_default();
        (token, cookie)
    }

    #[test]
    fn a_token_works_only_with_its_session_and_until_it_expires() {
        let s = Sessions::default();
        let (token, cookie) = fetched(&s, &headers(&[(HEADER, "Fetch")]));
        let with = headers(&[(HEADER, &token), ("cookie", &cookie)]);
        assert!(s.guard(&Method::POST, &with, None).is_ok());
        let without_cookie = headers(&[(HEADER, &token)]);
        assert_eq!(
            s.guard(&Method::POST, &without_cookie, None)
                .unwrap_err()
                .status(),
            403
        );
        assert!(s.guard(&Method::POST, &headers(&[]), None).is_err());
        let later = Some(Utc::now() + chrono::Duration::seconds(1));
        assert!(s.guard(&Method::POST, &with, later).is_err());
        // Fetching again in the same session answers a token that works.
        let (again, _) = fetched(&s, &headers(&[(HEADER, "Fetch"), ("cookie", &cookie)]));
        let renewed = headers(&[(HEADER, &again), ("cookie", &cookie)]);
        assert!(s.guard(&Method::POST, &renewed, None).is_ok());
    }

    #[test]
    fn reads_need_no_token() {
        let s = Sessions::default();
        assert!(matches!(
            s.guard(&Method::GET, &headers(&[]), None),
            Ok(Csrf::None)
        ));
    }
}
