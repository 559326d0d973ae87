//! Optional OAuth 2.0 client-credentials authentication with plant-scoped bearer tokens.
//! Off by default. When on, `/api/v1` calls need `Authorization: Bearer …`:
//! missing or expired → 401 with `WWW-Authenticate: Bearer`; another plant → 403 `plant-scope`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use andon_contracts::PlantId;
use andon_contracts::api::TokenResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

/// Authentication settings of a simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether tokens are required (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Client id → secret (default: `andon` / `andon-secret`).
    #[serde(default = "default_clients")]
    pub clients: HashMap<String, String>,
    /// Token lifetime in seconds (default 3600).
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
}

fn default_clients() -> HashMap<String, String> {
    HashMap::from([("andon".to_string(), "andon-secret".to_string())])
}

fn default_ttl() -> u64 {
    3600
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            clients: default_clients(),
            ttl_secs: default_ttl(),
        }
    }
}

/// The plants a request's token is good for (all plants when authentication is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Authentication is off.
    Any,
    /// These plants.
    Plants(BTreeSet<PlantId>),
}

impl Scope {
    /// 403 `plant-scope` unless the token covers `plant`.
    pub fn check(&self, plant: &PlantId) -> Result<(), ApiError> {
        match self {
            Scope::Any => Ok(()),
            Scope::Plants(p) if p.contains(plant) => Ok(()),
            Scope::Plants(_) => Err(ApiError::plant_scope(plant.as_str())),
        }
    }

    /// For data kept across plants (a material master): 403 `plant-scope` unless the token
    /// covers one of `plants`, or `plants` is empty (data of no plant in particular).
    pub fn check_any<'a>(
        &self,
        plants: impl IntoIterator<Item = &'a PlantId>,
    ) -> Result<(), ApiError> {
        let mut first = None;
        for p in plants {
            if self.check(p).is_ok() {
                return Ok(());
            }
            first.get_or_insert(p);
        }
        match first {
            Some(p) => Err(ApiError::plant_scope(p.as_str())),
            None => Ok(()),
        }
    }
}

/// The most live tokens a simulator keeps; issuing one more evicts the oldest.
pub const MAX_TOKENS: usize = 10_000;

#[derive(Debug, Clone)]
struct Token {
    plants: BTreeSet<PlantId>,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
}

/// Issues and checks tokens.
#[derive(Clone)]
pub struct Auth {
    config: Arc<Mutex<AuthConfig>>,
    tokens: Arc<Mutex<HashMap<String, Token>>>,
}

impl Auth {
    /// Authentication with these settings.
    pub fn new(config: AuthConfig) -> Self {
        Self {
            config: Arc::new(Mutex::new(config)),
            tokens: Arc::default(),
        }
    }

    /// How many tokens are kept (live ones; expired ones go when the next is issued).
    pub fn tokens_kept(&self) -> usize {
        self.tokens.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// Whether tokens are required.
    pub fn enabled(&self) -> bool {
        self.config.lock().map(|c| c.enabled).unwrap_or(false)
    }

    /// Switches authentication on or off at run time.
    pub fn set_enabled(&self, on: bool) {
        if let Ok(mut c) = self.config.lock() {
            c.enabled = on;
        }
    }

    /// `POST /oauth/token` with form fields.
    pub fn issue(
        &self,
        form: &HashMap<String, String>,
        known_plants: &BTreeSet<PlantId>,
    ) -> Result<TokenResponse, ApiError> {
        let bad = |detail: &str| ApiError::of("invalid-request", detail);
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err(bad("grant_type must be client_credentials"));
        }
        let (id, secret) = match (form.get("client_id"), form.get("client_secret")) {
            (Some(i), Some(s)) => (i, s),
            _ => return Err(bad("client_id and client_secret are required")),
        };
        let cfg = self.config.lock().map(|c| c.clone()).unwrap_or_default();
        if cfg.clients.get(id) != Some(secret) {
            return Err(ApiError::of(
                "invalid-client",
                "Client authentication failed",
            ));
        }
        let plants: BTreeSet<PlantId> = match form.get("scope") {
            None => known_plants.clone(),
            Some(s) => {
                let mut out = BTreeSet::new();
                for part in s.split_whitespace() {
                    let p = part
                        .strip_prefix("plant:")
                        .and_then(|p| PlantId::parse(p).ok())
                        .ok_or_else(|| {
                            bad(&format!("scope {part:?} must be plant:<4 characters>"))
                        })?;
                    if !known_plants.contains(&p) {
                        return Err(bad(&format!(
                            "scope {part:?} names a plant that is not defined"
                        )));
                    }
                    out.insert(p);
                }
                out
            }
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = Utc::now();
        let scope = plants
            .iter()
            .map(|p| format!("plant:{p}"))
            .collect::<Vec<_>>()
            .join(" ");
        if let Ok(mut t) = self.tokens.lock() {
            // Expired tokens go; at the limit, the oldest goes: a token storm cannot grow
            // the store.
            t.retain(|_, tok| tok.expires > now);
            while t.len() >= MAX_TOKENS {
                let oldest = t
                    .iter()
                    .min_by_key(|(_, tok)| tok.issued)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => t.remove(&k),
                    None => break,
                };
            }
            t.insert(
                token.clone(),
                Token {
                    plants,
                    issued: now,
                    expires: now + Duration::from_secs(cfg.ttl_secs),
                },
            );
        }
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: cfg.ttl_secs,
            scope,
        })
    }

    /// Checks an `Authorization` header. `valid_after`: tokens issued before are expired.
    pub fn check(
        &self,
        header: Option<&str>,
        valid_after: Option<DateTime<Utc>>,
    ) -> Result<Scope, ApiError> {
        if !self.enabled() {
            return Ok(Scope::Any);
        }
        let unauthorized = |d: &str| ApiError::of("unauthorized", d);
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| unauthorized("A bearer token is required"))?;
        let tokens = self
            .tokens
            .lock()
            .map_err(|_| unauthorized("token store unavailable"))?;
        let t = tokens
            .get(token.trim())
            .ok_or_else(|| unauthorized("Unknown access token"))?;
        let now = Utc::now();
        if t.expires <= now || valid_after.is_some_and(|v| t.issued < v) {
            return Err(unauthorized("The access token has expired"));
        }
        Ok(Scope::Plants(t.plants.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(scope: Option<&str>) -> HashMap<String, String> {
        let mut f = HashMap::from([
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), "andon".to_string()),
            ("client_secret".to_string(), "andon-secret".to_string()),
        ]);
        if let Some(s) = scope {
            f.insert("scope".into(), s.into());
        }
        f
    }

    fn plants() -> BTreeSet<PlantId> {
        ["1000", "2000"]
            .iter()
            .map(|p| PlantId::parse(*p).unwrap())
            .collect()
    }

    #[test]
    fn a_token_storm_keeps_the_store_bounded_and_expired_tokens_go() {
        let a = Auth::new(AuthConfig {
            enabled: true,
            ..Default::default()
        });
        let first = a.issue(&form(None), &plants()).unwrap();
        for _ in 0..MAX_TOKENS + 50 {
            a.issue(&form(None), &plants()).unwrap();
        }
        assert_eq!(a.tokens_kept(), MAX_TOKENS);
        // The oldest was evicted: it no longer works.
        let r = a.check(Some(&format!("Bearer {}", first.access_token)), None);
        assert_eq!(r.unwrap_err().code(), "unauthorized");
        // Tokens that expire at once are swept when the next is issued.
        let b = Auth::new(AuthConfig {
            enabled: true,
            ttl_secs: 0,
            ..Default::default()
        });
        for _ in 0..100 {
            b.issue(&form(None), &plants()).unwrap();
        }
        assert!(b.tokens_kept() <= 1, "{}", b.tokens_kept());
    }

    #[test]
    fn off_by_default_allows_everything() {
        let a = Auth::new(AuthConfig::default());
        assert_eq!(a.check(None, None).unwrap(), Scope::Any);
    }

    #[test]
    fn token_is_scoped_to_plants() {
        let a = Auth::new(AuthConfig {
            enabled: true,
            ..Default::default()
        });
        let t = a.issue(&form(Some("plant:1000")), &plants()).unwrap();
        let scope = a
            .check(Some(&format!("Bearer {}", t.access_token)), None)
            .unwrap();
        assert!(scope.check(&PlantId::parse("1000").unwrap()).is_ok());
        let err = scope.check(&PlantId::parse("2000").unwrap()).unwrap_err();
        assert_eq!((err.status(), err.code()), (403, "plant-scope"));
    }

    #[test]
    fn missing_wrong_and_expired_tokens_are_401() {
        let a = Auth::new(AuthConfig {
            enabled: true,
            ..Default::default()
        });
        assert_eq!(a.check(None, None).unwrap_err().status(), 401);
        assert_eq!(
            a.check(Some("Bearer nope"), None).unwrap_err().status(),
            401
        );
        let t = a.issue(&form(None), &plants()).unwrap();
        let h = format!("Bearer {}", t.access_token);
        assert!(a.check(Some(&h), None).is_ok());
        let later = Utc::now() + Duration::from_secs(1);
        assert_eq!(a.check(Some(&h), Some(later)).unwrap_err().status(), 401);
    }

    #[test]
    fn wrong_secret_is_refused() {
        let a = Auth::new(AuthConfig {
            enabled: true,
            ..Default::default()
        });
        let mut f = form(None);
        f.insert("client_secret".into(), "guess".into());
        assert_eq!(a.issue(&f, &plants()).unwrap_err().status(), 401);
    }
}
