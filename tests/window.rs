//! Send windows end to end: plans at fixed times of a campaign whose recipients live in seven
//! countries (human, JSON and Markdown snapshots), applies against the emulator that send only
//! to the recipients whose window is open and the rest at later applies, and a property: for
//! random windows, project zones and times, no plan sends to anyone outside their window.

mod apply_support;

use std::collections::BTreeSet;

use apply_support::{Project, Setup, stable, state_outcomes};
use herald::engati::ReadError;
use herald::engati::api::BotUser;
use herald::plan::engine;
use herald::plan::file;
use herald::plan::json::{self, Document};
use herald::render::{NoUsersApi, UsersSource};
use herald::state::Outcome;
use herald::state::sqlite::SqliteStore;
use jiff::Timestamp;
use proptest::prelude::*;

/// Recipients in India, the United Kingdom, the United States (Maria says she is on Pacific
/// time; +1 alone would be New York), the UAE, Singapore, Germany and Brazil.
const WORLD: &str = "phone,first_name,timezone
+919019486731,asha,
+447700900123,amy,
+14155552671,maria,America/Los_Angeles
+971501234567,omar,
+6591234567,wei,
+4915112345678,jonas,
+5511912345678,ana,
";

/// Each recipient of [`WORLD`] and the zone the plan must judge them in.
const ZONES: [(&str, &str); 7] = [
    ("+919019486731", "Asia/Kolkata"),
    ("+447700900123", "Europe/London"),
    ("+14155552671", "America/Los_Angeles"),
    ("+971501234567", "Asia/Dubai"),
    ("+6591234567", "Asia/Singapore"),
    ("+4915112345678", "Europe/Berlin"),
    ("+5511912345678", "America/Sao_Paulo"),
];

/// A trigger campaign to [`WORLD`] that keeps business hours, Monday to Saturday.
const CAMPAIGN: &str = r#"campaigns:
  world-feedback:
    description: Ask customers everywhere for feedback, in their business hours
    audience: {csv: ../audiences/world.csv}
    window: {hours: "09:00-20:00", days: [mon, tue, wed, thu, fri, sat]}
    send:
      trigger:
        flow: default_fallback_msg_74963
        attributes: {user.user_name: "{{ user.first_name | title }}"}
"#;

/// Wednesday 2 December 2026, 06:00 UTC: 11:30 in India, 10:00 in Dubai, 14:00 in Singapore;
/// 06:00 in London, 07:00 in Berlin, 03:00 in São Paulo, 22:00 on Tuesday in Los Angeles.
const MORNING: &str = "2026-12-02T06:00:00Z";
/// 12:30 UTC: London, Berlin and São Paulo have opened; Los Angeles is at 04:30.
const NOON: &str = "2026-12-02T12:30:00Z";
/// 17:30 UTC: 09:30 in Los Angeles.
const EVENING: &str = "2026-12-02T17:30:00Z";

/// Adds the campaign, its audience and the project's zone (India) to a copy of the example.
fn add_world(project: &Project) {
    std::fs::write(project.path().join("audiences/world.csv"), WORLD).unwrap();
    std::fs::write(project.path().join("campaigns/world.yaml"), CAMPAIGN).unwrap();
    project.append("herald.yaml", "timezone: Asia/Kolkata\n");
}

#[test]
fn a_plan_shows_who_waits_for_their_window_and_when_it_opens() {
    let project = Project::example();
    add_world(&project);
    for format in ["human", "json", "markdown"] {
        let args = ["--campaign", "world-feedback", "--format", format];
        let text = project.plan(MORNING, &args, 0);
        insta::assert_snapshot!(format!("morning.{format}"), stable(&text));
    }
    let json = project.plan(
        MORNING,
        &["--campaign", "world-feedback", "--format", "json"],
        0,
    );
    let plan = json::parse(&json).expect("the plan reads back");
    let c = &plan.campaigns[0];
    assert_eq!((c.counts.send, c.counts.waiting), (3, 4));
    assert_eq!(c.counts.window_waiting, 4);
    assert_eq!(
        c.counts.window_opens,
        Some(at("2026-12-02T08:00:00Z")),
        "Berlin"
    );
}

#[test]
fn apply_sends_to_the_open_windows_and_the_rest_later() {
    let setup = Setup::new();
    add_world(&setup.project);
    let sent = |now: &str| {
        let plan = setup.herald(&[
            "plan",
            "--campaign",
            "world-feedback",
            "--now",
            now,
            "--out",
            "plan.json",
        ]);
        assert_eq!(plan.status.code(), Some(0), "{plan:?}");
        let applied = setup.herald(&["apply", "--now", now, "plan.json"]);
        assert_eq!(applied.status.code(), Some(0), "{applied:?}");
        let outcomes = state_outcomes(&setup);
        let sent: BTreeSet<String> = outcomes
            .iter()
            .filter(|((campaign, _), outcome)| {
                campaign == "world-feedback" && **outcome == Outcome::Sent
            })
            .map(|((_, phone), _)| phone.clone())
            .collect();
        sent
    };
    let names = |phones: &[&str]| {
        phones
            .iter()
            .map(|p| (*p).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        sent(MORNING),
        names(&["+919019486731", "+971501234567", "+6591234567"])
    );
    assert_eq!(setup.sends().len(), 3);
    assert_eq!(
        sent(NOON),
        names(&[
            "+919019486731",
            "+971501234567",
            "+6591234567",
            "+447700900123",
            "+4915112345678",
            "+5511912345678",
        ])
    );
    assert_eq!(setup.sends().len(), 6, "nobody is sent twice");
    assert_eq!(sent(EVENING).len(), 7);
    assert_eq!(setup.sends().len(), 7);
}

#[test]
fn a_plan_applied_after_windows_closed_sends_only_to_the_still_open() {
    let setup = Setup::new();
    add_world(&setup.project);
    let plan = setup.herald(&[
        "plan",
        "--campaign",
        "world-feedback",
        "--now",
        MORNING,
        "--out",
        "plan.json",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let saved = file::read(&setup.project.path().join("plan.json")).unwrap();
    let closes: Vec<_> = saved.campaigns[0]
        .actions
        .iter()
        .filter(|a| a.sends)
        .map(|a| (a.recipient.as_str(), a.window_closes))
        .collect();
    assert_eq!(
        closes,
        [
            ("+919019486731", Some(at("2026-12-02T14:30:00Z"))),
            ("+971501234567", Some(at("2026-12-02T16:00:00Z"))),
            ("+6591234567", Some(at("2026-12-02T12:00:00Z"))),
        ]
    );
    // Applied at 15:00 UTC: 20:30 in India and 23:00 in Singapore, 19:00 in Dubai.
    let late = setup.herald(&["apply", "--now", "2026-12-02T15:00:00Z", "plan.json"]);
    assert_eq!(late.status.code(), Some(1), "{late:?}");
    let summary = String::from_utf8_lossy(&late.stdout);
    assert!(
        summary.contains("2  not sent: the recipient's send window closed during the apply"),
        "{summary}"
    );
    assert_eq!(setup.sends().len(), 1);
    let sent: Vec<_> = state_outcomes(&setup)
        .into_keys()
        .map(|(_, phone)| phone)
        .collect();
    assert_eq!(sent, ["+971501234567"], "nothing else was recorded");
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

/// A project of the [`WORLD`] recipients (inline, with Maria's zone) under a random window, and
/// `project_zone` as herald.yaml's `timezone:`.
fn random_project(hours: &str, days: &[&str], project_zone: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.yaml"),
        format!(
            "api: {{base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, api_key_env: K}}\n\
             timezone: {project_zone}\nwindow: {{hours: \"{hours}\", days: [{}]}}\n",
            days.join(", ")
        ),
    )
    .unwrap();
    let mut yaml = String::from("audiences:\n  world:\n    users:\n");
    for (phone, zone) in ZONES {
        let given = if zone == "America/Los_Angeles" {
            format!(", timezone: {zone}")
        } else {
            String::new()
        };
        yaml.push_str(&format!("      - {{phone: \"{phone}\"{given}}}\n"));
    }
    yaml.push_str(&format!("      - {{phone: \"{NEW_YORK}\"}}\n"));
    yaml.push_str("campaigns:\n  hello:\n    audience: world\n    send: {trigger: {flow: f1}}\n");
    std::fs::create_dir_all(dir.path().join("campaigns")).unwrap();
    std::fs::write(dir.path().join("campaigns/c.yaml"), yaml).unwrap();
    dir
}

/// A +1 number without a zone of its own: New York, +1's main zone, unless the project is on
/// another of its zones.
const NEW_YORK: &str = "+12125550123";

/// The zone a recipient of [`random_project`] must be judged in.
fn expected_zone(phone: &str, project_zone: &'static str) -> &'static str {
    match ZONES.iter().find(|(p, _)| *p == phone) {
        Some((_, zone)) => zone,
        None if project_zone == "America/Los_Angeles" => project_zone,
        None => "America/New_York",
    }
}

/// The plan of a valid project at `now`, against an empty state, its Users API audiences
/// read from `users`.
fn try_plan_at(
    dir: &std::path::Path,
    now: Timestamp,
    users: &mut dyn UsersSource,
) -> Result<Document, engine::Failure> {
    let mut out = json::Writer::new(Vec::new());
    apply_support::plan_with(dir, now, users, &SqliteStore::in_memory(), &mut out)?;
    Ok(json::parse(&String::from_utf8(out.into_inner()).unwrap()).expect("it reads back"))
}

fn plan_at(dir: &std::path::Path, now: Timestamp) -> Document {
    try_plan_at(dir, now, &mut NoUsersApi).expect("a plan")
}

/// Users API users: one in India whose `timezone` attribute is misspelt.
struct Misspelt;

impl UsersSource for Misspelt {
    fn users(&mut self, _: &str, _: &str) -> Result<Vec<BotUser>, ReadError> {
        let user = |phone: &str, zone: &str| BotUser {
            channel_user_id: None,
            phone_number: Some(phone.to_owned()),
            attributes: [("timezone".to_owned(), serde_json::Value::from(zone))].into(),
        };
        Ok(vec![
            user("+447700900123", "Europe/London"),
            user("+919019486731", "Asia/Kolkatta"),
        ])
    }
}

#[test]
fn a_users_api_timezone_that_names_no_zone_stops_the_plan_naming_the_recipient() {
    let dir = random_project("09:00-20:00", &["mon"], "UTC");
    let campaigns = dir.path().join("campaigns/c.yaml");
    let yaml = std::fs::read_to_string(&campaigns).unwrap();
    let yaml = yaml.replace(
        "audience: world",
        "audience: {users_api: {attribute: opt1, value: \"yes\"}}",
    );
    std::fs::write(&campaigns, yaml).unwrap();
    let Err(engine::Failure::Problems(problems)) =
        try_plan_at(dir.path(), at(MORNING), &mut Misspelt)
    else {
        panic!("the plan is refused");
    };
    let messages: Vec<&str> = problems.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "campaign `hello`, recipient 2 (+919019486731): user.timezone `Asia/Kolkatta` is not \
          an IANA time zone; did you mean `Asia/Kolkata`?"
        ]
    );
}

/// Whether `at` is inside `hours` on `days` in `zone`, worked out here from the wall clock
/// (not with herald's rule): the day a window belongs to is the day it opens.
fn open(at: Timestamp, zone: &str, (start, end): (i32, i32), days: &[&str]) -> bool {
    let local = at.to_zoned_datetime(herald::tz::zone(zone).unwrap());
    let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
    let day = |d: jiff::civil::Weekday| {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.to_monday_zero_offset() as usize]
    };
    let today = days.contains(&day(local.weekday()));
    let yesterday = days.contains(&day(local.weekday().previous()));
    if start < end {
        today && minute >= start && minute < end
    } else {
        (today && minute >= start) || (yesterday && minute < end)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Nobody is sent a message outside their window, and everyone held back is told a time at
    /// which their window is open.
    #[test]
    fn no_message_is_sent_outside_its_recipients_window(
        start in 0i32..1440,
        length in 1i32..1440,
        day_bits in 1u8..128,
        project_zone in prop::sample::select(vec!["UTC", "Asia/Kolkata", "America/Los_Angeles", "Australia/Perth"]),
        seconds in 1_767_225_600i64..1_798_761_600,
    ) {
        let end = (start + length) % 1440;
        let hours = format!(
            "{:02}:{:02}-{:02}:{:02}",
            start / 60, start % 60, if end == 0 { 24 } else { end / 60 }, end % 60
        );
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days: Vec<&str> = (0..7).filter(|i| day_bits & (1 << i) != 0).map(|i| names[i]).collect();
        let dir = random_project(&hours, &days, project_zone);
        let now = Timestamp::from_second(seconds).unwrap();
        let plan = plan_at(dir.path(), now);
        let window = (start, if end == 0 { 1440 } else { end });
        for action in &plan.campaigns[0].actions {
            let zone = expected_zone(&action.recipient, project_zone);
            if action.sends {
                prop_assert!(open(now, zone, window, &days), "{} sent at {} outside {} {:?} in {}", action.recipient, now, hours, days, zone);
                // Lengths here stop short of the whole day: every window closes.
                let closes = action.window_closes.expect("sends carry their window's end");
                prop_assert!(closes > now && !open(closes, zone, window, &days), "{} closes {}", action.recipient, closes);
                let mut t = now;
                while t < closes {
                    prop_assert!(open(t, zone, window, &days), "{} closed at {} before {}", action.recipient, t, closes);
                    t += jiff::SignedDuration::from_mins(13);
                }
            } else {
                let opens = action.window_opens.expect("held by the window");
                prop_assert_eq!(action.zone.as_deref(), Some(zone));
                prop_assert!(opens > now);
                prop_assert!(open(opens, zone, window, &days), "{} opens {} outside {} {:?} in {}", action.recipient, opens, hours, days, zone);
            }
        }
    }
}
