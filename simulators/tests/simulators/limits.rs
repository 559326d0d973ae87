//! What one client may hold of a simulator's server: a header must arrive in time, and
//! connections beyond the limit are closed at once.

use std::time::Duration;

use andon_simulators::server::{Limits, serve_with};
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

async fn server(limits: Limits) -> (std::net::SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new().route("/ok", get(|| async { "ok" }));
    let (refusing_tx, refusing) = watch::channel(false);
    tokio::spawn(serve_with(
        listener,
        router,
        refusing,
        std::future::pending(),
        limits,
    ));
    (addr, refusing_tx)
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_that_sends_half_a_header_is_disconnected() {
    let (addr, _keep) = server(Limits {
        header_read_timeout: Duration::from_millis(200),
        max_connections: 16,
    })
    .await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Awaited, not timed: the bound only keeps a broken server from hanging the suite.
    let answer = tokio::time::timeout(Duration::from_secs(30), until_closed(&mut s))
        .await
        .expect("the server closes the connection");
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{answer:?}"
    );
    // A whole request on a new connection is answered.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = until_closed(&mut s).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let (addr, _keep) = server(Limits {
        header_read_timeout: Duration::from_secs(3600),
        max_connections: 2,
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // Answered: the connection is accepted and served.
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let mut third = TcpStream::connect(addr).await.expect("the kernel accepts");
    let _ = third
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(30), until_closed(&mut third))
        .await
        .expect("closed at once");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    // A held connection given back makes room again.
    drop(held.pop());
    let answered = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _ = s
                .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            if String::from_utf8_lossy(&until_closed(&mut s).await).starts_with("HTTP/1.1 200") {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(answered.is_ok(), "room again after a connection closed");
}
