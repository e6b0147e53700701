//! Building answers: envelopes, the broken body of the drop fault, and the access log line.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::engati::api::Envelope;

/// Envelope code of a failure (Engati's FAILURE).
pub(super) const FAILURE: i64 = 2000;

/// `{"status": {"code": code, "message": message}}` with an HTTP status.
pub(super) fn envelope(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    json(status, &Envelope::new(code, message))
}

/// A 400 for a request the platform would refuse, naming the problem.
pub(super) fn bad_request(message: impl Into<String>) -> Response {
    envelope(StatusCode::BAD_REQUEST, FAILURE, message)
}

/// The success envelope with `data` when given.
pub(super) fn success(data: Option<Value>) -> Response {
    let mut body = Envelope::new(crate::engati::api::SUCCESS, "SUCCESS");
    if let Some(data) = data {
        body.rest.insert("data".to_owned(), data);
    }
    json(StatusCode::OK, &body)
}

/// Any serializable value as a JSON answer.
pub(super) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the answer: {e}"),
        )
            .into_response(),
    }
}

/// Marks a response that a fault changed, for the access log.
#[derive(Debug, Clone, Copy)]
pub(super) struct FaultNote(pub &'static str);

/// A 200 whose body fails before its first byte: hyper then closes the connection without
/// sending the response, so the client sees a broken connection after the request was
/// processed — the "did it send?" case.
pub(super) fn broken_connection() -> Response {
    Response::new(Body::new(BrokenBody))
}

struct BrokenBody;

impl HttpBody for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "emulator fault: connection dropped after processing",
        ))))
    }
}

/// Logs one line per request at info: method, path, status and latency. Never headers (the
/// `Authorization` key) and never the query (trigger attributes are personal data); the path of
/// the key-revocation endpoint is logged as its route, since it holds a key.
pub(super) async fn access_log(request: Request, next: Next) -> Response {
    let path = if request.uri().path().starts_with("/_emulator/keys/") {
        request
            .extensions()
            .get::<MatchedPath>()
            .map_or("/_emulator/keys/{key}", MatchedPath::as_str)
            .to_owned()
    } else {
        request.uri().path().to_owned()
    };
    let mut line = LogLine {
        method: request.method().clone(),
        path,
        started: Instant::now(),
        status: None,
    };
    let response = next.run(request).await;
    let note = response
        .extensions()
        .get::<FaultNote>()
        .map_or("", |FaultNote(note)| note);
    line.status = Some((response.status().as_u16(), note));
    response
}

/// Writes the log line when dropped, so a request whose client hung up mid-way (hyper then
/// drops the handler, possibly after its record was written) is logged too.
struct LogLine {
    method: axum::http::Method,
    path: String,
    started: Instant,
    status: Option<(u16, &'static str)>,
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let (method, path) = (&self.method, &self.path);
        match self.status {
            Some((status, note)) => tracing::info!(
                target: "herald::emulator",
                "{method} {path} {status}{note} {ms:.1}ms"
            ),
            None => tracing::info!(
                target: "herald::emulator",
                "{method} {path} - (client went away) {ms:.1}ms"
            ),
        }
    }
}
