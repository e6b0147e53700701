//! [`Budget`]: the work and time a run's renderings may take in all, and [`Spent`], what they
//! took.

use std::time::Duration;

/// What renderings took: minijinja's fuel, and the time spent inside them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// Fuel used.
    pub fuel: u64,
    /// Time spent rendering (not reading files, waiting for the Users API or writing output).
    pub time: Duration,
}

/// The work and time a run's renderings may take in all: validate's trial renders, or a plan's
/// campaigns (a base, and an allowance per recipient as each campaign is rendered). Fuel is
/// charged in a fixed order (the audience's), so where it runs out is the same on every run;
/// time, counted only while rendering, is a last resort for work fuel does not see, far above
/// what real campaigns take.
#[derive(Debug)]
pub struct Budget {
    fuel: u64,
    time: Duration,
    spent: Spent,
}

/// What a [`Budget`] ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The renderings' work.
    Fuel,
    /// The time spent rendering.
    Time,
}

impl Budget {
    /// Fuel validation's trial renders may use in all, about a second's work: a project of
    /// thousands of strings that each burn their whole allowance is still answered at once.
    pub const VALIDATE_FUEL: u64 = 5_000_000;
    /// Time they may take, whatever fuel says.
    pub const VALIDATE_TIME: Duration = Duration::from_secs(5);
    /// A plan's allowance besides its recipients': the strings rendered once per campaign.
    pub const PLAN_FUEL: u64 = 5_000_000;
    /// Time besides the recipients'.
    pub const PLAN_TIME: Duration = Duration::from_secs(5);
    /// Fuel per recipient: about a hundred times what real strings use.
    pub const FUEL_PER_RECIPIENT: u64 = 2_000;
    /// Time per recipient: about a hundred times what rendering one takes.
    pub const TIME_PER_RECIPIENT: Duration = Duration::from_micros(100);

    /// A budget of `fuel` and `time`.
    pub fn new(fuel: u64, time: Duration) -> Budget {
        Budget {
            fuel,
            time,
            spent: Spent::default(),
        }
    }

    /// A plan's budget before any recipient.
    pub fn plan() -> Budget {
        Budget::new(Budget::PLAN_FUEL, Budget::PLAN_TIME)
    }

    /// Validation's budget.
    pub fn validate() -> Budget {
        Budget::new(Budget::VALIDATE_FUEL, Budget::VALIDATE_TIME)
    }

    /// Adds the allowance of `recipients` recipients.
    pub fn allow(&mut self, recipients: usize) {
        let n = recipients as u64;
        self.fuel = self
            .fuel
            .saturating_add(n.saturating_mul(Budget::FUEL_PER_RECIPIENT));
        let per = Budget::TIME_PER_RECIPIENT
            .saturating_mul(u32::try_from(recipients).unwrap_or(u32::MAX));
        self.time = self.time.saturating_add(per);
    }

    /// Charges what renderings took; `Err` once the budget is spent.
    pub fn charge(&mut self, spent: Spent) -> Result<(), Exhausted> {
        self.spent.fuel = self.spent.fuel.saturating_add(spent.fuel);
        self.spent.time = self.spent.time.saturating_add(spent.time);
        self.check()
    }

    /// `Err` once the budget is spent.
    pub fn check(&self) -> Result<(), Exhausted> {
        if self.spent.fuel > self.fuel {
            Err(Exhausted::Fuel)
        } else if self.spent.time > self.time {
            Err(Exhausted::Time)
        } else {
            Ok(())
        }
    }

    /// The rendering time left: what threads rendering at once may share before they stop,
    /// without waiting for their work to be charged in order.
    pub fn time_left(&self) -> Duration {
        self.time.saturating_sub(self.spent.time)
    }
}

impl Exhausted {
    /// What ran out, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Exhausted::Fuel => "do more work than herald allows",
            Exhausted::Time => "take longer than herald allows",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fuel(fuel: u64) -> Spent {
        Spent {
            fuel,
            time: Duration::ZERO,
        }
    }

    #[test]
    fn budgets_run_out_of_fuel_at_the_same_place() {
        let mut budget = Budget::new(10, Duration::from_secs(60));
        assert_eq!(budget.charge(fuel(6)), Ok(()));
        assert_eq!(budget.charge(fuel(4)), Ok(()));
        assert_eq!(budget.charge(fuel(1)), Err(Exhausted::Fuel));
        budget.allow(1);
        assert_eq!(budget.check(), Ok(()));
    }

    #[test]
    fn only_time_spent_rendering_counts() {
        let mut budget = Budget::new(1_000, Duration::from_millis(10));
        let slow = Spent {
            fuel: 1,
            time: Duration::from_millis(6),
        };
        assert_eq!(budget.charge(slow), Ok(()));
        assert_eq!(budget.time_left(), Duration::from_millis(4));
        assert_eq!(budget.charge(slow), Err(Exhausted::Time));
    }
}
