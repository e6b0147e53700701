//! Test fixtures: realistic campaigns, requests (made with the real [`Request`] constructors and
//! api.rs bodies) and a [`Summary`] holding every action kind.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::engati::Request;
use crate::engati::api::{
    AudienceRule, BroadcastAudience, BroadcastContent, BroadcastPayload, BroadcastUser,
    BroadcastV1, BroadcastV2, Component, Language, Media, Parameter, TemplateBroadcastPayload,
    TemplateContent, TemplateMessage, TemplatePayload, TextData,
};
use crate::fingerprint::Fingerprint;
use crate::model::{OnChange, TriggerApi};
use crate::plan::{
    Action, ActionKind, Campaign, CampaignSummary, Counts, Header, Previous, Summary, Target,
    TemplateText,
};
use crate::state::Outcome;

const CUSTOMER: u64 = 61179;
const BOT: &str = "bb67e0773bed4c7e";

pub(super) fn at(text: &str) -> Timestamp {
    text.parse().expect("fixture time")
}

pub(super) fn header() -> Header {
    Header {
        herald_version: "0.1.0".to_owned(),
        created_at: at("2026-12-01T04:00:00Z"),
        environment: Some("production".to_owned()),
        target: Target {
            base_url: "https://api.engati.com".to_owned(),
            customer_id: CUSTOMER,
            bot_key: BOT.to_owned(),
        },
        state_serial: 42,
        state_lineage: Some("5e1f0c2a9b3d7e64".to_owned()),
        reconciled: false,
        inputs_hash: "0".repeat(64),
        campaigns: Vec::new(),
        safety: crate::plan::safety::Caps::default(),
        pricing: None,
        budget: crate::plan::cost::Budget::default(),
        frequency_cap: None,
        timezone: None,
        messaging_limit: None,
    }
}

fn campaign(name: &str, send: &str) -> Campaign {
    Campaign::bare(name, send)
}

pub(super) fn invoice_campaign() -> Campaign {
    let p = "/payload/components";
    Campaign {
        description: Some("December invoice reminders".to_owned()),
        schedule: Some(at("2026-12-01T03:30:00Z")),
        recipients: 10,
        template: Some(TemplateText {
            name: "invoice_reminder".to_owned(),
            header: "document".to_owned(),
            body: "Hi {{1}}, invoice {{ 2 }} for {{3}} is due.".to_owned(),
            buttons: vec!["Approve".to_owned(), "Decline".to_owned()],
        }),
        user_paths: vec![
            format!("{p}/0/parameters/0/document/link"),
            format!("{p}/0/parameters/0/document/filename"),
            format!("{p}/1/parameters/0/text"),
            format!("{p}/1/parameters/1/text"),
            format!("{p}/2/parameters/0/payload"),
            format!("{p}/3/parameters/0/payload"),
        ],
        ..campaign("invoice-reminder-dec", "template")
    }
}

fn text(text: &str) -> Parameter {
    Parameter::Text {
        text: text.to_owned(),
    }
}

fn flow_button(index: u32, flow: &str, response: &str, invoice: &str) -> Component {
    Component::Button {
        sub_type: "quick_reply".to_owned(),
        index,
        parameters: vec![Parameter::Payload {
            payload: format!("flow_{flow}||data_response={response}||data_invoice_no={invoice}"),
        }],
    }
}

fn invoice_message(phone: &str, name: &str, invoice: &str, brand: &str) -> Request {
    let message = TemplateMessage {
        phone_number: phone.to_owned(),
        payload: TemplatePayload {
            name: "invoice_reminder".to_owned(),
            namespace: None,
            language: Language::deterministic("en"),
            components: vec![
                Component::Header {
                    parameters: vec![Parameter::Document {
                        document: Media {
                            link: format!("https://cdn.example.com/inv/{invoice}.pdf"),
                            filename: Some(format!("invoice-{invoice}.pdf")),
                        },
                    }],
                },
                Component::Body {
                    parameters: vec![text(name), text(invoice), text(brand)],
                },
                flow_button(0, "7bbb608c3b4b4e848f36cd2ccd7cfa35", "approved", invoice),
                flow_button(1, "e30d44bcca4c49d49976d3ac0416c405", "declined", invoice),
            ],
        },
    };
    Request::template(CUSTOMER, BOT, &message)
}

pub(super) fn invoice_request(phone: &str, name: &str, invoice: &str) -> Request {
    invoice_message(phone, name, invoice, "Acme")
}

pub(super) fn trigger_campaign() -> Campaign {
    Campaign {
        description: Some("Win back users who went quiet".to_owned()),
        schedule: Some(at("2026-12-05T04:30:00Z")),
        due: false,
        on_change: OnChange::Resend,
        recipients: 4,
        user_paths: vec!["/user.user_name".to_owned()],
        ..campaign("winback-trigger", "trigger")
    }
}

pub(super) fn trigger_request(phone: &str, name: &str, api: TriggerApi) -> Request {
    let _ = phone;
    let attributes = BTreeMap::from([
        ("user.user_name".to_owned(), name.to_owned()),
        ("invoice_no".to_owned(), "12345".to_owned()),
    ]);
    Request::trigger(CUSTOMER, BOT, "winback_74963", &attributes, api)
}

pub(super) fn broadcast_campaign() -> Campaign {
    Campaign {
        schedule: Some(at("2026-12-06T04:30:00Z")),
        recipients: 3,
        ..campaign("weekend-offer", "broadcast")
    }
}

pub(super) fn broadcast_request() -> Request {
    let message = |m: &str| BroadcastContent {
        kind: "TEXT".to_owned(),
        data: TextData {
            message: m.to_owned(),
        },
    };
    let broadcast = BroadcastV1 {
        broadcast_id: None,
        broadcast_title: "Weekend offer".to_owned(),
        published_on: "2026-12-06T04:30:00.000Z".to_owned(),
        audience: BroadcastAudience {
            rule: AudienceRule {
                channels: vec!["whatsapp".to_owned()],
                channel_user_ids: vec![
                    "919019486731".to_owned(),
                    "919845012345".to_owned(),
                    "917760001122".to_owned(),
                ],
            },
        },
        payload: BroadcastPayload {
            kind: "DIRECT".to_owned(),
            content: vec![
                message("Hi from Acme"),
                message("Offer ends Sunday"),
                message("Reply STOP to opt out"),
            ],
        },
        status: None,
    };
    Request::broadcast_v1(CUSTOMER, BOT, &broadcast)
}

pub(super) fn template_broadcast_campaign() -> Campaign {
    Campaign {
        description: Some("Statement ready | December".to_owned()),
        recipients: 2,
        template: Some(TemplateText {
            name: "statement_ready".to_owned(),
            header: "image".to_owned(),
            body: "Season's greetings from {{1}}! Your statement for {{2}} is ready.".to_owned(),
            buttons: vec!["View statement".to_owned(), "Copy code".to_owned()],
        }),
        ..campaign("december-statement", "template_broadcast")
    }
}

pub(super) fn template_broadcast_request() -> Request {
    let user = |phone: &str, first: &str| BroadcastUser {
        phone_number: phone.to_owned(),
        email: None,
        organization: None,
        title: None,
        last_name: None,
        first_name: Some(first.to_owned()),
        user_name: None,
    };
    let broadcast = BroadcastV2 {
        broadcast_id: None,
        broadcast_title: "December statement".to_owned(),
        published_on: "2026-12-01T04:00:00.000Z".to_owned(),
        platform: "whatsapp".to_owned(),
        users: vec![
            user("+919019486731", "Priya"),
            user("+919845012345", "Rahul"),
        ],
        payload: TemplateBroadcastPayload {
            kind: "WHATSAPP_TEMPLATE".to_owned(),
            content: vec![TemplateContent {
                kind: "TEMPLATE".to_owned(),
                template: TemplatePayload {
                    name: "statement_ready".to_owned(),
                    namespace: None,
                    language: Language::deterministic("en"),
                    components: vec![
                        Component::Header {
                            parameters: vec![Parameter::Image {
                                image: Media {
                                    link: "https://cdn.example.com/december.png".to_owned(),
                                    filename: None,
                                },
                            }],
                        },
                        Component::Body {
                            parameters: vec![text("Acme"), text("December")],
                        },
                        Component::Button {
                            sub_type: "url".to_owned(),
                            index: 0,
                            parameters: vec![text("december")],
                        },
                        Component::Button {
                            sub_type: "copy_code".to_owned(),
                            index: 1,
                            parameters: vec![Parameter::CouponCode {
                                coupon_code: "XMAS25".to_owned(),
                            }],
                        },
                    ],
                },
            }],
        },
        status: None,
    };
    Request::broadcast_v2(CUSTOMER, BOT, &broadcast)
}

pub(super) fn action(kind: ActionKind, recipient: &str, request: Request) -> Action {
    Action {
        recipient: recipient.to_owned(),
        action: kind,
        sends: matches!(kind, ActionKind::Send | ActionKind::Retry),
        fingerprint: Fingerprint::of(request.to_json().as_bytes()),
        request,
        previous: None,
        reconciled: None,
        window_opens: None,
        capped_until: None,
        wave_opens: None,
        window_closes: None,
        zone: None,
    }
}

fn previous(outcome: Outcome, request: &Request, when: &str, code: Option<i64>) -> Previous {
    Previous {
        outcome,
        fingerprint: Fingerprint::of(request.to_json().as_bytes()),
        at: Some(at(when)),
        api_code: code,
        detail: code
            .filter(|_| outcome == Outcome::Failed)
            .map(|c| format!("api::rejected: Engati answered {c}")),
        request: None,
    }
}

/// Priya's reminder, first sent under the brand "Acme Corp", now "Acme" (kept: on_change keep).
pub(super) fn changed_action() -> Action {
    let phone = "+919019486731";
    let before = invoice_message(phone, "Priya", "40077", "Acme Corp");
    let mut action = action(
        ActionKind::Changed,
        phone,
        invoice_request(phone, "Priya", "40077"),
    );
    action.previous = Some(Previous {
        request: Some(before.clone()),
        ..previous(Outcome::Sent, &before, "2026-11-20T05:00:00Z", Some(1000))
    });
    action
}

/// A plan with every action kind: template sends, a retry, a changed action with its diff, an
/// unknown; a waiting trigger campaign; a broadcast; a template broadcast with nothing to do.
// Long because it is test data: one realistic plan with every action kind, written out.
pub(super) fn summary() -> Summary {
    let invoices = {
        let send = |phone, name, invoice| {
            action(
                ActionKind::Send,
                phone,
                invoice_request(phone, name, invoice),
            )
        };
        let retried = invoice_request("+917760001122", "Ravi", "12350");
        let mut retry = action(ActionKind::Retry, "+917760001122", retried.clone());
        retry.previous = Some(previous(
            Outcome::Failed,
            &retried,
            "2026-11-28T06:15:00Z",
            Some(1002),
        ));
        let lost = invoice_request("+919123400000", "Meera", "12360");
        let mut unknown = action(ActionKind::Unknown, "+919123400000", lost.clone());
        unknown.sends = false;
        unknown.previous = Some(previous(
            Outcome::Unknown,
            &lost,
            "2026-11-30T09:45:00Z",
            None,
        ));
        CampaignSummary {
            campaign: invoice_campaign(),
            counts: Counts {
                send: 5,
                retry: 1,
                changed: 1,
                unknown: 1,
                unchanged: 2,
                requests: 6,
                ..Counts::default()
            },
            shown: vec![
                send("+919845012345", "Asha", "12346"),
                send("+919900112233", "Vikram", "12347"),
                retry,
                send("+918050607080", "Deepa", "12348"),
                changed_action(),
                unknown,
            ],
            cost: None,
        }
    };
    let winback = {
        let wait = |phone, name| {
            let mut a = action(
                ActionKind::Waiting,
                phone,
                trigger_request(phone, name, TriggerApi::V2),
            );
            a.sends = false;
            a
        };
        CampaignSummary {
            campaign: trigger_campaign(),
            counts: Counts {
                waiting: 4,
                ..Counts::default()
            },
            shown: vec![
                wait("+919845012345", "Asha"),
                wait("+919900112233", "Vikram"),
                wait("+918050607080", "Deepa"),
            ],
            cost: None,
        }
    };
    let weekend = CampaignSummary {
        campaign: broadcast_campaign(),
        counts: Counts {
            send: 1,
            requests: 1,
            ..Counts::default()
        },
        shown: vec![action(ActionKind::Send, "*", broadcast_request())],
        cost: None,
    };
    let statement = CampaignSummary {
        campaign: template_broadcast_campaign(),
        counts: Counts {
            unchanged: 1,
            ..Counts::default()
        },
        shown: Vec::new(),
        cost: None,
    };
    let mut totals = Counts::default();
    for c in [&invoices, &winback, &weekend, &statement] {
        totals.merge(&c.counts);
    }
    Summary {
        header: Some(header()),
        campaigns: vec![invoices, winback, weekend, statement],
        totals,
        cost: None,
    }
}
