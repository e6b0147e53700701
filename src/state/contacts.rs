//! [`Attempts`]: history rows turned into the messages that reached a recipient or may have,
//! for [`super::Store::contacts_since`]. Shared by both backends, which only read the rows.
//!
//! `deliveries` keeps each delivery's latest attempt, which is not enough to count messages:
//! a changed message resent, an unknown one resent with `--resend-unknown`, or a resend that
//! failed after the first arrived, each hide an earlier message. History keeps every attempt:
//! apply records `in_flight` before it sends (at the time it sends) and the outcome after;
//! settling an unknown attempt (reconciling, `state mark-sent|forget`, a crashed apply's
//! `in_flight`) records a later row of the same attempt. An attempt is failed only by a
//! `failed` row, and nothing follows one in its attempt (only unknown attempts are settled).
//! So the messages of a span are its `in_flight` rows, less the attempts a `failed` row closed:
//! those before the delivery's next `in_flight`. Intents withdrawn before sending leave no row.
//!
//! Failed rows are few: they are read first, and only the `in_flight` rows of deliveries with
//! one are held back to be matched; every other is visited as it is read.

use foldhash::HashMap;
use jiff::Timestamp;

use super::sql::BadColumn;
use super::{Contact, WHOLE_CAMPAIGN};

/// One history row: which delivery, and when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    pub(super) campaign: &'a str,
    pub(super) occurrence: &'a str,
    pub(super) recipient: &'a str,
    pub(super) at: Timestamp,
    /// The request, for a broadcast's row (`*`): its body names the recipients.
    pub(super) request: Option<&'a str>,
}

/// Counts the attempts of a span from its `failed` rows ([`Attempts::failed`], all of them
/// first) and its `in_flight` rows ([`Attempts::started`]), visiting every attempt that may
/// have reached its recipients, in no particular order.
pub(super) struct Attempts<'v> {
    visit: &'v mut dyn FnMut(Contact<'_>),
    /// When each delivery's attempts failed, by recipient.
    failed: HashMap<Box<str>, Vec<Failure>>,
    /// The attempts of deliveries with a failure, matched with them at the end.
    held: Vec<Held>,
}

/// A failed attempt of a recipient's delivery: campaign, occurrence, when.
type Failure = (Box<str>, Box<str>, Timestamp);

/// An attempt of a delivery that has a failure in the span.
struct Held {
    campaign: Box<str>,
    occurrence: Box<str>,
    recipient: Box<str>,
    at: Timestamp,
    request: Option<String>,
}

impl<'v> Attempts<'v> {
    pub(super) fn new(visit: &'v mut dyn FnMut(Contact<'_>)) -> Attempts<'v> {
        Attempts {
            visit,
            failed: HashMap::default(),
            held: Vec::new(),
        }
    }

    /// Takes a `failed` row.
    pub(super) fn failed(&mut self, row: Row<'_>) -> Result<(), BadColumn> {
        let at = row.at;
        self.failed.entry(row.recipient.into()).or_default().push((
            row.campaign.into(),
            row.occurrence.into(),
            at,
        ));
        Ok(())
    }

    /// Takes an `in_flight` row: an attempt, sent then.
    pub(super) fn started(&mut self, row: Row<'_>) -> Result<(), BadColumn> {
        let at = row.at;
        let failures = self.failed.get(row.recipient).is_some_and(|f| {
            f.iter()
                .any(|(c, o, _)| **c == *row.campaign && **o == *row.occurrence)
        });
        if failures {
            self.held.push(Held {
                campaign: row.campaign.into(),
                occurrence: row.occurrence.into(),
                recipient: row.recipient.into(),
                at,
                request: row.request.map(str::to_owned),
            });
        } else {
            visit(self.visit, row.campaign, row.recipient, at, row.request);
        }
        Ok(())
    }

    /// Visits the held attempts that no failure closed.
    pub(super) fn finish(mut self) {
        let mut held = std::mem::take(&mut self.held);
        held.sort_by(|a, b| {
            (&a.campaign, &a.occurrence, &a.recipient, a.at).cmp(&(
                &b.campaign,
                &b.occurrence,
                &b.recipient,
                b.at,
            ))
        });
        for (i, attempt) in held.iter().enumerate() {
            let next = held.get(i + 1).filter(|n| {
                (&n.campaign, &n.occurrence, &n.recipient)
                    == (&attempt.campaign, &attempt.occurrence, &attempt.recipient)
            });
            let failed = self.failed.get(&attempt.recipient).is_some_and(|f| {
                f.iter().any(|(c, o, when)| {
                    *c == attempt.campaign
                        && *o == attempt.occurrence
                        && *when >= attempt.at
                        && next.is_none_or(|n| *when < n.at)
                })
            });
            if !failed {
                visit(
                    self.visit,
                    &attempt.campaign,
                    &attempt.recipient,
                    attempt.at,
                    attempt.request.as_deref(),
                );
            }
        }
    }
}

/// Visits an attempt: its recipient, or each recipient a template broadcast names.
fn visit(
    visit: &mut dyn FnMut(Contact<'_>),
    campaign: &str,
    recipient: &str,
    at: Timestamp,
    request: Option<&str>,
) {
    if recipient != WHOLE_CAMPAIGN {
        visit(Contact {
            campaign,
            recipient,
            at,
        });
        return;
    }
    let Some((phones, published)) = request.and_then(broadcast_audience) else {
        return;
    };
    // A broadcast reaches its audience when Engati publishes it.
    let at = published.map_or(at, |p| p.max(at));
    for phone in &phones {
        visit(Contact {
            campaign,
            recipient: phone,
            at,
        });
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
    use crate::state::Outcome;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    /// Feeds one delivery's rows (outcome, minute), as the backends do (failed rows first),
    /// and returns the minutes counted.
    fn counted(rows: &[(Outcome, i64)]) -> Vec<i64> {
        let mut seen = Vec::new();
        let mut visit = |c: Contact<'_>| seen.push((c.at.as_second() - 1_800_000_000) / 60);
        let mut attempts = Attempts::new(&mut visit);
        let times: Vec<(Outcome, Timestamp)> = rows.iter().map(|(o, m)| (*o, at(*m))).collect();
        fn row(at: Timestamp) -> Row<'static> {
            Row {
                campaign: "offer",
                occurrence: "",
                recipient: "+919019486731",
                at,
                request: None,
            }
        }
        for (_, at) in times.iter().filter(|(o, _)| *o == Outcome::Failed) {
            attempts.failed(row(*at)).unwrap();
        }
        for (_, at) in times.iter().filter(|(o, _)| *o == Outcome::InFlight) {
            attempts.started(row(*at)).unwrap();
        }
        attempts.finish();
        seen.sort_unstable();
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
        // A resend that failed leaves the first message counted, and the other way round.
        assert_eq!(
            counted(&[(InFlight, 0), (Sent, 1), (InFlight, 60), (Failed, 61)]),
            [0]
        );
        assert_eq!(
            counted(&[(InFlight, 0), (Failed, 1), (InFlight, 60), (Sent, 61)]),
            [60]
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
        // A failure whose attempt went before the span closes nothing in it.
        assert_eq!(counted(&[(Failed, 3), (InFlight, 10), (Sent, 11)]), [10]);
    }
}
