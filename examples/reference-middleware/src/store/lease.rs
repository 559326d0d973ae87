//! The delivery lease, in the store the instances share: one row naming the instance that
//! delivers the outbox and until when (wall-clock milliseconds). Taking and renewing are one
//! conditional `UPDATE` — it changes the row only when the lease is this instance's already
//! or has expired — so two instances can never both succeed. Instances on one host share
//! the clock the expiry is read by.
//!
//! A non-holder that finds the lease taken leaves a mark (`contended_ms`): the holder reads
//! it to know that other instances write commands into the outbox without waking it.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// Creates the lease row (free) when it is not there.
pub fn setup(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS delivery_lease (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            holder TEXT NOT NULL,
            expires_ms INTEGER NOT NULL,
            contended_ms INTEGER NOT NULL DEFAULT 0
        );
        INSERT OR IGNORE INTO delivery_lease (id, holder, expires_ms) VALUES (1, '', 0);",
    )?;
    Ok(())
}

/// The lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The holder, while its lease is valid (`None`: free or expired).
    pub holder: Option<String>,
    /// When it expires (ms since the epoch).
    pub expires_ms: i64,
    /// When another instance last found it taken (ms since the epoch; 0: never).
    pub contended_ms: i64,
}

/// Takes or renews the lease for `me` until `now_ms + ttl_ms`: true when it is `me`'s now.
/// It is taken when it is `me`'s already (a renewal, or the same instance started again),
/// or free, or expired; otherwise nothing changes but the mark of contention.
pub fn take(conn: &Connection, me: &str, now_ms: i64, ttl_ms: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE delivery_lease SET holder = ?1, expires_ms = ?2
         WHERE id = 1 AND (holder = ?1 OR holder = '' OR expires_ms < ?3)",
        params![me, now_ms.saturating_add(ttl_ms.max(0)), now_ms],
    )?;
    if changed == 1 {
        return Ok(true);
    }
    conn.execute(
        "UPDATE delivery_lease SET contended_ms = ?1 WHERE id = 1",
        params![now_ms],
    )?;
    Ok(false)
}

/// Gives the lease up when `me` holds it (a clean stop): another instance takes it at its
/// next try instead of after the expiry.
pub fn release(conn: &Connection, me: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE delivery_lease SET holder = '', expires_ms = 0 WHERE id = 1 AND holder = ?1",
        params![me],
    )?;
    Ok(())
}

/// The lease at `now_ms`.
pub fn current(conn: &Connection, now_ms: i64) -> Result<LeaseRow, StoreError> {
    let row = conn
        .query_row(
            "SELECT holder, expires_ms, contended_ms FROM delivery_lease WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()?;
    let (holder, expires_ms, contended_ms) = row.unwrap_or_default();
    Ok(LeaseRow {
        holder: Some(holder).filter(|h| !h.is_empty() && expires_ms >= now_ms),
        expires_ms,
        contended_ms,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::defects::Defects;

    /// A store file in a fresh directory, opened twice (two instances).
    struct Shared(PathBuf);

    impl Shared {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("andon-lease-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn open(&self) -> Connection {
            let conn = Connection::open(self.0.join("middleware.db")).unwrap();
            super::super::setup(&conn, &Defects::none()).unwrap();
            conn
        }
    }

    impl Drop for Shared {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const TTL: i64 = 2_000;

    #[test]
    fn the_first_takes_it_renews_it_and_a_second_is_refused_while_it_is_valid() {
        let store = Shared::new();
        let (a, b) = (store.open(), store.open());
        assert_eq!(current(&a, 1_000).unwrap().holder, None, "free at first");
        assert!(take(&a, "mw-1", 1_000, TTL).unwrap());
        assert!(!take(&b, "mw-2", 1_500, TTL).unwrap());
        assert!(take(&a, "mw-1", 1_500, TTL).unwrap(), "renewed");
        assert!(!take(&b, "mw-2", 3_400, TTL).unwrap(), "the renewal counts");
        let row = current(&b, 3_400).unwrap();
        assert_eq!(
            (row.holder.as_deref(), row.expires_ms, row.contended_ms),
            (Some("mw-1"), 3_500, 3_400)
        );
    }

    #[test]
    fn another_takes_it_over_once_it_has_expired_and_the_old_holder_cannot_renew() {
        let store = Shared::new();
        let (a, b) = (store.open(), store.open());
        assert!(take(&a, "mw-1", 1_000, TTL).unwrap());
        assert!(
            !take(&b, "mw-2", 3_000, TTL).unwrap(),
            "valid to its last ms"
        );
        assert!(take(&b, "mw-2", 3_001, TTL).unwrap(), "taken over");
        assert!(
            !take(&a, "mw-1", 3_002, TTL).unwrap(),
            "the old holder lost it"
        );
        assert_eq!(current(&a, 3_002).unwrap().holder.as_deref(), Some("mw-2"));
        assert_eq!(current(&a, 5_002).unwrap().holder, None, "expired");
    }

    #[test]
    fn the_same_instance_started_again_takes_its_lease_back_at_once() {
        let store = Shared::new();
        let killed = store.open();
        assert!(take(&killed, "mw-1", 1_000, TTL).unwrap());
        drop(killed);
        let again = store.open();
        assert!(take(&again, "mw-1", 1_001, TTL).unwrap());
        assert!(!take(&store.open(), "mw-2", 1_002, TTL).unwrap());
    }

    #[test]
    fn a_released_lease_is_free_for_another_at_once_and_others_cannot_release_it() {
        let store = Shared::new();
        let (a, b) = (store.open(), store.open());
        assert!(take(&a, "mw-1", 1_000, TTL).unwrap());
        release(&b, "mw-2").unwrap();
        assert!(
            !take(&b, "mw-2", 1_001, TTL).unwrap(),
            "not mw-2's to give up"
        );
        release(&a, "mw-1").unwrap();
        assert_eq!(current(&b, 1_002).unwrap().holder, None);
        assert!(take(&b, "mw-2", 1_002, TTL).unwrap());
    }
}
