//! Delivery of the outbox: one dispatcher per target system with a bounded pool of
//! concurrent calls; commands of one aggregate keep their outbox order.
//!
//! Outcomes (DESIGN.md, *Delivery*): 2xx → done; 5xx, timeout, connection error, reset,
//! 409 `idempotency-in-flight` → retry with exponential backoff and full jitter, for as
//! long as the run lasts; 429 / 503 with `Retry-After` → the whole target pauses until
//! then; 401 → a new token, then retry; 422 and other 4xx → dead letter. Look-ups needed
//! to build a body (material master, stock) follow the same rules. A body, once built, is
//! stored with its row, so every retry sends the same payload under the same
//! `Idempotency-Key` and an ambiguous outcome (`commit_then_reset`) is settled by the
//! simulator's replay. Business Central has no idempotency key: its inserts are settled by
//! reading the ledger back ([`bc_calls`]); its webhook subscriptions are kept alive by
//! [`bc_watch`].

mod bc_batch;
mod bc_calls;
mod bc_watch;
mod dispatch;
pub mod lease;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use andon_contracts::api::{StockList, TokenResponse};
use andon_contracts::{Material, MaterialId, PlantId, System};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::bc::{Companies, subscription};
use crate::config::{Config, Credentials};
use crate::defects::{Defect, Defects};
use crate::dialect::ErpDialects;
use crate::flows::{self, Body, Command, LotRef, Verb};
use crate::s4hana::session::{self, Sessions};
use crate::s4hana::wire::{self, Outbound};
use crate::s4hana::{self as s4, ReadBack, Release, Releases};
use crate::store::{self, DeadLetterInput, Finish, OutboxRow, Prepared, Store, now_ms};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Delivered (or already done).
    Done,
    /// Nothing to send (recorded when the body was built).
    Skipped,
    /// Try again, after `after` when the target said so.
    Retry {
        /// `Retry-After`, when given.
        after: Option<Duration>,
        /// The target throttles (429 / 503): pause it.
        throttled: bool,
        /// What went wrong.
        error: String,
    },
    /// The token was refused: fetch a new one, then retry.
    Reauthenticate,
    /// A business rejection: dead letter, never retried.
    Reject {
        /// HTTP status.
        status: u16,
        /// Problem code (or `http-<status>`).
        reason: String,
        /// The problem document.
        problem: Option<Value>,
        /// The refused call.
        call: String,
    },
    /// Given up without a dead letter (only defects do this).
    Dropped(String),
    /// The request could not be put into the target's dialect: a dead letter, not sent.
    Untranslatable {
        /// Why.
        error: String,
        /// The call.
        call: String,
    },
}

/// An answer from a simulator.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The body as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as it came (a `$metadata` document is XML).
    pub raw: Vec<u8>,
}

impl Answer {
    /// The problem code (andon), or the SAP message (`error.code`, e.g. `M7/021`).
    fn code(&self) -> Option<&str> {
        let json = self.json.as_ref()?;
        json.get("code")
            .or_else(|| json.get("error")?.get("code"))?
            .as_str()
    }
}

/// Classifies an answer. `done_on` is a problem code that means "already done".
pub fn classify(answer: &Answer, done_on: Option<&str>, call: &str) -> Step {
    let status = answer.status;
    let retry = |throttled: bool| Step::Retry {
        after: answer.retry_after,
        throttled,
        error: format!("{status} {}", answer.code().unwrap_or("")),
    };
    match status {
        200..=299 => Step::Done,
        409 if done_on.is_some() && answer.code() == done_on => Step::Done,
        409 if answer.code() == Some("idempotency-in-flight") => retry(false),
        401 => Step::Reauthenticate,
        429 | 503 => retry(true),
        408 | 500..=599 => retry(false),
        _ => Step::Reject {
            status,
            reason: answer
                .code()
                .map(str::to_string)
                .unwrap_or_else(|| format!("http-{status}")),
            problem: answer.json.clone(),
            call: call.to_string(),
        },
    }
}

/// Classifies an answer of an S/4HANA system (the CSRF refusal is handled before): as
/// [`classify`], except that a 409 (a repeatable request still being processed) is retried.
pub fn classify_s4(answer: &Answer, call: &str) -> Step {
    match answer.status {
        409 => Step::Retry {
            after: answer.retry_after,
            throttled: false,
            error: format!("409 {}", answer.code().unwrap_or("")),
        },
        _ => classify(answer, None, call),
    }
}

/// Exponential backoff with full jitter: uniform in `[0, min(base · 2^(attempt−1), max)]`.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.clamp(1, 20).saturating_sub(1));
    let cap = exp.min(max).as_millis().max(1) as u64;
    Duration::from_millis(rand::random_range(0..=cap))
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
}

/// DEFECT: drop-on-5xx, ignore-retry-after, swallow-rejections — the only place where
/// defects bend an outcome (of a write, and of a throttled read in `lookup`).
fn distort(step: Step, defects: &Defects) -> Step {
    match step {
        Step::Retry { error, .. } if defects.has(Defect::DropOn5xx) => {
            Step::Dropped(format!("gave up after one failed attempt: {error}"))
        }
        Step::Retry {
            throttled: true,
            error,
            ..
        } if defects.has(Defect::IgnoreRetryAfter) => Step::Retry {
            after: Some(Duration::ZERO),
            throttled: false,
            error,
        },
        Step::Reject { reason, .. } if defects.has(Defect::SwallowRejections) => {
            Step::Dropped(format!("rejection swallowed: {reason}"))
        }
        other => other,
    }
}

/// One target system: its base URL, token and pause.
pub struct Target {
    system: System,
    base: String,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    paused_until: Mutex<Option<Instant>>,
    wake: Notify,
}

impl Target {
    fn paused_for(&self) -> Option<Duration> {
        let until = (*self.paused_until.lock().unwrap_or_else(|e| e.into_inner()))?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
        tracing::info!(target_system = %self.system, pause_ms = d.as_millis() as u64, "target throttled: pausing");
    }
}

/// Settings of delivery.
#[derive(Debug, Clone)]
struct Settings {
    timeout: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
    workers: usize,
    idle_poll: Duration,
    credentials: Option<Credentials>,
    defects: Defects,
}

/// The delivery side of the middleware.
pub struct Delivery {
    store: Store,
    http: reqwest::Client,
    settings: Settings,
    targets: BTreeMap<System, Arc<Target>>,
    materials: Mutex<HashMap<MaterialId, Material>>,
    /// The first plant a call was for (only the `single-plant-token` defect reads it).
    first_plant: std::sync::OnceLock<String>,
    /// The API each plant's ERP speaks.
    dialects: ErpDialects,
    /// CSRF sessions with the plants' S/4HANA systems.
    sessions: Sessions,
    /// The release each S/4HANA plant's system is spoken to at.
    releases: Releases,
    /// The company of each Business Central plant's system.
    companies: Companies,
    /// The journal-line inserts waiting to be posted together, per Business Central plant.
    batches: bc_batch::Batches,
    /// The webhook subscriptions held with the Business Central plants' systems.
    subscriptions: subscription::Registry,
    /// The delivery lease: only its holder delivers the (shared) outbox.
    lease: lease::Lease,
}

impl Delivery {
    /// Delivery to the targets of `config`.
    pub fn new(store: Store, config: &Config) -> Result<Arc<Self>, reqwest::Error> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(config.workers.max(1) * 2)
            .connect_timeout(config.client_timeout)
            .build()?;
        let targets = config
            .targets
            .iter()
            .map(|(system, base)| {
                (
                    *system,
                    Arc::new(Target {
                        system: *system,
                        base: base.clone(),
                        token: tokio::sync::Mutex::new(None),
                        paused_until: Mutex::new(None),
                        wake: Notify::new(),
                    }),
                )
            })
            .collect();
        Ok(Arc::new(Self {
            store,
            http,
            settings: Settings {
                // DEFECT: short-timeout-new-key — gives up on every call after one second.
                timeout: if config.defects.has(Defect::ShortTimeoutNewKey) {
                    Duration::from_secs(1).min(config.client_timeout)
                } else {
                    config.client_timeout
                },
                backoff_base: config.backoff_base,
                backoff_max: config.backoff_max.max(config.backoff_base),
                workers: config.workers.max(1),
                idle_poll: config.idle_poll,
                credentials: config.credentials.clone(),
                defects: config.defects.clone(),
            },
            targets,
            materials: Mutex::new(HashMap::new()),
            first_plant: std::sync::OnceLock::new(),
            dialects: config.erp_dialects.clone(),
            sessions: Sessions::default(),
            releases: Releases::new(config.erp_dialects.s4_plants()),
            companies: Companies::default(),
            batches: bc_batch::Batches::default(),
            subscriptions: subscription::Registry::default(),
            lease: lease::Lease::new(config.identity(), config.lease),
        }))
    }

    /// The API each plant's ERP speaks.
    pub fn dialects(&self) -> &ErpDialects {
        &self.dialects
    }

    /// Takes the S/4HANA releases the store last detected (`plant`, `release`) over those of
    /// `ERP_DIALECTS`: they were read from the plants' systems after the manifest was written.
    pub fn adopt_releases(&self, detected: &[(String, String)]) {
        self.releases.adopt(detected);
    }

    /// The S/4HANA release `plant`'s system is spoken to at now (`None`: not S/4HANA).
    pub fn release_of(&self, plant: &PlantId) -> Option<Release> {
        self.releases.of(plant)
    }

    /// Starts one dispatcher per target and the keeper of the delivery lease; they stop
    /// when `stop` turns true. The dispatchers deliver while the lease is held: take it
    /// first ([`Delivery::try_lease`]) to deliver from the start.
    pub fn start(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks: Vec<_> = self
            .targets
            .values()
            .map(|t| {
                let me = self.clone();
                let t = t.clone();
                let stop = stop.clone();
                tokio::spawn(async move { me.dispatch(t, stop).await })
            })
            .collect();
        tasks.push(tokio::spawn(self.clone().keep_lease(stop)));
        tasks
    }

    /// Wakes the dispatchers of `targets` (new commands).
    pub fn wake(&self, targets: &BTreeSet<System>) {
        for s in targets {
            if let Some(t) = self.targets.get(s) {
                t.wake.notify_one();
            }
        }
    }

    /// Refreshes the cached material master (from `material.changed`).
    pub fn material_changed(&self, material: &Material) {
        self.materials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(material.material.clone(), material.clone());
    }

    #[tracing::instrument(skip_all, fields(target_system = %target.system, row = row.id, key = %row.key))]
    async fn deliver(&self, target: &Target, row: OutboxRow) {
        let step = self.attempt(target, &row).await;
        let step = distort(step, &self.settings.defects);
        self.settle(target, &row, step).await;
    }

    async fn attempt(&self, target: &Target, row: &OutboxRow) -> Step {
        let traceparent = self.traceparent(&row.trace_id);
        let now = now_ms();
        let (mut body, command) = match &row.request {
            Some(b) => (b.clone(), row.command.clone()),
            None => match self.build(row, &traceparent, now).await {
                Ok(Some(built)) => built,
                Ok(None) => return Step::Skipped,
                Err(step) => return step,
            },
        };
        let c = &command;
        // DEFECT: own-posting-date — the middleware's own date instead of the event's.
        if self.settings.defects.has(Defect::OwnPostingDate)
            && let Some(date) = body.get_mut("posting_date")
        {
            *date = Value::String(chrono::Utc::now().date_naive().to_string());
        }
        // DEFECT: short-timeout-new-key — every attempt goes out under a fresh key.
        let fresh_key;
        let key = if self.settings.defects.has(Defect::ShortTimeoutNewKey) {
            fresh_key = uuid::Uuid::new_v4().simple().to_string();
            fresh_key.as_str()
        } else {
            row.key.as_str()
        };
        if let Some(plant) = self.bc_plant(c, &body) {
            return self
                .bc_post(target, row.id, c, &plant, &body, key, &traceparent)
                .await;
        }
        if c.target == System::Erp
            && let Some((plant, current)) = plant_of(&body)
                .and_then(|p| PlantId::parse(p).ok())
                .and_then(|p| self.releases.of(&p).map(|r| (p, r)))
        {
            // The translation of a row stays the one it was first sent in (a retry after a
            // lost answer must repeat it to get SAP's stored answer); only a refusal because
            // the system was upgraded re-translates it.
            let release = match row.s4_release.as_deref().and_then(Release::parse) {
                Some(r) => r,
                None => match self.pin_release(row.id, current).await {
                    Ok(r) => r,
                    Err(step) => return step,
                },
            };
            let request_id = row.s4_request_id.as_deref().unwrap_or(key);
            let repeatable = Repeatable {
                // DEFECT: no-idempotency-key — no repeatable request either.
                // DEFECT: no-repeatability — creates go out without a repeatable request.
                request_id: Some(request_id).filter(|_| {
                    !self.settings.defects.has(Defect::NoIdempotencyKey)
                        && !self.settings.defects.has(Defect::NoRepeatability)
                }),
                created_ms: row.first_attempt_ms.unwrap_or(now),
            };
            let tp = traceparent.as_deref();
            let step = self
                .post_s4(target, c, (&plant, release), &body, repeatable, tp)
                .await;
            let Step::Reject {
                status,
                problem: Some(refusal),
                ..
            } = &step
            else {
                return step;
            };
            // DEFECT: release-blind — the release is never re-detected: the refusal is final.
            if !wire::refused_for_model(*status, Some(refusal))
                || self.settings.defects.has(Defect::ReleaseBlind)
            {
                return step;
            }
            let upgraded = match self.redetect(target, &plant, release, tp).await {
                Ok(Some(r)) => r,
                Ok(None) => return step,
                Err(retry) => return retry,
            };
            let request_id = s4::retranslated_request_id(&row.key, upgraded);
            if let Err(retry) = self.retranslate(row.id, upgraded, &request_id).await {
                return retry;
            }
            tracing::info!(%plant, from = release.name(), to = upgraded.name(), request_id, "re-sending the refused call in the release the system speaks now");
            let repeatable = Repeatable {
                request_id: repeatable.request_id.map(|_| request_id.as_str()),
                ..repeatable
            };
            return self
                .post_s4(target, c, (&plant, upgraded), &body, repeatable, tp)
                .await;
        }
        match self
            .send(
                target,
                c.verb,
                &c.path,
                &[],
                Some(&body),
                Some(key),
                traceparent.as_deref(),
                &[],
            )
            .await
        {
            Ok(answer) => classify(&answer, c.done_on.as_deref(), &c.call()),
            Err(step) => step,
        }
    }

    async fn settle(&self, target: &Target, row: &OutboxRow, step: Step) {
        let finish = match step {
            Step::Skipped => return,
            Step::Untranslatable { error, call } => {
                tracing::error!(error, call, "request not translatable: dead letter");
                Finish::Dead(DeadLetterInput {
                    target: row.target.as_str().into(),
                    call,
                    status: None,
                    reason: "untranslatable".into(),
                    problem: Some(Value::String(error)),
                })
            }
            Step::Done => Finish::Done,
            Step::Dropped(why) => {
                tracing::warn!(why, "command dropped");
                Finish::Dropped(why)
            }
            Step::Retry {
                after,
                throttled,
                error,
            } => {
                let wait = after.unwrap_or_else(|| {
                    backoff(
                        row.attempts + 1,
                        self.settings.backoff_base,
                        self.settings.backoff_max,
                    )
                });
                if throttled && after.is_some() {
                    target.pause(wait);
                }
                tracing::debug!(error, wait_ms = wait.as_millis() as u64, "retrying");
                Finish::Retry {
                    not_before: now_ms() + wait.as_millis() as i64,
                    error,
                }
            }
            Step::Reauthenticate => {
                // A fresh token is fetched on the next attempt; back off only when tokens
                // keep being refused.
                let wait = if row.attempts < 3 {
                    Duration::ZERO
                } else {
                    backoff(
                        row.attempts,
                        self.settings.backoff_base,
                        self.settings.backoff_max,
                    )
                };
                Finish::Retry {
                    not_before: now_ms() + wait.as_millis() as i64,
                    error: "401 unauthorized".into(),
                }
            }
            Step::Reject {
                status,
                reason,
                problem,
                call,
            } => {
                tracing::warn!(status, reason, call, "business rejection: dead letter");
                Finish::Dead(DeadLetterInput {
                    target: row.target.as_str().into(),
                    call,
                    status: Some(status),
                    reason,
                    problem,
                })
            }
        };
        // Not awaited: the worker is free as soon as the store has the outcome in its queue.
        // The dispatcher's next claim is queued after it, so it sees the row finished; a
        // write that fails leaves the row pending, and it goes again under the same key.
        let r = row.clone();
        let recorded = self
            .store
            .submit(
                "the outcome of a delivery (the command stays pending)",
                move |c, _| store::finish(c, &r, finish),
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording a delivery failed; the command stays pending");
        }
    }

    /// Builds the body of a command that needs a look-up, and stores it with the command
    /// as it is to be sent (a Business Central read-back resolves its path).
    async fn build(
        &self,
        row: &OutboxRow,
        traceparent: &Option<String>,
        now: i64,
    ) -> Result<Option<(Value, Command)>, Step> {
        let prepared = match &row.command.body {
            Body::Ready { json } => Prepared::Body(Some(json.clone())),
            Body::ReadBack {
                plant,
                object,
                refs,
            } if object.is_bc() => {
                self.bc_read_back(plant, object, refs, &row.command, traceparent)
                    .await?
            }
            Body::ReadBack {
                plant,
                object,
                refs,
            } => Prepared::Body(self.read_back(plant, object, refs, traceparent).await?),
            Body::Consumption { request } => match request.items.first() {
                None => Prepared::Body(None),
                Some(item) => {
                    let m = self
                        .material(&item.plant, &item.material, traceparent)
                        .await?;
                    Prepared::Body(Some(flows::consumption_request(
                        request,
                        &m,
                        &self.settings.defects,
                    )))
                }
            },
            Body::InspectionLot { request } => {
                let m = self
                    .material(&request.plant, &request.material, traceparent)
                    .await?;
                Prepared::Body(flows::inspection_request(request, &m))
            }
            Body::HoldBlock {
                lot,
                stock,
                fixed,
                posting_date,
                refs,
            } => {
                let rows = match fixed {
                    Some(_) => Vec::new(),
                    None => self.stock(stock, traceparent).await?,
                };
                Prepared::Block {
                    lot: lot.clone(),
                    moved: flows::hold_block_request(
                        stock,
                        fixed.as_ref(),
                        &rows,
                        *posting_date,
                        refs,
                    ),
                }
            }
            Body::HoldUnblock { lot, .. } => Prepared::Unblock {
                lot: lot.clone(),
                build: unblock_body,
            },
        };
        let command = match &prepared {
            Prepared::Rerouted { command, .. } => command.as_ref().clone(),
            _ => row.command.clone(),
        };
        let id = row.id;
        let stored = row.command.clone();
        let body = self
            .store
            .call(move |c, _| store::prepare(c, id, &stored, prepared, now))
            .await
            .map_err(|e| Step::Retry {
                after: None,
                throttled: false,
                error: format!("storing the request failed: {e}"),
            })?;
        Ok(body.map(|b| (b, command)))
    }

    fn traceparent(&self, trace_id: &str) -> Option<String> {
        // DEFECT: no-traceparent — the trace is not continued.
        if self.settings.defects.has(Defect::NoTraceparent) {
            return None;
        }
        let trace = if trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            trace_id.to_string()
        } else {
            format!("{:032x}", rand::random::<u128>().max(1))
        };
        Some(format!(
            "00-{trace}-{:016x}-01",
            rand::random::<u64>().max(1)
        ))
    }

    /// The material master as the ERP has it for `plant` (cached).
    async fn material(
        &self,
        plant: &PlantId,
        material: &MaterialId,
        traceparent: &Option<String>,
    ) -> Result<Material, Step> {
        if let Some(m) = self
            .materials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(material)
            .filter(|m| m.plants.is_empty() || m.plants.contains(plant))
        {
            return Ok(m.clone());
        }
        if self.dialects.s4(plant).is_some() {
            return self.s4_material(plant, material, traceparent).await;
        }
        if self.dialects.bc(plant).is_some() {
            return self.bc_material(plant, material, traceparent).await;
        }
        let path = format!("/api/v1/materials/{}", flows::seg(material.as_str()));
        let json = self
            .lookup(&path, &[("plant", plant.as_str())], traceparent)
            .await?;
        let m: Material = serde_json::from_value(json).map_err(|e| Step::Retry {
            after: None,
            throttled: false,
            error: format!("unreadable material master: {e}"),
        })?;
        self.material_changed(&m);
        Ok(m)
    }

    async fn stock(
        &self,
        lot: &LotRef,
        traceparent: &Option<String>,
    ) -> Result<Vec<andon_contracts::StockRow>, Step> {
        if self.dialects.bc(&lot.plant).is_some() {
            return self.bc_stock(lot, traceparent).await;
        }
        if self.dialects.s4(&lot.plant).is_some() {
            let (path, query) = wire::stock_read(&lot.plant, &lot.material, &lot.batch);
            let json = self.lookup(&path, &pairs(&query), traceparent).await?;
            return wire::entity(json)
                .and_then(|d| wire::stock_rows(&d))
                .map_err(unreadable);
        }
        let json = self
            .lookup(
                "/api/v1/stock",
                &[
                    ("plant", lot.plant.as_str()),
                    ("material", lot.material.as_str()),
                    ("batch", lot.batch.as_str()),
                ],
                traceparent,
            )
            .await?;
        let list: StockList = serde_json::from_value(json).map_err(|e| Step::Retry {
            after: None,
            throttled: false,
            error: format!("unreadable stock list: {e}"),
        })?;
        Ok(list.stock)
    }

    /// A `GET` on the ERP, with the delivery rules.
    async fn lookup(
        &self,
        path: &str,
        query: &[(&str, &str)],
        traceparent: &Option<String>,
    ) -> Result<Value, Step> {
        let erp = self.targets.get(&System::Erp).ok_or_else(|| Step::Retry {
            after: None,
            throttled: false,
            error: "no ERP_URL to look up master data".into(),
        })?;
        if let Some(p) = erp.paused_for() {
            return Err(Step::Retry {
                after: Some(p),
                throttled: false,
                error: "ERP paused".into(),
            });
        }
        let answer = self
            .send(
                erp,
                Verb::Get,
                path,
                query,
                None,
                None,
                traceparent.as_deref(),
                &[],
            )
            .await?;
        // DEFECT: ignore-retry-after, drop-on-5xx — a throttled read is bent as a throttled
        // write is (a middleware that ignores `Retry-After` ignores a read's too; without it,
        // the read's honest pause hid the defect whenever its retries came quickly).
        let step = match classify(&answer, None, &format!("GET {path}")) {
            throttled @ Step::Retry {
                throttled: true, ..
            } => distort(throttled, &self.settings.defects),
            other => other,
        };
        match step {
            Step::Done => answer.json.ok_or_else(|| Step::Retry {
                after: None,
                throttled: false,
                error: format!("GET {path}: no JSON body"),
            }),
            Step::Retry {
                after,
                throttled,
                error,
            } => {
                if throttled && let Some(a) = after {
                    erp.pause(a);
                }
                Err(Step::Retry {
                    after,
                    throttled: false,
                    error,
                })
            }
            other => Err(other),
        }
    }

    /// One HTTP call; transport failures come back as `Err(Step::Retry)`.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        target: &Target,
        verb: Verb,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        key: Option<&str>,
        traceparent: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<Answer, Step> {
        if self.settings.defects.has(Defect::SinglePlantToken)
            && let Some(p) = body.and_then(plant_of).or_else(|| {
                query
                    .iter()
                    .find(|(k, _)| *k == "plant")
                    .map(|(_, v)| v.to_string())
            })
        {
            let _ = self.first_plant.set(p);
        }
        let token = self.token(target).await?;
        let url = format!("{}{}", target.base, path);
        let mut req = match verb {
            Verb::Get => self.http.get(&url),
            Verb::Post => self.http.post(&url),
            Verb::Put => self.http.put(&url),
            Verb::Patch => self.http.patch(&url),
        }
        .timeout(self.settings.timeout);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).unwrap_or_default());
        }
        // DEFECT: no-idempotency-key — keys are never sent.
        if let Some(k) = key.filter(|_| !self.settings.defects.has(Defect::NoIdempotencyKey)) {
            req = req.header("idempotency-key", k);
        }
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        if let Some(t) = &token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.map_err(|e| Step::Retry {
            after: None,
            throttled: false,
            error: transport_error(&e),
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| Step::Retry {
            after: None,
            throttled: false,
            error: transport_error(&e),
        })?;
        if status == 401
            && let Some(t) = &token
        {
            let mut cached = target.token.lock().await;
            if cached.as_ref().is_some_and(|(c, _)| c == t) {
                *cached = None;
            }
        }
        Ok(Answer {
            status,
            retry_after,
            json: serde_json::from_slice(&bytes).ok(),
            headers,
            raw: bytes.to_vec(),
        })
    }

    /// The bearer token for `target`, fetched when missing or about to expire.
    async fn token(&self, target: &Target) -> Result<Option<String>, Step> {
        let Some(creds) = &self.settings.credentials else {
            return Ok(None);
        };
        let mut cached = target.token.lock().await;
        if let Some((t, expires)) = &*cached
            && *expires > Instant::now()
        {
            return Ok(Some(t.clone()));
        }
        let retry = |error: String| Step::Retry {
            after: None,
            throttled: false,
            error,
        };
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", creds.client_id.clone()),
            ("client_secret", creds.client_secret.clone()),
        ];
        // DEFECT: single-plant-token — the token covers the first plant seen, not all.
        if self.settings.defects.has(Defect::SinglePlantToken)
            && let Some(p) = self.first_plant.get()
        {
            form.push(("scope", format!("plant:{p}")));
        }
        let resp = self
            .http
            .post(format!("{}/oauth/token", target.base))
            .timeout(self.settings.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| retry(format!("token: {}", transport_error(&e))))?;
        if !resp.status().is_success() {
            return Err(retry(format!("token request answered {}", resp.status())));
        }
        let t: TokenResponse = resp
            .json()
            .await
            .map_err(|e| retry(format!("token answer unreadable: {e}")))?;
        // Refresh a little before the token expires.
        let life = Duration::from_secs(t.expires_in).saturating_sub(Duration::from_secs(30));
        *cached = Some((
            t.access_token.clone(),
            Instant::now() + life.max(Duration::from_secs(1)),
        ));
        tracing::info!(target_system = %target.system, "fetched an access token");
        Ok(Some(t.access_token))
    }
}

/// SAP's repeatable request: `RequestID` and `RepeatabilityCreation`.
#[derive(Debug, Clone, Copy)]
struct Repeatable<'a> {
    /// The command's idempotency key (`None`: the `no-idempotency-key` defect).
    request_id: Option<&'a str>,
    /// When the command was first attempted (ms).
    created_ms: i64,
}

/// The S/4HANA side of delivery: read-backs, look-ups and posts with CSRF and repeatable
/// requests.
impl Delivery {
    /// Builds the andon body of a [`Body::ReadBack`] from the object read back from `plant`'s
    /// system; `None` when there is nothing to do.
    async fn read_back(
        &self,
        plant: &PlantId,
        object: &ReadBack,
        refs: &andon_contracts::api::SourceRefs,
        traceparent: &Option<String>,
    ) -> Result<Option<Value>, Step> {
        let json = |v: Result<Value, serde_json::Error>| {
            v.map(Some).map_err(|e| unreadable(e.to_string()))
        };
        match object {
            ReadBack::WorkOrder { order } => {
                let e = self.s4_order(plant, order, traceparent).await?;
                json(serde_json::to_value(
                    wire::work_order(&e, refs).map_err(unreadable)?,
                ))
            }
            ReadBack::Cancellation { order } => {
                let e = self.s4_order(plant, order, traceparent).await?;
                match wire::cancellation(&e, refs) {
                    Some(c) => json(serde_json::to_value(c)),
                    None => {
                        tracing::warn!(%order, "order not marked for deletion when read back: nothing to cancel");
                        Ok(None)
                    }
                }
            }
            ReadBack::Material { material } => {
                let m = self.s4_material(plant, material, traceparent).await?;
                json(serde_json::to_value(wire::material_update(&m, refs)))
            }
            ReadBack::BcOrder { .. } | ReadBack::BcItem { .. } => Err(Step::Untranslatable {
                error: format!("{object:?} is read from Business Central, not S/4HANA"),
                call: format!("GET {plant}"),
            }),
        }
    }

    /// A production order of `plant`'s system, with operations and components.
    async fn s4_order(
        &self,
        plant: &PlantId,
        order: &andon_contracts::OrderId,
        traceparent: &Option<String>,
    ) -> Result<Value, Step> {
        let (path, query) = wire::order_read(plant, order);
        let answer = self.lookup(&path, &pairs(&query), traceparent).await?;
        wire::entity(answer).map_err(unreadable)
    }

    /// The product master of `plant`'s system (read afresh; refreshes the cache).
    async fn s4_material(
        &self,
        plant: &PlantId,
        material: &MaterialId,
        traceparent: &Option<String>,
    ) -> Result<Material, Step> {
        let (path, query) = wire::product_read(plant, material);
        let answer = self.lookup(&path, &pairs(&query), traceparent).await?;
        let m = wire::entity(answer)
            .and_then(|e| wire::material(&e, plant))
            .map_err(unreadable)?;
        self.material_changed(&m);
        Ok(m)
    }

    /// Posts the andon request `body` of ERP command `c` to `plant`'s S/4HANA system: the
    /// translated body, with the session's CSRF token and cookie and the repeatable
    /// request's headers. A CSRF refusal fetches a new token and sends the same call again.
    async fn post_s4(
        &self,
        erp: &Target,
        c: &Command,
        (plant, release): (&PlantId, Release),
        body: &Value,
        repeatable: Repeatable<'_>,
        traceparent: Option<&str>,
    ) -> Step {
        let Outbound {
            service,
            resource,
            body: odata,
        } = match wire::outbound(&c.path, body, release) {
            Ok(o) => o,
            Err(error) => {
                return Step::Untranslatable {
                    error,
                    call: c.call(),
                };
            }
        };
        let path = wire::path(plant, service, resource);
        let call = format!("POST {path}");
        let mut headers = Vec::new();
        if let Some(id) = repeatable.request_id {
            headers.push(("requestid", id.to_string()));
            headers.push((
                "repeatabilitycreation",
                session::http_date(repeatable.created_ms),
            ));
        }
        for _ in 0..2 {
            let (token, cookie) = match self.csrf(erp, plant, service, traceparent).await {
                Ok(x) => x,
                Err(step) => return step,
            };
            let mut h = headers.clone();
            h.push((session::CSRF, token.clone()));
            h.extend(cookie.map(|c| ("cookie", c)));
            let answer = match self
                .send(
                    erp,
                    Verb::Post,
                    &path,
                    &[],
                    Some(&odata),
                    None,
                    traceparent,
                    &h,
                )
                .await
            {
                Ok(a) => a,
                Err(step) => return step,
            };
            // DEFECT: csrf-no-refresh — the token is kept forever: its refusal is final.
            if !session::csrf_refused(answer.status, &answer.headers)
                || self.settings.defects.has(Defect::CsrfNoRefresh)
            {
                return classify_s4(&answer, &call);
            }
            tracing::info!(%plant, "CSRF token refused: fetching a new one");
            let s = self.sessions.of(plant);
            let mut session = s.lock().await;
            if session.token.as_deref() == Some(token.as_str()) {
                session.token = None;
            }
        }
        Step::Retry {
            after: None,
            throttled: false,
            error: "403 CSRF token refused after a fresh fetch".into(),
        }
    }

    /// Pins the release row `row_id` is translated for (the plant's current one, unless the
    /// row already has one).
    async fn pin_release(&self, row_id: i64, current: Release) -> Result<Release, Step> {
        let pinned = self
            .store
            .call(move |c, _| store::pin_s4_release(c, row_id, current.name()))
            .await
            .map_err(|e| Step::Retry {
                after: None,
                throttled: false,
                error: format!("storing the request's release failed: {e}"),
            })?;
        Ok(Release::parse(&pinned).unwrap_or(current))
    }

    /// Re-translates row `row_id` for `release`, under `request_id` from now on.
    async fn retranslate(
        &self,
        row_id: i64,
        release: Release,
        request_id: &str,
    ) -> Result<(), Step> {
        let id = request_id.to_string();
        self.store
            .call(move |c, _| store::retranslate_s4(c, row_id, release.name(), &id))
            .await
            .map_err(|e| Step::Retry {
                after: None,
                throttled: false,
                error: format!("storing the request's new release failed: {e}"),
            })
    }

    /// After `plant`'s system refused a create in `sent` because of its model: the release
    /// the system speaks now, when it is another one (the plant is switched to it, in memory
    /// and in the store); `None` when the release did not change (the refusal stands). The
    /// release is read from `API_MATERIAL_DOCUMENT_SRV/$metadata`, one read at a time per
    /// plant; a plant another call already switched away from `sent` is not read again.
    async fn redetect(
        &self,
        erp: &Target,
        plant: &PlantId,
        sent: Release,
        traceparent: Option<&str>,
    ) -> Result<Option<Release>, Step> {
        let lock = self.releases.detection(plant);
        let _one_at_a_time = lock.lock().await;
        if let Some(now) = self.releases.of(plant).filter(|r| *r != sent) {
            return Ok(Some(now));
        }
        let path = wire::metadata_path(plant);
        let answer = self
            .send(erp, Verb::Get, &path, &[], None, None, traceparent, &[])
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(Step::Retry {
                after: answer.retry_after,
                throttled: matches!(answer.status, 429 | 503),
                error: format!("GET {path} answered {}", answer.status),
            });
        }
        let edmx = String::from_utf8_lossy(&answer.raw);
        let Some(detected) = wire::release_of_metadata(&edmx) else {
            tracing::warn!(%plant, "the material document $metadata names no release: the refusal stands");
            return Ok(None);
        };
        if detected == sent {
            return Ok(None);
        }
        let (p, r) = (plant.to_string(), detected.name());
        self.store
            .call(move |c, _| store::set_erp_release(c, &p, r))
            .await
            .map_err(|e| Step::Retry {
                after: None,
                throttled: false,
                error: format!("storing the detected release failed: {e}"),
            })?;
        self.releases.set(plant, detected);
        tracing::warn!(%plant, from = sent.name(), to = detected.name(), "the plant's S/4HANA system was upgraded: switching release");
        Ok(Some(detected))
    }

    /// The CSRF token and session cookie for `plant`'s system, fetched from the root of
    /// `service` when the session has none.
    async fn csrf(
        &self,
        erp: &Target,
        plant: &PlantId,
        service: &str,
        traceparent: Option<&str>,
    ) -> Result<(String, Option<String>), Step> {
        let s = self.sessions.of(plant);
        let mut session = s.lock().await;
        if let Some(t) = &session.token {
            return Ok((t.clone(), session.cookie.clone()));
        }
        let mut h = vec![(session::CSRF, "Fetch".to_string())];
        h.extend(session.cookie.clone().map(|c| ("cookie", c)));
        let answer = self
            .send(
                erp,
                Verb::Get,
                &wire::path(plant, service, ""),
                &[],
                None,
                None,
                traceparent,
                &h,
            )
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(Step::Retry {
                after: answer.retry_after,
                throttled: matches!(answer.status, 429 | 503),
                error: format!("CSRF token fetch answered {}", answer.status),
            });
        }
        let token = session
            .fetched(&answer.headers)
            .map_err(|error| Step::Retry {
                after: None,
                throttled: false,
                error,
            })?;
        tracing::debug!(%plant, "fetched a CSRF token");
        Ok((token, session.cookie.clone()))
    }
}

/// Query pairs as [`Delivery::lookup`] takes them.
fn pairs<'a>(query: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    query.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// An answer that could not be read: retried like a failed call.
fn unreadable(error: String) -> Step {
    Step::Retry {
        after: None,
        throttled: false,
        error: format!("unreadable answer: {error}"),
    }
}

fn unblock_body(blocked: &flows::Blocked, command: &Command) -> Option<Value> {
    match &command.body {
        Body::HoldUnblock {
            stock,
            posting_date,
            refs,
            ..
        } => flows::hold_unblock_request(stock, blocked, *posting_date, refs),
        _ => None,
    }
}

/// The plant a request body is for: its `plant`, or its first item's.
fn plant_of(body: &Value) -> Option<String> {
    body.get("plant")
        .or_else(|| body.get("items")?.get(0)?.get("plant"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn transport_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, code: Option<&str>, retry_after: Option<u64>) -> Answer {
        Answer {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            json: code.map(|c| json!({"code": c, "status": status})),
            headers: HeaderMap::new(),
            raw: Vec::new(),
        }
    }

    #[test]
    fn outcomes_follow_the_delivery_rules() {
        let c = "POST /x";
        assert_eq!(classify(&answer(201, None, None), None, c), Step::Done);
        assert_eq!(
            classify(
                &answer(409, Some("work-order-exists"), None),
                Some("work-order-exists"),
                c
            ),
            Step::Done
        );
        assert!(matches!(
            classify(&answer(409, Some("idempotency-in-flight"), None), None, c),
            Step::Retry {
                throttled: false,
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(503, None, Some(2)), None, c),
            Step::Retry {
                throttled: true,
                after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(429, None, Some(1)), None, c),
            Step::Retry {
                throttled: true,
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(500, None, None), None, c),
            Step::Retry {
                throttled: false,
                after: None,
                ..
            }
        ));
        assert_eq!(
            classify(&answer(401, Some("unauthorized"), None), None, c),
            Step::Reauthenticate
        );
        match classify(&answer(422, Some("period-closed"), None), None, c) {
            Step::Reject {
                status: 422,
                reason,
                call,
                ..
            } => assert_eq!((reason.as_str(), call.as_str()), ("period-closed", c)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&answer(409, Some("work-order-exists"), None), None, c),
            Step::Reject { .. }
        ));
        assert!(
            matches!(classify(&answer(404, None, None), None, c), Step::Reject { ref reason, .. } if reason == "http-404")
        );
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_full_jitter() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        for attempt in 1..30 {
            let cap = base.saturating_mul(1 << (attempt - 1).min(20)).min(max);
            let d = backoff(attempt, base, max);
            assert!(d <= cap, "attempt {attempt}: {d:?} > {cap:?}");
        }
        let draws: BTreeSet<u128> = (0..50).map(|_| backoff(8, base, max).as_millis()).collect();
        assert!(draws.len() > 10, "jitter spreads the retries: {draws:?}");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn defects_bend_outcomes_only_when_switched_on() {
        let retry = Step::Retry {
            after: Some(Duration::from_secs(3)),
            throttled: true,
            error: "429".into(),
        };
        let reject = Step::Reject {
            status: 422,
            reason: "period-closed".into(),
            problem: None,
            call: "x".into(),
        };
        let none = Defects::none();
        assert_eq!(distort(retry.clone(), &none), retry);
        assert_eq!(distort(reject.clone(), &none), reject);
        let d: Defects = [Defect::IgnoreRetryAfter].into_iter().collect();
        assert!(matches!(
            distort(retry.clone(), &d),
            Step::Retry {
                after: Some(Duration::ZERO),
                throttled: false,
                ..
            }
        ));
        let d: Defects = [Defect::DropOn5xx].into_iter().collect();
        assert!(matches!(distort(retry, &d), Step::Dropped(_)));
        let d: Defects = [Defect::SwallowRejections].into_iter().collect();
        assert!(matches!(distort(reject, &d), Step::Dropped(_)));
    }
}
