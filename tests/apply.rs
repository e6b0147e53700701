//! `herald apply PLANFILE` against the emulator over loopback: what the plan says is what the
//! emulator receives, and a second apply sends nothing.

mod apply_support;
mod state_support;

use apply_support::{
    BEFORE_DUE, Sent, Setup, plan_file_as_json, state_outcomes, wait_for, write_plan_file,
};
use herald::emulator::{BUILTIN_API_KEY, Faults};
use herald::state::sqlite::SqliteStore;
use herald::state::{Outcome, Store};

#[test]
fn the_quickstart_applies_to_the_emulator_and_records_it_in_the_staging_state() {
    let setup = Setup::staging();
    let staging = ["--env", "staging"];
    let output = setup.herald(&[&["plan", "--out", "plan.json"], &staging[..]].concat());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = setup.herald(&["apply", "--env", "staging", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        setup.sends().len() > 5,
        "the example's sends reached the emulator"
    );

    let herald_dir = setup.project.path().join(".herald");
    assert!(
        herald_dir.join("staging.db").exists(),
        "staging has its own state"
    );
    assert!(
        !herald_dir.join("state.db").exists(),
        "nothing sent to staging counts as sent in the default state"
    );
    let output = setup.herald(&[&["plan", "--detailed-exitcode"], &staging[..]].concat());
    assert_eq!(
        output.status.code(),
        Some(0),
        "nothing left to send: {output:?}"
    );
    let output = setup.herald(&["state", "list", "--env", "staging"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("invoice-reminder-dec"));
}

#[test]
fn a_plan_file_applies_to_the_environment_it_was_made_for() {
    let setup = Setup::staging();
    let output = setup.herald(&["plan", "--env", "staging", "--out", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // Another environment than the plan's is refused before anything is read or sent.
    let refused = setup.herald(&["apply", "--env", "production", "plan.json"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    insta::assert_snapshot!(
        "apply_other_environment",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(setup.sends().is_empty());
    // Without --env, the plan's own.
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(setup.sends().len() > 5);
    let herald_dir = setup.project.path().join(".herald");
    assert!(herald_dir.join("staging.db").exists());
    assert!(!herald_dir.join("state.db").exists());
    // The default state is empty, and says where the sends went.
    let listed = setup.herald(&["state", "list"]);
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    insta::assert_snapshot!(
        "state_list_names_other_states",
        apply_support::without_port(&String::from_utf8_lossy(&listed.stdout))
            .replace(&setup.project.path().display().to_string(), "[project]")
    );
}

#[test]
fn apply_sends_exactly_the_plan_and_a_second_apply_sends_nothing() {
    let setup = Setup::new();
    let plan = setup.plan();
    let mut planned: Vec<_> = plan
        .campaigns
        .iter()
        .flat_map(|c| &c.actions)
        .filter(|a| a.sends)
        .map(|a| {
            let r = &a.request;
            let body = r
                .body
                .as_ref()
                .map(|b| serde_json::from_str(b.get()).unwrap());
            (r.path.clone(), r.query.clone(), body)
        })
        .collect();
    assert!(planned.len() > 5, "the example plans several sends");

    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!("first_apply", String::from_utf8_lossy(&output.stdout));
    // Without a terminal, progress is log lines on stderr (CI).
    insta::assert_snapshot!("first_apply_log", String::from_utf8_lossy(&output.stderr));
    let mut sent = setup.sends();
    let key = |s: &Sent| serde_json::to_string(s).unwrap();
    planned.sort_by_key(key);
    sent.sort_by_key(key);
    assert_eq!(
        sent, planned,
        "the emulator received exactly the planned sends"
    );

    // Everything is in state: the next plan sends nothing, and applying it sends nothing.
    let again = setup.plan();
    assert_eq!(again.counts.requests, 0, "{:?}", again.counts);
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        setup.sends().len(),
        planned.len(),
        "no request was sent twice"
    );
}

#[test]
fn a_plan_made_against_older_state_is_refused() {
    let setup = Setup::new();
    setup.plan();
    std::fs::copy(
        setup.project.path().join("plan.json"),
        setup.project.path().join("old.json"),
    )
    .unwrap();
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let before = setup.sends().len();

    let output = setup.herald(&["apply", "old.json"]);
    assert_eq!(output.status.code(), Some(3));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
    assert_eq!(setup.sends().len(), before, "nothing was sent");
}

#[test]
fn a_plan_older_than_max_age_is_refused_as_stale() {
    let setup = Setup::new();
    // Whole seconds, rounded down: the plan is at least three hours old.
    let three_hours_ago =
        jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 3 * 3600)
            .unwrap()
            .to_string();
    let planned = setup.herald(&["plan", "--out", "plan.json", "--now", &three_hours_ago]);
    assert_eq!(planned.status.code(), Some(0), "{planned:?}");
    let output = setup.herald(&["apply", "--max-age", "2h", "plan.json"]);
    assert_eq!(output.status.code(), Some(3), "stale: plan again");
    insta::with_settings!({filters => vec![(r"\(as of [^)]+\)", "(as of [time])")]}, {
        insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
    });
    assert!(setup.sends().is_empty(), "nothing was sent");
    let output = setup.herald(&["apply", "--max-age", "1d", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "young enough: {output:?}");
    assert!(!setup.sends().is_empty());
}

#[test]
fn a_plan_whose_files_changed_is_refused() {
    let setup = Setup::new();
    setup.plan();
    setup
        .project
        .append("audiences/vip.csv", "+919800000001,meera,20001\n");
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(3));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
    assert!(setup.sends().is_empty(), "nothing was sent");
}

#[test]
fn rate_limits_and_server_errors_end_with_everything_sent_exactly_once() {
    let setup = Setup::new();
    let planned = setup.plan().counts.requests;
    let faults = Faults {
        rate_limit: 0.2,
        server_error: 0.1,
        seed: Some(7),
        spare_reads: true,
        ..Faults::default()
    };
    // 429s are retried within an apply; a 500 fails its delivery, and the next plan retries it.
    let mut applies = 0;
    loop {
        let plan = setup.plan();
        if plan.counts.requests == 0 {
            break;
        }
        applies += 1;
        assert!(
            applies <= 10,
            "still {} to send after 10 applies",
            plan.counts.requests
        );
        // Faults only while applying: plans read the Users API, which is not under test.
        setup.emulator.set_faults(faults.clone());
        let output = setup.herald(&["apply", "plan.json"]);
        setup.emulator.set_faults(Faults::default());
        assert!(matches!(output.status.code(), Some(0 | 1)), "{output:?}");
    }
    let mut sent = setup.sends();
    let all = sent.len();
    sent.sort_by_key(|s| serde_json::to_string(s).unwrap());
    sent.dedup();
    assert_eq!(sent.len(), all, "a request was accepted twice");
    assert_eq!(all as u64, planned);
}

#[test]
fn a_second_apply_on_the_same_state_stops_at_the_lock() {
    let setup = Setup::new();
    setup.plan();
    setup.emulator.set_faults(Faults {
        latency_ms: 3000,
        ..Faults::default()
    });
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["apply", "plan.json"])
        .current_dir(setup.project.path())
        .env("ENGATI_API_KEY", BUILTIN_API_KEY)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first apply holds the lock while its slow requests are out.
    let state = setup.project.path().join(".herald/state.db");
    wait_for("the first apply to take the lock", || {
        SqliteStore::open_read_only(&state)
            .ok()
            .and_then(|store| store.current_lock().ok().flatten())
            .is_some()
    });
    let second = setup.herald(&["apply", "plan.json"]);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(second.status.code(), Some(2), "{second:?}");
    // The holder and time vary: keep the message's shape. The lock's id is never printed:
    // it is what `state unlock` asks for.
    let stderr = String::from_utf8_lossy(&second.stderr);
    let stable: String = stderr
        .lines()
        .map(|line| match line.find(" by ") {
            Some(at) if line.starts_with("error:") => {
                format!("{} by [holder] since [time]", &line[..at])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let lock_id = SqliteStore::open_read_only(&state)
        .unwrap()
        .applies()
        .unwrap()[0]
        .id
        .clone();
    assert!(!stderr.contains(&lock_id), "{stderr}");
    insta::assert_snapshot!(stable);
}

#[test]
fn a_key_revoked_mid_run_stops_the_apply_at_once_and_state_matches_the_emulator() {
    let setup = Setup::new();
    let planned = setup.plan().counts.requests as usize;
    let apply = setup.slow_apply_sending();
    setup.emulator.revoke_key(BUILTIN_API_KEY);
    let output = apply.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ENGATI_API_KEY"),
        "names the variable: {stderr}"
    );
    assert!(
        !stderr.contains(BUILTIN_API_KEY),
        "never shows the key: {stderr}"
    );

    // Every accepted send is `sent` in state, nothing is left in flight, and nothing was
    // accepted after the rejection stopped the apply.
    let sent = setup.sends().len();
    assert!(
        sent > 0 && sent < planned,
        "{sent} of {planned} went out before the revocation"
    );
    let outcomes = state_outcomes(&setup);
    let count = |o: Outcome| outcomes.values().filter(|&&x| x == o).count();
    assert_eq!(count(Outcome::Sent), sent);
    assert_eq!(count(Outcome::InFlight), 0);
    assert_eq!(count(Outcome::Unknown), 0);
}

#[test]
fn a_request_that_times_out_is_unknown_and_never_resent() {
    let setup = Setup::new();
    setup.apply_with_hangs(0.5);
    let outcomes = state_outcomes(&setup);
    let unknown = outcomes
        .values()
        .filter(|&&o| o == Outcome::Unknown)
        .count();
    assert!(unknown > 0, "some requests hung: {outcomes:?}");
    // The hung requests were accepted by the emulator: it holds every delivery, each once.
    let accepted = setup.sends().len();

    let plan = setup.plan();
    assert_eq!(
        plan.counts.requests, 0,
        "unknown deliveries are not planned again"
    );
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(setup.sends().len(), accepted, "nothing was resent");
}

#[test]
fn apply_without_a_plan_file_needs_a_terminal_or_auto_approve() {
    let setup = Setup::new();
    let output = setup.herald(&["apply"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
    assert!(setup.sends().is_empty());
}

#[test]
fn apply_auto_approve_plans_shows_and_applies_in_one_step() {
    let setup = Setup::new();
    let output = setup.herald(&["apply", "--auto-approve"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Plan made"),
        "shows the plan first: {stdout}"
    );
    let sent = setup.sends().len();
    assert!(sent > 0);
    assert!(
        stdout.contains(&format!("Applied: {sent} sent.")),
        "{stdout}"
    );
    let again = setup.herald(&["apply", "--auto-approve"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).ends_with("Nothing to apply.\n"));
    assert_eq!(setup.sends().len(), sent);
}

#[test]
fn a_plan_file_is_applied_whole() {
    let setup = Setup::new();
    setup.plan();
    let output = setup.herald(&["apply", "plan.json", "--campaign", "weekend-offer"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
}

#[test]
fn an_operator_settles_unknown_deliveries_with_mark_sent_and_forget() {
    let setup = Setup::new();
    let output = setup.apply_with_hangs(1.0);
    // Every request hung: the summary counts them unknown, grouped by why.
    insta::assert_snapshot!(
        "summary_all_unknown",
        String::from_utf8_lossy(&output.stdout)
    );
    let unknown: Vec<(String, String)> = state_outcomes(&setup)
        .into_iter()
        .filter(|(_, o)| *o == Outcome::Unknown)
        .map(|(k, _)| k)
        .collect();
    let campaign = "invoice-reminder-dec";
    let mine: Vec<&String> = unknown
        .iter()
        .filter(|(c, _)| c == campaign)
        .map(|(_, r)| r)
        .collect();
    assert!(mine.len() >= 2, "{unknown:?}");

    // The operator checked one with Engati: delivered.
    let output = setup.herald(&["state", "mark-sent", campaign, mine[0]]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!("mark_sent", String::from_utf8_lossy(&output.stdout));
    // The rest were not.
    let output = setup.herald(&["state", "forget", campaign]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!("forget", String::from_utf8_lossy(&output.stdout));

    let outcomes = state_outcomes(&setup);
    assert_eq!(
        outcomes[&(campaign.to_owned(), mine[0].clone())],
        Outcome::Sent
    );
    for r in &mine[1..] {
        assert_eq!(
            outcomes[&(campaign.to_owned(), (*r).clone())],
            Outcome::Failed
        );
    }
    // Only unknown deliveries are settled.
    let output = setup.herald(&["state", "forget", campaign, mine[0]]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(
        "forget_a_sent_delivery",
        String::from_utf8_lossy(&output.stderr)
    );

    // The next plan retries the forgotten ones and leaves the marked one alone.
    let plan = setup.plan();
    let retried: Vec<&str> = plan
        .campaigns
        .iter()
        .filter(|c| c.campaign.name == campaign)
        .flat_map(|c| &c.actions)
        .filter(|a| a.sends)
        .map(|a| a.recipient.as_str())
        .collect();
    assert_eq!(retried.len(), mine.len() - 1);
    assert!(!retried.contains(&mine[0].as_str()));
}

#[test]
fn ctrl_c_stops_launching_finishes_what_is_in_flight_and_records_it() {
    let setup = Setup::new();
    let planned = setup.plan().counts.requests as usize;
    let apply = setup.slow_apply_sending();
    let status = std::process::Command::new("kill")
        .args(["-INT", &apply.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = apply.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apply stopped by SIGINT"), "{stderr}");

    let sent = setup.sends().len();
    assert!(sent < planned, "stopped early: {sent} of {planned}");
    let outcomes = state_outcomes(&setup);
    let count = |o: Outcome| outcomes.values().filter(|&&x| x == o).count();
    assert_eq!(
        count(Outcome::Sent),
        sent,
        "what went out is recorded as sent"
    );
    assert_eq!(count(Outcome::InFlight), 0, "nothing is left in flight");
    let store =
        SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db")).unwrap();
    assert_eq!(store.current_lock().unwrap(), None, "the lock is released");
}

/// A plan file cut short, edited or not a plan at all is refused whole, before any request
/// leaves: apply reads the file through once, checking it, before it sends.
#[test]
fn a_damaged_plan_file_is_refused_before_anything_is_sent() {
    let setup = Setup::new();
    // The invoice reminders wait (for a case that makes a waiting action send).
    setup.project.edit(
        "campaigns/invoice-reminders.yaml",
        "at: 2026-01-01T09:00:00+05:30",
        "at: 2099-01-01T09:00:00+05:30",
    );
    let output = setup.herald(&["plan", "--now", BEFORE_DUE, "--out", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let path = setup.project.path().join("plan.json");
    let bytes = std::fs::read(&path).unwrap();
    let plan = plan_file_as_json(&path);
    let first_action_line = plan
        .lines()
        .find(|l| l.starts_with("{\"recipient\"") && l.ends_with(','))
        .expect("a campaign with two actions or more");
    // Edits of the plan's JSON view, written back as plan files.
    let edited = |text: String| {
        assert_ne!(text, plan, "the plan is edited");
        write_plan_file(&path, &text);
        std::fs::read(&path).unwrap()
    };
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let cases = [
        ("cut_short", bytes[..bytes.len() * 2 / 3].to_vec()),
        ("byte_flipped", flipped),
        ("bytes_appended", [&bytes[..], b"more"].concat()),
        (
            "action_removed",
            edited(plan.replacen(&format!("{first_action_line}\n"), "", 1)),
        ),
        (
            "waiting_made_to_send",
            edited(plan.replacen(
                r#""action":"waiting","sends":false"#,
                r#""action":"waiting","sends":true"#,
                1,
            )),
        ),
        ("not_json", b"this is not a plan\n".to_vec()),
        ("json_view", plan.clone().into_bytes()),
    ];
    for (case, damaged) in cases {
        assert_ne!(damaged, bytes, "{case}: the plan is damaged");
        std::fs::write(&path, damaged).unwrap();
        let output = setup.herald(&["apply", "plan.json"]);
        assert_eq!(output.status.code(), Some(2), "{case}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if case == "byte_flipped" {
            // What a flipped byte breaks first depends on where it lands (the emulator's port
            // is in the plan): a record that no longer reads, or the checksum.
            assert!(stderr.contains("the plan file is damaged: "), "{stderr}");
        } else {
            insta::assert_snapshot!(format!("damaged_plan_{case}"), stderr);
        }
        assert!(setup.sends().is_empty(), "{case}: nothing was sent");
    }
}

/// The same apply with the state in PostgreSQL: recorded there, so the next plan sends nothing.
#[test]
fn apply_records_in_a_postgres_state() {
    let setup = Setup::new();
    let schema = format!("apply_{:016x}", fastrand::u64(..));
    setup.project.edit(
        "herald.yaml",
        "  backend: sqlite                          # .herald/state.db, git-ignored\n",
        &format!("  backend: postgres\n  schema: {schema}\n"),
    );
    let url = state_support::postgres_url();
    let env = [
        ("ENGATI_API_KEY", BUILTIN_API_KEY),
        ("HERALD_STATE_URL", url.as_str()),
    ];
    let herald = |args: &[&str]| setup.project.herald_with_env(args, &env);
    let output = herald(&["plan", "--out", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let sent = setup.sends().len();
    assert!(sent > 5, "the example's sends reached the emulator");

    let output = herald(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "nothing left to send: {output:?}"
    );
    let output = herald(&["state", "list", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let total: u64 = listed["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, sent, "state holds every send as sent");
    assert!(
        !setup.project.path().join(".herald").exists(),
        "no SQLite file"
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
