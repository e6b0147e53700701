//! [`classify`]: the rule that decides what a plan does with one delivery, from what state
//! holds, whether the campaign is due and whether the recipient's send window is open. Pure,
//! so its table is tested here case by case.

use crate::fingerprint::Fingerprint;
use crate::model::OnChange;
use crate::state::{Outcome, Recorded};

use super::ActionKind;

/// The action for one delivery, and whether apply sends it.
///
/// | state holds                          | `due` and `in_window` | otherwise   |
/// |--------------------------------------|-----------------------|-------------|
/// | nothing                              | `send`, sends         | `waiting`   |
/// | `failed`                             | `retry`, sends        | `waiting`   |
/// | `sent`, same fingerprint             | `unchanged`           | `unchanged` |
/// | `sent`, other fingerprint, `keep`    | `changed`             | `changed`   |
/// | `sent`, other fingerprint, `resend`  | `changed`, sends      | `waiting`   |
/// | `unknown` or `in_flight`             | `unknown`             | `unknown`   |
///
/// `due`: the campaign may go out at the plan's time (its `schedule.at` has come, or it is a
/// broadcast). `in_window`: the recipient's send window is open at that time in their zone
/// (always, for a campaign that keeps no window). Only what would be sent waits; what would
/// not be sent anyway keeps its own kind. An unknown delivery reconciling found never arrived
/// comes here as `failed` (see `plan_campaign`).
pub fn classify(
    recorded: Option<&Recorded>,
    fingerprint: &Fingerprint,
    due: bool,
    in_window: bool,
    on_change: OnChange,
) -> (ActionKind, bool) {
    let (kind, sends) = match recorded {
        None => (ActionKind::Send, true),
        Some(r) => match r.outcome {
            Outcome::Sent if r.fingerprint == *fingerprint => (ActionKind::Unchanged, false),
            Outcome::Sent => (ActionKind::Changed, on_change == OnChange::Resend),
            Outcome::Failed => (ActionKind::Retry, true),
            Outcome::Unknown | Outcome::InFlight => (ActionKind::Unknown, false),
        },
    };
    if sends && !(due && in_window) {
        (ActionKind::Waiting, false)
    } else {
        (kind, sends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// State, `on_change`, and the verdicts due and in the window, due outside it, not due.
    type Row<'r> = (Option<&'r Recorded>, OnChange, [(ActionKind, bool); 3]);

    fn recorded(outcome: Outcome, fingerprint: Fingerprint) -> Recorded {
        Recorded {
            outcome,
            fingerprint,
        }
    }

    #[test]
    fn the_table_row_by_row() {
        let now = Fingerprint::of(b"now");
        let before = Fingerprint::of(b"before");
        let keep = OnChange::Keep;
        let resend = OnChange::Resend;
        let sent_same = recorded(Outcome::Sent, now);
        let sent_other = recorded(Outcome::Sent, before);
        let failed = recorded(Outcome::Failed, now);
        let unknown = recorded(Outcome::Unknown, now);
        let in_flight = recorded(Outcome::InFlight, now);
        // (state, on_change) -> (due and in window, due outside the window, not due).
        let rows: [Row<'_>; 7] = [
            (
                None,
                keep,
                [
                    (ActionKind::Send, true),
                    (ActionKind::Waiting, false),
                    (ActionKind::Waiting, false),
                ],
            ),
            (
                Some(&failed),
                keep,
                [
                    (ActionKind::Retry, true),
                    (ActionKind::Waiting, false),
                    (ActionKind::Waiting, false),
                ],
            ),
            (
                Some(&sent_same),
                resend,
                [(ActionKind::Unchanged, false); 3],
            ),
            (Some(&sent_other), keep, [(ActionKind::Changed, false); 3]),
            (
                Some(&sent_other),
                resend,
                [
                    (ActionKind::Changed, true),
                    (ActionKind::Waiting, false),
                    (ActionKind::Waiting, false),
                ],
            ),
            (Some(&unknown), keep, [(ActionKind::Unknown, false); 3]),
            (Some(&in_flight), resend, [(ActionKind::Unknown, false); 3]),
        ];
        for (state, on_change, [open, outside, not_due]) in rows {
            let cases = [
                (true, true, open),
                (true, false, outside),
                (false, true, not_due),
                (false, false, not_due),
            ];
            for (due, in_window, want) in cases {
                let got = classify(state, &now, due, in_window, on_change);
                assert_eq!(got, want, "{state:?} due {due} in window {in_window}");
            }
        }
    }
}
