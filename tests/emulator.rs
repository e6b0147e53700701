//! The Engati emulator over real loopback HTTP: every endpoint, auth, the strict checks (their
//! error bodies are snapshotted), paging, the durable record, every fault, and the binary's
//! start, logs and clean exit on SIGINT.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald::emulator::{self, BUILTIN_API_KEY, Config, Faults, Running, Seed};
use herald::engati::api::{
    AudienceRule, BroadcastAudience, BroadcastContent, BroadcastPayload, BroadcastUser,
    BroadcastV1, BroadcastV2, Component, Language, Media, Parameter, TemplateBroadcastPayload,
    TemplateContent, TemplateMessage, TemplatePayload, TextData, paths,
};
use herald::model::TriggerApi;
use serde_json::{Value, json};

const CUSTOMER: u64 = 61179;
const BOT: &str = "bb67e0773bed4c7e";
const NO_WHATSAPP_BOT: &str = "a1b2c3d4e5f60718";
const FLOW: &str = "default_fallback_msg_74963";
const JOHN: &str = "+919019486731";

async fn emulator() -> Running {
    emulator::start(Config::local(Seed::builtin()))
        .await
        .expect("the emulator starts")
}

thread_local! {
    /// One client per test thread (so per test and its runtime): building one loads TLS roots,
    /// which costs more than the requests of most tests.
    static CLIENT: reqwest::Client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
}

fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

fn invoice(phone: &str) -> TemplateMessage {
    TemplateMessage {
        phone_number: phone.to_owned(),
        payload: TemplatePayload {
            name: "invoice_reminder".to_owned(),
            namespace: Some("980c3243-2d2a-4d2d-a572-b2a50552cb04".to_owned()),
            language: Language::deterministic("en"),
            components: vec![
                Component::Header {
                    parameters: vec![Parameter::Document {
                        document: Media {
                            link: "https://cdn.example/inv/12345.pdf".to_owned(),
                            filename: Some("invoice-12345.pdf".to_owned()),
                        },
                    }],
                },
                Component::Body {
                    parameters: ["John", "12345", "Renuka Sugars"]
                        .map(|t| Parameter::Text { text: t.to_owned() })
                        .to_vec(),
                },
                quick_reply(
                    0,
                    "flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_response=approved",
                ),
                quick_reply(
                    1,
                    "flow_e30d44bcca4c49d49976d3ac0416c405||data_response=declined",
                ),
            ],
        },
    }
}

fn quick_reply(index: u32, payload: &str) -> Component {
    Component::Button {
        sub_type: "quick_reply".to_owned(),
        index,
        parameters: vec![Parameter::Payload {
            payload: payload.to_owned(),
        }],
    }
}

fn offer_template() -> TemplatePayload {
    TemplatePayload {
        name: "new_year_offer".to_owned(),
        namespace: None,
        language: Language::deterministic("en"),
        components: vec![
            Component::Header {
                parameters: vec![Parameter::Image {
                    image: Media {
                        link: "https://cdn.example/img/new-year.png".to_owned(),
                        filename: None,
                    },
                }],
            },
            Component::Body {
                parameters: ["Renuka Sugars", "NEWYEAR10"]
                    .map(|t| Parameter::Text { text: t.to_owned() })
                    .to_vec(),
            },
            Component::Button {
                sub_type: "url".to_owned(),
                index: 0,
                parameters: vec![Parameter::Text {
                    text: "new-year".to_owned(),
                }],
            },
            Component::Button {
                sub_type: "copy_code".to_owned(),
                index: 1,
                parameters: vec![Parameter::CouponCode {
                    coupon_code: "NEWYEAR10".to_owned(),
                }],
            },
        ],
    }
}

fn broadcast_v1() -> BroadcastV1 {
    BroadcastV1 {
        broadcast_id: None,
        broadcast_title: "Weekend offer".to_owned(),
        published_on: "2026-12-05T04:30:00.000Z".to_owned(),
        audience: BroadcastAudience {
            rule: AudienceRule {
                channels: vec!["whatsapp".to_owned()],
                channel_user_ids: vec!["919019486731".to_owned(), "919178921978".to_owned()],
            },
        },
        payload: BroadcastPayload {
            kind: "DIRECT".to_owned(),
            content: vec![BroadcastContent {
                kind: "TEXT".to_owned(),
                data: TextData {
                    message: "Our weekend offer".to_owned(),
                },
            }],
        },
        status: None,
    }
}

fn broadcast_v2(phones: &[&str]) -> BroadcastV2 {
    BroadcastV2 {
        broadcast_id: None,
        broadcast_title: "New year offer".to_owned(),
        published_on: "2026-12-31T18:30:00.000Z".to_owned(),
        platform: "whatsapp".to_owned(),
        users: phones
            .iter()
            .map(|p| BroadcastUser {
                phone_number: (*p).to_owned(),
                email: None,
                organization: None,
                title: None,
                last_name: None,
                first_name: Some("Anil".to_owned()),
                user_name: None,
            })
            .collect(),
        payload: TemplateBroadcastPayload {
            kind: "WHATSAPP_TEMPLATE".to_owned(),
            content: vec![TemplateContent {
                kind: "TEMPLATE".to_owned(),
                template: offer_template(),
            }],
        },
        status: None,
    }
}

fn url(emu: &Running, path: &str) -> String {
    format!("{}{path}", emu.base_url())
}

/// POSTs JSON with the built-in key; answers the status and the JSON body.
async fn post(emu: &Running, path: &str, body: &impl serde::Serialize) -> (u16, Value) {
    let response = client()
        .post(url(emu, path))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn get(emu: &Running, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .get(url(emu, path))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .query(query)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn code(body: &Value) -> i64 {
    body["status"]["code"].as_i64().unwrap_or(-1)
}

fn template_path() -> String {
    paths::template(CUSTOMER, BOT)
}

#[tokio::test]
async fn every_endpoint_answers_success_and_is_recorded() {
    let emu = emulator().await;
    let (status, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    assert_eq!(body["data"]["messages"][0]["id"], "wamid.1");
    let offer = TemplateMessage {
        phone_number: "+447700900123".to_owned(),
        payload: offer_template(),
    };
    let (status, body) = post(&emu, &template_path(), &offer).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");

    let (status, body) = post(&emu, &paths::broadcast_v1(CUSTOMER, BOT), &broadcast_v1()).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    let v2 = broadcast_v2(&[JOHN, "+14155552671"]);
    let (status, body) = post(&emu, &paths::broadcast_v2(CUSTOMER, BOT), &v2).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");

    let trigger_v2 = paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2);
    let attributes = json!({"user.channel": "whatsapp", "user.phone_no": "+919178921978", "user.user_name": "Jahnavi"});
    let (status, body) = post(&emu, &trigger_v2, &attributes).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    let trigger_v1 = paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V1);
    let response = client()
        .post(url(&emu, &trigger_v1))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .query(&[("user.phone_no", JOHN), ("user.user_name", "John")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");

    let users = paths::users(CUSTOMER, BOT);
    let query = [("attribute_name", "opt1"), ("attribute_value", "yes")];
    let (status, body) = get(&emu, &users, &query).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    assert_eq!(body["data"]["users"].as_array().unwrap().len(), 6);
    let conversations = paths::conversations(CUSTOMER, BOT, "919019486731");
    let (status, body) = get(&emu, &conversations, &[]).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    assert_eq!(body["data"]["conversations"][0]["messageType"], "TEXT");

    let requests = emu.requests();
    let seqs: Vec<u64> = requests.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    assert_eq!(requests[0].path, template_path());
    assert_eq!(requests[0].phones, [JOHN]);
    assert_eq!(
        requests[0].body.as_ref().unwrap()["payload"]["name"],
        "invoice_reminder"
    );
    assert_eq!(requests[5].method, "POST");
    assert_eq!(requests[5].body, None);
    assert_eq!(
        requests[5].query[1],
        ("user.user_name".to_owned(), "John".to_owned())
    );
    assert_eq!(requests[6].method, "GET");
    assert!(requests[6].phones.is_empty());
    let received = &requests[0].received_at;
    assert!(received.ends_with('Z') && received.parse::<jiff::Timestamp>().is_ok());
    let counts = emu.counts();
    let expected: BTreeMap<String, u64> = [
        (JOHN, 4),
        ("+14155552671", 1),
        ("+447700900123", 1),
        ("+919178921978", 2),
    ]
    .into_iter()
    .map(|(p, n)| (p.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);
    emu.shutdown().await;
}

#[tokio::test]
async fn auth_missing_and_wrong_keys_are_401_revoked_keys_403() {
    let emu = emulator().await;
    let target = url(&emu, &template_path());
    let send = |key: Option<&str>| {
        let mut request = client().post(&target).json(&invoice(JOHN));
        if let Some(key) = key {
            request = request.header("Authorization", key.to_owned());
        }
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, body) = send(None).await;
    assert_eq!((status, code(&body)), (401, 2000), "{body}");
    let (status, _) = send(Some("Basic wrong-key")).await;
    assert_eq!(status, 401);
    // base64("emulator-key"): Engati takes the key as-is, not base64-encoded.
    let (status, _) = send(Some("Basic ZW11bGF0b3Ita2V5")).await;
    assert_eq!(status, 401);
    let (status, _) = send(Some("Bearer emulator-key")).await;
    assert_eq!(status, 401);
    let (status, body) = send(Some("Basic emulator-revoked-key")).await;
    assert_eq!((status, code(&body)), (403, 2000), "{body}");

    let (status, _) = send(Some("Basic emulator-key")).await;
    assert_eq!(status, 200);
    emu.revoke_key(BUILTIN_API_KEY);
    let (status, body) = send(Some("Basic emulator-key")).await;
    assert_eq!((status, code(&body)), (403, 2000), "{body}");
    assert_eq!(emu.requests().len(), 1, "refused calls are not recorded");
    emu.shutdown().await;
}

#[tokio::test]
async fn keys_are_revoked_over_http_and_may_be_scoped_to_a_customer() {
    let mut seed = Seed::builtin();
    seed.keys.push(emulator::seed::SeedKey {
        key: "other-customer-key".to_owned(),
        customer: Some(70000),
        revoked: false,
    });
    seed.customers.push(emulator::seed::SeedCustomer {
        id: 70000,
        name: None,
        bots: Vec::new(),
    });
    let emu = emulator::start(Config::local(seed)).await.unwrap();
    let response = client()
        .post(url(&emu, &template_path()))
        .header("Authorization", "Basic other-customer-key")
        .json(&invoice(JOHN))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!((status, code(&body)), (403, 2000), "{body}");

    let revoke = url(&emu, &format!("/_emulator/keys/{BUILTIN_API_KEY}/revoke"));
    let response = client().post(&revoke).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, _) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(status, 403);
    let unknown = url(&emu, "/_emulator/keys/no-such-key/revoke");
    let response = client().post(&unknown).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_customer_bot_flow_and_missing_whatsapp() {
    let emu = emulator().await;
    let (status, body) = post(&emu, &paths::template(99999, BOT), &invoice(JOHN)).await;
    assert_eq!((status, code(&body)), (404, 2000), "{body}");
    let (status, body) = post(
        &emu,
        &paths::template(CUSTOMER, "0000000000000000"),
        &invoice(JOHN),
    )
    .await;
    assert_eq!((status, code(&body)), (200, 2003), "{body}");
    let (status, body) = post(
        &emu,
        &paths::template(CUSTOMER, NO_WHATSAPP_BOT),
        &invoice(JOHN),
    )
    .await;
    assert_eq!((status, code(&body)), (200, 2004), "{body}");
    let v2 = broadcast_v2(&[JOHN]);
    let (status, body) = post(&emu, &paths::broadcast_v2(CUSTOMER, NO_WHATSAPP_BOT), &v2).await;
    assert_eq!((status, code(&body)), (200, 2004), "{body}");
    let flow = paths::trigger(CUSTOMER, BOT, "no_such_flow", TriggerApi::V2);
    let (status, body) = post(&emu, &flow, &json!({"user.phone_no": JOHN})).await;
    assert_eq!((status, code(&body)), (404, 2000), "{body}");
    let response = client()
        .get(url(&emu, "/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = client()
        .get(url(&emu, &template_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(emu.requests().is_empty());
    emu.shutdown().await;
}

/// A valid invoice message as JSON, changed by `edit`.
fn invoice_json(edit: impl FnOnce(&mut Value)) -> Value {
    let mut value = serde_json::to_value(invoice(JOHN)).unwrap();
    edit(&mut value);
    value
}

#[tokio::test]
async fn invalid_requests_get_400_with_a_clear_message() {
    let emu = emulator().await;
    let template = template_path();
    let components = |v: &mut Value| v["payload"]["components"].as_array_mut().unwrap().clone();
    let post_cases: Vec<(&str, String, Value)> = vec![
        (
            "unknown-field",
            template.clone(),
            invoice_json(|v| v["phone"] = json!(JOHN)),
        ),
        (
            "missing-field",
            template.clone(),
            invoice_json(|v| {
                v.as_object_mut().unwrap().remove("phoneNumber");
            }),
        ),
        (
            "wrong-type",
            template.clone(),
            invoice_json(|v| v["phoneNumber"] = json!(919019486731u64)),
        ),
        (
            "phone-not-e164",
            template.clone(),
            invoice_json(|v| v["phoneNumber"] = json!("919019486731")),
        ),
        (
            "unknown-template",
            template.clone(),
            invoice_json(|v| v["payload"]["name"] = json!("invoice_remindr")),
        ),
        (
            "wrong-language",
            template.clone(),
            invoice_json(|v| v["payload"]["language"]["code"] = json!("hi")),
        ),
        (
            "wrong-policy",
            template.clone(),
            invoice_json(|v| v["payload"]["language"]["policy"] = json!("fallback")),
        ),
        (
            "wrong-namespace",
            template.clone(),
            invoice_json(|v| v["payload"]["namespace"] = json!("x")),
        ),
        (
            "body-param-count",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][1]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "body-param-newline",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][1]["parameters"][0]["text"] = json!("John\nDoe");
            }),
        ),
        (
            "header-type-mismatch",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][0]["parameters"][0] =
                    json!({"type": "image", "image": {"link": "https://cdn.example/a.png"}});
            }),
        ),
        (
            "header-missing",
            template.clone(),
            invoice_json(|v| {
                let mut c = components(v);
                c.remove(0);
                v["payload"]["components"] = json!(c);
            }),
        ),
        (
            "header-link-not-url",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][0]["parameters"][0]["document"]["link"] =
                    json!("cdn/a.pdf");
            }),
        ),
        (
            "button-count",
            template.clone(),
            invoice_json(|v| {
                let mut c = components(v);
                c.pop();
                v["payload"]["components"] = json!(c);
            }),
        ),
        (
            "button-sub-type",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][3]["sub_type"] = json!("url");
            }),
        ),
        (
            "button-index-twice",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][3]["index"] = json!(0);
            }),
        ),
        (
            "button-unknown-flow",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][2]["parameters"][0]["payload"] =
                    json!("flow_deadbeef||data_x=y");
            }),
        ),
        (
            "unknown-component",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][0]["type"] = json!("footer");
            }),
        ),
        (
            "broadcast-v1-channel-user-id",
            paths::broadcast_v1(CUSTOMER, BOT),
            {
                let mut b = serde_json::to_value(broadcast_v1()).unwrap();
                b["audience"]["rule"]["channelUserIds"][1] = json!("+919178921978");
                b
            },
        ),
        (
            "broadcast-v1-published-on",
            paths::broadcast_v1(CUSTOMER, BOT),
            {
                let mut b = serde_json::to_value(broadcast_v1()).unwrap();
                b["publishedOn"] = json!("tomorrow");
                b
            },
        ),
        (
            "broadcast-v2-phone",
            paths::broadcast_v2(CUSTOMER, BOT),
            serde_json::to_value(broadcast_v2(&[JOHN, "+91 98450 12345"])).unwrap(),
        ),
        (
            "broadcast-v2-body-count",
            paths::broadcast_v2(CUSTOMER, BOT),
            {
                let mut b = serde_json::to_value(broadcast_v2(&[JOHN])).unwrap();
                b["payload"]["content"][0]["template"]["components"][1]["parameters"] = json!([]);
                b
            },
        ),
        (
            "trigger-no-user",
            paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2),
            json!({"user.channel": "whatsapp", "user.user_name": "John"}),
        ),
        (
            "trigger-not-string",
            paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2),
            json!({"user.phone_no": JOHN, "age": 42}),
        ),
        (
            "trigger-not-object",
            paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2),
            json!(["user.phone_no", JOHN]),
        ),
    ];
    let mut answers = Vec::new();
    for (case, path, body) in post_cases {
        let (status, body) = post(&emu, &path, &body).await;
        answers.push(json!({"case": case, "status": status, "body": body}));
    }
    let raw_cases = [
        (
            "malformed-json",
            "application/json",
            "{\"phoneNumber\": \"+919019486731\", ",
        ),
        ("empty-body", "application/json", ""),
        ("wrong-content-type", "text/plain", "{}"),
    ];
    for (case, content_type, body) in raw_cases {
        let response = client()
            .post(url(&emu, &template))
            .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        answers.push(json!({"case": case, "status": status, "body": body}));
    }
    let users = paths::users(CUSTOMER, BOT);
    type GetCase<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let get_cases: Vec<GetCase> = vec![
        (
            "users-no-attribute",
            users.clone(),
            vec![("attribute_value", "yes")],
        ),
        (
            "users-unknown-param",
            users.clone(),
            vec![
                ("attribute_name", "opt1"),
                ("attribute_value", "yes"),
                ("pageSize", "2"),
            ],
        ),
        (
            "users-page-size",
            users.clone(),
            vec![
                ("attribute_name", "opt1"),
                ("attribute_value", "yes"),
                ("page_size", "5000"),
            ],
        ),
        (
            "users-page-number",
            users,
            vec![
                ("attribute_name", "opt1"),
                ("attribute_value", "yes"),
                ("page_number", "-1"),
            ],
        ),
        (
            "conversations-bad-id",
            paths::conversations(CUSTOMER, BOT, "+919019486731"),
            vec![],
        ),
        (
            "conversations-bad-date",
            paths::conversations(CUSTOMER, BOT, "919019486731"),
            vec![("start_date", "2025-11-20")],
        ),
    ];
    for (case, path, query) in get_cases {
        let (status, body) = get(&emu, &path, &query).await;
        answers.push(json!({"case": case, "status": status, "body": body}));
    }
    let trigger_v1 = paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V1);
    let response = client()
        .post(url(&emu, &trigger_v1))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .query(&[("user.phone_no", "09019486731")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    answers.push(json!({"case": "trigger-v1-bad-phone", "status": status, "body": body}));

    for answer in &answers {
        let status = answer["status"].as_u64().unwrap();
        assert!(matches!(status, 400 | 415), "{answer}");
        assert_eq!(code(&answer["body"]), 2000, "{answer}");
    }
    assert!(
        emu.requests().is_empty(),
        "refused requests are not recorded"
    );
    insta::assert_json_snapshot!("validation_errors", answers);
    emu.shutdown().await;
}

#[tokio::test]
async fn users_and_conversations_are_paged() {
    let emu = emulator().await;
    let users = paths::users(CUSTOMER, BOT);
    let mut phones = Vec::new();
    for page in ["0", "1", "2", "3"] {
        let query = [
            ("attribute_name", "opt1"),
            ("attribute_value", "yes"),
            ("page_number", page),
            ("page_size", "2"),
        ];
        let (status, body) = get(&emu, &users, &query).await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        assert_eq!(
            (data["pageSize"].as_u64(), data["totalPages"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(data["pageNumber"], page.parse::<u64>().unwrap());
        for user in data["users"].as_array().unwrap() {
            assert_eq!(user["attributes"]["opt1"], "yes");
            phones.push(user["phoneNumber"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        phones,
        [
            "+919019486731",
            "+919178921978",
            "+14155552671",
            "+919900112233",
            "+919886655443",
            "+447700900123"
        ]
    );
    let query = [("attribute_name", "opt1"), ("attribute_value", "maybe")];
    let (_, body) = get(&emu, &users, &query).await;
    assert_eq!(body["data"]["users"], json!([]));
    assert_eq!(body["data"]["totalPages"], 0);

    let history = paths::conversations(CUSTOMER, BOT, "919019486731");
    let (_, body) = get(&emu, &history, &[]).await;
    assert_eq!(body["data"]["pageSize"], 500);
    assert_eq!(body["data"]["conversations"].as_array().unwrap().len(), 5);
    let (_, body) = get(&emu, &history, &[("page_number", "1"), ("page_size", "2")]).await;
    let texts: Vec<&str> = body["data"]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["12345", "invoice-12345.pdf"]);
    assert_eq!(body["data"]["totalPages"], 3);
    // 2025-11-20T09:31:00Z to 2025-11-21T00:00:00Z: the two messages of 09:31.
    let window = [
        ("start_date", "1763631060000"),
        ("end_date", "1763683200000"),
        ("end_date_x", ""),
    ];
    let (status, _) = get(&emu, &history, &window).await;
    assert_eq!(status, 400, "unknown parameters are refused");
    let (_, body) = get(&emu, &history, &window[..2]).await;
    assert_eq!(body["data"]["conversations"].as_array().unwrap().len(), 2);
    let (_, body) = get(&emu, &history, &[("start_date", ""), ("end_date", "")]).await;
    assert_eq!(
        body["data"]["conversations"].as_array().unwrap().len(),
        5,
        "blank = all"
    );
    let stranger = paths::conversations(CUSTOMER, BOT, "919999999999");
    let (status, body) = get(&emu, &stranger, &[]).await;
    assert_eq!((status, &body["data"]["conversations"]), (200, &json!([])));
    emu.shutdown().await;
}

#[tokio::test]
async fn inspection_endpoints_list_count_and_reset() {
    let emu = emulator().await;
    for phone in [JOHN, JOHN, "+14155552671"] {
        let (status, _) = post(&emu, &template_path(), &invoice(phone)).await;
        assert_eq!(status, 200);
    }
    let response = client()
        .get(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let listed: Vec<emulator::RecordedRequest> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed, emu.requests());
    assert_eq!(listed.len(), 3);
    let counts: Value = client()
        .get(url(&emu, "/_emulator/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts.to_string(),
        r#"{"+14155552671":1,"+919019486731":2}"#
    );

    let response = client()
        .delete(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert!(emu.requests().is_empty());
    assert!(emu.counts().is_empty());
    let (_, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(
        body["data"]["messages"][0]["id"], "wamid.1",
        "numbering restarts"
    );
    emu.shutdown().await;
}

fn log_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(emulator::LOG_FILE)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_is_durable_and_written_before_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: Some(dir.path().join("data")),
        ..Config::local(Seed::builtin())
    };
    let emu = emulator::start(config()).await.unwrap();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..40 {
        let target = url(&emu, &template_path());
        let data = dir.path().join("data");
        sends.spawn(async move {
            let phone = format!("+9190194867{i:02}");
            let response = client()
                .post(target)
                .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
                .json(&invoice(&phone))
                .send()
                .await
                .unwrap();
            let (_, body) = read(response).await;
            // The answer has arrived: its record must already be in the file.
            let seq = body["data"]["messages"][0]["id"].as_str().unwrap()[6..].to_owned();
            let file = log_file(&data);
            assert!(
                file.lines()
                    .any(|l| l.starts_with(&format!("{{\"seq\":{seq},"))),
                "record {seq} is not in the file yet"
            );
        });
    }
    while let Some(result) = sends.join_next().await {
        result.unwrap();
    }
    let before = emu.requests();
    let counts = emu.counts();
    assert_eq!(before.len(), 40);
    emu.shutdown().await;

    // A crash in the middle of a write leaves a partial last line; it is dropped on restart.
    let path = dir.path().join("data").join(emulator::LOG_FILE);
    let mut torn = std::fs::read(&path).unwrap();
    torn.extend_from_slice(b"{\"seq\":41,\"meth");
    std::fs::write(&path, torn).unwrap();

    let emu = emulator::start(config()).await.unwrap();
    assert_eq!(emu.requests(), before);
    assert_eq!(emu.counts(), counts);
    let (_, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(body["data"]["messages"][0]["id"], "wamid.41");
    assert_eq!(log_file(&dir.path().join("data")).lines().count(), 41);
    let response = client()
        .delete(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        log_file(&dir.path().join("data")),
        "",
        "reset truncates the file"
    );
    emu.shutdown().await;

    std::fs::write(&path, "not json\n").unwrap();
    let error = emulator::start(config()).await.unwrap_err();
    assert!(
        error.to_string().contains("line 1 is not a request record"),
        "{error}"
    );
}

#[tokio::test]
async fn refusal_faults_429_500_1002_are_not_recorded() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        rate_limit: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let response = client()
        .post(url(&emu, &template_path()))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(&invoice(JOHN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");

    emu.set_faults(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let (status, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!((status, code(&body)), (500, 2000));

    emu.set_faults(Faults {
        outside_window: 1.0,
        ..Faults::default()
    });
    let (status, body) = post(&emu, &paths::broadcast_v1(CUSTOMER, BOT), &broadcast_v1()).await;
    assert_eq!((status, code(&body)), (200, 1002), "{body}");
    // 1002 is about messages: reads are unaffected.
    let history = paths::conversations(CUSTOMER, BOT, "919019486731");
    let (status, body) = get(&emu, &history, &[]).await;
    assert_eq!((status, code(&body)), (200, 1000));
    assert_eq!(emu.requests().len(), 1);
    assert!(emu.counts().is_empty());

    // Over HTTP: the same fields; absent ones are 0, bad ones refused.
    let faults = url(&emu, "/_emulator/faults");
    let response = client()
        .put(&faults)
        .json(&json!({"latency_ms": 150, "seed": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let now: Faults = client()
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        now,
        Faults {
            latency_ms: 150,
            seed: Some(3),
            ..Faults::default()
        }
    );
    let started = Instant::now();
    let (status, _) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    for bad in [
        json!({"hang": 2.0}),
        json!({"rate_limt": 0.1}),
        json!({"rate_limit": 0.7, "server_error": 0.7}),
    ] {
        let response = client().put(&faults).json(&bad).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{bad}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn hang_and_drop_faults_record_the_request_but_never_answer() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        hang: 1.0,
        ..Faults::default()
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = impatient
        .post(url(&emu, &template_path()))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(&invoice(JOHN))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(emu.requests().len(), 1, "a hung request was accepted");

    emu.set_faults(Faults {
        drop_after_processing: 1.0,
        ..Faults::default()
    });
    let error = client()
        .post(url(&emu, &template_path()))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(&invoice("+14155552671"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(emu.requests().len(), 2, "a dropped request was accepted");
    assert_eq!(emu.counts()["+14155552671"], 1);

    // A hung request does not hold up shutdown.
    emu.set_faults(Faults {
        hang: 1.0,
        ..Faults::default()
    });
    let target = url(&emu, &template_path());
    let waiting = tokio::spawn(async move {
        client()
            .post(target)
            .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
            .json(&invoice(JOHN))
            .send()
            .await
    });
    while emu.requests().len() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    emu.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(waiting.await.unwrap().is_err());
}

#[test]
fn seed_files_are_read_as_yaml_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    std::fs::write(
        &path,
        "keys: [{key: k1}]\ncustomers:\n  - id: 5\n    bots:\n      - key: 00000000000000aa\n        whatsapp: false\n",
    )
    .unwrap();
    let seed = Seed::from_file(&path).unwrap();
    assert_eq!(seed.customers[0].bots[0].key, "00000000000000aa");
    std::fs::write(&path, "keys: [{key: k1, customer: 6}]\n").unwrap();
    let error = Seed::from_file(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        "seed: keys[0].customer: customer 6 is not in the seed"
    );
    let error = Seed::from_file(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(
        error.to_string().starts_with("cannot read seed file"),
        "{error}"
    );
}

/// Reads a child's pipe to the end on a thread, so it never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

#[tokio::test]
async fn the_binary_starts_logs_without_the_key_and_exits_cleanly_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["emulator", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let startup = started.elapsed();
    let base = first
        .trim()
        .strip_prefix("herald emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    assert!(startup < Duration::from_secs(2), "started in {startup:?}");

    for key in [BUILTIN_API_KEY, "emulator-revoked-key"] {
        let response = client()
            .post(format!("{base}{}", template_path()))
            .header("Authorization", format!("Basic {key}"))
            .json(&invoice(JOHN))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            if key == BUILTIN_API_KEY { 200 } else { 403 }
        );
    }
    let revoke = format!("{base}/_emulator/keys/{BUILTIN_API_KEY}/revoke");
    assert_eq!(
        client()
            .post(revoke)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit within 5 s of SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit:?}");
    let logs = stderr.join().unwrap();
    let template_lines = logs
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains(&format!("POST {}", template_path())))
        .count();
    assert_eq!(template_lines, 2, "{logs}");
    assert!(logs.contains(" 403 "), "{logs}");
    assert!(
        logs.contains("POST /_emulator/keys/{key}/revoke 204"),
        "{logs}"
    );
    assert!(
        !logs.contains("emulator-key") && !logs.contains("emulator-revoked-key"),
        "{logs}"
    );
    assert!(!logs.contains("Basic"), "{logs}");
    assert_eq!(log_file(dir.path()).lines().count(), 1);
}
