//! A plan as a pull-request comment (GitHub-flavoured Markdown): a summary table, the totals,
//! then one collapsed `<details>` section per campaign with previews and diffs.
//!
//! GitHub refuses comments over 65,536 characters, so the comment is built to stay under
//! [`LIMIT`] bytes (bytes ≥ characters): each campaign's section is capped at [`SECTION_LIMIT`],
//! and sections that would not fit are left out with a note saying how many. User text cannot
//! escape its place: table cells escape `|` and HTML, code fences are longer than any run of
//! backticks inside them.

use super::describe::{self, LISTED, clean};
use super::preview::preview;
use super::{cost, rails};
use crate::plan::{Action, CampaignSummary, Summary};

/// The most the comment may hold, in bytes.
pub(crate) const LIMIT: usize = 65_000;
/// The most one campaign's section may hold, in bytes.
pub(super) const SECTION_LIMIT: usize = 12_000;
/// Room kept for the closing notes of the comment and of a section.
const RESERVE: usize = 400;

/// A plan as a Markdown pull-request comment, under 65,000 bytes (GitHub allows 65,536
/// characters).
pub fn markdown(summary: &Summary) -> String {
    let mut out = String::from("### herald plan\n\n");
    if let Some(header) = &summary.header {
        out.push_str(&html(&describe::header_line(header)));
        out.push_str("\n\n");
        for line in super::pacing::header_lines(header) {
            out.push_str(&format!("{}\n\n", html(&line)));
        }
    }
    let zone = summary.header.as_ref().and_then(|h| h.timezone.as_deref());
    if let Some((heading, breaches)) = rails::heading(summary) {
        out.push_str(&format!("> [!CAUTION]\n> **{}**\n>\n", html(&heading)));
        for breach in breaches {
            out.push_str(&format!("> - {}\n", html(&breach)));
        }
        out.push_str(&format!(">\n> {}\n\n", html(rails::UNSAFE_HELP)));
    }
    let campaigns = &summary.campaigns;
    if !campaigns.is_empty() {
        // A plan under a frequency cap has a column for the capped; a priced plan's has one
        // for each campaign's cost.
        let capped = summary
            .header
            .as_ref()
            .is_some_and(|h| h.frequency_cap.is_some())
            || summary.totals.capped > 0;
        let priced = summary.cost.is_some();
        out.push_str("| campaign | kind | schedule | send | retry | changed | unknown | waiting |");
        out.push_str(if capped { " capped |" } else { "" });
        out.push_str(" unchanged |");
        out.push_str(if priced { " cost |\n" } else { "\n" });
        out.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|");
        out.push_str(if capped { "--:|" } else { "" });
        out.push_str(if priced { "--:|\n" } else { "\n" });
        for (i, c) in campaigns.iter().enumerate() {
            let row = row(c, capped);
            if out.len() + row.len() + 2 * RESERVE > LIMIT {
                out.push_str(&format!(
                    "\n_{} not in the table: the comment would exceed GitHub's 65,536-character \
                     limit. Run herald plan locally or read the JSON plan._\n",
                    crate::words::count(campaigns.len() - i, "campaign")
                ));
                break;
            }
            out.push_str(&row);
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "**{}**\n\n",
        html(&describe::totals(&summary.totals))
    ));
    if let Some(line) = cost::total_line(summary) {
        out.push_str(&format!("{}\n\n", html(&line)));
    }
    let detailed: Vec<&CampaignSummary> = campaigns
        .iter()
        .filter(|c| !c.shown.is_empty() || rails::noteworthy(&c.campaign))
        .collect();
    for (i, c) in detailed.iter().enumerate() {
        let section = section(c, zone);
        if out.len() + section.len() + RESERVE > LIMIT {
            out.push_str(&format!(
                "_{} not shown: the comment would exceed GitHub's 65,536-character limit. \
                 Run herald plan locally or read the JSON plan._\n",
                crate::words::count(detailed.len() - i, "campaign")
            ));
            break;
        }
        out.push_str(&section);
    }
    out
}

fn row(c: &CampaignSummary, capped: bool) -> String {
    let campaign = &c.campaign;
    let mut row = format!(
        "| {} | {} | {} |",
        cell(&campaign.name),
        cell(&describe::kind(campaign)),
        cell(&describe::schedule(campaign))
    );
    let counts = &c.counts;
    let mut columns = vec![
        counts.send,
        counts.retry,
        counts.changed,
        counts.unknown,
        counts.waiting,
    ];
    if capped {
        columns.push(counts.capped);
    }
    columns.push(counts.unchanged);
    for n in columns {
        row.push_str(&format!(" {n} |"));
    }
    if let Some(cost) = &c.cost {
        row.push_str(&format!(" {} {} |", cost.amount, cell(&cost.currency)));
    }
    row.push('\n');
    row
}

/// One campaign's `<details>` section, at most [`SECTION_LIMIT`] bytes.
fn section(c: &CampaignSummary, zone: Option<&str>) -> String {
    let campaign = &c.campaign;
    let mut s = Section::new(format!(
        "<details><summary>{} — {}</summary>\n\n",
        html(&campaign.name),
        html(&describe::counts(&c.counts))
    ));
    if let Some(description) = &campaign.description {
        let lines: Vec<String> = description.lines().map(|l| html(l.trim_start())).collect();
        s.push(&format!("{}\n\n", lines.join("<br>\n")));
    }
    s.push(&format!(
        "{} · {} · on_change: {}\n\n",
        html(&describe::kind(campaign)),
        html(&describe::schedule(campaign)),
        describe::on_change(campaign.on_change)
    ));
    for note in rails::notes(campaign) {
        s.push(&format!("_{}_\n\n", html(&note)));
    }
    if let Some(priced) = &c.cost {
        let line = cost::campaign_line(campaign, &c.counts, priced);
        s.push(&format!("{}\n\n", html(&line)));
    }
    if let Some(line) = super::window::campaign_line(campaign, &c.counts) {
        s.push(&format!("_{}_\n\n", html(&line)));
    }
    if let Some(line) = super::pacing::campaign_line(&c.counts, zone) {
        s.push(&format!("_{}_\n\n", html(&line)));
    }
    for kind in LISTED {
        let mut shown = 0u64;
        for action in c.shown(kind) {
            shown += 1;
            write_action(&mut s, c, action, zone);
        }
        let total = c.counts.get(kind);
        if total > shown {
            s.push(&format!("_{}_\n\n", describe::more(kind, total - shown)));
        }
    }
    s.finish()
}

fn write_action(s: &mut Section, c: &CampaignSummary, action: &Action, zone: Option<&str>) {
    if s.cut {
        return;
    }
    let recipient = inline_code(&describe::recipient(&c.campaign, action));
    let mut line = format!("**{}** {recipient}", describe::marker(action.action));
    if let Some(note) = describe::note(action, zone) {
        line.push_str(&format!(" ({})", html(&note)));
    }
    line.push_str("\n\n");
    s.push(&line);
    s.block("", &preview(&c.campaign, &action.request));
    if let Some(diff) = describe::diff(action) {
        s.block("diff", &diff);
    }
}

/// A section being built; once something does not fit, it is `cut` and takes nothing more.
pub(crate) struct Section {
    text: String,
    cut: bool,
}

impl Section {
    /// An empty section, starting with `text`.
    pub(crate) fn new(text: String) -> Section {
        Section { text, cut: false }
    }

    /// The section's text, closed.
    pub(crate) fn finish(mut self) -> String {
        if self.cut {
            self.text.push_str(
                "_The rest of this campaign is not shown: it would make the comment too long._\n\n",
            );
        }
        self.text.push_str("</details>\n\n");
        self.text
    }

    fn room(&self) -> usize {
        SECTION_LIMIT.saturating_sub(self.text.len() + RESERVE)
    }

    pub(crate) fn push(&mut self, text: &str) {
        if self.cut {
            return;
        }
        if text.len() > self.room() {
            self.cut = true;
        } else {
            self.text.push_str(text);
        }
    }

    /// A fenced code block; when it does not fit whole, as many lines as fit and a count of
    /// the rest.
    pub(crate) fn block(&mut self, lang: &str, lines: &[String]) {
        if self.cut {
            return;
        }
        let fence = fence(lines);
        let mut block = format!("{fence}{lang}\n");
        let close = format!("{fence}\n\n");
        let room = self.room();
        let whole: usize = lines.iter().map(|l| l.len() + 1).sum();
        if block.len() + whole + close.len() <= room {
            for line in lines {
                block.push_str(line);
                block.push('\n');
            }
        } else {
            self.cut = true;
            // Leave room for the closing fence and the "more lines" line.
            let budget = room.saturating_sub(close.len() + 64);
            let mut kept = 0;
            for line in lines {
                if block.len() + line.len() + 1 > budget {
                    // A long line is shown in part when a useful part fits.
                    let left = budget.saturating_sub(block.len() + "…\n".len());
                    if left >= 80 {
                        let end = (0..=left).rev().find(|&i| line.is_char_boundary(i));
                        block.push_str(&line[..end.unwrap_or(0)]);
                        block.push_str("…\n");
                        kept += 1;
                    }
                    break;
                }
                block.push_str(line);
                block.push('\n');
                kept += 1;
            }
            if kept == 0 {
                return;
            }
            if kept < lines.len() {
                block.push_str(&format!("… {} more lines not shown\n", lines.len() - kept));
            }
        }
        block.push_str(&close);
        self.text.push_str(&block);
    }
}

/// A code fence longer than any run of backticks in `lines` (at least three).
fn fence(lines: &[String]) -> String {
    let longest = lines.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Inline code that backticks inside cannot close.
pub(crate) fn inline_code(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// Text safe in HTML and Markdown paragraphs: `&`, `<` and `>` escaped, backticks and tildes
/// as entities (so no line can open a code fence), control characters shown escaped.
pub(crate) fn html(text: &str) -> String {
    clean(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "&#96;")
        .replace('~', "&#126;")
}

/// Text safe in a table cell: one line, HTML escaped, `|` escaped.
pub(crate) fn cell(text: &str) -> String {
    html(&text.replace(['\n', '\r'], " ")).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engati::Request;
    use crate::engati::api::{Component, Language, Parameter, TemplateMessage, TemplatePayload};
    use crate::output::plan::fixtures;
    use crate::plan::{ActionKind, Counts, Previous};
    use crate::state::Outcome;

    #[test]
    fn realistic_plan() {
        let text = markdown(&fixtures::summary());
        insta::assert_snapshot!(text);
    }

    /// A template message with 120 body parameters: a 1,200-line diff when they all change.
    fn long_template(prefix: &str) -> Request {
        let parameters = (0..120)
            .map(|i| Parameter::Text {
                text: format!("{prefix} value {i} {}", "x".repeat(40)),
            })
            .collect();
        let message = TemplateMessage {
            phone_number: "+919019486731".to_owned(),
            payload: TemplatePayload {
                name: "invoice_reminder".to_owned(),
                namespace: None,
                language: Language::deterministic("en"),
                components: vec![Component::Body { parameters }],
            },
        };
        Request::template(61179, "bb67e0773bed4c7e", &message)
    }

    #[test]
    fn huge_plans_stay_under_githubs_limit() {
        let mut summary = fixtures::summary();
        let base = summary.campaigns[0].clone();
        summary.campaigns.clear();
        for i in 0..200 {
            let mut c = base.clone();
            c.campaign.name = format!("campaign-{i:03}");
            c.counts = Counts {
                changed: 50,
                ..Counts::default()
            };
            c.shown = (0..3)
                .map(|n| {
                    let mut a = fixtures::action(
                        ActionKind::Changed,
                        "+919019486731",
                        long_template("new"),
                    );
                    a.recipient = format!("+9190194867{n:02}");
                    let before = long_template("old");
                    a.previous = Some(Previous {
                        outcome: Outcome::Sent,
                        fingerprint: a.fingerprint,
                        at: None,
                        api_code: None,
                        detail: None,
                        request: Some(before),
                    });
                    a
                })
                .collect();
            summary.totals.merge(&c.counts);
            summary.campaigns.push(c);
        }
        let text = markdown(&summary);
        assert!(text.len() < 65_000, "{}", text.len());
        assert!(text.chars().count() < 65_000);
        assert!(text.contains("campaigns not shown: the comment would exceed GitHub's 65,536-character limit. Run herald plan locally or read the JSON plan._"));
        assert!(text.contains("more lines not shown"));
        assert!(text.contains("_The rest of this campaign is not shown"));
        assert_eq!(
            text.matches("<details>").count(),
            text.matches("</details>").count()
        );
        // Every fence opened is closed.
        let fences = text.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences % 2, 0);
        // Sections stay within their cap.
        for section in text.split("<details>").skip(1) {
            assert!(section.len() <= SECTION_LIMIT, "{}", section.len());
        }
    }

    #[test]
    fn user_text_cannot_escape() {
        let mut summary = fixtures::summary();
        let weekend = &mut summary.campaigns[2];
        weekend.campaign.name = "weekend|offer".to_owned();
        weekend.campaign.description =
            Some("</summary></details> <b>hi</b>\n```\n    ~~~".to_owned());
        let mut request = fixtures::broadcast_request();
        let body = request
            .body
            .as_ref()
            .unwrap()
            .get()
            .replace("Offer ends Sunday", "```` fenced");
        request.body = Some(crate::engati::Body::parse(&body).unwrap());
        weekend.shown[0].request = request;
        let text = markdown(&summary);
        assert!(text.contains("| weekend\\|offer |"), "{text}");
        assert!(text.contains("&lt;/summary&gt;&lt;/details&gt;"));
        assert!(text.contains("<br>\n&#96;&#96;&#96;<br>\n&#126;&#126;&#126;\n"));
        assert!(text.contains("`````\n"));
        assert!(text.contains("\n```` fenced\n"));
    }

    #[test]
    fn nothing_to_do_says_so() {
        let mut summary = fixtures::summary();
        summary
            .campaigns
            .retain(|c| c.campaign.name == "december-statement");
        summary.totals = summary.campaigns[0].counts;
        let text = markdown(&summary);
        assert!(text.contains("**No changes. Everything in the files has been sent.**"));
        assert!(!text.contains("<details>"));
    }
}
