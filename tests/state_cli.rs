//! `herald state list|show|unlock` on the example project after a simulated apply.

mod plan_support;

use herald::state::sqlite::SqliteStore;
use herald::state::{Outcome, Store};
use plan_support::{AFTER_DUE, Project};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn state_list_before_anything_was_sent() {
    let project = Project::example();
    let output = project.herald(&["state", "list"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("nothing has been sent yet"));
    assert!(
        !project.path().join(".herald").exists(),
        "list created a state file"
    );
}

#[test]
fn state_list_and_show_after_an_apply() {
    let project = Project::example();
    project.simulate_apply(AFTER_DUE, |campaign, action| match campaign {
        "invoice-reminder-dec" if action.recipient == "+919019486731" => {
            Some((Outcome::Failed, Some(1002)))
        }
        _ => Some((Outcome::Sent, None)),
    });
    let list = project.herald(&["state", "list"]);
    assert_eq!(list.status.code(), Some(0));
    insta::assert_snapshot!("state_list", stdout(&list));

    let show = project.herald(&["state", "show", "invoice-reminder-dec"]);
    assert_eq!(show.status.code(), Some(0));
    insta::assert_snapshot!("state_show_campaign", stdout(&show));

    let one = project.herald(&["state", "show", "invoice-reminder-dec", "+919019486731"]);
    assert_eq!(one.status.code(), Some(0));
    insta::assert_snapshot!("state_show_recipient", stdout(&one));

    let json = project.herald(&["state", "list", "--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["campaigns"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        parsed["test_sends"],
        serde_json::json!([]),
        "test messages are listed apart"
    );
}

#[test]
fn state_show_of_an_unknown_campaign_says_so() {
    let project = Project::example();
    let output = project.herald(&["state", "show", "no-such-campaign"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("no deliveries of `no-such-campaign`"));
}

#[test]
fn unlock_breaks_a_dead_applys_lock_and_refuses_a_wrong_id() {
    let project = Project::example();
    let path = project.path().join(".herald/state.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let lock = store.lock("ci@runner-7 (pid 4242)").unwrap();
    drop(store);

    let wrong = project.herald(&["state", "unlock", "not-the-id"]);
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    // The refusal names the holder but never the id: knowing it is what unlock asks for.
    assert!(stderr.contains("ci@runner-7 (pid 4242)"), "{stderr}");
    assert!(!stderr.contains(&lock.id), "{stderr}");

    let right = project.herald(&["state", "unlock", &lock.id]);
    assert_eq!(
        right.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(stdout(&right).contains("ci@runner-7 (pid 4242)"));
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.current_lock().unwrap(), None);
}

#[test]
fn grant_read_is_for_a_postgresql_state() {
    let project = Project::example();
    let output = project.herald(&["state", "grant-read", "herald_review"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr), @r#"
    error: grant-read is for a PostgreSQL state, and this project's state is a SQLite file
    help: a review job that should only read a SQLite state needs read access to the file (or a copy of it); see docs/ci.md, "Least privilege"
    "#);
}
