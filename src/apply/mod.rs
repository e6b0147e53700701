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
mod settle;

pub use settle::{SettleError, Settlement, settle, settle_in_flight};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::engati::ApiError;
use crate::plan::json::{CampaignActions, Document};
use crate::plan::{Action, ActionKind};
use crate::state::{Delivery, Outcome, StateError, Store};
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
}

impl Options {
    /// Options for `concurrency` requests at once: batches of that size (at least 8).
    pub fn for_concurrency(concurrency: usize, resend_unknown: bool, apply_id: &str) -> Options {
        Options {
            resend_unknown,
            batch: concurrency.clamp(8, MAX_INTENT_BATCH),
            apply_id: apply_id.to_owned(),
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
}

impl Report {
    /// Whether every planned delivery was sent.
    pub fn all_sent(&self) -> bool {
        self.campaigns.iter().all(|c| c.sent == c.planned)
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

/// Applies a plan's sends, recording every attempt in `store`. Returns when every launched
/// request has an outcome in state; stops launching when `stop` is set (by a rejected key, or
/// by the caller on Ctrl-C).
pub fn run(
    document: &Document,
    store: &mut dyn Store,
    executor: &Executor,
    stop: &Arc<StopSignal>,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Report, StateError> {
    let mut report = Report::default();
    for campaign in &document.campaigns {
        let outcome = apply_campaign(campaign, store, executor, stop, options, progress)?;
        progress.campaign_done(&outcome);
        report.campaigns.push(outcome);
    }
    report.stopped_by = stop.reason();
    report.interrupted = stop.is_stopped() && report.stopped_by.is_none();
    Ok(report)
}

/// One campaign's deliveries in flight and their outcomes waiting to be recorded.
struct Journal<'a> {
    campaign: &'a CampaignActions,
    jobs: Vec<&'a Action>,
    store: &'a mut dyn Store,
    apply_id: &'a str,
    done: Receiver<Finished>,
    outcomes: Vec<Delivery>,
    last_flush: Instant,
    launched: usize,
    finished: usize,
    /// [`Options::batch`].
    batch: usize,
    /// The request JSON of jobs launched and not yet finished, by index, from their intents.
    requests: HashMap<usize, String>,
    counts: CampaignOutcome,
}

fn apply_campaign(
    campaign: &CampaignActions,
    store: &mut dyn Store,
    executor: &Executor,
    stop: &StopSignal,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<CampaignOutcome, StateError> {
    let jobs: Vec<&Action> = campaign
        .actions
        .iter()
        .filter(|a| sends(a, options.resend_unknown))
        .collect();
    let name = &campaign.campaign.name;
    progress.campaign(name, jobs.len() as u64);
    let (tx, done) = channel();
    let mut journal = Journal {
        campaign,
        counts: CampaignOutcome {
            name: name.clone(),
            planned: jobs.len() as u64,
            ..CampaignOutcome::default()
        },
        jobs,
        store,
        apply_id: &options.apply_id,
        done,
        outcomes: Vec::new(),
        last_flush: Instant::now(),
        launched: 0,
        finished: 0,
        batch: options.batch.max(1),
        requests: HashMap::new(),
    };
    let total = journal.jobs.len();
    while journal.launched < total && !stop.is_stopped() {
        let batch = journal.batch;
        while journal.launched - journal.finished >= batch {
            journal.wait(progress)?;
        }
        let start = journal.launched;
        let end = (start + batch).min(total);
        // The intent is committed before any request of the batch leaves.
        let intents: Vec<Delivery> = (start..end)
            .map(|i| journal.delivery(i, Outcome::InFlight, None, None))
            .collect();
        journal.store.record(&intents)?;
        // Each outcome row carries the same request JSON: keep it rather than serialize again.
        for (index, intent) in (start..end).zip(intents) {
            journal.requests.insert(index, intent.request);
        }
        for index in start..end {
            let request = journal.jobs[index].request.clone();
            executor.launch(Job { index, request }, tx.clone());
        }
        journal.launched = end;
    }
    while journal.finished < journal.launched {
        journal.wait(progress)?;
    }
    journal.flush()?;
    // Deliveries never launched (the apply stopped first) were never recorded: the next plan
    // lists them again.
    journal.counts.not_sent += (total - journal.launched) as u64;
    Ok(journal.counts)
}

impl Journal<'_> {
    /// The state row for job `index` with an outcome.
    fn delivery(
        &mut self,
        index: usize,
        outcome: Outcome,
        api_code: Option<i64>,
        detail: Option<String>,
    ) -> Delivery {
        let action = self.jobs[index];
        Delivery {
            campaign: self.campaign.campaign.name.clone(),
            recipient: action.recipient.clone(),
            fingerprint: action.fingerprint,
            request: self
                .requests
                .remove(&index)
                .unwrap_or_else(|| action.request.to_json()),
            outcome,
            api_code,
            detail,
            at: Timestamp::now(),
            apply_id: self.apply_id.to_owned(),
        }
    }

    /// Waits for the next outcome (recording what is due), then takes every outcome ready.
    fn wait(&mut self, progress: &mut dyn Progress) -> Result<(), StateError> {
        match self.done.recv_timeout(FLUSH_EVERY) {
            Ok(finished) => self.take(finished),
            Err(RecvTimeoutError::Timeout) => {}
            // Every job holds a sender until it finishes; a closed channel means the runtime
            // died, and the remaining rows stay in flight (unknown to the next apply).
            Err(RecvTimeoutError::Disconnected) => self.finished = self.launched,
        }
        while let Ok(finished) = self.done.try_recv() {
            self.take(finished);
        }
        if self.outcomes.len() >= self.batch || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
            progress.update(&self.counts);
        }
        Ok(())
    }

    fn take(&mut self, finished: Finished) {
        self.finished += 1;
        let index = finished.index;
        let row = match finished.result {
            Sent::Accepted(code) => {
                self.counts.sent += 1;
                self.delivery(index, Outcome::Sent, Some(code), None)
            }
            Sent::Failed(error) => {
                self.counts.failed += 1;
                self.errored(index, Outcome::Failed, &error)
            }
            Sent::Unknown(error) => {
                self.counts.unknown += 1;
                self.errored(index, Outcome::Unknown, &error)
            }
            Sent::NotSent => {
                self.counts.not_sent += 1;
                let why = "not sent: the apply stopped before this request left".to_owned();
                self.delivery(index, Outcome::Failed, None, Some(why))
            }
        };
        self.outcomes.push(row);
    }

    /// The state row for a job that ended in an API error.
    fn errored(&mut self, index: usize, outcome: Outcome, error: &ApiError) -> Delivery {
        self.delivery(index, outcome, api_code(error), Some(describe(error)))
    }

    fn flush(&mut self) -> Result<(), StateError> {
        self.store.record(&self.outcomes)?;
        self.outcomes.clear();
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
