//! Checks of send windows and time zones: herald.yaml's `timezone:` names a zone, every
//! `window:` (herald.yaml's default and each campaign's) has well-formed hours, no broadcast
//! sets one (Engati publishes a broadcast to its whole audience at once, so a window could not
//! be kept), and recipients' `user.timezone` values (inline users, CSV rows) name zones.
//!
//! A bad `user.timezone` is an error when the project has a window anywhere (it would decide
//! when someone is messaged), and a warning otherwise.

use super::{Catalog, Checker, Loc};
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::load::SourceFile;
use crate::model::{VarValue, Window};
use crate::tz::UnknownZone;

/// CSV rows with a bad `timezone` reported per file before the rest are counted in one line.
pub(super) const MAX_ROW_ERRORS: usize = 10;

/// Whether any campaign may be held by a window: herald.yaml sets a default, or a campaign
/// sets its own.
pub(super) fn uses_windows(catalog: &Catalog) -> bool {
    catalog
        .settings
        .as_ref()
        .is_some_and(|s| s.window.is_some())
        || catalog.campaigns.values().any(|c| c.value.window.is_some())
}

/// Checks herald.yaml's `timezone:` and `window:`, and every campaign's `window:`.
pub(super) fn check(checker: &mut Checker<'_>, catalog: &Catalog, settings: &SourceFile) {
    if let Some(project) = &catalog.settings {
        let at = |pointer: &str, d: Diagnostic| match settings.documents().first() {
            Some(doc) => d.at(doc.span_at(pointer), settings.source.clone()),
            None => d,
        };
        if let Some(name) = &project.timezone
            && let Err(e) = crate::tz::zone(name)
        {
            let d = Diagnostic::error(
                Code::TimeZone,
                &settings.name,
                format!("timezone: {}", e.message()),
            )
            .help(e.help());
            checker.report(at("/timezone", d));
        }
        if let Some(window) = &project.window
            && let Err(e) = hours(window)
        {
            let d = Diagnostic::error(Code::Window, &settings.name, e.message(&window.hours))
                .help(e.help());
            checker.report(at("/window/hours", d));
        }
    }
    for item in catalog.campaigns.values() {
        let Some(window) = &item.value.window else {
            continue;
        };
        if let Err(e) = hours(window) {
            let d = checker
                .error(
                    Code::Window,
                    &item.loc,
                    "/window/hours",
                    e.message(&window.hours),
                )
                .help(e.help());
            checker.report(d);
        }
        let send = &item.value.send;
        if send.broadcast.is_some() || send.template_broadcast.is_some() {
            let d = checker
                .error(
                    Code::Window,
                    &item.loc,
                    "/window",
                    format!(
                        "campaign `{}` is a broadcast: Engati publishes it to the whole \
                         audience at once, so a send window in each recipient's time cannot \
                         be kept",
                        item.name
                    ),
                )
                .label("not possible for a broadcast")
                .help(
                    "remove `window:` (a broadcast goes at its `schedule.at`), or send a \
                     `template` (one request per recipient) to keep each recipient's hours",
                );
            checker.report(d);
        }
    }
}

/// A window's hours parsed, or why not.
fn hours(window: &Window) -> Result<crate::window::Rule, crate::window::HoursError> {
    crate::window::Rule::parse(&window.hours, window.days.as_deref())
}

/// The help line for a `user.timezone` that names no zone.
pub(super) fn zone_help(e: &UnknownZone) -> String {
    match e.suggestion {
        Some(_) => e.help(),
        None => "write an IANA zone name such as `Asia/Kolkata`, or leave it empty to use the \
                 zone of the phone's country code"
            .to_owned(),
    }
}

/// How bad `user.timezone` values are reported: errors when a window may read them.
fn severity(checker: &Checker<'_>) -> Severity {
    if checker.windows {
        Severity::Error
    } else {
        Severity::Warning
    }
}

/// Checks an inline user's `timezone` (at `sub`): text naming a zone, or empty.
pub(super) fn check_user_zone(checker: &mut Checker<'_>, loc: &Loc, sub: &str, value: &VarValue) {
    let (message, help) = match value {
        VarValue::Text(name) if name.is_empty() => return,
        VarValue::Text(name) => match crate::tz::id_of(name) {
            Ok(_) => return,
            Err(e) => (format!("user.timezone: {}", e.message()), zone_help(&e)),
        },
        _ => (
            "user.timezone must be an IANA zone name, found a number or a boolean".to_owned(),
            "write the zone's name in quotes, e.g. \"Asia/Kolkata\"".to_owned(),
        ),
    };
    let mut d = checker.error(Code::TimeZone, loc, sub, message).help(help);
    d.severity = severity(checker);
    checker.report(d);
}

/// The `timezone` column of a CSV audience, checked row by row.
pub(super) struct RowZones {
    column: Option<usize>,
    severity: Severity,
    bad: usize,
}

impl RowZones {
    /// For a file with these columns.
    pub(super) fn new(columns: &[String], windows: bool) -> RowZones {
        RowZones {
            column: columns.iter().position(|c| c == "timezone"),
            severity: if windows {
                Severity::Error
            } else {
                Severity::Warning
            },
            bad: 0,
        }
    }

    /// A row's zone, when it names no zone: its column, its value and why. Rows are read on
    /// several threads: which are reported one by one is for [`RowZones::count`]'s caller.
    pub(super) fn problem<'r>(
        &self,
        record: &crate::load::csv::Record<'r>,
    ) -> Option<(usize, &'r str, UnknownZone)> {
        let column = self.column?;
        let value = record.get(column).unwrap_or_default();
        if value.is_empty() {
            return None;
        }
        let unknown = crate::tz::id_of(value).err()?;
        Some((column, value, unknown))
    }

    /// Notes that `bad` rows have a zone that names none.
    pub(super) fn count(&mut self, bad: usize) {
        self.bad += bad;
    }

    /// How the rows are reported.
    pub(super) fn severity(&self) -> Severity {
        self.severity
    }

    /// A count of the bad rows not reported one by one, if any.
    pub(super) fn more(&self, file: &str) -> Option<Diagnostic> {
        let more = self.bad.checked_sub(MAX_ROW_ERRORS).filter(|&n| n > 0)?;
        let mut d = Diagnostic::error(
            Code::TimeZone,
            file.to_owned(),
            format!(
                "{file}: {} more with a `timezone` that is not an IANA time zone",
                crate::words::count(more, "row")
            ),
        )
        .help("fix the timezone column; only the first rows are shown");
        d.severity = self.severity;
        Some(d)
    }
}
