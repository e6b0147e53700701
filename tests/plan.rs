//! `herald plan` and `herald show` on the example project, against the built-in emulator (for
//! the Users API audience) and a real SQLite state: one scenario per plan action kind, each
//! snapshotted in all three formats.

mod plan_support;

use herald::state::Outcome;
use plan_support::{AFTER_DUE, BEFORE_DUE, Project, plan_file_as_json, stable};

/// Snapshots the plan at `now` in human, JSON and Markdown form.
fn snapshot_all_formats(project: &Project, scenario: &str, now: &str, extra: &[&str]) {
    snapshot_all_formats_exiting(project, scenario, now, extra, 0);
}

/// Snapshots the plan at `now` in every form, each exiting `code` (1: an unsafe plan).
fn snapshot_all_formats_exiting(
    project: &Project,
    scenario: &str,
    now: &str,
    extra: &[&str],
    code: i32,
) {
    for format in ["human", "json", "markdown"] {
        let mut args = vec!["--format", format];
        args.extend_from_slice(extra);
        let text = stable(&project.plan(now, &args, code));
        if format == "json" {
            serde_json::from_str::<serde_json::Value>(&text).expect("the JSON plan parses");
        }
        insta::assert_snapshot!(format!("{scenario}.{format}"), text);
    }
}

#[test]
fn empty_state_sends_every_campaign() {
    let project = Project::example();
    snapshot_all_formats(&project, "empty_state", AFTER_DUE, &[]);
}

#[test]
fn after_an_apply_nothing_is_sent_again() {
    let project = Project::example();
    let recorded = project.simulate_apply(AFTER_DUE, |_, _| Some((Outcome::Sent, None)));
    assert!(recorded > 0);
    snapshot_all_formats(&project, "after_apply", AFTER_DUE, &[]);
}

#[test]
fn three_new_csv_rows_are_three_sends() {
    let project = Project::example();
    project.simulate_apply(AFTER_DUE, |_, _| Some((Outcome::Sent, None)));
    project.append(
        "audiences/vip.csv",
        "+919800000001,meera,20001\n+919800000002,arjun,20002\n+919800000003,kavya,20003\n",
    );
    snapshot_all_formats(&project, "csv_gains_rows", AFTER_DUE, &[]);
}

#[test]
fn a_body_edit_is_changed_after_send_and_resent_only_on_request() {
    let project = Project::example();
    project.simulate_apply(AFTER_DUE, |_, _| Some((Outcome::Sent, None)));
    project.edit(
        "campaigns/invoice-reminders.yaml",
        r#""{{ vars.brand }}"]"#,
        r#""{{ vars.brand }} Ltd"]"#,
    );
    snapshot_all_formats(
        &project,
        "body_edit_keep",
        AFTER_DUE,
        &["--campaign", "invoice-reminder-dec"],
    );
    project.edit(
        "campaigns/invoice-reminders.yaml",
        "on_change: keep",
        "on_change: resend",
    );
    // Every recipient would get the changed message again: more than the example's
    // safety.max_changed_share of 0.5, so the plan is shown but unsafe.
    snapshot_all_formats_exiting(
        &project,
        "body_edit_resend",
        AFTER_DUE,
        &["--campaign", "invoice-reminder-dec"],
        1,
    );
}

#[test]
fn failed_deliveries_are_retried_and_unknown_ones_left_alone() {
    let project = Project::example();
    project.simulate_apply(AFTER_DUE, |campaign, action| match campaign {
        "invoice-reminder-dec" if action.recipient == "+919019486731" => {
            Some((Outcome::Failed, Some(1002)))
        }
        "invoice-reminder-dec" => Some((Outcome::Unknown, None)),
        _ => Some((Outcome::Sent, None)),
    });
    snapshot_all_formats(&project, "failed_and_unknown", AFTER_DUE, &[]);
}

#[test]
fn a_campaign_scheduled_later_is_waiting() {
    let project = Project::example();
    snapshot_all_formats(
        &project,
        "waiting",
        BEFORE_DUE,
        &["--campaign", "invoice-reminder-dec"],
    );
}

#[test]
fn detailed_exitcode_follows_terraform() {
    let project = Project::example();
    project.plan(AFTER_DUE, &["--detailed-exitcode"], 2);
    project.simulate_apply(AFTER_DUE, |_, _| Some((Outcome::Sent, None)));
    project.plan(AFTER_DUE, &["--detailed-exitcode"], 0);
}

#[test]
fn the_same_inputs_give_byte_identical_plans() {
    let project = Project::example();
    let first = stable(&project.plan(AFTER_DUE, &["--format", "json"], 0));
    let second = stable(&project.plan(AFTER_DUE, &["--format", "json"], 0));
    assert_eq!(first, second);
}

#[test]
fn a_saved_plan_shows_as_it_was_planned() {
    let project = Project::example();
    let planned = project.plan(AFTER_DUE, &["--out", "release.plan"], 0);
    assert!(
        planned.contains("Saved the plan to release.plan"),
        "{planned}"
    );
    for format in ["human", "json", "markdown"] {
        let direct = project.plan(AFTER_DUE, &["--format", format], 0);
        let output = project.herald(&["show", "release.plan", "--format", format]);
        assert_eq!(output.status.code(), Some(0));
        assert_eq!(
            stable(&String::from_utf8_lossy(&output.stdout)),
            stable(&direct),
            "show --format {format}"
        );
    }
}

#[test]
fn a_bare_out_saves_the_plan_under_herald_plans() {
    let project = Project::example();
    let planned = project.plan(AFTER_DUE, &["--out"], 0);
    let saved = ".herald/plans/2026-12-02T00-00-00Z.plan";
    assert!(
        planned.contains(&format!(
            "Saved the plan to {saved}. Apply exactly this plan with `herald apply {saved}`."
        )),
        "{planned}"
    );
    let shown = project.herald(&["show", saved, "--format", "json"]);
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    let direct = project.plan(AFTER_DUE, &["--format", "json"], 0);
    assert_eq!(
        stable(&String::from_utf8_lossy(&shown.stdout)),
        stable(&direct)
    );
    // Named for the environment too, so plans of two environments never overwrite each other.
    let staging = project.plan(AFTER_DUE, &["--env", "staging", "--out"], 0);
    assert!(
        staging.contains(".herald/plans/staging-2026-12-02T00-00-00Z.plan"),
        "{staging}"
    );
}

#[test]
fn redacted_output_holds_no_phone_numbers_or_user_fields() {
    let project = Project::example();
    project.simulate_apply(AFTER_DUE, |_, _| Some((Outcome::Sent, None)));
    project.edit("audiences/vip.csv", "john,12345", "johnathan,12345");
    let secrets = [
        "9019486731",
        "919178921978",
        "johnathan",
        "Johnathan",
        "12345",
        "12346",
        "jahnavi",
        "Jahnavi",
    ];
    for format in ["human", "json", "markdown"] {
        let text = project.plan(AFTER_DUE, &["--format", format, "--redact"], 0);
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "--format {format} --redact shows {secret}:\n{text}"
            );
        }
    }
}

#[test]
fn a_plan_file_that_is_not_a_plan_is_refused_with_help() {
    let project = Project::example();
    std::fs::write(project.path().join("bad.plan"), "{\"format_version\": 99}").unwrap();
    let output = project.herald(&["show", "bad.plan"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
}

#[test]
fn plan_without_the_emulator_needs_the_api_key_for_users_api_audiences() {
    let project = Project::example();
    let output = project.herald(&["plan", "--now", AFTER_DUE]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}

#[test]
fn an_unknown_campaign_is_an_error_with_a_suggestion() {
    let project = Project::example();
    let output = project.herald(&["plan", "--emulator", "--campaign", "feedback-flw"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}

#[test]
fn plan_never_creates_a_state_file() {
    let project = Project::example();
    project.plan(AFTER_DUE, &[], 0);
    assert!(!project.path().join(".herald").exists());
}

#[test]
fn the_api_key_never_appears_in_output_or_plan_files() {
    const CANARY: &str = "hk_PLAN_LEAK_CANARY_93c1f0";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut seed = herald::emulator::Seed::builtin();
    seed.keys.push(herald::emulator::seed::SeedKey {
        key: CANARY.to_owned(),
        customer: None,
        revoked: false,
    });
    let emulator = runtime
        .block_on(herald::emulator::start(herald::emulator::Config::local(
            seed,
        )))
        .unwrap();
    let project = Project::example();
    project.edit("herald.yaml", "https://api.engati.ai", &emulator.base_url());
    for format in ["human", "json", "markdown"] {
        let output = project.herald_with_env(
            &[
                "plan", "--now", AFTER_DUE, "--format", format, "--out", "p.plan",
            ],
            &[("ENGATI_API_KEY", CANARY), ("RUST_LOG", "trace")],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let everything = [
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            plan_file_as_json(&project.path().join("p.plan")),
            String::from_utf8_lossy(&std::fs::read(project.path().join("p.plan")).unwrap())
                .into_owned(),
        ];
        for text in everything {
            assert!(
                !text.contains(CANARY),
                "the key leaked into --format {format} output"
            );
        }
    }
    // The Users API was really asked, with the key.
    let _ = &runtime;
    assert!(
        emulator
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/users"))
    );
}

#[test]
fn a_field_a_users_api_user_lacks_stops_the_plan_at_render() {
    let project = Project::example();
    project.edit(
        "campaigns/triggers.yaml",
        "audience: testers",
        "audience: opted_in",
    );
    project.edit(
        "campaigns/triggers.yaml",
        "invoice_no: \"{{ user.invoice_no }}\"",
        "invoice_no: \"{{ user.invoice_no | upper }}\"",
    );
    let output = project.herald(&["plan", "--emulator", "--now", AFTER_DUE]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}

#[test]
fn out_into_a_missing_directory_is_refused_before_planning() {
    let project = Project::example();
    let output = project.herald(&["plan", "--emulator", "--out", "no/such/dir/p.plan"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_phone_listed_twice_is_planned_once_with_a_warning_naming_both_listings() {
    let project = Project::example();
    let before = project.plan(AFTER_DUE, &["--format", "json"], 0);
    project.append(
        "audiences/vip.csv",
        "+919178921978,jahnavi,1\n+919019486731,john,2\n+14155552671,maria,3\n\
         +919845012345,ravi,4\n+919019486731,john,5\n+14155552671,maria,6\n",
    );
    project.edit(
        "campaigns/audiences.yaml",
        r#"      - {phone: "+919178921978", first_name: jahnavi, invoice_no: "12346"}"#,
        r#"      - {phone: "+919178921978", first_name: jahnavi, invoice_no: "12346"}
      - {phone: "+919019486731", first_name: johnny, invoice_no: "12347"}"#,
    );
    let output = project.herald(&["plan", "--emulator", "--now", AFTER_DUE, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    // The first listing of each phone wins: the actions are those of the plan without the
    // repeats (only the header's inputs hash differs).
    let campaigns =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap()["campaigns"].clone();
    assert_eq!(
        campaigns(&String::from_utf8_lossy(&output.stdout)),
        campaigns(&before)
    );
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
}

/// A CSV audience big enough to be counted in parts, on several threads, is counted as one
/// reader counts it: quoted fields holding line ends (and a quote in unquoted text, which can
/// fool where a part is cut) move no row, an excluded audience's phones and a phone listed
/// twice far apart are left out, and the repeat is reported at both its lines.
#[test]
fn a_big_csv_audience_is_counted_in_parts_as_one_reader_counts_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns")).unwrap();
    std::fs::create_dir_all(root.join("audiences")).unwrap();
    std::fs::write(
        root.join("herald.yaml"),
        "api: {base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, \
         api_key_env: ENGATI_API_KEY}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("campaigns/c.yaml"),
        "templates:\n  note:\n    category: utility\n    language: en\n    body: \"Hi {{1}}\"\n\
         audiences:\n  optouts:\n    users: [{phone: \"+919000000010\"}, {phone: \"+919000250000\"}]\n\
         \x20 big:\n    csv: ../audiences/big.csv\n    exclude: [optouts]\n\
         campaigns:\n  note:\n    audience: big\n    send:\n      template:\n        use: note\n\
         \x20       body: [\"{{ user.name }}\"]\n",
    )
    .unwrap();
    let mut csv = String::from("phone,name,note\n");
    let (mut line, mut rows) = (2u64, 0u64);
    let (mut first, mut again) = (0, 0);
    while csv.len() < 12 * 1024 * 1024 {
        rows += 1;
        let note = match rows {
            3 => "5\" tall".to_owned(),
            n if n % 1_001 == 0 => format!("\"Two\nlines, {n}\""),
            _ => String::new(),
        };
        // Row 20 is listed again near the end of the file.
        let phone = if rows == 300_000 { 20 } else { rows };
        match phone {
            20 if rows == 20 => first = line,
            20 => again = line,
            _ => {}
        }
        csv.push_str(&format!("+919000{phone:06},Name{rows},{note}\n"));
        line += 1 + note.matches('\n').count() as u64;
    }
    assert!(rows > 300_000, "{rows} rows");
    std::fs::write(root.join("audiences/big.csv"), csv).unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["plan", "--now", "2026-11-25T00:00:00Z"])
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("the herald binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{text}");
    // Two excluded, one repeat.
    assert!(text.contains(&format!("  {} send\n", rows - 3)), "{text}");
    let repeat = format!(
        "audience `big` lists +919000000020 more than once: big.csv line {first} and big.csv \
         line {again}; the first is used"
    );
    // The warning's text, unwrapped.
    let flat = text.replace("\n  │ ", " ");
    assert!(flat.contains(&repeat), "{repeat}\nnot in:\n{text}");
}
