use serde_json::{Value, json};

use super::*;

const CID: u64 = 61179;
const BOT: &str = "bb67e0773bed4c7e";
/// 2026-01-01T00:00:00Z.
const ACCEPTED: i64 = 1_767_225_600_000;

fn approved(name: &str, language: &str) -> Option<String> {
    match (name, language) {
        ("invoice_reminder", "en") => Some("Hi {{1}}, invoice {{2}} for {{3}} is due.".to_owned()),
        ("invoice_reminder", "hi") => Some("नमस्ते {{ 1 }}, चालान {{2}} देय है।".to_owned()),
        ("new_year_offer", "en") => Some("Happy new year from {{1}}! Use {{2}}.".to_owned()),
        _ => None,
    }
}

fn traces_of(path: &str, body: &Value) -> Vec<Trace> {
    let bytes = serde_json::to_vec(body).unwrap();
    traces(path, &bytes, ACCEPTED, &approved)
}

fn trace(user: &str, message_type: &'static str, text: &str, timestamp: i64) -> Trace {
    Trace {
        channel_user_id: user.to_owned(),
        message_type,
        text: Arc::from(text),
        timestamp,
    }
}

/// engati-api.md's template example, with its body parameters replaced.
fn invoice(language: &str, body: Value) -> Value {
    json!({
        "phoneNumber": "+919019486731",
        "payload": {
            "name": "invoice_reminder",
            "namespace": "980c3243-2d2a-4d2d-a572-b2a50552cb04",
            "language": {"policy": "deterministic", "code": language},
            "components": [
                {"type": "header", "parameters": [
                    {"type": "document", "document": {"filename": "invoice-12345.pdf", "link": "https://example.com/i/12345.pdf"}}]},
                {"type": "body", "parameters": body},
                {"type": "button", "sub_type": "quick_reply", "index": 0,
                 "parameters": [{"type": "payload", "payload": "flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_response=declined"}]}
            ]
        }
    })
}

fn v2(published_on: &str, phones: &[&str]) -> Value {
    let users: Vec<Value> = phones
        .iter()
        .map(|p| json!({"phoneNumber": p, "firstName": "Jahnavi"}))
        .collect();
    json!({
        "broadcastId": null, "broadcastTitle": "New year", "publishedOn": published_on,
        "platform": "whatsapp", "users": users,
        "payload": {"type": "WHATSAPP_TEMPLATE", "content": [
            {"type": "TEMPLATE", "template": {
                "name": "new_year_offer", "language": {"code": "en", "policy": "deterministic"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example/ny.png"}}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "Acme"}, {"type": "text", "text": "NY10"}]}
                ]}}]},
        "status": null
    })
}

#[test]
fn a_template_send_leaves_its_filled_body_with_the_recipient() {
    let body = invoice(
        "en",
        json!([
            {"type": "text", "text": "John"},
            {"type": "text", "text": "12345"},
            {"type": "text", "text": "Renuka Sugars"}
        ]),
    );
    assert_eq!(
        traces_of(&paths::template(CID, BOT), &body),
        [trace(
            "919019486731",
            "TEMPLATE",
            "Hi John, invoice 12345 for Renuka Sugars is due.",
            ACCEPTED
        )]
    );
    let hindi = invoice(
        "hi",
        json!([{"type": "text", "text": "जॉन"}, {"type": "text", "text": "12345"}]),
    );
    let found = traces_of(&paths::template(CID, BOT), &hindi);
    assert_eq!(&*found[0].text, "नमस्ते जॉन, चालान 12345 देय है।");
}

#[test]
fn currency_and_date_time_show_their_fallback_and_missing_slots_stay() {
    let body = invoice(
        "en",
        json!([
            {"type": "currency", "currency": {"fallback_value": "₹1,200.50", "code": "INR", "amount_1000": 1_200_500}},
            {"type": "date_time", "date_time": {"fallback_value": "25 December 2026"}}
        ]),
    );
    let found = traces_of(&paths::template(CID, BOT), &body);
    assert_eq!(
        &*found[0].text,
        "Hi ₹1,200.50, invoice 25 December 2026 for {{3}} is due."
    );
    // A media parameter is no body text: its slot stays as written too.
    let media = invoice(
        "en",
        json!([{"type": "image", "image": {"link": "https://cdn.example/a.png"}}]),
    );
    let found = traces_of(&paths::template(CID, BOT), &media);
    assert_eq!(&*found[0].text, "Hi {{1}}, invoice {{2}} for {{3}} is due.");
}

#[test]
fn a_template_broadcast_leaves_one_shared_text_with_each_user_once() {
    let body = v2(
        "2026-12-31T18:30:00.000Z",
        &["+919019486731", "+14155552671", "+919019486731"],
    );
    let found = traces_of(&paths::broadcast_v2(CID, BOT), &body);
    let published = 1_798_741_800_000; // 2026-12-31T18:30:00Z, after ACCEPTED
    let text = "Happy new year from Acme! Use NY10.";
    assert_eq!(
        found,
        [
            trace("919019486731", "TEMPLATE", text, published),
            trace("14155552671", "TEMPLATE", text, published),
        ]
    );
    assert!(Arc::ptr_eq(&found[0].text, &found[1].text));
    // A publishedOn in the past publishes at once: the acceptance time.
    let past = v2("2019-06-03T06:48:27.170Z", &["+919019486731"]);
    let found = traces_of(&paths::broadcast_v2(CID, BOT), &past);
    assert_eq!(found[0].timestamp, ACCEPTED);
}

#[test]
fn a_text_broadcast_leaves_each_message_with_each_channel_user() {
    // engati-api.md's v1 example.
    let body = json!({
        "broadcastId": null, "broadcastTitle": "testing broadcast",
        "publishedOn": "2019-06-03T06:48:27.170Z",
        "audience": {"rule": {"channels": ["whatsapp"], "channelUserIds": ["919019486731", "919178921978"]}},
        "payload": {"type": "DIRECT", "content": [
            {"type": "TEXT", "data": {"message": "this is a test message"}},
            {"type": "TEXT", "data": {"message": "this is another message"}}]},
        "status": null
    });
    let found = traces_of(&paths::broadcast_v1(CID, BOT), &body);
    let first = "this is a test message";
    let second = "this is another message";
    assert_eq!(
        found,
        [
            trace("919019486731", "TEXT", first, ACCEPTED),
            trace("919019486731", "TEXT", second, ACCEPTED),
            trace("919178921978", "TEXT", first, ACCEPTED),
            trace("919178921978", "TEXT", second, ACCEPTED),
        ]
    );
}

#[test]
fn triggers_reads_and_anything_unrecognised_leave_nothing() {
    let invoice = invoice("en", json!([{"type": "text", "text": "John"}]));
    let trigger = paths::trigger(CID, BOT, "flow_1", crate::model::TriggerApi::V2);
    let template = paths::template(CID, BOT);
    for (path, body) in [
        (trigger.as_str(), json!({"user.phone_no": "+919019486731"})),
        (&paths::conversations(CID, BOT, "919019486731"), Value::Null),
        (
            "/whatsapp-api/v1.0/customer/061179/bot/bb67e0773bed4c7e/template",
            invoice.clone(),
        ),
        (
            "/whatsapp-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/template/x",
            invoice.clone(),
        ),
        ("/elsewhere", invoice.clone()),
        (template.as_str(), json!({"phoneNumber": "+919019486731"})),
    ] {
        assert_eq!(traces_of(path, &body), [], "{path} {body}");
    }
    let unknown = {
        let mut body = invoice.clone();
        body["payload"]["name"] = json!("not_approved");
        body
    };
    assert_eq!(traces_of(&template, &unknown), []);
    assert_eq!(traces(&template, b"{not json", ACCEPTED, &approved), []);
}

#[test]
fn paths_tell_their_customer_and_bot() {
    assert_eq!(paths::scope(&paths::template(CID, BOT)), Some((CID, BOT)));
    let trigger = paths::trigger(CID, BOT, "f", crate::model::TriggerApi::V1);
    assert_eq!(paths::scope(&trigger), Some((CID, BOT)));
    for path in [
        "/bot-api/v1.0/customer/+61179/bot/x/broadcast",
        "/bot-api/v1.0/customer/61179/bot//broadcast",
        "/bot-api/v1.0/client/61179/bot/x/broadcast",
        "bot-api/v1.0/customer/61179/bot/x",
        "",
    ] {
        assert_eq!(paths::scope(path), None, "{path}");
    }
}

#[test]
fn slots_allow_spaces_and_missing_parameters_stay() {
    let params = ["a", "b"];
    let get = |i: usize| params.get(i).copied();
    assert_eq!(
        fill("{{1}}-{{ 2 }}-{{3}}-{{x}}-{{", get),
        "a-b-{{3}}-{{x}}-{{"
    );
    assert_eq!(fill("{{0}} {{1}}}", get), "{{0}} a}");
}
