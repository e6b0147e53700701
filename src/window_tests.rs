//! Tests of the send-window rule: parsing, inside and outside, wrapping hours, and openings
//! across DST changes in zones that have them.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;

fn rule(hours: &str, days: &[Day]) -> Rule {
    Rule::parse(hours, Some(days)).expect("a window")
}

fn every_day(hours: &str) -> Rule {
    Rule::parse(hours, None).expect("a window")
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

fn zone(name: &str) -> TimeZone {
    crate::tz::zone(name).expect("a zone")
}

const WEEKDAYS: &[Day] = &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat];

#[test]
fn hours_parse_or_say_why_not() {
    assert!(Rule::parse("09:00-20:00", None).is_ok());
    assert!(Rule::parse(" 00:00 - 24:00 ", None).is_ok());
    assert!(every_day("20:00-02:00").wraps());
    assert!(!every_day("09:00-20:00").wraps());
    for bad in [
        "9-17",
        "09:00",
        "9:00-17:00",
        "09:00-25:00",
        "24:00-09:00",
        "09:60-10:00",
        "a-b",
        "",
    ] {
        assert_eq!(Rule::parse(bad, None), Err(HoursError::Malformed), "{bad}");
    }
    assert_eq!(Rule::parse("10:00-10:00", None), Err(HoursError::Empty));
    assert!(HoursError::Malformed.message("9-17").contains("`9-17`"));
}

#[test]
fn inside_before_and_after_the_hours() {
    let kolkata = zone("Asia/Kolkata");
    let r = rule("09:00-20:00", WEEKDAYS);
    // Wednesday 2 December 2026, 09:00 in India is 03:30 UTC.
    assert_eq!(
        r.decide(at("2026-12-02T03:30:00Z"), &kolkata),
        Some(Decision::Open(Some(at("2026-12-02T14:30:00Z"))))
    );
    assert_eq!(
        r.decide(at("2026-12-02T14:29:59Z"), &kolkata),
        Some(Decision::Open(Some(at("2026-12-02T14:30:00Z"))))
    );
    assert_eq!(
        r.decide(at("2026-12-02T00:00:00Z"), &kolkata),
        Some(Decision::Opens(at("2026-12-02T03:30:00Z")))
    );
    // 20:00 is the end, not included: the next opening is the morning after.
    assert_eq!(
        r.decide(at("2026-12-02T14:30:00Z"), &kolkata),
        Some(Decision::Opens(at("2026-12-03T03:30:00Z")))
    );
}

#[test]
fn days_left_out_are_skipped() {
    let kolkata = zone("Asia/Kolkata");
    let r = rule("09:00-20:00", WEEKDAYS);
    // Saturday 5 December, 21:00 in India: Sunday is out, so Monday 09:00.
    assert_eq!(
        r.decide(at("2026-12-05T15:30:00Z"), &kolkata),
        Some(Decision::Opens(at("2026-12-07T03:30:00Z")))
    );
    assert!(!r.inside(at("2026-12-06T06:00:00Z"), &kolkata));
}

#[test]
fn hours_past_midnight_belong_to_the_day_they_open() {
    let utc = TimeZone::UTC;
    let r = rule("20:00-02:00", &[Day::Fri]);
    // Friday 4 December 2026.
    assert!(r.inside(at("2026-12-04T20:00:00Z"), &utc));
    assert!(r.inside(at("2026-12-05T01:59:59Z"), &utc));
    assert!(!r.inside(at("2026-12-05T02:00:00Z"), &utc));
    // Saturday night is not Friday's window.
    assert!(!r.inside(at("2026-12-05T21:00:00Z"), &utc));
    // Thursday 01:00 is Wednesday's window, which does not open.
    assert!(!r.inside(at("2026-12-03T01:00:00Z"), &utc));
    assert_eq!(
        r.next_opening(at("2026-12-04T19:00:00Z"), &utc),
        Some(at("2026-12-04T20:00:00Z"))
    );
    assert_eq!(
        r.next_opening(at("2026-12-05T02:00:00Z"), &utc),
        Some(at("2026-12-11T20:00:00Z"))
    );
    assert!(every_day("00:00-24:00").inside(at("2026-12-05T23:59:59Z"), &utc));
    assert_eq!(
        every_day("00:00-24:00").decide(at("2026-12-05T23:59:59Z"), &utc),
        Some(Decision::Open(None))
    );
    assert_eq!(
        rule("00:00-24:00", &[Day::Sat]).next_closing(at("2026-12-05T12:00:00Z"), &utc),
        Some(at("2026-12-06T00:00:00Z"))
    );
    assert_eq!(
        r.next_closing(at("2026-12-04T23:00:00Z"), &utc),
        Some(at("2026-12-05T02:00:00Z"))
    );
}

#[test]
fn the_window_keeps_to_the_wall_clock_across_dst() {
    let london = zone("Europe/London");
    let r = every_day("09:00-20:00");
    // Saturday 28 March 2026, 21:00 GMT; the clocks go forward that night.
    assert_eq!(
        r.next_opening(at("2026-03-28T21:00:00Z"), &london),
        Some(at("2026-03-29T08:00:00Z")),
        "09:00 BST"
    );
    // Saturday 24 October, 21:00 BST; the clocks go back that night.
    assert_eq!(
        r.next_opening(at("2026-10-24T20:00:00Z"), &london),
        Some(at("2026-10-25T09:00:00Z")),
        "09:00 GMT"
    );
}

#[test]
fn a_window_opening_in_skipped_hours_opens_when_the_clock_jumps() {
    let london = zone("Europe/London");
    // 01:00 GMT becomes 02:00 BST on 29 March 2026: 01:30 never happens that night.
    let r = every_day("01:30-03:00");
    assert_eq!(
        r.next_opening(at("2026-03-29T00:30:00Z"), &london),
        Some(at("2026-03-29T01:00:00Z"))
    );
    let new_york = zone("America/New_York");
    // 02:00 EST becomes 03:00 EDT on 8 March 2026: a Sunday window of 02:00-02:30 is swallowed
    // whole, and opens the Sunday after.
    let swallowed = rule("02:00-02:30", &[Day::Sun]);
    assert_eq!(
        swallowed.next_opening(at("2026-03-08T06:00:00Z"), &new_york),
        Some(at("2026-03-15T06:00:00Z"))
    );
}

#[test]
fn repeated_hours_are_inside_both_times() {
    let london = zone("Europe/London");
    // 02:00 BST becomes 01:00 GMT on 25 October 2026: 01:00-02:00 happens twice.
    let r = every_day("01:15-01:45");
    assert_eq!(
        r.next_opening(at("2026-10-25T00:00:00Z"), &london),
        Some(at("2026-10-25T00:15:00Z")),
        "the first 01:15, BST"
    );
    assert_eq!(
        r.next_opening(at("2026-10-25T00:45:00Z"), &london),
        Some(at("2026-10-25T01:15:00Z")),
        "the second 01:15, GMT"
    );
    // The clock set back lands inside a window that closed an hour ago.
    // Inside the first 01:15-01:45, the window closes at the first 01:45, not the second.
    assert_eq!(
        r.next_closing(at("2026-10-25T00:20:00Z"), &london),
        Some(at("2026-10-25T00:45:00Z"))
    );
    let early = every_day("00:30-01:30");
    assert_eq!(
        early.next_opening(at("2026-10-25T00:45:00Z"), &london),
        Some(at("2026-10-25T01:00:00Z"))
    );
    let new_york = zone("America/New_York");
    // 1 November 2026: 02:00 EDT becomes 01:00 EST.
    assert_eq!(
        every_day("01:30-01:45").next_opening(at("2026-11-01T05:50:00Z"), &new_york),
        Some(at("2026-11-01T06:30:00Z"))
    );
}

/// Zones with and without DST, whole-hour and odd offsets, both hemispheres.
const ZONES: &[&str] = &[
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Tehran",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The decision agrees with the wall clock, and an opening is the first open instant:
    /// open there, and closed at every sampled instant before it.
    #[test]
    fn the_next_opening_is_the_first_open_instant(
        zone_index in 0..ZONES.len(),
        start in 0i32..1440,
        length in 1i32..1440,
        days in 1u8..128,
        seconds in 1_577_836_800i64..1_893_456_000,
    ) {
        let tz = zone(ZONES[zone_index]);
        let end = (start + length) % 1440;
        let hours = format!(
            "{:02}:{:02}-{:02}:{:02}",
            start / 60, start % 60,
            if end == 0 { 24 } else { end / 60 }, end % 60
        );
        let days: Vec<Day> = Day::ALL.into_iter().filter(|d| days & (1 << d.from_monday()) != 0).collect();
        let r = rule(&hours, &days);
        let now = Timestamp::from_second(seconds).unwrap();
        match r.decide(now, &tz).expect("opens within the horizon") {
            Decision::Open(closes) => {
                prop_assert!(r.contains(tz.to_datetime(now)));
                // Only `00:00-24:00` every day never closes, and lengths here stop short of it.
                let Some(closes) = closes else {
                    return Err(TestCaseError::fail(format!("{hours} {days:?} never closes")));
                };
                prop_assert!(closes > now);
                prop_assert!(!r.inside(closes, &tz), "{hours} {days:?} in {}: still open at {closes}", ZONES[zone_index]);
                let mut t = now;
                while t < closes {
                    prop_assert!(r.inside(t, &tz), "{hours} {days:?} in {}: closed at {t} before {closes}", ZONES[zone_index]);
                    t += SignedDuration::from_mins(7);
                }
            }
            Decision::Opens(opens) => {
                prop_assert!(opens > now);
                prop_assert!(r.inside(opens, &tz), "{hours} {days:?} in {}: {opens}", ZONES[zone_index]);
                let mut t = now;
                while t < opens {
                    prop_assert!(!r.inside(t, &tz), "{hours} {days:?} in {}: open at {t} before {opens}", ZONES[zone_index]);
                    t += SignedDuration::from_mins(7);
                }
                prop_assert!(!r.inside(opens - SignedDuration::from_secs(1), &tz));
            }
        }
    }
}
