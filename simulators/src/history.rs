//! The history: an append-only journal of everything a simulator sent, received,
//! committed and suffered. The harness writes it as JSON Lines; checkers read it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use andon_contracts::{CloudEvent, Json, SourceRef, System};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Outcome of an attempt or effect: `ok`, `fail`, or `info` (indeterminate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Ok,
    /// It did not happen.
    Fail,
    /// Indeterminate: it may have happened (for example the answer was lost).
    Info,
}

/// A call in a vendor dialect as the checkers read it: the dialect it was made in, and the
/// operation and body of andon's own API it amounts to (a material document's deep insert
/// is `POST /api/v1/material-documents` with the goods movement it posts), so that the
/// flows judge every dialect's calls alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialectCall {
    /// `s4hana@2408`.
    pub dialect: String,
    /// The route of andon's API the call amounts to, if any (reads and cancellations of
    /// other dialects' documents may have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_route: Option<String>,
    /// The body in andon's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_body: Option<Json>,
}

/// A request received from the SUT, as [`Entry::Request`] holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEntry {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Route template (`/api/v1/material-documents`).
    pub route: String,
    /// `Idempotency-Key` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `traceparent` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// `If-Match` header (a conditional update: the ETag the client read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
    /// Source events the body references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRef>,
    /// The JSON body as sent (state-changing calls that reached the contract layer), so
    /// that every field can be judged against the source event, also when the call was
    /// rejected and left no effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Json>,
    /// Whether the body validated against the contract (`None`: no body expected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    /// Contract violations (JSON pointer: message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// Response status.
    pub status: u16,
    /// Response content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The problem code of an error answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Whether the answer was an idempotent replay.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replayed: bool,
    /// The fault that answered instead of the system, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// `Retry-After` of the answer, in seconds (429 and 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// Time to answer in microseconds.
    pub latency_us: u64,
    /// For a call in a vendor dialect: the dialect, and what it meant in andon's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Box<DialectCall>>,
}

/// One record of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Order of appending within the journal that wrote it.
    pub seq: u64,
    /// Wall-clock time of the record.
    pub at: DateTime<Utc>,
    /// The system that wrote it.
    pub system: System,
    /// What happened.
    #[serde(flatten)]
    pub entry: Entry,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Entry {
    /// A source event was generated, to be sent at `intended_at`.
    EventEmitted {
        /// The event as generated (shared with the emitter's queue while it is delivered).
        event: Arc<CloudEvent>,
        /// When the plant meant to send it (latency is measured from here).
        intended_at: DateTime<Utc>,
        /// Why the event is poison (schema-invalid or unknown master data), if it is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        poison: Option<String>,
    },
    /// One attempt to deliver an event to the SUT's ingress.
    Delivery {
        /// The event's `source` + `id`.
        event: SourceRef,
        /// Attempt number, 1-based.
        attempt: u32,
        /// Ingress URL (`mqtt://broker/topic` when published to a broker).
        url: String,
        /// `ok` (2xx), `fail` (will retry or gave up), `info` (timeout: the SUT may have it).
        outcome: Outcome,
        /// HTTP status, when there was an answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The broker's PUBACK reason code, when the event was published to a broker and
        /// the broker answered (0: success, 16: no matching subscribers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        puback: Option<u8>,
        /// Error text, when there was no answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Content type of the SUT's answer (error answers should be problem+json).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        /// Whether the event was rejected as invalid (4xx): it will not be retried.
        #[serde(default, skip_serializing_if = "is_false")]
        rejected: bool,
        /// Round-trip time of the attempt in microseconds.
        latency_us: u64,
    },
    /// The emitter's store-and-forward buffer hit its bound.
    BufferFull {
        /// The bound.
        capacity: usize,
        /// Events that could not be generated or accepted while full.
        refused: u64,
    },
    /// A request received from the SUT (boxed: it is the largest record, and most records
    /// are not requests).
    Request(Box<RequestEntry>),
    /// A business effect committed in the simulator's state.
    Effect {
        /// Effect name (`erp.goods_movement`, `wms.hold`, …).
        effect: String,
        /// Business key the effect is about (`261:100000001:B000123`).
        key: String,
        /// Source events it realises, as the SUT declared them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<SourceRef>,
        /// The traceparent of the request that caused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
        /// `ok`, or `info` when the SUT never saw the answer (commit then reset).
        outcome: Outcome,
        /// Details (document number, quantities, status…).
        detail: Json,
    },
    /// A fault was applied or cleared.
    Fault {
        /// Fault id.
        id: String,
        /// `applied`, `cleared`, or `fired` (it changed an answer or a delivery).
        action: String,
        /// Fault kind (`unavailable`, `duplicate`, …).
        kind: String,
        /// The fault's parameters.
        #[serde(default)]
        spec: Json,
    },
    /// A note from the simulator (state changes worth knowing: lot picked while held, …).
    Note {
        /// Note name (`wms.pick_of_held_lot`).
        name: String,
        /// Details.
        detail: Json,
    },
}

impl Entry {
    /// A read outside any event's trace that the system answered itself: `GET` or `HEAD`
    /// without a `traceparent`, answered 2xx or 304, no fault. A middleware polling its
    /// subscriptions or a status is idle, not working; its writes, its reads inside an
    /// event's trace, and any read answered by a fault or an error still count as work.
    pub fn is_idle_read(&self) -> bool {
        match self.request() {
            Some(RequestEntry {
                method,
                traceparent: None,
                status,
                fault: None,
                ..
            }) => {
                matches!(method.as_str(), "GET" | "HEAD")
                    && ((200..300).contains(status) || *status == 304)
            }
            _ => false,
        }
    }

    /// The request, when the record is one.
    pub fn request(&self) -> Option<&RequestEntry> {
        match self {
            Entry::Request(r) => Some(r),
            _ => None,
        }
    }

    /// The request, when the record is one, to change it (tests and the trace attribution).
    pub fn request_mut(&mut self) -> Option<&mut RequestEntry> {
        match self {
            Entry::Request(r) => Some(r),
            _ => None,
        }
    }

    /// The source events a request or an effect names (none for other records).
    pub fn sources(&self) -> &[SourceRef] {
        match self {
            Entry::Request(r) => &r.sources,
            Entry::Effect { sources, .. } => sources,
            _ => &[],
        }
    }

    /// The source events of a request or an effect, to change them (`None` for other
    /// records).
    pub fn sources_mut(&mut self) -> Option<&mut Vec<SourceRef>> {
        match self {
            Entry::Request(r) => Some(&mut r.sources),
            Entry::Effect { sources, .. } => Some(sources),
            _ => None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A cloneable handle on an append-only journal.
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    records: Mutex<Vec<Record>>,
    /// Records that are not idle reads ([`Entry::is_idle_read`]): what settling watches.
    activity: AtomicUsize,
    changed: Notify,
}

impl History {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// A journal that goes on from `records` (a saved history: sequence numbers continue).
    pub fn from_records(records: Vec<Record>) -> Self {
        let h = Self::default();
        let active = records.iter().filter(|r| !r.entry.is_idle_read()).count();
        h.inner.activity.store(active, Ordering::Relaxed);
        *h.inner.records.lock().unwrap_or_else(|e| e.into_inner()) = records;
        h
    }

    /// Appends an entry written by `system`; returns its sequence number.
    pub fn append(&self, system: System, entry: Entry) -> u64 {
        if !entry.is_idle_read() {
            self.inner.activity.fetch_add(1, Ordering::Relaxed);
        }
        let seq = {
            let mut records = self.inner.records.lock().unwrap_or_else(|e| e.into_inner());
            let seq = records.len() as u64 + 1;
            records.push(Record {
                seq,
                at: Utc::now(),
                system,
                entry,
            });
            seq
        };
        self.inner.changed.notify_waiters();
        seq
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.inner
            .records
            .lock()
            .map(|r| r.len())
            .unwrap_or_default()
    }

    /// Records so far that are not idle reads: a middleware polling a subscription or a
    /// status every few hundred milliseconds, outside any event's trace, leaves this still.
    /// Settling waits for it to stop moving.
    pub fn activity(&self) -> usize {
        self.inner.activity.load(Ordering::Relaxed)
    }

    /// Whether the journal is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records with `seq > after`, at most `limit`.
    pub fn since(&self, after: u64, limit: usize) -> Vec<Record> {
        let records = self.inner.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .iter()
            .skip(after as usize)
            .take(limit)
            .cloned()
            .collect()
    }

    /// A copy of every record.
    pub fn snapshot(&self) -> Vec<Record> {
        self.since(0, usize::MAX)
    }

    /// Runs `f` over the records without copying them.
    pub fn with_records<R>(&self, f: impl FnOnce(&[Record]) -> R) -> R {
        let records = self.inner.records.lock().unwrap_or_else(|e| e.into_inner());
        f(&records)
    }

    /// Waits until a record is appended.
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    /// Writes every record as JSON Lines.
    pub fn write_jsonl(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        let records = self.inner.records.lock().unwrap_or_else(|e| e.into_inner());
        for r in records.iter() {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_in_order_and_reads_since() {
        let h = History::new();
        for i in 0..5 {
            h.append(
                System::Erp,
                Entry::Note {
                    name: format!("n{i}"),
                    detail: Json::null(),
                },
            );
        }
        let tail = h.since(3, 10);
        assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
    }

    #[test]
    fn jsonl_round_trips() {
        let h = History::new();
        h.append(
            System::Wms,
            Entry::Fault {
                id: "f1".into(),
                action: "applied".into(),
                kind: "hang".into(),
                spec: serde_json::json!({"kind": "hang"}).into(),
            },
        );
        let mut buf = Vec::new();
        h.write_jsonl(&mut buf).unwrap();
        let line = String::from_utf8(buf).unwrap();
        let back: Record = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(back, h.snapshot()[0]);
        assert!(line.contains("\"record\":\"fault\""));
    }

    fn request(method: &str, traceparent: Option<&str>, status: u16, fault: Option<&str>) -> Entry {
        Entry::Request(Box::new(RequestEntry {
            method: method.into(),
            path: "/api/v2.0/subscriptions".into(),
            route: "/api/v2.0/subscriptions".into(),
            idempotency_key: None,
            traceparent: traceparent.map(Into::into),
            if_match: None,
            sources: vec![],
            body: None,
            valid: None,
            violations: vec![],
            status,
            content_type: None,
            problem: None,
            replayed: false,
            fault: fault.map(Into::into),
            retry_after_s: None,
            latency_us: 1,
            dialect: None,
        }))
    }

    #[test]
    fn idle_reads_leave_the_activity_still() {
        let tp = Some("00-b312df38b5b8ac48662252741e695a56-a7a8a5ac45c45756-01");
        let h = History::new();
        h.append(System::Erp, request("GET", None, 200, None));
        h.append(System::Erp, request("HEAD", None, 304, None));
        assert_eq!((h.len(), h.activity()), (2, 0));
        // Work: a write, a read inside an event's trace, a read a fault or an error answered.
        h.append(System::Erp, request("PATCH", None, 200, None));
        h.append(System::Erp, request("GET", tp, 200, None));
        h.append(System::Erp, request("GET", None, 503, Some("unavailable")));
        h.append(System::Erp, request("GET", None, 404, None));
        assert_eq!((h.len(), h.activity()), (6, 4));
        let again = History::from_records(h.snapshot());
        assert_eq!(again.activity(), 4);
    }
}

#[cfg(test)]
mod size {
    use super::*;

    /// Every record of a history is as large as its largest variant: the request, larger
    /// than any other record, is boxed so that the others stay small (a history of a
    /// million records holds 168 MB of them instead of 344 MB).
    #[test]
    fn a_record_stays_small_with_the_request_boxed() {
        assert!(
            std::mem::size_of::<Record>() <= 168,
            "{}",
            std::mem::size_of::<Record>()
        );
        assert!(std::mem::size_of::<RequestEntry>() > std::mem::size_of::<Record>());
    }
}
