//! The PostgreSQL state backend, for teams whose applies run on throwaway CI runners: the same
//! tables and semantics as [`super::sqlite`], in a schema of their own (`state.schema`,
//! default `herald`), so several projects share one database without meeting.
//!
//! The apply lock is a session-level advisory lock, keyed by the schema: PostgreSQL releases
//! it when the holder's connection ends, so a runner that dies never leaves a project locked.
//! Who holds it, and since when, is kept in the `lock` table for messages; a row whose
//! advisory lock is free belongs to a dead apply and is replaced by the next one.
//!
//! Timestamps are stored as text in the SQLite format (RFC 3339, UTC, nine fractional digits)
//! so that state moves between backends without losing a nanosecond.

use std::cell::RefCell;
use std::fmt;

use postgres::{Client, Row};

use super::contacts::{Attempts, Row as HistoryRow};
use super::sql::{
    self, Columns, DELIVERY_COLUMNS, corrupt, fail, fingerprint_of, occurrence_text, timestamp_text,
};
use super::{
    ApplyRecord, CampaignTotals, Contact, Delivery, Lock, Outcome, Pruned, Recorded, Round,
    StateError, Store, TestSend,
};
use crate::fingerprint::Fingerprint;
use migrations::{MIGRATIONS, SCHEMA_VERSION, schema_version};

mod grant;
mod lock;
mod migrations;
mod prune;
mod test_sends;
mod tls;
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
        store.migrate()?;
        store.exists = true;
        Ok(store)
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

    /// Brings the schema up to [`SCHEMA_VERSION`], in one transaction holding a transaction
    /// advisory lock, so that runners starting at once migrate it once.
    fn migrate(&mut self) -> Result<(), StateError> {
        let location = self.location.clone();
        let failed = || fail(&location, "cannot migrate the state");
        let meta = format!("{}.meta", self.schema);
        let create = self.sql("CREATE SCHEMA IF NOT EXISTS {s}");
        let scripts: Vec<String> = MIGRATIONS.iter().map(|m| self.sql(m)).collect();
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
        if found == SCHEMA_VERSION {
            return tx.commit().map_err(failed());
        }
        for script in &scripts[usize::try_from(found).unwrap_or(0)..] {
            tx.batch_execute(script).map_err(failed())?;
        }
        tx.execute(
            &format!(
                "INSERT INTO {meta} (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            &[&SCHEMA_VERSION],
        )
        .map_err(failed())?;
        tx.commit().map_err(failed())
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
        if !self.exists {
            return Ok(());
        }
        let campaign = round.campaign;
        let occurrence = occurrence_text(round.occurrence);
        let doing = format!("cannot read the deliveries of campaign {round}");
        let failed = || fail(&self.location, &doing);
        // In byte order (the column's collation is "C"), as plan's index expects.
        let sql = self.sql(
            "SELECT recipient, fingerprint, outcome FROM {s}.deliveries
             WHERE campaign = $1 AND occurrence = $2 ORDER BY recipient",
        );
        let mut client = self.client.borrow_mut();
        // Streamed: a million rows are visited, never collected.
        let mut rows = client
            .query_raw(&sql, [campaign, occurrence.as_str()])
            .map_err(failed())?;
        while let Some(row) =
            postgres::fallible_iterator::FallibleIterator::next(&mut rows).map_err(failed())?
        {
            let recipient: &str = row.try_get(0).map_err(failed())?;
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
        if !self.exists {
            return Ok(());
        }
        let doing = "cannot read the deliveries of the last days";
        let failed = || fail(&self.location, doing);
        let mut client = self.client.borrow_mut();
        let since = timestamp_text(since);
        let mut attempts = Attempts::new(visit);
        for (i, query) in sql::CONTACTS_SQL.iter().enumerate() {
            let query = self.sql(&query.replace("{s}", "{s}."));
            let mut rows = client
                .query_raw(&query, [since.as_str()])
                .map_err(failed())?;
            while let Some(row) =
                postgres::fallible_iterator::FallibleIterator::next(&mut rows).map_err(failed())?
            {
                let row = HistoryRow {
                    campaign: row.try_get(0).map_err(failed())?,
                    occurrence: row.try_get(1).map_err(failed())?,
                    recipient: row.try_get(2).map_err(failed())?,
                    at: row.try_get(3).map_err(failed())?,
                    request: row.try_get(4).map_err(failed())?,
                };
                let read = if i == 0 {
                    attempts.failed(row)
                } else {
                    attempts.started(row)
                };
                read.map_err(|why| corrupt(&self.location, row.campaign, row.recipient, why))?;
            }
        }
        attempts.finish();
        Ok(())
    }

    fn delivery(&self, round: Round<'_>, recipient: &str) -> Result<Option<Delivery>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let doing = format!("cannot read the delivery of campaign {round} to {recipient}");
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {{s}}.history WHERE seq =
                 (SELECT seq FROM {{s}}.deliveries
                  WHERE campaign = $1 AND occurrence = $2 AND recipient = $3)"
        );
        let occurrence = occurrence_text(round.occurrence);
        let rows = self.query(&doing, &sql, &[&round.campaign, &occurrence, &recipient])?;
        rows.first()
            .map(|row| sql::delivery(row, &self.location))
            .transpose()
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
        let campaigns: Vec<&str> = batch.iter().map(|d| d.campaign.as_str()).collect();
        let recipients: Vec<&str> = batch.iter().map(|d| d.recipient.as_str()).collect();
        let fingerprints: Vec<&[u8]> = batch.iter().map(|d| &d.fingerprint.0[..]).collect();
        let outcomes: Vec<&str> = batch.iter().map(|d| d.outcome.as_str()).collect();
        let api_codes: Vec<Option<i64>> = batch.iter().map(|d| d.api_code).collect();
        let details: Vec<Option<&str>> = batch.iter().map(|d| d.detail.as_deref()).collect();
        let ats: Vec<String> = batch.iter().map(|d| timestamp_text(d.at)).collect();
        let apply_ids: Vec<&str> = batch.iter().map(|d| d.apply_id.as_str()).collect();
        let requests: Vec<&str> = batch.iter().map(|d| d.request.as_str()).collect();
        let occurrences: Vec<String> = batch
            .iter()
            .map(|d| occurrence_text(d.occurrence))
            .collect();
        // One statement per batch: the attempts go to history in batch order, and each
        // delivery's latest attempt (the last of the batch, when one appears twice) to
        // deliveries.
        let sql = self.sql(
            "WITH batch AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[],
                                      $5::bigint[], $6::text[], $7::text[], $8::text[],
                                      $9::text[], $10::text[])
                     WITH ORDINALITY AS b(campaign, recipient, fingerprint, outcome, api_code,
                                          detail, at, apply_id, request, occurrence, n)
             ), appended AS (
                 INSERT INTO {s}.history (campaign, recipient, fingerprint, outcome, api_code,
                                          detail, at, apply_id, request, occurrence)
                 SELECT campaign, recipient, fingerprint, outcome, api_code, detail, at,
                        apply_id, request, occurrence
                 FROM batch ORDER BY n
                 RETURNING seq, campaign, recipient, fingerprint, outcome, at, occurrence
             )
             INSERT INTO {s}.deliveries (campaign, recipient, fingerprint, outcome, at, seq,
                                         occurrence)
             SELECT DISTINCT ON (campaign, occurrence, recipient)
                    campaign, recipient, fingerprint, outcome, at, seq, occurrence
             FROM appended ORDER BY campaign, occurrence, recipient, seq DESC
             ON CONFLICT (campaign, occurrence, recipient) DO UPDATE SET
                 fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                 at = excluded.at, seq = excluded.seq",
        );
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        // Intents must be durable before their requests leave (PostgreSQL's default); other
        // batches only need to survive herald being killed, which a commit the server has
        // received gives without waiting for its disk.
        let durable = batch.iter().any(|d| d.outcome == Outcome::InFlight);
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        if !durable {
            tx.batch_execute("SET LOCAL synchronous_commit = off")
                .map_err(failed())?;
        }
        tx.execute(
            &sql,
            &[
                &campaigns,
                &recipients,
                &fingerprints,
                &outcomes,
                &api_codes,
                &details,
                &ats,
                &apply_ids,
                &requests,
                &occurrences,
            ],
        )
        .map_err(failed())?;
        tx.execute(&serial, &[]).map_err(failed())?;
        tx.commit().map_err(failed())
    }

    fn history(
        &self,
        round: Round<'_>,
        recipient: Option<&str>,
    ) -> Result<Vec<Delivery>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let to = recipient.map(|r| format!(" to {r}")).unwrap_or_default();
        let doing = format!("cannot read the history of campaign {round}{to}");
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {{s}}.history
             WHERE campaign = $1 AND occurrence = $3 AND ($2::text IS NULL OR recipient = $2)
             ORDER BY seq"
        );
        let occurrence = occurrence_text(round.occurrence);
        let rows = self.query(&doing, &sql, &[&round.campaign, &recipient, &occurrence])?;
        rows.iter()
            .map(|row| sql::delivery(row, &self.location))
            .collect()
    }

    fn every_attempt(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        if !self.exists {
            return Ok(());
        }
        let failed = || fail(&self.location, "cannot read the history");
        let sql = self.sql(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM {{s}}.history ORDER BY seq"
        ));
        let mut client = self.client.borrow_mut();
        let no_params: [&str; 0] = [];
        let mut rows = client.query_raw(&sql, no_params).map_err(failed())?;
        while let Some(row) =
            postgres::fallible_iterator::FallibleIterator::next(&mut rows).map_err(failed())?
        {
            visit(sql::delivery(&row, &self.location)?)?;
        }
        Ok(())
    }

    fn set_serial(&mut self, serial: u64) -> Result<(), StateError> {
        let doing = "cannot set the serial";
        let serial = i64::try_from(serial).map_err(fail(&self.location, doing))?;
        let sql = "UPDATE {s}.meta SET value = $1 WHERE key = 'serial'";
        self.query(doing, sql, &[&serial]).map(drop)
    }

    fn latest_occurrence(&self, campaign: &str) -> Result<Option<jiff::Timestamp>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let doing = format!("cannot read the occurrences of campaign {campaign}");
        let sql = "SELECT max(occurrence) FROM {s}.deliveries
                   WHERE campaign = $1 AND occurrence <> ''";
        let rows = self.query(&doing, sql, &[&campaign])?;
        let text: Option<String> = match rows.first() {
            Some(row) => row.try_get(0).map_err(fail(&self.location, &doing))?,
            None => None,
        };
        text.map(|t| sql::parse_timestamp(&t))
            .transpose()
            .map_err(fail(&self.location, &doing))
    }

    fn campaigns(&self) -> Result<Vec<CampaignTotals>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let doing = "cannot list the campaigns in state";
        let rows = self.query(doing, &sql::CAMPAIGN_TOTALS_SQL.replace("{s}", "{s}."), &[])?;
        rows.iter()
            .map(|row| sql::campaign_totals(row).map_err(fail(&self.location, doing)))
            .collect()
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
        let doing = format!("cannot log apply {}", apply.id);
        let count = |n: u64| i64::try_from(n).map_err(fail(&self.location, &doing));
        let counts = [
            count(apply.sent)?,
            count(apply.failed)?,
            count(apply.unknown)?,
        ];
        let sql = "INSERT INTO {s}.applies
                       (id, who, started_at, finished_at, plan_hash, sent, failed, unknown)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (id) DO UPDATE SET
                       who = excluded.who, started_at = excluded.started_at,
                       finished_at = excluded.finished_at, plan_hash = excluded.plan_hash,
                       sent = excluded.sent, failed = excluded.failed, unknown = excluded.unknown";
        let started_at = timestamp_text(apply.started_at);
        let finished_at = apply.finished_at.map(timestamp_text);
        self.query(
            &doing,
            sql,
            &[
                &apply.id,
                &apply.who,
                &started_at,
                &finished_at,
                &apply.plan_hash,
                &counts[0],
                &counts[1],
                &counts[2],
            ],
        )
        .map(drop)
    }

    fn applies(&self) -> Result<Vec<ApplyRecord>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let doing = "cannot read the applies";
        let sql = format!(
            "SELECT {} FROM {{s}}.applies ORDER BY started_at, id",
            sql::APPLY_COLUMNS
        );
        let rows = self.query(doing, &sql, &[])?;
        rows.iter()
            .map(|row| sql::apply_record(row).map_err(fail(&self.location, doing)))
            .collect()
    }

    fn log_test_send(&mut self, send: &TestSend) -> Result<(), StateError> {
        self.insert_test_send(send)
    }

    fn test_sends(&self) -> Result<Vec<TestSend>, StateError> {
        self.read_test_sends()
    }

    fn prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        self.count_prunable(before)
    }

    fn prune(&mut self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        self.prune_requests(before)
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

    fn optional_text(&self, i: usize) -> sql::Column<Option<String>> {
        self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))
    }

    fn int(&self, i: usize) -> sql::Column<i64> {
        self.try_get(i).map_err(|e| sql::BadColumn(e.to_string()))
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
