//! Reading a plan document back as a stream: [`stream`] parses it from any reader and feeds a
//! [`Sink`] one action at a time, so neither `herald show` nor apply ever holds a
//! million-recipient plan in memory.
//!
//! A plan file is the reviewed artifact, so reading it also checks that it is whole and
//! consistent: the format version comes first, each campaign's counts match the actions it
//! lists, the totals (counts and cost) match the campaigns, a priced plan prices every
//! campaign, and no action claims to send what its kind never sends. A truncated or
//! hand-edited file is refused with the position of the problem.

use std::fmt;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::super::cost::{self, Cost, Pricing};
use super::super::{Action, ActionKind, Campaign, Counts, FORMAT_VERSION, Header, Sink};
use super::Document;
use crate::fingerprint::{Fingerprint, Hasher};
use crate::model::OnChange;

/// Why a plan file cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFileError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl PlanFileError {
    /// The same error, naming the file it is about.
    pub fn in_file(self, path: &Path) -> PlanFileError {
        PlanFileError {
            message: format!("{}: {}", path.display(), self.message),
            ..self
        }
    }
}

/// Why streaming a plan stopped.
#[derive(Debug)]
pub enum StreamError {
    /// The plan is unreadable, damaged or from another herald.
    Plan(PlanFileError),
    /// The sink failed (its error, as it returned it).
    Sink(io::Error),
}

/// Reads a whole plan file written by `herald plan --out` (for plans known to be small).
pub fn read(path: &Path) -> Result<Document, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| cannot_read(path, &e))?;
    super::parse(&text).map_err(|e| PlanFileError {
        message: format!("{}: {}", path.display(), e.message),
        help: e.help,
    })
}

/// The error for a plan file that cannot be opened or read.
pub fn cannot_read(path: &Path, error: &io::Error) -> PlanFileError {
    PlanFileError {
        message: format!("cannot read the plan file {}: {error}", path.display()),
        help: "give the path `herald plan --out` wrote".to_owned(),
    }
}

/// Parses a plan document from `input`, feeding `sink` as it goes.
pub fn stream(input: impl Read, sink: &mut dyn Sink) -> Result<(), StreamError> {
    let mut reader = Reading {
        sink,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, input));
    let parsed = de
        .deserialize_map(DocumentVisitor {
            reader: &mut reader,
        })
        .and_then(|()| de.end());
    match (parsed, reader.failure) {
        (_, Some(failure)) => Err(failure),
        (Ok(()), None) => Ok(()),
        (Err(e), None) if e.is_io() => Err(StreamError::Plan(PlanFileError {
            message: format!("cannot read the plan: {e}"),
            help: "give the path `herald plan --out` wrote".to_owned(),
        })),
        (Err(e), None) if e.is_eof() => Err(StreamError::Plan(damaged(format!(
            "it ends too early ({e}); was it copied whole?"
        )))),
        (Err(e), None) => Err(StreamError::Plan(not_a_plan(e.to_string()))),
    }
}

fn not_a_plan(detail: impl fmt::Display) -> PlanFileError {
    PlanFileError {
        message: format!("not a herald plan: {detail}"),
        help: "plan files are written by `herald plan --out FILE`; do not edit them".to_owned(),
    }
}

fn damaged(detail: impl fmt::Display) -> PlanFileError {
    PlanFileError {
        message: format!("the plan file is damaged: {detail}"),
        help: "make the plan again with `herald plan --out FILE`; plan files must not be edited"
            .to_owned(),
    }
}

/// The sink being fed, and the first failure that is not a JSON syntax error (serde only
/// carries strings, so the failure itself waits here).
struct Reading<'a> {
    sink: &'a mut dyn Sink,
    failure: Option<StreamError>,
}

impl Reading<'_> {
    /// Records `failure` and returns the error that stops serde.
    fn fail<E: de::Error>(&mut self, failure: StreamError) -> E {
        let message = match &failure {
            StreamError::Plan(e) => e.message.clone(),
            StreamError::Sink(e) => e.to_string(),
        };
        self.failure.get_or_insert(failure);
        E::custom(message)
    }

    fn feed<E: de::Error>(
        &mut self,
        call: impl FnOnce(&mut dyn Sink) -> io::Result<()>,
    ) -> Result<(), E> {
        call(&mut *self.sink).map_err(|e| self.fail(StreamError::Sink(e)))
    }
}

struct DocumentVisitor<'r, 'a> {
    reader: &'r mut Reading<'a>,
}

impl<'de> Visitor<'de> for DocumentVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a plan document (an object starting with format_version)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let reader = self.reader;
        match map.next_key::<String>()?.as_deref() {
            Some("format_version") => {}
            _ => return Err(reader.fail(plan(not_a_plan("it does not start with format_version")))),
        }
        let version: u32 = map.next_value()?;
        if version != FORMAT_VERSION {
            return Err(reader.fail(plan(PlanFileError {
                message: format!(
                    "plan format version {version}; this herald reads version {FORMAT_VERSION}"
                ),
                help: "make the plan again with this herald".to_owned(),
            })));
        }
        // The header's `pricing`, once the header is read.
        let mut pricing: Option<Option<Pricing>> = None;
        let mut listed = None;
        let mut declared = None;
        let mut declared_cost = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "header" if pricing.is_none() => {
                    let header: Header = map.next_value()?;
                    // A budget is checked against the cost, which needs a rate card.
                    if header.budget.max_per_apply.is_some() && header.pricing.is_none() {
                        let detail = "it has a budget but no rate card to price it with";
                        return Err(reader.fail(plan(damaged(detail))));
                    }
                    reader.feed(|s| s.begin(&header))?;
                    pricing = Some(header.pricing);
                }
                "campaigns" if pricing.is_some() && listed.is_none() => {
                    let pricing = pricing.as_ref().and_then(Option::as_ref);
                    let mut tally = (Counts::default(), pricing.map(priced));
                    map.next_value_seed(CampaignsSeed {
                        reader: &mut *reader,
                        pricing,
                        tally: &mut tally,
                    })?;
                    listed = Some(tally);
                }
                "counts" if listed.is_some() && declared.is_none() => {
                    declared = Some(map.next_value::<Counts>()?);
                }
                "cost" if declared.is_some() && declared_cost.is_none() => {
                    declared_cost = Some(map.next_value::<Cost>()?);
                }
                // Derived from the header and the campaigns: readers work it out again.
                "unsafe" if declared.is_some() => {
                    map.next_value::<Vec<super::super::safety::Breach>>()?;
                }
                "header" | "campaigns" | "counts" | "cost" | "unsafe" => {
                    let detail = format!("`{key}` is out of place or repeated");
                    return Err(reader.fail(plan(not_a_plan(detail))));
                }
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &[
                            "format_version",
                            "header",
                            "campaigns",
                            "counts",
                            "cost",
                            "unsafe",
                        ],
                    ));
                }
            }
        }
        let (Some((listed, listed_cost)), Some(declared)) = (listed, declared) else {
            return Err(reader.fail(plan(damaged("it ends before its totals"))));
        };
        if listed != declared || listed_cost != declared_cost {
            return Err(reader.fail(plan(damaged(
                "its totals differ from the sum of its campaigns",
            ))));
        }
        reader.feed(|s| s.end(&declared, declared_cost.as_ref()))
    }
}

fn plan(error: PlanFileError) -> StreamError {
    StreamError::Plan(error)
}

/// The total cost a priced plan's campaigns add up to, starting from nothing.
fn priced(pricing: &Pricing) -> Cost {
    Cost::zero(&pricing.currency)
}

/// The `campaigns` array; adds each campaign's counts (and, in a priced plan, cost) to
/// `tally`.
struct CampaignsSeed<'r, 'a> {
    reader: &'r mut Reading<'a>,
    pricing: Option<&'r Pricing>,
    tally: &'r mut (Counts, Option<Cost>),
}

impl<'de> DeserializeSeed<'de> for CampaignsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CampaignsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of campaigns")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((counts, cost)) = seq.next_element_seed(CampaignSeed {
            reader: &mut *self.reader,
            pricing: self.pricing,
        })? {
            self.tally.0.merge(&counts);
            if let (Some(total), Some(cost)) = (self.tally.1.as_mut(), cost) {
                total.add(&cost);
            }
        }
        Ok(())
    }
}

/// One campaign: `{"campaign":{...},"actions":[...],"counts":{...},"cost":{...}}`; its value
/// is its counts and cost.
struct CampaignSeed<'r, 'a> {
    reader: &'r mut Reading<'a>,
    pricing: Option<&'r Pricing>,
}

impl<'de> DeserializeSeed<'de> for CampaignSeed<'_, '_> {
    type Value = (Counts, Option<Cost>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CampaignSeed<'_, '_> {
    type Value = (Counts, Option<Cost>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a campaign with its actions and counts")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let reader = self.reader;
        let mut campaign: Option<Campaign> = None;
        let mut listed = None;
        let mut declared = None;
        let mut cost = None;
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), &campaign) {
                ("campaign", None) => {
                    let c: Campaign = map.next_value()?;
                    reader.feed(|s| s.campaign(&c))?;
                    campaign = Some(c);
                }
                ("actions", Some(c)) if listed.is_none() => {
                    let mut tally = Counts::default();
                    map.next_value_seed(ActionsSeed {
                        reader: &mut *reader,
                        campaign: c,
                        tally: &mut tally,
                    })?;
                    listed = Some(tally);
                }
                ("counts", Some(_)) if listed.is_some() && declared.is_none() => {
                    declared = Some(map.next_value::<Counts>()?);
                }
                ("cost", Some(_)) if declared.is_some() && cost.is_none() => {
                    cost = Some(map.next_value::<Cost>()?);
                }
                ("campaign" | "actions" | "counts" | "cost", _) => {
                    let detail = format!("a campaign's `{key}` is out of place or repeated");
                    return Err(reader.fail(plan(not_a_plan(detail))));
                }
                (other, _) => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["campaign", "actions", "counts", "cost"],
                    ));
                }
            }
        }
        let (Some(campaign), Some(mut listed), Some(declared)) = (campaign, listed, declared)
        else {
            return Err(reader.fail(plan(damaged("a campaign ends before its counts"))));
        };
        // Unchanged deliveries are counted, never listed.
        listed.unchanged = declared.unchanged;
        if listed != declared {
            let detail = format!(
                "campaign {}'s counts differ from the actions it lists ({} of them send, its counts say {})",
                campaign.name, listed.requests, declared.requests
            );
            return Err(reader.fail(plan(damaged(detail))));
        }
        if let Some(detail) = cost::misfit(self.pricing, &campaign, &declared, cost.as_ref()) {
            return Err(reader.fail(plan(damaged(detail))));
        }
        reader.feed(|s| s.end_campaign(&declared, cost.as_ref()))?;
        Ok((declared, cost))
    }
}

/// A campaign's `actions` array; counts them into `tally`.
struct ActionsSeed<'r, 'a> {
    reader: &'r mut Reading<'a>,
    campaign: &'r Campaign,
    tally: &'r mut Counts,
}

impl<'de> DeserializeSeed<'de> for ActionsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ActionsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of actions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(action) = seq.next_element::<Action>()? {
            let claim = if action.sends && !may_send(self.campaign, action.action) {
                Some("sends")
            } else if action.window_opens.is_some() && action.action != ActionKind::Waiting {
                Some("waits for its window")
            } else if action.wave_opens.is_some() && action.action != ActionKind::Waiting {
                Some("waits for the messaging limit's next wave")
            } else if action.capped_until.is_some() != (action.action == ActionKind::Capped) {
                Some("is capped, or not, against its kind")
            } else {
                None
            };
            if let Some(claim) = claim {
                let detail = format!(
                    "campaign {}: a `{}` action for {} says it {claim}",
                    self.campaign.name,
                    action.action.as_str(),
                    action.recipient
                );
                return Err(self.reader.fail(plan(damaged(detail))));
            }
            self.tally.add(action.action, action.sends);
            self.tally.add_reconciled(&action);
            if let Some(opens) = action.window_opens {
                self.tally.add_window(opens);
            }
            self.tally.add_pacing(&action);
            self.reader.feed(|s| s.take_action(action))?;
        }
        Ok(())
    }
}

/// Whether an action of this kind may send (`plan::engine::classify` decides which do).
fn may_send(campaign: &Campaign, kind: ActionKind) -> bool {
    let by_kind = match kind {
        ActionKind::Send | ActionKind::Retry => true,
        ActionKind::Changed => campaign.on_change == OnChange::Resend,
        ActionKind::Unknown | ActionKind::Waiting | ActionKind::Capped | ActionKind::Unchanged => {
            false
        }
    };
    by_kind && campaign.due
}

/// A reader that hashes what passes through it.
pub(super) struct Hashing<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Hashing<R> {
    pub(super) fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Hasher::new(),
        }
    }

    pub(super) fn finish(self) -> Fingerprint {
        self.hasher.finish()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
