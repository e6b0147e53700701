//! `herald apply` stopped at random moments over a 5,000-recipient campaign against an
//! emulator with faults (rate limits, server errors, hung and dropped answers, histories that
//! record late): 20 times with SIGTERM, 20 times with SIGKILL. After every stop the emulator's
//! log and state agree: nobody is ever messaged twice, every request the emulator accepted is
//! in state (sent, unknown, or left in flight), and state says `sent` only of requests the
//! emulator accepted. Then nothing but more scheduled applies (no unlock, no mark-sent): the
//! dead applies' locks are taken over, their unknown deliveries reconciled with the histories,
//! and every recipient ends up messaged exactly once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use herald::emulator::{self, BUILTIN_API_KEY, Faults, Running, Seed};
use herald::state::Round;
use herald::state::sqlite::SqliteStore;
use herald::state::{Outcome, Store};

const RECIPIENTS: u64 = 5_000;
/// Stops of each kind.
const KILLS: usize = 20;
const CAMPAIGN: &str = "invoice-reminder";

fn write_project(dir: &Path, base_url: &str) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("audiences")).unwrap();
    std::fs::write(
        dir.join("herald.yaml"),
        format!(
            "api: {{base_url: \"{base_url}\", customer_id: 61179, bot_key: bb67e0773bed4c7e, \
             api_key_env: ENGATI_API_KEY, concurrency: 16, timeout_seconds: 1, \
             rate_limit: 200/s}}\n\
             vars: {{brand: Renuka Sugars}}\napply: {{reconcile_after: 3s}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("campaigns/c.yaml"),
        include_str!("fixtures/large/invoice-campaign.yaml"),
    )
    .unwrap();
    let mut csv = String::from("phone,first_name,invoice_no\n");
    for i in 0..RECIPIENTS {
        let _ = writeln!(
            csv,
            "+9190{:08},n{i},{}",
            i * 7_919 % 100_000_000,
            10_000 + i
        );
    }
    std::fs::write(dir.join("audiences/big.csv"), csv).unwrap();
}

fn herald(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .current_dir(dir)
        .env("ENGATI_API_KEY", BUILTIN_API_KEY)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Phones the emulator accepted a template message for, with how many times.
fn accepted(emulator: &Running) -> BTreeMap<String, usize> {
    let mut phones = BTreeMap::new();
    for request in emulator.requests() {
        for phone in request.phones {
            *phones.entry(phone).or_insert(0) += 1;
        }
    }
    phones
}

/// How many template messages the emulator accepted.
fn sent_count(emulator: &Running) -> u64 {
    emulator.counts().values().sum()
}

/// State's outcome per phone.
fn state(dir: &Path) -> BTreeMap<String, Outcome> {
    let Ok(store) = SqliteStore::open_read_only(&dir.join(".herald/state.db")) else {
        return BTreeMap::new();
    };
    let recorded = store.recorded_map(Round::one_off(CAMPAIGN)).unwrap();
    recorded.into_iter().map(|(k, r)| (k, r.outcome)).collect()
}

/// What the emulator accepted for `phone` (when, in which order) and every attempt state
/// recorded for it: what a duplicate's cause is read from.
fn evidence(emulator: &Running, dir: &Path, phone: &str) -> String {
    let mut text = format!("accepted for {phone}:\n");
    for request in emulator.requests() {
        if request.phones.iter().any(|p| p == phone) {
            let _ = writeln!(text, "  seq {} at {}", request.seq, request.received_at);
        }
    }
    let _ = writeln!(text, "state's attempts:");
    if let Ok(store) = SqliteStore::open_read_only(&dir.join(".herald/state.db")) {
        for d in store
            .history(Round::one_off(CAMPAIGN), Some(phone))
            .unwrap_or_default()
        {
            let _ = writeln!(
                text,
                "  {} {} apply {} {:?}",
                d.at, d.outcome, d.apply_id, d.detail
            );
        }
    }
    text
}

fn check(round: &str, emulator: &Running, dir: &Path) {
    let accepted = accepted(emulator);
    let state = state(dir);
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{round}: messaged twice: {twice:?}\n{}",
        twice
            .iter()
            .map(|(phone, _)| evidence(emulator, dir, phone))
            .collect::<String>()
    );
    for phone in accepted.keys() {
        let outcome = state.get(phone);
        assert!(
            matches!(
                outcome,
                Some(Outcome::Sent | Outcome::Unknown | Outcome::InFlight)
            ),
            "{round}: the emulator accepted {phone}, state says {outcome:?}"
        );
    }
    for (phone, outcome) in &state {
        if *outcome == Outcome::Sent {
            assert!(
                accepted.contains_key(phone),
                "{round}: state says {phone} was sent; the emulator never accepted it"
            );
        }
    }
}

/// What the emulator does wrong while applies run: retried 429s, failed 500s, answers that
/// hang or drop after the send was accepted (unknown outcomes), and histories that show a
/// message only 300 ms after it was accepted. Reads are left alone.
fn faults() -> Faults {
    Faults {
        rate_limit: 0.03,
        server_error: 0.02,
        hang: 0.005,
        drop_after_processing: 0.005,
        retry_after_secs: 0,
        trace_delay_ms: 300,
        spare_reads: true,
        seed: Some(20261130),
        ..Faults::default()
    }
}

/// Starts a scheduled apply and stops it at a random moment with `signal`; returns whether it
/// was stopped while requests were going out.
fn stop_one_apply(
    emulator: &Running,
    dir: &Path,
    rng: &mut fastrand::Rng,
    round: usize,
    signal: &str,
) -> bool {
    let before = sent_count(emulator);
    let mut apply = herald(dir)
        .args(["apply", "--auto-approve"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if round.is_multiple_of(2) {
        // Anywhere: starting, planning, reconciling, locking, checking, sending.
        std::thread::sleep(Duration::from_millis(rng.u64(0..2_500)));
    } else {
        // While sending: once the emulator has accepted a few more requests (unless the
        // apply ends first).
        let more = rng.u64(1..300);
        let started = std::time::Instant::now();
        while sent_count(emulator) < before + more
            && apply.try_wait().unwrap().is_none()
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let pid = apply.id().to_string();
    let _ = Command::new("kill").args([signal, &pid]).status();
    let stopped = std::time::Instant::now();
    let output = apply.wait_with_output().unwrap();
    let after = sent_count(emulator);
    if signal == "-TERM" && output.status.code().is_some() {
        // A clean stop: in-flight requests finished (within the 1 s request timeout), the
        // lock released, one line said so.
        let took = stopped.elapsed();
        assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "round {round}: {:?} {stderr}",
            output.status
        );
        if output.status.code() == Some(1) && stderr.contains("SIGTERM") {
            assert!(
                stderr.contains("apply stopped by SIGTERM"),
                "round {round}: {stderr}"
            );
        }
    }
    after > before && after < RECIPIENTS
}

#[test]
fn stopping_apply_at_random_moments_never_sends_anything_twice_and_reaches_everyone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(emulator::start(emulator::Config::local(Seed::builtin())))
        .expect("the emulator starts");
    emulator.set_faults(faults());
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), &emulator.base_url());
    let mut rng = fastrand::Rng::with_seed(20261125);
    let mut mid_send = BTreeMap::new();
    for (signal, rounds) in [("-TERM", KILLS), ("-KILL", KILLS)] {
        for round in 0..rounds {
            if stop_one_apply(&emulator, dir.path(), &mut rng, round, signal) {
                *mid_send.entry(signal).or_insert(0) += 1;
            }
            check(
                &format!("after {signal} {}", round + 1),
                &emulator,
                dir.path(),
            );
        }
    }
    // Stops must have landed while requests were going out, or the test shows nothing.
    for signal in ["-TERM", "-KILL"] {
        let hits = mid_send.get(signal).copied().unwrap_or(0);
        assert!(
            hits >= KILLS / 2,
            "only {hits} {signal} hit a sending apply"
        );
    }

    // Then only scheduled applies, as cron would run them: no unlock, no mark-sent.
    let mut applies = 0;
    loop {
        let output = herald(dir.path())
            .args(["apply", "--auto-approve"])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        applies += 1;
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{:?}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        check(&format!("after re-apply {applies}"), &emulator, dir.path());
        let state = state(dir.path());
        let done = state.len() as u64 == RECIPIENTS && state.values().all(|o| *o == Outcome::Sent);
        if done {
            break;
        }
        assert!(applies < 30, "not done after {applies} re-applies: {:?}", {
            let mut by: BTreeMap<Outcome, usize> = BTreeMap::new();
            for o in state.values() {
                *by.entry(*o).or_default() += 1;
            }
            by
        });
        // Unknown deliveries wait for reconcile_after before they are judged never arrived.
        std::thread::sleep(Duration::from_millis(1_000));
    }
    let accepted = accepted(&emulator);
    assert_eq!(accepted.len() as u64, RECIPIENTS, "everyone reached");
    assert!(accepted.values().all(|n| *n == 1), "each exactly once");
    let stopped_mid_send: usize = mid_send.values().sum();
    eprintln!(
        "{} stops ({stopped_mid_send} while sending), then {applies} re-applies: {} recipients \
         messaged once each, 0 twice",
        2 * KILLS,
        accepted.len()
    );
}
