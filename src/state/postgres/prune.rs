//! Pruning the requests of settled deliveries ([`crate::state::Store::prune`]).

use super::super::sql::{self, fail, timestamp_text};
use super::super::{Pruned, StateError};
use super::PostgresStore;

impl PostgresStore {
    pub(super) fn count_prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        if !self.exists {
            return Ok(Pruned::default());
        }
        let doing = "cannot count the requests to prune";
        let sql = sql::prunable_sql().replace("{s}", "{s}.");
        let rows = self.query(doing, &sql, &[&timestamp_text(before)])?;
        match rows.first() {
            Some(row) => sql::pruned(row).map_err(fail(&self.location, doing)),
            None => Ok(Pruned::default()),
        }
    }

    pub(super) fn prune_requests(&mut self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        let location = self.location.clone();
        let doing = "cannot prune the requests of settled deliveries";
        let failed = || fail(&location, doing);
        let before = timestamp_text(before);
        let count = self.sql(&sql::prunable_sql().replace("{s}", "{s}."));
        let prune = self.sql(&sql::prune_sql().replace("{s}", "{s}."));
        let serial = self.sql("UPDATE {s}.meta SET value = value + 1 WHERE key = 'serial'");
        let mut tx = self.client.get_mut().transaction().map_err(failed())?;
        let row = tx.query_one(&count, &[&before]).map_err(failed())?;
        let counted = sql::pruned(&row).map_err(fail(&location, doing))?;
        let dropped = tx.execute(&prune, &[&before]).map_err(failed())?;
        if dropped > 0 {
            tx.execute(&serial, &[]).map_err(failed())?;
        }
        tx.commit().map_err(failed())?;
        Ok(Pruned {
            requests: dropped,
            ..counted
        })
    }

    pub(super) fn vacuum_history(&mut self) -> Result<(), StateError> {
        // VACUUM cannot run inside a transaction: a statement of its own.
        let sql = self.sql("VACUUM {s}.history");
        self.client
            .get_mut()
            .batch_execute(&sql)
            .map_err(fail(&self.location, "cannot vacuum the state's history"))
    }
}
