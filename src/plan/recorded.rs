//! [`RecordedIndex`]: what state holds for one campaign, looked up by phone on the rendering
//! threads. Two flat arrays sorted by [`phone_key`]: a million deliveries take about 41 MB,
//! a fifth of what a hash map of them touches while it grows, and state lists a campaign's
//! deliveries in key order already, so building the index is one pass without hashing.

use crate::fingerprint::Fingerprint;
use crate::render::recipients::phone_key;
use crate::state::{Erasures, Outcome, Recorded, Round, StateError, Store};

/// A campaign's recorded deliveries by recipient.
#[derive(Debug, Default)]
pub struct RecordedIndex {
    /// [`phone_key`]s, ascending; a whole-campaign delivery (`*`) is key 0.
    keys: Vec<u64>,
    /// What was recorded for `keys[i]`.
    values: Vec<Recorded>,
    /// Which of the loaded names `keys[i]` was recorded under; empty when one name was loaded.
    names: Vec<u16>,
    /// The deliveries `herald state erase` removed, by keyed hash: their phones are unknown
    /// to state, so a recipient not found by key is looked for here.
    erased: Vec<Erasures>,
}

impl RecordedIndex {
    /// Reads a round's deliveries from state.
    pub fn load(store: &dyn Store, round: Round<'_>) -> Result<RecordedIndex, StateError> {
        let mut index = RecordedIndex::default();
        store.recorded(round, &mut |recipient, recorded| {
            index.keys.push(phone_key(recipient));
            index.values.push(recorded);
        })?;
        index.sort();
        index.erased.extend(store.erasures(round)?);
        Ok(index)
    }

    /// Reads the deliveries of one occurrence (`None`: a one-off campaign's round) recorded
    /// under any of `names` (a campaign's name, then its `previously` names): for a recipient
    /// recorded under several, the earliest name in `names` wins, so what the campaign itself
    /// recorded outranks its past.
    pub fn load_all(
        store: &dyn Store,
        names: &[&str],
        occurrence: Option<jiff::Timestamp>,
    ) -> Result<RecordedIndex, StateError> {
        if let [name] = names {
            return RecordedIndex::load(store, Round::of(name, occurrence));
        }
        let mut all: Vec<(u64, u16, Recorded)> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let i = u16::try_from(i).unwrap_or(u16::MAX);
            store.recorded(Round::of(name, occurrence), &mut |recipient, recorded| {
                all.push((phone_key(recipient), i, recorded));
            })?;
        }
        all.sort_unstable_by_key(|(key, i, _)| (*key, *i));
        all.dedup_by_key(|(key, _, _)| *key);
        let mut index = RecordedIndex::default();
        for (key, i, recorded) in all {
            index.keys.push(key);
            index.values.push(recorded);
            index.names.push(i);
        }
        for name in names {
            index
                .erased
                .extend(store.erasures(Round::of(name, occurrence))?);
        }
        Ok(index)
    }

    /// Which of the names given to [`RecordedIndex::load_all`] a recipient's delivery was
    /// recorded under (0: the campaign's own).
    pub fn name_of(&self, recipient: &str) -> usize {
        let Ok(i) = self.keys.binary_search(&phone_key(recipient)) else {
            return 0;
        };
        self.names.get(i).map_or(0, |&n| usize::from(n))
    }

    /// Whether anything was sent, or may have been: any delivery not recorded as failed.
    pub fn any_sent(&self) -> bool {
        self.values
            .iter()
            .any(|r| r.outcome != crate::state::Outcome::Failed)
    }

    /// Sorts by key, unless the store listed the deliveries in order (SQLite does).
    fn sort(&mut self) {
        if self.keys.is_sorted() {
            return;
        }
        let mut pairs: Vec<(u64, Recorded)> =
            self.keys.drain(..).zip(self.values.drain(..)).collect();
        pairs.sort_unstable_by_key(|(key, _)| *key);
        (self.keys, self.values) = pairs.into_iter().unzip();
    }

    /// What state holds for a recipient (an E.164 phone, or `*`).
    pub fn get(&self, recipient: &str) -> Option<&Recorded> {
        let i = self.keys.binary_search(&phone_key(recipient)).ok()?;
        self.values.get(i)
    }

    /// What state holds for a recipient, or, for one whose delivery was erased (`herald state
    /// erase`), a delivery sent with `fingerprint`: the message they got is not known any
    /// more, and it is never sent to them again.
    pub fn get_or_erased(&self, recipient: &str, fingerprint: Fingerprint) -> Option<Recorded> {
        self.get(recipient).copied().or_else(|| {
            self.erased
                .iter()
                .any(|e| e.contains(recipient))
                .then_some(Recorded {
                    fingerprint,
                    outcome: Outcome::Sent,
                })
        })
    }

    /// How many deliveries state holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether state holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprint;
    use crate::state::Outcome;

    fn recorded(n: u8) -> Recorded {
        Recorded {
            fingerprint: Fingerprint([n; 32]),
            outcome: Outcome::Sent,
        }
    }

    #[test]
    fn keys_sort_as_phone_text_does() {
        let mut phones = vec![
            "*",
            "+919019486731",
            "+14155550100",
            "+1415555010",
            "+441632960961",
            "+9190194867",
            "+999999999999999",
            "+100000000000000",
        ];
        phones.sort();
        let keys: Vec<u64> = phones.iter().map(|p| phone_key(p)).collect();
        assert!(keys.is_sorted(), "{phones:?} -> {keys:?}");
        let mut unique = keys.clone();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
        assert_eq!(phone_key("*"), 0);
    }

    #[test]
    fn lookups_find_what_was_recorded_in_any_order() {
        let mut index = RecordedIndex::default();
        for (i, phone) in ["+919019486731", "*", "+14155550100"].iter().enumerate() {
            index.keys.push(phone_key(phone));
            index.values.push(recorded(i as u8));
        }
        index.sort();
        assert_eq!(index.len(), 3);
        assert_eq!(index.get("+14155550100"), Some(&recorded(2)));
        assert_eq!(index.get("+919019486731"), Some(&recorded(0)));
        assert_eq!(index.get("*"), Some(&recorded(1)));
        assert_eq!(index.get("+14155550101"), None);
    }
}
