//! The safety rails' caps: how many messages one apply may send, in all and per campaign, how
//! much of an audience `on_change: resend` may message again, and what one apply may cost
//! (`budget:`). A plan that breaks one is shown in full but marked unsafe; apply refuses it
//! unless given `--force`.
//!
//! The caps travel in the plan (the project's in its header, a campaign's in the campaign),
//! with where they are set, so every view of a plan, a saved one included, finds the same
//! breaches from the plan alone ([`breaches`], [`Tally`]).

use serde::{Deserialize, Serialize};

use super::cost::Cost;
use super::{Campaign, Counts, Header};
use crate::model::OnChange;
use crate::pricing::Money;

/// A cap as the files set it, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cap<T> {
    /// Its value.
    pub limit: T,
    /// Where it is set: `file:line:column`.
    pub set_at: String,
}

/// The project's caps (`safety:` of herald.yaml).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Caps {
    /// `safety.max_sends`: messages one apply may send in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sends: Option<Cap<u64>>,
    /// `safety.max_changed_share`: the share of a campaign's audience `on_change: resend`
    /// may message again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changed_share: Option<Cap<f64>>,
}

impl Caps {
    /// Whether no cap is set.
    pub fn is_empty(&self) -> bool {
        self.max_sends.is_none() && self.max_changed_share.is_none()
    }
}

/// A cap a plan breaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cap", rename_all = "snake_case")]
pub enum Breach {
    /// `safety.max_sends`: the whole apply sends more messages.
    MaxSends {
        /// The cap.
        limit: u64,
        /// Where it is set.
        set_at: String,
        /// Messages the plan sends.
        messages: u64,
    },
    /// A campaign's own `max_sends`.
    CampaignMaxSends {
        /// The campaign.
        campaign: String,
        /// The cap.
        limit: u64,
        /// Where it is set.
        set_at: String,
        /// Messages the plan sends for the campaign.
        messages: u64,
    },
    /// `safety.max_changed_share`: a changed message re-sent to more of an audience.
    MaxChangedShare {
        /// The campaign.
        campaign: String,
        /// The cap, a share of the audience.
        limit: f64,
        /// Where it is set.
        set_at: String,
        /// Recipients the changed message is sent to again.
        changed: u64,
        /// The campaign's recipients.
        audience: u64,
    },
    /// `budget.max_per_apply`: the whole apply is estimated to cost more.
    MaxCostPerApply {
        /// The budget.
        limit: Money,
        /// Its currency (the rate card's).
        currency: String,
        /// Where it is set.
        set_at: String,
        /// The plan's estimated cost.
        cost: Money,
    },
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breach::MaxSends {
                limit,
                set_at,
                messages,
            } => write!(
                f,
                "this plan sends {messages} messages; safety.max_sends is {limit} ({set_at})"
            ),
            Breach::CampaignMaxSends {
                campaign,
                limit,
                set_at,
                messages,
            } => write!(
                f,
                "campaign {campaign} sends {messages} messages; its max_sends is {limit} ({set_at})"
            ),
            Breach::MaxChangedShare {
                campaign,
                limit,
                set_at,
                changed,
                audience,
            } => write!(
                f,
                "campaign {campaign} sends a changed message again to {changed} of its \
                 {audience} recipients ({:.0}%); safety.max_changed_share is {limit} ({set_at})",
                100.0 * *changed as f64 / (*audience).max(1) as f64
            ),
            Breach::MaxCostPerApply {
                limit,
                currency,
                set_at,
                cost,
            } => write!(
                f,
                "this plan costs an estimated {cost} {currency}; budget.max_per_apply is \
                 {limit} {currency} ({set_at})"
            ),
        }
    }
}

/// Every cap a plan breaks: the project's and its campaigns' caps (`tally`), then the budget
/// against the plan's total `cost`. `resend_unknown`: apply also sends the unknown deliveries
/// (`apply --resend-unknown`), which count as messages and cost.
pub fn breaches(
    header: &Header,
    tally: &Tally,
    cost: Option<&Cost>,
    resend_unknown: bool,
) -> Vec<Breach> {
    let mut breaches = tally.breaches(&header.safety, resend_unknown);
    if let (Some(cap), Some(cost)) = (&header.budget.max_per_apply, cost) {
        let spent = cost.spent(resend_unknown);
        if spent > cap.limit {
            breaches.push(Breach::MaxCostPerApply {
                limit: cap.limit,
                currency: cost.currency.clone(),
                set_at: cap.set_at.clone(),
                cost: spent,
            });
        }
    }
    breaches
}

/// What the caps need of one campaign.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    /// Messages one request delivers: a broadcast's reaches its whole audience.
    per_request: u64,
    recipients: u64,
    resend: bool,
    max_sends: Option<Cap<u64>>,
    counts: Counts,
}

/// A plan's campaigns as the caps see them, fed as the plan streams by.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    entries: Vec<Entry>,
}

impl<'a> FromIterator<(&'a Campaign, &'a Counts)> for Tally {
    fn from_iter<I: IntoIterator<Item = (&'a Campaign, &'a Counts)>>(campaigns: I) -> Tally {
        let mut tally = Tally::default();
        for (campaign, counts) in campaigns {
            tally.campaign(campaign);
            tally.end_campaign(counts);
        }
        tally
    }
}

impl Tally {
    /// A campaign starts.
    pub fn campaign(&mut self, campaign: &Campaign) {
        self.entries.push(Entry {
            name: campaign.name.clone(),
            per_request: campaign.messages(1),
            recipients: campaign.recipients,
            resend: campaign.on_change == OnChange::Resend,
            max_sends: campaign.max_sends.clone(),
            counts: Counts::default(),
        });
    }

    /// The current campaign ends with these counts.
    pub fn end_campaign(&mut self, counts: &Counts) {
        if let Some(entry) = self.entries.last_mut() {
            entry.counts = *counts;
        }
    }

    /// The caps the plan breaks; `resend_unknown`: apply also sends the unknown deliveries.
    pub fn breaches(&self, caps: &Caps, resend_unknown: bool) -> Vec<Breach> {
        let mut breaches = Vec::new();
        let mut total = 0u64;
        for entry in &self.entries {
            let per_request = entry.per_request;
            let messages = entry
                .counts
                .planned(resend_unknown)
                .saturating_mul(per_request);
            total = total.saturating_add(messages);
            if let Some(cap) = &entry.max_sends
                && messages > cap.limit
            {
                breaches.push(Breach::CampaignMaxSends {
                    campaign: entry.name.clone(),
                    limit: cap.limit,
                    set_at: cap.set_at.clone(),
                    messages,
                });
            }
            let changed = if entry.resend {
                entry.counts.changed.saturating_mul(per_request)
            } else {
                0
            };
            if let Some(cap) = &caps.max_changed_share
                && changed > 0
                && changed as f64 > cap.limit * entry.recipients as f64
            {
                breaches.push(Breach::MaxChangedShare {
                    campaign: entry.name.clone(),
                    limit: cap.limit,
                    set_at: cap.set_at.clone(),
                    changed,
                    audience: entry.recipients,
                });
            }
        }
        if let Some(cap) = &caps.max_sends
            && total > cap.limit
        {
            breaches.insert(
                0,
                Breach::MaxSends {
                    limit: cap.limit,
                    set_at: cap.set_at.clone(),
                    messages: total,
                },
            );
        }
        breaches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ActionKind;

    fn campaign(name: &str, send: &str, recipients: u64, on_change: OnChange) -> Campaign {
        Campaign {
            recipients,
            on_change,
            ..Campaign::bare(name, send)
        }
    }

    fn counts(send: u64, changed: u64, resend: bool) -> Counts {
        let mut counts = Counts::default();
        (0..send).for_each(|_| counts.add(ActionKind::Send, true));
        (0..changed).for_each(|_| counts.add(ActionKind::Changed, resend));
        counts
    }

    fn cap<T>(limit: T) -> Option<Cap<T>> {
        Some(Cap {
            limit,
            set_at: "herald.yaml:3:14".to_owned(),
        })
    }

    fn tally(campaigns: &[(Campaign, Counts)]) -> Tally {
        campaigns.iter().map(|(c, n)| (c, n)).collect()
    }

    #[test]
    fn a_broadcast_counts_every_person_it_reaches() {
        let plan = tally(&[
            (
                campaign("b", "broadcast", 5_000, OnChange::Keep),
                counts(1, 0, false),
            ),
            (
                campaign("t", "template", 10, OnChange::Keep),
                counts(10, 0, false),
            ),
        ]);
        let caps = Caps {
            max_sends: cap(5_009),
            max_changed_share: None,
        };
        let breaches = plan.breaches(&caps, false);
        assert_eq!(
            breaches,
            vec![Breach::MaxSends {
                limit: 5_009,
                set_at: "herald.yaml:3:14".to_owned(),
                messages: 5_010
            }]
        );
        let caps = Caps {
            max_sends: cap(5_010),
            max_changed_share: None,
        };
        assert!(plan.breaches(&caps, false).is_empty());
    }

    #[test]
    fn a_campaign_cap_is_its_own() {
        let mut capped = campaign("t", "template", 100, OnChange::Keep);
        capped.max_sends = cap(99);
        let plan = tally(&[(capped, counts(100, 0, false))]);
        let breaches = plan.breaches(&Caps::default(), false);
        assert!(matches!(
            breaches.as_slice(),
            [Breach::CampaignMaxSends {
                messages: 100,
                limit: 99,
                ..
            }]
        ));
    }

    #[test]
    fn the_budget_counts_what_resend_unknown_adds() {
        let header: Header = serde_json::from_value(serde_json::json!({
            "herald_version": "0.1.0",
            "created_at": "2026-12-02T00:00:00Z",
            "environment": null,
            "target": {"base_url": "http://127.0.0.1:1", "customer_id": 1, "bot_key": "b"},
            "state_serial": 0,
            "inputs_hash": "0",
            "pricing": {"currency": "USD", "published": "2025-07-01"},
            "budget": {"max_per_apply": {"limit": "0.10", "set_at": "herald.yaml:21:18"}},
        }))
        .unwrap();
        let cost = Cost {
            amount: Money::parse("0.08").unwrap(),
            resend_unknown: Money::parse("0.03").unwrap(),
            ..Cost::zero("USD")
        };
        let plan = Tally::default();
        assert!(breaches(&header, &plan, Some(&cost), false).is_empty());
        assert_eq!(
            breaches(&header, &plan, Some(&cost), true),
            vec![Breach::MaxCostPerApply {
                limit: Money::parse("0.1").unwrap(),
                currency: "USD".to_owned(),
                set_at: "herald.yaml:21:18".to_owned(),
                cost: Money::parse("0.11").unwrap(),
            }]
        );
    }

    #[test]
    fn the_changed_share_counts_only_resends() {
        let caps = Caps {
            max_sends: None,
            max_changed_share: cap(0.3),
        };
        let at = |changed, on_change| {
            let c = campaign("t", "template", 100, on_change);
            tally(&[(c, counts(0, changed, on_change == OnChange::Resend))]).breaches(&caps, false)
        };
        assert!(at(30, OnChange::Resend).is_empty(), "30% is within 0.3");
        assert!(matches!(
            at(31, OnChange::Resend).as_slice(),
            [Breach::MaxChangedShare {
                changed: 31,
                audience: 100,
                ..
            }]
        ));
        assert!(
            at(100, OnChange::Keep).is_empty(),
            "keep sends nothing again"
        );
    }
}
