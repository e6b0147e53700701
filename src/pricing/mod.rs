//! What messages cost: a project's rate card (`pricing:` of herald.yaml, validated by
//! `validate`), and the rate of one template message to one phone.
//!
//! Meta charges a delivered template message by its template's category and by the calling
//! code of the recipient's phone, so a card maps calling codes (`91`, `1`, `44`) to a rate per
//! category; a phone's code is the longest key that prefixes its digits, and `default` covers
//! the rest. A phone no key and no `default` covers is *unpriced*: the plan counts and shows it
//! rather than pricing it at zero.

mod money;

use std::collections::BTreeMap;

pub use money::{Money, MoneyError};

use crate::model::Category;

/// The key of the rates that apply to any calling code the card does not list.
pub const DEFAULT_KEY: &str = "default";
/// The most digits a calling code has (E.164).
pub const MAX_CODE_DIGITS: usize = 3;

/// The rate of one message of each category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Offers, announcements.
    pub marketing: Money,
    /// Updates about something the person asked for.
    pub utility: Money,
    /// One-time passwords.
    pub authentication: Money,
}

impl Rates {
    /// The rate of one message of `category`.
    pub fn of(&self, category: Category) -> Money {
        match category {
            Category::Marketing => self.marketing,
            Category::Utility => self.utility,
            Category::Authentication => self.authentication,
        }
    }
}

/// A validated rate card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCard {
    /// The currency of every rate (ISO 4217, e.g. `USD`).
    pub currency: String,
    /// When the rates were published (`YYYY-MM-DD`).
    pub published: String,
    /// Where they come from, if the file says.
    pub source: Option<String>,
    /// Rates by calling code (1 to 3 digits).
    codes: BTreeMap<String, Rates>,
    /// Rates for every other calling code.
    default: Option<Rates>,
}

impl RateCard {
    /// A card of `rates` keyed by calling code, `default` among them; keys must be validated
    /// (1 to [`MAX_CODE_DIGITS`] digits, or [`DEFAULT_KEY`]).
    pub fn new(
        currency: String,
        published: String,
        source: Option<String>,
        mut rates: BTreeMap<String, Rates>,
    ) -> RateCard {
        let default = rates.remove(DEFAULT_KEY);
        RateCard {
            currency,
            published,
            source,
            codes: rates,
            default,
        }
    }

    /// The rates for an E.164 phone (`+919019486731`): those of the longest calling code that
    /// prefixes its digits, else `default`; `None` when neither covers it.
    pub fn rates_for(&self, phone: &str) -> Option<&Rates> {
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        (1..=MAX_CODE_DIGITS)
            .rev()
            .filter_map(|n| digits.get(..n))
            .find_map(|code| self.codes.get(code))
            .or(self.default.as_ref())
    }

    /// The rate of one `category` message to `phone`; `None` when it is unpriced.
    pub fn rate(&self, phone: &str, category: Category) -> Option<Money> {
        self.rates_for(phone).map(|r| r.of(category))
    }

    /// Whether `key` may key a card's rates: a calling code of 1 to 3 digits, or `default`.
    pub fn is_key(key: &str) -> bool {
        key == DEFAULT_KEY
            || (!key.is_empty()
                && key.len() <= MAX_CODE_DIGITS
                && key.bytes().all(|b| b.is_ascii_digit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(marketing: &str, utility: &str) -> Rates {
        Rates {
            marketing: Money::parse(marketing).unwrap(),
            utility: Money::parse(utility).unwrap(),
            authentication: Money::parse(utility).unwrap(),
        }
    }

    fn card(keys: &[(&str, Rates)]) -> RateCard {
        let rates = keys.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect();
        RateCard::new("USD".into(), "2025-07-01".into(), None, rates)
    }

    #[test]
    fn the_longest_calling_code_wins() {
        let card = card(&[
            ("1", rates("0.025", "0.004")),
            ("124", rates("0.074", "0.0113")),
            ("91", rates("0.0107", "0.0014")),
        ]);
        let m = |phone| card.rate(phone, Category::Marketing).map(|m| m.to_string());
        assert_eq!(m("+14155552671").as_deref(), Some("0.025"));
        assert_eq!(m("+12425551234").as_deref(), Some("0.074"));
        assert_eq!(m("+919019486731").as_deref(), Some("0.0107"));
        assert_eq!(
            card.rate("+919019486731", Category::Utility),
            Some(Money::from_millionths(1_400))
        );
    }

    #[test]
    fn default_covers_the_rest_and_without_it_a_phone_is_unpriced() {
        let without = card(&[("91", rates("0.0107", "0.0014"))]);
        assert_eq!(without.rate("+447700900123", Category::Marketing), None);
        let with = card(&[
            ("91", rates("0.0107", "0.0014")),
            (DEFAULT_KEY, rates("0.0604", "0.0077")),
        ]);
        assert_eq!(
            with.rate("+447700900123", Category::Marketing),
            Some(Money::from_millionths(60_400))
        );
        // A code listed beats the default even when it is shorter than the phone's real code.
        assert_eq!(
            with.rate("+919019486731", Category::Marketing),
            Some(Money::from_millionths(10_700))
        );
    }

    #[test]
    fn odd_phones_are_unpriced_not_a_panic() {
        let card = card(&[("91", rates("0.0107", "0.0014"))]);
        for phone in ["", "+", "9", "+९१", "+9"] {
            assert_eq!(card.rate(phone, Category::Marketing), None, "{phone}");
        }
        assert!(card.rate("91", Category::Marketing).is_some());
    }

    #[test]
    fn keys_are_calling_codes_or_default() {
        for good in ["1", "91", "242", "default"] {
            assert!(RateCard::is_key(good), "{good}");
        }
        for bad in ["", "+91", "1242", "9a", "Default", " 1"] {
            assert!(!RateCard::is_key(bad), "{bad}");
        }
    }
}
