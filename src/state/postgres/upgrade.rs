//! The migrations that convert rows in Rust: schema 5's history recorded again in schema 6's
//! layout, and schema 6's rows packed into schema 7's ([`super::packed`]), each in recording
//! order through a cursor, a page at a time.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::compact::Skeleton;
use super::super::layout::{self, ATTEMPT_SELECT, Ids};
use super::super::sql::{self, DELIVERY_COLUMNS, fail};
use super::super::{Delivery, StateError};
use super::record::Writer;

/// Rows read from the cursor at a time.
const PAGE: usize = 1000;

/// Migration 6's conversion: every attempt of the old `history`, in recording order, recorded
/// again in the compact layout (which rebuilds `deliveries`: each delivery's latest row).
pub(super) fn convert_history(
    tx: &mut postgres::Transaction<'_>,
    prefix: &str,
    location: &str,
) -> Result<(), StateError> {
    let failed = || fail(location, "cannot migrate the state to schema version 6");
    let declare = format!(
        "DECLARE history_v5 NO SCROLL CURSOR FOR
         SELECT {DELIVERY_COLUMNS} FROM {prefix}history_v5 ORDER BY seq"
    );
    tx.batch_execute(&declare).map_err(failed())?;
    let mut ids = Ids::default();
    loop {
        let rows = tx
            .query(&format!("FETCH {PAGE} FROM history_v5"), &[])
            .map_err(failed())?;
        if rows.is_empty() {
            break;
        }
        let batch = rows
            .iter()
            .map(|row| sql::delivery(row, location))
            .collect::<Result<Vec<Delivery>, StateError>>()?;
        Writer {
            client: &mut *tx,
            prefix,
            ids: &mut ids,
            location,
        }
        .append_v6(&batch)?;
    }
    tx.batch_execute("CLOSE history_v5").map_err(failed())
}

/// Migration 7's conversion: every row of schema 6's history, in recording order, read back
/// as the [`Delivery`] it records and recorded again, one row a delivery. The skeletons stay:
/// the packed requests are encoded against them.
pub(super) fn convert_v6(
    tx: &mut postgres::Transaction<'_>,
    prefix: &str,
    location: &str,
) -> Result<(), StateError> {
    let failed = || fail(location, "cannot migrate the state to schema version 7");
    let mut skeletons: HashMap<i64, Arc<Skeleton>> = HashMap::new();
    for row in tx
        .query(&format!("SELECT id, request FROM {prefix}skeletons"), &[])
        .map_err(failed())?
    {
        let id: i64 = row.try_get(0).map_err(failed())?;
        let text: Vec<u8> = row.try_get(1).map_err(failed())?;
        skeletons.insert(id, Arc::new(Skeleton::new(&text)));
    }
    let select = ATTEMPT_SELECT.replace("{s}", prefix);
    let declare = format!("DECLARE attempts_v6 NO SCROLL CURSOR FOR {select} ORDER BY a.seq");
    tx.batch_execute(&declare).map_err(failed())?;
    let mut ids = Ids::default();
    loop {
        let rows = tx
            .query(&format!("FETCH {PAGE} FROM attempts_v6"), &[])
            .map_err(failed())?;
        if rows.is_empty() {
            break;
        }
        let batch = rows
            .iter()
            .map(|row| {
                layout::read_attempt(row, location, &mut |id| Ok(skeletons.get(&id).cloned()))
            })
            .collect::<Result<Vec<Delivery>, StateError>>()?;
        Writer {
            client: &mut *tx,
            prefix,
            ids: &mut ids,
            location,
        }
        .append(&batch)?;
    }
    tx.batch_execute("CLOSE attempts_v6").map_err(failed())
}
