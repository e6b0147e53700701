//! `window:`: the hours and weekdays, in each recipient's local time, in which a campaign may
//! message them (on a campaign, or as the project's default in herald.yaml).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A send window in each recipient's local time: outside it, a recipient is `waiting` until it
/// opens, and the next apply after that sends to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The local wall-clock hours, `HH:MM-HH:MM` (24-hour, the end not included), e.g.
    /// `09:00-20:00`. `20:00-02:00` runs past midnight and belongs to the day it opens;
    /// `00:00-24:00` is the whole day.
    pub hours: String,
    /// The weekdays on which the window opens (`mon` … `sun`). Default: every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub days: Option<Vec<Day>>,
}

/// A day of the week.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Day {
    /// Every day, Monday first.
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// Its name in files: `mon` … `sun`.
    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }

    /// Days from Monday (0 for Monday, 6 for Sunday).
    pub fn from_monday(self) -> u8 {
        self as u8
    }
}
