//! [`Budget`]: the work and time a run's renderings may take in all.

use std::time::{Duration, Instant};

use super::RENDER_FUEL;

/// The work and time a run's renderings may take in all: validate's trial renders, or a plan's
/// campaigns (a base, and an allowance per recipient as each campaign is rendered). Fuel is
/// charged in a fixed order (the audience's), so where it runs out is the same on every run;
/// time is a last resort for work fuel does not see, far above what real campaigns take.
#[derive(Debug)]
pub struct Budget {
    fuel: u64,
    spent: u64,
    started: Instant,
    time: Duration,
    /// Charges so far: the clock is read every [`Budget::CLOCK_EVERY`] of them, not for every
    /// recipient of a million.
    charges: u64,
}

/// What a [`Budget`] ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The renderings' work.
    Fuel,
    /// The wall-clock time.
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
    /// Time per recipient: about fifty times what rendering one takes.
    pub const TIME_PER_RECIPIENT: Duration = Duration::from_micros(100);
    /// How many cheap charges go by between readings of the clock (an expensive one always
    /// reads it).
    const CLOCK_EVERY: u64 = 256;

    /// A budget of `fuel` and `time`, starting now.
    pub fn new(fuel: u64, time: Duration) -> Budget {
        Budget {
            fuel,
            spent: 0,
            started: Instant::now(),
            time,
            charges: 0,
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

    /// Charges `fuel`; `Err` once the budget is spent.
    pub fn charge(&mut self, fuel: u64) -> Result<(), Exhausted> {
        self.spent = self.spent.saturating_add(fuel);
        self.charges += 1;
        if self.spent > self.fuel {
            return Err(Exhausted::Fuel);
        }
        if self.charges.is_multiple_of(Budget::CLOCK_EVERY) || fuel > RENDER_FUEL / 10 {
            return self.check();
        }
        Ok(())
    }

    /// `Err` once the budget is spent.
    pub fn check(&self) -> Result<(), Exhausted> {
        if self.spent > self.fuel {
            Err(Exhausted::Fuel)
        } else if self.started.elapsed() > self.time {
            Err(Exhausted::Time)
        } else {
            Ok(())
        }
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

    #[test]
    fn budgets_run_out_of_fuel_at_the_same_place() {
        let mut budget = Budget::new(10, Duration::from_secs(60));
        assert_eq!(budget.charge(6), Ok(()));
        assert_eq!(budget.charge(4), Ok(()));
        assert_eq!(budget.charge(1), Err(Exhausted::Fuel));
        budget.allow(1);
        assert_eq!(budget.check(), Ok(()));
    }
}
