//! The send-window rule: whether an instant falls inside a window of local wall-clock hours and
//! weekdays in a time zone, and when the window next opens. Pure: the zone comes from
//! [`crate::tz`], the time from the caller.
//!
//! A window is wall-clock time, so it follows DST: `09:00-20:00` in Europe/London is 08:00-19:00
//! UTC in summer and 09:00-20:00 UTC in winter. Hours a DST change skips do not exist (a window
//! opening in them opens when the clock jumps past them), and hours it repeats are inside the
//! window both times. Hours that wrap midnight (`20:00-02:00`) belong to the day the window
//! opens: on `days: [fri]` that is Friday 20:00 to Saturday 02:00.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::model::Day;

/// Seconds in a day: a window's end may be `24:00`.
const DAY: i32 = 86_400;
/// How far ahead the next opening is looked for: a week, and two more for the odd week a DST
/// change swallows a short window whole.
const HORIZON_DAYS: i64 = 22;

/// Why `hours` is not a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoursError {
    /// Not `HH:MM-HH:MM`.
    Malformed,
    /// The same start and end: an empty window, or one meant to be the whole day.
    Empty,
}

impl HoursError {
    /// What is wrong with `hours`.
    pub fn message(&self, hours: &str) -> String {
        match self {
            HoursError::Malformed => {
                format!("window hours `{hours}` are not two 24-hour times `HH:MM-HH:MM`")
            }
            HoursError::Empty => format!("window hours `{hours}` start and end at the same time"),
        }
    }

    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            HoursError::Malformed => {
                "write the local hours as `09:00-20:00` (the end not included; `24:00` ends at \
                 midnight, and `20:00-02:00` runs past it)"
            }
            HoursError::Empty => "write `00:00-24:00` for the whole day",
        }
    }
}

/// A parsed window: hours as seconds of the day, and the weekdays it opens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Opening, in seconds after midnight (0 to 86,340).
    start: i32,
    /// Closing (not included), in seconds after midnight (60 to 86,400); less than `start`
    /// when the window runs past midnight.
    end: i32,
    /// Bit `n` set: the window opens on the `n`th day from Monday.
    days: u8,
}

/// Whether an instant is in a recipient's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Inside: send, before the window closes then (`None`: it stays open for the weeks
    /// ahead, as `00:00-24:00` every day does).
    Open(Option<Timestamp>),
    /// Outside: the window next opens then.
    Opens(Timestamp),
}

impl Rule {
    /// Parses `hours` (`HH:MM-HH:MM`) and `days` (every day when `None`).
    pub fn parse(hours: &str, days: Option<&[Day]>) -> Result<Rule, HoursError> {
        let (start, end) = hours.trim().split_once('-').ok_or(HoursError::Malformed)?;
        let start = clock(start.trim(), false)?;
        let end = clock(end.trim(), true)?;
        if start == end {
            return Err(HoursError::Empty);
        }
        let days = match days {
            None => 0x7f,
            Some(days) => days.iter().fold(0, |bits, d| bits | 1 << d.from_monday()),
        };
        Ok(Rule { start, end, days })
    }

    /// Whether the hours run past midnight.
    pub fn wraps(&self) -> bool {
        self.end < self.start
    }

    /// Whether a local wall-clock time is inside the window.
    pub fn contains(&self, local: DateTime) -> bool {
        let t = local.time();
        let secs = i32::from(t.hour()) * 3600 + i32::from(t.minute()) * 60 + i32::from(t.second());
        let day = local.date().weekday().to_monday_zero_offset();
        let opens_on = |day: i8| self.days & (1 << day) != 0;
        if self.wraps() {
            (opens_on(day) && secs >= self.start) || (opens_on((day + 6) % 7) && secs < self.end)
        } else {
            opens_on(day) && secs >= self.start && secs < self.end
        }
    }

    /// Whether `at` is inside the window in `tz`.
    pub fn inside(&self, at: Timestamp, tz: &TimeZone) -> bool {
        self.contains(tz.to_datetime(at))
    }

    /// Whether `at` is inside the window in `tz` (and until when), and if not when it next
    /// opens; `None` when it does not open within [`HORIZON_DAYS`] days (a window that DST
    /// changes swallow for weeks: no zone does that).
    pub fn decide(&self, at: Timestamp, tz: &TimeZone) -> Option<Decision> {
        if self.inside(at, tz) {
            return Some(Decision::Open(self.next_closing(at, tz)));
        }
        self.next_opening(at, tz).map(Decision::Opens)
    }

    /// The first instant after `at` at which the window is open in `tz`.
    ///
    /// Outside the window, the wall clock enters it either by reaching its opening time on a
    /// day it opens on (or, when that time is skipped by a DST change, by jumping past it), or
    /// by a DST change setting the clock back into it. So the answer is the earliest of the
    /// first such opening and the first such change that lands inside.
    pub fn next_opening(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.next_edge(at, tz, self.start, true)
    }

    /// The first instant after `at` at which the window is closed in `tz`: by the same
    /// reasoning, its closing time (on any day: which window it closes is for [`Rule::inside`]
    /// to say) or a DST change that lands outside.
    pub fn next_closing(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.next_edge(at, tz, self.end, false)
    }

    /// The first instant after `at` at which the wall clock reaches `edge` (seconds after
    /// midnight) or a DST change moves it, and the window is then `open` (or closed).
    fn next_edge(&self, at: Timestamp, tz: &TimeZone, edge: i32, open: bool) -> Option<Timestamp> {
        let horizon = at
            .checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS))
            .ok()?;
        let lands = |t: Timestamp| t > at && t < horizon && self.inside(t, tz) == open;
        let by_change = tz
            .following(at)
            .map(|t| t.timestamp())
            .take_while(|&t| t < horizon)
            .find(|&t| lands(t));
        let today = tz.to_datetime(at).date();
        // `24:00` is midnight, reached on the next day's date: the days run on to cover it.
        let edge = edge % DAY;
        let time = Time::new(
            i8::try_from(edge / 3600).ok()?,
            i8::try_from(edge % 3600 / 60).ok()?,
            0,
            0,
        )
        .ok()?;
        let by_edge = (-1..=HORIZON_DAYS + 1)
            .filter_map(|n| today.checked_add(n.days()).ok())
            // A window opens only on its days; closings are judged by `inside` alone.
            .filter(|d| !open || self.days & (1 << d.weekday().to_monday_zero_offset()) != 0)
            .flat_map(|d| instants(d, time, tz))
            .flatten()
            .find(|&t| lands(t));
        match (by_change, by_edge) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The instants the wall clock of `tz` reaches `time` on `date`, earliest first: one as a
/// rule; two when a DST change repeats the hour; and when a change skips it, the moment the
/// clock jumps past it.
fn instants(date: Date, time: Time, tz: &TimeZone) -> [Option<Timestamp>; 2] {
    let local = date.to_datetime(time);
    let ambiguous = tz.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => [offset.to_timestamp(local).ok(), None],
        AmbiguousOffset::Fold { before, after } => [
            before.to_timestamp(local).ok(),
            after.to_timestamp(local).ok(),
        ],
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the offset after the change, the skipped time is an instant before the
            // change; the change itself is the first transition after it.
            let before_change = after.to_timestamp(local).ok();
            let change = before_change.and_then(|t| tz.following(t).next());
            [change.map(|t| t.timestamp()), None]
        }
    }
}

/// `HH:MM` as seconds after midnight; `24:00` only for an end.
fn clock(text: &str, end: bool) -> Result<i32, HoursError> {
    let (h, m) = text.split_once(':').ok_or(HoursError::Malformed)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(HoursError::Malformed);
    }
    let (h, m): (i32, i32) = (
        h.parse().map_err(|_| HoursError::Malformed)?,
        m.parse().map_err(|_| HoursError::Malformed)?,
    );
    match (h, m) {
        (24, 0) if end => Ok(DAY),
        (0..=23, 0..=59) => Ok(h * 3600 + m * 60),
        _ => Err(HoursError::Malformed),
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
