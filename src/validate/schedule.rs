//! Checks of a campaign's `schedule`: one-off (`at`, RFC 3339 or `now`) or recurring (`cron`
//! in a `timezone`, between `from` and `until`), never both.

use super::{Checker, Loc};
use crate::diagnostic::Code;

/// A schedule is one-off (`at`) or recurring (`cron`, with its `timezone`, `from`, `until`).
pub(super) fn check_schedule(
    checker: &mut Checker<'_>,
    loc: &Loc,
    schedule: &crate::model::Schedule,
) {
    let recurring_only = [
        ("timezone", schedule.timezone.is_some()),
        ("from", schedule.from.is_some()),
        ("until", schedule.until.is_some()),
    ];
    match (&schedule.at, &schedule.cron) {
        (Some(at), None) => {
            check_at(checker, loc, at);
            for (field, given) in recurring_only {
                if given {
                    let d = checker
                        .error(
                            Code::Schedule,
                            loc,
                            &format!("/schedule/{field}"),
                            format!("`{field}` belongs to a recurring schedule, and this one is one-off (`at`)"),
                        )
                        .help("write the offset in `at` itself (e.g. `2026-12-01T09:00:00+05:30`), or use `cron` for a recurring campaign");
                    checker.report(d);
                }
            }
        }
        (None, Some(_)) => {
            if let Some(Err(e)) = schedule.recurrence() {
                let d = checker
                    .error(
                        Code::Schedule,
                        loc,
                        &format!("/schedule/{}", e.field),
                        e.message,
                    )
                    .help(match e.field {
                        "cron" => "five fields: minute hour day-of-month month day-of-week, e.g. `0 9 * * MON` for Mondays at 09:00",
                        "timezone" => "an IANA time zone name, e.g. `Asia/Kolkata` or `Europe/London`",
                        _ => "a day as YYYY-MM-DD, in the schedule's time zone",
                    });
                checker.report(d);
            }
        }
        (Some(_), Some(_)) => {
            let d = checker
                .error(
                    Code::Schedule,
                    loc,
                    "/schedule",
                    "a schedule has either `at` (one-off) or `cron` (recurring), not both",
                )
                .help("keep `at` to send once, or `cron` to send at every occurrence");
            checker.report(d);
        }
        (None, None) => {
            let d = checker
                .error(Code::Schedule, loc, "/schedule", "a schedule needs `at` or `cron`")
                .help("`at: 2026-12-01T09:00:00+05:30` (or `now`) sends once; `cron: \"0 9 * * MON\"` sends at every occurrence");
            checker.report(d);
        }
    }
}

fn check_at(checker: &mut Checker<'_>, loc: &Loc, at: &str) {
    if at == "now" || at.parse::<jiff::Timestamp>().is_ok() {
        return;
    }
    let help = if at.parse::<jiff::civil::DateTime>().is_ok() {
        format!("add the UTC offset, e.g. `{at}+05:30` or `{at}Z`")
    } else if at.eq_ignore_ascii_case("now") {
        "write `now` in lowercase".to_owned()
    } else {
        "write an RFC 3339 time with its offset, e.g. 2026-12-01T09:00:00+05:30, or `now`"
            .to_owned()
    };
    let d = checker
        .error(
            Code::Schedule,
            loc,
            "/schedule/at",
            format!("`{at}` is not an RFC 3339 time or `now`"),
        )
        .help(help);
    checker.report(d);
}
