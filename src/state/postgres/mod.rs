//! The PostgreSQL state backend, for teams whose applies run on throwaway CI runners: the same
//! semantics as [`super::sqlite`], in a schema of their own (`state.schema`, default
//! `herald`), so several projects share one database without meeting. Since schema 7 each
//! delivery is one row holding its requests and history ([`packed`]), where SQLite keeps a row
//! per request and per attempt: a PostgreSQL row costs about 30 bytes before any data.
//!
//! The apply lock is a session-level advisory lock, keyed by the schema: PostgreSQL releases
//! it when the holder's connection ends, so a runner that dies never leaves a project locked.
//! Who holds it, and since when, is kept in the `lock` table for messages; a row whose
//! advisory lock is free belongs to a dead apply and is replaced by the next one.
//!
//! Times are stored as nanoseconds (occurrences and the logs' times as text in the SQLite
//! format, RFC 3339 with nine fractional digits), so that state moves between backends without
//! losing a nanosecond.

use std::cell::RefCell;
use std::fmt;

use postgres::{Client, Row};

use super::layout::Ids;
use super::sql::{self, Columns, fail, fingerprint_of};
use super::{
    ApplyRecord, CampaignTotals, Contact, Delivery, ErasedRecords, Erasure, Erasures, Lock,
    Operation, Outcome, Pruned, Recorded, Round, StateError, Store, TestSend,
};
use crate::fingerprint::Fingerprint;
use migrations::{MIGRATIONS, SCHEMA_VERSION, V6_BEFORE, V7_BEFORE, schema_version};

mod erase;
mod grant;
mod lock;
mod logs;
mod migrations;
mod packed;
mod prune;
mod read;
mod record;
mod tls;
mod upgrade;
mod v6;
mod withdraw;

/// A [`Store`] in a PostgreSQL schema.
pub struct PostgresStore {
    /// Reads take `&self` in [`Store`]; the client needs `&mut` for every query.
    client: RefCell<Client>,
    /// The schema's name, quoted for SQL.
    schema: String,
    /// Where the state is, for messages: host, port, database and schema, no credentials.
    location: String,
    /// The advisory lock key of this schema's apply lock.
    lock_key: i64,
    /// Whether the schema has herald's tables; a reader of a state never written sees it empty.
    exists: bool,
    /// Whether this session holds the advisory lock.
    holding: bool,
    /// Ids of rounds, runs and skeletons seen: reads take `&self`.
    ids: RefCell<Ids>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` and opens the state in `schema` for reading and writing, creating
    /// and migrating it as needed.
    pub fn open(url: &str, schema: &str) -> Result<PostgresStore, StateError> {
        let mut store = PostgresStore::connect(url, schema)?;
        store.migrate(SCHEMA_VERSION)?;
        store.exists = true;
        Ok(store)
    }

    /// Creates or migrates the state in `schema` up to `version` only (at least 6), as a
    /// herald of then left it: for tests of migrations.
    #[doc(hidden)]
    pub fn migrate_to(url: &str, schema: &str, version: i64) -> Result<(), StateError> {
        let mut store = PostgresStore::connect(url, schema)?;
        store.migrate(version.clamp(6, SCHEMA_VERSION))
    }

    /// Connects to `url` and opens the state in `schema` for reading only: nothing is created,
    /// and a schema without herald's tables reads as an empty state.
    pub fn open_read_only(url: &str, schema: &str) -> Result<PostgresStore, StateError> {
        let mut store = PostgresStore::connect(url, schema)?;
        let found = store.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                location: store.location,
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found > 0 && found < SCHEMA_VERSION {
            let message = format!(
                "the state has schema version {found}, older than this herald's \
                 {SCHEMA_VERSION}; run a command that writes state (`herald apply`) to migrate it"
            );
            return Err(StateError::Backend {
                location: store.location,
                message,
            });
        }
        store.exists = found == SCHEMA_VERSION;
        Ok(store)
    }

    fn connect(url: &str, schema: &str) -> Result<PostgresStore, StateError> {
        let target = tls::parse(url).map_err(|e| StateError::Backend {
            location: "PostgreSQL".to_owned(),
            message: e.to_string(),
        })?;
        let location = describe(&target.config, schema);
        if !is_identifier(schema) {
            return Err(StateError::Backend {
                location,
                message: format!(
                    "`{schema}` cannot be a schema name: use lowercase letters, digits and `_`, \
                     starting with a letter or `_` (at most 63)"
                ),
            });
        }
        let client = tls::connect(&target).map_err(fail(&location, "cannot connect"))?;
        Ok(PostgresStore {
            client: RefCell::new(client),
            schema: format!("\"{schema}\""),
            lock_key: lock_key(schema),
            location,
            exists: false,
            holding: false,
            ids: RefCell::default(),
        })
    }

    /// `sql` with `{s}` replaced by the quoted schema.
    fn sql(&self, sql: &str) -> String {
        sql.replace("{s}", &self.schema)
    }

    /// The schema's version: 0 when it has no herald tables.
    fn schema_version(&mut self) -> Result<i64, StateError> {
        let meta = format!("{}.meta", self.schema);
        let client = self.client.get_mut();
        let found = schema_version(client, &meta);
        found.map_err(fail(
            &self.location,
            "cannot read the state's schema version",
        ))
    }

    /// Brings the schema up to `target` ([`SCHEMA_VERSION`] but in tests), in one transaction
    /// holding a transaction advisory lock, so that runners starting at once migrate it once.
    fn migrate(&mut self, target: i64) -> Result<(), StateError> {
        let location = self.location.clone();
        let failed = || fail(&location, "cannot migrate the state");
        let meta = format!("{}.meta", self.schema);
        let create = self.sql("CREATE SCHEMA IF NOT EXISTS {s}");
        let scripts: Vec<String> = MIGRATIONS.iter().map(|m| self.sql(m)).collect();
        let v6_before = self.sql(V6_BEFORE);
        let v7_before = self.sql(V7_BEFORE);
        let prefix = format!("{}.", self.schema);
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&self.lock_key.wrapping_add(1)],
        )
        .map_err(failed())?;
        tx.batch_execute(&create).map_err(failed())?;
        let found = schema_version(&mut tx, &meta).map_err(failed())?;
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                location,
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found >= target {
            return tx.commit().map_err(failed());
        }
        let from = usize::try_from(found).unwrap_or(0);
        let to = usize::try_from(target).unwrap_or(0);
        for (i, script) in scripts.iter().enumerate().take(to).skip(from) {
            // Migrations 6 and 7 convert the rows in Rust between their two scripts.
            if i == 5 {
                tx.batch_execute(&v6_before).map_err(failed())?;
                upgrade::convert_history(&mut tx, &prefix, &location)?;
            }
            if i == 6 {
                tx.batch_execute(&v7_before).map_err(failed())?;
                upgrade::convert_v6(&mut tx, &prefix, &location)?;
            }
            tx.batch_execute(script).map_err(failed())?;
        }
        tx.execute(
            &format!(
                "INSERT INTO {meta} (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            &[&target],
        )
        .map_err(failed())?;
        tx.commit().map_err(failed())
    }

    /// Creates the state in `schema` with the schema of an older `version` (up to 5), empty,
    /// as a herald of then made it: for tests of migrations.
    #[doc(hidden)]
    pub fn create_at_version(url: &str, schema: &str, version: i64) -> Result<(), StateError> {
        let mut store = PostgresStore::connect(url, schema)?;
        let location = store.location.clone();
        let failed = || fail(&location, "cannot create the state");
        let mut script = store.sql("CREATE SCHEMA IF NOT EXISTS {s};");
        for m in MIGRATIONS
            .iter()
            .take(usize::try_from(version).unwrap_or(0).min(5))
        {
            script.push_str(&store.sql(m));
        }
        script.push_str(&store.sql(&format!(
            "INSERT INTO {{s}}.meta (key, value) VALUES ('schema_version', {version});"
        )));
        store
            .client
            .get_mut()
            .batch_execute(&script)
            .map_err(failed())
    }

    /// Runs a query with the client, reporting a failure as `doing`.
    fn query(
        &self,
        doing: &str,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StateError> {
        let sql = self.sql(sql);
        self.client
            .borrow_mut()
            .query(&sql, params)
            .map_err(fail(&self.location, doing))
    }
}

impl Store for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn lineage(&self) -> Result<Option<String>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let doing = "cannot read the lineage";
        let rows = self.query(
            doing,
            "SELECT value FROM {s}.meta WHERE key = 'lineage'",
            &[],
        )?;
        let value: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(fail(&self.location, doing))?,
            None => {
                return Err(StateError::Backend {
                    location: self.location.clone(),
                    message: "the state has no lineage".to_owned(),
                });
            }
        };
        Ok(Some(sql::lineage_text(value)))
    }

    fn set_lineage(&mut self, lineage: &str) -> Result<(), StateError> {
        let doing = "cannot set the lineage";
        let value = sql::lineage_value(lineage).ok_or_else(|| {
            fail(&self.location, doing)(sql::BadColumn(format!(
                "`{lineage}` is not a state lineage"
            )))
        })?;
        let sql = "INSERT INTO {s}.meta (key, value) VALUES ('lineage', $1)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        self.query(doing, sql, &[&value]).map(drop)
    }

    fn serial(&self) -> Result<u64, StateError> {
        if !self.exists {
            return Ok(0);
        }
        let doing = "cannot read the serial";
        let rows = self.query(
            doing,
            "SELECT value FROM {s}.meta WHERE key = 'serial'",
            &[],
        )?;
        let serial = match rows.first() {
            Some(row) => row.int(0).map_err(fail(&self.location, doing))?,
            None => 0,
        };
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

    fn withdraw(
        &mut self,
        round: Round<'_>,
        recipients: &[String],
        apply_id: &str,
    ) -> Result<(), StateError> {
        self.withdraw_intents(round, recipients, apply_id)
    }

    fn record(&mut self, batch: &[Delivery]) -> Result<(), StateError> {
        if batch.is_empty() {
            return Ok(());
        }
        let doing = match batch.len() {
            1 => "cannot record 1 delivery".to_owned(),
            n => format!("cannot record {n} deliveries"),
        };
        let location = self.location.clone();
        let failed = || fail(&location, &doing);
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        let prefix = format!("{}.", self.schema);
        // Intents must be durable before their requests leave (PostgreSQL's default); other
        // batches only need to survive herald being killed, which a commit the server has
        // received gives without waiting for its disk.
        let durable = batch.iter().any(|d| d.outcome == Outcome::InFlight);
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        if !durable {
            tx.batch_execute("SET LOCAL synchronous_commit = off")
                .map_err(failed())?;
        }
        let written = record::Writer {
            client: &mut tx,
            prefix: &prefix,
            ids: self.ids.get_mut(),
            location: &location,
        }
        .append(batch)
        .and_then(|()| tx.execute(&serial, &[]).map(drop).map_err(failed()))
        .and_then(|()| tx.commit().map_err(failed()));
        if written.is_err() {
            // What the transaction wrote is gone: so are the ids it made.
            *self.ids.get_mut() = Ids::default();
        }
        written
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
        let sql = "UPDATE {s}.meta SET value = $1 WHERE key = 'serial'";
        self.query(doing, sql, &[&serial]).map(drop)
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
        self.read_lock()
    }

    fn log_apply(&mut self, apply: &ApplyRecord) -> Result<(), StateError> {
        self.insert_apply(apply)
    }

    fn applies(&self) -> Result<Vec<ApplyRecord>, StateError> {
        self.read_applies()
    }

    fn log_test_send(&mut self, send: &TestSend) -> Result<(), StateError> {
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
        self.prune_requests(before)
    }

    fn erasable(&self, phone: &str) -> Result<Erasure, StateError> {
        self.count_erasable(phone)
    }

    fn erase(&mut self, phone: &str) -> Result<Erasure, StateError> {
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
        self.vacuum_history()
    }
}

/// Where a state is, for messages: never the password, nor the user.
fn describe(config: &postgres::Config, schema: &str) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("postgres");
    format!("postgres {host}:{port}/{db} (schema {schema})")
}

/// Whether `name` is a plain lowercase SQL identifier.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// The advisory lock key of a schema's apply lock (the next key guards its migrations).
fn lock_key(schema: &str) -> i64 {
    let hash = Fingerprint::of(format!("herald apply lock {schema}").as_bytes());
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&hash.0[..8]);
    i64::from_be_bytes(bytes)
}

impl Columns for Row {
    fn text(&self, i: usize) -> sql::Column<String> {
        self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn optional_blob(&self, i: usize) -> sql::Column<Option<Vec<u8>>> {
        self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn optional_text(&self, i: usize) -> sql::Column<Option<String>> {
        self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn int(&self, i: usize) -> sql::Column<i64> {
        // Outcomes and flags are smallints, computed flags integers, the rest bigints.
        self.try_get::<_, i64>(i)
            .or_else(|_| self.try_get::<_, i32>(i).map(i64::from))
            .or_else(|_| self.try_get::<_, i16>(i).map(i64::from))
            .map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn optional_int(&self, i: usize) -> sql::Column<Option<i64>> {
        self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn fingerprint(&self, i: usize) -> sql::Column<Fingerprint> {
        fingerprint_of(self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_identifier("herald"));
        assert!(is_identifier("team_a2"));
        assert!(!is_identifier("Herald"));
        assert!(!is_identifier("2a"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier("a\"; DROP TABLE x; --"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn each_schema_has_its_own_lock_key() {
        assert_ne!(lock_key("herald"), lock_key("team_a"));
        assert_eq!(lock_key("herald"), lock_key("herald"));
    }

    #[test]
    fn the_location_never_holds_credentials() {
        let config: postgres::Config = "postgres://alice:s3cret@db.example:6543/campaigns"
            .parse()
            .unwrap();
        let location = describe(&config, "herald");
        assert_eq!(
            location,
            "postgres db.example:6543/campaigns (schema herald)"
        );
    }
}
