//! Withdrawing intents whose requests never left ([`crate::state::Store::withdraw`]): each
//! delivery goes back to its previous attempt, or to none.

use super::super::layout::{self, ATTEMPT_SELECT};
use super::super::sql::fail;
use super::super::{Delivery, Round, StateError};
use super::PostgresStore;

/// An intent to withdraw: its row, its request, and the row before it (its seq, its request,
/// and the delivery as it was then).
struct Intent<'a> {
    recipient: &'a str,
    seq: i64,
    request: i64,
    prev: Option<(i64, i64, Delivery)>,
}

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
        let Some(round_id) = self.round_id(round)? else {
            return Ok(());
        };
        let doing = format!("cannot withdraw intents of campaign {round}");
        // What each delivery goes back to is read first (reading decodes requests); the
        // writes apply only to deliveries still at the intent read.
        let mut intents = Vec::new();
        for recipient in recipients {
            let rows = self.query(
                &doing,
                "SELECT d.seq, a.prev, a.request, p.request FROM {s}.deliveries d
                 JOIN {s}.attempts a ON a.seq = d.seq JOIN {s}.runs u ON u.id = a.run
                 LEFT JOIN {s}.attempts p ON p.seq = a.prev
                 WHERE d.round = $1 AND d.recipient = $2 AND a.outcome = 0 AND u.name = $3",
                &[&round_id, recipient, &apply_id],
            )?;
            let Some(row) = rows.first() else { continue };
            let read = || -> Result<(i64, Option<i64>, i64, Option<i64>), postgres::Error> {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ))
            };
            let (seq, prev, request, prev_request) =
                read().map_err(fail(&self.location, &doing))?;
            let prev = match (prev, prev_request) {
                (Some(prev), Some(prev_request)) => {
                    let sql = self.layout_sql(&format!("{ATTEMPT_SELECT} WHERE a.seq = $1"));
                    let rows = self.query(&doing, &sql, &[&prev])?;
                    match rows.first() {
                        Some(row) => Some((
                            prev,
                            prev_request,
                            layout::read_attempt(row, &self.location, &mut |id| self.skeleton(id))?,
                        )),
                        None => None,
                    }
                }
                _ => None,
            };
            intents.push(Intent {
                recipient,
                seq,
                request,
                prev,
            });
        }
        let location = self.location.clone();
        let failed = || fail(&location, &doing);
        let restore = self.sql(
            "UPDATE {s}.deliveries SET fingerprint = $4, outcome = $5, at = $6, seq = $7
             WHERE round = $1 AND recipient = $2 AND seq = $3",
        );
        let remove =
            self.sql("DELETE FROM {s}.deliveries WHERE round = $1 AND recipient = $2 AND seq = $3");
        let drop_attempt = self.sql("DELETE FROM {s}.attempts WHERE seq = $1");
        let drop_request = self.sql("DELETE FROM {s}.requests WHERE id = $1");
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        let mut changed = false;
        for intent in &intents {
            let (recipient, seq) = (intent.recipient, intent.seq);
            let moved = match &intent.prev {
                Some((prev, _, before)) => {
                    let at = layout::nanos(before.at).map_err(fail(&location, &doing))?;
                    let outcome = layout::outcome_code(before.outcome);
                    let fingerprint = &before.fingerprint.0[..];
                    tx.execute(
                        &restore,
                        &[
                            &round_id,
                            &recipient,
                            &seq,
                            &fingerprint,
                            &outcome,
                            &at,
                            prev,
                        ],
                    )
                    .map_err(failed())?
                }
                None => tx
                    .execute(&remove, &[&round_id, &recipient, &seq])
                    .map_err(failed())?,
            };
            if moved == 0 {
                continue;
            }
            tx.execute(&drop_attempt, &[&seq]).map_err(failed())?;
            if intent.prev.as_ref().is_none_or(|p| p.1 != intent.request) {
                tx.execute(&drop_request, &[&intent.request])
                    .map_err(failed())?;
            }
            changed = true;
        }
        if changed {
            tx.execute(&serial, &[]).map_err(failed())?;
        }
        tx.commit().map_err(failed())
    }
}
