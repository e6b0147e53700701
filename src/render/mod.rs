//! Rendering: every campaign's audience resolved and its message rendered into the exact
//! requests apply would send, each with its [`Fingerprint`].
//!
//! - [`recipients`]: audiences to recipients (CSV streamed, Users API, include/exclude);
//! - [`text`]: templated strings compiled once per campaign, rendered per recipient;
//! - [`message`]: a campaign's `send` compiled into request builders.

mod compile;
pub mod message;
mod prepare;
pub mod recipients;
mod skeleton;
pub mod text;
mod user_paths;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use jiff::Timestamp;
use minijinja::value::{Serde, Value as JValue};
use serde_json::Value;

use crate::engati::Request;
use crate::fingerprint::Fingerprint;
use crate::jinja::{Budget, Exhausted, Spent};
use crate::model::{Api, Campaign};
use crate::validate::{Catalog, Item};
pub use message::{Message, MessageError, Target};
pub(crate) use prepare::{
    Context, Outline, Prepared, Suppressed, prepare, prepare_outlined, prepare_streamed,
};

/// Recipients rendered per batch: enough to keep every core busy, few enough that a batch's
/// request bodies stay small in memory.
pub const BATCH: usize = 8192;
pub use recipients::{
    Batch, Batches, NoUsersApi, Recipient, Resolved, Resolver, SourceError, Streamed, UserFields,
    UsersSource,
};
use text::{Compiler, Globals};

/// A rendered delivery: the request and its fingerprint.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The exact request.
    pub request: Request,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
}

/// A delivery rendered for one recipient and judged by the consumer from its fingerprint.
#[derive(Debug)]
pub struct Judged<V> {
    /// The fingerprint of the delivery's request.
    pub fingerprint: Fingerprint,
    /// What the consumer's judge made of it.
    pub verdict: V,
    /// The request, when the judge asked for it.
    pub request: Option<Request>,
}

/// The rendering threads' shared view of time: how much they have used between them, how much
/// was left when they started, and whether to stop.
struct Clock {
    stop: AtomicBool,
    used: AtomicU64,
    left: u64,
}

/// Takes the recipients' renderings in audience order: charges their fuel to the budget,
/// hands deliveries to the consumer until the first failure, and collects failures.
struct Taker<'t, V, E> {
    failures: &'t mut Failures,
    budget: &'t mut Budget,
    stop: &'t AtomicBool,
    each: &'t mut Consumer<'t, V, E>,
}

/// What [`CampaignRender::render_each`] hands each delivery to.
type Consumer<'t, V, E> = dyn FnMut(&Recipient, Judged<V>) -> Result<(), E> + 't;

impl<V, E> Taker<'_, V, E> {
    /// Takes recipient `index`'s rendering; `false` once rendering must stop.
    fn take(
        &mut self,
        index: usize,
        recipient: &Recipient,
        rendered: Option<Rendering<V>>,
    ) -> Result<bool, E> {
        let Some((result, spent)) = rendered else {
            // Not rendered: the threads ran out of time before its turn came to be charged.
            self.failures
                .exhausted
                .get_or_insert((index, Exhausted::Time));
            return Ok(false);
        };
        if let Err(exhausted) = self.budget.charge(spent) {
            self.failures.exhausted = Some((index, exhausted));
            self.stop.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        match result {
            Ok(judged) if self.failures.total == 0 => (self.each)(recipient, judged)?,
            Ok(_) => {}
            Err(e) => self.failures.add(index, Some(&recipient.phone), e),
        }
        Ok(true)
    }
}

/// One recipient's delivery, rendered or failed, and what its strings took.
type Rendering<V> = (Result<Judged<V>, MessageError>, Spent);

/// One batch's renderings; `None` for recipients not rendered because rendering stopped.
type Renderings<V> = Vec<Option<Rendering<V>>>;

/// Recipients whose message could not be rendered (or breaks a WhatsApp rule), grouped by
/// what went wrong: one empty column usually fails thousands of recipients the same way.
#[derive(Debug, Default)]
pub struct Failures {
    /// The first few distinct problems, in audience order.
    pub groups: Vec<FailureGroup>,
    /// How many recipients failed in all.
    pub total: usize,
    /// Where the run's budget ran out (the recipient's index), and what of it.
    pub exhausted: Option<(usize, Exhausted)>,
    /// Why the audience could not be read again while it was rendered (rendering stopped).
    pub unreadable: Option<SourceError>,
}

/// Recipients that failed the same way.
#[derive(Debug)]
pub struct FailureGroup {
    /// What went wrong.
    pub error: MessageError,
    /// The first few recipients' indexes in the audience.
    pub first: Vec<usize>,
    /// Their phones, when known (a streamed audience cannot be looked up by index).
    pub phones: Vec<Option<Box<str>>>,
    /// How many recipients.
    pub count: usize,
}

impl Failures {
    /// Distinct problems kept; recipients failing otherwise are only counted.
    pub const GROUPS: usize = 10;
    /// Recipients named per problem.
    pub const NAMED: usize = 5;

    /// Records that recipient `index` (with `phone`, when known) failed with `e`.
    pub fn add(&mut self, index: usize, phone: Option<&str>, e: MessageError) {
        self.total += 1;
        let same =
            |g: &&mut FailureGroup| g.error.pointer == e.pointer && g.error.message == e.message;
        if let Some(group) = self.groups.iter_mut().find(same) {
            group.count += 1;
            if group.first.len() < Failures::NAMED {
                group.first.push(index);
                group.phones.push(phone.map(Box::from));
            }
        } else if self.groups.len() < Failures::GROUPS {
            self.groups.push(FailureGroup {
                error: e,
                first: vec![index],
                phones: vec![phone.map(Box::from)],
                count: 1,
            });
        }
    }

    /// Whether every recipient rendered.
    pub fn is_empty(&self) -> bool {
        self.total == 0 && self.exhausted.is_none() && self.unreadable.is_none()
    }
}

fn worker_stopped() -> MessageError {
    MessageError::new("/send", "a rendering thread stopped unexpectedly")
}

/// When a campaign goes out, as of a plan's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `schedule.at` is a fixed time.
    At(Timestamp),
    /// No schedule, or `now`: at the first apply.
    Now,
    /// The round of a recurring campaign (`schedule.cron`) this plan is about: its latest
    /// occurrence at or before the plan's time; before the first, the first (not due yet).
    Occurrence(Timestamp),
    /// A recurring campaign with no occurrence left (`until` has passed).
    Over,
}

impl When {
    /// A campaign's schedule (validated) as of `now`.
    pub fn of(campaign: &Campaign, now: Timestamp) -> When {
        let Some(schedule) = &campaign.schedule else {
            return When::Now;
        };
        if let Some(recurrence) = schedule.recurrence() {
            let Ok(recurrence) = recurrence else {
                return When::Over;
            };
            return match recurrence
                .latest_due(now)
                .or_else(|| recurrence.next_after(now))
            {
                Some(occurrence) => When::Occurrence(occurrence),
                None => When::Over,
            };
        }
        schedule
            .at
            .as_deref()
            .and_then(|at| at.parse::<Timestamp>().ok())
            .map_or(When::Now, When::At)
    }

    /// Whether the campaign may go out at `now`.
    pub fn is_due(self, now: Timestamp) -> bool {
        match self {
            When::At(at) | When::Occurrence(at) => at <= now,
            When::Now => true,
            When::Over => false,
        }
    }

    /// The fixed time of the message: `schedule.at`, or the occurrence.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            When::At(at) | When::Occurrence(at) => Some(at),
            When::Now | When::Over => None,
        }
    }

    /// A one-off campaign's fixed time (`schedule.at`), which can be late.
    pub fn one_off_at(self) -> Option<Timestamp> {
        match self {
            When::At(at) => Some(at),
            _ => None,
        }
    }

    /// The occurrence of a recurring campaign: the round its deliveries are kept in.
    pub fn occurrence(self) -> Option<Timestamp> {
        match self {
            When::Occurrence(at) => Some(at),
            _ => None,
        }
    }
}

/// A timestamp as Engati's `publishedOn` wants it: UTC with milliseconds.
pub fn published_on(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// How many threads render: the cores, up to 8. Asked once: the answer reads cgroup files,
/// which costs more than rendering a small campaign.
pub(crate) fn workers() -> usize {
    static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORKERS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(8)
    })
}

/// A campaign compiled for rendering.
pub struct CampaignRender {
    /// The campaign's message.
    pub message: Message,
    /// When it goes out.
    pub when: When,
    /// The campaign, as messages name it.
    label: String,
}

impl CampaignRender {
    /// Compiles a campaign: its strings once, with `vars`, `campaign` and `now` bound.
    pub fn compile(
        campaign: &Item<Campaign>,
        catalog: &Catalog,
        api: &Api,
        now: Timestamp,
        budget: &mut Budget,
    ) -> Result<CampaignRender, MessageError> {
        let when = When::of(&campaign.value, now);
        let label = format!("campaign `{}`", campaign.name);
        crate::jinja::rendering(label.clone());
        let scheduled_at = when.at().unwrap_or(now).to_string();
        let vars: BTreeMap<&String, &Value> = catalog.vars.iter().collect();
        let globals = Globals {
            vars: JValue::from(Serde(vars)),
            campaign: minijinja::context! {
                name => campaign.name.clone(),
                scheduled_at => scheduled_at,
            },
            now: JValue::from(now.to_string()),
        };
        let target = Target {
            customer_id: api.customer_id,
            bot_key: api.bot_key.clone(),
            trigger_api: api.trigger_api,
        };
        let message = Message::compile(
            &campaign.value.send,
            &catalog.templates,
            target,
            Compiler::new(globals, budget),
        )?;
        Ok(CampaignRender {
            message,
            when,
            label,
        })
    }

    /// Renders every recipient, on all cores, and hands each delivery to `each` in audience
    /// order. `judge` runs on the rendering threads as soon as a delivery's fingerprint is
    /// known and returns a verdict and whether the request is needed: a re-run plan, where
    /// nearly every delivery is unchanged, then never builds those requests. A judge's error
    /// (a recipient's data it cannot judge by) fails the recipient as a rendering error does.
    ///
    /// Workers live for the whole campaign and take batches in turn; results come back
    /// through bounded channels, so at most a few batches of requests are in memory. The work
    /// each recipient's strings took is charged to `budget` (given an allowance for this
    /// audience) in audience order, so where it runs out is the same on every run; rendering
    /// stops there. A recipient that fails to render is returned among the [`Failures`], and
    /// from then on recipients are only rendered, to count the failures, not handed to `each`;
    /// an error from `each` stops the rendering.
    pub fn render_each<V: Send, E>(
        &self,
        recipients: &[Recipient],
        batch: usize,
        budget: &mut Budget,
        judge: impl Fn(&Recipient, &Fingerprint) -> Result<(V, bool), MessageError> + Sync,
        each: impl FnMut(&Recipient, Judged<V>) -> Result<(), E>,
    ) -> Result<Failures, E> {
        let batches = recipients
            .chunks(batch.max(1))
            .map(|part| Ok(Batch::Listed(part)));
        self.render_batches(recipients.len(), batches, budget, judge, each)
    }

    /// [`CampaignRender::render_each`] for the `count` recipients that `batches` hands out, in
    /// order (read from a file as they are rendered, or slices of a list). Batches are read
    /// on a thread of their own, a few ahead of rendering; one that cannot be read stops the
    /// rendering and is returned as [`Failures::unreadable`].
    pub fn render_batches<'r, V: Send, E>(
        &self,
        count: usize,
        batches: impl Iterator<Item = Result<Batch<'r>, SourceError>> + Send,
        budget: &mut Budget,
        judge: impl Fn(&Recipient, &Fingerprint) -> Result<(V, bool), MessageError> + Sync,
        mut each: impl FnMut(&Recipient, Judged<V>) -> Result<(), E>,
    ) -> Result<Failures, E> {
        budget.allow(count);
        let clock = Clock {
            stop: AtomicBool::new(false),
            used: AtomicU64::new(0),
            left: u64::try_from(budget.time_left().as_nanos()).unwrap_or(u64::MAX),
        };
        let mut failures = Failures::default();
        let mut take = Taker {
            failures: &mut failures,
            budget,
            stop: &clock.stop,
            each: &mut each,
        };
        let workers = workers();
        let mut batches = batches.peekable();
        // One batch or one core: threads would only add their start-up.
        let one_batch = match batches.peek() {
            Some(Ok(first)) => first.len() >= count,
            None | Some(Err(_)) => true,
        };
        if workers == 1 || one_batch {
            crate::jinja::rendering(self.label.clone());
            let mut scratch = Vec::new();
            let mut index = 0;
            for part in batches {
                let part = match part {
                    Ok(part) => part,
                    Err(e) => {
                        take.failures.unreadable = Some(e);
                        break;
                    }
                };
                for r in part.iter() {
                    let rendered = self.render_counted(r, &judge, &mut scratch, &clock);
                    if !take.take(index, r, rendered)? {
                        return Ok(failures);
                    }
                    index += 1;
                }
            }
            return Ok(failures);
        }
        std::thread::scope(|scope| {
            let mut inputs = Vec::with_capacity(workers);
            let mut outputs = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (to_worker, from_reader) = std::sync::mpsc::sync_channel::<Batch<'r>>(1);
                let (to_taker, from_worker) =
                    std::sync::mpsc::sync_channel::<(Batch<'r>, Renderings<V>)>(1);
                inputs.push(to_worker);
                outputs.push(from_worker);
                let (judge, clock) = (&judge, &clock);
                scope.spawn(move || {
                    crate::jinja::rendering(self.label.clone());
                    let mut scratch = Vec::new();
                    for part in from_reader {
                        let rendered = part
                            .iter()
                            .map(|r| self.render_counted(r, judge, &mut scratch, clock))
                            .collect();
                        // A closed channel means the consumer stopped: so do we.
                        if to_taker.send((part, rendered)).is_err() {
                            return;
                        }
                    }
                });
            }
            // Batches go to the workers in turn and are taken back in the same turn: the
            // order of the audience is kept whatever thread renders what.
            let stop = &clock.stop;
            let reader = scope.spawn(move || {
                let mut sent = 0usize;
                for part in batches {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match part {
                        Ok(part) => {
                            if inputs[sent % workers].send(part).is_err() {
                                break;
                            }
                            sent += 1;
                        }
                        Err(e) => return (sent, Some(e)),
                    }
                }
                (sent, None)
            });
            let (mut index, mut turn) = (0, 0);
            loop {
                let Ok((part, rendered)) = outputs[turn % workers].recv() else {
                    // The reader is done (or a worker stopped): closing the channels frees
                    // any thread still waiting to hand over a batch.
                    drop(outputs);
                    match reader.join() {
                        Ok((_, Some(e))) => take.failures.unreadable = Some(e),
                        Ok((sent, None)) if sent == turn => {}
                        _ => take.failures.add(index, None, worker_stopped()),
                    }
                    return Ok(());
                };
                for (r, one) in part.iter().zip(rendered) {
                    if !take.take(index, r, one)? {
                        return Ok(());
                    }
                    index += 1;
                }
                turn += 1;
            }
        })?;
        Ok(failures)
    }

    /// Renders one recipient with what its strings took, or nothing once told to stop (by the
    /// consumer, or because the threads used up the time left between them).
    fn render_counted<V>(
        &self,
        recipient: &Recipient,
        judge: &impl Fn(&Recipient, &Fingerprint) -> Result<(V, bool), MessageError>,
        scratch: &mut Vec<u8>,
        clock: &Clock,
    ) -> Option<Rendering<V>> {
        if clock.stop.load(Ordering::Relaxed) {
            return None;
        }
        crate::jinja::take_spent();
        let result = self.render_one(recipient, judge, scratch);
        let spent = crate::jinja::take_spent();
        // Strings spliced without minijinja take no time worth counting (and no shared write).
        let nanos = u64::try_from(spent.time.as_nanos()).unwrap_or(u64::MAX);
        if nanos > 0
            && clock
                .used
                .fetch_add(nanos, Ordering::Relaxed)
                .saturating_add(nanos)
                > clock.left
        {
            clock.stop.store(true, Ordering::Relaxed);
        }
        Some((result, spent))
    }

    fn render_one<V>(
        &self,
        recipient: &Recipient,
        judge: &impl Fn(&Recipient, &Fingerprint) -> Result<(V, bool), MessageError>,
        scratch: &mut Vec<u8>,
    ) -> Result<Judged<V>, MessageError> {
        let draft = self.message.draft(recipient, scratch)?;
        let fingerprint = draft.fingerprint;
        let (verdict, needs_request) = judge(recipient, &fingerprint)?;
        let request = if needs_request {
            Some(draft.request()?)
        } else {
            None
        };
        Ok(Judged {
            fingerprint,
            verdict,
            request,
        })
    }

    /// The single request of a broadcast campaign. Its fingerprint leaves `publishedOn` out
    /// when the campaign has no fixed time: that field is then the plan's own time, and a
    /// broadcast sent yesterday must not look changed today.
    pub fn render_whole(
        &self,
        recipients: &[Recipient],
        now: Timestamp,
    ) -> Result<Rendered, MessageError> {
        let request = self
            .message
            .for_audience(recipients, &published_on(self.when.at().unwrap_or(now)))?;
        let fingerprint = match self.when {
            When::At(_) | When::Occurrence(_) => request.fingerprint(),
            When::Now | When::Over => self
                .message
                .for_audience(recipients, "at apply")?
                .fingerprint(),
        };
        Ok(Rendered {
            request,
            fingerprint,
        })
    }
}
