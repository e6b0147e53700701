//! The words the human and Markdown views of a plan share: the header line, a campaign's kind
//! and schedule, counts, totals, action markers and notes, the diff of a changed request, and
//! [`clean`], which keeps user text from carrying terminal escape codes into the output.

use std::time::Duration;

use similar::TextDiff;

use crate::engati::Request;
use crate::engati::api::status_meaning;
use crate::model::OnChange;
use crate::plan::{Action, ActionKind, Campaign, Counts, Header};
use crate::reconcile::Verdict;
use crate::state::WHOLE_CAMPAIGN;

/// The kinds that are listed action by action, in the order outputs list them.
pub(super) const LISTED: [ActionKind; 6] = [
    ActionKind::Send,
    ActionKind::Retry,
    ActionKind::Changed,
    ActionKind::Unknown,
    ActionKind::Waiting,
    ActionKind::Capped,
];

/// Lines of context around each change in a diff.
const DIFF_CONTEXT: usize = 2;
/// How long one diff may take before it settles for a coarser (still correct) result.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);

/// `Plan made <time>, environment <env>, state serial <n>.`
pub(super) fn header_line(header: &Header) -> String {
    let mut line = format!("Plan made {}", header.created_at);
    if let Some(env) = &header.environment {
        line.push_str(&format!(", environment {}", clean(env)));
    }
    line.push_str(&format!(", state serial {}.", header.state_serial));
    line
}

/// What a campaign sends: `template invoice_reminder`, `trigger`, `broadcast`,
/// `template broadcast invoice_reminder`.
pub(crate) fn kind(campaign: &Campaign) -> String {
    let name = campaign.template.as_ref().map(|t| clean(&t.name));
    match (campaign.send.as_str(), name) {
        ("template", Some(name)) => format!("template {name}"),
        ("template_broadcast", Some(name)) => format!("template broadcast {name}"),
        ("template_broadcast", None) => "template broadcast".to_owned(),
        (other, _) => clean(other),
    }
}

/// Whether a campaign is sent as one broadcast (Engati schedules it) rather than per recipient.
pub(super) fn is_broadcast(campaign: &Campaign) -> bool {
    campaign.whole_audience()
}

/// `due`, `waiting until <time>`, `publishes at <time>` or `publishes at apply`.
pub(crate) fn schedule(campaign: &Campaign) -> String {
    if let Some(late) = &campaign.late {
        let by = crate::words::duration(jiff::SignedDuration::from_secs(
            i64::try_from(late.seconds).unwrap_or(i64::MAX),
        ));
        return match late.then {
            crate::model::Late::Send => format!("late by {by}, late: send"),
            crate::model::Late::Skip => format!("late by {by}, late: skip"),
        };
    }
    if let Some(recurring) = &campaign.recurring {
        return recurring_schedule(campaign, recurring);
    }
    let shown = |at: jiff::Timestamp| written(campaign, at);
    match (is_broadcast(campaign), campaign.schedule) {
        (true, Some(at)) => format!("publishes at {}", shown(at)),
        (true, None) => "publishes at apply".to_owned(),
        (false, _) if campaign.due => "due".to_owned(),
        (false, Some(at)) => format!("waiting until {}", shown(at)),
        (false, None) => "waiting".to_owned(),
    }
}

/// `every "0 9 * * MON" (Asia/Kolkata): occurrence 2026-12-07T03:30:00Z due, next
/// 2026-12-14T03:30:00Z, 2 missed`.
fn recurring_schedule(campaign: &Campaign, recurring: &crate::plan::Recurring) -> String {
    let every = format!(
        "every \"{}\" ({})",
        clean(&recurring.cron),
        clean(&recurring.timezone)
    );
    if recurring.ended {
        return format!("{every}: ended, its last day has passed");
    }
    let mut text = match (campaign.occurrence, campaign.due) {
        (Some(at), true) => format!("{every}: occurrence {} due", written(campaign, at)),
        (Some(at), false) => format!(
            "{every}: waiting for the first occurrence, {}",
            written(campaign, at)
        ),
        (None, _) => every,
    };
    if campaign.due
        && let Some(next) = recurring.next
    {
        text.push_str(&format!(", next {next}"));
        if let Some(local) = wall_clock(next, &recurring.timezone) {
            text.push_str(&format!(" ({local})"));
        }
    }
    if recurring.missed > 0 {
        text.push_str(&format!(
            ", {} skipped",
            crate::words::count(recurring.missed, "missed occurrence")
        ));
    }
    text
}

/// `Sun 2027-04-04 01:30 Europe/London`: a recurring campaign's time in its zone, as the
/// occurrence shows it (`None` in UTC, where it would say the same again).
fn wall_clock(at: jiff::Timestamp, zone: &str) -> Option<String> {
    let tz = crate::tz::zone(zone).ok()?;
    if tz == jiff::tz::TimeZone::UTC {
        return None;
    }
    let local = at.to_zoned_datetime(tz);
    Some(format!(
        "{} {}",
        local.strftime("%a %Y-%m-%d %H:%M"),
        clean(zone)
    ))
}

/// The campaign's time in UTC, with the time as its file wrote it when that is not UTC:
/// `2026-12-01T03:30:00Z (2026-12-01 09:00 +05:30)`.
fn written(campaign: &Campaign, at: jiff::Timestamp) -> String {
    match &campaign.schedule_local {
        Some(local) => format!("{at} ({})", clean(local)),
        None => at.to_string(),
    }
}

/// `keep` or `resend`.
pub(crate) fn on_change(on_change: OnChange) -> &'static str {
    match on_change {
        OnChange::Keep => "keep",
        OnChange::Resend => "resend",
    }
}

/// The non-zero counts as `(kind, "3 send")`, in output order.
pub(super) fn count_parts(counts: &Counts) -> Vec<(ActionKind, String)> {
    ActionKind::ALL
        .iter()
        .filter(|&&k| counts.get(k) > 0)
        .map(|&k| (k, format!("{} {}", counts.get(k), k.as_str())))
        .collect()
}

/// `3 send, 2 unchanged`, or `no recipients`.
pub(super) fn counts(counts: &Counts) -> String {
    let parts = count_parts(counts);
    if parts.is_empty() {
        "no recipients".to_owned()
    } else {
        parts
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The closing line: what apply would do, or that there is nothing to do.
pub(super) fn totals(totals: &Counts) -> String {
    if !totals.has_changes() {
        return "No changes. Everything in the files has been sent.".to_owned();
    }
    let resent = totals
        .requests
        .saturating_sub(totals.send.saturating_add(totals.retry));
    let kept = totals.changed.saturating_sub(resent);
    let retries = if totals.retry == 1 {
        "retry"
    } else {
        "retries"
    };
    let mut line = format!(
        "Plan: {} to send ({} new, {} {retries}, {resent} changed), ",
        totals.requests, totals.send, totals.retry
    );
    if kept > 0 {
        line.push_str(&format!("{kept} changed kept, "));
    }
    let found = totals.reconciled.min(totals.unknown);
    if found > 0 {
        line.push_str(&format!(
            "{found} unknown found delivered (apply records them as sent), "
        ));
    }
    let held: Vec<String> = [
        super::window::totals_part(totals),
        super::pacing::totals_part(totals),
    ]
    .into_iter()
    .flatten()
    .collect();
    let held = if held.is_empty() {
        String::new()
    } else {
        format!(" ({})", held.join("; "))
    };
    let capped = if totals.capped > 0 {
        format!(", {} capped", totals.capped)
    } else {
        String::new()
    };
    line.push_str(&format!(
        "{} unknown left alone, {} waiting{held}{capped}, {} unchanged.",
        totals.unknown - found,
        totals.waiting,
        totals.unchanged
    ));
    line
}

/// `and 3 more to send`: the actions of a kind not shown.
pub(super) fn more(kind: ActionKind, n: u64) -> String {
    let what = match kind {
        ActionKind::Send => "to send",
        ActionKind::Retry => "to retry",
        other => other.as_str(),
    };
    format!("and {n} more {what}")
}

/// The marker of an action kind: `+ send`, `↻ retry`, ...
pub(super) fn marker(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Send => "+ send",
        ActionKind::Retry => "↻ retry",
        ActionKind::Changed => "~ changed",
        ActionKind::Unknown => "? unknown",
        ActionKind::Waiting => "… waiting",
        ActionKind::Capped => "‖ capped",
        ActionKind::Unchanged => "= unchanged",
    }
}

/// Who an action goes to: the phone, or the whole audience for a broadcast.
pub(super) fn recipient(campaign: &Campaign, action: &Action) -> String {
    if action.recipient == WHOLE_CAMPAIGN {
        let n = campaign.recipients;
        format!("whole audience ({n} recipient{})", crate::words::s(n))
    } else {
        clean(&action.recipient)
    }
}

/// What is worth knowing about an action beyond its kind, if anything.
pub(super) fn note(action: &Action, zone: Option<&str>) -> Option<String> {
    let previous = action.previous.as_ref();
    let at = previous.and_then(|p| p.at);
    if let Some(decision) = &action.reconciled {
        let why = clean(&decision.why);
        return Some(match decision.verdict {
            Verdict::Delivered => format!("reconciled: {why}; apply records it as sent"),
            Verdict::NotDelivered if action.sends => format!("was unknown; {why}; sent again"),
            Verdict::NotDelivered => {
                format!("was unknown; {why}; sent again once the campaign is due")
            }
            Verdict::Pending | Verdict::Unknowable => format!("unknown: {why}"),
            Verdict::Unchecked => format!("unknown, not reconciled: {why}"),
        });
    }
    if let Some(note) = super::window::action_note(action) {
        return Some(note);
    }
    if let Some(note) = super::pacing::action_note(action, zone) {
        return Some(note);
    }
    match action.action {
        ActionKind::Retry => {
            let mut note = "last attempt failed".to_owned();
            if let Some(code) = previous.and_then(|p| p.api_code) {
                let (name, _) = status_meaning(code);
                if name == "UNKNOWN" {
                    note.push_str(&format!(" with code {code}"));
                } else {
                    note.push_str(&format!(" with API code {code} {name}"));
                }
            }
            if let Some(at) = at {
                note.push_str(&format!(" at {at}"));
            }
            if let Some(detail) = previous.and_then(|p| p.detail.as_deref()) {
                note.push_str(&format!(": {}", clean(detail)));
            }
            Some(note)
        }
        ActionKind::Changed if action.sends => Some("resend".to_owned()),
        ActionKind::Changed => Some("kept: on_change keep".to_owned()),
        ActionKind::Unknown => Some(match at {
            Some(at) => format!("since {at}; never resent without --resend-unknown"),
            None => "never resent without --resend-unknown".to_owned(),
        }),
        _ => None,
    }
}

/// A unified diff (2 lines of context) of the request state recorded and the one planned now,
/// for changed actions that carry the previous request. Bodies are pretty-printed JSON; the
/// method, path and query lead when they differ.
pub(super) fn diff(action: &Action) -> Option<Vec<String>> {
    let previous = action.previous.as_ref()?;
    let before = previous.request.as_ref()?;
    let now = &action.request;
    let target =
        before.method != now.method || before.path != now.path || before.query != now.query;
    let old = request_text(before, target);
    let new = request_text(now, target);
    let old_header = match previous.at {
        Some(at) => format!("sent {at}"),
        None => "sent".to_owned(),
    };
    let lines = unified(&old, &new, &old_header, "now");
    if lines.is_empty() {
        // Different bytes, same JSON (a hand-edited plan, say).
        return Some(vec![format!(
            "{old_header}: the requests differ only in hidden values or JSON formatting"
        )]);
    }
    Some(lines)
}

/// A unified diff of two texts (2 lines of context), cleaned for printing; empty when they are
/// the same.
pub(crate) fn unified(old: &str, new: &str, old_header: &str, new_header: &str) -> Vec<String> {
    let text = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(DIFF_CONTEXT)
        .header(old_header, new_header)
        .to_string();
    text.lines().map(clean).collect()
}

/// A request as diffable text: its pretty-printed body, led by the method, path and query
/// when `target`.
pub(crate) fn request_text(request: &Request, target: bool) -> String {
    let mut text = String::new();
    if target {
        text.push_str(&format!("{} {}\n", request.method, request.path));
        for (name, value) in &request.query {
            text.push_str(&format!("query {name}={value}\n"));
        }
    }
    if let Some(body) = &request.body {
        let pretty = serde_json::from_str::<serde_json::Value>(body.get())
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| body.get().to_owned());
        text.push_str(&pretty);
        text.push('\n');
    }
    text
}

/// User text made safe to print: control characters (escape codes, carriage returns) are shown
/// escaped instead of acting on the terminal; tabs become spaces.
pub(crate) fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}
