//! The words for the safety rails in a plan's views: what a campaign's suppression, rename
//! and lateness mean, and each cap a plan breaks.

use super::describe::clean;
use crate::plan::safety::Breach;
use crate::plan::{Campaign, Summary};

/// What to do about an unsafe plan.
pub(super) const UNSAFE_HELP: &str = "apply refuses this plan unless given --force: check the \
     audiences and the changes first; raise the cap in the file named if the plan is right";

/// Lines about a campaign's rails, for under its heading.
pub(super) fn notes(campaign: &Campaign) -> Vec<String> {
    let mut notes = Vec::new();
    if !campaign.previously.is_empty() {
        let names: Vec<String> = campaign.previously.iter().map(|n| clean(n)).collect();
        notes.push(format!(
            "renamed from {}: what was sent under that name counts as sent",
            names.join(", ")
        ));
    }
    match campaign.suppression {
        Some(s) if s.opted_out => {
            notes.push("suppress: false — the project's suppress list is not applied".to_owned());
        }
        Some(s) if s.suppressed > 0 => notes.push(format!(
            "{} left out by the project's suppress list",
            crate::words::count(s.suppressed, "recipient")
        )),
        Some(_) | None => {}
    }
    if campaign
        .late
        .is_some_and(|l| l.then == crate::model::Late::Skip)
    {
        notes.push("its time has passed: nothing is sent or recorded".to_owned());
    }
    notes
}

/// Whether a campaign's rails deserve its own section even when nothing of it is listed: a
/// rename or a skipped late campaign is what a reviewer must see, where a suppression count
/// (in nearly every campaign) is not.
pub(super) fn noteworthy(campaign: &Campaign) -> bool {
    !campaign.previously.is_empty()
        || campaign
            .late
            .is_some_and(|l| l.then == crate::model::Late::Skip)
}

/// One broken cap, as a sentence.
pub(super) fn breach(breach: &Breach) -> String {
    clean(&breach.to_string())
}

/// `Unsafe plan: it breaks 2 safety caps.`, when it breaks any.
pub(super) fn heading(summary: &Summary) -> Option<(String, Vec<String>)> {
    let breaches = summary.breaches();
    if breaches.is_empty() {
        return None;
    }
    let heading = format!(
        "Unsafe plan: it breaks {}.",
        crate::words::count(breaches.len(), "safety cap")
    );
    Some((heading, breaches.iter().map(breach).collect()))
}
