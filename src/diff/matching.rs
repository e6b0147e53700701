//! Matching a per-recipient campaign's recipients across the two versions: each side kept as
//! one small [`Entry`] a recipient (phone key, place in the audience, part of the message's
//! fingerprint), sorted by phone and merged, so that a review of a million-recipient audience
//! holds a few tens of megabytes rather than both audiences and a map of their phones.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::ChangeCounts;
use crate::fingerprint::Fingerprint;

/// Bytes of a fingerprint compared: 96 bits leave a changed message taken for an unchanged one
/// once in 2^96 recipients, and keep an entry at 24 bytes.
const COMPARED: usize = 12;

/// One recipient of one version, as matching needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    /// [`crate::render::recipients::phone_key`] of the phone: distinct phones, distinct keys.
    key: u64,
    /// Place in the audience, for samples, which are shown in audience order. An audience
    /// of more than `u32::MAX` recipients (hundreds of gigabytes of CSV) is beyond any
    /// review's time budget.
    index: u32,
    /// The start of the fingerprint of the recipient's request.
    fingerprint: [u8; COMPARED],
}

impl Entry {
    /// Recipient `index` of an audience, with phone key `key` and `fingerprint`.
    pub(super) fn new(key: u64, index: usize, fingerprint: &Fingerprint) -> Entry {
        let mut part = [0; COMPARED];
        part.copy_from_slice(&fingerprint.0[..COMPARED]);
        Entry {
            key,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            fingerprint: part,
        }
    }
}

/// How two versions' recipients matched: counts, and the places of the first few of each
/// change.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Matched {
    /// Recipients by change.
    pub counts: ChangeCounts,
    /// The first added recipients, by place in the new audience.
    pub added: Vec<usize>,
    /// The first changed recipients, in the new audience's order: (old place, new place).
    pub changed: Vec<(usize, usize)>,
    /// The first removed recipients, by place in the old audience.
    pub removed: Vec<usize>,
}

/// Matches `old` and `new` (each unique by phone) by phone, keeping up to `samples` places of
/// each change.
pub(super) fn match_up(mut old: Vec<Entry>, mut new: Vec<Entry>, samples: usize) -> Matched {
    old.sort_unstable_by_key(|e| e.key);
    new.sort_unstable_by_key(|e| e.key);
    let mut counts = ChangeCounts::default();
    // Keyed by the new place first: samples of changes are shown in the new audience's order.
    let mut changed = Firsts::new(samples);
    let mut added = Firsts::new(samples);
    let mut removed = Firsts::new(samples);
    let (mut old, mut new) = (old.iter().peekable(), new.iter().peekable());
    loop {
        let order = match (old.peek(), new.peek()) {
            (Some(a), Some(b)) => a.key.cmp(&b.key),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        match order {
            Ordering::Less => {
                let Some(a) = old.next() else { break };
                counts.removed += 1;
                removed.offer(a.index);
            }
            Ordering::Greater => {
                let Some(b) = new.next() else { break };
                counts.added += 1;
                added.offer(b.index);
            }
            Ordering::Equal => {
                let (Some(a), Some(b)) = (old.next(), new.next()) else {
                    break;
                };
                if a.fingerprint == b.fingerprint {
                    counts.unchanged += 1;
                } else {
                    counts.changed += 1;
                    changed.offer((b.index, a.index));
                }
            }
        }
    }
    let place = |i: u32| i as usize;
    Matched {
        counts,
        added: added.into_sorted().into_iter().map(place).collect(),
        changed: changed
            .into_sorted()
            .into_iter()
            .map(|(j, i)| (place(i), place(j)))
            .collect(),
        removed: removed.into_sorted().into_iter().map(place).collect(),
    }
}

/// How many phones two audiences share, as sorted keys: a broadcast's audiences are compared by
/// phone alone.
pub(super) fn shared(a: &[u64], b: &[u64]) -> u64 {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// The `n` smallest values offered, whatever order they come in (merging goes by phone, samples
/// by place).
struct Firsts<T: Ord> {
    n: usize,
    /// A max-heap: the largest kept is the first to go.
    kept: BinaryHeap<T>,
}

impl<T: Ord> Firsts<T> {
    fn new(n: usize) -> Firsts<T> {
        Firsts {
            n,
            kept: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, value: T) {
        if self.kept.len() < self.n {
            self.kept.push(value);
        } else if self.kept.peek().is_some_and(|largest| value < *largest) {
            self.kept.pop();
            self.kept.push(value);
        }
    }

    fn into_sorted(self) -> Vec<T> {
        self.kept.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn fingerprint(text: &str) -> Fingerprint {
        Fingerprint::of(text.as_bytes())
    }

    /// Entries of an audience given as (phone key, message) in audience order.
    fn side(recipients: &[(u64, &str)]) -> Vec<Entry> {
        recipients
            .iter()
            .enumerate()
            .map(|(i, (key, message))| Entry::new(*key, i, &fingerprint(message)))
            .collect()
    }

    /// The matching as a map of phones would make it, walking the new audience in order.
    fn by_map(old: &[(u64, &str)], new: &[(u64, &str)], samples: usize) -> Matched {
        let mut index: HashMap<u64, (usize, &str)> = old
            .iter()
            .enumerate()
            .map(|(i, (key, message))| (*key, (i, *message)))
            .collect();
        let mut m = Matched::default();
        for (j, (key, message)) in new.iter().enumerate() {
            match index.remove(key) {
                None => {
                    m.counts.added += 1;
                    if m.added.len() < samples {
                        m.added.push(j);
                    }
                }
                Some((_, was)) if was == *message => m.counts.unchanged += 1,
                Some((i, _)) => {
                    m.counts.changed += 1;
                    if m.changed.len() < samples {
                        m.changed.push((i, j));
                    }
                }
            }
        }
        let mut removed: Vec<usize> = index.into_values().map(|(i, _)| i).collect();
        removed.sort_unstable();
        m.counts.removed = removed.len() as u64;
        m.removed = removed.into_iter().take(samples).collect();
        m
    }

    #[test]
    fn matches_as_a_map_of_phones_would_with_samples_in_audience_order() {
        // Shuffled keys, so that phone order and audience order differ.
        let key = |n: u64| (n * 7_919) % 1_009;
        let old: Vec<(u64, &str)> = (0..300)
            .map(|n| (key(n), if n % 3 == 0 { "a" } else { "b" }))
            .collect();
        let new: Vec<(u64, &str)> = (100..400)
            .rev()
            .map(|n| (key(n), if n % 5 == 0 { "a" } else { "b" }))
            .collect();
        for samples in [0, 1, 3, 1000] {
            let matched = match_up(side(&old), side(&new), samples);
            assert_eq!(matched, by_map(&old, &new, samples), "samples {samples}");
        }
        let counts = match_up(side(&old), side(&new), 3).counts;
        assert_eq!(
            (counts.added, counts.removed),
            (100, 100),
            "the audiences overlap by 200"
        );
        assert!(counts.changed > 0 && counts.unchanged > 0);
    }

    #[test]
    fn shared_phones_of_sorted_keys() {
        assert_eq!(shared(&[1, 3, 5, 9], &[2, 3, 9, 10, 11]), 2);
        assert_eq!(shared(&[], &[1]), 0);
    }

    #[test]
    fn either_side_empty() {
        let one = [(5, "x"), (3, "y")];
        let matched = match_up(Vec::new(), side(&one), 1);
        assert_eq!((matched.counts.added, matched.added), (2, vec![0]));
        let matched = match_up(side(&one), Vec::new(), 5);
        assert_eq!((matched.counts.removed, matched.removed), (2, vec![0, 1]));
    }

    /// What a review holds a recipient by: a map of phones to fingerprints held hundreds of
    /// bytes a recipient, and a million-recipient review took over half a gigabyte.
    #[test]
    fn a_recipient_is_matched_by_24_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }
}
