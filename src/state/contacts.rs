//! [`Attempts`]: history rows turned into the messages that reached a recipient or may have,
//! for [`super::Store::contacts_since`]. Shared by both backends, which only read the rows.
//!
//! `deliveries` keeps each delivery's latest attempt, which is not enough to count messages:
//! a changed message resent, an unknown one resent with `--resend-unknown`, or a resend that
//! failed after the first arrived, each hide an earlier message. History keeps every attempt:
//! apply records `in_flight` before it sends and the outcome after; settling an unknown
//! attempt (reconciling, `state mark-sent|forget`, a crashed apply's `in_flight`) records a
//! later row of the same attempt. So, per delivery and in order, an attempt starts at an
//! `in_flight` row (at the time it was sent) and ends with the last row before the next; it
//! counts unless that row says `failed`. A row with no attempt open (its `in_flight` lies
//! before the rows read, or state was written without one) starts an attempt of its own at
//! its time, which counts the message no earlier than it went.

use jiff::Timestamp;

use super::{Contact, Outcome};

/// One history row, as [`Attempts::row`] takes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    pub(super) campaign: &'a str,
    pub(super) occurrence: &'a str,
    pub(super) recipient: &'a str,
    pub(super) outcome: Outcome,
    pub(super) at: Timestamp,
    /// The request, for a broadcast's row (`*`): its body names the recipients.
    pub(super) request: Option<&'a str>,
}

/// History rows, fed in (campaign, occurrence, recipient, seq) order, grouped into attempts;
/// each attempt that may have reached its recipients is visited as contacts.
pub(super) struct Attempts<'v> {
    visit: &'v mut dyn FnMut(Contact<'_>),
    open: Option<Open>,
}

/// The attempt being read.
struct Open {
    campaign: String,
    occurrence: String,
    recipient: String,
    at: Timestamp,
    outcome: Outcome,
    request: Option<String>,
}

impl<'v> Attempts<'v> {
    pub(super) fn new(visit: &'v mut dyn FnMut(Contact<'_>)) -> Attempts<'v> {
        Attempts { visit, open: None }
    }

    /// Takes the next row.
    pub(super) fn row(&mut self, row: Row<'_>) {
        let same = self.open.as_ref().is_some_and(|o| {
            o.recipient == row.recipient
                && o.occurrence == row.occurrence
                && o.campaign == row.campaign
        });
        if same && row.outcome != Outcome::InFlight {
            if let Some(open) = &mut self.open {
                open.outcome = row.outcome;
                if let Some(request) = row.request {
                    open.request = Some(request.to_owned());
                }
            }
            return;
        }
        self.close();
        if row.outcome != Outcome::Failed {
            self.open = Some(Open {
                campaign: row.campaign.to_owned(),
                occurrence: row.occurrence.to_owned(),
                recipient: row.recipient.to_owned(),
                at: row.at,
                outcome: row.outcome,
                request: row.request.map(str::to_owned),
            });
        }
    }

    /// Visits the last attempt.
    pub(super) fn finish(mut self) {
        self.close();
    }

    fn close(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if open.outcome == Outcome::Failed {
            return;
        }
        if open.recipient != super::WHOLE_CAMPAIGN {
            (self.visit)(Contact {
                campaign: &open.campaign,
                recipient: &open.recipient,
                at: open.at,
            });
            return;
        }
        let Some((phones, published)) = open.request.as_deref().and_then(broadcast_audience) else {
            return;
        };
        // A broadcast reaches its audience when Engati publishes it.
        let at = published.map_or(open.at, |p| p.max(open.at));
        for phone in &phones {
            (self.visit)(Contact {
                campaign: &open.campaign,
                recipient: phone,
                at,
            });
        }
    }
}

/// The phones a template broadcast's request names (`users[].phoneNumber`) and its
/// `publishedOn`; `None` for a request that is not one (a text broadcast names channel users,
/// and is no business-initiated message).
fn broadcast_audience(request: &str) -> Option<(Vec<String>, Option<Timestamp>)> {
    let request: crate::engati::Request = serde_json::from_str(request).ok()?;
    let body: serde_json::Value = serde_json::from_str(request.body.as_ref()?.get()).ok()?;
    let users = body.get("users")?.as_array()?;
    let phones = users
        .iter()
        .filter_map(|u| u.get("phoneNumber")?.as_str().map(str::to_owned))
        .collect();
    let published = body
        .get("publishedOn")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| t.parse().ok());
    Some((phones, published))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    /// Feeds `rows` of one delivery (outcome, minute) and returns the minutes counted.
    fn counted(rows: &[(Outcome, i64)]) -> Vec<i64> {
        let mut seen = Vec::new();
        let mut visit = |c: Contact<'_>| seen.push((c.at.as_second() - 1_800_000_000) / 60);
        let mut attempts = Attempts::new(&mut visit);
        for (outcome, minute) in rows {
            attempts.row(Row {
                campaign: "offer",
                occurrence: "",
                recipient: "+919019486731",
                outcome: *outcome,
                at: at(*minute),
                request: None,
            });
        }
        attempts.finish();
        seen
    }

    #[test]
    fn every_attempt_that_may_have_arrived_counts_once_at_its_time() {
        use Outcome::{Failed, InFlight, Sent, Unknown};
        assert_eq!(counted(&[(InFlight, 0), (Sent, 1)]), [0]);
        // A changed message resent: two messages.
        assert_eq!(
            counted(&[(InFlight, 0), (Sent, 1), (InFlight, 60), (Sent, 61)]),
            [0, 60]
        );
        // A resend that failed leaves the first message counted.
        assert_eq!(
            counted(&[(InFlight, 0), (Sent, 1), (InFlight, 60), (Failed, 61)]),
            [0]
        );
        // Unknown, then settled: sent counts once, forgotten (failed) not at all.
        assert_eq!(counted(&[(InFlight, 0), (Unknown, 1), (Sent, 90)]), [0]);
        assert_eq!(
            counted(&[(InFlight, 0), (Unknown, 1), (Failed, 90)]),
            Vec::<i64>::new()
        );
        // Unknown, then resent with --resend-unknown: both may have arrived.
        assert_eq!(
            counted(&[(InFlight, 0), (Unknown, 1), (InFlight, 5), (Sent, 6)]),
            [0, 5]
        );
        // A crash: in flight, settled unknown later.
        assert_eq!(counted(&[(InFlight, 0), (Unknown, 30)]), [0]);
        // An outcome whose in_flight row was not read counts at its own time.
        assert_eq!(counted(&[(Sent, 3)]), [3]);
        assert_eq!(counted(&[(Failed, 3)]), Vec::<i64>::new());
    }
}
