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

/// Everything a store answers, read through the `Store` trait, for the rounds given: every
/// attempt in recording order, each delivery's latest and what plan reads, each round's
/// history, the campaigns' totals, what pacing counts, and what prune would take.
fn answers(store: &dyn Store, rounds: &[Round<'_>]) -> String {
    let mut text = format!(
        "serial {} lineage {:?}\napplies {:?}\n",
        store.serial().unwrap(),
        store.lineage().unwrap(),
        store.applies().unwrap()
    );
    store
        .every_attempt(&mut |d| {
            text.push_str(&format!("{}\n", serde_json::to_string(&d).unwrap()));
            Ok(())
        })
        .unwrap();
    for round in rounds {
        let mut recorded: Vec<_> = store.recorded_map(*round).unwrap().into_iter().collect();
        recorded.sort_by(|a, b| a.0.cmp(&b.0));
        for (recipient, r) in recorded {
            let latest = store.delivery(*round, &recipient).unwrap().unwrap();
            let history = store.history(*round, Some(&recipient)).unwrap();
            text.push_str(&format!(
                "{round} {recipient} {:?} {} {}\n{}\n",
                r.outcome,
                r.fingerprint.short(),
                serde_json::to_string(&latest).unwrap(),
                serde_json::to_string(&history).unwrap()
            ));
        }
        let history = store.history(*round, None).unwrap();
        text.push_str(&format!("{}\n", serde_json::to_string(&history).unwrap()));
    }
    let mut contacts = Vec::new();
    store
        .contacts_since(state_support::at("2026-01-01T00:00:00Z"), &mut |c| {
            contacts.push(format!("{c:?}"));
        })
        .unwrap();
    contacts.sort();
    text.push_str(&format!("{contacts:?}\n{:?}\n", store.campaigns().unwrap()));
    text.push_str(&format!(
        "{:?} {:?}\n",
        store
            .prunable(state_support::at("2026-11-10T00:00:00Z"))
            .unwrap(),
        store.erasable("+15550009").unwrap()
    ));
    text
}

#[test]
fn a_state_of_schema_version_6_reads_back_identically_once_packed() {
    use herald::state::{Delivery, WHOLE_CAMPAIGN};
    use state_support::{apply, at};
    let f = Fixture::postgres();
    let mut store = f.open();
    let monday = at("2026-12-07T03:30:00Z");
    let template = |phone: &str, name: &str, n: u32| {
        format!(
            r#"{{"method":"POST","path":"/t","query":[],"body":{{"phoneNumber":"{phone}","text":"Hi {name}, invoice {n} is due","n":{n}}}}}"#
        )
    };
    let mut batch = Vec::new();
    for (i, (phone, name)) in [
        ("+919000000001", "John"),
        ("+919000000002", "Ünïcödé \\\" quote"),
        ("+15550003", "Ana"),
        ("+15550004", "Bo"),
    ]
    .iter()
    .enumerate()
    {
        let request = template(phone, name, 1000 + i as u32);
        let mut intent = attempt("invoice", phone, &request, Outcome::InFlight);
        intent.at = at("2026-11-01T09:00:00.000000001Z");
        let mut outcome = intent.clone();
        outcome.outcome = [
            Outcome::Sent,
            Outcome::Failed,
            Outcome::Unknown,
            Outcome::Sent,
        ][i];
        outcome.api_code = Some(if i == 1 { 1002 } else { 200 });
        outcome.detail = (i == 1).then(|| "template paused".to_owned());
        outcome.at = at("2026-11-01T09:00:01.5Z");
        batch.push(intent);
        if i < 3 {
            batch.push(outcome);
        }
    }
    // A retry of the failure, a changed message resent, a recurring round, a broadcast naming
    // a phone, and an odd fingerprint.
    let mut retry = attempt(
        "invoice",
        "+919000000002",
        &template("+919000000002", "Ünïcödé \\\" quote", 1001),
        Outcome::InFlight,
    );
    retry.at = at("2026-12-02T09:00:00Z");
    batch.push(retry);
    let mut resent = attempt(
        "invoice",
        "+919000000001",
        &template("+919000000001", "Johnny", 7),
        Outcome::Sent,
    );
    resent.apply_id = "20261202T000000Z-beef".to_owned();
    batch.push(resent);
    batch.push(Delivery {
        occurrence: Some(monday),
        ..attempt("weekly", "+919000000001", "week 1", Outcome::Unknown)
    });
    let broadcast = r#"{"body":{"users":[{"phoneNumber":"+15550009"}]}}"#;
    batch.push(attempt(
        "bcast",
        WHOLE_CAMPAIGN,
        broadcast,
        Outcome::InFlight,
    ));
    batch.push(attempt("bcast", WHOLE_CAMPAIGN, broadcast, Outcome::Sent));
    let mut odd = attempt("odd", "+15550010", "v1", Outcome::Sent);
    odd.fingerprint = herald::fingerprint::Fingerprint::of(b"something else");
    batch.push(odd);
    store.record(&batch).unwrap();
    store.prune(at("2026-11-10T00:00:00Z")).unwrap();
    store
        .log_apply(&apply("20261201T033000Z-4f2a", "2026-12-01T03:30:00Z"))
        .unwrap();
    drop(store);
    let rounds = [
        Round::one_off("invoice"),
        Round::of("weekly", Some(monday)),
        Round::one_off("bcast"),
        Round::one_off("odd"),
    ];
    let before = answers(&*f.open_read_only(), &rounds);
    assert!(
        before.contains("Johnny") && before.contains(r#""request":"""#),
        "{before}"
    );

    // The same state as schema 6 held it: written as schema 5, then migrated to 6 only.
    state_support::rewrite_at_version_5(&f);
    let (url, schema) = (postgres_url(), schema_of(&f).to_owned());
    PostgresStore::migrate_to(&url, &schema, 6).unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let version: i64 = client
        .query_one(
            &format!("SELECT value FROM {schema}.meta WHERE key = 'schema_version'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, 6);
    let attempts: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.attempts"), &[])
        .unwrap()
        .get(0);
    assert_eq!(attempts, 13);

    let migrated = answers(&*f.open(), &rounds);
    assert_eq!(migrated, before);
    assert_eq!(answers(&*f.open_read_only(), &rounds), before);
    let intents: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.intents WHERE round IS NOT NULL"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        intents, 2,
        "the intents still in flight wait in their slots"
    );
}

#[test]
fn intents_wait_in_slots_that_the_next_batches_reuse() {
    let f = Fixture::postgres();
    let mut store = f.open();
    for batch in 0..10 {
        let intents: Vec<_> = (0..64)
            .map(|i| {
                let phone = format!("+1555{batch:02}{i:04}");
                attempt("welcome", &phone, "hello", Outcome::InFlight)
            })
            .collect();
        store.record(&intents).unwrap();
        let outcomes: Vec<_> = intents
            .into_iter()
            .map(|mut d| {
                d.outcome = if batch == 9 {
                    Outcome::Failed
                } else {
                    Outcome::Sent
                };
                d
            })
            .collect();
        store.record(&outcomes).unwrap();
    }
    // A failure retried waits in a slot again, then settles back into `deliveries`.
    let retry = attempt("welcome", "+1555090000", "hello", Outcome::InFlight);
    store.record(std::slice::from_ref(&retry)).unwrap();
    let schema = schema_of(&f);
    let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
    let count = |client: &mut postgres::Client, sql: &str| -> i64 {
        client
            .query_one(&sql.replace("{s}", schema), &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(count(&mut client, "SELECT count(*) FROM {s}.intents"), 64);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM {s}.intents WHERE round IS NOT NULL"
        ),
        1
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM {s}.deliveries"),
        639
    );
    let recorded = store.recorded_map(Round::one_off("welcome")).unwrap();
    assert_eq!(recorded.len(), 640);
    assert_eq!(recorded["+1555090000"].outcome, Outcome::InFlight);
    store
        .record(&[herald::state::Delivery {
            outcome: Outcome::Sent,
            ..retry
        }])
        .unwrap();
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM {s}.intents WHERE round IS NOT NULL"
        ),
        0
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM {s}.deliveries"),
        640
    );
    let history = store
        .history(Round::one_off("welcome"), Some("+1555090000"))
        .unwrap();
    let outcomes: Vec<Outcome> = history.iter().map(|d| d.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::InFlight,
            Outcome::Failed,
            Outcome::InFlight,
            Outcome::Sent
        ]
    );
}
