//! Serving a simulator on a listener it is given, with connection-level faults:
//! `refuse` closes the listening socket (and drops open connections) until cleared,
//! `reset` and `commit_then_reset` drop a connection without an answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Put in a response's extensions to make the server drop the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault")
    }
}

impl std::error::Error for Dropped {}

/// Serves `router` on `listener` until `shutdown` resolves.
///
/// While `refusing` is true the listening socket is closed (connections are refused) and
/// open connections are dropped; when it turns false the same address is bound again.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut refusing: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    // Whether the fault registry is still there to say when to refuse.
    let mut watching = true;
    tokio::pin!(shutdown);
    loop {
        if *refusing.borrow() {
            listener = None;
            conns.abort_all();
        } else if listener.is_none() {
            listener = Some(rebind(addr).await?);
        }
        tokio::select! {
            () = &mut shutdown => break,
            changed = refusing.changed(), if watching => {
                if changed.is_err() {
                    // The fault registry is gone: keep serving as things stand.
                    watching = false;
                }
            }
            accepted = accept(listener.as_ref()) => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let router = router.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let router = router.clone();
                        async move {
                            let resp: Response = router
                                .oneshot(req.map(Body::new))
                                .await
                                .unwrap_or_else(|e: Infallible| match e {});
                            if resp.extensions().get::<ResetConnection>().is_some() {
                                return Err(Dropped);
                            }
                            Ok::<_, Dropped>(resp)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .http1_only()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    Ok(())
}

async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => {
            let (s, a) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((s, a))
        }
        None => std::future::pending().await,
    }
}

async fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    // The port was ours a moment ago; retry briefly in case the OS has not released it.
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("rebind failed")))
}
