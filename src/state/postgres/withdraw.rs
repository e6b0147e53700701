//! Withdrawing intents whose requests never left ([`crate::state::Store::withdraw`]): each
//! delivery goes back to its previous attempt, or to none.

use super::super::sql::{corrupt, fail};
use super::super::{Round, StateError};
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
        let Some(round_id) = self.round_id(round)? else {
            return Ok(());
        };
        let doing = format!("cannot withdraw intents of campaign {round}");
        let rows = self.query(
            &doing,
            "SELECT id FROM {s}.runs WHERE name = $1",
            &[&apply_id],
        )?;
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let run: i64 = row.try_get(0).map_err(fail(&self.location, &doing))?;
        // What each delivery goes back to is read first (reading decodes requests).
        let mut puts = Vec::new();
        for recipient in recipients {
            let filter = "WHERE d.round = $1 AND d.recipient = $2";
            let Some(mut stored) = self.stored(&doing, filter, &[&round_id, recipient])?.pop()
            else {
                continue;
            };
            let log = &mut stored.log;
            let Some(intent) = log.entries.pop_if(|e| e.outcome == 0 && e.run == run) else {
                continue;
            };
            // An intent that did not share its previous row's request stored the last one.
            if !log.entries.iter().any(|e| e.request == intent.request) {
                log.requests.remove(intent.request);
                for e in &mut log.entries {
                    if e.request > intent.request {
                        e.request -= 1;
                    }
                }
            }
            if let Some(prev) = log.entries.len().checked_sub(1) {
                let read = log.request_of(prev, recipient, &mut |id| self.skeleton(id))?;
                stored.fingerprint = read
                    .map_err(|why| corrupt(&self.location, round.campaign, recipient, why))?
                    .1;
            }
            puts.push(stored.put());
        }
        if puts.is_empty() {
            return Ok(());
        }
        self.write_puts(&puts, &doing)
    }
}
