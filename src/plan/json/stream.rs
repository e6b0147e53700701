//! Reading a plan document back as a stream: [`stream`] parses the JSON view of a plan (`herald
//! plan --format json`, `herald show --format json`) from any reader and feeds a [`Sink`] one
//! action at a time, each checked by [`Checker`] first, so a million-recipient document is
//! never held in memory and a truncated or edited one is refused at the item that gives it
//! away.

use std::fmt;
use std::io::{self, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::super::check::Checker;
use super::super::cost::Cost;
pub use super::super::file::error::{PlanFileError, StreamError, cannot_read};
use super::super::file::error::{damaged, not_a_plan};
use super::super::{Action, Campaign, Counts, FORMAT_VERSION, Header, Sink};

/// Parses a plan document from `input`, feeding `sink` as it goes.
pub fn stream(input: impl Read, sink: &mut dyn Sink) -> Result<(), StreamError> {
    let mut reader = Reading {
        sink,
        checker: Checker::new(),
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

/// The sink being fed, the checker every item passes first, and the first failure that is
/// not a JSON syntax error (serde only carries strings, so the failure itself waits here).
struct Reading<'a> {
    sink: &'a mut dyn Sink,
    checker: Checker,
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

    /// Runs one of the checker's checks, stopping serde when it fails.
    fn check<E: de::Error>(
        &mut self,
        check: impl FnOnce(&mut Checker) -> Result<(), PlanFileError>,
    ) -> Result<(), E> {
        check(&mut self.checker).map_err(|e| self.fail(StreamError::Plan(e)))
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
            _ => {
                let detail = not_a_plan("it does not start with format_version");
                return Err(reader.fail(StreamError::Plan(detail)));
            }
        }
        let version: u32 = map.next_value()?;
        if version != FORMAT_VERSION {
            return Err(reader.fail(StreamError::Plan(PlanFileError {
                message: format!(
                    "plan format version {version}; this herald reads version {FORMAT_VERSION}"
                ),
                help: "make the plan again with this herald".to_owned(),
            })));
        }
        let (mut header, mut campaigns, mut counts, mut cost) = (false, false, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "header" if !header => {
                    let value: Header = map.next_value()?;
                    reader.check(|c| c.header(&value))?;
                    reader.feed(|s| s.begin(&value))?;
                    header = true;
                }
                "campaigns" if header && !campaigns => {
                    map.next_value_seed(CampaignsSeed {
                        reader: &mut *reader,
                    })?;
                    campaigns = true;
                }
                "counts" if campaigns && counts.is_none() => {
                    counts = Some(map.next_value::<Counts>()?);
                }
                "cost" if counts.is_some() && cost.is_none() => {
                    cost = Some(map.next_value::<Cost>()?);
                }
                // Derived from the header and the campaigns: readers work it out again.
                "unsafe" if counts.is_some() => {
                    map.next_value::<Vec<super::super::safety::Breach>>()?;
                }
                "header" | "campaigns" | "counts" | "cost" | "unsafe" => {
                    let detail = not_a_plan(format!("`{key}` is out of place or repeated"));
                    return Err(reader.fail(StreamError::Plan(detail)));
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
        let Some(counts) = counts else {
            let detail = damaged("it ends before its totals");
            return Err(reader.fail(StreamError::Plan(detail)));
        };
        reader.check(|c| c.end(&counts, cost.as_ref()))?;
        reader.feed(|s| s.end(&counts, cost.as_ref()))
    }
}

/// The `campaigns` array.
struct CampaignsSeed<'r, 'a> {
    reader: &'r mut Reading<'a>,
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
        while seq
            .next_element_seed(CampaignSeed {
                reader: &mut *self.reader,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One campaign: `{"campaign":{...},"actions":[...],"counts":{...},"cost":{...}}`.
struct CampaignSeed<'r, 'a> {
    reader: &'r mut Reading<'a>,
}

impl<'de> DeserializeSeed<'de> for CampaignSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CampaignSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a campaign with its actions and counts")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let reader = self.reader;
        let (mut campaign, mut actions, mut counts, mut cost) = (false, false, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "campaign" if !campaign => {
                    let value: Campaign = map.next_value()?;
                    reader.check(|c| c.campaign(&value))?;
                    reader.feed(|s| s.campaign(&value))?;
                    campaign = true;
                }
                "actions" if campaign && !actions => {
                    map.next_value_seed(ActionsSeed {
                        reader: &mut *reader,
                    })?;
                    actions = true;
                }
                "counts" if actions && counts.is_none() => {
                    counts = Some(map.next_value::<Counts>()?);
                }
                "cost" if counts.is_some() && cost.is_none() => {
                    cost = Some(map.next_value::<Cost>()?);
                }
                "campaign" | "actions" | "counts" | "cost" => {
                    let detail = format!("a campaign's `{key}` is out of place or repeated");
                    return Err(reader.fail(StreamError::Plan(not_a_plan(detail))));
                }
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["campaign", "actions", "counts", "cost"],
                    ));
                }
            }
        }
        let Some(counts) = counts else {
            let detail = damaged("a campaign ends before its counts");
            return Err(reader.fail(StreamError::Plan(detail)));
        };
        reader.check(|c| c.end_campaign(&counts, cost.as_ref()))?;
        reader.feed(|s| s.end_campaign(&counts, cost.as_ref()))
    }
}

/// A campaign's `actions` array.
struct ActionsSeed<'r, 'a> {
    reader: &'r mut Reading<'a>,
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
            self.reader.check(|c| c.action(&action))?;
            self.reader.feed(|s| s.take_action(action))?;
        }
        Ok(())
    }
}
