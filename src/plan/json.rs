//! The plan as JSON: [`Writer`] streams the document (`herald plan --format json`, and the plan
//! file of `--out`), [`read`] loads a saved one for `herald show` and apply.
//!
//! The document (format_version 1; docs/plan-format.md describes every field):
//! ```text
//! {"format_version":1,
//! "header":{...},
//! "campaigns":[
//! {"campaign":{...},"actions":[
//! {...one action per line...}
//! ],"counts":{...}}
//! ],
//! "counts":{...}}
//! ```
//! Request bodies are raw JSON kept byte for byte, so a plan read back sends what was reviewed.

use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Action, Campaign, Counts, FORMAT_VERSION, Header, Sink};

/// Streams a plan as its JSON document.
pub struct Writer<W: Write> {
    out: W,
    campaigns: usize,
    actions: usize,
}

impl<W: Write> Writer<W> {
    /// A writer to `out` (buffer it: every action is a small write).
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            campaigns: 0,
            actions: 0,
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
        self.json(header)?;
        self.out.write_all(b",\n\"campaigns\":[")
    }

    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        if self.campaigns > 0 {
            self.out.write_all(b",")?;
        }
        self.campaigns += 1;
        self.actions = 0;
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

    fn end_campaign(&mut self, counts: &Counts) -> io::Result<()> {
        if self.actions > 0 {
            self.out.write_all(b"\n")?;
        }
        self.out.write_all(b"],\"counts\":")?;
        self.json(counts)?;
        self.out.write_all(b"}")
    }

    fn end(&mut self, totals: &Counts) -> io::Result<()> {
        if self.campaigns > 0 {
            self.out.write_all(b"\n")?;
        }
        self.out.write_all(b"],\n\"counts\":")?;
        self.json(totals)?;
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
}

impl Document {
    /// Feeds the plan to a sink, as when it was made.
    pub fn replay(&self, sink: &mut dyn Sink) -> io::Result<()> {
        sink.begin(&self.header)?;
        for c in &self.campaigns {
            sink.campaign(&c.campaign)?;
            for action in &c.actions {
                sink.action(action)?;
            }
            sink.end_campaign(&c.counts)?;
        }
        sink.end(&self.counts)
    }
}

/// Why a plan file cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// Reads a plan file written by `herald plan --out`.
pub fn read(path: &Path) -> Result<Document, ReadError> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| ReadError {
        message: format!("cannot read the plan file {name}: {e}"),
        help: "give the path `herald plan --out` wrote".to_owned(),
    })?;
    parse(&text).map_err(|e| ReadError {
        message: format!("{name}: {}", e.message),
        help: e.help,
    })
}

/// Parses a plan document.
pub fn parse(text: &str) -> Result<Document, ReadError> {
    #[derive(Deserialize)]
    struct Version {
        format_version: Option<u32>,
    }
    let not_a_plan = |detail: String| ReadError {
        message: format!("not a herald plan: {detail}"),
        help: "plan files are written by `herald plan --out FILE`; do not edit them".to_owned(),
    };
    let version: Version = serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
    match version.format_version {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(ReadError {
                message: format!(
                    "plan format version {other}; this herald reads version {FORMAT_VERSION}"
                ),
                help: "make the plan again with this herald".to_owned(),
            });
        }
        None => return Err(not_a_plan("it has no format_version".to_owned())),
    }
    serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))
}
