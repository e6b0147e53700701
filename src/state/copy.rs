//! Copying a whole state into an empty one (`herald state migrate`): every attempt in its
//! recording order, so each delivery's latest attempt comes out the same, every apply, and the
//! serial and lineage, so that a plan made against the original applies to the copy.

use super::{Locked, StateError, Store};

/// Attempts written per transaction.
const BATCH: usize = 10_000;

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Attempts (history rows).
    pub attempts: u64,
    /// Logged applies.
    pub applies: u64,
    /// The serial both states now have.
    pub serial: u64,
}

/// Why a state cannot be copied.
#[derive(Debug)]
pub enum CopyError {
    /// The target already holds state; copying would mix two histories.
    TargetNotEmpty {
        /// Where the target is.
        location: String,
    },
    /// Reading or writing failed.
    State(StateError),
}

impl From<StateError> for CopyError {
    fn from(e: StateError) -> CopyError {
        CopyError::State(e)
    }
}

/// Copies `from` into `to`, which must be empty; both are held under their locks while it
/// runs (an apply writing to the source would make the copy a mix of two moments).
pub fn copy(from: &mut Locked, to: &mut Locked) -> Result<Copied, CopyError> {
    let empty = to.serial()? == 0 && to.campaigns()?.is_empty() && to.applies()?.is_empty();
    if !empty {
        return Err(CopyError::TargetNotEmpty {
            location: to.location(),
        });
    }
    let serial = from.serial()?;
    fill(&**from, &mut **to, serial)
}

fn fill(from: &dyn Store, to: &mut dyn Store, serial: u64) -> Result<Copied, CopyError> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut attempts = 0;
    from.every_attempt(&mut |attempt| {
        batch.push(attempt);
        attempts += 1;
        if batch.len() == BATCH {
            to.record(&batch)?;
            batch.clear();
        }
        Ok(())
    })?;
    to.record(&batch)?;
    let applies = from.applies()?;
    for apply in &applies {
        to.log_apply(apply)?;
    }
    to.set_serial(serial)?;
    if let Some(lineage) = from.lineage()? {
        to.set_lineage(&lineage)?;
    }
    Ok(Copied {
        attempts,
        applies: applies.len() as u64,
        serial,
    })
}
