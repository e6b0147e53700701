//! What the SQL backends share: how timestamps are stored and how failures are reported.

use std::fmt;

use jiff::Timestamp;

use super::StateError;

/// A timestamp as stored: RFC 3339 in UTC with all nine fractional digits, so that text order
/// is time order (`max(at)`, `ORDER BY started_at`).
pub fn timestamp_text(at: Timestamp) -> String {
    format!("{at:.9}")
}

/// A stored timestamp.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    text.parse()
        .map_err(|e| format!("`{text}` is not a timestamp: {e}"))
}

/// Maps an error to [`StateError::Backend`], saying what was being done.
pub fn fail<E: fmt::Display>(
    location: &str,
    doing: impl fmt::Display,
) -> impl FnOnce(E) -> StateError {
    move |err| StateError::Backend {
        location: location.to_owned(),
        message: format!("{doing}: {err}"),
    }
}

/// A stored delivery that cannot be read, named.
pub fn corrupt(location: &str, campaign: &str, recipient: &str, why: String) -> StateError {
    StateError::Backend {
        location: location.to_owned(),
        message: format!(
            "the state's delivery of campaign {campaign} to {recipient} is corrupt: {why}"
        ),
    }
}
