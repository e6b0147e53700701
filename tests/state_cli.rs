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

/// The example project after an apply at [`AFTER_DUE`] in which one invoice reminder failed.
fn applied_with_one_failure() -> Project {
    let project = Project::example();
    project.simulate_apply(AFTER_DUE, |campaign, action| match campaign {
        "invoice-reminder-dec" if action.recipient == "+919019486731" => {
            Some((Outcome::Failed, Some(1002)))
        }
        _ => Some((Outcome::Sent, None)),
    });
    project
}

/// `herald ARGS`'s stdout and stderr with the project's path replaced, and its exit code.
fn run(project: &Project, args: &[&str]) -> (String, i32) {
    let output = project.herald(args);
    let text = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    let path = project.path().display().to_string();
    (
        text.replace(&path, "[project]"),
        output.status.code().unwrap(),
    )
}

/// A week after the apply: its attempts are more than a day old.
const WEEK_LATER: &str = "2026-12-09T00:00:00Z";

#[test]
fn state_prune_reports_what_it_drops_and_refuses_recent_dates() {
    let project = applied_with_one_failure();
    let path = project.path().join(".herald/state.db");
    let serial = SqliteStore::open(&path).unwrap().serial().unwrap();

    let (dry, code) = prune(&project, &["--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(SqliteStore::open(&path).unwrap().serial().unwrap(), serial);

    let (future, code) = run(
        &project,
        &[
            "state",
            "prune",
            "--before",
            "2026-12-10",
            "--now",
            WEEK_LATER,
        ],
    );
    assert_eq!(code, 2, "{future}");
    let (recent, code) = run(
        &project,
        &[
            "state",
            "prune",
            "--before",
            "2026-12-08T12:00:00Z",
            "--now",
            WEEK_LATER,
        ],
    );
    assert_eq!(code, 2, "{recent}");
    let (bad, code) = run(&project, &["state", "prune", "--before", "last week"]);
    assert_eq!(code, 2, "{bad}");
    assert_eq!(SqliteStore::open(&path).unwrap().serial().unwrap(), serial);

    let (pruned, code) = prune(&project, &[]);
    assert_eq!(code, 0, "{pruned}");
    assert_eq!(
        SqliteStore::open(&path).unwrap().serial().unwrap(),
        serial + 1,
        "one prune, one serial"
    );
    let (again, code) = prune(&project, &["--vacuum"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        SqliteStore::open(&path).unwrap().serial().unwrap(),
        serial + 1
    );

    let (show, code) = run(
        &project,
        &["state", "show", "invoice-reminder-dec", "+919019486731"],
    );
    assert_eq!(code, 0, "{show}");
    insta::assert_snapshot!(
        "state_prune",
        format!(
            "$ herald state prune --before 2026-12-03 --dry-run\n{dry}\n\
             $ herald state prune --before 2026-12-10\n{future}\n\
             $ herald state prune --before 2026-12-08T12:00:00Z\n{recent}\n\
             $ herald state prune --before 'last week'\n{bad}\n\
             $ herald state prune --before 2026-12-03\n{pruned}\n\
             $ herald state prune --before 2026-12-03 --vacuum\n{again}\n\
             $ herald state show invoice-reminder-dec +919019486731\n{show}"
        )
    );
}

#[test]
fn a_plan_after_pruning_is_the_plan_before_it() {
    let project = applied_with_one_failure();
    let plan = |project: &Project| {
        let human = project.plan(WEEK_LATER, &[], 0);
        let markdown = project.plan(WEEK_LATER, &["--format", "markdown"], 0);
        let file = project.path().join("check.plan.json");
        project.plan(
            WEEK_LATER,
            &["--out", file.to_str().unwrap(), "--format", "json"],
            0,
        );
        let document = herald::plan::file::read(&file).unwrap();
        let actions: Vec<_> = document
            .campaigns
            .into_iter()
            .flat_map(|c| c.actions)
            .collect();
        // The serial is the one thing that changes.
        let without_serial = |text: String| -> String {
            text.lines()
                .filter(|l| !l.contains("serial"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        (without_serial(human), without_serial(markdown), actions)
    };
    let before = plan(&project);
    assert_eq!(
        before.2.iter().filter(|a| a.sends).count(),
        1,
        "the failed reminder is retried: {:?}",
        before.2
    );
    let (pruned, code) = prune(&project, &[]);
    assert_eq!(code, 0, "{pruned}");
    assert!(pruned.contains("pruned "), "{pruned}");
    let after = plan(&project);
    assert_eq!(after.0, before.0, "the human plan is unchanged");
    assert_eq!(after.1, before.1, "the Markdown plan is unchanged");
    assert_eq!(after.2, before.2, "the same actions, nothing new sent");
}

#[test]
fn a_changed_message_of_a_pruned_delivery_is_planned_without_a_diff() {
    let json_actions = |project: &Project| {
        let file = project.path().join("changed.plan.json");
        project.plan(
            WEEK_LATER,
            &[
                "--campaign",
                "invoice-reminder-dec",
                "--out",
                file.to_str().unwrap(),
                "--format",
                "json",
            ],
            0,
        );
        let document = herald::plan::file::read(&file).unwrap();
        document
            .campaigns
            .into_iter()
            .flat_map(|c| c.actions)
            .collect::<Vec<_>>()
    };
    let edit = |project: &Project| {
        project.edit(
            "campaigns/invoice-reminders.yaml",
            r#""{{ vars.brand }}"]"#,
            r#""{{ vars.brand }} Ltd"]"#,
        );
    };
    let kept = applied_with_one_failure();
    edit(&kept);
    let pruned = applied_with_one_failure();
    let (text, code) = run(
        &pruned,
        &[
            "state",
            "prune",
            "--before",
            "2026-12-03",
            "--now",
            WEEK_LATER,
        ],
    );
    assert_eq!(code, 0, "{text}");
    edit(&pruned);

    let mut with_diff = json_actions(&kept);
    let without = json_actions(&pruned);
    let changed = |actions: &[herald::plan::Action]| {
        actions
            .iter()
            .filter(|a| a.action == herald::plan::ActionKind::Changed)
            .count()
    };
    assert!(changed(&with_diff) > 0, "{with_diff:?}");
    assert!(
        with_diff
            .iter()
            .any(|a| a.previous.as_ref().is_some_and(|p| p.request.is_some())),
        "unpruned, the previous request is shown"
    );
    assert!(
        without
            .iter()
            .all(|a| a.previous.as_ref().is_none_or(|p| p.request.is_none())),
        "pruned, no previous request"
    );
    // Otherwise the same plan: the same actions, fingerprints and sends.
    for action in &mut with_diff {
        if let Some(previous) = action.previous.as_mut() {
            previous.request = None;
        }
    }
    assert_eq!(without, with_diff);
    // The human plan shows the changed actions too, and is not disturbed by the missing diff.
    let human = pruned.plan(WEEK_LATER, &["--campaign", "invoice-reminder-dec"], 0);
    assert!(human.contains("changed"), "{human}");
}

/// `herald state prune --before 2026-12-03` a week after the example's apply, with `extra`.
fn prune(project: &Project, extra: &[&str]) -> (String, i32) {
    let mut args = vec![
        "state",
        "prune",
        "--before",
        "2026-12-03",
        "--now",
        WEEK_LATER,
    ];
    args.extend_from_slice(extra);
    run(project, &args)
}

/// The lines of a human plan's section for `campaign`.
fn section<'a>(plan: &'a str, campaign: &str) -> Vec<&'a str> {
    plan.lines()
        .skip_while(|l| !l.starts_with(&format!("campaign {campaign} ")))
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn state_erase_removes_a_person_and_a_plan_does_not_message_them_again() {
    let project = applied_with_one_failure();
    let phone = "+919019486731";
    let path = project.path().join(".herald/state.db");
    let serial = SqliteStore::open(&path).unwrap().serial().unwrap();
    let before = project.plan(WEEK_LATER, &[], 0);
    assert!(
        !section(&before, "feedback-flow")
            .iter()
            .any(|l| l.contains(phone)),
        "delivered, so not listed: {before}"
    );

    let (bad, code) = run(&project, &["state", "erase", "919019486731"]);
    assert_eq!(code, 2, "{bad}");
    let erase = |extra: &[&str]| {
        let mut args = vec!["state", "erase", phone, "--now", WEEK_LATER];
        args.extend_from_slice(extra);
        run(&project, &args)
    };
    let (dry, code) = erase(&["--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(SqliteStore::open(&path).unwrap().serial().unwrap(), serial);
    let (erased, code) = erase(&[]);
    assert_eq!(code, 0, "{erased}");
    assert_eq!(
        SqliteStore::open(&path).unwrap().serial().unwrap(),
        serial + 1
    );
    let (again, code) = erase(&["--format", "json"]);
    assert_eq!(code, 0, "{again}");
    let (list, code) = run(&project, &["state", "list"]);
    assert_eq!(code, 0, "{list}");
    // The log says who erased, when and how much, never whom.
    let list: String = list
        .lines()
        .map(|l| match (l.find("  by "), l.rfind("  (")) {
            (Some(by), Some(paren)) if by < paren => {
                format!("{}  by [who]{}\n", &l[..by], &l[paren..])
            }
            _ => format!("{l}\n"),
        })
        .collect();
    insta::assert_snapshot!(
        "state_erase",
        format!(
            "$ herald state erase 919019486731\n{bad}\n\
             $ herald state erase {phone} --dry-run\n{dry}\n\
             $ herald state erase {phone}\n{erased}\n\
             $ herald state erase {phone} --format json\n{again}\n\
             $ herald state list\n{list}"
        )
    );
    assert!(!list.contains(phone));

    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !bytes.windows(phone.len()).any(|w| w == phone.as_bytes()),
        "the phone is nowhere in the state file"
    );
    // Still in the feedback flow's audience: never messaged that campaign again. The invoice
    // reminder to it had failed: it is sent, as it would have been retried.
    let after = project.plan(WEEK_LATER, &[], 0);
    assert!(
        !section(&after, "feedback-flow")
            .iter()
            .any(|l| l.contains(phone)),
        "{after}"
    );
    assert_eq!(
        section(&after, "feedback-flow")
            .iter()
            .find(|l| l.contains(" send") || l.contains("unchanged")),
        section(&before, "feedback-flow")
            .iter()
            .find(|l| l.contains(" send") || l.contains("unchanged")),
        "{after}"
    );
}
