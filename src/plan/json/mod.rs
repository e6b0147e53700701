//! The plan as JSON, its readable view: [`Writer`] streams the document (`herald plan --format
//! json`, `herald show --format json`); [`stream`] reads one back into a [`Sink`] an action at
//! a time, and [`parse`] into a whole [`Document`] (small plans, tests). Plan files are
//! [`super::file`]'s compact container; this is what they show as.
//!
//! The document (format_version 1; docs/plan-format.md describes every field):
//! ```text
//! {"format_version":1,
//! "header":{...},
//! "campaigns":[
//! {"campaign":{...},"actions":[
//! {...one action per line...}
//! ],"counts":{...},"cost":{...priced plans only...}}
//! ],
//! "counts":{...},
//! "cost":{...priced plans only...},
//! "unsafe":[...the caps it breaks; left out when none...]}
//! ```
//! Request bodies are raw JSON kept byte for byte, so a plan read back sends what was reviewed.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};

pub mod stream;

use super::cost::Cost;
use super::safety::{Breach, Tally};
use super::{Action, Campaign, Counts, FORMAT_VERSION, Header, Sink};

/// Streams a plan as its JSON document.
pub struct Writer<W: Write> {
    out: W,
    campaigns: usize,
    actions: usize,
    header: Option<Header>,
    tally: Tally,
}

impl<W: Write> Writer<W> {
    /// A writer to `out` (buffer it: every action is a small write).
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            campaigns: 0,
            actions: 0,
            header: None,
            tally: Tally::default(),
        }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::other)
    }
}

impl<W: Write> Sink for Writer<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        write!(
            self.out,
            "{{\"format_version\":{FORMAT_VERSION},\n\"header\":"
        )?;
        self.header = Some(header.clone());
        self.json(header)?;
        self.out.write_all(b",\n\"campaigns\":[")
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        if self.campaigns > 0 {
            self.out.write_all(b",")?;
        }
        self.campaigns += 1;
        self.actions = 0;
        self.tally.campaign(campaign);
        self.out.write_all(b"\n{\"campaign\":")?;
        self.json(campaign)?;
        self.out.write_all(b",\"actions\":[")
    }

    fn action(&mut self, action: &Action) -> io::Result<()> {
        if self.actions > 0 {
            self.out.write_all(b",")?;
        }
        self.actions += 1;
        self.out.write_all(b"\n")?;
        self.json(action)
    }

    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        if self.actions > 0 {
            self.out.write_all(b"\n")?;
        }
        self.tally.end_campaign(counts);
        self.out.write_all(b"],\"counts\":")?;
        self.json(counts)?;
        if let Some(cost) = cost {
            self.out.write_all(b",\"cost\":")?;
            self.json(cost)?;
        }
        self.out.write_all(b"}")
    }

    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        if self.campaigns > 0 {
            self.out.write_all(b"\n")?;
        }
        self.out.write_all(b"],\n\"counts\":")?;
        self.json(totals)?;
        if let Some(cost) = cost {
            self.out.write_all(b",\n\"cost\":")?;
            self.json(cost)?;
        }
        let breaches = match &self.header {
            Some(header) => super::safety::breaches(header, &self.tally, cost, false),
            None => Vec::new(),
        };
        if !breaches.is_empty() {
            self.out.write_all(b",\n\"unsafe\":")?;
            self.json(&breaches)?;
        }
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}

/// A whole plan, read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What the plan was made from and against.
    pub header: Header,
    /// Every campaign with its actions.
    pub campaigns: Vec<CampaignActions>,
    /// All campaigns' counts.
    pub counts: Counts,
    /// The estimated cost of it all, when the project has a rate card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// The caps it breaks ([`super::safety`]).
    #[serde(default, rename = "unsafe", skip_serializing_if = "Vec::is_empty")]
    pub breaches: Vec<Breach>,
}

impl Document {
    /// Feeds the plan to `sink`, item by item, as a plan being made would: how a plan held
    /// whole is written out in another form (a plan file, say). Nothing is checked.
    pub fn replay(&self, sink: &mut dyn Sink) -> io::Result<()> {
        sink.begin(&self.header)?;
        for c in &self.campaigns {
            sink.campaign(&c.campaign)?;
            for action in &c.actions {
                sink.action(action)?;
            }
            sink.end_campaign(&c.counts, c.cost.as_ref())?;
        }
        sink.end(&self.counts, self.cost.as_ref())
    }
}

/// A campaign of a [`Document`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignActions {
    /// The campaign.
    pub campaign: Campaign,
    /// Its actions (never `unchanged`).
    pub actions: Vec<Action>,
    /// Its counts.
    pub counts: Counts,
    /// Its estimated cost, when the project has a rate card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

pub use stream::{PlanFileError, StreamError, stream};

/// Parses a plan document held in memory.
pub fn parse(text: &str) -> Result<Document, PlanFileError> {
    let mut builder = Builder::default();
    stream(text.as_bytes(), &mut builder).map_err(|e| match e {
        StreamError::Plan(e) => e,
        StreamError::Sink(e) => unreachable!("collecting a plan cannot fail: {e}"),
    })?;
    builder.document().ok_or_else(|| PlanFileError {
        message: "not a herald plan: it has no header".to_owned(),
        help: "plan documents are written by `herald plan --format json`; do not edit them"
            .to_owned(),
    })
}

/// Collects a streamed plan into a [`Document`].
#[derive(Default)]
pub(crate) struct Builder {
    header: Option<Header>,
    campaigns: Vec<CampaignActions>,
    document: Option<Document>,
}

impl Builder {
    /// The plan, once it has ended.
    pub(crate) fn document(self) -> Option<Document> {
        self.document
    }
}

impl Sink for Builder {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = Some(header.clone());
        Ok(())
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.campaigns.push(CampaignActions {
            campaign: campaign.clone(),
            actions: Vec::new(),
            counts: Counts::default(),
            cost: None,
        });
        Ok(())
    }

    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.take_action(action.clone())
    }

    fn take_action(&mut self, action: Action) -> io::Result<()> {
        if let Some(c) = self.campaigns.last_mut() {
            c.actions.push(action);
        }
        Ok(())
    }

    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        if let Some(c) = self.campaigns.last_mut() {
            c.counts = *counts;
            c.cost = cost.cloned();
        }
        Ok(())
    }

    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        let Some(header) = self.header.take() else {
            return Ok(());
        };
        let tally: Tally = self
            .campaigns
            .iter()
            .map(|c| (&c.campaign, &c.counts))
            .collect();
        self.document = Some(Document {
            format_version: FORMAT_VERSION,
            breaches: super::safety::breaches(&header, &tally, cost, false),
            header,
            campaigns: std::mem::take(&mut self.campaigns),
            counts: *totals,
            cost: cost.cloned(),
        });
        Ok(())
    }
}
