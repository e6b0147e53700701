//! `herald state migrate`: a state copied from SQLite to PostgreSQL and back is the same state,
//! row for row: every attempt in order, each delivery's latest attempt, the applies, the test
//! messages and the serial (so a plan made before the move still applies after it).

mod plan_support;
mod state_support;

use std::collections::BTreeMap;

use herald::state::Round;
use herald::state::postgres::PostgresStore;
use herald::state::sqlite::SqliteStore;
use herald::state::{
    ApplyRecord, CampaignTotals, Delivery, Outcome, Store, TestSend, WHOLE_CAMPAIGN,
};
use plan_support::Project;
use state_support::{apply, at, attempt, postgres_url};

/// Everything a store holds, read through the `Store` trait.
#[derive(Debug, PartialEq)]
struct Everything {
    serial: u64,
    lineage: Option<String>,
    campaigns: Vec<CampaignTotals>,
    applies: Vec<ApplyRecord>,
    test_sends: Vec<TestSend>,
    attempts: Vec<Delivery>,
    latest: BTreeMap<(String, String), Option<Delivery>>,
}

fn everything(store: &dyn Store) -> Everything {
    let mut attempts = Vec::new();
    store
        .every_attempt(&mut |d| {
            attempts.push(d);
            Ok(())
        })
        .unwrap();
    let latest = attempts
        .iter()
        .map(|d| (d.campaign.clone(), d.recipient.clone()))
        .map(|key| {
            let latest = store.delivery(Round::one_off(&key.0), &key.1).unwrap();
            (key, latest)
        })
        .collect();
    Everything {
        serial: store.serial().unwrap(),
        lineage: store.lineage().unwrap(),
        campaigns: store.campaigns().unwrap(),
        applies: store.applies().unwrap(),
        test_sends: store.test_sends().unwrap(),
        attempts,
        latest,
    }
}

/// A state with a bit of everything: retries, unknowns, an in-flight row left by a crash, API
/// codes and details, a broadcast, and applies finished and not.
fn fill(store: &mut dyn Store) {
    let mut failed = attempt(
        "invoice-reminder",
        "+919019486731",
        r#"{"n":1}"#,
        Outcome::Failed,
    );
    failed.api_code = Some(1002);
    failed.detail = Some("rejected: template paused".to_owned());
    let mut retried = attempt(
        "invoice-reminder",
        "+919019486731",
        r#"{"n":1}"#,
        Outcome::Sent,
    );
    retried.at = at("2026-12-01T04:00:00.000000001Z");
    retried.api_code = Some(200);
    let mut unknown = attempt(
        "invoice-reminder",
        "+919178921978",
        r#"{"n":2}"#,
        Outcome::Unknown,
    );
    unknown.detail = Some("timeout after 30 s".to_owned());
    store.record(&[failed, unknown]).unwrap();
    store.record(&[retried]).unwrap();
    store
        .record(&[
            attempt(
                "new-year-offer",
                WHOLE_CAMPAIGN,
                r#"{"b":1}"#,
                Outcome::Sent,
            ),
            attempt(
                "feedback-flow",
                "+14155552671",
                r#"{"t":1}"#,
                Outcome::InFlight,
            ),
        ])
        .unwrap();
    let mut finished = apply("20261201T033000Z-4f2a", "2026-12-01T03:30:00Z");
    finished.finished_at = Some(at("2026-12-01T03:31:07.5Z"));
    finished.sent = 2;
    finished.failed = 1;
    store.log_apply(&finished).unwrap();
    store
        .log_apply(&apply("20261201T040000Z-0001", "2026-12-01T04:00:00Z"))
        .unwrap();
    store
        .log_test_send(&TestSend {
            id: "0000beef".to_owned(),
            who: "ana@laptop (pid 4242)".to_owned(),
            at: at("2026-12-01T02:00:00.123456789Z"),
            campaign: "invoice-reminder".to_owned(),
            rendered_for: "+919019486731".to_owned(),
            phone: "+919900112233".to_owned(),
            outcome: Outcome::Failed,
            api_code: Some(1002),
            detail: Some("api::rejected: outside the window".to_owned()),
        })
        .unwrap();
}

#[test]
fn a_state_migrated_to_postgres_and_back_is_the_same_row_for_row() {
    let project = Project::example();
    let schema = format!("migrate_{:016x}", fastrand::u64(..));
    let url = postgres_url();
    let original = project.path().join(".herald/state.db");
    fill(&mut SqliteStore::open(&original).unwrap());
    let before = everything(&SqliteStore::open_read_only(&original).unwrap());
    assert_eq!(before.attempts.len(), 5);
    assert_eq!(before.serial, 3);

    let migrate = |from: &str, to: &str| {
        project.herald_with_env(
            &["state", "migrate", "--from", from, "--to", to],
            &[("HERALD_STATE_URL", url.as_str())],
        )
    };
    let to_postgres = format!("postgres:{schema}");
    let output = migrate("sqlite:.herald/state.db", &to_postgres);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "copied 5 attempts, 2 applies and 1 test message from {} to postgres 127.0.0.1:{}/herald_test \
             (schema {schema}) (serial 3)\n",
            original.display(),
            url.rsplit(':').next().unwrap().split('/').next().unwrap()
        )
    );
    let in_postgres = everything(&PostgresStore::open_read_only(&url, &schema).unwrap());
    assert_eq!(in_postgres, before, "SQLite to PostgreSQL loses nothing");

    let output = migrate(&to_postgres, "sqlite:copy.db");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let back = everything(&SqliteStore::open_read_only(&project.path().join("copy.db")).unwrap());
    assert_eq!(back, before, "PostgreSQL to SQLite loses nothing");

    // A target that holds state is refused: two histories are never mixed.
    let output = migrate("sqlite:.herald/state.db", "sqlite:copy.db");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("already holds state"),
        "{output:?}"
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}

#[test]
fn a_state_being_applied_to_is_not_migrated() {
    let project = Project::example();
    let original = project.path().join(".herald/state.db");
    let mut store = SqliteStore::open(&original).unwrap();
    fill(&mut store);
    let lock = store.lock("ana@laptop (pid 4242)").unwrap();
    let output = project.herald(&[
        "state",
        "migrate",
        "--from",
        "sqlite:.herald/state.db",
        "--to",
        "sqlite:copy.db",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("locked by ana@laptop (pid 4242)"),
        "{stderr}"
    );
    assert!(!stderr.contains(&lock.id), "{stderr}");
    let copy = SqliteStore::open_read_only(&project.path().join("copy.db")).unwrap();
    assert_eq!(copy.serial().unwrap(), 0, "nothing was copied");
    assert!(copy.campaigns().unwrap().is_empty());
}

#[test]
fn a_state_name_that_is_neither_sqlite_nor_postgres_is_explained() {
    let project = Project::example();
    let output = project.herald(&[
        "state",
        "migrate",
        "--from",
        "mysql:x",
        "--to",
        "sqlite:y.db",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
}
