//! Webhook subscriptions as Business Central keeps them: `POST subscriptions` validates the
//! notification URL first (a POST to it with `validationToken`, which must come back in a
//! 200 within the handshake timeout), a subscription lives three days of business time
//! unless renewed by a `PATCH` with `If-Match`, an expired one is gone. Each change is
//! notified to the newest live subscription on its collection ([`super::events`]).
//!
//! Every creation, renewal, deletion and expiry is noted in the history
//! (`bc.subscription`), so the checkers know when a plant's middleware was subscribed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use andon_contracts::PlantId;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::entities::{company_id, date_time, tagged};
use super::error::BcError;
use super::{Answer, Call, Note};
use crate::erp::Erp;

/// A subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `subscriptionId`.
    pub id: String,
    /// The plant whose system holds it.
    pub plant: PlantId,
    /// Where notifications go.
    pub notification_url: String,
    /// The collection watched (`api/v2.0/companies(…)/items`).
    pub resource: String,
    /// Its entity set.
    pub set: String,
    /// `clientState`.
    pub client_state: Option<String>,
    /// `expirationDateTime` (business time).
    pub expires: DateTime<Utc>,
    /// `lastModifiedDateTime`.
    pub modified: DateTime<Utc>,
    /// Creation or renewal order: the newest is notified.
    pub order: u64,
}

impl Subscription {
    /// The entity as Business Central answers it.
    pub fn entity(&self) -> Value {
        tagged(json!({
            "subscriptionId": self.id,
            "notificationUrl": self.notification_url,
            "resource": self.resource,
            "userId": "00000000-0000-0000-0000-000000000000",
            "lastModifiedDateTime": date_time(self.modified),
            "clientState": self.client_state.clone().unwrap_or_default(),
            "expirationDateTime": date_time(self.expires),
        }))
    }

    fn etag(&self) -> String {
        self.entity()["@odata.etag"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Every plant's subscriptions.
#[derive(Debug, Default)]
pub struct Registry {
    subs: Mutex<BTreeMap<String, Subscription>>,
    seq: AtomicU64,
}

/// The entity sets whose changes are notified, per API.
pub const NOTIFIED: &[(&str, &str)] = &[
    ("api/v2.0", "items"),
    ("api/andon/manufacturing/v1.0", "productionOrders"),
    ("api/andon/manufacturing/v1.0", "manufacturingItems"),
];

impl Registry {
    /// Removes the subscriptions expired at `now`; the removed.
    pub fn purge(&self, now: DateTime<Utc>) -> Vec<Subscription> {
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> = subs
            .values()
            .filter(|s| s.expires <= now)
            .map(|s| s.id.clone())
            .collect();
        gone.iter().filter_map(|id| subs.remove(id)).collect()
    }

    /// The newest live subscription of `plant` on the first of `sets` that has one.
    pub fn live_for(
        &self,
        plant: &PlantId,
        sets: &[&str],
        now: DateTime<Utc>,
    ) -> Option<Subscription> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        sets.iter().find_map(|set| {
            subs.values()
                .filter(|s| &s.plant == plant && s.set == *set && s.expires > now)
                .max_by_key(|s| s.order)
                .cloned()
        })
    }

    fn of_plant(&self, plant: &PlantId) -> Vec<Subscription> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.values()
            .filter(|s| &s.plant == plant)
            .cloned()
            .collect()
    }

    fn get(&self, plant: &PlantId, id: &str) -> Option<Subscription> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.get(id).filter(|s| &s.plant == plant).cloned()
    }

    fn put(&self, mut s: Subscription) -> Subscription {
        s.order = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.insert(s.id.clone(), s.clone());
        s
    }

    fn remove(&self, id: &str) -> Option<Subscription> {
        self.subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
    }
}

/// Notes a subscription's life event in the history.
pub fn note(erp: &Erp, op: &str, s: &Subscription) {
    erp.core.note("bc.subscription", detail(op, s));
}

/// The detail of a `bc.subscription` note.
pub fn detail(op: &str, s: &Subscription) -> Value {
    json!({
        "op": op,
        "plant": s.plant,
        "id": s.id,
        "set": s.set,
        "resource": s.resource,
        "expires": date_time(s.expires),
    })
}

/// Runs a request on `subscriptions`.
pub(crate) async fn run(erp: &Erp, call: &Call) -> Answer {
    let now = erp.core.clock.now();
    for s in erp.bc.subscriptions.purge(now) {
        note(erp, "expired", &s);
    }
    let note_ = Note {
        op: if call.res.key.is_some() {
            "subscriptions({id})".into()
        } else {
            "subscriptions".into()
        },
        body: serde_json::from_slice(&call.body).ok(),
        ..Note::default()
    };
    let result = match (&call.method, &call.res.key) {
        (&Method::GET, None) => {
            let all = erp
                .bc
                .subscriptions
                .of_plant(&call.plant)
                .iter()
                .map(Subscription::entity)
                .collect();
            Ok((
                StatusCode::OK,
                Some(call.opts.collection(&call.context("subscriptions"), all)),
            ))
        }
        (&Method::GET, Some(id)) => {
            found(erp, call, id).map(|s| (StatusCode::OK, Some(s.entity())))
        }
        (&Method::POST, None) => create(erp, call, now).await,
        (&Method::PATCH, Some(id)) => renew(erp, call, id, now).await,
        (&Method::DELETE, Some(id)) => delete(erp, call, id),
        (m, _) => Err(BcError::method(format!(
            "The {m} method is not allowed on subscriptions"
        ))),
    };
    match result {
        Ok((status, Some(v))) => Answer::ok(status, v, note_),
        Ok((status, None)) => Answer {
            status,
            body: Ok(None),
            raw: None,
            note: note_,
        },
        Err(e) => Answer::error(e, note_),
    }
}

type Done = Result<(StatusCode, Option<Value>), BcError>;

fn found(erp: &Erp, call: &Call, id: &str) -> Result<Subscription, BcError> {
    erp.bc
        .subscriptions
        .get(&call.plant, id)
        .ok_or_else(|| BcError::not_found(format!("The subscription '{id}' does not exist")))
}

/// The collection a `resource` names, normalised (`api/…/companies(…)/set`), and its set.
fn resource_of(call: &Call, text: &str) -> Result<(String, String), BcError> {
    let path = match text.find("/plant/") {
        Some(i) => text[i + 7..].split_once('/').map_or("", |(_, r)| r),
        None => text,
    };
    let path = path.trim_start_matches('/');
    let company = company_id(&call.plant);
    NOTIFIED
        .iter()
        .find_map(|(root, set)| {
            let want = format!("{root}/companies({company})/{set}");
            path.eq_ignore_ascii_case(&want).then(|| (want, set.to_string()))
        })
        .ok_or_else(|| {
            BcError::case("invalid-request", Some("subscription-resource"), format!(
                "The resource '{text}' cannot be subscribed to: expected api/v2.0/companies({company})/items or \
                 api/andon/manufacturing/v1.0/companies({company})/productionOrders or …/manufacturingItems"
            ), "")
        })
}

fn text_of<'a>(body: &'a Value, k: &str) -> Option<&'a str> {
    body.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

async fn create(erp: &Erp, call: &Call, now: DateTime<Utc>) -> Done {
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| BcError::bad_request(format!("Malformed JSON: {e}")))?;
    let url = text_of(&body, "notificationUrl")
        .ok_or_else(|| BcError::bad_request("The property 'notificationUrl' is required"))?;
    let resource = text_of(&body, "resource")
        .ok_or_else(|| BcError::bad_request("The property 'resource' is required"))?;
    let (resource, set) = resource_of(call, resource)?;
    let limits = super::contract::limits();
    if erp.bc.subscriptions.of_plant(&call.plant).len() >= limits.max_subscriptions as usize {
        return Err(BcError::case(
            "invalid-request",
            Some("subscription-limit"),
            format!(
                "The maximum number of subscriptions ({}) has been reached",
                limits.max_subscriptions
            ),
            "",
        ));
    }
    handshake(url, &call.ctx, limits.handshake_timeout()).await?;
    let s = erp.bc.subscriptions.put(Subscription {
        id: uuid::Uuid::new_v4().simple().to_string(),
        plant: call.plant.clone(),
        notification_url: url.to_string(),
        resource,
        set,
        client_state: text_of(&body, "clientState").map(str::to_string),
        expires: now + limits.subscription_lifetime(),
        modified: now,
        order: 0,
    });
    note(erp, "created", &s);
    Ok((StatusCode::CREATED, Some(s.entity())))
}

async fn renew(erp: &Erp, call: &Call, id: &str, now: DateTime<Utc>) -> Done {
    let s = found(erp, call, id)?;
    match call.if_match.as_deref().map(str::trim) {
        None => {
            return Err(BcError::of(
                "precondition-required",
                "Could not find the If-Match header",
                "",
            ));
        }
        Some("*") => {}
        Some(tag) if tag == s.etag() => {}
        Some(_) => {
            return Err(BcError::of(
                "precondition-failed",
                "Another user has already changed the record",
                "",
            ));
        }
    }
    let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if let Some(r) = text_of(&body, "resource") {
        let (r, _) = resource_of(call, r)?;
        if r != s.resource {
            return Err(BcError::bad_request(
                "The resource of a subscription cannot be changed",
            ));
        }
    }
    let url = text_of(&body, "notificationUrl")
        .unwrap_or(&s.notification_url)
        .to_string();
    let limits = super::contract::limits();
    handshake(&url, &call.ctx, limits.handshake_timeout()).await?;
    let s = erp.bc.subscriptions.put(Subscription {
        notification_url: url,
        client_state: text_of(&body, "clientState")
            .map(str::to_string)
            .or(s.client_state),
        expires: now + limits.subscription_lifetime(),
        modified: now,
        ..s
    });
    note(erp, "renewed", &s);
    Ok((StatusCode::OK, Some(s.entity())))
}

fn delete(erp: &Erp, call: &Call, id: &str) -> Done {
    let s = found(erp, call, id)?;
    if let Some(tag) = call.if_match.as_deref().map(str::trim)
        && tag != "*"
        && tag != s.etag()
    {
        return Err(BcError::of(
            "precondition-failed",
            "Another user has already changed the record",
            "",
        ));
    }
    erp.bc.subscriptions.remove(&s.id);
    note(erp, "deleted", &s);
    Ok((StatusCode::NO_CONTENT, None))
}

/// The validation handshake: a POST to `url` with `validationToken`; the subscriber must
/// answer 200 with the token within `timeout`.
async fn handshake(url: &str, ctx: &crate::core::Ctx, timeout: Duration) -> Result<(), BcError> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}validationToken={token}");
    let refused = |why: String| {
        BcError::case(
            "invalid-request",
            Some("handshake"),
            format!("The subscription could not be validated: the notification URL {url} {why}"),
            "",
        )
    };
    let answer = tokio::time::timeout(
        timeout,
        crate::oneshot::post(&full, ctx.traceparent.as_deref()),
    )
    .await
    .map_err(|_| refused(format!("did not answer within {} s", timeout.as_secs())))?
    .map_err(|e| refused(format!("could not be reached: {e}")))?;
    let body = String::from_utf8_lossy(&answer.1);
    let body = body.trim();
    let echoed = body == token || serde_json::from_str::<String>(body).is_ok_and(|s| s == token);
    match (answer.0, echoed) {
        (200, true) => Ok(()),
        (200, false) => Err(refused("answered 200 without the validation token".into())),
        (status, _) => Err(refused(format!("answered {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, set: &str, expires_h: i64, order: u64) -> Subscription {
        let t0 = crate::clock::default_start();
        Subscription {
            id: id.into(),
            plant: PlantId::parse("1000").unwrap(),
            notification_url: "http://sut/n".into(),
            resource: format!("api/x/{set}"),
            set: set.into(),
            client_state: None,
            expires: t0 + chrono::Duration::hours(expires_h),
            modified: t0,
            order,
        }
    }

    #[test]
    fn the_newest_live_subscription_of_the_first_set_is_notified() {
        let r = Registry::default();
        r.put(sub("a", "items", 72, 0));
        r.put(sub("b", "manufacturingItems", 72, 0));
        r.put(sub("c", "manufacturingItems", 72, 0));
        let p = PlantId::parse("1000").unwrap();
        let t0 = crate::clock::default_start();
        let s = r
            .live_for(&p, &["manufacturingItems", "items"], t0)
            .unwrap();
        assert_eq!(s.id, "c");
        let later = t0 + chrono::Duration::hours(73);
        assert!(r.live_for(&p, &["items"], later).is_none());
        assert_eq!(r.purge(later).len(), 3);
        assert!(r.of_plant(&p).is_empty());
    }

    #[test]
    fn the_etag_changes_with_a_renewal() {
        let a = sub("a", "items", 72, 1);
        let b = Subscription {
            expires: a.expires + chrono::Duration::hours(1),
            ..a.clone()
        };
        assert_ne!(a.etag(), b.etag());
    }
}
