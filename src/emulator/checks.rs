//! Strict checks of request bodies and queries, as Engati and WhatsApp would refuse them.
//!
//! Each check returns the problem as a message for an HTTP 400 with envelope 2000; the messages
//! name the field and say what was expected, since a developer reads them in a test failure.
//! Choices engati-api.md leaves open are listed in docs/emulator.md as [assumed].

use std::collections::HashSet;

use super::world::{ApprovedTemplate, Bot};
use crate::engati::api::{BroadcastV1, BroadcastV2, Component, Parameter, TemplatePayload};
use crate::model::HeaderKind;

/// WhatsApp's limits, as validate and render check them too.
use crate::engati::rules::{self as limits, Param};

message_error! {
    /// What makes a request one Engati would refuse: the message of its HTTP 400, naming the
    /// field and what was expected.
    pub struct Invalid;
}

impl From<Invalid> for String {
    fn from(invalid: Invalid) -> String {
        invalid.0
    }
}

/// A check's outcome: the checked value, or why the request is refused.
pub(super) type Check<T> = Result<T, Invalid>;

fn invalid<T>(message: impl Into<String>) -> Check<T> {
    Err(Invalid(message.into()))
}

/// The largest page the list endpoints serve.
pub(super) const MAX_PAGE_SIZE: u32 = 1000;
/// The page size when none is asked for (Engati's documented default).
pub(super) const DEFAULT_PAGE_SIZE: u32 = 500;

/// An E.164 phone number: `+`, then 8 to 15 digits, not starting with 0.
pub(super) fn phone(field: &str, value: &str) -> Check<()> {
    crate::validate::phone::check(value).map_err(|e| {
        Invalid(format!(
            "{field} `{value}` is not an E.164 phone number (+ and 8 to 15 digits): {}",
            e.help
        ))
    })
}

/// A WhatsApp channel user id: the phone number's 8 to 15 digits, no `+`.
pub(super) fn channel_user_id(field: &str, value: &str) -> Check<()> {
    if super::seed::is_channel_user_id(value) {
        Ok(())
    } else {
        invalid(format!(
            "{field} `{value}` must be a channel user id: the phone number's 8 to 15 digits, \
             without + (e.g. 919019486731)"
        ))
    }
}

/// A template message against the bot's approved templates.
pub(super) fn template(bot: &Bot, payload: &TemplatePayload) -> Check<()> {
    let name = &payload.name;
    let Some(versions) = bot.templates.get(name) else {
        let known: Vec<String> = bot
            .templates
            .values()
            .flatten()
            .map(|t| format!("{} ({})", t.name, t.language))
            .collect();
        return invalid(format!(
            "unknown template `{name}`: the bot has {}",
            if known.is_empty() {
                "no approved templates".to_owned()
            } else {
                known.join(", ")
            }
        ));
    };
    let code = &payload.language.code;
    let Some(approved) = versions.iter().find(|t| &t.language == code) else {
        let languages: Vec<&str> = versions.iter().map(|t| t.language.as_str()).collect();
        return invalid(format!(
            "template `{name}` is not approved in language `{code}`; approved: {}",
            languages.join(", ")
        ));
    };
    if payload.language.policy != "deterministic" {
        return invalid(format!(
            "language.policy is `{}`; WhatsApp only accepts `deterministic`",
            payload.language.policy
        ));
    }
    if let (Some(want), Some(got)) = (&approved.namespace, &payload.namespace)
        && want != got
    {
        return invalid(format!(
            "namespace `{got}` is not the namespace of template `{name}` (`{want}`)"
        ));
    }
    let mut header = None;
    let mut body = None;
    let mut buttons = Vec::new();
    for component in &payload.components {
        match component {
            Component::Header { parameters } if header.is_none() => header = Some(parameters),
            Component::Body { parameters } if body.is_none() => body = Some(parameters),
            Component::Header { .. } | Component::Body { .. } => {
                return invalid(
                    "components has two header or two body components; give each once".to_owned(),
                );
            }
            Component::Button {
                sub_type,
                index,
                parameters,
            } => buttons.push((sub_type.as_str(), *index, parameters.as_slice())),
        }
    }
    check_header(approved, header.map(Vec::as_slice))?;
    check_body(approved, body.map(Vec::as_slice).unwrap_or_default())?;
    check_buttons(bot, approved, &buttons)
}

fn check_header(t: &ApprovedTemplate, params: Option<&[Parameter]>) -> Check<()> {
    let name = &t.name;
    let kind = header_name(t.header);
    let params = match (t.header, params) {
        (HeaderKind::None, None) => return Ok(()),
        (HeaderKind::None, Some(_)) => {
            return invalid(format!(
                "template `{name}` has no header, but the message has a header component"
            ));
        }
        (_, None) => {
            return invalid(format!(
                "template `{name}` has a {kind} header; the message has no header component"
            ));
        }
        (_, Some(params)) => params,
    };
    let [param] = params else {
        return invalid(format!(
            "the header of template `{name}` takes exactly 1 parameter, got {}",
            params.len()
        ));
    };
    let (given, media) = match param {
        Parameter::Text { text } => ("text", Err(text)),
        Parameter::Image { image } => ("image", Ok(image)),
        Parameter::Video { video } => ("video", Ok(video)),
        Parameter::Document { document } => ("document", Ok(document)),
        Parameter::Payload { .. } => ("payload", Err(&String::new())),
        Parameter::CouponCode { .. } => ("coupon_code", Err(&String::new())),
        Parameter::Currency { .. } => ("currency", Err(&String::new())),
        Parameter::DateTime { .. } => ("date_time", Err(&String::new())),
    };
    if given != kind {
        return invalid(format!(
            "template `{name}` has a {kind} header, but the header parameter is {given}"
        ));
    }
    match media {
        Err(text) => follows("the header text", Param::HeaderText, text)?,
        Ok(media) => {
            link(&format!("the {kind} header's link"), &media.link)?;
            if media.filename.is_some() && t.header != HeaderKind::Document {
                return invalid(format!(
                    "filename is only for document headers; template `{name}` has a {kind} header"
                ));
            }
        }
    }
    Ok(())
}

fn header_name(kind: HeaderKind) -> &'static str {
    match kind {
        HeaderKind::None => "no",
        HeaderKind::Text => "text",
        HeaderKind::Image => "image",
        HeaderKind::Video => "video",
        HeaderKind::Document => "document",
    }
}

/// An absolute https URL of at most 2000 characters, without spaces.
fn link(field: &str, value: &str) -> Check<()> {
    follows(&format!("{field} `{value}`"), Param::MediaLink, value)
}

/// A value against the WhatsApp rule herald's plans follow too, as a message naming `field`.
fn follows(field: &str, param: Param, value: &str) -> Check<()> {
    param
        .check(value)
        .map_err(|breach| Invalid(format!("{field} {}", breach.problem)))
}

fn check_body(t: &ApprovedTemplate, params: &[Parameter]) -> Check<()> {
    if params.len() != t.body_params {
        return invalid(format!(
            "template `{}` has {} body parameter{}, got {}",
            t.name,
            t.body_params,
            crate::words::s(t.body_params),
            params.len()
        ));
    }
    for (i, param) in params.iter().enumerate() {
        let slot = i + 1;
        let Parameter::Text { text } = param else {
            return invalid(format!(
                "body parameter {{{{{slot}}}}} must be of type text"
            ));
        };
        // WhatsApp's error 132018 among them: no new lines, tabs or runs of spaces.
        follows(
            &format!("body parameter {{{{{slot}}}}}"),
            Param::BodyText,
            text,
        )?;
    }
    Ok(())
}

fn check_buttons(
    bot: &Bot,
    t: &ApprovedTemplate,
    buttons: &[(&str, u32, &[Parameter])],
) -> Check<()> {
    let name = &t.name;
    if buttons.len() > limits::BUTTONS || buttons.len() != t.buttons.len() {
        return invalid(format!(
            "template `{name}` has {} button{}, got {} button component{}",
            t.buttons.len(),
            crate::words::s(t.buttons.len()),
            buttons.len(),
            crate::words::s(buttons.len()),
        ));
    }
    let mut seen = HashSet::new();
    for &(sub_type, index, params) in buttons {
        if !matches!(sub_type, "quick_reply" | "url" | "copy_code" | "flow") {
            return invalid(format!(
                "button sub_type `{sub_type}` is not one of quick_reply, url, copy_code, flow"
            ));
        }
        let Some(&approved) = t.buttons.get(index as usize) else {
            return invalid(format!(
                "button index {index} is out of range: template `{name}` has buttons 0 to {}",
                t.buttons.len().saturating_sub(1)
            ));
        };
        if !seen.insert(index) {
            return invalid(format!("button index {index} is given twice"));
        }
        if sub_type != approved {
            return invalid(format!(
                "button {index} of template `{name}` is {approved}, but the component's \
                 sub_type is {sub_type}"
            ));
        }
        let [param] = params else {
            return invalid(format!(
                "button {index} takes exactly 1 parameter, got {}",
                params.len()
            ));
        };
        match (approved, param) {
            ("quick_reply", Parameter::Payload { payload }) => quick_reply(bot, index, payload)?,
            ("url", Parameter::Text { text }) => {
                follows(
                    &format!("button {index} (url) text"),
                    Param::UrlSuffix,
                    text,
                )?;
            }
            ("copy_code", Parameter::CouponCode { coupon_code }) => {
                let field = format!("button {index} (copy_code) coupon_code");
                follows(&field, Param::CouponCode, coupon_code)?;
            }
            (kind, _) => {
                let wanted = match kind {
                    "quick_reply" => "payload",
                    "url" => "text",
                    _ => "coupon_code",
                };
                return invalid(format!(
                    "button {index} ({kind}) takes a parameter of type {wanted}"
                ));
            }
        }
    }
    Ok(())
}

/// A quick reply's payload; `flow_<key>||...` must name a flow of the bot.
fn quick_reply(bot: &Bot, index: u32, payload: &str) -> Check<()> {
    if payload.is_empty() {
        return invalid(format!("button {index} (quick_reply) payload is empty"));
    }
    if let Some(rest) = payload.strip_prefix("flow_") {
        let flow = rest.split("||").next().unwrap_or_default();
        if !bot.flows.contains(flow) {
            return invalid(format!(
                "button {index} (quick_reply) payload starts unknown flow `{flow}`"
            ));
        }
    }
    Ok(())
}

/// Checks shared by both broadcast versions.
fn broadcast_common(
    id: Option<&String>,
    status: Option<&String>,
    title: &str,
    published_on: &str,
) -> Check<()> {
    if id.is_some() || status.is_some() {
        return invalid(
            "broadcastId and status must be null: the emulator only creates broadcasts".to_owned(),
        );
    }
    if title.trim().is_empty() {
        return invalid("broadcastTitle is empty".to_owned());
    }
    published_on.parse::<jiff::Timestamp>().map_err(|e| {
        Invalid(format!(
            "publishedOn `{published_on}` is not an RFC 3339 UTC time like \
             2019-06-03T06:48:27.170Z: {e}"
        ))
    })?;
    Ok(())
}

/// A v1 text broadcast; returns the phones it messages (WhatsApp channel user ids, with `+`).
pub(super) fn broadcast_v1(b: &BroadcastV1) -> Check<Vec<String>> {
    broadcast_common(
        b.broadcast_id.as_ref(),
        b.status.as_ref(),
        &b.broadcast_title,
        &b.published_on,
    )?;
    let rule = &b.audience.rule;
    if rule.channels.is_empty() || rule.channels.iter().any(|c| c.trim().is_empty()) {
        return invalid(
            "audience.rule.channels must list channels, e.g. [\"whatsapp\"]".to_owned(),
        );
    }
    if rule.channel_user_ids.is_empty() {
        return invalid("audience.rule.channelUserIds is empty".to_owned());
    }
    let whatsapp = rule.channels.iter().any(|c| c == "whatsapp");
    for (i, id) in rule.channel_user_ids.iter().enumerate() {
        if whatsapp {
            channel_user_id(&format!("audience.rule.channelUserIds[{i}]"), id)?;
        } else if id.trim().is_empty() {
            return invalid(format!("audience.rule.channelUserIds[{i}] is empty"));
        }
    }
    if b.payload.kind != "DIRECT" {
        return invalid(format!(
            "payload.type is `{}`; expected DIRECT",
            b.payload.kind
        ));
    }
    if b.payload.content.is_empty() {
        return invalid("payload.content is empty".to_owned());
    }
    for (i, content) in b.payload.content.iter().enumerate() {
        if content.kind != "TEXT" {
            return invalid(format!(
                "payload.content[{i}].type is `{}`; expected TEXT",
                content.kind
            ));
        }
        let field = format!("payload.content[{i}].data.message");
        follows(&field, Param::BroadcastText, &content.data.message)?;
    }
    Ok(if whatsapp {
        distinct(rule.channel_user_ids.iter().map(|id| format!("+{id}")))
    } else {
        Vec::new()
    })
}

/// A v2 template broadcast (the template itself is checked by [`template`]); returns its phones.
pub(super) fn broadcast_v2(b: &BroadcastV2) -> Check<Vec<String>> {
    broadcast_common(
        b.broadcast_id.as_ref(),
        b.status.as_ref(),
        &b.broadcast_title,
        &b.published_on,
    )?;
    if b.platform != "whatsapp" {
        return invalid(format!("platform is `{}`; expected whatsapp", b.platform));
    }
    if b.users.is_empty() {
        return invalid("users is empty".to_owned());
    }
    for (i, user) in b.users.iter().enumerate() {
        phone(&format!("users[{i}].phoneNumber"), &user.phone_number)?;
    }
    if b.payload.kind != "WHATSAPP_TEMPLATE" {
        return invalid(format!(
            "payload.type is `{}`; expected WHATSAPP_TEMPLATE",
            b.payload.kind
        ));
    }
    match b.payload.content.as_slice() {
        [one] if one.kind == "TEMPLATE" => {}
        [one] => {
            return invalid(format!(
                "payload.content[0].type is `{}`; expected TEMPLATE",
                one.kind
            ));
        }
        many => {
            return invalid(format!(
                "payload.content must hold exactly one TEMPLATE entry, got {}",
                many.len()
            ));
        }
    }
    Ok(distinct(b.users.iter().map(|u| u.phone_number.clone())))
}

/// A trigger's attributes (v1 query or v2 body); returns the phone of the user it names.
pub(super) fn trigger(attributes: &[(String, String)]) -> Check<Vec<String>> {
    let mut names = HashSet::new();
    for (name, _) in attributes {
        if name.is_empty() {
            return invalid("an attribute has an empty name".to_owned());
        }
        if !names.insert(name.as_str()) {
            return invalid(format!("attribute `{name}` is given twice"));
        }
    }
    let get = |wanted: &str| {
        attributes
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, v)| v.as_str())
    };
    match (get("user.phone_no"), get("user.channel_user_id")) {
        (Some(p), id) => {
            phone("user.phone_no", p)?;
            if let Some(id) = id {
                channel_user_id("user.channel_user_id", id)?;
            }
            Ok(vec![p.to_owned()])
        }
        (None, Some(id)) => {
            channel_user_id("user.channel_user_id", id)?;
            Ok(vec![format!("+{id}")])
        }
        (None, None) => invalid(
            "the trigger names no user: give user.phone_no (E.164) or user.channel_user_id"
                .to_owned(),
        ),
    }
}

/// The v2 trigger body: a JSON object whose values are strings, in order.
pub(super) fn trigger_body(body: &serde_json::Value) -> Check<Vec<(String, String)>> {
    let serde_json::Value::Object(map) = body else {
        return invalid("the body must be a JSON object of string attributes".to_owned());
    };
    map.iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(s) => Ok((name.clone(), s.clone())),
            other => invalid(format!(
                "attribute `{name}` must be a string, got {}",
                json_kind(other)
            )),
        })
        .collect()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn distinct(phones: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    phones.filter(|p| seen.insert(p.clone())).collect()
}

/// Query parameters of a list endpoint, checked against the names it takes.
pub(super) struct Query<'a> {
    params: &'a [(String, String)],
}

impl<'a> Query<'a> {
    /// Refuses parameters the endpoint does not take, and repeated ones.
    pub(super) fn new(params: &'a [(String, String)], allowed: &[&str]) -> Check<Query<'a>> {
        let mut seen = HashSet::new();
        for (name, _) in params {
            if !allowed.contains(&name.as_str()) {
                return invalid(format!(
                    "unknown query parameter `{name}`; this endpoint takes {}",
                    allowed.join(", ")
                ));
            }
            if !seen.insert(name.as_str()) {
                return invalid(format!("query parameter `{name}` is given twice"));
            }
        }
        Ok(Query { params })
    }

    /// A parameter's value; blank counts as absent.
    pub(super) fn get(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A number parameter, or `default` when absent; `expected` says what it should be.
    pub(super) fn number<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Check<T> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                Invalid(format!(
                    "query parameter {name}=`{text}` must be {expected}"
                ))
            }),
        }
    }

    /// `page_number` (default 0) and `page_size` (default 500, at most 1000).
    pub(super) fn paging(&self) -> Check<(u32, u32)> {
        let number = self.number("page_number", 0u32, "a page number: 0, 1, 2, ...")?;
        let size = self.number("page_size", DEFAULT_PAGE_SIZE, "a number from 1 to 1000")?;
        if size == 0 || size > MAX_PAGE_SIZE {
            return invalid(format!(
                "page_size must be from 1 to {MAX_PAGE_SIZE}, got {size}"
            ));
        }
        Ok((number, size))
    }
}

/// One page of `items`: the slice, and how many pages there are.
pub(super) fn page<T>(items: &[T], number: u32, size: u32) -> (&[T], u32) {
    let size_usize = size as usize;
    let total = items.len().div_ceil(size_usize);
    let start = (number as usize)
        .saturating_mul(size_usize)
        .min(items.len());
    let end = start.saturating_add(size_usize).min(items.len());
    (&items[start..end], u32::try_from(total).unwrap_or(u32::MAX))
}
