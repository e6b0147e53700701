//! Making a plan: resolve and compile every campaign first (so a broken audience stops the plan
//! before any output), keeping only their outlines ([`Outline`]); then compile each campaign
//! again and render it in batches, classify every delivery against state ([`classify`]) on
//! the rendering threads, then pace, count and stream the actions to a [`Sink`] in audience
//! order ([`super::tracker::Tracker`]).

use std::collections::HashMap;

use jiff::Timestamp;

pub use super::classify::classify;
use super::cost::{self, Cost, Pricer};
use super::pacing::{self, Pacing, Recent};
use super::recorded::RecordedIndex;
use super::safety::{Cap, Caps};
use super::tracker::{CampaignPacing, Planned, Tracker};
use super::window::{Judgement, Windows};
use super::{ActionKind, Counts, Header, Lateness, Sink, Target};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::fingerprint::Fingerprint;
use crate::jinja::Budget;
use crate::load::LoadedProject;
use crate::model::Api;
use crate::reconcile::{self, Decisions, Verdict};
use crate::render::{
    Context, Failures, Judged, Outline, Prepared, UsersSource, When, prepare_outlined,
};
use crate::state::{Outcome, Round, StateError, Store, WHOLE_CAMPAIGN};
use crate::validate::late::{self, Lateness as Late};
use crate::validate::{Catalog, Item};

/// What a plan is made from.
pub struct Input<'a> {
    /// The loaded files (for positions in messages).
    pub loaded: &'a LoadedProject,
    /// The validated project (without errors).
    pub catalog: &'a Catalog,
    /// `api` after the environment overlay.
    pub api: &'a Api,
    /// The plan's time: what templates see as `now` and schedules are compared with.
    pub now: Timestamp,
    /// `--env`.
    pub environment: Option<&'a str>,
    /// `--campaign` names; empty plans every campaign.
    pub selection: &'a [String],
    /// [`super::inputs::hash`] of the inputs.
    pub inputs_hash: String,
    /// What reconciling decided about unknown deliveries, when the plan reconciles
    /// ([`crate::reconcile`]).
    pub reconciled: Option<&'a Decisions>,
}

/// Why no plan could be made.
#[derive(Debug)]
pub enum Failure {
    /// Problems in the project or its data, with file:line:column.
    Problems(Vec<Diagnostic>),
    /// State could not be read.
    State(StateError),
    /// An output could not be written.
    Output(std::io::Error),
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Failure {
        Failure::State(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Output(e)
    }
}

/// A made plan: its totals and the warnings found on the way.
#[derive(Debug)]
pub struct Made {
    /// All campaigns' counts.
    pub totals: Counts,
    /// Warnings (duplicate recipients, Users API users without a phone).
    pub warnings: Vec<Diagnostic>,
}

/// Makes a plan, streaming it to `sink`.
pub fn run(
    input: &Input<'_>,
    users: &mut dyn UsersSource,
    store: &dyn Store,
    sink: &mut dyn Sink,
) -> Result<Made, Failure> {
    run_hashing(input, || input.inputs_hash.clone(), users, store, sink)
}

/// [`run`] with the inputs hash made by `inputs_hash` (in place of [`Input::inputs_hash`])
/// while the campaigns are prepared: hashing reads every CSV file, as counting one does, and
/// neither needs the other.
pub(super) fn run_hashing(
    input: &Input<'_>,
    inputs_hash: impl FnOnce() -> String + Send,
    users: &mut dyn UsersSource,
    store: &dyn Store,
    sink: &mut dyn Sink,
) -> Result<Made, Failure> {
    let selected = select(input)?;
    // Reading the first campaign's state takes as long as reading a big CSV: do both at once
    // (state stays on this thread; its connection is not shared).
    // A recurring campaign's round is known once it is compiled: it is not read ahead.
    let first = selected
        .first()
        .filter(|item| {
            item.value
                .schedule
                .as_ref()
                .is_none_or(|s| s.cron.is_none())
        })
        .map(|item| item.name.as_str());
    let mut budget = Budget::plan();
    let context = Context {
        loaded: input.loaded,
        catalog: input.catalog,
        api: input.api,
        now: input.now,
    };
    let (outlines, mut preloaded, pacing, inputs_hash) = std::thread::scope(|scope| {
        let hashing = scope.spawn(inputs_hash);
        let preparing = scope.spawn(|| {
            prepare_outlined(&context, &selected, users, &mut budget).map_err(Failure::Problems)
        });
        let preloaded = first.map(|name| {
            Ok::<_, Failure>((name, RecordedIndex::load(store, Round::one_off(name))?))
        });
        // What pacing counts is read meanwhile too: a million recent sends take a while.
        let pacing = Pacing::load(input.catalog, input.api.messaging_limit, input.now, store);
        let outlines = preparing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let inputs_hash = hashing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (outlines, preloaded, pacing, inputs_hash)
    });
    let (outlines, warnings) = outlines?;
    let mut pacing = pacing?;
    if let Some(limit) = input.api.messaging_limit {
        let problems = too_big_for_a_wave(input, &outlines, limit, store)?;
        if !problems.is_empty() {
            return Err(Failure::Problems(problems));
        }
    }
    let header = Header {
        herald_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: input.now,
        environment: input.environment.map(str::to_owned),
        target: Target {
            base_url: input.api.base_url.clone(),
            customer_id: input.api.customer_id,
            bot_key: input.api.bot_key.clone(),
        },
        state_serial: store.serial()?,
        state_lineage: store.lineage()?,
        inputs_hash,
        reconciled: input.reconciled.is_some(),
        campaigns: {
            let mut names = input.selection.to_vec();
            names.sort();
            names.dedup();
            names
        },
        safety: caps(input),
        pricing: input.catalog.pricing.as_ref().map(cost::Pricing::of),
        budget: cost::Budget {
            max_per_apply: input.catalog.budget.map(|limit| Cap {
                limit,
                set_at: super::describe::settings_position(input.loaded, "/budget/max_per_apply"),
            }),
        },
        frequency_cap: frequency_cap(input),
        timezone: input
            .catalog
            .settings
            .as_ref()
            .and_then(|s| s.timezone.clone()),
        messaging_limit: messaging_limit(input, pacing.as_ref().map(|p| &p.recent)),
    };
    sink.begin(&header)?;
    let mut totals = Counts::default();
    let mut total_cost = header.pricing.as_ref().map(|p| Cost::zero(&p.currency));
    // Recipients whose message cannot be sent are errors, collected over every campaign so
    // one run reports them all; the plan is then not made.
    let mut problems = Vec::new();
    // Whether each campaign is held to the frequency cap: what one sends is remembered only
    // while a later one is.
    let capped: Vec<bool> = outlines
        .iter()
        .map(|p| {
            p.per_recipient
                && pacing.as_ref().is_some_and(|pacing| {
                    let category = pacing::template_category(input.catalog, &p.item.value);
                    pacing.recent.capped(category)
                })
        })
        .collect();
    // Each campaign is compiled again just before it is planned, and dropped once planned.
    for (i, outline) in outlines.into_iter().enumerate() {
        let recorded = match preloaded.take().transpose()? {
            Some((name, map))
                if name == outline.item.name && outline.item.value.previously.is_empty() =>
            {
                map
            }
            _ => RecordedIndex::load_all(store, &names(outline.item), outline.when.occurrence())?,
        };
        let p = match outline.compile(&context) {
            Ok(p) => p,
            Err(problem) => {
                problems.push(*problem);
                continue;
            }
        };
        let p = &p;
        let lateness = lateness(input, p, &recorded);
        if let Late::Late(by) = lateness {
            let late_after = late_after(input.catalog);
            problems.push(late::problem(
                &input.loaded.resources,
                p.item,
                by,
                late_after,
            ));
            continue;
        }
        let paced = pacing.as_mut().map(|pacing| CampaignPacing {
            recent: &pacing.recent,
            so_far: &mut pacing.so_far,
            capped: capped[i],
            remember: capped[i + 1..].contains(&true),
        });
        let past = Past {
            recorded: &recorded,
            lateness,
            paced,
        };
        let (counts, cost, failures) = plan_campaign(input, p, past, store, sink, &mut budget)?;
        problems.extend(super::problems::failures(input.loaded, p, &failures));
        totals.merge(&counts);
        if let (Some(total), Some(cost)) = (total_cost.as_mut(), &cost) {
            total.add(cost);
        }
    }
    if !problems.is_empty() {
        problems.extend(warnings);
        return Err(Failure::Problems(problems));
    }
    sink.end(&totals, total_cost.as_ref())?;
    Ok(Made { totals, warnings })
}

/// A campaign's name, then the names it had before: where its deliveries are recorded.
fn names(item: &Item<crate::model::Campaign>) -> Vec<&str> {
    std::iter::once(item.name.as_str())
        .chain(item.value.previously.iter().map(String::as_str))
        .collect()
}

/// `safety.late_after` (validated), or its default.
fn late_after(catalog: &Catalog) -> jiff::SignedDuration {
    catalog
        .settings
        .as_ref()
        .and_then(|s| s.safety.late_after())
        .unwrap_or(jiff::SignedDuration::from_hours(1))
}

/// Whether a prepared campaign is late ([`late::judge`]); what was sent is looked at only
/// for campaigns whose time passed long enough ago.
fn lateness(input: &Input<'_>, p: &Prepared<'_>, recorded: &RecordedIndex) -> Late {
    let at = p.render.when.one_off_at();
    let late_after = late_after(input.catalog);
    if at.is_none_or(|at| input.now.duration_since(at) <= late_after) {
        return Late::OnTime;
    }
    late::judge(
        at,
        input.now,
        late_after,
        recorded.any_sent(),
        p.item.value.late,
    )
}

/// Template broadcasts to more recipients than `limit`: a broadcast goes out whole, so one of
/// those would wait for a wave that never comes.
/// One that state shows went out (or may have) is done, and no longer a problem.
fn too_big_for_a_wave(
    input: &Input<'_>,
    outlines: &[Outline<'_>],
    limit: u64,
    store: &dyn Store,
) -> Result<Vec<Diagnostic>, Failure> {
    let mut too_big = Vec::new();
    for p in outlines {
        if p.per_recipient
            || pacing::template_category(input.catalog, &p.item.value).is_none()
            || p.audience.len() as u64 <= limit
        {
            continue;
        }
        let round = Round::of(&p.item.name, p.when.occurrence());
        let done = store
            .delivery(round, WHOLE_CAMPAIGN)?
            .is_some_and(|d| d.outcome != Outcome::Failed);
        if !done {
            too_big.push(p);
        }
    }
    Ok(too_big
        .into_iter()
        .map(|p| {
            let n = p.audience.len();
            p.item
                .loc
                .diagnostic(
                    &input.loaded.resources,
                    crate::diagnostic::Severity::Error,
                    Code::MessagingLimit,
                    "/audience",
                    format!(
                        "campaign `{}` broadcasts a template to {n} recipients, more than \
                         api.messaging_limit ({limit}) lets the business reach in 24 hours: \
                         it would never go out",
                        p.item.name
                    ),
                )
                .label(format!("{n} recipients"))
                .help(
                    "send it per recipient (`template:` rather than `template_broadcast:`), \
                     which goes out in waves; or split the audience; or, if the number's tier \
                     is higher, raise api.messaging_limit to it",
                )
        })
        .collect())
}

/// `frequency_cap` of herald.yaml, with where it is set.
fn frequency_cap(input: &Input<'_>) -> Option<pacing::FrequencyCap> {
    let cap = input.catalog.settings.as_ref()?.frequency_cap.as_ref()?;
    Some(pacing::FrequencyCap {
        max: cap.max,
        per: cap.per.clone(),
        categories: cap.categories.clone(),
        set_at: super::describe::settings_position(input.loaded, "/frequency_cap"),
    })
}

/// `api.messaging_limit` (after the environment's overlay, which may set it), with where it
/// is set and what the last 24 hours used of it.
fn messaging_limit(input: &Input<'_>, recent: Option<&Recent>) -> Option<pacing::MessagingLimit> {
    let limit = input.api.messaging_limit?;
    let overlaid = input.environment.and_then(|env| {
        let settings = input.catalog.settings.as_ref()?;
        let api = settings.environments.get(env)?.api.as_ref()?;
        api.messaging_limit
            .map(|_| format!("/environments/{env}/api/messaging_limit"))
    });
    let pointer = overlaid.unwrap_or_else(|| "/api/messaging_limit".to_owned());
    Some(pacing::MessagingLimit {
        limit,
        used: recent.and_then(Recent::used).unwrap_or(0),
        set_at: super::describe::settings_position(input.loaded, &pointer),
    })
}

/// The project's caps, with where herald.yaml sets them.
fn caps(input: &Input<'_>) -> Caps {
    let Some(settings) = &input.catalog.settings else {
        return Caps::default();
    };
    let at = |pointer: &str| super::describe::settings_position(input.loaded, pointer);
    Caps {
        max_sends: settings.safety.max_sends.map(|limit| Cap {
            limit,
            set_at: at("/safety/max_sends"),
        }),
        max_changed_share: settings.safety.max_changed_share.map(|limit| Cap {
            limit,
            set_at: at("/safety/max_changed_share"),
        }),
    }
}

/// The campaigns to plan, by name; unknown `--campaign` names are errors.
fn select<'a>(input: &Input<'a>) -> Result<Vec<&'a Item<crate::model::Campaign>>, Failure> {
    if input.selection.is_empty() {
        return Ok(input.catalog.campaigns.values().collect());
    }
    let mut problems = Vec::new();
    let mut selected = Vec::new();
    for name in input.selection {
        match input.catalog.campaigns.get(name) {
            Some(item) => selected.push(item),
            None => {
                let names = input.catalog.campaigns.keys().map(String::as_str);
                let help = match did_you_mean(name, names.clone()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "campaigns defined: {}",
                        names.collect::<Vec<_>>().join(", ")
                    ),
                };
                problems.push(
                    Diagnostic::error(
                        Code::UnknownReference,
                        "--campaign",
                        format!("no campaign named `{name}`"),
                    )
                    .help(help),
                );
            }
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Problems(problems));
    }
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    selected.dedup_by(|a, b| a.name == b.name);
    Ok(selected)
}

/// What state shows that one campaign is planned against.
struct Past<'a> {
    /// What the campaign's round holds.
    recorded: &'a RecordedIndex,
    /// Whether the campaign is late ([`lateness`]).
    lateness: Late,
    /// The plan's pacing, when the project paces its messages.
    paced: Option<CampaignPacing<'a>>,
}

/// Plans one campaign: its header, then every action, then its counts and cost; and the
/// recipients whose message could not be rendered.
fn plan_campaign(
    input: &Input<'_>,
    p: &Prepared<'_>,
    past: Past<'_>,
    store: &dyn Store,
    sink: &mut dyn Sink,
    budget: &mut Budget,
) -> Result<(Counts, Option<Cost>, Failures), Failure> {
    let Past {
        recorded,
        lateness,
        paced,
    } = past;
    let campaign = &p.item.value;
    let name = &p.item.name;
    let per_recipient = p.render.message.per_recipient();
    let audience = &p.audience;
    let mut described = super::describe::describe(input.loaded, input.catalog, p, input.now);
    super::describe::count_missed(&mut described, campaign, store)?;
    let seconds = |by: jiff::SignedDuration| by.as_secs().unsigned_abs();
    described.late = match lateness {
        Late::SendLate(by) => Some(Lateness {
            then: crate::model::Late::Send,
            seconds: seconds(by),
        }),
        Late::Skip(by) => Some(Lateness {
            then: crate::model::Late::Skip,
            seconds: seconds(by),
        }),
        Late::OnTime | Late::Late(_) => None,
    };
    // Under a messaging limit a template broadcast goes when it is due, not at once with its
    // publish time: the places it takes are judged then.
    if input.api.messaging_limit.is_some()
        && !per_recipient
        && pacing::template_category(input.catalog, campaign).is_some()
        && !p.render.when.is_due(input.now)
    {
        described.due = false;
    }
    let due = described.due;
    let occurrence = described.occurrence;
    sink.campaign(&described)?;
    let pricer = cost::pricer(input.catalog, p);
    if matches!(lateness, Late::Skip(_)) || p.render.when == When::Over {
        // Skipped, or a recurring campaign past its `until`: nothing is rendered, sent or
        // recorded.
        let cost = pricer.map(Pricer::finish);
        sink.end_campaign(&Counts::default(), cost.as_ref())?;
        return Ok((Counts::default(), cost, Failures::default()));
    }
    let names = names(p.item);
    let paced = paced.filter(|_| pacing::template_category(input.catalog, campaign).is_some());
    let recent = paced.as_ref().map(|p| p.recent);
    let mut tracker = Tracker {
        store,
        names: &names,
        occurrence: described.occurrence,
        recorded,
        decisions: input.reconciled,
        counts: Counts::default(),
        pricer,
        paced,
        audience: audience.len() as u64,
        detailed: HashMap::new(),
    };
    let judge = |recipient: &str, fingerprint: &Fingerprint, window: Option<Judgement>| {
        let mut recorded = recorded.get_or_erased(recipient, *fingerprint);
        // An unknown delivery reconciling found never arrived is planned as a failed one.
        if let Some(r) = recorded.as_mut()
            && matches!(r.outcome, Outcome::Unknown | Outcome::InFlight)
            && input
                .reconciled
                .and_then(|d| reconcile::lookup(d, Round::of(name, occurrence), recipient))
                .is_some_and(|d| d.verdict == Verdict::NotDelivered)
        {
            r.outcome = Outcome::Failed;
        }
        let (held, closes) = match window {
            Some(Judgement::Held(held)) => (Some(held), None),
            Some(Judgement::Open(closes)) => (None, closes),
            None => (None, None),
        };
        let (kind, sends) = classify(
            recorded.as_ref(),
            fingerprint,
            due,
            held.is_none(),
            campaign.on_change,
        );
        Planned {
            kind,
            sends,
            // A window holds back only what would have been sent.
            held: held.filter(|_| due && kind == ActionKind::Waiting),
            // Apply sends nothing after its window closes.
            closes: closes.filter(|_| sends),
            pace: recent
                .filter(|_| sends && recipient != WHOLE_CAMPAIGN)
                .map(|recent| recent.facts(recipient)),
        }
    };
    let mut failures = Failures::default();
    if per_recipient {
        // Windows matter only once the campaign is due: until then everything waits anyway.
        let windows = due
            .then(|| Windows::of(input.catalog, campaign, input.now))
            .flatten();
        failures = p.render.render_batches(
            audience.len(),
            audience.batches(&input.catalog.files, crate::render::BATCH),
            budget,
            |recipient, fingerprint| {
                let window = match &windows {
                    Some(windows) => Some(windows.judge(recipient)?),
                    None => None,
                };
                let verdict = judge(&recipient.phone, fingerprint, window);
                // Unchanged deliveries are only counted: their requests are never built.
                Ok((verdict, verdict.kind != ActionKind::Unchanged))
            },
            |recipient, judged| tracker.emit(&recipient.phone, judged, sink),
        )?;
    } else if !audience.is_empty() {
        // Broadcasts' audiences are listed: their one request names every recipient.
        let rendered = p
            .render
            .render_whole(&audience.recipients, input.now)
            .map_err(|e| {
                Failure::Problems(vec![super::problems::render_problem(input.loaded, p, e)])
            })?;
        let verdict = judge(WHOLE_CAMPAIGN, &rendered.fingerprint, None);
        let judged = Judged {
            verdict,
            fingerprint: rendered.fingerprint,
            request: (verdict.kind != ActionKind::Unchanged).then_some(rendered.request),
        };
        tracker.emit(WHOLE_CAMPAIGN, judged, sink)?;
    }
    let cost = tracker.pricer.map(Pricer::finish);
    sink.end_campaign(&tracker.counts, cost.as_ref())?;
    Ok((tracker.counts, cost, failures))
}
