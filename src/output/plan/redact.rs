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

pub(super) fn redact_request(user_paths: &[String], request: &mut Request) {
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

    fn end_campaign(&mut self, counts: &Counts) -> io::Result<()> {
        self.user_paths.clear();
        self.sink.end_campaign(counts)
    }

    fn end(&mut self, totals: &Counts) -> io::Result<()> {
        self.sink.end(totals)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn phones_in_free_text_are_masked() {
        assert_eq!(
            super::redact_text("recipient 3 (+919019486731) at line 4: 9845012345,ravi; +1 2026"),
            "recipient 3 (+91******6731) at line 4: 984***2345,ravi; +1 2026"
        );
    }

    use super::*;
    use crate::model::TriggerApi;
    use crate::output::plan::fixtures;
    use crate::plan::{ActionKind, Summary};

    #[test]
    fn phones_keep_their_ends() {
        assert_eq!(mask_phone("+919019486731"), "+91******6731");
        assert_eq!(mask_phone("919019486731"), "919*****6731");
        assert_eq!(mask_phone("12345678"), "******78");
        assert_eq!(mask_phone("123456789"), "123**6789");
        assert_eq!(mask_phone("12"), "**");
        assert_eq!(mask_phone(""), "");
        assert!(looks_like_phone("+919019486731"));
        assert!(looks_like_phone("12345678"));
        assert!(!looks_like_phone("1234567"));
        assert!(!looks_like_phone("+91 9019486731"));
        assert!(!looks_like_phone("1234567890123456"));
    }

    #[test]
    fn template_actions_lose_every_user_value() {
        let campaign = fixtures::invoice_campaign();
        let action = fixtures::changed_action();
        let before = serde_json::to_string(&action).unwrap();
        assert!(before.contains("Priya") && before.contains("40077") && before.contains("6731"));
        let redacted = redact_action(&campaign, &action);
        let text = serde_json::to_string(&redacted).unwrap();
        for secret in ["Priya", "40077", "9019486731", "9019486"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(redacted.recipient, "+91******6731");
        // A hash of the whole request beside most of it would let the rest be guessed.
        assert_eq!(redacted.fingerprint, Fingerprint([0; 32]));
        assert_eq!(
            redacted.previous.as_ref().map(|p| p.fingerprint),
            Some(Fingerprint([0; 32]))
        );
        assert!(!text.contains(&action.fingerprint.to_string()));
        assert!(text.contains("Acme"), "fixed text stays: {text}");
    }

    #[test]
    fn a_value_that_no_longer_comes_from_recipients_is_hidden_in_the_request_before() {
        let campaign = fixtures::invoice_campaign();
        let mut action = fixtures::changed_action();
        // Today the campaign's user_paths say nothing of the document's filename; the request
        // sent before held a recipient's value there.
        let body = |name: &str| {
            let mut json =
                serde_json::from_str::<Value>(action.request.body.as_ref().unwrap().get()).unwrap();
            *json
                .pointer_mut("/payload/components/0/parameters/0/document/filename")
                .unwrap() = Value::String(name.to_owned());
            Body::of(&json)
        };
        let now = body("invoice.pdf");
        let before = body("priya-secret-invoice.pdf");
        action.request.body = Some(now);
        let previous = action.previous.as_mut().unwrap();
        previous.request.as_mut().unwrap().body = Some(before);
        let mut campaign = campaign;
        campaign
            .user_paths
            .retain(|p| !p.ends_with("/document/filename"));
        let redacted = redact_action(&campaign, &action);
        let text = serde_json::to_string(&redacted).unwrap();
        assert!(!text.contains("priya-secret"), "{text}");
        assert!(
            text.contains("invoice.pdf"),
            "today's fixed text stays: {text}"
        );
    }

    #[test]
    fn trigger_queries_and_bodies_are_hidden() {
        let campaign = fixtures::trigger_campaign();
        for (api, paths) in [
            (TriggerApi::V1, vec!["?user.user_name", "?invoice_no"]),
            (TriggerApi::V2, vec!["/user.user_name", "/invoice_no"]),
        ] {
            let mut campaign = campaign.clone();
            campaign.user_paths = paths.into_iter().map(str::to_owned).collect();
            let mut action = fixtures::action(
                ActionKind::Send,
                "+919019486731",
                fixtures::trigger_request("+919019486731", "John", api),
            );
            action
                .request
                .query
                .push(("phone".to_owned(), "919019486731".to_owned()));
            let text = serde_json::to_string(&redact_action(&campaign, &action)).unwrap();
            assert!(!text.contains("John") && !text.contains("12345"), "{text}");
            assert!(!text.contains("9019486"), "{text}");
        }
    }

    #[test]
    fn broadcast_users_and_channel_ids_are_masked() {
        let campaign = fixtures::template_broadcast_campaign();
        let action = fixtures::action(
            ActionKind::Send,
            "*",
            fixtures::template_broadcast_request(),
        );
        let redacted = redact_action(&campaign, &action);
        assert_eq!(redacted.recipient, "*");
        let text = serde_json::to_string(&redacted).unwrap();
        assert!(
            !text.contains("Priya") && !text.contains("9019486"),
            "{text}"
        );
        let campaign = fixtures::broadcast_campaign();
        let action = fixtures::action(ActionKind::Send, "*", fixtures::broadcast_request());
        let text = serde_json::to_string(&redact_action(&campaign, &action)).unwrap();
        assert!(
            !text.contains("9019486") && text.contains("Offer ends Sunday"),
            "{text}"
        );
    }

    #[test]
    fn the_sink_redacts_with_the_current_campaign() {
        let mut summary = Summary::default();
        let mut sink = Redacting::new(&mut summary);
        fixtures::summary()
            .campaigns
            .iter()
            .try_for_each(|c| {
                sink.campaign(&c.campaign)?;
                c.shown.iter().try_for_each(|a| sink.action(a))?;
                sink.end_campaign(&c.counts)
            })
            .unwrap();
        let text = format!("{:?}", summary.campaigns);
        assert!(!text.contains("Priya") && !text.contains("40077"));
        assert!(!text.contains("9019486"));
    }
}
