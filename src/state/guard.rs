//! [`Locked`]: a state held under its apply lock, released when the guard is dropped, so that
//! no path out of an apply (an error, a refusal, a panic unwinding) leaves the lock behind.

use std::ops::{Deref, DerefMut};

use super::{Lock, StateError, Store};

/// A state whose apply lock this process holds. Derefs to the store; dropping it releases
/// the lock ([`Locked::release`] does so and reports a failure).
pub struct Locked {
    store: Box<dyn Store>,
    lock: Option<Lock>,
    took_over: Option<Lock>,
}

impl Locked {
    /// Takes `store`'s lock for `holder`. A record left by a dead holder is taken over and
    /// returned by [`Locked::took_over`].
    pub fn take(mut store: Box<dyn Store>, holder: &str) -> Result<Locked, StateError> {
        let before = store.current_lock()?;
        let lock = store.lock(holder)?;
        Ok(Locked {
            store,
            took_over: before.filter(|b| b.id != lock.id),
            lock: Some(lock),
        })
    }

    /// The lock's id: also the id of the apply (or state command) that holds it.
    pub fn id(&self) -> &str {
        self.lock.as_ref().map_or("", |l| l.id.as_str())
    }

    /// The lock of a dead holder this one replaced, if any.
    pub fn took_over(&self) -> Option<&Lock> {
        self.took_over.as_ref()
    }

    /// Releases the lock, reporting a failure (dropping the guard ignores it).
    pub fn release(mut self) -> Result<(), StateError> {
        match self.lock.take() {
            Some(lock) => self.store.unlock(&lock.id),
            None => Ok(()),
        }
    }
}

impl Deref for Locked {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.store.as_mut()
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            // Nothing to report to: the lock also dies with this process (an OS file lock, a
            // database session), so a record left here is taken over by the next apply.
            let _ = self.store.unlock(&lock.id);
        }
    }
}
