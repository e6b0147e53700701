//! Which attempts `herald state prune` drops the request of, decided on the history read once
//! in recording order, the same for both backends ([`super::Store::prune`]).
//!
//! A row recorded before the cut-off whose request is still there is pruned when it is
//!
//! - an outcome that settled an attempt (`sent`, `failed`), or
//! - the intent (`in_flight`) of an attempt a later `sent` or `failed` row of its delivery
//!   settled, also before the cut-off, and not a broadcast's (`*`): pacing reads the
//!   recipients of a template broadcast from its intent's request.
//!
//! Never an `unknown` row, nor the intent of an attempt still unknown or in flight:
//! reconciling and `apply --resend-unknown` read those requests. A delivery's rows form a
//! chain (each names the one before it), so intents waiting for a settling row are carried
//! along their chain: only those of deliveries not settled yet are held, never the whole
//! history.

use std::collections::HashMap;

use super::sql::{Column, Columns};
use super::{Outcome, StateError};
use crate::fingerprint::Fingerprint;

/// One history row, as the planner needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub(super) seq: i64,
    /// The delivery's previous row.
    pub(super) prev: Option<i64>,
    pub(super) outcome: Outcome,
    /// When, as stored ([`super::layout::nanos`]).
    pub(super) at: i64,
    /// Whether the row is a whole-campaign delivery's (`*`).
    pub(super) broadcast: bool,
    /// Whether its request was pruned already.
    pub(super) pruned: bool,
    /// Its request's id.
    pub(super) request: i64,
}

/// Takes rows in recording order; [`Planner::finish`] says which to prune.
#[derive(Debug)]
pub(super) struct Planner {
    cut: i64,
    /// Intents waiting for a settling row, by the latest row of their delivery.
    waiting: HashMap<i64, Vec<(i64, i64)>>,
    /// Rows to prune: seq and request.
    prune: Vec<(i64, i64)>,
}

impl Planner {
    /// A planner for the cut-off `cut` (as stored).
    pub(super) fn new(cut: i64) -> Planner {
        Planner {
            cut,
            waiting: HashMap::new(),
            prune: Vec::new(),
        }
    }

    /// Takes the next row.
    pub(super) fn row(&mut self, row: Row) {
        let mut waiting = row
            .prev
            .and_then(|p| self.waiting.remove(&p))
            .unwrap_or_default();
        let before = row.at < self.cut;
        let settles = before && matches!(row.outcome, Outcome::Sent | Outcome::Failed);
        if settles {
            self.prune.append(&mut waiting);
        }
        if before && !row.pruned {
            if settles {
                self.prune.push((row.seq, row.request));
            } else if row.outcome == Outcome::InFlight && !row.broadcast {
                waiting.push((row.seq, row.request));
            }
        }
        if !waiting.is_empty() {
            self.waiting.insert(row.seq, waiting);
        }
    }

    /// The rows to prune (seq and request), in recording order.
    pub(super) fn finish(mut self) -> Vec<(i64, i64)> {
        self.prune.sort_unstable();
        self.prune
    }
}

/// What pruning would do: the rows (seq, request), the bytes of their requests, and each
/// request's fingerprint (kept in the body's place once every row that sent it is pruned).
pub(super) struct Plan {
    pub(super) rows: Vec<(i64, i64)>,
    pub(super) bytes: u64,
    pub(super) fingerprints: HashMap<i64, Fingerprint>,
}

/// Measures the rows [`Planner::finish`] chose, reading each request once with `request`.
pub(super) fn measure(
    rows: Vec<(i64, i64)>,
    request: &mut dyn FnMut(i64) -> Result<Option<(String, Fingerprint)>, StateError>,
) -> Result<Plan, StateError> {
    let mut bytes = 0;
    let mut fingerprints = HashMap::new();
    let mut last: Option<(i64, u64)> = None;
    for &(_, id) in &rows {
        let len = match last {
            Some((seen, len)) if seen == id => len,
            // A row not pruned yet has its request's body: `None` is not met.
            _ => match request(id)? {
                Some((text, fingerprint)) => {
                    fingerprints.insert(id, fingerprint);
                    text.len() as u64
                }
                None => 0,
            },
        };
        last = Some((id, len));
        bytes += len;
    }
    Ok(Plan {
        rows,
        bytes,
        fingerprints,
    })
}

/// The query both backends read the planner's rows with, in [`Row`]'s order of fields.
pub(super) const ROWS_SQL: &str = "SELECT a.seq, a.prev, a.outcome, a.at,
        CASE WHEN q.recipient = '*' THEN 1 ELSE 0 END, a.pruned, a.request
    FROM {s}attempts a JOIN {s}requests q ON q.id = a.request ORDER BY a.seq";

/// A row of [`ROWS_SQL`].
pub(super) fn read_row(row: &impl Columns) -> Column<Row> {
    Ok(Row {
        seq: row.int(0)?,
        prev: row.optional_int(1)?,
        outcome: row.outcome(2)?,
        at: row.int(3)?,
        broadcast: row.int(4)? != 0,
        pruned: row.int(5)? != 0,
        request: row.int(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev: Option<i64>, outcome: Outcome, at: i64) -> Row {
        Row {
            seq,
            prev,
            outcome,
            at,
            broadcast: false,
            pruned: false,
            request: seq,
        }
    }

    #[test]
    fn intents_are_pruned_once_settled_before_the_cut() {
        use Outcome::{Failed, InFlight, Sent, Unknown};
        let mut planner = Planner::new(100);
        // Sent before the cut: both.
        planner.row(row(1, None, InFlight, 10));
        planner.row(row(2, Some(1), Sent, 11));
        // Unknown: neither, until settled later (after the cut here: still neither).
        planner.row(row(3, None, InFlight, 10));
        planner.row(row(4, Some(3), Unknown, 11));
        planner.row(row(5, Some(4), Sent, 150));
        // Unknown, then forgotten before the cut: the intent and the failure.
        planner.row(row(6, None, InFlight, 10));
        planner.row(row(7, Some(6), Unknown, 11));
        planner.row(row(8, Some(7), Failed, 50));
        // In flight, never settled.
        planner.row(row(9, None, InFlight, 10));
        let pruned: Vec<i64> = planner.finish().into_iter().map(|(s, _)| s).collect();
        assert_eq!(pruned, [1, 2, 6, 8]);
    }
}
