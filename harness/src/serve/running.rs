//! A running `andon serve`: the summary it prints, the history streamed to a file and to
//! the log as it grows, and the shutdown of every simulator and stub.

use std::io::{BufWriter, Write};
use std::time::Duration;

use andon_simulators::History;
use andon_simulators::history::{Entry, Outcome, Record, RequestEntry};

use super::*;

impl Running {
    /// What answers where, simulators first.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The shared history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The simulators, to reach their state in-process.
    pub fn simulators(&self) -> &[Simulator] {
        &self.simulators
    }

    /// The stubs.
    pub fn stubs(&self) -> &[StubServer] {
        &self.stubs
    }

    /// Serves until `signal` resolves, then stops every server and writes the history.
    /// A server that stops on its own first is a failure.
    pub async fn run_until(
        mut self,
        signal: impl Future<Output = ()>,
    ) -> Result<Summary, ServeError> {
        let mut failure = None;
        tokio::select! {
            () = signal => tracing::info!("shutting down"),
            Some(ended) = self.tasks.join_next() => {
                failure = Some(match ended {
                    Ok((name, Err(source))) => ServeError::Serve { name, source },
                    Ok((name, Ok(()))) => ServeError::Serve {
                        name,
                        source: std::io::Error::other("the server stopped on its own"),
                    },
                    Err(e) => ServeError::Serve {
                        name: "a simulator".into(),
                        source: std::io::Error::other(e.to_string()),
                    },
                });
            }
        }
        self.shutdown.send_replace(true);
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(ended) = self.tasks.join_next().await {
                if let Ok((name, Err(source))) = ended {
                    tracing::warn!(%name, error = %source, "server stopped with an error");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("servers did not stop within 5 s; leaving them");
            self.tasks.abort_all();
        }
        self.stubs.clear();
        let records = self.history.len();
        let mut history_file = None;
        if let Some((path, file)) = self.history_file.take() {
            let mut out = BufWriter::new(file);
            self.history
                .write_jsonl(&mut out)
                .and_then(|()| out.flush())
                .map_err(|source| ServeError::HistoryWrite {
                    file: path.clone(),
                    source,
                })?;
            tracing::info!(file = %path.display(), records, "history written");
            history_file = Some(path);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(Summary {
                records,
                history_file,
            }),
        }
    }
}

/// Logs every request the simulators answer, and every delivery that failed.
pub(super) async fn follow_requests(history: History) {
    let mut seen = 0u64;
    loop {
        for r in history.since(seen, 1_000) {
            seen = r.seq;
            log_record(&r);
        }
        tokio::select! {
            () = history.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

fn log_record(r: &Record) {
    match &r.entry {
        Entry::Request(req) => {
            let RequestEntry {
                method,
                path,
                status,
                valid,
                violations,
                problem,
                fault,
                ..
            } = &**req;
            let verdict = match (valid, fault) {
                (_, Some(f)) => format!("fault {f}"),
                (Some(false), _) => format!(
                    "contract violated: {}",
                    violations.first().map(String::as_str).unwrap_or("?")
                ),
                (Some(true), _) => "valid".into(),
                (None, _) => "no body".into(),
            };
            match problem {
                Some(p) => {
                    tracing::info!(system = %r.system, "{method} {path} -> {status} {p} ({verdict})")
                }
                None => {
                    tracing::info!(system = %r.system, "{method} {path} -> {status} ({verdict})")
                }
            }
        }
        Entry::Delivery {
            event,
            attempt,
            url,
            outcome,
            status,
            error,
            ..
        } if *outcome != Outcome::Ok => {
            tracing::warn!(
                system = %r.system,
                event = %event.id,
                attempt,
                %url,
                status = ?status,
                error = error.as_deref().unwrap_or(""),
                "event delivery failed"
            );
        }
        _ => {}
    }
}
