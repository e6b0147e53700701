//! [`Tracker`]: what follows a campaign's judged deliveries, in audience order: pacing them
//! (the frequency cap and the messaging limit, against what the plan sent before them),
//! counting and pricing them, looking up what state held of the first of each kind, and
//! feeding their actions to the sink.

use std::collections::HashMap;

use jiff::Timestamp;

use super::cost::Pricer;
use super::engine::Failure;
use super::pacing::{Facts, Held as Paced, Recent, SoFar};
use super::recorded::RecordedIndex;
use super::window::Held;
use super::{Action, ActionKind, Counts, Previous, Sink};
use crate::reconcile::{self, Decisions};
use crate::render::Judged;
use crate::state::{Outcome, Recorded, Round, Store, WHOLE_CAMPAIGN};

/// Actions of each kind per campaign whose state details (time, API code) are looked up.
const DETAILED_PER_KIND: usize = 1000;
/// Changed actions per campaign that carry the previous request, for diffs.
const DIFFED_PER_CAMPAIGN: usize = 10;

/// What the plan makes of one delivery: [`classify`]'s verdict, and what the recipient's send
/// window said: the window that holds it back, or when the open window closes on a send.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planned {
    pub(super) kind: ActionKind,
    pub(super) sends: bool,
    pub(super) held: Option<Held>,
    pub(super) closes: Option<jiff::Timestamp>,
    /// What state shows of the recipient, for pacing a delivery that would be sent (looked up
    /// on the rendering thread).
    pub(super) pace: Option<Facts>,
}

/// Counts (and prices) a campaign's judged deliveries and feeds their actions to the sink.
pub(super) struct Tracker<'a> {
    pub(super) store: &'a dyn Store,
    /// The campaign's name, then its `previously` names.
    pub(super) names: &'a [&'a str],
    /// The occurrence planned, for a recurring campaign.
    pub(super) occurrence: Option<Timestamp>,
    pub(super) recorded: &'a RecordedIndex,
    pub(super) decisions: Option<&'a Decisions>,
    pub(super) counts: Counts,
    /// `None` when the project has no rate card.
    pub(super) pricer: Option<Pricer<'a>>,
    /// The plan's pacing, for a template campaign when the project sets any.
    pub(super) paced: Option<CampaignPacing<'a>>,
    /// How many recipients the campaign has (what a broadcast takes of the messaging limit).
    pub(super) audience: u64,
    pub(super) detailed: HashMap<ActionKind, usize>,
}

/// The plan's [`Pacing`] as one campaign uses it.
pub(super) struct CampaignPacing<'a> {
    pub(super) recent: &'a Recent,
    pub(super) so_far: &'a mut SoFar,
    /// Whether the campaign is held to the frequency cap.
    pub(super) capped: bool,
    /// Whether a later campaign of the plan is, so what this one sends must be remembered.
    pub(super) remember: bool,
}

impl Tracker<'_> {
    /// The round of the `i`th name ([`RecordedIndex::name_of`]): the occurrence planned,
    /// recorded under the campaign's name or one it had before.
    fn round(&self, i: usize) -> Round<'_> {
        Round::of(self.names.get(i).unwrap_or(&self.names[0]), self.occurrence)
    }

    pub(super) fn emit(
        &mut self,
        recipient: &str,
        judged: Judged<Planned>,
        sink: &mut dyn Sink,
    ) -> Result<(), Failure> {
        let Planned {
            mut kind,
            mut sends,
            held,
            mut closes,
            pace,
        } = judged.verdict;
        let paced = match &mut self.paced {
            Some(p) if sends && recipient == WHOLE_CAMPAIGN => {
                p.so_far.judge_broadcast(p.recent, self.audience)
            }
            Some(p) if sends => {
                let facts = pace.unwrap_or_else(|| p.recent.facts(recipient));
                p.so_far.judge(p.recent, facts, p.capped, p.remember)
            }
            _ => None,
        };
        if let Some(paced) = paced {
            kind = match paced {
                Paced::Capped(_) => ActionKind::Capped,
                Paced::Wave(_) => ActionKind::Waiting,
            };
            sends = false;
            closes = None;
        }
        self.counts.add(kind, sends);
        if let Some(pricer) = &mut self.pricer {
            pricer.add(recipient, kind, sends);
        }
        // Only unchanged deliveries come without a request (see the judges in
        // `plan_campaign`): they are counted, not listed.
        let Some(request) = judged.request else {
            return Ok(());
        };
        let previous = match self.recorded.get(recipient) {
            None => None,
            Some(r) => Some(self.previous(recipient, r, kind)?),
        };
        // Verdicts are about unknown deliveries only (a plan file's are taken as written).
        let unknown = self
            .recorded
            .get(recipient)
            .is_some_and(|r| matches!(r.outcome, Outcome::Unknown | Outcome::InFlight));
        let reconciled = self
            .decisions
            .filter(|_| unknown)
            .and_then(|d| reconcile::lookup(d, self.round(0), recipient))
            .cloned();
        let action = Action {
            recipient: recipient.to_owned(),
            action: kind,
            sends,
            fingerprint: judged.fingerprint,
            request,
            previous,
            reconciled,
            window_opens: held.map(|h| h.opens),
            window_closes: closes,
            zone: held.map(|h| h.zone.name().to_owned()),
            capped_until: match paced {
                Some(Paced::Capped(until)) => Some(until),
                _ => None,
            },
            wave_opens: match paced {
                Some(Paced::Wave(opens)) => Some(opens),
                _ => None,
            },
        };
        self.counts.add_reconciled(&action);
        self.counts.add_pacing(&action);
        if let Some(held) = held {
            self.counts.add_window(held.opens);
        }
        sink.action(&action)?;
        Ok(())
    }

    /// What state held, with details for the first actions of each kind.
    fn previous(
        &mut self,
        recipient: &str,
        recorded: &Recorded,
        kind: ActionKind,
    ) -> Result<Previous, Failure> {
        let mut previous = Previous {
            outcome: recorded.outcome,
            fingerprint: recorded.fingerprint,
            at: None,
            api_code: None,
            detail: None,
            request: None,
        };
        let seen = self.detailed.entry(kind).or_default();
        *seen += 1;
        let seen = *seen;
        if seen > DETAILED_PER_KIND {
            return Ok(previous);
        }
        let recorded_as = self.round(self.recorded.name_of(recipient));
        if let Some(delivery) = self.store.delivery(recorded_as, recipient)? {
            previous.at = Some(delivery.at);
            previous.api_code = delivery.api_code;
            if matches!(kind, ActionKind::Retry | ActionKind::Unknown) {
                previous.detail = delivery.detail;
            }
            // A request `state prune` dropped reads as none: the action is shown without a diff.
            if kind == ActionKind::Changed && seen <= DIFFED_PER_CAMPAIGN {
                previous.request = serde_json::from_str(&delivery.request).ok();
            }
        }
        Ok(previous)
    }
}
