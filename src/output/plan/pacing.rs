//! The words for pacing in a plan's views: the frequency cap and the messaging limit the plan
//! keeps (and where herald.yaml sets them), how many of a campaign's recipients each holds back
//! and until when, and why one recipient is held. Times show in UTC and in herald.yaml's
//! `timezone:`.

use super::describe::clean;
use super::window::with_zone;
use crate::plan::{Action, Counts, Header};

/// The header's lines about pacing: `Frequency cap: at most 2 marketing messages per
/// recipient in any 7d (set at herald.yaml:30:3).` and `Messaging limit: …`.
pub(super) fn header_lines(header: &Header) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(cap) = &header.frequency_cap {
        let categories: Vec<&str> = cap.categories.iter().map(|c| c.as_str()).collect();
        lines.push(format!(
            "Frequency cap: at most {} {} {} per recipient in any {} (set at {}).",
            cap.max,
            categories.join(" or "),
            if cap.max == 1 { "message" } else { "messages" },
            clean(&cap.per),
            clean(&cap.set_at)
        ));
    }
    if let Some(limit) = &header.messaging_limit {
        lines.push(format!(
            "Messaging limit: {} unique recipients per 24 h (set at {}); state shows {} reached \
             in the last 24 h, {} left.",
            limit.limit,
            clean(&limit.set_at),
            limit.used,
            limit.limit.saturating_sub(limit.used)
        ));
    }
    lines
}

/// `3 capped, the first under the cap again …; 2 wait for the messaging limit's next wave,
/// from …`, for a campaign that pacing held back.
pub(super) fn campaign_line(counts: &Counts, zone: Option<&str>) -> Option<String> {
    let mut parts = Vec::new();
    if counts.capped > 0 {
        let mut part = format!("{} at the frequency cap", counts.capped);
        if let Some(until) = counts.capped_until {
            part.push_str(&format!(
                ", the first under it again {}",
                with_zone(until, zone)
            ));
        }
        parts.push(part);
    }
    if let Some(part) = wave_part(counts, zone) {
        parts.push(part);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `2 wait for the messaging limit's next wave, from …`.
fn wave_part(counts: &Counts, zone: Option<&str>) -> Option<String> {
    if counts.wave_waiting == 0 {
        return None;
    }
    let n = counts.wave_waiting;
    let mut part = format!(
        "{n} {} for the messaging limit's next wave",
        if n == 1 { "waits" } else { "wait" }
    );
    if let Some(opens) = counts.wave_opens {
        part.push_str(&format!(", from {}", with_zone(opens, zone)));
    }
    Some(part)
}

/// Why pacing holds one recipient back.
pub(super) fn action_note(action: &Action, zone: Option<&str>) -> Option<String> {
    if let Some(until) = action.capped_until {
        return Some(format!(
            "at the frequency cap; under it again {}",
            with_zone(until, zone)
        ));
    }
    let opens = action.wave_opens?;
    Some(format!(
        "beyond the messaging limit; the next wave can go from {}",
        with_zone(opens, zone)
    ))
}

/// `2 for the messaging limit's next wave, from …`, for the totals' waiting count.
pub(super) fn totals_part(totals: &Counts) -> Option<String> {
    if totals.wave_waiting == 0 {
        return None;
    }
    let mut part = format!(
        "{} for the messaging limit's next wave",
        totals.wave_waiting
    );
    if let Some(opens) = totals.wave_opens {
        part.push_str(&format!(", from {opens}"));
    }
    Some(part)
}
