//! Configuration through the wiring contract: arguments or environment (`PORT`, `ERP_URL`,
//! `MES_URL`, `QMS_URL`, `WMS_URL`, `DATA_DIR`, `CLIENT_ID`, `CLIENT_SECRET`, `DEFECTS`,
//! `ERP_DIALECTS`, `BC_NOTIFY_URL`), the MQTT consumer's (`BROKER_URL`, `MQTT_SUBSCRIBE`,
//! `MQTT_GROUP`, `MQTT_CLIENT_ID`, `MQTT_SESSION_EXPIRY`), the delivery lease's
//! (`LEASE_RENEW_EVERY`, `LEASE_TTL`), plus tuning knobs with production defaults that
//! tests shorten.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use andon_contracts::events::mqtt;
use andon_contracts::{PlantId, System};

use crate::defects::{Defect, Defects};
use crate::dialect::{ErpDialect, ErpDialects};

/// Command-line arguments; each falls back to the environment variable it names.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Port to listen on (0: an ephemeral port, printed as `listening on http://…`).
    #[arg(long, env = "PORT", default_value_t = 0)]
    pub port: u16,
    /// Address to listen on (`0.0.0.0` in a container).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Base URL of the ERP simulator.
    #[arg(long, env = "ERP_URL")]
    pub erp_url: Option<String>,
    /// Base URL of the MES simulator.
    #[arg(long, env = "MES_URL")]
    pub mes_url: Option<String>,
    /// Base URL of the QMS simulator.
    #[arg(long, env = "QMS_URL")]
    pub qms_url: Option<String>,
    /// Base URL of the WMS simulator.
    #[arg(long, env = "WMS_URL")]
    pub wms_url: Option<String>,
    /// Directory of the SQLite store (`DATA_DIR/middleware.db`).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// OAuth 2.0 client id; with `CLIENT_SECRET`, tokens are fetched per system.
    #[arg(long, env = "CLIENT_ID")]
    pub client_id: Option<String>,
    /// OAuth 2.0 client secret.
    #[arg(long, env = "CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// A defect to switch on (repeatable, or a comma-separated list; `DEFECTS=a,b`; empty:
    /// none). See `--list-defects`.
    #[arg(long = "defect", env = "DEFECTS", value_name = "NAME")]
    pub defects: Vec<Defects>,
    /// The API each plant's ERP speaks: `PLANT=DIALECT@RELEASE,…` (`andon@1`, `s4hana@2408`,
    /// `s4hana@2502`, `business-central@24`, `business-central@25`, alias `bc`); a plant not
    /// listed speaks andon.
    #[arg(long, env = "ERP_DIALECTS", default_value = "", value_name = "LIST")]
    pub erp_dialects: ErpDialects,
    /// Where Business Central systems notify the middleware: `{BC_NOTIFY_URL}/{plant}`
    /// (default `http://127.0.0.1:{port}/events/erp/bc`).
    #[arg(long, env = "BC_NOTIFY_URL", value_name = "URL")]
    pub bc_notify_url: Option<String>,
    /// How often (wall time) Business Central subscriptions are looked at and renewed when
    /// less than half their lifetime is left: milliseconds, or a duration (`500ms`).
    #[arg(long, env = "BC_RENEW_EVERY", default_value = "500", value_parser = millis_or_duration)]
    pub bc_renew_every: Duration,
    /// Time allowed for one call to a simulator.
    #[arg(long, env = "CLIENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub client_timeout: Duration,
    /// First retry backoff (doubles per attempt, full jitter).
    #[arg(long, env = "BACKOFF_BASE", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub backoff_base: Duration,
    /// Longest retry backoff.
    #[arg(long, env = "BACKOFF_MAX", default_value = "10s", value_parser = humantime::parse_duration)]
    pub backoff_max: Duration,
    /// How long a lot event waits for its predecessor before it goes ahead.
    #[arg(long, env = "LOT_WAIT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub lot_wait: Duration,
    /// Concurrent calls per target system.
    #[arg(long, env = "WORKERS", default_value_t = 8)]
    pub workers: usize,
    /// How often `ack-before-persist` and `ack-before-store` write what they acknowledged
    /// to the store (what is not yet written dies with the process).
    #[arg(long, env = "WRITE_BEHIND_FLUSH", default_value = "1s", value_parser = humantime::parse_duration)]
    pub write_behind_flush: Duration,
    /// The MQTT 5 broker to consume events from: `mqtt://HOST[:PORT]` (port 1883 by
    /// default); empty: no MQTT consumer (events come over HTTP only).
    #[arg(long, env = "BROKER_URL", default_value = "", value_name = "URL", value_parser = broker_url)]
    pub broker_url: Broker,
    /// Topic filters to subscribe to, comma-separated (each as `$share/{group}/{filter}`).
    #[arg(long, env = "MQTT_SUBSCRIBE", default_value = "andon/#", value_name = "FILTERS", value_parser = topic_filters)]
    pub mqtt_subscribe: TopicFilters,
    /// The shared-subscription group: instances in one group split the messages.
    #[arg(long, env = "MQTT_GROUP", default_value = "andon-reference", value_parser = share_group)]
    pub mqtt_group: String,
    /// The MQTT client id, stable across restarts so that the persistent session is found
    /// again (give a second instance another one).
    #[arg(long, env = "MQTT_CLIENT_ID", default_value = "andon-reference", value_parser = client_id)]
    pub mqtt_client_id: String,
    /// How long (seconds) the broker keeps the session, and queues QoS 1 messages, while
    /// the middleware is away.
    #[arg(long, env = "MQTT_SESSION_EXPIRY", default_value_t = 3600)]
    pub mqtt_session_expiry: u32,
    /// How often the delivery lease is renewed by its holder, or tried by another
    /// instance on the same store: milliseconds, or a duration (`500ms`).
    #[arg(long, env = "LEASE_RENEW_EVERY", default_value = "500", value_parser = millis_or_duration)]
    pub lease_renew_every: Duration,
    /// How long the delivery lease lasts after a renewal: a holder gone for longer is
    /// taken over by another instance on the same store.
    #[arg(long, env = "LEASE_TTL", default_value = "2s", value_parser = millis_or_duration)]
    pub lease_ttl: Duration,
}

/// Where the MQTT broker is: `mqtt://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// The `BROKER_URL` setting: `None` when empty (no MQTT consumer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Broker(pub Option<BrokerUrl>);

/// Parses `BROKER_URL`: empty, or `mqtt://HOST[:PORT]` (`tcp://` too).
pub fn broker_url(text: &str) -> Result<Broker, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Broker(None));
    }
    let bad = |why: &str| {
        format!(
            "BROKER_URL {text:?}: {why}; expected mqtt://HOST[:PORT] (e.g. mqtt://127.0.0.1:1883)"
        )
    };
    let rest = text
        .strip_prefix("mqtt://")
        .or_else(|| text.strip_prefix("tcp://"))
        .ok_or_else(|| bad("the scheme must be mqtt://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(bad("no path, query or credentials"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (authority, None),
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let port = match port {
        None => 1883,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Broker(Some(BrokerUrl {
        host: host.to_string(),
        port,
    })))
}

/// The `MQTT_SUBSCRIBE` setting: plain topic filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilters(pub Vec<String>);

/// Parses `MQTT_SUBSCRIBE`: comma-separated MQTT topic filters, none of them shared (the
/// middleware makes them `$share/{group}/…` itself).
pub fn topic_filters(text: &str) -> Result<TopicFilters, String> {
    let filters: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    if filters.is_empty() {
        return Err("MQTT_SUBSCRIBE: no topic filter; expected e.g. andon/#".into());
    }
    for f in &filters {
        if f.starts_with('$') {
            return Err(format!(
                "MQTT_SUBSCRIBE: {f:?}: give the plain filter; the shared subscription \
                 $share/{{MQTT_GROUP}}/… is made by the middleware"
            ));
        }
        mqtt::check_filter(f).map_err(|e| format!("MQTT_SUBSCRIBE: {e}"))?;
    }
    Ok(TopicFilters(filters))
}

/// Parses `MQTT_GROUP`: one topic level, no wildcard.
fn share_group(text: &str) -> Result<String, String> {
    let g = text.trim();
    if g.is_empty() || g.contains(['/', '+', '#']) {
        return Err(format!(
            "MQTT_GROUP {g:?}: a shared-subscription group is one non-empty topic level \
             without /, + or #"
        ));
    }
    Ok(g.to_string())
}

/// Parses `MQTT_CLIENT_ID`: not empty.
fn client_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.is_empty() {
        return Err("MQTT_CLIENT_ID: empty; a stable client id finds the session again".into());
    }
    Ok(id.to_string())
}

/// A number of milliseconds (`500`) or a duration (`500ms`, `2s`).
fn millis_or_duration(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => humantime::parse_duration(text.trim()).map_err(|e| e.to_string()),
    }
}

/// Everything the middleware needs to run. Defaults (see [`Config::new`]): listen on
/// 127.0.0.1 port 0, no simulator URLs, no credentials, no defects, 5 s client timeout,
/// backoff from 100 ms doubling to 10 s, lot events wait 10 s for a predecessor, 8
/// concurrent calls per target, `late-hold` delays holds by 120 s, Business Central
/// subscriptions looked at every 500 ms and notified at the listening address.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL per simulator (a system without one is never called).
    pub targets: BTreeMap<System, String>,
    /// Directory of the SQLite store.
    pub data_dir: PathBuf,
    /// Client credentials, when the simulators require tokens.
    pub credentials: Option<Credentials>,
    /// Defects switched on.
    pub defects: Defects,
    /// The API each plant's ERP speaks.
    pub erp_dialects: ErpDialects,
    /// Where Business Central systems notify (`{url}/{plant}`); `None`: the listening
    /// address's `/events/erp/bc`.
    pub bc_notify_url: Option<String>,
    /// How often Business Central subscriptions are looked at (wall time).
    pub bc_renew_every: Duration,
    /// Time allowed for one call.
    pub client_timeout: Duration,
    /// First backoff.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Longest wait of a lot event for its predecessor.
    pub lot_wait: Duration,
    /// Concurrent calls per target.
    pub workers: usize,
    /// How often a defect's write-behind buffer is written to the store.
    pub write_behind_flush: Duration,
    /// How long `late-hold` holds back hold commands.
    pub late_hold_delay: Duration,
    /// Longest sleep of an idle delivery worker between looks at the outbox.
    pub idle_poll: Duration,
    /// The MQTT consumer (`None`: events come over HTTP only).
    pub mqtt: Option<MqttConfig>,
    /// The instance's stable name without an MQTT consumer (`MQTT_CLIENT_ID`, default
    /// `andon-reference`); see [`Config::identity`].
    pub instance: String,
    /// The delivery lease among instances sharing the store.
    pub lease: LeaseConfig,
}

/// The delivery lease: only the instance holding it delivers the shared outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How often the holder renews it, and another instance tries to take it.
    pub renew_every: Duration,
    /// How long it lasts after a renewal.
    pub ttl: Duration,
    /// Longest sleep of the holder's idle dispatchers while other instances share the
    /// store (their commands reach the outbox without waking them).
    pub peer_poll: Duration,
}

impl Default for LeaseConfig {
    /// Renewed every 500 ms, lasting 2 s, the outbox looked at every 25 ms with peers.
    fn default() -> Self {
        Self {
            renew_every: Duration::from_millis(500),
            ttl: Duration::from_secs(2),
            peer_poll: Duration::from_millis(25),
        }
    }
}

/// The MQTT consumer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// The broker.
    pub broker: BrokerUrl,
    /// Plain topic filters (subscribed as `$share/{group}/{filter}`).
    pub filters: Vec<String>,
    /// The shared-subscription group.
    pub group: String,
    /// The client id (stable: the persistent session is found again).
    pub client_id: String,
    /// Session expiry interval, seconds.
    pub session_expiry: u32,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// First pause before connecting again (doubles up to [`MqttConfig::retry_max`]).
    pub retry_base: Duration,
    /// Longest pause before connecting again, or before storing again.
    pub retry_max: Duration,
}

impl MqttConfig {
    /// Consuming from `broker` with the defaults: `andon/#`, group `andon-reference`,
    /// client id `andon-reference`, session expiry 3600 s, keep-alive 5 s, reconnect after
    /// 100 ms doubling to 2 s.
    pub fn new(broker: BrokerUrl) -> Self {
        Self {
            broker,
            filters: vec!["andon/#".into()],
            group: "andon-reference".into(),
            client_id: "andon-reference".into(),
            session_expiry: 3600,
            keep_alive: Duration::from_secs(5),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
        }
    }
}

/// OAuth 2.0 client credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

impl Config {
    /// A configuration with the documented defaults and the store in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            targets: BTreeMap::new(),
            data_dir: data_dir.into(),
            credentials: None,
            defects: Defects::none(),
            erp_dialects: ErpDialects::default(),
            bc_notify_url: None,
            bc_renew_every: Duration::from_millis(500),
            client_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            lot_wait: Duration::from_secs(10),
            workers: 8,
            write_behind_flush: Duration::from_secs(1),
            late_hold_delay: Duration::from_secs(120),
            idle_poll: Duration::from_secs(1),
            mqtt: None,
            instance: "andon-reference".into(),
            lease: LeaseConfig::default(),
        }
    }

    /// Sets the base URL of `system`.
    pub fn target(mut self, system: System, url: impl Into<String>) -> Self {
        self.targets
            .insert(system, url.into().trim_end_matches('/').to_string());
        self
    }

    /// The ERP of `plant` speaks `dialect`.
    pub fn erp_dialect(mut self, plant: PlantId, dialect: ErpDialect) -> Self {
        self.erp_dialects.set(plant, dialect);
        self
    }

    /// Switches a defect on.
    pub fn defect(mut self, defect: Defect) -> Self {
        self.defects.insert(defect);
        self
    }

    /// The instance's stable name: the MQTT client id with a consumer, else
    /// [`Config::instance`]. It holds the delivery lease, so a restart under the same name
    /// takes its own lease back at once.
    pub fn identity(&self) -> &str {
        self.mqtt
            .as_ref()
            .map_or(self.instance.as_str(), |m| m.client_id.as_str())
    }

    /// The SQLite file: `middleware.db`, shared by the instances started on one
    /// `DATA_DIR`.
    pub fn database(&self) -> PathBuf {
        // DEFECT: no-shared-subscription — replicas of a single-instance deployment: each
        // copy keeps a store of its own, `middleware-{MQTT_CLIENT_ID}.db`.
        if self.defects.has(Defect::NoSharedSubscription) {
            let name: String = self
                .identity()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            return self.data_dir.join(format!("middleware-{name}.db"));
        }
        self.data_dir.join("middleware.db")
    }
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        let mut c = Config::new(a.data_dir);
        c.listen = SocketAddr::new(a.host, a.port);
        for (system, url) in [
            (System::Erp, a.erp_url),
            (System::Mes, a.mes_url),
            (System::Qms, a.qms_url),
            (System::Wms, a.wms_url),
        ] {
            if let Some(u) = url.filter(|u| !u.trim().is_empty()) {
                c = c.target(system, u);
            }
        }
        c.credentials = match (a.client_id, a.client_secret) {
            (Some(client_id), Some(client_secret)) => Some(Credentials {
                client_id,
                client_secret,
            }),
            _ => None,
        };
        c.defects = a.defects.iter().flat_map(Defects::iter).collect();
        c.erp_dialects = a.erp_dialects;
        c.bc_notify_url = a
            .bc_notify_url
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty());
        c.bc_renew_every = a.bc_renew_every.max(Duration::from_millis(10));
        c.client_timeout = a.client_timeout;
        c.backoff_base = a.backoff_base;
        c.backoff_max = a.backoff_max.max(a.backoff_base);
        c.lot_wait = a.lot_wait;
        c.workers = a.workers.max(1);
        c.write_behind_flush = a.write_behind_flush.max(Duration::from_millis(10));
        c.instance = a.mqtt_client_id.clone();
        c.lease.renew_every = a.lease_renew_every.max(Duration::from_millis(10));
        c.lease.ttl = a.lease_ttl.max(c.lease.renew_every * 2);
        c.mqtt = a.broker_url.0.map(|broker| MqttConfig {
            filters: a.mqtt_subscribe.0,
            group: a.mqtt_group,
            client_id: a.mqtt_client_id,
            session_expiry: a.mqtt_session_expiry,
            ..MqttConfig::new(broker)
        });
        c
    }
}

#[cfg(test)]
mod tests;
