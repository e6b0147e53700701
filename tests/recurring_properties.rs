//! Properties of recurring campaigns (proptest), planned and recorded against a real SQLite
//! state at random sequences of times, in zones with and without daylight saving:
//! - each recipient gets each occurrence at most once, however often apply runs;
//! - nothing is sent before its occurrence, and what is sent is the latest occurrence due.

mod plan_support;

use std::collections::BTreeSet;

use herald::schedule::Recurrence;
use herald::state::sqlite::SqliteStore;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn project(cron: &str, zone: &str, users: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.yaml"),
        "api: {base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, api_key_env: ENGATI_API_KEY}\n",
    )
    .unwrap();
    let mut yaml = format!(
        "audiences:\n  people:\n    users:\n{}campaigns:\n  digest:\n    audience: people\n    \
         schedule:\n      cron: \"{cron}\"\n      timezone: {zone}\n      from: 2026-03-01\n    \
         send:\n      trigger:\n        flow: digest_flow\n        \
         attributes: {{week: \"{{{{ campaign.scheduled_at }}}}\"}}\n",
        (0..users)
            .map(|i| format!("      - {{phone: \"+4477009000{i:02}\"}}\n"))
            .collect::<String>()
    );
    yaml.push('\n');
    std::fs::create_dir(dir.path().join("campaigns")).unwrap();
    std::fs::write(dir.path().join("campaigns/digest.yaml"), yaml).unwrap();
    dir
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn each_occurrence_reaches_each_recipient_at_most_once(
        schedule in prop_oneof![
            Just(("0 9 * * MON", "Europe/London")),
            Just(("30 1 * * *", "Europe/London")),
            Just(("0 */6 * * *", "America/New_York")),
            Just(("0 9 * * *", "Asia/Kolkata")),
        ],
        users in 1usize..4,
        // Minutes after 2026-03-20 (London's clocks change on the 29th): up to ~6 weeks.
        mut offsets in prop::collection::vec(0i64..60_000, 1..10),
    ) {
        let (cron, zone) = schedule;
        let dir = project(cron, zone, users);
        let mut store = SqliteStore::in_memory();
        let recurrence = Recurrence::parse(cron, Some(zone), Some("2026-03-01"), None).unwrap();
        let start: Timestamp = "2026-03-20T00:00:00Z".parse().unwrap();
        offsets.sort_unstable();
        let mut seen = BTreeSet::new();
        for minutes in offsets {
            let now = start + SignedDuration::from_mins(minutes);
            let sends = plan_support::apply_at(dir.path(), &mut store, now);
            for (_, occurrence, action) in sends.sends {
                let occurrence = occurrence.expect("a recurring round");
                prop_assert!(occurrence <= now, "sent before its occurrence");
                prop_assert_eq!(Some(occurrence), recurrence.latest_due(now));
                prop_assert!(
                    seen.insert((occurrence, action.recipient.clone())),
                    "{} got {} twice", action.recipient, occurrence
                );
            }
        }
    }
}
