//! The reconcile rule, case by case, and [`decide`] over a real (in-memory) state with a
//! history that answers from a table.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::engati::api::ConversationItem;
use crate::engati::trace::Trace;
use crate::fingerprint::Fingerprint;
use crate::state::sqlite::SqliteStore;
use crate::state::{Delivery, Outcome, Store};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn trace(text: &str, when: &str) -> Trace {
    Trace {
        channel_user_id: "919019486731".to_owned(),
        message_type: crate::engati::trace::TEMPLATE,
        text: Arc::from(text),
        timestamp: at(when).as_millisecond(),
    }
}

fn item(sender: &str, text: &str, when: &str) -> ConversationItem {
    ConversationItem {
        timestamp: at(when).as_millisecond(),
        message_type: "TEMPLATE".to_owned(),
        sender: sender.to_owned(),
        text: Some(text.to_owned()),
    }
}

const SENT: &str = "2026-12-01T10:00:00Z";
const TWO_MINUTES: SignedDuration = SignedDuration::from_mins(2);

#[test]
fn the_message_in_the_history_after_the_attempt_is_delivered() {
    let expected = [trace("Hi John", SENT)];
    let found = [vec![
        item("user", "Hi John", "2026-12-01T10:00:02Z"),
        item("bot", "Hi John", "2026-12-01T10:00:03Z"),
    ]];
    let d = judge(
        &expected,
        &found,
        at(SENT),
        at("2026-12-01T10:00:10Z"),
        TWO_MINUTES,
    );
    assert_eq!(d.verdict, Verdict::Delivered);
    assert_eq!(
        d.why,
        "found in the recipient's conversation history at 2026-12-01T10:00:03Z"
    );
}

#[test]
fn the_same_text_long_before_the_attempt_or_from_the_user_does_not_count() {
    let expected = [trace("Hi John", SENT)];
    let found = [vec![
        item("bot", "Hi John", "2026-11-01T10:00:00Z"),
        item("user", "Hi John", "2026-12-01T10:00:05Z"),
        item("bot", "Hi Johnny", "2026-12-01T10:00:05Z"),
    ]];
    let now = at("2026-12-01T10:05:00Z");
    let d = judge(&expected, &found, at(SENT), now, TWO_MINUTES);
    assert_eq!(d.verdict, Verdict::NotDelivered);
    assert_eq!(
        d.why,
        "no trace in the conversation history 2m after the attempt at 2026-12-01T10:00:00Z: taken \
         as never arrived"
    );
}

#[test]
fn no_trace_before_reconcile_after_is_pending_until_then() {
    let expected = [trace("Hi John", SENT)];
    let d = judge(
        &expected,
        &[vec![]],
        at(SENT),
        at("2026-12-01T10:01:00Z"),
        TWO_MINUTES,
    );
    assert_eq!(d.verdict, Verdict::Pending);
    assert_eq!(
        d.why,
        "no trace yet; sent again if there is none by 2026-12-01T10:02:00Z"
    );
}

#[test]
fn a_message_a_little_before_the_attempt_counts_for_clock_skew() {
    let expected = [trace("Hi John", SENT)];
    let found = [vec![item("bot", "Hi John", "2026-12-01T09:59:30Z")]];
    let d = judge(&expected, &found, at(SENT), at(SENT), TWO_MINUTES);
    assert_eq!(d.verdict, Verdict::Delivered);
}

#[test]
fn a_send_that_leaves_no_trace_is_unknowable() {
    let d = judge(&[], &[], at(SENT), at("2027-01-01T00:00:00Z"), TWO_MINUTES);
    assert_eq!(d.verdict, Verdict::Unknowable);
}

#[test]
fn a_broadcast_published_later_waits_from_its_publishing_time() {
    let expected = [trace("Happy new year", "2026-12-31T18:30:00Z")];
    let now = at("2026-12-31T18:00:00Z");
    let d = judge(&expected, &[vec![]], at(SENT), now, TWO_MINUTES);
    assert_eq!(d.verdict, Verdict::Pending);
    assert!(d.why.ends_with("by 2026-12-31T18:32:00Z"), "{}", d.why);
}

/// A history answering from a table, counting reads.
#[derive(Default)]
struct Table {
    items: HashMap<String, Vec<ConversationItem>>,
    reads: usize,
    broken: bool,
}

impl History for Table {
    fn conversations(
        &mut self,
        id: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<ConversationItem>, crate::engati::ReadError> {
        self.reads += 1;
        if self.broken {
            return Err(crate::engati::ReadError::Unavailable(
                "connection refused".to_owned(),
            ));
        }
        let all = self.items.get(id).cloned().unwrap_or_default();
        let within = |i: &ConversationItem| (start..=end).contains(&i.timestamp);
        Ok(all.into_iter().filter(within).collect())
    }
}

fn template_request(phone: &str, name: &str) -> String {
    format!(
        r#"{{"method":"POST","path":"/whatsapp-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/template","query":[],"body":{{"phoneNumber":"{phone}","payload":{{"name":"hello","language":{{"policy":"deterministic","code":"en"}},"components":[{{"type":"body","parameters":[{{"type":"text","text":"{name}"}}]}}]}}}}}}"#
    )
}

fn attempt(recipient: &str, request: String, outcome: Outcome, when: &str) -> Delivery {
    Delivery {
        campaign: "hello".to_owned(),
        occurrence: None,
        recipient: recipient.to_owned(),
        fingerprint: Fingerprint::of(request.as_bytes()),
        request,
        outcome,
        api_code: None,
        detail: None,
        at: at(when),
        apply_id: "a1".to_owned(),
    }
}

#[test]
fn decide_reads_each_unknown_recipients_history_from_its_attempt() {
    let mut store = SqliteStore::in_memory();
    let found = "+919019486731";
    let lost = "+919178921978";
    let sent = "+14155552671";
    store
        .record(&[
            attempt(
                found,
                template_request(found, "John"),
                Outcome::InFlight,
                SENT,
            ),
            attempt(
                lost,
                template_request(lost, "Jahnavi"),
                Outcome::InFlight,
                SENT,
            ),
            attempt(sent, template_request(sent, "Ana"), Outcome::Sent, SENT),
        ])
        .unwrap();
    store
        .record(&[attempt(
            lost,
            template_request(lost, "Jahnavi"),
            Outcome::Unknown,
            "2026-12-01T10:00:05Z",
        )])
        .unwrap();
    let mut table = Table::default();
    table.items.insert(
        "919019486731".to_owned(),
        vec![item("bot", "Hello John!", "2026-12-01T10:00:01Z")],
    );
    let body_of = |name: &str, language: &str| {
        (name == "hello" && language == "en").then(|| "Hello {{1}}!".to_owned())
    };
    let options = Options {
        now: at("2026-12-01T10:03:00Z"),
        after: TWO_MINUTES,
        campaigns: &[],
        body_of: &body_of,
    };
    let decisions = decide(&store, &mut table, &options).unwrap();
    let verdicts: Vec<_> = decisions
        .iter()
        .flat_map(|(c, by)| {
            by.iter()
                .map(move |(r, d)| (c.campaign.as_str(), r.as_str(), d.verdict))
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("hello", found, Verdict::Delivered),
            ("hello", lost, Verdict::NotDelivered),
        ]
    );
    assert_eq!(table.reads, 2, "only unknown deliveries are looked up");

    table.broken = true;
    let decisions = decide(&store, &mut table, &options).unwrap();
    assert!(
        decisions
            .values()
            .flat_map(|by| by.values())
            .all(|d| d.verdict == Verdict::Unchecked)
    );
    let other = Options {
        campaigns: &["other".to_owned()],
        ..options
    };
    assert!(decide(&store, &mut table, &other).unwrap().is_empty());
}
