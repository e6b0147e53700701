//! Reading the compact layout ([`crate::state::layout`]): deliveries for plan, attempts for
//! `state show` and copies, the attempts of the last days for pacing.

use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row};

use super::super::compact::Skeleton;
use super::super::contacts::{Attempts, Row as HistoryRow};
use super::super::layout::{self, ATTEMPT_SELECT, CHAIN};
use super::super::sql::{self, Columns, corrupt, fail, occurrence_text};
use super::super::{CampaignTotals, Contact, Delivery, Recorded, Round, StateError};
use super::{SqliteStore, query_rows};

impl SqliteStore {
    /// The id of a round, if state has it.
    pub(super) fn round_id(&self, round: Round<'_>) -> Result<Option<i64>, StateError> {
        let key = (round.campaign.to_owned(), occurrence_text(round.occurrence));
        if let Some(id) = self.ids.borrow().rounds.get(&key) {
            return Ok(Some(*id));
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM rounds WHERE campaign = ?1 AND occurrence = ?2")
            .and_then(|mut stmt| {
                stmt.query_row([&key.0, &key.1], |row| row.get(0))
                    .optional()
            })
            .map_err(fail(
                &self.location,
                format_args!("cannot find campaign {round}"),
            ))?;
        if let Some(id) = found {
            self.ids.borrow_mut().rounds.insert(key, id);
        }
        Ok(found)
    }

    /// A skeleton by id, from the cache or the database.
    pub(super) fn skeleton(&self, id: i64) -> Result<Option<Arc<Skeleton>>, StateError> {
        if let Some(found) = self.ids.borrow().skeletons.get(&id) {
            return Ok(Some(found.clone()));
        }
        let text: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT request FROM skeletons WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
            .map_err(fail(&self.location, "cannot read a reference request"))?;
        let Some(text) = text else { return Ok(None) };
        let skeleton = Arc::new(Skeleton::new(&text));
        self.ids.borrow_mut().skeletons.insert(id, skeleton.clone());
        Ok(Some(skeleton))
    }

    /// A stored request as text with its fingerprint; `None` once its body is gone.
    pub(super) fn request_text(
        &self,
        id: i64,
        doing: &str,
    ) -> Result<Option<(String, crate::fingerprint::Fingerprint)>, StateError> {
        type Stored = (String, Option<Vec<u8>>, Option<Vec<u8>>);
        let (recipient, fingerprint, body): Stored = self
            .conn
            .prepare_cached("SELECT recipient, fingerprint, body FROM requests WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            })
            .map_err(fail(&self.location, doing))?;
        layout::stored_request(&self.location, &recipient, fingerprint, body, &mut |s| {
            self.skeleton(s)
        })
    }

    /// Runs a query of [`ATTEMPT_SELECT`] rows and reads them.
    pub(super) fn attempts(
        &self,
        doing: &str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Delivery>, StateError> {
        let location = self.location.as_str();
        let read = |row: &Row<'_>| layout::read_attempt(row, location, &mut |id| self.skeleton(id));
        query_rows(&self.conn, location, doing, sql, params, read)
    }

    pub(super) fn read_recorded(
        &self,
        round: Round<'_>,
        visit: &mut dyn FnMut(&str, Recorded),
    ) -> Result<(), StateError> {
        let Some(id) = self.round_id(round)? else {
            return Ok(());
        };
        let campaign = round.campaign;
        let doing = format!("cannot read the deliveries of campaign {round}");
        let failed = || fail(&self.location, &doing);
        // In key order (the primary key's), which plan's index relies on to skip sorting.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT recipient, fingerprint, outcome FROM deliveries
                 WHERE round = ?1 ORDER BY recipient",
            )
            .map_err(failed())?;
        let mut rows = stmt.query([id]).map_err(failed())?;
        while let Some(row) = rows.next().map_err(failed())? {
            let recipient = row.get_ref(0).map_err(failed())?.as_str().map_err(|e| {
                let why = sql::BadColumn(format!("its recipient is not text: {e}"));
                corrupt(&self.location, campaign, "?", why)
            })?;
            let read = row.fingerprint(1).and_then(|fingerprint| {
                Ok(Recorded {
                    fingerprint,
                    outcome: row.outcome(2)?,
                })
            });
            let recorded = read.map_err(|why| corrupt(&self.location, campaign, recipient, why))?;
            visit(recipient, recorded);
        }
        Ok(())
    }

    pub(super) fn read_contacts(
        &self,
        since: jiff::Timestamp,
        visit: &mut dyn FnMut(Contact<'_>),
    ) -> Result<(), StateError> {
        let doing = "cannot read the deliveries of the last days";
        let failed = || fail(&self.location, doing);
        let since = layout::nanos(since).map_err(fail(&self.location, doing))?;
        let mut attempts = Attempts::new(visit);
        for (i, query) in layout::CONTACTS_SQL.iter().enumerate() {
            let mut stmt = self
                .conn
                .prepare_cached(&query.replace("{s}", ""))
                .map_err(failed())?;
            let mut rows = stmt.query([since]).map_err(failed())?;
            while let Some(row) = rows.next().map_err(failed())? {
                let text = |i: usize| {
                    row.get_ref(i)
                        .ok()
                        .and_then(|v| v.as_str().ok())
                        .ok_or_else(|| sql::BadColumn(format!("column {i} is not text")))
                };
                let read = (|| {
                    let recipient = text(2)?;
                    let request = match row.get_ref(4).map_err(|e| sql::BadColumn(e.to_string()))? {
                        ValueRef::Blob(body) => Some(self.decode_broadcast(body, recipient)?),
                        _ => None,
                    };
                    let row = HistoryRow {
                        campaign: text(0)?,
                        occurrence: text(1)?,
                        recipient,
                        at: layout::from_nanos(row.int(3)?)?,
                        request: request.as_deref(),
                    };
                    if i == 0 {
                        attempts.failed(row)
                    } else {
                        attempts.started(row)
                    }
                })();
                read.map_err(|why| corrupt(&self.location, "?", "?", why))?;
            }
        }
        attempts.finish();
        Ok(())
    }

    /// A broadcast's request, decoded for pacing (which reads its recipients).
    fn decode_broadcast(&self, body: &[u8], recipient: &str) -> Result<String, sql::BadColumn> {
        let skeleton = match super::super::compact::skeleton_of(body) {
            Some(id) => self
                .skeleton(id)
                .map_err(|e| sql::BadColumn(e.to_string()))?,
            None => None,
        };
        super::super::compact::decode(body, recipient, skeleton.as_deref())
            .map_err(|e| sql::BadColumn(e.0))
    }

    pub(super) fn read_delivery(
        &self,
        round: Round<'_>,
        recipient: &str,
    ) -> Result<Option<Delivery>, StateError> {
        let Some(id) = self.round_id(round)? else {
            return Ok(None);
        };
        let doing = format!("cannot read the delivery of campaign {round} to {recipient}");
        let sql = format!(
            "{} WHERE a.seq = (SELECT seq FROM deliveries WHERE round = ?1 AND recipient = ?2)",
            ATTEMPT_SELECT.replace("{s}", "")
        );
        Ok(self
            .attempts(&doing, &sql, rusqlite::params![id, recipient])?
            .pop())
    }

    pub(super) fn read_history(
        &self,
        round: Round<'_>,
        recipient: Option<&str>,
    ) -> Result<Vec<Delivery>, StateError> {
        let Some(id) = self.round_id(round)? else {
            return Ok(Vec::new());
        };
        let to = recipient.map(|r| format!(" to {r}")).unwrap_or_default();
        let doing = format!("cannot read the history of campaign {round}{to}");
        let chain = CHAIN.replace(
            "{recipient}",
            if recipient.is_some() {
                "AND recipient = $2"
            } else {
                ""
            },
        );
        let sql = format!("{chain} {ATTEMPT_SELECT} JOIN chain c ON c.seq = a.seq ORDER BY a.seq")
            .replace("{s}", "");
        match recipient {
            Some(r) => self.attempts(&doing, &sql, rusqlite::params![id, r]),
            None => self.attempts(&doing, &sql, [id]),
        }
    }

    pub(super) fn visit_attempts(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let doing = "cannot read the history";
        let failed = || fail(&self.location, doing);
        let sql = format!("{} ORDER BY a.seq", ATTEMPT_SELECT.replace("{s}", ""));
        let mut stmt = self.conn.prepare(&sql).map_err(failed())?;
        let mut rows = stmt.query([]).map_err(failed())?;
        while let Some(row) = rows.next().map_err(failed())? {
            visit(layout::read_attempt(row, &self.location, &mut |id| {
                self.skeleton(id)
            })?)?;
        }
        Ok(())
    }

    pub(super) fn read_latest_occurrence(
        &self,
        campaign: &str,
    ) -> Result<Option<jiff::Timestamp>, StateError> {
        let doing = format!("cannot read the occurrences of campaign {campaign}");
        let read = |row: &Row<'_>| {
            let text: Option<String> = row.get(0).map_err(fail(&self.location, &doing))?;
            text.map(|t| sql::parse_timestamp(&t))
                .transpose()
                .map_err(fail(&self.location, &doing))
        };
        let sql = layout::LATEST_OCCURRENCE_SQL.replace("{s}", "");
        Ok(
            query_rows(&self.conn, &self.location, &doing, &sql, [campaign], read)?
                .pop()
                .flatten(),
        )
    }

    pub(super) fn read_campaigns(&self) -> Result<Vec<CampaignTotals>, StateError> {
        let doing = "cannot list the campaigns in state";
        let sql = layout::CAMPAIGN_TOTALS_SQL.replace("{s}", "");
        let read =
            |row: &Row<'_>| layout::campaign_totals(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }
}
