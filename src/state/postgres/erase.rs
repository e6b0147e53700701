//! Erasing a person ([`crate::state::Store::erase`]; what is removed and kept is in
//! [`crate::state::erasure`]). PostgreSQL keeps removed rows as dead tuples until vacuumed:
//! the erasure vacuums the tables it changed once it has committed.

use std::collections::HashSet;

use super::super::erasure::{
    self, ErasedRecords, Erasure, Erasures, Found, KEY_NAME, Key, TEST_SENDS_SQL,
};
use super::super::layout;
use super::super::sql::{self, Columns, corrupt, fail};
use super::super::{Round, RoundKey, StateError, WHOLE_CAMPAIGN};
use super::PostgresStore;
use super::packed;
use super::read::Stored;
use super::record::Put;
use crate::fingerprint::Fingerprint;

/// What an erasure changes beside [`Found`]: the phone's rows, and the broadcasts' rows with
/// the requests naming it (index in the log, fingerprint to keep).
#[derive(Default)]
struct Rows {
    phone: Vec<Stored>,
    broadcasts: Vec<(Stored, Vec<(usize, Fingerprint)>)>,
}

impl PostgresStore {
    fn find_erasable(&self, phone: &str) -> Result<(Found, Rows), StateError> {
        let doing = "cannot find the deliveries to erase";
        let mut found = Found::default();
        let mut rows = Rows::default();
        if !self.exists {
            return Ok((found, rows));
        }
        // Requests have no ids of their own: each is named by a number of this erasure.
        let mut requests = 0i64;
        for stored in self.stored(doing, "WHERE d.recipient = $1", &[&phone])? {
            let bad = |why| corrupt(&self.location, &stored.campaign, &stored.recipient, why);
            let key = RoundKey {
                campaign: stored.campaign.clone(),
                occurrence: packed::occurrence_of(&stored.occurrence).map_err(bad)?,
            };
            let latest = stored.log.latest().map_or(0, |e| e.outcome);
            let outcome = layout::outcome_of(i64::from(latest)).map_err(bad)?;
            found.rows.extend(stored.log.entries.iter().map(|e| e.seq));
            found
                .requests
                .extend((0..stored.log.requests.len() as i64).map(|r| requests + r));
            requests += stored.log.requests.len() as i64;
            found.deliveries.push((stored.round, key, outcome));
            rows.phone.push(stored);
        }
        let counted = self.query(doing, &self.layout_sql(TEST_SENDS_SQL), &[&phone])?;
        found.test_sends = match counted.first() {
            Some(row) => row.count(0).map_err(fail(&self.location, doing))?,
            None => 0,
        };
        for stored in self.stored(doing, "WHERE d.recipient = $1", &[&WHOLE_CAMPAIGN])? {
            let chain = stored.log.entries.iter().map(|e| (e.seq, e.request as i64));
            let mut naming = Vec::new();
            for (request, seqs) in erasure::by_request(chain.collect()) {
                let text =
                    stored
                        .log
                        .request_text(request as usize, WHOLE_CAMPAIGN, &mut |id| {
                            self.skeleton(id)
                        })?;
                let text =
                    text.map_err(|why| corrupt(&self.location, &stored.campaign, "*", why))?;
                let Some((text, fingerprint)) = text else {
                    continue;
                };
                if erasure::names(&text, phone) {
                    found.broadcasts.push((requests, fingerprint, seqs));
                    requests += 1;
                    naming.push((request as usize, fingerprint));
                }
            }
            if !naming.is_empty() {
                rows.broadcasts.push((stored, naming));
            }
        }
        Ok((found, rows))
    }

    pub(super) fn count_erasable(&self, phone: &str) -> Result<Erasure, StateError> {
        Ok(self.find_erasable(phone)?.0.erasure())
    }

    pub(super) fn erase_phone(&mut self, phone: &str) -> Result<Erasure, StateError> {
        let (found, rows) = self.find_erasable(phone)?;
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
        let mut puts: Vec<Put> = rows
            .phone
            .iter()
            .map(|d| Put {
                log: None,
                ..d.put()
            })
            .collect();
        for (mut d, naming) in rows.broadcasts {
            // Pruned as `state prune` would: the body goes, the fingerprint stays.
            for (request, fingerprint) in naming {
                d.log.requests[request].body = None;
                d.log.requests[request].fingerprint = Some(fingerprint.0);
                for e in d.log.entries.iter_mut().filter(|e| e.request == request) {
                    e.pruned = true;
                }
            }
            puts.push(d.put());
        }
        let sql = |s: &str| self.sql(s);
        let statements = [
            sql("INSERT INTO {s}.secrets (name, value) VALUES ($1, $2)"),
            sql("INSERT INTO {s}.erased (round, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])
                 ON CONFLICT DO NOTHING"),
            sql("DELETE FROM {s}.test_sends WHERE phone = $1 OR rendered_for = $1"),
        ];
        let vacuum = sql("VACUUM {s}.deliveries, {s}.intents, {s}.test_sends");
        let (kept_rounds, hashes): (Vec<i64>, Vec<Vec<u8>>) = found
            .kept()
            .map(|(round, k, _)| {
                let occurrence = sql::occurrence_text(k.occurrence);
                (*round, key.hash(&k.campaign, &occurrence, phone).to_vec())
            })
            .unzip();
        self.in_transaction(doing, |w| {
            if stored.is_none() {
                w.client
                    .execute(&statements[0], &[&KEY_NAME, &&key.0[..]])
                    .map_err(failed())?;
            }
            w.put(&puts, doing)?;
            w.client
                .execute(&statements[1], &[&kept_rounds, &hashes])
                .map_err(failed())?;
            w.client
                .execute(&statements[2], &[&phone])
                .map_err(failed())?;
            Ok(())
        })?;
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
