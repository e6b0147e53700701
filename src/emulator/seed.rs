//! The seed: API keys, customers, bots, templates, flows, users and their conversations, read
//! from YAML or JSON (`--seed FILE`) or built in (`seed.yaml` beside this file).
//!
//! The format is documented in docs/emulator.md. Every struct denies unknown fields, so a typo in
//! a seed file is an error rather than a silently missing user. Templates use exactly the format
//! of herald's resource files (`crate::model::Template`), so a project's `templates:` map can be
//! copied into a seed as it is.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diagnostic::SourceText;
use crate::model::Template;

/// The built-in seed's text: makes the repository's example project work.
const BUILTIN: &str = include_str!("seed.yaml");

/// Everything the emulator knows before the first request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The API keys accepted in `Authorization: Basic <key>`.
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    /// The customers (Engati accounts) and their bots.
    #[serde(default)]
    pub customers: Vec<SeedCustomer>,
}

/// An API key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// The key, sent as-is after `Basic `.
    pub key: String,
    /// The only customer this key may call; any customer when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<u64>,
    /// A revoked key is answered 403.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// A customer (an Engati account).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedCustomer {
    /// The numeric customer id of every path.
    pub id: u64,
    /// A note for people reading the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The customer's bots.
    #[serde(default)]
    pub bots: Vec<SeedBot>,
}

/// A bot of a customer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedBot {
    /// The bot key: 16 lowercase hex digits.
    pub key: String,
    /// A note for people reading the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether a WhatsApp provider is configured; without one, template sends and v2
    /// broadcasts answer envelope 2004. Default: true.
    #[serde(default = "yes")]
    pub whatsapp: bool,
    /// The approved WhatsApp templates, in herald's resource-file format; the key is the name
    /// unless `name` says otherwise (so one name may be listed once per language).
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    /// The flow keys API triggers and quick-reply payloads may name.
    #[serde(default)]
    pub flows: Vec<String>,
    /// The bot's users.
    #[serde(default)]
    pub users: Vec<SeedUser>,
}

fn yes() -> bool {
    true
}

/// A user of a bot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// E.164 phone number.
    pub phone: String,
    /// The channel user id; default: the phone's digits (WhatsApp's convention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_user_id: Option<String>,
    /// The user's attributes, as the Users API returns them.
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    /// The user's conversation history.
    #[serde(default)]
    pub conversations: Vec<SeedMessage>,
}

/// One message of a conversation history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedMessage {
    /// When, RFC 3339 (`2025-11-20T09:30:00Z`).
    pub at: String,
    /// TEXT, OPTIONS, FILE_RECEIVED, IMAGE, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `user` or `bot`.
    pub from: String,
    /// The text, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A seed that cannot be used.
#[derive(Debug)]
pub enum SeedError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not YAML or JSON, or not in the seed format.
    Parse {
        /// The file (`<built-in>` for the built-in seed).
        file: String,
        /// What is wrong, with line and column when known.
        message: String,
    },
    /// The seed is well-formed but inconsistent: a bad phone, a duplicate key, ...
    Invalid {
        /// Where in the seed, e.g. `customers[0].bots[1].users[2].phone`.
        at: String,
        /// What is wrong.
        message: String,
    },
}

message_error! {
    /// What is wrong with one entry of a seed (a template, a message), before it is placed.
    pub struct Malformed;
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedError::Read { path, error } => {
                write!(f, "cannot read seed file {}: {error}", path.display())
            }
            SeedError::Parse { file, message } => write!(f, "seed file {file}: {message}"),
            SeedError::Invalid { at, message } => write!(f, "seed: {at}: {message}"),
        }
    }
}

impl std::error::Error for SeedError {}

impl Seed {
    /// The built-in seed: customer 61179, bot bb67e0773bed4c7e with the example project's
    /// templates, flows and users, and the key [`super::BUILTIN_API_KEY`].
    pub fn builtin() -> Seed {
        // The text is part of the binary and a unit test parses and checks it, so failing here
        // is a build defect, not bad input.
        Seed::parse("<built-in>", BUILTIN).expect("the built-in seed is valid")
    }

    /// Reads and checks a YAML or JSON seed file.
    pub fn from_file(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|error| SeedError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Seed::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks seed text; `file` names it in errors. JSON is parsed as YAML, of which
    /// it is a subset.
    pub fn parse(file: &str, text: &str) -> Result<Seed, SeedError> {
        let parse_error = |message: String| SeedError::Parse {
            file: file.to_owned(),
            message,
        };
        let source = SourceText::new(Arc::from(text), 1);
        let (documents, diagnostics) = crate::load::yaml::parse(file, &source);
        if let Some(d) = diagnostics.first() {
            let at = d.span.map_or(String::new(), |s| {
                format!("line {} column {}: ", s.start.line, s.start.col + 1)
            });
            return Err(parse_error(format!("{at}{}", d.message)));
        }
        let document = match documents.as_slice() {
            [one] => one.to_json(),
            [] => return Err(parse_error("the file is empty".to_owned())),
            _ => return Err(parse_error("expected one YAML document".to_owned())),
        };
        let seed: Seed =
            serde_json::from_value(document).map_err(|e| parse_error(e.to_string()))?;
        seed.check()?;
        Ok(seed)
    }

    /// Checks what serde cannot: formats, uniqueness and references.
    pub fn check(&self) -> Result<(), SeedError> {
        let invalid = |at: String, message: String| Err(SeedError::Invalid { at, message });
        let mut customer_ids = HashSet::new();
        for (c, customer) in self.customers.iter().enumerate() {
            if !customer_ids.insert(customer.id) {
                return invalid(
                    format!("customers[{c}].id"),
                    format!("customer {} is listed twice", customer.id),
                );
            }
            let mut bot_keys = HashSet::new();
            for (b, bot) in customer.bots.iter().enumerate() {
                let at = format!("customers[{c}].bots[{b}]");
                if !is_bot_key(&bot.key) {
                    return invalid(
                        format!("{at}.key"),
                        format!("`{}` is not a bot key: 16 lowercase hex digits", bot.key),
                    );
                }
                if !bot_keys.insert(bot.key.as_str()) {
                    return invalid(
                        format!("{at}.key"),
                        format!("bot {} is listed twice", bot.key),
                    );
                }
                check_bot(&at, bot)?;
            }
        }
        let mut keys = HashSet::new();
        for (k, key) in self.keys.iter().enumerate() {
            let at = format!("keys[{k}]");
            if key.key.is_empty() || key.key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return invalid(
                    format!("{at}.key"),
                    "a key is a non-empty string without spaces".to_owned(),
                );
            }
            if !keys.insert(key.key.as_str()) {
                // The key itself is a secret in real use: name its position, not its text.
                return invalid(format!("{at}.key"), "this key is listed twice".to_owned());
            }
            if let Some(id) = key.customer
                && !customer_ids.contains(&id)
            {
                return invalid(
                    format!("{at}.customer"),
                    format!("customer {id} is not in the seed"),
                );
            }
        }
        Ok(())
    }
}

/// 16 lowercase hex digits, as Engati shows bot keys.
pub fn is_bot_key(key: &str) -> bool {
    key.len() == 16 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A flow key as the flow builder shows them: letters, digits, `_` and `-`.
pub fn is_flow_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A channel user id as WhatsApp uses them: 8 to 15 digits.
pub fn is_channel_user_id(id: &str) -> bool {
    (8..=15).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn check_bot(at: &str, bot: &SeedBot) -> Result<(), SeedError> {
    let invalid = |at: String, message: String| Err(SeedError::Invalid { at, message });
    let mut names = HashSet::new();
    for (key, template) in &bot.templates {
        let at = format!("{at}.templates.{key}");
        let name = template.name.as_deref().unwrap_or(key);
        if !names.insert((name, template.language.as_str())) {
            return invalid(
                at,
                format!(
                    "template `{name}` is listed twice in language `{}`",
                    template.language
                ),
            );
        }
        if let Err(Malformed(message)) = super::world::ApprovedTemplate::from_model(name, template)
        {
            return invalid(at, message);
        }
    }
    let mut flows = HashSet::new();
    for (f, flow) in bot.flows.iter().enumerate() {
        if !is_flow_key(flow) {
            return invalid(
                format!("{at}.flows[{f}]"),
                format!("`{flow}` is not a flow key: letters, digits, `_` and `-`"),
            );
        }
        if !flows.insert(flow.as_str()) {
            return invalid(
                format!("{at}.flows[{f}]"),
                format!("flow `{flow}` is listed twice"),
            );
        }
    }
    let mut ids = HashSet::new();
    for (u, user) in bot.users.iter().enumerate() {
        let at = format!("{at}.users[{u}]");
        if let Err(e) = crate::validate::phone::check(&user.phone) {
            return invalid(
                format!("{at}.phone"),
                format!("`{}` is not E.164: {}", user.phone, e.help),
            );
        }
        let id = user.channel_user_id();
        if !is_channel_user_id(&id) {
            return invalid(
                format!("{at}.channel_user_id"),
                format!("`{id}` is not a channel user id: 8 to 15 digits"),
            );
        }
        if !ids.insert(id.clone()) {
            return invalid(at, format!("channel user id {id} is listed twice"));
        }
        for (m, message) in user.conversations.iter().enumerate() {
            let at = format!("{at}.conversations[{m}]");
            if let Err(Malformed(e)) = message.timestamp_ms() {
                return invalid(format!("{at}.at"), e);
            }
            if !matches!(message.from.as_str(), "user" | "bot") {
                return invalid(
                    format!("{at}.from"),
                    format!("`{}`: expected `user` or `bot`", message.from),
                );
            }
            if message.kind.is_empty() {
                return invalid(format!("{at}.type"), "the type is empty".to_owned());
            }
        }
    }
    Ok(())
}

impl SeedUser {
    /// The channel user id: given, or the phone's digits.
    pub fn channel_user_id(&self) -> String {
        self.channel_user_id
            .clone()
            .unwrap_or_else(|| self.phone.trim_start_matches('+').to_owned())
    }
}

impl SeedMessage {
    /// `at` as UTC epoch milliseconds.
    pub fn timestamp_ms(&self) -> Result<i64, Malformed> {
        self.at
            .parse::<jiff::Timestamp>()
            .map(jiff::Timestamp::as_millisecond)
            .map_err(|e| Malformed(format!("`{}` is not an RFC 3339 time: {e}", self.at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_seed_parses_and_checks() {
        let seed = Seed::builtin();
        assert!(
            seed.keys
                .iter()
                .any(|k| k.key == super::super::BUILTIN_API_KEY)
        );
        let bot = &seed.customers[0].bots[0];
        assert_eq!(seed.customers[0].id, 61179);
        assert_eq!(bot.key, "bb67e0773bed4c7e");
        assert!(bot.templates.contains_key("invoice_reminder"));
        assert!(bot.templates.contains_key("new_year_offer"));
    }

    #[test]
    fn json_seeds_parse_too() {
        let seed = Seed::parse(
            "seed.json",
            r#"{"keys": [{"key": "k"}], "customers": [{"id": 1, "bots": [{"key": "0123456789abcdef"}]}]}"#,
        )
        .unwrap();
        assert!(seed.customers[0].bots[0].whatsapp);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let unknown = Seed::parse("s.yaml", "keys: []\ncustomer: []\n").unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `customer`"),
            "{unknown}"
        );
        let phone = Seed::parse(
            "s.yaml",
            "customers:\n- id: 1\n  bots:\n  - key: 0123456789abcdef\n    users: [{phone: '9190'}]\n",
        )
        .unwrap_err();
        assert!(
            phone
                .to_string()
                .contains("customers[0].bots[0].users[0].phone"),
            "{phone}"
        );
        let syntax = Seed::parse("s.yaml", "keys: [\n").unwrap_err();
        assert!(syntax.to_string().contains("line"), "{syntax}");
    }
}
