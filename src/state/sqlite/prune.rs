//! Pruning the requests of settled deliveries ([`crate::state::Store::prune`]): the rows are
//! marked, and a request's body goes once every row that sent it is pruned (its fingerprint
//! is kept in its place).

use rusqlite::{TransactionBehavior, params};

use super::super::layout;
use super::super::pruning::{self, Plan, Planner};
use super::super::sql::fail;
use super::super::{Pruned, StateError};
use super::SqliteStore;

impl SqliteStore {
    /// Decides what to prune (reads only).
    fn plan_prune(&self, before: jiff::Timestamp, doing: &str) -> Result<Plan, StateError> {
        let cut = layout::nanos(before).map_err(fail(&self.location, doing))?;
        let mut planner = Planner::new(cut);
        let mut stmt = self
            .conn
            .prepare(&pruning::ROWS_SQL.replace("{s}", ""))
            .map_err(fail(&self.location, doing))?;
        let mut rows = stmt.query([]).map_err(fail(&self.location, doing))?;
        while let Some(row) = rows.next().map_err(fail(&self.location, doing))? {
            planner.row(pruning::read_row(row).map_err(fail(&self.location, doing))?);
        }
        pruning::measure(planner.finish(), &mut |id| self.request_text(id, doing))
    }

    pub(super) fn count_prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
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
        let location = self.location.as_str();
        let failed = || fail(location, doing);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        {
            let mut mark = tx
                .prepare("UPDATE attempts SET pruned = 1 WHERE seq = ?1")
                .map_err(failed())?;
            for (seq, _) in &plan.rows {
                mark.execute([seq]).map_err(failed())?;
            }
            // A request still sent by a row not pruned keeps its body.
            let mut requests: Vec<i64> = plan.rows.iter().map(|(_, r)| *r).collect();
            requests.sort_unstable();
            requests.dedup();
            let mut kept = vec![false; requests.len()];
            let mut stmt = tx
                .prepare("SELECT request FROM attempts WHERE pruned = 0")
                .map_err(failed())?;
            let mut rows = stmt.query([]).map_err(failed())?;
            while let Some(row) = rows.next().map_err(failed())? {
                let id: i64 = row.get(0).map_err(failed())?;
                if let Ok(i) = requests.binary_search(&id) {
                    kept[i] = true;
                }
            }
            let mut drop_body = tx
                .prepare("UPDATE requests SET body = NULL, fingerprint = ?2 WHERE id = ?1")
                .map_err(failed())?;
            for (id, kept) in requests.iter().zip(kept) {
                if let (false, Some(fp)) = (kept, plan.fingerprints.get(id)) {
                    drop_body
                        .execute(params![id, &fp.0[..]])
                        .map_err(failed())?;
                }
            }
        }
        tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'serial'", [])
            .map_err(failed())?;
        tx.commit().map_err(failed())?;
        Ok(Pruned {
            requests: plan.rows.len() as u64,
            bytes: plan.bytes,
        })
    }
}
