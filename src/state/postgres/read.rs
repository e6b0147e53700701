//! Reading the compact layout ([`crate::state::layout`]): deliveries for plan, attempts for
//! `state show` and copies, the attempts of the last days for pacing.

use std::sync::Arc;

use postgres::fallible_iterator::FallibleIterator;

use super::super::compact::{self, Skeleton};
use super::super::contacts::{Attempts, Row as HistoryRow};
use super::super::layout::{self, ATTEMPT_SELECT, CHAIN};
use super::super::sql::{self, Columns, corrupt, fail, occurrence_text};
use super::super::{CampaignTotals, Contact, Delivery, Recorded, Round, StateError};
use super::PostgresStore;

impl PostgresStore {
    /// `sql` of the layout with `{s}` the schema's prefix.
    pub(super) fn layout_sql(&self, sql: &str) -> String {
        sql.replace("{s}", &format!("{}.", self.schema))
    }

    /// The id of a round, if state has it.
    pub(super) fn round_id(&self, round: Round<'_>) -> Result<Option<i64>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let key = (round.campaign.to_owned(), occurrence_text(round.occurrence));
        if let Some(id) = self.ids.borrow().rounds.get(&key) {
            return Ok(Some(*id));
        }
        let doing = format!("cannot find campaign {round}");
        let rows = self.query(
            &doing,
            "SELECT id FROM {s}.rounds WHERE campaign = $1 AND occurrence = $2",
            &[&key.0, &key.1],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let id: i64 = row.try_get(0).map_err(fail(&self.location, &doing))?;
        self.ids.borrow_mut().rounds.insert(key, id);
        Ok(Some(id))
    }

    /// A skeleton by id, from the cache or the database.
    pub(super) fn skeleton(&self, id: i64) -> Result<Option<Arc<Skeleton>>, StateError> {
        if let Some(found) = self.ids.borrow().skeletons.get(&id) {
            return Ok(Some(found.clone()));
        }
        let doing = "cannot read a reference request";
        let rows = self.query(
            doing,
            "SELECT request FROM {s}.skeletons WHERE id = $1",
            &[&id],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let text: Vec<u8> = row.try_get(0).map_err(fail(&self.location, doing))?;
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
        let rows = self.query(
            doing,
            "SELECT recipient, fingerprint, body FROM {s}.requests WHERE id = $1",
            &[&id],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let read = || -> sql::Column<_> {
            Ok((row.text(0)?, row.optional_blob(1)?, row.optional_blob(2)?))
        };
        let (recipient, fingerprint, body) = read().map_err(fail(&self.location, doing))?;
        layout::stored_request(&self.location, &recipient, fingerprint, body, &mut |s| {
            self.skeleton(s)
        })
    }

    /// Runs a query of [`ATTEMPT_SELECT`] rows and reads them.
    fn attempts(
        &self,
        doing: &str,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Delivery>, StateError> {
        let rows = self.query(doing, &self.layout_sql(sql), params)?;
        rows.iter()
            .map(|row| layout::read_attempt(row, &self.location, &mut |id| self.skeleton(id)))
            .collect()
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
        // In byte order (the column's collation is "C"), as plan's index expects.
        let sql = self.sql(
            "SELECT recipient, fingerprint, outcome FROM {s}.deliveries
             WHERE round = $1 ORDER BY recipient",
        );
        let mut client = self.client.borrow_mut();
        // Streamed: a million rows are visited, never collected.
        let mut rows = client.query_raw(&sql, [id]).map_err(failed())?;
        while let Some(row) = rows.next().map_err(failed())? {
            let recipient: &str = row.try_get(0).map_err(failed())?;
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
        if !self.exists {
            return Ok(());
        }
        let doing = "cannot read the deliveries of the last days";
        let since = layout::nanos(since).map_err(fail(&self.location, doing))?;
        let mut attempts = Attempts::new(visit);
        for (i, query) in layout::CONTACTS_SQL.iter().enumerate() {
            // Streamed; a broadcast's row (its body names its recipients) waits until the
            // stream ends, when the client is free to read the skeleton its body needs.
            let mut broadcasts = Vec::new();
            {
                let mut client = self.client.borrow_mut();
                let query = self.layout_sql(query);
                let mut rows = client
                    .query_raw(&query, [since])
                    .map_err(fail(&self.location, doing))?;
                while let Some(row) = rows.next().map_err(fail(&self.location, doing))? {
                    if row.optional_blob(4).is_ok_and(|b| b.is_some()) {
                        broadcasts.push(row);
                        continue;
                    }
                    contact(&row, None, i == 0, &mut attempts)
                        .map_err(|why| corrupt(&self.location, "?", "?", why))?;
                }
            }
            for row in broadcasts {
                let read = (|| {
                    let recipient: &str =
                        row.try_get(2).map_err(|e| sql::BadColumn(e.to_string()))?;
                    let body = row.optional_blob(4)?.unwrap_or_default();
                    let request = self.decode_broadcast(&body, recipient)?;
                    contact(&row, Some(&request), i == 0, &mut attempts)
                })();
                read.map_err(|why| corrupt(&self.location, "?", "?", why))?;
            }
        }
        attempts.finish();
        Ok(())
    }

    /// A broadcast's request, decoded for pacing (which reads its recipients).
    fn decode_broadcast(&self, body: &[u8], recipient: &str) -> Result<String, sql::BadColumn> {
        let skeleton = match compact::skeleton_of(body) {
            Some(id) => self
                .skeleton(id)
                .map_err(|e| sql::BadColumn(e.to_string()))?,
            None => None,
        };
        compact::decode(body, recipient, skeleton.as_deref()).map_err(|e| sql::BadColumn(e.0))
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
            "{ATTEMPT_SELECT} WHERE a.seq =
                 (SELECT seq FROM {{s}}deliveries WHERE round = $1 AND recipient = $2)"
        );
        Ok(self.attempts(&doing, &sql, &[&id, &recipient])?.pop())
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
        let sql = format!("{chain} {ATTEMPT_SELECT} JOIN chain c ON c.seq = a.seq ORDER BY a.seq");
        match recipient {
            Some(r) => self.attempts(&doing, &sql, &[&id, &r]),
            None => self.attempts(&doing, &sql, &[&id]),
        }
    }

    pub(super) fn visit_attempts(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        if !self.exists {
            return Ok(());
        }
        let failed = || fail(&self.location, "cannot read the history");
        // Read in pages, so that decoding (which may read skeletons) can use the client.
        let page = self.layout_sql(&format!(
            "{ATTEMPT_SELECT} WHERE a.seq > $1 ORDER BY a.seq LIMIT 10000"
        ));
        let mut after = 0i64;
        loop {
            let rows = self
                .client
                .borrow_mut()
                .query(&page, &[&after])
                .map_err(failed())?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.try_get(11).map_err(failed())?;
            for row in &rows {
                visit(layout::read_attempt(row, &self.location, &mut |id| {
                    self.skeleton(id)
                })?)?;
            }
        }
    }

    pub(super) fn read_latest_occurrence(
        &self,
        campaign: &str,
    ) -> Result<Option<jiff::Timestamp>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let doing = format!("cannot read the occurrences of campaign {campaign}");
        let rows = self.query(
            &doing,
            &layout::LATEST_OCCURRENCE_SQL.replace("{s}", "{s}."),
            &[&campaign],
        )?;
        let text: Option<String> = match rows.first() {
            Some(row) => row.try_get(0).map_err(fail(&self.location, &doing))?,
            None => None,
        };
        text.map(|t| sql::parse_timestamp(&t))
            .transpose()
            .map_err(fail(&self.location, &doing))
    }

    pub(super) fn read_campaigns(&self) -> Result<Vec<CampaignTotals>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let doing = "cannot list the campaigns in state";
        let rows = self.query(
            doing,
            &layout::CAMPAIGN_TOTALS_SQL.replace("{s}", "{s}."),
            &[],
        )?;
        rows.iter()
            .map(|row| layout::campaign_totals(row).map_err(fail(&self.location, doing)))
            .collect()
    }
}

/// Feeds a row of [`layout::CONTACTS_SQL`] to `attempts`: a failure (`failed`) or an attempt.
fn contact(
    row: &postgres::Row,
    request: Option<&str>,
    failed: bool,
    attempts: &mut Attempts<'_>,
) -> Result<(), sql::BadColumn> {
    let text = |i| {
        row.try_get::<_, &str>(i)
            .map_err(|e| sql::BadColumn(e.to_string()))
    };
    let row = HistoryRow {
        campaign: text(0)?,
        occurrence: text(1)?,
        recipient: text(2)?,
        at: layout::from_nanos(row.int(3)?)?,
        request,
    };
    if failed {
        attempts.failed(row)
    } else {
        attempts.started(row)
    }
}
