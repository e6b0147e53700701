//! [`Checker`]: what a plan read back must hold together, whatever format it was read from.
//!
//! A plan file is the reviewed artifact, so reading one also checks that it is whole and
//! consistent: each campaign's counts match the actions it lists, the totals (counts and
//! cost) match the campaigns, a priced plan prices every campaign, a budget comes with a rate
//! card, and no action claims what its kind never does (a `waiting` action that sends, a
//! window time on an action that is not waiting). The readers ([`super::file`],
//! [`super::json`]) feed every item through one checker before passing it on; a truncated or
//! edited plan is refused before its sink sees the item that gives it away.

use super::cost::{self, Cost};
use super::file::error::{PlanFileError, damaged};
use super::{Action, ActionKind, Campaign, Counts, Header};
use crate::model::OnChange;

/// Follows a plan as it is read; each call says whether the plan still holds together.
#[derive(Debug, Default)]
pub(super) struct Checker {
    /// The header's rate card, once the header is read.
    pricing: Option<Option<cost::Pricing>>,
    /// The campaign being read and what its actions add up to.
    campaign: Option<(Campaign, Counts)>,
    /// What the campaigns read so far add up to.
    totals: Counts,
    /// What their costs add up to, in a priced plan.
    cost: Option<Cost>,
    /// Whether the plan has ended.
    ended: bool,
}

impl Checker {
    /// A plan about to be read.
    pub(super) fn new() -> Checker {
        Checker::default()
    }

    /// The plan's header.
    pub(super) fn header(&mut self, header: &Header) -> Result<(), PlanFileError> {
        if self.pricing.is_some() {
            return Err(damaged("it has a second header"));
        }
        // A budget is checked against the cost, which needs a rate card.
        if header.budget.max_per_apply.is_some() && header.pricing.is_none() {
            return Err(damaged("it has a budget but no rate card to price it with"));
        }
        self.cost = header.pricing.as_ref().map(|p| Cost::zero(&p.currency));
        self.pricing = Some(header.pricing.clone());
        Ok(())
    }

    /// A campaign starts.
    pub(super) fn campaign(&mut self, campaign: &Campaign) -> Result<(), PlanFileError> {
        self.in_plan("a campaign")?;
        if let Some((open, _)) = &self.campaign {
            let detail = format!(
                "campaign {} starts before {} ends",
                campaign.name, open.name
            );
            return Err(damaged(detail));
        }
        self.campaign = Some((campaign.clone(), Counts::default()));
        Ok(())
    }

    /// One action of the current campaign.
    pub(super) fn action(&mut self, action: &Action) -> Result<(), PlanFileError> {
        let Some((campaign, tally)) = self.campaign.as_mut() else {
            return Err(damaged(format!(
                "an action for {} is outside any campaign",
                action.recipient
            )));
        };
        let claim = if action.action == ActionKind::Unchanged {
            Some("is listed, which unchanged deliveries never are")
        } else if action.sends && !may_send(campaign, action.action) {
            Some("sends")
        } else if action.window_opens.is_some() && action.action != ActionKind::Waiting {
            Some("waits for its window")
        } else if action.wave_opens.is_some() && action.action != ActionKind::Waiting {
            Some("waits for the messaging limit's next wave")
        } else if action.capped_until.is_some() != (action.action == ActionKind::Capped) {
            Some("is capped, or not, against its kind")
        } else {
            None
        };
        if let Some(claim) = claim {
            return Err(damaged(format!(
                "campaign {}: a `{}` action for {} says it {claim}",
                campaign.name,
                action.action.as_str(),
                action.recipient
            )));
        }
        tally.add(action.action, action.sends);
        tally.add_reconciled(action);
        if let Some(opens) = action.window_opens {
            tally.add_window(opens);
        }
        tally.add_pacing(action);
        Ok(())
    }

    /// The current campaign ends with the counts and cost it declares.
    pub(super) fn end_campaign(
        &mut self,
        declared: &Counts,
        cost: Option<&Cost>,
    ) -> Result<(), PlanFileError> {
        let Some((campaign, mut listed)) = self.campaign.take() else {
            return Err(damaged("a campaign's counts come before the campaign"));
        };
        // Unchanged deliveries are counted, never listed.
        listed.unchanged = declared.unchanged;
        if listed != *declared {
            return Err(damaged(format!(
                "campaign {}'s counts differ from the actions it lists ({} of them send, its counts say {})",
                campaign.name, listed.requests, declared.requests
            )));
        }
        let pricing = self.pricing.as_ref().and_then(Option::as_ref);
        if let Some(detail) = cost::misfit(pricing, &campaign, declared, cost) {
            return Err(damaged(detail));
        }
        self.totals.merge(declared);
        if let (Some(total), Some(cost)) = (self.cost.as_mut(), cost) {
            total.add(cost);
        }
        Ok(())
    }

    /// The plan ends with the totals and cost it declares.
    pub(super) fn end(
        &mut self,
        declared: &Counts,
        cost: Option<&Cost>,
    ) -> Result<(), PlanFileError> {
        self.in_plan("the totals")?;
        if self.campaign.is_some() {
            return Err(damaged("it ends inside a campaign"));
        }
        if self.totals != *declared || self.cost.as_ref() != cost {
            return Err(damaged("its totals differ from the sum of its campaigns"));
        }
        self.ended = true;
        Ok(())
    }

    /// Whether the plan was read to its end.
    pub(super) fn ended(&self) -> bool {
        self.ended
    }

    /// Refuses `what` before the header or after the end.
    fn in_plan(&self, what: &str) -> Result<(), PlanFileError> {
        match (&self.pricing, self.ended) {
            (None, _) => Err(damaged(format!("{what} comes before the header"))),
            (Some(_), true) => Err(damaged(format!("{what} comes after the end"))),
            (Some(_), false) => Ok(()),
        }
    }
}

/// Whether an action of this kind may send (`plan::engine::classify` decides which do).
fn may_send(campaign: &Campaign, kind: ActionKind) -> bool {
    let by_kind = match kind {
        ActionKind::Send | ActionKind::Retry => true,
        ActionKind::Changed => campaign.on_change == OnChange::Resend,
        ActionKind::Unknown | ActionKind::Waiting | ActionKind::Capped | ActionKind::Unchanged => {
            false
        }
    };
    by_kind && campaign.due
}
