//! Webhook subscriptions of a plant's Business Central system: one on `productionOrders` and
//! one on `manufacturingItems` of the extension's API, created once the middleware's HTTP
//! server listens (the system calls back into it before it answers: the handshake), and
//! renewed when less than half of their 3-day lifetime remains.
//!
//! How long a subscription has left is read from the system's own clock only:
//! `expirationDateTime` minus the `Date` header of the answer it came in. Business time runs
//! `time_scale` times faster than wall time in an andon run, so the middleware's wall clock
//! would renew far too late.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use andon_contracts::PlantId;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::Collection;
use super::wire::CUSTOM;

/// How long a subscription lives from its creation or renewal.
pub const LIFETIME: TimeDelta = TimeDelta::days(3);

/// The collections the middleware subscribes to in each plant.
pub const WATCHED: [Collection; 2] = [Collection::ProductionOrders, Collection::ManufacturingItems];

/// The `resource` of a subscription on `collection` of company `cid`, relative to the plant
/// base: `api/andon/manufacturing/v1.0/companies({cid})/productionOrders`.
pub fn resource(collection: Collection, cid: &str) -> String {
    format!("{CUSTOM}/companies({cid})/{}", collection.name())
}

/// A subscription the middleware holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The plant whose system it is in.
    pub plant: PlantId,
    /// What it watches (relative to the plant base).
    pub resource: String,
    /// `subscriptionId`.
    pub id: String,
    /// Its current `@odata.etag`.
    pub etag: String,
    /// The secret every notification of it carries.
    pub client_state: String,
    /// Where it notifies.
    pub notification_url: String,
}

impl Subscription {
    /// The subscription of an answer (`POST` or `PATCH` 201/200, `GET` 200) for `plant`,
    /// with the secret it was created with (an answer may echo it; the one sent wins).
    pub fn of_answer(plant: &PlantId, answer: &Value, client_state: &str) -> Result<Self, String> {
        let field = |k: &str| {
            answer
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{k} is missing from the subscription"))
        };
        Ok(Self {
            plant: plant.clone(),
            resource: field("resource")?,
            id: field("subscriptionId")?,
            etag: field("@odata.etag")?,
            client_state: client_state.to_string(),
            notification_url: field("notificationUrl")?,
        })
    }

    /// The body of a `PATCH` that renews it (and points it at `notification_url`).
    pub fn renewal(&self, notification_url: &str) -> Value {
        create_body(notification_url, &self.resource, &self.client_state)
    }
}

/// The body of `POST api/v2.0/subscriptions`.
pub fn create_body(notification_url: &str, resource: &str, client_state: &str) -> Value {
    json!({
        "notificationUrl": notification_url,
        "resource": resource,
        "clientState": client_state,
    })
}

/// A new secret for a subscription.
pub fn new_client_state() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Reads an HTTP date (IMF-fixdate, `Mon, 02 Nov 2026 06:00:00 GMT`).
pub fn http_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// How long a subscription expiring at `expiration` (`expirationDateTime`) has left at
/// `date` (the `Date` header of the answer that carried it): both the system's clock.
pub fn remaining(expiration: &str, date: &str) -> Result<TimeDelta, String> {
    let expires = DateTime::parse_from_rfc3339(expiration.trim())
        .map_err(|e| format!("expirationDateTime {expiration:?}: {e}"))?;
    let now = http_date(date).ok_or_else(|| format!("Date {date:?} is not an HTTP date"))?;
    Ok(expires.with_timezone(&Utc) - now)
}

/// Whether a subscription with `remaining` left is renewed now: less than half its lifetime.
pub fn needs_renewal(remaining: TimeDelta) -> bool {
    remaining < LIFETIME / 2
}

/// The subscriptions the middleware holds, and the secrets notifications must carry.
#[derive(Debug, Default)]
pub struct Registry {
    held: Mutex<BTreeMap<(PlantId, String), Subscription>>,
    /// Secrets per plant, including those of subscriptions being created (a notification may
    /// arrive before the creation's answer does).
    secrets: Mutex<BTreeMap<PlantId, BTreeSet<String>>>,
}

impl Registry {
    /// The subscription held on `resource` of `plant`'s system.
    pub fn get(&self, plant: &PlantId, resource: &str) -> Option<Subscription> {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(plant.clone(), resource.to_string()))
            .cloned()
    }

    /// Holds `s` (replacing the one on its resource).
    pub fn put(&self, s: Subscription) {
        self.expect(&s.plant, &s.client_state);
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((s.plant.clone(), s.resource.clone()), s);
    }

    /// Forgets the subscription on `resource` of `plant`'s system (gone: 404). Its secret
    /// stays accepted: a notification already on its way is still genuine.
    pub fn forget(&self, plant: &PlantId, resource: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(plant.clone(), resource.to_string()));
    }

    /// Accepts `secret` from `plant`'s system from now on.
    pub fn expect(&self, plant: &PlantId, secret: &str) {
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(plant.clone())
            .or_default()
            .insert(secret.to_string());
    }

    /// Whether a notification from `plant`'s system carrying `client_state` is genuine.
    pub fn accepts(&self, plant: &PlantId, client_state: Option<&str>) -> bool {
        let Some(c) = client_state.filter(|c| !c.is_empty()) else {
            return false;
        };
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(plant)
            .is_some_and(|s| s.contains(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifetime_left_is_read_from_the_systems_clock() {
        let left = remaining("2026-11-05T06:00:00Z", "Mon, 02 Nov 2026 06:00:00 GMT").unwrap();
        assert_eq!(left, TimeDelta::days(3));
        assert!(!needs_renewal(left));
        let left = remaining("2026-11-05T06:00:00Z", "Wed, 04 Nov 2026 06:00:00 GMT").unwrap();
        assert_eq!(left, TimeDelta::days(1));
        assert!(needs_renewal(left));
        // Exactly half left is not yet less than half.
        let half = remaining("2026-11-05T06:00:00Z", "Tue, 03 Nov 2026 18:00:00 GMT").unwrap();
        assert_eq!(half, TimeDelta::hours(36));
        assert!(!needs_renewal(half));
        assert!(needs_renewal(half - TimeDelta::seconds(1)));
        // Expired already: negative, renewed (the system will say 404 if it is gone).
        let gone = remaining("2026-11-05T06:00:00Z", "Fri, 06 Nov 2026 06:00:00 GMT").unwrap();
        assert!(gone < TimeDelta::zero() && needs_renewal(gone));
        assert!(remaining("soon", "Mon, 02 Nov 2026 06:00:00 GMT").is_err());
        assert!(remaining("2026-11-05T06:00:00Z", "2026-11-02").is_err());
        assert_eq!(
            http_date("Mon, 02 Nov 2026 06:00:00 GMT")
                .unwrap()
                .to_rfc3339(),
            "2026-11-02T06:00:00+00:00"
        );
    }

    #[test]
    fn an_answer_is_a_subscription_and_its_secret_is_checked() {
        let plant = PlantId::parse("2000").unwrap();
        let r = resource(Collection::ProductionOrders, "c-1");
        assert_eq!(
            r,
            "api/andon/manufacturing/v1.0/companies(c-1)/productionOrders"
        );
        let answer = json!({"@odata.etag": "W/\"JzE7Jw==\"", "subscriptionId": "s-1",
                            "notificationUrl": "http://mw/events/erp/bc/2000", "resource": r,
                            "userId": "u", "lastModifiedDateTime": "2026-11-02T06:00:00Z",
                            "clientState": "", "expirationDateTime": "2026-11-05T06:00:00Z"});
        let s = Subscription::of_answer(&plant, &answer, "secret").unwrap();
        assert_eq!(
            (s.id.as_str(), s.etag.as_str(), s.client_state.as_str()),
            ("s-1", "W/\"JzE7Jw==\"", "secret")
        );
        assert_eq!(
            s.renewal("http://mw2/events/erp/bc/2000"),
            json!({"notificationUrl": "http://mw2/events/erp/bc/2000", "resource": r, "clientState": "secret"})
        );
        assert!(Subscription::of_answer(&plant, &json!({"subscriptionId": "s"}), "x").is_err());
        let reg = Registry::default();
        assert!(!reg.accepts(&plant, Some("secret")));
        reg.put(s.clone());
        assert_eq!(reg.get(&plant, &r), Some(s));
        assert!(reg.accepts(&plant, Some("secret")));
        assert!(!reg.accepts(&plant, Some("guess")));
        assert!(!reg.accepts(&plant, None));
        assert!(!reg.accepts(&PlantId::parse("3000").unwrap(), Some("secret")));
        reg.forget(&plant, &r);
        assert_eq!(reg.get(&plant, &r), None);
        assert!(reg.accepts(&plant, Some("secret")), "a late notification");
        assert_ne!(new_client_state(), new_client_state());
    }
}
