//! What is particular to the PostgreSQL state backend, against a real server: the apply lock
//! dies with its holder's connection, projects in one database keep to their schemas, reading
//! never creates anything, and the database password never shows. What every backend does is
//! in `state_store.rs`.

mod plan_support;
mod state_support;

use std::time::{Duration, Instant};

use herald::state::Round;
use herald::state::postgres::PostgresStore;
use herald::state::{Outcome, StateError, Store};
use plan_support::{AFTER_DUE, Project};
use state_support::{Fixture, attempt, postgres_url};

fn schema_exists(schema: &str) -> bool {
    let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
    let row = client
        .query_one(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
            &[&schema],
        )
        .unwrap();
    row.get::<_, i64>(0) == 1
}

fn schema_of(fixture: &Fixture) -> &str {
    match fixture {
        Fixture::Postgres { schema, .. } => schema,
        Fixture::Sqlite(_) => unreachable!(),
    }
}

#[test]
fn the_lock_of_an_apply_whose_connection_died_is_taken_over() {
    let f = Fixture::postgres();
    let mut dead = f.open();
    let lock = dead.lock("runner-1 (pid 7)").unwrap();
    let mut next = f.open();
    assert_eq!(
        next.lock("runner-2").unwrap_err(),
        StateError::Locked(lock.clone())
    );

    // The runner is thrown away mid-apply: no unlock, its connection just ends.
    drop(dead);
    let started = Instant::now();
    let taken = loop {
        match next.lock("runner-2 (pid 9)") {
            Ok(taken) => break taken,
            // The server ends the dead session a moment after its socket closes.
            Err(StateError::Locked(_)) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the dead apply's lock was not released: {e}"),
        }
    };
    assert_eq!(taken.holder, "runner-2 (pid 9)");
    assert_eq!(next.current_lock().unwrap(), Some(taken.clone()));
    next.unlock(&taken.id).unwrap();
    assert_eq!(next.current_lock().unwrap(), None);
}

#[test]
fn a_live_apply_lock_cannot_be_broken_from_another_session() {
    let f = Fixture::postgres();
    let mut running = f.open();
    let lock = running.lock("runner-1").unwrap();
    let mut operator = f.open();
    assert_eq!(
        operator.unlock(&lock.id).unwrap_err(),
        StateError::HolderAlive(lock.clone()),
        "its apply is still running"
    );
    running.unlock(&lock.id).unwrap();
}

#[test]
fn plans_read_while_an_apply_holds_the_lock() {
    let f = Fixture::postgres();
    let mut applying = f.open();
    applying
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    let lock = applying.lock("runner-1").unwrap();
    // Runners planning pull requests at the same moment, each on its own connection.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = f.open_read_only();
            std::thread::spawn(move || {
                (
                    store.serial().unwrap(),
                    store.recorded_map(Round::one_off("welcome")).unwrap().len(),
                )
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), (1, 1));
    }
    applying.unlock(&lock.id).unwrap();
}

#[test]
fn projects_sharing_a_database_keep_to_their_schemas() {
    let (a, b) = (Fixture::postgres(), Fixture::postgres());
    let (mut store_a, mut store_b) = (a.open(), b.open());
    store_a.lock("project a").unwrap();
    store_b
        .lock("project b")
        .expect("another schema's lock is another lock");
    store_a
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    assert_eq!(store_a.serial().unwrap(), 1);
    assert_eq!(store_b.serial().unwrap(), 0);
    assert!(
        store_b
            .recorded_map(Round::one_off("welcome"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn reading_a_state_never_written_creates_no_schema() {
    let f = Fixture::postgres();
    let store = f.open_read_only();
    assert_eq!(store.serial().unwrap(), 0);
    assert!(!schema_exists(schema_of(&f)));
    drop(f.open());
    assert!(schema_exists(schema_of(&f)), "writing creates it");
}

#[test]
fn a_schema_name_that_is_not_a_plain_identifier_is_refused() {
    let err = PostgresStore::open(&postgres_url(), "herald; DROP TABLE x").unwrap_err();
    assert!(err.to_string().contains("cannot be a schema name"), "{err}");
}

/// The example project with its state in PostgreSQL, pointed at a running emulator.
fn postgres_project(schema: &str) -> Project {
    let project = Project::example();
    project.edit(
        "herald.yaml",
        "  backend: sqlite                          # .herald/state.db, git-ignored\n",
        &format!("  backend: postgres\n  schema: {schema}\n"),
    );
    project
}

#[test]
fn the_database_password_never_appears_in_output() {
    let project = postgres_project("herald");
    let url = "postgres://herald:s3cret-pw@127.0.0.1:1/herald";
    let output = project.herald_with_env(
        &["plan", "--emulator", "--now", AFTER_DUE],
        &[("HERALD_STATE_URL", url)],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(
        text.contains("postgres 127.0.0.1:1/herald (schema herald): cannot connect"),
        "{text}"
    );
}

#[test]
fn an_unset_url_variable_is_named() {
    let project = postgres_project("herald");
    let output = project.herald_with_env(&["plan", "--emulator", "--now", AFTER_DUE], &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
}

/// `url` with `role` as its user (the test server trusts loopback connections).
fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}@{host}")
}

#[test]
fn a_role_granted_read_reads_the_state_and_cannot_write_it() {
    let fixture = Fixture::postgres();
    let schema = schema_of(&fixture).to_owned();
    let url = postgres_url();
    let mut owner = PostgresStore::open(&url, &schema).unwrap();
    owner
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    let role = format!("review_{:08x}", fastrand::u32(..));
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
        .unwrap();
    let review = as_role(&url, &role);
    assert!(
        PostgresStore::open_read_only(&review, &schema)
            .and_then(|s| s.recorded_map(Round::one_off("welcome")))
            .is_err(),
        "nothing is readable before the grant"
    );

    owner.grant_read(&role).unwrap();
    let reader = PostgresStore::open_read_only(&review, &schema).unwrap();
    assert_eq!(
        reader
            .recorded_map(Round::one_off("welcome"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(reader.serial().unwrap(), owner.serial().unwrap());
    // Apply opens state for writing: refused at once, saying why.
    match PostgresStore::open(&review, &schema) {
        Err(StateError::Backend { message, .. }) => {
            assert!(message.contains("permission denied"), "{message}");
        }
        other => panic!("a read-only role cannot open state for writing: {other:?}"),
    }
    drop(reader);
    admin
        .batch_execute(&format!(
            "DROP OWNED BY {role}; DROP ROLE {role}; DROP SCHEMA \"{schema}\" CASCADE"
        ))
        .unwrap();
}

#[test]
fn a_role_name_that_is_not_a_plain_identifier_is_refused() {
    let fixture = Fixture::postgres();
    let store = PostgresStore::open(&postgres_url(), schema_of(&fixture)).unwrap();
    let refused = store.grant_read_statements("x\"; DROP TABLE meta; --");
    assert!(
        matches!(&refused, Err(StateError::Backend { message, .. }) if message.contains("cannot be a role name")),
        "{refused:?}"
    );
    let statements = store.grant_read_statements("herald_review").unwrap();
    assert!(
        statements
            .iter()
            .all(|s| s.ends_with("TO \"herald_review\""))
    );
}
