//! The named defects: each imitates a real broken integration, so that andon can prove that
//! its features catch what they claim to catch.
//!
//! The correct path asks [`Defects::has`] at a few marked points (search for `DEFECT:`);
//! nothing else in the crate knows that defects exist. With the empty set the middleware is
//! the correct one.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One switchable defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Defect {
    /// Never sends `Idempotency-Key`.
    NoIdempotencyKey,
    /// Processes duplicate events again.
    NoDedup,
    /// Gives up after one failed attempt.
    DropOn5xx,
    /// Keeps the outbox in memory: the queue is lost on restart.
    MemoryOutbox,
    /// Answers 2xx before storing the event.
    AckBeforePersist,
    /// Holds never reach the WMS.
    NoHoldToWms,
    /// Holds propagate only after a delay far beyond any SLA.
    LateHold,
    /// Retries at once when throttled.
    IgnoreRetryAfter,
    /// Applies lot status changes in arrival order.
    ReorderStatus,
    /// Drops business rejections without dead-lettering them.
    SwallowRejections,
    /// Breaks the trace.
    NoTraceparent,
    /// Posts quantities in the entry unit labelled as the base unit.
    WrongUom,
    /// Gives up on calls after one second and re-posts under a fresh key.
    ShortTimeoutNewKey,
    /// Stamps its own clock's date as the posting date.
    OwnPostingDate,
    /// Posts a by-product as the main product's goods receipt (101 for 531).
    ByProductAsReceipt,
    /// Requests its tokens for the first plant it saw only.
    SinglePlantToken,
    /// Never fetches a new CSRF token: a refused token dead-letters the call.
    CsrfNoRefresh,
    /// Sends S/4HANA creates without a repeatable request (`RequestID`).
    NoRepeatability,
    /// Keeps the S/4HANA release it started with after a vendor upgrade.
    ReleaseBlind,
    /// Posts to Business Central again after a lost answer without reading the ledger back.
    BcNoReadback,
    /// Never renews its Business Central webhook subscriptions.
    NoSubscriptionRenewal,
    /// Renews Business Central subscriptions with the ETag they had when it made them.
    IgnoreEtag,
    /// Sends a whole Business Central `$batch` again when one of its operations failed.
    BatchPartialRetry,
    /// Connects to the MQTT broker with clean start on and session expiry 0.
    CleanSession,
    /// Acknowledges each MQTT message on arrival and stores it later.
    AckBeforeStore,
    /// Subscribes at QoS 0.
    Qos0Subscribe,
    /// Replicas of a single-instance deployment: the plain topic filter, not a shared
    /// subscription, and a store (and idempotency keys) of each copy's own.
    NoSharedSubscription,
    /// Processes retained MQTT messages like live ones.
    TrustRetained,
}

impl Defect {
    /// Every defect, in a fixed order.
    pub const ALL: [Defect; 28] = [
        Defect::NoIdempotencyKey,
        Defect::NoDedup,
        Defect::DropOn5xx,
        Defect::MemoryOutbox,
        Defect::AckBeforePersist,
        Defect::NoHoldToWms,
        Defect::LateHold,
        Defect::IgnoreRetryAfter,
        Defect::ReorderStatus,
        Defect::SwallowRejections,
        Defect::NoTraceparent,
        Defect::WrongUom,
        Defect::ShortTimeoutNewKey,
        Defect::OwnPostingDate,
        Defect::ByProductAsReceipt,
        Defect::SinglePlantToken,
        Defect::CsrfNoRefresh,
        Defect::NoRepeatability,
        Defect::ReleaseBlind,
        Defect::BcNoReadback,
        Defect::NoSubscriptionRenewal,
        Defect::IgnoreEtag,
        Defect::BatchPartialRetry,
        Defect::CleanSession,
        Defect::AckBeforeStore,
        Defect::Qos0Subscribe,
        Defect::NoSharedSubscription,
        Defect::TrustRetained,
    ];

    /// The name used on the command line (`no-idempotency-key`).
    pub fn name(self) -> &'static str {
        match self {
            Self::NoIdempotencyKey => "no-idempotency-key",
            Self::NoDedup => "no-dedup",
            Self::DropOn5xx => "drop-on-5xx",
            Self::MemoryOutbox => "memory-outbox",
            Self::AckBeforePersist => "ack-before-persist",
            Self::NoHoldToWms => "no-hold-to-wms",
            Self::LateHold => "late-hold",
            Self::IgnoreRetryAfter => "ignore-retry-after",
            Self::ReorderStatus => "reorder-status",
            Self::SwallowRejections => "swallow-rejections",
            Self::NoTraceparent => "no-traceparent",
            Self::WrongUom => "wrong-uom",
            Self::ShortTimeoutNewKey => "short-timeout-new-key",
            Self::OwnPostingDate => "own-posting-date",
            Self::ByProductAsReceipt => "by-product-as-receipt",
            Self::SinglePlantToken => "single-plant-token",
            Self::CsrfNoRefresh => "csrf-no-refresh",
            Self::NoRepeatability => "no-repeatability",
            Self::ReleaseBlind => "release-blind",
            Self::BcNoReadback => "bc-no-readback",
            Self::NoSubscriptionRenewal => "no-subscription-renewal",
            Self::IgnoreEtag => "ignore-etag",
            Self::BatchPartialRetry => "batch-partial-retry",
            Self::CleanSession => "clean-session",
            Self::AckBeforeStore => "ack-before-store",
            Self::Qos0Subscribe => "qos0-subscribe",
            Self::NoSharedSubscription => "no-shared-subscription",
            Self::TrustRetained => "trust-retained",
        }
    }

    /// The real-world bug it imitates, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Self::NoIdempotencyKey => {
                "never sends Idempotency-Key: a retry after a lost answer posts the goods movement twice"
            }
            Self::NoDedup => {
                "processes a redelivered event again under a new message id: duplicates become double postings"
            }
            Self::DropOn5xx => {
                "gives up after one failed attempt (5xx, timeout, reset): postings vanish during ERP maintenance"
            }
            Self::MemoryOutbox => {
                "keeps the outbound queue in memory: everything not yet delivered is lost on restart"
            }
            Self::AckBeforePersist => {
                "answers 2xx before the event is stored (write-behind): a crash right after the ack loses it"
            }
            Self::NoHoldToWms => {
                "quality holds are never sent to the WMS: held lots keep being picked and shipped"
            }
            Self::LateHold => {
                "hold commands sit in a slow batch queue for 120 s: holds arrive long after any SLA"
            }
            Self::IgnoreRetryAfter => {
                "retries at once on 429/503 instead of waiting for Retry-After: hammers a throttled ERP"
            }
            Self::ReorderStatus => {
                "applies lot status changes in arrival order: a late hold overwrites a newer release"
            }
            Self::SwallowRejections => {
                "drops business rejections (422) without a dead letter: postings into a closed period vanish"
            }
            Self::NoTraceparent => {
                "does not propagate traceparent: the trace breaks at the middleware"
            }
            Self::WrongUom => {
                "posts the entry-unit value labelled with the base unit: 500 G consumed becomes 500 KG"
            }
            Self::ShortTimeoutNewKey => {
                "gives up on a call after 1 s and re-posts it under a fresh Idempotency-Key: a slow ERP that finishes the first posting books it twice"
            }
            Self::OwnPostingDate => {
                "stamps the middleware's own clock's date as the posting date: postings land in the wrong period, or are rejected as period-closed"
            }
            Self::ByProductAsReceipt => {
                "posts a by-product as the main product's goods receipt (101 instead of 531)"
            }
            Self::SinglePlantToken => {
                "requests its OAuth token for the first plant it saw only: every call for another plant is refused 403 plant-scope"
            }
            Self::CsrfNoRefresh => {
                "caches the S/4HANA CSRF token forever: once the session's token expires, every POST refused 403 X-CSRF-Token: Required is dead-lettered instead of fetching a new token"
            }
            Self::NoRepeatability => {
                "sends S/4HANA creates without RequestID / RepeatabilityCreation: a retry after a lost answer books the goods movement twice"
            }
            Self::ReleaseBlind => {
                "never re-detects the S/4HANA release: after a vendor upgrade (2408 to 2502) it keeps sending the old release's body and every material document is refused 400 and dead-lettered"
            }
            Self::BcNoReadback => {
                "retries a Business Central journal line after a timeout, reset or 5xx without reading the ledger back by its document number: Business Central has no idempotency key, so a posting whose answer was lost is booked twice"
            }
            Self::NoSubscriptionRenewal => {
                "never renews its Business Central webhook subscriptions (nor re-creates an expired one): after three business days every production order and item change goes unnoticed"
            }
            Self::IgnoreEtag => {
                "renews its Business Central subscriptions with the ETag they had when it made them, never the one the system answered since: from the second renewal on every PATCH is refused 412 and sent again unchanged, and the subscription lapses until it is re-created"
            }
            Self::BatchPartialRetry => {
                "sends a whole Business Central $batch again when one of its operations failed: the journal lines that were posted with it are posted again"
            }
            _ => self.broker_description(),
        }
    }

    /// The real-world bug of a defect of the MQTT consumer ("" for the others).
    fn broker_description(self) -> &'static str {
        match self {
            Self::CleanSession => {
                "connects to the MQTT broker with clean start on and session expiry 0: the broker keeps no session, so every event published while the middleware is down or reconnecting is lost"
            }
            Self::AckBeforeStore => {
                "acknowledges each MQTT message (PUBACK) as soon as it arrives and stores it later in the background: a crash in between loses events the broker already forgot"
            }
            Self::Qos0Subscribe => {
                "subscribes at QoS 0: the broker queues nothing for the offline session and never redelivers, so events published while the middleware is down are lost"
            }
            Self::NoSharedSubscription => {
                "replicas of a single-instance deployment: each copy subscribes to the plain topic filter instead of $share/{group}/… and keeps a store of its own (middleware-{MQTT_CLIENT_ID}.db) with its own idempotency keys, so every copy takes every event in and posts it: the effects happen once per instance"
            }
            Self::TrustRetained => {
                "processes retained MQTT messages like live ones: a stale event left on the broker by an earlier run (or another plant) is taken in again at every subscription"
            }
            _ => "",
        }
    }
}

/// What `--list-defects` prints: one `name — description` line per defect.
///
/// ```
/// let text = andon_reference_middleware::defects::listing();
/// assert_eq!(text.lines().count(), andon_reference_middleware::Defect::ALL.len());
/// assert!(text.starts_with("no-idempotency-key — "));
/// ```
pub fn listing() -> String {
    Defect::ALL
        .iter()
        .map(|d| format!("{} — {}\n", d.name(), d.description()))
        .collect()
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A defect name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown defect {0:?}: expected one of {known}", known = Defect::ALL.map(Defect::name).join(", "))]
pub struct UnknownDefect(pub String);

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Defect::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDefect(s.to_string()))
    }
}

/// The defects switched on for a run (empty: the correct middleware).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects(BTreeSet<Defect>);

impl Defects {
    /// No defect: the correct middleware.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether `defect` is switched on.
    pub fn has(&self, defect: Defect) -> bool {
        self.0.contains(&defect)
    }

    /// Switches `defect` on.
    pub fn insert(&mut self, defect: Defect) {
        self.0.insert(defect);
    }

    /// Whether no defect is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The defects switched on.
    pub fn iter(&self) -> impl Iterator<Item = Defect> + '_ {
        self.0.iter().copied()
    }

    /// Parses a comma-separated list (`DEFECTS=a,b`); blanks are ignored.
    pub fn parse_list(list: &str) -> Result<Self, UnknownDefect> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Defect::from_str)
            .collect()
    }
}

impl FromStr for Defects {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_list(s)
    }
}

impl FromIterator<Defect> for Defects {
    fn from_iter<I: IntoIterator<Item = Defect>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Defects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Defect::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defect_round_trips_through_its_name() {
        for d in Defect::ALL {
            assert_eq!(d.name().parse::<Defect>(), Ok(d));
            assert!(!d.description().is_empty());
        }
        let names: BTreeSet<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), Defect::ALL.len());
    }

    #[test]
    fn lists_parse_and_unknown_names_are_refused() {
        let d = Defects::parse_list("wrong-uom, no-dedup,,").unwrap();
        assert!(d.has(Defect::WrongUom) && d.has(Defect::NoDedup));
        assert!(!d.has(Defect::LateHold));
        assert_eq!(d.to_string(), "no-dedup,wrong-uom");
        let err = Defects::parse_list("meteor").unwrap_err().to_string();
        assert!(err.contains("meteor") && err.contains("late-hold"), "{err}");
    }
}
