//! The SQLite state backend: one file in the project (`.herald/state.db`), so plan and apply
//! need no server, and WAL lets `herald plan` read it while an apply writes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Params, Row, TransactionBehavior};

mod erase;
mod lock;
mod logs;
mod prune;
mod read;
mod record;
mod schema;
mod withdraw;

use super::layout::Ids;
use super::sql::{self, Columns, fail, fingerprint_of};
use super::{
    ApplyRecord, CampaignTotals, Contact, Delivery, ErasedRecords, Erasure, Erasures, Lock,
    Operation, Outcome, Pruned, Recorded, Round, StateError, Store, TestSend,
};
use crate::fingerprint::Fingerprint;
use lock::lock_path;
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
    /// Ids of rounds, runs and skeletons seen: reads take `&self`.
    ids: RefCell<Ids>,
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
            ids: RefCell::default(),
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
                ids: RefCell::default(),
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

    /// Creates a state at `path` with the schema of an older `version` (up to 5), empty, as a
    /// herald of then made it: for tests of migrations.
    #[doc(hidden)]
    pub fn create_at_version(path: &Path, version: i64) -> Result<(), StateError> {
        schema::create_at_version(path, version)
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
            ids: RefCell::default(),
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
        self.read_recorded(round, visit)
    }

    fn contacts_since(
        &self,
        since: jiff::Timestamp,
        visit: &mut dyn FnMut(Contact<'_>),
    ) -> Result<(), StateError> {
        self.read_contacts(since, visit)
    }

    fn delivery(&self, round: Round<'_>, recipient: &str) -> Result<Option<Delivery>, StateError> {
        self.read_delivery(round, recipient)
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
        let ids = self.ids.get_mut();
        let written = (|| {
            let mut writer = record::Writer {
                conn: &tx,
                ids,
                location,
            };
            for d in batch {
                writer.append(d).map_err(|e| match e {
                    record::WriteError::State(e) => e,
                    record::WriteError::Sql(e) => fail(
                        location,
                        format_args!(
                            "cannot record the delivery of campaign {} to {}",
                            Round::of(&d.campaign, d.occurrence),
                            d.recipient
                        ),
                    )(e),
                })?;
            }
            tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
                .map_err(failed())?;
            tx.commit().map_err(failed())
        })();
        if written.is_err() {
            // What the transaction wrote is gone: so are the ids it made.
            *self.ids.get_mut() = Ids::default();
        }
        written
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
        self.read_history(round, recipient)
    }

    fn every_attempt(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.visit_attempts(visit)
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
        self.read_latest_occurrence(campaign)
    }

    fn campaigns(&self) -> Result<Vec<CampaignTotals>, StateError> {
        self.read_campaigns()
    }

    fn lock(&mut self, holder: &str) -> Result<Lock, StateError> {
        self.take_lock(holder)
    }

    fn unlock(&mut self, id: &str) -> Result<(), StateError> {
        self.release_lock(id)
    }

    fn current_lock(&self) -> Result<Option<Lock>, StateError> {
        lock::read_lock(&self.conn, &self.location)
    }

    fn log_apply(&mut self, apply: &ApplyRecord) -> Result<(), StateError> {
        self.insert_apply(apply)
    }

    fn applies(&self) -> Result<Vec<ApplyRecord>, StateError> {
        self.read_applies()
    }

    fn log_test_send(&mut self, send: &TestSend) -> Result<(), StateError> {
        // Under the lock like every write: a commit by another connection would stop an apply.
        self.in_place()?;
        self.insert_test_send(send)
    }

    fn test_sends(&self) -> Result<Vec<TestSend>, StateError> {
        self.read_test_sends()
    }

    fn log_operation(&mut self, operation: &Operation) -> Result<(), StateError> {
        self.insert_operation(operation)
    }

    fn operations(&self) -> Result<Vec<Operation>, StateError> {
        self.read_operations()
    }

    fn prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        self.count_prunable(before)
    }

    fn prune(&mut self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        self.in_place()?;
        self.prune_requests(before)
    }

    fn erasable(&self, phone: &str) -> Result<Erasure, StateError> {
        self.count_erasable(phone)
    }

    fn erase(&mut self, phone: &str) -> Result<Erasure, StateError> {
        self.in_place()?;
        self.erase_phone(phone)
    }

    fn erasures(&self, round: Round<'_>) -> Result<Option<Erasures>, StateError> {
        self.read_erasures(round)
    }

    fn erased_records(&self) -> Result<ErasedRecords, StateError> {
        self.read_all_erased()
    }

    fn restore_erased(&mut self, records: &ErasedRecords) -> Result<(), StateError> {
        self.write_all_erased(records)
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

    fn optional_blob(&self, i: usize) -> sql::Column<Option<Vec<u8>>> {
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
