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
    let select = format!("SELECT {DELIVERY_COLUMNS} FROM {prefix}history_v5 ORDER BY seq");
    let mut ids = Ids::default();
    each_page(tx, "history_v5", &select, failed, |tx, rows| {
        let batch = rows
            .iter()
            .map(|row| sql::delivery(row, location))
            .collect::<Result<Vec<Delivery>, StateError>>()?;
        Writer {
            client: tx,
            prefix,
            ids: &mut ids,
            location,
        }
        .append_v6(&batch)
    })
}

/// Runs `select` through a cursor named `cursor`, handing `each` a page of rows at a time
/// (a state's history does not fit in memory at once).
fn each_page<F: FnOnce(postgres::Error) -> StateError>(
    tx: &mut postgres::Transaction<'_>,
    cursor: &str,
    select: &str,
    failed: impl Fn() -> F,
    mut each: impl FnMut(&mut postgres::Transaction<'_>, &[postgres::Row]) -> Result<(), StateError>,
) -> Result<(), StateError> {
    tx.batch_execute(&format!("DECLARE {cursor} NO SCROLL CURSOR FOR {select}"))
        .map_err(failed())?;
    loop {
        let rows = tx
            .query(&format!("FETCH {PAGE} FROM {cursor}"), &[])
            .map_err(failed())?;
        if rows.is_empty() {
            break;
        }
        each(tx, &rows)?;
    }
    tx.batch_execute(&format!("CLOSE {cursor}"))
        .map_err(failed())
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
    let select = format!("{} ORDER BY a.seq", ATTEMPT_SELECT.replace("{s}", prefix));
    let mut ids = Ids::default();
    each_page(tx, "attempts_v6", &select, failed, |tx, rows| {
        let batch = rows
            .iter()
            .map(|row| {
                layout::read_attempt(row, location, &mut |id| Ok(skeletons.get(&id).cloned()))
            })
            .collect::<Result<Vec<Delivery>, StateError>>()?;
        Writer {
            client: tx,
            prefix,
            ids: &mut ids,
            location,
        }
        .append(&batch)
    })
}
