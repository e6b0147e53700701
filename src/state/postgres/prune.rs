//! Pruning the requests of settled deliveries ([`crate::state::Store::prune`]): the rows are
//! marked, and a request's body goes once every row that sent it is pruned (its fingerprint
//! is kept in its place).

use postgres::fallible_iterator::FallibleIterator;

use super::super::layout;
use super::super::pruning::{self, Plan, Planner};
use super::super::sql::fail;
use super::super::{Pruned, StateError};
use super::PostgresStore;

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
        pruning::measure(planner.finish(), &mut |id| self.request_text(id, doing))
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
