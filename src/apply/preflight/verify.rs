//! Proving a plan file is the plan: the project is planned again, as of the plan's time and
//! against the same state, and every item made is compared with the file's as it is made.
//! Every request, fingerprint, path and recipient is covered at once, whatever was edited and
//! however carefully (a fingerprint recomputed, a path moved to another customer).
//!
//! Plans are deterministic (same files, time and state give the same plan), so any difference
//! is an edit or a different input. What is made is written, as it is compared, to herald's
//! own temporary plan file, and that copy is what apply sends: a file changed on disk after
//! the check cannot reach the API.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom};

use super::Refusal;
use crate::plan::cost::Cost;
use crate::plan::engine::{self, Input};
use crate::plan::file::{self, Event, Reader};
use crate::plan::{Action, Campaign, Counts, Header, Sink, Tee};
use crate::reconcile::{self, Decisions, Verdict};
use crate::render::UsersSource;
use crate::state::RoundKey;
use crate::state::Store;

/// Makes the plan again, comparing it item by item with `plan` (the file, from its start; its
/// header says `version` made it), into an anonymous temporary plan file (gone when closed; it
/// holds phones and messages), returned at its start. `lineage` is the plan's, already checked
/// to be this state's (or `None` for a plan made before the state existed, which is still
/// empty).
pub(super) fn made_again(
    input: &Input<'_>,
    users: &mut dyn UsersSource,
    state: &dyn Store,
    lineage: Option<&str>,
    plan: &File,
    version: &str,
) -> Result<File, Refusal> {
    let mut plan = plan;
    plan.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
    let mut compare = Compare {
        file: Reader::open(plan).map_err(unreadable)?,
        version,
        lines: Lines::default(),
        campaign: None,
        refusal: None,
    };
    let copy = tempfile::tempfile().map_err(Refusal::io)?;
    let mut writer = file::Writer::new(BufWriter::new(copy.try_clone().map_err(Refusal::io)?))
        .map_err(Refusal::io)?;
    let made = {
        let mut both = Tee(vec![&mut compare, &mut writer]);
        let mut as_planned = AsPlanned {
            inner: &mut both,
            lineage,
        };
        engine::run(input, users, state, &mut as_planned)
    };
    if let Some(refusal) = compare.refusal.take() {
        return Err(refusal);
    }
    made?;
    // The file must end where the plan made again does.
    if let Some(extra) = compare.file.next_event().map_err(unreadable)? {
        let line = compare.lines.after(&extra);
        return Err(compare.tampered(line, extra_recipient(&extra)));
    }
    let mut copy = copy;
    drop(
        writer
            .into_inner()
            .ok_or_else(|| {
                Refusal::Io("cannot keep a copy of the plan: it was not finished".into())
            })?
            .into_inner()
            .map_err(|e| Refusal::io(e.into_error()))?,
    );
    copy.seek(SeekFrom::Start(0)).map_err(Refusal::io)?;
    Ok(copy)
}

fn unreadable(e: file::PlanFileError) -> Refusal {
    Refusal::Unreadable {
        message: e.message,
        help: e.help,
    }
}

fn extra_recipient(event: &Event) -> Option<String> {
    match event {
        Event::Action(action) => Some(action.recipient.clone()),
        _ => None,
    }
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

/// Compares each item made with the plan file's next one; the first difference is kept as
/// the refusal and stops the planning.
struct Compare<'v, R: Read> {
    file: Reader<R>,
    version: &'v str,
    lines: Lines,
    /// The campaign being compared.
    campaign: Option<String>,
    refusal: Option<Refusal>,
}

impl<R: Read> Compare<'_, R> {
    /// Compares `ours` with the file's next item.
    fn next(&mut self, ours: Event) -> io::Result<()> {
        if let Event::Campaign(c) = &ours {
            self.campaign = Some(c.name.clone());
        }
        let line = self.lines.after(&ours);
        let theirs = match self.file.next_event() {
            Ok(theirs) => theirs,
            Err(e) => return self.stop(unreadable(e)),
        };
        if theirs.as_ref() == Some(&ours) {
            if let Event::EndCampaign(..) = ours {
                self.campaign = None;
            }
            return Ok(());
        }
        let refusal = match (&ours, &theirs) {
            (Event::Begin(_), Some(Event::Begin(h)))
                if h.herald_version != env!("CARGO_PKG_VERSION") =>
            {
                Refusal::OtherVersion {
                    planned: h.herald_version.clone(),
                }
            }
            (_, None) if self.version != env!("CARGO_PKG_VERSION") => Refusal::OtherVersion {
                planned: self.version.to_owned(),
            },
            // A verdict that changed since the plan (a message showed up in a history) is no
            // edit: say so.
            (Event::Action(a), Some(Event::Action(b)))
                if a.recipient == b.recipient
                    && a.request == b.request
                    && a.reconciled != b.reconciled =>
            {
                Refusal::HistoriesMoved {
                    campaign: self.campaign.clone(),
                    recipient: a.recipient.clone(),
                }
            }
            (Event::Action(a), _) => self.tampered(line, Some(a.recipient.clone())),
            _ => self.tampered(line, None),
        };
        self.stop(refusal)
    }

    fn tampered(&self, line: u64, recipient: Option<String>) -> Refusal {
        Refusal::Tampered {
            campaign: self.campaign.clone(),
            recipient,
            line,
        }
    }

    fn stop(&mut self, refusal: Refusal) -> io::Result<()> {
        self.refusal = Some(refusal);
        Err(io::Error::other("the plan file is not the plan"))
    }
}

impl<R: Read> Sink for Compare<'_, R> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.next(Event::Begin(header.clone()))
    }
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.next(Event::Campaign(campaign.clone()))
    }
    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.next(Event::Action(action.clone()))
    }
    fn end_campaign(&mut self, counts: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.next(Event::EndCampaign(*counts, cost.cloned()))
    }
    fn end(&mut self, totals: &Counts, cost: Option<&Cost>) -> io::Result<()> {
        self.next(Event::End(*totals, cost.cloned()))
    }
}

/// The line of the plan's JSON view (`herald show FILE --format json`) each item starts on:
/// how a refusal points at it. The view has the format version on line 1, the header on
/// line 2, each campaign and each action on a line of its own, and a campaign's counts on a
/// line after its actions.
#[derive(Default)]
struct Lines {
    line: u64,
    campaigns: u64,
    actions: u64,
}

impl Lines {
    /// The line `event` starts on, given every item before it was counted.
    fn after(&mut self, event: &Event) -> u64 {
        match event {
            Event::Begin(_) => self.line = 2,
            Event::Campaign(_) => {
                self.line += if self.campaigns == 0 { 2 } else { 1 };
                self.campaigns += 1;
                self.actions = 0;
            }
            Event::Action(_) => {
                self.line += 1;
                self.actions += 1;
            }
            Event::EndCampaign(..) if self.actions > 0 => self.line += 1,
            Event::EndCampaign(..) => {}
            Event::End(..) => self.line += 2,
        }
        self.line
    }
}

/// The reconcile verdicts a plan file holds, by campaign and recipient.
pub(super) fn decisions_in(file: impl Read) -> Result<Decisions, Refusal> {
    let mut found = Collect::default();
    file::stream(file, &mut found).map_err(|e| match e {
        file::StreamError::Plan(e) => unreadable(e),
        file::StreamError::Sink(e) => Refusal::io(e),
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
