//! `herald send CAMPAIGN --to PHONE [--as RECIPIENT]` against the emulator over loopback: one
//! test message, rendered for a recipient of the campaign and sent to another phone, never a
//! delivery of the campaign (plan still sends to everyone, a saved plan still applies), logged
//! apart in `herald state list`.

mod apply_support;

use apply_support::{Setup, state_outcomes};
use herald::emulator::{BUILTIN_API_KEY, Faults};
use herald::state::sqlite::SqliteStore;
use herald::state::{Delivery, Outcome, Store};

/// A tester's phone: a user of the bot, in none of the example's CSV audiences.
const TESTER: &str = "+919900112233";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs herald with the key; asserts the exit code and that the key is never printed.
fn herald(setup: &Setup, args: &[&str], code: i32) -> std::process::Output {
    let output = setup.herald(args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "herald {args:?}: {output:?}"
    );
    assert_no_key(&output);
    output
}

fn assert_no_key(output: &std::process::Output) {
    for text in [stdout(output), stderr(output)] {
        assert!(
            !text.contains(BUILTIN_API_KEY),
            "the key was printed: {text}"
        );
    }
}

/// The serial of the example's state (0 when none was written).
fn serial(setup: &Setup) -> u64 {
    SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db"))
        .unwrap()
        .serial()
        .unwrap()
}

/// `text` with the project's directory as `[project]`, every time (`2026-12-01T03:30:00Z`) as
/// `[time]` and every sender (`… (pid N)`, the user and host or the CI job) as `[who]`.
fn stable(setup: &Setup, text: &str) -> String {
    let project = setup.project.path().display().to_string();
    let text = text.replace(&project, "[project]");
    let is_time = |part: &str| {
        let b = part.as_bytes();
        part.len() >= 20 && b[4] == b'-' && b[10] == b'T' && part.ends_with('Z')
    };
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.split("  ")
                .map(|part| match part {
                    p if is_time(p) => "[time]",
                    p if p.contains(" (pid ") => "[who]",
                    p => p,
                })
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect();
    if text.ends_with('\n') {
        lines.push(String::new());
    }
    lines.join("\n")
}

#[test]
fn a_test_is_rendered_for_the_first_recipient_and_sent_to_the_phone_alone() {
    let setup = Setup::new();
    let output = herald(&setup, &["send", "invoice-reminder-dec", "--to", TESTER], 0);
    insta::assert_snapshot!(stdout(&output), @"Sent a test of campaign invoice-reminder-dec (rendered for +919019486731) to +919900112233: accepted by Engati");
    let sends = setup.sends();
    assert_eq!(sends.len(), 1, "exactly one POST: {sends:?}");
    let (path, _, body) = &sends[0];
    assert!(path.ends_with("/template"), "{path}");
    let body = body.clone().expect("a JSON body");
    assert_eq!(body["phoneNumber"], TESTER, "{body}");
    insta::assert_json_snapshot!("first_recipient_body", body);
}

#[test]
fn as_renders_the_test_with_that_recipients_values() {
    let setup = Setup::new();
    let output = herald(
        &setup,
        &[
            "send",
            "invoice-reminder-dec",
            "--to",
            TESTER,
            "--as",
            "+919178921978",
        ],
        0,
    );
    assert!(
        stdout(&output).contains("(rendered for +919178921978) to +919900112233"),
        "{output:?}"
    );
    let sends = setup.sends();
    assert_eq!(sends.len(), 1);
    let body = sends[0].2.clone().unwrap();
    let text = body.to_string();
    assert!(text.contains("12346") && text.contains("Jahnavi"), "{text}");
    assert!(!text.contains("12345") && !text.contains("John"), "{text}");
    insta::assert_json_snapshot!("as_recipient_body", body);
}

#[test]
fn a_broadcast_test_goes_to_the_phone_alone_and_is_published_now() {
    let setup = Setup::new();
    herald(&setup, &["send", "weekend-offer", "--to", TESTER], 0);
    let sends = setup.sends();
    assert_eq!(sends.len(), 1);
    let body = sends[0].2.clone().unwrap();
    assert_eq!(
        body["audience"]["rule"]["channelUserIds"],
        serde_json::json!([TESTER.trim_start_matches('+')]),
        "{body}"
    );
    let published: jiff::Timestamp = body["publishedOn"].as_str().unwrap().parse().unwrap();
    let age = jiff::Timestamp::now().duration_since(published);
    assert!(age.as_secs().abs() < 120, "published {published}, not now");
}

#[test]
fn an_as_outside_the_audience_is_refused_and_nothing_is_sent() {
    let setup = Setup::new();
    let output = herald(
        &setup,
        &[
            "send",
            "invoice-reminder-dec",
            "--to",
            TESTER,
            "--as",
            "+919900112233",
        ],
        2,
    );
    insta::assert_snapshot!("not_in_audience", stderr(&output));
    assert!(stdout(&output).is_empty());
    assert!(setup.sends().is_empty());
    // Opt-outs are left out of the audience before `--as` is looked up.
    let output = herald(
        &setup,
        &[
            "send",
            "weekend-offer",
            "--to",
            TESTER,
            "--as",
            "+919845012345",
        ],
        2,
    );
    assert!(stderr(&output).contains("is not a recipient"), "{output:?}");
    assert!(setup.sends().is_empty());
}

#[test]
fn a_test_is_no_delivery_and_leaves_the_serial_so_a_saved_plan_still_applies() {
    let setup = Setup::new();
    let before = setup.plan();
    let serial_before = serial(&setup);
    herald(&setup, &["send", "invoice-reminder-dec", "--to", TESTER], 0);
    herald(
        &setup,
        &[
            "send",
            "feedback-flow",
            "--to",
            TESTER,
            "--as",
            "+919178921978",
        ],
        0,
    );
    let sends = setup.sends();
    assert_eq!(sends.len(), 2);
    let trigger = format!("{:?}", sends[1]);
    assert!(
        trigger.contains(TESTER)
            && trigger.contains("Jahnavi")
            && !trigger.contains("+919178921978"),
        "the trigger starts the flow for the tester, with Jahnavi's values: {trigger}"
    );
    assert_eq!(serial(&setup), serial_before, "a test send bumps no serial");
    assert!(
        state_outcomes(&setup).is_empty(),
        "no delivery is recorded for a test"
    );

    // Plan still sends to every recipient, as before the tests.
    let after = setup.plan();
    let counts = |d: &herald::plan::json::Document| {
        d.campaigns
            .iter()
            .map(|c| (c.campaign.name.clone(), c.counts))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&after), counts(&before));
    let invoice = after
        .campaigns
        .iter()
        .find(|c| c.campaign.name == "invoice-reminder-dec")
        .unwrap();
    assert_eq!(invoice.counts.send, invoice.campaign.recipients);
    assert!(invoice.counts.send > 0);

    // `herald state list` shows the tests apart from the deliveries.
    let list = herald(&setup, &["state", "list"], 0);
    insta::assert_snapshot!("state_list_tests_only", stable(&setup, &stdout(&list)));
    let json = herald(&setup, &["state", "list", "--format", "json"], 0);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["campaigns"], serde_json::json!([]));
    let tests = parsed["test_sends"].as_array().unwrap();
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0]["campaign"], "invoice-reminder-dec");
    assert_eq!(tests[0]["rendered_for"], "+919019486731");
    assert_eq!(tests[0]["phone"], TESTER);
    assert_eq!(tests[0]["outcome"], "sent");
    assert_eq!(tests[1]["rendered_for"], "+919178921978");

    // A plan saved before the tests applies after them.
    let sends_before = setup.sends().len();
    let apply = herald(&setup, &["apply", "plan.json"], 0);
    assert!(setup.sends().len() > sends_before, "{apply:?}");
    let list = herald(&setup, &["state", "list"], 0);
    insta::assert_snapshot!("state_list_after_apply", stable(&setup, &stdout(&list)));
}

#[test]
fn a_plan_saved_before_a_test_still_applies() {
    let setup = Setup::new();
    setup.plan();
    herald(&setup, &["send", "invoice-reminder-dec", "--to", TESTER], 0);
    herald(&setup, &["apply", "plan.json"], 0);
    let outcomes = state_outcomes(&setup);
    assert!(!outcomes.is_empty());
    assert!(
        outcomes.keys().all(|(_, recipient)| recipient != TESTER),
        "the tester's phone got no delivery: {outcomes:?}"
    );
}

#[test]
fn without_the_key_nothing_is_read_or_sent() {
    let setup = Setup::new();
    let output = setup
        .project
        .herald(&["send", "invoice-reminder-dec", "--to", TESTER]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!("missing_key", stderr(&output));
    assert!(stdout(&output).is_empty());
    assert!(
        setup.emulator.requests().is_empty(),
        "nothing reached Engati"
    );
    assert!(!setup.project.path().join(".herald/state.db").exists());
}

#[test]
fn a_phone_that_is_not_e164_is_refused() {
    let setup = Setup::new();
    let output = herald(
        &setup,
        &["send", "invoice-reminder-dec", "--to", "9900112233"],
        2,
    );
    insta::assert_snapshot!("bad_phone", stderr(&output));
    let output = herald(
        &setup,
        &[
            "send",
            "invoice-reminder-dec",
            "--to",
            TESTER,
            "--as",
            "+91 91789 21978",
        ],
        2,
    );
    insta::assert_snapshot!("bad_as_phone", stderr(&output));
    assert!(setup.sends().is_empty());
}

#[test]
fn an_unknown_campaign_is_refused_with_a_suggestion() {
    let setup = Setup::new();
    let output = herald(&setup, &["send", "invoice-reminder", "--to", TESTER], 2);
    insta::assert_snapshot!("unknown_campaign", stderr(&output));
    assert!(setup.sends().is_empty());
}

#[test]
fn a_campaign_with_an_empty_audience_has_nobody_to_render_for() {
    let setup = Setup::new();
    setup.project.append(
        "campaigns/triggers.yaml",
        "
  nobody-flow:
    audience: {include: [testers], exclude: [testers]}
    send:
      trigger:
        flow: default_fallback_msg_74963
        attributes:
          user.user_name: \"{{ user.first_name | title }}\"
",
    );
    let output = herald(&setup, &["send", "nobody-flow", "--to", TESTER], 2);
    insta::assert_snapshot!("empty_audience", stderr(&output));
    assert!(setup.sends().is_empty());
}

#[test]
fn an_audience_that_cannot_be_read_is_shown_and_nothing_is_sent() {
    let setup = Setup::new();
    // The Users API answers 500: the opted-in users of new-year-offer's audience are unknown.
    setup.emulator.set_faults(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let output = herald(&setup, &["send", "new-year-offer", "--to", TESTER], 2);
    setup.emulator.set_faults(Faults::default());
    insta::assert_snapshot!("audience_unreadable", stable(&setup, &stderr(&output)));
    assert!(setup.sends().is_empty());
}

#[test]
fn a_test_refused_by_engati_exits_1_and_is_logged_failed() {
    let setup = Setup::new();
    setup.emulator.set_faults(Faults {
        outside_window: 1.0,
        ..Faults::default()
    });
    let output = herald(&setup, &["send", "invoice-reminder-dec", "--to", TESTER], 1);
    insta::assert_snapshot!("refused", stderr(&output));
    assert!(stdout(&output).is_empty());
    setup.emulator.set_faults(Faults::default());
    let list = herald(&setup, &["state", "list"], 0);
    insta::assert_snapshot!("state_list_refused", stable(&setup, &stdout(&list)));
    assert_eq!(serial(&setup), 0);
}

#[test]
fn a_test_to_a_phone_whose_delivery_is_unknown_is_refused() {
    let setup = Setup::new();
    let path = setup.project.path().join(".herald/state.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .record(&[Delivery {
            campaign: "invoice-reminder-dec".to_owned(),
            occurrence: None,
            recipient: "+919178921978".to_owned(),
            fingerprint: herald::fingerprint::Fingerprint::of(b"{}"),
            request: "{}".to_owned(),
            outcome: Outcome::Unknown,
            api_code: None,
            detail: Some("timeout".to_owned()),
            at: jiff::Timestamp::now(),
            apply_id: "a1".to_owned(),
        }])
        .unwrap();
    drop(store);
    let output = herald(
        &setup,
        &["send", "invoice-reminder-dec", "--to", "+919178921978"],
        2,
    );
    insta::assert_snapshot!("unknown_delivery", stderr(&output));
    assert!(setup.sends().is_empty());
    // Another phone is fine.
    herald(&setup, &["send", "invoice-reminder-dec", "--to", TESTER], 0);
}

#[test]
fn a_test_is_refused_while_an_apply_holds_the_lock() {
    let setup = Setup::new();
    let path = setup.project.path().join(".herald/state.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store.lock("ci@runner-7 (pid 4242)").unwrap();
    let output = herald(&setup, &["send", "invoice-reminder-dec", "--to", TESTER], 2);
    assert!(
        stderr(&output).contains("locked by ci@runner-7 (pid 4242)"),
        "{output:?}"
    );
    assert!(setup.sends().is_empty());
    drop(store);
}
