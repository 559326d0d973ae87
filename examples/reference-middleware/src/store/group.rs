//! Group commit: the store thread takes every job waiting in the channel (at most
//! [`GROUP_MAX`]) and runs them in one SQLite transaction. Each job's own unit of work is a
//! savepoint inside it ([`rusqlite::Connection::savepoint`]: rolled back alone when the job
//! fails). No job's answer leaves the thread before the group's `COMMIT`, so "stored"
//! still means committed; when the `COMMIT` fails, or SQLite rolls the transaction back
//! itself, every job of the group so far is answered with the error. Under load one commit
//! carries many events (one WAL write of each page they touched instead of one per event);
//! alone, a job is a group of one.

use rusqlite::Connection;

use super::Policy;

/// A job for the store thread: runs on the connection, and returns how to answer its
/// caller once the group it ran in has committed.
pub(super) type Job = Box<dyn FnOnce(&mut Connection, &Policy) -> Answer + Send>;

/// Answers a job's caller after its group's `COMMIT`: `Some(why)` when it failed.
pub(super) type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// The most jobs one transaction carries.
pub(super) const GROUP_MAX: usize = 256;

/// Runs a group of jobs in one transaction (`BEGIN IMMEDIATE`: other instances on the same
/// file wait for the write lock at the start, never half-way through), then answers them.
/// A job that cannot get a transaction runs on its own, as its savepoint alone.
pub(super) fn run_group(conn: &mut Connection, policy: &Policy, jobs: impl Iterator<Item = Job>) {
    let mut answers: Vec<Answer> = Vec::new();
    for job in jobs {
        if answers.is_empty()
            && let Err(e) = run(conn, "BEGIN IMMEDIATE")
        {
            tracing::warn!(error = %e, "a group transaction could not begin: a job on its own");
            job(conn, policy)(None);
            continue;
        }
        answers.push(job(conn, policy));
        if conn.is_autocommit() {
            // SQLite rolled the transaction back itself (an I/O error, a full disk): nothing
            // of the group so far is stored.
            tracing::error!(jobs = answers.len(), "a group transaction was rolled back");
            answer(&mut answers, Some("the transaction was rolled back"));
        }
    }
    if answers.is_empty() {
        return;
    }
    let failed = run(conn, "COMMIT").err().map(|e| e.to_string());
    if let Some(e) = &failed {
        tracing::error!(error = %e, jobs = answers.len(), "a group commit failed");
        let _ = conn.execute_batch("ROLLBACK");
    }
    answer(&mut answers, failed.as_deref());
}

/// Runs one statement, prepared once per connection.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Answers the jobs of a group: committed (`None`) or not (`Some(why)`).
fn answer(answers: &mut Vec<Answer>, failed: Option<&str>) {
    for a in answers.drain(..) {
        a(failed);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a caller heard: its value, the error it got (if any), and how many rows another
    /// connection saw committed at that moment.
    type Heard = Arc<Mutex<Vec<(i64, Option<String>, i64)>>>;

    fn policy() -> Policy {
        Policy {
            defects: Default::default(),
            lot_wait_ms: 0,
            late_hold_ms: 0,
            key_salt: None,
        }
    }

    /// A fresh database file with one table `t`.
    fn database(name: &str) -> (PathBuf, Connection) {
        let path =
            std::env::temp_dir().join(format!("andon-group-{name}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)")
            .expect("schema");
        (path, conn)
    }

    fn committed(path: &Path) -> i64 {
        Connection::open(path)
            .expect("a second connection")
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count")
    }

    /// A job inserting `v` in its own savepoint; with `fail` it errs after the insert.
    fn insert(v: i64, fail: bool, path: &Path, heard: &Heard) -> Job {
        let (path, heard) = (path.to_path_buf(), heard.clone());
        Box::new(move |conn, _| {
            let result = (|| {
                let sp = conn.savepoint()?;
                sp.execute("INSERT INTO t VALUES (?1)", [v])?;
                if fail {
                    return Err(rusqlite::Error::InvalidQuery);
                }
                sp.commit()
            })();
            Box::new(move |failed: Option<&str>| {
                let error = result
                    .err()
                    .map(|e| e.to_string())
                    .or(failed.map(str::to_string));
                heard.lock().unwrap().push((v, error, committed(&path)));
            })
        })
    }

    fn rows(conn: &Connection) -> Vec<i64> {
        let mut st = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_group_commits_once_and_answers_after_the_commit() {
        let (path, mut conn) = database("once");
        let heard = Heard::default();
        let jobs = vec![
            insert(1, false, &path, &heard),
            insert(2, true, &path, &heard),
            insert(3, false, &path, &heard),
        ];
        run_group(&mut conn, &policy(), jobs.into_iter());
        assert!(conn.is_autocommit(), "the group's transaction is over");
        // The failed job's savepoint was rolled back alone.
        assert_eq!(rows(&conn), vec![1, 3]);
        let heard = heard.lock().unwrap().clone();
        assert_eq!(heard.len(), 3);
        for (v, error, seen) in heard {
            // Every caller heard back only once both rows were committed.
            assert_eq!(seen, 2, "job {v} was answered before the commit");
            assert_eq!(error.is_some(), v == 2, "job {v}: {error:?}");
        }
    }

    #[test]
    fn a_transaction_rolled_back_under_the_group_fails_the_jobs_it_held() {
        let (path, mut conn) = database("rollback");
        let heard = Heard::default();
        // SQLite rolls a transaction back itself on some errors (a full disk, an I/O error):
        // a job doing it by hand shows what the group makes of it.
        let rollback: Job = Box::new(|conn, _| {
            conn.execute_batch("ROLLBACK").expect("rollback");
            Box::new(|_| {})
        });
        let jobs = vec![
            insert(1, false, &path, &heard),
            rollback,
            insert(3, false, &path, &heard),
        ];
        run_group(&mut conn, &policy(), jobs.into_iter());
        assert_eq!(rows(&conn), vec![3], "the rolled-back job left nothing");
        let heard = heard.lock().unwrap().clone();
        assert_eq!(heard[0].0, 1);
        assert!(heard[0].1.is_some(), "job 1 was told it was stored");
        assert_eq!((heard[1].0, heard[1].1.clone(), heard[1].2), (3, None, 1));
    }
}
