//! [`Client`]: the typed async Engati API client. One shared connection pool; [`Client::execute`]
//! sends a [`Request`] exactly as it is; the typed methods build the request and read the answer
//! (all pages of it, for Users and Conversations).
//!
//! The client never retries on its own (beyond reqwest's protocol-level retries of requests the
//! server provably did not process, such as an HTTP/2 REFUSED_STREAM): whether and when to send
//! again is `apply`'s decision, made from the [`ApiError`] class.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::{
    self, BotUser, BroadcastV1, BroadcastV2, ConversationItem, Page, TemplateMessage,
};
use super::classify::{BodyError, CallContext, describe};
use super::config::{ClientConfig, ConfigError, Secret};
use super::error::{ApiError, Unusable};
use super::request::{Method, Request};

/// Answers longer than this are refused rather than read into memory (a page of 500
/// conversation items is well under 1 MiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// A list that has not ended after this many pages is a server that ignores `page_number`.
const MAX_PAGES: u32 = 10_000;
/// How long an idle pooled connection is kept for the next request.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// TCP keep-alive probes, so a silently dropped connection is noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// Tries of [`Client::reach`] before a server that does not answer is reported (about 1.4 s
/// of pauses in all).
const REACH_ATTEMPTS: u32 = 4;
/// The longest [`Client::reach`] takes: a server that hangs is reported after this long.
pub const REACH_DEADLINE: Duration = Duration::from_secs(8);

/// A send Engati accepted (envelope code 1000). Accepted is not delivered: WhatsApp may still
/// fail to deliver it later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The envelope's code: 1000.
    pub code: i64,
    /// The envelope's message, if any.
    pub message: Option<String>,
    /// The whole answer, e.g. with a WhatsApp message id.
    pub body: Value,
}

/// The Engati API client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    auth: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's Debug redacts the key; the header value is left out entirely.
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client and its connection pool.
    pub fn new(config: ClientConfig) -> Result<Client, ConfigError> {
        let bad_key = || ConfigError::BadKey {
            var: config.api_key_env().to_owned(),
        };
        // The key as-is, not base64 of user:password: that is what Engati expects.
        let mut auth = HeaderValue::from_str(&format!("Basic {}", config.api_key().expose()))
            .map_err(|_| bad_key())?;
        // Keeps the value out of reqwest's Debug output and out of HTTP/2 header compression
        // tables.
        auth.set_sensitive(true);

        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout())
            .connect_timeout(config.connect_timeout())
            .pool_max_idle_per_host(usize::try_from(config.concurrency()).unwrap_or(usize::MAX))
            .pool_idle_timeout(POOL_IDLE)
            .tcp_keepalive(TCP_KEEPALIVE)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(TCP_KEEPALIVE)
            // Following a 301/302 would turn a POST into a GET and drop its body; and a redirect
            // to another host would need the key re-sent there. Either way: report, don't follow.
            .redirect(reqwest::redirect::Policy::none());
        if config.is_loopback() {
            // An HTTP(S)_PROXY meant for the internet must not swallow calls to a local emulator.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| ConfigError::Build {
            reason: config.api_key().scrub(&describe(&e)),
        })?;
        Ok(Client {
            http,
            config: Arc::new(config),
            auth,
        })
    }

    /// The settings the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends a request exactly as it is (plan files hold these) and expects an envelope with
    /// code 1000.
    pub async fn execute(&self, request: &Request) -> Result<Accepted, ApiError> {
        let (status, body) = self.call(request, true).await?;
        let message = body
            .get("status")
            .and_then(|s| s.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Accepted {
            status,
            code: api::SUCCESS,
            message,
            body,
        })
    }

    /// Sends one WhatsApp template message.
    pub async fn send_template(&self, message: &TemplateMessage) -> Result<Accepted, ApiError> {
        let c = &self.config;
        self.execute(&Request::template(c.customer_id(), c.bot_key(), message))
            .await
    }

    /// Creates a v1 broadcast (text messages to channel user ids).
    pub async fn broadcast_v1(&self, broadcast: &BroadcastV1) -> Result<Accepted, ApiError> {
        let c = &self.config;
        self.execute(&Request::broadcast_v1(
            c.customer_id(),
            c.bot_key(),
            broadcast,
        ))
        .await
    }

    /// Creates a v2 broadcast (a template to a list of users).
    pub async fn broadcast_v2(&self, broadcast: &BroadcastV2) -> Result<Accepted, ApiError> {
        let c = &self.config;
        self.execute(&Request::broadcast_v2(
            c.customer_id(),
            c.bot_key(),
            broadcast,
        ))
        .await
    }

    /// Starts a flow for a user through the trigger API chosen by `api.trigger_api`.
    pub async fn trigger(
        &self,
        flow_key: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Accepted, ApiError> {
        let c = &self.config;
        let request = Request::trigger(
            c.customer_id(),
            c.bot_key(),
            flow_key,
            attributes,
            c.trigger_api(),
        );
        self.execute(&request).await
    }

    /// One page of the users whose `attribute` equals `value` (pages count from 0).
    pub async fn users_page(
        &self,
        attribute: &str,
        value: &str,
        page_number: u32,
    ) -> Result<Page<BotUser>, ApiError> {
        let request = self.users_request(attribute, value, page_number);
        self.page(&request, "users", page_number).await
    }

    /// Every user whose `attribute` equals `value`, reading page after page.
    pub async fn users(&self, attribute: &str, value: &str) -> Result<Vec<BotUser>, ApiError> {
        self.all_pages("users", |n| self.users_request(attribute, value, n))
            .await
    }

    /// Whether the API can be used at all, asked before an apply records anything: one read
    /// (a page of one user with an attribute nobody has), tried a few times for at most
    /// [`REACH_DEADLINE`]. An answer from Engati (a page, or an error about the request) means
    /// yes; no answer (refused, DNS, TLS, a timeout, a closed connection), an answer that is
    /// not Engati's, a rejected key, or an unknown customer or bot means no.
    pub async fn reach(&self) -> Result<(), Unusable> {
        let c = &self.config;
        let request = Request::users(
            c.customer_id(),
            c.bot_key(),
            "herald_reachability_check",
            "-",
            0,
            1,
        );
        let unusable = |cause| Unusable {
            base_url: c.base_url().to_string(),
            cause,
        };
        let tries = async {
            let mut wait = Duration::from_millis(200);
            let mut attempt = 1;
            loop {
                // Only a page of users (read as every Users API read is) is Engati answering.
                let error = match self.call(&request, false).await {
                    Ok((status, body)) => match read_page::<BotUser>(&body, "users", 0, 1) {
                        Ok(_) => return Ok(()),
                        Err(detail) => self.context(&request).protocol(status, detail),
                    },
                    Err(e) => e,
                };
                let fatal = matches!(
                    error,
                    ApiError::KeyRejected { .. }
                        | ApiError::NotFound { .. }
                        | ApiError::Protocol { .. }
                ) || matches!(&error, ApiError::Rejected { code: 2003, .. });
                // A 5xx says nothing about the API being there: a proxy answers them too.
                let unanswered = matches!(
                    error,
                    ApiError::NotSent { .. }
                        | ApiError::OutcomeUnknown { .. }
                        | ApiError::Server { .. }
                );
                if fatal || (unanswered && attempt == REACH_ATTEMPTS) {
                    return Err(unusable(error));
                }
                if !unanswered {
                    // Engati answered, about the request: the API is there.
                    return Ok(());
                }
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
        };
        match tokio::time::timeout(REACH_DEADLINE, tries).await {
            Ok(result) => result,
            Err(_) => Err(unusable(ApiError::NotSent {
                endpoint: request.describe(),
                host: c.base_url().host_str().unwrap_or("?").to_owned(),
                reason: format!("no answer within {} s", REACH_DEADLINE.as_secs()),
            })),
        }
    }

    /// One page of a user's conversation history (pages count from 0).
    pub async fn conversations_page(
        &self,
        channel_user_id: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        page_number: u32,
    ) -> Result<Page<ConversationItem>, ApiError> {
        let request = self.conversations_request(channel_user_id, start_ms, end_ms, page_number);
        self.page(&request, "conversations", page_number).await
    }

    /// A user's whole conversation history between two UTC epoch-millisecond times (`None`:
    /// unbounded), reading page after page.
    pub async fn conversations(
        &self,
        channel_user_id: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    ) -> Result<Vec<ConversationItem>, ApiError> {
        self.all_pages("conversations", |n| {
            self.conversations_request(channel_user_id, start_ms, end_ms, n)
        })
        .await
    }

    fn users_request(&self, attribute: &str, value: &str, page_number: u32) -> Request {
        let c = &self.config;
        Request::users(
            c.customer_id(),
            c.bot_key(),
            attribute,
            value,
            page_number,
            c.page_size(),
        )
    }

    fn conversations_request(
        &self,
        channel_user_id: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        page_number: u32,
    ) -> Request {
        let c = &self.config;
        Request::conversations(
            c.customer_id(),
            c.bot_key(),
            channel_user_id,
            start_ms,
            end_ms,
            page_number,
            c.page_size(),
        )
    }

    /// Reads pages from 0 until one is short or empty, or `totalPages` is reached.
    async fn all_pages<T>(
        &self,
        key: &str,
        make: impl Fn(u32) -> Request,
    ) -> Result<Vec<T>, ApiError>
    where
        T: DeserializeOwned + PartialEq,
    {
        let mut all: Vec<T> = Vec::new();
        let mut previous_len = 0;
        for number in 0..MAX_PAGES {
            let request = make(number);
            let page: Page<T> = self.page(&request, key, number).await?;
            let len = page.items.len();
            // A server that ignores page_number returns page 0 forever; stop rather than loop.
            let previous = &all[all.len().saturating_sub(previous_len)..];
            if number > 0 && len > 0 && previous == &page.items[..] {
                return Err(self.context(&request).protocol(
                    200,
                    format!(
                        "page {number} repeats page {}: the server seems to ignore page_number",
                        number - 1
                    ),
                ));
            }
            let last = len == 0
                || len < self.config.page_size() as usize
                || page.total_pages.is_some_and(|t| number + 1 >= t);
            all.extend(page.items);
            previous_len = len;
            if last {
                return Ok(all);
            }
        }
        Err(self.context(&make(MAX_PAGES)).protocol(
            200,
            format!("the list did not end within {MAX_PAGES} pages"),
        ))
    }

    async fn page<T: DeserializeOwned>(
        &self,
        request: &Request,
        key: &str,
        page_number: u32,
    ) -> Result<Page<T>, ApiError> {
        let (status, body) = self.call(request, false).await?;
        read_page(&body, key, page_number, self.config.page_size())
            .map_err(|detail| self.context(request).protocol(status, detail))
    }

    fn context(&self, request: &Request) -> CallContext<'_> {
        CallContext {
            config: &self.config,
            endpoint: request.describe(),
        }
    }

    /// One HTTP exchange: returns the status and JSON of a successful answer, or the error class.
    async fn call(&self, request: &Request, need_envelope: bool) -> Result<(u16, Value), ApiError> {
        let ctx = self.context(request);
        let url = self
            .url(request)
            .map_err(|unsendable| ApiError::InvalidRequest {
                endpoint: ctx.endpoint.clone(),
                detail: unsendable.to_string(),
            })?;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json");
        if let Some(bytes) = request.body_bytes() {
            builder = builder.body(bytes);
        }
        let started = Instant::now();
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                let err = ctx.transport(&e);
                tracing::debug!(endpoint = %ctx.endpoint, class = err.code(), error = %err, "engati call failed");
                return Err(err);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(response, self.config.api_key()).await;
        tracing::debug!(
            endpoint = %ctx.endpoint,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "engati call answered"
        );
        let mut value = ctx
            .response(status, retry_after.as_deref(), body, need_envelope)
            .inspect_err(|e| {
                tracing::debug!(endpoint = %ctx.endpoint, class = e.code(), error = %e, "engati call refused");
            })?;
        scrub_value(&mut value, self.config.api_key());
        Ok((status, value))
    }

    /// The base URL with the request's path appended and its query encoded.
    fn url(&self, request: &Request) -> Result<url::Url, super::request::Unsendable> {
        request.check()?;
        let mut url = self.config.base_url().clone();
        let path = format!("{}{}", url.path().trim_end_matches('/'), request.path);
        url.set_path(&path);
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        Ok(url)
    }
}

/// Reads a body up to [`MAX_BODY_BYTES`]; the total timeout still applies while reading.
async fn read_body(mut response: reqwest::Response, secret: &Secret) -> Result<Vec<u8>, BodyError> {
    let mut buf = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(BodyError::TooLarge(MAX_BODY_BYTES));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => {
                let reason = if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    secret.scrub(&describe(&e))
                };
                return Err(BodyError::Transport(reason));
            }
        }
    }
}

/// Replaces the key in every string of a server's answer, in case the server echoes headers.
fn scrub_value(value: &mut Value, secret: &Secret) {
    match value {
        Value::String(s) if s.contains(secret.expose()) => *s = secret.scrub(s),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(v, secret)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_value(v, secret)),
        _ => {}
    }
}

/// One page of a list answer. The shape is assumed (see api.rs): the list is `data.<key>`,
/// `data.content`, `data` itself, or the whole answer; `data.totalPages` is optional.
fn read_page<T: DeserializeOwned>(
    body: &Value,
    key: &str,
    page_number: u32,
    page_size: u32,
) -> Result<Page<T>, String> {
    let data = body.get("data");
    let list = match data {
        Some(Value::Array(items)) => Some(items),
        Some(Value::Object(d)) => [key, "content"]
            .iter()
            .find_map(|k| d.get(*k).and_then(Value::as_array)),
        _ => body.as_array(),
    };
    let Some(list) = list else {
        return Err(format!(
            "no list of {key} in it (looked for data.{key}, data.content and data)"
        ));
    };
    let items = list
        .iter()
        .enumerate()
        .map(|(i, item)| {
            T::deserialize(item).map_err(|e| format!("item {i} of page {page_number}: {e}"))
        })
        .collect::<Result<Vec<T>, String>>()?;
    let total_pages = data
        .and_then(|d| d.get("totalPages"))
        .and_then(Value::as_u64)
        .map(|t| u32::try_from(t).unwrap_or(u32::MAX));
    Ok(Page {
        items,
        page_number,
        page_size,
        total_pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn page_shapes() {
        let users = json!({"status": {"code": 1000}, "data": {"users": [{"channelUserId": "91"}], "totalPages": 3}});
        let page: Page<BotUser> = read_page(&users, "users", 0, 500).unwrap();
        assert_eq!(page.items[0].channel_user_id.as_deref(), Some("91"));
        assert_eq!(page.total_pages, Some(3));
        let content = json!({"data": {"content": [{"phoneNumber": "+91"}]}});
        let page: Page<BotUser> = read_page(&content, "users", 1, 500).unwrap();
        assert_eq!(page.items.len(), 1);
        let bare = json!({"data": []});
        let page: Page<BotUser> = read_page(&bare, "users", 0, 500).unwrap();
        assert!(page.items.is_empty());
        let wrong = json!({"data": {"people": []}});
        assert!(read_page::<BotUser>(&wrong, "users", 0, 500).is_err());
        let bad_item = json!({"data": {"conversations": [{"timestamp": "x"}]}});
        assert!(read_page::<ConversationItem>(&bad_item, "conversations", 0, 500).is_err());
    }

    #[test]
    fn scrubbing_reaches_nested_strings() {
        let secret = Secret::new("sekrit");
        let mut v = json!({"a": ["x sekrit y", {"b": "sekrit"}], "c": 1});
        scrub_value(&mut v, &secret);
        assert_eq!(
            v,
            json!({"a": ["x [redacted] y", {"b": "[redacted]"}], "c": 1})
        );
    }
}
