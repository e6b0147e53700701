//! Unknown outcomes settled by the recipients' conversation histories, end to end against the
//! emulator (which records what the sends it accepts leave there): `herald state reconcile`,
//! and plan and apply doing it before planning.

mod apply_support;

use apply_support::{Setup, state_outcomes};
use herald::emulator::Faults;
use herald::state::Outcome;

/// Every send of the example hangs after the emulator accepted it: all end `unknown`. The
/// invoice reminders are due whatever the date the tests run on; the broadcasts are published
/// in 2099, so their messages are never due to show.
fn all_unknown(setup: &Setup, faults: Faults) {
    for at in ["at: 2026-12-05T04:30:00Z", "at: 2026-12-31T18:30:00Z"] {
        setup
            .project
            .edit("campaigns/broadcasts.yaml", at, &at.replace("2026", "2099"));
    }
    setup.project.edit(
        "herald.yaml",
        "  concurrency: 16\n",
        "  concurrency: 16\n  timeout_seconds: 1\napply:\n  reconcile_after: 6s\n",
    );
    let plan = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    setup.emulator.set_faults(Faults {
        hang: 1.0,
        spare_reads: true,
        ..faults
    });
    let output = setup.herald(&["apply", "plan.json"]);
    setup.emulator.set_faults(Faults::default());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let outcomes = state_outcomes(setup);
    assert!(
        outcomes.values().all(|o| *o == Outcome::Unknown),
        "{outcomes:?}"
    );
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Times in decisions vary per run: `[time]`.
fn without_times(text: &str) -> String {
    let time = |word: &str| {
        let trimmed = word.trim_end_matches([',', ';', ':', ')', '"']);
        let looks = trimmed.len() >= 20 && trimmed.as_bytes()[4] == b'-' && trimmed.contains('T');
        if looks {
            word.replacen(trimmed, "[time]", 1)
        } else {
            word.to_owned()
        }
    };
    text.lines()
        .map(|line| line.split(' ').map(time).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn state_reconcile_records_what_the_histories_show() {
    let setup = Setup::new();
    all_unknown(&setup, Faults::default());
    let output = setup.herald(&["state", "reconcile"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!(without_times(&stdout(&output)));
    let outcomes = state_outcomes(&setup);
    // Templates and the published broadcast were found: sent. The trigger leaves no trace;
    // the broadcast published on new year's eve is not due to show yet.
    let unknown: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| **o == Outcome::Unknown)
        .map(|((c, r), _)| format!("{c} {r}"))
        .collect();
    insta::assert_debug_snapshot!(unknown);
    let sent = outcomes.values().filter(|o| **o == Outcome::Sent).count();
    assert!(sent > 0);
    // Nothing is sent again: the next plan has nothing to send but what stays unknown.
    let before = setup.sends().len();
    let apply = setup.herald(&["apply", "--auto-approve"]);
    assert!(matches!(apply.status.code(), Some(0 | 1)), "{apply:?}");
    assert_eq!(setup.sends().len(), before, "nobody messaged twice");
}

#[test]
fn messages_never_recorded_are_sent_again_once_reconcile_after_has_passed() {
    let setup = Setup::new();
    all_unknown(
        &setup,
        Faults {
            trace_lost: 1.0,
            ..Faults::default()
        },
    );
    // Within reconcile_after: pending, nothing resent.
    let early = setup.herald(&[
        "state",
        "reconcile",
        "invoice-reminder-dec",
        "--format",
        "json",
    ]);
    assert_eq!(early.status.code(), Some(0), "{early:?}");
    let decisions: serde_json::Value = serde_json::from_slice(&early.stdout).unwrap();
    let verdicts: Vec<&str> = decisions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["verdict"].as_str().unwrap())
        .collect();
    assert!(!verdicts.is_empty());
    assert!(verdicts.iter().all(|v| *v == "pending"), "{verdicts:?}");

    std::thread::sleep(std::time::Duration::from_millis(6100));
    let sends = setup.sends().len();
    let plan = setup.herald(&["plan", "--campaign", "invoice-reminder-dec"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let shown = stdout(&plan);
    assert!(
        shown.contains("was unknown; no trace in the conversation history 6s after the attempt"),
        "{shown}"
    );
    let apply = setup.herald(&[
        "apply",
        "--auto-approve",
        "--campaign",
        "invoice-reminder-dec",
    ]);
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
    assert_eq!(
        setup.sends().len(),
        sends + verdicts.len(),
        "each sent again once"
    );
}

#[test]
fn plan_shows_each_decision_and_apply_records_the_delivered_ones() {
    let setup = Setup::new();
    all_unknown(&setup, Faults::default());
    let plan = setup.herald(&["plan", "--campaign", "invoice-reminder-dec"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let shown = stdout(&plan);
    assert!(
        shown.contains("reconciled: found in the recipient's conversation history at"),
        "{shown}"
    );
    let before = setup.sends().len();
    let apply = setup.herald(&[
        "apply",
        "--auto-approve",
        "--campaign",
        "invoice-reminder-dec",
    ]);
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
    assert!(
        stdout(&apply).contains("Reconciled: "),
        "{}",
        stdout(&apply)
    );
    assert_eq!(setup.sends().len(), before, "nothing sent again");
    let outcomes = state_outcomes(&setup);
    assert!(
        outcomes
            .iter()
            .filter(|((c, _), _)| c == "invoice-reminder-dec")
            .all(|(_, o)| *o == Outcome::Sent),
        "{outcomes:?}"
    );
}

#[test]
fn a_message_that_shows_up_after_the_plan_said_never_arrived_refuses_the_plan() {
    let setup = Setup::new();
    // Histories show a message 8 s after it was accepted; after 1 s it counts as never arrived
    // (wide margins: the suite runs on a busy machine).
    setup.project.edit(
        "herald.yaml",
        "  concurrency: 16\n",
        "  concurrency: 16\n  timeout_seconds: 1\napply:\n  reconcile_after: 1s\n",
    );
    let campaign = ["--campaign", "invoice-reminder-dec"];
    let plan = setup.herald(&[&["plan", "--out", "plan.json"], &campaign[..]].concat());
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    setup.emulator.set_faults(Faults {
        hang: 1.0,
        trace_delay_ms: 8_000,
        spare_reads: true,
        ..Faults::default()
    });
    let output = setup.herald(&["apply", "plan.json"]);
    let applied = std::time::Instant::now();
    setup.emulator.set_faults(Faults {
        trace_delay_ms: 8_000,
        spare_reads: true,
        ..Faults::default()
    });
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let sends = setup.sends().len();

    // The plan says: no trace 1 s after the attempt's outcome, send again. (A plan's time is
    // the nearest whole second, up to half a second before the clock: wait 2 s.)
    std::thread::sleep(std::time::Duration::from_millis(2_000));
    let plan = setup.herald(&[&["plan", "--out", "plan.json"], &campaign[..]].concat());
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    assert!(
        stdout(&plan).contains("was unknown; no trace"),
        "{}",
        stdout(&plan)
    );
    // Then the messages show up: the plan's verdict no longer holds.
    let shown = std::time::Duration::from_millis(8_500);
    std::thread::sleep(shown.saturating_sub(applied.elapsed()));
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("what reconciling found for +") && stderr.contains("changed since"),
        "{stderr}"
    );
    assert_eq!(setup.sends().len(), sends, "nobody messaged twice");
}

#[test]
fn verdicts_that_cannot_be_checked_again_at_apply_leave_their_deliveries_unknown() {
    let setup = Setup::new();
    all_unknown(&setup, Faults::default());
    let plan = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    assert!(stdout(&plan).contains("reconciled: found in the recipient's conversation history"));
    let before = state_outcomes(&setup);
    let unknown = before.values().filter(|o| **o == Outcome::Unknown).count();
    let sends = setup.sends().len();

    // The histories go down between plan and apply: no verdict can be borne out, none acts.
    setup.emulator.set_faults(Faults {
        history_down: true,
        ..Faults::default()
    });
    let output = setup.herald(&["apply", "plan.json"]);
    setup.emulator.set_faults(Faults::default());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("reconcile verdicts could not be checked again")
            && stderr.contains("stay unknown, neither recorded nor sent")
            && stderr.contains(&format!("note: {unknown} deliveries stay unknown")),
        "{stderr}"
    );
    assert_eq!(
        setup.sends().len(),
        sends,
        "nothing sent on an unchecked verdict"
    );
    assert_eq!(state_outcomes(&setup), before, "nothing recorded either");

    // Once the histories are back, the next apply settles them.
    let again = setup.herald(&["apply", "--auto-approve"]);
    assert!(matches!(again.status.code(), Some(0 | 1)), "{again:?}");
    assert!(
        stdout(&again).contains("Reconciled: "),
        "{}",
        stdout(&again)
    );
    assert_eq!(setup.sends().len(), sends, "nobody messaged twice");
}
