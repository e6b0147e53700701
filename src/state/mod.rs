//! State: what herald sent to whom, when, and what came of it.
//!
//! A [`Store`] keeps, per delivery (one campaign to one recipient, or a whole-campaign
//! broadcast under [`WHOLE_CAMPAIGN`]), its latest attempt: the fingerprint and exact request,
//! the [`Outcome`], the API's code, the time and the apply that made it. Every attempt is also
//! appended to a history that is never rewritten, so a campaign or recipient gone from the files
//! keeps its record. Applies are logged, and a lock keeps two applies off one state. Test
//! messages (`herald send`) are logged beside the applies ([`TestSend`]): never deliveries, they
//! leave the serial and every campaign's deliveries as they were.
//!
//! Backends: [`sqlite`] (the default, `.herald/state.db`). Plan only reads; it never creates a
//! state file.

mod compact;
mod contacts;
pub mod copy;
pub mod erase;
mod erasure;
mod error;
mod guard;
mod layout;
pub mod open;
pub mod postgres;
pub mod prune;
mod pruning;
mod sql;
pub mod sqlite;

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;

pub use erasure::{ErasedRecords, Erasure, Erasures};
pub use error::StateError;
pub use guard::Locked;
pub use open::{Access, Location, open};

/// How long a refused lock waits for the holder's record (written right after the lock is
/// taken), to name the holder.
const HOLDER_RECORD_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The recipient key of deliveries that go to a campaign's whole audience in one request
/// (`broadcast`, `template_broadcast`).
pub const WHOLE_CAMPAIGN: &str = "*";

/// What became of a delivery's latest attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded before the request left; never seen by plan after a clean apply. After a
    /// crash it means the same as `Unknown`.
    InFlight,
    /// The API accepted it.
    Sent,
    /// The API refused it (with its code); plan retries it.
    Failed,
    /// The request may or may not have reached the API (a timeout, a crash); never resent
    /// unless asked.
    Unknown,
}

impl Outcome {
    /// `in_flight`, `sent`, `failed` or `unknown`: the stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InFlight => "in_flight",
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }

    /// The outcome with this stored name.
    pub fn parse(text: &str) -> Option<Outcome> {
        [
            Outcome::InFlight,
            Outcome::Sent,
            Outcome::Failed,
            Outcome::Unknown,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One round of a campaign's deliveries: a one-off campaign has one; a recurring campaign has
/// one per occurrence, so each occurrence reaches every recipient once. A delivery is keyed by
/// its round and its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Round<'a> {
    /// The campaign's name.
    pub campaign: &'a str,
    /// The occurrence of a recurring campaign; `None` for a one-off campaign.
    pub occurrence: Option<Timestamp>,
}

impl<'a> Round<'a> {
    /// The one round of a one-off campaign.
    pub fn one_off(campaign: &'a str) -> Round<'a> {
        Round {
            campaign,
            occurrence: None,
        }
    }

    /// A round of `campaign`: `occurrence` for a recurring one, `None` for a one-off one.
    pub fn of(campaign: &'a str, occurrence: Option<Timestamp>) -> Round<'a> {
        Round {
            campaign,
            occurrence,
        }
    }
}

/// A [`Round`] that owns its campaign's name: the key of maps by round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoundKey {
    /// The campaign's name.
    pub campaign: String,
    /// The occurrence of a recurring campaign; `None` for a one-off campaign.
    pub occurrence: Option<Timestamp>,
}

impl RoundKey {
    /// The round it names.
    pub fn round(&self) -> Round<'_> {
        Round::of(&self.campaign, self.occurrence)
    }
}

impl From<Round<'_>> for RoundKey {
    fn from(round: Round<'_>) -> RoundKey {
        RoundKey {
            campaign: round.campaign.to_owned(),
            occurrence: round.occurrence,
        }
    }
}

impl fmt::Display for RoundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.round().fmt(f)
    }
}

impl fmt::Display for Round<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.occurrence {
            None => f.write_str(self.campaign),
            Some(at) => write!(f, "{} (occurrence {at})", self.campaign),
        }
    }
}

/// What plan needs to know of one delivery: the fingerprint and outcome of its latest attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The fingerprint of the request last attempted.
    pub fingerprint: Fingerprint,
    /// What came of it.
    pub outcome: Outcome,
}

/// One attempt of one delivery, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The campaign's name.
    pub campaign: String,
    /// The occurrence of a recurring campaign it belongs to ([`Round`]); `None` for a one-off
    /// campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<Timestamp>,
    /// The recipient's E.164 phone number, or [`WHOLE_CAMPAIGN`].
    pub recipient: String,
    /// The fingerprint of `request`.
    pub fingerprint: Fingerprint,
    /// The exact request, as JSON ([`crate::engati::Request`]).
    pub request: String,
    /// What came of it.
    pub outcome: Outcome,
    /// The API's envelope code or HTTP status, when it answered with one.
    pub api_code: Option<i64>,
    /// What went wrong, for `failed` and `unknown`.
    pub detail: Option<String>,
    /// When the outcome was learned.
    pub at: Timestamp,
    /// The apply that made the attempt (or the operator command that settled it).
    pub apply_id: String,
}

impl Delivery {
    /// Whether `herald state prune` dropped this attempt's request ([`PRUNED_REQUEST`]): its
    /// identity, fingerprint, outcome and time are kept, the request's body is not.
    pub fn request_pruned(&self) -> bool {
        self.request == PRUNED_REQUEST
    }
}

/// The request of an attempt whose request was pruned ([`Store::prune`]): empty, which no
/// recorded request is (each is a JSON object). Readers take it as "no request": plan shows
/// no diff for a changed message, `state show` says it was pruned.
pub const PRUNED_REQUEST: &str = "";

/// What [`Store::prune`] dropped, or [`Store::prunable`] would drop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    /// Stored requests dropped: one per history row (an attempt's intent and its outcome each
    /// hold a copy).
    pub requests: u64,
    /// The bytes of those requests: about what the state shrinks by (SQLite after `VACUUM`).
    pub bytes: u64,
}

/// One apply, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyRecord {
    /// A unique id, e.g. `20261201T033000Z-4f2a`.
    pub id: String,
    /// Who ran it: user and host, or the CI job.
    pub who: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When it finished; `None` while running or after a crash.
    pub finished_at: Option<Timestamp>,
    /// The hash of the plan it applied.
    pub plan_hash: String,
    /// Deliveries sent.
    pub sent: u64,
    /// Deliveries failed.
    pub failed: u64,
    /// Deliveries whose outcome is unknown.
    pub unknown: u64,
}

/// One test message (`herald send`), as logged: a campaign rendered for one of its recipients
/// and sent to another phone. Never a delivery of the campaign: plan does not see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSend {
    /// A unique id (the id of the lock it was sent under).
    pub id: String,
    /// Who sent it: user and host, or the CI job.
    pub who: String,
    /// When it was sent.
    pub at: Timestamp,
    /// The campaign's name.
    pub campaign: String,
    /// The recipient whose fields it was rendered with (E.164).
    pub rendered_for: String,
    /// The phone it was sent to (E.164).
    pub phone: String,
    /// What came of it: `in_flight` while it is being sent (and after a crash: unknown).
    pub outcome: Outcome,
    /// The API's envelope code or HTTP status, when it answered with one.
    pub api_code: Option<i64>,
    /// What went wrong, for `failed` and `unknown`.
    pub detail: Option<String>,
}

/// A maintenance operation on a state (`state prune`, `state erase`), as logged beside the
/// applies: who changed what, and how much. Never a phone: the log of an erasure must not say
/// whom it erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// When it ran.
    pub at: Timestamp,
    /// Who ran it: user and host, or the CI job.
    pub who: String,
    /// `prune` or `erase`.
    pub what: String,
    /// What it was asked, without personal data (`before 2026-11-01T00:00:00Z`).
    pub detail: String,
    /// The rows it changed or removed.
    pub rows: u64,
}

/// The holder of a state's apply lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The lock's id, for `herald state unlock ID`.
    pub id: String,
    /// Who holds it (user@host, pid).
    pub holder: String,
    /// Since when.
    pub since: Timestamp,
}

/// A campaign's deliveries counted by outcome, for `herald state list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignTotals {
    /// The campaign's name.
    pub campaign: String,
    /// The occurrence, for a round of a recurring campaign ([`Round`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<Timestamp>,
    /// Deliveries whose latest attempt was sent.
    pub sent: u64,
    /// ... failed.
    pub failed: u64,
    /// ... has an unknown outcome (including in-flight rows left by a crash).
    pub unknown: u64,
    /// When the latest attempt was recorded.
    pub last_at: Timestamp,
}

/// A delivery that reached its recipient or may have: one row of [`Store::contacts_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact<'a> {
    /// The campaign it was recorded under.
    pub campaign: &'a str,
    /// The recipient's phone.
    pub recipient: &'a str,
    /// When it was attempted.
    pub at: Timestamp,
}

/// A state backend. Reads take `&self`; writes take `&mut self` and are atomic per call.
pub trait Store: Send {
    /// Where the state is, for messages (a path; never a URL with credentials).
    fn location(&self) -> String;

    /// A number that grows with every write. A plan records it; apply refuses a plan made
    /// against another serial.
    fn serial(&self) -> Result<u64, StateError>;

    /// The state's lineage: a random id made when the state was created, kept by
    /// [`copy::copy`]. A plan records it beside the serial, so a plan made against one state
    /// is never applied to another that happens to have the same serial. `None` for a state
    /// that does not exist yet (read as empty).
    fn lineage(&self) -> Result<Option<String>, StateError>;

    /// Sets the lineage: only for [`copy::copy`], so that plans made against the original
    /// apply to the copy.
    fn set_lineage(&mut self, lineage: &str) -> Result<(), StateError>;

    /// Visits the latest attempt of every delivery of a round with its recipient. A visitor
    /// rather than a map: plan keys a million recipients by number, without a string each.
    fn recorded(
        &self,
        round: Round<'_>,
        visit: &mut dyn FnMut(&str, Recorded),
    ) -> Result<(), StateError>;

    /// [`Store::recorded`] as a map by recipient, for tools and tests.
    fn recorded_map(
        &self,
        round: Round<'_>,
    ) -> Result<std::collections::HashMap<String, Recorded>, StateError> {
        let mut map = std::collections::HashMap::new();
        self.recorded(round, &mut |recipient, r| {
            map.insert(recipient.to_owned(), r);
        })?;
        Ok(map)
    }

    /// Visits every message that reached a recipient or may have (each attempt not settled
    /// as `failed`, including every recipient of a template broadcast), sent at or after
    /// `since`: what frequency caps and the messaging limit count. Read from history, so a
    /// delivery's earlier attempts count too ([`contacts`]). Grouped by delivery, in no
    /// particular order otherwise.
    fn contacts_since(
        &self,
        since: Timestamp,
        visit: &mut dyn FnMut(Contact<'_>),
    ) -> Result<(), StateError>;

    /// The latest attempt of one delivery, with its request.
    fn delivery(&self, round: Round<'_>, recipient: &str) -> Result<Option<Delivery>, StateError>;

    /// Records attempts, in one transaction: each becomes its delivery's latest attempt and is
    /// appended to the history. Bumps the serial. When it returns the batch survives herald
    /// being killed; a batch holding intents (`in_flight`) also survives a power cut (it is
    /// on disk), since requests leave once it is recorded.
    fn record(&mut self, batch: &[Delivery]) -> Result<(), StateError>;

    /// Withdraws intents whose requests never left (the connection was refused before a
    /// byte was written; the apply stopped before launching them): each of these recipients'
    /// deliveries goes back to its previous attempt (or to none), as if never attempted, so
    /// nothing is recorded as failed that was never sent. Only a latest attempt that is
    /// `in_flight` and of `apply_id` is withdrawn. Bumps the serial when anything changed.
    fn withdraw(
        &mut self,
        round: Round<'_>,
        recipients: &[String],
        apply_id: &str,
    ) -> Result<(), StateError>;

    /// Every recorded attempt of a round (of one recipient, if given), oldest first.
    fn history(
        &self,
        round: Round<'_>,
        recipient: Option<&str>,
    ) -> Result<Vec<Delivery>, StateError>;

    /// Every recorded attempt of every campaign, in recording order, streamed to `visit`
    /// (copying a state: [`copy::copy`]).
    fn every_attempt(
        &self,
        visit: &mut dyn FnMut(Delivery) -> Result<(), StateError>,
    ) -> Result<(), StateError>;

    /// Sets the serial: only for [`copy::copy`], so that plans made against the original
    /// apply to the copy.
    fn set_serial(&mut self, serial: u64) -> Result<(), StateError>;

    /// The latest occurrence of a recurring campaign that state holds deliveries of: where
    /// the occurrences it missed since are counted from.
    fn latest_occurrence(&self, campaign: &str) -> Result<Option<Timestamp>, StateError>;

    /// Every round in state with its deliveries counted by outcome, by campaign name, then
    /// occurrence (a one-off campaign's one round first).
    fn campaigns(&self) -> Result<Vec<CampaignTotals>, StateError>;

    /// Takes the apply lock for `holder`; fails at once with [`StateError::Locked`] when a
    /// live process holds it. The lock dies with its holder (an OS file lock, a database
    /// session lock): a lock left by a dead holder is taken over, and its record replaced.
    fn lock(&mut self, holder: &str) -> Result<Lock, StateError>;

    /// Releases the lock with this id: this store's own, or (`herald state unlock`) a dead
    /// holder's record. Refuses with [`StateError::HolderAlive`] while its holder lives.
    fn unlock(&mut self, id: &str) -> Result<(), StateError>;

    /// The current lock, if any.
    fn current_lock(&self) -> Result<Option<Lock>, StateError>;

    /// Logs an apply (insert, or update by id when it finishes).
    fn log_apply(&mut self, apply: &ApplyRecord) -> Result<(), StateError>;

    /// Every logged apply, oldest first.
    fn applies(&self) -> Result<Vec<ApplyRecord>, StateError>;

    /// Logs a test message (insert, or update by id once its outcome is known). Never a
    /// delivery: the serial stays, so a plan made before it still applies.
    fn log_test_send(&mut self, send: &TestSend) -> Result<(), StateError>;

    /// Every logged test message, oldest first.
    fn test_sends(&self) -> Result<Vec<TestSend>, StateError>;

    /// Logs a maintenance operation (a prune, an erasure).
    fn log_operation(&mut self, operation: &Operation) -> Result<(), StateError>;

    /// Every logged operation, oldest first.
    fn operations(&self) -> Result<Vec<Operation>, StateError>;

    /// What [`Store::prune`] would drop for `before`; writes nothing.
    fn prunable(&self, before: Timestamp) -> Result<Pruned, StateError>;

    /// Drops the requests of settled attempts recorded before `before`, in one transaction,
    /// leaving [`PRUNED_REQUEST`]: every history row keeps its delivery (campaign, occurrence,
    /// recipient), fingerprint, outcome, API code, detail, time and apply, so plan decides as
    /// before and nobody is messaged twice. Settled: a `sent` or `failed` row, or the intent
    /// of an attempt one of those settled before `before` (never a broadcast's intent, which
    /// pacing reads). Unknown and in-flight attempts keep their requests: reconciling reads
    /// them. Bumps the serial when anything changed.
    fn prune(&mut self, before: Timestamp) -> Result<Pruned, StateError>;

    /// What [`Store::erase`] would remove of `phone`; writes nothing.
    fn erasable(&self, phone: &str) -> Result<Erasure, StateError>;

    /// Removes everything state holds of `phone` (an E.164 number), in one transaction,
    /// keeping only a keyed hash of each delivery the person got or may have got, so that no
    /// plan sends them that round again ([`Store::erasures`]; see [`erasure`]). Bumps the
    /// serial when anything changed.
    fn erase(&mut self, phone: &str) -> Result<Erasure, StateError>;

    /// The erased deliveries of a round, for plan; `None` when it has none.
    fn erasures(&self, round: Round<'_>) -> Result<Option<Erasures>, StateError>;

    /// Every erased delivery's hash and the key: only for [`copy::copy`].
    fn erased_records(&self) -> Result<ErasedRecords, StateError>;

    /// Adds erased deliveries' hashes and their key: only for [`copy::copy`].
    fn restore_erased(&mut self, records: &ErasedRecords) -> Result<(), StateError>;

    /// Gives the space pruning freed back: SQLite rewrites its file (`VACUUM`), which only
    /// then shrinks; PostgreSQL vacuums the history table, making the space reusable.
    fn vacuum(&mut self) -> Result<(), StateError>;
}
