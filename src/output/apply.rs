//! The view of an apply's end: per campaign what was planned, sent, failed, unknown and not
//! sent, the reasons grouped by how often they occurred, and one line saying what is left.

use crate::apply::Report;

/// The summary table printed at the end, columns aligned.
pub fn summary(report: &Report) -> String {
    let header = [
        "campaign", "planned", "sent", "failed", "unknown", "not sent",
    ];
    let mut rows: Vec<[String; 6]> = Vec::new();
    let totals = report.totals();
    for c in report.campaigns.iter().chain(std::iter::once(&totals)) {
        let name = if std::ptr::eq(c, &totals) {
            "total"
        } else {
            c.name.as_str()
        };
        rows.push([
            name.to_owned(),
            c.planned.to_string(),
            c.sent.to_string(),
            c.failed.to_string(),
            c.unknown.to_string(),
            c.not_sent.to_string(),
        ]);
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut text = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(widths).skip(1) {
            text.push_str(&format!("  {cell:>w$}"));
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut text = String::from("\n");
    text.push_str(&line(header));
    for row in &rows {
        text.push_str(&line(row.each_ref().map(String::as_str)));
    }
    if !totals.reasons.is_empty() {
        text.push_str("\nWhy deliveries failed or are unknown:\n");
        let mut reasons: Vec<_> = totals.reasons.iter().collect();
        // Most frequent first; ties in name order, so the output is stable.
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let width = reasons
            .iter()
            .map(|(_, n)| n.to_string().len())
            .max()
            .unwrap_or(1);
        for (reason, n) in reasons {
            text.push_str(&format!("  {n:>width$}  {reason}\n"));
        }
    }
    if totals.reconciled > 0 {
        text.push_str(&format!(
            "\nReconciled: {} unknown deliveries were found in conversation histories and are recorded as sent.\n",
            totals.reconciled
        ));
    }
    text.push_str(&if report.all_sent() {
        format!("\nApplied: {} sent.\n", totals.sent)
    } else {
        format!(
            "\nNot everything was sent: {} failed, {} unknown, {} not sent. `herald plan` lists what is left.\n",
            totals.failed, totals.unknown, totals.not_sent
        )
    });
    text
}
