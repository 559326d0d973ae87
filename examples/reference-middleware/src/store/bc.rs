//! What the store keeps for Business Central plants: the webhook subscriptions the
//! middleware holds (so that a restart reuses them instead of piling up new ones), and per
//! outbox row how far its inserts got ([`crate::bc::Progress`]).

use andon_contracts::PlantId;
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now_ms};
use crate::bc::Progress;
use crate::bc::subscription::Subscription;

/// Creates the subscriptions table.
pub fn setup(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bc_subscriptions (
            plant TEXT NOT NULL,
            resource TEXT NOT NULL,
            subscription_id TEXT NOT NULL,
            etag TEXT NOT NULL,
            client_state TEXT NOT NULL,
            notification_url TEXT NOT NULL,
            updated_ms INTEGER NOT NULL,
            PRIMARY KEY (plant, resource)
        ) WITHOUT ROWID;",
    )?;
    Ok(())
}

/// The subscriptions held, as stored (rows of plants that cannot be read are left out).
pub fn subscriptions(conn: &Connection) -> Result<Vec<Subscription>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT plant, resource, subscription_id, etag, client_state, notification_url
         FROM bc_subscriptions ORDER BY plant, resource",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(plant, resource, id, etag, client_state, notification_url)| {
                Some(Subscription {
                    plant: PlantId::parse(plant).ok()?,
                    resource,
                    id,
                    etag,
                    client_state,
                    notification_url,
                })
            },
        )
        .collect())
}

/// Keeps `s` (replacing the one on its plant and resource).
pub fn save_subscription(conn: &Connection, s: &Subscription) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bc_subscriptions (plant, resource, subscription_id, etag, client_state, notification_url, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (plant, resource) DO UPDATE SET subscription_id = excluded.subscription_id,
             etag = excluded.etag, client_state = excluded.client_state,
             notification_url = excluded.notification_url, updated_ms = excluded.updated_ms",
        params![
            s.plant.as_str(),
            s.resource,
            s.id,
            s.etag,
            s.client_state,
            s.notification_url,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Forgets the subscription on `resource` of `plant` (it is gone).
pub fn delete_subscription(
    conn: &Connection,
    plant: &str,
    resource: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM bc_subscriptions WHERE plant = ?1 AND resource = ?2",
        params![plant, resource],
    )?;
    Ok(())
}

/// How far the inserts of row `row_id` got.
pub fn progress(conn: &Connection, row_id: i64) -> Result<Progress, StoreError> {
    let text = conn
        .query_row(
            "SELECT bc_progress FROM outbox WHERE id = ?1",
            [row_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten();
    Ok(Progress::parse(text.as_deref()))
}

/// Records how far the inserts of row `row_id` got.
pub fn set_progress(conn: &Connection, row_id: i64, p: &Progress) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox SET bc_progress = ?2, updated_ms = ?3 WHERE id = ?1",
        params![row_id, p.text(), now_ms()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defects::Defects;

    #[test]
    fn subscriptions_and_progress_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("andon-mw-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("middleware.db");
        let s = Subscription {
            plant: PlantId::parse("2000").unwrap(),
            resource: "api/andon/manufacturing/v1.0/companies(c)/productionOrders".into(),
            id: "s-1".into(),
            etag: "W/\"1\"".into(),
            client_state: "secret".into(),
            notification_url: "http://127.0.0.1:1/events/erp/bc/2000".into(),
        };
        {
            let c = Connection::open(&path).unwrap();
            super::super::setup(&c, &Defects::none()).unwrap();
            save_subscription(&c, &s).unwrap();
            save_subscription(
                &c,
                &Subscription {
                    etag: "W/\"2\"".into(),
                    ..s.clone()
                },
            )
            .unwrap();
            c.execute(
                "INSERT INTO outbox (source, event_id, event_type, idx, target, aggregate, command, idempotency_key,
                                     trace_id, created_ms, updated_ms)
                 VALUES ('s', 'e', 't', 0, 'erp', 'a', '{}', 'k', 't', 0, 0)",
                [],
            )
            .unwrap();
            assert_eq!(progress(&c, 1).unwrap(), Progress::default());
            let mut p = Progress::default();
            p.posted.insert(0);
            p.uncertain.insert(1);
            set_progress(&c, 1, &p).unwrap();
        }
        let c = Connection::open(&path).unwrap();
        super::super::setup(&c, &Defects::none()).unwrap();
        let kept = subscriptions(&c).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].etag, "W/\"2\"");
        let p = progress(&c, 1).unwrap();
        assert!(p.posted.contains(&0) && p.uncertain.contains(&1));
        delete_subscription(&c, "2000", &s.resource).unwrap();
        assert!(subscriptions(&c).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
