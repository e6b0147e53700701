//! The rate card a project names with `pricing:` in herald.yaml (`pricing.yaml`): what Meta
//! charges per delivered template message, by category and by the recipient's calling code.
//! Its JSON schema is generated from these types; `validate` turns a card into a
//! [`crate::pricing::RateCard`] of exact amounts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A rate card (`pricing.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "herald rate card (pricing.yaml)")]
pub struct PricingFile {
    /// The currency of every rate, as an ISO 4217 code (`USD`, `INR`, `EUR`); `budget` in
    /// herald.yaml is in this currency too.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// The date the rates were published or took effect, `YYYY-MM-DD`. Plans show it, so a
    /// reviewer can tell a stale card.
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub published: String,
    /// Where the rates come from: the URL of the public rate card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://\S+$"))]
    pub source: Option<String>,
    /// Rates per country calling code: keys are 1 to 3 digits without `+` (`"91"`, `"1"`,
    /// `"44"`), or `default` for any other code. A phone's code is the longest key that
    /// prefixes its digits; a phone no key covers (and no `default`) is unpriced.
    pub rates: BTreeMap<String, CategoryRates>,
}

/// What one template message costs in each category, in the card's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRates {
    /// A marketing template message (decimal, at most 6 places, e.g. 0.0107).
    #[schemars(range(min = 0.0))]
    pub marketing: f64,
    /// A utility template message (decimal, at most 6 places).
    #[schemars(range(min = 0.0))]
    pub utility: f64,
    /// An authentication template message (decimal, at most 6 places).
    #[schemars(range(min = 0.0))]
    pub authentication: f64,
}
