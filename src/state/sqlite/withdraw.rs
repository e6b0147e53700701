//! Withdrawing intents whose requests never left ([`crate::state::Store::withdraw`]): each
//! delivery goes back to its previous attempt, or to none.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::super::Round;
use super::super::StateError;
use super::super::sql::{fail, occurrence_text};
use super::SqliteStore;

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
        let location = self.location.as_str();
        let doing = format!("cannot withdraw intents of campaign {round}");
        let (campaign, occurrence) = (round.campaign, occurrence_text(round.occurrence));
        let failed = || fail(location, &doing);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        let mut changed = false;
        for recipient in recipients {
            let intent: Option<i64> = tx
                .query_row(
                    "SELECT d.seq FROM deliveries d JOIN history h ON h.seq = d.seq
                     WHERE d.campaign = ?1 AND d.occurrence = ?4 AND d.recipient = ?2
                       AND h.outcome = 'in_flight' AND h.apply_id = ?3",
                    params![campaign, recipient, apply_id, occurrence],
                    |row| row.get(0),
                )
                .optional()
                .map_err(failed())?;
            let Some(seq) = intent else { continue };
            // Point the delivery back at its previous attempt (or drop it), then drop the intent.
            let restored = tx
                .execute(
                    "UPDATE deliveries SET (fingerprint, outcome, at, seq) =
                         (SELECT fingerprint, outcome, at, seq FROM history
                          WHERE campaign = ?1 AND occurrence = ?4 AND recipient = ?2
                            AND seq < ?3
                          ORDER BY seq DESC LIMIT 1)
                     WHERE campaign = ?1 AND occurrence = ?4 AND recipient = ?2 AND EXISTS
                         (SELECT 1 FROM history
                          WHERE campaign = ?1 AND occurrence = ?4 AND recipient = ?2
                            AND seq < ?3)",
                    params![campaign, recipient, seq, occurrence],
                )
                .map_err(failed())?;
            if restored == 0 {
                tx.execute(
                    "DELETE FROM deliveries
                     WHERE campaign = ?1 AND occurrence = ?3 AND recipient = ?2",
                    params![campaign, recipient, occurrence],
                )
                .map_err(failed())?;
            }
            tx.execute("DELETE FROM history WHERE seq = ?1", [seq])
                .map_err(failed())?;
            changed = true;
        }
        if changed {
            tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
                .map_err(failed())?;
        }
        tx.commit().map_err(failed())
    }
}
