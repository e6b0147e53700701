//! Diagnostics about a CSV audience's rows, placed at the row's own text: a reader's error at
//! its line and column, and a cell whose value is wrong (a phone that is not E.164, a
//! `timezone` that names no zone).

use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic, Severity, SourceText};
use crate::load::csv as load_csv;
use crate::load::node::{Pos, Span};

/// A CSV row whose `column` holds a bad value, pointing at the value in the row's own text
/// (said without the value where the row's data is hidden): `problem` follows the value
/// (`is not an E.164 phone number`).
pub(super) fn bad_cell(
    severity: Severity,
    code: Code,
    name: &str,
    record: &crate::load::csv::Record,
    (column, column_name): (usize, &str),
    value: &str,
    problem: &str,
) -> Diagnostic {
    let (line, col, text) = record.position(column);
    let at = Pos {
        line: line as usize,
        col,
    };
    let row = record.row();
    let mut d = Diagnostic::error(
        code,
        name.to_owned(),
        format!("row {row}, column `{column_name}`: `{value}` {problem}"),
    );
    d.severity = severity;
    d.at(
        Span {
            start: at,
            end: Pos {
                line: at.line,
                col: at.col + value.chars().count(),
            },
        },
        Some(SourceText::new(Arc::from(text), at.line)),
    )
    .private(format!(
        "row {row}, column `{column_name}`: the value {problem}"
    ))
}

/// A CSV reader's error at its line and column, with the line as its snippet (a row of
/// recipients' data: private).
pub(super) fn csv_error(name: &str, error: &load_csv::Error) -> Diagnostic {
    let message = match &error.kind {
        load_csv::ErrorKind::Io(_) => error.message(name),
        _ => format!("line {}: {}", error.line, error.problem()),
    };
    let d = Diagnostic::error(Code::Csv, name, message).help(error.help());
    let Some(text) = &error.text else {
        return d;
    };
    let start = Pos {
        line: error.line as usize,
        col: error.col,
    };
    let end = Pos {
        col: start.col + 1,
        ..start
    };
    let message = d.message.clone();
    d.at(
        Span { start, end },
        Some(SourceText::new(Arc::from(text.as_str()), start.line)),
    )
    .private(message)
}
