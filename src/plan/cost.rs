//! A plan's estimated cost: what the messages it sends cost at the project's rate card
//! ([`crate::pricing`]), per campaign ([`Pricer`], fed as the engine classifies deliveries)
//! and in all, and the header fields naming the card and the budget that priced it.
//!
//! What costs: a template message (`template`, `template_broadcast`) costs its template's
//! category's rate for the recipient's calling code, once per recipient it reaches. Text
//! broadcasts and API triggers are service messages, which WhatsApp allows only inside the
//! 24-hour customer-service window, where they are free: they cost nothing. Only messages the
//! plan sends cost; what `apply --resend-unknown` would add is kept apart, so the budget can be
//! checked for that apply too.

use serde::{Deserialize, Serialize};

use super::safety::Cap;
use super::{ActionKind, Campaign, Counts};
use crate::model::Category;
use crate::pricing::{Money, RateCard};
use crate::render::Prepared;
use crate::state::WHOLE_CAMPAIGN;
use crate::validate::Catalog;

/// The rate card that priced a plan (`header.pricing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// The currency of every amount in the plan.
    pub currency: String,
    /// When the rates were published.
    pub published: String,
    /// Where the rates come from, if the card says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Pricing {
    /// The header's description of a rate card.
    pub fn of(card: &RateCard) -> Pricing {
        Pricing {
            currency: card.currency.clone(),
            published: card.published.clone(),
            source: card.source.clone(),
        }
    }
}

/// `budget:` of herald.yaml, as the plan carries it (`header.budget`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// `budget.max_per_apply`: the most one apply may cost, in the plan's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_apply: Option<Cap<Money>>,
}

impl Budget {
    /// Whether no budget is set.
    pub fn is_empty(&self) -> bool {
        self.max_per_apply.is_none()
    }
}

/// What a campaign's messages cost, or a whole plan's (a campaign's and the plan's `cost`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// The estimated cost of the messages the plan sends.
    pub amount: Money,
    /// The rate card's currency.
    pub currency: String,
    /// The category a template campaign's messages are priced at; absent for service
    /// messages (which cost nothing) and for the plan's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Messages the plan sends to phones no rate covers: not in `amount`.
    pub unpriced: u64,
    /// What `apply --resend-unknown` would add: the unknown deliveries, priced alike.
    #[serde(default, skip_serializing_if = "Money::is_zero")]
    pub resend_unknown: Money,
}

impl Cost {
    /// Nothing, in `currency`.
    pub fn zero(currency: &str) -> Cost {
        Cost {
            amount: Money::ZERO,
            currency: currency.to_owned(),
            category: None,
            unpriced: 0,
            resend_unknown: Money::ZERO,
        }
    }

    /// Adds a campaign's cost to a total (which has no category).
    pub fn add(&mut self, other: &Cost) {
        self.amount = self.amount.plus(other.amount);
        self.unpriced = self.unpriced.saturating_add(other.unpriced);
        self.resend_unknown = self.resend_unknown.plus(other.resend_unknown);
    }

    /// What an apply would spend: the plan's messages, and the unknown deliveries too under
    /// `--resend-unknown`.
    pub fn spent(&self, resend_unknown: bool) -> Money {
        if resend_unknown {
            self.amount.plus(self.resend_unknown)
        } else {
            self.amount
        }
    }
}

/// Prices one campaign's deliveries as they are classified.
pub(crate) struct Pricer<'a> {
    card: &'a RateCard,
    /// `None`: service messages, free.
    category: Option<Category>,
    /// A broadcast's one delivery reaches its whole audience: its price and unpriced phones,
    /// worked out once.
    whole: Option<(Money, u64)>,
    cost: Cost,
}

impl<'a> Pricer<'a> {
    /// A pricer for a campaign sending `category` templates (`None`: not a template) to the
    /// phones of its audience, one delivery each or, when `whole_audience`, one for them all.
    pub(crate) fn new<'p>(
        card: &'a RateCard,
        category: Option<Category>,
        whole_audience: bool,
        audience: impl Iterator<Item = &'p str>,
    ) -> Pricer<'a> {
        let whole = match category {
            Some(category) if whole_audience => {
                let rates = audience.map(|phone| card.rate(phone, category));
                Some(
                    rates.fold((Money::ZERO, 0), |(sum, unpriced), rate| match rate {
                        Some(rate) => (sum.plus(rate), unpriced),
                        None => (sum, unpriced + 1),
                    }),
                )
            }
            _ => None,
        };
        let mut cost = Cost::zero(&card.currency);
        cost.category = category;
        Pricer {
            card,
            category,
            whole,
            cost,
        }
    }

    /// Prices one delivery: a sent one into the cost, an unknown one into what
    /// `--resend-unknown` would add.
    pub(crate) fn add(&mut self, recipient: &str, kind: ActionKind, sends: bool) {
        let Some(category) = self.category else {
            return;
        };
        if !sends && kind != ActionKind::Unknown {
            return;
        }
        let (amount, unpriced) = match self.whole {
            Some(whole) if recipient == WHOLE_CAMPAIGN => whole,
            _ => match self.card.rate(recipient, category) {
                Some(rate) => (rate, 0),
                None => (Money::ZERO, 1),
            },
        };
        if sends {
            self.cost.amount = self.cost.amount.plus(amount);
            self.cost.unpriced += unpriced;
        } else {
            self.cost.resend_unknown = self.cost.resend_unknown.plus(amount);
        }
    }

    /// The campaign's cost.
    pub(crate) fn finish(self) -> Cost {
        self.cost
    }
}

/// The pricer of a prepared campaign, when the project has a rate card. A campaign sending a
/// template is priced at its template's category; any other is service messages.
pub(crate) fn pricer<'a>(catalog: &'a Catalog, p: &Prepared<'_>) -> Option<Pricer<'a>> {
    let card = catalog.pricing.as_ref()?;
    let category = super::pacing::template_category(catalog, &p.item.value);
    let phones = p.audience.recipients.iter().map(|r| &*r.phone);
    let whole_audience = !p.render.message.per_recipient();
    Some(Pricer::new(card, category, whole_audience, phones))
}

/// Why a campaign's `cost` in a plan file cannot be right, if it cannot: it must be there
/// exactly when the plan is priced, in the plan's currency, nothing for service messages, and
/// no more messages unpriced than the campaign sends. (Amounts themselves are checked by
/// apply, which plans again and compares byte for byte.)
pub(crate) fn misfit(
    pricing: Option<&Pricing>,
    campaign: &Campaign,
    counts: &Counts,
    cost: Option<&Cost>,
) -> Option<String> {
    let name = &campaign.name;
    let (pricing, cost) = match (pricing, cost) {
        (None, None) => return None,
        (Some(pricing), Some(cost)) => (pricing, cost),
        (Some(_), None) => return Some(format!("campaign {name} has no cost in a priced plan")),
        (None, Some(_)) => return Some(format!("campaign {name} has a cost in an unpriced plan")),
    };
    if cost.currency != pricing.currency {
        return Some(format!(
            "campaign {name}'s cost is in {}, the plan's in {}",
            cost.currency, pricing.currency
        ));
    }
    let free = cost.amount.is_zero() && cost.unpriced == 0 && cost.resend_unknown.is_zero();
    if campaign.template.is_none() && !free {
        return Some(format!(
            "campaign {name} sends no template, yet costs something"
        ));
    }
    if cost.unpriced > campaign.messages(counts.requests) {
        return Some(format!(
            "campaign {name} has more unpriced messages than it sends"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::Rates;

    fn card() -> RateCard {
        let rates = |m: u64, u: u64| Rates {
            marketing: Money::from_millionths(m),
            utility: Money::from_millionths(u),
            authentication: Money::from_millionths(u),
        };
        let keys = [("91", rates(10_700, 1_400)), ("1", rates(25_000, 4_000))];
        let rates = keys.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect();
        RateCard::new("USD".into(), "2025-07-01".into(), None, rates)
    }

    #[test]
    fn only_what_is_sent_costs_and_unknowns_are_kept_apart() {
        let card = card();
        let mut pricer = Pricer::new(&card, Some(Category::Utility), false, std::iter::empty());
        pricer.add("+919019486731", ActionKind::Send, true);
        pricer.add("+14155552671", ActionKind::Retry, true);
        pricer.add("+447700900123", ActionKind::Send, true);
        pricer.add("+919178921978", ActionKind::Waiting, false);
        pricer.add("+919845012345", ActionKind::Changed, false);
        pricer.add("+919845012346", ActionKind::Unknown, false);
        let cost = pricer.finish();
        assert_eq!(cost.amount, Money::from_millionths(5_400));
        assert_eq!(cost.unpriced, 1);
        assert_eq!(cost.resend_unknown, Money::from_millionths(1_400));
        assert_eq!(cost.category, Some(Category::Utility));
        assert_eq!(cost.spent(true), Money::from_millionths(6_800));
    }

    #[test]
    fn a_broadcast_costs_once_per_recipient() {
        let card = card();
        let audience = ["+919019486731", "+14155552671", "+447700900123"];
        let mut pricer = Pricer::new(&card, Some(Category::Marketing), true, audience.into_iter());
        pricer.add(WHOLE_CAMPAIGN, ActionKind::Send, true);
        let cost = pricer.finish();
        assert_eq!(cost.amount, Money::from_millionths(35_700));
        assert_eq!(cost.unpriced, 1);
    }

    #[test]
    fn service_messages_are_free() {
        let card = card();
        let mut pricer = Pricer::new(&card, None, true, ["+919019486731"].into_iter());
        pricer.add(WHOLE_CAMPAIGN, ActionKind::Send, true);
        let cost = pricer.finish();
        assert_eq!(cost, Cost::zero("USD"));
        assert_eq!(
            serde_json::to_string(&cost).unwrap(),
            r#"{"amount":"0.00","currency":"USD","unpriced":0}"#
        );
    }
}
