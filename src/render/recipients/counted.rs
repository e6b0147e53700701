//! The first reading of a CSV audience a plan streams ([`Streamed`]): every row checked as
//! the listed reading checks it, with the same errors and duplicate warnings, keeping only
//! which rows are recipients, how many, and a checksum of their phones.
//!
//! Most files list each phone once, which sorting their keys after the reading shows for less
//! than a set of them costs as they are read (a cache miss a row). The rows are read on all
//! cores, a part of the file each ([`read_parts`]), their keys kept in file order; a file that
//! repeats phones is read again with the set, on one thread, to tell first listings from
//! repeats.

use std::collections::HashSet;
use std::path::Path;

use super::streamed::{Streamed, mix};
use super::{MAX_DUPLICATE_WARNINGS, Resolver, expected_rows, file_name, phone_key};
use crate::diagnostic::Code;
use crate::load::csv::{Parted, Record, Split, read_parts};
use crate::validate::{Loc, phone};

/// What reading a file in parts came to.
enum Counted {
    /// Each phone listed once: the audience.
    Once(Streamed),
    /// Some phone listed twice.
    Repeats,
    /// The file was cut inside a quoted field: read it again whole.
    Miscut,
}

impl Resolver<'_> {
    /// Reads a CSV audience once, checking every row as [`Resolver::read_csv`] does and
    /// warning about repeats as it would, keeping only what reading it again needs.
    /// `at`: the audience, where its `csv` is, where it is, and how it is called.
    pub(super) fn count_csv(
        &mut self,
        path: &Path,
        at: (&Loc, &str, &str, &str),
        excluded: &HashSet<u64>,
        suppressed: &HashSet<u64>,
    ) -> Option<Streamed> {
        let sorted = match self.count_in_parts(path, at, (excluded, suppressed))? {
            Counted::Once(counted) => return Some(counted),
            Counted::Repeats => None,
            Counted::Miscut => {
                self.count_rows(path, at, (excluded, suppressed), Seen::Sorted(Vec::new()))?
            }
        };
        match sorted {
            Some(counted) => Some(counted),
            // With a set, repeats are told as they are read: never `Some(None)`.
            None => self
                .count_rows(path, at, (excluded, suppressed), Seen::Set(None))
                .flatten(),
        }
    }

    /// Counts a CSV audience as if each phone were listed once, its rows read in parts; `None`
    /// after reporting what is wrong with a row (the file changed since validation).
    fn count_in_parts(
        &mut self,
        path: &Path,
        (loc, csv_sub, _, _): (&Loc, &str, &str, &str),
        (excluded, suppressed): (&HashSet<u64>, &HashSet<u64>),
    ) -> Option<Counted> {
        let (file, name) = self.open_csv(path, loc, csv_sub)?;
        let (size, phone_column) = (file.size, file.phone);
        let split = Split::new(size, crate::render::workers());
        // Every kept row's key in file order, and the rows as a bitmap.
        let mut keys: Vec<u64> = Vec::new();
        let mut kept: Vec<u64> = Vec::new();
        let (mut suppressible, mut check) = (0usize, 0u64);
        let mut bad: Option<(Box<str>, u64)> = None;
        let read = read_parts(
            file.rows,
            split,
            Tally::default,
            |tally, record| tally.add(record, phone_column, excluded, suppressed),
            |tally, place| {
                let Some((first, bytes)) = tally.first else {
                    return;
                };
                if keys.capacity() == 0 {
                    let rows = expected_rows(size, bytes);
                    keys.reserve(rows);
                    kept.reserve(rows / 64 + 1);
                }
                let mut row = place.row(first);
                let mut skipped = tally.skipped.iter().map(|&r| place.row(r)).peekable();
                for &key in &tally.keys {
                    while skipped.next_if_eq(&row).is_some() {
                        row += 1;
                    }
                    let (word, bit) = ((row / 64) as usize, row % 64);
                    if kept.len() <= word {
                        kept.resize(word + 1, 0);
                    }
                    kept[word] |= 1 << bit;
                    check = mix(check, key);
                    row += 1;
                }
                keys.extend_from_slice(&tally.keys);
                suppressible += tally.suppressible;
                if let Some((phone, line)) = tally.bad {
                    bad = Some((phone, place.line(line)));
                }
            },
        );
        match read {
            Ok(Parted::Read) => {}
            Ok(Parted::Miscut) => return Some(Counted::Miscut),
            Err(e) => return self.csv_failed(loc, csv_sub, Code::Csv, e.message(&name)),
        }
        if let Some((phone, line)) = bad {
            self.csv_phone_ok((loc, csv_sub), &name, &phone, line);
            return None;
        }
        if !all_distinct(&mut keys) {
            return Some(Counted::Repeats);
        }
        Some(Counted::Once(Streamed {
            path: path.to_owned(),
            name,
            columns: file.columns.into(),
            kept: kept.into(),
            kept_count: keys.len(),
            check,
            skip: None,
            suppressible,
        }))
    }

    /// [`Resolver::count_csv`] telling repeats by `seen`; `Some(None)` when sorted keys show
    /// repeats (rows were counted as if each phone were listed once).
    fn count_rows(
        &mut self,
        path: &Path,
        at: (&Loc, &str, &str, &str),
        (excluded, suppressed): (&HashSet<u64>, &HashSet<u64>),
        mut seen: Seen,
    ) -> Option<Option<Streamed>> {
        let (loc, csv_sub, sub, label) = at;
        let (mut file, name) = self.open_csv(path, loc, csv_sub)?;
        let mut sized = false;
        let mut kept: Vec<u64> = Vec::new();
        let (mut kept_count, mut suppressible, mut check) = (0usize, 0usize, 0u64);
        // The first few repeats: the phone, its key, and the lines of its first (found
        // below) and repeated listings.
        let mut repeats: Vec<(Box<str>, u64, u64, u64)> = Vec::new();
        let mut repeated = 0usize;
        let phone_column = file.phone;
        while let Some((record, phone)) =
            self.next_csv_row(&mut file.rows, phone_column, &name, (loc, csv_sub))?
        {
            let key = phone_key(phone);
            if excluded.contains(&key) {
                continue;
            }
            if !sized {
                let (text, ends) = record.parts();
                seen.reserve(expected_rows(file.size, text.len() + ends.len()));
                sized = true;
            }
            if !seen.insert(key) {
                repeated += 1;
                if repeats.len() < MAX_DUPLICATE_WARNINGS {
                    repeats.push((phone.into(), key, 0, record.line()));
                }
                continue;
            }
            let (word, bit) = ((record.row() / 64) as usize, record.row() % 64);
            if kept.len() <= word {
                kept.resize(word + 1, 0);
            }
            kept[word] |= 1 << bit;
            kept_count += 1;
            suppressible += usize::from(suppressed.contains(&key));
            check = mix(check, key);
        }
        if !seen.all_first() {
            return Some(None);
        }
        if !repeats.is_empty() {
            self.first_listings(path, (loc, csv_sub), &mut repeats)?;
        }
        let repeats: Vec<_> = repeats
            .into_iter()
            .map(|(phone, _, first, repeat)| (phone, first, repeat))
            .collect();
        let item = format!("{} line", file_name(path));
        self.warn_repeats(&item, &repeats, repeated, (loc, sub, label));
        Some(Some(Streamed {
            path: path.to_owned(),
            name,
            columns: std::mem::take(&mut file.columns).into(),
            kept: kept.into(),
            kept_count,
            check,
            skip: None,
            suppressible,
        }))
    }

    /// Finds the line of the first listing of each repeated phone, reading the file again up
    /// to the last of them: only the few repeats reported need it, and only when a file has
    /// repeats, so no phone's line is held while counting.
    fn first_listings(
        &mut self,
        path: &Path,
        (loc, sub): (&Loc, &str),
        repeats: &mut [(Box<str>, u64, u64, u64)],
    ) -> Option<()> {
        let (mut file, name) = self.open_csv(path, loc, sub)?;
        let mut missing = repeats.len();
        while missing > 0 {
            let record = match file.rows.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(e) => return self.csv_failed(loc, sub, Code::Csv, e.message(&name)),
            };
            let key = phone_key(record.get(file.phone).unwrap_or_default());
            for repeat in repeats.iter_mut() {
                if repeat.1 == key && repeat.2 == 0 {
                    repeat.2 = record.line();
                    missing -= 1;
                }
            }
        }
        Some(())
    }
}

/// The phones a counting has seen.
enum Seen {
    /// Every key, sorted after the reading to check that none repeats.
    Sorted(Vec<u64>),
    /// A set, telling repeats as they are read (made when the first row shows how many rows
    /// to expect).
    Set(Option<HashSet<u64, foldhash::fast::RandomState>>),
}

impl Seen {
    /// Makes room for `rows` phones.
    fn reserve(&mut self, rows: usize) {
        match self {
            Seen::Sorted(keys) => keys.reserve(rows),
            Seen::Set(set) => {
                set.get_or_insert_with(|| {
                    HashSet::with_capacity_and_hasher(rows, Default::default())
                });
            }
        }
    }

    /// Notes `key`; `false` when it is known to repeat.
    fn insert(&mut self, key: u64) -> bool {
        match self {
            Seen::Sorted(keys) => {
                keys.push(key);
                true
            }
            Seen::Set(set) => set.get_or_insert_with(HashSet::default).insert(key),
        }
    }

    /// Whether every key noted was the first listing of its phone.
    fn all_first(self) -> bool {
        match self {
            Seen::Sorted(mut keys) => {
                keys.sort_unstable();
                keys.windows(2).all(|pair| pair[0] != pair[1])
            }
            Seen::Set(_) => true,
        }
    }
}

/// What a part of a file's rows gave the counting.
#[derive(Default)]
struct Tally {
    /// The part's first row: its number and bytes (to judge how many rows the file holds).
    first: Option<(u64, usize)>,
    /// The keys of its rows not excluded, in order.
    keys: Vec<u64>,
    /// The numbers of its excluded rows.
    skipped: Vec<u64>,
    /// How many kept rows have a phone of the run's suppression list.
    suppressible: usize,
    /// A row whose phone is not E.164 (the reading stops there): the phone, and its line.
    bad: Option<(Box<str>, u64)>,
}

impl Tally {
    /// Counts a row; `false` when its phone is not E.164.
    fn add(
        &mut self,
        record: &Record<'_>,
        phone_column: usize,
        excluded: &HashSet<u64>,
        suppressed: &HashSet<u64>,
    ) -> bool {
        if self.first.is_none() {
            let (text, ends) = record.parts();
            self.first = Some((record.row(), text.len() + ends.len()));
        }
        let phone = record.get(phone_column).unwrap_or_default();
        if phone::check(phone).is_err() {
            self.bad = Some((phone.into(), record.line()));
            return false;
        }
        let key = phone_key(phone);
        if excluded.contains(&key) {
            self.skipped.push(record.row());
            return true;
        }
        self.keys.push(key);
        self.suppressible += usize::from(suppressed.contains(&key));
        true
    }
}

/// Whether no key repeats, sorting them (in two halves on two threads, when there are many
/// and cores to spare).
fn all_distinct(keys: &mut [u64]) -> bool {
    let distinct = |keys: &[u64]| keys.windows(2).all(|pair| pair[0] != pair[1]);
    if keys.len() < 1 << 16 || crate::render::workers() < 2 {
        keys.sort_unstable();
        return distinct(keys);
    }
    let (a, b) = keys.split_at_mut(keys.len() / 2);
    std::thread::scope(|scope| {
        scope.spawn(|| a.sort_unstable());
        b.sort_unstable();
    });
    distinct(a) && distinct(b) && disjoint(a, b)
}

/// Whether two sorted lists have no key in common.
fn disjoint(a: &[u64], b: &[u64]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_repeat_within_or_across_halves() {
        let mut many: Vec<u64> = (0..200_000).rev().collect();
        assert!(all_distinct(&mut many));
        for (at, copy) in [(10, 11), (10, 150_000), (199_999, 0)] {
            let mut keys: Vec<u64> = (0..200_000).collect();
            keys[at] = keys[copy];
            assert!(!all_distinct(&mut keys), "{at} = {copy}");
        }
        assert!(all_distinct(&mut [3, 1, 2]));
        assert!(!all_distinct(&mut [3, 1, 3]));
        assert!(disjoint(&[1, 3, 5], &[2, 4, 6]));
        assert!(!disjoint(&[1, 3, 5], &[0, 5]));
    }
}
