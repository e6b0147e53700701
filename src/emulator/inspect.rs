//! The emulator's own endpoints under `/_emulator/`: the record of accepted requests, the
//! faults in force and key revocation. They need no key: they exist for tests and developers on
//! the same machine.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::faults::Faults;
use super::handlers::AppState;
use super::respond::{FAILURE, bad_request, envelope, json};

/// GET /_emulator/requests: JSON lines, one record per line, in acceptance order.
pub(super) async fn requests(State(shared): State<AppState>) -> Response {
    match shared.store.text() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            )],
            text,
        )
            .into_response(),
        Err(e) => envelope(StatusCode::INTERNAL_SERVER_ERROR, FAILURE, e.to_string()),
    }
}

/// DELETE /_emulator/requests: forget every record (and truncate the file), and so what the
/// sends left in conversation history.
pub(super) async fn reset(State(shared): State<AppState>) -> Response {
    match shared.store.reset() {
        Ok(()) => {
            for bot in shared.world.bots() {
                bot.sent.clear();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => envelope(StatusCode::INTERNAL_SERVER_ERROR, FAILURE, e.to_string()),
    }
}

/// GET /_emulator/counts: phone number to accepted messages, sorted by phone.
pub(super) async fn counts(State(shared): State<AppState>) -> Response {
    json(StatusCode::OK, &shared.store.counts())
}

/// GET /_emulator/faults: the faults in force.
pub(super) async fn get_faults(State(shared): State<AppState>) -> Response {
    json(StatusCode::OK, &shared.faults.get())
}

/// PUT /_emulator/faults: replace the faults (absent fields are 0); answers the new faults.
pub(super) async fn put_faults(State(shared): State<AppState>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(e) => return bad_request(format!("invalid faults: {e}")),
    };
    if let Err(e) = faults.check() {
        return bad_request(format!("invalid faults: {e}"));
    }
    shared.faults.set(faults);
    json(StatusCode::OK, &shared.faults.get())
}

/// POST /_emulator/keys/{key}/revoke: later calls with the key get 403.
pub(super) async fn revoke(State(shared): State<AppState>, Path(key): Path<String>) -> Response {
    if shared.world.revoke(&key) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        envelope(StatusCode::NOT_FOUND, FAILURE, "no such API key")
    }
}

/// Any path the emulator does not serve.
pub(super) async fn not_found() -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        FAILURE,
        "no such endpoint (see docs/emulator.md)",
    )
}

/// A served path with the wrong method.
pub(super) async fn method_not_allowed() -> Response {
    envelope(
        StatusCode::METHOD_NOT_ALLOWED,
        FAILURE,
        "method not allowed on this endpoint",
    )
}
