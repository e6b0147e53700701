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

/// One batch's deliveries, or the index of the recipient that failed and why.
type Batch<V> = Result<Vec<Judged<V>>, (usize, MessageError)>;

/// Why [`CampaignRender::render_each`] stopped.
#[derive(Debug)]
pub enum Stop<E> {
    /// The recipient at this index failed to render.
    Render(usize, MessageError),
    /// The consumer failed.
    Consumer(E),
}

fn worker_stopped() -> MessageError {
    MessageError {
        pointer: "/send".to_owned(),
        message: "a rendering thread stopped unexpectedly".to_owned(),
    }
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
    /// through bounded channels, so at most a few batches of requests are in memory. Stops at
    /// the first failure: a recipient that fails to render (its index and the error), or an
    /// error from `each`.
    pub fn render_each<V: Send, E>(
        &self,
        recipients: &[Recipient],
        batch: usize,
        judge: impl Fn(&Recipient, &Fingerprint) -> (V, bool) + Sync,
        mut each: impl FnMut(&Recipient, Judged<V>) -> Result<(), E>,
    ) -> Result<(), Stop<E>> {
        let batch = batch.max(1);
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        if workers == 1 || recipients.len() <= batch {
            let mut scratch = Vec::new();
            for (i, r) in recipients.iter().enumerate() {
                let judged = self
                    .render_one(r, &judge, &mut scratch)
                    .map_err(|e| Stop::Render(i, e))?;
                each(r, judged).map_err(Stop::Consumer)?;
            }
            return Ok(());
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
                    for (index, part) in batches.iter().enumerate().skip(worker).step_by(workers) {
                        let rendered = self.render_batch(part, index * batch, judge, &mut scratch);
                        let failed = rendered.is_err();
                        // A closed channel means the consumer stopped: so do we.
                        if tx.send(rendered).is_err() || failed {
                            return;
                        }
                    }
                });
            }
            for (index, part) in batches.iter().enumerate() {
                let rendered = channels[index % workers]
                    .recv()
                    .map_err(|_| Stop::Render(index * batch, worker_stopped()))?
                    .map_err(|(i, e)| Stop::Render(i, e))?;
                for (r, one) in part.iter().zip(rendered) {
                    each(r, one).map_err(Stop::Consumer)?;
                }
            }
            Ok(())
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
        offset: usize,
        judge: &impl Fn(&Recipient, &Fingerprint) -> (V, bool),
        scratch: &mut Vec<u8>,
    ) -> Batch<V> {
        part.iter()
            .enumerate()
            .map(|(i, r)| {
                self.render_one(r, judge, scratch)
                    .map_err(|e| (offset + i, e))
            })
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
