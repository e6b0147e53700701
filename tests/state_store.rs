//! The state suite every backend passes, run against SQLite files and a real PostgreSQL
//! server: what a store records and reads back, the serial, reading a state never written, the
//! apply lock between stores, the campaign summary and the apply log.
//!
//! Each case is a function of a [`Fixture`]; `suite!` makes a test of it per backend.

mod state_support;

use herald::state::Round;
use herald::state::{CampaignTotals, Delivery, Outcome, StateError, TestSend};
use state_support::{Fixture, apply, at, attempt};

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $case() { super::$case(&super::Fixture::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $case() { super::$case(&super::Fixture::postgres()) })*
        }
    };
}

suite!(
    a_recorded_attempt_reads_back_exactly,
    a_new_attempt_replaces_the_latest_while_history_keeps_every_attempt,
    two_attempts_of_one_delivery_in_one_batch_keep_the_later,
    the_serial_grows_by_one_per_record_call_and_not_for_an_empty_batch,
    a_state_never_written_reads_as_empty,
    a_held_lock_stops_a_second_store_and_names_its_holder,
    unlocking_with_a_wrong_id_keeps_the_lock_and_names_the_current_one,
    a_live_holders_lock_cannot_be_unlocked_by_another_store,
    a_dead_holders_lock_is_taken_over_by_the_next_without_unlock,
    the_lineage_is_made_once_and_kept_across_opens,
    withdrawn_intents_leave_each_delivery_as_it_was_before,
    of_many_stores_racing_for_the_lock_exactly_one_wins,
    campaigns_count_latest_outcomes_with_in_flight_as_unknown,
    logging_an_apply_again_updates_it_by_id,
    test_sends_are_logged_apart_and_change_no_delivery_nor_the_serial,
    a_state_of_the_previous_schema_version_is_migrated_when_opened_for_writing,
    each_occurrence_of_a_campaign_is_a_round_of_its_own,
    contacts_count_every_attempt_that_may_have_arrived,
    pruning_drops_only_settled_requests_before_the_date_and_keeps_what_plan_reads,
    pruning_nothing_leaves_the_serial,
    a_state_of_schema_version_5_reads_back_identically_once_compacted,
    erasing_a_phone_removes_its_data_everywhere_and_keeps_a_hash_of_what_it_got,
);

fn a_recorded_attempt_reads_back_exactly(f: &Fixture) {
    let mut store = f.open();
    let mut failed = attempt("welcome", "+4915112345678", r#"{"a":1}"#, Outcome::Failed);
    failed.api_code = Some(4001);
    failed.detail = Some("template not approved".to_owned());
    let sent = attempt("welcome", "+4915187654321", r#"{"a":2}"#, Outcome::Sent);
    store.record(&[failed.clone(), sent.clone()]).unwrap();

    let recorded = store.recorded_map(Round::one_off("welcome")).unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded["+4915112345678"].fingerprint, failed.fingerprint);
    assert_eq!(recorded["+4915112345678"].outcome, Outcome::Failed);
    assert_eq!(recorded["+4915187654321"].outcome, Outcome::Sent);

    let read = store
        .delivery(Round::one_off("welcome"), "+4915112345678")
        .unwrap();
    assert_eq!(read, Some(failed.clone()));
    assert_eq!(
        store
            .delivery(Round::one_off("welcome"), "+10000000000")
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .delivery(Round::one_off("other"), "+4915112345678")
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .history(Round::one_off("welcome"), Some("+4915112345678"))
            .unwrap(),
        [failed.clone()]
    );
    assert_eq!(
        store.history(Round::one_off("welcome"), None).unwrap(),
        [failed, sent]
    );
    assert!(
        store
            .recorded_map(Round::one_off("other"))
            .unwrap()
            .is_empty()
    );
}

fn a_new_attempt_replaces_the_latest_while_history_keeps_every_attempt(f: &Fixture) {
    let mut store = f.open();
    let first = attempt("promo", "+15550001", "v1", Outcome::Unknown);
    let mut second = attempt("promo", "+15550001", "v2", Outcome::Sent);
    second.at = at("2026-12-02T00:00:00Z");
    let other = attempt("promo", "+15550002", "v1", Outcome::Sent);
    store.record(&[first.clone(), other.clone()]).unwrap();
    store.record(std::slice::from_ref(&second)).unwrap();

    assert_eq!(
        store
            .delivery(Round::one_off("promo"), "+15550001")
            .unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.recorded_map(Round::one_off("promo")).unwrap().len(),
        2
    );
    assert_eq!(
        store
            .history(Round::one_off("promo"), Some("+15550001"))
            .unwrap(),
        [first.clone(), second.clone()]
    );
    assert_eq!(
        store.history(Round::one_off("promo"), None).unwrap(),
        [first, other, second],
        "the whole campaign's history is in recording order"
    );
}

fn two_attempts_of_one_delivery_in_one_batch_keep_the_later(f: &Fixture) {
    let mut store = f.open();
    let first = attempt("promo", "+15550001", "v1", Outcome::InFlight);
    let second = attempt("promo", "+15550001", "v1", Outcome::Sent);
    store.record(&[first, second.clone()]).unwrap();

    assert_eq!(
        store
            .delivery(Round::one_off("promo"), "+15550001")
            .unwrap(),
        Some(second)
    );
    assert_eq!(
        store.history(Round::one_off("promo"), None).unwrap().len(),
        2
    );
}

fn the_serial_grows_by_one_per_record_call_and_not_for_an_empty_batch(f: &Fixture) {
    let mut store = f.open();
    assert_eq!(store.serial().unwrap(), 0);
    let batch: Vec<Delivery> = (0..3)
        .map(|i| attempt("promo", &format!("+1555000{i}"), "v1", Outcome::Sent))
        .collect();
    store.record(&batch).unwrap();
    assert_eq!(store.serial().unwrap(), 1);
    store.record(&batch[..1]).unwrap();
    assert_eq!(store.serial().unwrap(), 2);
    store.record(&[]).unwrap();
    assert_eq!(store.serial().unwrap(), 2, "an empty batch writes nothing");

    store.lock("ana@laptop").unwrap();
    store
        .log_apply(&apply("a1", "2026-12-01T00:00:00Z"))
        .unwrap();
    assert_eq!(
        store.serial().unwrap(),
        2,
        "locking and logging applies do not change what a plan sees"
    );
    drop(store);
    assert_eq!(f.open().serial().unwrap(), 2);
}

fn a_state_never_written_reads_as_empty(f: &Fixture) {
    let mut store = f.open_read_only();

    assert_eq!(store.serial().unwrap(), 0);
    assert!(
        store
            .recorded_map(Round::one_off("welcome"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .delivery(Round::one_off("welcome"), "+15550001")
            .unwrap(),
        None
    );
    assert!(
        store
            .history(Round::one_off("welcome"), None)
            .unwrap()
            .is_empty()
    );
    assert!(store.campaigns().unwrap().is_empty());
    assert!(store.applies().unwrap().is_empty());
    assert!(store.test_sends().unwrap().is_empty());
    assert_eq!(store.current_lock().unwrap(), None);
    assert!(
        store.record(&[]).is_ok(),
        "an empty batch writes nothing, even here"
    );
}

fn a_held_lock_stops_a_second_store_and_names_its_holder(f: &Fixture) {
    let mut first = f.open();
    let mut second = f.open();
    let lock = first.lock("ana@laptop (pid 4242)").unwrap();
    assert_eq!(lock.id.len(), 8);
    assert!(lock.id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(lock.holder, "ana@laptop (pid 4242)");

    assert_eq!(
        second.lock("ci@runner").unwrap_err(),
        StateError::Locked(lock.clone())
    );
    assert_eq!(second.current_lock().unwrap(), Some(lock.clone()));
    assert_eq!(
        f.open_read_only().current_lock().unwrap(),
        Some(lock.clone())
    );

    // The holder dies without unlocking; `herald state unlock ID` from the second store
    // releases its lock.
    drop(first);
    second.unlock(&lock.id).unwrap();
    assert_eq!(second.current_lock().unwrap(), None);
    let again = f.open().lock("ana@laptop (pid 4243)").unwrap();
    assert_ne!(again.id, lock.id);
}

fn unlocking_with_a_wrong_id_keeps_the_lock_and_names_the_current_one(f: &Fixture) {
    let mut store = f.open();
    assert_eq!(
        store.unlock("deadbeef").unwrap_err(),
        StateError::NotLocked {
            id: "deadbeef".to_owned(),
            current: None,
        }
    );
    let lock = store.lock("ana@laptop").unwrap();
    assert_eq!(
        store.unlock("deadbeef").unwrap_err(),
        StateError::NotLocked {
            id: "deadbeef".to_owned(),
            current: Some(lock.clone()),
        }
    );
    assert_eq!(store.current_lock().unwrap(), Some(lock));
}

fn a_live_holders_lock_cannot_be_unlocked_by_another_store(f: &Fixture) {
    let mut holder = f.open();
    let mut other = f.open();
    let lock = holder.lock("ana@laptop (pid 4242)").unwrap();
    // Even with the right id: the holder is running.
    assert_eq!(
        other.unlock(&lock.id).unwrap_err(),
        StateError::HolderAlive(lock.clone())
    );
    assert_eq!(other.current_lock().unwrap(), Some(lock.clone()));
    // Neither refusal tells the id.
    let refused = other.unlock("deadbeef").unwrap_err();
    let told = format!("{refused} {}", refused.help());
    assert!(!told.contains(&lock.id), "{told}");
    let live = StateError::HolderAlive(lock.clone());
    assert!(!format!("{live} {}", live.help()).contains(&lock.id));
    let locked = StateError::Locked(lock.clone());
    assert!(!format!("{locked} {}", locked.help()).contains(&lock.id));
    holder.unlock(&lock.id).unwrap();
    assert_eq!(other.current_lock().unwrap(), None);
}

fn a_dead_holders_lock_is_taken_over_by_the_next_without_unlock(f: &Fixture) {
    let mut holder = f.open();
    let dead = holder.lock("ana@laptop (pid 4242)").unwrap();
    // The holder dies: its OS lock (or database session) goes with it; its record stays.
    drop(holder);
    let mut next = f.open();
    assert_eq!(next.current_lock().unwrap(), Some(dead.clone()));
    let taken = next.lock("ci@runner (pid 7)").unwrap();
    assert_ne!(taken.id, dead.id);
    assert_eq!(next.current_lock().unwrap(), Some(taken.clone()));
    // The dead record cannot be unlocked any more; the live one cannot be broken.
    assert!(matches!(
        f.open().unlock(&dead.id).unwrap_err(),
        StateError::NotLocked { .. }
    ));
    assert_eq!(
        f.open().unlock(&taken.id).unwrap_err(),
        StateError::HolderAlive(taken.clone())
    );
}

fn the_lineage_is_made_once_and_kept_across_opens(f: &Fixture) {
    assert_eq!(f.open_read_only().lineage().unwrap(), None);
    let lineage = f
        .open()
        .lineage()
        .unwrap()
        .expect("a written state has a lineage");
    assert_eq!(lineage.len(), 16);
    assert!(lineage.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(f.open().lineage().unwrap(), Some(lineage.clone()));
    assert_eq!(f.open_read_only().lineage().unwrap(), Some(lineage.clone()));
    // Another state has another lineage.
    let other = Fixture::sqlite().open().lineage().unwrap();
    assert_ne!(other, Some(lineage));
}

fn withdrawn_intents_leave_each_delivery_as_it_was_before(f: &Fixture) {
    let mut store = f.open();
    let mut failed = attempt("welcome", "+4915100000002", r#"{"a":2}"#, Outcome::Failed);
    failed.apply_id = "earlier".to_owned();
    let sent = attempt("welcome", "+4915100000004", r#"{"a":4}"#, Outcome::Sent);
    store.record(&[failed.clone(), sent.clone()]).unwrap();
    let intent = |recipient: &str, apply_id: &str| {
        let mut d = attempt("welcome", recipient, r#"{"a":9}"#, Outcome::InFlight);
        d.apply_id = apply_id.to_owned();
        d
    };
    let others = intent("+4915100000003", "another-apply");
    store
        .record(&[
            intent("+4915100000001", "this-apply"),
            intent("+4915100000002", "this-apply"),
            others.clone(),
        ])
        .unwrap();
    let serial = store.serial().unwrap();
    let everyone: Vec<String> = (1..=4).map(|i| format!("+491510000000{i}")).collect();
    store
        .withdraw(Round::one_off("welcome"), &everyone, "this-apply")
        .unwrap();

    // A new delivery is gone, as if never attempted; a retried one is failed again, its
    // intent gone from the history; another apply's intent and a sent delivery stay.
    assert_eq!(
        store
            .delivery(Round::one_off("welcome"), "+4915100000001")
            .unwrap(),
        None
    );
    assert!(
        store
            .history(Round::one_off("welcome"), Some("+4915100000001"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .delivery(Round::one_off("welcome"), "+4915100000002")
            .unwrap(),
        Some(failed.clone())
    );
    assert_eq!(
        store
            .history(Round::one_off("welcome"), Some("+4915100000002"))
            .unwrap(),
        [failed]
    );
    assert_eq!(
        store
            .delivery(Round::one_off("welcome"), "+4915100000003")
            .unwrap(),
        Some(others)
    );
    assert_eq!(
        store
            .delivery(Round::one_off("welcome"), "+4915100000004")
            .unwrap(),
        Some(sent)
    );
    assert_eq!(store.serial().unwrap(), serial + 1);
    // Nothing left to withdraw: no write, the serial stays.
    store
        .withdraw(Round::one_off("welcome"), &everyone, "this-apply")
        .unwrap();
    assert_eq!(store.serial().unwrap(), serial + 1);
}

fn of_many_stores_racing_for_the_lock_exactly_one_wins(f: &Fixture) {
    // Each racer keeps its store (its connection) open until every racer has tried.
    let (results, _stores): (Vec<Result<_, StateError>>, Vec<_>) = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                scope.spawn(move || {
                    let mut store = f.open();
                    (store.lock(&format!("racer {i}")), store)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).unzip()
    });
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for result in &results {
        if let Err(err) = result {
            assert_eq!(err, &StateError::Locked(won[0].clone()));
        }
    }
}

fn campaigns_count_latest_outcomes_with_in_flight_as_unknown(f: &Fixture) {
    let mut store = f.open();
    let mut late = attempt("b-promo", "+15550003", "v1", Outcome::InFlight);
    late.at = at("2026-12-01T03:30:00.5Z");
    store
        .record(&[
            attempt("b-promo", "+15550001", "v1", Outcome::Failed),
            attempt("b-promo", "+15550002", "v1", Outcome::Sent),
            late,
            attempt("a-welcome", "+15550001", "v1", Outcome::Unknown),
            attempt("a-welcome", "+15550002", "v1", Outcome::Failed),
        ])
        .unwrap();
    // A retry that succeeded counts once, as sent.
    store
        .record(&[attempt("a-welcome", "+15550002", "v1", Outcome::Sent)])
        .unwrap();

    assert_eq!(
        store.campaigns().unwrap(),
        [
            CampaignTotals {
                campaign: "a-welcome".to_owned(),
                occurrence: None,
                sent: 1,
                failed: 0,
                unknown: 1,
                last_at: at("2026-12-01T03:30:00.123456789Z"),
            },
            CampaignTotals {
                campaign: "b-promo".to_owned(),
                occurrence: None,
                sent: 1,
                failed: 1,
                unknown: 1,
                // Later by a fraction of a second, which text order alone would get wrong
                // without a fixed number of fractional digits.
                last_at: at("2026-12-01T03:30:00.5Z"),
            },
        ]
    );
}

fn logging_an_apply_again_updates_it_by_id(f: &Fixture) {
    let mut store = f.open();
    let mut running = apply("20261201T033000Z-4f2a", "2026-12-01T03:30:00Z");
    let earlier = apply("20261130T090000Z-0001", "2026-11-30T09:00:00.25Z");
    let same_second = apply("20261130T090000Z-0000", "2026-11-30T09:00:00Z");
    store.log_apply(&running).unwrap();
    store.log_apply(&earlier).unwrap();
    store.log_apply(&same_second).unwrap();

    running.finished_at = Some(at("2026-12-01T03:31:07.5Z"));
    running.sent = 41_000;
    running.failed = 12;
    running.unknown = 1;
    store.log_apply(&running).unwrap();

    let reopened = f.open_read_only();
    assert_eq!(
        reopened.applies().unwrap(),
        [same_second, earlier, running],
        "oldest first"
    );
}

fn test_send(id: &str, at_: &str, outcome: Outcome) -> TestSend {
    TestSend {
        id: id.to_owned(),
        who: "ana@laptop (pid 4242)".to_owned(),
        at: at(at_),
        campaign: "invoice-reminder".to_owned(),
        rendered_for: "+919019486731".to_owned(),
        phone: "+919900112233".to_owned(),
        outcome,
        api_code: None,
        detail: None,
    }
}

fn test_sends_are_logged_apart_and_change_no_delivery_nor_the_serial(f: &Fixture) {
    let mut store = f.open();
    store
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    let serial = store.serial().unwrap();
    let campaigns = store.campaigns().unwrap();

    let mut sending = test_send("0000beef", "2026-12-01T03:30:00.25Z", Outcome::InFlight);
    let earlier = test_send("0000cafe", "2026-11-30T09:00:00Z", Outcome::Sent);
    store.lock("ana@laptop (pid 4242)").unwrap();
    store.log_test_send(&sending).unwrap();
    store.log_test_send(&earlier).unwrap();
    sending.outcome = Outcome::Failed;
    sending.api_code = Some(1002);
    sending.detail = Some("api::rejected: outside the window".to_owned());
    store.log_test_send(&sending).unwrap();

    let reopened = f.open_read_only();
    assert_eq!(
        reopened.test_sends().unwrap(),
        [earlier, sending],
        "oldest first, updated by id"
    );
    assert_eq!(
        reopened.serial().unwrap(),
        serial,
        "a plan made before still applies"
    );
    assert_eq!(reopened.campaigns().unwrap(), campaigns);
    assert!(
        reopened
            .recorded_map(Round::one_off("invoice-reminder"))
            .unwrap()
            .is_empty()
    );
    assert!(
        reopened
            .history(Round::one_off("invoice-reminder"), None)
            .unwrap()
            .is_empty()
    );
    assert!(reopened.applies().unwrap().is_empty());
}

/// Takes the state back to schema version 2, before test sends, as a herald of then left it.
/// Turns a state back into what schema version 2 made, undoing migrations 5 (history by
/// time), 4 (rounds) and 3 (test messages), so that opening it runs them all.
fn downgrade_to_version_2(f: &Fixture) {
    state_support::rewrite_at_version_5(f);
    match f {
        Fixture::Sqlite(dir) => {
            let conn = rusqlite::Connection::open(state_support::sqlite_path(dir)).unwrap();
            conn.execute_batch(&format!(
                "{} DROP TABLE test_sends; PRAGMA user_version = 2;",
                state_support::SQLITE_BEFORE_ROUNDS
            ))
            .unwrap();
        }
        Fixture::Postgres { url, schema } => {
            let mut client = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
            client
                .batch_execute(&format!(
                    "DROP INDEX {schema}.history_sent_at;
                     DROP INDEX {schema}.history_failed_at;
                     ALTER TABLE {schema}.deliveries DROP CONSTRAINT deliveries_pkey;
                     ALTER TABLE {schema}.deliveries DROP COLUMN occurrence;
                     ALTER TABLE {schema}.deliveries ADD PRIMARY KEY (campaign, recipient);
                     DROP INDEX {schema}.history_delivery;
                     ALTER TABLE {schema}.history DROP COLUMN occurrence;
                     CREATE INDEX history_delivery ON {schema}.history (campaign, recipient);
                     DROP TABLE {schema}.test_sends;
                     UPDATE {schema}.meta SET value = 2 WHERE key = 'schema_version';"
                ))
                .unwrap();
        }
    }
}

fn a_state_of_the_previous_schema_version_is_migrated_when_opened_for_writing(f: &Fixture) {
    let mut store = f.open();
    store
        .record(&[attempt("welcome", "+15550001", "v1", Outcome::Sent)])
        .unwrap();
    store
        .log_apply(&apply("20261201T033000Z-4f2a", "2026-12-01T03:30:00Z"))
        .unwrap();
    let (serial, lineage) = (store.serial().unwrap(), store.lineage().unwrap());
    let applies = store.applies().unwrap();
    drop(store);
    downgrade_to_version_2(f);

    let refused = match f {
        Fixture::Sqlite(dir) => {
            herald::state::sqlite::SqliteStore::open_read_only(&state_support::sqlite_path(dir))
                .map(drop)
        }
        Fixture::Postgres { url, schema } => {
            herald::state::postgres::PostgresStore::open_read_only(url, schema).map(drop)
        }
    };
    // PostgreSQL's schema 7 packs each delivery into one row; SQLite's 6 is already compact.
    let known = match f {
        Fixture::Sqlite(_) => 6,
        Fixture::Postgres { .. } => 7,
    };
    match refused {
        Err(StateError::Backend { message, .. }) => assert!(
            message.contains(&format!(
                "schema version 2, older than this herald's {known}"
            )),
            "{message}"
        ),
        other => panic!("reading never migrates: {other:?}"),
    }

    let mut migrated = f.open();
    assert_eq!(migrated.serial().unwrap(), serial);
    assert_eq!(migrated.lineage().unwrap(), lineage);
    assert_eq!(migrated.applies().unwrap(), applies);
    assert_eq!(
        migrated
            .recorded_map(Round::one_off("welcome"))
            .unwrap()
            .len(),
        1
    );
    assert!(migrated.test_sends().unwrap().is_empty());
    let sent = test_send("0000beef", "2026-12-01T04:00:00Z", Outcome::Sent);
    migrated.log_test_send(&sent).unwrap();
    assert_eq!(f.open_read_only().test_sends().unwrap(), [sent]);
}

/// A recurring campaign's occurrences are separate rounds: one recipient's delivery in each,
/// read, counted, withdrawn and shown apart, beside the campaign's one-off round.
fn each_occurrence_of_a_campaign_is_a_round_of_its_own(f: &Fixture) {
    let mut store = f.open();
    let monday = at("2026-12-07T03:30:00Z");
    let next_monday = at("2026-12-14T03:30:00Z");
    let in_round = |occurrence, request: &str, outcome| Delivery {
        occurrence,
        ..attempt("weekly", "+15550001", request, outcome)
    };
    store
        .record(&[
            in_round(None, "one-off", Outcome::Sent),
            in_round(Some(monday), "week 1", Outcome::Sent),
            in_round(Some(next_monday), "week 2", Outcome::Failed),
        ])
        .unwrap();
    let outcome = |occurrence| {
        store
            .delivery(Round::of("weekly", occurrence), "+15550001")
            .unwrap()
            .map(|d| (d.request, d.outcome, d.occurrence))
    };
    assert_eq!(
        outcome(Some(monday)),
        Some(("week 1".to_owned(), Outcome::Sent, Some(monday)))
    );
    assert_eq!(
        outcome(Some(next_monday)),
        Some(("week 2".to_owned(), Outcome::Failed, Some(next_monday)))
    );
    assert_eq!(outcome(None).map(|o| o.0), Some("one-off".to_owned()));
    assert_eq!(outcome(Some(at("2026-12-21T03:30:00Z"))), None);
    let rounds: Vec<_> = store
        .campaigns()
        .unwrap()
        .into_iter()
        .map(|c| (c.occurrence, c.sent, c.failed))
        .collect();
    assert_eq!(
        rounds,
        [
            (None, 1, 0),
            (Some(monday), 1, 0),
            (Some(next_monday), 0, 1)
        ]
    );
    let history = store
        .history(Round::of("weekly", Some(monday)), None)
        .unwrap();
    assert_eq!(history.len(), 1);

    // An intent of the second week withdrawn leaves the first week's delivery alone.
    let mut intent = in_round(Some(next_monday), "week 2 again", Outcome::InFlight);
    intent.apply_id = "20261214T033000Z-aaaa".to_owned();
    store.record(&[intent]).unwrap();
    store
        .withdraw(
            Round::of("weekly", Some(next_monday)),
            &["+15550001".to_owned()],
            "20261214T033000Z-aaaa",
        )
        .unwrap();
    let week = |occurrence| {
        store
            .recorded_map(Round::of("weekly", occurrence))
            .unwrap()
            .get("+15550001")
            .map(|r| r.outcome)
    };
    assert_eq!(week(Some(next_monday)), Some(Outcome::Failed));
    assert_eq!(week(Some(monday)), Some(Outcome::Sent));
}

/// An attempt of `campaign` to `recipient` at `time`, as apply records it: `in_flight`, then
/// `outcome` a second later.
fn sent_at(
    campaign: &str,
    recipient: &str,
    request: &str,
    time: &str,
    outcome: Outcome,
) -> [Delivery; 2] {
    let mut in_flight = attempt(campaign, recipient, request, Outcome::InFlight);
    in_flight.at = at(time);
    let mut done = in_flight.clone();
    done.outcome = outcome;
    done.at = in_flight.at + jiff::SignedDuration::from_secs(1);
    [in_flight, done]
}

fn contacts_count_every_attempt_that_may_have_arrived(f: &Fixture) {
    let mut store = f.open();
    // In order: a message, then a changed one resent (two messages, at their in-flight
    // times); a message, then a resend that failed (the first still counts); failed only
    // (nothing); unknown (counts); too long ago.
    let attempts = [
        (
            "promo",
            "+15550001",
            "v1",
            "2026-12-01T09:00:00Z",
            Outcome::Sent,
        ),
        (
            "promo",
            "+15550001",
            "v2",
            "2026-12-02T09:00:00Z",
            Outcome::Sent,
        ),
        (
            "promo",
            "+15550002",
            "v1",
            "2026-12-01T09:00:00Z",
            Outcome::Sent,
        ),
        (
            "promo",
            "+15550002",
            "v2",
            "2026-12-02T09:00:00Z",
            Outcome::Failed,
        ),
        (
            "promo",
            "+15550003",
            "v1",
            "2026-12-02T09:00:00Z",
            Outcome::Failed,
        ),
        (
            "other",
            "+15550003",
            "v1",
            "2026-12-02T10:00:00Z",
            Outcome::Unknown,
        ),
        (
            "other",
            "+15550004",
            "v1",
            "2026-11-20T09:00:00Z",
            Outcome::Sent,
        ),
    ];
    for (campaign, recipient, request, time, outcome) in attempts {
        store
            .record(&sent_at(campaign, recipient, request, time, outcome))
            .unwrap();
    }
    // A template broadcast reaches its users when Engati publishes it.
    let body = r#"{"publishedOn":"2026-12-03T06:00:00.000Z","users":[{"phoneNumber":"+15550005"},{"phoneNumber":"+15550006"}]}"#;
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    let request =
        serde_json::json!({"method": "POST", "path": "/broadcast", "body": body}).to_string();
    store
        .record(&sent_at(
            "bcast",
            "*",
            &request,
            "2026-12-02T11:00:00Z",
            Outcome::Sent,
        ))
        .unwrap();

    let seen = contacts(&*store, "2026-11-28T00:00:00Z");
    let want = [
        ("bcast", "+15550005", "2026-12-03T06:00:00Z"),
        ("bcast", "+15550006", "2026-12-03T06:00:00Z"),
        ("other", "+15550003", "2026-12-02T10:00:00Z"),
        ("promo", "+15550001", "2026-12-01T09:00:00Z"),
        ("promo", "+15550001", "2026-12-02T09:00:00Z"),
        ("promo", "+15550002", "2026-12-01T09:00:00Z"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(c, r, t)| ((*c).to_owned(), (*r).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(seen, want);
}

/// Every contact `contacts_since` visits from `since`, sorted: what pacing counts.
fn contacts(store: &dyn herald::state::Store, since: &str) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    store
        .contacts_since(at(since), &mut |c| {
            seen.push((
                c.campaign.to_owned(),
                c.recipient.to_owned(),
                c.at.to_string(),
            ));
        })
        .unwrap();
    seen.sort();
    seen
}

fn pruning_drops_only_settled_requests_before_the_date_and_keeps_what_plan_reads(f: &Fixture) {
    let mut store = f.open();
    let old = "2026-11-01T09:00:00Z";
    let cut = at("2026-11-15T00:00:00Z");
    let broadcast = serde_json::json!({"method": "POST", "path": "/broadcast",
        "body": {"publishedOn": "2026-11-01T09:00:00.000Z",
                 "users": [{"phoneNumber": "+15550009"}]}})
    .to_string();
    let mut batch = Vec::new();
    // Sent and failed long ago: intent and outcome pruned.
    batch.extend(sent_at(
        "promo",
        "+15550001",
        r#"{"v":1}"#,
        old,
        Outcome::Sent,
    ));
    batch.extend(sent_at(
        "promo",
        "+15550002",
        r#"{"v":1}"#,
        old,
        Outcome::Failed,
    ));
    // Unknown: reconciling needs its request; nothing pruned.
    batch.extend(sent_at(
        "promo",
        "+15550003",
        r#"{"v":1}"#,
        old,
        Outcome::Unknown,
    ));
    // Left in flight by a crash: kept.
    batch.push(sent_at("promo", "+15550004", r#"{"v":1}"#, old, Outcome::Sent)[0].clone());
    // Recent: kept.
    batch.extend(sent_at(
        "promo",
        "+15550005",
        r#"{"v":1}"#,
        "2026-11-20T09:00:00Z",
        Outcome::Sent,
    ));
    // Sent, then a changed message whose outcome is unknown: the first attempt is pruned,
    // the unknown one is not.
    batch.extend(sent_at(
        "promo",
        "+15550006",
        r#"{"v":1}"#,
        old,
        Outcome::Sent,
    ));
    batch.extend(sent_at(
        "promo",
        "+15550006",
        r#"{"v":2}"#,
        "2026-11-02T09:00:00Z",
        Outcome::Unknown,
    ));
    // In flight before the date, settled after it: the attempt is not settled before it.
    let [intent, mut late] = sent_at("promo", "+15550007", r#"{"v":1}"#, old, Outcome::Sent);
    late.at = at("2026-11-16T00:00:00Z");
    batch.extend([intent, late]);
    // A template broadcast: pacing reads its recipients from the intent, which is kept.
    batch.extend(sent_at("bcast", "*", &broadcast, old, Outcome::Sent));
    store.record(&batch).unwrap();

    // Which history rows lose their request: by recipient, in recording order.
    let pruned_rows: &[(&str, &[bool])] = &[
        ("+15550001", &[true, true]),
        ("+15550002", &[true, true]),
        ("+15550003", &[false, false]),
        ("+15550004", &[false]),
        ("+15550005", &[false, false]),
        ("+15550006", &[true, true, false, false]),
        ("+15550007", &[false, false]),
    ];
    let history_before = store.history(Round::one_off("promo"), None).unwrap();
    let bcast_before = store.history(Round::one_off("bcast"), None).unwrap();
    let mut bytes: u64 = bcast_before[1].request.len() as u64;
    for (recipient, flags) in pruned_rows {
        let rows: Vec<&Delivery> = history_before
            .iter()
            .filter(|d| d.recipient == *recipient)
            .collect();
        assert_eq!(rows.len(), flags.len(), "{recipient}");
        for (row, pruned) in rows.iter().zip(*flags) {
            if *pruned {
                bytes += row.request.len() as u64;
            }
        }
    }
    let requests = pruned_rows
        .iter()
        .flat_map(|(_, flags)| flags.iter())
        .filter(|p| **p)
        .count() as u64
        + 1;
    let recorded_before = store.recorded_map(Round::one_off("promo")).unwrap();
    let campaigns_before = store.campaigns().unwrap();
    let contacts_before = contacts(&*store, "2020-01-01T00:00:00Z");
    let serial = store.serial().unwrap();

    let counted = store.prunable(cut).unwrap();
    assert_eq!((counted.requests, counted.bytes), (requests, bytes));
    assert_eq!(store.serial().unwrap(), serial, "a dry run writes nothing");
    assert_eq!(
        store.history(Round::one_off("promo"), None).unwrap(),
        history_before
    );

    let pruned = store.prune(cut).unwrap();
    assert_eq!(pruned, counted);
    assert_eq!(store.serial().unwrap(), serial + 1, "one write, one serial");

    // Every row keeps its identity, fingerprint, outcome and times; only the request goes.
    let reopened = f.open();
    let history_after = reopened.history(Round::one_off("promo"), None).unwrap();
    assert_eq!(history_after.len(), history_before.len());
    for (before, after) in history_before.iter().zip(&history_after) {
        let flags = pruned_rows
            .iter()
            .find(|(r, _)| *r == before.recipient)
            .unwrap()
            .1;
        let nth = history_before
            .iter()
            .filter(|d| d.recipient == before.recipient)
            .position(|d| std::ptr::eq(d, before))
            .unwrap();
        let mut expected = before.clone();
        if flags[nth] {
            expected.request = herald::state::PRUNED_REQUEST.to_owned();
            assert!(after.request_pruned());
        }
        assert_eq!(after, &expected, "{} row {nth}", before.recipient);
    }
    let bcast_after = reopened.history(Round::one_off("bcast"), None).unwrap();
    assert_eq!(
        bcast_after[0], bcast_before[0],
        "a broadcast's intent is kept"
    );
    assert!(bcast_after[1].request_pruned());
    assert_eq!(
        reopened.recorded_map(Round::one_off("promo")).unwrap(),
        recorded_before,
        "plan reads the same fingerprints and outcomes"
    );
    assert_eq!(reopened.campaigns().unwrap(), campaigns_before);
    assert_eq!(
        contacts(&*reopened, "2020-01-01T00:00:00Z"),
        contacts_before,
        "pacing counts the same"
    );
    // The unknown delivery's request is there for reconciling.
    let unknown = reopened
        .delivery(Round::one_off("promo"), "+15550006")
        .unwrap()
        .unwrap();
    assert_eq!(unknown.request, r#"{"v":2}"#);

    // Again: nothing left to prune, nothing written.
    let mut store = f.open();
    assert_eq!(store.prune(cut).unwrap(), herald::state::Pruned::default());
    assert_eq!(store.serial().unwrap(), serial + 1);
}

fn pruning_nothing_leaves_the_serial(f: &Fixture) {
    let mut store = f.open();
    store
        .record(&sent_at(
            "promo",
            "+15550001",
            "v1",
            "2026-12-01T09:00:00Z",
            Outcome::Sent,
        ))
        .unwrap();
    let serial = store.serial().unwrap();
    let nothing = store.prune(at("2026-11-01T00:00:00Z")).unwrap();
    assert_eq!(nothing, herald::state::Pruned::default());
    assert_eq!(store.serial().unwrap(), serial);
    store.vacuum().unwrap();
    assert_eq!(
        f.open_read_only()
            .prunable(at("2027-01-01T00:00:00Z"))
            .unwrap(),
        herald::state::Pruned {
            requests: 2,
            bytes: 4
        }
    );
    // A state never written has nothing to prune.
    let empty = match f {
        Fixture::Sqlite(_) => Fixture::sqlite(),
        Fixture::Postgres { .. } => Fixture::postgres(),
    };
    assert_eq!(
        empty
            .open_read_only()
            .prunable(at("2027-01-01T00:00:00Z"))
            .unwrap(),
        herald::state::Pruned::default()
    );
}

/// Every attempt, each delivery's latest and what plan reads, the serial, the lineage and the
/// applies: what the migration to the compact layout must keep exactly.
fn everything(store: &dyn herald::state::Store, rounds: &[Round<'_>]) -> String {
    let mut attempts = Vec::new();
    store
        .every_attempt(&mut |d| {
            attempts.push(d);
            Ok(())
        })
        .unwrap();
    let mut text = format!(
        "serial {} lineage {:?}\napplies {:?}\n",
        store.serial().unwrap(),
        store.lineage().unwrap(),
        store.applies().unwrap()
    );
    for d in &attempts {
        text.push_str(&format!("{}\n", serde_json::to_string(d).unwrap()));
    }
    for round in rounds {
        let mut recorded: Vec<_> = store.recorded_map(*round).unwrap().into_iter().collect();
        recorded.sort_by(|a, b| a.0.cmp(&b.0));
        for (recipient, r) in recorded {
            let latest = store.delivery(*round, &recipient).unwrap().unwrap();
            text.push_str(&format!(
                "{round} {recipient} {:?} {} {}\n",
                r.outcome,
                r.fingerprint.short(),
                serde_json::to_string(&latest).unwrap()
            ));
            assert_eq!(latest.fingerprint, r.fingerprint);
        }
        text.push_str(&format!(
            "history {:?}\n",
            store.history(*round, None).unwrap().len()
        ));
    }
    text.push_str(&format!("{:?}\n", store.campaigns().unwrap()));
    text
}

fn a_state_of_schema_version_5_reads_back_identically_once_compacted(f: &Fixture) {
    let mut store = f.open();
    let monday = at("2026-12-07T03:30:00Z");
    let template = |phone: &str, name: &str, n: u32| {
        format!(
            r#"{{"method":"POST","path":"/t","query":[],"body":{{"phoneNumber":"{phone}","text":"Hi {name}, invoice {n} is due","n":{n}}}}}"#
        )
    };
    let mut batch = Vec::new();
    for (i, (phone, name)) in [
        ("+919000000001", "John"),
        ("+919000000002", "Ünïcödé \\\" quote"),
        ("+15550003", "Ana"),
    ]
    .iter()
    .enumerate()
    {
        let request = template(phone, name, 1000 + i as u32);
        let mut intent = attempt("invoice", phone, &request, Outcome::InFlight);
        intent.at = at("2026-11-01T09:00:00.000000001Z");
        let mut sent = intent.clone();
        sent.outcome = if i == 1 {
            Outcome::Failed
        } else {
            Outcome::Sent
        };
        sent.api_code = Some(if i == 1 { 1002 } else { 200 });
        sent.detail = (i == 1).then(|| "template paused".to_owned());
        sent.at = at("2026-11-01T09:00:01.5Z");
        batch.extend([intent, sent]);
    }
    // A changed message resent, a recurring round, a broadcast, and an odd fingerprint.
    let mut resent = attempt(
        "invoice",
        "+919000000001",
        &template("+919000000001", "Johnny", 7),
        Outcome::Sent,
    );
    resent.apply_id = "20261202T000000Z-beef".to_owned();
    batch.push(resent);
    batch.push(Delivery {
        occurrence: Some(monday),
        ..attempt("weekly", "+919000000001", "week 1", Outcome::Unknown)
    });
    batch.push(attempt(
        "bcast",
        "*",
        r#"{"body":{"users":[{"phoneNumber":"+15550009"}]}}"#,
        Outcome::Sent,
    ));
    let mut odd = attempt("odd", "+15550010", "v1", Outcome::Sent);
    odd.fingerprint = herald::fingerprint::Fingerprint::of(b"something else");
    batch.push(odd);
    store.record(&batch).unwrap();
    store.prune(at("2026-11-10T00:00:00Z")).unwrap();
    store
        .log_apply(&apply("20261201T033000Z-4f2a", "2026-12-01T03:30:00Z"))
        .unwrap();
    drop(store);
    let rounds = [
        Round::one_off("invoice"),
        Round::of("weekly", Some(monday)),
        Round::one_off("bcast"),
        Round::one_off("odd"),
    ];
    let before = everything(&*f.open_read_only(), &rounds);
    assert!(
        before.contains("Johnny") && before.contains(r#""request":"""#),
        "{before}"
    );

    state_support::rewrite_at_version_5(f);
    let migrated = everything(&*f.open(), &rounds);
    assert_eq!(migrated, before);
    assert_eq!(everything(&*f.open_read_only(), &rounds), before);
}

/// Whether `phone` appears anywhere in the state's storage: the SQLite file and its WAL, byte
/// for byte, or any row of any table of the PostgreSQL schema (as text, or as the hex of a
/// `bytea`, which is how a row's text shows one).
fn stored_anywhere(f: &Fixture, phone: &str) -> bool {
    match f {
        Fixture::Sqlite(dir) => {
            let path = state_support::sqlite_path(dir);
            ["", "-wal"].iter().any(|suffix| {
                std::fs::read(format!("{}{suffix}", path.display()))
                    .is_ok_and(|bytes| bytes.windows(phone.len()).any(|w| w == phone.as_bytes()))
            })
        }
        Fixture::Postgres { url, schema } => {
            let mut client = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
            let tables: Vec<String> = client
                .query(
                    "SELECT tablename FROM pg_tables WHERE schemaname = $1",
                    &[schema],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            tables.iter().any(|t| {
                let sql = format!(
                    "SELECT count(*) FROM {schema}.{t} x
                     WHERE position($1 in x::text) > 0
                        OR position(encode(convert_to($1, 'UTF8'), 'hex') in x::text) > 0"
                );
                let found: i64 = client.query_one(&sql, &[&phone]).unwrap().get(0);
                found > 0
            })
        }
    }
}

fn erasing_a_phone_removes_its_data_everywhere_and_keeps_a_hash_of_what_it_got(f: &Fixture) {
    let mut store = f.open();
    let phone = "+919019486731";
    let other = "+919000000002";
    let body = |to: &str, name: &str| {
        format!(r#"{{"body":{{"phoneNumber":"{to}","text":"Hi {name}, invoice 12345"}}}}"#)
    };
    let broadcast = format!(
        r#"{{"body":{{"users":[{{"phoneNumber":"{phone}"}},{{"phoneNumber":"{other}"}}]}}}}"#
    );
    let mut batch = Vec::new();
    for to in [phone, other, "+919000000003"] {
        batch.extend(sent_at(
            "promo",
            to,
            &body(to, "Jahnavi"),
            "2026-11-01T09:00:00Z",
            Outcome::Sent,
        ));
    }
    batch.extend(sent_at(
        "invoice",
        phone,
        &body(phone, "Jahnavi"),
        "2026-11-01T09:00:00Z",
        Outcome::Failed,
    ));
    batch.extend(sent_at(
        "bcast",
        "*",
        &broadcast,
        "2026-11-01T09:00:00Z",
        Outcome::Sent,
    ));
    store.record(&batch).unwrap();
    store
        .log_test_send(&TestSend {
            phone: phone.to_owned(),
            ..test_send("0000beef", "2026-11-02T00:00:00Z", Outcome::Sent)
        })
        .unwrap();
    let serial = store.serial().unwrap();
    assert!(stored_anywhere(f, phone));

    let counted = store.erasable(phone).unwrap();
    assert_eq!(
        counted,
        herald::state::Erasure {
            deliveries: 2,
            attempts: 4,
            test_sends: 1,
            broadcasts: 1,
            kept: 1,
        }
    );
    assert_eq!(store.serial().unwrap(), serial, "counting writes nothing");
    assert_eq!(store.erase(phone).unwrap(), counted);
    assert_eq!(store.serial().unwrap(), serial + 1);
    drop(store);

    assert!(!stored_anywhere(f, phone), "the phone is nowhere in state");
    assert!(stored_anywhere(f, other), "others are kept");
    let store = f.open_read_only();
    let promo = Round::one_off("promo");
    assert!(!store.recorded_map(promo).unwrap().contains_key(phone));
    assert_eq!(store.recorded_map(promo).unwrap().len(), 2);
    let erased = store
        .erasures(promo)
        .unwrap()
        .expect("a hash of the sent delivery");
    assert!(erased.contains(phone));
    assert!(!erased.contains(other));
    assert!(
        store.erasures(Round::one_off("invoice")).unwrap().is_none(),
        "a failed delivery was never received: nothing kept"
    );
    assert!(store.test_sends().unwrap().is_empty());
    let bcast = store.history(Round::one_off("bcast"), None).unwrap();
    assert!(bcast.iter().all(Delivery::request_pruned));
    assert_eq!(
        bcast[0].fingerprint, batch[8].fingerprint,
        "the fingerprint is kept"
    );
    // Erasing again finds nothing and writes nothing.
    let mut store = f.open();
    assert_eq!(
        store.erase(phone).unwrap(),
        herald::state::Erasure::default()
    );
    assert_eq!(store.serial().unwrap(), serial + 1);
}
