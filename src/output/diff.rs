//! The views of `herald diff`: per changed campaign its settings, its recipients by change and
//! sample messages (a unified diff of what the recipient reads, or of the request when the
//! difference does not show in the message), for terminals and for pull-request comments.
//! Built from the plan views' pieces: previews, diffs, fences, `--redact`.

use super::plan::describe::{self, clean, request_text, unified};
use super::plan::human::Paint;
use super::plan::markdown::{LIMIT, Section, cell, html, inline_code};
use super::plan::preview::preview;
use super::plan::redact::{mask_phone, redact_request};
use crate::diff::{CampaignReview, Change, Review, Sample, Status};
use crate::engati::Request;
use crate::output::diagnostics::Style;
use crate::plan::Campaign;
use crate::state::WHOLE_CAMPAIGN;

/// What the two versions are called in the output (`main (1a2b3c4)`, `working tree`).
#[derive(Debug, Clone)]
pub struct Labels {
    /// The base revision.
    pub before: String,
    /// The version under review.
    pub after: String,
}

/// A review as terminal text; colored only when `style` is [`Style::Color`].
pub fn review_human(review: &Review, labels: &Labels, style: Style) -> String {
    let paint = Paint(style == Style::Color);
    let mut out = paint.bold(&format!(
        "Rendered messages at {} compared with {}.",
        clean(&labels.before),
        clean(&labels.after)
    ));
    out.push('\n');
    for c in review
        .campaigns
        .iter()
        .filter(|c| c.status != Status::Unchanged)
    {
        out.push('\n');
        let heading = format!(
            "campaign {} — {}",
            paint.bold(&clean(&c.name)),
            status_line(c)
        );
        out.push_str(&heading);
        out.push('\n');
        for line in details(c) {
            out.push_str(&format!("  {line}\n"));
        }
        for sample in &c.samples {
            out.push_str(&format!(
                "  {} {}\n",
                paint.apply(change_color(sample.change), change_marker(sample.change)),
                recipient(sample)
            ));
            for line in sample_lines(c, sample, labels, review.redacted) {
                let line = if sample.change == Change::Changed {
                    paint.diff_line(&line)
                } else {
                    line
                };
                out.push_str(&format!("      {line}\n"));
            }
        }
        for line in more(c) {
            out.push_str(&format!("  {}\n", paint.dim(&line)));
        }
    }
    out.push('\n');
    out.push_str(&paint.bold(&totals(review, labels)));
    out.push('\n');
    out.push_str(&skipped_note(review));
    out
}

/// A review as a Markdown pull-request comment, under GitHub's size limit.
pub fn review_markdown(review: &Review, labels: &Labels) -> String {
    let mut out = String::from("### herald diff\n\n");
    out.push_str(&format!(
        "Rendered messages at {} compared with {}.\n\n",
        inline_code(&labels.before),
        inline_code(&labels.after)
    ));
    let changed: Vec<&CampaignReview> = review
        .campaigns
        .iter()
        .filter(|c| c.status != Status::Unchanged)
        .collect();
    if !changed.is_empty() {
        out.push_str(
            "| campaign | change | messages changed | recipients added | recipients removed | unchanged |\n\
             |---|---|--:|--:|--:|--:|\n",
        );
        for c in &changed {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&c.name),
                cell(&status_line(c)),
                c.counts.changed,
                c.counts.added,
                c.counts.removed,
                c.counts.unchanged
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!("**{}**\n\n", html(&totals(review, labels))));
    for (i, c) in changed.iter().enumerate() {
        let section = section(c, labels, review.redacted);
        if out.len() + section.len() + 400 > LIMIT {
            out.push_str(&format!(
                "_{} more not shown: the comment would exceed GitHub's 65,536-character limit. \
                 Run herald diff locally._\n",
                changed.len() - i
            ));
            break;
        }
        out.push_str(&section);
    }
    let note = skipped_note(review);
    if !note.is_empty() {
        out.push_str(&html(&note));
    }
    out
}

/// Masks phones and every value rendered from recipients' fields, as `plan --redact` does.
pub fn redact_review(review: &mut Review) {
    review.redacted = true;
    for c in &mut review.campaigns {
        let mut paths: Vec<String> = Vec::new();
        for campaign in [&c.before, &c.after].into_iter().flatten() {
            paths.extend(campaign.user_paths.iter().cloned());
        }
        for sample in &mut c.samples {
            if sample.recipient != WHOLE_CAMPAIGN {
                sample.recipient = mask_phone(&sample.recipient);
            }
            for request in [&mut sample.before, &mut sample.after]
                .into_iter()
                .flatten()
            {
                redact_request(&paths, request);
            }
        }
    }
}

fn section(c: &CampaignReview, labels: &Labels, redacted: bool) -> String {
    let mut s = Section::new(format!(
        "<details><summary>{} — {}</summary>\n\n",
        html(&c.name),
        html(&status_line(c))
    ));
    for line in details(c) {
        s.push(&format!("{}<br>\n", html(&line)));
    }
    s.push("\n");
    for sample in &c.samples {
        s.push(&format!(
            "**{}** {}\n\n",
            change_marker(sample.change),
            inline_code(&recipient(sample))
        ));
        let lang = if sample.change == Change::Changed {
            "diff"
        } else {
            ""
        };
        s.block(lang, &sample_lines(c, sample, labels, redacted));
    }
    for line in more(c) {
        s.push(&format!("_{}_\n\n", html(&line)));
    }
    s.finish()
}

/// How a campaign changed, naming its old name when it was renamed.
fn status_line(c: &CampaignReview) -> String {
    let status = match c.status {
        Status::Added => "added",
        Status::Removed => "removed (nothing more is sent; what was sent stays in state)",
        Status::Changed => "changed",
        Status::Unchanged => "unchanged",
        Status::Renamed => "renamed",
    };
    match (&c.renamed_from, c.status) {
        (Some(old), Status::Renamed) => format!(
            "renamed from {} (what was sent under the old name counts as sent)",
            clean(old)
        ),
        (Some(old), _) => format!("{status}, renamed from {}", clean(old)),
        (None, _) => status.to_owned(),
    }
}

fn change_marker(change: Change) -> &'static str {
    match change {
        Change::Added => "+ added",
        Change::Removed => "- removed",
        Change::Changed => "~ changed",
    }
}

fn change_color(change: Change) -> &'static str {
    match change {
        Change::Added => "32",
        Change::Removed => "31",
        Change::Changed => "33",
    }
}

fn recipient(sample: &Sample) -> String {
    if sample.recipient == WHOLE_CAMPAIGN {
        "the whole audience (one broadcast)".to_owned()
    } else {
        clean(&sample.recipient)
    }
}

/// The campaign's kind and schedule, its changed settings and its counts.
fn details(c: &CampaignReview) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(campaign) = c.after.as_ref().or(c.before.as_ref()) {
        lines.push(format!(
            "{}, {}, on_change: {}",
            describe::kind(campaign),
            describe::schedule(campaign),
            describe::on_change(campaign.on_change)
        ));
    }
    for setting in &c.settings {
        lines.push(format!(
            "{}: {} → {}",
            setting.name,
            clean(&setting.before),
            clean(&setting.after)
        ));
    }
    let n = &c.counts;
    let parts: Vec<String> = [
        (n.changed, "message changed", "messages changed"),
        (n.added, "recipient added", "recipients added"),
        (n.removed, "recipient removed", "recipients removed"),
        (n.unchanged, "unchanged", "unchanged"),
    ]
    .into_iter()
    .filter(|(count, _, _)| *count > 0)
    .map(|(count, one, many)| format!("{count} {}", if count == 1 { one } else { many }))
    .collect();
    lines.push(if parts.is_empty() {
        "no recipients".to_owned()
    } else {
        parts.join(", ")
    });
    lines
}

/// What a sample shows: the message as its recipient reads it (added, removed), or a diff of
/// the two versions' messages, or of the requests when the messages read the same.
fn sample_lines(
    c: &CampaignReview,
    sample: &Sample,
    labels: &Labels,
    redacted: bool,
) -> Vec<String> {
    let show = |campaign: &Option<Campaign>, request: &Request| match campaign {
        Some(campaign) => preview(campaign, request),
        None => request_text(request, true).lines().map(clean).collect(),
    };
    match (&sample.before, &sample.after) {
        (Some(before), Some(after)) => {
            let old = show(&c.before, before).join("\n") + "\n";
            let new = show(&c.after, after).join("\n") + "\n";
            let lines = unified(&old, &new, &labels.before, &labels.after);
            if !lines.is_empty() {
                return lines;
            }
            let target = before.method != after.method
                || before.path != after.path
                || before.query != after.query;
            let lines = unified(
                &request_text(before, target),
                &request_text(after, target),
                &labels.before,
                &labels.after,
            );
            if lines.is_empty() && redacted {
                vec!["the message differs only in values from the recipient's fields (hidden by --redact)".to_owned()]
            } else if lines.is_empty() {
                vec!["the requests differ only in JSON formatting".to_owned()]
            } else {
                lines
            }
        }
        (Some(request), None) => show(&c.before, request),
        (None, Some(request)) => show(&c.after, request),
        (None, None) => Vec::new(),
    }
}

/// `… 40 more messages changed` for what the samples leave out.
fn more(c: &CampaignReview) -> Vec<String> {
    let shown = |change: Change| c.samples.iter().filter(|s| s.change == change).count() as u64;
    let whole = c.samples.iter().any(|s| s.recipient == WHOLE_CAMPAIGN);
    if whole {
        return Vec::new();
    }
    [
        (c.counts.changed, Change::Changed, "message", "changed"),
        (c.counts.added, Change::Added, "recipient", "added"),
        (c.counts.removed, Change::Removed, "recipient", "removed"),
    ]
    .into_iter()
    .filter(|(total, change, _, _)| *total > shown(*change))
    .map(|(total, change, what, how)| {
        let n = total - shown(change);
        format!("… {n} more {what}{} {how}", crate::words::s(n))
    })
    .collect()
}

/// The last line: what changed overall, or that nothing did.
fn totals(review: &Review, labels: &Labels) -> String {
    let count = |status: Status| {
        review
            .campaigns
            .iter()
            .filter(|c| c.status == status)
            .count()
    };
    if !review.has_changes() {
        return format!(
            "No changes: every rendered message is the same as at {}.",
            labels.before
        );
    }
    let changed_messages: u64 = review.campaigns.iter().map(|c| c.counts.changed).sum();
    let mut parts = Vec::new();
    for (status, what) in [
        (Status::Added, "added"),
        (Status::Changed, "changed"),
        (Status::Removed, "removed"),
        (Status::Renamed, "renamed"),
        (Status::Unchanged, "unchanged"),
    ] {
        let n = count(status);
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let (n, verb) = match changed_messages {
        1 => ("1 recipient".to_owned(), "gets"),
        n => (format!("{n} recipients"), "get"),
    };
    format!(
        "Campaigns: {}. {n} in both versions {verb} a different message.",
        parts.join(", ")
    )
}

/// Which Users API audiences were read as empty.
fn skipped_note(review: &Review) -> String {
    if review.users_api_skipped.is_empty() {
        return String::new();
    }
    let queries: Vec<String> = review
        .users_api_skipped
        .iter()
        .map(|q| format!("{} = {}", clean(&q.attribute), clean(&q.value)))
        .collect();
    format!(
        "\nNot compared: the Users API audiences ({}); herald diff does not call the API. \
         Add --emulator to read the emulator's users instead.\n",
        queries.join("; ")
    )
}
