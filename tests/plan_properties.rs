//! Properties of planning, for random audiences and random prior states (proptest), against a
//! real SQLite state:
//! - a delivery that state holds as sent with the same fingerprint is never listed;
//! - every other prior state gets the action campaign-format.md prescribes;
//! - recording a plan's sends as sent, then planning again, gives no sends;
//! - `suppress` and `previously` never add a message to what a plan sends.

mod plan_support;

use std::collections::BTreeMap;
use std::io;

use herald::plan::cost::Cost;
use herald::plan::engine;
use herald::plan::{Action, ActionKind, Campaign, Counts, Header, Sink};
use herald::render::NoUsersApi;
use herald::state::sqlite::SqliteStore;
use herald::state::{Delivery, Outcome, Store};
use proptest::prelude::*;

/// Every action of a plan, by campaign.
#[derive(Default)]
struct Collect {
    current: String,
    actions: Vec<(String, Action)>,
    totals: Counts,
}

impl Sink for Collect {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.current = campaign.name.clone();
        Ok(())
    }
    fn action(&mut self, action: &Action) -> io::Result<()> {
        self.actions.push((self.current.clone(), action.clone()));
        Ok(())
    }
    fn end_campaign(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        Ok(())
    }
    fn end(&mut self, totals: &Counts, _: Option<&Cost>) -> io::Result<()> {
        self.totals = *totals;
        Ok(())
    }
}

/// What state holds for a recipient before the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Prior {
    Nothing,
    SentSame,
    SentOther,
    Failed,
    Unknown,
    InFlight,
}

fn prior() -> impl Strategy<Value = Prior> {
    prop_oneof![
        Just(Prior::Nothing),
        Just(Prior::SentSame),
        Just(Prior::SentOther),
        Just(Prior::Failed),
        Just(Prior::Unknown),
        Just(Prior::InFlight),
    ]
}

/// A project with a template campaign and a trigger campaign to the same inline users.
fn project(users: &[(u64, String)], on_change: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.yaml"),
        "api: {base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, api_key_env: ENGATI_API_KEY}\nvars: {brand: Acme}\n",
    )
    .unwrap();
    let mut yaml = String::from(
        "templates:\n  hello:\n    language: en\n    body: \"Hi {{1}}, from {{2}}\"\n\
         audiences:\n  people:\n    users:\n",
    );

    for (number, name) in users {
        yaml.push_str(&format!(
            "      - {{phone: \"+9198{number:08}\", name: \"{name}\"}}\n"
        ));
    }
    yaml.push_str(&format!(
        "campaigns:\n  greet:\n    audience: people\n    on_change: {on_change}\n    send:\n      template:\n        use: hello\n        body: [\"{{{{ user.name | title }}}}\", \"{{{{ vars.brand }}}}\"]\n\
         \x20 nudge:\n    audience: people\n    send:\n      trigger:\n        flow: f1\n        attributes: {{who: \"{{{{ user.name }}}}\"}}\n"
    ));
    std::fs::create_dir_all(dir.path().join("campaigns")).unwrap();
    std::fs::write(dir.path().join("campaigns/c.yaml"), yaml).unwrap();
    dir
}

/// Plans a valid project at a fixed time, without Users API audiences.
fn try_plan(dir: &std::path::Path, store: &dyn Store) -> Result<Collect, engine::Failure> {
    let mut sink = Collect::default();
    let now = "2026-12-01T00:00:00Z".parse().unwrap();
    plan_support::plan_with(dir, now, &mut NoUsersApi, store, &mut sink)?;
    Ok(sink)
}

fn plan(dir: &std::path::Path, store: &dyn Store) -> Collect {
    try_plan(dir, store).expect("the plan is made")
}

fn delivery(campaign: &str, action: &Action, outcome: Outcome) -> Delivery {
    Delivery {
        campaign: campaign.to_owned(),
        occurrence: None,
        recipient: action.recipient.clone(),
        fingerprint: action.fingerprint,
        request: action.request.to_json(),
        outcome,
        api_code: None,
        detail: None,
        at: "2026-11-30T00:00:00Z".parse().unwrap(),
        apply_id: "earlier".to_owned(),
    }
}

/// What state holds for `action` before the plan, when `prior` is anything.
fn prior_delivery(campaign: &str, action: &Action, prior: Prior) -> Option<Delivery> {
    let mut other = action.clone();
    other.fingerprint = herald::fingerprint::Fingerprint::of(b"an older message");
    Some(match prior {
        Prior::Nothing => return None,
        Prior::SentSame => delivery(campaign, action, Outcome::Sent),
        Prior::SentOther => delivery(campaign, &other, Outcome::Sent),
        Prior::Failed => delivery(campaign, action, Outcome::Failed),
        Prior::Unknown => delivery(campaign, action, Outcome::Unknown),
        Prior::InFlight => delivery(campaign, action, Outcome::InFlight),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn plan_respects_state_and_apply_then_plan_sends_nothing(
        users in proptest::collection::vec((0u64..40, "[a-z]{1,8}"), 1..25),
        priors in proptest::collection::vec(prior(), 25),
        resend in any::<bool>(),
    ) {
        let on_change = if resend { "resend" } else { "keep" };
        let dir = project(&users, on_change);
        let mut store = SqliteStore::in_memory();

        // What the files render to, against empty state: one send per distinct phone.
        let fresh = plan(dir.path(), &store);
        let distinct: std::collections::BTreeSet<u64> = users.iter().map(|(n, _)| *n).collect();
        prop_assert_eq!(fresh.totals.send, 2 * distinct.len() as u64);

        // A random prior state per recipient.
        let mut expected: BTreeMap<(String, String), Prior> = BTreeMap::new();
        let mut batch = Vec::new();
        for (i, (campaign, action)) in fresh.actions.iter().enumerate() {
            let p = priors[i % priors.len()];
            expected.insert((campaign.clone(), action.recipient.clone()), p);
            batch.extend(prior_delivery(campaign, action, p));
        }
        store.record(&batch).unwrap();

        let planned = plan(dir.path(), &store);
        for (campaign, action) in &planned.actions {
            let p = expected[&(campaign.clone(), action.recipient.clone())];
            prop_assert_ne!(p, Prior::SentSame, "a delivery sent as it is was listed");
            let want = match p {
                Prior::Nothing => (ActionKind::Send, true),
                Prior::SentOther => (ActionKind::Changed, campaign == "nudge" || resend),
                Prior::Failed => (ActionKind::Retry, true),
                Prior::Unknown | Prior::InFlight => (ActionKind::Unknown, false),
                Prior::SentSame => unreachable!(),
            };
            // `nudge` has the default on_change: keep.
            let want = if campaign == "nudge" && p == Prior::SentOther {
                (ActionKind::Changed, false)
            } else {
                want
            };
            prop_assert_eq!((action.action, action.sends), want, "{} {}", campaign, action.recipient);
        }
        let same = expected.values().filter(|p| **p == Prior::SentSame).count() as u64;
        prop_assert_eq!(planned.totals.unchanged, same);

        // Apply the sends; the next plan sends nothing.
        let applied: Vec<Delivery> = planned
            .actions
            .iter()
            .filter(|(_, a)| a.sends)
            .map(|(c, a)| delivery(c, a, Outcome::Sent))
            .collect();
        store.record(&applied).unwrap();
        let again = plan(dir.path(), &store);
        prop_assert_eq!(again.totals.requests, 0);
        prop_assert!(again.actions.iter().all(|(_, a)| !a.sends));
    }
}

/// A project with one template campaign `greet` to `users`; `suppressed` of them are on a
/// `suppress` audience (listed in herald.yaml when `suppress`), and `greet` keeps the
/// deliveries of `greet-old` when `previously`.
fn rails_project(
    users: &[u64],
    suppressed: &[u64],
    suppress: bool,
    previously: bool,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let list = if suppress {
        "suppress: [optouts]\n"
    } else {
        ""
    };
    std::fs::write(
        dir.path().join("herald.yaml"),
        format!("api: {{base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, api_key_env: ENGATI_API_KEY}}\nvars: {{brand: Acme}}\n{list}"),
    )
    .unwrap();
    let people = |numbers: &[u64]| -> String {
        let mut yaml = String::from("    users:\n");
        for n in numbers {
            yaml.push_str(&format!("      - {{phone: \"+9198{n:08}\", name: n{n}}}\n"));
        }
        yaml
    };
    let previously = if previously {
        "    previously: [greet-old]\n"
    } else {
        ""
    };
    let yaml = format!(
        "templates:\n  hello:\n    language: en\n    body: \"Hi {{{{1}}}}\"\n\
         audiences:\n  people:\n{}  optouts:\n{}\
         campaigns:\n  greet:\n    audience: people\n{previously}    send:\n      template:\n        use: hello\n        body: [\"{{{{ user.name }}}}\"]\n",
        people(users),
        if suppressed.is_empty() {
            "    users: []\n".to_owned()
        } else {
            people(suppressed)
        },
    );
    std::fs::create_dir_all(dir.path().join("campaigns")).unwrap();
    std::fs::write(dir.path().join("campaigns/c.yaml"), yaml).unwrap();
    dir
}

/// The recipients a plan sends to.
fn sent_to(plan: &Collect) -> std::collections::BTreeSet<String> {
    plan.actions
        .iter()
        .filter(|(_, a)| a.sends)
        .map(|(_, a)| a.recipient.clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn suppress_and_previously_never_add_a_message(
        users in proptest::collection::btree_set(0u64..40, 1..20),
        optouts in proptest::collection::btree_set(0u64..40, 0..10),
        priors in proptest::collection::vec(prior(), 40),
        under_old in proptest::collection::vec(any::<bool>(), 40),
    ) {
        let users: Vec<u64> = users.into_iter().collect();
        let optouts: Vec<u64> = optouts.into_iter().collect();
        let mut store = SqliteStore::in_memory();
        // A random prior state, recorded under the campaign's old name or its own.
        let base = rails_project(&users, &optouts, false, false);
        let fresh = plan(base.path(), &store);
        let mut batch = Vec::new();
        let mut sent_before_rename = Vec::new();
        for (i, (_, action)) in fresh.actions.iter().enumerate() {
            let campaign = if under_old[i % under_old.len()] { "greet-old" } else { "greet" };
            if campaign == "greet-old" && priors[i % priors.len()] == Prior::SentSame {
                sent_before_rename.push(action.recipient.clone());
            }
            batch.extend(prior_delivery(campaign, action, priors[i % priors.len()]));
        }
        store.record(&batch).unwrap();

        let mut sends = BTreeMap::new();
        for suppress in [false, true] {
            for previously in [false, true] {
                let dir = rails_project(&users, &optouts, suppress, previously);
                sends.insert((suppress, previously), sent_to(&plan(dir.path(), &store)));
            }
        }
        for x in [false, true] {
            prop_assert!(sends[&(true, x)].is_subset(&sends[&(false, x)]), "suppress added a message");
            prop_assert!(sends[&(x, true)].is_subset(&sends[&(x, false)]), "previously added a message");
        }
        // What the old name sent as it is goes again without `previously`, never with it.
        for phone in &sent_before_rename {
            prop_assert!(sends[&(false, false)].contains(phone));
            prop_assert!(!sends[&(false, true)].contains(phone));
        }
        for n in &optouts {
            let phone = format!("+9198{n:08}");
            prop_assert!(!sends[&(true, false)].contains(&phone));
            prop_assert!(!sends[&(true, true)].contains(&phone));
        }
    }
}

/// A CSV audience big enough for several render batches on several threads.
fn big_csv_project(rows: usize, bad_row: Option<usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.yaml"),
        "api: {base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, api_key_env: ENGATI_API_KEY}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("campaigns")).unwrap();
    std::fs::write(
        dir.path().join("campaigns/c.yaml"),
        "templates:\n  t: {language: en, body: \"You have {{1}} points\"}\n\
         campaigns:\n  points:\n    audience: {csv: ../people.csv}\n    send:\n      template: {use: t, body: [\"{{ user.points | int + 1 }}\"]}\n",
    )
    .unwrap();
    let mut csv = String::from("phone,points\n");
    for i in 0..rows {
        // Not in phone order, so order bugs show.
        let phone = 919_000_000_000u64 + (i as u64 * 7_919) % 1_000_000_000;
        let points = if Some(i) == bad_row {
            "many".to_owned()
        } else {
            i.to_string()
        };
        csv.push_str(&format!("+{phone},{points}\n"));
    }
    std::fs::write(dir.path().join("people.csv"), csv).unwrap();
    dir
}

#[test]
fn a_big_audience_is_planned_in_csv_order_across_batches_and_threads() {
    let dir = big_csv_project(20_000, None);
    let store = SqliteStore::in_memory();
    let planned = plan(dir.path(), &store);
    assert_eq!(planned.totals.send, 20_000);
    let text = std::fs::read_to_string(dir.path().join("people.csv")).unwrap();
    let phones: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let planned_phones: Vec<&str> = planned
        .actions
        .iter()
        .map(|(_, a)| a.recipient.as_str())
        .collect();
    assert_eq!(planned_phones, phones);
    // Each body carries its own row's value.
    let (_, last) = planned.actions.last().unwrap();
    assert!(
        last.request
            .body
            .as_ref()
            .unwrap()
            .get()
            .contains("\"20000\"")
    );
}

#[test]
fn a_render_failure_deep_in_a_big_audience_names_the_recipient() {
    let dir = big_csv_project(20_000, Some(15_345));
    let Err(failure) = try_plan(dir.path(), &SqliteStore::in_memory()) else {
        panic!("the plan was made despite a recipient that cannot render");
    };
    let engine::Failure::Problems(problems) = failure else {
        panic!("expected a render problem");
    };
    assert!(
        problems[0]
            .message
            .contains("recipient 15346 (+919121517055)"),
        "{}",
        problems[0].message
    );
}
