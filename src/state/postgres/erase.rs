//! Erasing a person ([`crate::state::Store::erase`]; what is removed and kept is in
//! [`crate::state::erasure`]). PostgreSQL keeps removed rows as dead tuples until vacuumed:
//! the erasure vacuums the tables it changed once it has committed.

use std::collections::HashSet;

use super::super::erasure::{
    self, CHAIN_SQL, DELIVERIES_SQL, ErasedRecords, Erasure, Erasures, Found, KEY_NAME, Key,
    TEST_SENDS_SQL,
};
use super::super::sql::{self, Columns, fail};
use super::super::{Outcome, Round, RoundKey, StateError};
use super::PostgresStore;

impl PostgresStore {
    fn find_erasable(&self, phone: &str) -> Result<Found, StateError> {
        let doing = "cannot find the deliveries to erase";
        let mut found = Found::default();
        if !self.exists {
            return Ok(found);
        }
        for (round, key, seq, outcome) in self.deliveries_of(phone, doing)? {
            for (row, request) in self.chain(seq, doing)? {
                found.rows.push(row);
                found.requests.push(request);
            }
            found.deliveries.push((round, key, outcome));
        }
        found.requests.sort_unstable();
        found.requests.dedup();
        let rows = self.query(doing, &self.layout_sql(TEST_SENDS_SQL), &[&phone])?;
        found.test_sends = match rows.first() {
            Some(row) => row.count(0).map_err(fail(&self.location, doing))?,
            None => 0,
        };
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

    fn deliveries_of(
        &self,
        recipient: &str,
        doing: &str,
    ) -> Result<Vec<(i64, RoundKey, i64, Outcome)>, StateError> {
        let rows = self.query(doing, &self.layout_sql(DELIVERIES_SQL), &[&recipient])?;
        rows.iter()
            .map(|row| {
                let read = || -> sql::Column<_> {
                    let key = RoundKey {
                        campaign: row.text(1)?,
                        occurrence: row.occurrence(2)?,
                    };
                    Ok((row.int(0)?, key, row.int(3)?, row.outcome(4)?))
                };
                read().map_err(fail(&self.location, doing))
            })
            .collect()
    }

    fn chain(&self, seq: i64, doing: &str) -> Result<Vec<(i64, i64)>, StateError> {
        let rows = self.query(doing, &self.layout_sql(CHAIN_SQL), &[&seq])?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.int(0).map_err(fail(&self.location, doing))?,
                    row.int(1).map_err(fail(&self.location, doing))?,
                ))
            })
            .collect()
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
        let location = self.location.clone();
        let doing = "cannot erase the phone's data";
        let failed = || fail(&location, doing);
        let stored = self.erasure_key()?;
        let key = match &stored {
            Some(key) => key.clone(),
            None => Key::new(&location)?,
        };
        let sql = |s: &str| self.sql(s);
        let statements = [
            sql("INSERT INTO {s}.secrets (name, value) VALUES ($1, $2)"),
            sql("DELETE FROM {s}.attempts WHERE seq = ANY($1)"),
            sql("DELETE FROM {s}.requests WHERE id = ANY($1)"),
            sql("DELETE FROM {s}.deliveries WHERE round = ANY($1) AND recipient = $2"),
            sql("INSERT INTO {s}.erased (round, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])
                 ON CONFLICT DO NOTHING"),
            sql("DELETE FROM {s}.test_sends WHERE phone = $1 OR rendered_for = $1"),
            sql("UPDATE {s}.requests SET body = NULL, fingerprint = $2 WHERE id = $1"),
            sql("UPDATE {s}.attempts SET pruned = 1 WHERE seq = ANY($1)"),
            sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'"),
        ];
        let vacuum = sql("VACUUM {s}.attempts, {s}.requests, {s}.deliveries, {s}.test_sends");
        let rounds: Vec<i64> = found.deliveries.iter().map(|(r, _, _)| *r).collect();
        let (kept_rounds, hashes): (Vec<i64>, Vec<Vec<u8>>) = found
            .kept()
            .map(|(round, k, _)| {
                let occurrence = sql::occurrence_text(k.occurrence);
                (*round, key.hash(&k.campaign, &occurrence, phone).to_vec())
            })
            .unzip();
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        if stored.is_none() {
            tx.execute(&statements[0], &[&KEY_NAME, &&key.0[..]])
                .map_err(failed())?;
        }
        tx.execute(&statements[1], &[&found.rows])
            .map_err(failed())?;
        tx.execute(&statements[2], &[&found.requests])
            .map_err(failed())?;
        tx.execute(&statements[3], &[&rounds, &phone])
            .map_err(failed())?;
        tx.execute(&statements[4], &[&kept_rounds, &hashes])
            .map_err(failed())?;
        tx.execute(&statements[5], &[&phone]).map_err(failed())?;
        for (request, fingerprint, rows) in &found.broadcasts {
            tx.execute(&statements[6], &[request, &&fingerprint.0[..]])
                .map_err(failed())?;
            tx.execute(&statements[7], &[rows]).map_err(failed())?;
        }
        tx.execute(&statements[8], &[]).map_err(failed())?;
        tx.commit().map_err(failed())?;
        // The removed rows live on as dead tuples until vacuumed.
        self.client
            .get_mut()
            .batch_execute(&vacuum)
            .map_err(failed())?;
        Ok(erasure)
    }

    fn erasure_key(&self) -> Result<Option<Key>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let doing = "cannot read the erasure key";
        let rows = self.query(
            doing,
            "SELECT value FROM {s}.secrets WHERE name = $1",
            &[&KEY_NAME],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let bytes: Vec<u8> = row.try_get(0).map_err(fail(&self.location, doing))?;
        Key::stored(&bytes, &self.location).map(Some)
    }

    pub(super) fn read_erasures(&self, round: Round<'_>) -> Result<Option<Erasures>, StateError> {
        let Some(id) = self.round_id(round)? else {
            return Ok(None);
        };
        let doing = format!("cannot read the erased deliveries of campaign {round}");
        let rows = self.query(
            &doing,
            "SELECT hash FROM {s}.erased WHERE round = $1",
            &[&id],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut hashes = HashSet::new();
        for row in &rows {
            let bytes: Vec<u8> = row.try_get(0).map_err(fail(&self.location, &doing))?;
            let hash = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                fail(&self.location, &doing)(sql::BadColumn(
                    "an erased delivery's hash is not 32 bytes".to_owned(),
                ))
            })?;
            hashes.insert(hash);
        }
        let Some(key) = self.erasure_key()? else {
            return Ok(None);
        };
        Ok(Some(Erasures::new(key, &RoundKey::from(round), hashes)))
    }

    pub(super) fn read_all_erased(&self) -> Result<ErasedRecords, StateError> {
        if !self.exists {
            return Ok(ErasedRecords::default());
        }
        let doing = "cannot read the erased deliveries";
        let rows = self.query(
            doing,
            "SELECT r.campaign, r.occurrence, e.hash FROM {s}.erased e
             JOIN {s}.rounds r ON r.id = e.round ORDER BY r.campaign, r.occurrence, e.hash",
            &[],
        )?;
        let hashes = rows
            .iter()
            .map(|row| {
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
            })
            .collect::<Result<Vec<_>, _>>()?;
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
        let campaigns: Vec<&str> = records
            .hashes
            .iter()
            .map(|(r, _)| r.campaign.as_str())
            .collect();
        let occurrences: Vec<String> = records
            .hashes
            .iter()
            .map(|(r, _)| sql::occurrence_text(r.occurrence))
            .collect();
        let hashes: Vec<&[u8]> = records.hashes.iter().map(|(_, h)| &h[..]).collect();
        let rounds = self.sql(
            "INSERT INTO {s}.rounds (campaign, occurrence)
             SELECT DISTINCT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT (campaign, occurrence) DO NOTHING",
        );
        let erased = self.sql(
            "INSERT INTO {s}.erased (round, hash)
             SELECT r.id, e.hash FROM unnest($1::text[], $2::text[], $3::bytea[])
                 AS e(campaign, occurrence, hash)
             JOIN {s}.rounds r ON r.campaign = e.campaign AND r.occurrence = e.occurrence
             ON CONFLICT DO NOTHING",
        );
        let secret = self.sql(
            "INSERT INTO {s}.secrets (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        );
        let mut tx = self
            .client
            .get_mut()
            .transaction()
            .map_err(fail(&location, doing))?;
        tx.execute(&secret, &[&KEY_NAME, &&key.0[..]])
            .map_err(fail(&location, doing))?;
        tx.execute(&rounds, &[&campaigns, &occurrences])
            .map_err(fail(&location, doing))?;
        tx.execute(&erased, &[&campaigns, &occurrences, &hashes])
            .map_err(fail(&location, doing))?;
        tx.commit().map_err(fail(&location, doing))
    }
}
