//! The safety rails end to end: each cap's unsafe plan in every format, apply refusing it and
//! applying it with `--force` against the emulator; late campaigns, suppression and renames.

mod apply_support;

use apply_support::{AFTER_DUE, Project, Setup, refused_then_forced, state_outcomes, without_port};
use herald::state::Outcome;

/// The VIP who is also on the example's `unsubscribed` list.
const OPTED_OUT: &str = "+919845012345";

/// Snapshots an unsafe plan (exit 1) at the fixed time in every format.
fn snapshot_unsafe_plan(project: &Project, scenario: &str) {
    for format in ["human", "json", "markdown"] {
        let text = project.plan(AFTER_DUE, &["--format", format], 1);
        insta::assert_snapshot!(format!("{scenario}.{format}"), without_port(&text));
    }
}

#[test]
fn a_plan_over_safety_max_sends_is_shown_unsafe_and_needs_force() {
    let project = Project::example();
    project.edit("herald.yaml", "max_sends: 1000", "max_sends: 9");
    // 2 triggers, 4 reminders, a broadcast to 6 and one to 3: 15 messages.
    snapshot_unsafe_plan(&project, "max_sends");

    let setup = Setup::new();
    setup
        .project
        .edit("herald.yaml", "max_sends: 1000", "max_sends: 9");
    insta::assert_snapshot!("max_sends_refused", refused_then_forced(&setup, 8));
}

#[test]
fn a_campaign_over_its_own_max_sends_is_unsafe() {
    let project = Project::example();
    project.edit(
        "campaigns/invoice-reminders.yaml",
        "max_sends: 100",
        "max_sends: 3",
    );
    snapshot_unsafe_plan(&project, "campaign_max_sends");

    let setup = Setup::new();
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "max_sends: 100",
        "max_sends: 3",
    );
    insta::assert_snapshot!("campaign_max_sends_refused", refused_then_forced(&setup, 8));
}

#[test]
fn resending_a_changed_message_to_most_of_an_audience_needs_force() {
    let setup = Setup::new();
    setup.plan();
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        r#""{{ vars.brand }}"]"#,
        r#""{{ vars.brand }} Ltd"]"#,
    );
    // Kept: nothing is sent again, so the plan is safe.
    let keep = setup.herald(&["plan"]);
    assert_eq!(keep.status.code(), Some(0), "{keep:?}");
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "on_change: keep",
        "on_change: resend",
    );
    let refusal = refused_then_forced(&setup, 4);
    assert!(refusal.contains("max_changed_share is 0.5"), "{refusal}");
}

#[test]
fn a_late_campaign_is_an_error_until_it_says_send_or_skip() {
    let setup = Setup::new();
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "    late: send                             # a reminder still matters if a run comes late\n",
        "",
    );
    let plan = setup.herald(&["plan"]);
    assert_eq!(plan.status.code(), Some(1), "{plan:?}");
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("campaign::late"), "{text}");
    assert!(
        text.contains("campaigns/invoice-reminders.yaml:10:11"),
        "{text}"
    );
    let validate = setup.herald(&["validate"]);
    assert_eq!(validate.status.code(), Some(1), "{validate:?}");
    assert!(String::from_utf8_lossy(&validate.stdout).contains("campaign::late"));

    // Skipped: shown, nothing sent or recorded, and the same on every later plan.
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "    suppress: false",
        "    late: skip\n    suppress: false",
    );
    let plan = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("late: skip, on_change: keep\n  December invoice reminders\n  suppress: false — the project's suppress list is not applied\n  its time has passed: nothing is sent or recorded\n  no recipients"),
        "{text}"
    );
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    let outcomes = state_outcomes(&setup);
    assert!(
        !outcomes.keys().any(|(c, _)| c == "invoice-reminder-dec"),
        "{outcomes:?}"
    );
    assert!(
        !setup
            .sends()
            .iter()
            .any(|(path, _, _)| path.ends_with("/template")),
        "no template message was sent"
    );

    // Once something of it was sent, it is no longer late: new recipients join it.
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "    late: skip\n",
        "    late: send\n",
    );
    let plan = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    setup
        .project
        .edit("campaigns/invoice-reminders.yaml", "    late: send\n", "");
    setup
        .project
        .append("audiences/vip.csv", "+919800000001,meera,20001\n");
    let plan = setup.herald(&["plan"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    assert!(String::from_utf8_lossy(&plan.stdout).contains("1 send, 4 unchanged"));
}

#[test]
fn suppressed_recipients_get_nothing_unless_the_campaign_opts_out() {
    let setup = Setup::new();
    setup.plan();
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    let mut reached = Vec::new();
    for (path, query, body) in setup.sends() {
        let text = format!("{path} {query:?} {body:?}");
        if text.contains(OPTED_OUT) {
            reached.push(path);
        }
    }
    // Only the invoice reminder (a service message, `suppress: false`) reaches the VIP who
    // opted out; the weekend broadcast to the VIPs leaves them out of its users.
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert!(reached[0].ends_with("/template"), "{reached:?}");
    let outcomes = state_outcomes(&setup);
    assert_eq!(
        outcomes.get(&("invoice-reminder-dec".to_owned(), OPTED_OUT.to_owned())),
        Some(&Outcome::Sent)
    );
}

#[test]
fn a_renamed_campaign_with_previously_sends_nothing_again() {
    let setup = Setup::new();
    setup.plan();
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    let sent = setup.sends().len();

    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "  invoice-reminder-dec:\n",
        "  invoice-reminder-december:\n",
    );
    // Without `previously` the rename is a new campaign: everyone would get it again.
    let plan = setup.herald(&["plan", "--campaign", "invoice-reminder-december"]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("4 send"));

    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "  invoice-reminder-december:\n",
        "  invoice-reminder-december:\n    previously: [invoice-reminder-dec]\n",
    );
    let plan = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("renamed from invoice-reminder-dec: what was sent under that name counts as sent\n  suppress: false — the project's suppress list is not applied\n  4 unchanged"),
        "{text}"
    );
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    assert_eq!(setup.sends().len(), sent, "nobody was messaged again");
}

/// The fixed time of the snapshots below: a week after the invoice reminders' schedule.
const WEEK_LATER: &str = "2026-12-07T10:00:00Z";

/// Snapshots a plan at `now` in every format, expecting `code`; the state's lineage (random),
/// its serial (timing) and the emulator's port are masked.
fn snapshot_formats(run: impl Fn(&[&str]) -> std::process::Output, scenario: &str, code: i32) {
    for format in ["human", "json", "markdown"] {
        let output = run(&["plan", "--now", WEEK_LATER, "--format", format]);
        assert_eq!(output.status.code(), Some(code), "{output:?}");
        let text = without_port(&String::from_utf8_lossy(&output.stdout));
        insta::with_settings!({filters => vec![
            (r#""state_lineage":"[0-9a-f]{16}""#, r#""state_lineage":"[lineage]""#),
            // herald.yaml holds the emulator's URL, so the inputs' hash changes with its port.
            (r#""inputs_hash":"[0-9a-f]{64}""#, r#""inputs_hash":"[hash]""#),
            // Apply's writes are batched as the answers come: the serial depends on timing.
            (r#""state_serial":\d+"#, r#""state_serial":[serial]"#),
            (r"state serial \d+", "state serial [serial]"),
        ]}, {
            insta::assert_snapshot!(format!("{scenario}.{format}"), text);
        });
    }
}

#[test]
fn a_late_campaign_in_every_format() {
    let project = Project::example();
    let late_send = "    late: send                             # a reminder still matters if a run comes late\n";
    project.edit("campaigns/invoice-reminders.yaml", late_send, "");
    let run = |args: &[&str]| project.herald(&[args, &["--emulator"]].concat());
    // Without `late:` the plan is refused at the schedule's line.
    let refused = run(&["plan", "--now", WEEK_LATER]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    insta::assert_snapshot!("late_error", String::from_utf8_lossy(&refused.stdout));
    project.edit(
        "campaigns/invoice-reminders.yaml",
        "    suppress: false",
        "    late: skip\n    suppress: false",
    );
    snapshot_formats(run, "late_skip", 0);
}

#[test]
fn a_renamed_campaign_in_every_format() {
    let setup = Setup::new();
    setup.plan();
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "  invoice-reminder-dec:\n",
        "  invoice-reminder-december:\n    previously: [invoice-reminder-dec]\n",
    );
    snapshot_formats(|args| setup.herald(args), "renamed", 0);
}
