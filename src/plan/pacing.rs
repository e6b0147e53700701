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

use foldhash::{HashMap, HashSet};
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

/// The pacing of one plan: what state shows of the recent past ([`Recent`], read-only, so
/// the rendering threads look recipients up in it), and what the plan has sent so far
/// ([`SoFar`], which the plan adds to in audience order).
#[derive(Debug)]
pub struct Pacing {
    /// What state shows.
    pub recent: Recent,
    /// What the plan sends before the delivery being judged.
    pub so_far: SoFar,
}

/// The rules that are set, with what state shows of the last `per` and 24 hours.
#[derive(Debug)]
pub struct Recent {
    now: Timestamp,
    cap: Option<Cap>,
    limit: Option<Limit>,
}

/// What the plan has sent so far, as pacing counts it.
#[derive(Debug, Default)]
pub struct SoFar {
    /// Capped-category messages the plan sends, by recipient key (all at the plan's time),
    /// kept only while a later campaign of the plan is capped too.
    capped: HashMap<u64, u32>,
    /// Recipients the plan reaches who were not reached in the last 24 hours.
    added: HashSet<u64>,
    /// Places of the messaging limit the plan has taken: `added`, and broadcasts' audiences.
    taken: u64,
}

/// What state shows of one recipient, looked up on a rendering thread: the sequential part
/// of the judgement ([`SoFar::judge`]) then needs no search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    key: u64,
    /// Where the recipient's counted messages start in [`Cap::times`], and how many there are.
    start: u32,
    counted: u32,
    /// Whether state shows a template message reached them in the last 24 hours.
    reached: bool,
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
            since = since.min(earlier(now, per));
        }
        if messaging_limit.is_some() {
            since = since.min(earlier(now, LIMIT_SPAN));
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
                && later(contact.at, per) > now
                && settings.categories.contains(&category)
            {
                counted.push((key, contact.at));
            }
            if messaging_limit.is_some() && later(contact.at, LIMIT_SPAN) > now {
                reached.push(key);
                oldest = Some(oldest.map_or(contact.at, |o| o.min(contact.at)));
            }
        })?;
        counted.sort_unstable();
        reached.sort_unstable();
        reached.dedup();
        let recent = Recent {
            now,
            cap: cap.map(|(settings, per)| Cap {
                max: settings.max,
                per,
                categories: settings.categories.clone(),
                keys: counted.iter().map(|(key, _)| *key).collect(),
                times: counted.iter().map(|(_, at)| *at).collect(),
            }),
            limit: messaging_limit.map(|limit| Limit {
                limit,
                reached,
                oldest,
            }),
        };
        Ok(Some(Pacing {
            recent,
            so_far: SoFar::default(),
        }))
    }
}

impl Recent {
    /// Unique recipients state shows reached in the last 24 hours (with a messaging limit).
    pub fn used(&self) -> Option<u64> {
        self.limit.as_ref().map(|l| l.reached.len() as u64)
    }

    /// Whether a campaign of this category (`None`: not a template) is held to the frequency
    /// cap.
    pub fn capped(&self, category: Option<Category>) -> bool {
        self.cap
            .as_ref()
            .is_some_and(|c| category.is_some_and(|k| c.categories.contains(&k)))
    }

    /// What state shows of a recipient.
    pub fn facts(&self, recipient: &str) -> Facts {
        let key = phone_key(recipient);
        let (start, counted) = match &self.cap {
            Some(cap) => {
                let start = cap.keys.partition_point(|k| *k < key);
                let n = cap.keys[start..].iter().take_while(|k| **k == key).count();
                (start, n)
            }
            None => (0, 0),
        };
        Facts {
            key,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            counted: u32::try_from(counted).unwrap_or(u32::MAX),
            reached: self
                .limit
                .as_ref()
                .is_some_and(|l| l.reached.binary_search(&key).is_ok()),
        }
    }
}

impl SoFar {
    /// Judges a delivery of a per-recipient template campaign that would be sent, from what
    /// state shows of its recipient: `None` sends it (counting it against the cap, when
    /// `capped`, and the limit); else why it is held back. `remember` says whether a later
    /// campaign of the plan is capped too (else what this one sends need not be kept for the
    /// cap).
    pub fn judge(
        &mut self,
        recent: &Recent,
        facts: Facts,
        capped: bool,
        remember: bool,
    ) -> Option<Held> {
        if capped && let Some(cap) = &recent.cap {
            let planned = self.capped.get(&facts.key).copied().unwrap_or(0);
            if let Some(until) = cap.until(facts, planned, recent.now) {
                return Some(Held::Capped(until));
            }
        }
        if let Some(limit) = &recent.limit
            && !facts.reached
            && !self.added.contains(&facts.key)
        {
            if self.taken >= limit.places() {
                return Some(Held::Wave(limit.next_wave(recent.now)));
            }
            self.added.insert(facts.key);
            self.taken += 1;
        }
        if capped && remember {
            *self.capped.entry(facts.key).or_default() += 1;
        }
        None
    }

    /// Judges a broadcast of a template to `audience` recipients: it goes whole when the
    /// messaging limit has places for them all (taking them), else it waits whole.
    pub fn judge_broadcast(&mut self, recent: &Recent, audience: u64) -> Option<Held> {
        let limit = recent.limit.as_ref()?;
        if self.taken + audience > limit.places() {
            return Some(Held::Wave(limit.next_wave(recent.now)));
        }
        self.taken += audience;
        None
    }
}

/// The frequency cap, with the counted messages of state.
#[derive(Debug)]
struct Cap {
    max: u32,
    per: SignedDuration,
    categories: Vec<Category>,
    /// The recipient key of every counted message in state, ascending...
    keys: Vec<u64>,
    /// ...and when it was sent, ascending for each key.
    times: Vec<Timestamp>,
}

impl Cap {
    /// When the recipient falls under the cap again, if they are at it now, with `planned`
    /// messages the plan sends them before this one.
    ///
    /// Their counted messages, oldest first, are state's and then the plan's (sent at `now`,
    /// after anything in state). With `c` of them and `c >= max`, the count falls to
    /// `max - 1` once the `(c - max + 1)`th oldest ages out: at its time plus `per`.
    fn until(&self, facts: Facts, planned: u32, now: Timestamp) -> Option<Timestamp> {
        let count = facts.counted as usize + planned as usize;
        let max = self.max as usize;
        if count < max {
            return None;
        }
        let i = count - max;
        let oldest_to_go = if i < facts.counted as usize {
            self.times[facts.start as usize + i]
        } else {
            now
        };
        Some(whole_second(later(oldest_to_go, self.per)))
    }
}

/// The messaging limit, with the recipients state shows reached in the last 24 hours.
#[derive(Debug)]
struct Limit {
    limit: u64,
    /// Their keys, ascending.
    reached: Vec<u64>,
    /// When the earliest of them was reached.
    oldest: Option<Timestamp>,
}

impl Limit {
    /// Places left for the plan.
    fn places(&self) -> u64 {
        self.limit.saturating_sub(self.reached.len() as u64)
    }

    /// When places free up again: as the earliest contact counted ages out (what the plan
    /// sends now is the earliest when state counted none).
    fn next_wave(&self, now: Timestamp) -> Timestamp {
        whole_second(later(self.oldest.map_or(now, |o| o.min(now)), LIMIT_SPAN))
    }
}

/// `at + span`, or the last representable time (a span the schema allows can still run past
/// the year 9999 from a far `--now`).
fn later(at: Timestamp, span: SignedDuration) -> Timestamp {
    at.checked_add(span).unwrap_or(Timestamp::MAX)
}

/// `at - span`, or the first representable time.
fn earlier(at: Timestamp, span: SignedDuration) -> Timestamp {
    at.checked_sub(span).unwrap_or(Timestamp::MIN)
}

/// The next whole second at or after `at`: times recorded by apply carry nanoseconds, and a
/// recipient is never shown free a moment too early.
fn whole_second(at: Timestamp) -> Timestamp {
    let round = jiff::TimestampRound::new()
        .smallest(jiff::Unit::Second)
        .mode(jiff::RoundMode::Ceil);
    at.round(round).unwrap_or(at)
}

/// The category each campaign name's messages count as: its template's, for the names and
/// `previously` names of the project's template campaigns; `None` for its other campaigns;
/// marketing (the default category) for names the project no longer has.
struct Categories<'a> {
    by_name: HashMap<&'a str, Option<Category>>,
}

impl<'a> Categories<'a> {
    fn of(catalog: &'a Catalog) -> Categories<'a> {
        let mut by_name = HashMap::default();
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
