//! Integration tests of event delivery and connection-level faults: an emitter (or a whole
//! simulator) against a scripted SUT ingress (wiremock), and simulators served on real
//! sockets against a real HTTP client.
//!
//! Layout:
//! * `helpers` — an emitter rig, delivery records read from the history, deadline waits.
//! * `retry` — answers of the ingress: 2xx, 5xx/408/429 with backoff and `Retry-After`,
//!   timeouts, rejections, refused connections.
//! * `buffer` — the bounded store-and-forward buffer.
//! * `ordering` — per-aggregate order under retries.
//! * `connection` — the lane's keep-alive connection: closed by the SUT, chunked answers,
//!   `Connection: close`, an ingress that is not plain HTTP.
//! * `emitter_faults` — `duplicate`, `reorder`, `partition`, `clock_skew`.
//! * `server_faults` — `refuse`, `reset`, `hang`, `commit_then_reset` on a real socket.
//! * `admin` — delivery driven through `/_andon/ingress`, `/_andon/events`, `/_andon/health`.
//! * `determinism` — the seed fixes ids and trace contexts.
//!
//! Set `TEST_LOG=debug` to see the simulators' tracing output.

mod admin;
mod buffer;
mod connection;
mod determinism;
mod emitter_faults;
mod helpers;
mod mqtt;
mod ordering;
mod retry;
mod server_faults;
