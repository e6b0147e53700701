//! Template expressions (minijinja) checked at validate time: syntax, names that will be
//! undefined when rendered (strict undefined), and a trial render on a sample recipient.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use minijinja::value::{Object, Serde, Value as JValue};
use minijinja::{Environment, ErrorKind};
use serde_json::Value;

use super::audience::Fields;
use super::{Checker, Loc};
use crate::diagnostic::{Code, did_you_mean};
use crate::engati::rules::Param;
use crate::jinja::splice::{Part, interpolations};
use crate::jinja::{explain, is_template};
use crate::load::node::Span;

/// The names a template may use at its root.
const ROOTS: [&str; 4] = ["user", "vars", "campaign", "now"];
/// minijinja's global functions a template may call (their work is bounded by the fuel).
const FUNCTIONS: [&str; 3] = ["range", "dict", "namespace"];
/// minijinja's built-in filters, for did-you-mean (minijinja does not list them).
const FILTERS: [&str; 37] = [
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "default",
    "dictsort",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "replace",
    "reverse",
    "round",
    "sort",
    "split",
    "string",
    "title",
    "trim",
    "upper",
    "urlencode",
];
/// The time trial renders see as `now` and as the campaign's.
const TRIAL_TIME: &str = "2026-01-01T00:00:00Z";
/// The fields of `campaign`.
const CAMPAIGN_FIELDS: [&str; 2] = ["name", "scheduled_at"];

/// What a template string may read.
pub(super) struct Scope<'a> {
    /// The recipient's fields; `None` where a string is rendered once for the whole audience.
    pub user: Option<&'a Fields>,
    /// Project variables; `None` when herald.yaml could not be read, so any `vars.NAME` is
    /// accepted rather than reported as undefined (that error would only repeat herald.yaml's).
    pub vars: Option<&'a BTreeMap<String, Value>>,
    /// The campaign's name.
    pub campaign: &'a str,
    /// Why `user` is unavailable, for the message.
    pub no_user_reason: &'a str,
}

/// Fields not known at validate time (a Users API recipient, the variables of an unreadable
/// herald.yaml): any attribute reads as a placeholder.
#[derive(Debug)]
struct Placeholders;

impl Object for Placeholders {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        key.as_str().map(|k| JValue::from(format!("<{k}>")))
    }
}

/// Checks one string at `sub` below the item: its template syntax, names and a trial render,
/// and the WhatsApp rule `param` its value must follow (on the text itself, or on what it
/// renders to for a real recipient).
pub(super) fn check(
    checker: &mut Checker<'_>,
    env: &Environment<'static>,
    loc: &Loc,
    sub: &str,
    text: &str,
    scope: &Scope<'_>,
    param: Option<Param>,
) {
    if !is_template(text) {
        if let Some(Err(breach)) = param.map(|p| p.check(text)) {
            let name = param.map_or("", Param::name);
            let d = checker
                .error(Code::Limit, loc, sub, format!("{name} {}", breach.problem))
                .help(breach.help);
            checker.report(d);
        }
        return;
    }
    if let Some(value) = trial_splice(text, scope) {
        if budget_left(checker, loc, sub) {
            check_rendered(checker, loc, sub, &value, scope, param);
        }
        return;
    }
    let Some(template) = compile(checker, env, loc, sub, text) else {
        return;
    };
    if !names_defined(checker, &template, loc, sub, text, scope) || !budget_left(checker, loc, sub)
    {
        return;
    }
    let at = checker.span(loc, sub).start;
    crate::jinja::rendering(format!(
        "{}:{}:{}",
        checker.file_name(loc),
        at.line,
        at.col + 1
    ));
    let rendered = crate::jinja::render(&template, trial_context(scope));
    // Checked before the next string.
    let _ = checker.budget.charge(crate::jinja::take_spent());
    match rendered {
        Ok(value) => check_rendered(checker, loc, sub, &value, scope, param),
        Err(e) => report_render_error(checker, loc, sub, text, scope, &e),
    }
}

/// The trial render of a string that only interpolates fields ([`crate::jinja::splice`]),
/// each of them defined and a string in the trial context ([`trial_context`]): what minijinja
/// would render, without parsing the string. `None` for any other string, which minijinja
/// checks and renders, with its errors and their positions.
fn trial_splice(text: &str, scope: &Scope<'_>) -> Option<String> {
    let parts = interpolations(text)?;
    crate::jinja::check_source(text).ok()?;
    let mut out = String::with_capacity(text.len());
    for part in parts {
        let (root, name, filter) = match part {
            Part::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Part::Field { root, name, filter } => (root, name, filter),
        };
        if undefined_name(&format!("{root}.{name}"), scope).is_some() {
            return None;
        }
        let placeholder = || Cow::Owned(format!("<{name}>"));
        let value: Cow<'_, str> = match (root, name) {
            ("user", _) => match scope.user? {
                Fields::Known { sample, .. } => Cow::Borrowed(sample.get(name)?.as_str()?),
                Fields::Any => placeholder(),
            },
            ("vars", _) => match scope.vars {
                Some(vars) => Cow::Borrowed(vars.get(name)?.as_str()?),
                None => placeholder(),
            },
            ("campaign", "name") => Cow::Borrowed(scope.campaign),
            ("campaign", "scheduled_at") => Cow::Borrowed(TRIAL_TIME),
            _ => return None,
        };
        filter.push(&mut out, &value);
    }
    // Past the bound, minijinja's error is the message.
    (out.len() <= crate::jinja::MAX_RENDERED_BYTES).then_some(out)
}

/// Where a byte range of `text` was written: exact in a one-line scalar, else the node.
fn position(
    checker: &Checker<'_>,
    loc: &Loc,
    sub: &str,
    text: &str,
    range: Option<Range<usize>>,
) -> Span {
    let span = checker.span(loc, sub);
    match (checker.node(loc, sub), range) {
        (Some(node), Some(range)) => {
            let chars = |byte: usize| text.get(..byte).map_or(0, |t| t.chars().count());
            Span {
                start: node.pos_in_text(chars(range.start)),
                end: node.pos_in_text(chars(range.end)),
            }
        }
        _ => span,
    }
}

/// The template of `text`, or `None` after reporting its syntax error.
fn compile<'e>(
    checker: &mut Checker<'_>,
    env: &'e Environment<'static>,
    loc: &Loc,
    sub: &str,
    text: &'e str,
) -> Option<minijinja::Template<'e, 'e>> {
    if let Err(e) = crate::jinja::check_source(text) {
        let message = explain(&e);
        let d = checker
            .error(
                Code::RenderSyntax,
                loc,
                sub,
                format!("template syntax error: {message}"),
            )
            .help("write the expression without the repeated signs");
        checker.report(d);
        return None;
    }
    match env.template_from_str(text) {
        Ok(t) => Some(t),
        Err(e) => {
            let span = position(checker, loc, sub, text, e.range());
            let detail = e.detail().unwrap_or("invalid template syntax");
            let d = checker
                .error_at(
                    Code::RenderSyntax,
                    loc,
                    span,
                    format!("template syntax error: {detail}"),
                )
                .help("expressions are written {{ user.first_name }}; see the minijinja syntax reference");
            checker.report(d);
            None
        }
    }
}

/// Whether every name the template reads is defined in `scope`; reports each that is not.
fn names_defined(
    checker: &mut Checker<'_>,
    template: &minijinja::Template<'_, '_>,
    loc: &Loc,
    sub: &str,
    text: &str,
    scope: &Scope<'_>,
) -> bool {
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    names.sort();
    let mut defined = true;
    for name in &names {
        if let Some((message, help)) = undefined_name(name, scope) {
            defined = false;
            let range = text.find(name.as_str()).map(|i| i..i + name.len());
            let span = position(checker, loc, sub, text, range);
            let d = checker
                .error_at(Code::RenderUndefined, loc, span, message)
                .help(help);
            checker.report(d);
        }
    }
    defined
}

/// Whether the project's templates may still be tried; the strings before this one may have
/// used up the budget: said once, then no more are tried.
fn budget_left(checker: &mut Checker<'_>, loc: &Loc, sub: &str) -> bool {
    let Err(exhausted) = checker.budget.check() else {
        return true;
    };
    if !checker.budget_spent_reported {
        checker.budget_spent_reported = true;
        let d = checker
            .error(
                Code::RenderError,
                loc,
                sub,
                format!(
                    "herald stopped trying templates here: the project's templates {} in all",
                    exhausted.describe()
                ),
            )
            .help("simplify the loops and filters of the templates above");
        checker.report(d);
    }
    false
}

/// What a trial render sees: the first recipient when known (else placeholders), the vars, a
/// fixed campaign time and `now`.
fn trial_context(scope: &Scope<'_>) -> JValue {
    let user = match scope.user {
        Some(Fields::Known { sample, .. }) => JValue::from(Serde(sample)),
        Some(Fields::Any) => JValue::from_object(Placeholders),
        None => JValue::UNDEFINED,
    };
    minijinja::context! {
        user => user,
        vars => scope.vars.map_or_else(|| JValue::from_object(Placeholders), |v| JValue::from(Serde(v))),
        campaign => minijinja::context! { name => scope.campaign, scheduled_at => TRIAL_TIME },
        now => TRIAL_TIME,
    }
}

/// The WhatsApp rule `param` on what the string rendered to, when that is what a real
/// recipient gets (a known first recipient and known vars).
fn check_rendered(
    checker: &mut Checker<'_>,
    loc: &Loc,
    sub: &str,
    value: &str,
    scope: &Scope<'_>,
    param: Option<Param>,
) {
    let exact = match scope.user {
        Some(Fields::Known { exact, .. }) => *exact,
        Some(Fields::Any) => false,
        None => true,
    } && scope.vars.is_some();
    let Some(param) = param.filter(|_| exact) else {
        return;
    };
    if let Err(breach) = param.check(value) {
        let whom = match scope.user {
            Some(Fields::Known { origin, .. }) => {
                format!("rendered for the first recipient ({origin}), ")
            }
            _ => String::new(),
        };
        let d = checker
            .error(
                Code::Limit,
                loc,
                sub,
                format!("{whom}{} {}", param.name(), breach.problem),
            )
            .help(breach.help);
        checker.report(d);
    }
}

/// A trial render that failed, with a fix for the kind of failure.
fn report_render_error(
    checker: &mut Checker<'_>,
    loc: &Loc,
    sub: &str,
    text: &str,
    scope: &Scope<'_>,
    e: &minijinja::Error,
) {
    let span = position(checker, loc, sub, text, e.range());
    let detail = explain(e);
    let help = match e.kind() {
        ErrorKind::UnknownFilter => {
            let given = e.range().and_then(|r| text.get(r)).unwrap_or_default();
            match did_you_mean(given, FILTERS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "see the filters minijinja provides (title, upper, lower, trim, \
                         default, ...)"
                    .to_owned(),
            }
        }
        ErrorKind::UnknownFunction | ErrorKind::UnknownMethod => {
            "only minijinja's built-in functions and methods are available".to_owned()
        }
        ErrorKind::OutOfFuel => {
            "campaign strings fill in a few values; move long computations out of the template"
                .to_owned()
        }
        _ => {
            "this expression fails for the sample recipient; check the types it works on".to_owned()
        }
    };
    let mut d = checker
        .error_at(
            Code::RenderError,
            loc,
            span,
            format!("template fails to render: {detail}"),
        )
        .help(help);
    // Tried on a real recipient, minijinja's reason could quote their data.
    if matches!(scope.user, Some(Fields::Known { exact: true, .. }))
        && e.kind() != ErrorKind::OutOfFuel
    {
        d = d.private(
            "template fails to render for the first recipient (the reason may quote their \
             data; validate without --redact in a private log to see it)",
        );
    }
    checker.report(d);
}

/// Why a name used by a template will be undefined, with a fix; `None` when it is fine.
fn undefined_name(name: &str, scope: &Scope<'_>) -> Option<(String, String)> {
    let (root, attr) = match name.split_once('.') {
        Some((r, a)) => (r, a.split('.').next()),
        None => (name, None),
    };
    match root {
        "user" => match (scope.user, attr) {
            (None, _) => Some((
                format!("`{name}` is not available here"),
                scope.no_user_reason.to_owned(),
            )),
            (
                Some(Fields::Known {
                    all,
                    partial,
                    origin,
                    ..
                }),
                Some(field),
            ) if !all.contains(field) => {
                if partial.contains(field) {
                    Some((
                        format!("`user.{field}` is missing for some recipients"),
                        format!(
                            "give every recipient a `{field}` (from {origin}), or use `user.{field} | default(\"...\")`"
                        ),
                    ))
                } else {
                    let help = match did_you_mean(field, all.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `user.{s}`? fields come from {origin}"),
                        None => format!(
                            "recipients have: {} (from {origin})",
                            all.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    Some((format!("undefined variable `user.{field}`"), help))
                }
            }
            _ => None,
        },
        "vars" => match (scope.vars, attr) {
            (Some(vars), Some(var)) if !vars.contains_key(var) => {
                let help = match did_you_mean(var, vars.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `vars.{s}`?"),
                    None => {
                        format!("define it under `vars:` in herald.yaml, or pass --var {var}=VALUE")
                    }
                };
                Some((format!("undefined variable `vars.{var}`"), help))
            }
            _ => None,
        },
        "campaign" => match attr {
            Some(field) if !CAMPAIGN_FIELDS.contains(&field) => Some((
                format!("undefined variable `campaign.{field}`"),
                format!("`campaign` has: {}", CAMPAIGN_FIELDS.join(", ")),
            )),
            _ => None,
        },
        "now" => attr.map(|a| {
            (
                format!("undefined variable `now.{a}`"),
                "`now` is the current UTC time as RFC 3339 text".to_owned(),
            )
        }),
        _ if FUNCTIONS.contains(&root) => None,
        _ => {
            let help = match did_you_mean(root, ROOTS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("templates can read: {}", ROOTS.join(", ")),
            };
            Some((format!("undefined variable `{root}`"), help))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use serde_json::Value;

    use super::{Fields, Scope, trial_context, trial_splice};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

        /// A trial render without minijinja gives minijinja's text, for known recipients
        /// (string and number fields), Users API ones (placeholders) and unknown vars.
        #[test]
        fn trial_splices_render_as_minijinja_does(
            source in crate::jinja::splice::strategy::interpolating(
                "[a-zA-Z0-9 ,.!?é€\n\\-_:/%#]{0,8}",
                "(user\\.(a|b|num|phone)|vars\\.(s|num)|campaign\\.(name|scheduled_at))",
            ),
            values in proptest::collection::vec("[a-zA-Z0-9 {}%#<>&\"'\nÉßİΣσς(\\-]{0,10}", 3),
            any_user in any::<bool>(),
            known_vars in any::<bool>(),
        ) {
            let fields = if any_user {
                Fields::Any
            } else {
                let sample = BTreeMap::from([
                    ("a".to_owned(), Value::from(values[0].clone())),
                    ("b".to_owned(), Value::from(values[1].clone())),
                    ("num".to_owned(), Value::from(3)),
                    ("phone".to_owned(), Value::from("+919000000001")),
                ]);
                Fields::Known {
                    all: sample.keys().cloned().collect(),
                    partial: BTreeSet::new(),
                    sample,
                    exact: true,
                    origin: "a test".to_owned(),
                }
            };
            let vars = BTreeMap::from([
                ("s".to_owned(), Value::from(values[2].clone())),
                ("num".to_owned(), Value::from(1.5)),
            ]);
            let scope = Scope {
                user: Some(&fields),
                vars: known_vars.then_some(&vars),
                campaign: "spring-sale",
                no_user_reason: "",
            };
            let Some(spliced) = trial_splice(&source, &scope) else {
                // Left to minijinja: only strings that read a number.
                prop_assert!(!source.contains("{{") || source.contains("num"), "{source:?}");
                return Ok(());
            };
            let template = crate::jinja::shared().template_from_str(&source);
            prop_assert!(template.is_ok(), "{source:?}");
            let rendered = template.and_then(|t| crate::jinja::render(&t, trial_context(&scope)));
            prop_assert_eq!(Some(spliced), rendered.ok());
        }
    }
}
