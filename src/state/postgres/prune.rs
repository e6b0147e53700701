//! Pruning the requests of settled deliveries ([`crate::state::Store::prune`]): the rows are
//! marked, and a request's body goes once every row that sent it is pruned (its fingerprint
//! is kept in its place).

use std::collections::HashMap;

use postgres::fallible_iterator::FallibleIterator;

use super::super::compact;
use super::super::layout;
use super::super::pruning::{self, Planner};
use super::super::sql::{self, Columns, fail};
use super::super::{Pruned, StateError};
use super::PostgresStore;
use crate::fingerprint::Fingerprint;

/// What pruning would do: the rows, the bytes of their requests, each request's fingerprint.
struct Plan {
    rows: Vec<(i64, i64)>,
    bytes: u64,
    fingerprints: HashMap<i64, Fingerprint>,
}

impl PostgresStore {
    fn plan_prune(&self, before: jiff::Timestamp, doing: &str) -> Result<Plan, StateError> {
        let cut = layout::nanos(before).map_err(fail(&self.location, doing))?;
        let mut planner = Planner::new(cut);
        {
            let mut client = self.client.borrow_mut();
            let sql = self.layout_sql(pruning::ROWS_SQL);
            let none: [i64; 0] = [];
            let mut rows = client
                .query_raw(&sql, none)
                .map_err(fail(&self.location, doing))?;
            while let Some(row) = rows.next().map_err(fail(&self.location, doing))? {
                planner.row(pruning::read_row(&row).map_err(fail(&self.location, doing))?);
            }
        }
        let rows = planner.finish();
        let mut bytes = 0;
        let mut fingerprints = HashMap::new();
        let mut last: Option<(i64, u64)> = None;
        for &(_, request) in &rows {
            let len = match last {
                Some((id, len)) if id == request => len,
                _ => {
                    let (text, fingerprint) = self.request_text(request, doing)?;
                    fingerprints.insert(request, fingerprint);
                    text.len() as u64
                }
            };
            last = Some((request, len));
            bytes += len;
        }
        Ok(Plan {
            rows,
            bytes,
            fingerprints,
        })
    }

    /// A stored request and its fingerprint.
    fn request_text(&self, id: i64, doing: &str) -> Result<(String, Fingerprint), StateError> {
        let rows = self.query(
            doing,
            "SELECT recipient, fingerprint, body FROM {s}.requests WHERE id = $1",
            &[&id],
        )?;
        let Some(row) = rows.first() else {
            return Err(fail(&self.location, doing)(sql::BadColumn(format!(
                "request {id} is missing"
            ))));
        };
        let recipient = row.text(0).map_err(fail(&self.location, doing))?;
        let body = row
            .optional_blob(2)
            .map_err(fail(&self.location, doing))?
            .unwrap_or_default();
        let skeleton = match compact::skeleton_of(&body) {
            Some(s) => self.skeleton(s)?,
            None => None,
        };
        let text = compact::decode(&body, &recipient, skeleton.as_deref())
            .map_err(fail(&self.location, doing))?;
        let fingerprint = match row.optional_blob(1).map_err(fail(&self.location, doing))? {
            Some(bytes) => sql::fingerprint_of(&bytes).map_err(fail(&self.location, doing))?,
            None => Fingerprint::of(text.as_bytes()),
        };
        Ok((text, fingerprint))
    }

    pub(super) fn count_prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        if !self.exists {
            return Ok(Pruned::default());
        }
        let plan = self.plan_prune(before, "cannot count the requests to prune")?;
        Ok(Pruned {
            requests: plan.rows.len() as u64,
            bytes: plan.bytes,
        })
    }

    pub(super) fn prune_requests(&mut self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        let doing = "cannot prune the requests of settled deliveries";
        let plan = self.plan_prune(before, doing)?;
        if plan.rows.is_empty() {
            return Ok(Pruned::default());
        }
        let location = self.location.clone();
        let failed = || fail(&location, doing);
        let seqs: Vec<i64> = plan.rows.iter().map(|(s, _)| *s).collect();
        let mut requests: Vec<i64> = plan.rows.iter().map(|(_, r)| *r).collect();
        requests.sort_unstable();
        requests.dedup();
        let mark = self.sql("UPDATE {s}.attempts SET pruned = 1 WHERE seq = ANY($1)");
        // A request still sent by a row not pruned keeps its body.
        let bare = self.sql(
            "SELECT id FROM unnest($1::bigint[]) AS q(id)
             EXCEPT SELECT request FROM {s}.attempts WHERE pruned = 0",
        );
        let drop_bodies = self.sql(
            "UPDATE {s}.requests q SET body = NULL, fingerprint = f.fp
             FROM unnest($1::bigint[], $2::bytea[]) AS f(id, fp) WHERE q.id = f.id",
        );
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        tx.execute(&mark, &[&seqs]).map_err(failed())?;
        let bare: Vec<i64> = tx
            .query(&bare, &[&requests])
            .map_err(failed())?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(failed())?;
        let fps: Vec<&[u8]> = bare
            .iter()
            .map(|id| plan.fingerprints.get(id).map_or(&[][..], |f| &f.0[..]))
            .collect();
        tx.execute(&drop_bodies, &[&bare, &fps]).map_err(failed())?;
        tx.execute(&serial, &[]).map_err(failed())?;
        tx.commit().map_err(failed())?;
        Ok(Pruned {
            requests: plan.rows.len() as u64,
            bytes: plan.bytes,
        })
    }

    pub(super) fn vacuum_history(&mut self) -> Result<(), StateError> {
        // VACUUM cannot run inside a transaction: a statement of its own.
        let sql = self.sql("VACUUM {s}.attempts, {s}.requests");
        self.client
            .get_mut()
            .batch_execute(&sql)
            .map_err(fail(&self.location, "cannot vacuum the state's history"))
    }
}
