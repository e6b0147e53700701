//! The SQLite state's schema: the migrations that make it, the version a state is at, and the
//! check that a state holds nothing herald did not make.

use rusqlite::{Connection, TransactionBehavior};

use super::super::StateError;
use super::super::sql::fail;

/// The schema, one script per version: the state's `PRAGMA user_version` is the number of
/// scripts applied. Append new scripts; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: history (every attempt), deliveries (the latest attempt of each), applies, the lock,
    // the serial. A request (most of an attempt's bytes) is stored once, in history;
    // `deliveries` points at its latest attempt there and keeps only what plan and
    // `state list` scan: a million of them are ~120 MB to read, not ~1 GB.
    // The outcome checks are not `IN (...)`: SQLite would build a table of the list for every
    // insert, which made recording twice as slow.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value
    );
    INSERT INTO meta (key, value) VALUES ('serial', 0);

    CREATE TABLE history (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        campaign    TEXT NOT NULL,
        recipient   TEXT NOT NULL,
        fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
        outcome     TEXT NOT NULL CHECK (outcome = 'in_flight' OR outcome = 'sent'
                                         OR outcome = 'failed' OR outcome = 'unknown'),
        api_code    INTEGER,
        detail      TEXT,
        at          TEXT NOT NULL,
        apply_id    TEXT NOT NULL,
        request     TEXT NOT NULL
    );
    CREATE INDEX history_delivery ON history (campaign, recipient);

    CREATE TABLE deliveries (
        campaign    TEXT NOT NULL,
        recipient   TEXT NOT NULL,
        fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
        outcome     TEXT NOT NULL CHECK (outcome = 'in_flight' OR outcome = 'sent'
                                         OR outcome = 'failed' OR outcome = 'unknown'),
        at          TEXT NOT NULL,
        seq         INTEGER NOT NULL REFERENCES history (seq),
        PRIMARY KEY (campaign, recipient)
    ) WITHOUT ROWID;

    CREATE TABLE applies (
        id          TEXT PRIMARY KEY,
        who         TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        plan_hash   TEXT NOT NULL,
        sent        INTEGER NOT NULL,
        failed      INTEGER NOT NULL,
        unknown     INTEGER NOT NULL
    );

    CREATE TABLE lock (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        id        TEXT NOT NULL,
        holder    TEXT NOT NULL,
        since     TEXT NOT NULL
    );
    ",
    // 2: the lineage, a random number that tells this state from any other with the same
    // serial (a fresh copy, a restored backup), recorded in every plan.
    "INSERT INTO meta (key, value) VALUES ('lineage', random());",
    // 3: test messages (`herald send`), logged beside the applies and never deliveries: no
    // campaign's deliveries, nor the serial, change when one is sent.
    "
    CREATE TABLE test_sends (
        id           TEXT PRIMARY KEY,
        who          TEXT NOT NULL,
        at           TEXT NOT NULL,
        campaign     TEXT NOT NULL,
        rendered_for TEXT NOT NULL,
        phone        TEXT NOT NULL,
        outcome      TEXT NOT NULL CHECK (outcome = 'in_flight' OR outcome = 'sent'
                                          OR outcome = 'failed' OR outcome = 'unknown'),
        api_code     INTEGER,
        detail       TEXT
    );
    ",
    // 4: rounds. A recurring campaign sends each occurrence to every recipient once, so a
    // delivery is keyed by campaign, occurrence and recipient. One-off campaigns keep the
    // empty occurrence: every delivery recorded before keeps its key, and a plan made before
    // the migration still applies (the serial is unchanged). SQLite cannot change a primary
    // key in place: `deliveries` is copied into a new table.
    "
    ALTER TABLE history ADD COLUMN occurrence TEXT NOT NULL DEFAULT '';
    DROP INDEX history_delivery;
    CREATE INDEX history_delivery ON history (campaign, occurrence, recipient);

    CREATE TABLE deliveries_by_round (
        campaign    TEXT NOT NULL,
        occurrence  TEXT NOT NULL DEFAULT '',
        recipient   TEXT NOT NULL,
        fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
        outcome     TEXT NOT NULL CHECK (outcome = 'in_flight' OR outcome = 'sent'
                                         OR outcome = 'failed' OR outcome = 'unknown'),
        at          TEXT NOT NULL,
        seq         INTEGER NOT NULL REFERENCES history (seq),
        PRIMARY KEY (campaign, occurrence, recipient)
    ) WITHOUT ROWID;
    INSERT INTO deliveries_by_round (campaign, recipient, fingerprint, outcome, at, seq)
        SELECT campaign, recipient, fingerprint, outcome, at, seq FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_by_round RENAME TO deliveries;
    ",
    // 5: attempts by time. Frequency caps and the messaging limit count the messages of the
    // last days from history, attempt by attempt: these read only the attempts (and the
    // failures) of those days, however long history is.
    "
    CREATE INDEX history_sent_at ON history (at) WHERE outcome = 'in_flight';
    CREATE INDEX history_failed_at ON history (at) WHERE outcome = 'failed';
    ",
];

/// The schema version this herald writes: the number of migrations.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema of `conn` up to [`SCHEMA_VERSION`], one migration per transaction.
pub(super) fn migrate(conn: &mut Connection, location: &str) -> Result<(), StateError> {
    if schema_version(conn, location)? == SCHEMA_VERSION {
        return Ok(());
    }
    loop {
        // The version is read again under the write lock: another process may have migrated
        // since.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail(location, "cannot start migrating the state"))?;
        let found = schema_version(&tx, location)?;
        let Some(script) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
            if found > SCHEMA_VERSION {
                return Err(StateError::NewerSchema {
                    location: location.to_owned(),
                    found,
                    known: SCHEMA_VERSION,
                });
            }
            return Ok(());
        };
        let next = found + 1;
        tx.execute_batch(script)
            .and_then(|()| tx.pragma_update(None, "user_version", next))
            .and_then(|()| tx.commit())
            .map_err(fail(
                location,
                format_args!("cannot migrate the state to schema version {next}"),
            ))?;
    }
}

/// herald's tables, which must be plain tables of plain columns.
const TABLES: [&str; 6] = [
    "meta",
    "history",
    "deliveries",
    "applies",
    "lock",
    "test_sends",
];

/// Checks that the state holds only what herald makes: plain tables, no views, triggers or
/// virtual tables, no generated columns. A state file can come with a pull request
/// (`state.path` names a file of the project), and a view or a generated column runs the query
/// it holds every time herald reads: one that never ends would hang a plan.
pub(super) fn check_objects(conn: &Connection, location: &str) -> Result<(), StateError> {
    let doing = "cannot read the state's schema";
    let foreign: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type IN ('view', 'trigger') \
             OR (type = 'table' AND sql LIKE 'CREATE VIRTUAL%')",
            [],
            |row| row.get(0),
        )
        .map_err(fail(location, doing))?;
    let mut generated = 0i64;
    for table in TABLES {
        generated += conn
            .query_row(
                "SELECT count(*) FROM pragma_table_xinfo(?1) WHERE hidden IN (2, 3)",
                [table],
                |row| row.get::<_, i64>(0),
            )
            .map_err(fail(location, doing))?;
    }
    if foreign > 0 || generated > 0 {
        return Err(StateError::Backend {
            location: location.to_owned(),
            message: "this is not a state herald made: it holds views, triggers, virtual tables \
                      or generated columns, which herald never creates"
                .to_owned(),
        });
    }
    Ok(())
}

/// The state's `PRAGMA user_version`.
pub(super) fn schema_version(conn: &Connection, location: &str) -> Result<i64, StateError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(fail(location, "cannot read the state's schema version"))
}
