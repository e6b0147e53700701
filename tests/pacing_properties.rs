//! Properties of pacing (proptest): campaigns planned and recorded against a real SQLite
//! state at random sequences of times, under a random frequency cap and messaging limit:
//! - no recipient gets more than `max` marketing messages in any `per`, whichever campaigns
//!   (one-off, daily, weekly) they come from, however often apply runs;
//! - the template messages of any 24 hours reach at most `messaging_limit` unique recipients;
//! - utility messages are never capped.

mod plan_support;

use std::collections::{BTreeMap, BTreeSet};

use herald::state::sqlite::SqliteStore;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

/// Campaigns whose template is a marketing one.
const MARKETING: [&str; 3] = ["daily-promo", "flash-sale", "weekly-promo"];

/// Marketing campaigns every day, every Monday and once, and a utility one, to `users`
/// people, under `frequency_cap: {max, per}` and `messaging_limit: limit`.
fn project(max: u32, per: &str, limit: u64, users: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.yaml"),
        format!(
            "api: {{base_url: \"https://api.engati.ai\", customer_id: 61179, \
             bot_key: bb67e0773bed4c7e, api_key_env: ENGATI_API_KEY, messaging_limit: {limit}}}\n\
             frequency_cap: {{max: {max}, per: {per}}}\n"
        ),
    )
    .unwrap();
    let people: String = (0..users)
        .map(|i| format!("      - {{phone: \"+4477009000{i:02}\"}}\n"))
        .collect();
    let template = |name: &str, category: &str| {
        format!(
            "  {name}:\n    category: {category}\n    language: en\n    body: \"Hi {{{{1}}}}\"\n"
        )
    };
    let campaign = |name: &str, template: &str, schedule: &str| {
        format!(
            "  {name}:\n    audience: people\n{schedule}    send:\n      template:\n        \
             use: {template}\n        body: [\"{{{{ campaign.name }}}}\"]\n"
        )
    };
    let cron = |pattern: &str| {
        format!(
            "    schedule:\n      cron: \"{pattern}\"\n      timezone: Europe/London\n      \
             from: 2026-03-01\n"
        )
    };
    let yaml = format!(
        "templates:\n{}{}audiences:\n  people:\n    users:\n{people}campaigns:\n{}{}{}{}",
        template("promo", "marketing"),
        template("receipt", "utility"),
        campaign("daily-promo", "promo", &cron("0 9 * * *")),
        campaign("flash-sale", "promo", ""),
        campaign("weekly-promo", "promo", &cron("0 12 * * MON")),
        campaign("receipt", "receipt", ""),
    );
    std::fs::create_dir(dir.path().join("campaigns")).unwrap();
    std::fs::write(dir.path().join("campaigns/all.yaml"), yaml).unwrap();
    dir
}

/// The most sends of `times` (ascending) in any span of `per` ending at one of them.
fn busiest(times: &[Timestamp], per: SignedDuration) -> usize {
    times
        .iter()
        .map(|&end| times.iter().filter(|&&t| t > end - per && t <= end).count())
        .max()
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn no_recipient_exceeds_the_cap_nor_a_day_the_limit(
        max in 1u32..4,
        per_hours in prop_oneof![Just(12i64), Just(24), Just(72), Just(168)],
        limit in 1u64..6,
        users in 1usize..6,
        // Minutes after Friday 20 March 2026: up to ~6 weeks (London's clocks change on the
        // 29th).
        mut offsets in prop::collection::vec(0i64..60_000, 1..12),
    ) {
        let per = SignedDuration::from_hours(per_hours);
        let dir = project(max, &format!("{per_hours}h"), limit, users);
        let mut store = SqliteStore::in_memory();
        let start: Timestamp = "2026-03-20T00:00:00Z".parse().unwrap();
        offsets.sort_unstable();
        offsets.dedup();
        let mut marketing: BTreeMap<String, Vec<Timestamp>> = BTreeMap::new();
        let mut reached: Vec<(Timestamp, String)> = Vec::new();
        for minutes in offsets {
            let now = start + SignedDuration::from_mins(minutes);
            let sends = plan_support::apply_at(dir.path(), &mut store, now);
            for (campaign, _, action) in &sends.sends {
                if MARKETING.contains(&campaign.as_str()) {
                    marketing.entry(action.recipient.clone()).or_default().push(now);
                }
                reached.push((now, action.recipient.clone()));
            }
            for (campaign, action) in &sends.capped {
                prop_assert!(MARKETING.contains(&campaign.as_str()), "{campaign} was capped");
                prop_assert!(action.capped_until.is_some_and(|until| until > now));
            }
        }
        for (recipient, times) in &marketing {
            let most = busiest(times, per);
            prop_assert!(
                most <= max as usize,
                "{recipient} got {most} marketing messages in {per_hours}h (cap {max})"
            );
        }
        for (end, _) in &reached {
            let unique: BTreeSet<&str> = reached
                .iter()
                .filter(|(t, _)| *t > *end - SignedDuration::from_hours(24) && t <= end)
                .map(|(_, r)| r.as_str())
                .collect();
            prop_assert!(
                unique.len() as u64 <= limit,
                "{} unique recipients in the 24 h to {end} (limit {limit})", unique.len()
            );
        }
    }
}

#[test]
fn a_capped_recipient_is_sent_once_under_the_cap_again() {
    // One message a day; the daily and the one-off promotions compete for it.
    let dir = project(1, "24h", 100, 2);
    let mut store = SqliteStore::in_memory();
    let monday: Timestamp = "2026-03-23T10:00:00Z".parse().unwrap();
    let first = plan_support::apply_at(dir.path(), &mut store, monday);
    let sent: BTreeSet<(&str, &str)> = first
        .sends
        .iter()
        .map(|(c, _, a)| (c.as_str(), a.recipient.as_str()))
        .collect();
    // Campaigns are planned in name order: the daily promotion takes the day's message.
    assert!(sent.contains(&("daily-promo", "+447700900000")));
    assert!(
        !sent
            .iter()
            .any(|(c, _)| *c == "flash-sale" || *c == "weekly-promo")
    );
    assert!(
        sent.contains(&("receipt", "+447700900000")),
        "utility is never capped"
    );
    let capped: BTreeSet<&str> = first.capped.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(capped, BTreeSet::from(["flash-sale", "weekly-promo"]));
    let until = first.capped[0].1.capped_until.unwrap();
    assert_eq!(until, monday + SignedDuration::from_hours(24));
    // Before then nothing more goes; from then the flash sale does (the name order again),
    // and the weekly one waits another day.
    let early =
        plan_support::apply_at(dir.path(), &mut store, until - SignedDuration::from_mins(1));
    assert!(early.sends.is_empty(), "{:?}", early.sends);
    let next = plan_support::apply_at(dir.path(), &mut store, until);
    let campaigns: BTreeSet<&str> = next.sends.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(
        campaigns,
        BTreeSet::from(["daily-promo"]),
        "Tuesday's daily occurrence"
    );
}
