//! Where a command takes the time from: the system clock, or `--now`, which moves the clock to
//! another time and lets it run from there. Plan uses one instant; apply reads the clock for
//! every time it records (the apply's start and end, each attempt), so with `--now` state
//! reads as if the apply had run then, with its real durations.

use jiff::{SignedDuration, Timestamp};

/// How far `--now` may be from the real clock when apply sends to a real API: one minute, the
/// tolerance of two machines' clocks, so that `--now` cannot make a real apply send early.
pub const REAL_API_TOLERANCE: SignedDuration = SignedDuration::from_mins(1);

/// The time a command acts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    /// Added to the system clock: zero without `--now`.
    offset: SignedDuration,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `at` now and runs on from there (`--now`); the system clock for
    /// `None`.
    pub fn starting_at(at: Option<Timestamp>) -> Clock {
        match at {
            Some(at) => Clock {
                offset: at.duration_since(Timestamp::now()),
            },
            None => Clock::system(),
        }
    }

    /// The time now, by this clock.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or_else(|_| Timestamp::now())
    }

    /// The time now in whole seconds: what a plan shows, saves and templates see as `now`.
    pub fn now_in_seconds(&self) -> Timestamp {
        let now = self.now();
        now.round(jiff::Unit::Second).unwrap_or(now)
    }

    /// How far this clock is from the system's (zero for the system clock).
    pub fn offset(&self) -> SignedDuration {
        self.offset
    }

    /// Whether this clock may drive sends to an API that is not on this machine: within
    /// [`REAL_API_TOLERANCE`] of the system clock.
    pub fn fits_a_real_api(&self) -> bool {
        self.offset.abs() <= REAL_API_TOLERANCE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_not_moved() {
        let clock = Clock::system();
        assert_eq!(clock.offset(), SignedDuration::ZERO);
        assert!(clock.fits_a_real_api());
    }

    #[test]
    fn a_moved_clock_reads_its_time_and_runs_on() {
        let at: Timestamp = "2026-03-29T00:30:00Z".parse().unwrap();
        let clock = Clock::starting_at(Some(at));
        let now = clock.now();
        assert!(now >= at && now.duration_since(at) < SignedDuration::from_secs(5));
        assert!(!clock.fits_a_real_api());
        assert_eq!(clock.now_in_seconds().subsec_nanosecond(), 0);
    }

    #[test]
    fn a_clock_moved_by_seconds_still_fits_a_real_api() {
        let soon = Timestamp::now() + SignedDuration::from_secs(20);
        assert!(Clock::starting_at(Some(soon)).fits_a_real_api());
        let later = Timestamp::now() + SignedDuration::from_mins(2);
        assert!(!Clock::starting_at(Some(later)).fits_a_real_api());
    }
}
