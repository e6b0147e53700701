//! Erasing a person from state ([`super::Store::erase`], `herald state erase PHONE`), for
//! data-protection requests, the same for both backends.
//!
//! Everything that holds the phone or a request to it goes: each of its deliveries (latest
//! row, every attempt and outcome, every request), its test messages (sent to it or rendered
//! for it), and the request of every broadcast that names it (pruned as `state prune` would,
//! keeping the fingerprint; pacing then no longer counts that broadcast for anyone). What is
//! kept is only what stops herald from messaging the person again for a round they already got
//! (a delivery not settled as `failed`): a keyed hash, HMAC-SHA256 of the round and the phone
//! under a random key made once per state ([`KEY_NAME`] in `secrets`). Without the key the
//! hash cannot be matched to a phone, even by trying every phone number; with it, a plan that
//! finds the phone in that campaign's audience again treats the delivery as sent and unchanged
//! ([`Erasures::contains`]). New campaigns, and new rounds of recurring ones, may reach them.

use std::collections::HashSet;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{RoundKey, StateError};

/// The name of the erasure key in the state's `secrets` table.
pub(super) const KEY_NAME: &str = "erasure_key";

/// What an erasure removed (or, for a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// Deliveries to the phone, removed.
    pub deliveries: u64,
    /// Their history rows (attempts and outcomes), removed with their requests.
    pub attempts: u64,
    /// Test messages sent to the phone or rendered for it, removed.
    pub test_sends: u64,
    /// Broadcast requests that named the phone, pruned (fingerprint kept).
    pub broadcasts: u64,
    /// Keyed hashes kept, one per delivery the person may have received.
    pub kept: u64,
}

impl Erasure {
    /// The rows changed or removed.
    pub fn rows(&self) -> u64 {
        self.deliveries + self.attempts + self.test_sends + self.broadcasts
    }
}

/// The erasure key: 32 random bytes, never shown.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Key(pub(super) [u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Key {
    /// A new random key, from the operating system's generator.
    pub(super) fn new(location: &str) -> Result<Key, StateError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| StateError::Backend {
            location: location.to_owned(),
            message: format!("cannot make the erasure key: {e}"),
        })?;
        Ok(Key(key))
    }

    /// A stored key, which must be 32 bytes.
    pub(super) fn stored(bytes: &[u8], location: &str) -> Result<Key, StateError> {
        <[u8; 32]>::try_from(bytes)
            .map(Key)
            .map_err(|_| StateError::Backend {
                location: location.to_owned(),
                message: format!(
                    "the state's erasure key is {} bytes long, not 32: the state is corrupt",
                    bytes.len()
                ),
            })
    }

    /// The hash kept of an erased delivery: HMAC-SHA256 of its round and its phone, each
    /// ended by a zero byte (no name holds one), so no two rounds and phones hash alike.
    pub(super) fn hash(&self, campaign: &str, occurrence: &str, phone: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length; this is not reached.
            return [0; 32];
        };
        for part in [campaign, occurrence, phone] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The erased deliveries of one round, for plan: whether a phone of its audience is one.
#[derive(Debug, Clone)]
pub struct Erasures {
    key: Key,
    campaign: String,
    occurrence: String,
    hashes: HashSet<[u8; 32]>,
}

impl Erasures {
    pub(super) fn new(key: Key, round: &RoundKey, hashes: HashSet<[u8; 32]>) -> Erasures {
        Erasures {
            key,
            campaign: round.campaign.clone(),
            occurrence: super::sql::occurrence_text(round.occurrence),
            hashes,
        }
    }

    /// Whether `phone`'s delivery of this round was erased: the person got it (or may have).
    pub fn contains(&self, phone: &str) -> bool {
        self.hashes
            .contains(&self.key.hash(&self.campaign, &self.occurrence, phone))
    }
}

/// A delivery's rows (seq, request), grouped by request.
pub(super) fn by_request(chain: Vec<(i64, i64)>) -> Vec<(i64, Vec<i64>)> {
    let mut grouped: Vec<(i64, Vec<i64>)> = Vec::new();
    for (row, request) in chain {
        match grouped.iter_mut().find(|(r, _)| *r == request) {
            Some((_, rows)) => rows.push(row),
            None => grouped.push((request, vec![row])),
        }
    }
    grouped
}

/// Whether a broadcast's request names `phone` (as a JSON string).
pub(super) fn names(request: &str, phone: &str) -> bool {
    request.contains(&format!("\"{phone}\""))
}

/// The deliveries of `$1` (the phone): round, campaign, occurrence, latest row, outcome.
pub(super) const DELIVERIES_SQL: &str = "SELECT r.id, r.campaign, r.occurrence, d.seq, d.outcome
    FROM {s}rounds r JOIN {s}deliveries d ON d.round = r.id AND d.recipient = $1";

/// A delivery's rows from its latest (`$1`) back: seq and request.
pub(super) const CHAIN_SQL: &str = "WITH RECURSIVE chain(seq) AS (
        SELECT $1::bigint
        UNION ALL
        SELECT a.prev FROM {s}attempts a JOIN chain c ON a.seq = c.seq WHERE a.prev IS NOT NULL
    )
    SELECT a.seq, a.request FROM {s}attempts a JOIN chain c ON c.seq = a.seq";

/// The test messages to or for `$1`.
pub(super) const TEST_SENDS_SQL: &str =
    "SELECT count(*) FROM {s}test_sends WHERE phone = $1 OR rendered_for = $1";

/// A state's erasures as a whole, key included, for [`super::copy::copy`] only: a copy must
/// go on recognising whom the original erased.
#[derive(Debug, Clone, Default)]
pub struct ErasedRecords {
    pub(super) key: Option<Key>,
    pub(super) hashes: Vec<(RoundKey, [u8; 32])>,
}

/// What an erasure found to remove: each delivery (round id, round, latest outcome) with its
/// rows and requests, the test messages, and the broadcast requests naming the phone (with
/// their rows, and their fingerprints to keep).
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) deliveries: Vec<(i64, RoundKey, super::Outcome)>,
    pub(super) rows: Vec<i64>,
    pub(super) requests: Vec<i64>,
    pub(super) test_sends: u64,
    pub(super) broadcasts: Vec<(i64, crate::fingerprint::Fingerprint, Vec<i64>)>,
}

impl Found {
    /// The counts, as reported.
    pub(super) fn erasure(&self) -> Erasure {
        Erasure {
            deliveries: self.deliveries.len() as u64,
            attempts: self.rows.len() as u64,
            test_sends: self.test_sends,
            broadcasts: self.broadcasts.len() as u64,
            kept: self.kept().count() as u64,
        }
    }

    /// The deliveries whose hash is kept: those the person got, or may have.
    pub(super) fn kept(&self) -> impl Iterator<Item = &(i64, RoundKey, super::Outcome)> {
        self.deliveries
            .iter()
            .filter(|(_, _, outcome)| *outcome != super::Outcome::Failed)
    }
}
