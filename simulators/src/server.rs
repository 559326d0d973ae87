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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long a client may take to send a request's header: a connection that sends half a
/// header and waits is closed after this.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most connections a simulator holds open at once; beyond it a new connection is
/// closed at once (the client sees a reset and retries), so idle or hostile clients cannot
/// take every file descriptor.
pub const MAX_CONNECTIONS: usize = 4096;

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
    refusing: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_with(listener, router, refusing, shutdown, Limits::default()).await
}

/// What one client may hold of a simulator.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: std::time::Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// [`serve`] with other [`Limits`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    mut refusing: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
    limits: Limits,
) -> std::io::Result<()> {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut http = auto::Builder::new(TokioExecutor::new()).http1_only();
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
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
                // Over the limit: closed at once, unread.
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                let router = router.clone();
                let http = http.clone();
                conns.spawn(async move {
                    let _permit = permit;
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
                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
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

/// Resolves on Ctrl-C (SIGINT), or SIGTERM where there is one (containers stop with it).
/// The handlers are installed at once, when this is called, so a signal that arrives right
/// after `ready` is printed is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
