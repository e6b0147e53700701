//! The terminal view of a plan, in the manner of Terraform's: a line naming the plan, then per
//! campaign a heading, its counts and the first few actions of each kind with the message as the
//! recipient would read it (and a diff for changed messages), then the totals.

use super::describe::{self, LISTED, clean};
use super::preview::preview;
use super::{cost, rails};
use crate::output::diagnostics::Style;
use crate::plan::{Action, ActionKind, CampaignSummary, Summary};

/// Indentation of an action's marker line.
const ACTION_INDENT: &str = "  ";
/// Indentation of an action's preview and diff.
const DETAIL_INDENT: &str = "      ";

/// SGR codes, applied only with [`Style::Color`].
pub(crate) struct Paint(pub(crate) bool);

impl Paint {
    pub(crate) fn apply(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.apply("1", text)
    }

    pub(crate) fn dim(&self, text: &str) -> String {
        self.apply("2", text)
    }

    fn kind(&self, kind: ActionKind, text: &str) -> String {
        let code = match kind {
            ActionKind::Send | ActionKind::Retry => "32",
            ActionKind::Changed => "33",
            ActionKind::Unknown => "31",
            ActionKind::Waiting | ActionKind::Capped => "36",
            ActionKind::Unchanged => "2",
        };
        self.apply(code, text)
    }

    pub(crate) fn diff_line(&self, line: &str) -> String {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else if line.starts_with("@@") {
            "36"
        } else {
            return line.to_owned();
        };
        self.apply(code, line)
    }
}

/// A plan as terminal text; colored only when `style` is [`Style::Color`].
pub fn human(summary: &Summary, style: Style) -> String {
    let paint = Paint(style == Style::Color);
    let mut out = String::new();
    if let Some(header) = &summary.header {
        out.push_str(&paint.bold(&describe::header_line(header)));
        out.push('\n');
        for line in super::pacing::header_lines(header) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let zone = summary.header.as_ref().and_then(|h| h.timezone.as_deref());
    for campaign in &summary.campaigns {
        out.push('\n');
        write_campaign(&mut out, campaign, &paint, zone);
    }
    out.push('\n');
    out.push_str(&paint.bold(&describe::totals(&summary.totals)));
    out.push('\n');
    if let Some(line) = cost::total_line(summary) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some((heading, breaches)) = rails::heading(summary) {
        out.push('\n');
        out.push_str(&paint.apply("1;31", &heading));
        out.push('\n');
        for breach in breaches {
            out.push_str(&format!("{ACTION_INDENT}- {breach}\n"));
        }
        out.push_str(&format!("{}\n", rails::UNSAFE_HELP));
    }
    out
}

fn write_campaign(out: &mut String, c: &CampaignSummary, paint: &Paint, zone: Option<&str>) {
    let campaign = &c.campaign;
    let heading = format!(
        "campaign {} — {}, {}, on_change: {}",
        paint.bold(&clean(&campaign.name)),
        describe::kind(campaign),
        describe::schedule(campaign),
        describe::on_change(campaign.on_change),
    );
    out.push_str(&heading);
    out.push('\n');
    if let Some(description) = &campaign.description {
        for line in description.lines() {
            out.push_str(&format!("{ACTION_INDENT}{}\n", clean(line)));
        }
    }
    for note in rails::notes(campaign) {
        out.push_str(&format!("{ACTION_INDENT}{}\n", paint.dim(&note)));
    }
    if let Some(line) = super::window::campaign_line(campaign, &c.counts) {
        out.push_str(&format!("{ACTION_INDENT}{}\n", paint.dim(&line)));
    }
    if let Some(line) = super::pacing::campaign_line(&c.counts, zone) {
        out.push_str(&format!("{ACTION_INDENT}{}\n", paint.dim(&line)));
    }
    let parts = describe::count_parts(&c.counts);
    let counts = if parts.is_empty() {
        paint.dim("no recipients")
    } else {
        parts
            .iter()
            .map(|(kind, text)| paint.kind(*kind, text))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!("{ACTION_INDENT}{counts}\n"));
    if let Some(priced) = &c.cost {
        let line = cost::campaign_line(campaign, &c.counts, priced);
        out.push_str(&format!("{ACTION_INDENT}{line}\n"));
    }
    for kind in LISTED {
        let mut shown = 0u64;
        for action in c.shown(kind) {
            shown += 1;
            write_action(out, c, action, paint, zone);
        }
        let total = c.counts.get(kind);
        if total > shown {
            let more = describe::more(kind, total - shown);
            out.push_str(&format!("{ACTION_INDENT}{}\n", paint.dim(&more)));
        }
    }
}

fn write_action(
    out: &mut String,
    c: &CampaignSummary,
    action: &Action,
    paint: &Paint,
    zone: Option<&str>,
) {
    let mut line = format!(
        "{ACTION_INDENT}{} {}",
        paint.kind(action.action, describe::marker(action.action)),
        describe::recipient(&c.campaign, action)
    );
    if let Some(note) = describe::note(action, zone) {
        line.push_str(&paint.dim(&format!(" ({note})")));
    }
    out.push_str(&line);
    out.push('\n');
    for line in preview(&c.campaign, &action.request) {
        out.push_str(&format!("{DETAIL_INDENT}{line}\n"));
    }
    if let Some(diff) = describe::diff(action) {
        for line in diff {
            out.push_str(&format!("{DETAIL_INDENT}{}\n", paint.diff_line(&line)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::plan::fixtures;
    use crate::plan::Counts;

    #[test]
    fn realistic_plan() {
        insta::assert_snapshot!(human(&fixtures::summary(), Style::Plain));
    }

    #[test]
    fn plain_has_no_escape_codes_and_color_has_them() {
        let summary = fixtures::summary();
        assert!(!human(&summary, Style::Plain).contains('\u{1b}'));
        let colored = human(&summary, Style::Color);
        assert!(colored.contains("\x1b[32m+ send\x1b[0m"));
        assert!(colored.contains("\x1b[33m~ changed\x1b[0m"));
        assert!(colored.contains("\x1b[31m? unknown\x1b[0m"));
    }

    #[test]
    fn redacted_plans_show_no_user_values() {
        let mut summary = fixtures::summary();
        for c in &mut summary.campaigns {
            let campaign = c.campaign.clone();
            for action in &mut c.shown {
                *action = crate::output::plan::redact_action(&campaign, action);
            }
        }
        let text = human(&summary, Style::Plain);
        assert!(text.contains("  + send +91******2345\n"), "{text}");
        assert!(
            text.contains("      Hi •••, invoice ••• for Acme is due.\n"),
            "{text}"
        );
        for secret in ["Asha", "12346", "Priya", "40077", "9845012345"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn nothing_to_do_says_so() {
        let mut summary = fixtures::summary();
        summary.campaigns.truncate(0);
        summary.totals = Counts {
            unchanged: 12,
            ..Counts::default()
        };
        let text = human(&summary, Style::Plain);
        assert!(
            text.ends_with("\nNo changes. Everything in the files has been sent.\n"),
            "{text}"
        );
    }
}
