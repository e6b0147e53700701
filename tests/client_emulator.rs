//! The client against the in-process emulator over real loopback: every endpoint end to end, each
//! error class the emulator can produce, and the contract snapshots — each endpoint's request as
//! the emulator recorded it (method, path, query, body), so any change to what herald sends shows
//! up in review.

mod common;

use std::time::Duration;

use common::{BOT, CUSTOMER, api, broadcast_v1, broadcast_v2, invoice_message, trigger_attributes};
use herald::emulator::{self, BUILTIN_API_KEY, Faults, Running, Seed};
use herald::engati::api::{Component, Parameter};
use herald::engati::{ApiError, Client, ClientConfig, Request};
use herald::model::TriggerApi;
use serde_json::{Value, json};

async fn emulator() -> Running {
    emulator::start(emulator::Config::local(Seed::builtin()))
        .await
        .expect("the emulator starts")
}

/// A client for the emulator with `key`, `trigger_api`, `timeout` and `page_size`.
fn client_for(
    running: &Running,
    key: &str,
    trigger_api: TriggerApi,
    timeout: Duration,
    page_size: u32,
) -> Client {
    let mut settings = api(&running.base_url());
    settings.trigger_api = trigger_api;
    let config = ClientConfig::from_settings(&settings, |_| Some(key.to_owned()), false)
        .expect("loopback needs no --insecure-http")
        .with_timeout(timeout)
        .with_page_size(page_size);
    Client::new(config).expect("client builds")
}

fn client(running: &Running) -> Client {
    client_for(
        running,
        BUILTIN_API_KEY,
        TriggerApi::V2,
        Duration::from_secs(5),
        500,
    )
}

/// What the emulator recorded, without the sequence number, arrival time and phones: the wire
/// request only.
fn recorded(running: &Running) -> Vec<Value> {
    running
        .requests()
        .into_iter()
        .map(|r| json!({"method": r.method, "path": r.path, "query": r.query, "body": r.body}))
        .collect()
}

/// The one request the emulator recorded, checked against the `Request` herald built for it.
fn only_recorded(running: &Running, sent: &Request) -> Value {
    let mut all = recorded(running);
    assert_eq!(all.len(), 1, "{all:#?}");
    let one = all.remove(0);
    let ours = serde_json::to_value(sent).unwrap();
    assert_eq!(one, ours, "the emulator received exactly the Request");
    one
}

#[tokio::test]
async fn template_send() {
    let running = emulator().await;
    let accepted = client(&running)
        .send_template(&invoice_message())
        .await
        .expect("accepted");
    assert_eq!(accepted.code, 1000);
    assert_eq!(accepted.body["data"]["messages"][0]["id"], "wamid.1");
    let sent = Request::template(CUSTOMER, BOT, &invoice_message());
    insta::assert_json_snapshot!("template", only_recorded(&running, &sent));
    assert_eq!(running.requests()[0].phones, ["+919019486731"]);
    running.shutdown().await;
}

#[tokio::test]
async fn broadcast_v1_send() {
    let running = emulator().await;
    client(&running)
        .broadcast_v1(&broadcast_v1())
        .await
        .expect("accepted");
    let sent = Request::broadcast_v1(CUSTOMER, BOT, &broadcast_v1());
    insta::assert_json_snapshot!("broadcast_v1", only_recorded(&running, &sent));
    running.shutdown().await;
}

#[tokio::test]
async fn broadcast_v2_send() {
    let running = emulator().await;
    client(&running)
        .broadcast_v2(&broadcast_v2())
        .await
        .expect("accepted");
    let sent = Request::broadcast_v2(CUSTOMER, BOT, &broadcast_v2());
    insta::assert_json_snapshot!("broadcast_v2", only_recorded(&running, &sent));
    running.shutdown().await;
}

#[tokio::test]
async fn trigger_v1_send() {
    let running = emulator().await;
    let c = client_for(
        &running,
        BUILTIN_API_KEY,
        TriggerApi::V1,
        Duration::from_secs(5),
        500,
    );
    c.trigger("default_fallback_msg_74963", &trigger_attributes())
        .await
        .expect("accepted");
    let sent = Request::trigger(
        CUSTOMER,
        BOT,
        "default_fallback_msg_74963",
        &trigger_attributes(),
        TriggerApi::V1,
    );
    insta::assert_json_snapshot!("trigger_v1", only_recorded(&running, &sent));
    running.shutdown().await;
}

#[tokio::test]
async fn trigger_v2_send() {
    let running = emulator().await;
    client(&running)
        .trigger("default_fallback_msg_74963", &trigger_attributes())
        .await
        .expect("accepted");
    let sent = Request::trigger(
        CUSTOMER,
        BOT,
        "default_fallback_msg_74963",
        &trigger_attributes(),
        TriggerApi::V2,
    );
    insta::assert_json_snapshot!("trigger_v2", only_recorded(&running, &sent));
    running.shutdown().await;
}

#[tokio::test]
async fn users_over_pages() {
    let running = emulator().await;
    // Six seeded users have opt1=yes: three full pages of two, ended by totalPages.
    let c = client_for(
        &running,
        BUILTIN_API_KEY,
        TriggerApi::V2,
        Duration::from_secs(5),
        2,
    );
    let users = c.users("opt1", "yes").await.expect("all pages");
    let ids: Vec<_> = users
        .iter()
        .filter_map(|u| u.channel_user_id.as_deref())
        .collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert!(
        ids.contains(&"919019486731") && ids.contains(&"447700900123"),
        "{ids:?}"
    );
    assert!(users.iter().all(|u| u.attributes["opt1"] == "yes"));
    insta::assert_json_snapshot!("users", recorded(&running));
    running.shutdown().await;
}

#[tokio::test]
async fn conversations_over_pages() {
    let running = emulator().await;
    // Five seeded messages for this user: pages of 2, 2 and a short 1.
    let c = client_for(
        &running,
        BUILTIN_API_KEY,
        TriggerApi::V2,
        Duration::from_secs(5),
        2,
    );
    let start = 1_763_596_800_000; // 2025-11-20T00:00:00Z
    let end = 1_764_547_200_000; // 2025-12-01T00:00:00Z
    let items = c
        .conversations("919019486731", Some(start), Some(end))
        .await
        .expect("all pages");
    assert_eq!(items.len(), 5, "{items:#?}");
    assert!(items.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert_eq!(items[0].text.as_deref(), Some("Hi, where is my invoice?"));
    // The whole history, no bounds: same items.
    let all = c
        .conversations("919019486731", None, None)
        .await
        .expect("all pages");
    assert_eq!(all, items);
    // Three bounded pages, then the first unbounded one (no start_date/end_date at all).
    let recorded = recorded(&running);
    assert_eq!(recorded.len(), 6);
    insta::assert_json_snapshot!("conversations", &recorded[..4]);
    running.shutdown().await;
}

#[tokio::test]
async fn a_wrong_key_is_rejected_with_401() {
    let running = emulator().await;
    let c = client_for(
        &running,
        "not-the-key",
        TriggerApi::V2,
        Duration::from_secs(5),
        500,
    );
    let err = c.send_template(&invoice_message()).await.expect_err("401");
    assert!(
        matches!(err, ApiError::KeyRejected { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.stops_apply());
    assert!(running.requests().is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn a_revoked_key_is_rejected_with_403() {
    let running = emulator().await;
    let c = client(&running);
    c.send_template(&invoice_message())
        .await
        .expect("accepted before revocation");
    running.revoke_key(BUILTIN_API_KEY);
    let err = c.send_template(&invoice_message()).await.expect_err("403");
    assert!(
        matches!(err, ApiError::KeyRejected { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("revoked or regenerated"), "{err}");
    assert_eq!(running.requests().len(), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn validation_errors_are_rejections() {
    let running = emulator().await;
    let mut message = invoice_message();
    // invoice_reminder has three body slots; send two.
    for component in &mut message.payload.components {
        if let Component::Body { parameters } = component {
            parameters.pop();
        }
    }
    let err = client(&running)
        .send_template(&message)
        .await
        .expect_err("400");
    assert!(
        matches!(
            err,
            ApiError::Rejected {
                status: 400,
                code: 2000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.stops_apply() && !err.is_retryable() && !err.outcome_unknown());

    // A header of the wrong kind.
    let mut message = invoice_message();
    message.payload.components[0] = Component::Header {
        parameters: vec![Parameter::Text { text: "x".into() }],
    };
    let err = client(&running)
        .send_template(&message)
        .await
        .expect_err("400");
    assert!(
        matches!(err, ApiError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    assert!(running.requests().is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn bot_and_customer_errors_stop_apply() {
    let running = emulator().await;
    let base = running.base_url();
    let with = |customer: u64, bot: &str| {
        let mut settings = api(&base);
        settings.customer_id = customer;
        settings.bot_key = bot.to_owned();
        let config =
            ClientConfig::from_settings(&settings, |_| Some(BUILTIN_API_KEY.to_owned()), false)
                .unwrap();
        Client::new(config).unwrap()
    };
    // The seed's second bot has no WhatsApp provider: 2004.
    let err = with(CUSTOMER, "a1b2c3d4e5f60718")
        .send_template(&invoice_message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected { code: 2004, .. }) && err.stops_apply(),
        "{err:?}"
    );
    // A bot the customer does not have: 2003.
    let err = with(CUSTOMER, "0000000000000000")
        .send_template(&invoice_message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected { code: 2003, .. }) && err.stops_apply(),
        "{err:?}"
    );
    // A customer that does not exist: 404.
    let err = with(1, BOT)
        .send_template(&invoice_message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::NotFound { customer_id: 1, .. }) && err.stops_apply(),
        "{err:?}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn fault_429_is_slow_down_with_retry_after() {
    let running = emulator().await;
    running.set_faults(Faults {
        rate_limit: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let err = client(&running)
        .send_template(&invoice_message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::SlowDown { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_retryable());
    assert!(
        running.requests().is_empty(),
        "a refused request is not recorded"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn fault_500_is_a_server_error() {
    let running = emulator().await;
    running.set_faults(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let err = client(&running)
        .send_template(&invoice_message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable() && !err.outcome_unknown());
    running.shutdown().await;
}

#[tokio::test]
async fn fault_1002_is_a_rejection() {
    let running = emulator().await;
    running.set_faults(Faults {
        outside_window: 1.0,
        ..Faults::default()
    });
    let err = client(&running)
        .broadcast_v1(&broadcast_v1())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Rejected {
                status: 200,
                code: 1002,
                name: "USER_IS_OUTSIDE_CONVERSATION_WINDOW",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.stops_apply());
    running.shutdown().await;
}

#[tokio::test]
async fn a_hang_is_an_unknown_outcome_and_was_recorded() {
    let running = emulator().await;
    running.set_faults(Faults {
        hang: 1.0,
        ..Faults::default()
    });
    let c = client_for(
        &running,
        BUILTIN_API_KEY,
        TriggerApi::V2,
        Duration::from_millis(300),
        500,
    );
    let err = c.send_template(&invoice_message()).await.unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert!(err.outcome_unknown() && !err.is_retryable());
    let requests = running.requests();
    assert_eq!(requests.len(), 1, "the request arrived and was processed");
    assert_eq!(requests[0].phones, ["+919019486731"]);
    running.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_is_an_unknown_outcome_and_was_recorded() {
    let running = emulator().await;
    running.set_faults(Faults {
        drop_after_processing: 1.0,
        ..Faults::default()
    });
    let err = client(&running)
        .send_template(&invoice_message())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert!(err.outcome_unknown());
    assert_eq!(running.requests().len(), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn a_stopped_emulator_is_not_sent() {
    let running = emulator().await;
    let c = client(&running);
    running.shutdown().await;
    let err = c.send_template(&invoice_message()).await.unwrap_err();
    assert!(
        matches!(err, ApiError::NotSent { .. }) && err.is_retryable(),
        "{err:?}"
    );
}
