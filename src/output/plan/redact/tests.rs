//! Redaction, case by case: what each kind of action loses and keeps.

use super::*;
use crate::model::TriggerApi;
use crate::output::plan::fixtures;
use crate::plan::{ActionKind, Summary};

#[test]
fn phones_in_free_text_are_masked() {
    assert_eq!(
        super::redact_text("recipient 3 (+919019486731) at line 4: 9845012345,ravi; +1 2026"),
        "recipient 3 (+91******6731) at line 4: 984***2345,ravi; +1 2026"
    );
}

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
            sink.end_campaign(&c.counts, c.cost.as_ref())
        })
        .unwrap();
    let text = format!("{:?}", summary.campaigns);
    assert!(!text.contains("Priya") && !text.contains("40077"));
    assert!(!text.contains("9019486"));
}
