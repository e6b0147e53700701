//! Apply sends exactly the reviewed plan or nothing: a plan file edited in any way (a phone,
//! a text, a path, with its fingerprint recomputed or not) or made against another state is
//! refused before a single request; a server that cannot be reached stops apply within
//! seconds with nothing recorded; a live apply's lock cannot be broken.

mod apply_support;

use std::time::{Duration, Instant};

use apply_support::{Setup, plan_file_as_json, wait_for, write_plan_file};
use herald::emulator::{BUILTIN_API_KEY, Faults};
use herald::fingerprint::Fingerprint;
use herald::state::Round;
use herald::state::Store;
use herald::state::sqlite::SqliteStore;

/// Plans to plan.json; returns the plan as its JSON view.
fn planned(setup: &Setup) -> String {
    let output = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    plan_file_as_json(&setup.project.path().join("plan.json"))
}

/// The first action line of the plan that sends a template, and its recipient.
fn template_action(plan: &str) -> (&str, String) {
    let line = plan
        .lines()
        .find(|l| l.contains("\"sends\":true") && l.contains("/template\""))
        .expect("the example plans a template send");
    let action: herald::plan::Action =
        serde_json::from_str(line.trim_end_matches(',')).expect("an action line");
    (line, action.recipient)
}

/// Applies plan.json after `tamper` rewrote its JSON view (written back as a plan file);
/// asserts the refusal (exit 3 when the file is a plan, but not the one the project makes;
/// exit 2 when it is not even a whole plan; the first bad action named) and that nothing
/// reached the emulator or the state.
fn refused_after(tamper: impl FnOnce(&str) -> String) -> String {
    let setup = Setup::new();
    let plan = planned(&setup);
    let tampered = tamper(&plan);
    assert_ne!(tampered, plan, "the tamper changed nothing");
    write_plan_file(&setup.project.path().join("plan.json"), &tampered);
    let output = setup.herald(&["apply", "plan.json"]);
    assert!(matches!(output.status.code(), Some(2 | 3)), "{output:?}");
    assert!(setup.sends().is_empty(), "{:?}", setup.sends());
    let state = SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db"));
    assert_eq!(state.unwrap().serial().unwrap(), 0, "nothing recorded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_plan_with_an_edited_phone_is_refused_naming_the_action() {
    let stderr = refused_after(|plan| {
        let (line, phone) = template_action(plan);
        plan.replacen(line, &line.replace(&phone, "+15550009999"), 1)
    });
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_plan_with_an_edited_phone_and_a_recomputed_fingerprint_is_refused() {
    let stderr = refused_after(|plan| {
        let (line, phone) = template_action(plan);
        let mut action: herald::plan::Action =
            serde_json::from_str(line.trim_end_matches(',')).unwrap();
        let body = action.request.to_json().replace(&phone, "+15550009999");
        action.request = serde_json::from_str(&body).unwrap();
        action.recipient = "+15550009999".to_owned();
        action.fingerprint = Fingerprint::of(action.request.to_json().as_bytes());
        let comma = if line.ends_with(',') { "," } else { "" };
        let edited = serde_json::to_string(&action).unwrap() + comma;
        plan.replacen(line, &edited, 1)
    });
    assert!(stderr.contains("it differs at line"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
}

#[test]
fn a_plan_with_an_edited_text_is_refused() {
    let stderr = refused_after(|plan| {
        let (line, _) = template_action(plan);
        let edited = line.replacen("\"text\":\"", "\"text\":\"FREE MONEY ", 1);
        plan.replacen(line, &edited, 1)
    });
    assert!(stderr.contains("the plan file is not the plan this project makes"));
}

#[test]
fn a_plan_with_a_request_path_to_another_customer_is_refused() {
    let stderr = refused_after(|plan| {
        let (line, _) = template_action(plan);
        plan.replacen(
            line,
            &line.replace("/customer/61179/", "/customer/61180/"),
            1,
        )
    });
    assert!(stderr.contains("the plan file is not the plan this project makes"));
}

#[test]
fn a_plan_with_a_request_dropped_or_added_is_refused() {
    refused_after(|plan| {
        let (line, _) = template_action(plan);
        plan.replacen(&format!("{line}\n"), "", 1)
    });
    refused_after(|plan| {
        let (line, _) = template_action(plan);
        let twice = format!("{line}\n{line}\n");
        plan.replacen(&format!("{line}\n"), &twice, 1)
    });
}

#[test]
fn a_plan_made_against_another_state_with_the_same_serial_is_refused() {
    let setup = Setup::new();
    // A state at serial 1, then a plan against it.
    let first = setup.herald(&["apply", "--auto-approve", "--campaign", "feedback-flow"]);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let plan = planned(&setup);
    let path = setup.project.path().join(".herald/state.db");
    let serial = SqliteStore::open_read_only(&path)
        .unwrap()
        .serial()
        .unwrap();
    // Another state (a fresh one, a restored backup) that happens to have the same serial.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut fresh = SqliteStore::open(&path).unwrap();
    fresh.set_serial(serial).unwrap();
    drop(fresh);
    let sent_before = setup.sends().len();
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    insta::with_settings!({filters => vec![(r"state [0-9a-f]{16}", "state [lineage]")]}, {
        insta::assert_snapshot!(stderr);
    });
    assert_eq!(setup.sends().len(), sent_before, "nothing sent");
    assert!(plan.contains("\"state_lineage\":\""), "the plan records it");
}

#[test]
fn a_dead_server_stops_apply_within_seconds_and_records_nothing() {
    let setup = Setup::new();
    planned(&setup);
    let url = setup.emulator.base_url();
    let (project, runtime, emulator) = setup.into_parts();
    runtime.block_on(emulator.shutdown());
    let started = Instant::now();
    let output = project.herald_with_env(
        &["apply", "plan.json"],
        &[("ENGATI_API_KEY", BUILTIN_API_KEY)],
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let host = url.trim_start_matches("http://");
    assert!(stderr.contains(host), "names where: {stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:[0-9]+", "127.0.0.1:[port]")]}, {
        insta::assert_snapshot!(stderr);
    });
    let state = SqliteStore::open_read_only(&project.path().join(".herald/state.db")).unwrap();
    assert_eq!(state.serial().unwrap(), 0, "nothing recorded");
    assert!(state.campaigns().unwrap().is_empty());
}

#[test]
fn state_unlock_refuses_while_the_apply_holding_the_lock_runs() {
    let setup = Setup::new();
    planned(&setup);
    setup.emulator.set_faults(Faults {
        latency_ms: 2000,
        ..Faults::default()
    });
    let apply = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["apply", "plan.json"])
        .current_dir(setup.project.path())
        .env("ENGATI_API_KEY", BUILTIN_API_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let path = setup.project.path().join(".herald/state.db");
    let read_lock = || {
        SqliteStore::open_read_only(&path)
            .ok()
            .and_then(|store| store.current_lock().ok().flatten())
    };
    wait_for("the apply to take the lock", || read_lock().is_some());
    let lock = read_lock().unwrap();
    let unlock = setup.herald(&["state", "unlock", &lock.id]);
    assert_eq!(unlock.status.code(), Some(2), "{unlock:?}");
    let stderr = String::from_utf8_lossy(&unlock.stderr);
    assert!(stderr.contains("still running"), "{stderr}");
    let wrong = setup.herald(&["state", "unlock", "deadbeef"]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !stderr.contains(&lock.id),
        "the live id is never told: {stderr}"
    );
    assert_eq!(read_lock(), Some(lock));
    let applied = apply.wait_with_output().unwrap();
    assert_eq!(applied.status.code(), Some(0));
    assert_eq!(read_lock(), None);
}

#[test]
fn a_server_dying_mid_apply_stops_it_and_records_nothing_failed_that_never_left() {
    let setup = Setup::new();
    planned(&setup);
    setup.emulator.set_faults(Faults {
        latency_ms: 200,
        spare_reads: true,
        ..Faults::default()
    });
    let apply = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["apply", "plan.json", "--concurrency", "1"])
        .current_dir(setup.project.path())
        .env("ENGATI_API_KEY", BUILTIN_API_KEY)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first send", || !setup.sends().is_empty());
    let (project, runtime, emulator) = setup.into_parts();
    let died = Instant::now();
    // Dropped: the server stops at once; every later connection is refused.
    drop(emulator);
    let output = apply.wait_with_output().unwrap();
    let took = died.elapsed();
    drop(runtime);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("could not reach 127.0.0.1:"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Why deliveries failed or are unknown:"),
        "{stdout}"
    );
    let state = SqliteStore::open_read_only(&project.path().join(".herald/state.db")).unwrap();
    // Only what reached the server is recorded: a failure is an answer (the request in
    // flight as the server went down may get one), never a refused connection.
    let campaigns = state.campaigns().unwrap();
    for campaign in &campaigns {
        for recipient in state
            .recorded_map(Round::one_off(&campaign.campaign))
            .unwrap()
            .keys()
        {
            let latest = state
                .delivery(Round::one_off(&campaign.campaign), recipient)
                .unwrap()
                .unwrap();
            if latest.outcome == herald::state::Outcome::Failed {
                assert!(latest.api_code.is_some(), "{latest:?}");
            }
        }
    }
    let names: Vec<&str> = campaigns.iter().map(|c| c.campaign.as_str()).collect();
    assert_eq!(
        names,
        ["feedback-flow"],
        "later campaigns were never attempted"
    );
}

#[test]
fn a_key_rejected_before_anything_is_sent_exits_2_and_records_nothing() {
    let setup = Setup::new();
    planned(&setup);
    setup.emulator.revoke_key(BUILTIN_API_KEY);
    let output = setup.herald(&["apply", "plan.json"]);
    // docs/scheduling.md: 2 is "nothing could start", a rejected key included.
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ENGATI_API_KEY"),
        "names the variable: {stderr}"
    );
    assert!(setup.sends().is_empty());
    let state = SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db"));
    assert_eq!(state.unwrap().serial().unwrap(), 0, "nothing recorded");
}

#[test]
fn a_plan_made_as_of_a_later_time_than_now_is_refused() {
    let setup = Setup::new();
    let output = setup.herald(&[
        "plan",
        "--now",
        "2099-01-01T00:00:00Z",
        "--out",
        "plan.json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the plan was made as of 2099-01-01T00:00:00Z, later than now"),
        "{stderr}"
    );
    assert!(setup.sends().is_empty());
}

/// A server on loopback that is not Engati: `mode` says what it does with each connection.
fn impostor(mode: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            match mode {
                "close" => drop(stream),
                "garbage" => {
                    use std::io::Write;
                    let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
                }
                "html" | "proxy" | "empty-json" => {
                    use std::io::Write;
                    let (status, kind, page) = match mode {
                        "html" => ("200 OK", "text/html", "<html>welcome</html>"),
                        "proxy" => ("502 Bad Gateway", "text/html", "<html>502</html>"),
                        _ => ("200 OK", "application/json", "{}"),
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n{page}",
                        page.len()
                    );
                }
                _ => held.push(stream),
            }
        }
    });
    url
}

#[test]
fn a_server_that_is_not_engatis_api_stops_apply_before_anything_is_recorded() {
    for mode in ["close", "garbage", "html", "proxy", "empty-json", "hang"] {
        let project = apply_support::Project::example();
        let url = impostor(mode);
        project.edit(
            "herald.yaml",
            "base_url: https://api.engati.ai",
            &format!("base_url: {url}"),
        );
        let env = [("ENGATI_API_KEY", BUILTIN_API_KEY)];
        // The testers' campaign reads nothing from the API to be planned.
        let plan = ["plan", "--campaign", "feedback-flow", "--out", "plan.json"];
        let output = project.herald_with_env(&plan, &env);
        assert_eq!(output.status.code(), Some(0), "{mode}: {output:?}");
        let started = Instant::now();
        let output = project.herald_with_env(&["apply", "plan.json"], &env);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{mode}: took {took:?}");
        assert_eq!(output.status.code(), Some(2), "{mode}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("the Engati API at {url}/ cannot be used")),
            "{mode}: {stderr}"
        );
        let state = project.path().join(".herald/state.db");
        let serial = SqliteStore::open_read_only(&state)
            .unwrap()
            .serial()
            .unwrap();
        assert_eq!(serial, 0, "{mode}: nothing recorded");
    }
}
