//! The views of `herald state reconcile`: one line per decision with the totals, or a JSON
//! array, phones masked under `--redact`.

use std::fmt::Write as _;

use crate::reconcile::{self, Decisions, Verdict};

/// One decision as shown: campaign, recipient, decision.
pub type Row = (String, String, reconcile::Decision);

/// The decisions in campaign and recipient order, phones masked under `--redact` (in the
/// reasons too: an error reading a history names its path).
pub fn rows(decisions: &Decisions, redact: bool) -> Vec<Row> {
    let shown = |r: &String| {
        if redact && r != crate::state::WHOLE_CAMPAIGN {
            crate::output::plan::mask_phone(r)
        } else {
            r.clone()
        }
    };
    decisions
        .iter()
        .flat_map(|(c, by)| {
            by.iter().map(move |(r, d)| {
                let mut d = d.clone();
                if redact {
                    d.why = crate::output::plan::redact_text(&d.why);
                }
                (c.to_string(), shown(r), d)
            })
        })
        .collect()
}

/// One line per decision, then the totals and what happens next.
pub fn human(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no unknown deliveries: nothing to reconcile\n".to_owned();
    }
    let wc = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let wr = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (campaign, recipient, d) in rows {
        let _ = writeln!(
            text,
            "{campaign:wc$}  {recipient:wr$}  {:13}  {}",
            d.verdict.as_str(),
            d.why
        );
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.2.verdict == v).count();
    let _ = writeln!(
        text,
        "\n{} delivered (recorded as sent), {} not delivered (recorded as failed: the next plan \
         sends them again), {} pending, {} unknowable, {} unchecked (still unknown)",
        count(Verdict::Delivered),
        count(Verdict::NotDelivered),
        count(Verdict::Pending),
        count(Verdict::Unknowable),
        count(Verdict::Unchecked),
    );
    text
}

/// An array of `{campaign, recipient, verdict, why}`, in campaign and recipient order.
pub fn json(rows: &[Row]) -> String {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(c, r, d)| {
            serde_json::json!({"campaign": c, "recipient": r, "verdict": d.verdict, "why": d.why})
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
    text.push('\n');
    text
}
