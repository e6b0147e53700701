//! The words for send windows in a plan's views: the window a campaign keeps and how many of
//! its recipients wait for it, why one recipient waits and when their window opens (in their
//! own time and in UTC), and the totals' share of waiting deliveries held by windows.

use jiff::Timestamp;

use super::describe::clean;
use crate::model::Day;
use crate::plan::{Action, Campaign, Counts};

/// `window 09:00-20:00 mon–sat, each recipient's local time (set at campaigns/x.yaml:9:5): 3
/// wait for it, the first opens 2026-12-02T03:30:00Z (Wed 02 Dec 09:00 Asia/Kolkata)`.
pub(super) fn campaign_line(campaign: &Campaign, counts: &Counts) -> Option<String> {
    let window = campaign.window.as_ref()?;
    let mut line = format!(
        "window {} {}, each recipient's local time (set at {})",
        clean(&window.hours),
        days(&window.days),
        clean(&window.set_at)
    );
    if counts.window_waiting > 0 {
        let n = counts.window_waiting;
        let who = if n == 1 {
            "recipient waits"
        } else {
            "recipients wait"
        };
        line.push_str(&format!(": {n} {who} for it"));
        if let Some(opens) = counts.window_opens {
            line.push_str(&format!(
                ", the first opens {}",
                with_zone(opens, window.timezone.as_deref())
            ));
        }
    }
    Some(line)
}

/// Why a waiting action waits for its window: `outside their window in Europe/London; it opens
/// Wed 02 Dec 09:00 there, 2026-12-02T09:00:00Z`.
pub(super) fn action_note(action: &Action) -> Option<String> {
    let opens = action.window_opens?;
    let zone = action.zone.as_deref().unwrap_or("UTC");
    Some(format!(
        "outside their window in {}; it opens {} there, {opens}",
        clean(zone),
        local(opens, zone).unwrap_or_else(|| opens.to_string())
    ))
}

/// `, 3 for their send window (the first opens …)`, for the totals' waiting count.
pub(super) fn totals_part(totals: &Counts) -> Option<String> {
    if totals.window_waiting == 0 {
        return None;
    }
    let mut part = format!("{} for their send window", totals.window_waiting);
    if let Some(opens) = totals.window_opens {
        part.push_str(&format!(", the first opens {opens}"));
    }
    Some(part)
}

/// A time in UTC, and in `zone` too when that is not UTC.
pub(super) fn with_zone(at: Timestamp, zone: Option<&str>) -> String {
    match zone.and_then(|z| local(at, z).map(|l| (z, l))) {
        Some((zone, local)) => format!("{at} ({local} {})", clean(zone)),
        None => at.to_string(),
    }
}

/// `Wed 02 Dec 09:00`: the wall-clock time in `zone` (from the bundled database).
fn local(at: Timestamp, zone: &str) -> Option<String> {
    let tz = crate::tz::zone(zone).ok()?;
    Some(
        at.to_zoned_datetime(tz)
            .strftime("%a %d %b %H:%M")
            .to_string(),
    )
}

/// `every day`, `mon–sat`, `mon, wed, fri`: runs of three days or more as ranges.
pub(super) fn days(days: &[Day]) -> String {
    let mut sorted = days.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() == Day::ALL.len() {
        return "every day".to_owned();
    }
    let mut runs: Vec<(Day, Day, usize)> = Vec::new();
    for day in sorted {
        match runs.last_mut() {
            Some((_, last, n)) if last.from_monday() + 1 == day.from_monday() => {
                *last = day;
                *n += 1;
            }
            _ => runs.push((day, day, 1)),
        }
    }
    let mut parts = Vec::new();
    for (first, last, n) in runs {
        match n {
            1 => parts.push(first.as_str().to_owned()),
            2 => parts.extend([first.as_str().to_owned(), last.as_str().to_owned()]),
            _ => parts.push(format!("{}–{}", first.as_str(), last.as_str())),
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_ranges() {
        assert_eq!(days(&Day::ALL), "every day");
        assert_eq!(days(&Day::ALL[..6]), "mon–sat");
        assert_eq!(days(&[Day::Fri, Day::Mon, Day::Wed]), "mon, wed, fri");
        assert_eq!(days(&[Day::Sat, Day::Sun]), "sat, sun");
    }

    #[test]
    fn times_show_in_the_zone_and_in_utc() {
        let at: Timestamp = "2026-12-02T03:30:00Z".parse().unwrap();
        assert_eq!(
            with_zone(at, Some("Asia/Kolkata")),
            "2026-12-02T03:30:00Z (Wed 02 Dec 09:00 Asia/Kolkata)"
        );
        assert_eq!(with_zone(at, None), "2026-12-02T03:30:00Z");
    }
}
