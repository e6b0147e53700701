//! Pruning the requests of settled deliveries ([`crate::state::Store::prune`]): the rows are
//! marked, and a request's body goes once every row that sent it is pruned (its fingerprint
//! is kept in its place). A request is only ever sent by rows of its own delivery, whose rows
//! are packed together ([`super::packed`]), so each delivery is planned on its own.

use std::collections::HashMap;

use postgres::fallible_iterator::FallibleIterator;

use super::super::layout;
use super::super::pruning::{self, Planner, Row};
use super::super::sql::{corrupt, fail};
use super::super::{Pruned, StateError, WHOLE_CAMPAIGN};
use super::PostgresStore;
use super::read::{STORED_SQL, Stored};
use super::record::Put;
use crate::fingerprint::Fingerprint;

/// A delivery with rows to prune: its row, those rows (index in its log, request) and the
/// fingerprints of their requests.
type Planned = (Stored, Vec<(i64, i64)>, HashMap<i64, Fingerprint>);

impl PostgresStore {
    /// The deliveries with rows to prune, and the bytes of the requests those rows sent.
    fn plan_prune(
        &self,
        before: jiff::Timestamp,
        doing: &str,
    ) -> Result<(Vec<Planned>, u64), StateError> {
        let cut = layout::nanos(before).map_err(fail(&self.location, doing))?;
        let mut found = Vec::new();
        {
            let mut client = self.client.borrow_mut();
            let sql = self.sql(STORED_SQL);
            let none: [i64; 0] = [];
            let mut rows = client
                .query_raw(&sql, none)
                .map_err(fail(&self.location, doing))?;
            while let Some(row) = rows.next().map_err(fail(&self.location, doing))? {
                let stored = Stored::read(&row, &self.location)?;
                let mut planner = Planner::new(cut);
                for (i, e) in stored.log.entries.iter().enumerate() {
                    let outcome = layout::outcome_of(i64::from(e.outcome)).map_err(|why| {
                        corrupt(&self.location, &stored.campaign, &stored.recipient, why)
                    })?;
                    // The planner names rows by their index in the log.
                    planner.row(Row {
                        seq: i as i64,
                        prev: i.checked_sub(1).map(|p| p as i64),
                        outcome,
                        at: e.at,
                        broadcast: stored.recipient == WHOLE_CAMPAIGN,
                        pruned: e.pruned,
                        request: e.request as i64,
                    });
                }
                let rows = planner.finish();
                if !rows.is_empty() {
                    found.push((stored, rows));
                }
            }
        }
        let mut bytes = 0;
        let mut planned = Vec::with_capacity(found.len());
        for (stored, rows) in found {
            let plan = pruning::measure(rows, &mut |request| {
                let text =
                    stored
                        .log
                        .request_text(request as usize, &stored.recipient, &mut |id| {
                            self.skeleton(id)
                        })?;
                text.map_err(|why| {
                    corrupt(&self.location, &stored.campaign, &stored.recipient, why)
                })
            })?;
            bytes += plan.bytes;
            planned.push((stored, plan.rows, plan.fingerprints));
        }
        Ok((planned, bytes))
    }

    pub(super) fn count_prunable(&self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        if !self.exists {
            return Ok(Pruned::default());
        }
        let (planned, bytes) = self.plan_prune(before, "cannot count the requests to prune")?;
        Ok(Pruned {
            requests: planned.iter().map(|p| p.1.len() as u64).sum(),
            bytes,
        })
    }

    pub(super) fn prune_requests(&mut self, before: jiff::Timestamp) -> Result<Pruned, StateError> {
        let doing = "cannot prune the requests of settled deliveries";
        let (planned, bytes) = self.plan_prune(before, doing)?;
        let requests: u64 = planned.iter().map(|p| p.1.len() as u64).sum();
        if requests == 0 {
            return Ok(Pruned::default());
        }
        let mut puts: Vec<Put> = Vec::with_capacity(planned.len());
        for (mut stored, rows, fingerprints) in planned {
            for &(i, _) in &rows {
                stored.log.entries[i as usize].pruned = true;
            }
            let log = &mut stored.log;
            // A request still sent by a row not pruned keeps its body.
            for (r, request) in log.requests.iter_mut().enumerate() {
                let bare = log.entries.iter().all(|e| e.request != r || e.pruned);
                if bare && request.body.is_some() {
                    request.body = None;
                    if let Some(fp) = fingerprints.get(&(r as i64)) {
                        request.fingerprint = Some(fp.0);
                    }
                }
            }
            puts.push(stored.put());
        }
        self.write_puts(&puts, doing)?;
        Ok(Pruned { requests, bytes })
    }

    pub(super) fn vacuum_history(&mut self) -> Result<(), StateError> {
        // VACUUM cannot run inside a transaction: a statement of its own.
        let sql = self.sql("VACUUM {s}.deliveries, {s}.intents");
        self.client
            .get_mut()
            .batch_execute(&sql)
            .map_err(fail(&self.location, "cannot vacuum the state's history"))
    }
}
