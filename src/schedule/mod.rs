//! When a recurring campaign goes out: a five-field cron pattern (as in GitHub Actions and
//! Kubernetes CronJobs) read in an IANA time zone, between an optional first and last day.
//! Each occurrence is its own round of deliveries; this module only says when they are.
//!
//! Patterns are read as POSIX cron reads them: `0` and `7` are Sunday, and a pattern that
//! restricts both the day of the month and the day of the week matches either. Across a
//! daylight-saving change the rules are Vixie cron's (croner's): a fixed time that falls in
//! the hour skipped in spring goes at the first minute after it; a time repeated in autumn goes
//! once, at its first instance.

mod cron_time;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use cron_time::CronTime;

/// A validated recurring schedule.
#[derive(Debug, Clone)]
pub struct Recurrence {
    cron: Cron,
    /// The pattern as written, for plans.
    pattern: String,
    zone: TimeZone,
    zone_name: String,
    /// The start of `from:`'s day in the zone.
    first: Option<Timestamp>,
    /// The end of `until:`'s day in the zone (exclusive).
    end: Option<Timestamp>,
}

/// Which field of a recurring schedule is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `cron`, `timezone`, `from` or `until`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ScheduleError {
    fn new(field: &'static str, message: impl Into<String>) -> ScheduleError {
        ScheduleError {
            field,
            message: message.into(),
        }
    }
}

impl Recurrence {
    /// Reads `schedule.cron`, `timezone` (default UTC), `from` and `until` (days,
    /// `YYYY-MM-DD`, inclusive).
    pub fn parse(
        pattern: &str,
        timezone: Option<&str>,
        from: Option<&str>,
        until: Option<&str>,
    ) -> Result<Recurrence, ScheduleError> {
        if pattern.split_whitespace().count() != 5 && !pattern.trim_start().starts_with('@') {
            return Err(ScheduleError::new(
                "cron",
                format!(
                    "`{pattern}` is not a five-field cron pattern (minute hour day-of-month month \
                     day-of-week, e.g. `0 9 * * MON`)"
                ),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| {
                ScheduleError::new(
                    "cron",
                    format!("`{pattern}` is not a cron pattern: {}", reason(&e)),
                )
            })?;
        let zone_name = timezone.unwrap_or("UTC");
        let zone = crate::tz::zone(zone_name)
            .map_err(|e| ScheduleError::new("timezone", e.to_string()))?;
        let day = |field: &'static str, text: &str| {
            text.parse::<Date>().map_err(|_| {
                let shaped = text.len() == 10
                    && text.char_indices().all(|(i, c)| {
                        if i == 4 || i == 7 {
                            c == '-'
                        } else {
                            c.is_ascii_digit()
                        }
                    });
                let message = if shaped {
                    format!("`{text}` is not a day of the calendar")
                } else {
                    format!("`{text}` is not a day: write it as YYYY-MM-DD, e.g. 2026-12-01")
                };
                ScheduleError::new(field, message)
            })
        };
        let start_of = |field: &'static str, date: Date| {
            date.to_zoned_datetime(zone.clone())
                .map(|z| z.timestamp())
                .map_err(|e| ScheduleError::new(field, e.to_string()))
        };
        let first = from
            .map(|text| day("from", text).and_then(|d| start_of("from", d)))
            .transpose()?;
        let end = until
            .map(|text| {
                let date = day("until", text)?;
                let next = date
                    .checked_add(1.day())
                    .map_err(|e| ScheduleError::new("until", e.to_string()))?;
                start_of("until", next)
            })
            .transpose()?;
        if let (Some(first), Some(end)) = (first, end)
            && end <= first
        {
            return Err(ScheduleError::new(
                "until",
                "`until` is before `from`: the schedule never happens",
            ));
        }
        let recurrence = Recurrence {
            cron,
            pattern: pattern.trim().to_owned(),
            zone,
            zone_name: zone_name.to_owned(),
            first,
            end,
        };
        let start = first.unwrap_or(Timestamp::UNIX_EPOCH);
        if recurrence.next_after(start).is_none() && recurrence.latest_due(start).is_none() {
            let when = match (from, until) {
                (None, None) => "",
                _ => " between `from` and `until`",
            };
            return Err(ScheduleError::new(
                "cron",
                format!("`{pattern}` never happens{when}"),
            ));
        }
        Ok(recurrence)
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The IANA name of the zone the pattern is read in.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The latest occurrence at or before `now`, within `from` and `until`.
    pub fn latest_due(&self, now: Timestamp) -> Option<Timestamp> {
        let mut upto = now;
        if let Some(end) = self.end {
            upto = upto.min(end.checked_sub(1.second()).ok()?);
        }
        let found = self
            .cron
            .find_previous_occurrence(&self.at(upto), true)
            .ok()?
            .0
            .timestamp();
        self.first
            .is_none_or(|first| found >= first)
            .then_some(found)
    }

    /// The first occurrence after `now`, within `from` and `until`.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let (start, inclusive) = match self.first {
            Some(first) if first > now => (first, true),
            _ => (now, false),
        };
        let found = self
            .cron
            .find_next_occurrence(&self.at(start), inclusive)
            .ok()?
            .0
            .timestamp();
        self.end.is_none_or(|end| found < end).then_some(found)
    }

    /// How many occurrences fall strictly between `after` and `before`, counting at most
    /// `cap` of them (the plan says "12 missed", not how many a minutely pattern missed in a
    /// year).
    pub fn count_between(&self, after: Timestamp, before: Timestamp, cap: usize) -> usize {
        let mut count = 0;
        let mut at = after;
        while count < cap {
            match self.next_after(at) {
                Some(next) if next < before => {
                    count += 1;
                    at = next;
                }
                _ => break,
            }
        }
        count
    }

    /// `t` in the schedule's zone, as croner searches from it.
    fn at(&self, t: Timestamp) -> CronTime {
        CronTime(t.to_zoned_datetime(self.zone.clone()))
    }
}

/// croner's reason, without its error kind's prefix.
fn reason(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    match e {
        CronError::InvalidPattern(why)
        | CronError::IllegalCharacters(why)
        | CronError::ComponentError(why) => why.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    fn weekly() -> Recurrence {
        Recurrence::parse("0 9 * * MON", Some("Asia/Kolkata"), None, None).expect("valid")
    }

    #[test]
    fn monday_nine_in_kolkata_is_half_past_three_utc() {
        let r = weekly();
        // Monday 2026-12-07 09:00 IST = 03:30 UTC.
        assert_eq!(
            r.latest_due(t("2026-12-07T03:30:00Z")),
            Some(t("2026-12-07T03:30:00Z"))
        );
        assert_eq!(
            r.latest_due(t("2026-12-07T03:29:59Z")),
            Some(t("2026-11-30T03:30:00Z"))
        );
        assert_eq!(
            r.next_after(t("2026-12-07T03:30:00Z")),
            Some(t("2026-12-14T03:30:00Z"))
        );
    }

    #[test]
    fn day_numbers_are_posix_ones() {
        // 1 is Monday and 0 and 7 are Sunday, as in crontab(5).
        let monday = Recurrence::parse("0 9 * * 1", None, None, None).unwrap();
        assert_eq!(
            monday.next_after(t("2026-12-01T00:00:00Z")),
            Some(t("2026-12-07T09:00:00Z"))
        );
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let r = Recurrence::parse(sunday, None, None, None).unwrap();
            assert_eq!(
                r.next_after(t("2026-12-01T00:00:00Z")),
                Some(t("2026-12-06T09:00:00Z")),
                "{sunday}"
            );
        }
    }

    #[test]
    fn day_of_month_and_day_of_week_match_either() {
        // The 1st of the month or any Friday, as POSIX cron reads it.
        let r = Recurrence::parse("0 9 1 * FRI", None, None, None).unwrap();
        assert_eq!(
            r.next_after(t("2026-11-28T00:00:00Z")),
            Some(t("2026-12-01T09:00:00Z"))
        );
        assert_eq!(
            r.next_after(t("2026-12-01T09:00:00Z")),
            Some(t("2026-12-04T09:00:00Z"))
        );
    }

    #[test]
    fn from_and_until_bound_the_occurrences_by_whole_days_in_the_zone() {
        let r = Recurrence::parse(
            "0 9 * * *",
            Some("Asia/Kolkata"),
            Some("2026-12-03"),
            Some("2026-12-05"),
        )
        .unwrap();
        assert_eq!(r.latest_due(t("2026-12-02T12:00:00Z")), None);
        assert_eq!(
            r.next_after(t("2026-11-01T00:00:00Z")),
            Some(t("2026-12-03T03:30:00Z"))
        );
        assert_eq!(
            r.latest_due(t("2027-01-01T00:00:00Z")),
            Some(t("2026-12-05T03:30:00Z"))
        );
        assert_eq!(r.next_after(t("2026-12-05T03:30:00Z")), None);
        assert_eq!(
            r.count_between(t("2026-12-01T00:00:00Z"), t("2027-01-01T00:00:00Z"), 100),
            3
        );
    }

    #[test]
    fn a_time_skipped_in_spring_goes_just_after_the_gap() {
        // London skips 01:00-02:00 on 2026-03-29: a 01:30 schedule goes at 02:00 BST (01:00Z).
        let r = Recurrence::parse("30 1 * * *", Some("Europe/London"), None, None).unwrap();
        assert_eq!(
            r.next_after(t("2026-03-28T12:00:00Z")),
            Some(t("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            r.next_after(t("2026-03-29T01:00:00Z")),
            Some(t("2026-03-30T00:30:00Z"))
        );
    }

    #[test]
    fn a_time_repeated_in_autumn_goes_once() {
        // London repeats 01:00-02:00 on 2026-10-25: a 01:30 schedule goes once, at 01:30 BST.
        let r = Recurrence::parse("30 1 * * *", Some("Europe/London"), None, None).unwrap();
        assert_eq!(
            r.next_after(t("2026-10-24T12:00:00Z")),
            Some(t("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            r.next_after(t("2026-10-25T00:30:00Z")),
            Some(t("2026-10-26T01:30:00Z"))
        );
        assert_eq!(
            r.count_between(t("2026-10-24T12:00:00Z"), t("2026-10-26T12:00:00Z"), 10),
            2
        );
    }

    #[test]
    fn counting_stops_at_the_cap() {
        let r = Recurrence::parse("* * * * *", None, None, None).unwrap();
        assert_eq!(
            r.count_between(t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z"), 50),
            50
        );
    }

    #[test]
    fn bad_schedules_say_which_field_and_why() {
        let field = |cron: &str, tz: Option<&str>, from: Option<&str>, until: Option<&str>| {
            Recurrence::parse(cron, tz, from, until).unwrap_err().field
        };
        assert_eq!(field("0 9 * *", None, None, None), "cron");
        assert_eq!(field("0 0 9 * * MON", None, None, None), "cron");
        assert_eq!(field("0 25 * * *", None, None, None), "cron");
        assert_eq!(
            field("0 9 * * MON", Some("Asia/Calcuttta"), None, None),
            "timezone"
        );
        assert_eq!(field("0 9 * * MON", None, Some("01/12/2026"), None), "from");
        assert_eq!(
            field("0 9 * * *", None, Some("2026-12-05"), Some("2026-12-01")),
            "until"
        );
        // February 30th never comes.
        assert_eq!(field("0 9 30 2 *", None, None, None), "cron");
        let message = |cron: &str, from: Option<&str>| {
            Recurrence::parse(cron, None, from, None)
                .unwrap_err()
                .message
        };
        assert_eq!(message("0 9 30 2 *", None), "`0 9 30 2 *` never happens");
        assert_eq!(
            message("0 9 * * *", Some("2026-02-30")),
            "`2026-02-30` is not a day of the calendar"
        );
        assert_eq!(
            message("*/0 * * * *", None),
            "`*/0 * * * *` is not a cron pattern: Step cannot be zero."
        );
    }
}
