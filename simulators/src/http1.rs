//! One delivery lane's keep-alive HTTP/1.1 connection to the SUT's ingress: hyper's client
//! connection, driven inside the lane's own task.
//!
//! A lane sends one request at a time, so it needs neither a pool nor a connection task:
//! the connection is polled together with the request it carries (no wake-up crosses
//! tasks, nothing is locked), which is what lets the emitter keep up with wrk on the same
//! connections (`ci/bench-load.sh`). A connection the SUT closed while it was idle is seen
//! before the next request and replaced; a request that the connection closed on before
//! writing it is sent once more on a fresh connection (it never reached the SUT, so it is
//! not an attempt). Anything else ends the connection: the next request opens a new one.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use http::uri::{PathAndQuery, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Conn = Connection<TokioIo<TcpStream>, Full<Bytes>>;

const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
static TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// An ingress URL, parsed once for all its requests.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    /// `host:port` as the `Host` header carries it.
    authority: HeaderValue,
    path: PathAndQuery,
}

impl Target {
    /// Parses `url`: plain `http://` only (the simulators talk to the SUT without TLS).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid ingress URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "ingress URL {url:?}: scheme {other:?} is not supported (plain http only)"
                ));
            }
            None => return Err(format!("ingress URL {url:?}: no scheme (expected http://)")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("ingress URL {url:?}: no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(80);
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Self {
            host,
            port,
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("ingress URL {url:?}: {e}"))?,
            path,
        })
    }
}

/// What the SUT answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    /// `Retry-After` in seconds, when it says so.
    pub retry_after: Option<Duration>,
}

/// A lane's connection, opened on the first request.
#[derive(Default)]
pub(crate) struct LaneConnection {
    open: Option<Open>,
}

struct Open {
    /// The `host:port` it is connected to.
    authority: HeaderValue,
    sender: SendRequest<Full<Bytes>>,
    conn: Conn,
}

/// The connection ended while `fut` was pending.
struct Ended(String);

impl LaneConnection {
    /// POSTs `body` to `target` with the CloudEvents content type and `traceparent`.
    ///
    /// Cancel-safe: the connection is taken out for the request and put back only when the
    /// answer has been read whole, so a request dropped halfway (a timeout) leaves none.
    pub(crate) async fn post(
        &mut self,
        target: &Target,
        traceparent: &str,
        body: Bytes,
    ) -> Result<Answer, String> {
        let reused = match self.open.take() {
            Some(open) if open.authority == target.authority => ready(open).await,
            _ => None,
        };
        let fresh = reused.is_none();
        let mut open = match reused {
            Some(open) => open,
            None => connect(target).await?,
        };
        let request = |body: Bytes| -> Result<http::Request<Full<Bytes>>, String> {
            // Put together directly: the builder re-validates every name and value.
            let mut req = http::Request::new(Full::new(body));
            *req.method_mut() = http::Method::POST;
            *req.uri_mut() = Uri::from(target.path.clone());
            let h = req.headers_mut();
            h.insert(HOST, target.authority.clone());
            h.insert(CONTENT_TYPE, HeaderValue::from_static(CLOUDEVENTS_JSON));
            h.insert(
                &TRACEPARENT,
                HeaderValue::from_str(traceparent)
                    .map_err(|e| format!("traceparent {traceparent:?}: {e}"))?,
            );
            Ok(req)
        };
        let response = match exchange(&mut open, request(body.clone())?).await {
            Ok(r) => r,
            // Closed before the request was written: it never reached the SUT.
            Err(Unsent) if !fresh => {
                open = connect(target).await?;
                exchange(&mut open, request(body)?)
                    .await
                    .map_err(|e| e.message())?
            }
            Err(e) => return Err(e.message()),
        };
        let (parts, mut incoming) = response.into_parts();
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let answer = Answer {
            status: parts.status.as_u16(),
            content_type: header(CONTENT_TYPE).map(str::to_string),
            retry_after: header(RETRY_AFTER)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        };
        // The head's bytes are the connection's read buffer: let go of them before reading
        // on, or the connection allocates a fresh buffer for every answer.
        drop(parts);
        // Read the answer's body whole, or the connection cannot carry the next request.
        loop {
            let frame = {
                let Open { conn, .. } = &mut open;
                drive(conn, incoming.frame()).await
            };
            match frame {
                Ok(Some(Ok(_))) => {}
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(chain(&e)),
                Err(Ended(e)) => return Err(e),
            }
        }
        self.open = Some(open);
        Ok(answer)
    }
}

/// Why an exchange failed.
enum Failed {
    /// The connection refused the request before writing any of it.
    Unsent,
    /// Anything else, said in full.
    Other(String),
}
use Failed::Unsent;

impl Failed {
    fn message(self) -> String {
        match self {
            Unsent => "connection closed before the request was sent".into(),
            Failed::Other(m) => m,
        }
    }
}

/// Sends `request` on `open` and waits for the head of the answer.
async fn exchange(
    open: &mut Open,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, Failed> {
    let Open { sender, conn, .. } = open;
    match drive(conn, sender.try_send_request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) if e.message().is_some() => Err(Unsent),
        Ok(Err(e)) => Err(Failed::Other(chain(&e.into_error()))),
        Err(Ended(e)) => Err(Failed::Other(e)),
    }
}

/// `open`, once it can take a request; `None` if it was closed meanwhile (by the SUT, or
/// after an answer that said `Connection: close`).
async fn ready(mut open: Open) -> Option<Open> {
    let Open { sender, conn, .. } = &mut open;
    match drive(conn, sender.ready()).await {
        Ok(Ok(())) => Some(open),
        _ => None,
    }
}

async fn connect(target: &Target) -> Result<Open, String> {
    let addr = (target.host.as_str(), target.port);
    let stream = TcpStream::connect(addr).await.map_err(|e| {
        format!(
            "error connecting to {}: {e}",
            target.authority.to_str().unwrap_or("the ingress")
        )
    })?;
    // One event a request: waiting to coalesce small writes only adds latency.
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| chain(&e))?;
    Ok(Open {
        authority: target.authority.clone(),
        sender,
        conn,
    })
}

/// Polls `fut` and the connection it needs together, until `fut` is done; `Ended` if the
/// connection finished first (closed, or failed) and `fut` could not finish with it.
async fn drive<F: Future>(conn: &mut Conn, fut: F) -> Result<F::Output, Ended> {
    let mut fut = std::pin::pin!(fut);
    let mut ended: Option<String> = None;
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if let Some(e) = &ended {
            return Poll::Ready(Err(Ended(e.clone())));
        }
        match Pin::new(&mut *conn).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                // The connection is over: what `fut` waited for has been settled with it.
                let why = match result {
                    Ok(()) => "connection closed".to_string(),
                    Err(e) => chain(&e),
                };
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => Poll::Ready(Ok(v)),
                    Poll::Pending => {
                        ended = Some(why.clone());
                        Poll::Ready(Err(Ended(why)))
                    }
                }
            }
        }
    })
    .await
}

/// An error with its sources, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_once_with_their_host_header_and_path() {
        let t = Target::parse("http://127.0.0.1:8080/events?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8080));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path.as_str(), "/events?x=1");
        let t = Target::parse("http://sut").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("sut", 80, "/"));
        let t = Target::parse("http://[::1]:9/in").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
    }

    #[test]
    fn urls_that_cannot_be_delivered_to_say_why() {
        let e = Target::parse("https://sut/events").unwrap_err();
        assert!(e.contains("\"https\" is not supported"), "{e}");
        assert!(Target::parse("not a url").unwrap_err().contains("invalid"));
        assert!(Target::parse("/events").unwrap_err().contains("no scheme"));
    }
}
