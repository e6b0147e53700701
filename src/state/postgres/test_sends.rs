//! Test messages (`herald send`) in the log beside the applies: never deliveries, so nothing
//! here touches `deliveries`, `history` or the serial.

use super::super::sql::{self, fail, timestamp_text};
use super::super::{StateError, TestSend};
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
}
