//! `herald state prune`: drops the requests of settled deliveries recorded before a date, the
//! bulk of a long-lived state, and keeps everything plan and pacing decide by.
//!
//! A pruned attempt keeps its delivery (campaign, occurrence, recipient), fingerprint,
//! outcome, API code, detail, time and apply; only its request becomes
//! [`super::PRUNED_REQUEST`]. Plan compares fingerprints, so it decides exactly as before:
//! nobody is messaged twice, and nothing sent is sent again. What is lost is what reads the
//! request itself: `state show` of a recipient says it was pruned, and a `changed` action of
//! a pruned delivery has no diff of the previous request. Unknown and in-flight attempts
//! keep theirs (reconciling reads them), and so does everything of the last
//! [`MIN_AGE`], which an operator may still be looking into.
//!
//! Like every write it bumps the serial when it changes anything, under the state's lock: a
//! plan saved before it is refused by apply and must be made again (it would be the same
//! plan; the rule that any write makes saved plans stale has no exceptions).

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{Locked, Pruned, StateError, Store};

/// How recent a cut-off may be at the latest: requests of the last day are never pruned.
pub const MIN_AGE: SignedDuration = SignedDuration::from_hours(24);

/// What to prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Attempts recorded before this time are pruned.
    pub before: Timestamp,
    /// The time now: `before` must be at least [`MIN_AGE`] earlier.
    pub now: Timestamp,
    /// Count what would be pruned, change nothing (and take no lock).
    pub dry_run: bool,
    /// Give the space back afterwards ([`Store::vacuum`]).
    pub vacuum: bool,
    /// Who runs it, for the log of operations.
    pub who: String,
}

/// What pruning did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Where the state is.
    pub state: String,
    /// The cut-off.
    pub before: Timestamp,
    /// The requests pruned and their bytes.
    #[serde(flatten)]
    pub pruned: Pruned,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Whether the state was vacuumed.
    pub vacuumed: bool,
    /// The serial before.
    pub serial_before: u64,
    /// The serial after: one more when anything was pruned.
    pub serial: u64,
}

/// Why pruning was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum PruneError {
    /// The cut-off is in the future or within [`MIN_AGE`] of now.
    TooRecent {
        /// The cut-off given.
        before: Timestamp,
        /// The time now.
        now: Timestamp,
    },
    /// State failed (or its lock is held).
    State(StateError),
}

impl PruneError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            PruneError::TooRecent { now, .. } => {
                let latest = now.checked_sub(MIN_AGE).unwrap_or(*now);
                format!(
                    "give a date at least 24 hours ago (at the latest --before {}): the last \
                     day's requests are kept for looking into what just happened",
                    latest.strftime("%Y-%m-%d")
                )
            }
            PruneError::State(e) => e.help(),
        }
    }
}

impl fmt::Display for PruneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PruneError::TooRecent { before, now } if before > now => {
                write!(f, "--before {before} is in the future (now is {now:.0})")
            }
            PruneError::TooRecent { before, now } => write!(
                f,
                "--before {before} is less than 24 hours ago (now is {now:.0})"
            ),
            PruneError::State(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PruneError {}

impl From<StateError> for PruneError {
    fn from(e: StateError) -> PruneError {
        PruneError::State(e)
    }
}

/// Prunes `store` as `options` say: under its lock for `holder` (a dry run only reads).
pub fn prune(store: Box<dyn Store>, holder: &str, options: &Options) -> Result<Report, PruneError> {
    let latest = options.now.checked_sub(MIN_AGE).unwrap_or(options.now);
    if options.before > latest {
        return Err(PruneError::TooRecent {
            before: options.before,
            now: options.now,
        });
    }
    let state = store.location();
    if options.dry_run {
        let serial = store.serial()?;
        return Ok(Report {
            state,
            before: options.before,
            pruned: store.prunable(options.before)?,
            dry_run: true,
            vacuumed: false,
            serial_before: serial,
            serial,
        });
    }
    let mut store = Locked::take(store, holder)?;
    let serial_before = store.serial()?;
    let pruned = store.prune(options.before)?;
    if pruned.requests > 0 {
        store.log_operation(&super::Operation {
            at: options.now,
            who: options.who.clone(),
            what: "prune".to_owned(),
            detail: format!("requests of settled attempts before {}", options.before),
            rows: pruned.requests,
        })?;
    }
    if options.vacuum {
        store.vacuum()?;
    }
    let serial = store.serial()?;
    store.release()?;
    Ok(Report {
        state,
        before: options.before,
        pruned,
        dry_run: false,
        vacuumed: options.vacuum,
        serial_before,
        serial,
    })
}
