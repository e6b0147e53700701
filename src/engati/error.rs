//! [`ApiError`]: every way a call to Engati can fail, sorted into the classes `apply` decides on
//! (retry, record as failed, stop, or record as "outcome unknown"), and the mapping from HTTP
//! answers and transport failures to those classes.
//!
//! The one distinction that matters most: a request that **never left** (connection refused, DNS,
//! connect timeout) is safe to send again, while a request that **was written** and then lost its
//! answer (timeout, broken connection) may have been delivered, so resending it could message a
//! customer twice. The second is [`ApiError::OutcomeUnknown`], never retried automatically.
//!
//! No variant ever holds the API key: errors name the environment variable, and any text that
//! came from the server passes through [`Secret::scrub`](super::Secret::scrub) first. The mapping
//! itself lives in [`classify`](super::classify).

use std::fmt;
use std::time::Duration;

use super::ConfigError;

/// Why a call to Engati did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 401/403: the key was refused, so every further call will be too.
    KeyRejected {
        /// The call, e.g. `POST /whatsapp-api/...`.
        endpoint: String,
        /// 401 or 403.
        status: u16,
        /// The variable the key came from (never the key).
        key_env: String,
    },
    /// 404: no such endpoint for this customer and bot, so every further call fails too.
    NotFound {
        /// The call.
        endpoint: String,
        /// `api.customer_id`.
        customer_id: u64,
        /// `api.bot_key`.
        bot_key: String,
    },
    /// Engati answered with an envelope whose code is not 1000 (even on HTTP 200).
    Rejected {
        /// The call.
        endpoint: String,
        /// The HTTP status it came with.
        status: u16,
        /// The envelope's code, e.g. 1002.
        code: i64,
        /// Its name, e.g. `USER_IS_OUTSIDE_CONVERSATION_WINDOW`.
        name: &'static str,
        /// What it means for a user.
        meaning: &'static str,
        /// The envelope's message, if any.
        message: Option<String>,
    },
    /// Another 4xx without a readable envelope: the request was refused as it stands.
    BadRequest {
        /// The call.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, if any.
        detail: Option<String>,
    },
    /// 429 or 503: too fast or too busy; nothing was done, try again after a pause.
    SlowDown {
        /// The call.
        endpoint: String,
        /// 429 or 503.
        status: u16,
        /// How long the server asked to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// Another 5xx.
    Server {
        /// The call.
        endpoint: String,
        /// The HTTP status.
        status: u16,
    },
    /// The request never left: connection refused, DNS failure, connect timeout, TLS handshake.
    NotSent {
        /// The call.
        endpoint: String,
        /// The host it was meant for.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// The request was written but no complete answer came back (timeout, broken connection):
    /// it may have been delivered.
    OutcomeUnknown {
        /// The call.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer herald cannot read (not JSON, no envelope, a redirect, too large).
    Protocol {
        /// The call.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// What is wrong with it.
        detail: String,
    },
    /// The request itself cannot be sent (e.g. a hand-edited plan file); nothing was sent.
    InvalidRequest {
        /// The call.
        endpoint: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl ApiError {
    /// Whether sending the same request again later is safe and may succeed: the server said
    /// "slow down", or the request never left.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApiError::SlowDown { .. } | ApiError::NotSent { .. })
    }

    /// Whether the request may have been delivered although no success was seen: apply records
    /// it as unknown (not failed) and never resends it on its own. True for lost answers, for a
    /// 2xx herald cannot read, and for 502/504, which a gateway answers when the server behind
    /// it did not reply in time.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ApiError::OutcomeUnknown { .. } => true,
            ApiError::Protocol { status, .. } => (200..300).contains(status),
            ApiError::Server { status, .. } => matches!(status, 502 | 504),
            _ => false,
        }
    }

    /// Whether every further call will fail the same way, so apply should stop instead of
    /// failing recipient after recipient: the key was refused, the endpoint or bot does not
    /// exist (404, 2003 BOT_NOT_FOUND), or the bot has no WhatsApp provider (2004).
    pub fn stops_apply(&self) -> bool {
        match self {
            ApiError::KeyRejected { .. } | ApiError::NotFound { .. } => true,
            ApiError::Rejected { code, .. } => matches!(code, 2003 | 2004),
            _ => false,
        }
    }

    /// The `Retry-After` the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::SlowDown { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The call, e.g. `POST /whatsapp-api/v1.0/customer/61179/bot/.../template`.
    pub fn endpoint(&self) -> &str {
        match self {
            ApiError::KeyRejected { endpoint, .. }
            | ApiError::NotFound { endpoint, .. }
            | ApiError::Rejected { endpoint, .. }
            | ApiError::BadRequest { endpoint, .. }
            | ApiError::SlowDown { endpoint, .. }
            | ApiError::Server { endpoint, .. }
            | ApiError::NotSent { endpoint, .. }
            | ApiError::OutcomeUnknown { endpoint, .. }
            | ApiError::Protocol { endpoint, .. }
            | ApiError::InvalidRequest { endpoint, .. } => endpoint,
        }
    }

    /// A stable code, e.g. `api::key-rejected`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::KeyRejected { .. } => "api::key-rejected",
            ApiError::NotFound { .. } => "api::not-found",
            ApiError::Rejected { .. } => "api::rejected",
            ApiError::BadRequest { .. } => "api::bad-request",
            ApiError::SlowDown { .. } => "api::slow-down",
            ApiError::Server { .. } => "api::server",
            ApiError::NotSent { .. } => "api::not-sent",
            ApiError::OutcomeUnknown { .. } => "api::outcome-unknown",
            ApiError::Protocol { .. } => "api::protocol",
            ApiError::InvalidRequest { .. } => "api::invalid-request",
        }
    }

    /// How to fix it, or what herald does about it.
    pub fn help(&self) -> String {
        match self {
            ApiError::KeyRejected { key_env, .. } => format!(
                "the key may have been revoked or regenerated: create a new one in Engati's portal \
                 (Integrations > Platform API) and put it in {key_env}"
            ),
            ApiError::NotFound { .. } => "check api.customer_id, api.bot_key and api.base_url in \
                 herald.yaml; the v2 broadcast API is only enabled on request to Engati"
                .to_owned(),
            ApiError::Rejected { code, .. } => match code {
                1002 => "only template messages reach users outside the 24-hour window: send a \
                         template instead"
                    .to_owned(),
                2003 => "check api.customer_id and api.bot_key in herald.yaml".to_owned(),
                2004 => "configure a WhatsApp provider for the bot in Engati's portal".to_owned(),
                2005 | 2006 => "check the media link and type (JPEG/PNG images, MP4 videos, PDF \
                                documents)"
                    .to_owned(),
                _ => "the message above is Engati's; this recipient was not sent".to_owned(),
            },
            ApiError::BadRequest { .. } => "Engati refused the request as invalid; check the \
                 campaign's parameters against the approved template"
                .to_owned(),
            ApiError::SlowDown { .. } => "herald waits and retries; if this keeps happening, lower \
                 api.rate_limit or api.concurrency in herald.yaml"
                .to_owned(),
            ApiError::Server {
                status: 502 | 504, ..
            } => {
                "a gateway gave up waiting for Engati, which may still have sent the message: \
                 herald records it as unknown and does not resend it on its own"
                    .to_owned()
            }
            ApiError::Server { .. } => "a failure on Engati's side; herald does not resend on its \
                 own: try again later, and contact Engati support if it persists"
                .to_owned(),
            ApiError::NotSent { .. } => "nothing was sent, so retrying is safe; check api.base_url \
                 and the network"
                .to_owned(),
            ApiError::OutcomeUnknown { .. } => "the message may have been delivered: herald records \
                 it as unknown and never resends it on its own; check the recipient's \
                 conversation before resending"
                .to_owned(),
            ApiError::Protocol { status, .. } if (200..300).contains(status) => {
                "Engati said yes in a form herald does not understand, so the message may have been \
                 sent: herald records it as unknown and does not resend it on its own"
                    .to_owned()
            }
            ApiError::Protocol { .. } => {
                "check api.base_url: it may point at something other than the Engati API".to_owned()
            }
            ApiError::InvalidRequest { .. } => {
                "nothing was sent; the plan may have been edited by hand: run `herald plan` again"
                    .to_owned()
            }
        }
    }
}

// `fmt` is long because it is one arm per error class, each worded for the operator; the
// wording is easiest to keep consistent side by side.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::KeyRejected {
                endpoint,
                status,
                key_env,
            } => write!(
                f,
                "the API key was rejected (revoked or regenerated?): HTTP {status} for {endpoint} \
                 with the key from {key_env}"
            ),
            ApiError::NotFound {
                endpoint,
                customer_id,
                bot_key,
            } => write!(
                f,
                "HTTP 404 for {endpoint}: Engati has no such endpoint for customer {customer_id} \
                 and bot {bot_key}"
            ),
            ApiError::Rejected {
                endpoint,
                status,
                code,
                name,
                meaning,
                message,
            } => {
                write!(
                    f,
                    "Engati rejected {endpoint} (HTTP {status}): {code} {name}: {meaning}"
                )?;
                match message {
                    Some(m) if !m.is_empty() => write!(f, " (\"{m}\")"),
                    _ => Ok(()),
                }
            }
            ApiError::BadRequest {
                endpoint,
                status,
                detail,
            } => {
                write!(f, "Engati refused {endpoint} with HTTP {status}")?;
                match detail {
                    Some(d) if !d.is_empty() => write!(f, ": {d}"),
                    _ => Ok(()),
                }
            }
            ApiError::SlowDown {
                endpoint,
                status,
                retry_after,
            } => {
                write!(
                    f,
                    "Engati asked herald to slow down (HTTP {status}) at {endpoint}"
                )?;
                match retry_after {
                    Some(d) => write!(f, "; retry after {} s", d.as_secs()),
                    None => Ok(()),
                }
            }
            ApiError::Server { endpoint, status } => {
                write!(f, "Engati failed with HTTP {status} at {endpoint}")
            }
            ApiError::NotSent {
                endpoint,
                host,
                reason,
            } => write!(
                f,
                "could not reach {host} for {endpoint}: {reason}; nothing was sent"
            ),
            ApiError::OutcomeUnknown { endpoint, reason } => write!(
                f,
                "no answer to {endpoint} ({reason}): the request was sent and may have been \
                 delivered"
            ),
            ApiError::Protocol {
                endpoint,
                status,
                detail,
            } => write!(
                f,
                "Engati's answer to {endpoint} (HTTP {status}) cannot be read: {detail}"
            ),
            ApiError::InvalidRequest { endpoint, detail } => {
                write!(f, "{endpoint} cannot be sent: {detail}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

/// Why the API cannot be used at all, found by one read before an apply records anything
/// ([`super::Client::reach`]): nothing answered, something that is not Engati's API answered,
/// the key was rejected, or the customer and bot are not found.
#[derive(Debug, Clone, PartialEq)]
pub struct Unusable {
    /// `api.base_url`.
    pub base_url: String,
    /// The read's error.
    pub cause: ApiError,
}

impl Unusable {
    /// How to fix it.
    pub fn help(&self) -> String {
        match &self.cause {
            ApiError::KeyRejected { .. }
            | ApiError::NotFound { .. }
            | ApiError::Rejected { .. } => {
                format!("{}; nothing was sent or recorded", self.cause.help())
            }
            _ => "check api.base_url (and --env): it must be Engati's API, reachable from here; \
                  nothing was sent or recorded"
                .to_owned(),
        }
    }
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Engati API at {} cannot be used: {}",
            self.base_url, self.cause
        )
    }
}

impl std::error::Error for Unusable {}

/// Why a read of what Engati knows (a Users API audience, a conversation history) failed.
#[derive(Debug)]
pub enum ReadError {
    /// The client could not be set up: no key, a bad base URL.
    Setup(ConfigError),
    /// The API answered with an error, or did not answer.
    Api(ApiError),
    /// Nothing in this run can answer the read (no Users API, no async runtime).
    Unavailable(String),
}

impl ReadError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            ReadError::Setup(e) => e.help(),
            ReadError::Api(e) => e.help(),
            ReadError::Unavailable(_) => "run where the Engati API can be read, with its key \
                 set, or try the project against the built-in emulator (`--emulator`)"
                .to_owned(),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Setup(e) => e.fmt(f),
            ReadError::Api(e) => e.fmt(f),
            ReadError::Unavailable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ReadError {}
