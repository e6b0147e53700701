//! A CSV audience's rows checked (every phone E.164, every `timezone` a zone; on all cores,
//! a part of the file each), and the diagnostics about them, placed at the row's own text: a
//! reader's error at its line and column, and a cell whose value is wrong.

use std::sync::Arc;

use super::window::{MAX_ROW_ERRORS, RowZones};
use super::{phone, window};
use crate::diagnostic::{Code, Diagnostic, Severity, SourceText};
use crate::load::audience_file::AudienceFile;
use crate::load::csv::{self as load_csv, Parted, Place, Record, Split};
use crate::load::node::{Pos, Span};
use crate::tz::UnknownZone;

/// CSV rows with a bad phone reported per file before the rest are summarized in one line.
pub(super) const MAX_CSV_ROW_ERRORS: usize = 10;

/// What reading a CSV audience's rows found.
pub(super) struct Rows {
    /// Bad cells (the first few of each kind), then the reader's error if one stopped it, in
    /// file order.
    pub(super) diagnostics: Vec<Diagnostic>,
    /// The first row's fields.
    pub(super) first: Option<Vec<String>>,
    /// Rows whose phone is not E.164.
    pub(super) bad_phones: usize,
}

/// Checks the rows of the CSV audience `file` (shown as `name`), with `zones` for its
/// `timezone` column (counted in it), reading it as `split` says. `None` when the file was
/// cut wrong ([`Parted::Miscut`]): read it again whole.
pub(super) fn read_rows(
    name: &str,
    file: AudienceFile,
    zones: &mut RowZones,
    split: Split,
) -> Option<Rows> {
    let phone_column = file.phone;
    let mut rows = Rows {
        diagnostics: Vec::new(),
        first: None,
        bad_phones: 0,
    };
    let mut bad_zones = 0;
    let checking: &RowZones = zones;
    let severity = checking.severity();
    let read = load_csv::read_parts(
        file.rows,
        split,
        Part::default,
        |part, record| {
            part.check(record, phone_column, checking);
            true
        },
        |part, place| {
            if rows.first.is_none() {
                rows.first = part.first;
            }
            let (mut phones, mut zones) = (rows.bad_phones, bad_zones);
            for cell in part.cells {
                let d = match &cell.problem {
                    Problem::Phone(help) => {
                        phones += 1;
                        if phones > MAX_CSV_ROW_ERRORS {
                            continue;
                        }
                        let (code, problem) = (Code::Phone, "is not an E.164 phone number");
                        cell.diagnostic(Severity::Error, code, name, place, "phone", problem)
                            .help(help.as_str())
                    }
                    Problem::Zone(unknown) => {
                        zones += 1;
                        if zones > MAX_ROW_ERRORS {
                            continue;
                        }
                        let (code, problem) = (Code::TimeZone, "is not an IANA time zone");
                        cell.diagnostic(severity, code, name, place, "timezone", problem)
                            .help(window::zone_help(unknown))
                    }
                };
                rows.diagnostics.push(d);
            }
            rows.bad_phones += part.phones;
            bad_zones += part.zones;
        },
    );
    match read {
        Ok(Parted::Read) => {}
        Ok(Parted::Miscut) => return None,
        Err(e) => rows.diagnostics.push(csv_error(name, &e)),
    }
    zones.count(bad_zones);
    Some(rows)
}

/// What a part of a file's rows gave: its first row, and its first few bad cells of each
/// kind (enough for the file's first few, wherever they are) with how many there are.
#[derive(Default)]
struct Part {
    first: Option<Vec<String>>,
    cells: Vec<Cell>,
    phones: usize,
    zones: usize,
}

impl Part {
    fn check(&mut self, record: &Record<'_>, phone_column: usize, zones: &RowZones) {
        if self.first.is_none() {
            self.first = Some(record.iter().map(str::to_owned).collect());
        }
        let value = record.get(phone_column).unwrap_or_default();
        if let Err(e) = phone::check(value) {
            self.phones += 1;
            if self.phones <= MAX_CSV_ROW_ERRORS {
                let cell = Cell::of(record, phone_column, value, Problem::Phone(e.help));
                self.cells.push(cell);
            }
        }
        if let Some((column, value, unknown)) = zones.problem(record) {
            self.zones += 1;
            if self.zones <= MAX_ROW_ERRORS {
                self.cells
                    .push(Cell::of(record, column, value, Problem::Zone(unknown)));
            }
        }
    }
}

/// A bad cell, where its part's reader found it.
struct Cell {
    row: u64,
    /// Line, column and the line's text, as [`Record::position`] gives them.
    at: (u64, usize, String),
    value: String,
    problem: Problem,
}

/// What is wrong with a cell.
enum Problem {
    /// A phone that is not E.164, and how to fix it.
    Phone(String),
    /// A `timezone` that names no zone.
    Zone(UnknownZone),
}

impl Cell {
    fn of(record: &Record<'_>, column: usize, value: &str, problem: Problem) -> Cell {
        Cell {
            row: record.row(),
            at: record.position(column),
            value: value.to_owned(),
            problem,
        }
    }

    /// The cell's diagnostic ([`bad_cell`]), its part being at `place`.
    fn diagnostic(
        &self,
        severity: Severity,
        code: Code,
        name: &str,
        place: Place,
        column_name: &str,
        problem: &str,
    ) -> Diagnostic {
        let (line, col, text) = &self.at;
        let at = (place.row(self.row), (place.line(*line), *col, text.clone()));
        bad_cell(severity, code, name, at, column_name, &self.value, problem)
    }
}

/// A CSV row (number `row`) whose column `column_name` holds a bad value, at a line and column
/// of that line's text, pointing at the value in the row's own text (said without the value
/// where the row's data is hidden): `problem` follows the value (`is not an E.164 phone
/// number`).
fn bad_cell(
    severity: Severity,
    code: Code,
    name: &str,
    (row, (line, col, text)): (u64, (u64, usize, String)),
    column_name: &str,
    value: &str,
    problem: &str,
) -> Diagnostic {
    let at = Pos {
        line: line as usize,
        col,
    };
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
