//! Reconciling deliveries whose outcome is unknown (a crash, a timeout, a dropped connection)
//! with the only evidence Engati keeps of what it delivered: the recipients' conversation
//! histories ([`crate::engati::trace`] says what an accepted send leaves there).
//!
//! [`decide`] judges each unknown delivery by [`judge`], a pure rule:
//!
//! | the history after the attempt           | verdict          | what happens                  |
//! |-----------------------------------------|------------------|-------------------------------|
//! | holds the message                       | `delivered`      | recorded `sent`               |
//! | no trace, `reconcile_after` has passed  | `not_delivered`  | sent again (`retry`)          |
//! | no trace yet                            | `pending`        | stays unknown until then      |
//! | the send leaves no trace (a trigger)    | `unknowable`     | stays unknown (operator)      |
//! | the history cannot be read              | `unchecked`      | stays unknown, said why       |
//!
//! Plan decides without writing and lists each verdict with its reason; apply records the
//! `delivered` ones and sends the `not_delivered` ones as the reviewed plan says; `herald state
//! reconcile` records both on demand.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::engati::api::ConversationItem;
use crate::engati::trace::{self, Trace};
use crate::state::{Outcome, Round, RoundKey, StateError, Store};

#[cfg(test)]
mod tests;

/// A message found up to this long before the attempt still counts: Engati's clock and this
/// machine's may disagree by a little.
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(60);
/// Recipients of one broadcast whose histories are read: the message in any of them means the
/// broadcast was accepted; in none of this many, that it was not.
pub const BROADCAST_SAMPLE: usize = 25;

/// What reconciling found out about one unknown delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The message is in the history: it was delivered.
    Delivered,
    /// No trace, long enough after the attempt: it never arrived; send it again.
    NotDelivered,
    /// No trace yet; judged again later.
    Pending,
    /// The send leaves nothing in any history (a trigger, a template no longer in the
    /// project): only an operator can settle it.
    Unknowable,
    /// The history could not be read.
    Unchecked,
}

impl Verdict {
    /// The verdict's name in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::NotDelivered => "not_delivered",
            Verdict::Pending => "pending",
            Verdict::Unknowable => "unknowable",
            Verdict::Unchecked => "unchecked",
        }
    }
}

/// A verdict with the reason, as plans and `herald state reconcile` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What was found.
    pub verdict: Verdict,
    /// Why, in words: when and where the message was found, or for how long it was not.
    pub why: String,
}

/// Every decision, by round (a campaign, or an occurrence of a recurring one), then recipient.
pub type Decisions = BTreeMap<RoundKey, BTreeMap<String, Decision>>;

/// The decision about one delivery, if there is one.
pub fn lookup<'a>(
    decisions: &'a Decisions,
    round: Round<'_>,
    recipient: &str,
) -> Option<&'a Decision> {
    decisions.get(&RoundKey::from(round))?.get(recipient)
}

/// Where recipients' histories are read from (the Engati client, or a test's).
pub trait History {
    /// The history of one channel user between two UTC epoch-millisecond times.
    fn conversations(
        &mut self,
        channel_user_id: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ConversationItem>, crate::engati::ReadError>;
}

/// How to reconcile.
pub struct Options<'a> {
    /// What "now" is: the plan's time.
    pub now: Timestamp,
    /// `apply.reconcile_after`.
    pub after: SignedDuration,
    /// The campaigns to reconcile; empty: every campaign in state.
    pub campaigns: &'a [String],
    /// The approved body of a template by name and language, from the project.
    pub body_of: &'a dyn Fn(&str, &str) -> Option<String>,
}

/// The approved body of each of a project's templates, by name and language: what
/// [`Options::body_of`] looks up.
pub fn bodies(catalog: &crate::validate::Catalog) -> BTreeMap<(String, String), String> {
    catalog
        .templates
        .iter()
        .map(|(key, item)| {
            let t = &item.value;
            let name = t.name.clone().unwrap_or_else(|| key.clone());
            ((name, t.language.clone()), t.body.clone())
        })
        .collect()
}

/// The decisions a plan is made with: `None` when it does not reconcile (`apply.reconcile:
/// off`, or no `history` to read: no API key in this run).
pub fn for_plan(
    store: &dyn Store,
    history: Option<&mut dyn History>,
    settings: &crate::model::ApplySettings,
    catalog: &crate::validate::Catalog,
    now: Timestamp,
    campaigns: &[String],
) -> Result<Option<Decisions>, StateError> {
    let Some(history) = history else {
        return Ok(None);
    };
    if settings.reconcile == crate::model::Reconcile::Off {
        return Ok(None);
    }
    decide_for(store, history, settings, catalog, now, campaigns).map(Some)
}

/// [`decide`] with the project's templates and `apply` settings, as of `now` (never later
/// than this machine's clock), whether `apply.reconcile` is on or not: `herald state
/// reconcile` asks for it.
pub fn decide_for(
    store: &dyn Store,
    history: &mut dyn History,
    settings: &crate::model::ApplySettings,
    catalog: &crate::validate::Catalog,
    now: Timestamp,
    campaigns: &[String],
) -> Result<Decisions, StateError> {
    let bodies = bodies(catalog);
    let body_of =
        |name: &str, language: &str| bodies.get(&(name.to_owned(), language.to_owned())).cloned();
    let options = Options {
        // Never judged later than this machine's clock: a plan dated a little ahead (another
        // machine's clock) must not make a pending message look overdue.
        now: now.min(Timestamp::now()),
        after: settings
            .reconcile_after()
            .unwrap_or(SignedDuration::from_mins(2)),
        campaigns,
        body_of: &body_of,
    };
    decide(store, history, &options)
}

/// Decides every unknown delivery of the chosen campaigns (in campaign, then recipient order).
pub fn decide(
    store: &dyn Store,
    history: &mut dyn History,
    options: &Options<'_>,
) -> Result<Decisions, StateError> {
    let mut decisions = Decisions::new();
    for summary in store.campaigns()? {
        let key = RoundKey {
            campaign: summary.campaign,
            occurrence: summary.occurrence,
        };
        let chosen = options.campaigns.is_empty() || options.campaigns.contains(&key.campaign);
        if summary.unknown == 0 || !chosen {
            continue;
        }
        let round = key.round();
        let mut unknown = Vec::new();
        store.recorded(round, &mut |recipient, r| {
            if matches!(r.outcome, Outcome::Unknown | Outcome::InFlight) {
                unknown.push(recipient.to_owned());
            }
        })?;
        unknown.sort();
        for recipient in unknown {
            let attempts = store.history(round, Some(&recipient))?;
            // The attempt whose outcome is unknown is the last one that was sent: its intent
            // (never a pruned one: `state prune` keeps the requests of unknown attempts).
            let Some(attempt) = attempts
                .iter()
                .rev()
                .find(|d| d.outcome == Outcome::InFlight && !d.request_pruned())
                .or(attempts.last())
            else {
                continue;
            };
            // The window runs from the attempt's last news (its unknown outcome, or the
            // settling of what a dead apply left in flight): the request left no later, even
            // after waiting for a worker or a Retry-After.
            let since = attempts.last().map_or(attempt.at, |d| d.at.max(attempt.at));
            let decision = decide_one(attempt, since, history, options);
            decisions
                .entry(key.clone())
                .or_default()
                .insert(recipient, decision);
        }
    }
    Ok(decisions)
}

/// Reads the histories one attempt's traces are in and judges it.
fn decide_one(
    attempt: &crate::state::Delivery,
    since: Timestamp,
    history: &mut dyn History,
    options: &Options<'_>,
) -> Decision {
    let request: crate::engati::Request = match serde_json::from_str(&attempt.request) {
        Ok(request) => request,
        Err(e) => {
            return Decision {
                verdict: Verdict::Unchecked,
                why: format!("its recorded request cannot be read: {e}"),
            };
        }
    };
    let body = request.body_bytes().unwrap_or_default();
    let sent_at = attempt.at.as_millisecond();
    let mut expected = trace::traces(&request.path, &body, sent_at, options.body_of);
    expected.truncate(BROADCAST_SAMPLE);
    let mut found = Vec::with_capacity(expected.len());
    // Read up to the plan's time (and the skew): a history cannot hold a message that is
    // not due by then (a broadcast published later).
    let horizon = options.now.as_millisecond() + CLOCK_SKEW.as_millis() as i64;
    for trace in &expected {
        let start = trace.timestamp - CLOCK_SKEW.as_millis() as i64;
        if start > horizon {
            found.push(Vec::new());
            continue;
        }
        match history.conversations(&trace.channel_user_id, start, horizon) {
            Ok(items) => found.push(items),
            Err(e) => {
                return Decision {
                    verdict: Verdict::Unchecked,
                    why: format!("the conversation history cannot be read: {e}"),
                };
            }
        }
    }
    judge(&expected, &found, since, options.now, options.after)
}

/// The rule of the module's table: `expected` are the traces the attempt at `sent_at` would
/// leave, `found[i]` the history read for `expected[i]`.
pub fn judge(
    expected: &[Trace],
    found: &[Vec<ConversationItem>],
    sent_at: Timestamp,
    now: Timestamp,
    after: SignedDuration,
) -> Decision {
    if expected.is_empty() {
        return Decision {
            verdict: Verdict::Unknowable,
            why: "it leaves no message herald can look for (a trigger, or a template no longer \
                  in the project): check with Engati, then `herald state mark-sent` or `forget`"
                .to_owned(),
        };
    }
    for (trace, items) in expected.iter().zip(found) {
        let earliest = trace.timestamp - CLOCK_SKEW.as_millis() as i64;
        let seen = items.iter().find(|item| {
            item.sender == "bot"
                && item.timestamp >= earliest
                && item.text.as_deref() == Some(&*trace.text)
        });
        if let Some(item) = seen {
            let at = Timestamp::from_millisecond(item.timestamp).unwrap_or(sent_at);
            // Whose history is not said: a decision is shown in plans, which may be public.
            let whose = if expected.len() == 1 { "the" } else { "a" };
            return Decision {
                verdict: Verdict::Delivered,
                why: format!("found in {whose} recipient's conversation history at {at}"),
            };
        }
    }
    // A broadcast published later is looked for from its publishing time on.
    let due = expected
        .iter()
        .map(|t| t.timestamp)
        .max()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(sent_at)
        .max(sent_at);
    let deadline = due.checked_add(after).unwrap_or(due);
    if now >= deadline {
        Decision {
            verdict: Verdict::NotDelivered,
            why: format!(
                "no trace in the conversation history {} after the attempt at {sent_at}: taken \
                 as never arrived",
                friendly(after)
            ),
        }
    } else {
        Decision {
            verdict: Verdict::Pending,
            why: format!("no trace yet; sent again if there is none by {deadline}"),
        }
    }
}

/// `2m`, `90s`, `1h`: a duration as settings write it.
fn friendly(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs % 3600 == 0 && secs > 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 && secs > 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}
