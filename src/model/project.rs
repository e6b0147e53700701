//! `herald.yaml`: project settings (API endpoint, state backend, variables, environments).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// herald project settings (`herald.yaml` at the project root).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "herald project settings (herald.yaml)")]
pub struct Project {
    /// How herald reaches the Engati API.
    pub api: Api,
    /// Where herald records what was sent.
    #[serde(default)]
    pub state: StateConfig,
    /// Variables available to every template as `vars.NAME`. Overridden by an environment's `vars`,
    /// by `HERALD_VAR_NAME` environment variables and by `--var NAME=VALUE`, in that order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, VarValue>,
    /// Named overlays chosen with `--env NAME`; each replaces the fields it sets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Environment>,
    /// Which files a project may read besides its own, and how large. Every path a project
    /// names (`csv:`) must resolve, after symbolic links, to a regular file inside the project
    /// root or one of `files.allow`.
    #[serde(default, skip_serializing_if = "Files::is_default")]
    pub files: Files,
    /// How apply settles deliveries whose outcome is unknown.
    #[serde(default, skip_serializing_if = "ApplySettings::is_default")]
    pub apply: ApplySettings,
    /// Caps that stop a mistake from messaging thousands: a plan that breaks one is unsafe,
    /// and apply refuses it unless given `--force`.
    #[serde(default, skip_serializing_if = "Safety::is_default")]
    pub safety: Safety,
    /// Audiences whose recipients no campaign messages (opt-outs, complaints), unless the
    /// campaign says `suppress: false`. The plan shows how many each campaign left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppress: Vec<String>,
    /// The project's time zone (an IANA name, e.g. `Asia/Kolkata`): the zone of recipients
    /// whose zone neither `user.timezone` nor their phone's country code tells, the zone a
    /// country spread over several zones is taken to be in when it is one of them, and the
    /// zone plans show times in besides UTC. Default: `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The send window of every per-recipient campaign that sets none of its own: the hours
    /// and weekdays, in each recipient's local time, in which they may be messaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<super::window::Window>,
    /// The rate card (a `.yaml` or `.yml` file of the project, relative to herald.yaml, e.g.
    /// `pricing.yaml`): what each template message costs by category and calling code. Every
    /// plan then shows its estimated cost, per campaign and in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<String>,
    /// The most one apply may cost, in the rate card's currency (needs `pricing`): a plan
    /// estimated to cost more is unsafe, and apply refuses it unless given `--force`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// How often one person may hear from the brand: a recipient who got `max` messages of
    /// `categories` from any campaign in the last `per` (as state shows) is `capped`, and a
    /// later apply sends to them once they are under the cap again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap: Option<FrequencyCap>,
}

/// `frequency_cap:` in herald.yaml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    /// The most messages one recipient gets in any `per`.
    #[schemars(range(min = 1))]
    pub max: u32,
    /// The span the cap counts over: minutes, hours or days (`90m`, `24h`, `7d`).
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,3}(m|h|d)$"))]
    pub per: String,
    /// The template categories the cap counts and holds back. Default: `[marketing]`, so
    /// order updates and one-time passwords always go.
    #[serde(default = "FrequencyCap::default_categories")]
    #[schemars(length(min = 1))]
    pub categories: Vec<super::Category>,
}

impl FrequencyCap {
    fn default_categories() -> Vec<super::Category> {
        vec![super::Category::Marketing]
    }

    /// `per`; `None` when it is not a duration (the schema refuses those).
    pub fn per(&self) -> Option<jiff::SignedDuration> {
        duration(&self.per).filter(jiff::SignedDuration::is_positive)
    }
}

/// `budget:` in herald.yaml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The most one apply may cost, in the currency of `pricing` (decimal, at most 6 places,
    /// e.g. 500).
    #[schemars(range(min = 0.0))]
    pub max_per_apply: f64,
}

/// `safety:` in herald.yaml.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// The most messages one apply may send, over all campaigns (a broadcast to 5,000
    /// people is 5,000). Default: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_sends: Option<u64>,
    /// The largest share of a campaign's audience (0 to 1) that `on_change: resend` may
    /// message again in one apply. Default: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_changed_share: Option<f64>,
    /// How long after its `schedule.at` a one-off campaign with nothing sent yet is late:
    /// an error, unless the campaign says `late: send` or `late: skip`. Seconds, minutes,
    /// hours or days (`90s`, `30m`, `1h`, `2d`). Default: `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,6}(s|m|h|d)$"))]
    pub late_after: Option<String>,
}

impl Safety {
    fn is_default(&self) -> bool {
        *self == Safety::default()
    }

    /// `late_after`, or its default of one hour; `None` when it is not a duration.
    pub fn late_after(&self) -> Option<jiff::SignedDuration> {
        match &self.late_after {
            None => Some(jiff::SignedDuration::from_hours(1)),
            Some(text) => duration(text),
        }
    }
}

/// A duration written as a number and a unit: `90s`, `2m`, `1h`, `2d`.
pub fn duration(text: &str) -> Option<jiff::SignedDuration> {
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = number.parse().ok()?;
    match unit {
        "s" => Some(jiff::SignedDuration::from_secs(n)),
        "m" => Some(jiff::SignedDuration::from_mins(n)),
        "h" => Some(jiff::SignedDuration::from_hours(n)),
        "d" => Some(jiff::SignedDuration::from_hours(n.checked_mul(24)?)),
        _ => None,
    }
}

/// `apply:` in herald.yaml.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplySettings {
    /// How deliveries whose outcome is unknown (a crash, a timeout) are settled before
    /// planning: `conversations` (default) looks for the message in the recipient's
    /// Conversations API history; `off` leaves them to `herald state mark-sent|forget`.
    #[serde(default)]
    pub reconcile: Reconcile,
    /// How long after the attempt a message not found in the history counts as never
    /// delivered, and is sent again: seconds, minutes or hours (`90s`, `2m`, `1h`). Default: `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,6}(s|m|h)$"))]
    pub reconcile_after: Option<String>,
}

impl ApplySettings {
    fn is_default(&self) -> bool {
        *self == ApplySettings::default()
    }

    /// `reconcile_after`, or its default of two minutes; `None` when it is not a duration.
    pub fn reconcile_after(&self) -> Option<jiff::SignedDuration> {
        match &self.reconcile_after {
            None => Some(jiff::SignedDuration::from_mins(2)),
            // The schema allows s, m and h only.
            Some(text) if text.ends_with('d') => None,
            Some(text) => duration(text),
        }
    }
}

/// How unknown deliveries are settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reconcile {
    /// Look for the message in the recipient's conversation history (default).
    #[default]
    Conversations,
    /// Leave them unknown, to `herald state mark-sent|forget`.
    Off,
}

/// Where a project's data files may be, and how large.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Files {
    /// Directories outside the project whose files may be read, relative to the project root
    /// (e.g. `../shared-data`). Anything else outside the project is an error; system
    /// directories (`/`, `/proc`, `/dev`, `/etc`, ...) and the home directory cannot be allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// The largest file herald reads, as bytes or with a unit (`4GiB`, `500MB`, `64KiB`).
    /// Default: 4 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<ByteSize>,
}

impl Files {
    fn is_default(&self) -> bool {
        *self == Files::default()
    }
}

/// A size in bytes: a number, or text with a unit (`4GiB`, `500 MB`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ByteSize {
    /// A number of bytes.
    Bytes(u64),
    /// A number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (of 1024).
    Text(#[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)? ?([KMGT]i?B|B)?$"))] String),
}

impl ByteSize {
    /// The number of bytes, or why the text is not a size.
    pub fn bytes(&self) -> Result<u64, parse_size::Error> {
        match self {
            ByteSize::Bytes(n) => Ok(*n),
            ByteSize::Text(text) => parse_size::parse_size(text),
        }
    }
}

/// A variable's value: a string, number or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VarValue {
    /// A text value.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A decimal number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
}

/// The Engati API endpoint and credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Base URL of the Engati API, e.g. `https://api.engati.ai`, or the emulator's
    /// `http://127.0.0.1:8787`.
    #[schemars(regex(pattern = r"^https?://[^\s/]+(/.*)?$"))]
    pub base_url: String,
    /// The Engati customer id (a number, e.g. 61179).
    pub customer_id: u64,
    /// The bot key: 16 lowercase hexadecimal digits (e.g. `bb67e0773bed4c7e`).
    #[schemars(regex(pattern = r"^[0-9a-f]{16}$"))]
    pub bot_key: String,
    /// Name of the environment variable holding the API key. The key itself never goes in a file.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub api_key_env: String,
    /// Requests per second across all workers, e.g. `80/s`. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?/s$"))]
    pub rate_limit: Option<String>,
    /// Requests in flight at once. Default: 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub concurrency: Option<u32>,
    /// Which API trigger endpoint to call: `v2` (default, attributes in a JSON body) or `v1`
    /// (attributes as query parameters).
    #[serde(default)]
    pub trigger_api: TriggerApi,
    /// Seconds to wait for an answer before the outcome is unknown. Default: 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: Option<u32>,
    /// WhatsApp's messaging limit for the business's numbers: how many unique recipients
    /// business-initiated messages may reach in any 24 hours (250, 2000, 10000, 100000; leave
    /// it out when unlimited). Recipients beyond it, counting those state shows reached in
    /// the last 24 hours, wait for the next wave. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub messaging_limit: Option<u64>,
}

/// The form of Engati's API trigger endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerApi {
    /// `POST /bot-api/v1.0/.../flow/{flow}?attr=value`: attributes as query parameters.
    V1,
    /// `POST /bot-api/v2.0/.../flow/{flow}` with the attributes as a JSON body (default).
    #[default]
    V2,
}

impl Project {
    /// `state` as environment `env` sees it: its own `state` when it sets one.
    pub fn state_for(&self, env: Option<&str>) -> &StateConfig {
        env.and_then(|e| self.environments.get(e))
            .and_then(|e| e.state.as_ref())
            .unwrap_or(&self.state)
    }

    /// `api` with the overlay of environment `env` applied (unknown names change nothing;
    /// validation reports them).
    pub fn api_for(&self, env: Option<&str>) -> Api {
        let mut api = self.api.clone();
        let overlay = env
            .and_then(|e| self.environments.get(e))
            .and_then(|e| e.api.as_ref());
        if let Some(o) = overlay {
            if let Some(v) = &o.base_url {
                api.base_url = v.clone();
            }
            if let Some(v) = o.customer_id {
                api.customer_id = v;
            }
            if let Some(v) = &o.bot_key {
                api.bot_key = v.clone();
            }
            if let Some(v) = &o.api_key_env {
                api.api_key_env = v.clone();
            }
            if let Some(v) = &o.rate_limit {
                api.rate_limit = Some(v.clone());
            }
            if let Some(v) = o.concurrency {
                api.concurrency = Some(v);
            }
            if let Some(v) = o.trigger_api {
                api.trigger_api = v;
            }
            if let Some(v) = o.timeout_seconds {
                api.timeout_seconds = Some(v);
            }
            if let Some(v) = o.messaging_limit {
                api.messaging_limit = Some(v);
            }
        }
        api
    }
}

/// Fields of `api` that an environment may replace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiOverlay {
    /// Replaces `api.base_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/]+(/.*)?$"))]
    pub base_url: Option<String>,
    /// Replaces `api.customer_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<u64>,
    /// Replaces `api.bot_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{16}$"))]
    pub bot_key: Option<String>,
    /// Replaces `api.api_key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub api_key_env: Option<String>,
    /// Replaces `api.rate_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?/s$"))]
    pub rate_limit: Option<String>,
    /// Replaces `api.concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub concurrency: Option<u32>,
    /// Replaces `api.trigger_api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_api: Option<TriggerApi>,
    /// Replaces `api.timeout_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: Option<u32>,
    /// Replaces `api.messaging_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub messaging_limit: Option<u64>,
}

/// Which store keeps the record of deliveries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite` (default, a file under `.herald/`) or `postgres`.
    #[serde(default)]
    pub backend: Backend,
    /// SQLite only: the state file, relative to the project root. Default: `.herald/state.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// PostgreSQL only: the environment variable holding the `postgres://` URL (it holds the
    /// database password, so it never goes in a file). Default: `HERALD_STATE_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub url_env: Option<String>,
    /// PostgreSQL only: the schema herald's tables live in; projects sharing a database each
    /// need their own. Default: `herald`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_]{0,62}$"))]
    pub schema: Option<String>,
}

/// A state backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A local SQLite file (default).
    #[default]
    Sqlite,
    /// A shared PostgreSQL database.
    Postgres,
}

/// An overlay applied with `--env NAME`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// API fields to replace in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiOverlay>,
    /// Where this environment records what was sent, replacing `state`. An environment that
    /// sends somewhere else (another `base_url`, customer or bot) needs its own state, or its
    /// sends would count as sent in the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateConfig>,
    /// Variables to add or replace in this environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, VarValue>,
}
