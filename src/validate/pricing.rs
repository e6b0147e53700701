//! The rate card and the budget: herald.yaml's `pricing:` file read within the project's
//! reach, checked against its schema and then for what the schema cannot say (calling-code
//! keys, amounts exact to a millionth, a real date), and `budget:` checked against it.

use std::path::Path;
use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic, SourceText};
use crate::load::node::{Node, NodeKind, escape_token};
use crate::load::{Confinement, Refusal, SourceFile};
use crate::model::{PricingFile, Project};
use crate::pricing::{Money, RateCard, Rates};

/// The rate card and the budget, as far as they are valid.
#[derive(Debug, Default)]
pub(super) struct Checked {
    /// The rate card, when `pricing:` names a valid one.
    pub card: Option<RateCard>,
    /// `budget.max_per_apply`, when set, valid, and with a rate card to price plans by.
    pub budget: Option<Money>,
}

/// Checks `pricing:` and `budget:` of herald.yaml (`settings`), reading the card within
/// `confinement`.
pub(super) fn check(
    root: &Path,
    settings: &SourceFile,
    project: &Project,
    confinement: &Confinement,
    diagnostics: &mut Vec<Diagnostic>,
) -> Checked {
    let at = |pointer: &str, code: Code, message: String| {
        let mut d = Diagnostic::error(code, &settings.name, message);
        if let Some(doc) = settings.documents().first() {
            d = d.at(doc.span_at(pointer), settings.source.clone());
        }
        d
    };
    let budget = project.budget.as_ref().and_then(|budget| {
        if project.pricing.is_none() {
            diagnostics.push(
                at(
                    "/budget",
                    Code::Budget,
                    "budget: a budget needs a rate card to price the plan with, and herald.yaml \
                     names none"
                        .to_owned(),
                )
                .label("no `pricing:` to price it with")
                .help(
                    "add `pricing: pricing.yaml` (a file of currency, publication date and rates \
                     per calling code; see README.md, \"Cost and budget\"), or remove `budget:`",
                ),
            );
            return None;
        }
        match Money::from_number(budget.max_per_apply) {
            Ok(limit) => Some(limit),
            Err(e) => {
                diagnostics.push(
                    at(
                        "/budget/max_per_apply",
                        Code::Budget,
                        format!("budget.max_per_apply cannot be an amount: {e}"),
                    )
                    .help("write the most one apply may cost, e.g. 500 or 125.50"),
                );
                None
            }
        }
    });
    let Some(name) = &project.pricing else {
        return Checked { card: None, budget };
    };
    let path = root.join(name);
    // Refused or missing: said where herald.yaml names the file, which is what to fix.
    if let Err(refusal) = confinement.open(&path) {
        let code = match refusal {
            Refusal::Missing(_) => Code::PricingFile,
            _ => refusal.code(),
        };
        let help = match refusal {
            Refusal::Missing(_) => {
                "`pricing:` is relative to herald.yaml; create the rate card \
                 there (see README.md, \"Cost and budget\") or fix the path"
            }
            _ => refusal.help(),
        };
        diagnostics.push(
            at("/pricing", code, refusal.message(&format!("`{name}`")))
                .label("the rate card")
                .help(help),
        );
        return Checked { card: None, budget };
    }
    // Only YAML is read: a `.env` or key file of the project, parsed as YAML, would be quoted
    // in the error that says it is not a rate card.
    let yaml = path
        .extension()
        .is_some_and(|ext| ext == "yaml" || ext == "yml");
    if !yaml {
        diagnostics.push(
            at(
                "/pricing",
                Code::PricingFile,
                format!("`{name}` is not a YAML file; a rate card's name ends in .yaml or .yml"),
            )
            .label("the rate card")
            .help("name the rate card's file, e.g. `pricing: pricing.yaml`"),
        );
        return Checked { card: None, budget };
    }
    let yaml = confinement.with_max_bytes(crate::load::MAX_FILE_BYTES);
    let file = crate::load::read_yaml(root, &path, &yaml, diagnostics);
    Checked {
        card: card(&file, diagnostics),
        budget,
    }
}

/// The rate card in `file`, or `None` after reporting why it cannot be one.
fn card(file: &SourceFile, diagnostics: &mut Vec<Diagnostic>) -> Option<RateCard> {
    let source = file.source.clone()?;
    let doc = match file.documents() {
        [doc] if doc.kind != NodeKind::Null => doc,
        // A syntax error was reported as the file was read.
        [] if diagnostics.iter().any(|d| d.file == file.name) => return None,
        _ => {
            diagnostics.push(
                Diagnostic::error(
                    Code::PricingRates,
                    &file.name,
                    format!("{} must hold one YAML document: a rate card", file.name),
                )
                .help(
                    "write `currency:`, `published:` and `rates:` (see README.md, \"Cost and \
                     budget\")",
                ),
            );
            return None;
        }
    };
    let json = doc.to_json();
    let (problems, _) = super::schema::check(
        super::schema::Kind::Pricing,
        &file.name,
        &source,
        doc,
        &json,
    );
    if !problems.is_empty() {
        diagnostics.extend(problems);
        return None;
    }
    let parsed: PricingFile = match serde_json::from_value(json) {
        Ok(parsed) => parsed,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(Code::SchemaValue, &file.name, e.to_string())
                    .at(doc.span, Some(source)),
            );
            return None;
        }
    };
    let problem = |pointer: &str, message: String| {
        Diagnostic::error(Code::PricingRates, &file.name, message)
            .at(doc.span_at(pointer), Some(source.clone()))
    };
    let before = diagnostics.len();
    if parsed.published.parse::<jiff::civil::Date>().is_err() {
        diagnostics.push(
            problem(
                "/published",
                format!("published: {} is not a date", parsed.published),
            )
            .help("write the day the rates took effect as YYYY-MM-DD, e.g. 2025-07-01"),
        );
    }
    let mut rates = std::collections::BTreeMap::new();
    for (key, written) in &parsed.rates {
        if !RateCard::is_key(key) {
            diagnostics.push(bad_key(doc, &source, &file.name, key));
            continue;
        }
        let pointer = format!("/rates/{}", escape_token(key));
        let amount = |category: &str, number: f64| {
            Money::from_number(number).map_err(|e| {
                let message = format!("rates.{key}.{category}: {number} cannot be a rate: {e}");
                Box::new(problem(&format!("{pointer}/{category}"), message).help(
                    "write the rate per message as a decimal of at most 6 places, e.g. 0.0107",
                ))
            })
        };
        match (
            amount("marketing", written.marketing),
            amount("utility", written.utility),
            amount("authentication", written.authentication),
        ) {
            (Ok(marketing), Ok(utility), Ok(authentication)) => {
                let read = Rates {
                    marketing,
                    utility,
                    authentication,
                };
                rates.insert(key.clone(), read);
            }
            (m, u, a) => {
                let problems = [m.err(), u.err(), a.err()].into_iter().flatten();
                diagnostics.extend(problems.map(|d| *d));
            }
        }
    }
    (diagnostics.len() == before)
        .then(|| RateCard::new(parsed.currency, parsed.published, parsed.source, rates))
}

/// A `rates` key that is neither a calling code nor `default`, shown at the key.
fn bad_key(doc: &Node, source: &Arc<SourceText>, file: &str, key: &str) -> Diagnostic {
    let span = doc
        .pointer("/rates")
        .and_then(|rates| rates.entry(key))
        .map_or_else(|| doc.span_at("/rates"), |e| e.key_span);
    let digits: String = key.chars().filter(char::is_ascii_digit).collect();
    let help = if !digits.is_empty() && digits.len() <= crate::pricing::MAX_CODE_DIGITS {
        format!("write the calling code as digits alone: \"{digits}\"")
    } else {
        "key rates by a country calling code of 1 to 3 digits without `+` (\"91\", \"1\", \
         \"44\"), or `default` for every other code"
            .to_owned()
    };
    Diagnostic::error(
        Code::PricingRates,
        file,
        format!("rates: `{key}` is not a country calling code (1 to 3 digits) or `default`"),
    )
    .at(span, Some(source.clone()))
    .label("not a calling code")
    .help(help)
}
