//! [`Admin`]: a simulator's admin API (`/_andon/…`) over HTTP, for a simulator in a
//! container or anywhere else (`andon serve`).

use std::time::Duration;

use andon_simulators::core::{ConfigPatch, Health};
use andon_simulators::faults::FaultSpec;
use andon_simulators::history::Record;
use serde::de::DeserializeOwned;

/// Records per page when reading the history.
const PAGE: usize = 10_000;

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
#[error("{call} on {base}: {why}")]
pub struct AdminError {
    /// The simulator's base URL.
    pub base: String,
    /// The call (`POST /_andon/faults`).
    pub call: String,
    /// What went wrong (transport error, or the status and problem detail).
    pub why: String,
}

/// The admin token of this process: `ANDON_ADMIN_TOKEN` when set, else one made for it. The
/// simulators it starts in containers require it (they listen beyond loopback), and every
/// [`Admin`] call carries it.
pub fn admin_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        std::env::var("ANDON_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
    })
}

/// The admin API of one simulator.
#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    client: reqwest::Client,
}

impl Admin {
    /// The admin API of the simulator at `base` (`http://127.0.0.1:32768`).
    pub fn new(base: impl Into<String>) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", admin_token()))
        {
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .default_headers(headers)
            .build()
            .unwrap_or_default();
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            client,
        }
    }

    /// The simulator's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn error(&self, call: &str, why: impl ToString) -> AdminError {
        AdminError {
            base: self.base.clone(),
            call: call.to_string(),
            why: why.to_string(),
        }
    }

    async fn send(
        &self,
        call: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AdminError> {
        let resp = req.send().await.map_err(|e| self.error(call, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
            .unwrap_or(body);
        Err(self.error(call, format!("{status}: {detail}")))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        call: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, AdminError> {
        self.send(call, req)
            .await?
            .json()
            .await
            .map_err(|e| self.error(call, e))
    }

    /// `GET /_andon/health`: history length, emitter counters (buffer depth), faults.
    pub async fn health(&self) -> Result<Health, AdminError> {
        let req = self
            .client
            .get(format!("{}/_andon/health", self.base))
            .timeout(Duration::from_secs(5));
        self.json("GET /_andon/health", req).await
    }

    /// Waits until the simulator answers its health check, for at most `limit`.
    pub async fn wait_ready(&self, limit: Duration) -> Result<Health, AdminError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self.health().await {
                Ok(h) => return Ok(h),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// `PUT /_andon/ingress`: where the simulator delivers its events (`None`: nowhere, they
    /// wait in its buffer).
    pub async fn set_ingress(&self, url: Option<&str>) -> Result<(), AdminError> {
        let req = self
            .client
            .put(format!("{}/_andon/ingress", self.base))
            .json(&serde_json::json!({ "url": url }));
        self.send("PUT /_andon/ingress", req).await.map(drop)
    }

    /// `PUT /_andon/ingress` with every route: the ingress of every plant, and the plants'
    /// own.
    pub async fn set_routes(
        &self,
        routes: &andon_simulators::emitter::Routes,
    ) -> Result<(), AdminError> {
        let req = self
            .client
            .put(format!("{}/_andon/ingress", self.base))
            .json(&serde_json::json!({ "url": routes.default, "plants": routes.plants }));
        self.send("PUT /_andon/ingress", req).await.map(drop)
    }

    /// `POST /_andon/faults`: applies a fault; returns its id.
    pub async fn apply_fault(&self, spec: &FaultSpec) -> Result<String, AdminError> {
        let req = self
            .client
            .post(format!("{}/_andon/faults", self.base))
            .json(spec);
        let v: serde_json::Value = self.json("POST /_andon/faults", req).await?;
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }

    /// `DELETE /_andon/faults`: clears every fault in force.
    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        let req = self.client.delete(format!("{}/_andon/faults", self.base));
        self.send("DELETE /_andon/faults", req).await.map(drop)
    }

    /// `PUT /_andon/config`: run-time switches (idempotency, auth, periods, tolerance).
    pub async fn configure(&self, patch: &ConfigPatch) -> Result<(), AdminError> {
        let req = self
            .client
            .put(format!("{}/_andon/config", self.base))
            .json(patch);
        self.send("PUT /_andon/config", req).await.map(drop)
    }

    /// `POST /_andon/activity/step`: `count` steps of plant activity; returns the events
    /// emitted.
    pub async fn step(&self, count: usize) -> Result<usize, AdminError> {
        let req = self
            .client
            .post(format!("{}/_andon/activity/step", self.base))
            .json(&serde_json::json!({ "count": count }));
        let v: serde_json::Value = self.json("POST /_andon/activity/step", req).await?;
        Ok(v["emitted"].as_u64().unwrap_or_default() as usize)
    }

    /// `GET /_andon/state`: the simulator's state snapshot.
    pub async fn state(&self) -> Result<serde_json::Value, AdminError> {
        let req = self.client.get(format!("{}/_andon/state", self.base));
        self.json("GET /_andon/state", req).await
    }

    /// `GET /_andon/history`, every page: the simulator's whole history.
    pub async fn history(&self) -> Result<Vec<Record>, AdminError> {
        let call = "GET /_andon/history";
        let mut out: Vec<Record> = Vec::new();
        let mut after = 0u64;
        loop {
            let req = self
                .client
                .get(format!("{}/_andon/history", self.base))
                .query(&[("after", after.to_string()), ("limit", PAGE.to_string())])
                .header(reqwest::header::ACCEPT, "application/x-ndjson");
            let body = self
                .send(call, req)
                .await?
                .bytes()
                .await
                .map_err(|e| self.error(call, e))?;
            let before = out.len();
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let r: Record = serde_json::from_slice(line)
                    .map_err(|e| self.error(call, format!("line {}: {e}", i + 1)))?;
                out.push(r);
            }
            let got = out.len() - before;
            if got < PAGE {
                return Ok(out);
            }
            after += got as u64;
        }
    }
}
