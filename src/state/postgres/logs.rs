//! The logs beside the deliveries: applies, test messages (`herald send`; never deliveries,
//! so nothing here touches `deliveries`, `attempts` or the serial) and operations (`state
//! prune`, `state erase`).

use super::super::sql::{self, fail, timestamp_text};
use super::super::{ApplyRecord, Operation, StateError, TestSend};
use super::PostgresStore;

impl PostgresStore {
    pub(super) fn insert_test_send(&mut self, send: &TestSend) -> Result<(), StateError> {
        let doing = format!("cannot log test message {}", send.id);
        let sql = format!(
            "INSERT INTO {{s}}.test_sends ({})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET
                 who = excluded.who, at = excluded.at, campaign = excluded.campaign,
                 rendered_for = excluded.rendered_for, phone = excluded.phone,
                 outcome = excluded.outcome, api_code = excluded.api_code,
                 detail = excluded.detail",
            sql::TEST_SEND_COLUMNS
        );
        let at = timestamp_text(send.at);
        self.query(
            &doing,
            &sql,
            &[
                &send.id,
                &send.who,
                &at,
                &send.campaign,
                &send.rendered_for,
                &send.phone,
                &send.outcome.as_str(),
                &send.api_code,
                &send.detail,
            ],
        )
        .map(drop)
    }

    pub(super) fn read_test_sends(&self) -> Result<Vec<TestSend>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let doing = "cannot read the test messages";
        let sql = format!(
            "SELECT {} FROM {{s}}.test_sends ORDER BY at, id",
            sql::TEST_SEND_COLUMNS
        );
        let rows = self.query(doing, &sql, &[])?;
        rows.iter()
            .map(|row| sql::test_send(row).map_err(fail(&self.location, doing)))
            .collect()
    }

    pub(super) fn insert_apply(&mut self, apply: &ApplyRecord) -> Result<(), StateError> {
        let doing = format!("cannot log apply {}", apply.id);
        let count = |n: u64| i64::try_from(n).map_err(fail(&self.location, &doing));
        let counts = [
            count(apply.sent)?,
            count(apply.failed)?,
            count(apply.unknown)?,
        ];
        let sql = "INSERT INTO {s}.applies
                       (id, who, started_at, finished_at, plan_hash, sent, failed, unknown)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (id) DO UPDATE SET
                       who = excluded.who, started_at = excluded.started_at,
                       finished_at = excluded.finished_at, plan_hash = excluded.plan_hash,
                       sent = excluded.sent, failed = excluded.failed, unknown = excluded.unknown";
        let started_at = timestamp_text(apply.started_at);
        let finished_at = apply.finished_at.map(timestamp_text);
        self.query(
            &doing,
            sql,
            &[
                &apply.id,
                &apply.who,
                &started_at,
                &finished_at,
                &apply.plan_hash,
                &counts[0],
                &counts[1],
                &counts[2],
            ],
        )
        .map(drop)
    }

    pub(super) fn read_applies(&self) -> Result<Vec<ApplyRecord>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let doing = "cannot read the applies";
        let sql = format!(
            "SELECT {} FROM {{s}}.applies ORDER BY started_at, id",
            sql::APPLY_COLUMNS
        );
        let rows = self.query(doing, &sql, &[])?;
        rows.iter()
            .map(|row| sql::apply_record(row).map_err(fail(&self.location, doing)))
            .collect()
    }

    pub(super) fn insert_operation(&mut self, op: &Operation) -> Result<(), StateError> {
        let doing = format!("cannot log the {}", op.what);
        let rows = i64::try_from(op.rows).map_err(fail(&self.location, &doing))?;
        let at = timestamp_text(op.at);
        self.query(
            &doing,
            "INSERT INTO {s}.operations (at, who, what, detail, rows) VALUES ($1, $2, $3, $4, $5)",
            &[&at, &op.who, &op.what, &op.detail, &rows],
        )
        .map(drop)
    }

    pub(super) fn read_operations(&self) -> Result<Vec<Operation>, StateError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let doing = "cannot read the log of operations";
        let sql = format!(
            "SELECT {} FROM {{s}}.operations ORDER BY id",
            sql::OPERATION_COLUMNS
        );
        let rows = self.query(doing, &sql, &[])?;
        rows.iter()
            .map(|row| sql::operation(row).map_err(fail(&self.location, doing)))
            .collect()
    }
}
