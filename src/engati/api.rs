//! The Engati API's wire format: request bodies, paths and response envelopes, exactly as
//! the Engati API contract (engati-api.md) describes them. The client sends these and the
//! emulator accepts them, so both halves of the contract are one set of types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `status.code` of a successful call; every other code is a failure, even with HTTP 200.
pub const SUCCESS: i64 = 1000;

/// The envelope codes Engati documents, with their names and what they mean for a user.
pub const STATUS_CODES: &[(i64, &str, &str)] = &[
    (1000, "SUCCESS", "accepted"),
    (
        1002,
        "USER_IS_OUTSIDE_CONVERSATION_WINDOW",
        "the user has not written in the last 24 hours; only template messages reach them",
    ),
    (2000, "FAILURE", "Engati could not handle the request"),
    (
        2003,
        "BOT_NOT_FOUND",
        "no bot with this bot key for this customer",
    ),
    (
        2004,
        "API_KEY_NOT_FOUND",
        "the bot has no WhatsApp provider configured",
    ),
    (
        2005,
        "INVALID_FILE_FORMAT",
        "the file format is not accepted",
    ),
    (2006, "FILE_UPLOAD_FAILED", "the file could not be uploaded"),
];

/// The name and meaning of an envelope code.
pub fn status_meaning(code: i64) -> (&'static str, &'static str) {
    STATUS_CODES.iter().find(|(c, _, _)| *c == code).map_or(
        ("UNKNOWN", "an error code herald does not know"),
        |(_, n, m)| (*n, *m),
    )
}

/// `{"status": {"code": 1000, "message": "..."}, ...}`: the envelope most endpoints answer with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The outcome.
    pub status: Status,
    /// Whatever else the endpoint returns.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// The outcome inside an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// 1000 for success; see [`STATUS_CODES`].
    pub code: i64,
    /// A human-readable message, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Envelope {
    /// An envelope with no payload.
    pub fn new(code: i64, message: impl Into<String>) -> Envelope {
        Envelope {
            status: Status {
                code,
                message: Some(message.into()),
            },
            rest: BTreeMap::new(),
        }
    }
}

/// POST `.../whatsapp-api/v1.0/customer/{cid}/bot/{botKey}/template`: one template message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMessage {
    /// E.164, with the `+`.
    pub phone_number: String,
    /// The template and its parameters.
    pub payload: TemplatePayload,
}

/// A template and its parameters, as WhatsApp's API takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePayload {
    /// The approved template's name.
    pub name: String,
    /// The WhatsApp namespace (older setups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The language; the policy is always `deterministic`.
    pub language: Language,
    /// Header, body and button parameters.
    #[serde(default)]
    pub components: Vec<Component>,
}

/// A template's language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    /// Always `deterministic`.
    pub policy: String,
    /// e.g. `en`.
    pub code: String,
}

impl Language {
    /// The deterministic policy for a language code.
    pub fn deterministic(code: impl Into<String>) -> Language {
        Language {
            policy: "deterministic".to_owned(),
            code: code.into(),
        }
    }
}

/// One component of a template message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Component {
    /// The header's parameter.
    Header {
        /// Exactly one, matching the header's kind.
        parameters: Vec<Parameter>,
    },
    /// The body's `{{N}}` parameters, in order.
    Body {
        /// One per slot.
        parameters: Vec<Parameter>,
    },
    /// One button's parameter.
    Button {
        /// `quick_reply`, `url`, `copy_code` or `flow`.
        sub_type: String,
        /// The button's position among the approved buttons, from 0.
        index: u32,
        /// Its parameter.
        parameters: Vec<Parameter>,
    },
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Parameter {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL.
    Image {
        /// The image.
        image: Media,
    },
    /// A video by URL.
    Video {
        /// The video.
        video: Media,
    },
    /// A document by URL.
    Document {
        /// The document.
        document: Media,
    },
    /// A quick-reply button's payload, e.g. `flow_<key>||data_<attr>=<value>`.
    Payload {
        /// The payload.
        payload: String,
    },
    /// A copy-code button's code.
    CouponCode {
        /// The code.
        coupon_code: String,
    },
    /// An amount of money (body parameters), shown as its `fallback_value` where WhatsApp
    /// cannot localise it.
    Currency {
        /// The amount.
        currency: Currency,
    },
    /// A date and time (body parameters), shown as its `fallback_value`.
    DateTime {
        /// The date and time.
        date_time: DateTime,
    },
}

/// An amount of money, as WhatsApp takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Currency {
    /// The text shown when the amount cannot be localised, e.g. `$100.99`.
    pub fallback_value: String,
    /// ISO 4217, e.g. `USD`.
    pub code: String,
    /// The amount times 1000.
    pub amount_1000: i64,
}

/// A date and time, as WhatsApp takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateTime {
    /// The text shown, e.g. `February 25, 1977`.
    pub fallback_value: String,
}

/// A media file by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// The public URL.
    pub link: String,
    /// For documents: the file name shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// POST `.../bot-api/v1.0/customer/{cid}/bot/{botKey}/broadcast`: text messages to channel users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastV1 {
    /// Always null: herald only creates broadcasts.
    pub broadcast_id: Option<String>,
    /// The title shown in Engati's dashboard.
    pub broadcast_title: String,
    /// When to publish, UTC with milliseconds (`2019-06-03T06:48:27.170Z`); past means now.
    pub published_on: String,
    /// Who receives it.
    pub audience: BroadcastAudience,
    /// What is sent.
    pub payload: BroadcastPayload,
    /// Always null.
    pub status: Option<String>,
}

/// The audience of a v1 broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastAudience {
    /// The selection rule.
    pub rule: AudienceRule,
}

/// Channels and channel user ids (for WhatsApp: the phone number's digits, no `+`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceRule {
    /// e.g. `["whatsapp"]`.
    pub channels: Vec<String>,
    /// Digits only.
    pub channel_user_ids: Vec<String>,
}

/// The messages of a v1 broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastPayload {
    /// Always `DIRECT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The messages, in order.
    pub content: Vec<BroadcastContent>,
}

/// One text message of a v1 broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastContent {
    /// Always `TEXT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text.
    pub data: TextData,
}

/// The text of a broadcast message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextData {
    /// The message.
    pub message: String,
}

/// POST `.../bot-api/v2.0/customer/{cid}/bot/{botKey}/broadcast`: a template to a list of users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastV2 {
    /// Always null.
    pub broadcast_id: Option<String>,
    /// The title shown in Engati's dashboard.
    pub broadcast_title: String,
    /// When to publish, UTC with milliseconds.
    pub published_on: String,
    /// Always `whatsapp`.
    pub platform: String,
    /// The recipients.
    pub users: Vec<BroadcastUser>,
    /// The template.
    pub payload: TemplateBroadcastPayload,
    /// Always null.
    pub status: Option<String>,
}

/// A recipient of a v2 broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastUser {
    /// E.164, with the `+`.
    pub phone_number: String,
    /// Optional profile fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// The payload of a v2 broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateBroadcastPayload {
    /// Always `WHATSAPP_TEMPLATE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// One `TEMPLATE` entry.
    pub content: Vec<TemplateContent>,
}

/// The template of a v2 broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateContent {
    /// Always `TEMPLATE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The template and its parameters.
    pub template: TemplatePayload,
}

/// The users the Users API returns, one page at a time. The shape is **assumed** (Engati does
/// not document it): herald reads `data.users` (or `data.content`, or `data` as a list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotUser {
    /// The channel user id; for WhatsApp, the phone number's digits.
    #[serde(default)]
    pub channel_user_id: Option<String>,
    /// The phone number, E.164, when known.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// The user's attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
}

/// One entry of a user's conversation history (field names **assumed**).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationItem {
    /// UTC epoch milliseconds.
    pub timestamp: i64,
    /// TEXT, OPTIONS, FILE_RECEIVED, IMAGE, ...
    pub message_type: String,
    /// `bot` or `user`.
    pub sender: String,
    /// The text, when there is one.
    #[serde(default)]
    pub text: Option<String>,
}

/// One page of a list answer, as the client yields it. On the wire (**assumed**, Engati does not
/// document it): `{"status": ..., "data": {"users"|"conversations": [...], "pageNumber": 0,
/// "pageSize": 500, "totalPages": 3}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// This page's number, from 0.
    pub page_number: u32,
    /// The page size asked for.
    pub page_size: u32,
    /// How many pages there are, when the server says.
    #[serde(default)]
    pub total_pages: Option<u32>,
}

/// The paths of every endpoint, under a customer and bot.
pub mod paths {
    /// The customer id and bot key a path is scoped by: `/{api}/{version}/customer/{cid}/bot/
    /// {botKey}/...`, as the builders below make them; `None` for any other path.
    pub fn scope(path: &str) -> Option<(u64, &str)> {
        let parts: Vec<&str> = path.splitn(8, '/').collect();
        match parts.as_slice() {
            // Digits only: `parse` would also take a leading `+`, which the builders never write.
            ["", _, _, "customer", cid, "bot", bot, ..]
                if !bot.is_empty() && cid.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some((cid.parse().ok()?, *bot))
            }
            _ => None,
        }
    }
    /// Users with an attribute value (GET).
    pub fn users(cid: u64, bot: &str) -> String {
        format!("/bot-api/v1.0/customer/{cid}/bot/{bot}/users")
    }
    /// A user's conversations (GET).
    pub fn conversations(cid: u64, bot: &str, channel_user_id: &str) -> String {
        format!(
            "/bot-api/v1.0/customer/{cid}/bot/{bot}/channel-user/{channel_user_id}/conversations"
        )
    }
    /// A WhatsApp template message (POST).
    pub fn template(cid: u64, bot: &str) -> String {
        format!("/whatsapp-api/v1.0/customer/{cid}/bot/{bot}/template")
    }
    /// A v1 broadcast (POST).
    pub fn broadcast_v1(cid: u64, bot: &str) -> String {
        format!("/bot-api/v1.0/customer/{cid}/bot/{bot}/broadcast")
    }
    /// A v2 template broadcast (POST).
    pub fn broadcast_v2(cid: u64, bot: &str) -> String {
        format!("/bot-api/v2.0/customer/{cid}/bot/{bot}/broadcast")
    }
    /// An API trigger (POST), v1 (query) or v2 (JSON body).
    pub fn trigger(cid: u64, bot: &str, flow: &str, api: crate::model::TriggerApi) -> String {
        let version = match api {
            crate::model::TriggerApi::V1 => "v1.0",
            crate::model::TriggerApi::V2 => "v2.0",
        };
        format!("/bot-api/{version}/customer/{cid}/bot/{bot}/flow/{flow}")
    }
}
