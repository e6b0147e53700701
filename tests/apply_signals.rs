//! Signals during apply: SIGTERM, SIGHUP and SIGINT stop it cleanly (in-flight requests
//! finished and recorded, the lock released, exit 1, one line saying so); a second signal
//! exits at once, and the next apply settles what was left without a person.

mod apply_support;

use std::time::{Duration, Instant};

use apply_support::{Setup, state_outcomes};
use herald::emulator::Faults;
use herald::state::sqlite::SqliteStore;
use herald::state::{Outcome, Store};

fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn plan(setup: &Setup) {
    let output = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn sighup_and_sigterm_stop_cleanly_and_release_the_lock() {
    for name in ["-HUP", "-TERM"] {
        let setup = Setup::new();
        plan(&setup);
        let apply = setup.slow_apply_sending();
        signal(&apply, name);
        let output = apply.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = format!("apply stopped by SIG{}", &name[1..]);
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(&said)).count(),
            1,
            "{stderr}"
        );
        let state = SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db"));
        assert_eq!(state.unwrap().current_lock().unwrap(), None, "{name}");
        // What was in flight was finished and recorded: nothing is left in flight.
        let outcomes = state_outcomes(&setup);
        assert!(
            !outcomes.values().any(|o| *o == Outcome::InFlight),
            "{outcomes:?}"
        );
    }
}

#[test]
fn a_second_signal_exits_at_once_and_the_next_apply_recovers_alone() {
    let setup = Setup::new();
    plan(&setup);
    // Answers take long: the first signal's wait would be long.
    setup.emulator.set_faults(Faults {
        latency_ms: 5_000,
        spare_reads: true,
        ..Faults::default()
    });
    let apply = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["apply", "plan.json"])
        .current_dir(setup.project.path())
        .env("ENGATI_API_KEY", herald::emulator::BUILTIN_API_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    apply_support::wait_for("requests in flight", || {
        apply_support::state_outcomes_once_ready(&setup)
            .is_some_and(|all| all.values().any(|o| *o == Outcome::InFlight))
    });
    signal(&apply, "-TERM");
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    signal(&apply, "-TERM");
    let output = apply.wait_with_output().unwrap();
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SIGTERM again: exiting now"), "{stderr}");

    // No unlock, no mark-sent: the next apply takes the lock over, settles what was in
    // flight, reconciles it with the history and sends the rest, each once.
    setup.emulator.set_faults(Faults::default());
    let sends = setup.sends().len();
    plan(&setup);
    let next = setup.herald(&["apply", "plan.json"]);
    assert!(matches!(next.status.code(), Some(0 | 1)), "{next:?}");
    let stderr = String::from_utf8_lossy(&next.stderr);
    assert!(stderr.contains("took over the lock of"), "{stderr}");
    let mut phones = std::collections::BTreeMap::new();
    for (path, _, body) in setup.sends() {
        let key = format!("{path} {}", body.map(|b| b.to_string()).unwrap_or_default());
        *phones.entry(key).or_insert(0) += 1;
    }
    assert!(phones.values().all(|n| *n == 1), "nobody twice: {phones:?}");
    assert!(setup.sends().len() > sends);
}
