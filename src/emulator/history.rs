//! What accepted sends leave in conversation history: each bot's [`Sent`] record of the
//! messages `engati::trace` says a send leaves, and the history the Conversations API serves,
//! the seed's items merged with those.
//!
//! Kept compact, since a long run accepts millions of sends: per channel user a vector of small
//! entries, whose text is shared by every recipient of a broadcast (a million template sends to
//! distinct users took 263 bytes each). They are rebuilt from the durable log at startup
//! ([`replay`]) and forgotten with it (`DELETE /_emulator/requests`).

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::world::{Bot, World};
use crate::engati::api::{ConversationItem, paths};
use crate::engati::trace::{self, Trace};

/// A bot's recorded messages, by channel user id.
#[derive(Debug, Default)]
pub(super) struct Sent {
    by_user: Mutex<HashMap<Box<str>, Vec<Entry>>>,
}

/// One recorded message: 48 bytes, plus its text when no other recipient shares it.
#[derive(Debug)]
struct Entry {
    /// UTC epoch ms, as served.
    timestamp: i64,
    text: Arc<str>,
    message_type: &'static str,
    /// Milliseconds after `timestamp` before it is served (the `trace_delay_ms` fault).
    hidden_for_ms: u32,
}

impl Sent {
    /// Records what a send left; each message shows in history `delay` after its timestamp.
    pub(super) fn record(&self, traces: Vec<Trace>, delay: Duration) {
        if traces.is_empty() {
            return;
        }
        let hidden_for_ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        let mut by_user = self.lock();
        for trace in traces {
            let entry = Entry {
                timestamp: trace.timestamp,
                text: trace.text,
                message_type: trace.message_type,
                hidden_for_ms,
            };
            match by_user.get_mut(trace.channel_user_id.as_str()) {
                Some(entries) => entries.push(entry),
                None => {
                    // Most recipients get one message: `vec![entry]` has room for exactly one,
                    // not the four a first push reserves.
                    by_user.insert(trace.channel_user_id.into_boxed_str(), vec![entry]);
                }
            }
        }
    }

    /// Forgets every recorded message.
    pub(super) fn clear(&self) {
        *self.lock() = HashMap::new();
    }

    /// The user's messages that show at `now` and whose timestamp is in `range`, in the order
    /// they were recorded.
    fn shown(&self, user: &str, now: i64, range: &RangeInclusive<i64>) -> Vec<ConversationItem> {
        let by_user = self.lock();
        let Some(entries) = by_user.get(user) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|e| {
                range.contains(&e.timestamp)
                    && e.timestamp.saturating_add(i64::from(e.hidden_for_ms)) <= now
            })
            .map(|e| ConversationItem {
                timestamp: e.timestamp,
                message_type: e.message_type.to_owned(),
                sender: "bot".to_owned(),
                text: Some(e.text.to_string()),
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Vec<Entry>>> {
        // Every update is a single push or insert, complete before the guard drops, so a
        // poisoned lock still holds a consistent map.
        self.by_user.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A user's history as the Conversations API serves it at `now`: the seed's items and the
/// recorded messages whose timestamp is in `range`, oldest first. The sort is stable, so items
/// of the same millisecond keep their order, the seed's first.
pub(super) fn history(
    bot: &Bot,
    user: &str,
    range: RangeInclusive<i64>,
    now: i64,
) -> Vec<ConversationItem> {
    let seeded = bot
        .user(user)
        .map_or(&[][..], |u| u.conversations.as_slice());
    let mut items: Vec<ConversationItem> = seeded
        .iter()
        .filter(|m| range.contains(&m.timestamp))
        .cloned()
        .collect();
    items.extend(bot.sent.shown(user, now, &range));
    items.sort_by_key(|m| m.timestamp);
    items
}

/// What a send accepted by `bot` at `accepted_at` (UTC epoch ms) leaves in history.
pub(super) fn traces(bot: &Bot, path: &str, body: &[u8], accepted_at: i64) -> Vec<Trace> {
    let body_of = |name: &str, language: &str| bot.template(name, language).map(|t| t.body.clone());
    trace::traces(path, body, accepted_at, &body_of)
}

/// Records again what one request of the log left, when the emulator restarts. The faults it
/// met are not in the log: its messages show at once, lost ones included.
pub(super) fn replay(world: &World, path: &str, body: &[u8], received_at: &str) {
    let Ok(accepted) = received_at.parse::<jiff::Timestamp>() else {
        return;
    };
    let Some(bot) = paths::scope(path).and_then(|(customer, key)| world.bot(customer, key)) else {
        return;
    };
    let found = traces(bot, path, body, accepted.as_millisecond());
    bot.sent.record(found, Duration::ZERO);
}

#[cfg(test)]
mod tests;
