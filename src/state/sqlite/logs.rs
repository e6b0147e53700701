//! The logs beside the deliveries: applies, test messages (`herald send`) and operations
//! (`state prune`, `state erase`).

use rusqlite::{Row, params};

use super::super::sql::{self, fail, timestamp_text};
use super::super::{ApplyRecord, Operation, StateError, TestSend};
use super::{SqliteStore, query_rows};

impl SqliteStore {
    pub(super) fn insert_apply(&mut self, apply: &ApplyRecord) -> Result<(), StateError> {
        let doing = format!("cannot log apply {}", apply.id);
        let failed = || fail(&self.location, &doing);
        let count = |n: u64| i64::try_from(n).map_err(fail(&self.location, &doing));
        let counts = [
            count(apply.sent)?,
            count(apply.failed)?,
            count(apply.unknown)?,
        ];
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO applies
                     (id, who, started_at, finished_at, plan_hash, sent, failed, unknown)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    apply.id,
                    apply.who,
                    timestamp_text(apply.started_at),
                    apply.finished_at.map(timestamp_text),
                    apply.plan_hash,
                    counts[0],
                    counts[1],
                    counts[2],
                ])
            })
            .map_err(failed())?;
        Ok(())
    }

    pub(super) fn read_applies(&self) -> Result<Vec<ApplyRecord>, StateError> {
        let doing = "cannot read the applies";
        let sql = format!(
            "SELECT {} FROM applies ORDER BY started_at, id",
            sql::APPLY_COLUMNS
        );
        let read = |row: &Row<'_>| sql::apply_record(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }

    pub(super) fn insert_test_send(&mut self, send: &TestSend) -> Result<(), StateError> {
        let doing = format!("cannot log test message {}", send.id);
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO test_sends ({})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                sql::TEST_SEND_COLUMNS
            ))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    send.id,
                    send.who,
                    timestamp_text(send.at),
                    send.campaign,
                    send.rendered_for,
                    send.phone,
                    send.outcome.as_str(),
                    send.api_code,
                    send.detail,
                ])
            })
            .map_err(fail(&self.location, &doing))?;
        Ok(())
    }

    pub(super) fn read_test_sends(&self) -> Result<Vec<TestSend>, StateError> {
        let doing = "cannot read the test messages";
        let sql = format!(
            "SELECT {} FROM test_sends ORDER BY at, id",
            sql::TEST_SEND_COLUMNS
        );
        let read = |row: &Row<'_>| sql::test_send(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }

    pub(super) fn insert_operation(&mut self, op: &Operation) -> Result<(), StateError> {
        self.in_place()?;
        let doing = format!("cannot log the {}", op.what);
        let rows = i64::try_from(op.rows).map_err(fail(&self.location, &doing))?;
        self.conn
            .prepare_cached(
                "INSERT INTO operations (at, who, what, detail, rows) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    timestamp_text(op.at),
                    op.who,
                    op.what,
                    op.detail,
                    rows
                ])
            })
            .map_err(fail(&self.location, &doing))?;
        Ok(())
    }

    pub(super) fn read_operations(&self) -> Result<Vec<Operation>, StateError> {
        let doing = "cannot read the log of operations";
        let sql = format!(
            "SELECT {} FROM operations ORDER BY id",
            sql::OPERATION_COLUMNS
        );
        let read = |row: &Row<'_>| sql::operation(row).map_err(fail(&self.location, doing));
        query_rows(&self.conn, &self.location, doing, &sql, [], read)
    }
}
