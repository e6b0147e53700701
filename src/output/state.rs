//! The views of `herald state list` and `herald state show`: campaigns with their deliveries
//! counted by outcome, the test messages apart from them, and one line per attempt (with the
//! latest request for one recipient).

use std::fmt::Write as _;

use crate::state::{CampaignTotals, Delivery, Operation, Outcome, TestSend, WHOLE_CAMPAIGN};

/// A table of campaigns: sent, failed and unknown deliveries, and the latest attempt's time.
pub fn campaigns(campaigns: &[CampaignTotals]) -> String {
    // A recurring campaign has a line per occurrence: `weekly-digest @ 2026-12-07T03:30:00Z`.
    let name = |c: &CampaignTotals| match c.occurrence {
        None => c.campaign.clone(),
        Some(at) => format!("{} @ {at}", c.campaign),
    };
    let width = campaigns
        .iter()
        .map(|c| name(c).chars().count())
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
            // To the second, as the other tables of `herald state`; JSON keeps the exact time.
            "{:width$}  {:>9}  {:>9}  {:>9}  {:.0}",
            name(c),
            c.sent,
            c.failed,
            c.unknown,
            c.last_at
        );
    }
    text
}

/// The test messages (`herald send`), apart from the deliveries: a titled table, one line each
/// (what went wrong after it, for those that failed or are unknown).
pub fn test_sends(sends: &[TestSend]) -> String {
    let outcome = |t: &TestSend| match t.outcome {
        // Left in flight by a run that was killed: it may or may not have been delivered.
        Outcome::InFlight => Outcome::Unknown.as_str(),
        other => other.as_str(),
    };
    let width = |title: &str, value: &dyn Fn(&TestSend) -> usize| {
        sends.iter().map(value).max().unwrap_or(0).max(title.len())
    };
    let at = width("sent at", &|t| seconds(t).len());
    let campaign = width("campaign", &|t| t.campaign.chars().count());
    let rendered_for = width("rendered for", &|t| t.rendered_for.len());
    let to = width("to", &|t| t.phone.len());
    let outcomes = width("outcome", &|t| outcome(t).len());
    let mut text = format!(
        "test messages (herald send; never deliveries of their campaigns):\n\
         {:at$}  {:campaign$}  {:rendered_for$}  {:to$}  {:outcomes$}  by\n",
        "sent at", "campaign", "rendered for", "to", "outcome"
    );
    for t in sends {
        let _ = write!(
            text,
            "{:at$}  {:campaign$}  {:rendered_for$}  {:to$}  {:outcomes$}  {}",
            seconds(t),
            t.campaign,
            t.rendered_for,
            t.phone,
            outcome(t),
            t.who
        );
        if let Some(code) = t.api_code.filter(|_| t.outcome != Outcome::Sent) {
            let _ = write!(text, "  code {code}");
        }
        if let Some(detail) = &t.detail {
            let _ = write!(text, "  ({detail})");
        }
        text.push('\n');
    }
    text
}

/// When a test message was sent, to the second.
fn seconds(t: &TestSend) -> String {
    format!("{:.0}", t.at)
}

/// Every attempt, a line each; for one recipient (`with_request`), the latest request too.
pub fn history(history: &[Delivery], with_request: bool) -> String {
    let mut text = String::new();
    for d in history {
        let _ = writeln!(text, "{}", attempt_line(d));
    }
    if with_request && let Some(last) = history.last() {
        if last.request_pruned() {
            let _ = writeln!(
                text,
                "\nlatest request: (request pruned by `herald state prune`)"
            );
            return text;
        }
        let pretty = serde_json::from_str::<serde_json::Value>(&last.request)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| last.request.clone());
        let _ = writeln!(text, "\nlatest request:\n{pretty}");
    }
    text
}

/// What `herald state prune` did (or, for a dry run, would do), and what it means for saved
/// plans and the file's size.
pub fn pruned(report: &crate::state::prune::Report) -> String {
    let size = crate::load::confine::human_bytes(report.pruned.bytes);
    let requests = crate::words::count(report.pruned.requests, "stored request");
    let before = report.before;
    let mut text = String::new();
    if report.pruned.requests == 0 {
        let _ = writeln!(
            text,
            "{}: no settled attempt recorded before {before} has a request left to prune; \
             nothing changed",
            report.state
        );
    } else if report.dry_run {
        let _ = writeln!(
            text,
            "{}: would prune {requests} of settled attempts recorded before {before} ({size}); \
             nothing changed (dry run)",
            report.state
        );
    } else {
        let _ = writeln!(
            text,
            "{}: pruned {requests} of settled attempts recorded before {before} ({size})",
            report.state
        );
        let _ = writeln!(
            text,
            "kept every delivery's recipient, fingerprint, outcome and times: plans are unchanged"
        );
        let _ = writeln!(
            text,
            "state serial {} -> {}: plans saved before this are refused by apply; plan again",
            report.serial_before, report.serial
        );
    }
    let postgres = report.state.starts_with("postgres");
    if report.vacuumed {
        let _ = writeln!(text, "vacuumed {}", report.state);
    } else if !report.dry_run && report.pruned.requests > 0 && !postgres {
        let _ = writeln!(
            text,
            "the file shrinks only once vacuumed: run with --vacuum, or `sqlite3 {} VACUUM`",
            report.state
        );
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

/// The log of operations (`state prune`, `state erase`), apart from the deliveries: who
/// changed the state, when, what and how many rows.
pub fn operations(operations: &[Operation]) -> String {
    let mut text = "operations (herald state prune, herald state erase):\n".to_owned();
    for op in operations {
        let _ = writeln!(
            text,
            "{:.0}  {}  {} rows  by {}  ({})",
            op.at, op.what, op.rows, op.who, op.detail
        );
    }
    text
}

/// What `herald state erase` did (or, for a dry run, would do): never the phone, which the
/// operator typed and a CI log need not repeat.
pub fn erased(report: &crate::state::erase::Report) -> String {
    let e = &report.erased;
    let mut text = String::new();
    if e.rows() == 0 {
        let _ = writeln!(
            text,
            "{}: holds nothing of that phone; nothing changed",
            report.state
        );
        return text;
    }
    let what = format!(
        "{}, {} ({}), {} and {} naming it",
        match e.deliveries {
            1 => "1 delivery".to_owned(),
            n => format!("{n} deliveries"),
        },
        crate::words::count(e.attempts, "history row"),
        "attempts and outcomes, with their requests",
        crate::words::count(e.test_sends, "test message"),
        crate::words::count(e.broadcasts, "broadcast request"),
    );
    if report.dry_run {
        let _ = writeln!(
            text,
            "{}: would erase {what}; nothing changed (dry run)",
            report.state
        );
    } else {
        let _ = writeln!(text, "{}: erased {what}", report.state);
    }
    let _ = writeln!(
        text,
        "kept {}: a plan that finds the phone in those campaigns' audiences again treats \
         them as sent; new campaigns may reach it",
        crate::words::count(e.kept, "keyed hash")
    );
    if !report.dry_run {
        let _ = writeln!(
            text,
            "state serial {} -> {}: plans saved before this are refused by apply; plan again",
            report.serial_before, report.serial
        );
    }
    text
}
