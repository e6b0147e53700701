//! [`ClientConfig`]: the client's settings, built from herald.yaml's `api:` section and the API
//! key read from the environment; [`Secret`], which keeps that key out of every printout; and
//! [`ConfigError`], what can be wrong with them before anything is sent.
//!
//! The checks live here rather than in `validate` because they need the environment (the key)
//! and a command-line flag (`--insecure-http`), which validating files does not have.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use url::{Host, Url};

use super::request::DEFAULT_PAGE_SIZE;
use crate::model::{Api, TriggerApi};

/// Seconds to wait for an answer when herald.yaml does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a TCP (and TLS) connection; a failed connect means nothing was sent.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight at once when herald.yaml does not say.
pub const DEFAULT_CONCURRENCY: u32 = 16;

/// A credential. Debug and Display print `[redacted]`; only [`Secret::expose`] reveals it, and
/// it is not `Serialize`, so it cannot end up in a plan or state file by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself: only for building the Authorization header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the credential replaced by `[redacted]`: for text that
    /// came from a server, which might echo the header back.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything the client needs: where to send, as whom, and how long to wait.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    base_url: Url,
    customer_id: u64,
    bot_key: String,
    api_key_env: String,
    api_key: Secret,
    trigger_api: TriggerApi,
    timeout: Duration,
    connect_timeout: Duration,
    concurrency: u32,
    page_size: u32,
    rate_limit: Option<f64>,
}

impl ClientConfig {
    /// Builds the configuration from herald.yaml's `api:` settings, reading the key from the
    /// variable named by `api_key_env` through `env_lookup` (`|name| std::env::var(name).ok()`
    /// in the CLI, a closure in tests). Plain `http://` is refused for anything but loopback
    /// unless `insecure_http` (the `--insecure-http` flag) is set.
    pub fn from_settings(
        api: &Api,
        env_lookup: impl Fn(&str) -> Option<String>,
        insecure_http: bool,
    ) -> Result<ClientConfig, ConfigError> {
        let base_url = check_base_url(&api.base_url, insecure_http)?;
        let var = api.api_key_env.clone();
        // Surrounding whitespace is never part of a key; it comes from `.env` files and pastes.
        let key = match env_lookup(&var) {
            None => return Err(ConfigError::MissingKey { var }),
            Some(k) if k.trim().is_empty() => return Err(ConfigError::EmptyKey { var }),
            Some(k) => k.trim().to_owned(),
        };
        // The key goes into a header as-is, so it must be visible ASCII; say so without echoing it.
        if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(ConfigError::BadKey { var });
        }
        let rate_limit = match &api.rate_limit {
            None => None,
            Some(text) => Some(parse_rate(text).ok_or_else(|| ConfigError::BadRateLimit {
                value: text.clone(),
            })?),
        };
        let timeout = api.timeout_seconds.map_or(DEFAULT_TIMEOUT, |s| {
            Duration::from_secs(u64::from(s.max(1)))
        });
        Ok(ClientConfig {
            base_url,
            customer_id: api.customer_id,
            bot_key: api.bot_key.clone(),
            api_key_env: var,
            api_key: Secret::new(key),
            trigger_api: api.trigger_api,
            timeout,
            connect_timeout: connect_timeout_for(timeout),
            concurrency: api.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
            page_size: DEFAULT_PAGE_SIZE,
            rate_limit,
        })
    }

    /// Replaces the total timeout (and keeps the connect timeout below it, so a slow connect is
    /// reported as "not sent" rather than "outcome unknown").
    pub fn with_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.timeout = timeout;
        self.connect_timeout = connect_timeout_for(timeout);
        self
    }

    /// Replaces the page size of Users and Conversations calls (at least 1).
    pub fn with_page_size(mut self, page_size: u32) -> ClientConfig {
        self.page_size = page_size.max(1);
        self
    }

    /// The API's base URL, without a trailing slash in its path.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }
    /// The Engati customer id.
    pub fn customer_id(&self) -> u64 {
        self.customer_id
    }
    /// The bot key.
    pub fn bot_key(&self) -> &str {
        &self.bot_key
    }
    /// The name of the variable the key came from (what error messages mention).
    pub fn api_key_env(&self) -> &str {
        &self.api_key_env
    }
    /// The key.
    pub fn api_key(&self) -> &Secret {
        &self.api_key
    }
    /// Which trigger endpoint [`Client::trigger`](super::Client::trigger) calls.
    pub fn trigger_api(&self) -> TriggerApi {
        self.trigger_api
    }
    /// How long to wait for a whole answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// How long to wait for a connection.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Requests in flight at once (sizes the connection pool; apply enforces it).
    pub fn concurrency(&self) -> u32 {
        self.concurrency
    }
    /// Items asked for per page.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }
    /// `api.rate_limit` in requests per second, for apply to enforce.
    pub fn rate_limit(&self) -> Option<f64> {
        self.rate_limit
    }
    /// Whether the base URL is a loopback address (the emulator): no proxy is used for it.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.base_url)
    }
}

/// A connect timeout strictly below the total one, capped at [`DEFAULT_CONNECT_TIMEOUT`].
fn connect_timeout_for(timeout: Duration) -> Duration {
    DEFAULT_CONNECT_TIMEOUT.min(timeout / 2)
}

/// `80/s` or `0.5/s` as requests per second.
fn parse_rate(text: &str) -> Option<f64> {
    let n: f64 = text.strip_suffix("/s")?.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some(n)
}

fn check_base_url(text: &str, insecure_http: bool) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::BadBaseUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(
            "the scheme must be https:// (or http:// for a local emulator)",
        ));
    }
    if url.host().is_none() {
        return Err(bad("there is no host"));
    }
    // Credentials in the URL would be written into herald.yaml and sent besides the key.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "it holds a user name or password; the key belongs in the environment",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it holds a query or fragment"));
    }
    if url.scheme() == "http" && !insecure_http && !is_loopback(&url) {
        return Err(ConfigError::InsecureHttp {
            url: text.to_owned(),
        });
    }
    // Paths are appended to the base's path, so `https://host/prefix/` and `https://host/prefix`
    // mean the same.
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

/// Whether `base_url` is a loopback address (the emulator); false for what is not a URL.
pub fn is_loopback_url(base_url: &str) -> bool {
    Url::parse(base_url).is_ok_and(|url| is_loopback(&url))
}

/// 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and `localhost`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            IpAddr::V6(ip).is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// What stops a client from being built. Never holds the key, only the variable's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable named by `api.api_key_env` is not set.
    MissingKey {
        /// The variable's name.
        var: String,
    },
    /// The variable is set but empty.
    EmptyKey {
        /// The variable's name.
        var: String,
    },
    /// The key holds characters an HTTP header cannot carry.
    BadKey {
        /// The variable's name.
        var: String,
    },
    /// `api.base_url` is not a usable URL.
    BadBaseUrl {
        /// As written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `http://` to a host that is not loopback, without `--insecure-http`.
    InsecureHttp {
        /// As written.
        url: String,
    },
    /// `api.rate_limit` is not `N/s`.
    BadRateLimit {
        /// As written.
        value: String,
    },
    /// The HTTP client could not be built (TLS roots, system settings).
    Build {
        /// The reason.
        reason: String,
    },
}

impl ConfigError {
    /// A stable code, e.g. `api::key-missing`.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::MissingKey { .. } => "api::key-missing",
            ConfigError::EmptyKey { .. } => "api::key-empty",
            ConfigError::BadKey { .. } => "api::key-invalid",
            ConfigError::BadBaseUrl { .. } => "api::base-url",
            ConfigError::InsecureHttp { .. } => "api::insecure-http",
            ConfigError::BadRateLimit { .. } => "api::rate-limit",
            ConfigError::Build { .. } => "api::client",
        }
    }

    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            ConfigError::MissingKey { var } | ConfigError::EmptyKey { var } => format!(
                "export {var}=<your key> (create one in Engati's portal under Integrations > \
                 Platform API), or point api.api_key_env in herald.yaml at the variable that holds it"
            ),
            ConfigError::BadKey { var } => format!(
                "copy the key again into {var}: it should be one line of printable characters"
            ),
            ConfigError::BadBaseUrl { .. } => {
                "set api.base_url in herald.yaml to e.g. https://api.engati.ai".to_owned()
            }
            ConfigError::InsecureHttp { .. } => "use https://, or pass --insecure-http if you \
                 really mean to send the API key unencrypted (e.g. to an emulator on another host)"
                .to_owned(),
            ConfigError::BadRateLimit { .. } => {
                "write api.rate_limit as requests per second, e.g. 80/s".to_owned()
            }
            ConfigError::Build { .. } => "check the system's TLS and proxy settings".to_owned(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingKey { var } => write!(
                f,
                "the environment variable {var} (api.api_key_env in herald.yaml) is not set; \
                 herald reads the Engati API key from it"
            ),
            ConfigError::EmptyKey { var } => write!(
                f,
                "the environment variable {var} (api.api_key_env in herald.yaml) is empty; \
                 herald reads the Engati API key from it"
            ),
            ConfigError::BadKey { var } => write!(
                f,
                "the API key in {var} holds line breaks or other characters an HTTP header \
                 cannot carry"
            ),
            ConfigError::BadBaseUrl { url, reason } => {
                write!(
                    f,
                    "api.base_url `{url}` in herald.yaml is not usable: {reason}"
                )
            }
            ConfigError::InsecureHttp { url } => write!(
                f,
                "api.base_url `{url}` in herald.yaml is plain http:// to a host that is not \
                 loopback: the API key would cross the network unencrypted"
            ),
            ConfigError::BadRateLimit { value } => {
                write!(f, "api.rate_limit `{value}` in herald.yaml is not `N/s`")
            }
            ConfigError::Build { reason } => {
                write!(f, "the HTTP client could not be set up: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "http://127.0.0.1:8787",
            "http://127.9.9.9",
            "http://[::1]:80",
            "http://localhost:1/",
            "http://LOCALHOST",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(check_base_url(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://api.engati.ai",
            "http://10.0.0.1",
            "http://localhost.evil.com",
            "http://[::2]",
        ] {
            assert!(
                matches!(
                    check_base_url(refused, false),
                    Err(ConfigError::InsecureHttp { .. })
                ),
                "{refused}"
            );
            assert!(check_base_url(refused, true).is_ok());
        }
    }

    #[test]
    fn base_url_shapes() {
        assert_eq!(
            check_base_url("https://h.example/prefix/", false)
                .unwrap()
                .as_str(),
            "https://h.example/prefix"
        );
        assert!(check_base_url("ftp://h", false).is_err());
        assert!(check_base_url("https://u:p@h", false).is_err());
        assert!(check_base_url("https://h/?a=1", false).is_err());
    }

    #[test]
    fn rates_and_timeouts() {
        assert_eq!(parse_rate("80/s"), Some(80.0));
        assert_eq!(parse_rate("0.5/s"), Some(0.5));
        assert_eq!(parse_rate("0/s"), None);
        assert_eq!(parse_rate("80"), None);
        assert_eq!(
            connect_timeout_for(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        assert_eq!(
            connect_timeout_for(Duration::from_millis(300)),
            Duration::from_millis(150)
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("k3y");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(s.scrub("a k3y b k3y"), "a [redacted] b [redacted]");
    }
}
