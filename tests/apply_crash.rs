//! `kill -9` of `herald apply` at random moments, 20 times over a 5,000-recipient campaign:
//! after every kill the emulator's log and state agree. Nobody is ever messaged twice, every
//! request the emulator accepted is in state (sent, unknown, or left in flight), and state
//! says `sent` only of requests the emulator accepted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use herald::emulator::{self, BUILTIN_API_KEY, Running, Seed};
use herald::state::sqlite::SqliteStore;
use herald::state::{Outcome, Store};

const RECIPIENTS: u64 = 5_000;
const KILLS: usize = 20;
const CAMPAIGN: &str = "invoice-reminder";

fn write_project(dir: &Path, base_url: &str) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("audiences")).unwrap();
    std::fs::write(
        dir.join("herald.yaml"),
        format!(
            "api: {{base_url: \"{base_url}\", customer_id: 61179, bot_key: bb67e0773bed4c7e, \
             api_key_env: ENGATI_API_KEY, concurrency: 16}}\nvars: {{brand: Renuka Sugars}}\n"
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
    let recorded = store.recorded_map(CAMPAIGN).unwrap();
    recorded.into_iter().map(|(k, r)| (k, r.outcome)).collect()
}

fn check(round: &str, emulator: &Running, dir: &Path) {
    let accepted = accepted(emulator);
    let state = state(dir);
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{round}: messaged twice: {twice:?}");
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

/// Breaks the lock a killed apply left, as an operator would.
fn unlock_if_held(dir: &Path) {
    let lock = SqliteStore::open_read_only(&dir.join(".herald/state.db"))
        .ok()
        .and_then(|store| store.current_lock().ok().flatten());
    if let Some(lock) = lock {
        let status = herald(dir)
            .args(["state", "unlock", &lock.id])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[test]
fn killing_apply_at_random_moments_never_sends_anything_twice() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(emulator::start(emulator::Config::local(Seed::builtin())))
        .expect("the emulator starts");
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), &emulator.base_url());
    let mut rng = fastrand::Rng::with_seed(20261125);
    let mut killed_mid_send = 0;
    for round in 0..KILLS {
        unlock_if_held(dir.path());
        let before = sent_count(&emulator);
        let mut apply = herald(dir.path())
            .args(["apply", "--auto-approve"])
            .spawn()
            .unwrap();
        if round % 2 == 0 {
            // Anywhere: starting, planning, locking, sending.
            std::thread::sleep(Duration::from_millis(rng.u64(0..1_500)));
        } else {
            // While sending: once the emulator has accepted a few more requests (unless the
            // apply ends first).
            let more = rng.u64(1..300);
            while sent_count(&emulator) < before + more && apply.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        // SIGKILL: no chance to record anything more. (An apply that already ended is fine.)
        let _ = apply.kill();
        apply.wait().unwrap();
        let after = sent_count(&emulator);
        if after > before && after < RECIPIENTS {
            killed_mid_send += 1;
        }
        check(&format!("after kill {}", round + 1), &emulator, dir.path());
    }
    // Kills must have landed while requests were going out, or the test shows nothing.
    assert!(
        killed_mid_send >= KILLS / 2,
        "only {killed_mid_send} kills hit a sending apply"
    );

    // Finish: every recipient ends sent, or unknown (left for an operator), each once.
    unlock_if_held(dir.path());
    let status = herald(dir.path())
        .args(["apply", "--auto-approve"])
        .status()
        .unwrap();
    assert!(matches!(status.code(), Some(0 | 1)));
    check("after the last apply", &emulator, dir.path());
    let state = state(dir.path());
    assert_eq!(state.len() as u64, RECIPIENTS);
    let unknown = state.values().filter(|&&o| o == Outcome::Unknown).count();
    eprintln!(
        "{KILLS} kills, {killed_mid_send} while sending; in the end {} sent, {unknown} unknown (left in flight by a kill)",
        state.len() - unknown
    );
    let outcomes: BTreeSet<Outcome> = state.values().copied().collect();
    assert!(
        outcomes.is_subset(&BTreeSet::from([Outcome::Sent, Outcome::Unknown])),
        "{outcomes:?}"
    );
}
