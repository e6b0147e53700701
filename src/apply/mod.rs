//! Applying a plan: every action the plan says sends goes to the Engati API exactly as
//! planned, and every outcome is recorded in state.
//!
//! State is written ahead: a batch of deliveries is recorded `in_flight` in one transaction
//! before any of its requests leaves, and each outcome (`sent`, `failed`, `unknown`) replaces
//! that row once it is known, again in batches. A crash between the two leaves `in_flight`
//! rows, which the next apply (holding the lock, so no apply is running) turns into `unknown`:
//! never resent unless asked, because the request may have been delivered.
//!
//! Campaigns go one after another in plan order, so a person in two campaigns gets their
//! messages in that order. Within a campaign requests run concurrently ([`execute`]).

pub mod execute;
pub mod preflight;
mod settle;
pub mod test_send;

pub use settle::{
    SettleError, Settlement, reconcile_now, settle, settle_by_hand, settle_in_flight,
    settle_reconciled,
};

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use crate::engati::ApiError;
use crate::fingerprint::Fingerprint;
use crate::plan::cost::Cost;
use crate::plan::file::{self, Outline, PlanFileError, StreamError};
use crate::plan::{Action, ActionKind, Campaign, Counts, Header, Sink};
use crate::reconcile::{self, Decisions, Verdict};
use crate::state::{Delivery, Outcome, Round, StateError, Store};
use execute::{Executor, Finished, Job, Sent, StopSignal};

/// Deliveries recorded `in_flight` per transaction, and launched together, at most. A crash
/// leaves up to two batches in flight, which become `unknown` (most never left), so batches
/// are as small as keeps the executor busy: [`Options::for_concurrency`].
const MAX_INTENT_BATCH: usize = 512;
/// Outcomes wait at most this long before they are recorded. Outcomes not yet recorded when
/// herald is killed leave their deliveries `unknown`, so they are recorded often: every
/// batch's worth, or after this long.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// How to apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// Also send the deliveries whose outcome is unknown (`--resend-unknown`).
    pub resend_unknown: bool,
    /// Deliveries recorded `in_flight` together and launched together. At most two batches
    /// are out at once: one being sent, the next waiting for a free worker.
    pub batch: usize,
    /// This apply's id, recorded with every attempt.
    pub apply_id: String,
    /// Reconcile verdicts of the plan not acted on: their deliveries stay unknown, neither
    /// recorded as sent nor sent again ([`preflight::Ready::withheld`]).
    pub withheld: Decisions,
    /// The times recorded with every attempt: the system's, or `--now`'s.
    pub clock: crate::clock::Clock,
}

impl Options {
    /// Options for `concurrency` requests at once: batches of that size (at least 8).
    pub fn for_concurrency(concurrency: usize, resend_unknown: bool, apply_id: &str) -> Options {
        Options {
            resend_unknown,
            batch: concurrency.clamp(8, MAX_INTENT_BATCH),
            apply_id: apply_id.to_owned(),
            withheld: Decisions::new(),
            clock: crate::clock::Clock::system(),
        }
    }
}

/// What came of one campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignOutcome {
    /// The campaign's name.
    pub name: String,
    /// Deliveries to send.
    pub planned: u64,
    /// Accepted by Engati.
    pub sent: u64,
    /// Answered with an error, or given up on.
    pub failed: u64,
    /// Possibly delivered: a timeout or a dropped connection after sending.
    pub unknown: u64,
    /// Not sent because the apply stopped first.
    pub not_sent: u64,
    /// Failed and unknown deliveries counted by why (the error's code and message).
    pub reasons: BTreeMap<String, u64>,
    /// Unknown deliveries reconciling found delivered, now recorded `sent`.
    pub reconciled: u64,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Report {
    /// Per campaign, in plan order.
    pub campaigns: Vec<CampaignOutcome>,
    /// The API error that stopped the apply (a rejected key), if one did.
    pub stopped_by: Option<ApiError>,
    /// Whether the apply was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// The state failure that stopped the apply: what was launched after the last recorded
    /// batch stays `in_flight`, unknown to the next apply.
    pub state_failure: Option<StateError>,
}

impl Report {
    /// Whether every planned delivery was sent and recorded.
    pub fn all_sent(&self) -> bool {
        self.state_failure.is_none() && self.campaigns.iter().all(|c| c.sent == c.planned)
    }

    /// Whether any request left (or may have).
    pub fn sent_anything(&self) -> bool {
        let t = self.totals();
        t.sent + t.failed + t.unknown > 0
    }

    /// The totals over all campaigns.
    pub fn totals(&self) -> CampaignOutcome {
        let mut total = CampaignOutcome::default();
        for c in &self.campaigns {
            total.planned += c.planned;
            total.sent += c.sent;
            total.failed += c.failed;
            total.unknown += c.unknown;
            total.not_sent += c.not_sent;
            total.reconciled += c.reconciled;
            for (reason, n) in &c.reasons {
                *total.reasons.entry(reason.clone()).or_default() += n;
            }
        }
        total
    }
}

/// Watches an apply as it goes (a progress bar, log lines).
pub trait Progress {
    /// A campaign starts with this many deliveries to send.
    fn campaign(&mut self, name: &str, planned: u64);
    /// The current campaign's outcomes so far.
    fn update(&mut self, outcome: &CampaignOutcome);
    /// The current campaign is done.
    fn campaign_done(&mut self, outcome: &CampaignOutcome);
}

/// Progress nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn campaign(&mut self, _: &str, _: u64) {}
    fn update(&mut self, _: &CampaignOutcome) {}
    fn campaign_done(&mut self, _: &CampaignOutcome) {}
}

/// Whether apply sends an action: what the plan says sends, and with `--resend-unknown` the
/// unknown ones too.
pub fn sends(action: &Action, resend_unknown: bool) -> bool {
    action.sends || (resend_unknown && action.action == ActionKind::Unknown)
}

/// How many deliveries of a campaign with these counts apply sends.
pub fn planned(counts: &Counts, resend_unknown: bool) -> u64 {
    counts.planned(resend_unknown)
}

/// Applies a plan's sends, recording every attempt in `store`. `plan` is the plan file, read
/// as it is sent (never whole in memory); `outline` is what [`file::outline`] read of it
/// beforehand. Returns when every launched request has an outcome in state; stops launching
/// when `stop` is set (by a rejected key, or by the caller on Ctrl-C).
pub fn run(
    plan: impl Read,
    outline: &Outline,
    store: &mut dyn Store,
    executor: &Executor,
    stop: &StopSignal,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Report, PlanFileError> {
    let mut applier = Applier {
        store,
        executor,
        stop,
        options,
        progress,
        planned: outline
            .campaigns
            .iter()
            .map(|(_, counts)| planned(counts, options.resend_unknown))
            .collect::<Vec<_>>()
            .into_iter(),
        journal: None,
        report: Report::default(),
        failure: None,
    };
    let streamed = file::stream(plan, &mut applier);
    // Whatever stopped the stream, requests already launched are waited for and recorded.
    if let Some(journal) = applier.journal.take() {
        applier.end(journal);
    }
    let mut report = applier.report;
    report.stopped_by = stop.reason();
    report.interrupted = stop.is_stopped() && report.stopped_by.is_none();
    report.state_failure = applier.failure;
    match streamed {
        // The plan was read whole and checked before; a state failure stops the stream too.
        Err(StreamError::Plan(e)) if report.state_failure.is_none() => Err(e),
        _ => Ok(report),
    }
}

/// Applies each campaign as the plan streams in.
struct Applier<'a> {
    store: &'a mut dyn Store,
    executor: &'a Executor,
    stop: &'a StopSignal,
    options: &'a Options,
    progress: &'a mut dyn Progress,
    /// Each campaign's planned sends, from the outline, in plan order.
    planned: std::vec::IntoIter<u64>,
    journal: Option<Journal>,
    report: Report,
    /// The state error that stopped the apply.
    failure: Option<StateError>,
}

/// One campaign's deliveries: those read and not yet launched, those in flight, and
/// outcomes waiting to be recorded.
struct Journal {
    campaign: String,
    /// The occurrence of a recurring campaign the plan sends ([`Round`]).
    occurrence: Option<jiff::Timestamp>,
    /// Actions read from the plan that send, not yet launched (at most a batch).
    pending: Vec<Action>,
    /// Launched and not finished, by index: what their outcome rows need.
    in_flight: HashMap<usize, InFlight>,
    done: Receiver<Finished>,
    sender: Sender<Finished>,
    outcomes: Vec<Delivery>,
    /// Recipients whose requests never left: their intents are withdrawn, not recorded failed.
    withdrawn: Vec<String>,
    last_flush: Instant,
    launched: usize,
    finished: usize,
    counts: CampaignOutcome,
}

/// A launched delivery, as its outcome row needs it.
struct InFlight {
    recipient: String,
    fingerprint: Fingerprint,
    /// The request JSON its intent row recorded (outcome rows carry the same).
    request: String,
}

impl Applier<'_> {
    /// Records `result`'s state error and turns it into the error that stops the stream.
    fn check(&mut self, result: Result<(), StateError>) -> io::Result<()> {
        result.map_err(|e| {
            let stop = io::Error::other(e.to_string());
            self.failure.get_or_insert(e);
            stop
        })
    }

    /// Launches the pending batch once fewer than a batch are in flight. The intents are
    /// committed before any request of the batch leaves.
    fn launch(&mut self, journal: &mut Journal) -> Result<(), StateError> {
        if journal.pending.is_empty() {
            return Ok(());
        }
        while journal.launched - journal.finished >= self.options.batch.max(1) {
            self.wait(journal)?;
        }
        let start = journal.launched;
        let now = self.options.clock.now();
        let intents: Vec<Delivery> = journal
            .pending
            .iter()
            .map(|action| Delivery {
                campaign: journal.campaign.clone(),
                occurrence: journal.occurrence,
                recipient: action.recipient.clone(),
                fingerprint: action.fingerprint,
                request: action.request.to_json(),
                outcome: Outcome::InFlight,
                api_code: None,
                detail: None,
                at: now,
                apply_id: self.options.apply_id.clone(),
            })
            .collect();
        self.store.record(&intents)?;
        for ((offset, action), intent) in journal.pending.drain(..).enumerate().zip(intents) {
            let index = start + offset;
            journal.in_flight.insert(
                index,
                InFlight {
                    recipient: action.recipient,
                    fingerprint: action.fingerprint,
                    request: intent.request,
                },
            );
            let job = Job {
                index,
                request: action.request,
            };
            self.executor.launch(job, journal.sender.clone());
            journal.launched += 1;
        }
        Ok(())
    }

    /// Whether `action`'s reconcile verdict is withheld: a send it would make is counted
    /// not sent, with why.
    fn withheld(&mut self, action: &Action) -> bool {
        let Some(journal) = self.journal.as_mut() else {
            return false;
        };
        let withheld = &self.options.withheld;
        let round = Round::of(&journal.campaign, journal.occurrence);
        if reconcile::lookup(withheld, round, &action.recipient).is_none() {
            return false;
        }
        if sends(action, self.options.resend_unknown) {
            journal.counts.not_sent += 1;
            let why = "not sent: reconciling could not check its history again (it stays unknown)";
            *journal.counts.reasons.entry(why.to_owned()).or_default() += 1;
        }
        true
    }

    /// Whether `action`'s send window has closed by now (a long apply, or a plan applied
    /// long after it was made): it is not sent, never recorded, and counted not sent with
    /// why; the next plan holds it until the window opens again. Checked as each action is
    /// queued, at most two batches before its request leaves.
    fn window_closed(&mut self, action: &Action) -> bool {
        let Some(closes) = action.window_closes else {
            return false;
        };
        if closes > self.options.clock.now() {
            return false;
        }
        if let Some(journal) = self.journal.as_mut() {
            let why = "not sent: the recipient's send window closed during the apply (a later \
                       apply sends it once it opens)";
            *journal.counts.reasons.entry(why.to_owned()).or_default() += 1;
        }
        true
    }

    /// Records an unknown delivery reconciling found in the history as `sent`: its attempt as
    /// state holds it (the request that was delivered), with the evidence.
    fn record_delivered(&mut self, action: &Action) -> Result<(), StateError> {
        let Some(decision) = action
            .reconciled
            .as_ref()
            .filter(|d| d.verdict == Verdict::Delivered)
        else {
            return Ok(());
        };
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let round = Round::of(&journal.campaign, journal.occurrence);
        let Some(mut attempt) = self.store.delivery(round, &action.recipient)? else {
            return Ok(());
        };
        if !matches!(attempt.outcome, Outcome::Unknown | Outcome::InFlight) {
            return Ok(());
        }
        attempt.outcome = Outcome::Sent;
        attempt.api_code = None;
        attempt.detail = Some(format!("reconciled: {}", decision.why));
        attempt.at = self.options.clock.now();
        attempt.apply_id = self.options.apply_id.clone();
        journal.outcomes.push(attempt);
        journal.counts.reconciled += 1;
        Ok(())
    }

    /// Waits for the next outcome (recording what is due), then takes every outcome ready.
    fn wait(&mut self, journal: &mut Journal) -> Result<(), StateError> {
        match journal.done.recv_timeout(FLUSH_EVERY) {
            Ok(finished) => journal.take(finished, self.options),
            Err(RecvTimeoutError::Timeout) => {}
            // The journal holds a sender, so the channel never closes while it waits.
            Err(RecvTimeoutError::Disconnected) => journal.finished = journal.launched,
        }
        while let Ok(finished) = journal.done.try_recv() {
            journal.take(finished, self.options);
        }
        if journal.outcomes.len() >= self.options.batch
            || journal.last_flush.elapsed() >= FLUSH_EVERY
        {
            journal.flush(self.store, &self.options.apply_id)?;
            self.progress.update(&journal.counts);
        }
        Ok(())
    }

    /// Ends a campaign: launches what is pending (unless stopped), waits for every launched
    /// request and records it.
    fn end(&mut self, mut journal: Journal) {
        let mut result = Ok(());
        if !self.stop.is_stopped() && self.failure.is_none() {
            result = self.launch(&mut journal);
        }
        while journal.finished < journal.launched {
            if let Err(e) = self.wait(&mut journal) {
                result = result.and(Err(e));
                break;
            }
        }
        if result.is_ok() {
            result = journal.flush(self.store, &self.options.apply_id);
        }
        if let Err(e) = result {
            self.failure.get_or_insert(e);
        }
        // Requests still out when the state failed stay `in_flight` in state: unknown to the
        // next apply, so unknown here too.
        let unfinished = journal.launched.saturating_sub(journal.finished) as u64;
        if unfinished > 0 {
            journal.counts.unknown += unfinished;
            *journal
                .counts
                .reasons
                .entry("in flight when state could not be written".to_owned())
                .or_default() += unfinished;
        }
        // Deliveries never launched (the apply stopped first) were never recorded: the next
        // plan lists them again.
        let never_launched = journal
            .counts
            .planned
            .saturating_sub(journal.launched as u64);
        journal.counts.not_sent += never_launched;
        self.progress.campaign_done(&journal.counts);
        self.report.campaigns.push(journal.counts);
    }
}

impl Sink for Applier<'_> {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        let planned = self.planned.next().unwrap_or(0);
        self.progress.campaign(&campaign.name, planned);
        let (sender, done) = channel();
        self.journal = Some(Journal {
            campaign: campaign.name.clone(),
            occurrence: campaign.occurrence,
            pending: Vec::with_capacity(self.options.batch),
            in_flight: HashMap::new(),
            done,
            sender,
            outcomes: Vec::new(),
            withdrawn: Vec::new(),
            last_flush: Instant::now(),
            launched: 0,
            finished: 0,
            counts: CampaignOutcome {
                name: campaign.name.clone(),
                planned,
                ..CampaignOutcome::default()
            },
        });
        Ok(())
    }

    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.take_action(action.clone())
    }

    fn take_action(&mut self, action: Action) -> io::Result<()> {
        if self.withheld(&action) {
            return Ok(());
        }
        if !sends(&action, self.options.resend_unknown) {
            let result = self.record_delivered(&action);
            return self.check(result);
        }
        if self.stop.is_stopped() || self.window_closed(&action) {
            return Ok(());
        }
        let Some(mut journal) = self.journal.take() else {
            return Ok(());
        };
        journal.pending.push(action);
        let mut result = Ok(());
        if journal.pending.len() >= self.options.batch.max(1) {
            result = self.launch(&mut journal);
        }
        self.journal = Some(journal);
        self.check(result)
    }

    fn end_campaign(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        if let Some(journal) = self.journal.take() {
            self.end(journal);
        }
        match &self.failure {
            Some(e) => Err(io::Error::other(e.to_string())),
            None => Ok(()),
        }
    }

    fn end(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        Ok(())
    }
}

impl Journal {
    fn take(&mut self, finished: Finished, options: &Options) {
        self.finished += 1;
        let Some(delivery) = self.in_flight.remove(&finished.index) else {
            return;
        };
        let (outcome, api_code, detail) = match finished.result {
            Sent::Accepted(code) => {
                self.counts.sent += 1;
                (Outcome::Sent, Some(code), None)
            }
            // Never left (refused before a byte was written, every retry): not a failure of
            // the delivery. Its intent is withdrawn; the next plan lists it as before.
            Sent::Failed(error @ ApiError::NotSent { .. }) => {
                self.counts.not_sent += 1;
                *self.counts.reasons.entry(describe(&error)).or_default() += 1;
                self.withdrawn.push(delivery.recipient);
                return;
            }
            Sent::Failed(error) => {
                self.counts.failed += 1;
                let detail = describe(&error);
                *self.counts.reasons.entry(detail.clone()).or_default() += 1;
                (Outcome::Failed, api_code(&error), Some(detail))
            }
            Sent::Unknown(error) => {
                self.counts.unknown += 1;
                let detail = describe(&error);
                *self.counts.reasons.entry(detail.clone()).or_default() += 1;
                (Outcome::Unknown, api_code(&error), Some(detail))
            }
            Sent::NotSent => {
                self.counts.not_sent += 1;
                self.withdrawn.push(delivery.recipient);
                return;
            }
        };
        self.outcomes.push(Delivery {
            campaign: self.campaign.clone(),
            occurrence: self.occurrence,
            recipient: delivery.recipient,
            fingerprint: delivery.fingerprint,
            request: delivery.request,
            outcome,
            api_code,
            detail,
            at: options.clock.now(),
            apply_id: options.apply_id.clone(),
        });
    }

    fn flush(&mut self, store: &mut dyn Store, apply_id: &str) -> Result<(), StateError> {
        store.record(&self.outcomes)?;
        self.outcomes.clear();
        store.withdraw(
            Round::of(&self.campaign, self.occurrence),
            &self.withdrawn,
            apply_id,
        )?;
        self.withdrawn.clear();
        self.last_flush = Instant::now();
        Ok(())
    }
}

/// The envelope code or HTTP status an error carries.
fn api_code(error: &ApiError) -> Option<i64> {
    match error {
        ApiError::Rejected { code, .. } => Some(*code),
        ApiError::KeyRejected { status, .. }
        | ApiError::BadRequest { status, .. }
        | ApiError::SlowDown { status, .. }
        | ApiError::Server { status, .. }
        | ApiError::Protocol { status, .. } => Some(i64::from(*status)),
        _ => None,
    }
}

/// An error as state keeps it: its code and message (no secrets: the client scrubs them).
fn describe(error: &ApiError) -> String {
    format!("{}: {error}", error.code())
}
