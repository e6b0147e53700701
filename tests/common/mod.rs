//! Shared by the client test files: settings, a distinctive API key, and realistic bodies (the
//! examples of engati-api.md).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use herald::engati::api::{
    AudienceRule, BroadcastAudience, BroadcastContent, BroadcastPayload, BroadcastUser,
    BroadcastV1, BroadcastV2, Component, Language, Media, Parameter, TemplateBroadcastPayload,
    TemplateContent, TemplateMessage, TemplatePayload, TextData,
};
use herald::engati::{Client, ClientConfig};
use herald::model::{Api, TriggerApi};

/// A key that is easy to search for in any output.
pub(crate) const KEY: &str = "hk_LEAK_CANARY_5f0c2e9b7a31d4e8";
/// The variable it comes from.
pub(crate) const VAR: &str = "ENGATI_API_KEY";
/// The builtin seed's customer and bot.
pub(crate) const CUSTOMER: u64 = 61179;
pub(crate) const BOT: &str = "bb67e0773bed4c7e";

/// `api:` settings pointing at `base_url`.
pub(crate) fn api(base_url: &str) -> Api {
    Api {
        base_url: base_url.to_owned(),
        customer_id: CUSTOMER,
        bot_key: BOT.to_owned(),
        api_key_env: VAR.to_owned(),
        rate_limit: None,
        concurrency: Some(4),
        trigger_api: TriggerApi::V2,
        timeout_seconds: None,
        messaging_limit: None,
    }
}

/// A client for `base_url` with `key` in [`VAR`] and a timeout short enough for tests but long
/// enough not to flake on a loaded CI machine.
pub(crate) fn client_with(
    base_url: &str,
    key: &str,
    trigger_api: TriggerApi,
    timeout: Duration,
) -> Client {
    let mut settings = api(base_url);
    settings.trigger_api = trigger_api;
    let config = ClientConfig::from_settings(
        &settings,
        |name| (name == VAR).then(|| key.to_owned()),
        false,
    )
    .expect("test settings are valid")
    .with_timeout(timeout);
    Client::new(config).expect("client builds")
}

/// [`client_with`] with [`KEY`], trigger v2 and a 5 s timeout.
pub(crate) fn client(base_url: &str) -> Client {
    client_with(base_url, KEY, TriggerApi::V2, Duration::from_secs(5))
}

fn text(t: &str) -> Parameter {
    Parameter::Text { text: t.to_owned() }
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

/// The invoice_reminder template's parameters (document header, 3 body slots, 2 quick replies).
pub(crate) fn invoice_payload() -> TemplatePayload {
    TemplatePayload {
        name: "invoice_reminder".to_owned(),
        namespace: Some("980c3243-2d2a-4d2d-a572-b2a50552cb04".to_owned()),
        language: Language::deterministic("en"),
        components: vec![
            Component::Header {
                parameters: vec![Parameter::Document {
                    document: Media {
                        link: "https://example.com/i/12345.pdf".to_owned(),
                        filename: Some("invoice-12345.pdf".to_owned()),
                    },
                }],
            },
            Component::Body {
                parameters: vec![text("John"), text("12345"), text("Renuka Sugars")],
            },
            quick_reply(
                0,
                "flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_response=approved",
            ),
            quick_reply(
                1,
                "flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_response=declined",
            ),
        ],
    }
}

/// engati-api.md's template example: invoice_reminder to one phone number.
pub(crate) fn invoice_message() -> TemplateMessage {
    TemplateMessage {
        phone_number: "+919019486731".to_owned(),
        payload: invoice_payload(),
    }
}

/// engati-api.md's v1 broadcast example.
pub(crate) fn broadcast_v1() -> BroadcastV1 {
    let message = |m: &str| BroadcastContent {
        kind: "TEXT".to_owned(),
        data: TextData {
            message: m.to_owned(),
        },
    };
    BroadcastV1 {
        broadcast_id: None,
        broadcast_title: "testing broadcast".to_owned(),
        published_on: "2019-06-03T06:48:27.170Z".to_owned(),
        audience: BroadcastAudience {
            rule: AudienceRule {
                channels: vec!["whatsapp".to_owned()],
                channel_user_ids: vec!["919019486731".to_owned(), "919178921978".to_owned()],
            },
        },
        payload: BroadcastPayload {
            kind: "DIRECT".to_owned(),
            content: vec![
                message("this is a test message"),
                message("this is another message"),
            ],
        },
        status: None,
    }
}

/// engati-api.md's v2 broadcast example, with the new_year_offer template (image header, two
/// body parameters, a URL button and a copy-code button).
pub(crate) fn broadcast_v2() -> BroadcastV2 {
    BroadcastV2 {
        broadcast_id: None,
        broadcast_title: "new year offer".to_owned(),
        published_on: "2021-10-08T03:29:27.170Z".to_owned(),
        platform: "whatsapp".to_owned(),
        users: vec![BroadcastUser {
            phone_number: "+919019486731".to_owned(),
            email: Some("a@example.com".to_owned()),
            organization: Some("abc".to_owned()),
            title: Some("123".to_owned()),
            last_name: Some("Suthar".to_owned()),
            first_name: Some("Jahnavi".to_owned()),
            user_name: Some(String::new()),
        }],
        payload: TemplateBroadcastPayload {
            kind: "WHATSAPP_TEMPLATE".to_owned(),
            content: vec![TemplateContent {
                kind: "TEMPLATE".to_owned(),
                template: TemplatePayload {
                    name: "new_year_offer".to_owned(),
                    namespace: None,
                    language: Language::deterministic("en"),
                    components: vec![
                        Component::Header {
                            parameters: vec![Parameter::Image {
                                image: Media {
                                    link: "https://example.com/img/new-year.jpg".to_owned(),
                                    filename: None,
                                },
                            }],
                        },
                        Component::Body {
                            parameters: vec![text("Jahnavi"), text("20%")],
                        },
                        Component::Button {
                            sub_type: "url".to_owned(),
                            index: 0,
                            parameters: vec![text("ny2025")],
                        },
                        Component::Button {
                            sub_type: "copy_code".to_owned(),
                            index: 1,
                            parameters: vec![Parameter::CouponCode {
                                coupon_code: "NEWYEAR20".to_owned(),
                            }],
                        },
                    ],
                },
            }],
        },
        status: None,
    }
}

/// engati-api.md's trigger example attributes.
pub(crate) fn trigger_attributes() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("user.channel".to_owned(), "whatsapp".to_owned()),
        ("user.phone_no".to_owned(), "+919019486731".to_owned()),
        ("user.user_name".to_owned(), "Salman".to_owned()),
    ])
}
