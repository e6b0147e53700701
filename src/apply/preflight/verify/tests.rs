//! The rule by which apply takes a plan's reconcile verdicts: each verdict that acts must be
//! what the histories show now; one that cannot be checked now is withheld; any other change
//! refuses the plan.

use super::decisions_hold;
use crate::apply::preflight::Refusal;
use crate::reconcile::{Decision, Decisions, Verdict};
use crate::state::{Round, RoundKey};

fn welcome() -> RoundKey {
    Round::one_off("welcome").into()
}

fn decisions(verdicts: &[(&str, Verdict)]) -> Decisions {
    let mut all = Decisions::new();
    for (recipient, verdict) in verdicts {
        all.entry(welcome()).or_default().insert(
            (*recipient).to_owned(),
            Decision {
                verdict: *verdict,
                why: format!("{} {recipient}", verdict.as_str()),
            },
        );
    }
    all
}

#[test]
fn verdicts_the_histories_still_show_hold() {
    use Verdict::*;
    let planned = decisions(&[("+1", Delivered), ("+2", NotDelivered), ("+3", Pending)]);
    let now = decisions(&[("+1", Delivered), ("+2", NotDelivered), ("+3", Pending)]);
    assert!(decisions_hold(&planned, &now).is_ok_and(|w| w.is_empty()));
}

#[test]
fn verdicts_that_act_on_nothing_are_taken_as_planned() {
    use Verdict::*;
    let planned = decisions(&[("+1", Pending), ("+2", Unknowable), ("+3", Unchecked)]);
    let now = decisions(&[("+1", NotDelivered), ("+2", Unchecked)]);
    assert!(decisions_hold(&planned, &now).is_ok_and(|w| w.is_empty()));
}

#[test]
fn acting_verdicts_that_cannot_be_read_now_are_withheld() {
    use Verdict::*;
    let planned = decisions(&[("+1", Delivered), ("+2", NotDelivered), ("+3", Delivered)]);
    let now = decisions(&[("+1", Unchecked), ("+2", Unchecked), ("+3", Delivered)]);
    let withheld = decisions_hold(&planned, &now).unwrap();
    let names: Vec<_> = withheld[&welcome()].keys().map(String::as_str).collect();
    assert_eq!(names, ["+1", "+2"]);
    assert_eq!(
        withheld[&welcome()]["+1"].why,
        "unchecked +1",
        "the reason of now"
    );
}

#[test]
fn acting_verdicts_the_histories_contradict_refuse_the_plan() {
    use Verdict::*;
    for (planned, now) in [
        (Delivered, Some(NotDelivered)),
        (Delivered, Some(Pending)),
        (NotDelivered, Some(Delivered)),
        (NotDelivered, Some(Pending)),
        (NotDelivered, Some(Unknowable)),
        // Not unknown any more: nothing to decide.
        (Delivered, None),
    ] {
        let now = now.map_or_else(Decisions::new, |v| decisions(&[("+1", v)]));
        let refused = decisions_hold(&decisions(&[("+1", planned)]), &now);
        assert!(
            matches!(
                &refused,
                Err(Refusal::HistoriesMoved { campaign: Some(c), recipient })
                    if c == "welcome" && recipient == "+1"
            ),
            "{planned:?} then {now:?}"
        );
    }
}
