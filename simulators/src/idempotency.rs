//! `Idempotency-Key` semantics of the IETF httpapi idempotency draft.
//!
//! The same key with the same payload replays the first answer (success or error) with no
//! second effect; the same key with another payload is 422 `idempotency-key-reuse`; the same
//! key while the first request is in flight is 409 `idempotency-in-flight`. Keys are scoped
//! per route. Support can be switched off per run (an ERP without repeatable requests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// Header carrying the key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// A stored final answer.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers worth replaying (content type, location).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl StoredResponse {
    /// Rebuilds the answer, marked as replayed.
    pub fn replay(&self) -> axum::response::Response {
        let mut resp = axum::response::Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp.headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
        resp.extensions_mut().insert(Replayed);
        resp
    }
}

/// Marks a response as an idempotent replay (read by the history layer).
#[derive(Debug, Clone, Copy)]
pub struct Replayed;

enum Slot {
    InFlight {
        fingerprint: [u8; 32],
    },
    Done {
        fingerprint: [u8; 32],
        response: StoredResponse,
    },
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// First time: process it, then [`Claim::complete`].
    Proceed(Claim),
    /// Seen before with the same payload: answer this.
    Replay(StoredResponse),
    /// Refuse with this problem (reuse with another payload, or in flight).
    Refuse(ApiError),
}

/// The keys seen in a run.
#[derive(Clone, Default)]
pub struct IdempotencyStore {
    slots: Arc<Mutex<HashMap<(String, String), Slot>>>,
}

/// The right to process a keyed request; dropping it without completing frees the key.
pub struct Claim {
    store: IdempotencyStore,
    scope: (String, String),
    fingerprint: [u8; 32],
    done: bool,
}

/// Fingerprint of a request: method, route and the canonical JSON body.
pub fn fingerprint(method: &str, route: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(route.as_bytes());
    h.update([0]);
    // Canonical JSON (sorted keys) so that key order and whitespace do not matter.
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => h.update(serde_json::to_vec(&v).unwrap_or_default()),
        Err(_) => h.update(body),
    }
    h.finalize().into()
}

impl IdempotencyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts processing `key` on `route` for a payload with `fingerprint`.
    pub fn begin(&self, route: &str, key: &str, fingerprint: [u8; 32]) -> Begin {
        let scope = (route.to_string(), key.to_string());
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(&scope) {
            None => {
                slots.insert(scope.clone(), Slot::InFlight { fingerprint });
                Begin::Proceed(Claim {
                    store: self.clone(),
                    scope,
                    fingerprint,
                    done: false,
                })
            }
            Some(Slot::InFlight { fingerprint: f }) if *f == fingerprint => {
                Begin::Refuse(ApiError::of(
                    "idempotency-in-flight",
                    format!("A request with Idempotency-Key {key:?} is still being processed"),
                ))
            }
            Some(Slot::Done {
                fingerprint: f,
                response,
            }) if *f == fingerprint => Begin::Replay(response.clone()),
            Some(_) => Begin::Refuse(ApiError::of(
                "idempotency-key-reuse",
                format!(
                    "Idempotency-Key {key:?} was already used with a different payload on {route}"
                ),
            )),
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or_default()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The final answers held (requests in flight are not: their clients retry them).
    pub fn save(&self) -> Vec<SavedAnswer> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut saved: Vec<SavedAnswer> = slots
            .iter()
            .filter_map(|((route, key), slot)| match slot {
                Slot::InFlight { .. } => None,
                Slot::Done {
                    fingerprint,
                    response,
                } => Some(SavedAnswer {
                    route: route.clone(),
                    key: key.clone(),
                    fingerprint: hex(fingerprint),
                    status: response.status.as_u16(),
                    headers: response
                        .headers
                        .iter()
                        .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                        .collect(),
                    body: String::from_utf8_lossy(&response.body).into_owned(),
                }),
            })
            .collect();
        saved.sort_by(|a, b| (&a.route, &a.key).cmp(&(&b.route, &b.key)));
        saved
    }

    /// Holds `saved` answers again (after a restart).
    pub fn restore(&self, saved: Vec<SavedAnswer>) -> Result<(), RestoreError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for a in saved {
            let fingerprint = unhex(&a.fingerprint)
                .ok_or_else(|| RestoreError::Fingerprint { key: a.key.clone() })?;
            let status = StatusCode::from_u16(a.status).map_err(|_| RestoreError::Status {
                key: a.key.clone(),
                status: a.status,
            })?;
            let mut headers = HeaderMap::new();
            for (n, v) in &a.headers {
                let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::try_from(n.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) else {
                    return Err(RestoreError::Header {
                        key: a.key.clone(),
                        name: n.clone(),
                    });
                };
                headers.insert(n, v);
            }
            slots.insert(
                (a.route, a.key),
                Slot::Done {
                    fingerprint,
                    response: StoredResponse {
                        status,
                        headers,
                        body: Bytes::from(a.body),
                    },
                },
            );
        }
        Ok(())
    }
}

/// A final answer to an idempotency key, as saved across a restart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedAnswer {
    /// Route the key is scoped to.
    pub route: String,
    /// The key.
    pub key: String,
    /// SHA-256 of the request, hex.
    pub fingerprint: String,
    /// Status answered.
    pub status: u16,
    /// Headers replayed.
    pub headers: Vec<(String, String)>,
    /// Body answered (JSON text).
    pub body: String,
}

fn hex(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Claim {
    /// Stores the final answer. Answers that are not final (5xx, 401, 403, 408, 429) free
    /// the key instead, so that a retry is processed afresh.
    pub fn complete(mut self, response: StoredResponse) {
        self.done = true;
        let status = response.status.as_u16();
        let mut slots = self.store.slots.lock().unwrap_or_else(|e| e.into_inner());
        if status >= 500 || matches!(status, 401 | 403 | 408 | 429) {
            slots.remove(&self.scope);
        } else {
            slots.insert(
                self.scope.clone(),
                Slot::Done {
                    fingerprint: self.fingerprint,
                    response,
                },
            );
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.done {
            let mut slots = self.store.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.remove(&self.scope);
        }
    }
}

/// Why saved answers cannot be held again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// A fingerprint that is not 64 hex digits.
    #[error("key {key:?}: fingerprint is not 64 hex digits")]
    Fingerprint {
        /// The idempotency key.
        key: String,
    },
    /// A status that is not an HTTP status.
    #[error("key {key:?}: {status} is not an HTTP status")]
    Status {
        /// The idempotency key.
        key: String,
        /// The status saved.
        status: u16,
    },
    /// A header that is not valid.
    #[error("key {key:?}: header {name:?} is not valid")]
    Header {
        /// The idempotency key.
        key: String,
        /// The header's name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> StoredResponse {
        StoredResponse {
            status: StatusCode::CREATED,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn saved_answers_replay_after_a_restore_and_in_flight_keys_are_not_kept() {
        let s = IdempotencyStore::new();
        let fp = fingerprint("POST", "/r", br#"{"a":1}"#);
        let Begin::Proceed(c) = s.begin("/r", "k1", fp) else {
            panic!("first use must proceed")
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        c.complete(StoredResponse {
            headers,
            ..ok(r#"{"doc":"49"}"#)
        });
        let _in_flight = s.begin("/r", "k2", fp);
        let saved = s.save();
        assert_eq!(saved.len(), 1);
        let back = IdempotencyStore::new();
        back.restore(serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap())
            .unwrap();
        let Begin::Replay(r) = back.begin("/r", "k1", fp) else {
            panic!("a restored key must replay")
        };
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(&r.body[..], br#"{"doc":"49"}"#);
        assert_eq!(r.headers["content-type"], "application/json");
        let other = fingerprint("POST", "/r", br#"{"a":2}"#);
        assert!(matches!(back.begin("/r", "k1", other), Begin::Refuse(_)));
        assert!(matches!(back.begin("/r", "k2", fp), Begin::Proceed(_)));
    }

    #[test]
    fn a_damaged_saved_answer_is_refused_with_its_key() {
        let bad = SavedAnswer {
            route: "/r".into(),
            key: "k9".into(),
            fingerprint: "zz".into(),
            status: 201,
            headers: vec![],
            body: String::new(),
        };
        let e = IdempotencyStore::new()
            .restore(vec![bad])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"k9\"") && e.contains("fingerprint"), "{e}");
    }

    #[test]
    fn same_key_same_payload_replays_first_answer() {
        let s = IdempotencyStore::new();
        let fp = fingerprint("POST", "/r", br#"{"a":1,"b":2}"#);
        let Begin::Proceed(c) = s.begin("/r", "k1", fp) else {
            panic!("first use must proceed")
        };
        c.complete(ok("first"));
        let fp2 = fingerprint("POST", "/r", br#"{ "b":2, "a":1 }"#);
        match s.begin("/r", "k1", fp2) {
            Begin::Replay(r) => assert_eq!(r.body, Bytes::from("first")),
            _ => panic!("expected replay"),
        }
    }

    #[test]
    fn same_key_other_payload_is_422() {
        let s = IdempotencyStore::new();
        let Begin::Proceed(c) = s.begin("/r", "k", fingerprint("POST", "/r", b"{\"a\":1}")) else {
            panic!()
        };
        c.complete(ok("x"));
        match s.begin("/r", "k", fingerprint("POST", "/r", b"{\"a\":2}")) {
            Begin::Refuse(e) => assert_eq!((e.status(), e.code()), (422, "idempotency-key-reuse")),
            _ => panic!("expected refusal"),
        }
    }

    #[test]
    fn same_key_in_flight_is_409_and_freed_on_drop() {
        let s = IdempotencyStore::new();
        let fp = fingerprint("POST", "/r", b"{}");
        let Begin::Proceed(c) = s.begin("/r", "k", fp) else {
            panic!()
        };
        match s.begin("/r", "k", fp) {
            Begin::Refuse(e) => assert_eq!((e.status(), e.code()), (409, "idempotency-in-flight")),
            _ => panic!("expected 409"),
        }
        drop(c);
        assert!(matches!(s.begin("/r", "k", fp), Begin::Proceed(_)));
    }

    #[test]
    fn server_errors_are_not_stored() {
        let s = IdempotencyStore::new();
        let fp = fingerprint("POST", "/r", b"{}");
        let Begin::Proceed(c) = s.begin("/r", "k", fp) else {
            panic!()
        };
        c.complete(StoredResponse {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        });
        assert!(matches!(s.begin("/r", "k", fp), Begin::Proceed(_)));
    }

    #[test]
    fn keys_are_scoped_per_route() {
        let s = IdempotencyStore::new();
        let Begin::Proceed(c) = s.begin("/a", "k", fingerprint("POST", "/a", b"{}")) else {
            panic!()
        };
        c.complete(ok("a"));
        assert!(matches!(
            s.begin("/b", "k", fingerprint("POST", "/b", b"{}")),
            Begin::Proceed(_)
        ));
    }
}
