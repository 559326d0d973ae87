//! The durable store: SQLite in WAL mode (`synchronous=NORMAL`) holding the inbox, the
//! outbox, the lot bookkeeping and the dead letters.
//!
//! One dedicated thread owns the connection; async code hands it jobs through a bounded
//! channel ([`Store::call`]) and awaits the answer, so the runtime never blocks on SQLite
//! and back-pressure is natural. An event and the outbox rows it implies are written in
//! one transaction: after the commit the middleware has taken durable responsibility.
//!
//! Jobs waiting together are committed together ([`group`]): "stored" still means committed.

pub mod bc;
mod group;
pub mod lease;
pub mod lots;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use andon_contracts::{CloudEvent, System};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::defects::{Defect, Defects};
use crate::flows::{self, Command, Inbound, LotFacts};
use group::{GROUP_MAX, Job, run_group};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON document could not be read or written.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored event could not be decoded.
    #[error("stored event: {0}")]
    Event(String),
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The store thread is gone.
    #[error("the store is closed")]
    Closed,
    /// The transaction the job ran in did not commit: nothing of it was stored.
    #[error("sqlite commit: {0}")]
    Commit(String),
}

/// Rules the store applies while writing: defects and timing.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Defects switched on.
    pub defects: Defects,
    /// How long a lot event waits for its predecessor (ms).
    pub lot_wait_ms: i64,
    /// How long `late-hold` holds back hold commands (ms).
    pub late_hold_ms: i64,
    /// Mixed into every idempotency key (`None`: keys depend on the event alone, so
    /// instances sharing a store agree on them).
    pub key_salt: Option<String>,
}

/// Handle on the store thread.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    open: Arc<AtomicBool>,
}

/// Resolves when the store thread has closed the database.
#[derive(Debug)]
pub struct Closed(oneshot::Receiver<()>);

impl Closed {
    /// Waits until the database is closed.
    pub async fn wait(self) {
        let _ = self.0.await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating when needed) `path` and starts the store thread. The thread ends,
    /// closing the database, when every handle is dropped.
    pub fn open(path: &Path, policy: Policy) -> Result<(Store, Closed), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        setup(&conn, &policy.defects)?;
        // Other instances may write the same file: a transaction takes the write lock
        // when it begins (waiting up to the busy timeout for it), never half-way through.
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        let open = Arc::new(AtomicBool::new(true));
        let (closed_tx, closed_rx) = oneshot::channel();
        let flag = open.clone();
        std::thread::Builder::new()
            .name("andon-store".into())
            .spawn(move || {
                let mut group = Vec::with_capacity(GROUP_MAX);
                while rx.blocking_recv_many(&mut group, GROUP_MAX) > 0 {
                    run_group(&mut conn, &policy, group.drain(..));
                }
                flag.store(false, Ordering::SeqCst);
                if let Err((_, e)) = conn.close() {
                    tracing::warn!(error = %e, "closing the store failed");
                }
                let _ = closed_tx.send(());
            })
            .map_err(|source| StoreError::DataDir {
                path: "store thread".into(),
                source,
            })?;
        Ok((Store { jobs, open }, Closed(closed_rx)))
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Policy) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(job(f, move |result| {
            let _ = tx.send(result);
        }))
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Hands `f` to the store thread without waiting for its outcome, for a write the
    /// caller does not act on (a failure is logged, `what` saying what was lost, once the
    /// group it ran in has committed or not). Jobs run in the order they were handed over,
    /// so whatever is asked of the store after this returns sees what `f` wrote.
    pub async fn submit<F>(&self, what: &'static str, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Connection, &Policy) -> Result<(), StoreError> + Send + 'static,
    {
        self.send(job(f, move |result| {
            if let Err(error) = result {
                tracing::error!(%error, what, "a write handed to the store failed");
            }
        }))
        .await
    }

    async fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)
    }

    /// Whether the store thread runs.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst) && !self.jobs.is_closed()
    }
}

/// A job running `f`, whose outcome goes to `reply` once its group is over: `f`'s own
/// result, or the group's failure to commit what `f` wrote.
fn job<T, F, R>(f: F, reply: R) -> Job
where
    T: Send + 'static,
    F: FnOnce(&mut Connection, &Policy) -> Result<T, StoreError> + Send + 'static,
    R: FnOnce(Result<T, StoreError>) + Send + 'static,
{
    Box::new(move |conn, policy| {
        let result = f(conn, policy);
        Box::new(move |failed: Option<&str>| {
            reply(match (result, failed) {
                (Ok(_), Some(why)) => Err(StoreError::Commit(why.to_string())),
                (result, _) => result,
            })
        })
    })
}

fn setup(conn: &Connection, defects: &Defects) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The file mapped into memory (up to 256 MiB) rather than read page by page: the
    // outbox's indexes are read on every claim, and copying their pages out of the file with
    // pread was a quarter of the store's time. (A page cache that large instead costs a walk
    // of the whole cache at every commit.)
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    // Instances started together on one store create and migrate it one at a time.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match schema(conn, defects) {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

fn schema(conn: &Connection, defects: &Defects) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS inbox (
            source TEXT NOT NULL,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            subject TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            event TEXT NOT NULL,
            received_at TEXT NOT NULL,
            receipts INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (source, id)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS lot_events (
            source TEXT NOT NULL,
            id TEXT NOT NULL,
            lot TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            arrived_ms INTEGER NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (source, id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS lot_events_waiting ON lot_events (lot, sequence) WHERE state = 'waiting';
        CREATE TABLE IF NOT EXISTS lots (
            lot TEXT PRIMARY KEY,
            state TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT,
            event_id TEXT,
            event_type TEXT,
            target TEXT NOT NULL,
            call TEXT NOT NULL,
            status INTEGER,
            reason TEXT NOT NULL,
            problem TEXT,
            at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once ON dead_letters (source, event_id, target, call);",
    )?;
    // DEFECT: memory-outbox — the outbox is a TEMP table: it lives in memory and is gone
    // when the process ends.
    let scope = if defects.has(Defect::MemoryOutbox) {
        "TEMP"
    } else {
        ""
    };
    conn.execute_batch(&format!(
        "CREATE {scope} TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            idx INTEGER NOT NULL,
            target TEXT NOT NULL,
            aggregate TEXT NOT NULL,
            command TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            request TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS outbox_heads ON outbox (target, aggregate, id) WHERE state = 'pending';
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox (target, not_before) WHERE state = 'pending';
        CREATE INDEX IF NOT EXISTS outbox_order ON outbox (target, id) WHERE state = 'pending';"
    ))?;
    // Added with the S/4HANA dialect: when a command was first attempted (its request
    // built), sent as `RepeatabilityCreation`; the S/4HANA release its request is translated
    // for (pinned at its first post, changed only after the system refused it for a release
    // change); the `RequestID` of a request re-translated after such a refusal. Stores made
    // before them gain the columns here.
    for (column, ty) in [
        ("first_attempt_ms", "INTEGER"),
        ("s4_release", "TEXT"),
        ("s4_request_id", "TEXT"),
        // Added with the Business Central dialect: how far the inserts of a row got.
        ("bc_progress", "TEXT"),
    ] {
        let has: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('outbox') WHERE name = ?1",
            [column],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE outbox ADD COLUMN {column} {ty}"))?;
        }
    }
    // The S/4HANA release each plant's system was last detected at (from its `$metadata`),
    // so that a restart keeps what the running middleware learnt.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS erp_releases (
            plant TEXT PRIMARY KEY,
            release TEXT NOT NULL,
            detected_ms INTEGER NOT NULL
        ) WITHOUT ROWID;",
    )?;
    bc::setup(conn)?;
    lease::setup(conn)?;
    Ok(())
}

/// The S/4HANA releases detected per plant (`plant`, `release`), as stored.
pub fn erp_releases(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT plant, release FROM erp_releases ORDER BY plant")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records that `plant`'s S/4HANA system was detected at `release`.
pub fn set_erp_release(conn: &Connection, plant: &str, release: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO erp_releases (plant, release, detected_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (plant) DO UPDATE SET release = excluded.release, detected_ms = excluded.detected_ms",
        params![plant, release, now_ms()],
    )?;
    Ok(())
}

/// Pins the S/4HANA release the request of row `row_id` is translated for, unless it already
/// has one; returns the release pinned.
pub fn pin_s4_release(conn: &Connection, row_id: i64, release: &str) -> Result<String, StoreError> {
    conn.execute(
        "UPDATE outbox SET s4_release = COALESCE(s4_release, ?2) WHERE id = ?1",
        params![row_id, release],
    )?;
    Ok(conn
        .query_row(
            "SELECT s4_release FROM outbox WHERE id = ?1",
            [row_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten()
        .unwrap_or_else(|| release.to_string()))
}

/// Re-translates row `row_id` for `release` (its system refused the old translation because
/// it was upgraded), sent from now on under `request_id`.
pub fn retranslate_s4(
    conn: &Connection,
    row_id: i64,
    release: &str,
    request_id: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox SET s4_release = ?2, s4_request_id = ?3, updated_ms = ?4 WHERE id = ?1",
        params![row_id, release, request_id, now_ms()],
    )?;
    Ok(())
}

/// What became of an event offered to the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The event was already in the inbox (same `source` + `id`).
    pub duplicate: bool,
    /// Targets that got new commands.
    pub targets: BTreeSet<System>,
}

/// Stores an event and the commands it implies, in one transaction.
pub fn ingest(
    conn: &mut Connection,
    policy: &Policy,
    event: &CloudEvent,
    now_ms: i64,
) -> Result<Ingested, StoreError> {
    let data = Inbound::decode(event).map_err(StoreError::Event)?;
    let tx = conn.savepoint()?;
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO inbox (source, id, type, subject, sequence, event, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            event.source,
            event.id,
            event.type_,
            event.subject,
            event.sequence as i64,
            serde_json::to_string(event)?,
            chrono::Utc::now().to_rfc3339(),
        ],
    )? == 1;
    let mut targets = BTreeSet::new();
    if inserted {
        if data.is_lot_event() {
            targets = lots::arrive(&tx, policy, event, now_ms)?;
        } else {
            let commands = data.plan(event, LotFacts::default(), &policy.defects);
            targets = insert_commands(&tx, policy, event, &commands, None, now_ms)?;
        }
    } else {
        let receipts: i64 = tx.query_row(
            "UPDATE inbox SET receipts = receipts + 1 WHERE source = ?1 AND id = ?2 RETURNING receipts",
            params![event.source, event.id],
            |r| r.get(0),
        )?;
        // DEFECT: no-dedup — a redelivered event is processed again under a new message id.
        if policy.defects.has(Defect::NoDedup) {
            targets = reprocess(&tx, policy, event, &data, receipts, now_ms)?;
        }
    }
    tx.commit()?;
    Ok(Ingested {
        duplicate: !inserted,
        targets,
    })
}

fn reprocess(
    conn: &Connection,
    policy: &Policy,
    event: &CloudEvent,
    data: &Inbound,
    receipt: i64,
    now_ms: i64,
) -> Result<BTreeSet<System>, StoreError> {
    let facts = match data {
        Inbound::Andon(d) => {
            let mut state = if flows::is_lot_event(d) {
                lots::load(conn, &flows::lot_key(event))?
            } else {
                lots::LotState::default()
            };
            state.apply(d, event.sequence)
        }
        Inbound::S4hana(_) | Inbound::Bc(_) => LotFacts::default(),
    };
    let commands = data.plan(event, facts, &policy.defects);
    insert_commands(
        conn,
        policy,
        event,
        &commands,
        Some(&format!("receipt-{receipt}")),
        now_ms,
    )
}

/// The event stored in the inbox under `source` + `id`.
pub fn inbox_event(conn: &Connection, source: &str, id: &str) -> Result<CloudEvent, StoreError> {
    let json: String = conn.query_row(
        "SELECT event FROM inbox WHERE source = ?1 AND id = ?2",
        params![source, id],
        |r| r.get(0),
    )?;
    Ok(serde_json::from_str(&json)?)
}

/// `Idempotency-Key` of command `index` of an event: the first 32 hex digits of
/// SHA-256(`source|id|index`).
pub fn idempotency_key(source: &str, id: &str, index: usize, salt: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(format!("{source}|{id}|{index}"));
    if let Some(s) = salt {
        h.update(format!("|{s}"));
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The trace id of a W3C `traceparent` (`00-<trace>-<span>-<flags>`).
pub fn trace_id(traceparent: &str) -> String {
    traceparent
        .split('-')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// Appends the commands of an event to the outbox; returns their targets.
pub fn insert_commands(
    conn: &Connection,
    policy: &Policy,
    event: &CloudEvent,
    commands: &[Command],
    salt: Option<&str>,
    now_ms: i64,
) -> Result<BTreeSet<System>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (source, event_id, event_type, idx, target, aggregate, command, idempotency_key, trace_id,
                             not_before, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
    )?;
    let salt = match (policy.key_salt.as_deref(), salt) {
        (Some(instance), Some(s)) => Some(format!("{instance}|{s}")),
        (a, b) => a.or(b).map(str::to_string),
    };
    let mut targets = BTreeSet::new();
    for (index, c) in commands.iter().enumerate() {
        // DEFECT: late-hold — hold commands wait in a slow queue.
        let not_before = if c.hold && policy.defects.has(Defect::LateHold) {
            now_ms + policy.late_hold_ms
        } else {
            0
        };
        stmt.execute(params![
            event.source,
            event.id,
            event.type_,
            index as i64,
            c.target.as_str(),
            c.aggregate,
            serde_json::to_string(c)?,
            idempotency_key(&event.source, &event.id, index, salt.as_deref()),
            trace_id(&event.traceparent),
            not_before,
            now_ms,
        ])?;
        targets.insert(c.target);
    }
    Ok(targets)
}

/// An outbox row being delivered.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Row id (outbox order).
    pub id: i64,
    /// Source event.
    pub source: String,
    /// Source event id.
    pub event_id: String,
    /// Source event type.
    pub event_type: String,
    /// Target.
    pub target: System,
    /// Ordering key.
    pub aggregate: String,
    /// The command.
    pub command: Command,
    /// `Idempotency-Key`.
    pub key: String,
    /// Trace id of the source event.
    pub trace_id: String,
    /// The request body, once built (it never changes afterwards).
    pub request: Option<Value>,
    /// Attempts so far.
    pub attempts: u32,
    /// When the request was first built and sent (ms), once it was.
    pub first_attempt_ms: Option<i64>,
    /// The S/4HANA release its request is translated for, once pinned (`2408`).
    pub s4_release: Option<String>,
    /// The `RequestID` of a request re-translated for another release (else the key).
    pub s4_request_id: Option<String>,
}

/// Heads of their aggregates that are due, in outbox order, at most `limit`. The pending
/// rows are walked in outbox order and a row is taken when no earlier pending row shares its
/// aggregate, so a claim reads about `limit` rows, not every pending row: with a backlog of
/// tens of thousands, grouping them all for every claim had made the store fall further
/// behind the more it lagged. (`+o.not_before` keeps SQLite on the walk in outbox order
/// instead of the due index.)
pub fn claimable(
    conn: &Connection,
    target: System,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.source, o.event_id, o.event_type, o.aggregate, o.command, o.idempotency_key, o.trace_id,
                o.request, o.attempts, o.first_attempt_ms, o.s4_release, o.s4_request_id
         FROM outbox o
         WHERE o.target = ?1 AND o.state = 'pending' AND +o.not_before <= ?2
           AND NOT EXISTS (SELECT 1 FROM outbox p
                           WHERE p.target = ?1 AND p.state = 'pending' AND p.aggregate = o.aggregate AND p.id < o.id)
         ORDER BY o.id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![target.as_str(), now_ms, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, i64>(9)?,
                r.get::<_, Option<i64>>(10)?,
                r.get::<_, Option<String>>(11)?,
                r.get::<_, Option<String>>(12)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(
            |(
                id,
                source,
                event_id,
                event_type,
                aggregate,
                command,
                key,
                trace_id,
                request,
                attempts,
                first_attempt_ms,
                s4_release,
                s4_request_id,
            )| {
                Ok(OutboxRow {
                    id,
                    source,
                    event_id,
                    event_type,
                    target,
                    aggregate,
                    command: serde_json::from_str(&command)?,
                    key,
                    trace_id,
                    request: request.map(|r| serde_json::from_str(&r)).transpose()?,
                    attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
                    first_attempt_ms,
                    s4_release,
                    s4_request_id,
                })
            },
        )
        .collect()
}

/// When the next pending command of `target` that is not yet due becomes due (ms). Rows
/// already due but not claimable are in flight or queued behind their aggregate's head:
/// the end of a delivery, not the clock, makes them claimable.
pub fn next_due(conn: &Connection, target: System, now_ms: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT MIN(not_before) FROM outbox WHERE target = ?1 AND state = 'pending' AND not_before > ?2",
            params![target.as_str(), now_ms],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

/// A request body built at delivery time, with the lot bookkeeping it implies.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Send this body (`None`: nothing to send, the command is done).
    Body(Option<Value>),
    /// A hold block: send this body, and record what it moved on the lot.
    Block {
        /// Lot bookkeeping key.
        lot: String,
        /// Body and what it moves (`None`: nothing to move).
        moved: Option<(Value, flows::Blocked)>,
    },
    /// A body read back whose call was resolved with it (Business Central: the MES path of
    /// a changed order, the material of a changed item): the command is stored as resolved.
    Rerouted {
        /// The command as it is to be sent.
        command: Box<Command>,
        /// Its body.
        body: Value,
    },
    /// A release of the last hold: move back what the lot's holds moved.
    Unblock {
        /// Lot bookkeeping key.
        lot: String,
        /// Builds the body from what was moved.
        build: fn(&flows::Blocked, &Command) -> Option<Value>,
    },
}

/// Stores the request body of a row (once; retries reuse it) with its lot bookkeeping, and
/// `at_ms` as its first attempt. Returns the body to send, or `None` when there is nothing
/// to send (the row is done).
pub fn prepare(
    conn: &mut Connection,
    row_id: i64,
    command: &Command,
    prepared: Prepared,
    at_ms: i64,
) -> Result<Option<Value>, StoreError> {
    let tx = conn.savepoint()?;
    let body = match prepared {
        Prepared::Body(b) => b,
        Prepared::Block { lot, moved } => moved
            .map(|(body, blocked)| lots::add_blocked(&tx, &lot, &blocked).map(|()| body))
            .transpose()?,
        Prepared::Unblock { lot, build } => {
            let blocked = lots::take_blocked(&tx, &lot)?;
            build(&blocked, command)
        }
        Prepared::Rerouted { command, body } => {
            tx.execute(
                "UPDATE outbox SET command = ?2 WHERE id = ?1",
                params![row_id, serde_json::to_string(&command)?],
            )?;
            Some(body)
        }
    };
    match &body {
        Some(b) => tx.execute(
            "UPDATE outbox SET request = ?2, first_attempt_ms = COALESCE(first_attempt_ms, ?3), updated_ms = ?3
             WHERE id = ?1",
            params![row_id, serde_json::to_string(b)?, at_ms],
        )?,
        None => tx.execute(
            "UPDATE outbox SET state = 'skipped', updated_ms = ?2 WHERE id = ?1",
            params![row_id, now_ms()],
        )?,
    };
    tx.commit()?;
    Ok(body)
}

/// How a delivery attempt ended, as the store records it.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Delivered.
    Done,
    /// Given up without a dead letter (a defect).
    Dropped(String),
    /// Try again at `not_before` (ms).
    Retry {
        /// When.
        not_before: i64,
        /// What went wrong.
        error: String,
    },
    /// Business rejection: a dead letter.
    Dead(DeadLetterInput),
}

/// A dead letter to record.
#[derive(Debug, Clone)]
pub struct DeadLetterInput {
    /// Target system (or `ingress`).
    pub target: String,
    /// `POST /api/v1/…`.
    pub call: String,
    /// HTTP status.
    pub status: Option<u16>,
    /// Stable reason (problem code, or `rejected-at-ingress`).
    pub reason: String,
    /// The problem document, or a detail text.
    pub problem: Option<Value>,
}

/// Records the end of an attempt.
pub fn finish(conn: &mut Connection, row: &OutboxRow, finish: Finish) -> Result<(), StoreError> {
    let tx = conn.savepoint()?;
    let now = now_ms();
    match finish {
        Finish::Done => {
            tx.execute(
                "UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_ms = ?2 WHERE id = ?1",
                params![row.id, now],
            )?;
        }
        Finish::Dropped(why) => {
            tx.execute(
                "UPDATE outbox SET state = 'dropped', attempts = attempts + 1, last_error = ?2, updated_ms = ?3 WHERE id = ?1",
                params![row.id, why, now],
            )?;
        }
        Finish::Retry { not_before, error } => {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, not_before = ?2, last_error = ?3, updated_ms = ?4 WHERE id = ?1",
                params![row.id, not_before, error, now],
            )?;
        }
        Finish::Dead(d) => {
            tx.execute(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2, updated_ms = ?3 WHERE id = ?1",
                params![row.id, d.reason, now],
            )?;
            record_dead_letter(
                &tx,
                Some(&row.source),
                Some(&row.event_id),
                Some(&row.event_type),
                &d,
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Records a dead letter (once per source event, target and call).
pub fn record_dead_letter(
    conn: &Connection,
    source: Option<&str>,
    event_id: Option<&str>,
    event_type: Option<&str>,
    d: &DeadLetterInput,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO dead_letters (source, event_id, event_type, target, call, status, reason, problem, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            source,
            event_id,
            event_type,
            d.target,
            d.call,
            d.status,
            d.reason,
            d.problem.as_ref().map(|p| p.to_string()),
            chrono::Utc::now().to_rfc3339(),
        ],
    )?;
    Ok(())
}

/// The source event of a dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct SourceEvent {
    /// CloudEvents `source`.
    pub source: Option<String>,
    /// CloudEvents `id`.
    pub id: Option<String>,
    /// CloudEvents `type`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// A dead letter as `GET /dead-letters` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// Id.
    pub id: i64,
    /// The event it came from.
    pub source_event: SourceEvent,
    /// Target system (`ingress` for events refused at the door).
    pub target: String,
    /// The call that was refused.
    pub call: String,
    /// HTTP status of the refusal.
    pub status: Option<u16>,
    /// Stable reason (problem code).
    pub reason: String,
    /// The problem document.
    pub problem: Option<Value>,
    /// When.
    pub at: String,
}

/// Every dead letter, oldest first.
pub fn dead_letters(conn: &Connection) -> Result<Vec<DeadLetter>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, source, event_id, event_type, target, call, status, reason, problem, at FROM dead_letters ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                source_event: SourceEvent {
                    source: r.get(1)?,
                    id: r.get(2)?,
                    type_: r.get(3)?,
                },
                target: r.get(4)?,
                call: r.get(5)?,
                status: r.get(6)?,
                reason: r.get(7)?,
                problem: r
                    .get::<_, Option<String>>(8)?
                    .map(|p| serde_json::from_str(&p).unwrap_or(Value::String(p))),
                at: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Counters for `GET /stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Events in the inbox.
    pub inbox: u64,
    /// Redeliveries recognised as duplicates.
    pub duplicates: u64,
    /// Lot events waiting for a predecessor.
    pub waiting_lot_events: u64,
    /// Outbox rows not yet delivered.
    pub pending: u64,
    /// Outbox rows delivered.
    pub done: u64,
    /// Outbox rows with nothing to send.
    pub skipped: u64,
    /// Outbox rows dead-lettered.
    pub dead: u64,
    /// Outbox rows given up (defects only).
    pub dropped: u64,
    /// Dead letters.
    pub dead_letters: u64,
}

/// Current counters.
pub fn stats(conn: &Connection) -> Result<Stats, StoreError> {
    let mut s = Stats::default();
    let count = |sql: &str| -> Result<u64, StoreError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    };
    s.inbox = count("SELECT COUNT(*) FROM inbox")?;
    s.duplicates = count("SELECT COALESCE(SUM(receipts - 1), 0) FROM inbox")?;
    s.waiting_lot_events = count("SELECT COUNT(*) FROM lot_events WHERE state = 'waiting'")?;
    s.dead_letters = count("SELECT COUNT(*) FROM dead_letters")?;
    let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    for (state, n) in rows {
        let n = n.max(0) as u64;
        match state.as_str() {
            "pending" => s.pending = n,
            "done" => s.done = n,
            "skipped" => s.skipped = n,
            "dead" => s.dead = n,
            "dropped" => s.dropped = n,
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(defects: Defects) -> Policy {
        Policy {
            defects,
            lot_wait_ms: 10_000,
            late_hold_ms: 120_000,
            key_salt: None,
        }
    }

    fn event(
        kind: &str,
        source: &str,
        id: &str,
        subject: &str,
        sequence: u64,
        data: Value,
    ) -> CloudEvent {
        serde_json::from_value(json!({
            "specversion": "1.0", "id": id, "source": source, "type": format!("andon.{kind}.v1"),
            "subject": subject, "time": "2026-11-02T06:10:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": sequence,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "data": data
        }))
        .unwrap()
    }

    fn confirmed(id: &str) -> CloudEvent {
        event(
            "operation.confirmed",
            "/andon/mes/1000",
            id,
            "100000001",
            1,
            json!({"order": "100000001", "operation": "0010", "plant": "1000", "work_center": "LINE-1",
                   "yield": {"value": 10, "unit": "PC"}, "scrap": {"value": 0, "unit": "PC"},
                   "rework": {"value": 0, "unit": "PC"}, "final": false, "posting_date": "2026-11-02"}),
        )
    }

    fn hold(id: &str, seq: u64, placed: bool) -> CloudEvent {
        if placed {
            event(
                "lot.hold_placed",
                "/andon/qms/1000",
                id,
                "FG-1/B1",
                seq,
                json!({"hold_id": "H1", "plant": "1000", "material": "FG-1", "batch": "B1", "scope": "batch",
                       "reason_code": "QH01", "placed_at": "2026-11-02T06:10:00Z"}),
            )
        } else {
            event(
                "lot.hold_released",
                "/andon/qms/1000",
                id,
                "FG-1/B1",
                seq,
                json!({"hold_id": "H1", "plant": "1000", "material": "FG-1", "batch": "B1",
                       "released_at": "2026-11-02T06:11:00Z"}),
            )
        }
    }

    fn memory(defects: Defects) -> (Connection, Policy) {
        let conn = Connection::open_in_memory().unwrap();
        setup(&conn, &defects).unwrap();
        (conn, policy(defects))
    }

    fn pending(conn: &Connection, target: System) -> Vec<OutboxRow> {
        claimable(conn, target, i64::MAX, 100).unwrap()
    }

    #[test]
    fn a_duplicate_is_recognised_and_adds_no_command() {
        let (mut c, p) = memory(Defects::none());
        let first = ingest(&mut c, &p, &confirmed("a"), 0).unwrap();
        assert!(!first.duplicate);
        assert_eq!(first.targets, BTreeSet::from([System::Erp]));
        let again = ingest(&mut c, &p, &confirmed("a"), 1).unwrap();
        assert!(again.duplicate && again.targets.is_empty());
        assert_eq!(stats(&c).unwrap().pending, 1);
        assert_eq!(stats(&c).unwrap().duplicates, 1);
    }

    #[test]
    fn no_dedup_processes_the_duplicate_again_under_another_key() {
        let (mut c, p) = memory([Defect::NoDedup].into_iter().collect());
        ingest(&mut c, &p, &confirmed("a"), 0).unwrap();
        ingest(&mut c, &p, &confirmed("a"), 1).unwrap();
        let rows = pending(&c, System::Erp);
        // Both rows share the order aggregate: only the head is claimable.
        assert_eq!(rows.len(), 1);
        assert_eq!(stats(&c).unwrap().pending, 2);
        let keys: BTreeSet<String> = c
            .prepare("SELECT idempotency_key FROM outbox")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn keys_are_stable_and_per_command() {
        let k = idempotency_key("/andon/mes/1000", "e1", 0, None);
        assert_eq!(k.len(), 32);
        assert_eq!(k, idempotency_key("/andon/mes/1000", "e1", 0, None));
        assert_ne!(k, idempotency_key("/andon/mes/1000", "e1", 1, None));
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn a_release_that_overtakes_its_hold_waits_and_both_apply_in_order() {
        let (mut c, p) = memory(Defects::none());
        let r = ingest(&mut c, &p, &hold("r", 2, false), 0).unwrap();
        assert!(r.targets.is_empty(), "the release waits for the hold");
        assert_eq!(stats(&c).unwrap().waiting_lot_events, 1);
        let h = ingest(&mut c, &p, &hold("h", 1, true), 5).unwrap();
        assert_eq!(
            h.targets,
            BTreeSet::from([System::Erp, System::Mes, System::Wms])
        );
        let wms: Vec<String> = c
            .prepare("SELECT command FROM outbox WHERE target = 'wms' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|c| serde_json::from_str::<Command>(&c.unwrap()).unwrap().path)
            .collect();
        assert_eq!(
            wms,
            vec![
                "/api/v1/lots/1000/FG-1/B1/holds",
                "/api/v1/lots/1000/FG-1/B1/holds/H1/release"
            ]
        );
        let lot = lots::load(&c, "/andon/qms/1000|FG-1/B1").unwrap();
        assert_eq!(lot.last_applied, 2);
        assert!(lot.holds.is_empty());
    }

    #[test]
    fn a_hold_later_than_the_bound_is_stale_and_applies_nothing() {
        let (mut c, p) = memory(Defects::none());
        ingest(&mut c, &p, &hold("r", 2, false), 0).unwrap();
        let moved = lots::advance_expired(&c, &p, 10_000).unwrap();
        assert_eq!(
            moved,
            BTreeSet::from([System::Mes, System::Wms]),
            "the release went ahead"
        );
        let late = ingest(&mut c, &p, &hold("h", 1, true), 10_001).unwrap();
        assert!(
            late.targets.is_empty(),
            "a late hold never overwrites a newer release"
        );
    }

    #[test]
    fn reorder_status_applies_in_arrival_order() {
        let (mut c, p) = memory([Defect::ReorderStatus].into_iter().collect());
        let r = ingest(&mut c, &p, &hold("r", 2, false), 0).unwrap();
        assert_eq!(r.targets, BTreeSet::from([System::Mes, System::Wms]));
        let h = ingest(&mut c, &p, &hold("h", 1, true), 1).unwrap();
        assert!(h.targets.contains(&System::Wms));
    }

    #[test]
    fn late_hold_defers_hold_commands() {
        let (mut c, p) = memory([Defect::LateHold].into_iter().collect());
        ingest(&mut c, &p, &hold("h", 1, true), 1_000).unwrap();
        assert!(claimable(&c, System::Wms, 1_000, 10).unwrap().is_empty());
        assert_eq!(claimable(&c, System::Wms, 121_000, 10).unwrap().len(), 1);
    }

    #[test]
    fn dead_letters_are_listed_with_their_source_event() {
        let (mut c, p) = memory(Defects::none());
        ingest(&mut c, &p, &confirmed("a"), 0).unwrap();
        let row = pending(&c, System::Erp).remove(0);
        let problem = json!({"code": "period-closed", "status": 422});
        finish(
            &mut c,
            &row,
            Finish::Dead(DeadLetterInput {
                target: "erp".into(),
                call: row.command.call(),
                status: Some(422),
                reason: "period-closed".into(),
                problem: Some(problem.clone()),
            }),
        )
        .unwrap();
        let dl = dead_letters(&c).unwrap();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].source_event.id.as_deref(), Some("a"));
        assert_eq!(dl[0].call, "POST /api/v1/confirmations");
        assert_eq!(dl[0].problem, Some(problem));
        assert!(pending(&c, System::Erp).is_empty());
    }

    #[test]
    fn memory_outbox_is_not_in_the_database_file() {
        let dir = std::env::temp_dir().join(format!("andon-mw-{}", uuid::Uuid::new_v4()));
        let path = dir.join("middleware.db");
        std::fs::create_dir_all(&dir).unwrap();
        for defects in [
            Defects::none(),
            [Defect::MemoryOutbox].into_iter().collect(),
        ] {
            let p = policy(defects.clone());
            {
                let mut c = Connection::open(&path).unwrap();
                setup(&c, &defects).unwrap();
                ingest(&mut c, &p, &confirmed(&format!("e-{defects}")), 0).unwrap();
            }
            let c = Connection::open(&path).unwrap();
            setup(&c, &defects).unwrap();
            let kept = stats(&c).unwrap().pending;
            if defects.is_empty() {
                assert_eq!(kept, 1);
            } else {
                assert_eq!(kept, 0, "the in-memory outbox is lost on restart");
            }
            c.execute("DELETE FROM outbox", []).unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_detected_release_survives_a_restart_and_a_row_keeps_its_translation() {
        let dir = std::env::temp_dir().join(format!("andon-mw-{}", uuid::Uuid::new_v4()));
        let path = dir.join("middleware.db");
        std::fs::create_dir_all(&dir).unwrap();
        let p = policy(Defects::none());
        {
            let mut c = Connection::open(&path).unwrap();
            setup(&c, &Defects::none()).unwrap();
            set_erp_release(&c, "1000", "2408").unwrap();
            set_erp_release(&c, "1000", "2502").unwrap();
            ingest(&mut c, &p, &confirmed("a"), 0).unwrap();
            let row = &pending(&c, System::Erp)[0];
            assert_eq!(row.s4_release, None);
            assert_eq!(pin_s4_release(&c, row.id, "2408").unwrap(), "2408");
            assert_eq!(
                pin_s4_release(&c, row.id, "2502").unwrap(),
                "2408",
                "a row keeps the release it was first sent in"
            );
            retranslate_s4(&c, row.id, "2502", "r-2502").unwrap();
        }
        let c = Connection::open(&path).unwrap();
        setup(&c, &Defects::none()).unwrap();
        assert_eq!(
            erp_releases(&c).unwrap(),
            vec![("1000".to_string(), "2502".to_string())]
        );
        let row = &pending(&c, System::Erp)[0];
        assert_eq!(
            (row.s4_release.as_deref(), row.s4_request_id.as_deref()),
            (Some("2502"), Some("r-2502"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The claim as it was first written: every pending row grouped by aggregate, then the
    /// due heads in outbox order.
    fn heads_by_grouping(c: &Connection, target: &str, now: i64, limit: usize) -> Vec<i64> {
        let mut st = c
            .prepare(
                "SELECT o.id
                 FROM (SELECT MIN(id) AS head FROM outbox WHERE target = ?1 AND state = 'pending' GROUP BY aggregate) h
                 JOIN outbox o ON o.id = h.head
                 WHERE o.not_before <= ?2
                 ORDER BY o.id LIMIT ?3",
            )
            .unwrap();
        st.query_map(params![target, now, limit as i64], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 128,
            rng_seed: proptest::test_runner::RngSeed::Fixed(19),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any outbox (targets, aggregates, states and due times mixed): the claim walking
        /// the rows in order takes exactly the rows the grouping query took.
        #[test]
        fn a_claim_takes_the_due_heads_the_grouping_query_took(
            rows in proptest::collection::vec((0..2usize, 0..6usize, 0..3usize, 0..3i64), 0..60),
            now in 0..3i64,
            limit in 1..12usize,
        ) {
            let (mut c, p) = memory(Defects::none());
            // One real row lends the others a command that reads back.
            ingest(&mut c, &p, &confirmed("seed"), 0).unwrap();
            c.execute("UPDATE outbox SET state = 'done'", []).unwrap();
            for (target, aggregate, state, not_before) in rows {
                c.execute(
                    "INSERT INTO outbox (source, event_id, event_type, idx, target, aggregate, command,
                                         idempotency_key, trace_id, state, not_before, created_ms, updated_ms)
                     SELECT source, event_id, event_type, idx, ?1, ?2, command, idempotency_key, trace_id, ?3, ?4, 0, 0
                     FROM outbox WHERE id = 1",
                    params![
                        ["erp", "mes"][target],
                        format!("agg-{aggregate}"),
                        ["pending", "done", "dead"][state],
                        not_before
                    ],
                )
                .unwrap();
            }
            for target in [System::Erp, System::Mes] {
                let claimed: Vec<i64> = claimable(&c, target, now, limit)
                    .unwrap()
                    .iter()
                    .map(|r| r.id)
                    .collect();
                proptest::prop_assert_eq!(
                    claimed,
                    heads_by_grouping(&c, target.as_str(), now, limit)
                );
            }
        }
    }
}
