//! The Engati endpoints: the same paths, auth rule and answers as the platform.
//!
//! Every request goes the same way: latency fault, auth (401/403), customer (404), key scope
//! (403), bot (envelope 2003), the endpoint's own checks (400 and friends), the refusal faults
//! (429/500/1002), then the record — written before anything is answered — and what a send
//! leaves in conversation history (`history`), and finally the answer, unless a hang or drop
//! fault takes its place.

// A refusal is the response itself, returned early with `?`. Boxing it would only add an
// allocation to a path that builds a response anyway.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::checks;
use super::faults::{Aftermath, FaultState, Plan, Refusal};
use super::history;
use super::respond::{FAILURE, FaultNote, bad_request, broken_connection, envelope, success};
use super::store::{LogError, Pending, Store};
use super::world::{Bot, KeyProblem, World, attribute_matches};
use crate::engati::api::{BroadcastV1, BroadcastV2, TemplateMessage};

/// Envelope code: no such bot for the customer.
const BOT_NOT_FOUND: i64 = 2003;
/// Envelope code: the bot has no WhatsApp provider.
const API_KEY_NOT_FOUND: i64 = 2004;
/// Envelope code: the user is outside the 24-hour window.
const OUTSIDE_WINDOW: i64 = 1002;

/// What every handler shares.
#[derive(Debug)]
pub(super) struct Shared {
    /// The seed, indexed.
    pub world: World,
    /// The faults in force.
    pub faults: FaultState,
    /// The record of accepted requests.
    pub store: Store,
    /// Becomes true at shutdown; releases hanging requests.
    pub shutdown: watch::Receiver<bool>,
}

/// The router's state.
pub(super) type AppState = Arc<Shared>;

type Outcome = Result<Response, Response>;

/// A request that passed the checks every endpoint makes.
struct Call<'a> {
    shared: &'a Shared,
    bot: &'a Bot,
    plan: Plan,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    received_at: jiff::Timestamp,
}

/// Latency, auth, customer, key scope and bot: the checks before any endpoint's own.
async fn begin<'a>(
    shared: &'a Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    customer: &str,
    bot: &str,
) -> Result<Call<'a>, Response> {
    let received_at = jiff::Timestamp::now();
    let plan = shared.faults.plan(method == Method::GET);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let scope = shared
        .world
        .authenticate(authorization)
        .map_err(|problem| {
            let (status, message) = match problem {
                KeyProblem::Missing => (
                    StatusCode::UNAUTHORIZED,
                    "missing API key: send the header `Authorization: Basic <api key>`",
                ),
                KeyProblem::Unknown => (StatusCode::UNAUTHORIZED, "invalid API key"),
                KeyProblem::Revoked => (StatusCode::FORBIDDEN, "the API key has been revoked"),
            };
            let mut response = envelope(status, FAILURE, message);
            if status == StatusCode::UNAUTHORIZED {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            }
            response
        })?;
    let not_found = || {
        envelope(
            StatusCode::NOT_FOUND,
            FAILURE,
            format!("customer `{customer}` not found"),
        )
    };
    let customer_id: u64 = customer.parse().map_err(|_| not_found())?;
    if !shared.world.has_customer(customer_id) {
        return Err(not_found());
    }
    if scope.is_some_and(|only| only != customer_id) {
        return Err(envelope(
            StatusCode::FORBIDDEN,
            FAILURE,
            format!("the API key is not valid for customer {customer_id}"),
        ));
    }
    let Some(found) = shared.world.bot(customer_id, bot) else {
        return Err(envelope(
            StatusCode::OK,
            BOT_NOT_FOUND,
            format!("BOT_NOT_FOUND: customer {customer_id} has no bot `{bot}`"),
        ));
    };
    let query = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    Ok(Call {
        shared,
        bot: found,
        plan,
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query,
        received_at,
    })
}

impl Call<'_> {
    /// Refusal faults, the record, then the answer (or a hang or drop fault).
    async fn finish(
        self,
        sends: bool,
        body: Option<Bytes>,
        phones: Vec<String>,
        answer: impl FnOnce(u64) -> Response,
    ) -> Response {
        match self.plan.refusal {
            Some(Refusal::RateLimit { retry_after_secs }) => {
                let mut response = envelope(
                    StatusCode::TOO_MANY_REQUESTS,
                    FAILURE,
                    "too many requests (emulator fault)",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return noted(response, " (fault: rate limit)");
            }
            Some(Refusal::ServerError) => {
                let response = envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    FAILURE,
                    "internal server error (emulator fault)",
                );
                return noted(response, " (fault: server error)");
            }
            Some(Refusal::OutsideWindow) if sends => {
                let response = envelope(
                    StatusCode::OK,
                    OUTSIDE_WINDOW,
                    "USER_IS_OUTSIDE_CONVERSATION_WINDOW (emulator fault)",
                );
                return noted(response, " (fault: 1002)");
            }
            Some(Refusal::OutsideWindow) | None => {}
        }
        // Worked out before the record takes the body; kept only once the record is written.
        let traces = match &body {
            Some(bytes) if sends && !self.plan.trace_lost => history::traces(
                self.bot,
                &self.path,
                bytes,
                self.received_at.as_millisecond(),
            ),
            _ => Vec::new(),
        };
        let pending = Pending {
            method: self.method,
            path: self.path,
            query: self.query,
            body,
            phones,
            received_at: self.received_at.to_string(),
        };
        let not_recorded = |e: LogError| {
            envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                FAILURE,
                format!("the emulator could not record the request: {e}"),
            )
        };
        let queued = match self.shared.store.queue(pending).await {
            Ok(queued) => queued,
            Err(e) => return not_recorded(e),
        };
        // Accepted from here on, even if the client goes away and this handler is dropped at
        // the next await: its messages go to the history now, with no await in between, as
        // Engati's do for every message it accepts. (Recorded after the log's write, a send
        // whose client was killed left no trace, and was sent again after reconcile_after.)
        self.bot.sent.record(traces, self.plan.trace_delay);
        let seq = match queued.written().await {
            Ok(seq) => seq,
            Err(e) => return not_recorded(e),
        };
        match self.plan.aftermath {
            Aftermath::Respond => answer(seq),
            Aftermath::Hang => {
                let mut shutdown = self.shared.shutdown.clone();
                // An error means the emulator is gone; either way the hang is over.
                let _ = shutdown.wait_for(|&stop| stop).await;
                noted(broken_connection(), " (fault: hung until shutdown)")
            }
            Aftermath::Drop => noted(broken_connection(), " (fault: connection dropped)"),
        }
    }
}

fn noted(mut response: Response, note: &'static str) -> Response {
    response.extensions_mut().insert(FaultNote(note));
    response
}

/// The body, if it is declared JSON (`Content-Type: application/json`) and not empty.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    let bytes = body.map_err(|rejection| {
        envelope(
            rejection.status(),
            FAILURE,
            format!("cannot read the body: {}", rejection.body_text()),
        )
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(envelope(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FAILURE,
            format!(
                "Content-Type must be application/json, got `{}`",
                if content_type.is_empty() {
                    "nothing"
                } else {
                    content_type
                }
            ),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request("the body is empty; expected a JSON object"));
    }
    Ok(bytes)
}

/// The body as one of the api.rs request types (or any JSON), parsed straight from the bytes:
/// malformed JSON and JSON of the wrong shape get different messages.
fn typed<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Response> {
    serde_json::from_slice(bytes).map_err(|e| {
        bad_request(match e.classify() {
            serde_json::error::Category::Data => format!("invalid {what}: {e}"),
            _ => format!("malformed JSON: {e}"),
        })
    })
}

fn no_whatsapp(bot: &str) -> Response {
    envelope(
        StatusCode::OK,
        API_KEY_NOT_FOUND,
        format!("API_KEY_NOT_FOUND: bot `{bot}` has no WhatsApp provider configured"),
    )
}

/// POST .../whatsapp-api/v1.0/customer/{cid}/bot/{bot}/template
pub(super) async fn template(
    State(shared): State<AppState>,
    Path((customer, bot)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        let bytes = json_body(&headers, body)?;
        let message: TemplateMessage = typed(&bytes, "template message")?;
        if !call.bot.whatsapp {
            return Err(no_whatsapp(&bot));
        }
        checks::phone("phoneNumber", &message.phone_number).map_err(bad_request)?;
        checks::template(call.bot, &message.payload).map_err(bad_request)?;
        let phone = message.phone_number;
        let phones = vec![phone.clone()];
        let answer = |seq: u64| {
            success(Some(json!({
                "contacts": [{"input": phone, "wa_id": phone.trim_start_matches('+')}],
                "messages": [{"id": format!("wamid.{seq}")}],
            })))
        };
        Ok(call.finish(true, Some(bytes), phones, answer).await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}

/// POST .../bot-api/v1.0/customer/{cid}/bot/{bot}/broadcast
pub(super) async fn broadcast_v1(
    State(shared): State<AppState>,
    Path((customer, bot)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        let bytes = json_body(&headers, body)?;
        let broadcast: BroadcastV1 = typed(&bytes, "broadcast")?;
        let phones = checks::broadcast_v1(&broadcast).map_err(bad_request)?;
        Ok(call
            .finish(true, Some(bytes), phones, |_| success(None))
            .await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}

/// POST .../bot-api/v2.0/customer/{cid}/bot/{bot}/broadcast
pub(super) async fn broadcast_v2(
    State(shared): State<AppState>,
    Path((customer, bot)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        let bytes = json_body(&headers, body)?;
        let broadcast: BroadcastV2 = typed(&bytes, "template broadcast")?;
        if !call.bot.whatsapp {
            return Err(no_whatsapp(&bot));
        }
        let phones = checks::broadcast_v2(&broadcast).map_err(bad_request)?;
        // `broadcast_v2` checked there is exactly one content entry.
        if let Some(content) = broadcast.payload.content.first() {
            checks::template(call.bot, &content.template).map_err(bad_request)?;
        }
        Ok(call
            .finish(true, Some(bytes), phones, |_| success(None))
            .await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}

fn unknown_flow(flow: &str, bot: &str) -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        FAILURE,
        format!("flow `{flow}` not found in bot `{bot}`"),
    )
}

/// POST .../bot-api/v1.0/customer/{cid}/bot/{bot}/flow/{flow}?attr=value...
pub(super) async fn trigger_v1(
    State(shared): State<AppState>,
    Path((customer, bot, flow)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        if !call.bot.flows.contains(&flow) {
            return Err(unknown_flow(&flow, &bot));
        }
        let phones = checks::trigger(&call.query).map_err(bad_request)?;
        Ok(call.finish(true, None, phones, |_| success(None)).await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}

/// POST .../bot-api/v2.0/customer/{cid}/bot/{bot}/flow/{flow} with a JSON object body.
pub(super) async fn trigger_v2(
    State(shared): State<AppState>,
    Path((customer, bot, flow)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        if !call.bot.flows.contains(&flow) {
            return Err(unknown_flow(&flow, &bot));
        }
        let bytes = json_body(&headers, body)?;
        let value: Value = typed(&bytes, "trigger body")?;
        let attributes = checks::trigger_body(&value).map_err(bad_request)?;
        let phones = checks::trigger(&attributes).map_err(bad_request)?;
        Ok(call
            .finish(true, Some(bytes), phones, |_| success(None))
            .await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}

/// GET .../bot-api/v1.0/customer/{cid}/bot/{bot}/users?attribute_name=&attribute_value=
pub(super) async fn users(
    State(shared): State<AppState>,
    Path((customer, bot)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        let allowed = [
            "attribute_name",
            "attribute_value",
            "page_number",
            "page_size",
        ];
        let query = checks::Query::new(&call.query, &allowed).map_err(bad_request)?;
        let required = |name: &str| {
            query
                .get(name)
                .ok_or_else(|| bad_request(format!("query parameter `{name}` is required")))
        };
        let name = required("attribute_name")?;
        let value = required("attribute_value")?;
        let (number, size) = query.paging().map_err(bad_request)?;
        let matching: Vec<_> = call
            .bot
            .users
            .iter()
            .filter(|u| {
                u.profile
                    .attributes
                    .get(name)
                    .is_some_and(|v| attribute_matches(v, value))
            })
            .map(|u| &u.profile)
            .collect();
        let (items, total) = checks::page(&matching, number, size);
        let data = json!({
            "users": items, "pageNumber": number, "pageSize": size, "totalPages": total,
        });
        Ok(call
            .finish(false, None, Vec::new(), |_| success(Some(data)))
            .await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}

/// GET .../bot-api/v1.0/customer/{cid}/bot/{bot}/channel-user/{id}/conversations
pub(super) async fn conversations(
    State(shared): State<AppState>,
    Path((customer, bot, user)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let outcome: Outcome = async {
        let call = begin(&shared, &method, &uri, &headers, &customer, &bot).await?;
        if shared.faults.get().history_down {
            let response = envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                FAILURE,
                "internal server error (emulator fault: history down)",
            );
            return Ok(call.finish(false, None, Vec::new(), |_| response).await);
        }
        checks::channel_user_id("the path's channel user id", &user).map_err(bad_request)?;
        let allowed = ["start_date", "end_date", "page_number", "page_size"];
        let query = checks::Query::new(&call.query, &allowed).map_err(bad_request)?;
        let epoch_ms = "UTC epoch milliseconds, e.g. 1763631060000";
        let start = query
            .number("start_date", i64::MIN, epoch_ms)
            .map_err(bad_request)?;
        let now = jiff::Timestamp::now().as_millisecond();
        let end = query
            .number("end_date", now, epoch_ms)
            .map_err(bad_request)?;
        if start > end {
            return Err(bad_request(format!(
                "start_date ({start}) is after end_date ({end})"
            )));
        }
        let (number, size) = query.paging().map_err(bad_request)?;
        let history = history::history(call.bot, &user, start..=end, now);
        let (items, total) = checks::page(&history, number, size);
        let data = json!({
            "conversations": items, "pageNumber": number, "pageSize": size, "totalPages": total,
        });
        Ok(call
            .finish(false, None, Vec::new(), |_| success(Some(data)))
            .await)
    }
    .await;
    outcome.unwrap_or_else(|e| e)
}
