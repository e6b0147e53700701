//! Plans: what the files render to now, compared with state, as a value that can be shown,
//! saved and applied.
//!
//! A plan streams: [`engine`] renders each campaign in batches and hands every action to a
//! [`Sink`] as soon as it is classified, so a million-recipient campaign never holds a million
//! request bodies. Sinks are the outputs: [`Summary`] (what the human and Markdown views need),
//! [`json::Writer`] (the JSON document), [`file::Writer`] (the plan file), or several at once
//! ([`Tee`]). A saved plan is streamed back with [`file::stream`] into the same sinks.

mod check;
mod classify;
pub mod cost;
mod describe;
pub mod engine;
pub mod file;
pub mod inputs;
pub mod json;
mod make;
pub mod pacing;
pub(crate) mod problems;
pub mod recorded;
pub mod safety;
mod summary;
mod tracker;
pub(crate) mod window;

use std::io;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::engati::Request;
use crate::fingerprint::Fingerprint;
use crate::model::OnChange;
use crate::state::Outcome;

pub(crate) use describe::describe;
pub use make::{Options, Project, make};
pub use summary::{CampaignSummary, Summary};

/// The version of the plan JSON format (and plan files). Bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// What a plan does with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Not in state: sent.
    Send,
    /// In state as failed: sent again.
    Retry,
    /// Sent before with another fingerprint: sent again only with `on_change: resend`.
    Changed,
    /// In state with an unknown outcome: never sent again unless `apply --resend-unknown`.
    Unknown,
    /// The campaign is scheduled later, the recipient is outside the campaign's send
    /// window, or the messaging limit is used up: nothing is sent until it is due, the window
    /// open and the next wave come.
    Waiting,
    /// The recipient is at the frequency cap: sent by a later apply once they are under it.
    Capped,
    /// Sent before with the same fingerprint: nothing to do (counted, never listed).
    Unchanged,
}

impl ActionKind {
    /// Every kind, in the order outputs list them.
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Send,
        ActionKind::Retry,
        ActionKind::Changed,
        ActionKind::Unknown,
        ActionKind::Waiting,
        ActionKind::Capped,
        ActionKind::Unchanged,
    ];

    /// The kind's name in JSON and human output.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Send => "send",
            ActionKind::Retry => "retry",
            ActionKind::Changed => "changed",
            ActionKind::Unknown => "unknown",
            ActionKind::Waiting => "waiting",
            ActionKind::Capped => "capped",
            ActionKind::Unchanged => "unchanged",
        }
    }
}

/// Actions counted by kind, and how many requests apply would send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// New deliveries.
    pub send: u64,
    /// Failed deliveries sent again.
    pub retry: u64,
    /// Deliveries whose message changed after it was sent.
    pub changed: u64,
    /// Deliveries with an unknown outcome.
    pub unknown: u64,
    /// Deliveries of campaigns not yet due, outside their window or beyond the messaging
    /// limit.
    pub waiting: u64,
    /// Deliveries held back by the frequency cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capped: u64,
    /// Deliveries already sent as they are.
    pub unchanged: u64,
    /// Requests apply would send: send + retry + changed under `on_change: resend`.
    pub requests: u64,
    /// Unknown deliveries reconciling found delivered, which apply records as sent (counted
    /// in `unknown` too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reconciled: u64,
    /// Waiting deliveries held by their recipient's send window (counted in `waiting` too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_waiting: u64,
    /// The earliest time (UTC) a send window opens for one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_opens: Option<Timestamp>,
    /// The earliest time (UTC) a capped recipient is under the frequency cap again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_until: Option<Timestamp>,
    /// Waiting deliveries held by the messaging limit (counted in `waiting` too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wave_waiting: u64,
    /// When (UTC) the next wave of the messaging limit can go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_opens: Option<Timestamp>,
}

/// The earlier of two optional times.
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    /// Counts one action.
    pub fn add(&mut self, kind: ActionKind, sends: bool) {
        *self.get_mut(kind) += 1;
        if sends {
            self.requests += 1;
        }
    }

    /// Counts an unknown action reconciling found delivered, which apply records as sent.
    pub fn add_reconciled(&mut self, action: &Action) {
        let delivered = action
            .reconciled
            .as_ref()
            .is_some_and(|d| d.verdict == crate::reconcile::Verdict::Delivered);
        if delivered && action.action == ActionKind::Unknown {
            self.reconciled += 1;
        }
    }

    /// Counts an action held by its recipient's send window, which opens at `opens`.
    pub fn add_window(&mut self, opens: Timestamp) {
        self.window_waiting += 1;
        self.window_opens = earliest(self.window_opens, Some(opens));
    }

    /// Counts what an action says about pacing: when a capped recipient is under the cap
    /// again, or when the wave a waiting one waits for can go.
    pub fn add_pacing(&mut self, action: &Action) {
        self.capped_until = earliest(self.capped_until, action.capped_until);
        if action.wave_opens.is_some() {
            self.wave_waiting += 1;
            self.wave_opens = earliest(self.wave_opens, action.wave_opens);
        }
    }

    /// The count of one kind.
    pub fn get(&self, kind: ActionKind) -> u64 {
        match kind {
            ActionKind::Send => self.send,
            ActionKind::Retry => self.retry,
            ActionKind::Changed => self.changed,
            ActionKind::Unknown => self.unknown,
            ActionKind::Waiting => self.waiting,
            ActionKind::Capped => self.capped,
            ActionKind::Unchanged => self.unchanged,
        }
    }

    fn get_mut(&mut self, kind: ActionKind) -> &mut u64 {
        match kind {
            ActionKind::Send => &mut self.send,
            ActionKind::Retry => &mut self.retry,
            ActionKind::Changed => &mut self.changed,
            ActionKind::Unknown => &mut self.unknown,
            ActionKind::Waiting => &mut self.waiting,
            ActionKind::Capped => &mut self.capped,
            ActionKind::Unchanged => &mut self.unchanged,
        }
    }

    /// Adds another campaign's counts.
    pub fn merge(&mut self, other: &Counts) {
        for kind in ActionKind::ALL {
            *self.get_mut(kind) += other.get(kind);
        }
        self.requests += other.requests;
        self.reconciled += other.reconciled;
        self.window_waiting += other.window_waiting;
        self.window_opens = earliest(self.window_opens, other.window_opens);
        self.capped_until = earliest(self.capped_until, other.capped_until);
        self.wave_waiting += other.wave_waiting;
        self.wave_opens = earliest(self.wave_opens, other.wave_opens);
    }

    /// Requests an apply sends: the plan's, and the unknown deliveries too under
    /// `--resend-unknown`.
    pub fn planned(&self, resend_unknown: bool) -> u64 {
        self.requests + if resend_unknown { self.unknown } else { 0 }
    }

    /// Whether anything would be sent or needs attention (everything but unchanged).
    pub fn has_changes(&self) -> bool {
        ActionKind::ALL
            .iter()
            .any(|&k| k != ActionKind::Unchanged && self.get(k) > 0)
    }
}

/// Where a plan's requests go (no secrets: the key is never part of a plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `api.base_url` after the environment overlay.
    pub base_url: String,
    /// `api.customer_id`.
    pub customer_id: u64,
    /// `api.bot_key`.
    pub bot_key: String,
}

/// What a plan was made from and against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The herald that made it.
    pub herald_version: String,
    /// When it was made (the `now` templates saw and schedules were compared with).
    pub created_at: Timestamp,
    /// `--env`, if given.
    pub environment: Option<String>,
    /// Where apply would send.
    pub target: Target,
    /// The state serial it was made against.
    pub state_serial: u64,
    /// The lineage of the state it was made against ([`crate::state::Store::lineage`]); left
    /// out when the state did not exist yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_lineage: Option<String>,
    /// The SHA-256 of everything it was made from ([`inputs`]).
    pub inputs_hash: String,
    /// Whether unknown deliveries were reconciled with the Conversations API
    /// ([`crate::reconcile`]) before planning; apply checks the plan by doing the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconciled: bool,
    /// `--campaign` names the plan was limited to (left out when it plans every campaign), so
    /// apply can recompute the inputs hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<String>,
    /// The project's caps (`safety:` of herald.yaml), left out when none is set.
    #[serde(default, skip_serializing_if = "safety::Caps::is_empty")]
    pub safety: safety::Caps,
    /// The rate card that priced the plan (`pricing:` of herald.yaml); left out when the
    /// project has none, and then no campaign has a cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<cost::Pricing>,
    /// `budget:` of herald.yaml, left out when not set.
    #[serde(default, skip_serializing_if = "cost::Budget::is_empty")]
    pub budget: cost::Budget,
    /// `frequency_cap:` of herald.yaml, left out when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap: Option<pacing::FrequencyCap>,
    /// herald.yaml's `timezone:`, the zone the views show the project's times in besides
    /// UTC; left out when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `api.messaging_limit` and how much of it the last 24 hours used, left out when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_limit: Option<pacing::MessagingLimit>,
}

/// The approved template of a template campaign, for previews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateText {
    /// The template's name at WhatsApp.
    pub name: String,
    /// `none`, `text`, `image`, `video` or `document`.
    pub header: String,
    /// The approved body with its `{{N}}` slots.
    pub body: String,
    /// The buttons' labels, in order.
    pub buttons: Vec<String>,
}

/// One campaign of a plan, before its actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// `template`, `trigger`, `broadcast` or `template_broadcast`.
    pub send: String,
    /// `schedule.at` in UTC; `None` for `now` or no schedule.
    pub schedule: Option<Timestamp>,
    /// `schedule` as the campaign file wrote it: in `at`'s offset (`2026-12-01 09:00 +05:30`),
    /// or a recurring campaign's occurrence in its `timezone`; left out for UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_local: Option<String>,
    /// Whether it is due at the plan's time.
    pub due: bool,
    /// `keep` or `resend`.
    pub on_change: OnChange,
    /// How many recipients its audience has.
    pub recipients: u64,
    /// The approved template, for template sends and template broadcasts.
    pub template: Option<TemplateText>,
    /// JSON pointers of request-body values rendered from recipients' fields (`?NAME`: a query
    /// parameter): what `--redact` hides.
    pub user_paths: Vec<String>,
    /// How the project's `suppress` list met its audience; left out when herald.yaml lists
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    /// The campaign's own `max_sends`, and where it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sends: Option<safety::Cap<u64>>,
    /// Names it had before (`previously`), whose deliveries count as its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previously: Vec<String>,
    /// A late one-off campaign that `late:` sends or skips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<Lateness>,
    /// For a recurring campaign, the occurrence this plan sends: its round of deliveries
    /// ([`crate::state::Round`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<Timestamp>,
    /// For a recurring campaign, its schedule: the next occurrence and those missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<Recurring>,
    /// The send window it keeps in each recipient's local time; left out when it keeps none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
}

/// The send window a campaign keeps, as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWindow {
    /// `HH:MM-HH:MM`, local wall-clock time.
    pub hours: String,
    /// The weekdays it opens on.
    pub days: Vec<crate::model::Day>,
    /// Where it is set (`file:line:column`): the campaign's `window:`, or herald.yaml's.
    pub set_at: String,
    /// herald.yaml's `timezone:`: the zone of recipients nothing else places, and the zone
    /// the plan's views show times in besides UTC; left out for UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl Campaign {
    /// A due campaign of `send`'s kind with nothing else set: what unit tests start from.
    #[cfg(test)]
    pub(crate) fn bare(name: &str, send: &str) -> Campaign {
        Campaign {
            name: name.to_owned(),
            description: None,
            send: send.to_owned(),
            schedule: None,
            schedule_local: None,
            due: true,
            on_change: crate::model::OnChange::Keep,
            recipients: 0,
            template: None,
            user_paths: Vec::new(),
            suppression: None,
            max_sends: None,
            previously: Vec::new(),
            late: None,
            occurrence: None,
            recurring: None,
            window: None,
        }
    }

    /// Whether one request reaches the whole audience (broadcasts), rather than one person.
    pub fn whole_audience(&self) -> bool {
        matches!(self.send.as_str(), "broadcast" | "template_broadcast")
    }

    /// The messages `requests` of this campaign deliver, counted as people receive them: a
    /// broadcast's one request reaches every recipient.
    pub fn messages(&self, requests: u64) -> u64 {
        if self.whole_audience() {
            requests.saturating_mul(self.recipients)
        } else {
            requests
        }
    }
}

/// How the project's `suppress` list met a campaign's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Recipients left out because a `suppress` audience lists them.
    pub suppressed: u64,
    /// The campaign says `suppress: false`: nobody was left out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opted_out: bool,
}

/// A recurring campaign's schedule as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `schedule.cron`.
    pub cron: String,
    /// The IANA zone it is read in.
    pub timezone: String,
    /// The occurrence after the one planned (`occurrence`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Timestamp>,
    /// Occurrences between the latest one state holds deliveries of and the one planned: they
    /// are skipped, never sent late (at most 1,000 are counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missed: u64,
    /// Whether `until` has passed: nothing is planned any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
}

/// A one-off campaign more than `safety.late_after` past its time with nothing sent, and
/// what its `late:` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lateness {
    /// `send` (it goes now) or `skip` (nothing is sent or recorded).
    pub then: crate::model::Late,
    /// How long ago it was due, in seconds.
    pub seconds: u64,
}

/// What state held for a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    /// Its outcome.
    pub outcome: Outcome,
    /// The fingerprint of the request then.
    pub fingerprint: Fingerprint,
    /// When.
    pub at: Option<Timestamp>,
    /// The API's code, for failures.
    pub api_code: Option<i64>,
    /// What went wrong last time, for failed and unknown deliveries (the API's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request then; given for the first changed actions of each campaign (the ones
    /// outputs show a diff for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
}

/// One planned action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The recipient's E.164 phone, or `*` for a whole-audience broadcast.
    pub recipient: String,
    /// What happens.
    pub action: ActionKind,
    /// Whether apply sends `request`.
    pub sends: bool,
    /// The fingerprint of `request`.
    pub fingerprint: Fingerprint,
    /// The exact request.
    pub request: Request,
    /// What state held, when it held anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    /// What reconciling found out about a delivery whose outcome was unknown: `delivered` ones
    /// are recorded `sent` by apply, `not_delivered` ones are sent again (`retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled: Option<crate::reconcile::Decision>,
    /// For a delivery waiting for its recipient's send window: when it next opens (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_opens: Option<Timestamp>,
    /// For a delivery sent under a send window: when the recipient's window closes (UTC).
    /// Apply does not send it from then on; the next plan holds it until the window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_closes: Option<Timestamp>,
    /// For a delivery waiting for its recipient's send window: the recipient's zone (IANA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// For a capped delivery: when (UTC) the recipient is under the frequency cap again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_until: Option<Timestamp>,
    /// For a delivery waiting for the messaging limit: when (UTC) the next wave can go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_opens: Option<Timestamp>,
}

/// Where a plan reads what Engati knows: Users API audiences, and recipients' histories for
/// reconciling. One value does both (the Engati client, a test's table).
pub trait ApiReads: crate::render::UsersSource + crate::reconcile::History {}

impl<T: crate::render::UsersSource + crate::reconcile::History> ApiReads for T {}

/// Receives a plan as it is made (or replayed from a file).
pub trait Sink {
    /// The plan starts.
    fn begin(&mut self, header: &Header) -> io::Result<()>;
    /// A campaign starts.
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()>;
    /// One action of the current campaign (never `unchanged`).
    fn action(&mut self, action: &Action) -> io::Result<()>;
    /// One action the caller has no further use for (a plan read from a file): a sink that
    /// keeps actions takes it rather than cloning it.
    fn take_action(&mut self, action: Action) -> io::Result<()> {
        self.action(&action)
    }
    /// The current campaign ends, with its counts and, when the plan is priced, its cost.
    fn end_campaign(&mut self, counts: &Counts, cost: Option<&cost::Cost>) -> io::Result<()>;
    /// The plan ends, with the totals and, when it is priced, the total cost.
    fn end(&mut self, totals: &Counts, cost: Option<&cost::Cost>) -> io::Result<()>;
}

/// Several sinks fed the same plan.
pub struct Tee<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Tee<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.begin(header))
    }
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.campaign(campaign))
    }
    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.action(action))
    }
    fn end_campaign(&mut self, counts: &Counts, cost: Option<&cost::Cost>) -> io::Result<()> {
        self.0
            .iter_mut()
            .try_for_each(|s| s.end_campaign(counts, cost))
    }
    fn end(&mut self, totals: &Counts, cost: Option<&cost::Cost>) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.end(totals, cost))
    }
}
