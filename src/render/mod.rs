//! Rendering: every campaign's audience resolved and its message rendered into the exact
//! requests apply would send, each with its [`Fingerprint`].
//!
//! - [`recipients`]: audiences to recipients (CSV streamed, Users API, include/exclude);
//! - [`text`]: templated strings compiled once per campaign, rendered per recipient;
//! - [`message`]: a campaign's `send` compiled into request builders.

mod compile;
pub mod message;
pub mod recipients;
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

impl Rendered {
    /// Fingerprints a request: the SHA-256 of its compact JSON ([`Request::to_json`]).
    pub fn new(request: Request) -> Rendered {
        let fingerprint = Fingerprint::of(request.to_json().as_bytes());
        Rendered {
            request,
            fingerprint,
        }
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

    /// Renders a slice of recipients on all cores, in order. Stops at the first failure,
    /// returning the recipient's index and the error.
    pub fn render_all(
        &self,
        recipients: &[Recipient],
    ) -> Result<Vec<Rendered>, (usize, MessageError)> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        // Small audiences are not worth a thread.
        if threads == 1 || recipients.len() < 256 {
            return self.render_chunk(recipients, 0);
        }
        let chunk = recipients.len().div_ceil(threads);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = recipients
                .chunks(chunk)
                .enumerate()
                .map(|(i, part)| scope.spawn(move || self.render_chunk(part, i * chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err((
                            0,
                            MessageError {
                                pointer: "/send".to_owned(),
                                message: "rendering stopped unexpectedly".to_owned(),
                            },
                        ))
                    })
                })
                .collect()
        });
        let mut all = Vec::with_capacity(recipients.len());
        for part in results {
            all.extend(part?);
        }
        Ok(all)
    }

    fn render_chunk(
        &self,
        recipients: &[Recipient],
        offset: usize,
    ) -> Result<Vec<Rendered>, (usize, MessageError)> {
        recipients
            .iter()
            .enumerate()
            .map(|(i, r)| {
                self.message
                    .for_recipient(r)
                    .map(Rendered::new)
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
            When::At(_) => Fingerprint::of(request.to_json().as_bytes()),
            When::Now => Fingerprint::of(
                self.message
                    .for_audience(recipients, "at apply")?
                    .to_json()
                    .as_bytes(),
            ),
        };
        Ok(Rendered {
            request,
            fingerprint,
        })
    }
}
