//! `herald state erase PHONE`: removes a person's data from state for a data-protection
//! request, keeping only keyed hashes that stop herald from messaging them again for the
//! rounds they already got ([`super::erasure`] says what goes and what stays; docs/privacy.md
//! says it for users).
//!
//! Like every write it takes the state's lock and bumps the serial when it changes anything,
//! and it is logged with the operations ([`super::Operation`]): who, when, how many rows,
//! never the phone.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use super::{Erasure, Locked, Operation, StateError, Store};

/// What to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The person's phone, E.164.
    pub phone: String,
    /// The time now, for the log.
    pub now: Timestamp,
    /// Who runs it, for the log.
    pub who: String,
    /// Count what would be erased, change nothing (and take no lock).
    pub dry_run: bool,
}

/// What erasing did, or (dry run) would do. Never holds the phone: reports end up in CI logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Where the state is.
    pub state: String,
    /// What was (or would be) removed and kept.
    #[serde(flatten)]
    pub erased: Erasure,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// The serial before.
    pub serial_before: u64,
    /// The serial after: one more when anything was erased.
    pub serial: u64,
}

/// Why erasing was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum EraseError {
    /// The phone is not an E.164 number.
    NotAPhone {
        /// What was given.
        phone: String,
    },
    /// State failed (or its lock is held).
    State(StateError),
}

impl EraseError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            EraseError::NotAPhone { .. } => "give the phone as state holds it: E.164, a `+` \
                 and 8 to 15 digits, e.g. +919019486731"
                .to_owned(),
            EraseError::State(e) => e.help(),
        }
    }
}

impl fmt::Display for EraseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EraseError::NotAPhone { phone } => {
                write!(f, "`{phone}` is not a phone number in E.164 form")
            }
            EraseError::State(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EraseError {}

impl From<StateError> for EraseError {
    fn from(e: StateError) -> EraseError {
        EraseError::State(e)
    }
}

/// Whether `phone` is E.164: `+`, a first digit 1 to 9, then 7 to 14 digits.
fn is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Erases `options.phone` from `store`: under its lock (a dry run only reads).
pub fn erase(store: Box<dyn Store>, holder: &str, options: &Options) -> Result<Report, EraseError> {
    if !is_e164(&options.phone) {
        return Err(EraseError::NotAPhone {
            phone: options.phone.clone(),
        });
    }
    let state = store.location();
    if options.dry_run {
        let serial = store.serial()?;
        return Ok(Report {
            state,
            erased: store.erasable(&options.phone)?,
            dry_run: true,
            serial_before: serial,
            serial,
        });
    }
    let mut store = Locked::take(store, holder)?;
    let serial_before = store.serial()?;
    let erased = store.erase(&options.phone)?;
    if erased.rows() > 0 {
        store.log_operation(&Operation {
            at: options.now,
            who: options.who.clone(),
            what: "erase".to_owned(),
            detail: format!(
                "one person's data: {}, {}, {}",
                match erased.deliveries {
                    1 => "1 delivery".to_owned(),
                    n => format!("{n} deliveries"),
                },
                crate::words::count(erased.test_sends, "test message"),
                crate::words::count(erased.broadcasts, "broadcast request")
            ),
            rows: erased.rows(),
        })?;
    }
    let serial = store.serial()?;
    store.release()?;
    Ok(Report {
        state,
        erased,
        dry_run: false,
        serial_before,
        serial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_e164_phones_are_erased() {
        assert!(is_e164("+919019486731"));
        assert!(is_e164("+15550001"));
        assert!(!is_e164("919019486731"));
        assert!(!is_e164("+0919019486731"));
        assert!(!is_e164("+91 90194 86731"));
        assert!(!is_e164("*"));
        assert!(!is_e164("+1234567890123456"));
    }
}
