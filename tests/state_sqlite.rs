//! What is particular to the SQLite state backend, on real files: creating the file, read-only
//! opening for plan, schema versions, corrupt rows, and measurements. What every backend does
//! is in `state_store.rs`.

mod state_support;

use std::path::Path;
use std::time::{Duration, Instant};

use herald::fingerprint::Fingerprint;
use herald::state::Round;
use herald::state::sqlite::SqliteStore;
use herald::state::{Delivery, Outcome, StateError, Store};
use state_support::{attempt, sqlite_path as state_path};
use tempfile::TempDir;

/// Writes a row behind the store's back, as a corrupt or hand-edited state would have it.
fn tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!("PRAGMA ignore_check_constraints = ON; {sql}"))
        .unwrap();
}

fn backend_message(err: StateError) -> String {
    match err {
        StateError::Backend { message, .. } => message,
        other => panic!("expected a backend error, got {other:?}"),
    }
}

fn replaced_message(err: StateError) -> String {
    match err {
        StateError::Replaced { message, .. } => message,
        other => panic!("expected the state's files to be found replaced, got {other:?}"),
    }
}

#[test]
fn open_creates_the_state_and_its_directory() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let store = SqliteStore::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.location(), path.display().to_string());
}

#[test]
fn reading_a_missing_state_creates_no_file() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let store = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(store.serial().unwrap(), 0);
    assert_eq!(store.location(), path.display().to_string());
    drop(store);
    assert!(!path.exists());
    assert!(!path.parent().unwrap().exists(), "not even its directory");
}

#[test]
fn reading_an_empty_file_reads_as_an_empty_state() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(store.serial().unwrap(), 0);
}

#[test]
fn a_read_only_store_sees_what_a_writer_recorded_and_refuses_to_write() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut writer = SqliteStore::open(&path).unwrap();
    let sent = attempt("welcome", "+15550001", "v1", Outcome::Sent);
    writer.record(std::slice::from_ref(&sent)).unwrap();

    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(reader.serial().unwrap(), 1);
    assert_eq!(
        reader
            .delivery(Round::one_off("welcome"), "+15550001")
            .unwrap(),
        Some(sent)
    );

    // Plan reads while apply writes: WAL lets the reader see each commit.
    writer
        .record(&[attempt("welcome", "+15550002", "v1", Outcome::Sent)])
        .unwrap();
    assert_eq!(reader.serial().unwrap(), 2);
    assert_eq!(
        reader
            .recorded_map(Round::one_off("welcome"))
            .unwrap()
            .len(),
        2
    );

    drop(writer);
    let refused = reader.record(&[attempt("welcome", "+15550003", "v1", Outcome::Sent)]);
    let message = backend_message(refused.unwrap_err());
    assert_eq!(
        message,
        "cannot record the delivery of campaign welcome to +15550003: \
         attempt to write a readonly database"
    );
    assert!(reader.lock("ana@laptop").is_err());
}

#[test]
fn a_state_from_a_newer_herald_is_refused_by_every_open() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    drop(SqliteStore::open(&path).unwrap());
    tamper(&path, "PRAGMA user_version = 99;");

    for err in [
        SqliteStore::open(&path).unwrap_err(),
        SqliteStore::open_read_only(&path).unwrap_err(),
    ] {
        assert_eq!(
            err,
            StateError::NewerSchema {
                location: path.display().to_string(),
                found: 99,
                known: 6,
            }
        );
    }
}

#[test]
fn a_database_that_is_not_a_herald_state_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("other.db");
    tamper(&path, "CREATE TABLE notes (text TEXT);");
    let message = backend_message(SqliteStore::open_read_only(&path).unwrap_err());
    assert!(message.contains("not a herald state"), "{message}");

    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        "not a database, just some text that is long enough",
    )
    .unwrap();
    assert!(matches!(
        SqliteStore::open_read_only(&garbage),
        Err(StateError::Backend { .. })
    ));
    assert!(matches!(
        SqliteStore::open(&garbage),
        Err(StateError::Backend { .. })
    ));
}

/// A state file can come with a pull request (`state.path` names a file of the project): one
/// whose tables are views or have generated columns would run their queries on every read (a
/// recursive view that never ends hung `herald plan`). Such a state is refused when opened.
#[test]
fn a_state_with_views_triggers_or_generated_columns_is_refused() {
    for (name, sql) in [
        (
            "endless view",
            "DROP TABLE meta; CREATE VIEW meta(key, value) AS WITH RECURSIVE c(x) AS \
             (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 'serial', x FROM c WHERE x < 0;",
        ),
        (
            "generated column",
            "DROP TABLE lock; CREATE TABLE lock (id TEXT, holder TEXT, since TEXT, \
             big BLOB GENERATED ALWAYS AS (zeroblob(100000000)));",
        ),
        (
            "trigger",
            "CREATE TRIGGER t AFTER INSERT ON attempts BEGIN DELETE FROM deliveries; END;",
        ),
    ] {
        let dir = TempDir::new().unwrap();
        let path = state_path(&dir);
        drop(SqliteStore::open(&path).unwrap());
        tamper(&path, sql);
        let started = Instant::now();
        for opened in [SqliteStore::open_read_only(&path), SqliteStore::open(&path)] {
            let Err(refused) = opened else {
                panic!("{name}: opened")
            };
            let message = backend_message(refused);
            assert!(
                message.contains("not a state herald made"),
                "{name}: {message}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{name}");
    }
}

#[test]
fn a_corrupt_fingerprint_is_a_backend_error_naming_the_delivery() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    tamper(
        &path,
        "UPDATE deliveries SET fingerprint = x'0102' WHERE recipient = '+15550001';
         UPDATE requests SET fingerprint = x'0102' WHERE recipient = '+15550001';",
    );

    let expected = "the state's delivery of campaign welcome to +15550001 is corrupt: \
                    its fingerprint is 2 bytes long, not 32";
    assert_eq!(
        backend_message(store.recorded_map(Round::one_off("welcome")).unwrap_err()),
        expected
    );
    assert_eq!(
        backend_message(
            store
                .delivery(Round::one_off("welcome"), "+15550001")
                .unwrap_err()
        ),
        expected
    );
    assert_eq!(
        backend_message(store.history(Round::one_off("welcome"), None).unwrap_err()),
        expected
    );
}

#[test]
fn an_unknown_outcome_is_a_backend_error_naming_the_delivery() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    tamper(&path, "UPDATE deliveries SET outcome = 'delivered';");

    let err = store.recorded_map(Round::one_off("welcome")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the state's delivery of campaign welcome to +15550001 is corrupt: \
             its outcome `delivered` is unknown",
            path.display()
        )
    );
}

#[test]
fn the_store_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<SqliteStore>();
    let store: Box<dyn Store> = Box::new(SqliteStore::in_memory());
    let serial = std::thread::spawn(move || store.serial().unwrap())
        .join()
        .unwrap();
    assert_eq!(serial, 0);
}

/// `cargo test --release --test state_sqlite -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run in release"]
fn measure_a_million_deliveries_recorded_in_phone_number_order() {
    measure_a_million_deliveries(|i| i);
}

/// As an audience lists them: in no order the state's keys follow.
#[test]
#[ignore = "a measurement, run in release"]
fn measure_a_million_deliveries_recorded_in_audience_order() {
    measure_a_million_deliveries(|i| i.wrapping_mul(2_654_435_761) % 1_000_000_007);
}

/// Records a million ~700-byte requests in batches of 10,000, then reads them back as plan does.
fn measure_a_million_deliveries(number: fn(u64) -> u64) {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut store = SqliteStore::open(&path).unwrap();
    let body = format!(
        r#"{{"bot_ref":61179,"template":"black_friday_2026","language":"en","params":{{"name":"{}"}}}}"#,
        "x".repeat(600)
    );
    let total = 1_000_000;
    let mut recorded_in = Duration::ZERO;
    for start in (0..total).step_by(10_000) {
        let batch: Vec<Delivery> = (start..start + 10_000)
            .map(|i| {
                let phone = format!("+1{:010}", number(i));
                let request = format!("{body}{phone}");
                let mut d = attempt("black-friday", &phone, "", Outcome::Sent);
                d.fingerprint = Fingerprint::of(request.as_bytes());
                d.request = request;
                d
            })
            .collect();
        let started = Instant::now();
        store.record(&batch).unwrap();
        recorded_in += started.elapsed();
    }
    drop(store);

    let store = SqliteStore::open_read_only(&path).unwrap();
    let started = Instant::now();
    let mut visited = 0;
    store
        .recorded(Round::one_off("black-friday"), &mut |_, _| visited += 1)
        .unwrap();
    let visited_in = started.elapsed();
    assert_eq!(visited, total);
    let started = Instant::now();
    let map = store.recorded_map(Round::one_off("black-friday")).unwrap();
    let mapped_in = started.elapsed();
    assert_eq!(map.len(), total as usize);
    let started = Instant::now();
    let campaigns = store.campaigns().unwrap();
    let summarised_in = started.elapsed();
    assert_eq!(campaigns[0].sent, total);
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "record {total} in batches of 10,000: {recorded_in:.2?}; recorded(): {visited_in:.2?}; \
         recorded_map(): {mapped_in:.2?}; campaigns(): {summarised_in:.2?}; file {} MB",
        size / 1_000_000
    );
}

#[test]
fn a_state_from_before_lineages_gets_one_when_written_and_keeps_its_serial() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    SqliteStore::create_at_version(&path, 5).unwrap();
    // What a state of schema version 1 was: no lineage (nor test sends, nor rounds), serial 7.
    tamper(
        &path,
        &format!(
            "{} DELETE FROM meta WHERE key = 'lineage'; \
             UPDATE meta SET value = 7 WHERE key = 'serial'; \
             DROP TABLE test_sends; PRAGMA user_version = 1;",
            state_support::SQLITE_BEFORE_ROUNDS
        ),
    );
    assert!(
        SqliteStore::open_read_only(&path).is_err(),
        "reading never migrates"
    );
    let migrated = SqliteStore::open(&path).unwrap();
    assert_eq!(migrated.serial().unwrap(), 7);
    let lineage = migrated.lineage().unwrap().expect("a lineage");
    assert_eq!(
        SqliteStore::open(&path).unwrap().lineage().unwrap(),
        Some(lineage)
    );
}

#[test]
fn a_lock_file_removed_under_its_holder_stops_the_holders_writes() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut holder = SqliteStore::open(&path).unwrap();
    holder.lock("ana@laptop").unwrap();
    std::fs::remove_file(format!("{}.lock", path.display())).unwrap();
    // Another process can now take a lock on a new file: the holder must not go on writing.
    let mut other = SqliteStore::open(&path).unwrap();
    other.lock("ci@runner").unwrap();
    let err = holder
        .record(&[attempt(
            "welcome",
            "+4915100000001",
            "{}",
            Outcome::InFlight,
        )])
        .unwrap_err();
    assert!(
        replaced_message(err).contains("was removed or replaced while this apply held it"),
        "the holder stops"
    );
}

#[test]
fn a_state_file_replaced_under_a_writer_stops_its_writes() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut writer = SqliteStore::open(&path).unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::rename(&copy, &path).unwrap();
    let err = writer
        .record(&[attempt("welcome", "+4915100000001", "{}", Outcome::Sent)])
        .unwrap_err();
    assert!(
        replaced_message(err).contains("the state file was replaced or removed"),
        "its records would go to a file nobody reads"
    );
}

#[test]
fn a_commit_by_another_connection_under_the_lock_stops_the_holders_writes() {
    let dir = TempDir::new().unwrap();
    let path = state_path(&dir);
    let mut holder = SqliteStore::open(&path).unwrap();
    holder.lock("ana@laptop").unwrap();
    holder
        .record(&[attempt("welcome", "+4915100000001", "{}", Outcome::Sent)])
        .unwrap();
    // The sqlite3 shell, say, editing the state while an apply runs.
    tamper(&path, "DELETE FROM deliveries");
    let err = holder
        .record(&[attempt("welcome", "+4915100000002", "{}", Outcome::Sent)])
        .unwrap_err();
    assert!(replaced_message(err).contains("written by something else"));
}
