//! The seed, indexed for serving: keys (with run-time revocation), customers, bots, approved
//! templates, flows, users and conversations, and each bot's record of what accepted sends
//! left in its users' histories (`history`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::history::Sent;
use super::seed::{Malformed, Seed, SeedError};
use crate::engati::api::{BotUser, ConversationItem};
use crate::model::{HeaderKind, Template};

/// Everything requests are checked against.
#[derive(Debug)]
pub(super) struct World {
    keys: HashMap<String, Key>,
    customers: HashMap<u64, HashMap<String, Bot>>,
}

#[derive(Debug)]
struct Key {
    customer: Option<u64>,
    revoked: AtomicBool,
}

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyProblem {
    /// No `Authorization: Basic <key>` header (401).
    Missing,
    /// A key the emulator does not know (401).
    Unknown,
    /// A revoked key (403).
    Revoked,
}

/// A bot and what it serves.
#[derive(Debug)]
pub(super) struct Bot {
    /// Whether a WhatsApp provider is configured.
    pub whatsapp: bool,
    /// Approved templates by name; one entry per language.
    pub templates: BTreeMap<String, Vec<ApprovedTemplate>>,
    /// Flow keys.
    pub flows: HashSet<String>,
    /// Users, in seed order.
    pub users: Vec<User>,
    /// What accepted sends left in histories, for any channel user id.
    pub sent: Sent,
    by_channel_user_id: HashMap<String, usize>,
}

/// A user and their history, oldest message first.
#[derive(Debug)]
pub(super) struct User {
    /// As the Users API returns it.
    pub profile: BotUser,
    /// Sorted by timestamp.
    pub conversations: Vec<ConversationItem>,
}

/// A template as WhatsApp approved it, reduced to what a message must match.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApprovedTemplate {
    /// The name.
    pub name: String,
    /// The language code.
    pub language: String,
    /// The namespace, when the seed gives one.
    pub namespace: Option<String>,
    /// The header's kind.
    pub header: HeaderKind,
    /// The approved body, with its `{{N}}` slots.
    pub body: String,
    /// How many `{{N}}` slots the body has.
    pub body_params: usize,
    /// Each button's sub_type, in order: `quick_reply`, `url` or `copy_code`.
    pub buttons: Vec<&'static str>,
}

impl ApprovedTemplate {
    /// Reduces a template in herald's file format; an error says what is malformed.
    pub(super) fn from_model(
        name: &str,
        template: &Template,
    ) -> Result<ApprovedTemplate, Malformed> {
        let numbers = template.slot_numbers();
        if numbers.iter().enumerate().any(|(i, n)| *n != i + 1) {
            return Err(Malformed(
                "the body's {{N}} slots must be numbered 1, 2, ... without gaps".to_owned(),
            ));
        }
        let mut buttons = Vec::new();
        for (i, button) in template.buttons.iter().enumerate() {
            match (&button.quick_reply, &button.url, &button.copy_code) {
                (Some(_), None, None) => buttons.push("quick_reply"),
                (None, Some(_), None) => buttons.push("url"),
                (None, None, Some(_)) => buttons.push("copy_code"),
                _ => {
                    return Err(Malformed(format!(
                        "button {i} must be exactly one of quick_reply, url or copy_code"
                    )));
                }
            }
        }
        Ok(ApprovedTemplate {
            name: name.to_owned(),
            language: template.language.clone(),
            namespace: template.namespace.clone(),
            header: template.header,
            body: template.body.clone(),
            body_params: numbers.len(),
            buttons,
        })
    }
}

impl World {
    /// Indexes a seed, checking it first (a seed built in code has not been checked yet).
    pub(super) fn build(seed: &Seed) -> Result<World, SeedError> {
        seed.check()?;
        let keys = seed
            .keys
            .iter()
            .map(|k| {
                let key = Key {
                    customer: k.customer,
                    revoked: AtomicBool::new(k.revoked),
                };
                (k.key.clone(), key)
            })
            .collect();
        let mut customers = HashMap::new();
        for customer in &seed.customers {
            let mut bots = HashMap::new();
            for bot in &customer.bots {
                bots.insert(bot.key.clone(), index_bot(bot)?);
            }
            customers.insert(customer.id, bots);
        }
        Ok(World { keys, customers })
    }

    /// Checks the `Authorization` header's value (`Basic <key>`, the key as-is).
    pub(super) fn authenticate(&self, header: Option<&[u8]>) -> Result<Option<u64>, KeyProblem> {
        let header = header.ok_or(KeyProblem::Missing)?;
        // The scheme is case-insensitive (RFC 9110); the key is taken byte for byte.
        let key = header
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case(b"basic "))
            .and_then(|_| std::str::from_utf8(&header[6..]).ok())
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or(KeyProblem::Missing)?;
        let entry = self.keys.get(key).ok_or(KeyProblem::Unknown)?;
        if entry.revoked.load(Ordering::Relaxed) {
            return Err(KeyProblem::Revoked);
        }
        Ok(entry.customer)
    }

    /// Revokes a key; false when the emulator does not know it.
    pub(super) fn revoke(&self, key: &str) -> bool {
        self.keys.get(key).is_some_and(|entry| {
            entry.revoked.store(true, Ordering::Relaxed);
            true
        })
    }

    /// Whether the customer exists.
    pub(super) fn has_customer(&self, customer: u64) -> bool {
        self.customers.contains_key(&customer)
    }

    /// The customer's bot with this key.
    pub(super) fn bot(&self, customer: u64, bot: &str) -> Option<&Bot> {
        self.customers.get(&customer)?.get(bot)
    }

    /// Every bot, in no particular order.
    pub(super) fn bots(&self) -> impl Iterator<Item = &Bot> {
        self.customers.values().flat_map(HashMap::values)
    }
}

impl Bot {
    /// The user with this channel user id.
    pub(super) fn user(&self, channel_user_id: &str) -> Option<&User> {
        self.by_channel_user_id
            .get(channel_user_id)
            .and_then(|&i| self.users.get(i))
    }

    /// The approved template with this name in this language.
    pub(super) fn template(&self, name: &str, language: &str) -> Option<&ApprovedTemplate> {
        self.templates
            .get(name)?
            .iter()
            .find(|t| t.language == language)
    }
}

fn index_bot(bot: &super::seed::SeedBot) -> Result<Bot, SeedError> {
    let mut templates: BTreeMap<String, Vec<ApprovedTemplate>> = BTreeMap::new();
    for (key, template) in &bot.templates {
        let name = template.name.as_deref().unwrap_or(key);
        let approved =
            ApprovedTemplate::from_model(name, template).map_err(|Malformed(message)| {
                SeedError::Invalid {
                    at: format!("bot {} template {key}", bot.key),
                    message,
                }
            })?;
        templates.entry(name.to_owned()).or_default().push(approved);
    }
    let mut users = Vec::new();
    let mut by_channel_user_id = HashMap::new();
    for user in &bot.users {
        let mut conversations = Vec::new();
        for message in &user.conversations {
            let timestamp =
                message
                    .timestamp_ms()
                    .map_err(|Malformed(message)| SeedError::Invalid {
                        at: format!("bot {} user {}", bot.key, user.phone),
                        message,
                    })?;
            conversations.push(ConversationItem {
                timestamp,
                message_type: message.kind.clone(),
                sender: message.from.clone(),
                text: message.text.clone(),
            });
        }
        // Stable, so messages at the same millisecond keep the seed's order.
        conversations.sort_by_key(|m| m.timestamp);
        let id = user.channel_user_id();
        by_channel_user_id.insert(id.clone(), users.len());
        users.push(User {
            profile: BotUser {
                channel_user_id: Some(id),
                phone_number: Some(user.phone.clone()),
                attributes: user.attributes.clone(),
            },
            conversations,
        });
    }
    Ok(Bot {
        whatsapp: bot.whatsapp,
        templates,
        flows: bot.flows.iter().cloned().collect(),
        users,
        sent: Sent::default(),
        by_channel_user_id,
    })
}

/// Whether a user attribute equals the value asked for: strings compare as they are, other
/// values by their JSON text (`opt1: true` matches `attribute_value=true`).
pub(super) fn attribute_matches(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s == wanted,
        Value::Null => false,
        other => serde_json::to_string(other).is_ok_and(|text| text == wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticates_basic_keys_as_is() {
        let world = World::build(&Seed::builtin()).unwrap();
        assert_eq!(world.authenticate(Some(b"Basic emulator-key")), Ok(None));
        assert_eq!(world.authenticate(Some(b"basic emulator-key")), Ok(None));
        assert_eq!(world.authenticate(None), Err(KeyProblem::Missing));
        assert_eq!(
            world.authenticate(Some(b"Bearer emulator-key")),
            Err(KeyProblem::Missing)
        );
        assert_eq!(
            world.authenticate(Some(b"Basic ZW11bGF0b3Ita2V5")),
            Err(KeyProblem::Unknown)
        );
        assert_eq!(
            world.authenticate(Some(b"Basic emulator-revoked-key")),
            Err(KeyProblem::Revoked)
        );
        assert!(world.revoke("emulator-key"));
        assert!(!world.revoke("nope"));
        assert_eq!(
            world.authenticate(Some(b"Basic emulator-key")),
            Err(KeyProblem::Revoked)
        );
    }

    #[test]
    fn indexes_the_example_bot() {
        let world = World::build(&Seed::builtin()).unwrap();
        let bot = world.bot(61179, "bb67e0773bed4c7e").unwrap();
        let invoice = &bot.templates["invoice_reminder"][0];
        assert_eq!(invoice.header, HeaderKind::Document);
        assert_eq!(invoice.body_params, 3);
        assert_eq!(invoice.buttons, ["quick_reply", "quick_reply"]);
        let offer = &bot.templates["new_year_offer"][0];
        assert_eq!(offer.buttons, ["url", "copy_code"]);
        assert!(bot.user("919019486731").is_some());
        assert!(
            world
                .bot(61179, "a1b2c3d4e5f60718")
                .is_some_and(|b| !b.whatsapp)
        );
    }
}
