//! `--redact`: plans fit for public CI logs. Recipients' phones are masked
//! ([`mask_phone`]), and in every request body (and the previous request of a changed action)
//! the values rendered from recipients' fields — the campaign's `user_paths` — become `•••`,
//! every string that looks like a phone number is masked, and so are the profile fields of a v2
//! broadcast's `users`. Query parameters get the same treatment.
//!
//! Fingerprints are zeroed too: a fingerprint is the SHA-256 of the whole unredacted request,
//! and with the rest of the request shown beside it, the six masked digits of a phone and a
//! few likely values can be found by trying them all. Redacted actions are for showing, never
//! for applying. [`Redacting`] wraps the sinks that show a plan, not the one that writes the
//! plan file.

use std::io;

use serde_json::Value;

use crate::engati::{Body, Request};
use crate::fingerprint::Fingerprint;
use crate::plan::cost::Cost;
use crate::plan::{Action, Campaign, Counts, Header, Sink};
use crate::state::WHOLE_CAMPAIGN;

/// What a hidden value becomes.
const HIDDEN: &str = "•••";

/// A phone number with all but its first 3 and last 4 characters masked
/// (`+919019486731` → `+91******6731`); 8 characters or fewer keep only their last 2 (and 2 or
/// fewer keep nothing).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0..=2 => (0, 0),
        3..=8 => (0, 2),
        _ => (3, 4),
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// `text` with every run that looks like a phone number masked: for diagnostics printed with
/// `--redact` (a recipient that fails to render is named by phone, a CSV row shown).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if looks_like_phone(run) {
            out.push_str(&mask_phone(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            if c == '+' {
                run.push(c);
            } else {
                out.push(c);
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Whether a string looks like a phone number: `^\+?[0-9]{8,15}$`.
fn looks_like_phone(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A copy of `action` with its recipient masked and every user value of its requests hidden.
pub fn redact_action(campaign: &Campaign, action: &Action) -> Action {
    redact_with(&campaign.user_paths, action)
}

fn redact_with(user_paths: &[String], action: &Action) -> Action {
    let mut out = action.clone();
    if out.recipient != WHOLE_CAMPAIGN {
        out.recipient = mask_phone(&out.recipient);
    }
    out.fingerprint = Fingerprint([0; 32]);
    if let Some(previous) = out.previous.as_mut() {
        previous.fingerprint = Fingerprint([0; 32]);
        previous.detail = previous.detail.as_deref().map(redact_text);
    }
    if let Some(decision) = out.reconciled.as_mut() {
        decision.why = redact_text(&decision.why);
    }
    redact_request(user_paths, &mut out.request);
    if let Some(request) = out.previous.as_mut().and_then(|p| p.request.as_mut()) {
        redact_request(user_paths, request);
        // The request sent before may hold recipients' values where the campaign now has
        // none (a field replaced by fixed text): `user_paths` are today's. Any value that
        // differs from today's (redacted) request is hidden too.
        hide_changed(request, &out.request);
    }
    out
}

/// Hides every string of `before`'s body and query that is not the same in `now`.
fn hide_changed(before: &mut Request, now: &Request) {
    for (name, value) in &mut before.query {
        let same = now.query.iter().any(|(n, v)| n == name && v == value);
        if !same && value != HIDDEN {
            *value = HIDDEN.to_owned();
        }
    }
    let parse =
        |body: Option<&Body>| body.and_then(|b| serde_json::from_str::<Value>(b.get()).ok());
    let Some(mut old) = parse(before.body.as_ref()) else {
        return;
    };
    let new = parse(now.body.as_ref()).unwrap_or(Value::Null);
    hide_where_different(&mut old, Some(&new));
    before.body = Some(Body::of(&old));
}

fn hide_where_different(old: &mut Value, new: Option<&Value>) {
    match old {
        Value::String(s)
            if new.and_then(Value::as_str) != Some(s.as_str()) && !s.starts_with(HIDDEN) =>
        {
            *s = HIDDEN.to_owned();
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                hide_where_different(item, new.and_then(|n| n.get(i)));
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                hide_where_different(item, new.and_then(|n| n.get(key)));
            }
        }
        _ => {}
    }
}

pub(crate) fn redact_request(user_paths: &[String], request: &mut Request) {
    let hidden_query: Vec<&str> = user_paths
        .iter()
        .filter_map(|p| p.strip_prefix('?'))
        .collect();
    for (name, value) in &mut request.query {
        if hidden_query.contains(&name.as_str()) {
            *value = HIDDEN.to_owned();
        } else if looks_like_phone(value) {
            *value = mask_phone(value);
        }
    }
    if let Some(body) = &mut request.body {
        *body = redact_body(user_paths, body);
    }
}

fn redact_body(user_paths: &[String], body: &Body) -> Body {
    let hidden = || Body::of(HIDDEN);
    // A body that cannot be read (nested past serde_json's limit, say) is hidden whole.
    let Ok(mut value) = serde_json::from_str::<Value>(body.get()) else {
        return hidden();
    };
    for path in user_paths.iter().filter(|p| !p.starts_with('?')) {
        if let Some(v) = value.pointer_mut(path) {
            *v = Value::String(HIDDEN.to_owned());
        }
    }
    // v2 broadcasts carry each user's profile (names, email) next to the phone.
    if let Some(users) = value.get_mut("users").and_then(Value::as_array_mut) {
        for user in users.iter_mut().filter_map(Value::as_object_mut) {
            for (name, v) in user.iter_mut() {
                if name != "phoneNumber" && v.is_string() {
                    *v = Value::String(HIDDEN.to_owned());
                }
            }
        }
    }
    mask_phones(&mut value);
    Body::of(&value)
}

fn mask_phones(value: &mut Value) {
    match value {
        Value::String(s) if looks_like_phone(s) => *s = mask_phone(s),
        Value::Array(items) => items.iter_mut().for_each(mask_phones),
        Value::Object(map) => map.values_mut().for_each(mask_phones),
        _ => {}
    }
}

/// A sink that redacts every action ([`redact_action`], with the current campaign's
/// `user_paths`) before passing the plan on.
pub struct Redacting<'a> {
    sink: &'a mut dyn Sink,
    user_paths: Vec<String>,
}

impl<'a> Redacting<'a> {
    /// Redacts what goes to `sink`.
    pub fn new(sink: &'a mut dyn Sink) -> Redacting<'a> {
        Redacting {
            sink,
            user_paths: Vec::new(),
        }
    }
}

impl Sink for Redacting<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.sink.begin(header)
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.user_paths.clone_from(&campaign.user_paths);
        self.sink.campaign(campaign)
    }

    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.sink.action(&redact_with(&self.user_paths, action))
    }

    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.user_paths.clear();
        self.sink.end_campaign(counts, cost)
    }

    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.sink.end(totals, cost)
    }
}

#[cfg(test)]
mod tests;
