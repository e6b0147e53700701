//! What accepted sends leave in the emulator's conversation history, over real loopback HTTP:
//! template sends and both broadcasts as `bot` items, the date filters, the trace faults
//! (`trace_delay_ms`, `trace_lost`), and the history rebuilt from the log after a restart.

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::*;
use herald::emulator::{self, Config, Faults, Seed};
use herald::engati::api::{BroadcastV1, TemplateMessage, paths};
use serde_json::{Value, json};

const STRANGER: &str = "+447700900999";

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The conversations of `user` (digits), all pages' worth; panics on anything but success.
async fn history(emu: &emulator::Running, user: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let (status, body) = get(emu, &paths::conversations(CUSTOMER, BOT, user), query).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    body["data"]["conversations"].as_array().unwrap().clone()
}

/// Sends a template to `phone`; answers the acceptance window (epoch ms) around it.
async fn send_invoice(emu: &emulator::Running, phone: &str) -> (i64, i64) {
    let before = now_ms();
    let (status, body) = post(emu, &template_path(), &invoice(phone)).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    (before, now_ms())
}

/// Items after the seed's, each with its timestamp checked to be in `window` and replaced by
/// `"[accepted]"`, for snapshots.
fn sent_items(items: &[Value], window: (i64, i64)) -> Vec<Value> {
    let seeded_until = 1_767_225_600_000; // 2026-01-01: the seed's items are older
    items
        .iter()
        .filter(|m| m["timestamp"].as_i64().unwrap() > seeded_until)
        .map(|m| {
            let at = m["timestamp"].as_i64().unwrap();
            assert!(
                (window.0..=window.1).contains(&at),
                "{at} not in {window:?}"
            );
            let mut m = m.clone();
            m["timestamp"] = json!("[accepted]");
            m
        })
        .collect()
}

fn v1(published_on: &str) -> BroadcastV1 {
    BroadcastV1 {
        published_on: published_on.to_owned(),
        ..broadcast_v1()
    }
}

#[tokio::test]
async fn a_template_send_shows_as_its_filled_body_after_the_seeded_history() {
    let emu = emulator().await;
    let seeded = history(&emu, "919019486731", &[]).await;
    assert_eq!(seeded.len(), 5);
    let window = send_invoice(&emu, JOHN).await;
    let items = history(&emu, "919019486731", &[]).await;
    assert_eq!(
        items[..5],
        seeded[..],
        "the seed's items come first, unchanged"
    );
    let mut shown = seeded;
    shown.extend(sent_items(&items, window));
    assert_eq!(shown.len(), items.len());
    insta::assert_json_snapshot!("template_send", shown);

    // Recipients of sends are usually not seeded users: they have a history too.
    let offer = TemplateMessage {
        phone_number: STRANGER.to_owned(),
        payload: offer_template(),
    };
    let before = now_ms();
    let (status, _) = post(&emu, &template_path(), &offer).await;
    assert_eq!(status, 200);
    let items = history(&emu, "447700900999", &[]).await;
    assert_eq!(
        sent_items(&items, (before, now_ms())),
        [json!({
            "timestamp": "[accepted]", "messageType": "TEMPLATE", "sender": "bot",
            "text": "Renuka Sugars wishes you a happy new year! Use code NEWYEAR10 for 10% off \
                     until 7 January."
        })]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn broadcasts_leave_their_messages_with_each_recipient() {
    let emu = emulator().await;
    let mut two = v1("2019-06-03T06:48:27.170Z");
    two.payload.content.push(two.payload.content[0].clone());
    two.payload.content[1].data.message = "Reply STOP to opt out".to_owned();
    let before = now_ms();
    let (status, body) = post(&emu, &paths::broadcast_v1(CUSTOMER, BOT), &two).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    let window = (before, now_ms());
    for user in ["919019486731", "919178921978"] {
        let items = history(&emu, user, &[]).await;
        let texts: Vec<Value> = sent_items(&items, window)
            .iter()
            .map(|m| json!([m["messageType"], m["sender"], m["text"]]))
            .collect();
        assert_eq!(
            texts,
            [
                json!(["TEXT", "bot", "Our weekend offer"]),
                json!(["TEXT", "bot", "Reply STOP to opt out"])
            ],
            "{user}"
        );
    }

    let mut v2 = broadcast_v2(&[JOHN, STRANGER]);
    v2.published_on = "2019-06-03T06:48:27.170Z".to_owned();
    let before = now_ms();
    let (status, _) = post(&emu, &paths::broadcast_v2(CUSTOMER, BOT), &v2).await;
    assert_eq!(status, 200);
    let items = history(&emu, "447700900999", &[]).await;
    let sent = sent_items(&items, (before, now_ms()));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["messageType"], "TEMPLATE");

    // A broadcast published later shows at its publishedOn, not before, whatever end_date asks.
    let later = v1("2099-01-01T00:00:00.000Z");
    let (status, _) = post(&emu, &paths::broadcast_v1(CUSTOMER, BOT), &later).await;
    assert_eq!(status, 200);
    let far = [("end_date", "4102444800001")];
    let items = history(&emu, "919178921978", &far).await;
    assert_eq!(
        items.len(),
        3 + 2,
        "the seed's 3 and the first broadcast's 2"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn start_and_end_date_filter_sent_messages_like_seeded_ones() {
    let emu = emulator().await;
    let (before, after) = send_invoice(&emu, STRANGER).await;
    let user = "447700900999";
    let (before, after) = (before.to_string(), after.to_string());
    let until_before = (before.parse::<i64>().unwrap() - 1).to_string();
    let since_after = (after.parse::<i64>().unwrap() + 1).to_string();
    assert_eq!(
        history(&emu, user, &[("start_date", &before)]).await.len(),
        1
    );
    assert_eq!(history(&emu, user, &[("end_date", &after)]).await.len(), 1);
    assert!(
        history(&emu, user, &[("start_date", &since_after)])
            .await
            .is_empty()
    );
    assert!(
        history(&emu, user, &[("end_date", &until_before)])
            .await
            .is_empty()
    );
    // A seeded user: the window keeps the send and drops the seed's 2025 items.
    send_invoice(&emu, JOHN).await;
    let items = history(&emu, "919019486731", &[("start_date", &before)]).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["messageType"], "TEMPLATE");
    emu.shutdown().await;
}

#[tokio::test]
async fn trace_delay_hides_a_send_until_it_has_passed_then_shows_its_acceptance_time() {
    let emu = emulator().await;
    let delay = Duration::from_millis(600);
    emu.set_faults(Faults {
        trace_delay_ms: delay.as_millis() as u64,
        ..Faults::default()
    });
    let started = Instant::now();
    let window = send_invoice(&emu, STRANGER).await;
    let items = history(&emu, "447700900999", &[]).await;
    if started.elapsed() < delay {
        assert!(items.is_empty(), "shown before the delay: {items:?}");
    }
    // Shown once the delay has passed since the acceptance, at the latest the answer.
    let shown_from = window.1 + delay.as_millis() as i64;
    let wait = u64::try_from(shown_from - now_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait + 5)).await;
    let items = history(&emu, "447700900999", &[]).await;
    assert_eq!(sent_items(&items, window).len(), 1, "{items:?}");
    assert_eq!(emu.requests().len(), 3, "the send and two reads");
    emu.shutdown().await;
}

#[tokio::test]
async fn trace_lost_leaves_the_send_recorded_but_out_of_history() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        trace_lost: 1.0,
        ..Faults::default()
    });
    send_invoice(&emu, STRANGER).await;
    let (status, _) = post(
        &emu,
        &paths::broadcast_v1(CUSTOMER, BOT),
        &v1("2019-06-03T06:48:27.170Z"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(history(&emu, "447700900999", &[]).await.is_empty());
    assert_eq!(
        history(&emu, "919178921978", &[]).await.len(),
        3,
        "the seed's only"
    );
    assert_eq!(emu.counts()[STRANGER], 1, "the send itself was accepted");

    // Over HTTP: the same field names; fractions outside 0..1 are refused.
    let faults = url(&emu, "/_emulator/faults");
    let set = json!({"trace_delay_ms": 250, "trace_lost": 0.25, "seed": 9});
    let response = client().put(&faults).json(&set).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let now: Faults = client()
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((now.trace_delay_ms, now.trace_lost), (250, 0.25));
    let response = client()
        .put(&faults)
        .json(&json!({"trace_lost": 1.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn history_is_rebuilt_from_the_log_on_restart_and_forgotten_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: Some(dir.path().to_owned()),
        ..Config::local(Seed::builtin())
    };
    let emu = emulator::start(config()).await.unwrap();
    send_invoice(&emu, STRANGER).await;
    let (status, _) = post(
        &emu,
        &paths::broadcast_v1(CUSTOMER, BOT),
        &v1("2019-06-03T06:48:27.170Z"),
    )
    .await;
    assert_eq!(status, 200);
    let stranger = history(&emu, "447700900999", &[]).await;
    let jahnavi = history(&emu, "919178921978", &[]).await;
    assert_eq!((stranger.len(), jahnavi.len()), (1, 4));
    emu.shutdown().await;

    let emu = emulator::start(config()).await.unwrap();
    assert_eq!(history(&emu, "447700900999", &[]).await, stranger);
    assert_eq!(history(&emu, "919178921978", &[]).await, jahnavi);
    let response = client()
        .delete(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert!(history(&emu, "447700900999", &[]).await.is_empty());
    assert_eq!(history(&emu, "919178921978", &[]).await.len(), 3);
    emu.shutdown().await;
}

#[test]
fn the_binary_refuses_a_trace_lost_outside_0_to_1() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--trace-delay-ms",
            "5",
            "--trace-lost",
            "1.5",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--trace-lost"), "{stderr}");
}
