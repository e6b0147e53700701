//! Rendering: every campaign's audience resolved and its message rendered into the exact
//! requests apply would send, each with its [`Fingerprint`].
//!
//! - [`recipients`]: audiences to recipients (CSV streamed, Users API, include/exclude);
//! - [`text`]: templated strings compiled once per campaign, rendered per recipient;
//! - [`message`]: a campaign's `send` compiled into request builders.

mod compile;
pub mod message;
pub mod recipients;
mod skeleton;
pub mod text;

use std::collections::BTreeMap;

use jiff::Timestamp;
use minijinja::value::{Serde, Value as JValue};
use serde_json::Value;

use crate::engati::Request;
use crate::fingerprint::Fingerprint;
use crate::model::{Api, Campaign};
use crate::validate::{Catalog, Item};
pub use message::{Message, MessageError, Target};
pub use recipients::{NoUsersApi, Recipient, Resolved, Resolver, UserFields, UsersSource};
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

/// One batch's deliveries, each rendered or failed.
type Batch<V> = Vec<Result<Judged<V>, MessageError>>;

/// Recipients whose message could not be rendered (or breaks a WhatsApp rule), grouped by
/// what went wrong: one empty column usually fails thousands of recipients the same way.
#[derive(Debug, Default)]
pub struct Failures {
    /// The first few distinct problems, in audience order.
    pub groups: Vec<FailureGroup>,
    /// How many recipients failed in all.
    pub total: usize,
}

/// Recipients that failed the same way.
#[derive(Debug)]
pub struct FailureGroup {
    /// What went wrong.
    pub error: MessageError,
    /// The first few recipients' indexes in the audience.
    pub first: Vec<usize>,
    /// How many recipients.
    pub count: usize,
}

impl Failures {
    /// Distinct problems kept; recipients failing otherwise are only counted.
    pub const GROUPS: usize = 10;
    /// Recipients named per problem.
    pub const NAMED: usize = 5;

    /// Records that recipient `index` failed with `e`.
    pub fn add(&mut self, index: usize, e: MessageError) {
        self.total += 1;
        let same =
            |g: &&mut FailureGroup| g.error.pointer == e.pointer && g.error.message == e.message;
        if let Some(group) = self.groups.iter_mut().find(same) {
            group.count += 1;
            if group.first.len() < Failures::NAMED {
                group.first.push(index);
            }
        } else if self.groups.len() < Failures::GROUPS {
            self.groups.push(FailureGroup {
                error: e,
                first: vec![index],
                count: 1,
            });
        }
    }

    /// Whether every recipient rendered.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

fn worker_stopped() -> MessageError {
    MessageError::new("/send", "a rendering thread stopped unexpectedly")
}

/// When a campaign goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `schedule.at` is a fixed time.
    At(Timestamp),
    /// No schedule, or `now`: at the first apply.
    Now,
}

impl When {
    /// A campaign's schedule (validated RFC 3339 or `now`).
    pub fn of(campaign: &Campaign) -> When {
        campaign
            .schedule
            .as_ref()
            .and_then(|s| s.at.parse::<Timestamp>().ok())
            .map_or(When::Now, When::At)
    }

    /// Whether the campaign may go out at `now`.
    pub fn is_due(self, now: Timestamp) -> bool {
        match self {
            When::At(at) => at <= now,
            When::Now => true,
        }
    }

    /// The fixed time, if any.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            When::At(at) => Some(at),
            When::Now => None,
        }
    }
}

/// A timestamp as Engati's `publishedOn` wants it: UTC with milliseconds.
pub fn published_on(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A campaign compiled for rendering.
pub struct CampaignRender {
    /// The campaign's message.
    pub message: Message,
    /// When it goes out.
    pub when: When,
}

impl CampaignRender {
    /// Compiles a campaign: its strings once, with `vars`, `campaign` and `now` bound.
    pub fn compile(
        campaign: &Item<Campaign>,
        catalog: &Catalog,
        api: &Api,
        now: Timestamp,
    ) -> Result<CampaignRender, MessageError> {
        let when = When::of(&campaign.value);
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
            Compiler::new(globals),
        )?;
        Ok(CampaignRender { message, when })
    }

    /// Renders every recipient, on all cores, and hands each delivery to `each` in audience
    /// order. `judge` runs on the rendering threads as soon as a delivery's fingerprint is
    /// known and returns a verdict and whether the request is needed: a re-run plan, where
    /// nearly every delivery is unchanged, then never builds those requests.
    ///
    /// Workers live for the whole campaign and take batches in turn; results come back
    /// through bounded channels, so at most a few batches of requests are in memory. A
    /// recipient that fails to render is skipped and returned among the [`Failures`]; an error
    /// from `each` stops the rendering.
    pub fn render_each<V: Send, E>(
        &self,
        recipients: &[Recipient],
        batch: usize,
        judge: impl Fn(&Recipient, &Fingerprint) -> (V, bool) + Sync,
        mut each: impl FnMut(&Recipient, Judged<V>) -> Result<(), E>,
    ) -> Result<Failures, E> {
        self.message.budget_for(recipients.len());
        let mut failures = Failures::default();
        let batch = batch.max(1);
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        if workers == 1 || recipients.len() <= batch {
            let mut scratch = Vec::new();
            for (i, r) in recipients.iter().enumerate() {
                match self.render_one(r, &judge, &mut scratch) {
                    Ok(judged) => each(r, judged)?,
                    Err(e) => failures.add(i, e),
                }
            }
            return Ok(failures);
        }
        let batches: Vec<&[Recipient]> = recipients.chunks(batch).collect();
        std::thread::scope(|scope| {
            let mut channels = Vec::with_capacity(workers);
            for worker in 0..workers {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<V>>(2);
                channels.push(rx);
                let (batches, judge) = (&batches, &judge);
                scope.spawn(move || {
                    let mut scratch = Vec::new();
                    for part in batches.iter().skip(worker).step_by(workers) {
                        let rendered = self.render_batch(part, judge, &mut scratch);
                        // A closed channel means the consumer stopped: so do we.
                        if tx.send(rendered).is_err() {
                            return;
                        }
                    }
                });
            }
            for (index, part) in batches.iter().enumerate() {
                let Ok(rendered) = channels[index % workers].recv() else {
                    failures.add(index * batch, worker_stopped());
                    return Ok(failures);
                };
                for (i, (r, one)) in part.iter().zip(rendered).enumerate() {
                    match one {
                        Ok(judged) => each(r, judged)?,
                        Err(e) => failures.add(index * batch + i, e),
                    }
                }
            }
            Ok(failures)
        })
    }

    fn render_one<V>(
        &self,
        recipient: &Recipient,
        judge: &impl Fn(&Recipient, &Fingerprint) -> (V, bool),
        scratch: &mut Vec<u8>,
    ) -> Result<Judged<V>, MessageError> {
        let draft = self.message.draft(recipient, scratch)?;
        let fingerprint = draft.fingerprint;
        let (verdict, needs_request) = judge(recipient, &fingerprint);
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

    fn render_batch<V>(
        &self,
        part: &[Recipient],
        judge: &impl Fn(&Recipient, &Fingerprint) -> (V, bool),
        scratch: &mut Vec<u8>,
    ) -> Batch<V> {
        part.iter()
            .map(|r| self.render_one(r, judge, scratch))
            .collect()
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
            When::At(_) => request.fingerprint(),
            When::Now => self
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
