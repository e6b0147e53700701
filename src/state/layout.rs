//! The compact layout both SQL backends share (schema version 6), and what they do alike with
//! it: ids for rounds and runs, requests encoded against their round's skeleton
//! ([`super::compact`]), times as integers, attempts read back into [`Delivery`] values.
//! PostgreSQL's schema 7 keeps `rounds`, `runs` and `skeletons` and the same encodings, but
//! packs a delivery's `requests` and `attempts` into its row of `deliveries`
//! ([`super::postgres`]); it reads this layout only to migrate a schema 6 state.
//!
//! Tables (`{s}` is where the backend's tables are):
//!
//! - `rounds (id, campaign, occurrence)`: a round's id, so that no row repeats a campaign's
//!   name (`occurrence` is empty for a one-off campaign, else RFC 3339 as
//!   [`super::sql::timestamp_text`] writes it).
//! - `runs (id, name)`: the applies and operator commands that recorded attempts.
//! - `skeletons (id, round, request)`: the reference requests of a round.
//! - `requests (id, round, recipient, fingerprint, body)`: a delivery's request, once however
//!   many attempts and outcomes sent it; `fingerprint` only when it is not the SHA-256 of the
//!   request (or the body is gone); `body` encoded ([`super::compact`]), NULL once every row
//!   that sent it was pruned.
//! - `attempts (seq, request, prev, outcome, at, run, api_code, detail, pruned)`: the history,
//!   a small row per attempt and per outcome; `prev` is the delivery's previous row, so a
//!   delivery's history is a chain walked from `deliveries` without an index.
//! - `deliveries (round, recipient, fingerprint, outcome, at, seq)`: each delivery's latest
//!   row, what plan scans.
//! - `erased (round, hash, outcome)`: what `herald state erase` keeps of an erased delivery.
//! - `operations (id, at, who, what, rows)`: the log of prunes and erasures.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::compact::{self, Skeleton};
use super::sql::{BadColumn, Column, Columns, corrupt};
use super::{Delivery, Outcome, PRUNED_REQUEST, StateError};
use crate::fingerprint::Fingerprint;

/// An outcome as stored.
pub(super) fn outcome_code(outcome: Outcome) -> i16 {
    match outcome {
        Outcome::InFlight => 0,
        Outcome::Sent => 1,
        Outcome::Failed => 2,
        Outcome::Unknown => 3,
    }
}

/// The outcome stored as `code`.
pub(super) fn outcome_of(code: i64) -> Column<Outcome> {
    match code {
        0 => Ok(Outcome::InFlight),
        1 => Ok(Outcome::Sent),
        2 => Ok(Outcome::Failed),
        3 => Ok(Outcome::Unknown),
        other => Err(BadColumn(format!("its outcome `{other}` is unknown"))),
    }
}

/// A time as stored: nanoseconds since 1970 (8 bytes, where RFC 3339 text took 30).
pub(super) fn nanos(at: Timestamp) -> Result<i64, BadColumn> {
    i64::try_from(at.as_nanosecond())
        .map_err(|_| BadColumn(format!("{at} is outside the years 1678 to 2261")))
}

/// A time stored by [`nanos`].
pub(super) fn from_nanos(ns: i64) -> Column<Timestamp> {
    Timestamp::from_nanosecond(i128::from(ns))
        .map_err(|e| BadColumn(format!("`{ns}` is not a time: {e}")))
}

/// The columns of an attempt, in the order [`read_attempt`] reads them, and the joins that
/// give them (`{s}` is the backend's prefix).
pub(super) const ATTEMPT_SELECT: &str = "SELECT r.campaign, r.occurrence, q.recipient,
        q.fingerprint, q.body, a.outcome, a.api_code, a.detail, a.at, u.name, a.pruned, a.seq
    FROM {s}attempts a JOIN {s}requests q ON q.id = a.request
    JOIN {s}rounds r ON r.id = q.round JOIN {s}runs u ON u.id = a.run";

/// A delivery's rows, latest first then back through `prev`, as `chain(seq)`: `$1` is the
/// round's id, `{recipient}` an optional `AND recipient = $2`.
pub(super) const CHAIN: &str = "WITH RECURSIVE chain(seq) AS (
        SELECT seq FROM {s}deliveries WHERE round = $1 {recipient}
        UNION ALL
        SELECT a.prev FROM {s}attempts a JOIN chain c ON a.seq = c.seq WHERE a.prev IS NOT NULL
    )";

/// Reads a row of [`ATTEMPT_SELECT`], decoding its request with the skeletons `skeleton`
/// finds; a corrupt one is an error naming the delivery.
pub(super) fn read_attempt(
    row: &impl Columns,
    location: &str,
    skeleton: &mut dyn FnMut(i64) -> Result<Option<Arc<Skeleton>>, StateError>,
) -> Result<Delivery, StateError> {
    let name = |i| row.text(i).unwrap_or_else(|_| "?".to_owned());
    let bad = |why: BadColumn| corrupt(location, &name(0), &name(2), why);
    let recipient = row.text(2).map_err(bad)?;
    let pruned = row.int(10).map_err(bad)? != 0;
    let body = row.optional_blob(4).map_err(bad)?;
    // The body is decoded even for a pruned row whose request another row still sends: its
    // fingerprint is the hash of it.
    let text = match &body {
        Some(body) => {
            let found = match compact::skeleton_of(body) {
                Some(id) => skeleton(id)?,
                None => None,
            };
            Some(
                compact::decode(body, &recipient, found.as_deref())
                    .map_err(|e| bad(BadColumn(e.0)))?,
            )
        }
        None if pruned => None,
        None => {
            return Err(bad(BadColumn(
                "its request is missing though it was never pruned".to_owned(),
            )));
        }
    };
    let fingerprint = match (row.optional_blob(3).map_err(bad)?, &text) {
        (Some(bytes), _) => super::sql::fingerprint_of(&bytes).map_err(bad)?,
        (None, Some(text)) => Fingerprint::of(text.as_bytes()),
        (None, None) => {
            return Err(bad(BadColumn(
                "its fingerprint is missing though its request is gone".to_owned(),
            )));
        }
    };
    let request = match text {
        Some(text) if !pruned => text,
        _ => PRUNED_REQUEST.to_owned(),
    };
    let read = || -> Column<Delivery> {
        Ok(Delivery {
            campaign: row.text(0)?,
            occurrence: row.occurrence(1)?,
            recipient: recipient.clone(),
            fingerprint,
            request: request.clone(),
            outcome: row.outcome(5)?,
            api_code: row.optional_int(6)?,
            detail: row.optional_text(7)?,
            at: from_nanos(row.int(8)?)?,
            apply_id: row.text(9)?,
        })
    };
    read().map_err(bad)
}

/// A stored request as text with its fingerprint (the stored one, or the hash of the text);
/// `None` when its body is gone (every row that sent it was pruned).
pub(super) fn stored_request(
    location: &str,
    recipient: &str,
    fingerprint: Option<Vec<u8>>,
    body: Option<Vec<u8>>,
    skeleton: &mut dyn FnMut(i64) -> Result<Option<Arc<Skeleton>>, StateError>,
) -> Result<Option<(String, Fingerprint)>, StateError> {
    let Some(body) = body else {
        return Ok(None);
    };
    let found = match compact::skeleton_of(&body) {
        Some(id) => skeleton(id)?,
        None => None,
    };
    let bad = |why: String| StateError::Backend {
        location: location.to_owned(),
        message: format!("the state's request to {recipient} is corrupt: {why}"),
    };
    let text = compact::decode(&body, recipient, found.as_deref()).map_err(|e| bad(e.0))?;
    let fingerprint = match fingerprint {
        Some(bytes) => super::sql::fingerprint_of(&bytes).map_err(|e| bad(e.0))?,
        None => Fingerprint::of(text.as_bytes()),
    };
    Ok(Some((text, fingerprint)))
}

/// Skeletons kept per round: a round whose requests come in more shapes than this stores the
/// rest whole.
pub(super) const MAX_SKELETONS: usize = 4;

/// What a store knows of its ids, so that recording a batch asks the database only for what
/// it has not seen: rounds, runs and skeletons never change once written. Cleared when a
/// transaction fails (what it wrote is gone).
#[derive(Debug, Default)]
pub(super) struct Ids {
    /// Rounds by (campaign, occurrence as stored).
    pub(super) rounds: HashMap<(String, String), i64>,
    /// Runs by name.
    pub(super) runs: HashMap<String, i64>,
    /// Skeletons by id.
    pub(super) skeletons: HashMap<i64, Arc<Skeleton>>,
    /// The skeleton ids of the rounds whose skeletons were loaded.
    pub(super) of_round: HashMap<i64, Vec<i64>>,
    /// Per round, a request not yet paired with another of its shape: the next one of that
    /// shape makes the round's skeleton with it ([`Skeleton::merge`]).
    pub(super) unpaired: HashMap<i64, Skeleton>,
}

/// How a request is to be stored: a new skeleton to add first, then the encoded body.
pub(super) struct Encoded {
    /// A skeleton made of this request and an earlier one, to be stored under this id.
    pub(super) new_skeleton: Option<Skeleton>,
    /// The body, encoded against the round's skeletons (and the new one).
    pub(super) body: Vec<u8>,
}

impl Ids {
    /// Encodes `request` of `recipient` in `round` (whose skeletons are loaded), with
    /// `next_id` the id a new skeleton would get.
    pub(super) fn encode(
        &mut self,
        round: i64,
        recipient: &str,
        request: &str,
        next_id: &mut dyn FnMut() -> Result<i64, StateError>,
    ) -> Result<Encoded, StateError> {
        let ids = self.of_round.get(&round).cloned().unwrap_or_default();
        let known: Vec<(i64, &Skeleton)> = ids
            .iter()
            .filter_map(|id| Some((*id, &**self.skeletons.get(id)?)))
            .collect();
        let body = compact::encode(request, recipient, &known);
        if compact::skeleton_of(&body).is_some() || ids.len() >= MAX_SKELETONS {
            return Ok(Encoded {
                new_skeleton: None,
                body,
            });
        }
        let cut = Skeleton::new(request.as_bytes());
        let merged = self
            .unpaired
            .get(&round)
            .and_then(|first| first.merge(&cut));
        let Some(merged) = merged else {
            self.unpaired.insert(round, cut);
            return Ok(Encoded {
                new_skeleton: None,
                body,
            });
        };
        self.unpaired.remove(&round);
        let id = next_id()?;
        let merged = Arc::new(merged);
        self.skeletons.insert(id, merged.clone());
        self.of_round.entry(round).or_default().push(id);
        let body = compact::encode(request, recipient, &[(id, &merged)]);
        Ok(Encoded {
            new_skeleton: Some((*merged).clone()),
            body,
        })
    }
}

/// Whether a new row with `fingerprint` and `request` can share the request of its delivery's
/// latest row (`latest`: its fingerprint, and whether its request is stored as its SHA-256
/// with its body): only the same request, byte for byte, which the hash of a stored body
/// vouches for.
pub(super) fn shares(
    fingerprint: Fingerprint,
    request: &str,
    latest: Option<(Fingerprint, bool)>,
) -> bool {
    latest.is_some_and(|(fp, hashed)| {
        hashed
            && fp == fingerprint
            && request != PRUNED_REQUEST
            && Fingerprint::of(request.as_bytes()) == fingerprint
    })
}

/// The stored fingerprint of a new request row: none when it is the request's SHA-256.
pub(super) fn stored_fingerprint(fingerprint: Fingerprint, request: &str) -> Option<Vec<u8>> {
    let derived = request != PRUNED_REQUEST && Fingerprint::of(request.as_bytes()) == fingerprint;
    (!derived).then(|| fingerprint.0.to_vec())
}

/// [`super::Store::contacts_since`]'s rows, for [`super::contacts::Attempts`]: the `failed`
/// rows, then the `in_flight` rows (the attempts), from `$1` (as [`nanos`]). Each reads only
/// its rows through a partial index on `at`. A broadcast's request comes with its attempt:
/// its body names the recipients.
pub(super) const CONTACTS_SQL: [&str; 2] = [
    "SELECT r.campaign, r.occurrence, q.recipient, a.at, NULL
     FROM {s}attempts a JOIN {s}requests q ON q.id = a.request
     JOIN {s}rounds r ON r.id = q.round
     WHERE a.outcome = 2 AND a.at >= $1",
    "SELECT r.campaign, r.occurrence, q.recipient, a.at,
            CASE WHEN q.recipient = '*' AND a.pruned = 0 THEN q.body END
     FROM {s}attempts a JOIN {s}requests q ON q.id = a.request
     JOIN {s}rounds r ON r.id = q.round
     WHERE a.outcome = 0 AND a.at >= $1",
];

/// The latest occurrence of campaign `$1` that has deliveries.
pub(super) const LATEST_OCCURRENCE_SQL: &str = "SELECT max(r.occurrence) FROM {s}rounds r
    WHERE r.campaign = $1 AND r.occurrence <> ''
      AND EXISTS (SELECT 1 FROM {s}deliveries d WHERE d.round = r.id)";

/// Counting each round's deliveries by outcome: its columns in the order
/// [`campaign_totals`] reads them.
pub(super) const CAMPAIGN_TOTALS_SQL: &str = "SELECT r.campaign,
        count(*) FILTER (WHERE d.outcome = 1),
        count(*) FILTER (WHERE d.outcome = 2),
        count(*) FILTER (WHERE d.outcome = 0 OR d.outcome = 3),
        max(d.at),
        r.occurrence
    FROM {s}deliveries d JOIN {s}rounds r ON r.id = d.round
    GROUP BY r.id, r.campaign, r.occurrence ORDER BY r.campaign, r.occurrence";

/// A row of [`CAMPAIGN_TOTALS_SQL`].
pub(super) fn campaign_totals(row: &impl Columns) -> Column<super::CampaignTotals> {
    Ok(super::CampaignTotals {
        campaign: row.text(0)?,
        sent: row.count(1)?,
        failed: row.count(2)?,
        unknown: row.count(3)?,
        last_at: from_nanos(row.int(4)?)?,
        occurrence: row.occurrence(5)?,
    })
}
