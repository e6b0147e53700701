//! Preparing campaigns to render, for a plan and for `herald diff` alike: each campaign's
//! message compiled once and its audience resolved, minus the project's `suppress` list,
//! every problem reported at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::{CampaignRender, MessageError, Resolved, Resolver, UsersSource, When};
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

/// A campaign prepared for a plan without its compiled message, which [`Outline::compile`]
/// makes again just before the campaign is planned: a compiled message takes kilobytes, and a
/// plan of 50,000 campaigns that kept them all from preparing to planning held hundreds of
/// megabytes. What the plan needs to know of every campaign ahead is kept.
pub(crate) struct Outline<'a> {
    /// The campaign.
    pub item: &'a Item<crate::model::Campaign>,
    /// Its recipients, suppressed ones left out.
    pub audience: Arc<Resolved>,
    /// How the project's `suppress` list met its audience.
    pub suppressed: Suppressed,
    /// When it goes out.
    pub when: When,
    /// Whether it sends a message per recipient (rather than one for the whole audience).
    pub per_recipient: bool,
}

impl<'a> Outline<'a> {
    fn of(prepared: Prepared<'a>) -> Outline<'a> {
        Outline {
            item: prepared.item,
            audience: prepared.audience,
            suppressed: prepared.suppressed,
            when: prepared.render.when,
            per_recipient: prepared.render.message.per_recipient(),
        }
    }

    /// The campaign with its message compiled again. It compiled when it was prepared, from
    /// the same files at the same time, so it compiles the same way; what that costs was
    /// charged to the run's budget then, so it is not charged again.
    pub(crate) fn compile(self, context: &Context<'_>) -> Result<Prepared<'a>, Box<Diagnostic>> {
        let mut spent = Budget::plan();
        let render = CampaignRender::compile(
            self.item,
            context.catalog,
            context.api,
            context.now,
            &mut spent,
        )
        .map_err(|e| Box::new(not_compiled(&context.loaded.resources, self.item, &e)))?;
        Ok(Prepared {
            item: self.item,
            render,
            audience: self.audience,
            suppressed: self.suppressed,
        })
    }
}

/// The error of a campaign whose message does not compile.
fn not_compiled(
    files: &[crate::load::SourceFile],
    item: &Item<crate::model::Campaign>,
    e: &MessageError,
) -> Diagnostic {
    item.loc.diagnostic(
        files,
        Severity::Error,
        Code::RenderError,
        &e.pointer,
        format!("campaign `{}`: {}", item.name, e.message),
    )
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
    prepare_as(&context, selected, users, budget, false, |p| p)
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
    prepare_as(context, selected, users, budget, true, |p| p)
}

/// [`prepare_streamed`] keeping only each campaign's [`Outline`]: for a plan, which plans
/// the campaigns one at a time.
pub(crate) fn prepare_outlined<'a>(
    context: &Context<'_>,
    selected: &[&'a Item<crate::model::Campaign>],
    users: &mut dyn UsersSource,
    budget: &mut Budget,
) -> Result<(Vec<Outline<'a>>, Vec<Diagnostic>), Vec<Diagnostic>> {
    prepare_as(context, selected, users, budget, true, Outline::of)
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

/// Prepares the `selected` campaigns (streaming CSV audiences when `stream`), keeping of each
/// what `keep` makes of it.
fn prepare_as<'a, T>(
    context: &Context<'_>,
    selected: &[&'a Item<crate::model::Campaign>],
    users: &mut dyn UsersSource,
    budget: &mut Budget,
    stream: bool,
    keep: impl Fn(Prepared<'a>) -> T,
) -> Result<(Vec<T>, Vec<Diagnostic>), Vec<Diagnostic>> {
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
                prepared.push(keep(Prepared {
                    item,
                    render,
                    audience,
                    suppressed,
                }));
            }
            (Err(e), _) => problems.push(not_compiled(files, item, &e)),
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
