//! Pacing: whether a recipient may be messaged now, by what state shows they got lately and
//! what the plan sends before them. Two rules, read from state in one pass:
//!
//! - the **frequency cap** (`frequency_cap: {max, per, categories}`): a recipient who got
//!   `max` messages of those categories in the last `per` is `capped` until the oldest of
//!   them ages out far enough;
//! - WhatsApp's **messaging limit** (`api.messaging_limit`): business-initiated messages may
//!   reach that many unique recipients in any 24 hours; a recipient beyond what is left
//!   waits for the next wave.
//!
//! Both count the template messages state shows reached one recipient or may have (see
//! [`Store::contacts_since`]), by [`phone_key`], and both count what the plan sends as it
//! goes: campaigns in name order, recipients in audience order, so the same inputs always hold
//! back the same people. A message counts as its campaign's template's category today;
//! messages of campaigns the project no longer has count as marketing, the default. Only
//! template messages are paced: an API trigger starts a flow, not a business-initiated
//! conversation. A broadcast's one delivery in state does not say whom it reached: a
//! broadcast in the plan takes a place of the messaging limit for each of its recipients, and
//! is never capped.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::Category;
use crate::render::recipients::phone_key;
use crate::state::{StateError, Store};
use crate::validate::Catalog;

/// The span of WhatsApp's messaging limit.
pub const LIMIT_SPAN: SignedDuration = SignedDuration::from_hours(24);

/// `frequency_cap` as a plan records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    /// The most messages one recipient gets in any `per`.
    pub max: u32,
    /// The span, as herald.yaml writes it (`7d`).
    pub per: String,
    /// The categories counted and held back.
    pub categories: Vec<Category>,
    /// Where herald.yaml sets it (`herald.yaml:12:3`).
    pub set_at: String,
}

/// `api.messaging_limit` as a plan records it, with what state shows of the last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingLimit {
    /// Unique recipients business-initiated messages may reach in any 24 hours.
    pub limit: u64,
    /// Unique recipients state shows reached in the 24 hours before the plan's time.
    pub used: u64,
    /// Where herald.yaml sets it.
    pub set_at: String,
}

/// Why a delivery that would be sent is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The recipient is at the frequency cap until then.
    Capped(Timestamp),
    /// The messaging limit is used up; the next wave can go from then.
    Wave(Timestamp),
}

/// The pacing of one plan: the rules that are set, with what state and the plan so far hold.
#[derive(Debug)]
pub struct Pacing {
    now: Timestamp,
    cap: Option<Cap>,
    limit: Option<Limit>,
}

impl Pacing {
    /// Reads what pacing needs from state, when the project sets a frequency cap or a
    /// messaging limit; `None` (nothing read) when it sets neither.
    pub fn load(
        catalog: &Catalog,
        messaging_limit: Option<u64>,
        now: Timestamp,
        store: &dyn Store,
    ) -> Result<Option<Pacing>, StateError> {
        let settings = catalog.settings.as_ref();
        let cap = settings
            .and_then(|s| s.frequency_cap.as_ref())
            .and_then(|c| Some((c, c.per()?)));
        if cap.is_none() && messaging_limit.is_none() {
            return Ok(None);
        }
        let categories = Categories::of(catalog);
        let mut since = now;
        if let Some((_, per)) = cap {
            since = since.min(now - per);
        }
        if messaging_limit.is_some() {
            since = since.min(now - LIMIT_SPAN);
        }
        let mut counted: Vec<(u64, Timestamp)> = Vec::new();
        let mut reached: Vec<u64> = Vec::new();
        let mut oldest: Option<Timestamp> = None;
        store.contacts_since(since, &mut |contact| {
            let Some(category) = categories.of_campaign(contact.campaign) else {
                return;
            };
            let key = phone_key(contact.recipient);
            if let Some((settings, per)) = cap
                && contact.at + per > now
                && settings.categories.contains(&category)
            {
                counted.push((key, contact.at));
            }
            if messaging_limit.is_some() && contact.at + LIMIT_SPAN > now {
                reached.push(key);
                oldest = Some(oldest.map_or(contact.at, |o| o.min(contact.at)));
            }
        })?;
        counted.sort_unstable();
        reached.sort_unstable();
        reached.dedup();
        Ok(Some(Pacing {
            now,
            cap: cap.map(|(settings, per)| Cap {
                max: settings.max,
                per,
                categories: settings.categories.clone(),
                counted,
                planned: HashMap::new(),
            }),
            limit: messaging_limit.map(|limit| Limit {
                limit,
                used: reached.len() as u64,
                reached,
                oldest,
                added: HashSet::new(),
                taken: 0,
            }),
        }))
    }

    /// Unique recipients state shows reached in the last 24 hours (with a messaging limit).
    pub fn used(&self) -> Option<u64> {
        self.limit.as_ref().map(|l| l.used)
    }

    /// Whether a campaign of this category (`None`: not a template) is held to the frequency
    /// cap.
    pub fn capped(&self, category: Option<Category>) -> bool {
        self.cap
            .as_ref()
            .is_some_and(|c| category.is_some_and(|k| c.categories.contains(&k)))
    }

    /// Judges a delivery of a per-recipient template campaign that would be sent: `None`
    /// sends it (and counts it against the cap, when `capped`, and the limit); else why it
    /// is held back. `remember` says whether a later campaign of the plan is capped too
    /// (else what this one sends need not be kept for the cap).
    pub fn judge(&mut self, recipient: &str, capped: bool, remember: bool) -> Option<Held> {
        let key = phone_key(recipient);
        if capped
            && let Some(cap) = &self.cap
            && let Some(until) = cap.until(key, self.now)
        {
            return Some(Held::Capped(until));
        }
        if let Some(limit) = &mut self.limit
            && !limit.admit(key)
        {
            return Some(Held::Wave(limit.next_wave(self.now)));
        }
        if capped
            && remember
            && let Some(cap) = &mut self.cap
        {
            *cap.planned.entry(key).or_default() += 1;
        }
        None
    }

    /// Judges a broadcast of a template to `audience` recipients: it goes whole when the
    /// messaging limit has places for them all (taking them), else it waits whole.
    pub fn judge_broadcast(&mut self, audience: u64) -> Option<Held> {
        let limit = self.limit.as_mut()?;
        if limit.taken + audience > limit.places() {
            return Some(Held::Wave(limit.next_wave(self.now)));
        }
        limit.taken += audience;
        None
    }
}

/// The frequency cap, with the counted messages of state and of the plan so far.
#[derive(Debug)]
struct Cap {
    max: u32,
    per: SignedDuration,
    categories: Vec<Category>,
    /// (recipient key, when) of every counted message in state, in that order.
    counted: Vec<(u64, Timestamp)>,
    /// Messages the plan sends before now, by recipient key (all at the plan's time).
    planned: HashMap<u64, u32>,
}

impl Cap {
    /// When the recipient falls under the cap again, if they are at it now.
    ///
    /// Their counted messages, oldest first, are state's and then the plan's (sent at `now`,
    /// after anything in state). With `c` of them and `c >= max`, the count falls to
    /// `max - 1` once the `(c - max + 1)`th oldest ages out: at its time plus `per`.
    fn until(&self, key: u64, now: Timestamp) -> Option<Timestamp> {
        let start = self.counted.partition_point(|(k, _)| *k < key);
        let end = self.counted.partition_point(|(k, _)| *k <= key);
        let recorded = &self.counted[start..end];
        let planned = self.planned.get(&key).copied().unwrap_or(0) as usize;
        let count = recorded.len() + planned;
        let max = self.max as usize;
        if count < max {
            return None;
        }
        let oldest_to_go = recorded.get(count - max).map_or(now, |(_, at)| *at);
        Some(oldest_to_go + self.per)
    }
}

/// The messaging limit, with the recipients reached in the last 24 hours and the places the
/// plan has taken.
#[derive(Debug)]
struct Limit {
    limit: u64,
    /// `reached.len()`, as the plan reports it.
    used: u64,
    /// Keys of the recipients state shows reached in the last 24 hours, ascending.
    reached: Vec<u64>,
    /// When the earliest of those was reached.
    oldest: Option<Timestamp>,
    /// Recipients the plan reaches who are not in `reached`.
    added: HashSet<u64>,
    /// Places the plan has taken: `added`, and broadcasts' audiences.
    taken: u64,
}

impl Limit {
    /// Places left for the plan.
    fn places(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Whether a message to `key` may go: a recipient reached in the last 24 hours, or by
    /// this plan, takes no new place.
    fn admit(&mut self, key: u64) -> bool {
        if self.reached.binary_search(&key).is_ok() || self.added.contains(&key) {
            return true;
        }
        if self.taken >= self.places() {
            return false;
        }
        self.added.insert(key);
        self.taken += 1;
        true
    }

    /// When places free up again: as the earliest contact counted ages out (what the plan
    /// sends now is the earliest when state counted none).
    fn next_wave(&self, now: Timestamp) -> Timestamp {
        self.oldest.map_or(now, |o| o.min(now)) + LIMIT_SPAN
    }
}

/// The category each campaign name's messages count as: its template's, for the names and
/// `previously` names of the project's template campaigns; `None` for its other campaigns;
/// marketing (the default category) for names the project no longer has.
struct Categories<'a> {
    by_name: HashMap<&'a str, Option<Category>>,
}

impl<'a> Categories<'a> {
    fn of(catalog: &'a Catalog) -> Categories<'a> {
        let mut by_name = HashMap::new();
        for item in catalog.campaigns.values() {
            let category = template_category(catalog, &item.value);
            let names = std::iter::once(item.name.as_str())
                .chain(item.value.previously.iter().map(String::as_str));
            for name in names {
                by_name.entry(name).or_insert(category);
            }
        }
        Categories { by_name }
    }

    /// The category a campaign's messages count as; `None` for a campaign that sends no
    /// template, whose messages pacing never counts.
    fn of_campaign(&self, campaign: &str) -> Option<Category> {
        match self.by_name.get(campaign) {
            Some(category) => *category,
            None => Some(Category::default()),
        }
    }
}

/// The category of a campaign's template; `None` when it sends no template.
pub(crate) fn template_category(
    catalog: &Catalog,
    campaign: &crate::model::Campaign,
) -> Option<Category> {
    campaign
        .send
        .template_params()
        .and_then(|t| catalog.templates.get(t.use_))
        .map(|t| t.value.category())
}
