//! What the SQL backends share: how timestamps are stored, how rows are read into state types,
//! and how failures are reported.

use std::fmt;

use jiff::Timestamp;

use super::{ApplyRecord, Delivery, Lock, Outcome, StateError, TestSend};
use crate::fingerprint::Fingerprint;

/// A timestamp as stored: RFC 3339 in UTC with all nine fractional digits, so that text order
/// is time order (`max(at)`, `ORDER BY started_at`).
pub(super) fn timestamp_text(at: Timestamp) -> String {
    format!("{at:.9}")
}

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

    /// A nullable blob column.
    fn optional_blob(&self, i: usize) -> Column<Option<Vec<u8>>>;

    /// An outcome: a code ([`super::layout::outcome_code`]), or, in a state of schema
    /// version 5 or before, one of [`Outcome::as_str`]'s names.
    fn outcome(&self, i: usize) -> Column<Outcome> {
        if let Ok(code) = self.int(i) {
            return super::layout::outcome_of(code);
        }
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

/// The columns of a [`Delivery`] in the `history` of schema version 5 and before, in the order
/// [`delivery`] reads them: only the migration to the compact layout reads them.
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

/// A lineage as shown and recorded in plans: the stored number as 16 hex digits.
pub(super) fn lineage_text(value: i64) -> String {
    format!("{:016x}", value as u64)
}

/// The stored number of a lineage shown by [`lineage_text`]; `None` when it is not one.
pub(super) fn lineage_value(text: &str) -> Option<i64> {
    u64::from_str_radix(text, 16).ok().map(|v| v as i64)
}

/// The columns of an [`super::Operation`] in `operations`, in the order [`operation`] reads
/// them.
pub(super) const OPERATION_COLUMNS: &str = "at, who, what, detail, rows";

/// A row of [`OPERATION_COLUMNS`].
pub(super) fn operation(row: &impl Columns) -> Column<super::Operation> {
    Ok(super::Operation {
        at: row.timestamp(0)?,
        who: row.text(1)?,
        what: row.text(2)?,
        detail: row.text(3)?,
        rows: row.count(4)?,
    })
}
