//! Time: `--now` on plan and apply (what is due, the times apply records), and apply's guard
//! against a clock moved far from the real one when it sends to a real API.

mod apply_support;

use apply_support::{Project, Setup};
use herald::state::Round;
use herald::state::Store;
use herald::state::sqlite::SqliteStore;

/// Long after every schedule of the example: everything is due.
const LATER: &str = "2030-01-07T10:00:00Z";

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn apply_now_records_every_time_as_of_that_time() {
    let setup = Setup::new();
    let plan = setup.herald(&["plan", "--now", LATER, "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let applied = setup.herald(&["apply", "--now", LATER, "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");

    let store = SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db"))
        .expect("the state opens");
    let later: jiff::Timestamp = LATER.parse().unwrap();
    let soon_after = |at: jiff::Timestamp| {
        at >= later && at.duration_since(later) < jiff::SignedDuration::from_mins(1)
    };
    let applies = store.applies().expect("the applies");
    assert_eq!(applies.len(), 1);
    assert!(soon_after(applies[0].started_at), "{applies:?}");
    assert!(
        applies[0].finished_at.is_some_and(soon_after),
        "{applies:?}"
    );
    let delivery = store
        .delivery(Round::one_off("feedback-flow"), "+919019486731")
        .unwrap()
        .expect("recorded");
    assert!(soon_after(delivery.at), "{delivery:?}");
}

#[test]
fn a_plan_from_after_apply_now_is_refused() {
    let setup = Setup::new();
    let plan = setup.herald(&["plan", "--now", LATER, "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    // Applied at the real time, the plan is from the future: its campaigns are not due yet.
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(2), "{applied:?}");
    assert!(
        stderr(&applied).contains("the plan was made as of 2030-01-07T10:00:00Z, later than now"),
        "{}",
        stderr(&applied)
    );
    assert!(setup.sends().is_empty());
}

#[test]
fn apply_now_far_from_the_clock_is_refused_for_a_real_api() {
    // The example's default target is Engati itself.
    let project = Project::example();
    let output = project.herald(&["apply", "--now", LATER, "--auto-approve"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::with_settings!({filters => vec![(r"\d+ days", "[N] days")]}, {
        insta::assert_snapshot!(stderr(&output), @r"
        error: --now is [N] days from this machine's clock, and api.base_url (https://api.engati.ai) is not loopback
        help: apply --now only rehearses against the emulator (a loopback api.base_url, e.g. --env staging); against Engati, apply at the real time
        ");
    });
}
