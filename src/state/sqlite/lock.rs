//! The SQLite state's apply lock: an OS lock on a file beside the database (`state.db.lock`),
//! which the kernel releases when the holder dies, however it dies, and the `lock` row that
//! names the holder for messages. A row whose file lock is free belongs to a dead holder and
//! is replaced by the next one.

use std::fs::{File, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::super::sql::{self, fail, timestamp_text};
use super::super::{HOLDER_RECORD_WAIT, Lock, StateError};
use super::{SqliteStore, query_rows};

impl SqliteStore {
    pub(super) fn take_lock(&mut self, holder: &str) -> Result<Lock, StateError> {
        let location = self.location.as_str();
        let failed = || fail(location, "cannot take the lock");
        if self.held.is_some() {
            return Err(StateError::Backend {
                location: location.to_owned(),
                message: "this process already holds the lock".to_owned(),
            });
        }
        let Some(file) = self.try_file_lock()? else {
            // The holder writes its record right after taking the file lock: give it a moment,
            // so the message names it.
            let started = Instant::now();
            let mut current = read_lock(&self.conn, location)?;
            while current.is_none() && started.elapsed() < HOLDER_RECORD_WAIT {
                std::thread::sleep(Duration::from_millis(10));
                current = read_lock(&self.conn, location)?;
            }
            let current = current.unwrap_or_else(|| Lock {
                id: "?".to_owned(),
                holder: "another process (taking the lock right now)".to_owned(),
                since: Timestamp::now(),
            });
            return Err(StateError::Locked(current));
        };
        // IMMEDIATE takes SQLite's write lock before the read. A row found here was left by
        // a dead holder (its file lock was free): it is replaced.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        if self.lock_path.is_none()
            && let Some(existing) = read_lock(&tx, location)?
        {
            // In memory there is no file lock: the row is the lock.
            return Err(StateError::Locked(existing));
        }
        let lock = Lock {
            id: format!("{:08x}", fastrand::u32(..)),
            holder: holder.to_owned(),
            since: Timestamp::now(),
        };
        tx.execute("DELETE FROM lock", []).map_err(failed())?;
        tx.execute(
            "INSERT INTO lock (singleton, id, holder, since) VALUES (1, ?1, ?2, ?3)",
            params![lock.id, lock.holder, timestamp_text(lock.since)],
        )
        .map_err(failed())?;
        tx.commit().map_err(failed())?;
        self.held = file;
        self.data_version = Some(data_version(&self.conn, location)?);
        Ok(lock)
    }

    pub(super) fn release_lock(&mut self, id: &str) -> Result<(), StateError> {
        let location = self.location.as_str();
        let doing = format!("cannot release lock {id}");
        let failed = || fail(location, &doing);
        let current = match read_lock(&self.conn, location)? {
            Some(current) if current.id == id => current,
            current => {
                return Err(StateError::NotLocked {
                    id: id.to_owned(),
                    current,
                });
            }
        };
        // Another process's live lock cannot be broken from here: its apply is running.
        let ours = self.held.is_some() || self.lock_path.is_none();
        let probe = if ours { None } else { self.try_file_lock()? };
        if !ours && probe.is_none() {
            return Err(StateError::HolderAlive(current));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed())?;
        tx.execute("DELETE FROM lock WHERE id = ?1", [id])
            .map_err(failed())?;
        tx.commit().map_err(failed())?;
        // The OS lock goes with the file handles (ours, or the probe's).
        self.held = None;
        self.data_version = None;
        drop(probe);
        Ok(())
    }

    /// Takes the OS lock on the lock file: `Ok(None)` when another process holds it (it is
    /// alive: the kernel releases a dead process's locks). A store in memory has no file and
    /// always gets its (private) lock.
    pub(super) fn try_file_lock(&self) -> Result<Option<Option<File>>, StateError> {
        let Some(path) = &self.lock_path else {
            return Ok(Some(None));
        };
        let failed = fail(
            &self.location,
            format!("cannot open the lock file {}", path.display()),
        );
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Some(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(fail(
                &self.location,
                format_args!("cannot lock {}", path.display()),
            )(e)),
        }
    }
}

/// The lock file of the state at `path`.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The lock row, if any.
pub(super) fn read_lock(conn: &Connection, location: &str) -> Result<Option<Lock>, StateError> {
    let doing = "cannot read the lock";
    let read = |row: &Row<'_>| sql::lock(row).map_err(fail(location, doing));
    let sql = "SELECT id, holder, since FROM lock";
    Ok(query_rows(conn, location, doing, sql, [], read)?.pop())
}

/// SQLite's count of commits by other connections, as this connection sees it.
fn data_version(conn: &Connection, location: &str) -> Result<i64, StateError> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
        .map_err(fail(location, "cannot read the state's data version"))
}

/// A file's identity: its device and inode.
pub(super) fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

impl SqliteStore {
    /// Checks, before a write, that the state file and the lock file this store holds are
    /// still the files their paths name. A state file replaced under an apply would take its
    /// records to a file nobody reads; a lock file removed under it would let a second apply
    /// take the lock; a commit by another connection under the lock means someone edits the
    /// state beside the apply. Any of these stops the write, and with it the apply. (A file
    /// copied over the state in place is not seen: SQLite itself cannot survive that.)
    pub(super) fn in_place(&self) -> Result<(), StateError> {
        use std::os::unix::fs::MetadataExt;
        if let Some((path, opened)) = &self.file
            && identity(path).ok().as_ref() != Some(opened)
        {
            return Err(StateError::Replaced {
                location: self.location.clone(),
                message: "the state file was replaced or removed while herald had it open: \
                          what this apply records now would be lost, so it stops"
                    .to_owned(),
            });
        }
        if let (Some(held), Some(path)) = (&self.held, &self.lock_path) {
            let locked = held.metadata().map(|m| (m.dev(), m.ino())).ok();
            if identity(path).ok() != locked {
                return Err(StateError::Replaced {
                    location: self.location.clone(),
                    message: format!(
                        "the lock file {} was removed or replaced while this apply held it: \
                         another apply could take the lock, so this one stops",
                        path.display()
                    ),
                });
            }
        }
        if let Some(taken) = self.data_version
            && data_version(&self.conn, &self.location)? != taken
        {
            return Err(StateError::Replaced {
                location: self.location.clone(),
                message: "the state was written by something else while this apply held its \
                          lock (the sqlite3 shell, say): what this apply records now \
                          could be lost, so it stops"
                    .to_owned(),
            });
        }
        Ok(())
    }
}
