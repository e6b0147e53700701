//! Withdrawing intents whose requests never left ([`crate::state::Store::withdraw`]): each
//! delivery goes back to its previous attempt, or to none.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::super::layout::{self, ATTEMPT_SELECT};
use super::super::sql::fail;
use super::super::{Round, StateError};
use super::SqliteStore;

/// An intent to withdraw: its row, its request, and the row before it.
struct Intent<'a> {
    recipient: &'a str,
    seq: i64,
    request: i64,
    /// The previous row: its seq, request, and the delivery as it was then.
    prev: Option<(i64, i64, super::super::Delivery)>,
}

impl SqliteStore {
    pub(super) fn withdraw_intents(
        &mut self,
        round: Round<'_>,
        recipients: &[String],
        apply_id: &str,
    ) -> Result<(), StateError> {
        if recipients.is_empty() {
            return Ok(());
        }
        let Some(round_id) = self.round_id(round)? else {
            return Ok(());
        };
        let doing = format!("cannot withdraw intents of campaign {round}");
        // What each delivery goes back to is read first (reading decodes requests); the
        // writes below apply only to deliveries still at the intent read.
        let mut intents = Vec::new();
        for recipient in recipients {
            let found: Option<(i64, Option<i64>, i64)> = self
                .conn
                .prepare_cached(
                    "SELECT d.seq, a.prev, a.request FROM deliveries d
                     JOIN attempts a ON a.seq = d.seq JOIN runs u ON u.id = a.run
                     WHERE d.round = ?1 AND d.recipient = ?2 AND a.outcome = 0 AND u.name = ?3",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![round_id, recipient, apply_id], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
                })
                .map_err(fail(&self.location, &doing))?;
            let Some((seq, prev, request)) = found else {
                continue;
            };
            let prev = match prev {
                Some(prev) => {
                    let prev_request: i64 = self
                        .conn
                        .query_row(
                            "SELECT request FROM attempts WHERE seq = ?1",
                            [prev],
                            |row| row.get(0),
                        )
                        .map_err(fail(&self.location, &doing))?;
                    let sql = format!("{} WHERE a.seq = ?1", ATTEMPT_SELECT.replace("{s}", ""));
                    let before = self.attempts(&doing, &sql, [prev])?.pop();
                    before.map(|d| (prev, prev_request, d))
                }
                None => None,
            };
            intents.push(Intent {
                recipient,
                seq,
                request,
                prev,
            });
        }
        let location = self.location.as_str();
        let failed = || fail(location, &doing);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        let mut changed = false;
        for intent in &intents {
            let (round, recipient, seq) = (round_id, intent.recipient, intent.seq);
            let moved = match &intent.prev {
                Some((prev, _, before)) => {
                    let at = layout::nanos(before.at).map_err(fail(location, &doing))?;
                    tx.execute(
                        "UPDATE deliveries SET fingerprint = ?4, outcome = ?5, at = ?6, seq = ?7
                         WHERE round = ?1 AND recipient = ?2 AND seq = ?3",
                        params![
                            round,
                            recipient,
                            seq,
                            &before.fingerprint.0[..],
                            layout::outcome_code(before.outcome),
                            at,
                            prev
                        ],
                    )
                    .map_err(failed())?
                }
                None => tx
                    .execute(
                        "DELETE FROM deliveries WHERE round = ?1 AND recipient = ?2 AND seq = ?3",
                        params![round, recipient, seq],
                    )
                    .map_err(failed())?,
            };
            if moved == 0 {
                continue;
            }
            tx.execute("DELETE FROM attempts WHERE seq = ?1", [seq])
                .map_err(failed())?;
            let shared = intent.prev.as_ref().is_some_and(|p| p.1 == intent.request);
            if !shared {
                tx.execute("DELETE FROM requests WHERE id = ?1", [intent.request])
                    .map_err(failed())?;
            }
            changed = true;
        }
        if changed {
            tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
                .map_err(failed())?;
        }
        tx.commit().map_err(failed())
    }
}
