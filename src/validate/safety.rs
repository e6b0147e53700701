//! Checks of the safety rails that need the whole project: `suppress` names audiences that
//! exist, `previously` names are each claimed once and by no live campaign, and a marketing
//! campaign honours some opt-out list.

use std::collections::{BTreeMap, BTreeSet};

use super::{Catalog, Checker, Item};
use crate::diagnostic::{Code, Diagnostic, Severity, did_you_mean};
use crate::load::SourceFile;
use crate::model::{AudienceRef, Campaign, Category};

pub(super) fn check(checker: &mut Checker<'_>, catalog: &Catalog, settings: &SourceFile) {
    check_suppress(checker, catalog, settings);
    check_previously(checker, catalog);
    for item in catalog.campaigns.values() {
        check_unsuppressed(checker, catalog, item);
    }
}

/// Every `suppress` entry of herald.yaml names an audience.
fn check_suppress(checker: &mut Checker<'_>, catalog: &Catalog, settings: &SourceFile) {
    let Some(project) = &catalog.settings else {
        return;
    };
    for (i, name) in project.suppress.iter().enumerate() {
        if catalog.has("audiences", name) {
            continue;
        }
        let names = catalog.audiences.keys().map(String::as_str);
        let help = match did_you_mean(name, names.clone()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "list audiences defined under `audiences:` (e.g. the opt-outs' CSV)".to_owned(),
        };
        let mut d = Diagnostic::error(
            Code::UnknownReference,
            &settings.name,
            format!("suppress: no audience named `{name}`"),
        )
        .label("unknown audience")
        .help(help);
        if let Some(doc) = settings.documents().first() {
            d = d.at(
                doc.span_at(&format!("/suppress/{i}")),
                settings.source.clone(),
            );
        }
        checker.report(d);
    }
}

/// A `previously` name is another campaign's past: it cannot be a campaign that exists
/// (whose deliveries would then count twice), the campaign's own name, or claimed twice.
fn check_previously(checker: &mut Checker<'_>, catalog: &Catalog) {
    let mut claimed: BTreeMap<&str, &Item<Campaign>> = BTreeMap::new();
    for item in catalog.campaigns.values() {
        let mut own: BTreeSet<&str> = BTreeSet::new();
        for (i, old) in item.value.previously.iter().enumerate() {
            let sub = format!("/previously/{i}");
            if !own.insert(old) {
                continue;
            }
            let problem = if *old == item.name {
                Some((
                    format!("campaign `{old}` lists its own name under `previously`"),
                    "`previously` lists the names this campaign had before a rename; remove this one".to_owned(),
                    None,
                ))
            } else if catalog.has("campaigns", old) {
                Some((
                    format!(
                        "campaign `{}` lists `{old}` under `previously`, but campaign `{old}` still exists",
                        item.name
                    ),
                    format!(
                        "after a rename the old name is gone; rename or remove campaign `{old}`, or drop it from `previously`"
                    ),
                    catalog.campaigns.get(old.as_str()).map(|other| {
                        checker.related(&other.loc, "", format!("campaign `{old}` is defined here"))
                    }),
                ))
            } else if let Some(first) = claimed.get(old.as_str()) {
                Some((
                    format!(
                        "campaigns `{}` and `{}` both list `{old}` under `previously`",
                        first.name, item.name
                    ),
                    format!(
                        "the deliveries recorded as `{old}` can belong to one campaign only; keep it in one `previously` list"
                    ),
                    Some(checker.related(
                        &first.loc,
                        "/previously",
                        format!("`{}` claims it here", first.name),
                    )),
                ))
            } else {
                claimed.insert(old, item);
                None
            };
            if let Some((message, help, related)) = problem {
                let mut d = checker
                    .error(Code::Previously, &item.loc, &sub, message)
                    .help(help);
                if let Some(related) = related {
                    d = d.related(related);
                }
                checker.report(d);
            }
        }
    }
}

/// A campaign sending a marketing template should leave out people who opted out: a warning
/// when neither the project's `suppress` applies nor its audience excludes anyone.
fn check_unsuppressed(checker: &mut Checker<'_>, catalog: &Catalog, item: &Item<Campaign>) {
    let campaign = &item.value;
    let Some(template) = campaign.send.template_params().map(|t| t.use_) else {
        return;
    };
    let Some(found) = catalog.templates.get(template) else {
        return;
    };
    if found.value.category() != Category::Marketing {
        return;
    }
    let suppressed = catalog
        .settings
        .as_ref()
        .is_some_and(|s| !s.suppress.is_empty())
        && campaign.suppress != Some(false);
    if suppressed || excludes_anyone(catalog, &campaign.audience) {
        return;
    }
    let (sub, why) = if campaign.suppress == Some(false) {
        ("/suppress", "it says `suppress: false`")
    } else {
        ("/audience", "herald.yaml has no `suppress` list")
    };
    let mut d = checker
        .error(
            Code::Unsuppressed,
            &item.loc,
            sub,
            format!(
                "campaign `{}` sends the marketing template `{template}` to everyone in its \
                 audience: {why}, and the audience excludes nobody",
                item.name
            ),
        )
        .help(
            "list the opt-outs in herald.yaml (`suppress: [unsubscribed]`) or `exclude:` them \
             from the audience; give the template `category: utility` if it is not marketing",
        );
    d.severity = Severity::Warning;
    checker.report(d);
}

/// Whether an audience, or one it includes, excludes anyone.
fn excludes_anyone(catalog: &Catalog, audience: &AudienceRef) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&crate::model::Audience> = Vec::new();
    match audience {
        AudienceRef::Inline(inline) => todo.push(inline),
        AudienceRef::Named(name) => todo.extend(catalog.audiences.get(name).map(|i| &i.value)),
    }
    while let Some(a) = todo.pop() {
        if a.exclude.as_ref().is_some_and(|e| !e.is_empty()) {
            return true;
        }
        for name in a.include.iter().flatten() {
            if seen.insert(name.as_str())
                && let Some(i) = catalog.audiences.get(name)
            {
                todo.push(&i.value);
            }
        }
    }
    false
}
