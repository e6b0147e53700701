//! Recording attempts in schema 7's layout, a batch at a time: each delivery is one row, its
//! history packed ([`super::packed`]). A delivery whose latest row is an intent (`in_flight`)
//! waits in `intents`, a few slots reused batch after batch, and moves to `deliveries` with its
//! outcome. PostgreSQL writes a whole new version of a row it updates and leaves the old one
//! until vacuumed: written once per delivery, `deliveries` leaves none behind, and the slots'
//! versions are pruned as their page is reused.

use std::collections::HashMap;
use std::sync::Arc;

use postgres::GenericClient;

use super::super::compact::{self, Skeleton};
use super::super::layout::{self, Ids};
use super::super::sql::{BadColumn, fail, fingerprint_of, occurrence_text};
use super::super::{Delivery, PRUNED_REQUEST, Round, StateError};
use super::packed::{Entry, Log, Request};
use crate::fingerprint::Fingerprint;

/// A batch writer: a client (inside a transaction), the schema's prefix and the store's ids.
pub(super) struct Writer<'a, C: GenericClient> {
    pub(super) client: &'a mut C,
    /// The quoted schema and a dot: `"herald".`.
    pub(super) prefix: &'a str,
    pub(super) ids: &'a mut Ids,
    pub(super) location: &'a str,
}

/// A delivery's key in `deliveries`: its round's id and its recipient.
pub(super) type Key<'d> = (i64, &'d str);

/// Where a delivery's row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// Not stored yet (or to be removed).
    Nowhere,
    /// In `deliveries`.
    Settled,
    /// In this slot of `intents`.
    Slot(i32),
}

/// A delivery's row to write: its history (none, or no rows, removes it) and the fingerprint
/// of its latest row.
#[derive(Debug, Clone)]
pub(super) struct Put {
    pub(super) round: i64,
    pub(super) recipient: String,
    pub(super) was: Place,
    pub(super) log: Option<Log>,
    pub(super) fingerprint: Fingerprint,
}

impl<C: GenericClient> Writer<'_, C> {
    pub(super) fn sql(&self, sql: &str) -> String {
        sql.replace("{s}", self.prefix)
    }

    pub(super) fn failed(&self, doing: &str) -> impl FnOnce(postgres::Error) -> StateError {
        fail(self.location, doing.to_owned())
    }

    /// Each delivery's key (its round's id and recipient) and its run's id, made when new.
    pub(super) fn ids_of<'d>(
        &mut self,
        batch: &'d [Delivery],
    ) -> Result<(Vec<Key<'d>>, Vec<i64>), StateError> {
        let mut keys = Vec::with_capacity(batch.len());
        let mut runs = Vec::with_capacity(batch.len());
        for d in batch {
            keys.push((
                self.round(&d.campaign, &occurrence_text(d.occurrence))?,
                d.recipient.as_str(),
            ));
            runs.push(self.run(&d.apply_id)?);
        }
        Ok((keys, runs))
    }

    /// The id of a round, made when new.
    pub(super) fn round(&mut self, campaign: &str, occurrence: &str) -> Result<i64, StateError> {
        let key = (campaign.to_owned(), occurrence.to_owned());
        if let Some(id) = self.ids.rounds.get(&key) {
            return Ok(*id);
        }
        let doing = format!("cannot record campaign {campaign}");
        let sql = self.sql(
            "WITH new AS (
                 INSERT INTO {s}rounds (campaign, occurrence) VALUES ($1, $2)
                 ON CONFLICT (campaign, occurrence) DO NOTHING RETURNING id)
             SELECT id FROM new UNION ALL
             SELECT id FROM {s}rounds WHERE campaign = $1 AND occurrence = $2",
        );
        let row = self
            .client
            .query_one(&sql, &[&campaign, &occurrence])
            .map_err(self.failed(&doing))?;
        let id: i64 = row.try_get(0).map_err(self.failed(&doing))?;
        self.ids.rounds.insert(key, id);
        Ok(id)
    }

    /// The id of a run, made when new.
    pub(super) fn run(&mut self, name: &str) -> Result<i64, StateError> {
        if let Some(id) = self.ids.runs.get(name) {
            return Ok(*id);
        }
        let doing = format!("cannot record apply {name}");
        let sql = self.sql(
            "WITH new AS (
                 INSERT INTO {s}runs (name) VALUES ($1)
                 ON CONFLICT (name) DO NOTHING RETURNING id)
             SELECT id FROM new UNION ALL SELECT id FROM {s}runs WHERE name = $1",
        );
        let row = self
            .client
            .query_one(&sql, &[&name])
            .map_err(self.failed(&doing))?;
        let id: i64 = row.try_get(0).map_err(self.failed(&doing))?;
        self.ids.runs.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Loads a round's skeletons, once.
    fn load_skeletons(&mut self, round: i64) -> Result<(), StateError> {
        if self.ids.of_round.contains_key(&round) {
            return Ok(());
        }
        let doing = "cannot read the reference requests";
        let sql = self.sql("SELECT id, request FROM {s}skeletons WHERE round = $1 ORDER BY id");
        let rows = self
            .client
            .query(&sql, &[&round])
            .map_err(self.failed(doing))?;
        let mut ids = Vec::new();
        for row in rows {
            let id: i64 = row.try_get(0).map_err(self.failed(doing))?;
            let text: Vec<u8> = row.try_get(1).map_err(self.failed(doing))?;
            self.ids
                .skeletons
                .insert(id, Arc::new(Skeleton::new(&text)));
            ids.push(id);
        }
        self.ids.of_round.insert(round, ids);
        Ok(())
    }

    /// `n` ids from a sequence, ascending.
    pub(super) fn next_ids(&mut self, sequence: &str, n: usize) -> Result<Vec<i64>, StateError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let doing = "cannot number the attempts";
        let sql = self.sql(&format!(
            "SELECT nextval('{{s}}{sequence}') FROM generate_series(1, $1::bigint)"
        ));
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let rows = self.client.query(&sql, &[&n]).map_err(self.failed(doing))?;
        let mut ids = rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(self.failed(doing))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// A request's body, encoded (a new skeleton stored first when it makes one); `None` for
    /// a pruned request.
    pub(super) fn encode(
        &mut self,
        round: i64,
        d: &Delivery,
    ) -> Result<Option<Vec<u8>>, StateError> {
        if d.request == PRUNED_REQUEST {
            return Ok(None);
        }
        self.load_skeletons(round)?;
        let doing = "cannot store a reference request";
        let next = self.sql("SELECT nextval('{s}skeleton_ids')");
        let location = self.location;
        let client = &mut *self.client;
        let mut next_id = || -> Result<i64, StateError> {
            let row = client
                .query_one(&next, &[])
                .map_err(fail(location, doing))?;
            row.try_get(0).map_err(fail(location, doing))
        };
        let encoded = self
            .ids
            .encode(round, &d.recipient, &d.request, &mut next_id)?;
        if let Some(skeleton) = &encoded.new_skeleton {
            let id = compact::skeleton_of(&encoded.body);
            let sql = self.sql("INSERT INTO {s}skeletons (id, round, request) VALUES ($1, $2, $3)");
            self.client
                .execute(&sql, &[&id, &round, &skeleton.text()])
                .map_err(fail(location, doing))?;
        }
        Ok(Some(encoded.body))
    }

    /// The rows of the batch's deliveries, as state holds them.
    fn current(&mut self, keys: &[(i64, &str)]) -> Result<HashMap<(i64, String), Put>, StateError> {
        let doing = "cannot read the deliveries being recorded";
        let rounds: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let recipients: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let sql = self.sql(
            "SELECT d.round, d.recipient, NULL::integer, d.fingerprint, d.log
             FROM unnest($1::bigint[], $2::text[]) AS k(round, recipient)
             JOIN {s}deliveries d ON d.round = k.round AND d.recipient = k.recipient
             UNION ALL
             SELECT i.round, i.recipient, i.slot, i.fingerprint, i.log
             FROM {s}intents i JOIN unnest($1::bigint[], $2::text[]) AS k(round, recipient)
                 ON i.round = k.round AND i.recipient = k.recipient",
        );
        let rows = self
            .client
            .query(&sql, &[&rounds, &recipients])
            .map_err(self.failed(doing))?;
        let mut current = HashMap::new();
        for row in rows {
            let read = || -> Result<_, postgres::Error> {
                Ok((
                    row.try_get::<_, i64>(0)?,
                    row.try_get::<_, String>(1)?,
                    row.try_get::<_, Option<i32>>(2)?,
                    row.try_get::<_, Vec<u8>>(3)?,
                    row.try_get::<_, Vec<u8>>(4)?,
                ))
            };
            let (round, recipient, slot, fp, log) = read().map_err(self.failed(doing))?;
            let bad = |why: BadColumn| fail(self.location, doing)(why);
            let put = Put {
                round,
                recipient: recipient.clone(),
                was: slot.map_or(Place::Settled, Place::Slot),
                log: Some(Log::decode(&log).map_err(bad)?),
                fingerprint: fingerprint_of(&fp).map_err(bad)?,
            };
            current.insert((round, recipient), put);
        }
        Ok(current)
    }

    /// Records a batch.
    pub(super) fn append(&mut self, batch: &[Delivery]) -> Result<(), StateError> {
        let (keys, runs) = self.ids_of(batch)?;
        let doing = match batch.len() {
            1 => format!(
                "cannot record the delivery of campaign {} to {}",
                Round::of(&batch[0].campaign, batch[0].occurrence),
                batch[0].recipient
            ),
            n => format!("cannot record {n} deliveries"),
        };
        let mut rows = self.current(&keys)?;
        let seqs = self.next_ids("attempt_seqs", batch.len())?;
        for (i, (d, &(round, recipient))) in batch.iter().zip(&keys).enumerate() {
            let key = (round, recipient.to_owned());
            let latest = rows.get(&key).and_then(|row| {
                let log = row.log.as_ref()?;
                let e = log.latest()?;
                Some((e.request, row.fingerprint, log.requests[e.request].hashed()))
            });
            let shared = latest
                .filter(|&(_, fp, hashed)| {
                    layout::shares(d.fingerprint, &d.request, Some((fp, hashed)))
                })
                .map(|(request, _, _)| request);
            let new_request = match shared {
                Some(_) => None,
                None => Some(Request {
                    fingerprint: layout::stored_fingerprint(d.fingerprint, &d.request)
                        .map(|_| d.fingerprint.0),
                    body: self.encode(round, d)?,
                }),
            };
            let row = rows.entry(key).or_insert_with(|| Put {
                round,
                recipient: recipient.to_owned(),
                was: Place::Nowhere,
                log: Some(Log::default()),
                fingerprint: d.fingerprint,
            });
            let log = row.log.get_or_insert_with(Log::default);
            let request = match (shared, new_request) {
                (Some(request), _) => request,
                (None, new) => {
                    log.requests.extend(new);
                    log.requests.len() - 1
                }
            };
            log.entries.push(Entry {
                seq: seqs[i],
                request,
                outcome: layout::outcome_code(d.outcome),
                pruned: d.request == PRUNED_REQUEST,
                at: layout::nanos(d.at).map_err(fail(self.location, &doing))?,
                run: runs[i],
                api_code: d.api_code,
                detail: d.detail.clone(),
            });
            row.fingerprint = d.fingerprint;
        }
        let mut puts = Vec::with_capacity(rows.len());
        for (round, recipient) in keys {
            if let Some(put) = rows.remove(&(round, recipient.to_owned())) {
                puts.push(put);
            }
        }
        self.put(&puts, &doing)
    }

    /// Writes each delivery's row where its latest row puts it: `intents` while that is an
    /// intent, else `deliveries`; removed when it has no rows.
    pub(super) fn put(&mut self, puts: &[Put], doing: &str) -> Result<(), StateError> {
        let mut unsettled: (Vec<i64>, Vec<&str>) = Default::default();
        let mut freed: Vec<i32> = Vec::new();
        let mut settled = Rows::default();
        let mut waiting: Vec<(Option<i32>, &Put, &Log)> = Vec::new();
        for put in puts {
            let log = put.log.as_ref().filter(|log| !log.entries.is_empty());
            let intent = log.and_then(Log::latest).map(|e| e.outcome == 0);
            if put.was == Place::Settled && intent != Some(false) {
                unsettled.0.push(put.round);
                unsettled.1.push(&put.recipient);
            }
            let slot = match put.was {
                Place::Slot(slot) => Some(slot),
                _ => None,
            };
            match (log, intent) {
                (Some(log), Some(true)) => waiting.push((slot, put, log)),
                (Some(log), Some(false)) => {
                    freed.extend(slot);
                    settled.push(put, log);
                }
                _ => freed.extend(slot),
            }
        }
        if !unsettled.0.is_empty() {
            let sql = self.sql(
                "DELETE FROM {s}deliveries d USING unnest($1::bigint[], $2::text[]) AS k(round, recipient)
                 WHERE d.round = k.round AND d.recipient = k.recipient",
            );
            self.client
                .execute(&sql, &[&unsettled.0, &unsettled.1])
                .map_err(self.failed(doing))?;
        }
        if !freed.is_empty() {
            let sql = self.sql(
                "UPDATE {s}intents SET round = NULL, recipient = NULL, fingerprint = NULL,
                     outcome = NULL, at = NULL, contact = NULL, log = NULL
                 WHERE slot = ANY($1)",
            );
            self.client
                .execute(&sql, &[&freed])
                .map_err(self.failed(doing))?;
        }
        if !settled.rounds.is_empty() {
            let sql = self.sql(
                "INSERT INTO {s}deliveries (round, recipient, fingerprint, outcome, at, contact, log)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::smallint[],
                                      $5::bigint[], $6::bigint[], $7::bytea[])
                 ON CONFLICT (round, recipient) DO UPDATE SET
                     fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                     at = excluded.at, contact = excluded.contact, log = excluded.log",
            );
            settled.write(self, &sql, None, doing)?;
        }
        if waiting.is_empty() {
            return Ok(());
        }
        let mut slots = self.free_slots(waiting.iter().filter(|w| w.0.is_none()).count(), doing)?;
        let mut rows = Rows::default();
        let mut numbers = Vec::with_capacity(waiting.len());
        for (slot, put, log) in waiting {
            numbers.push(match slot {
                Some(slot) => slot,
                None => slots.next().unwrap_or_default(),
            });
            rows.push(put, log);
        }
        let sql = self.sql(
            "INSERT INTO {s}intents (round, recipient, fingerprint, outcome, at, contact, log, slot)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::smallint[],
                                  $5::bigint[], $6::bigint[], $7::bytea[], $8::integer[])
             ON CONFLICT (slot) DO UPDATE SET
                 round = excluded.round, recipient = excluded.recipient,
                 fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                 at = excluded.at, contact = excluded.contact, log = excluded.log",
        );
        rows.write(self, &sql, Some(&numbers), doing)
    }

    /// `n` slots of `intents` to fill: free ones first, then new ones past the last.
    fn free_slots(&mut self, n: usize, doing: &str) -> Result<std::vec::IntoIter<i32>, StateError> {
        if n == 0 {
            return Ok(Vec::new().into_iter());
        }
        let sql = self.sql(
            "SELECT ARRAY(SELECT slot FROM {s}intents WHERE round IS NULL ORDER BY slot LIMIT $1),
                    (SELECT coalesce(max(slot), -1) FROM {s}intents)",
        );
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let row = self
            .client
            .query_one(&sql, &[&limit])
            .map_err(self.failed(doing))?;
        let read = || -> Result<(Vec<i32>, i32), postgres::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?))
        };
        let (mut found, last) = read().map_err(self.failed(doing))?;
        found.extend((1..).map(|i| last + i).take(n.saturating_sub(found.len())));
        Ok(found.into_iter())
    }
}

/// The columns of the rows a statement writes.
#[derive(Default)]
struct Rows<'a> {
    rounds: Vec<i64>,
    recipients: Vec<&'a str>,
    fingerprints: Vec<&'a [u8]>,
    outcomes: Vec<i16>,
    ats: Vec<i64>,
    contacts: Vec<Option<i64>>,
    logs: Vec<Vec<u8>>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, put: &'a Put, log: &Log) {
        let latest = log.latest();
        self.rounds.push(put.round);
        self.recipients.push(&put.recipient);
        self.fingerprints.push(&put.fingerprint.0[..]);
        self.outcomes.push(latest.map_or(0, |e| e.outcome));
        self.ats.push(latest.map_or(0, |e| e.at));
        self.contacts.push(log.contact());
        self.logs.push(log.encode());
    }

    fn write<C: GenericClient>(
        &self,
        writer: &mut Writer<'_, C>,
        sql: &str,
        slots: Option<&Vec<i32>>,
        doing: &str,
    ) -> Result<(), StateError> {
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
            &self.rounds,
            &self.recipients,
            &self.fingerprints,
            &self.outcomes,
            &self.ats,
            &self.contacts,
            &self.logs,
        ];
        if let Some(slots) = slots {
            params.push(slots);
        }
        writer
            .client
            .execute(sql, &params)
            .map_err(fail(writer.location, doing))
            .map(drop)
    }
}

impl super::PostgresStore {
    /// Runs `write` with a writer in a transaction of its own, which also counts the serial
    /// up: every change to deliveries makes earlier plans stale.
    pub(super) fn in_transaction(
        &mut self,
        doing: &str,
        write: impl FnOnce(&mut Writer<'_, postgres::Transaction<'_>>) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let location = self.location.clone();
        let prefix = format!("{}.", self.schema);
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        let mut tx = self
            .client
            .get_mut()
            .transaction()
            .map_err(fail(&location, doing))?;
        write(&mut Writer {
            client: &mut tx,
            prefix: &prefix,
            ids: self.ids.get_mut(),
            location: &location,
        })?;
        tx.execute(&serial, &[]).map_err(fail(&location, doing))?;
        tx.commit().map_err(fail(&location, doing))
    }

    /// Writes changed rows back ([`Writer::put`]).
    pub(super) fn write_puts(&mut self, puts: &[Put], doing: &str) -> Result<(), StateError> {
        self.in_transaction(doing, |writer| writer.put(puts, doing))
    }
}
