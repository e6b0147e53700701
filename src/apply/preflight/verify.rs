//! Proving a plan file is the plan: the project is planned again, as of the plan's time and
//! against the same state, into herald's own temporary file, and the two must be equal byte
//! for byte. Every request, fingerprint, path and recipient is covered at once, whatever was
//! edited and however carefully (a fingerprint recomputed, a path moved to another customer).
//!
//! Plans are deterministic (same files, time and state give the same bytes), so any
//! difference is an edit or a different input. The copy is then what apply sends: a file
//! changed on disk after the check cannot reach the API.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom};

use serde::Deserialize;

use super::Refusal;
use crate::plan::cost::Cost;
use crate::plan::engine::{self, Input};
use crate::plan::{Action, Campaign, Counts, Header, Sink, json};
use crate::reconcile::{self, Decisions, Verdict};
use crate::render::UsersSource;
use crate::state::RoundKey;
use crate::state::Store;

/// Makes the plan again into an anonymous temporary file (gone when closed; it holds phones
/// and messages), returned at its start. `lineage` is the plan's, already checked to be this
/// state's (or `None` for a plan made before the state existed, which is still empty).
pub(super) fn made_again(
    input: &Input<'_>,
    users: &mut dyn UsersSource,
    state: &dyn Store,
    lineage: Option<&str>,
) -> Result<File, Refusal> {
    let file = tempfile::tempfile().map_err(Refusal::io)?;
    let mut writer = json::Writer::new(BufWriter::new(file.try_clone().map_err(Refusal::io)?));
    let mut as_planned = AsPlanned {
        inner: &mut writer,
        lineage,
    };
    engine::run(input, users, state, &mut as_planned)?;
    drop(
        writer
            .into_inner()
            .into_inner()
            .map_err(|e| Refusal::io(e.into_error()))?,
    );
    let mut file = file;
    file.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
    Ok(file)
}

/// The plan made again, with the header's lineage as the plan file has it.
struct AsPlanned<'a> {
    inner: &'a mut dyn Sink,
    lineage: Option<&'a str>,
}

impl Sink for AsPlanned<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        let mut header = header.clone();
        header.state_lineage = self.lineage.map(str::to_owned);
        self.inner.begin(&header)
    }
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.inner.campaign(campaign)
    }
    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.inner.action(action)
    }
    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.inner.end_campaign(counts, cost)
    }
    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.inner.end(totals, cost)
    }
}

/// Checks that `plan` (the file, from its start) holds exactly the bytes of `made`, naming
/// the first line that differs. `version` is the herald the plan file says made it.
pub(super) fn same(mut plan: File, made: &mut File, version: &str) -> Result<(), Refusal> {
    plan.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
    let mut plan = BufReader::new(plan);
    let mut made = BufReader::new(&mut *made);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut campaign: Option<String> = None;
    for line in 1u64.. {
        ours.clear();
        theirs.clear();
        made.read_until(b'\n', &mut ours).map_err(Refusal::io)?;
        // A line of the file is read no longer than ours and one byte: a longer one differs
        // already, and a file of one endless line is never held in memory.
        let cap = ours.len() as u64 + 1;
        (&mut plan)
            .take(cap)
            .read_until(b'\n', &mut theirs)
            .map_err(Refusal::io)?;
        if let Some(name) = campaign_of(&ours) {
            campaign = Some(name);
        }
        if ours != theirs {
            if line <= 2 && version != env!("CARGO_PKG_VERSION") {
                return Err(Refusal::OtherVersion {
                    planned: version.to_owned(),
                });
            }
            let in_campaign = line > 3;
            let campaign = campaign.filter(|_| in_campaign);
            // A verdict that changed since the plan (a message showed up in a history) is
            // no edit: say so.
            if let (Some(a), Some(b)) = (action_of(&ours), action_of(&theirs))
                && a.recipient == b.recipient
                && a.request == b.request
                && a.reconciled != b.reconciled
            {
                return Err(Refusal::HistoriesMoved {
                    campaign,
                    recipient: a.recipient,
                });
            }
            return Err(Refusal::Tampered {
                campaign,
                recipient: action_of(&ours).map(|a| a.recipient),
                line,
            });
        }
        if ours.is_empty() {
            return Ok(());
        }
    }
    Ok(())
}

/// The campaign a plan line starts (`{"campaign":{...},"actions":[`).
fn campaign_of(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"{\"campaign\":")?;
    let mut de = serde_json::Deserializer::from_slice(rest);
    Campaign::deserialize(&mut de).ok().map(|c| c.name)
}

/// The action a plan line holds, if it is one.
fn action_of(line: &[u8]) -> Option<Action> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b",").unwrap_or(line);
    serde_json::from_slice::<Action>(line).ok()
}

/// The reconcile verdicts a plan file holds, by campaign and recipient.
pub(super) fn decisions_in(file: impl Read) -> Result<Decisions, Refusal> {
    let mut found = Collect::default();
    json::stream(file, &mut found).map_err(|e| match e {
        json::StreamError::Plan(e) => Refusal::Unreadable {
            message: e.message,
            help: e.help,
        },
        json::StreamError::Sink(e) => Refusal::io(e),
    })?;
    Ok(found.decisions)
}

/// Checks that every verdict of the plan that acts (`delivered`: recorded as sent;
/// `not_delivered`: sent again) is what the histories show now. Verdicts that act on
/// nothing (pending, unknowable, unchecked) are taken as the plan has them. A verdict the
/// histories now contradict refuses the plan; one they cannot bear out because a read failed
/// just now is returned, withheld: its delivery stays unknown, neither recorded nor sent.
pub(super) fn decisions_hold(planned: &Decisions, now: &Decisions) -> Result<Decisions, Refusal> {
    let mut withheld = Decisions::new();
    for (round, by) in planned {
        for (recipient, decision) in by {
            if !matches!(decision.verdict, Verdict::Delivered | Verdict::NotDelivered) {
                continue;
            }
            match reconcile::lookup(now, round.round(), recipient) {
                Some(seen) if seen.verdict == decision.verdict => {}
                Some(seen) if seen.verdict == Verdict::Unchecked => {
                    withheld
                        .entry(round.clone())
                        .or_default()
                        .insert(recipient.clone(), seen.clone());
                }
                _ => {
                    return Err(Refusal::HistoriesMoved {
                        campaign: Some(round.to_string()),
                        recipient: recipient.clone(),
                    });
                }
            }
        }
    }
    Ok(withheld)
}

/// Collects the verdicts of a plan's actions.
#[derive(Default)]
struct Collect {
    round: RoundKey,
    decisions: Decisions,
}

impl Sink for Collect {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.round = RoundKey {
            campaign: campaign.name.clone(),
            occurrence: campaign.occurrence,
        };
        Ok(())
    }
    fn action(&mut self, action: &Action) -> io::Result<()> {
        if let Some(decision) = &action.reconciled {
            self.decisions
                .entry(self.round.clone())
                .or_default()
                .insert(action.recipient.clone(), decision.clone());
        }
        Ok(())
    }
    fn end_campaign(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        Ok(())
    }
    fn end(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
