//! Preparing campaigns to render, for a plan and for `herald diff` alike: each campaign's
//! message compiled once and its audience resolved, minus the project's `suppress` list,
//! every problem reported at once.

use std::collections::{HashMap, HashSet};
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
    /// Its recipients, suppressed ones left out.
    pub audience: Arc<Resolved>,
    /// How the project's `suppress` list met its audience.
    pub suppressed: Suppressed,
}

/// How the project's `suppress` list met a campaign's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suppressed {
    /// herald.yaml lists no audience to suppress.
    NoList,
    /// This many recipients were left out.
    Applied(u64),
    /// The campaign says `suppress: false`.
    OptedOut,
}

/// The project's suppressed phones, and each audience already filtered (campaigns share
/// audiences; a million-recipient one is filtered once).
struct Suppression {
    phones: Arc<HashSet<u64>>,
    /// By the address of the audience as resolved, which is kept alive beside its result so
    /// the address is never reused for another audience during the run.
    filtered: HashMap<*const Resolved, (Arc<Resolved>, Arc<Resolved>, u64)>,
}

impl Suppression {
    /// `audience` minus the suppressed phones, and how many that left out.
    fn apply(&mut self, audience: Arc<Resolved>) -> (Arc<Resolved>, u64) {
        let key = Arc::as_ptr(&audience);
        if let Some((_, result, removed)) = self.filtered.get(&key) {
            return (result.clone(), *removed);
        }
        if let Some(streamed) = &audience.streamed {
            // Counted with these phones: suppressing them is left to the second reading.
            let (streamed, removed) = streamed.suppressed(&self.phones);
            let result = Arc::new(Resolved {
                recipients: Vec::new(),
                streamed: Some(Arc::new(streamed)),
            });
            let removed = removed as u64;
            self.filtered
                .insert(key, (audience, result.clone(), removed));
            return (result, removed);
        }
        let kept: Vec<_> = audience
            .recipients
            .iter()
            .filter(|r| {
                !self
                    .phones
                    .contains(&super::recipients::phone_key(&r.phone))
            })
            .cloned()
            .collect();
        let removed = (audience.recipients.len() - kept.len()) as u64;
        let result = if removed == 0 {
            audience.clone()
        } else {
            Arc::new(Resolved::listed(kept))
        };
        self.filtered
            .insert(key, (audience, result.clone(), removed));
        (result, removed)
    }
}

/// Compiles every campaign and resolves every audience, listing its recipients, reporting
/// all problems at once; on success, the warnings found on the way.
pub(crate) fn prepare<'a>(
    loaded: &LoadedProject,
    catalog: &Catalog,
    api: &Api,
    now: Timestamp,
    selected: &[&'a Item<crate::model::Campaign>],
    users: &mut dyn UsersSource,
    budget: &mut Budget,
) -> Result<(Vec<Prepared<'a>>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let context = Context {
        loaded,
        catalog,
        api,
        now,
    };
    prepare_as(&context, selected, users, budget, false)
}

/// [`prepare`] for a plan, which renders every recipient once, in order: the CSV audiences of
/// campaigns sent per recipient are counted, not listed, and read again as they are rendered
/// ([`super::Streamed`]), so memory does not grow with them.
pub(crate) fn prepare_streamed<'a>(
    context: &Context<'_>,
    selected: &[&'a Item<crate::model::Campaign>],
    users: &mut dyn UsersSource,
    budget: &mut Budget,
) -> Result<(Vec<Prepared<'a>>, Vec<Diagnostic>), Vec<Diagnostic>> {
    prepare_as(context, selected, users, budget, true)
}

/// What campaigns are prepared from.
pub(crate) struct Context<'c> {
    /// The loaded files (for positions in messages).
    pub loaded: &'c LoadedProject,
    /// The validated project.
    pub catalog: &'c Catalog,
    /// `api` after the environment overlay.
    pub api: &'c Api,
    /// The plan's time.
    pub now: Timestamp,
}

fn prepare_as<'a>(
    context: &Context<'_>,
    selected: &[&'a Item<crate::model::Campaign>],
    users: &mut dyn UsersSource,
    budget: &mut Budget,
    stream: bool,
) -> Result<(Vec<Prepared<'a>>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let Context {
        loaded,
        catalog,
        api,
        now,
    } = *context;
    let files = &loaded.resources;
    let mut resolver = Resolver::new(catalog, files, users);
    let mut suppression = suppression(catalog, selected, &mut resolver);
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    for item in selected {
        let render = CampaignRender::compile(item, catalog, api, now, budget);
        let audience = match (&render, &suppression) {
            (Ok(render), _) if stream && render.message.per_recipient() => {
                let none = HashSet::new();
                let suppressed = suppression.as_ref().map_or(&none, |s| &*s.phones);
                resolver.campaign_audience_streamed(&item.value.audience, &item.loc, suppressed)
            }
            _ => resolver.campaign_audience(&item.value.audience, &item.loc),
        };
        match (render, audience) {
            (Ok(render), Some(audience)) => {
                let (audience, suppressed) = match (&mut suppression, item.value.suppress) {
                    (None, _) => (audience, Suppressed::NoList),
                    (Some(_), Some(false)) => (audience, Suppressed::OptedOut),
                    (Some(s), _) => {
                        let (audience, removed) = s.apply(audience);
                        (audience, Suppressed::Applied(removed))
                    }
                };
                prepared.push(Prepared {
                    item,
                    render,
                    audience,
                    suppressed,
                });
            }
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

/// The phones of herald.yaml's `suppress` audiences, when it lists any and a selected
/// campaign honours them (an unreadable one is an error in the resolver's diagnostics: a
/// plan that cannot leave out opt-outs is not made).
fn suppression(
    catalog: &Catalog,
    selected: &[&Item<crate::model::Campaign>],
    resolver: &mut Resolver<'_>,
) -> Option<Suppression> {
    let names = &catalog.settings.as_ref()?.suppress;
    if names.is_empty() {
        return None;
    }
    let mut phones = HashSet::new();
    if selected.iter().any(|c| c.value.suppress != Some(false)) {
        for name in names {
            if let Some(resolved) = resolver.named_audience(name) {
                phones.extend(
                    resolved
                        .recipients
                        .iter()
                        .map(|r| super::recipients::phone_key(&r.phone)),
                );
            }
        }
    }
    Some(Suppression {
        phones: Arc::new(phones),
        filtered: HashMap::new(),
    })
}
