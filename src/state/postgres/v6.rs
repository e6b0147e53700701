//! Recording attempts in schema 6's layout ([`crate::state::layout`]: a row per request, per
//! attempt and per outcome), kept only to migrate a schema 5 state through version 6 before
//! [`super::upgrade`] packs it into schema 7. Ids are taken from sequences first, so that a
//! batch's requests, attempts and deliveries are each written by one statement.

use std::collections::HashMap;

use postgres::GenericClient;

use super::super::layout;
use super::super::sql::{fail, fingerprint_of};
use super::super::{Delivery, PRUNED_REQUEST, Round, StateError};
use super::record::Writer;
use crate::fingerprint::Fingerprint;

/// A delivery's latest row: fingerprint, seq, request, and whether the request can be shared.
type Latest = (Fingerprint, i64, i64, bool);

impl<C: GenericClient> Writer<'_, C> {
    fn latest_v6(
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

    /// Records a batch in schema 6's tables.
    pub(super) fn append_v6(&mut self, batch: &[Delivery]) -> Result<(), StateError> {
        let (keys, runs) = self.ids_of(batch)?;
        let mut latest = self.latest_v6(&keys)?;
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
