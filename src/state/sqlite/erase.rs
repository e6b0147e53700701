//! Erasing a person ([`crate::state::Store::erase`]; what is removed and kept is in
//! [`crate::state::erasure`]). The transaction runs with `secure_delete`, so the removed rows
//! are overwritten in the file, and the WAL is checkpointed and truncated after it, so no copy
//! of them is left in the WAL either.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::super::erasure::{
    self, CHAIN_SQL, DELIVERIES_SQL, ErasedRecords, Erasure, Erasures, Found, KEY_NAME, Key,
    TEST_SENDS_SQL,
};
use super::super::sql::{self, Columns, fail};
use super::super::{Round, RoundKey, StateError};
use super::SqliteStore;

impl SqliteStore {
    /// Finds what erasing `phone` removes (reads only).
    fn find_erasable(&self, phone: &str) -> Result<Found, StateError> {
        let doing = "cannot find the deliveries to erase";
        let failed = || fail(&self.location, doing);
        let mut found = Found::default();
        let deliveries = self.deliveries_of(phone, doing)?;
        for (round, key, seq, outcome) in deliveries {
            for (row, request) in self.chain(seq, doing)? {
                found.rows.push(row);
                found.requests.push(request);
            }
            found.deliveries.push((round, key, outcome));
        }
        found.requests.sort_unstable();
        found.requests.dedup();
        found.test_sends = self
            .conn
            .query_row(&TEST_SENDS_SQL.replace("{s}", ""), [phone], |row| {
                row.get::<_, i64>(0)
            })
            .map_err(failed())?
            .try_into()
            .unwrap_or(0);
        // Broadcasts name their recipients in their requests.
        for (_, _, seq, _) in self.deliveries_of("*", doing)? {
            for (request, rows) in erasure::by_request(self.chain(seq, doing)?) {
                let Some((text, fingerprint)) = self.request_text(request, doing)? else {
                    continue;
                };
                if erasure::names(&text, phone) {
                    found.broadcasts.push((request, fingerprint, rows));
                }
            }
        }
        Ok(found)
    }

    /// The deliveries to `recipient`: round id, round, latest row, latest outcome.
    fn deliveries_of(
        &self,
        recipient: &str,
        doing: &str,
    ) -> Result<Vec<(i64, RoundKey, i64, super::super::Outcome)>, StateError> {
        let read = |row: &rusqlite::Row<'_>| -> sql::Column<_> {
            let key = RoundKey {
                campaign: row.text(1)?,
                occurrence: row.occurrence(2)?,
            };
            Ok((row.int(0)?, key, row.int(3)?, row.outcome(4)?))
        };
        let sql = DELIVERIES_SQL.replace("{s}", "");
        super::query_rows(
            &self.conn,
            &self.location,
            doing,
            &sql,
            [recipient],
            |row| read(row).map_err(fail(&self.location, doing)),
        )
    }

    /// A delivery's rows from its latest back: seq and request.
    fn chain(&self, seq: i64, doing: &str) -> Result<Vec<(i64, i64)>, StateError> {
        let sql = CHAIN_SQL.replace("{s}", "").replace("$1::bigint", "$1");
        super::query_rows(&self.conn, &self.location, doing, &sql, [seq], |row| {
            Ok((
                row.int(0).map_err(fail(&self.location, doing))?,
                row.int(1).map_err(fail(&self.location, doing))?,
            ))
        })
    }

    pub(super) fn count_erasable(&self, phone: &str) -> Result<Erasure, StateError> {
        Ok(self.find_erasable(phone)?.erasure())
    }

    pub(super) fn erase_phone(&mut self, phone: &str) -> Result<Erasure, StateError> {
        let found = self.find_erasable(phone)?;
        let erasure = found.erasure();
        if erasure.rows() == 0 {
            return Ok(erasure);
        }
        let location = self.location.as_str();
        let doing = "cannot erase the phone's data";
        let failed = || fail(location, doing);
        self.conn
            .pragma_update(None, "secure_delete", "ON")
            .map_err(failed())?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        let stored: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                [KEY_NAME],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed())?;
        let key = match stored {
            Some(bytes) => Key::stored(&bytes, location)?,
            None => {
                let key = Key::new(location)?;
                tx.execute(
                    "INSERT INTO secrets (name, value) VALUES (?1, ?2)",
                    params![KEY_NAME, &key.0[..]],
                )
                .map_err(failed())?;
                key
            }
        };
        for row in &found.rows {
            tx.execute("DELETE FROM attempts WHERE seq = ?1", [row])
                .map_err(failed())?;
        }
        for request in &found.requests {
            tx.execute("DELETE FROM requests WHERE id = ?1", [request])
                .map_err(failed())?;
        }
        for (round, _, _) in &found.deliveries {
            tx.execute(
                "DELETE FROM deliveries WHERE round = ?1 AND recipient = ?2",
                params![round, phone],
            )
            .map_err(failed())?;
        }
        for (round, key_of, _) in found.kept() {
            let occurrence = sql::occurrence_text(key_of.occurrence);
            let hash = key.hash(&key_of.campaign, &occurrence, phone);
            tx.execute(
                "INSERT OR IGNORE INTO erased (round, hash) VALUES (?1, ?2)",
                params![round, &hash[..]],
            )
            .map_err(failed())?;
        }
        tx.execute(
            "DELETE FROM test_sends WHERE phone = ?1 OR rendered_for = ?1",
            [phone],
        )
        .map_err(failed())?;
        for (request, fingerprint, rows) in &found.broadcasts {
            tx.execute(
                "UPDATE requests SET body = NULL, fingerprint = ?2 WHERE id = ?1",
                params![request, &fingerprint.0[..]],
            )
            .map_err(failed())?;
            for row in rows {
                tx.execute("UPDATE attempts SET pruned = 1 WHERE seq = ?1", [row])
                    .map_err(failed())?;
            }
        }
        tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
            .map_err(failed())?;
        tx.commit().map_err(failed())?;
        // The WAL still holds the pages as they were: folded into the file and emptied.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(failed())?;
        self.conn
            .pragma_update(None, "secure_delete", "OFF")
            .map_err(failed())?;
        Ok(erasure)
    }

    /// The stored erasure key, if an erasure made one.
    fn erasure_key(&self) -> Result<Option<Key>, StateError> {
        let stored: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT value FROM secrets WHERE name = ?1")
            .and_then(|mut stmt| stmt.query_row([KEY_NAME], |row| row.get(0)).optional())
            .map_err(fail(&self.location, "cannot read the erasure key"))?;
        stored.map(|b| Key::stored(&b, &self.location)).transpose()
    }

    pub(super) fn read_erasures(&self, round: Round<'_>) -> Result<Option<Erasures>, StateError> {
        let Some(id) = self.round_id(round)? else {
            return Ok(None);
        };
        let doing = format!("cannot read the erased deliveries of campaign {round}");
        let hashes = super::query_rows(
            &self.conn,
            &self.location,
            &doing,
            "SELECT hash FROM erased WHERE round = ?1",
            [id],
            |row| {
                let bytes: Vec<u8> = row.get(0).map_err(fail(&self.location, &doing))?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    fail(&self.location, &doing)(sql::BadColumn(
                        "an erased delivery's hash is not 32 bytes".to_owned(),
                    ))
                })
            },
        )?;
        if hashes.is_empty() {
            return Ok(None);
        }
        let Some(key) = self.erasure_key()? else {
            return Ok(None);
        };
        let hashes: HashSet<[u8; 32]> = hashes.into_iter().collect();
        Ok(Some(Erasures::new(key, &RoundKey::from(round), hashes)))
    }

    pub(super) fn read_all_erased(&self) -> Result<ErasedRecords, StateError> {
        let doing = "cannot read the erased deliveries";
        let hashes = super::query_rows(
            &self.conn,
            &self.location,
            doing,
            "SELECT r.campaign, r.occurrence, e.hash FROM erased e JOIN rounds r ON r.id = e.round
             ORDER BY r.campaign, r.occurrence, e.hash",
            [],
            |row| {
                let read = || -> sql::Column<(RoundKey, [u8; 32])> {
                    let key = RoundKey {
                        campaign: row.text(0)?,
                        occurrence: row.occurrence(1)?,
                    };
                    let bytes = row.optional_blob(2)?.unwrap_or_default();
                    let hash = <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| sql::BadColumn("a hash is not 32 bytes".to_owned()))?;
                    Ok((key, hash))
                };
                read().map_err(fail(&self.location, doing))
            },
        )?;
        Ok(ErasedRecords {
            key: self.erasure_key()?,
            hashes,
        })
    }

    pub(super) fn write_all_erased(&mut self, records: &ErasedRecords) -> Result<(), StateError> {
        let Some(key) = &records.key else {
            return Ok(());
        };
        let doing = "cannot copy the erased deliveries";
        let location = self.location.clone();
        let mut ids = Vec::with_capacity(records.hashes.len());
        for (round, _) in &records.hashes {
            let occurrence = sql::occurrence_text(round.occurrence);
            let mut writer = super::record::Writer {
                conn: &self.conn,
                ids: self.ids.get_mut(),
                location: &location,
            };
            ids.push(
                writer
                    .round(&round.campaign, &occurrence)
                    .map_err(fail(&location, doing))?,
            );
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail(&location, doing))?;
        tx.execute(
            "INSERT OR REPLACE INTO secrets (name, value) VALUES (?1, ?2)",
            params![KEY_NAME, &key.0[..]],
        )
        .map_err(fail(&location, doing))?;
        for (id, (_, hash)) in ids.iter().zip(&records.hashes) {
            tx.execute(
                "INSERT OR IGNORE INTO erased (round, hash) VALUES (?1, ?2)",
                params![id, &hash[..]],
            )
            .map_err(fail(&location, doing))?;
        }
        tx.commit().map_err(fail(&location, doing))
    }
}
