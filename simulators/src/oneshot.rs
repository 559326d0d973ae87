//! One HTTP/1.1 request from a simulator to the SUT outside event delivery, read whole: the
//! webhook validation handshake of a vendor dialect. Plain `http://` only.

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::{CONTENT_LENGTH, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// POSTs an empty body to `url` (with `traceparent`, if any); the status and the body.
pub async fn post(url: &str, traceparent: Option<&str>) -> Result<(u16, Vec<u8>), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("is not an http:// URL".into());
    }
    let authority = uri.authority().ok_or("has no host")?.clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = TcpStream::connect((host, authority.port_u16().unwrap_or(80)))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = Request::post(path)
        .header(HOST, authority.as_str())
        .header(CONTENT_LENGTH, 0);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn posts_and_reads_the_answer_whole() {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                |q: axum::extract::RawQuery| async move { q.0.unwrap_or_default() },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (status, body) = post(&format!("http://{addr}/hook?validationToken=t1"), None)
            .await
            .unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"validationToken=t1"[..]));
        assert!(post("https://x/hook", None).await.is_err());
    }
}
