//! Preparing campaigns to render, for a plan and for `herald diff` alike: each campaign's
//! message compiled once and its audience resolved, every problem reported at once.

use std::sync::Arc;

use jiff::Timestamp;

use super::{CampaignRender, Resolved, Resolver, UsersSource};
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::jinja::Budget;
use crate::load::LoadedProject;
use crate::model::Api;
use crate::validate::{Catalog, Item};

/// A campaign ready to render: compiled, with its audience resolved.
pub(crate) struct Prepared<'a> {
    /// The campaign.
    pub item: &'a Item<crate::model::Campaign>,
    /// Its message, compiled.
    pub render: CampaignRender,
    /// Its recipients.
    pub audience: Arc<Resolved>,
}

/// Compiles every campaign and resolves every audience, reporting all problems at once;
/// on success, the warnings found on the way.
pub(crate) fn prepare<'a>(
    loaded: &LoadedProject,
    catalog: &Catalog,
    api: &Api,
    now: Timestamp,
    selected: &[&'a Item<crate::model::Campaign>],
    users: &mut dyn UsersSource,
    budget: &mut Budget,
) -> Result<(Vec<Prepared<'a>>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let files = &loaded.resources;
    let mut resolver = Resolver::new(catalog, files, users);
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    for item in selected {
        let render = CampaignRender::compile(item, catalog, api, now, budget);
        let audience = resolver.campaign_audience(&item.value.audience, &item.loc);
        match (render, audience) {
            (Ok(render), Some(audience)) => prepared.push(Prepared {
                item,
                render,
                audience,
            }),
            (Err(e), _) => problems.push(item.loc.diagnostic(
                files,
                Severity::Error,
                Code::RenderError,
                &e.pointer,
                format!("campaign `{}`: {}", item.name, e.message),
            )),
            (Ok(_), None) => {} // reported by the resolver
        }
        // The campaign that used up the budget is reported; the rest would only repeat it.
        if let Err(exhausted) = budget.check() {
            if problems.is_empty() {
                problems.push(item.loc.diagnostic(
                    files,
                    Severity::Error,
                    Code::RenderError,
                    "/send",
                    format!(
                        "the plan's templates {} by campaign `{}`; the campaigns after it \
                         were not planned",
                        exhausted.describe(),
                        item.name
                    ),
                ));
            }
            break;
        }
    }
    let (errors, warnings): (Vec<_>, Vec<_>) = resolver
        .diagnostics
        .into_iter()
        .partition(Diagnostic::is_error);
    problems.extend(errors);
    if problems.is_empty() {
        Ok((prepared, warnings))
    } else {
        problems.extend(warnings);
        Err(problems)
    }
}
