//! The API key never leaks: with a distinctive key, every error class is produced (several by a
//! server that echoes the Authorization header back, as a careless or hostile one might), and
//! neither the errors' Display, Debug and help, nor the client's and config's Debug, nor any log
//! line may contain it.

mod common;

use std::time::Duration;

use common::{BOT, CUSTOMER, KEY, api, client, client_with, invoice_message};
use herald::engati::api::paths;
use herald::engati::{ApiError, ClientConfig, Request};
use herald::model::TriggerApi;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// A server answering every template send with `response`.
async fn answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(paths::template(CUSTOMER, BOT)))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// Answers with the Authorization header echoed back in many places, as a careless or hostile
/// server might.
struct Echo(u16, &'static str);

impl Respond for Echo {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let response = ResponseTemplate::new(self.0).insert_header("x-echo", auth.as_str());
        match self.1 {
            "envelope" => response.set_body_json(
                json!({"status": {"code": 2000, "message": format!("bad {auth}")}, "echo": auth}),
            ),
            "ok" => response
                .set_body_json(json!({"status": {"code": 1000, "message": auth}, "echo": [auth]})),
            _ => response.set_body_string(format!("<html>{auth}</html>")),
        }
    }
}

#[tokio::test]
async fn the_key_never_appears_in_errors_debug_or_logs() {
    use std::sync::{Arc, Mutex};
    // Capture every log line at every level while the calls run on this thread.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut errors: Vec<ApiError> = Vec::new();
    let mut debug_texts: Vec<String> = Vec::new();
    for (status, body) in [
        (401, "html"),
        (403, "html"),
        (404, "html"),
        (200, "envelope"),
        (400, "envelope"),
        (400, "html"),
        (429, "html"),
        (503, "html"),
        (500, "html"),
        (200, "html"),
        (302, "html"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Echo(status, body))
            .mount(&server)
            .await;
        errors.push(
            client(&server.uri())
                .send_template(&invoice_message())
                .await
                .unwrap_err(),
        );
    }
    // A success echoing the key: the answer is scrubbed too.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo(200, "ok"))
        .mount(&server)
        .await;
    let accepted = client(&server.uri())
        .send_template(&invoice_message())
        .await
        .unwrap();
    debug_texts.push(format!("{accepted:?}"));
    // Timeout, refused connection, invalid request.
    let slow = answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await;
    let c = client_with(&slow.uri(), KEY, TriggerApi::V2, Duration::from_millis(300));
    errors.push(c.send_template(&invoice_message()).await.unwrap_err());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(&format!("http://127.0.0.1:{port}"));
    errors.push(c.send_template(&invoice_message()).await.unwrap_err());
    let mut bad = Request::template(CUSTOMER, BOT, &invoice_message());
    bad.path = "nope".into();
    errors.push(c.execute(&bad).await.unwrap_err());
    debug_texts.push(format!("{c:?}"));
    debug_texts.push(format!("{:?}", c.config()));

    // Config errors made with a key present.
    let with_key = |_: &str| Some(KEY.to_owned());
    let insecure =
        ClientConfig::from_settings(&api("http://example.com"), with_key, false).unwrap_err();
    let bad_key = format!("{KEY}\n");
    let newline =
        ClientConfig::from_settings(&api("https://h"), |_| Some(format!("x{bad_key}y")), false)
            .unwrap_err();
    for e in [insecure, newline] {
        debug_texts.push(format!("{e} {e:?} {}", e.help()));
    }

    let kinds: std::collections::BTreeSet<&str> = errors.iter().map(ApiError::code).collect();
    assert_eq!(kinds.len(), 10, "every error class is exercised: {kinds:?}");
    for e in &errors {
        debug_texts.push(format!("{e} | {e:?} | {}", e.help()));
    }
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("engati call"), "logging was captured: {logs}");
    for text in debug_texts.iter().chain([&logs]) {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        // Not even in part.
        assert!(!text.contains("LEAK_CANARY"), "the key leaked: {text}");
    }
}
