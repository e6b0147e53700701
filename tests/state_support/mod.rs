//! States to test against, on both backends: a SQLite file in a temporary directory, or a
//! PostgreSQL schema of its own (dropped afterwards) on the server `HERALD_TEST_POSTGRES_URL`
//! names. `.ci/postgres` starts one: `eval "$(.ci/postgres)" && cargo test`.

#![allow(dead_code)]

use herald::fingerprint::Fingerprint;
use herald::state::postgres::PostgresStore;
use herald::state::sqlite::SqliteStore;
use herald::state::{ApplyRecord, Delivery, Outcome, Store};
use jiff::Timestamp;
use tempfile::TempDir;

/// The variable naming the PostgreSQL server tests use.
pub(crate) const POSTGRES_URL_ENV: &str = "HERALD_TEST_POSTGRES_URL";

/// The test server's URL. Never skipped: without a server the PostgreSQL tests fail.
pub(crate) fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_ENV} is not set: the PostgreSQL state tests need a server. Start a \
             throwaway one with `eval \"$(.ci/postgres)\"` (it installs PostgreSQL when missing), \
             or run `.ci/run`"
        )
    })
}

/// One empty state on one backend, and ways to open it.
pub(crate) enum Fixture {
    Sqlite(TempDir),
    Postgres { url: String, schema: String },
}

impl Fixture {
    pub(crate) fn sqlite() -> Fixture {
        Fixture::Sqlite(TempDir::new().unwrap())
    }

    /// A schema no other test uses.
    pub(crate) fn postgres() -> Fixture {
        Fixture::Postgres {
            url: postgres_url(),
            schema: format!("test_{:016x}", fastrand::u64(..)),
        }
    }

    /// Opens the state for writing (another handle each call, like another process).
    pub(crate) fn open(&self) -> Box<dyn Store> {
        match self {
            Fixture::Sqlite(dir) => Box::new(SqliteStore::open(&sqlite_path(dir)).unwrap()),
            Fixture::Postgres { url, schema } => {
                Box::new(PostgresStore::open(url, schema).unwrap())
            }
        }
    }

    /// Opens the state as plan does.
    pub(crate) fn open_read_only(&self) -> Box<dyn Store> {
        match self {
            Fixture::Sqlite(dir) => {
                Box::new(SqliteStore::open_read_only(&sqlite_path(dir)).unwrap())
            }
            Fixture::Postgres { url, schema } => {
                Box::new(PostgresStore::open_read_only(url, schema).unwrap())
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Fixture::Postgres { url, schema } = self
            && let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

pub(crate) fn sqlite_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join(".herald").join("state.db")
}

pub(crate) fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub(crate) fn attempt(
    campaign: &str,
    recipient: &str,
    request: &str,
    outcome: Outcome,
) -> Delivery {
    Delivery {
        campaign: campaign.to_owned(),
        occurrence: None,
        recipient: recipient.to_owned(),
        fingerprint: Fingerprint::of(request.as_bytes()),
        request: request.to_owned(),
        outcome,
        api_code: None,
        detail: None,
        at: at("2026-12-01T03:30:00.123456789Z"),
        apply_id: "20261201T033000Z-4f2a".to_owned(),
    }
}

pub(crate) fn apply(id: &str, started_at: &str) -> ApplyRecord {
    ApplyRecord {
        id: id.to_owned(),
        who: "ana@laptop".to_owned(),
        started_at: at(started_at),
        finished_at: None,
        plan_hash: "abc123".to_owned(),
        sent: 0,
        failed: 0,
        unknown: 0,
    }
}

/// SQL that undoes the SQLite state's migrations 5 (history by time) and 4 (rounds):
/// `deliveries` keyed by campaign and recipient again, no `occurrence` columns and no index on
/// `at`, as states written before them are.
pub(crate) const SQLITE_BEFORE_ROUNDS: &str = "
    DROP INDEX history_sent_at;
    DROP INDEX history_failed_at;
    DROP INDEX history_delivery;
    ALTER TABLE history DROP COLUMN occurrence;
    CREATE INDEX history_delivery ON history (campaign, recipient);
    CREATE TABLE deliveries_v3 (
        campaign    TEXT NOT NULL,
        recipient   TEXT NOT NULL,
        fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
        outcome     TEXT NOT NULL,
        at          TEXT NOT NULL,
        seq         INTEGER NOT NULL REFERENCES history (seq),
        PRIMARY KEY (campaign, recipient)
    ) WITHOUT ROWID;
    INSERT INTO deliveries_v3 SELECT campaign, recipient, fingerprint, outcome, at, seq
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v3 RENAME TO deliveries;
";

/// Everything a state holds that schema version 5 kept, read through the store.
struct Contents {
    attempts: Vec<Delivery>,
    applies: Vec<ApplyRecord>,
    serial: u64,
    lineage: Option<String>,
}

fn contents(store: &dyn Store) -> Contents {
    let mut attempts = Vec::new();
    store
        .every_attempt(&mut |d| {
            attempts.push(d);
            Ok(())
        })
        .unwrap();
    Contents {
        attempts,
        applies: store.applies().unwrap(),
        serial: store.serial().unwrap(),
        lineage: store.lineage().unwrap(),
    }
}

/// The SQL that writes `contents` into an empty state of schema version 5 (`{s}` is where
/// its tables are): history with text times and outcomes, each delivery's latest attempt.
fn version_5_inserts(contents: &Contents, s: &str) -> String {
    let text = |t: &str| format!("'{}'", t.replace('\'', "''"));
    let time = |t: Timestamp| text(&format!("{t:.9}"));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let blob = |b: &[u8], pg: bool| {
        if pg {
            format!("'\\x{}'::bytea", hex(b))
        } else {
            format!("x'{}'", hex(b))
        }
    };
    let pg = !s.is_empty();
    let mut sql = format!(
        "UPDATE {s}meta SET value = {} WHERE key = 'serial';",
        contents.serial
    );
    if let Some(lineage) = &contents.lineage {
        let value = u64::from_str_radix(lineage, 16).unwrap() as i64;
        sql.push_str(&format!(
            "UPDATE {s}meta SET value = {value} WHERE key = 'lineage';"
        ));
    }
    let mut latest = std::collections::BTreeMap::new();
    for (i, d) in contents.attempts.iter().enumerate() {
        let occurrence = d.occurrence.map(|o| format!("{o:.9}")).unwrap_or_default();
        let opt_int = |v: Option<i64>| v.map_or("NULL".to_owned(), |v| v.to_string());
        let opt_text = |v: &Option<String>| v.as_deref().map_or("NULL".to_owned(), text);
        sql.push_str(&format!(
            "INSERT INTO {s}history (campaign, recipient, fingerprint, outcome, api_code, detail,
                 at, apply_id, request, occurrence)
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
            text(&d.campaign),
            text(&d.recipient),
            blob(&d.fingerprint.0, pg),
            text(d.outcome.as_str()),
            opt_int(d.api_code),
            opt_text(&d.detail),
            time(d.at),
            text(&d.apply_id),
            text(&d.request),
            text(&occurrence),
        ));
        latest.insert(
            (d.campaign.clone(), occurrence, d.recipient.clone()),
            (i + 1, d),
        );
    }
    for ((campaign, occurrence, recipient), (seq, d)) in latest {
        sql.push_str(&format!(
            "INSERT INTO {s}deliveries (campaign, recipient, fingerprint, outcome, at, seq,
                 occurrence) VALUES ({}, {}, {}, {}, {}, {seq}, {});",
            text(&campaign),
            text(&recipient),
            blob(&d.fingerprint.0, pg),
            text(d.outcome.as_str()),
            time(d.at),
            text(&occurrence),
        ));
    }
    for a in &contents.applies {
        sql.push_str(&format!(
            "INSERT INTO {s}applies (id, who, started_at, finished_at, plan_hash, sent, failed,
                 unknown) VALUES ({}, {}, {}, {}, {}, {}, {}, {});",
            text(&a.id),
            text(&a.who),
            time(a.started_at),
            a.finished_at.map_or("NULL".to_owned(), time),
            text(&a.plan_hash),
            a.sent,
            a.failed,
            a.unknown,
        ));
    }
    sql
}

/// Writes what the state holds again as a herald of schema version 5 wrote it (history in
/// recording order, times as text), so that the next open for writing migrates it.
pub(crate) fn rewrite_at_version_5(f: &Fixture) {
    match f {
        Fixture::Sqlite(dir) => {
            let path = sqlite_path(dir);
            let held = contents(&SqliteStore::open_read_only(&path).unwrap());
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            SqliteStore::create_at_version(&path, 5).unwrap();
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&version_5_inserts(&held, "")).unwrap();
        }
        Fixture::Postgres { url, schema } => {
            let held = contents(&PostgresStore::open_read_only(url, schema).unwrap());
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .unwrap();
            PostgresStore::create_at_version(url, schema, 5).unwrap();
            client
                .batch_execute(&version_5_inserts(&held, &format!("{schema}.")))
                .unwrap();
        }
    }
}
