//! Plan files (`herald plan --out FILE`): the plan as a compact, versioned, checksummed
//! container that [`Writer`] streams out as the plan is made and [`Reader`] streams back,
//! so neither planning, `herald show` nor apply holds a plan in memory.
//!
//! ```text
//! herald plan file 2\n                        the format and its version, as text
//! zstd frame:
//!   header          JSON (the header of `--format json`)
//!   campaign        JSON, then per action:
//!   action          binary: kind, recipient, request as what differs from the campaign's
//!                   first request, rarer fields as JSON (see [`action`])
//!   end campaign    JSON {counts, cost}
//!   ...
//!   end             JSON {counts, cost}
//!   checksum        SHA-256 of every record before it
//! ```
//! Each record is a tag byte, a varint length and the payload. The JSON view
//! (`herald show FILE --format json`, docs/plan-format.md) is the readable form of the same
//! plan; this one is what travels between CI jobs: a million template sends take tens of
//! megabytes rather than a gigabyte. Every plan read back passes [`Checker`] item by item.

mod action;
mod delta;
pub mod error;
mod record;

use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use self::delta::Reference;
use self::error::{cannot_read, damaged};
use self::record::{Hashing, RecordReader, RecordWriter, Tag};
use super::check::Checker;
use super::cost::Cost;
use super::json::{Builder, Document};
use super::safety::{Breach, Tally};
use super::{Action, Campaign, Counts, Header, Sink};
use crate::fingerprint::Fingerprint;

pub use error::{PlanFileError, StreamError};
pub use record::FILE_VERSION;

/// A campaign's or the plan's closing record.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Totals {
    counts: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cost: Option<Cost>,
}

/// Streams a plan into a plan file.
pub struct Writer<W: Write> {
    records: RecordWriter<W>,
    /// The current campaign's first request, once its first action is written.
    reference: Option<Reference>,
    /// Whether the current campaign's fingerprints are kept (broadcasts: see [`action`]).
    keep_fingerprints: bool,
    scratch: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts a plan file in `out` (buffer it: records are small writes).
    pub fn new(out: W) -> io::Result<Writer<W>> {
        Ok(Writer {
            records: RecordWriter::new(out)?,
            reference: None,
            keep_fingerprints: false,
            scratch: Vec::with_capacity(1024),
        })
    }

    /// The underlying writer, once the plan has ended.
    pub fn into_inner(self) -> Option<W> {
        self.records.into_inner()
    }

    fn json<T: Serialize>(&mut self, tag: Tag, value: &T) -> io::Result<()> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, value).map_err(io::Error::other)?;
        self.records.record(tag, &self.scratch)
    }
}

impl<W: Write> Sink for Writer<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.json(Tag::Header, header)
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.reference = None;
        self.keep_fingerprints = campaign.whole_audience();
        self.json(Tag::Campaign, campaign)
    }

    fn action(&mut self, action: &Action) -> io::Result<()> {
        action::encode(
            action,
            self.reference.as_ref(),
            self.keep_fingerprints,
            &mut self.scratch,
        )
        .map_err(io::Error::other)?;
        self.records.record(Tag::Action, &self.scratch)?;
        if self.reference.is_none() {
            self.reference = Some(Reference::new(action.request.clone()));
        }
        Ok(())
    }

    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.reference = None;
        let totals = Totals {
            counts: *counts,
            cost: cost.cloned(),
        };
        self.json(Tag::EndCampaign, &totals)
    }

    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        let totals = Totals {
            counts: *totals,
            cost: cost.cloned(),
        };
        self.json(Tag::End, &totals)?;
        self.records.finish()
    }
}

/// One item of a plan, as [`Reader`] gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The header.
    Begin(Header),
    /// A campaign starts.
    Campaign(Campaign),
    /// One of its actions.
    Action(Action),
    /// The campaign ends, with its counts and cost.
    EndCampaign(Counts, Option<Cost>),
    /// The plan ends, with the totals and the total cost.
    End(Counts, Option<Cost>),
}

impl Event {
    /// Hands the event to `sink`.
    pub fn feed(self, sink: &mut dyn Sink) -> io::Result<()> {
        match self {
            Event::Begin(header) => sink.begin(&header),
            Event::Campaign(campaign) => sink.campaign(&campaign),
            Event::Action(action) => sink.take_action(action),
            Event::EndCampaign(counts, cost) => sink.end_campaign(&counts, cost.as_ref()),
            Event::End(counts, cost) => sink.end(&counts, cost.as_ref()),
        }
    }
}

/// Reads a plan file item by item, each checked ([`Checker`]) before it is given out.
pub struct Reader<R: Read> {
    records: RecordReader<BufReader<R>>,
    checker: Checker,
    reference: Option<Reference>,
    /// Whether actions come with their requests ([`Reader::without_requests`]).
    requests: bool,
}

impl<R: Read> Reader<R> {
    /// Reads the file's first line: refused unless it is a plan file of [`FILE_VERSION`].
    pub fn open(input: R) -> Result<Reader<R>, PlanFileError> {
        Ok(Reader {
            records: RecordReader::open(BufReader::with_capacity(1 << 16, input))?,
            checker: Checker::new(),
            reference: None,
            requests: true,
        })
    }

    /// Gives actions without their requests (empty, the fingerprint zero): all an outline
    /// needs, at a fraction of the work. The file is read and checked as whole as ever.
    pub fn without_requests(mut self) -> Reader<R> {
        self.requests = false;
        self
    }

    /// The next item, or `None` once the plan ended and its checksum matched.
    pub fn next_event(&mut self) -> Result<Option<Event>, PlanFileError> {
        let Some((tag, payload)) = self.records.next()? else {
            if !self.checker.ended() {
                return Err(damaged("it ends before its totals"));
            }
            return Ok(None);
        };
        let event = match tag {
            Tag::Header => {
                let header: Header = json(payload, "header")?;
                self.checker.header(&header)?;
                Event::Begin(header)
            }
            Tag::Campaign => {
                let campaign: Campaign = json(payload, "campaign")?;
                self.checker.campaign(&campaign)?;
                self.reference = None;
                Event::Campaign(campaign)
            }
            Tag::Action => {
                let action = action::decode(payload, self.reference.as_ref(), self.requests)?;
                self.checker.action(&action)?;
                if self.reference.is_none() && self.requests {
                    self.reference = Some(Reference::new(action.request.clone()));
                }
                Event::Action(action)
            }
            Tag::EndCampaign => {
                let totals: Totals = json(payload, "campaign's counts")?;
                self.checker
                    .end_campaign(&totals.counts, totals.cost.as_ref())?;
                Event::EndCampaign(totals.counts, totals.cost)
            }
            Tag::End => {
                let totals: Totals = json(payload, "totals")?;
                self.checker.end(&totals.counts, totals.cost.as_ref())?;
                Event::End(totals.counts, totals.cost)
            }
            Tag::Checksum => return Err(damaged("it has a checksum out of place")),
        };
        Ok(Some(event))
    }
}

fn json<'a, T: Deserialize<'a>>(payload: &'a [u8], what: &str) -> Result<T, PlanFileError> {
    serde_json::from_slice(payload)
        .map_err(|e| damaged(format_args!("its {what} does not read: {e}")))
}

/// Reads a plan file from `input`, feeding `sink` item by item.
pub fn stream(input: impl Read, sink: &mut dyn Sink) -> Result<(), StreamError> {
    let mut reader = Reader::open(input)?;
    while let Some(event) = reader.next_event()? {
        event.feed(sink).map_err(StreamError::Sink)?;
    }
    Ok(())
}

/// Reads a whole plan file (for plans known to be small: tests, tools).
pub fn read(path: &Path) -> Result<Document, PlanFileError> {
    let file = std::fs::File::open(path).map_err(|e| cannot_read(path, &e))?;
    let mut builder = Builder::default();
    stream(file, &mut builder).map_err(|e| match e {
        StreamError::Plan(e) => e.in_file(path),
        StreamError::Sink(e) => cannot_read(path, &e),
    })?;
    builder
        .document()
        .ok_or_else(|| damaged("it ends before its totals"))
}

/// A plan without its actions: what apply checks before it sends anything, and how many
/// deliveries each campaign holds. Read with [`outline`].
#[derive(Debug, Clone)]
pub struct Outline {
    /// What the plan was made from and against.
    pub header: Header,
    /// Every campaign with its counts, in plan order.
    pub campaigns: Vec<(Campaign, Counts)>,
    /// All campaigns' counts.
    pub counts: Counts,
    /// The estimated cost of it all, when the plan is priced.
    pub cost: Option<Cost>,
    /// The SHA-256 of the plan file's bytes (recorded with the apply).
    pub file_hash: Fingerprint,
}

impl Outline {
    /// The caps the plan breaks when applied, with `--resend-unknown` or without.
    pub fn breaches(&self, resend_unknown: bool) -> Vec<Breach> {
        let tally: Tally = self.campaigns.iter().map(|(c, n)| (c, n)).collect();
        super::safety::breaches(&self.header, &tally, self.cost.as_ref(), resend_unknown)
    }
}

/// Reads only a plan file's header: what it was made for, before the project is loaded to
/// check the rest ([`outline`]).
pub fn header(input: impl Read) -> Result<Header, PlanFileError> {
    match Reader::open(input)?.next_event()? {
        Some(Event::Begin(header)) => Ok(header),
        _ => Err(damaged("it does not start with its header")),
    }
}

/// Reads a whole plan file from `input`, checking it item by item, and keeps its outline.
pub fn outline(input: impl Read) -> Result<Outline, PlanFileError> {
    let mut hashing = Hashing::new(input);
    let mut reader = Reader::open(&mut hashing)?.without_requests();
    let mut header = None;
    let mut campaigns = Vec::new();
    let mut totals = None;
    while let Some(event) = reader.next_event()? {
        match event {
            Event::Begin(h) => header = Some(h),
            Event::Campaign(c) => campaigns.push((c, Counts::default())),
            Event::Action(_) => {}
            Event::EndCampaign(counts, _) => {
                if let Some((_, c)) = campaigns.last_mut() {
                    *c = counts;
                }
            }
            Event::End(counts, cost) => totals = Some((counts, cost)),
        }
    }
    drop(reader);
    let (Some(header), Some((counts, cost))) = (header, totals) else {
        return Err(damaged("it ends before its totals"));
    };
    Ok(Outline {
        header,
        campaigns,
        counts,
        cost,
        file_hash: hashing.finish(),
    })
}

#[cfg(test)]
mod tests;
