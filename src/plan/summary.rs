//! [`Summary`]: the part of a plan a person reads. Counts everything, keeps only the first
//! few actions of each kind per campaign, so showing a million-recipient plan costs little.

use std::io;

use super::cost::Cost;
use super::{Action, ActionKind, Campaign, Counts, Header, Sink};

/// Actions of each kind kept per campaign for previews and diffs.
pub(super) const SHOWN_PER_KIND: usize = 3;

/// A plan's header, campaigns, counts and a few actions of each kind.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The plan's header (`None` until the plan begins).
    pub header: Option<Header>,
    /// The campaigns, in plan order.
    pub campaigns: Vec<CampaignSummary>,
    /// All campaigns' counts.
    pub totals: Counts,
    /// The plan's estimated cost, when it is priced.
    pub cost: Option<Cost>,
}

/// One campaign of a [`Summary`].
#[derive(Debug, Clone)]
pub struct CampaignSummary {
    /// The campaign.
    pub campaign: Campaign,
    /// Its counts.
    pub counts: Counts,
    /// The first [`SHOWN_PER_KIND`] actions of each kind, in plan order.
    pub shown: Vec<Action>,
    /// Its estimated cost, when the plan is priced.
    pub cost: Option<Cost>,
}

impl Summary {
    /// The caps the plan breaks ([`super::safety`]).
    pub fn breaches(&self) -> Vec<super::safety::Breach> {
        let Some(header) = &self.header else {
            return Vec::new();
        };
        let tally: super::safety::Tally = self
            .campaigns
            .iter()
            .map(|c| (&c.campaign, &c.counts))
            .collect();
        super::safety::breaches(header, &tally, self.cost.as_ref(), false)
    }
}

impl CampaignSummary {
    /// The kept actions of one kind.
    pub fn shown(&self, kind: ActionKind) -> impl Iterator<Item = &Action> {
        self.shown.iter().filter(move |a| a.action == kind)
    }
}

impl Sink for Summary {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = Some(header.clone());
        Ok(())
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.campaigns.push(CampaignSummary {
            campaign: campaign.clone(),
            counts: Counts::default(),
            shown: Vec::new(),
            cost: None,
        });
        Ok(())
    }

    fn action(&mut self, action: &Action) -> io::Result<()> {
        if let Some(current) = self.campaigns.last_mut() {
            let kept = current
                .shown
                .iter()
                .filter(|a| a.action == action.action)
                .count();
            if kept < SHOWN_PER_KIND {
                current.shown.push(action.clone());
            }
        }
        Ok(())
    }

    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        if let Some(current) = self.campaigns.last_mut() {
            current.counts = *counts;
            current.cost = cost.cloned();
        }
        Ok(())
    }

    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.totals = *totals;
        self.cost = cost.cloned();
        Ok(())
    }
}
