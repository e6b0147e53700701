//! Copying a whole state into an empty one (`herald state migrate`): every attempt in its
//! recording order, so each delivery's latest attempt comes out the same, every apply and test
//! message, and the serial and lineage, so that a plan made against the original applies to the
//! copy.

use super::{Access, Location, Locked, StateError, Store};

/// Attempts written per transaction.
const BATCH: usize = 10_000;

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Attempts (history rows).
    pub attempts: u64,
    /// Logged applies.
    pub applies: u64,
    /// Logged test messages (`herald send`).
    pub test_sends: u64,
    /// The serial both states now have.
    pub serial: u64,
}

/// What was copied, from where to where (`herald state migrate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The counts.
    pub copied: Copied,
    /// Where the source is, for messages.
    pub from: String,
    /// Where the copy is.
    pub to: String,
}

/// Why a state cannot be copied.
#[derive(Debug)]
pub enum CopyError {
    /// The source holds no state (it was never written).
    NothingToCopy {
        /// Where the source is.
        location: String,
    },
    /// The target already holds state; copying would mix two histories.
    TargetNotEmpty {
        /// Where the target is.
        location: String,
    },
    /// Reading or writing failed.
    State(StateError),
}

impl CopyError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            CopyError::NothingToCopy { .. } => "check --from (and the state's settings)".to_owned(),
            CopyError::TargetNotEmpty { .. } => "choose an empty target (another schema or \
                 file), or remove this one if it is a failed copy"
                .to_owned(),
            CopyError::State(e) => e.help(),
        }
    }
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::NothingToCopy { location } => write!(f, "{location} holds no state to copy"),
            CopyError::TargetNotEmpty { location } => write!(
                f,
                "{location} already holds state; migrate copies into an empty state only"
            ),
            CopyError::State(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CopyError {}

/// `herald state migrate`: copies the state at `from` into the empty one at `to`, both held
/// under their locks for `holder`.
pub fn migrate(from: &Location, to: &Location, holder: &str) -> Result<Migrated, CopyError> {
    // Nothing to copy is said as such (opening the source to lock it would create it).
    let probe = from.open(Access::Read)?;
    if probe.lineage()?.is_none() {
        return Err(CopyError::NothingToCopy {
            location: probe.location(),
        });
    }
    drop(probe);
    // Both under their locks: an apply writing to the source would make the copy a mix of two
    // moments, and one writing to the target would mix two histories.
    let mut from = Locked::take(from.open(Access::Write)?, holder)?;
    let mut to = Locked::take(to.open(Access::Write)?, holder)?;
    let copied = copy(&mut from, &mut to)?;
    Ok(Migrated {
        copied,
        from: from.location(),
        to: to.location(),
    })
}

impl From<StateError> for CopyError {
    fn from(e: StateError) -> CopyError {
        CopyError::State(e)
    }
}

/// Copies `from` into `to`, which must be empty; both are held under their locks while it
/// runs (an apply writing to the source would make the copy a mix of two moments).
pub fn copy(from: &mut Locked, to: &mut Locked) -> Result<Copied, CopyError> {
    let empty = to.serial()? == 0
        && to.campaigns()?.is_empty()
        && to.applies()?.is_empty()
        && to.test_sends()?.is_empty();
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
    let test_sends = from.test_sends()?;
    for send in &test_sends {
        to.log_test_send(send)?;
    }
    to.restore_erased(&from.erased_records()?)?;
    for operation in from.operations()? {
        to.log_operation(&operation)?;
    }
    to.set_serial(serial)?;
    if let Some(lineage) = from.lineage()? {
        to.set_lineage(&lineage)?;
    }
    Ok(Copied {
        attempts,
        applies: applies.len() as u64,
        test_sends: test_sends.len() as u64,
        serial,
    })
}
