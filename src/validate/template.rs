//! Checks of template definitions: slots numbered 1..n, buttons well-formed, WhatsApp limits.

use super::{Catalog, Checker};
use crate::diagnostic::Code;
use crate::model::Template;

/// WhatsApp's limits, as the emulator and render check them too.
use crate::engati::rules as limits;

pub(super) fn check(checker: &mut Checker<'_>, catalog: &Catalog) {
    for item in catalog.templates.values() {
        check_one(checker, &item.loc, &item.value);
    }
}

fn check_one(checker: &mut Checker<'_>, loc: &super::Loc, template: &Template) {
    if template.category.is_none() {
        // Counted as marketing: opt-outs honoured, the marketing price and frequency cap. A
        // utility template left unsaid would be suppressed and priced as marketing.
        let mut d = checker
            .error(
                Code::TemplateCategory,
                loc,
                "",
                "this template does not say its category, so herald counts it as marketing",
            )
            .help(
                "add `category: marketing`, `utility` or `authentication`, as Meta approved the \
                 template (it decides suppression, the frequency cap and the price)",
            );
        d.severity = crate::diagnostic::Severity::Warning;
        checker.report(d);
    }
    let numbers = template.slot_numbers();
    if numbers.iter().enumerate().any(|(i, n)| *n != i + 1) {
        let listed = numbers
            .iter()
            .map(|n| format!("{{{{{n}}}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        let d = checker
            .error(
                Code::TemplateSlots,
                loc,
                "/body",
                format!("the body's slots are {listed}; WhatsApp numbers them {{{{1}}}}, {{{{2}}}}, ... without gaps"),
            )
            .help("copy the body exactly as Meta approved it");
        checker.report(d);
    }
    let body_len = template.body.chars().count();
    if body_len > limits::BODY_TEXT {
        let d = checker
            .error(
                Code::Limit,
                loc,
                "/body",
                format!(
                    "the body is {body_len} characters; WhatsApp allows {}",
                    limits::BODY_TEXT
                ),
            )
            .help("shorten the text; Meta will not approve a longer body");
        checker.report(d);
    }
    if template.buttons.len() > limits::BUTTONS {
        let d = checker
            .error(
                Code::Limit,
                loc,
                &format!("/buttons/{}", limits::BUTTONS),
                format!(
                    "{} buttons; WhatsApp allows at most {}",
                    template.buttons.len(),
                    limits::BUTTONS
                ),
            )
            .help("remove buttons beyond the tenth");
        checker.report(d);
    }
    let url_buttons = template.buttons.iter().filter(|b| b.url.is_some()).count();
    if url_buttons > limits::URL_BUTTONS {
        let d = checker
            .error(
                Code::Limit,
                loc,
                "/buttons",
                format!(
                    "{url_buttons} URL buttons; WhatsApp allows at most {}",
                    limits::URL_BUTTONS
                ),
            )
            .help("keep two URL buttons at most");
        checker.report(d);
    }
    for (i, button) in template.buttons.iter().enumerate() {
        check_button(checker, loc, i, button);
    }
}

/// One button: exactly one kind, its label and URL within WhatsApp's limits.
fn check_button(
    checker: &mut Checker<'_>,
    loc: &super::Loc,
    i: usize,
    button: &crate::model::ApprovedButton,
) {
    let at = format!("/buttons/{i}");
    let kinds = button.kinds();
    if kinds.len() != 1 {
        let message = if kinds.is_empty() {
            format!("button {i} has no kind")
        } else {
            format!("button {i} has several kinds: {}", kinds.join(", "))
        };
        let d = checker
            .error(Code::OneOf, loc, &at, message)
            .help("write each button as one of `quick_reply: LABEL`, `url: {text, url}` or `copy_code: LABEL`");
        checker.report(d);
        return;
    }
    let (label, label_at) = match (&button.quick_reply, &button.url, &button.copy_code) {
        (Some(l), _, _) => (l.as_str(), format!("{at}/quick_reply")),
        (_, Some(u), _) => (u.text.as_str(), format!("{at}/url/text")),
        (_, _, Some(l)) => (l.as_str(), format!("{at}/copy_code")),
        _ => return,
    };
    let len = label.chars().count();
    if len > limits::BUTTON_LABEL {
        let d = checker
            .error(
                Code::Limit,
                loc,
                &label_at,
                format!(
                    "button label is {len} characters; WhatsApp allows {}",
                    limits::BUTTON_LABEL
                ),
            )
            .help("shorten the label");
        checker.report(d);
    }
    if let Some(url) = &button.url
        && url.url.chars().count() > limits::URL
    {
        let d = checker
            .error(
                Code::Limit,
                loc,
                &format!("{at}/url/url"),
                format!("the URL is longer than {} characters", limits::URL),
            )
            .help("use a shorter URL");
        checker.report(d);
    }
}
