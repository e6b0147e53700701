//! [`StateError`]: why a state operation failed, and how to fix it.

use std::fmt;

use super::{Lock, open};

/// Why a state operation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum StateError {
    /// Another apply holds the lock, and is running.
    Locked(Lock),
    /// `unlock` of a lock whose holder is still running: only a dead holder's lock is removed.
    HolderAlive(Lock),
    /// `unlock` with an id that is not the current lock's. The current lock's id is never
    /// told: knowing it is what `unlock` asks for.
    NotLocked {
        /// The id given.
        id: String,
        /// The current lock, if any.
        current: Option<Lock>,
    },
    /// The state was written by a newer herald with a schema this one does not know.
    NewerSchema {
        /// Where the state is.
        location: String,
        /// Its schema version.
        found: i64,
        /// The newest this herald knows.
        known: i64,
    },
    /// The state's file or lock file was replaced or removed under a writer: it stops.
    Replaced {
        /// Where the state is.
        location: String,
        /// What was replaced.
        message: String,
    },
    /// The PostgreSQL state's URL variable is not set.
    UrlUnset {
        /// The variable (`state.url_env`, default `HERALD_STATE_URL`).
        var: String,
    },
    /// A state named on the command line (`state migrate --from/--to`) is neither
    /// `sqlite:PATH` nor `postgres[:SCHEMA]`.
    NotAState {
        /// What was given.
        spec: String,
    },
    /// The backend failed (I/O, corruption, a full disk).
    Backend {
        /// Where the state is.
        location: String,
        /// What went wrong.
        message: String,
    },
}

impl StateError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            StateError::Locked(_) => "wait for it to finish. A lock dies with its holder: \
                 after a crash or a kill the next apply takes it over by itself"
                .to_owned(),
            StateError::HolderAlive(_) => "a running apply's lock cannot be broken: wait for \
                 it to end, or stop it (SIGTERM or Ctrl-C: it records what it sent and releases \
                 the lock). A dead holder's lock is taken over by the next apply by itself"
                .to_owned(),
            StateError::NotLocked {
                current: Some(lock),
                ..
            } => format!(
                "the state is locked by {} since {}, under another id",
                lock.holder, lock.since
            ),
            StateError::NotLocked { current: None, .. } => "the state is not locked".to_owned(),
            StateError::NewerSchema { .. } => {
                "upgrade herald to the version that wrote this state".to_owned()
            }
            StateError::Replaced { .. } => "another process replaced or removed the state's \
                 files while this apply held them: find out what did (a restore, a cleanup job), \
                 then apply again; it takes the lock over and settles what was in flight"
                .to_owned(),
            StateError::UrlUnset { var } => format!(
                "set {var} to the state database's postgres:// URL (state.url_env names the \
                 variable)"
            ),
            StateError::NotAState { .. } => format!(
                "write `sqlite:PATH` (e.g. sqlite:.herald/state.db) or `postgres` (or \
                 `postgres:SCHEMA`); the PostgreSQL URL comes from the variable state.url_env \
                 names (default {})",
                open::DEFAULT_STATE_URL_ENV
            ),
            StateError::Backend { location, .. }
                if location.to_ascii_lowercase().starts_with("postgres") =>
            {
                "check the server is reachable and the URL in the state's variable (host, port, \
                 user, database; sslmode and sslrootcert for TLS, see docs/ci.md)"
                    .to_owned()
            }
            StateError::Backend { .. } => {
                "check that the state is readable and writable and the disk is not full".to_owned()
            }
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Locked(lock) => write!(
                f,
                "the state is locked by {} since {}",
                lock.holder, lock.since
            ),
            StateError::HolderAlive(lock) => write!(
                f,
                "the lock's holder is still running: {} since {}",
                lock.holder, lock.since
            ),
            StateError::NotLocked { id, .. } => write!(f, "no lock with id {id}"),
            StateError::NewerSchema {
                location,
                found,
                known,
            } => write!(
                f,
                "{location} has state schema version {found}; this herald knows versions up to {known}"
            ),
            StateError::UrlUnset { var } => write!(
                f,
                "{var} is not set: it holds the URL of the PostgreSQL state"
            ),
            StateError::NotAState { spec } => write!(f, "`{spec}` does not name a state"),
            StateError::Backend { location, message }
            | StateError::Replaced { location, message } => write!(f, "{location}: {message}"),
        }
    }
}

impl std::error::Error for StateError {}
