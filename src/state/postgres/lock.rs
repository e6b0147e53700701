//! The PostgreSQL state's apply lock: a session-level advisory lock keyed by the schema, which
//! the server releases when the holder's connection ends, and the `lock` row that names the
//! holder for messages. A row whose advisory lock is free belongs to a dead apply and is
//! replaced by the next one.

use jiff::Timestamp;

use super::super::sql::{self, fail, timestamp_text};
use super::super::{HOLDER_RECORD_WAIT, Lock, StateError};

/// How long a refused advisory lock is tried again before its holder is taken to be alive.
const HOLDER_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
use super::PostgresStore;

impl PostgresStore {
    pub(super) fn take_lock(&mut self, holder: &str) -> Result<Lock, StateError> {
        let doing = "cannot take the lock";
        if !self.advisory_lock_within(doing)? {
            // The holder writes its record right after taking the advisory lock: give it a
            // moment, so the message names it.
            let started = std::time::Instant::now();
            let mut current = self.read_lock()?;
            while current.is_none() && started.elapsed() < HOLDER_RECORD_WAIT {
                std::thread::sleep(std::time::Duration::from_millis(10));
                current = self.read_lock()?;
            }
            let current = current.unwrap_or_else(|| Lock {
                id: "?".to_owned(),
                holder: "another session (taking the lock right now)".to_owned(),
                since: Timestamp::now(),
            });
            return Err(StateError::Locked(current));
        }
        self.holding = true;
        let lock = Lock {
            id: format!("{:08x}", fastrand::u32(..)),
            holder: holder.to_owned(),
            since: Timestamp::now(),
        };
        // A row left behind belongs to an apply whose session ended: its advisory lock was
        // free. The next apply settles what it left in flight.
        let sql = self.sql(
            "INSERT INTO {s}.lock (singleton, id, holder, since) VALUES (1, $1, $2, $3)
             ON CONFLICT (singleton) DO UPDATE SET
                 id = excluded.id, holder = excluded.holder, since = excluded.since",
        );
        let since = timestamp_text(lock.since);
        let taken = self
            .client
            .get_mut()
            .execute(&sql, &[&lock.id, &lock.holder, &since]);
        if let Err(e) = taken {
            let _ = self.advisory_unlock(doing);
            self.holding = false;
            return Err(fail(&self.location, doing)(e));
        }
        Ok(lock)
    }

    pub(super) fn release_lock(&mut self, id: &str) -> Result<(), StateError> {
        let doing = format!("cannot release lock {id}");
        let current = match self.read_lock()? {
            Some(current) if current.id == id => current,
            current => {
                return Err(StateError::NotLocked {
                    id: id.to_owned(),
                    current,
                });
            }
        };
        // Another session's live lock cannot be broken from here: its apply is running.
        if !self.holding && !self.advisory_lock_within(&doing)? {
            return Err(StateError::HolderAlive(current));
        }
        self.query(&doing, "DELETE FROM {s}.lock WHERE id = $1", &[&id])?;
        self.advisory_unlock(&doing)?;
        self.holding = false;
        Ok(())
    }

    pub(super) fn read_lock(&self) -> Result<Option<Lock>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        let doing = "cannot read the lock";
        let rows = self.query(doing, "SELECT id, holder, since FROM {s}.lock", &[])?;
        rows.first()
            .map(|row| sql::lock(row).map_err(fail(&self.location, doing)))
            .transpose()
    }

    /// Whether this session can take the advisory lock (taking it when it can), waiting
    /// [`HOLDER_EXIT_WAIT`] for a holder whose connection has just closed: the server ends
    /// that session a moment after the client is gone, and until then its lock looks live.
    fn advisory_lock_within(&self, doing: &str) -> Result<bool, StateError> {
        let started = std::time::Instant::now();
        loop {
            if self.try_advisory_lock(doing)? {
                return Ok(true);
            }
            if started.elapsed() >= HOLDER_EXIT_WAIT {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether this session can take the advisory lock now (taking it when it can).
    fn try_advisory_lock(&self, doing: &str) -> Result<bool, StateError> {
        let rows = self.query(doing, "SELECT pg_try_advisory_lock($1)", &[&self.lock_key])?;
        match rows.first().map(|r| r.try_get::<_, bool>(0)) {
            Some(taken) => taken.map_err(fail(&self.location, doing)),
            None => Ok(false),
        }
    }

    fn advisory_unlock(&self, doing: &str) -> Result<(), StateError> {
        self.query(doing, "SELECT pg_advisory_unlock($1)", &[&self.lock_key])
            .map(drop)
    }
}
