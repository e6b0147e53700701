//! Recording attempts in the compact layout ([`crate::state::layout`]), a batch at a time:
//! ids are taken from sequences first, so that the batch's requests, attempts and deliveries
//! are each written by one statement.

use std::collections::HashMap;
use std::sync::Arc;

use postgres::GenericClient;

use super::super::compact::{self, Skeleton};
use super::super::layout::{self, Ids};
use super::super::sql::{fail, fingerprint_of, occurrence_text};
use super::super::{Delivery, PRUNED_REQUEST, Round, StateError};
use crate::fingerprint::Fingerprint;

/// A batch writer: a client (inside a transaction), the schema's prefix and the store's ids.
pub(super) struct Writer<'a, C: GenericClient> {
    pub(super) client: &'a mut C,
    /// The quoted schema and a dot: `"herald".`.
    pub(super) prefix: &'a str,
    pub(super) ids: &'a mut Ids,
    pub(super) location: &'a str,
}

/// A delivery's latest row: fingerprint, seq, request, and whether the request can be shared.
type Latest = (Fingerprint, i64, i64, bool);

impl<C: GenericClient> Writer<'_, C> {
    fn sql(&self, sql: &str) -> String {
        sql.replace("{s}", self.prefix)
    }

    fn failed(&self, doing: &str) -> impl FnOnce(postgres::Error) -> StateError {
        fail(self.location, doing.to_owned())
    }

    /// The id of a round, made when new.
    fn round(&mut self, campaign: &str, occurrence: &str) -> Result<i64, StateError> {
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
    fn run(&mut self, name: &str) -> Result<i64, StateError> {
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
    fn next_ids(&mut self, sequence: &str, n: usize) -> Result<Vec<i64>, StateError> {
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

    /// The latest rows of the batch's deliveries, as state holds them.
    fn latest(
        &mut self,
        keys: &[(i64, &str)],
    ) -> Result<HashMap<(i64, String), Latest>, StateError> {
        let doing = "cannot read the deliveries being recorded";
        let rounds: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let recipients: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let sql = self.sql(
            "SELECT d.round, d.recipient, d.fingerprint, d.seq, a.request,
                    q.fingerprint IS NULL AND q.body IS NOT NULL
             FROM unnest($1::bigint[], $2::text[]) AS k(round, recipient)
             JOIN {s}deliveries d ON d.round = k.round AND d.recipient = k.recipient
             JOIN {s}attempts a ON a.seq = d.seq JOIN {s}requests q ON q.id = a.request",
        );
        let rows = self
            .client
            .query(&sql, &[&rounds, &recipients])
            .map_err(self.failed(doing))?;
        let mut latest = HashMap::new();
        for row in rows {
            let read = || -> Result<_, postgres::Error> {
                Ok((
                    row.try_get::<_, i64>(0)?,
                    row.try_get::<_, String>(1)?,
                    row.try_get::<_, Vec<u8>>(2)?,
                    row.try_get::<_, i64>(3)?,
                    row.try_get::<_, i64>(4)?,
                    row.try_get::<_, bool>(5)?,
                ))
            };
            let (round, recipient, fp, seq, request, hashed) =
                read().map_err(self.failed(doing))?;
            let fp = fingerprint_of(&fp).map_err(fail(self.location, doing))?;
            latest.insert((round, recipient), (fp, seq, request, hashed));
        }
        Ok(latest)
    }

    /// Records a batch.
    pub(super) fn append(&mut self, batch: &[Delivery]) -> Result<(), StateError> {
        let mut keys = Vec::with_capacity(batch.len());
        let mut runs = Vec::with_capacity(batch.len());
        for d in batch {
            keys.push((
                self.round(&d.campaign, &occurrence_text(d.occurrence))?,
                d.recipient.as_str(),
            ));
            runs.push(self.run(&d.apply_id)?);
        }
        let mut latest = self.latest(&keys)?;
        // Which rows share their delivery's latest request, in batch order: a delivery twice
        // in the batch shares with its own earlier row.
        let mut new_requests = 0;
        let mut plan: Vec<(Option<i64>, Option<i64>)> = Vec::with_capacity(batch.len());
        let mut pending: HashMap<(i64, &str), (Fingerprint, bool, usize)> = HashMap::new();
        for (d, key) in batch.iter().zip(&keys) {
            let earlier = pending.get(key).copied();
            let (prev_request, prev) = match earlier {
                Some((fp, hashed, i)) => {
                    let shared = layout::shares(d.fingerprint, &d.request, Some((fp, hashed)));
                    (shared.then_some(-(i as i64) - 1), Some(-(i as i64) - 1))
                }
                None => match latest.get(&(key.0, key.1.to_owned())) {
                    Some(&(fp, seq, request, hashed)) => {
                        let shared = layout::shares(d.fingerprint, &d.request, Some((fp, hashed)));
                        (shared.then_some(request), Some(seq))
                    }
                    None => (None, None),
                },
            };
            if prev_request.is_none() {
                new_requests += 1;
            }
            let hashed = layout::stored_fingerprint(d.fingerprint, &d.request).is_none();
            pending.insert(*key, (d.fingerprint, hashed, plan.len()));
            plan.push((prev_request, prev));
        }
        latest.clear();
        let request_ids = self.next_ids("request_ids", new_requests)?;
        let seqs = self.next_ids("attempt_seqs", batch.len())?;
        let mut next_request = request_ids.into_iter();
        // Rows of new requests, then attempts; negative references are rows of this batch.
        let mut row_request: Vec<i64> = Vec::with_capacity(batch.len());
        let mut requests = NewRequests::default();
        for (i, (d, key)) in batch.iter().zip(&keys).enumerate() {
            let (shared, _) = plan[i];
            let id = match shared {
                Some(r) if r < 0 => row_request[(-r - 1) as usize],
                Some(r) => r,
                None => {
                    let id = next_request.next().ok_or_else(|| {
                        fail(self.location, "cannot number the requests")(
                            super::super::sql::BadColumn("too few ids".to_owned()),
                        )
                    })?;
                    let body = self.encode(key.0, d)?;
                    requests.push(id, key.0, d, body);
                    id
                }
            };
            row_request.push(id);
        }
        let doing = match batch.len() {
            1 => format!(
                "cannot record the delivery of campaign {} to {}",
                Round::of(&batch[0].campaign, batch[0].occurrence),
                batch[0].recipient
            ),
            n => format!("cannot record {n} deliveries"),
        };
        let sql = self.sql(
            "INSERT INTO {s}requests (id, round, recipient, fingerprint, body)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[])",
        );
        self.client
            .execute(
                &sql,
                &[
                    &requests.ids,
                    &requests.rounds,
                    &requests.recipients,
                    &requests.fingerprints,
                    &requests.bodies,
                ],
            )
            .map_err(self.failed(&doing))?;
        let mut prevs = Vec::with_capacity(batch.len());
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut ats = Vec::with_capacity(batch.len());
        let mut api_codes = Vec::with_capacity(batch.len());
        let mut details = Vec::with_capacity(batch.len());
        let mut pruned = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            let prev = plan[i]
                .1
                .map(|p| if p < 0 { seqs[(-p - 1) as usize] } else { p });
            prevs.push(prev);
            outcomes.push(i64::from(layout::outcome_code(d.outcome)));
            ats.push(layout::nanos(d.at).map_err(fail(self.location, &doing))?);
            api_codes.push(d.api_code);
            details.push(d.detail.as_deref());
            pruned.push(i64::from(d.request == PRUNED_REQUEST));
        }
        let sql = self.sql(
            "INSERT INTO {s}attempts (seq, request, prev, outcome, at, run, api_code, detail, pruned)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[])",
        );
        self.client
            .execute(
                &sql,
                &[
                    &seqs,
                    &row_request,
                    &prevs,
                    &outcomes,
                    &ats,
                    &runs,
                    &api_codes,
                    &details,
                    &pruned,
                ],
            )
            .map_err(self.failed(&doing))?;
        // Each delivery's latest row: the last of the batch.
        let mut last: HashMap<(i64, &str), usize> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            last.insert(*key, i);
        }
        let mut order: Vec<usize> = last.into_values().collect();
        order.sort_unstable();
        let d_rounds: Vec<i64> = order.iter().map(|&i| keys[i].0).collect();
        let d_recipients: Vec<&str> = order.iter().map(|&i| keys[i].1).collect();
        let d_fps: Vec<&[u8]> = order.iter().map(|&i| &batch[i].fingerprint.0[..]).collect();
        let d_outcomes: Vec<i64> = order.iter().map(|&i| outcomes[i]).collect();
        let d_ats: Vec<i64> = order.iter().map(|&i| ats[i]).collect();
        let d_seqs: Vec<i64> = order.iter().map(|&i| seqs[i]).collect();
        let sql = self.sql(
            "INSERT INTO {s}deliveries (round, recipient, fingerprint, outcome, at, seq)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[],
                                  $5::bigint[], $6::bigint[])
             ON CONFLICT (round, recipient) DO UPDATE SET
                 fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                 at = excluded.at, seq = excluded.seq",
        );
        self.client
            .execute(
                &sql,
                &[
                    &d_rounds,
                    &d_recipients,
                    &d_fps,
                    &d_outcomes,
                    &d_ats,
                    &d_seqs,
                ],
            )
            .map_err(self.failed(&doing))?;
        Ok(())
    }

    /// A request's body, encoded (a new skeleton stored first when it makes one); `None` for
    /// a pruned request.
    fn encode(&mut self, round: i64, d: &Delivery) -> Result<Option<Vec<u8>>, StateError> {
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
}

/// The columns of the requests a batch adds.
#[derive(Default)]
struct NewRequests<'a> {
    ids: Vec<i64>,
    rounds: Vec<i64>,
    recipients: Vec<&'a str>,
    fingerprints: Vec<Option<Vec<u8>>>,
    bodies: Vec<Option<Vec<u8>>>,
}

impl<'a> NewRequests<'a> {
    fn push(&mut self, id: i64, round: i64, d: &'a Delivery, body: Option<Vec<u8>>) {
        self.ids.push(id);
        self.rounds.push(round);
        self.recipients.push(&d.recipient);
        self.fingerprints
            .push(layout::stored_fingerprint(d.fingerprint, &d.request));
        self.bodies.push(body);
    }
}
