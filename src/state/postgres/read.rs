//! Reading schema 7, one row a delivery with its history packed ([`super::packed`]): deliveries
//! for plan, attempts for `state show` and copies, the attempts of the last days for pacing.
//! A delivery is in `deliveries` or, while its latest row is an intent, in `intents`: reads go
//! through the view `all_deliveries` of both.

use std::collections::HashMap;
use std::sync::Arc;

use postgres::fallible_iterator::FallibleIterator;

use super::super::compact::{self, Skeleton};
use super::super::contacts::{Attempts, Row as HistoryRow};
use super::super::layout;
use super::super::sql::{self, Column, Columns, corrupt, fail, occurrence_text};
use super::super::{CampaignTotals, Contact, Delivery, Recorded, Round, StateError};
use super::PostgresStore;
use super::packed::Log;
use super::record::{Place, Put};
use crate::fingerprint::Fingerprint;

/// Runs' names by id.
type RunNames = HashMap<i64, String>;

/// A delivery's row as stored, with its round's names.
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) round: i64,
    pub(super) campaign: String,
    pub(super) occurrence: String,
    pub(super) recipient: String,
    pub(super) place: Place,
    pub(super) fingerprint: Fingerprint,
    pub(super) log: Log,
}

/// The columns [`Stored`] is read from; a filter on `d` follows.
pub(super) const STORED_SQL: &str = "SELECT d.round, r.campaign, r.occurrence, d.recipient, d.slot,
        d.fingerprint, d.log
    FROM {s}.all_deliveries d JOIN {s}.rounds r ON r.id = d.round";

impl Stored {
    pub(super) fn read(row: &postgres::Row, location: &str) -> Result<Stored, StateError> {
        let names = || -> Column<(i64, String, String, String)> {
            Ok((row.int(0)?, row.text(1)?, row.text(2)?, row.text(3)?))
        };
        let (round, campaign, occurrence, recipient) =
            names().map_err(|why| corrupt(location, "?", "?", why))?;
        let rest = || -> Column<(Option<i32>, Fingerprint, Log)> {
            let slot: Option<i32> = row.try_get(4).map_err(|e| sql::BadColumn(e.to_string()))?;
            let log = row.optional_blob(6)?.unwrap_or_default();
            Ok((slot, row.fingerprint(5)?, Log::decode(&log)?))
        };
        let (slot, fingerprint, log) =
            rest().map_err(|why| corrupt(location, &campaign, &recipient, why))?;
        Ok(Stored {
            round,
            campaign,
            occurrence,
            recipient,
            place: slot.map_or(Place::Settled, Place::Slot),
            fingerprint,
            log,
        })
    }

    /// The row to write back once its log is changed.
    pub(super) fn put(&self) -> Put {
        Put {
            round: self.round,
            recipient: self.recipient.clone(),
            was: self.place,
            log: Some(self.log.clone()),
            fingerprint: self.fingerprint,
        }
    }
}

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

    /// The deliveries' rows `filter` (a `WHERE` on `d`, the view) selects.
    pub(super) fn stored(
        &self,
        doing: &str,
        filter: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Stored>, StateError> {
        let rows = self.query(doing, &format!("{STORED_SQL} {filter}"), params)?;
        rows.iter()
            .map(|row| Stored::read(row, &self.location))
            .collect()
    }

    /// Every run's name by id (applies and operator commands: a few hundred at most).
    pub(super) fn run_names(&self, doing: &str) -> Result<RunNames, StateError> {
        let rows = self.query(doing, "SELECT id, name FROM {s}.runs", &[])?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(fail(&self.location, doing))
    }

    /// Row `i` of a stored delivery, read back.
    pub(super) fn attempt(
        &self,
        stored: &Stored,
        i: usize,
        runs: &HashMap<i64, String>,
    ) -> Result<Delivery, StateError> {
        let names = (
            stored.campaign.as_str(),
            stored.occurrence.as_str(),
            stored.recipient.as_str(),
        );
        let read = stored
            .log
            .delivery(i, names, &|id| runs.get(&id).cloned(), &mut |id| {
                self.skeleton(id)
            })?;
        read.map_err(|why| corrupt(&self.location, &stored.campaign, &stored.recipient, why))
    }

    /// Every row of `stored`, in recording order.
    fn in_order(&self, stored: &[Stored], doing: &str) -> Result<Vec<Delivery>, StateError> {
        let runs = self.run_names(doing)?;
        let mut rows: Vec<(i64, usize, usize)> = stored
            .iter()
            .enumerate()
            .flat_map(|(s, d)| {
                d.log
                    .entries
                    .iter()
                    .enumerate()
                    .map(move |(i, e)| (e.seq, s, i))
            })
            .collect();
        rows.sort_unstable();
        rows.iter()
            .map(|&(_, s, i)| self.attempt(&stored[s], i, &runs))
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
            "SELECT recipient, fingerprint, outcome FROM {s}.all_deliveries
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
        let failed = || fail(&self.location, doing);
        let cut = layout::nanos(since).map_err(fail(&self.location, doing))?;
        let rounds: HashMap<i64, (String, String)> = self
            .query(
                doing,
                "SELECT id, campaign, occurrence FROM {s}.rounds",
                &[],
            )?
            .iter()
            .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
            .collect::<Result<_, postgres::Error>>()
            .map_err(failed())?;
        let mut attempts = Attempts::new(visit);
        // Every failure of the span goes to `attempts` before any attempt: the attempts (and
        // a broadcast's body, which names its recipients) wait until the stream ends.
        let mut started: Vec<(i64, String, i64, Option<Vec<u8>>)> = Vec::new();
        {
            let mut client = self.client.borrow_mut();
            let sql = self
                .sql("SELECT round, recipient, log FROM {s}.all_deliveries WHERE contact >= $1");
            let mut rows = client.query_raw(&sql, [cut]).map_err(failed())?;
            while let Some(row) = rows.next().map_err(failed())? {
                let mut read = || -> Column<()> {
                    let round = row.int(0)?;
                    let recipient: &str =
                        row.try_get(1).map_err(|e| sql::BadColumn(e.to_string()))?;
                    let log =
                        Log::decode(row.try_get(2).map_err(|e| sql::BadColumn(e.to_string()))?)?;
                    let (campaign, occurrence) = rounds
                        .get(&round)
                        .ok_or_else(|| sql::BadColumn(format!("its round {round} is unknown")))?;
                    for e in log.entries.iter().filter(|e| e.at >= cut) {
                        match e.outcome {
                            2 => attempts.failed(HistoryRow {
                                campaign,
                                occurrence,
                                recipient,
                                at: layout::from_nanos(e.at)?,
                                request: None,
                            })?,
                            0 => {
                                let body = (recipient == super::super::WHOLE_CAMPAIGN && !e.pruned)
                                    .then(|| log.requests[e.request].body.clone())
                                    .flatten();
                                started.push((round, recipient.to_owned(), e.at, body));
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                };
                read().map_err(|why| corrupt(&self.location, "?", "?", why))?;
            }
        }
        for (round, recipient, at, body) in started {
            let read = || -> Column<()> {
                let request = body
                    .map(|body| self.decode_broadcast(&body, &recipient))
                    .transpose()?;
                let (campaign, occurrence) = &rounds[&round];
                attempts.started(HistoryRow {
                    campaign,
                    occurrence,
                    recipient: &recipient,
                    at: layout::from_nanos(at)?,
                    request: request.as_deref(),
                })
            };
            read().map_err(|why| corrupt(&self.location, "?", "?", why))?;
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
        let filter = "WHERE d.round = $1 AND d.recipient = $2";
        let Some(stored) = self.stored(&doing, filter, &[&id, &recipient])?.pop() else {
            return Ok(None);
        };
        let Some(last) = stored.log.entries.len().checked_sub(1) else {
            return Ok(None);
        };
        let runs = self.run_names(&doing)?;
        self.attempt(&stored, last, &runs).map(Some)
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
        let stored = match recipient {
            Some(r) => self.stored(
                &doing,
                "WHERE d.round = $1 AND d.recipient = $2",
                &[&id, &r],
            )?,
            None => self.stored(&doing, "WHERE d.round = $1", &[&id])?,
        };
        self.in_order(&stored, &doing)
    }

    pub(super) fn visit_attempts(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        if !self.exists {
            return Ok(());
        }
        let doing = "cannot read the history";
        // Recording order runs across deliveries: every row is read, then sorted.
        let stored = self.stored(doing, "", &[])?;
        for attempt in self.in_order(&stored, doing)? {
            visit(attempt)?;
        }
        Ok(())
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
            &both_tables(layout::LATEST_OCCURRENCE_SQL),
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
        let rows = self.query(doing, &both_tables(layout::CAMPAIGN_TOTALS_SQL), &[])?;
        rows.iter()
            .map(|row| layout::campaign_totals(row).map_err(fail(&self.location, doing)))
            .collect()
    }
}

/// A query of the shared layout over `deliveries`, made to read both tables (`{s}` left for
/// [`PostgresStore::query`]).
fn both_tables(sql: &str) -> String {
    sql.replace("{s}deliveries", "{s}all_deliveries")
        .replace("{s}", "{s}.")
}
