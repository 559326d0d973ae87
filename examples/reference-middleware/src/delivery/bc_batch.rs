//! Journal-line inserts to a Business Central plant, posted together: while one request of
//! a plant is in flight, the inserts that arrive wait, and the next one to go sends all of
//! them (up to the documented 100 operations) as one JSON `$batch` — a group commit, with
//! no wait added when nothing else is queued (a lone insert goes as a plain `POST`).
//!
//! The batch has no `Isolation` header: each operation stands alone, so each insert gets the
//! answer of its own operation, exactly as if it had been sent by itself — an operation
//! refused does not undo its neighbours, and they are not sent again. An answer to the
//! whole batch (a timeout, a reset, a 5xx, a 429) is every insert's answer: ambiguous for
//! each, so each is read back before it is posted again (`bc_calls`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use andon_contracts::PlantId;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Answer, Delivery, Step, Target};
use crate::bc::wire;
use crate::command::Verb;
use crate::defects::Defect;

/// The most operations in one `$batch` (Business Central's documented limit).
const MOST: usize = 100;

/// How often the `batch-partial-retry` defect sends a batch again after one of its
/// operations failed.
const PARTIAL_RETRIES: usize = 2;

/// One insert waiting for its turn.
struct Pending {
    path: String,
    body: Value,
    traceparent: Option<String>,
    answer: oneshot::Sender<Result<Answer, Step>>,
}

/// One plant's queue: the inserts waiting, and the turn to send (held while a request is in
/// flight).
#[derive(Default)]
struct Queue {
    waiting: Mutex<Vec<Pending>>,
    turn: tokio::sync::Mutex<()>,
}

/// The queues of the Business Central plants.
#[derive(Default)]
pub(super) struct Batches {
    queues: Mutex<HashMap<PlantId, Arc<Queue>>>,
}

impl Batches {
    fn queue(&self, plant: &PlantId) -> Arc<Queue> {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(plant.clone())
            .or_default()
            .clone()
    }
}

impl Delivery {
    /// Inserts `body` at `path` of `plant`'s system, alone or in a batch with the inserts
    /// waiting beside it; the answer of its own operation.
    pub(super) async fn bc_send(
        &self,
        erp: &Target,
        plant: &PlantId,
        path: String,
        body: Value,
        traceparent: Option<String>,
    ) -> Result<Answer, Step> {
        let queue = self.batches.queue(plant);
        let (tx, mut rx) = oneshot::channel();
        queue
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Pending {
                path,
                body,
                traceparent,
                answer: tx,
            });
        loop {
            if let Ok(answer) = rx.try_recv() {
                return answer;
            }
            let _turn = queue.turn.lock().await;
            // Sent by the one whose turn it was.
            if let Ok(answer) = rx.try_recv() {
                return answer;
            }
            let batch: Vec<Pending> = {
                let mut w = queue.waiting.lock().unwrap_or_else(|e| e.into_inner());
                let n = w.len().min(MOST);
                w.drain(..n).collect()
            };
            // Throttled while these waited: none is sent before the wait is over.
            if let Some(p) = erp.paused_for() {
                for w in batch {
                    let _ = w.answer.send(Err(Step::Retry {
                        after: Some(p),
                        throttled: false,
                        error: "ERP paused".into(),
                    }));
                }
                continue;
            }
            if batch.is_empty() {
                return Err(Step::Retry {
                    after: None,
                    throttled: false,
                    error: "the insert left the queue unanswered".into(),
                });
            }
            let answers = self.bc_post_together(erp, plant, &batch).await;
            for (p, a) in batch.into_iter().zip(answers) {
                let _ = p.answer.send(a);
            }
        }
    }

    /// Sends `batch`: alone as it is, or as one `$batch`; each insert's answer, in order.
    async fn bc_post_together(
        &self,
        erp: &Target,
        plant: &PlantId,
        batch: &[Pending],
    ) -> Vec<Result<Answer, Step>> {
        if let [one] = batch {
            let tp = one.traceparent.as_deref();
            let a = self
                .send(
                    erp,
                    Verb::Post,
                    &one.path,
                    &[],
                    Some(&one.body),
                    None,
                    tp,
                    &[],
                )
                .await;
            return vec![a];
        }
        let request = batch_body(batch);
        let path = wire::batch(plant);
        let mut answers = self.bc_batch_once(erp, &path, &request, batch.len()).await;
        // DEFECT: batch-partial-retry — one failed operation and the whole batch goes again,
        // the operations that were posted with it included.
        if self.settings.defects.has(Defect::BatchPartialRetry) {
            for _ in 0..PARTIAL_RETRIES {
                if !partly_failed(&answers) {
                    break;
                }
                tracing::warn!(%plant, operations = batch.len(), "an operation of the batch failed: sending the batch again");
                answers = self.bc_batch_once(erp, &path, &request, batch.len()).await;
            }
        }
        answers
    }

    /// One `POST $batch` of `n` operations: each operation's answer, or the batch's own
    /// answer (or failure) for every one of them.
    async fn bc_batch_once(
        &self,
        erp: &Target,
        path: &str,
        request: &Value,
        n: usize,
    ) -> Vec<Result<Answer, Step>> {
        let whole = |a: Result<Answer, Step>| vec![a; n];
        let answer = match self
            .send(erp, Verb::Post, path, &[], Some(request), None, None, &[])
            .await
        {
            Ok(a) => a,
            Err(step) => return whole(Err(step)),
        };
        if !(200..300).contains(&answer.status) {
            return whole(Ok(answer));
        }
        match split(&answer, n) {
            Ok(each) => each.into_iter().map(Ok).collect(),
            Err(error) => whole(Err(Step::Retry {
                after: None,
                throttled: false,
                error: format!("POST {path}: {error}"),
            })),
        }
    }
}

/// The JSON `$batch` body of `batch`: operation `i` has id `i`, its own `traceparent`.
fn batch_body(batch: &[Pending]) -> Value {
    let requests: Vec<Value> = batch
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut headers = json!({ "content-type": "application/json" });
            if let Some(tp) = &p.traceparent {
                headers["traceparent"] = json!(tp);
            }
            json!({ "id": i.to_string(), "method": "POST", "url": p.path, "headers": headers, "body": p.body })
        })
        .collect();
    json!({ "requests": requests })
}

/// Each operation's answer from a `$batch` answer of `n` operations, by id.
fn split(answer: &Answer, n: usize) -> Result<Vec<Answer>, String> {
    let responses = answer
        .json
        .as_ref()
        .and_then(|j| j.get("responses"))
        .and_then(Value::as_array)
        .ok_or("the answer has no responses")?;
    let mut each: Vec<Option<Answer>> = vec![None; n];
    for r in responses {
        let id = r.get("id").and_then(Value::as_str).unwrap_or("");
        let i: usize = id
            .parse()
            .ok()
            .filter(|i| *i < n)
            .ok_or_else(|| format!("a response to an operation never sent ({id:?})"))?;
        let status = r
            .get("status")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("the response to operation {i} has no status"))?;
        let body = r.get("body").cloned().filter(|b| !b.is_null());
        each[i] = Some(Answer {
            status: status as u16,
            retry_after: None,
            raw: body
                .as_ref()
                .map(|b| b.to_string().into_bytes())
                .unwrap_or_default(),
            json: body,
            headers: Default::default(),
        });
    }
    each.into_iter()
        .enumerate()
        .map(|(i, a)| a.ok_or_else(|| format!("no response to operation {i}")))
        .collect()
}

/// Whether some operations of a batch failed while others were posted.
fn partly_failed(answers: &[Result<Answer, Step>]) -> bool {
    let ok = |a: &Result<Answer, Step>| a.as_ref().is_ok_and(|a| (200..300).contains(&a.status));
    answers.iter().any(ok) && !answers.iter().all(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(path: &str, tp: Option<&str>) -> Pending {
        Pending {
            path: path.into(),
            body: json!({"documentNumber": path}),
            traceparent: tp.map(str::to_string),
            answer: oneshot::channel().0,
        }
    }

    fn answer(status: u16, json: Value) -> Answer {
        Answer {
            status,
            retry_after: None,
            json: Some(json),
            headers: Default::default(),
            raw: Vec::new(),
        }
    }

    #[test]
    fn each_operation_carries_its_own_trace_and_body() {
        let b = batch_body(&[pending("/a", Some("00-t1-s-01")), pending("/b", None)]);
        let r = b["requests"].as_array().unwrap();
        assert_eq!(
            (r[0]["id"].as_str(), r[1]["id"].as_str()),
            (Some("0"), Some("1"))
        );
        assert_eq!(r[0]["headers"]["traceparent"], "00-t1-s-01");
        assert!(r[1]["headers"].get("traceparent").is_none());
        assert_eq!(
            (r[1]["url"].as_str(), r[1]["method"].as_str()),
            (Some("/b"), Some("POST"))
        );
        assert_eq!(r[1]["body"]["documentNumber"], "/b");
    }

    #[test]
    fn answers_are_split_by_id_whatever_their_order() {
        let a = answer(
            200,
            json!({"responses": [
                {"id": "1", "status": 400, "body": {"error": {"code": "X"}}},
                {"id": "0", "status": 201, "body": {"entryNumber": 7}},
            ]}),
        );
        let each = split(&a, 2).unwrap();
        assert_eq!((each[0].status, each[1].status), (201, 400));
        assert_eq!(each[1].json.as_ref().unwrap()["error"]["code"], "X");
        assert!(
            split(&a, 3)
                .unwrap_err()
                .contains("no response to operation 2")
        );
        assert!(split(&a, 1).unwrap_err().contains("never sent"));
        assert!(split(&answer(200, json!({})), 1).is_err());
    }

    #[test]
    fn a_batch_partly_failed_only_when_some_posted_and_some_not() {
        let ok = || Ok(answer(201, json!({})));
        let refused = || Ok(answer(400, json!({})));
        let lost = || {
            Err(Step::Retry {
                after: None,
                throttled: false,
                error: "reset".into(),
            })
        };
        assert!(partly_failed(&[ok(), refused()]));
        assert!(partly_failed(&[lost(), ok()]));
        assert!(!partly_failed(&[ok(), ok()]));
        assert!(!partly_failed(&[refused(), lost()]));
    }
}
