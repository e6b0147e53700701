//! What an accepted send leaves in its recipients' conversation histories: the one rule the
//! emulator records by and herald's reconciler looks for, so the two cannot drift apart.
//!
//! engati-api.md ("What a sent message leaves behind", **assumed**): a template accepted through
//! the API appears in the recipient's history as a `bot` item whose text is the approved body
//! with its `{{N}}` slots filled, timestamped when Engati accepted it; a broadcast's messages
//! appear the same way at `publishedOn`. Triggers run a flow whose messages herald cannot
//! predict, so they leave nothing here.

use std::collections::HashSet;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::api::{BroadcastV1, BroadcastV2, Component, Parameter, TemplateMessage, paths};

/// `messageType` of a template message in a history.
pub const TEMPLATE: &str = "TEMPLATE";
/// `messageType` of a text message in a history.
pub const TEXT: &str = "TEXT";

/// One message an accepted request leaves in one recipient's history (always sent by `bot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Whose history: the channel user id, for WhatsApp the phone number's digits without `+`.
    pub channel_user_id: String,
    /// [`TEMPLATE`] or [`TEXT`].
    pub message_type: &'static str,
    /// The text as the recipient reads it. Shared: a broadcast leaves the same text with each
    /// of up to 100,000 recipients.
    pub text: Arc<str>,
    /// When it appears, UTC epoch milliseconds: the acceptance time, or a broadcast's later
    /// `publishedOn`.
    pub timestamp: i64,
}

/// The traces a send leaves, in recipient order (each recipient once) and, per recipient, in
/// message order. `path` is the request's path, `body` its JSON body, `accepted_at` when Engati
/// accepted it (UTC epoch ms), and `body_of(name, language_code)` the approved body of a
/// template, with its `{{N}}` slots.
///
/// Triggers, reads, unknown paths, bodies that are not the endpoint's type and templates
/// `body_of` does not know leave none: the result is empty, never an error.
pub fn traces(
    path: &str,
    body: &[u8],
    accepted_at: i64,
    body_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Vec<Trace> {
    let Some((customer, bot)) = paths::scope(path) else {
        return Vec::new();
    };
    let found = if path == paths::template(customer, bot) {
        parse(body).map(|m| template(&m, accepted_at, body_of))
    } else if path == paths::broadcast_v1(customer, bot) {
        parse(body).map(|b| broadcast_v1(&b, accepted_at))
    } else if path == paths::broadcast_v2(customer, bot) {
        parse(body).map(|b| broadcast_v2(&b, accepted_at, body_of))
    } else {
        None
    };
    found.unwrap_or_default()
}

/// `body` with each `{{N}}` slot (spaces allowed inside) replaced by `parameter(N - 1)`; a slot
/// without a parameter stays as written.
pub fn fill<'a>(body: &str, parameter: impl Fn(usize) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(end) = after.find("}}") {
            let slot = after[..end].trim();
            let index = (!slot.is_empty() && slot.bytes().all(|b| b.is_ascii_digit()))
                .then(|| slot.parse::<usize>().ok())
                .flatten();
            if let Some(text) = index.and_then(|n| n.checked_sub(1)).and_then(&parameter) {
                out.push_str(text);
                rest = &after[end + 2..];
                continue;
            }
        }
        out.push_str("{{");
        rest = after;
    }
    out.push_str(rest);
    out
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

fn template(
    message: &TemplateMessage,
    accepted_at: i64,
    body_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Vec<Trace> {
    let Some(text) = template_text(&message.payload, body_of) else {
        return Vec::new();
    };
    vec![Trace {
        channel_user_id: digits(&message.phone_number),
        message_type: TEMPLATE,
        text,
        timestamp: accepted_at,
    }]
}

fn broadcast_v1(broadcast: &BroadcastV1, accepted_at: i64) -> Vec<Trace> {
    let timestamp = published(&broadcast.published_on, accepted_at);
    let texts: Vec<Arc<str>> = broadcast
        .payload
        .content
        .iter()
        .filter(|c| c.kind == TEXT)
        .map(|c| Arc::from(c.data.message.as_str()))
        .collect();
    let users = distinct(broadcast.audience.rule.channel_user_ids.iter().cloned());
    users
        .flat_map(|user| {
            texts.iter().map(move |text| Trace {
                channel_user_id: user.clone(),
                message_type: TEXT,
                text: Arc::clone(text),
                timestamp,
            })
        })
        .collect()
}

fn broadcast_v2(
    broadcast: &BroadcastV2,
    accepted_at: i64,
    body_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Vec<Trace> {
    let timestamp = published(&broadcast.published_on, accepted_at);
    let texts: Vec<Arc<str>> = broadcast
        .payload
        .content
        .iter()
        .filter(|c| c.kind == TEMPLATE)
        .filter_map(|c| template_text(&c.template, body_of))
        .collect();
    let users = distinct(broadcast.users.iter().map(|u| digits(&u.phone_number)));
    users
        .flat_map(|user| {
            texts.iter().map(move |text| Trace {
                channel_user_id: user.clone(),
                message_type: TEMPLATE,
                text: Arc::clone(text),
                timestamp,
            })
        })
        .collect()
}

/// The approved body with the message's body parameters in its slots.
fn template_text(
    payload: &super::api::TemplatePayload,
    body_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<Arc<str>> {
    let approved = body_of(&payload.name, &payload.language.code)?;
    let parameters = payload
        .components
        .iter()
        .find_map(|c| match c {
            Component::Body { parameters } => Some(parameters.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    let text = fill(&approved, |i| parameters.get(i).and_then(shown));
    Some(Arc::from(text))
}

/// What the recipient reads for a body parameter; media, payloads and codes are not body text.
fn shown(parameter: &Parameter) -> Option<&str> {
    match parameter {
        Parameter::Text { text } => Some(text),
        Parameter::Currency { currency } => Some(&currency.fallback_value),
        Parameter::DateTime { date_time } => Some(&date_time.fallback_value),
        Parameter::Image { .. }
        | Parameter::Video { .. }
        | Parameter::Document { .. }
        | Parameter::Payload { .. }
        | Parameter::CouponCode { .. } => None,
    }
}

/// A broadcast appears at `publishedOn` when that is later than its acceptance ("a time in the
/// past publishes at once").
fn published(published_on: &str, accepted_at: i64) -> i64 {
    published_on
        .parse::<jiff::Timestamp>()
        .map_or(accepted_at, |t| t.as_millisecond().max(accepted_at))
}

/// A phone number as a WhatsApp channel user id: its digits, without `+`.
fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_owned()
}

/// Each recipient once, in first-seen order: a user listed twice is one recipient, as the
/// emulator's counts have it **[assumed]**.
fn distinct(users: impl Iterator<Item = String>) -> impl Iterator<Item = String> {
    let mut seen = HashSet::new();
    users.filter(move |u| seen.insert(u.clone()))
}

#[cfg(test)]
mod tests;
