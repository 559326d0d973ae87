//! The lane's keep-alive connection against a SUT that speaks HTTP/1.1 its own way: raw
//! sockets, so that the test decides when a connection closes and how an answer is framed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use andon_simulators::emitter::EmitterConfig;
use andon_simulators::history::{Entry, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::helpers::*;

/// One lane, so that every event shares the one connection.
fn one_lane(ingress: String) -> EmitterConfig {
    EmitterConfig {
        lanes: 1,
        ..fast(Some(ingress))
    }
}

/// Reads one request (head and `Content-Length` body); `None` at the end of the stream.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                buf.drain(..end + 4 + length);
                return Some(head);
            }
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A SUT answering every request with `answer`; it closes a connection after `per_conn`
/// answers (none: never) and says so on `closed`. Returns its ingress URL and the count of
/// connections it accepted.
async fn raw_sut(
    answer: &'static str,
    per_conn: Option<usize>,
) -> (String, Arc<AtomicUsize>, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{INGRESS_PATH}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tx, closed) = mpsc::unbounded_channel();
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut answered = 0;
                while read_request(&mut socket, &mut buf).await.is_some() {
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    answered += 1;
                    if per_conn == Some(answered) {
                        let _ = socket.shutdown().await;
                        drop(socket);
                        let _ = tx.send(());
                        return;
                    }
                }
            });
        }
    });
    (url, accepted, closed)
}

/// Three events through one lane to a SUT answering every request with `answer` (kept
/// open): each is delivered at the first attempt with `status`. Returns the connections the
/// SUT accepted.
async fn three_events_answered(answer: &'static str, status: u16) -> usize {
    let (url, accepted, _closed) = raw_sut(answer, None).await;
    let rig = Rig::with(one_lane(url), SEED);
    for order in ["100000001", "100000002", "100000003"] {
        rig.emit(order);
    }
    rig.drained().await;
    let attempts = rig.attempts();
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    assert!(
        attempts
            .iter()
            .all(|a| a.attempt == 1 && a.status == Some(status)),
        "{attempts:#?}"
    );
    accepted.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_connection_the_sut_closed_while_idle_is_replaced_without_a_failed_attempt() {
    let (url, accepted, mut closed) = raw_sut(
        "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
        Some(1),
    )
    .await;
    let rig = Rig::with(one_lane(url), SEED);
    let mut events = Vec::new();
    for order in ["100000001", "100000002", "100000003"] {
        events.push(rig.emit(order));
        rig.drained().await;
        // The SUT has hung up before the next event is emitted: the lane finds out on its
        // idle connection, not by losing a request on it.
        closed.recv().await.expect("the SUT closed the connection");
    }
    let attempts = rig.attempts();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.event.clone(), a.attempt, a.outcome, a.status))
            .collect::<Vec<_>>(),
        events
            .iter()
            .map(|e| (e.clone(), 1, Outcome::Ok, Some(202)))
            .collect::<Vec<_>>()
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn chunked_answers_are_read_whole_and_the_connection_is_kept() {
    let (url, accepted, _closed) = raw_sut(
        "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n7\r\n{\"ok\":1\r\n1\r\n}\r\n0\r\n\r\n",
        None,
    )
    .await;
    let rig = Rig::with(one_lane(url), SEED);
    for order in ["100000001", "100000002", "100000003", "100000004"] {
        rig.emit(order);
    }
    rig.drained().await;
    let stats = rig.emitter.stats();
    assert_eq!((stats.delivered, stats.attempts), (4, 4));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one keep-alive connection"
    );
    let types: Vec<Option<String>> = rig.history.with_records(|r| {
        r.iter()
            .filter_map(|r| match &r.entry {
                Entry::Delivery { content_type, .. } => Some(content_type.clone()),
                _ => None,
            })
            .collect()
    });
    assert_eq!(types, vec![Some("application/json".to_string()); 4]);
}

#[tokio::test]
async fn connection_close_answers_open_a_new_connection_for_the_next_event() {
    let accepted = three_events_answered(
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
        200,
    )
    .await;
    assert_eq!(accepted, 3);
}

#[tokio::test]
async fn an_https_ingress_is_refused_with_the_reason_and_the_event_kept() {
    let rig = Rig::start(Some("https://127.0.0.1:9/events".into()));
    let event = rig.emit("100000001");
    rig.wait_for_attempts(1).await;
    let first = &rig.attempts_of(&event)[0];
    assert_eq!((first.outcome, first.status), (Outcome::Fail, None));
    let error = first.error.as_deref().unwrap_or_default();
    assert!(error.contains("\"https\" is not supported"), "{error}");
    assert_eq!(
        rig.emitter.stats().pending,
        1,
        "the event waits for a usable ingress"
    );
}

#[tokio::test]
async fn a_long_answer_body_is_read_across_reads_and_the_connection_kept() {
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 202 Accepted\r\ncontent-length: 100000\r\n\r\n{}",
            "x".repeat(100_000)
        )
        .into_boxed_str(),
    );
    let accepted = three_events_answered(answer, 202).await;
    assert_eq!(accepted, 1, "one keep-alive connection");
}
