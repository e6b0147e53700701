//! The words for a priced plan's cost, shared by the human and Markdown views: a campaign's
//! estimated cost under its counts, and the plan's in all beside the totals.

use crate::model::Category;
use crate::plan::cost::Cost;
use crate::plan::{Campaign, Counts, Summary};
use crate::words::count;

/// `estimated cost 0.0056 USD: 4 utility messages`, for under a campaign's counts.
pub(super) fn campaign_line(campaign: &Campaign, counts: &Counts, cost: &Cost) -> String {
    let currency = &cost.currency;
    let mut line = format!("estimated cost {} {currency}", cost.amount);
    let Some(category) = cost.category else {
        line.push_str(": service messages (not templates), free inside the 24-hour window");
        return line;
    };
    let messages = campaign.messages(counts.requests);
    if messages == 0 && counts.waiting > 0 {
        // Waiting messages cost when they are sent, in a later apply's plan.
        line.push_str(": nothing to send yet");
    } else if messages == 0 {
        line.push_str(": nothing to send");
    } else {
        let noun = format!("{} message", Category::as_str(category));
        line.push_str(&format!(": {}", count(messages, &noun)));
        if cost.unpriced > 0 {
            line.push_str(&format!(
                ", {} of them unpriced (no rate for the calling code)",
                cost.unpriced
            ));
        }
    }
    if !cost.resend_unknown.is_zero() {
        line.push_str(&format!(
            "; {} {currency} more with apply --resend-unknown",
            cost.resend_unknown
        ));
    }
    line
}

/// `Estimated cost: 0.0612 USD at the rates published 2025-07-01; budget 50.00 USD per
/// apply.`, when the plan is priced.
pub(super) fn total_line(summary: &Summary) -> Option<String> {
    let cost = summary.cost.as_ref()?;
    let currency = &cost.currency;
    let mut line = format!("Estimated cost: {} {currency}", cost.amount);
    if let Some(pricing) = summary.header.as_ref().and_then(|h| h.pricing.as_ref()) {
        line.push_str(&format!(" at the rates published {}", pricing.published));
    }
    if let Some(cap) = summary
        .header
        .as_ref()
        .and_then(|h| h.budget.max_per_apply.as_ref())
    {
        line.push_str(&format!("; budget {} {currency} per apply", cap.limit));
    }
    line.push('.');
    if cost.unpriced > 0 {
        line.push_str(&format!(
            " {} to calling codes without a rate not counted.",
            count(cost.unpriced, "message")
        ));
    }
    if !cost.resend_unknown.is_zero() {
        line.push_str(&format!(
            " apply --resend-unknown would add {} {currency}.",
            cost.resend_unknown
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::Money;

    fn cost(amount: u64, category: Option<Category>) -> Cost {
        Cost {
            amount: Money::from_millionths(amount),
            category,
            ..Cost::zero("USD")
        }
    }

    #[test]
    fn a_campaign_line_counts_messages_as_people_get_them() {
        let broadcast = Campaign {
            recipients: 3,
            ..Campaign::bare("offer", "template_broadcast")
        };
        let counts = Counts {
            send: 1,
            requests: 1,
            ..Counts::default()
        };
        let mut priced = cost(32_100, Some(Category::Marketing));
        priced.unpriced = 1;
        assert_eq!(
            campaign_line(&broadcast, &counts, &priced),
            "estimated cost 0.0321 USD: 3 marketing messages, 1 of them unpriced (no rate for \
             the calling code)"
        );
        let trigger = Campaign::bare("flow", "trigger");
        assert_eq!(
            campaign_line(&trigger, &counts, &cost(0, None)),
            "estimated cost 0.00 USD: service messages (not templates), free inside the 24-hour \
             window"
        );
        let mut waiting = cost(0, Some(Category::Utility));
        waiting.resend_unknown = Money::from_millionths(1_400);
        assert_eq!(
            campaign_line(
                &Campaign::bare("r", "template"),
                &Counts::default(),
                &waiting
            ),
            "estimated cost 0.00 USD: nothing to send; 0.0014 USD more with apply \
             --resend-unknown"
        );
    }
}
