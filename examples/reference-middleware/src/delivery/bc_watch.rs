//! Keeping the webhook subscriptions of the Business Central plants alive
//! ([`crate::bc::subscription`]): created once the middleware listens, looked at every
//! `BC_RENEW_EVERY` (wall time), renewed with `PATCH` + `If-Match` when less than half their
//! lifetime is left by the system's clock (`expirationDateTime − Date`), re-created when
//! gone, pointed at the current notification URL after a restart on another address.
//!
//! These calls realise no event: they carry no `traceparent` (a fresh trace would be one
//! no source event started).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use andon_contracts::{PlantId, System};
use reqwest::header::{DATE, ETAG};
use tokio::sync::watch;

use super::{Answer, Delivery, Target};
use crate::bc::subscription::{self, Subscription};
use crate::bc::wire;
use crate::command::Verb;
use crate::defects::Defect;
use crate::store;

/// How often a `PATCH` refused 412 (the subscription changed since it was read) is read
/// and sent again in one look.
const STALE_RETRIES: usize = 3;
/// A look that keeps failing is logged once in this many.
const LOG_EVERY: u32 = 20;

fn status_error(what: &str, a: &Answer) -> String {
    let code = a
        .json
        .as_ref()
        .and_then(|j| j.get("error")?.get("code")?.as_str())
        .unwrap_or("");
    format!("{what} answered {} {code}", a.status)
}

impl Delivery {
    /// Whether a notification from `plant`'s system carrying `client_state` is genuine (it
    /// carries the secret of a subscription the middleware made).
    pub fn bc_accepts(&self, plant: &PlantId, client_state: Option<&str>) -> bool {
        self.subscriptions.accepts(plant, client_state)
    }

    /// Keeps the subscriptions of every Business Central plant alive until `stop` turns
    /// true; the notifications go to `{notify_base}/{plant}`. Subscriptions kept in the
    /// store are taken up first (and checked, then renewed or re-created, like any).
    pub async fn watch_bc(
        self: Arc<Self>,
        notify_base: String,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let plants = self.dialects.bc_plants();
        if plants.is_empty() {
            return;
        }
        match self.store.call(|c, _| store::bc::subscriptions(c)).await {
            Ok(kept) => kept
                .into_iter()
                .filter(|s| plants.contains(&s.plant))
                .for_each(|s| self.subscriptions.put(s)),
            Err(e) => tracing::warn!(error = %e, "reading the kept subscriptions failed"),
        }
        let mut failing: BTreeMap<PlantId, u32> = BTreeMap::new();
        loop {
            for plant in &plants {
                let url = format!("{notify_base}/{plant}");
                match self.keep_subscribed(plant, &url).await {
                    Ok(()) => {
                        failing.remove(plant);
                    }
                    Err(error) => {
                        // Every look fails while the system is down: say so now and then.
                        let n = failing.entry(plant.clone()).or_default();
                        if n.is_multiple_of(LOG_EVERY) {
                            tracing::warn!(%plant, error, failed = *n + 1, "Business Central subscriptions: trying again");
                        }
                        *n += 1;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// One look at the subscriptions of `plant`'s system.
    async fn keep_subscribed(&self, plant: &PlantId, url: &str) -> Result<(), String> {
        let erp = self
            .targets
            .get(&System::Erp)
            .ok_or("no ERP_URL to subscribe to")?;
        if erp.paused_for().is_some() {
            return Ok(());
        }
        let cid = self
            .bc_company(plant, &None)
            .await
            .map_err(|s| format!("reading the company: {s:?}"))?;
        for collection in subscription::WATCHED {
            let resource = subscription::resource(collection, &cid);
            match self.subscriptions.get(plant, &resource) {
                None => self.subscribe(erp, plant, &resource, url).await?,
                // DEFECT: no-subscription-renewal — a subscription, once made, is never looked
                // at again: not renewed, not re-created when it is gone.
                Some(_) if self.settings.defects.has(Defect::NoSubscriptionRenewal) => {}
                Some(s) => self.renew(erp, s, url).await?,
            }
        }
        Ok(())
    }

    /// Creates the subscription on `resource` of `plant`'s system (the system calls `url`
    /// back with a validation token before it answers).
    async fn subscribe(
        &self,
        erp: &Target,
        plant: &PlantId,
        resource: &str,
        url: &str,
    ) -> Result<(), String> {
        let secret = subscription::new_client_state();
        self.subscriptions.expect(plant, &secret);
        let body = subscription::create_body(url, resource, &secret);
        let path = wire::subscriptions(plant);
        let answer = self
            .manage(erp, Verb::Post, &path, Some(&body), None)
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(status_error(&format!("POST {path}"), &answer));
        }
        let s = self.subscription_of(plant, &answer, resource, url, &secret)?;
        tracing::info!(%plant, resource, id = s.id, "subscribed");
        self.hold(s).await
    }

    /// Looks at subscription `s`: renews it when less than half its lifetime is left (or it
    /// notifies another URL than `url`), re-creates it when it is gone.
    async fn renew(&self, erp: &Target, s: Subscription, url: &str) -> Result<(), String> {
        let path = wire::subscription(&s.plant, &s.id);
        for _ in 0..STALE_RETRIES {
            let read = self.manage(erp, Verb::Get, &path, None, None).await?;
            if read.status == 404 {
                return self.recreate(erp, &s, url).await;
            }
            if !(200..300).contains(&read.status) {
                return Err(status_error(&format!("GET {path}"), &read));
            }
            let json = read.json.clone().unwrap_or_default();
            let expiration = json
                .get("expirationDateTime")
                .and_then(|v| v.as_str())
                .ok_or("the subscription has no expirationDateTime")?;
            let date = header(&read, DATE.as_str()).ok_or("the answer has no Date header")?;
            let left = subscription::remaining(expiration, &date)?;
            if !subscription::needs_renewal(left) && s.notification_url == url {
                return Ok(());
            }
            let ignore_etag = self.settings.defects.has(Defect::IgnoreEtag);
            // DEFECT: ignore-etag — the ETag the subscription had when it was made, not the
            // one just read.
            let etag = if ignore_etag {
                s.etag.clone()
            } else {
                json.get("@odata.etag")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .or_else(|| header(&read, ETAG.as_str()))
                    .ok_or("the subscription has no etag")?
            };
            let body = s.renewal(url);
            let patch = self
                .manage(erp, Verb::Patch, &path, Some(&body), Some(&etag))
                .await?;
            match patch.status {
                200..=299 => {
                    let mut renewed = match &patch.json {
                        Some(_) => self.subscription_of(
                            &s.plant,
                            &patch,
                            &s.resource,
                            url,
                            &s.client_state,
                        )?,
                        None => Subscription {
                            notification_url: url.to_string(),
                            ..s.clone()
                        },
                    };
                    if ignore_etag {
                        renewed.etag = s.etag.clone();
                    }
                    tracing::info!(plant = %s.plant, id = s.id, left_hours = left.num_hours(), "subscription renewed");
                    return self.hold(renewed).await;
                }
                404 => return self.recreate(erp, &s, url).await,
                412 => tracing::debug!(id = s.id, "subscription changed since read: reading again"),
                _ => return Err(status_error(&format!("PATCH {path}"), &patch)),
            }
        }
        Err(format!("PATCH {path}: refused 412 {STALE_RETRIES} times"))
    }

    /// Subscription `s` is gone (expired, deleted): forget it and make a new one.
    async fn recreate(&self, erp: &Target, s: &Subscription, url: &str) -> Result<(), String> {
        tracing::warn!(plant = %s.plant, id = s.id, resource = s.resource, "subscription gone: subscribing again");
        self.subscriptions.forget(&s.plant, &s.resource);
        let (p, r) = (s.plant.to_string(), s.resource.clone());
        self.store
            .call(move |c, _| store::bc::delete_subscription(c, &p, &r))
            .await
            .map_err(|e| e.to_string())?;
        self.subscribe(erp, &s.plant, &s.resource, url).await
    }

    /// The subscription of an answer, kept under the `resource` and `url` the middleware
    /// sent (however the system spells them back).
    fn subscription_of(
        &self,
        plant: &PlantId,
        answer: &Answer,
        resource: &str,
        url: &str,
        secret: &str,
    ) -> Result<Subscription, String> {
        let json = answer.json.as_ref().ok_or("the answer is not JSON")?;
        let mut s = Subscription::of_answer(plant, json, secret)?;
        s.resource = resource.to_string();
        s.notification_url = url.to_string();
        Ok(s)
    }

    /// Holds `s` in memory and in the store.
    async fn hold(&self, s: Subscription) -> Result<(), String> {
        self.subscriptions.put(s.clone());
        self.store
            .call(move |c, _| store::bc::save_subscription(c, &s))
            .await
            .map_err(|e| format!("storing the subscription failed: {e}"))
    }

    /// One call about subscriptions (with `If-Match` when given). A throttled system pauses
    /// the ERP for as long as it says.
    async fn manage(
        &self,
        erp: &Target,
        verb: Verb,
        path: &str,
        body: Option<&serde_json::Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, String> {
        let headers: Vec<(&str, String)> = if_match
            .map(|e| ("if-match", e.to_string()))
            .into_iter()
            .collect();
        let answer = self
            .send(erp, verb, path, &[], body, None, None, &headers)
            .await
            .map_err(|s| format!("{} {path}: {s:?}", verb.as_str()))?;
        if matches!(answer.status, 429 | 503)
            && let Some(after) = answer.retry_after
            && !self.settings.defects.has(Defect::IgnoreRetryAfter)
        {
            erp.pause(after);
        }
        Ok(answer)
    }
}

/// A header of an answer as text.
fn header(a: &Answer, name: &str) -> Option<String> {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
