//! Fixtures shared by the emulator's test files: an in-process emulator, a client, valid
//! bodies for every endpoint built from the api.rs types, and small HTTP helpers.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use herald::emulator::{self, BUILTIN_API_KEY, Config, Running, Seed};
use herald::engati::api::{
    AudienceRule, BroadcastAudience, BroadcastContent, BroadcastPayload, BroadcastUser,
    BroadcastV1, BroadcastV2, Component, Language, Media, Parameter, TemplateBroadcastPayload,
    TemplateContent, TemplateMessage, TemplatePayload, TextData, paths,
};
use serde_json::Value;

pub(crate) const CUSTOMER: u64 = 61179;
pub(crate) const BOT: &str = "bb67e0773bed4c7e";
pub(crate) const NO_WHATSAPP_BOT: &str = "a1b2c3d4e5f60718";
pub(crate) const FLOW: &str = "default_fallback_msg_74963";
pub(crate) const JOHN: &str = "+919019486731";

pub(crate) async fn emulator() -> Running {
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

pub(crate) fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

pub(crate) fn invoice(phone: &str) -> TemplateMessage {
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

pub(crate) fn quick_reply(index: u32, payload: &str) -> Component {
    Component::Button {
        sub_type: "quick_reply".to_owned(),
        index,
        parameters: vec![Parameter::Payload {
            payload: payload.to_owned(),
        }],
    }
}

pub(crate) fn offer_template() -> TemplatePayload {
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

pub(crate) fn broadcast_v1() -> BroadcastV1 {
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

pub(crate) fn broadcast_v2(phones: &[&str]) -> BroadcastV2 {
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

pub(crate) fn url(emu: &Running, path: &str) -> String {
    format!("{}{path}", emu.base_url())
}

/// POSTs JSON with the built-in key; answers the status and the JSON body.
pub(crate) async fn post(emu: &Running, path: &str, body: &impl serde::Serialize) -> (u16, Value) {
    let response = client()
        .post(url(emu, path))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

pub(crate) async fn get(emu: &Running, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .get(url(emu, path))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .query(query)
        .send()
        .await
        .unwrap();
    read(response).await
}

pub(crate) async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

pub(crate) fn code(body: &Value) -> i64 {
    body["status"]["code"].as_i64().unwrap_or(-1)
}

pub(crate) fn template_path() -> String {
    paths::template(CUSTOMER, BOT)
}

pub(crate) fn log_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(emulator::LOG_FILE)).unwrap_or_default()
}

/// Reads a child's pipe to the end on a thread, so it never blocks on a full pipe.
pub(crate) fn drain(
    mut pipe: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
