//! Late one-off campaigns: a `schedule.at` typed a year early, or a pipeline that did not run
//! for a day, would otherwise send "Sale starts tomorrow" to everyone at once. [`judge`] is
//! the rule; [`check`] applies it to a project for `herald validate`, and plan applies it per
//! campaign with the state it reads.

use jiff::{SignedDuration, Timestamp};

use super::{Catalog, Item};
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::load::SourceFile;
use crate::model::{Campaign, Late};

/// What a one-off campaign does at the plan's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    /// Not late: plan as usual.
    OnTime,
    /// Late and nobody said what to do: an error.
    Late(SignedDuration),
    /// Late, and `late: send`: sent as if on time.
    SendLate(SignedDuration),
    /// Late, and `late: skip`: nothing is sent or recorded.
    Skip(SignedDuration),
}

/// Whether a campaign is late, and what that means.
///
/// | `schedule.at`                | anything sent | `late:` | result         |
/// |------------------------------|---------------|---------|----------------|
/// | `now`, none, or not yet      | -             | -       | `OnTime`       |
/// | passed, by ≤ `late_after`    | -             | -       | `OnTime`       |
/// | passed, by > `late_after`    | yes           | -       | `OnTime` (it went out; later recipients join it) |
/// | passed, by > `late_after`    | no            | none    | `Late`         |
/// | passed, by > `late_after`    | no            | `send`  | `SendLate`     |
/// | passed, by > `late_after`    | no            | `skip`  | `Skip`         |
///
/// "Sent" is any delivery recorded other than a failure (an unknown outcome may have
/// arrived), under the campaign's name or one of its `previously` names.
pub fn judge(
    at: Option<Timestamp>,
    now: Timestamp,
    late_after: SignedDuration,
    sent_anything: bool,
    policy: Option<Late>,
) -> Lateness {
    let Some(at) = at else {
        return Lateness::OnTime;
    };
    let by = now.duration_since(at);
    if by <= late_after || sent_anything {
        return Lateness::OnTime;
    }
    match policy {
        None => Lateness::Late(by),
        Some(Late::Send) => Lateness::SendLate(by),
        Some(Late::Skip) => Lateness::Skip(by),
    }
}

/// A campaign's fixed `schedule.at`, when it has one (`now` and no schedule have none).
pub fn scheduled_at(campaign: &Campaign) -> Option<Timestamp> {
    campaign.schedule.as_ref()?.at.as_deref()?.parse().ok()
}

/// The error for a late campaign, at its `schedule.at`.
pub fn problem(
    files: &[SourceFile],
    item: &Item<Campaign>,
    by: SignedDuration,
    late_after: SignedDuration,
) -> Diagnostic {
    item.loc
        .diagnostic(
            files,
            Severity::Error,
            Code::Late,
            "/schedule/at",
            format!(
                "campaign `{}` was due {} ago and nothing of it was sent; sending it now \
                 could message its whole audience at the wrong time",
                item.name,
                crate::words::duration(by)
            ),
        )
        .label(format!(
            "more than safety.late_after ({}) in the past",
            crate::words::duration(late_after)
        ))
        .help(
            "check the date; if it is right, add `late: send` to send it now, or `late: skip` \
             to send nothing",
        )
}

/// What [`check`] knows of state: whether a campaign (under its names) sent anything.
pub enum Sent<'a> {
    /// State was read: the names of campaigns that sent anything.
    Known(&'a dyn Fn(&Item<Campaign>) -> bool),
    /// State could not be read (why, for the warning).
    Unknown(&'a str),
}

/// Late campaigns of a project as of `now`, for `herald validate`: errors when state says
/// nothing was sent, warnings when state could not be read.
pub fn check(
    files: &[SourceFile],
    catalog: &Catalog,
    now: Timestamp,
    sent: &Sent<'_>,
) -> Vec<Diagnostic> {
    let Some(late_after) = catalog
        .settings
        .as_ref()
        .and_then(|s| s.safety.late_after())
    else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for item in catalog.campaigns.values() {
        let campaign = &item.value;
        let at = scheduled_at(campaign);
        match sent {
            Sent::Known(sent) => {
                let lateness = judge(at, now, late_after, sent(item), campaign.late);
                if let Lateness::Late(by) = lateness {
                    problems.push(problem(files, item, by, late_after));
                }
            }
            Sent::Unknown(why) => {
                if let Lateness::Late(by) = judge(at, now, late_after, false, campaign.late) {
                    let mut d = problem(files, item, by, late_after);
                    d.severity = Severity::Warning;
                    d.message = format!(
                        "campaign `{}` was due {} ago; if nothing of it was sent, plan \
                         refuses it (state was not read: {why})",
                        item.name,
                        crate::words::duration(by)
                    );
                    problems.push(d);
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_table_holds() {
        let now = at("2026-12-07T10:00:00Z");
        let hour = SignedDuration::from_hours(1);
        let past = Some(at("2025-12-07T09:00:00Z"));
        let recent = Some(at("2026-12-07T09:30:00Z"));
        let future = Some(at("2026-12-08T09:00:00Z"));
        let year = now.duration_since(at("2025-12-07T09:00:00Z"));
        for (schedule, sent, policy, expected) in [
            (None, false, None, Lateness::OnTime),
            (future, false, None, Lateness::OnTime),
            (recent, false, None, Lateness::OnTime),
            (past, true, None, Lateness::OnTime),
            (past, true, Some(Late::Skip), Lateness::OnTime),
            (past, false, None, Lateness::Late(year)),
            (past, false, Some(Late::Send), Lateness::SendLate(year)),
            (past, false, Some(Late::Skip), Lateness::Skip(year)),
        ] {
            assert_eq!(
                judge(schedule, now, hour, sent, policy),
                expected,
                "{schedule:?} sent={sent} {policy:?}"
            );
        }
    }

    #[test]
    fn exactly_late_after_is_still_on_time() {
        let now = at("2026-12-07T10:00:00Z");
        let hour = SignedDuration::from_hours(1);
        let edge = Some(at("2026-12-07T09:00:00Z"));
        assert_eq!(judge(edge, now, hour, false, None), Lateness::OnTime);
        let past = Some(at("2026-12-07T08:59:59Z"));
        assert!(matches!(
            judge(past, now, hour, false, None),
            Lateness::Late(_)
        ));
    }
}
