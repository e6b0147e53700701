//! The client's error classes against a wiremock server on loopback: one test per HTTP answer or
//! transport failure, pinning how each maps to an [`ApiError`] and what apply may do with it.
//! Paging, the exact bytes sent and config errors are here too; tests/client_redaction.rs checks
//! that the key never leaks.

mod common;

use std::time::Duration;

use common::{BOT, CUSTOMER, KEY, VAR, api, client, client_with, invoice_message};
use herald::engati::api::paths;
use herald::engati::{ApiError, ClientConfig, ConfigError, Request};
use herald::model::TriggerApi;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn template_path() -> String {
    paths::template(CUSTOMER, BOT)
}

/// A server answering every template send with `response`.
async fn answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(template_path()))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// The error a template send gets from a server answering `response`.
async fn send_error(response: ResponseTemplate) -> ApiError {
    let server = answering(response).await;
    client(&server.uri())
        .send_template(&invoice_message())
        .await
        .expect_err("the send should fail")
}

fn envelope(code: i64, message: &str) -> Value {
    json!({"status": {"code": code, "message": message}})
}

#[tokio::test]
async fn success_returns_the_envelope_and_sends_key_and_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(template_path()))
        // The key as-is: not base64 of user:password.
        .and(header("authorization", format!("Basic {KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": {"code": 1000, "message": "Success"},
            "responseObject": {"messageId": "wamid.1"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let accepted = client(&server.uri())
        .send_template(&invoice_message())
        .await
        .expect("accepted");
    assert_eq!(accepted.code, 1000);
    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.message.as_deref(), Some("Success"));
    assert_eq!(accepted.body["responseObject"]["messageId"], "wamid.1");
}

#[tokio::test]
async fn execute_sends_the_request_byte_for_byte() {
    let server = answering(ResponseTemplate::new(200).set_body_json(envelope(1000, "ok"))).await;
    let request = Request::template(CUSTOMER, BOT, &invoice_message());
    // As a plan file would hold it, and read back.
    let stored = serde_json::to_string_pretty(&request).unwrap();
    let loaded: Request = serde_json::from_str(&stored).unwrap();
    client(&server.uri())
        .execute(&loaded)
        .await
        .expect("accepted");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(Some(received[0].body.clone()), request.body_bytes());
}

#[tokio::test]
async fn key_rejected_on_401_and_403_names_the_variable() {
    for status in [401, 403] {
        let err = send_error(ResponseTemplate::new(status)).await;
        assert!(
            matches!(&err, ApiError::KeyRejected { status: s, key_env, .. } if *s == status && key_env == VAR),
            "{err:?}"
        );
        assert!(err.stops_apply() && !err.is_retryable() && !err.outcome_unknown());
        let text = err.to_string();
        assert!(
            text.contains("the API key was rejected (revoked or regenerated?)"),
            "{text}"
        );
        assert!(text.contains(VAR) && err.help().contains(VAR), "{text}");
    }
}

#[tokio::test]
async fn not_found_names_customer_and_bot() {
    let err = send_error(ResponseTemplate::new(404)).await;
    assert!(
        matches!(
            err,
            ApiError::NotFound {
                customer_id: CUSTOMER,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.stops_apply());
    let text = err.to_string();
    assert!(text.contains("61179") && text.contains(BOT), "{text}");
}

#[tokio::test]
async fn envelope_codes_on_http_200_are_rejections() {
    for (code, name, stops) in [
        (2003, "BOT_NOT_FOUND", true),
        (2004, "API_KEY_NOT_FOUND", true),
        (1002, "USER_IS_OUTSIDE_CONVERSATION_WINDOW", false),
        (2000, "FAILURE", false),
        (4242, "UNKNOWN", false),
    ] {
        let body = envelope(code, "nope");
        let err = send_error(ResponseTemplate::new(200).set_body_json(body)).await;
        match &err {
            ApiError::Rejected {
                status: 200,
                code: c,
                name: n,
                message,
                ..
            } => {
                assert_eq!((*c, *n), (code, name));
                assert_eq!(message.as_deref(), Some("nope"));
            }
            other => panic!("{code}: {other:?}"),
        }
        assert_eq!(err.stops_apply(), stops, "{code}");
        assert!(!err.is_retryable() && !err.outcome_unknown());
    }
    let err = send_error(ResponseTemplate::new(200).set_body_json(envelope(1002, "x"))).await;
    assert!(err.to_string().contains("24 hours"), "{err}");
    assert!(err.help().contains("template"));
    let err = send_error(ResponseTemplate::new(200).set_body_json(envelope(2004, "x"))).await;
    assert!(err.to_string().contains("provider"), "{err}");
}

#[tokio::test]
async fn http_400_with_an_envelope_is_a_rejection_and_without_one_a_bad_request() {
    let err =
        send_error(ResponseTemplate::new(400).set_body_json(envelope(2000, "invalid phone"))).await;
    assert!(
        matches!(&err, ApiError::Rejected { status: 400, code: 2000, message: Some(m), .. } if m == "invalid phone"),
        "{err:?}"
    );
    // A Spring-style error body: `status` is a number, not an envelope.
    let spring = json!({"timestamp": 1, "status": 400, "error": "Bad Request"});
    let err = send_error(ResponseTemplate::new(400).set_body_json(spring)).await;
    assert!(
        matches!(&err, ApiError::BadRequest { status: 400, detail: Some(d), .. } if d.contains("Bad Request")),
        "{err:?}"
    );
    assert!(!err.is_retryable() && !err.stops_apply() && !err.outcome_unknown());
}

#[tokio::test]
async fn rate_limits_carry_retry_after_in_seconds_or_as_a_date() {
    let err = send_error(ResponseTemplate::new(429).insert_header("retry-after", "7")).await;
    assert!(
        matches!(err, ApiError::SlowDown { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_retryable() && !err.outcome_unknown() && !err.stops_apply());

    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&later)
        .unwrap();
    let err =
        send_error(ResponseTemplate::new(429).insert_header("retry-after", date.as_str())).await;
    let wait = err.retry_after().expect("a date is understood");
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );

    let err = send_error(ResponseTemplate::new(503)).await;
    assert!(
        matches!(
            err,
            ApiError::SlowDown {
                status: 503,
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn server_errors_are_not_retried_and_gateway_timeouts_are_unknown() {
    let err = send_error(ResponseTemplate::new(500).set_body_string("boom")).await;
    assert!(
        matches!(err, ApiError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable() && !err.outcome_unknown() && !err.stops_apply());
    for status in [502, 504] {
        let err = send_error(ResponseTemplate::new(status)).await;
        assert!(
            matches!(err, ApiError::Server { .. }) && err.outcome_unknown(),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_answer_is_an_unknown_outcome_and_the_request_did_arrive() {
    let server = answering(
        ResponseTemplate::new(200)
            .set_body_json(envelope(1000, "late"))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let client = client_with(
        &server.uri(),
        KEY,
        TriggerApi::V2,
        Duration::from_millis(300),
    );
    let err = client
        .send_template(&invoice_message())
        .await
        .expect_err("times out");
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert!(err.outcome_unknown() && !err.is_retryable() && !err.stops_apply());
    assert!(err.to_string().contains("300 ms"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    // A port that was just free: bind it, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .send_template(&invoice_message())
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, ApiError::NotSent { .. }), "{err:?}");
    assert!(err.is_retryable() && !err.outcome_unknown());
    assert!(err.to_string().contains("nothing was sent"), "{err}");
}

#[tokio::test]
async fn a_connection_closed_after_the_request_was_written_is_unknown() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the whole request (headers and JSON body end with `}`), then hang up unanswered.
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"}")) {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    let err = client(&format!("http://{addr}"))
        .send_template(&invoice_message())
        .await
        .expect_err("the connection drops");
    let seen = server.await.unwrap();
    assert!(String::from_utf8_lossy(&seen).contains("invoice_reminder"));
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert!(err.outcome_unknown() && !err.is_retryable());
}

#[tokio::test]
async fn unreadable_success_bodies_are_protocol_errors_with_an_unknown_outcome() {
    let err = send_error(ResponseTemplate::new(200).set_body_string("<html>oops</html>")).await;
    assert!(
        matches!(&err, ApiError::Protocol { status: 200, detail, .. } if detail.contains("not JSON")),
        "{err:?}"
    );
    assert!(err.outcome_unknown() && !err.is_retryable());
    // JSON, but no envelope: a send cannot be confirmed.
    let err = send_error(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).await;
    assert!(
        matches!(err, ApiError::Protocol { .. }) && err.outcome_unknown(),
        "{err:?}"
    );
    let err = send_error(ResponseTemplate::new(204)).await;
    assert!(matches!(err, ApiError::Protocol { .. }), "{err:?}");
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let err =
        send_error(ResponseTemplate::new(302).insert_header("location", "https://example.com/"))
            .await;
    assert!(
        matches!(err, ApiError::Protocol { status: 302, .. }),
        "{err:?}"
    );
    assert!(!err.outcome_unknown() && !err.is_retryable());
}

#[tokio::test]
async fn an_edited_request_is_refused_before_sending() {
    let server = answering(ResponseTemplate::new(200).set_body_json(envelope(1000, "ok"))).await;
    let mut request = Request::template(CUSTOMER, BOT, &invoice_message());
    request.path.push_str("?x=1");
    let err = client(&server.uri())
        .execute(&request)
        .await
        .expect_err("refused");
    assert!(matches!(err, ApiError::InvalidRequest { .. }), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn paths_keep_the_base_prefix_and_encode_dynamic_segments() {
    let server = MockServer::start().await;
    let encoded = "/engati/bot-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/channel-user/a%2Fb%3Fc/conversations";
    Mock::given(method("GET"))
        .and(path(encoded))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"conversations": []}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let items = client(&format!("{}/engati/", server.uri()))
        .conversations("a/b?c", None, None)
        .await
        .expect("one empty page");
    assert!(items.is_empty());
}

fn user(n: usize) -> Value {
    json!({"channelUserId": format!("9190000000{n:02}"), "phoneNumber": format!("+9190000000{n:02}"), "attributes": {"opt1": "yes"}})
}

#[tokio::test]
async fn users_are_read_over_three_pages_until_a_short_one() {
    let server = MockServer::start().await;
    for (page, range) in [(0, 0..2), (1, 2..4), (2, 4..5)] {
        let users: Vec<Value> = range.map(user).collect();
        Mock::given(method("GET"))
            .and(path(paths::users(CUSTOMER, BOT)))
            .and(query_param("attribute_name", "opt1"))
            .and(query_param("attribute_value", "yes"))
            .and(query_param("page_number", page.to_string()))
            .and(query_param("page_size", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": {"code": 1000}, "data": {"users": users}
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let config = ClientConfig::from_settings(&api(&server.uri()), |_| Some(KEY.to_owned()), false)
        .unwrap()
        .with_page_size(2);
    let users = herald::engati::Client::new(config)
        .unwrap()
        .users("opt1", "yes")
        .await
        .expect("all pages");
    let ids: Vec<_> = users
        .iter()
        .filter_map(|u| u.channel_user_id.clone())
        .collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[4], "919000000004");
    assert_eq!(users[0].attributes["opt1"], "yes");
}

#[tokio::test]
async fn conversations_stop_at_total_pages_even_when_the_last_page_is_full() {
    let server = MockServer::start().await;
    let item =
        |t: i64| json!({"timestamp": t, "messageType": "TEXT", "sender": "user", "text": "hi"});
    for page in 0..3 {
        Mock::given(method("GET"))
            .and(path(paths::conversations(CUSTOMER, BOT, "919019486731")))
            .and(query_param("start_date", "1700000000000"))
            .and(query_param("end_date", "1800000000000"))
            .and(query_param("page_number", page.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": {"code": 1000},
                // `data.content`: one of the accepted shapes.
                "data": {"content": [item(page * 2), item(page * 2 + 1)], "totalPages": 3}
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let config = ClientConfig::from_settings(&api(&server.uri()), |_| Some(KEY.to_owned()), false)
        .unwrap()
        .with_page_size(2);
    let items = herald::engati::Client::new(config)
        .unwrap()
        .conversations(
            "919019486731",
            Some(1_700_000_000_000),
            Some(1_800_000_000_000),
        )
        .await
        .expect("all pages");
    let times: Vec<i64> = items.iter().map(|i| i.timestamp).collect();
    assert_eq!(times, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_server_ignoring_page_number_is_caught() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"users": [user(0), user(1)]}})),
        )
        .mount(&server)
        .await;
    let config = ClientConfig::from_settings(&api(&server.uri()), |_| Some(KEY.to_owned()), false)
        .unwrap()
        .with_page_size(2);
    let err = herald::engati::Client::new(config)
        .unwrap()
        .users("opt1", "yes")
        .await
        .expect_err("loops");
    assert!(
        matches!(&err, ApiError::Protocol { detail, .. } if detail.contains("page_number")),
        "{err:?}"
    );
}

#[tokio::test]
async fn triggers_v1_send_query_parameters_and_v2_a_json_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(paths::trigger(
            CUSTOMER,
            BOT,
            "default_fallback_msg_74963",
            TriggerApi::V1,
        )))
        .and(query_param("user.user_name", "Salman"))
        .and(query_param("user.phone_no", "+919019486731"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(1000, "ok")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(paths::trigger(
            CUSTOMER,
            BOT,
            "default_fallback_msg_74963",
            TriggerApi::V2,
        )))
        .and(wiremock::matchers::body_json(json!({
            "user.channel": "whatsapp", "user.phone_no": "+919019486731", "user.user_name": "Salman"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(1000, "ok")))
        .expect(1)
        .mount(&server)
        .await;
    let attrs = common::trigger_attributes();
    for version in [TriggerApi::V1, TriggerApi::V2] {
        let c = client_with(&server.uri(), KEY, version, Duration::from_secs(5));
        c.trigger("default_fallback_msg_74963", &attrs)
            .await
            .expect("accepted");
    }
    let received = server.received_requests().await.unwrap();
    assert!(received[0].body.is_empty(), "v1 sends no body");
}

#[test]
fn plain_http_to_another_host_is_refused_unless_insecure_http() {
    let settings = api("http://api.engati.ai");
    let err = ClientConfig::from_settings(&settings, |_| Some(KEY.to_owned()), false).unwrap_err();
    assert!(matches!(err, ConfigError::InsecureHttp { .. }), "{err:?}");
    assert!(err.help().contains("--insecure-http"), "{}", err.help());
    assert!(ClientConfig::from_settings(&settings, |_| Some(KEY.to_owned()), true).is_ok());
    for local in [
        "http://127.0.0.1:8787",
        "http://[::1]:8787",
        "http://localhost:8787",
    ] {
        assert!(ClientConfig::from_settings(&api(local), |_| Some(KEY.to_owned()), false).is_ok());
    }
}

#[test]
fn a_missing_key_variable_is_named() {
    let err =
        ClientConfig::from_settings(&api("https://api.engati.ai"), |_| None, false).unwrap_err();
    assert_eq!(
        err,
        ConfigError::MissingKey {
            var: VAR.to_owned()
        }
    );
    assert!(
        err.to_string().contains(VAR) && err.help().contains(VAR),
        "{err}"
    );
    let err =
        ClientConfig::from_settings(&api("https://api.engati.ai"), |_| Some("  ".into()), false)
            .unwrap_err();
    assert!(matches!(err, ConfigError::EmptyKey { .. }));
}

/// Pins the wording of every status-derived error (what, where, help) for review.
#[tokio::test]
async fn error_messages() {
    let cases = [
        ResponseTemplate::new(401),
        ResponseTemplate::new(404),
        ResponseTemplate::new(200).set_body_json(envelope(1002, "User is outside the window")),
        ResponseTemplate::new(200).set_body_json(envelope(2003, "Bot not found")),
        ResponseTemplate::new(400).set_body_string("phoneNumber must be E.164"),
        ResponseTemplate::new(429).insert_header("retry-after", "5"),
        ResponseTemplate::new(500),
        ResponseTemplate::new(504),
        ResponseTemplate::new(200).set_body_string("not json"),
    ];
    let mut out = String::new();
    for response in cases {
        let err = send_error(response).await;
        out.push_str(&format!(
            "{}\n  × {err}\n  help: {}\n\n",
            err.code(),
            err.help()
        ));
    }
    let err =
        ClientConfig::from_settings(&api("https://api.engati.ai"), |_| None, false).unwrap_err();
    out.push_str(&format!(
        "{}\n  × {err}\n  help: {}\n\n",
        err.code(),
        err.help()
    ));
    let err =
        ClientConfig::from_settings(&api("http://10.1.2.3:8787"), |_| Some(KEY.into()), false)
            .unwrap_err();
    out.push_str(&format!(
        "{}\n  × {err}\n  help: {}\n",
        err.code(),
        err.help()
    ));
    insta::assert_snapshot!(out);
}
