//! What the SQL backends share: how timestamps are stored, how rows are read into state types,
//! and how failures are reported.

use std::fmt;

use jiff::Timestamp;

use super::{ApplyRecord, CampaignTotals, Delivery, Lock, Outcome, StateError, TestSend};
use crate::fingerprint::Fingerprint;

/// A timestamp as stored: RFC 3339 in UTC with all nine fractional digits, so that text order
/// is time order (`max(at)`, `ORDER BY started_at`).
pub(super) fn timestamp_text(at: Timestamp) -> String {
    format!("{at:.9}")
}

/// [`super::Store::contacts_since`]'s history rows, for [`super::contacts::Attempts`]: the
/// `failed` rows, then the `in_flight` rows (the attempts), of the span from `$1` (as
/// [`timestamp_text`]: text order is time order). `{s}` is the schema prefix. Each reads only
/// its rows through a partial index on `at` (migration 5). A broadcast's request comes with its
/// attempt: its body names the recipients.
pub(super) const CONTACTS_SQL: [&str; 2] = [
    "SELECT campaign, occurrence, recipient, at, NULL
     FROM {s}history WHERE outcome = 'failed' AND at >= $1",
    "SELECT campaign, occurrence, recipient, at, CASE WHEN recipient = '*' THEN request END
     FROM {s}history WHERE outcome = 'in_flight' AND at >= $1",
];

/// A round's occurrence as stored: empty for a one-off campaign's one round, else as
/// [`timestamp_text`] (the column is part of the key, and NULL is never equal to NULL).
pub(super) fn occurrence_text(occurrence: Option<Timestamp>) -> String {
    occurrence.map(timestamp_text).unwrap_or_default()
}

message_error! {
    /// What is wrong with a stored value: the state is corrupt there.
    pub(super) struct BadColumn;
}

/// A value read from a column, or what is wrong with it.
pub(super) type Column<T> = Result<T, BadColumn>;

/// A stored timestamp.
pub(super) fn parse_timestamp(text: &str) -> Column<Timestamp> {
    text.parse()
        .map_err(|e| BadColumn(format!("`{text}` is not a timestamp: {e}")))
}

/// Maps an error to [`StateError::Backend`], saying what was being done and why: the error
/// and its sources (the PostgreSQL client's error says only `db error`; the server's message,
/// `permission denied for schema herald`, is its source).
pub(super) fn fail<E: std::error::Error>(
    location: &str,
    doing: impl fmt::Display,
) -> impl FnOnce(E) -> StateError {
    move |err| {
        let mut message = format!("{doing}: {err}");
        let mut said = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            // A source that only repeats what was said (SQLite's `Error code 8: …`) adds
            // nothing.
            let text = cause.to_string();
            if !text.contains(&said) {
                message.push_str(&format!(": {text}"));
            }
            said = text;
            source = cause.source();
        }
        StateError::Backend {
            location: location.to_owned(),
            message,
        }
    }
}

/// A stored delivery that cannot be read, named.
pub(super) fn corrupt(
    location: &str,
    campaign: &str,
    recipient: &str,
    why: BadColumn,
) -> StateError {
    StateError::Backend {
        location: location.to_owned(),
        message: format!(
            "the state's delivery of campaign {campaign} to {recipient} is corrupt: {why}"
        ),
    }
}

/// A result row of either backend, read by column index; errors say what is wrong with the
/// value, for [`corrupt`] and [`fail`].
pub(super) trait Columns {
    /// A text column.
    fn text(&self, i: usize) -> Column<String>;
    /// A nullable text column.
    fn optional_text(&self, i: usize) -> Column<Option<String>>;
    /// An integer column.
    fn int(&self, i: usize) -> Column<i64>;
    /// A nullable integer column.
    fn optional_int(&self, i: usize) -> Column<Option<i64>>;
    /// A fingerprint column, which must hold 32 bytes.
    fn fingerprint(&self, i: usize) -> Column<Fingerprint>;

    /// A count, which must not be negative.
    fn count(&self, i: usize) -> Column<u64> {
        let n = self.int(i)?;
        u64::try_from(n).map_err(|_| BadColumn(format!("a count is negative ({n})")))
    }

    /// An outcome, which must be one of [`Outcome::as_str`]'s names.
    fn outcome(&self, i: usize) -> Column<Outcome> {
        let text = self
            .text(i)
            .map_err(|e| BadColumn(format!("its outcome is not text: {e}")))?;
        Outcome::parse(&text).ok_or_else(|| BadColumn(format!("its outcome `{text}` is unknown")))
    }

    /// A timestamp stored by [`timestamp_text`].
    fn timestamp(&self, i: usize) -> Column<Timestamp> {
        parse_timestamp(&self.text(i)?)
    }

    /// An occurrence stored by [`occurrence_text`].
    fn occurrence(&self, i: usize) -> Column<Option<Timestamp>> {
        let text = self.text(i)?;
        match text.as_str() {
            "" => Ok(None),
            _ => parse_timestamp(&text).map(Some),
        }
    }
}

/// The bytes of a stored fingerprint as a [`Fingerprint`].
pub(super) fn fingerprint_of(bytes: &[u8]) -> Column<Fingerprint> {
    <[u8; 32]>::try_from(bytes).map(Fingerprint).map_err(|_| {
        BadColumn(format!(
            "its fingerprint is {} bytes long, not 32",
            bytes.len()
        ))
    })
}

/// The columns of a [`Delivery`] in `history`, in the order [`delivery`] reads them.
pub(super) const DELIVERY_COLUMNS: &str = "campaign, recipient, fingerprint, outcome, api_code, \
     detail, at, apply_id, request, occurrence";

/// A row of [`DELIVERY_COLUMNS`]; a corrupt one is an error naming the delivery.
pub(super) fn delivery(row: &impl Columns, location: &str) -> Result<Delivery, StateError> {
    let read = || -> Column<Delivery> {
        Ok(Delivery {
            campaign: row.text(0)?,
            recipient: row.text(1)?,
            fingerprint: row.fingerprint(2)?,
            outcome: row.outcome(3)?,
            api_code: row.optional_int(4)?,
            detail: row.optional_text(5)?,
            at: row.timestamp(6)?,
            apply_id: row.text(7)?,
            request: row.text(8)?,
            occurrence: row.occurrence(9)?,
        })
    };
    read().map_err(|why| {
        let name = |i| row.text(i).unwrap_or_else(|_| "?".to_owned());
        corrupt(location, &name(0), &name(1), why)
    })
}

/// The columns of an [`ApplyRecord`] in `applies`, in the order [`apply_record`] reads them.
pub(super) const APPLY_COLUMNS: &str =
    "id, who, started_at, finished_at, plan_hash, sent, failed, unknown";

/// A row of [`APPLY_COLUMNS`].
pub(super) fn apply_record(row: &impl Columns) -> Column<ApplyRecord> {
    Ok(ApplyRecord {
        id: row.text(0)?,
        who: row.text(1)?,
        started_at: row.timestamp(2)?,
        finished_at: row
            .optional_text(3)?
            .as_deref()
            .map(parse_timestamp)
            .transpose()?,
        plan_hash: row.text(4)?,
        sent: row.count(5)?,
        failed: row.count(6)?,
        unknown: row.count(7)?,
    })
}

/// The columns of a [`TestSend`] in `test_sends`, in the order [`test_send`] reads them.
pub(super) const TEST_SEND_COLUMNS: &str =
    "id, who, at, campaign, rendered_for, phone, outcome, api_code, detail";

/// A row of [`TEST_SEND_COLUMNS`].
pub(super) fn test_send(row: &impl Columns) -> Column<TestSend> {
    Ok(TestSend {
        id: row.text(0)?,
        who: row.text(1)?,
        at: row.timestamp(2)?,
        campaign: row.text(3)?,
        rendered_for: row.text(4)?,
        phone: row.text(5)?,
        outcome: row.outcome(6)?,
        api_code: row.optional_int(7)?,
        detail: row.optional_text(8)?,
    })
}

/// A row of `id, holder, since` from `lock`.
pub(super) fn lock(row: &impl Columns) -> Column<Lock> {
    Ok(Lock {
        id: row.text(0)?,
        holder: row.text(1)?,
        since: row.timestamp(2)?,
    })
}

/// Counting each round's deliveries by outcome: its columns in the order
/// [`campaign_totals`] reads them (`{s}` is where the backend's tables are).
pub(super) const CAMPAIGN_TOTALS_SQL: &str = "SELECT campaign,
        count(*) FILTER (WHERE outcome = 'sent'),
        count(*) FILTER (WHERE outcome = 'failed'),
        count(*) FILTER (WHERE outcome IN ('unknown', 'in_flight')),
        max(at),
        occurrence
    FROM {s}deliveries GROUP BY campaign, occurrence ORDER BY campaign, occurrence";

/// A row of [`CAMPAIGN_TOTALS_SQL`].
pub(super) fn campaign_totals(row: &impl Columns) -> Column<CampaignTotals> {
    Ok(CampaignTotals {
        campaign: row.text(0)?,
        sent: row.count(1)?,
        failed: row.count(2)?,
        unknown: row.count(3)?,
        last_at: row.timestamp(4)?,
        occurrence: row.occurrence(5)?,
    })
}

/// A lineage as shown and recorded in plans: the stored number as 16 hex digits.
pub(super) fn lineage_text(value: i64) -> String {
    format!("{:016x}", value as u64)
}

/// The stored number of a lineage shown by [`lineage_text`]; `None` when it is not one.
pub(super) fn lineage_value(text: &str) -> Option<i64> {
    u64::from_str_radix(text, 16).ok().map(|v| v as i64)
}

/// The history rows [`super::Store::prune`] drops the request of, as a `WHERE` clause on
/// `{s}history h` with `$1` the cut-off (as [`timestamp_text`]): rows recorded before it whose
/// request is still there, that are either
///
/// - an outcome that settled an attempt (`sent`, `failed`), or
/// - the intent (`in_flight`) of an attempt a `sent` or `failed` row of the same delivery
///   settled later, also before the cut-off, and not a broadcast's (`*`): pacing reads the
///   recipients of a template broadcast from its intent's request.
///
/// Never an `unknown` row, nor the intent of an attempt still unknown or in flight:
/// reconciling and `apply --resend-unknown` read those requests. `history` is scanned once; an
/// intent's settling row is found through the `history_delivery` index.
const PRUNABLE: &str = "h.at < $1 AND h.request <> ''
      AND (h.outcome = 'sent' OR h.outcome = 'failed'
           OR (h.outcome = 'in_flight' AND h.recipient <> '*' AND EXISTS (
               SELECT 1 FROM {s}history l
               WHERE l.campaign = h.campaign AND l.occurrence = h.occurrence
                 AND l.recipient = h.recipient AND l.seq > h.seq AND l.at < $1
                 AND (l.outcome = 'sent' OR l.outcome = 'failed'))))";

/// Counts what [`prune_sql`] would drop: the attempts and the bytes of their requests.
pub(super) fn prunable_sql() -> String {
    format!(
        "SELECT count(*), coalesce(sum(octet_length(h.request)), 0) FROM {{s}}history h
         WHERE {PRUNABLE}"
    )
}

/// Drops the requests [`prunable_sql`] counts, leaving [`super::PRUNED_REQUEST`].
pub(super) fn prune_sql() -> String {
    format!(
        "UPDATE {{s}}history SET request = '' WHERE seq IN
             (SELECT h.seq FROM {{s}}history h WHERE {PRUNABLE})"
    )
}

/// A row of [`prunable_sql`].
pub(super) fn pruned(row: &impl Columns) -> Column<super::Pruned> {
    Ok(super::Pruned {
        requests: row.count(0)?,
        bytes: row.count(1)?,
    })
}
