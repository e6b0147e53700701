//! The SQLite state's schema: the migrations that make it, the version a state is at, and the
//! check that a state holds nothing herald did not make.

use rusqlite::{Connection, TransactionBehavior};

use super::super::StateError;
use super::super::layout::Ids;
use super::super::sql::{self, fail};
use super::record::{WriteError, Writer};

/// One migration: a script, or a script, a conversion in Rust, and a script.
enum Migration {
    Sql(&'static str),
    Convert {
        before: &'static str,
        convert: fn(&Connection, &str) -> Result<(), StateError>,
        after: &'static str,
    },
}

/// The schema, one migration per version: the state's `PRAGMA user_version` is the number of
/// migrations applied. Append new ones; never edit a released one.
const MIGRATIONS: &[Migration] = &[
    // 1: history (every attempt), deliveries (the latest attempt of each), applies, the lock,
    // the serial. A request (most of an attempt's bytes) is stored once, in history;
    // `deliveries` points at its latest attempt there and keeps only what plan and
    // `state list` scan: a million of them are ~120 MB to read, not ~1 GB.
    // The outcome checks are not `IN (...)`: SQLite would build a table of the list for every
    // insert, which made recording twice as slow.
    Migration::Sql(
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
    ),
    // 2: the lineage, a random number that tells this state from any other with the same
    // serial (a fresh copy, a restored backup), recorded in every plan.
    Migration::Sql("INSERT INTO meta (key, value) VALUES ('lineage', random());"),
    // 3: test messages (`herald send`), logged beside the applies and never deliveries: no
    // campaign's deliveries, nor the serial, change when one is sent.
    Migration::Sql(
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
    ),
    // 4: rounds. A recurring campaign sends each occurrence to every recipient once, so a
    // delivery is keyed by campaign, occurrence and recipient. One-off campaigns keep the
    // empty occurrence: every delivery recorded before keeps its key, and a plan made before
    // the migration still applies (the serial is unchanged). SQLite cannot change a primary
    // key in place: `deliveries` is copied into a new table.
    Migration::Sql(
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
    ),
    // 5: attempts by time. Frequency caps and the messaging limit count the messages of the
    // last days from history, attempt by attempt: these read only the attempts (and the
    // failures) of those days, however long history is.
    Migration::Sql(
        "
    CREATE INDEX history_sent_at ON history (at) WHERE outcome = 'in_flight';
    CREATE INDEX history_failed_at ON history (at) WHERE outcome = 'failed';
    ",
    ),
    // 6: the compact layout (`crate::state::layout`): rounds and runs by id, times as
    // integers, each request once per delivery and encoded against its round's skeleton,
    // outcomes as small rows naming their request, each delivery's rows chained by `prev`
    // (no index on history by delivery); the erased deliveries' hashes and the log of
    // operations. History is converted row by row in recording order, as it was recorded.
    Migration::Convert {
        before: "
    ALTER TABLE history RENAME TO history_v5;
    ALTER TABLE deliveries RENAME TO deliveries_v5;
    DROP INDEX history_delivery;
    DROP INDEX history_sent_at;
    DROP INDEX history_failed_at;

    CREATE TABLE rounds (
        id         INTEGER PRIMARY KEY,
        campaign   TEXT NOT NULL,
        occurrence TEXT NOT NULL,
        UNIQUE (campaign, occurrence)
    );
    CREATE TABLE runs (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE skeletons (
        id      INTEGER PRIMARY KEY,
        round   INTEGER NOT NULL,
        request BLOB NOT NULL
    );
    CREATE TABLE requests (
        id          INTEGER PRIMARY KEY,
        round       INTEGER NOT NULL,
        recipient   TEXT NOT NULL,
        fingerprint BLOB CHECK (fingerprint IS NULL OR length(fingerprint) = 32),
        body        BLOB
    );
    CREATE TABLE attempts (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        request  INTEGER NOT NULL,
        prev     INTEGER,
        outcome  INTEGER NOT NULL CHECK (outcome BETWEEN 0 AND 3),
        at       INTEGER NOT NULL,
        run      INTEGER NOT NULL,
        api_code INTEGER,
        detail   TEXT,
        pruned   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE deliveries (
        round       INTEGER NOT NULL,
        recipient   TEXT NOT NULL,
        fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
        outcome     INTEGER NOT NULL CHECK (outcome BETWEEN 0 AND 3),
        at          INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        PRIMARY KEY (round, recipient)
    ) WITHOUT ROWID;
    CREATE TABLE erased (
        round   INTEGER NOT NULL,
        hash    BLOB NOT NULL,
        PRIMARY KEY (round, hash)
    ) WITHOUT ROWID;
    CREATE TABLE operations (
        id     INTEGER PRIMARY KEY,
        at     TEXT NOT NULL,
        who    TEXT NOT NULL,
        what   TEXT NOT NULL,
        detail TEXT NOT NULL,
        rows   INTEGER NOT NULL
    );
    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    ",
        convert: convert_history,
        after: "
    DROP TABLE deliveries_v5;
    DROP TABLE history_v5;
    CREATE INDEX attempts_sent_at ON attempts (at) WHERE outcome = 0;
    CREATE INDEX attempts_failed_at ON attempts (at) WHERE outcome = 2;
    ",
    },
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
        let failed = || {
            fail(
                location,
                format!("cannot migrate the state to schema version {next}"),
            )
        };
        match script {
            Migration::Sql(script) => tx.execute_batch(script).map_err(failed())?,
            Migration::Convert {
                before,
                convert,
                after,
            } => {
                tx.execute_batch(before).map_err(failed())?;
                convert(&tx, location)?;
                tx.execute_batch(after).map_err(failed())?;
            }
        }
        tx.pragma_update(None, "user_version", next)
            .and_then(|()| tx.commit())
            .map_err(failed())?;
    }
}

/// Creates a state at `path` with the schema of an older `version` (up to 5), for tests of
/// migrations: what a herald of then made.
pub(super) fn create_at_version(path: &std::path::Path, version: i64) -> Result<(), StateError> {
    let location = path.display().to_string();
    let conn = Connection::open(path).map_err(fail(&location, "cannot create the state"))?;
    let scripts = MIGRATIONS
        .iter()
        .take(usize::try_from(version).unwrap_or(0));
    for (i, migration) in scripts.enumerate() {
        let Migration::Sql(script) = migration else {
            return Err(fail(&location, "cannot create the state")(sql::BadColumn(
                format!(
                    "schema version {} converts data: only older ones can be made",
                    i + 1
                ),
            )));
        };
        conn.execute_batch(script)
            .map_err(fail(&location, "cannot create the state"))?;
    }
    conn.pragma_update(None, "user_version", version)
        .map_err(fail(&location, "cannot create the state"))
}

/// herald's tables, which must be plain tables of plain columns.
const TABLES: [&str; 13] = [
    "meta",
    "rounds",
    "runs",
    "skeletons",
    "requests",
    "attempts",
    "deliveries",
    "erased",
    "operations",
    "secrets",
    "applies",
    "lock",
    "test_sends",
];

/// Migration 6's conversion: every attempt of the old `history`, in recording order, recorded
/// again in the compact layout (which rebuilds `deliveries`: each delivery's latest row).
fn convert_history(conn: &Connection, location: &str) -> Result<(), StateError> {
    let doing = "cannot migrate the state to schema version 6";
    let failed = || fail(location, doing);
    let mut ids = Ids::default();
    let mut writer = Writer {
        conn,
        ids: &mut ids,
        location,
    };
    let sql = format!(
        "SELECT {} FROM history_v5 ORDER BY seq",
        sql::DELIVERY_COLUMNS
    );
    let mut stmt = conn.prepare(&sql).map_err(failed())?;
    let mut rows = stmt.query([]).map_err(failed())?;
    while let Some(row) = rows.next().map_err(failed())? {
        let attempt = sql::delivery(row, location)?;
        writer.append(&attempt).map_err(|e| match e {
            WriteError::State(e) => e,
            WriteError::Sql(e) => failed()(e),
        })?;
    }
    Ok(())
}

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
