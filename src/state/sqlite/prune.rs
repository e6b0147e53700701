//! Pruning the requests of settled deliveries ([`crate::state::Store::prune`]): the rows are
//! marked, and a request's body goes once every row that sent it is pruned (its fingerprint
//! is kept in its place).

use std::collections::HashMap;

use rusqlite::{TransactionBehavior, params};

use super::super::layout;
use super::super::pruning::{self, Planner};
use super::super::sql::{self, fail};
use super::super::{Pruned, StateError};
use super::SqliteStore;
use crate::fingerprint::Fingerprint;

/// What pruning would do: the rows, the bytes of their requests, and each request's
/// fingerprint.
struct Plan {
    rows: Vec<(i64, i64)>,
    bytes: u64,
    fingerprints: HashMap<i64, Fingerprint>,
}

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
        let (recipient, stored, body): (String, Option<Vec<u8>>, Option<Vec<u8>>) = self
            .conn
            .prepare_cached("SELECT recipient, fingerprint, body FROM requests WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            })
            .map_err(fail(&self.location, doing))?;
        let body = body.unwrap_or_default();
        let skeleton = match super::super::compact::skeleton_of(&body) {
            Some(s) => self.skeleton(s)?,
            None => None,
        };
        let text = super::super::compact::decode(&body, &recipient, skeleton.as_deref())
            .map_err(fail(&self.location, doing))?;
        let fingerprint = match stored {
            Some(bytes) => sql::fingerprint_of(&bytes).map_err(fail(&self.location, doing))?,
            None => Fingerprint::of(text.as_bytes()),
        };
        Ok((text, fingerprint))
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
