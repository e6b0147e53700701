//! [`Money`]: an amount in millionths of its currency's unit. Rates and budgets are written
//! as decimals (`0.0107`, `500`); they are kept as integers so that a plan's sums are exact and
//! the same inputs give byte-identical plans on every machine, which floating point would not
//! promise once thousands of rates are added up.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Millionths in one unit of a currency.
const SCALE: u64 = 1_000_000;
/// Decimal places a rate may have: millionths of a unit (Meta's rate cards use at most four).
const PLACES: usize = 6;
/// The largest whole part accepted: far beyond any rate or budget, and small enough that an
/// amount times a million recipients still fits.
const MAX_UNITS: u64 = 1_000_000_000;

/// An amount of money, in millionths of its currency's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(u64);

/// Why a number cannot be an amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a plain decimal number (a sign, an exponent, letters).
    NotDecimal,
    /// Less than zero.
    Negative,
    /// More than six decimal places.
    TooPrecise,
    /// A billion units or more.
    TooLarge,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::NotDecimal => "it is not a decimal number",
            MoneyError::Negative => "it is negative",
            MoneyError::TooPrecise => "it has more than 6 decimal places",
            MoneyError::TooLarge => "it is a billion or more",
        })
    }
}

impl std::error::Error for MoneyError {}

impl Money {
    /// Nothing.
    pub const ZERO: Money = Money(0);

    /// An amount of `millionths` of a unit.
    pub fn from_millionths(millionths: u64) -> Money {
        Money(millionths)
    }

    /// The amount in millionths of a unit.
    pub fn millionths(self) -> u64 {
        self.0
    }

    /// Whether it is nothing.
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Parses a plain decimal: digits, optionally a point and at most six more digits.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
            return Err(MoneyError::NotDecimal);
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > PLACES {
            return Err(MoneyError::TooPrecise);
        }
        let units: u64 = whole.parse().map_err(|_| MoneyError::TooLarge)?;
        if units >= MAX_UNITS {
            return Err(MoneyError::TooLarge);
        }
        let padded = format!("{fraction:0<PLACES$}");
        let millionths: u64 = padded.parse().map_err(|_| MoneyError::NotDecimal)?;
        Ok(Money(units * SCALE + millionths))
    }

    /// The amount a number read from YAML stands for. YAML numbers arrive as `f64`; Rust
    /// prints an `f64` as the shortest decimal that reads back as the same number, which for
    /// anything written with up to 15 significant digits is the text as written, so `0.0107`
    /// is exactly 10,700 millionths and never 10,699.
    pub fn from_number(number: f64) -> Result<Money, MoneyError> {
        if !number.is_finite() {
            return Err(MoneyError::NotDecimal);
        }
        if number < 0.0 {
            return Err(MoneyError::Negative);
        }
        Money::parse(&format!("{number}"))
    }

    /// The sum, saturating rather than wrapping (a sum that large is absurd, not wrong).
    pub fn plus(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// The amount `n` times over, saturating.
    pub fn times(self, n: u64) -> Money {
        Money(self.0.saturating_mul(n))
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::plus)
    }
}

/// At least two decimal places, and as many more as the amount needs: `12.84`, `0.0107`,
/// `500.00`. Exact, so the JSON plan carries amounts as these strings.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fraction = format!("{:06}", self.0 % SCALE);
        let trimmed = fraction.trim_end_matches('0');
        let shown = if trimmed.len() < 2 {
            &fraction[..2]
        } else {
            trimmed
        };
        write!(f, "{}.{shown}", self.0 / SCALE)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let text = String::deserialize(d)?;
        Money::parse(&text).map_err(|e| {
            serde::de::Error::custom(format!("`{text}` is not an amount of money: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_millionths() {
        assert_eq!(Money::parse("0.0107"), Ok(Money(10_700)));
        assert_eq!(Money::parse("500"), Ok(Money(500_000_000)));
        assert_eq!(Money::parse("12.840000"), Ok(Money(12_840_000)));
        assert_eq!(Money::parse("0.000001"), Ok(Money(1)));
        assert_eq!(Money::parse("0.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        for bad in ["", ".5", "5.", "1e3", "+1", "1,5", "abc", "1.2.3"] {
            assert_eq!(Money::parse(bad), Err(MoneyError::NotDecimal), "{bad}");
        }
        assert_eq!(Money::parse("1000000000"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn numbers_read_from_yaml_are_the_decimals_written() {
        // 0.0107 is not exactly representable in binary; its shortest decimal form is.
        assert_eq!(Money::from_number(0.0107), Ok(Money(10_700)));
        assert_eq!(Money::from_number(0.1 + 0.2), Err(MoneyError::TooPrecise));
        assert_eq!(Money::from_number(0.0135), Ok(Money(13_500)));
        assert_eq!(Money::from_number(500.0), Ok(Money(500_000_000)));
        assert_eq!(Money::from_number(1e-7), Err(MoneyError::TooPrecise));
        assert_eq!(Money::from_number(-0.5), Err(MoneyError::Negative));
        assert_eq!(Money::from_number(f64::NAN), Err(MoneyError::NotDecimal));
        assert_eq!(Money::from_number(1e300), Err(MoneyError::TooLarge));
    }

    #[test]
    fn sums_of_many_rates_are_exact() {
        let rate = Money::from_number(0.0107).unwrap();
        let sum: Money = std::iter::repeat_n(rate, 1_000_000).sum();
        assert_eq!(sum, Money::parse("10700").unwrap());
        assert_eq!(sum, rate.times(1_000_000));
    }

    #[test]
    fn amounts_print_with_at_least_two_places() {
        let shown = |text: &str| Money::parse(text).unwrap().to_string();
        assert_eq!(shown("0"), "0.00");
        assert_eq!(shown("500"), "500.00");
        assert_eq!(shown("12.8"), "12.80");
        assert_eq!(shown("0.0107"), "0.0107");
        assert_eq!(shown("0.000001"), "0.000001");
    }

    #[test]
    fn amounts_travel_as_strings() {
        let money = Money::parse("0.0321").unwrap();
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#""0.0321""#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        assert!(serde_json::from_str::<Money>(r#""-1""#).is_err());
        assert!(serde_json::from_str::<Money>("0.5").is_err());
    }
}
