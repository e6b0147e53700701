//! Time: `--now` on plan and apply (what is due, the times apply records), and apply's guard
//! against a clock moved far from the real one when it sends to a real API.

mod apply_support;

use apply_support::{Project, Setup, without_port};
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

/// A weekly trigger: Mondays at 09:00 in India (03:30 UTC), from 2026-12-01.
const WEEKLY: &str = "campaigns:
  weekly-checkin:
    description: Monday check-in with the testers
    audience: testers
    schedule:
      cron: \"0 9 * * MON\"
      timezone: Asia/Kolkata
      from: 2026-12-01
    send:
      trigger:
        flow: default_fallback_msg_74963
        attributes:
          user.user_name: \"{{ user.first_name | title }}\"
          week_of: \"{{ campaign.scheduled_at }}\"
";

/// Sends of the weekly campaign the emulator received, by the `week_of` they carry.
fn weekly_sends(setup: &Setup) -> Vec<String> {
    let mut weeks: Vec<String> = setup
        .sends()
        .iter()
        .filter_map(|(_, _, body)| body.as_ref()?["week_of"].as_str().map(str::to_owned))
        .collect();
    weeks.sort();
    weeks
}

fn plan_and_apply(setup: &Setup, now: &str) -> String {
    let plan = setup.herald(&[
        "plan",
        "--now",
        now,
        "--campaign",
        "weekly-checkin",
        "--out",
        "plan.json",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let applied = setup.herald(&["apply", "--now", now, "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    String::from_utf8_lossy(&plan.stdout).into_owned()
}

#[test]
fn a_recurring_campaign_sends_each_occurrence_once_and_skips_missed_ones() {
    let setup = Setup::new();
    std::fs::write(setup.project.path().join("campaigns/weekly.yaml"), WEEKLY).unwrap();

    // Before the first Monday: waiting, nothing sent.
    let before = plan_and_apply(&setup, "2026-12-05T12:00:00Z");
    assert!(
        before.contains("every \"0 9 * * MON\" (Asia/Kolkata): waiting for the first occurrence, 2026-12-07T03:30:00Z (Mon 2026-12-07 09:00 Asia/Kolkata)"),
        "{before}"
    );
    assert!(weekly_sends(&setup).is_empty());

    // Monday 7th, 09:05 in India: the first occurrence goes to both testers.
    let first = plan_and_apply(&setup, "2026-12-07T03:35:00Z");
    assert!(
        first.contains("occurrence 2026-12-07T03:30:00Z (Mon 2026-12-07 09:00 Asia/Kolkata) due, next 2026-12-14T03:30:00Z"),
        "{first}"
    );
    assert_eq!(
        weekly_sends(&setup),
        ["2026-12-07T03:30:00Z", "2026-12-07T03:30:00Z"]
    );

    // Later the same week: nothing more.
    let again = plan_and_apply(&setup, "2026-12-10T10:00:00Z");
    assert!(again.contains("2 unchanged"), "{again}");
    assert_eq!(weekly_sends(&setup).len(), 2);

    // Three weeks later: the 14th and 21st were missed and are skipped; only the 28th goes.
    let late = plan_and_apply(&setup, "2026-12-28T06:00:00Z");
    assert!(
        late.contains(
            "occurrence 2026-12-28T03:30:00Z (Mon 2026-12-28 09:00 Asia/Kolkata) due, \
             next 2027-01-04T03:30:00Z (Mon 2027-01-04 09:00 Asia/Kolkata), \
             2 missed occurrences skipped"
        ),
        "{late}"
    );
    assert_eq!(
        weekly_sends(&setup),
        [
            "2026-12-07T03:30:00Z",
            "2026-12-07T03:30:00Z",
            "2026-12-28T03:30:00Z",
            "2026-12-28T03:30:00Z"
        ]
    );
    // State keeps each occurrence as a round of its own.
    let list = setup.herald(&["state", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("weekly-checkin @ 2026-12-07T03:30:00Z"),
        "{text}"
    );
    assert!(
        text.contains("weekly-checkin @ 2026-12-28T03:30:00Z"),
        "{text}"
    );
}

#[test]
fn a_recurring_plan_in_every_format() {
    let project = Project::example();
    std::fs::write(project.path().join("campaigns/weekly.yaml"), WEEKLY).unwrap();
    for format in ["human", "json", "markdown"] {
        let text = project.plan(
            "2026-12-07T03:35:00Z",
            &["--campaign", "weekly-checkin", "--format", format],
            0,
        );
        insta::assert_snapshot!(format!("recurring.{format}"), without_port(&text));
    }
}

/// A Sunday trigger at 01:30 in London: on 28 March 2027 the clocks go from 01:00 to 02:00,
/// so that Sunday's 01:30 does not exist and the occurrence goes at 02:00 BST (01:00 UTC); the
/// next, a week later, is 01:30 BST (00:30 UTC).
const LONDON_SUNDAYS: &str = "campaigns:
  sunday-digest:
    audience: testers
    schedule:
      cron: \"30 1 * * SUN\"
      timezone: Europe/London
      from: 2027-03-01
    send:
      trigger:
        flow: default_fallback_msg_74963
        attributes:
          week_of: \"{{ campaign.scheduled_at }}\"
";

#[test]
fn a_recurring_plan_across_a_daylight_saving_change() {
    let project = Project::example();
    std::fs::write(project.path().join("campaigns/sunday.yaml"), LONDON_SUNDAYS).unwrap();
    for format in ["human", "json", "markdown"] {
        let text = project.plan(
            "2027-03-28T01:05:00Z",
            &["--campaign", "sunday-digest", "--format", format],
            0,
        );
        insta::assert_snapshot!(format!("spring_forward.{format}"), without_port(&text));
    }
    let json = project.plan(
        "2027-03-28T01:05:00Z",
        &["--campaign", "sunday-digest", "--format", "json"],
        0,
    );
    let plan = herald::plan::json::parse(&json).unwrap();
    let campaign = &plan.campaigns[0].campaign;
    let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    assert_eq!(campaign.occurrence, Some(at("2027-03-28T01:00:00Z")));
    let next = campaign.recurring.as_ref().and_then(|r| r.next);
    assert_eq!(next, Some(at("2027-04-04T00:30:00Z")));
    // The Sunday before, in winter time: 01:30 GMT.
    let before = project.plan(
        "2027-03-21T01:31:00Z",
        &["--campaign", "sunday-digest", "--format", "json"],
        0,
    );
    let plan = herald::plan::json::parse(&before).unwrap();
    let campaign = &plan.campaigns[0].campaign;
    assert_eq!(campaign.occurrence, Some(at("2027-03-21T01:30:00Z")));
}
