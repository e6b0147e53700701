//! How an HTTP answer or a transport failure becomes an [`ApiError`]: the status decides first
//! (401/403, 404, 429/503, 5xx, 3xx), then the envelope, then whether the body can be read.
//! Kept apart from the error type so the rules read top to bottom in one place.
//!
//! reqwest's `is_connect()` is the line between "never left" and "may have arrived": hyper only
//! reports a connect error before any byte of the request is written.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::api::{self, Envelope};
use super::config::{ClientConfig, Secret};
use super::error::ApiError;

/// At most this much of a server's text goes into an error message.
const EXCERPT_CHARS: usize = 300;

/// What a call needs to name itself in errors and to scrub server text.
pub(crate) struct CallContext<'a> {
    pub config: &'a ClientConfig,
    pub endpoint: String,
}

impl CallContext<'_> {
    fn scrub(&self, text: &str) -> String {
        excerpt(&self.config.api_key().scrub(text))
    }

    /// A transport failure from `send()`, before any response headers arrived.
    pub(crate) fn transport(&self, err: &reqwest::Error) -> ApiError {
        let reason = self.scrub(&describe(err));
        // `is_connect` covers refused connections, DNS, connect timeouts and TLS handshakes:
        // hyper reports them before a byte of the request is written. A builder error is
        // raised before connecting at all.
        if err.is_connect() {
            ApiError::NotSent {
                endpoint: self.endpoint.clone(),
                host: host_of(self.config.api_key(), self.config.base_url()),
                reason,
            }
        } else if err.is_builder() {
            ApiError::InvalidRequest {
                endpoint: self.endpoint.clone(),
                detail: reason,
            }
        } else {
            // Anything else happened on an open connection, after (or while) the request was
            // written: a timeout, a reset, a closed connection. The server may have acted on it.
            let reason = if err.is_timeout() {
                format!("timed out after {} ms", self.config.timeout().as_millis())
            } else {
                reason
            };
            ApiError::OutcomeUnknown {
                endpoint: self.endpoint.clone(),
                reason,
            }
        }
    }

    /// Sorts an HTTP answer. `body` is `Err` when the body could not be read in full (timeout,
    /// reset, too large). Returns the parsed JSON of a 2xx answer whose envelope, if any, says
    /// 1000; `need_envelope` makes a missing envelope a protocol error (sends must confirm).
    // Long because it is the classification table itself, one arm per kind of answer, in the
    // order they are tried; split up, the precedence between the arms would be hidden.
    pub(crate) fn response(
        &self,
        status: u16,
        retry_after: Option<&str>,
        body: Result<Vec<u8>, BodyError>,
        need_envelope: bool,
    ) -> Result<Value, ApiError> {
        let endpoint = self.endpoint.clone();
        // The status alone decides these; their bodies are never needed.
        match status {
            401 | 403 => {
                return Err(ApiError::KeyRejected {
                    endpoint,
                    status,
                    key_env: self.config.api_key_env().to_owned(),
                });
            }
            404 => {
                return Err(ApiError::NotFound {
                    endpoint,
                    customer_id: self.config.customer_id(),
                    bot_key: self.config.bot_key().to_owned(),
                });
            }
            429 | 503 => {
                return Err(ApiError::SlowDown {
                    endpoint,
                    status,
                    retry_after: retry_after.and_then(parse_retry_after),
                });
            }
            500..=599 => return Err(ApiError::Server { endpoint, status }),
            300..=399 => {
                return Err(ApiError::Protocol {
                    endpoint,
                    status,
                    detail:
                        "a redirect; herald does not follow redirects, so that a POST is never \
                             silently turned into a GET"
                            .to_owned(),
                });
            }
            _ => {}
        }
        let success = (200..300).contains(&status);
        let bytes = match body {
            Ok(b) => b,
            // A 2xx whose envelope never arrived: it may carry 1000 or a rejection; unknown.
            Err(e) if success => {
                return Err(ApiError::OutcomeUnknown {
                    endpoint,
                    reason: format!("HTTP {status}, but the body was lost: {e}"),
                });
            }
            // A 4xx refusal stands whatever its body said.
            Err(_) => Vec::new(),
        };
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        let envelope = json
            .as_ref()
            .and_then(|v| serde_json::from_value::<Envelope>(v.clone()).ok());
        if let Some(env) = &envelope
            && env.status.code != api::SUCCESS
        {
            let (name, meaning) = api::status_meaning(env.status.code);
            return Err(ApiError::Rejected {
                endpoint,
                status,
                code: env.status.code,
                name,
                meaning,
                message: env.status.message.as_deref().map(|m| self.scrub(m)),
            });
        }
        if !success {
            let text = String::from_utf8_lossy(&bytes);
            return Err(ApiError::BadRequest {
                endpoint,
                status,
                detail: (!text.trim().is_empty()).then(|| self.scrub(text.trim())),
            });
        }
        match (json, envelope) {
            (Some(v), Some(_)) => Ok(v),
            (Some(v), None) if !need_envelope => Ok(v),
            (Some(_), None) => Err(ApiError::Protocol {
                endpoint,
                status,
                detail: "no `status` envelope, so herald cannot tell whether it was accepted"
                    .to_owned(),
            }),
            (None, _) => {
                let text = String::from_utf8_lossy(&bytes);
                Err(ApiError::Protocol {
                    endpoint,
                    status,
                    detail: if text.trim().is_empty() {
                        "the body is empty, not JSON".to_owned()
                    } else {
                        format!("not JSON: {}", self.scrub(text.trim()))
                    },
                })
            }
        }
    }

    /// A list answer whose items could not be read.
    pub(crate) fn protocol(&self, status: u16, detail: String) -> ApiError {
        ApiError::Protocol {
            endpoint: self.endpoint.clone(),
            status,
            detail: self.scrub(&detail),
        }
    }
}

/// Why a response body was not read in full.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than herald reads.
    TooLarge(usize),
    /// The transport failed part way (timeout, reset).
    Transport(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge(limit) => write!(f, "it is larger than {limit} bytes"),
            BodyError::Transport(reason) => f.write_str(reason),
        }
    }
}

/// The innermost cause of a reqwest error (e.g. "Connection refused (os error 111)"), without
/// the URL: reqwest's own text is "error sending request for url (...)", which says nothing.
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

fn host_of(secret: &Secret, url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("the API host");
    let text = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    secret.scrub(&text)
}

/// Cuts server text to a readable length, on a character boundary.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in the past means
/// "now" (zero); anything unreadable is ignored, leaving the pause to apply's backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:01 GMT"),
            Some(Duration::ZERO)
        );
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let text = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let wait = parse_retry_after(&text).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        let long = "é".repeat(400);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt("short"), "short");
    }
}
