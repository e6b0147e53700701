//! Recording attempts in the compact layout ([`crate::state::layout`]): each row becomes an
//! `attempts` row, its request a `requests` row unless its delivery's latest row sent the
//! same one, and the delivery's latest row in `deliveries`.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::layout::{self, Ids};
use super::super::sql::{fail, occurrence_text};
use super::super::{Delivery, PRUNED_REQUEST, StateError};
use crate::fingerprint::Fingerprint;

/// Writes rows on a connection inside a transaction, with the store's ids.
pub(super) struct Writer<'a> {
    pub(super) conn: &'a Connection,
    pub(super) ids: &'a mut Ids,
    pub(super) location: &'a str,
}

/// A failed write, for the caller to name what it was doing.
pub(super) enum WriteError {
    Sql(rusqlite::Error),
    State(StateError),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> WriteError {
        WriteError::Sql(e)
    }
}

impl From<StateError> for WriteError {
    fn from(e: StateError) -> WriteError {
        WriteError::State(e)
    }
}

impl Writer<'_> {
    /// The id of a round, made when new.
    pub(super) fn round(
        &mut self,
        campaign: &str,
        occurrence: &str,
    ) -> Result<i64, rusqlite::Error> {
        let key = (campaign.to_owned(), occurrence.to_owned());
        if let Some(id) = self.ids.rounds.get(&key) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM rounds WHERE campaign = ?1 AND occurrence = ?2")?
            .query_row([campaign, occurrence], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => self
                .conn
                .prepare_cached("INSERT INTO rounds (campaign, occurrence) VALUES (?1, ?2)")?
                .insert([campaign, occurrence])?,
        };
        self.ids.rounds.insert(key, id);
        Ok(id)
    }

    /// The id of a run (an apply or an operator command), made when new.
    fn run(&mut self, name: &str) -> Result<i64, rusqlite::Error> {
        if let Some(id) = self.ids.runs.get(name) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM runs WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => self
                .conn
                .prepare_cached("INSERT INTO runs (name) VALUES (?1)")?
                .insert([name])?,
        };
        self.ids.runs.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Loads a round's skeletons, once.
    fn load_skeletons(&mut self, round: i64) -> Result<(), rusqlite::Error> {
        if self.ids.of_round.contains_key(&round) {
            return Ok(());
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, request FROM skeletons WHERE round = ?1 ORDER BY id")?;
        let mut rows = stmt.query([round])?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let text: Vec<u8> = row.get(1)?;
            let skeleton = super::super::compact::Skeleton::new(&text);
            self.ids.skeletons.insert(id, std::sync::Arc::new(skeleton));
            ids.push(id);
        }
        self.ids.of_round.insert(round, ids);
        Ok(())
    }

    /// Appends one row.
    pub(super) fn append(&mut self, d: &Delivery) -> Result<(), WriteError> {
        let occurrence = occurrence_text(d.occurrence);
        let round = self.round(&d.campaign, &occurrence)?;
        let run = self.run(&d.apply_id)?;
        let at =
            layout::nanos(d.at).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        let latest: Option<(Vec<u8>, i64, i64, bool)> = self
            .conn
            .prepare_cached(
                "SELECT d.fingerprint, d.seq, a.request,
                        q.fingerprint IS NULL AND q.body IS NOT NULL
                 FROM deliveries d JOIN attempts a ON a.seq = d.seq
                 JOIN requests q ON q.id = a.request
                 WHERE d.round = ?1 AND d.recipient = ?2",
            )?
            .query_row(params![round, d.recipient], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        let shared = latest.as_ref().and_then(|(fp, _, request, hashed)| {
            let fp = <[u8; 32]>::try_from(fp.as_slice()).ok().map(Fingerprint)?;
            layout::shares(d.fingerprint, &d.request, Some((fp, *hashed))).then_some(*request)
        });
        let request = match shared {
            Some(id) => id,
            None => self.insert_request(round, d)?,
        };
        let pruned = d.request == PRUNED_REQUEST;
        let prev = latest.map(|(_, seq, _, _)| seq);
        let outcome = layout::outcome_code(d.outcome);
        let seq = self
            .conn
            .prepare_cached(
                "INSERT INTO attempts (request, prev, outcome, at, run, api_code, detail, pruned)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .insert(params![
                request, prev, outcome, at, run, d.api_code, d.detail, pruned
            ])?;
        self.conn
            .prepare_cached(
                "INSERT INTO deliveries (round, recipient, fingerprint, outcome, at, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (round, recipient) DO UPDATE SET
                     fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                     at = excluded.at, seq = excluded.seq",
            )?
            .execute(params![
                round,
                d.recipient,
                &d.fingerprint.0[..],
                outcome,
                at,
                seq
            ])?;
        Ok(())
    }

    /// Stores a row's request: encoded against its round's skeletons (adding one when this
    /// request pairs with an earlier one of its shape), or, for a pruned one, its fingerprint.
    fn insert_request(&mut self, round: i64, d: &Delivery) -> Result<i64, WriteError> {
        let fingerprint = layout::stored_fingerprint(d.fingerprint, &d.request);
        let body = if d.request == PRUNED_REQUEST {
            None
        } else {
            self.load_skeletons(round)?;
            let (conn, location) = (self.conn, self.location);
            // The skeleton's id is its row's, inserted below once its text is known.
            let mut next_id = || {
                conn.query_row(
                    "SELECT coalesce(max(id), 0) + 1 FROM skeletons",
                    [],
                    |row| row.get(0),
                )
                .map_err(fail(location, "cannot store a reference request"))
            };
            let encoded = self
                .ids
                .encode(round, &d.recipient, &d.request, &mut next_id)?;
            if let Some(skeleton) = &encoded.new_skeleton {
                let id = super::super::compact::skeleton_of(&encoded.body);
                self.conn
                    .prepare_cached(
                        "INSERT INTO skeletons (id, round, request) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![id, round, skeleton.text()])?;
            }
            Some(encoded.body)
        };
        let id = self
            .conn
            .prepare_cached(
                "INSERT INTO requests (round, recipient, fingerprint, body) VALUES (?1, ?2, ?3, ?4)",
            )?
            .insert(params![round, d.recipient, fingerprint, body])?;
        Ok(id)
    }
}
