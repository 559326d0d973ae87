//! One delivery lane's keep-alive HTTP/1.1 connection to the SUT's ingress.
//!
//! A lane sends one request at a time and waits for its answer, so it needs no pool, no
//! connection task and no channel: the request is written in one piece from a buffer the
//! lane keeps, and the answer is read into another and parsed by `httparse` (the parser
//! hyper uses), its body framed by `Content-Length`, `chunked` or the end of the
//! connection. That leanness is what lets the emitter keep up with wrk on the same
//! connections while it records every request (`ci/bench-load.sh`): the general-purpose
//! client stack cost more per request than everything else the emitter does.
//!
//! A connection the SUT closed while it was idle is seen before the next request (the
//! runtime has reported it readable: an idle keep-alive connection has nothing to say, so
//! that is its end) and replaced, so that no request is lost on it. Once a request has
//! been written, anything that goes wrong is the attempt's outcome and the connection is
//! dropped: the next request opens a new one. Interim answers (`1xx`) are skipped; an
//! answer saying `Connection: close`, or an HTTP/1.0 one without keep-alive, ends the
//! connection after it is read.

use std::io::Write as _;
use std::time::Duration;

use http::uri::Uri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest answer head read.
const MAX_HEAD: usize = 64 * 1024;
/// Headers an answer may have.
const MAX_HEADERS: usize = 64;
/// Read buffer: an answer head and a small body in one read.
const READ_CHUNK: usize = 8 * 1024;

/// Why an ingress URL cannot take events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngressError {
    /// Not a URL.
    #[error("invalid ingress URL {url:?}: {message}")]
    Invalid {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        message: String,
    },
    /// A scheme other than `http`.
    #[error("ingress URL {url:?}: scheme {scheme:?} is not supported (plain http only)")]
    Scheme {
        /// The URL given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// No scheme.
    #[error("ingress URL {url:?}: no scheme (expected http://)")]
    NoScheme {
        /// The URL given.
        url: String,
    },
    /// No host.
    #[error("ingress URL {url:?}: no host")]
    NoHost {
        /// The URL given.
        url: String,
    },
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// The ingress URL cannot take events.
    #[error(transparent)]
    Ingress(#[from] IngressError),
    /// A `traceparent` that cannot go in a header.
    #[error("traceparent {0:?} is not a header value")]
    Traceparent(String),
    /// The connection could not be made.
    #[error("error connecting to {authority}: {source}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// Why.
        source: std::io::Error,
    },
    /// The request could not be written.
    #[error("error sending the request to {authority}: {source}")]
    Send {
        /// `host:port`.
        authority: String,
        /// Why.
        source: std::io::Error,
    },
    /// The answer could not be read.
    #[error("error reading the answer: {0}")]
    Read(std::io::Error),
    /// The connection closed before an answer.
    #[error("connection closed before the answer")]
    ClosedBeforeAnswer,
    /// The connection closed in the middle of the body.
    #[error("connection closed in the middle of the answer's body")]
    ClosedInBody,
    /// An answer head over [`MAX_HEAD`].
    #[error("answer head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    /// Answer trailers over [`MAX_HEAD`].
    #[error("answer trailers longer than {MAX_HEAD} bytes")]
    TrailersTooLong,
    /// An answer that is not HTTP/1.1.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// Trailers that are not HTTP/1.1.
    #[error("malformed answer trailers: {0}")]
    MalformedTrailers(httparse::Error),
}

/// An ingress URL, parsed once for all its requests.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    /// `host:port`, the connection's identity.
    authority: String,
    /// The request line and fixed headers, up to the `traceparent` value.
    head: Vec<u8>,
}

impl Target {
    /// Parses `url`: plain `http://` only (the simulators talk to the SUT without TLS).
    pub(crate) fn parse(url: &str) -> Result<Self, IngressError> {
        Self::parse_as(url, "application/cloudevents+json")
    }

    /// Parses `url` for bodies of `content_type`.
    pub(crate) fn parse_as(url: &str, content_type: &str) -> Result<Self, IngressError> {
        let uri: Uri = url.parse().map_err(|e| IngressError::Invalid {
            url: url.to_string(),
            message: format!("{e}"),
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(IngressError::Scheme {
                    url: url.to_string(),
                    scheme: other.to_string(),
                });
            }
            None => {
                return Err(IngressError::NoScheme {
                    url: url.to_string(),
                });
            }
        }
        let authority = uri.authority().ok_or_else(|| IngressError::NoHost {
            url: url.to_string(),
        })?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {authority}\r\n\
             content-type: {content_type}\r\ntraceparent: "
        )
        .into_bytes();
        Ok(Self {
            host,
            port,
            authority: authority.as_str().to_string(),
            head,
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

/// A lane's connection, opened on the first request, and its buffers.
#[derive(Default)]
pub(crate) struct LaneConnection {
    open: Option<Open>,
    /// The request being written.
    out: Vec<u8>,
}

struct Open {
    /// The `host:port` it is connected to.
    authority: String,
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
}

impl LaneConnection {
    /// POSTs `body` to `target` with the CloudEvents content type and `traceparent`.
    ///
    /// Cancel-safe: the connection is taken out for the request and put back only when the
    /// answer has been read whole, so a request dropped halfway (a timeout) leaves none.
    pub(crate) async fn post(
        &mut self,
        target: &Target,
        traceparent: &str,
        body: &[u8],
    ) -> Result<Answer, PostError> {
        if !traceparent.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PostError::Traceparent(traceparent.to_string()));
        }
        let mut open = match self.open.take() {
            Some(open) if open.authority == target.authority && still_open(&open.stream) => open,
            _ => connect(target).await?,
        };
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(&target.head);
        out.extend_from_slice(traceparent.as_bytes());
        // Writing into a Vec cannot fail.
        let _ = write!(out, "\r\ncontent-length: {}\r\n\r\n", body.len());
        out.extend_from_slice(body);
        open.stream
            .write_all(out)
            .await
            .map_err(|source| PostError::Send {
                authority: target.authority.clone(),
                source,
            })?;
        let (answer, keep) = open.read_answer().await?;
        if keep {
            self.open = Some(open);
        }
        Ok(answer)
    }
}

/// Whether an idle connection can take a request: the runtime has not seen it readable
/// since its last answer was read (then it has been closed, or says something unasked).
fn still_open(stream: &TcpStream) -> bool {
    // No system call unless the socket was reported readable.
    matches!(stream.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

async fn connect(target: &Target) -> Result<Open, PostError> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| PostError::Connect {
            authority: target.authority.clone(),
            source,
        })?;
    // One event a request: waiting to coalesce small writes only adds latency.
    let _ = stream.set_nodelay(true);
    Ok(Open {
        authority: target.authority.clone(),
        stream,
        buf: Vec::with_capacity(READ_CHUNK),
    })
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The parts of an answer's head that matter here.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    /// Bytes of the head.
    len: usize,
    answer: Answer,
    framing: Framing,
    /// The connection can carry the next request afterwards.
    keep_alive: bool,
}

/// Parses an answer head at the start of `buf`; `Ok(None)` when it is not whole yet.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, PostError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(PostError::HeadTooLong);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(PostError::Malformed(e.to_string())),
    };
    let status = r.code.unwrap_or_default();
    fn values<'a>(
        headers: &'a [httparse::Header<'a>],
        name: &'a str,
    ) -> impl Iterator<Item = &'a str> {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    }
    let found: &[httparse::Header<'_>] = r.headers;
    let header = |name: &'static str| values(found, name);
    let has_token = |name: &'static str, token: &str| {
        header(name).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let http10 = r.version == Some(0);
    let keep_alive = if http10 {
        has_token("connection", "keep-alive")
    } else {
        !has_token("connection", "close")
    };
    let chunked = header("transfer-encoding")
        .flat_map(|v| v.split(','))
        .last()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(v) = header("content-length").next() {
        Framing::Length(
            v.trim()
                .parse()
                .map_err(|_| PostError::Malformed(format!("content-length {v:?}")))?,
        )
    } else {
        // No length said: the body runs to the end of the connection.
        Framing::UntilClose
    };
    let answer = Answer {
        status,
        content_type: header("content-type").next().map(str::to_string),
        retry_after: header("retry-after")
            .next()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
    };
    Ok(Some(Head {
        len,
        answer,
        keep_alive: keep_alive && framing != Framing::UntilClose,
        framing,
    }))
}

impl Open {
    /// Reads more into `buf`; `Ok(false)` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, PostError> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 2 {
            self.buf.reserve(READ_CHUNK);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(PostError::Read(e)),
        }
    }

    /// Reads one answer (interim ones skipped) and its body; with whether the connection
    /// can be kept.
    async fn read_answer(&mut self) -> Result<(Answer, bool), PostError> {
        let head = loop {
            match parse_head(&self.buf)? {
                Some(h) if (100..200).contains(&h.answer.status) && h.answer.status != 101 => {
                    self.buf.drain(..h.len);
                }
                Some(h) => break h,
                None => {
                    if !self.fill().await? {
                        return Err(PostError::ClosedBeforeAnswer);
                    }
                }
            }
        };
        self.buf.drain(..head.len);
        match head.framing {
            Framing::None => {}
            Framing::Length(n) => self.skip(n).await?,
            Framing::Chunked => self.skip_chunks().await?,
            Framing::UntilClose => {
                while self.fill().await? {
                    self.buf.clear();
                }
            }
        }
        Ok((head.answer, head.keep_alive))
    }

    /// Skips a `chunked` body and its trailers.
    async fn skip_chunks(&mut self) -> Result<(), PostError> {
        loop {
            match httparse::parse_chunk_size(&self.buf) {
                Ok(httparse::Status::Complete((n, 0))) => {
                    self.buf.drain(..n);
                    return self.skip_trailers().await;
                }
                Ok(httparse::Status::Complete((n, size))) => {
                    self.buf.drain(..n);
                    // The chunk's data and its CRLF.
                    self.skip(size.saturating_add(2)).await?;
                }
                Ok(httparse::Status::Partial) => self.more().await?,
                Err(_) => return Err(PostError::Malformed("bad chunk size".into())),
            }
        }
    }

    async fn skip_trailers(&mut self) -> Result<(), PostError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(&self.buf, &mut headers) {
                Ok(httparse::Status::Complete((n, _))) => {
                    self.buf.drain(..n);
                    return Ok(());
                }
                Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                    return Err(PostError::TrailersTooLong);
                }
                Ok(httparse::Status::Partial) => self.more().await?,
                Err(e) => return Err(PostError::MalformedTrailers(e)),
            }
        }
    }

    /// Consumes `n` bytes of the body, reading as they come.
    async fn skip(&mut self, mut n: u64) -> Result<(), PostError> {
        loop {
            let here = (self.buf.len() as u64).min(n);
            self.buf.drain(..here as usize);
            n -= here;
            if n == 0 {
                return Ok(());
            }
            self.more().await?;
        }
    }

    /// Reads more of the body; an error at the end of the stream.
    async fn more(&mut self) -> Result<(), PostError> {
        if self.fill().await? {
            Ok(())
        } else {
            Err(PostError::ClosedInBody)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_once_with_their_request_head() {
        let t = Target::parse("http://127.0.0.1:8080/events?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8080));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert!(
            String::from_utf8_lossy(&t.head)
                .starts_with("POST /events?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n")
        );
        let t = Target::parse("http://sut").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("sut", 80));
        assert!(t.head.starts_with(b"POST / HTTP/1.1\r\n"));
        let t = Target::parse("http://[::1]:9/in").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
    }

    #[test]
    fn urls_that_cannot_be_delivered_to_say_why() {
        let e = Target::parse("https://sut/events").unwrap_err().to_string();
        assert!(e.contains("\"https\" is not supported"), "{e}");
        assert!(
            Target::parse("not a url")
                .unwrap_err()
                .to_string()
                .contains("invalid")
        );
        assert!(
            Target::parse("/events")
                .unwrap_err()
                .to_string()
                .contains("no scheme")
        );
    }

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn answer_heads_say_how_their_body_ends_and_whether_the_connection_stays() {
        let h = head("HTTP/1.1 202 Accepted\r\ncontent-length: 12\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(12), true));
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::None, true));
        let h =
            head("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(0), false));
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 500 Internal Server Error\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
    }

    #[test]
    fn answer_heads_carry_status_content_type_and_retry_after() {
        let text = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\n\
                    Retry-After: 3\r\ncontent-length: 0\r\n\r\n";
        let h = head(text);
        assert_eq!(
            h.answer,
            Answer {
                status: 429,
                content_type: Some("application/problem+json".into()),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert_eq!(h.len, text.len());
    }

    #[test]
    fn partial_and_malformed_heads_are_told_apart() {
        assert!(matches!(parse_head(b"HTTP/1.1 202 Acc"), Ok(None)));
        assert!(
            parse_head(b"SMTP ready\r\n\r\n")
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
        let e = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: lots\r\n\r\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("content-length"), "{e}");
    }
}
