//! Withdrawing intents whose requests never left ([`crate::state::Store::withdraw`]): each
//! delivery goes back to its previous attempt, or to none.

use super::super::Round;
use super::super::StateError;
use super::super::sql::{fail, occurrence_text};
use super::PostgresStore;

impl PostgresStore {
    pub(super) fn withdraw_intents(
        &mut self,
        round: Round<'_>,
        recipients: &[String],
        apply_id: &str,
    ) -> Result<(), StateError> {
        if recipients.is_empty() {
            return Ok(());
        }
        let doing = format!("cannot withdraw intents of campaign {round}");
        let (campaign, occurrence) = (round.campaign, occurrence_text(round.occurrence));
        let location = self.location.clone();
        let failed = || fail(&location, &doing);
        // Per recipient: point the delivery back at its previous attempt (or drop it), then
        // drop the intent; in one transaction.
        let statements = [
            "UPDATE {s}.deliveries d SET (fingerprint, outcome, at, seq) =
                 (SELECT fingerprint, outcome, at, seq FROM {s}.history h
                  WHERE h.campaign = d.campaign AND h.occurrence = d.occurrence
                    AND h.recipient = d.recipient AND h.seq < d.seq
                  ORDER BY h.seq DESC LIMIT 1)
             WHERE d.campaign = $1 AND d.occurrence = $4 AND d.recipient = $2
               AND EXISTS (SELECT 1 FROM {s}.history h WHERE h.seq = d.seq
                           AND h.outcome = 'in_flight' AND h.apply_id = $3)
               AND EXISTS (SELECT 1 FROM {s}.history h WHERE h.campaign = d.campaign
                           AND h.occurrence = d.occurrence AND h.recipient = d.recipient
                           AND h.seq < d.seq)
             RETURNING 1",
            "DELETE FROM {s}.deliveries d
             WHERE d.campaign = $1 AND d.occurrence = $4 AND d.recipient = $2
               AND EXISTS (SELECT 1 FROM {s}.history h WHERE h.seq = d.seq
                           AND h.outcome = 'in_flight' AND h.apply_id = $3)
             RETURNING 1",
            "DELETE FROM {s}.history h
             WHERE h.campaign = $1 AND h.occurrence = $4 AND h.recipient = $2
               AND h.outcome = 'in_flight' AND h.apply_id = $3
               AND h.seq > coalesce((SELECT seq FROM {s}.deliveries d
                                     WHERE d.campaign = $1 AND d.occurrence = $4
                                       AND d.recipient = $2), 0)
             RETURNING 1",
        ]
        .map(|sql| self.sql(sql));
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        let mut changed = 0;
        for recipient in recipients {
            // The delivery is restored only where the update did not already apply.
            let updated = tx
                .query(
                    &statements[0],
                    &[&campaign, recipient, &apply_id, &occurrence],
                )
                .map_err(failed())?
                .len();
            if updated == 0 {
                tx.query(
                    &statements[1],
                    &[&campaign, recipient, &apply_id, &occurrence],
                )
                .map_err(failed())?;
            }
            changed += tx
                .query(
                    &statements[2],
                    &[&campaign, recipient, &apply_id, &occurrence],
                )
                .map_err(failed())?
                .len();
        }
        if changed > 0 {
            tx.execute(&serial, &[]).map_err(failed())?;
        }
        tx.commit().map_err(failed())
    }
}
