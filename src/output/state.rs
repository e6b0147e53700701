//! The views of `herald state list` and `herald state show`: campaigns with their deliveries
//! counted by outcome, and one line per attempt (with the latest request for one recipient).

use std::fmt::Write as _;

use crate::state::{CampaignTotals, Delivery, WHOLE_CAMPAIGN};

/// A table of campaigns: sent, failed and unknown deliveries, and the latest attempt's time.
pub fn campaigns(campaigns: &[CampaignTotals]) -> String {
    let width = campaigns
        .iter()
        .map(|c| c.campaign.chars().count())
        .max()
        .unwrap_or(0)
        .max("campaign".len());
    let mut text = format!(
        "{:width$}  {:>9}  {:>9}  {:>9}  last attempt\n",
        "campaign", "sent", "failed", "unknown"
    );
    for c in campaigns {
        let _ = writeln!(
            text,
            "{:width$}  {:>9}  {:>9}  {:>9}  {}",
            c.campaign, c.sent, c.failed, c.unknown, c.last_at
        );
    }
    text
}

/// Every attempt, a line each; for one recipient (`with_request`), the latest request too.
pub fn history(history: &[Delivery], with_request: bool) -> String {
    let mut text = String::new();
    for d in history {
        let _ = writeln!(text, "{}", attempt_line(d));
    }
    if with_request && let Some(last) = history.last() {
        let pretty = serde_json::from_str::<serde_json::Value>(&last.request)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| last.request.clone());
        let _ = writeln!(text, "\nlatest request:\n{pretty}");
    }
    text
}

/// One attempt as a line: time, recipient, outcome, API code, fingerprint, apply, detail.
fn attempt_line(d: &Delivery) -> String {
    let recipient = if d.recipient == WHOLE_CAMPAIGN {
        "(whole audience)"
    } else {
        &d.recipient
    };
    let mut line = format!(
        "{}  {recipient}  {}  fingerprint {}  apply {}",
        d.at,
        d.outcome,
        d.fingerprint.short(),
        d.apply_id
    );
    if let Some(code) = d.api_code {
        let _ = write!(line, "  code {code}");
    }
    if let Some(detail) = &d.detail {
        let _ = write!(line, "  ({detail})");
    }
    line
}
