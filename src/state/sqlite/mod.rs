//! The SQLite state backend: one file in the project (`.herald/state.db`), so plan and apply
//! need no server, and WAL lets `herald plan` read it while an apply writes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, Params, Row, TransactionBehavior, params, params_from_iter,
};

mod lock;
mod schema;
mod withdraw;

use super::contacts::{Attempts, Row as HistoryRow};
use super::sql::{
    self, Columns, DELIVERY_COLUMNS, corrupt, fail, fingerprint_of, occurrence_text, timestamp_text,
};
use super::{
    ApplyRecord, CampaignTotals, Contact, Delivery, Lock, Outcome, Pruned, Recorded, Round,
    StateError, Store, TestSend,
};
use crate::fingerprint::Fingerprint;
use lock::{lock_path, read_lock};
use schema::{SCHEMA_VERSION, check_objects, migrate, schema_version};

/// How long a statement waits for another process's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in a SQLite database.
///
/// The apply lock is an OS lock on a file beside the database (`state.db.lock`): the kernel
/// releases it when the holder dies, however it dies. Who holds it, and since when, is kept in
/// the `lock` table for messages; a row whose file lock is free belongs to a dead holder and
/// is replaced by the next one.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    location: String,
    /// The lock file; `None` for a state in memory (tests), which no other process can open.
    lock_path: Option<PathBuf>,
    /// The lock file while this store holds its lock.
    held: Option<File>,
    /// Whether the state exists: a missing state read as empty has no lineage.
    exists: bool,
    /// The database file and its identity (device, inode) when it was opened for writing:
    /// writes stop if the path comes to name another file (see [`SqliteStore::in_place`]).
    file: Option<(PathBuf, (u64, u64))>,
    /// SQLite's `data_version` when this store took the lock: it changes only when another
    /// connection commits, which nothing may do under the lock (a file copied over the state
    /// in place, say), so writes stop if it moves.
    data_version: Option<i64>,
}

impl SqliteStore {
    /// Opens the state at `path` for reading and writing, creating it (and its directories)
    /// when missing and migrating it to the current schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StateError> {
        let location = path.display().to_string();
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail(
                &location,
                format_args!("cannot create {}", dir.display()),
            ))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(fail(&location, "cannot open the state"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(fail(&location, "cannot set the busy timeout"))?;
        // WAL lets plan read while apply writes. With WAL, `synchronous = NORMAL` keeps every
        // commit across a crash of the process (a commit is in the WAL file once `record`
        // returns); only an OS crash or power cut can lose the commits since the last
        // checkpoint. In exchange no commit waits for an fsync, and apply commits often;
        // `record` raises it to `FULL` for the commits that must survive a power cut.
        use_wal(&conn, &location)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail(&location, "cannot set synchronous = NORMAL"))?;
        // Up to 64 MiB of pages (the default is 2 MiB): a batch recorded in an audience's
        // order updates pages all over the delivery tables, and pages that fall out of the
        // cache are read, spilled to the WAL and read again within the one transaction.
        conn.pragma_update(None, "cache_size", -65536)
            .map_err(fail(&location, "cannot set the cache size"))?;
        migrate(&mut conn, &location)?;
        check_objects(&conn, &location)?;
        let identity = lock::identity(path).map_err(fail(&location, "cannot read the state"))?;
        Ok(SqliteStore {
            conn,
            location,
            lock_path: Some(lock_path(path)),
            held: None,
            exists: true,
            file: Some((path.to_path_buf(), identity)),
            data_version: None,
        })
    }

    /// Opens the state at `path` for reading only, as `herald plan` does. A missing state is
    /// not created: it reads as empty (serial 0, no deliveries). A state with an older schema
    /// is refused, since migrating it would be a write.
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StateError> {
        let location = path.display().to_string();
        let exists = path
            .try_exists()
            .map_err(fail(&location, "cannot tell whether the state exists"))?;
        if !exists {
            return SqliteStore::empty(location);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(fail(&location, "cannot open the state for reading"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(fail(&location, "cannot set the busy timeout"))?;
        let found = schema_version(&conn, &location)?;
        if found == SCHEMA_VERSION {
            check_objects(&conn, &location)?;
            return Ok(SqliteStore {
                conn,
                location,
                lock_path: Some(lock_path(path)),
                held: None,
                exists: true,
                file: None,
                data_version: None,
            });
        }
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                location,
                found,
                known: SCHEMA_VERSION,
            });
        }
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(fail(&location, "cannot read the state's schema"))?;
        if found == 0 && tables == 0 {
            // An empty file (created, never migrated) holds no state.
            return SqliteStore::empty(location);
        }
        let message = if found == 0 {
            "this is not a herald state (its schema version is 0)".to_owned()
        } else {
            format!(
                "the state has schema version {found}, older than this herald's \
                 {SCHEMA_VERSION}; run a command that writes state (`herald apply`) to migrate it"
            )
        };
        Err(StateError::Backend { location, message })
    }

    /// An empty state in memory, for tests.
    ///
    /// # Panics
    ///
    /// Only if SQLite cannot allocate an in-memory database.
    pub fn in_memory() -> SqliteStore {
        let mut store = SqliteStore::empty(":memory:".to_owned())
            .expect("an in-memory SQLite database with herald's schema opens");
        store.exists = true;
        store
    }

    /// An empty state in memory, shown as `location`.
    fn empty(location: String) -> Result<SqliteStore, StateError> {
        let mut conn = Connection::open_in_memory()
            .map_err(fail(&location, "cannot open an in-memory state"))?;
        migrate(&mut conn, &location)?;
        check_objects(&conn, &location)?;
        Ok(SqliteStore {
            conn,
            location,
            lock_path: None,
            held: None,
            exists: false,
            file: None,
            data_version: None,
        })
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn lineage(&self) -> Result<Option<String>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let value: i64 = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'lineage'")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(fail(&self.location, "cannot read the lineage"))?;
        Ok(Some(sql::lineage_text(value)))
    }

    fn set_lineage(&mut self, lineage: &str) -> Result<(), StateError> {
        let doing = "cannot set the lineage";
        let value = sql::lineage_value(lineage).ok_or_else(|| {
            fail(&self.location, doing)(sql::BadColumn(format!(
                "`{lineage}` is not a state lineage"
            )))
        })?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('lineage', ?1)",
                [value],
            )
            .map_err(fail(&self.location, doing))?;
        Ok(())
    }

    fn serial(&self) -> Result<u64, StateError> {
        let serial: i64 = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'serial'")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(fail(&self.location, "cannot read the serial"))?;
        u64::try_from(serial).map_err(fail(&self.location, "the serial is negative"))
    }

    fn recorded(
        &self,
        round: Round<'_>,
        visit: &mut dyn FnMut(&str, Recorded),
    ) -> Result<(), StateError> {
        let campaign = round.campaign;
        let doing = format!("cannot read the deliveries of campaign {round}");
        let failed = || fail(&self.location, &doing);
        let mut stmt = self
            .conn
            .prepare_cached(
                // In key order (the primary key's), which plan's index relies on to skip sorting.
                "SELECT recipient, fingerprint, outcome FROM deliveries
                 WHERE campaign = ?1 AND occurrence = ?2 ORDER BY recipient",
            )
            .map_err(failed())?;
        let occurrence = occurrence_text(round.occurrence);
        let mut rows = stmt.query([campaign, &occurrence]).map_err(failed())?;
        while let Some(row) = rows.next().map_err(failed())? {
            let recipient = row.get_ref(0).map_err(failed())?.as_str().map_err(|e| {
                let why = sql::BadColumn(format!("its recipient is not text: {e}"));
                corrupt(&self.location, campaign, "?", why)
            })?;
            let read = row.fingerprint(1).and_then(|fingerprint| {
                Ok(Recorded {
                    fingerprint,
                    outcome: row.outcome(2)?,
                })
            });
            let recorded = read.map_err(|why| corrupt(&self.location, campaign, recipient, why))?;
            visit(recipient, recorded);
        }
        Ok(())
    }

    fn contacts_since(
        &self,
        since: jiff::Timestamp,
        visit: &mut dyn FnMut(Contact<'_>),
    ) -> Result<(), StateError> {
        let doing = "cannot read the deliveries of the last days";
        let failed = || fail(&self.location, doing);
        let since = timestamp_text(since);
        let mut attempts = Attempts::new(visit);
        for (i, query) in sql::CONTACTS_SQL.iter().enumerate() {
            let mut stmt = self
                .conn
                .prepare_cached(&query.replace("{s}", ""))
                .map_err(failed())?;
            let mut rows = stmt.query([&since]).map_err(failed())?;
            while let Some(row) = rows.next().map_err(failed())? {
                let text = |i: usize| {
                    row.get_ref(i)
                        .ok()
                        .and_then(|v| v.as_str().ok())
                        .ok_or_else(|| sql::BadColumn(format!("column {i} is not text")))
                };
                let read = (|| {
                    let row = HistoryRow {
                        campaign: text(0)?,
                        occurrence: text(1)?,
                        recipient: text(2)?,
                        at: text(3)?,
                        request: text(4).ok(),
                    };
                    if i == 0 {
                        attempts.failed(row)
                    } else {
                        attempts.started(row)
                    }
                })();
                read.map_err(|why| corrupt(&self.location, "?", "?", why))?;
            }
        }
        attempts.finish();
        Ok(())
    }

    fn delivery(&self, round: Round<'_>, recipient: &str) -> Result<Option<Delivery>, StateError> {
        let doing = format!("cannot read the delivery of campaign {round} to {recipient}");
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM history WHERE seq =
                 (SELECT seq FROM deliveries
                  WHERE campaign = ?1 AND occurrence = ?2 AND recipient = ?3)"
        );
        let (conn, location) = (&self.conn, self.location.as_str());
        let read = |row: &Row<'_>| sql::delivery(row, location);
        let occurrence = occurrence_text(round.occurrence);
        let key = [round.campaign, &occurrence, recipient];
        Ok(query_rows(conn, location, &doing, &sql, key, read)?.pop())
    }

    fn record(&mut self, batch: &[Delivery]) -> Result<(), StateError> {
        // Nothing written, nothing for a plan to miss: the serial stays.
        if batch.is_empty() {
            return Ok(());
        }
        self.in_place()?;
        let location = self.location.as_str();
        let doing = match batch.len() {
            1 => "cannot record 1 delivery".to_owned(),
            n => format!("cannot record {n} deliveries"),
        };
        let failed = || fail(location, &doing);
        // Intents are written before their requests leave: they must survive a power cut,
        // or a request sent could be sent again. `FULL` syncs the WAL at this commit; other
        // commits (outcomes, settlements) only need to survive herald being killed, which
        // `NORMAL` gives without waiting for the disk.
        let durable = batch.iter().any(|d| d.outcome == Outcome::InFlight);
        let synchronous = if durable { "FULL" } else { "NORMAL" };
        self.conn
            .pragma_update(None, "synchronous", synchronous)
            .map_err(failed())?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO deliveries
                         (campaign, recipient, fingerprint, outcome, at, seq, occurrence)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (campaign, occurrence, recipient) DO UPDATE SET
                         fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                         at = excluded.at, seq = excluded.seq",
                )
                .map_err(failed())?;
            let mut append = tx
                .prepare_cached(&format!(
                    "INSERT INTO history ({DELIVERY_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))
                .map_err(failed())?;
            for d in batch {
                let at = timestamp_text(d.at);
                let occurrence = occurrence_text(d.occurrence);
                let fingerprint = &d.fingerprint.0[..];
                let outcome = d.outcome.as_str();
                append
                    .insert(params![
                        d.campaign,
                        d.recipient,
                        fingerprint,
                        outcome,
                        d.api_code,
                        d.detail,
                        at,
                        d.apply_id,
                        d.request,
                        occurrence,
                    ])
                    .and_then(|seq| {
                        upsert.execute(params![
                            d.campaign,
                            d.recipient,
                            fingerprint,
                            outcome,
                            at,
                            seq,
                            occurrence
                        ])
                    })
                    .map_err(fail(
                        location,
                        format_args!(
                            "cannot record the delivery of campaign {} to {}",
                            Round::of(&d.campaign, d.occurrence),
                            d.recipient
                        ),
                    ))?;
            }
        }
        tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
            .map_err(failed())?;
        tx.commit().map_err(failed())
    }

    fn withdraw(
        &mut self,
        round: Round<'_>,
        recipients: &[String],
        apply_id: &str,
    ) -> Result<(), StateError> {
        self.in_place()?;
        self.withdraw_intents(round, recipients, apply_id)
    }

    fn history(
        &self,
        round: Round<'_>,
        recipient: Option<&str>,
    ) -> Result<Vec<Delivery>, StateError> {
        let (to, and_recipient) = match recipient {
            Some(recipient) => (format!(" to {recipient}"), "AND recipient = ?3"),
            None => (String::new(), ""),
        };
        let doing = format!("cannot read the history of campaign {round}{to}");
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM history
             WHERE campaign = ?1 AND occurrence = ?2 {and_recipient} ORDER BY seq"
        );
        let occurrence = occurrence_text(round.occurrence);
        let values = params_from_iter(
            [round.campaign, occurrence.as_str()]
                .into_iter()
                .chain(recipient),
        );
        let read = |row: &Row<'_>| sql::delivery(row, &self.location);
        query_rows(&self.conn, &self.location, &doing, &sql, values, read)
    }

    fn every_attempt(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let doing = "cannot read the history";
        let failed = || fail(&self.location, doing);
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM history ORDER BY seq");
        let mut stmt = self.conn.prepare(&sql).map_err(failed())?;
        let mut rows = stmt.query([]).map_err(failed())?;
        while let Some(row) = rows.next().map_err(failed())? {
            visit(sql::delivery(row, &self.location)?)?;
        }
        Ok(())
    }

    fn set_serial(&mut self, serial: u64) -> Result<(), StateError> {
        let doing = "cannot set the serial";
        let serial = i64::try_from(serial).map_err(fail(&self.location, doing))?;
        let failed = || fail(&self.location, doing);
        self.conn
            .execute("UPDATE meta SET value = ?1 WHERE key = 'serial'", [serial])
            .map_err(failed())?;
        Ok(())
    }

    fn latest_occurrence(&self, campaign: &str) -> Result<Option<jiff::Timestamp>, StateError> {
        let doing = format!("cannot read the occurrences of campaign {campaign}");
        // The primary key's prefix: one index seek, however many deliveries there are.
        let sql = "SELECT max(occurrence) FROM deliveries WHERE campaign = ?1 AND occurrence <> ''";
        let read = |row: &Row<'_>| {
            let text: Option<String> = row.get(0).map_err(fail(&self.location, &doing))?;
            text.map(|t| sql::parse_timestamp(&t))
                .transpose()
                .map_err(fail(&self.location, &doing))
        };
        Ok(
            query_rows(&self.conn, &self.location, &doing, sql, [campaign], read)?
                .pop()
                .flatten(),
        )
    }

    fn campaigns(&self) -> Result<Vec<CampaignTotals>, StateError> {
        let doing = "cannot list the campaigns in state";
        let sql = sql::CAMPAIGN_TOTALS_SQL.replace("{s}", "");
        let read = |row: &Row<'_>| sql::campaign_totals(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }

    fn lock(&mut self, holder: &str) -> Result<Lock, StateError> {
        self.take_lock(holder)
    }

    fn unlock(&mut self, id: &str) -> Result<(), StateError> {
        self.release_lock(id)
    }

    fn current_lock(&self) -> Result<Option<Lock>, StateError> {
        read_lock(&self.conn, &self.location)
    }

    fn log_apply(&mut self, apply: &ApplyRecord) -> Result<(), StateError> {
        let doing = format!("cannot log apply {}", apply.id);
        let failed = || fail(&self.location, &doing);
        let count = |n: u64| i64::try_from(n).map_err(fail(&self.location, &doing));
        let counts = [
            count(apply.sent)?,
            count(apply.failed)?,
            count(apply.unknown)?,
        ];
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO applies
                     (id, who, started_at, finished_at, plan_hash, sent, failed, unknown)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    apply.id,
                    apply.who,
                    timestamp_text(apply.started_at),
                    apply.finished_at.map(timestamp_text),
                    apply.plan_hash,
                    counts[0],
                    counts[1],
                    counts[2],
                ])
            })
            .map_err(failed())?;
        Ok(())
    }

    fn applies(&self) -> Result<Vec<ApplyRecord>, StateError> {
        let doing = "cannot read the applies";
        let sql = format!(
            "SELECT {} FROM applies ORDER BY started_at, id",
            sql::APPLY_COLUMNS
        );
        let read = |row: &Row<'_>| sql::apply_record(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }

    fn log_test_send(&mut self, send: &TestSend) -> Result<(), StateError> {
        // Under the lock like every write: a commit by another connection would stop an apply.
        self.in_place()?;
        let doing = format!("cannot log test message {}", send.id);
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO test_sends ({})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                sql::TEST_SEND_COLUMNS
            ))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    send.id,
                    send.who,
                    timestamp_text(send.at),
                    send.campaign,
                    send.rendered_for,
                    send.phone,
                    send.outcome.as_str(),
                    send.api_code,
                    send.detail,
                ])
            })
            .map_err(fail(&self.location, &doing))?;
        Ok(())
    }

    fn test_sends(&self) -> Result<Vec<TestSend>, StateError> {
        let doing = "cannot read the test messages";
        let sql = format!(
            "SELECT {} FROM test_sends ORDER BY at, id",
            sql::TEST_SEND_COLUMNS
        );
        let read = |row: &Row<'_>| sql::test_send(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }

    fn prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        let doing = "cannot count the requests to prune";
        let sql = sql::prunable_sql().replace("{s}", "");
        let read = |row: &Row<'_>| sql::pruned(row).map_err(fail(&self.location, doing));
        let before = [timestamp_text(before)];
        let found = query_rows(&self.conn, &self.location, doing, &sql, before, read)?;
        Ok(found.into_iter().next().unwrap_or_default())
    }

    fn prune(&mut self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        self.in_place()?;
        let location = self.location.as_str();
        let doing = "cannot prune the requests of settled deliveries";
        let failed = || fail(location, doing);
        let before = timestamp_text(before);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        let counted = tx
            .query_row(&sql::prunable_sql().replace("{s}", ""), [&before], |row| {
                Ok(sql::pruned(row))
            })
            .map_err(failed())?
            .map_err(fail(location, doing))?;
        let dropped = tx
            .execute(&sql::prune_sql().replace("{s}", ""), [&before])
            .map_err(failed())?;
        if dropped > 0 {
            tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
                .map_err(failed())?;
        }
        tx.commit().map_err(failed())?;
        Ok(Pruned {
            requests: dropped as u64,
            ..counted
        })
    }

    fn vacuum(&mut self) -> Result<(), StateError> {
        self.in_place()?;
        self.conn
            .execute_batch("VACUUM")
            .map_err(fail(&self.location, "cannot vacuum the state"))
    }
}

/// Switches `conn`'s database to WAL. Two processes creating the same state can both need the
/// exclusive lock for it, and SQLite then fails one at once rather than wait: it retries.
fn use_wal(conn: &Connection, location: &str) -> Result<(), StateError> {
    let started = Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())) {
            Err(err)
                if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result.map_err(fail(location, "cannot switch the state to WAL")),
        }
    }
}

/// Runs a query and reads each row with `read`; a failing query is reported as `doing`.
fn query_rows<T>(
    conn: &Connection,
    location: &str,
    doing: &str,
    sql: &str,
    params: impl Params,
    mut read: impl FnMut(&Row<'_>) -> Result<T, StateError>,
) -> Result<Vec<T>, StateError> {
    let failed = || fail(location, doing);
    let mut stmt = conn.prepare_cached(sql).map_err(failed())?;
    let mut rows = stmt.query(params).map_err(failed())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(failed())? {
        out.push(read(row)?);
    }
    Ok(out)
}

impl Columns for Row<'_> {
    fn text(&self, i: usize) -> sql::Column<String> {
        self.get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn optional_text(&self, i: usize) -> sql::Column<Option<String>> {
        self.get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn int(&self, i: usize) -> sql::Column<i64> {
        self.get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn optional_int(&self, i: usize) -> sql::Column<Option<i64>> {
        self.get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn fingerprint(&self, i: usize) -> sql::Column<Fingerprint> {
        match self.get_ref(i).map_err(|e| sql::BadColumn(e.to_string()))? {
            ValueRef::Blob(bytes) => fingerprint_of(bytes),
            other => Err(sql::BadColumn(format!(
                "its fingerprint is {}, not a blob",
                other.data_type()
            ))),
        }
    }
}
