//! CSV audiences a plan reads twice rather than holds: ten million recipients held as
//! strings take gigabytes, read again they take a bit each.
//!
//! The first reading ([`Resolver::campaign_audience_streamed`], counted.rs) checks every row
//! as the listed reading does, with the same errors and duplicate warnings, and keeps only
//! which rows are recipients (the first listing of a phone not excluded: one bit a row), how
//! many there are, and a checksum of their phones. The phones seen (sorted after the reading
//! to find repeats, or, for a file with repeats, a set) are dropped after it. The second reading
//! ([`Streamed::reader`]) hands the kept rows to rendering in batches, and fails (rather than
//! plan other people) when the file no longer holds what was counted.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Recipient, Resolved, Resolver, UserFields, phone_key};
use crate::load::Confinement;
use crate::load::audience_file::{self, AudienceFile};
use crate::model::{Audience, AudienceRef};
use crate::validate::{Loc, phone};

message_error! {
    /// Why an audience could not be read again while it was rendered.
    pub struct SourceError;
}

/// A CSV audience counted, to be read again as it is rendered.
#[derive(Debug)]
pub struct Streamed {
    pub(super) path: PathBuf,
    /// The file as messages show it.
    pub(super) name: String,
    /// The header, as first read: the second reading must find the same.
    pub(super) columns: Arc<[String]>,
    /// Which rows are recipients, by record number (1 for the first row after the header).
    pub(super) kept: Arc<[u64]>,
    /// How many rows are.
    pub(super) kept_count: usize,
    /// A checksum of the kept rows' phones, in order.
    pub(super) check: u64,
    /// Phones left out when read again (the project's `suppress` list), and how many of the
    /// kept rows have one.
    pub(super) skip: Option<(Arc<HashSet<u64>>, usize)>,
    /// How many of the kept rows have a phone of the run's suppression list (counted on the
    /// first reading, so that suppressing them needs no reading).
    pub(super) suppressible: usize,
}

impl Streamed {
    /// How many recipients it has.
    pub fn len(&self) -> usize {
        self.kept_count - self.skip.as_ref().map_or(0, |(_, n)| *n)
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This audience without the phones of the run's suppression list (the one it was counted
    /// with), and how many that leaves out.
    pub fn suppressed(&self, phones: &Arc<HashSet<u64>>) -> (Streamed, usize) {
        let streamed = Streamed {
            path: self.path.clone(),
            name: self.name.clone(),
            columns: self.columns.clone(),
            kept: self.kept.clone(),
            kept_count: self.kept_count,
            check: self.check,
            skip: Some((phones.clone(), self.suppressible)),
            suppressible: self.suppressible,
        };
        (streamed, self.suppressible)
    }

    /// Reads the recipients again, in batches of `batch`.
    pub fn reader<'r>(&'r self, files: &'r Confinement, batch: usize) -> Reader<'r> {
        Reader {
            streamed: self,
            files,
            batch: batch.max(1),
            file: None,
            seen: 0,
            check: 0,
            done: false,
        }
    }

    fn is_kept(&self, row: u64) -> bool {
        let (word, bit) = ((row / 64) as usize, row % 64);
        self.kept.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn changed(&self) -> SourceError {
        SourceError(format!(
            "{} changed while the plan read it: it no longer holds the recipients counted",
            self.name
        ))
    }
}

/// Mixes a kept row's phone into the checksum of those before it.
pub(super) fn mix(check: u64, key: u64) -> u64 {
    (check ^ key)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

/// A batch of recipients to render: a slice of a listed audience, or rows read again.
#[derive(Debug)]
pub enum Batch<'r> {
    /// Part of a list.
    Listed(&'r [Recipient]),
    /// Read from a file.
    Read(Vec<Recipient>),
}

impl std::ops::Deref for Batch<'_> {
    type Target = [Recipient];

    fn deref(&self) -> &[Recipient] {
        match self {
            Batch::Listed(recipients) => recipients,
            Batch::Read(recipients) => recipients,
        }
    }
}

/// An audience's recipients in batches ([`Resolved::batches`]).
pub enum Batches<'r> {
    /// A list, in slices.
    Listed(std::slice::Chunks<'r, Recipient>),
    /// A file read again.
    Read(Box<Reader<'r>>),
}

impl<'r> Iterator for Batches<'r> {
    type Item = Result<Batch<'r>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Batches::Listed(chunks) => chunks.next().map(|c| Ok(Batch::Listed(c))),
            Batches::Read(reader) => reader.next(),
        }
    }
}

/// Reads a [`Streamed`] audience again, a batch at a time.
pub struct Reader<'r> {
    streamed: &'r Streamed,
    files: &'r Confinement,
    batch: usize,
    file: Option<AudienceFile>,
    /// Kept rows read so far, and the checksum of their phones.
    seen: usize,
    check: u64,
    done: bool,
}

impl Reader<'_> {
    fn open(&self) -> Result<AudienceFile, SourceError> {
        let s = self.streamed;
        let file = audience_file::open(self.files, &s.path)
            .map_err(|e| SourceError(e.message(&s.name)))?;
        if file.columns.as_slice() != &*s.columns {
            return Err(s.changed());
        }
        Ok(file)
    }

    fn read(&mut self) -> Result<Vec<Recipient>, SourceError> {
        let s = self.streamed;
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(self.open()?),
        };
        let mut batch = Vec::with_capacity(self.batch);
        while batch.len() < self.batch {
            let record = match file.rows.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => {
                    self.done = true;
                    if self.seen != s.kept_count || self.check != s.check {
                        return Err(s.changed());
                    }
                    break;
                }
                Err(e) => return Err(SourceError(e.message(&s.name))),
            };
            if !s.is_kept(record.row()) {
                continue;
            }
            let phone = record.get(file.phone).unwrap_or_default();
            if phone::check(phone).is_err() {
                return Err(s.changed());
            }
            let key = phone_key(phone);
            self.seen += 1;
            self.check = mix(self.check, key);
            if s.skip.as_ref().is_some_and(|(skip, _)| skip.contains(&key)) {
                continue;
            }
            let (text, ends) = record.parts();
            batch.push(Recipient {
                phone: phone.into(),
                fields: Arc::new(UserFields::row(s.columns.clone(), text, ends)),
            });
        }
        Ok(batch)
    }
}

impl<'r> Iterator for Reader<'r> {
    type Item = Result<Batch<'r>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read() {
            Ok(batch) if batch.is_empty() => None,
            Ok(batch) => Some(Ok(Batch::Read(batch))),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Resolver<'_> {
    /// A campaign's audience for a plan: a CSV file (minus named audiences it excludes) is
    /// counted and streamed ([`Streamed`]), counting how many of its recipients are among
    /// `suppressed` (the run's suppression list); any other is listed
    /// ([`Resolver::campaign_audience`]).
    pub fn campaign_audience_streamed(
        &mut self,
        reference: &AudienceRef,
        campaign: &Loc,
        suppressed: &HashSet<u64>,
    ) -> Option<Arc<Resolved>> {
        let (audience, loc, sub, name) = match reference {
            AudienceRef::Named(name) => {
                let item = self.catalog.audiences.get(name)?;
                (&item.value, &item.loc, "", Some(name))
            }
            AudienceRef::Inline(inline) => (inline, campaign, "/audience", None),
        };
        let Some(csv) = streamable(audience) else {
            return self.campaign_audience(reference, campaign);
        };
        if let Some(name) = name {
            // Listed already (another audience excludes it): in memory anyway.
            if let Some(done) = self.named.get(name).or_else(|| self.streamed.get(name)) {
                return Some(done.clone());
            }
            let resolved = self.once(name, |resolver| {
                resolver.stream_csv(
                    (audience, loc, sub),
                    csv,
                    &format!("audience `{name}`"),
                    suppressed,
                )
            })?;
            self.streamed.insert(name.clone(), resolved.clone());
            return Some(resolved);
        }
        self.stream_csv(
            (audience, loc, sub),
            csv,
            "the campaign's audience",
            suppressed,
        )
    }

    /// Counts the CSV audience `csv` of `audience` (at `loc`, `sub`), called `label`.
    fn stream_csv(
        &mut self,
        (audience, loc, sub): (&Audience, &Loc, &str),
        csv: &str,
        label: &str,
        suppressed: &HashSet<u64>,
    ) -> Option<Arc<Resolved>> {
        let mut excluded: HashSet<u64> = HashSet::new();
        for name in audience.exclude.iter().flatten() {
            let resolved = self.named(name)?;
            excluded.extend(resolved.recipients.iter().map(|r| phone_key(&r.phone)));
        }
        let path = self.csv_path(loc, csv);
        let counted = self.count_csv(
            &path,
            (loc, &format!("{sub}/csv"), sub, label),
            &excluded,
            suppressed,
        )?;
        Some(Arc::new(Resolved {
            recipients: Vec::new(),
            streamed: Some(Arc::new(counted)),
        }))
    }
}

/// The `csv` of an audience that can be streamed: a CSV file, minus named audiences.
fn streamable(audience: &Audience) -> Option<&str> {
    let only_csv = audience.users.is_none()
        && audience.users_api.is_none()
        && audience.include.as_ref().is_none_or(Vec::is_empty);
    audience.csv.as_deref().filter(|_| only_csv)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `rows` (phones) under a `phone,n` header in a project directory, and the audience
    /// counted from it as the first reading would: every row kept but those in `drop`.
    fn counted(dir: &Path, rows: &[&str], drop: &[usize]) -> Streamed {
        let text: String = std::iter::once("phone,n\n".to_owned())
            .chain(rows.iter().enumerate().map(|(i, p)| format!("{p},{i}\n")))
            .collect();
        std::fs::write(dir.join("a.csv"), text).unwrap();
        let mut kept = vec![0u64; rows.len() / 64 + 1];
        let mut check = 0;
        for (i, phone) in rows.iter().enumerate() {
            if !drop.contains(&i) {
                let row = i + 1;
                kept[row / 64] |= 1 << (row % 64);
                check = mix(check, phone_key(phone));
            }
        }
        Streamed {
            path: dir.join("a.csv"),
            name: "a.csv".to_owned(),
            columns: vec!["phone".to_owned(), "n".to_owned()].into(),
            kept: kept.into(),
            kept_count: rows.len() - drop.len(),
            check,
            skip: None,
            suppressible: 0,
        }
    }

    fn phones(phones: &[usize]) -> Vec<String> {
        phones.iter().map(|i| format!("+9190000{i:05}")).collect()
    }

    fn read(
        streamed: &Streamed,
        dir: &Path,
        batch: usize,
    ) -> Result<Vec<Vec<String>>, SourceError> {
        let files = Confinement::project(dir);
        streamed
            .reader(&files, batch)
            .map(|b| b.map(|b| b.iter().map(|r| r.phone.to_string()).collect()))
            .collect()
    }

    #[test]
    fn kept_rows_come_back_in_order_in_batches_without_the_suppressed() {
        let dir = tempfile::tempdir().unwrap();
        let rows = phones(&(0..200).collect::<Vec<_>>());
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let streamed = counted(dir.path(), &rows, &[3, 64, 130]);
        let suppress = Arc::new(HashSet::from([phone_key(rows[5]), phone_key(rows[3])]));
        // Counted with that list: one of its phones is among the kept rows.
        let streamed = Streamed {
            suppressible: 1,
            ..streamed
        };
        let (streamed, removed) = streamed.suppressed(&suppress);
        assert_eq!((removed, streamed.len()), (1, 196));
        let batches = read(&streamed, dir.path(), 64).unwrap();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [64, 64, 64, 4]
        );
        let expected: Vec<&str> = (0..200)
            .filter(|i| ![3, 5, 64, 130].contains(i))
            .map(|i| rows[i])
            .collect();
        assert_eq!(batches.concat(), expected);
    }

    #[test]
    fn a_file_changed_after_it_was_counted_is_an_error_not_other_recipients() {
        let dir = tempfile::tempdir().unwrap();
        let before = phones(&[1, 2, 3]);
        let before: Vec<&str> = before.iter().map(String::as_str).collect();
        let streamed = counted(dir.path(), &before, &[]);
        // Same length, one phone replaced.
        std::fs::write(
            dir.path().join("a.csv"),
            format!(
                "phone,n\n{},0\n+919000000009,1\n{},2\n",
                before[0], before[2]
            ),
        )
        .unwrap();
        let e = read(&streamed, dir.path(), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.csv changed while the plan read it: it no longer holds the recipients counted"
        );
        // A row gone, a column renamed, a phone no longer valid: the same.
        for text in [
            format!("phone,n\n{},0\n{},1\n", before[0], before[1]),
            format!("tel,n\n{},0\n{},1\n{},2\n", before[0], before[1], before[2]),
            format!("phone,n\n{},0\nnope,1\n{},2\n", before[0], before[2]),
        ] {
            std::fs::write(dir.path().join("a.csv"), text).unwrap();
            assert!(read(&streamed, dir.path(), 2).is_err());
        }
    }
}
