//! Settling deliveries whose outcome is not known: after a crash ([`settle_in_flight`]), by
//! what the conversation histories show (`herald state reconcile`, [`settle_reconciled`]),
//! and by an operator who checked with Engati what happened (`herald state mark-sent|forget`,
//! [`settle`]). Every settlement is a new attempt in the history, never an edit of one.

use jiff::Timestamp;

use crate::reconcile::{Decisions, Verdict};
use crate::state::{Delivery, Outcome, Round, StateError, Store};

/// Rows re-recorded per transaction.
const BATCH: usize = 512;

/// What an operator found out about unknown deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// They were delivered: record them `sent`, so no plan sends them again.
    MarkSent,
    /// They were not: record them `failed`, so the next plan sends them again (as `retry`).
    Forget,
}

impl Settlement {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Settlement::MarkSent => "mark-sent",
            Settlement::Forget => "forget",
        }
    }
}

/// Turns the `in_flight` deliveries a dead apply left into `unknown`. Call with the lock held:
/// then no apply is running and every `in_flight` row is a crash's.
pub fn settle_in_flight(store: &mut dyn Store, apply_id: &str) -> Result<u64, StateError> {
    let mut settled = 0;
    for totals in store.campaigns()? {
        let round = Round::of(&totals.campaign, totals.occurrence);
        let left = recipients_where(store, round, |o| o == Outcome::InFlight)?;
        settled += rerecord(store, round, &left, |d| {
            d.outcome = Outcome::Unknown;
            d.detail = Some(format!(
                "in flight when apply {} stopped; it may have been delivered",
                d.apply_id
            ));
            d.api_code = None;
            d.apply_id = apply_id.to_owned();
        })?;
    }
    Ok(settled)
}

/// Records what reconciling found ([`crate::reconcile`]): `delivered` deliveries as `sent`,
/// `not_delivered` ones as `failed` (the next plan sends them again, as `retry`); the others
/// stay unknown. Each as a new attempt of `apply_id`, with the evidence. Returns how many of
/// each were recorded. Call with the lock held.
pub fn settle_reconciled(
    store: &mut dyn Store,
    decisions: &Decisions,
    apply_id: &str,
) -> Result<(u64, u64), StateError> {
    let mut counts = (0, 0);
    for (round, by_recipient) in decisions {
        for (verdict, outcome) in [
            (Verdict::Delivered, Outcome::Sent),
            (Verdict::NotDelivered, Outcome::Failed),
        ] {
            let recipients: Vec<String> = by_recipient
                .iter()
                .filter(|(_, d)| d.verdict == verdict)
                .map(|(r, _)| r.clone())
                .collect();
            let n = rerecord(store, round.round(), &recipients, |d| {
                let why = by_recipient
                    .get(&d.recipient)
                    .map_or("", |d| d.why.as_str());
                d.outcome = outcome;
                d.detail = Some(format!("reconciled: {why}"));
                d.api_code = None;
                d.apply_id = apply_id.to_owned();
            })?;
            match outcome {
                Outcome::Sent => counts.0 += n,
                _ => counts.1 += n,
            }
        }
    }
    Ok(counts)
}

/// Why an operator's settlement was refused.
#[derive(Debug)]
pub enum SettleError {
    /// The delivery is known: only unknown ones are settled.
    Known {
        /// The campaign.
        campaign: String,
        /// The recipient.
        recipient: String,
        /// Its outcome.
        outcome: Outcome,
    },
    /// State holds no delivery of the campaign to that recipient.
    NoDelivery {
        /// The campaign.
        campaign: String,
        /// The recipient.
        recipient: String,
    },
    /// State failed.
    State(StateError),
}

impl SettleError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            SettleError::Known {
                campaign,
                recipient,
                ..
            } => format!("`herald state show {campaign} {recipient}` shows its attempts"),
            SettleError::NoDelivery { campaign, .. } => {
                format!("`herald state show {campaign}` lists the campaign's deliveries")
            }
            SettleError::State(e) => e.help(),
        }
    }
}

impl std::fmt::Display for SettleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettleError::Known {
                campaign,
                recipient,
                outcome,
            } => write!(
                f,
                "the delivery of {campaign} to {recipient} is `{}`; only unknown deliveries are \
                 settled",
                outcome.as_str()
            ),
            SettleError::NoDelivery {
                campaign,
                recipient,
            } => write!(f, "state holds no delivery of {campaign} to {recipient}"),
            SettleError::State(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SettleError {}

impl From<StateError> for SettleError {
    fn from(e: StateError) -> SettleError {
        SettleError::State(e)
    }
}

/// `herald state mark-sent|forget`: takes `store`'s lock for `holder`, settles the campaign's
/// unknown deliveries (or one recipient's) as `how` says, logs the settlement beside the
/// applies, and releases the lock. Returns the recipients settled.
pub fn settle_by_hand(
    store: Box<dyn Store>,
    holder: &str,
    round: Round<'_>,
    recipient: Option<&str>,
    how: Settlement,
) -> Result<Vec<String>, SettleError> {
    let mut store = crate::state::Locked::take(store, holder)?;
    let id = store.id().to_owned();
    let started_at = Timestamp::now();
    let recipients = settle(&mut *store, round, recipient, how, &id)?;
    if !recipients.is_empty() {
        let n = recipients.len() as u64;
        store.log_apply(&crate::state::ApplyRecord {
            id,
            who: holder.to_owned(),
            started_at,
            finished_at: Some(Timestamp::now()),
            plan_hash: format!("herald state {}", how.name()),
            sent: if how == Settlement::MarkSent { n } else { 0 },
            failed: if how == Settlement::Forget { n } else { 0 },
            unknown: 0,
        })?;
    }
    store.release()?;
    Ok(recipients)
}

/// Settles a campaign's unknown deliveries (or one recipient's), recording each as a new
/// attempt of apply `apply_id`. Returns the recipients settled. Call with the lock held.
pub fn settle(
    store: &mut dyn Store,
    round: Round<'_>,
    recipient: Option<&str>,
    how: Settlement,
    apply_id: &str,
) -> Result<Vec<String>, SettleError> {
    let unknown = |o: Outcome| matches!(o, Outcome::Unknown | Outcome::InFlight);
    let recipients = match recipient {
        None => recipients_where(store, round, unknown)?,
        Some(r) => match store.delivery(round, r)? {
            None => {
                return Err(SettleError::NoDelivery {
                    campaign: round.to_string(),
                    recipient: r.to_owned(),
                });
            }
            Some(d) if !unknown(d.outcome) => {
                return Err(SettleError::Known {
                    campaign: round.to_string(),
                    recipient: r.to_owned(),
                    outcome: d.outcome,
                });
            }
            Some(_) => vec![r.to_owned()],
        },
    };
    rerecord(store, round, &recipients, |d| {
        d.outcome = match how {
            Settlement::MarkSent => Outcome::Sent,
            Settlement::Forget => Outcome::Failed,
        };
        d.detail = Some(format!(
            "settled by `herald state {}` (was unknown)",
            how.name()
        ));
        d.api_code = None;
        d.apply_id = apply_id.to_owned();
    })?;
    Ok(recipients)
}

/// `herald state reconcile`: takes `store`'s lock for `holder`, decides the unknown
/// deliveries of `campaigns` (empty: all) by what the histories show now, records the
/// delivered and not delivered ones ([`settle_reconciled`]), logs that beside the applies and
/// releases the lock. Returns every decision.
pub fn reconcile_now(
    store: Box<dyn Store>,
    history: &mut dyn crate::reconcile::History,
    project: &crate::validate::Catalog,
    settings: &crate::model::ApplySettings,
    campaigns: &[String],
    holder: &str,
) -> Result<Decisions, StateError> {
    let mut state = crate::state::Locked::take(store, holder)?;
    let started_at = Timestamp::now();
    let decisions =
        crate::reconcile::decide_for(&*state, history, settings, project, started_at, campaigns)?;
    let id = state.id().to_owned();
    let (sent, failed) = settle_reconciled(&mut *state, &decisions, &id)?;
    if sent + failed > 0 {
        state.log_apply(&crate::state::ApplyRecord {
            id,
            who: holder.to_owned(),
            started_at,
            finished_at: Some(Timestamp::now()),
            plan_hash: "herald state reconcile".to_owned(),
            sent,
            failed,
            unknown: 0,
        })?;
    }
    state.release()?;
    Ok(decisions)
}

/// The recipients of a campaign whose latest outcome passes `keep`, sorted.
fn recipients_where(
    store: &dyn Store,
    round: Round<'_>,
    keep: impl Fn(Outcome) -> bool,
) -> Result<Vec<String>, StateError> {
    let mut found = Vec::new();
    store.recorded(round, &mut |recipient, r| {
        if keep(r.outcome) {
            found.push(recipient.to_owned());
        }
    })?;
    found.sort();
    Ok(found)
}

/// Records a new attempt for each recipient's delivery: its latest, changed by `change`, at
/// the current time. Returns how many.
fn rerecord(
    store: &mut dyn Store,
    round: Round<'_>,
    recipients: &[String],
    change: impl Fn(&mut Delivery),
) -> Result<u64, StateError> {
    let mut count = 0;
    for chunk in recipients.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for recipient in chunk {
            if let Some(mut d) = store.delivery(round, recipient)? {
                change(&mut d);
                d.at = Timestamp::now();
                batch.push(d);
            }
        }
        store.record(&batch)?;
        count += batch.len() as u64;
    }
    Ok(count)
}
