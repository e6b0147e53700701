//! Pacing end to end: a frequency cap and WhatsApp's messaging limit over three template
//! campaigns to customers in seven countries. Plans at fixed times (human, JSON and Markdown
//! snapshots) show who is capped and who waits for the next wave, and when; applies against
//! the emulator over ten days send each message once, never past the cap or the limit.

mod apply_support;

use apply_support::{Project, Setup, stable};
use herald::plan::{file, json};
use jiff::Timestamp;

/// Customers in India, the United Kingdom, the United States, the UAE, Singapore, Germany and
/// Brazil.
const WORLD: &str = "phone,first_name,invoice_no
+919019486731,asha,1001
+447700900123,amy,1002
+14155552671,maria,1003
+971501234567,omar,1004
+6591234567,wei,1005
+4915112345678,jonas,1006
+5511912345678,ana,1007
";

/// An invoice reminder (utility) and two offers (marketing) to [`WORLD`].
const CAMPAIGNS: &str = r#"campaigns:
  bill-world:
    audience: {csv: ../audiences/world.csv}
    suppress: false
    send:
      template:
        use: invoice_reminder
        header:
          document:
            link: "https://cdn.renukasugars.example/inv/{{ user.invoice_no }}.pdf"
            filename: "invoice-{{ user.invoice_no }}.pdf"
        body: ["{{ user.first_name | title }}", "{{ user.invoice_no }}", "{{ vars.brand }}"]
        buttons:
          - {flow: 7bbb608c3b4b4e848f36cd2ccd7cfa35, data: {response: approved}}
          - {flow: e30d44bcca4c49d49976d3ac0416c405, data: {response: declined}}
  offer-a-world:
    audience: {csv: ../audiences/world.csv}
    send: &offer
      template:
        use: new_year_offer
        header: {image: {link: "https://cdn.renukasugars.example/img/new-year.png"}}
        body: ["{{ vars.brand }}", "NEWYEAR10"]
        buttons:
          - {url: new-year}
          - {code: NEWYEAR10}
  offer-b-world:
    audience: {csv: ../audiences/world.csv}
    send: *offer
"#;

/// The campaigns above, and nothing else of the example.
const ONLY: [&str; 6] = [
    "--campaign",
    "bill-world",
    "--campaign",
    "offer-a-world",
    "--campaign",
    "offer-b-world",
];

/// Wednesday 2 December 2026, 06:00 UTC.
const DAY_1: &str = "2026-12-02T06:00:00Z";
/// 25 hours later: the first wave is out of the limit's 24 hours.
const DAY_2: &str = "2026-12-03T07:00:00Z";
/// A week after the first wave (plus half an hour): its offers are out of the cap's 7 days.
const DAY_8: &str = "2026-12-09T06:30:00Z";
/// A week after the second wave (plus half an hour).
const DAY_9: &str = "2026-12-10T07:30:00Z";

/// Adds [`WORLD`] and [`CAMPAIGNS`] to the example, with one marketing message a week per
/// person, a messaging limit of five recipients a day, and India as the project's zone.
fn add_world(project: &Project) {
    std::fs::write(project.path().join("audiences/world.csv"), WORLD).unwrap();
    std::fs::write(project.path().join("campaigns/world.yaml"), CAMPAIGNS).unwrap();
    project.edit(
        "herald.yaml",
        "  concurrency: 16\n",
        "  concurrency: 16\n  messaging_limit: 5\n",
    );
    project.append(
        "herald.yaml",
        "timezone: Asia/Kolkata\nfrequency_cap: {max: 1, per: 7d, categories: [marketing]}\n",
    );
}

/// The emulator, and the example with [`add_world`] pointed at it.
fn setup() -> Setup {
    let setup = Setup::new();
    add_world(&setup.project);
    setup
}

/// `herald plan` of the three campaigns at `now` (with the emulator's users, in process).
fn plan(project: &Project, now: &str, format: &str) -> String {
    let mut args = vec!["--format", format];
    args.extend_from_slice(&ONLY);
    project.plan(now, &args, 0)
}

/// Plans and applies the three campaigns at `now`; the counts of each campaign.
fn apply(setup: &Setup, now: &str) -> Vec<(String, herald::plan::Counts)> {
    let mut args = vec!["plan", "--now", now, "--out", "plan.json"];
    args.extend_from_slice(&ONLY);
    let planned = setup.herald(&args);
    assert_eq!(planned.status.code(), Some(0), "{planned:?}");
    let saved = file::read(&setup.project.path().join("plan.json")).unwrap();
    let applied = setup.herald(&["apply", "--now", now, "plan.json"]);
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");
    saved
        .campaigns
        .iter()
        .map(|c| (c.campaign.name.clone(), c.counts))
        .collect()
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

#[test]
fn a_plan_shows_who_is_capped_and_who_waits_for_the_next_wave() {
    let project = Project::example();
    add_world(&project);
    for format in ["human", "json", "markdown"] {
        let text = plan(&project, DAY_1, format);
        insta::assert_snapshot!(format!("day_1.{format}"), stable(&text));
    }
    let plan = json::parse(&plan(&project, DAY_1, "json")).unwrap();
    let limit = plan.header.messaging_limit.as_ref().expect("the limit");
    assert_eq!((limit.limit, limit.used), (5, 0));
    let counts: Vec<_> = plan
        .campaigns
        .iter()
        .map(|c| {
            let n = &c.counts;
            (c.campaign.name.as_str(), n.send, n.waiting, n.capped)
        })
        .collect();
    // Campaigns take the limit's places in name order: the invoice reminders take all five,
    // the first offer goes to the same five (they take no new place), and the second offer
    // finds them at the cap.
    assert_eq!(
        counts,
        [
            ("bill-world", 5, 2, 0),
            ("offer-a-world", 5, 2, 0),
            ("offer-b-world", 0, 2, 5),
        ]
    );
    let wave = at(DAY_1) + jiff::SignedDuration::from_hours(24);
    assert!(
        plan.campaigns
            .iter()
            .all(|c| c.counts.wave_opens == Some(wave))
    );
    let week = at(DAY_1) + jiff::SignedDuration::from_hours(24 * 7);
    assert_eq!(plan.campaigns[2].counts.capped_until, Some(week));
}

#[test]
fn applies_over_ten_days_send_each_message_once_within_the_cap_and_the_limit() {
    let setup = setup();
    let counts = |day: &[(String, herald::plan::Counts)]| -> Vec<(u64, u64, u64)> {
        day.iter()
            .map(|(_, n)| (n.send, n.wave_waiting, n.capped))
            .collect()
    };
    assert_eq!(
        counts(&apply(&setup, DAY_1)),
        [(5, 2, 0), (5, 2, 0), (0, 2, 5)]
    );
    assert_eq!(setup.sends().len(), 10);
    // The five reached on day 1 are out of the limit's 24 hours: the last two go, and the
    // second offer finds everyone at the cap, the last two since today.
    let day_2 = apply(&setup, DAY_2);
    assert_eq!(counts(&day_2), [(2, 0, 0), (2, 0, 0), (0, 0, 7)]);
    // Apply records when it sent: just after the plan's time.
    let week = at(DAY_1) + jiff::SignedDuration::from_hours(24 * 7);
    let until = day_2[2].1.capped_until.expect("capped");
    assert!(
        until >= week && until < week + jiff::SignedDuration::from_mins(1),
        "{until}"
    );
    assert_eq!(setup.sends().len(), 14);
    // A week on, the first five are under the cap again; the last two a day later.
    assert_eq!(
        counts(&apply(&setup, DAY_8)),
        [(0, 0, 0), (0, 0, 0), (5, 0, 2)]
    );
    assert_eq!(
        counts(&apply(&setup, DAY_9)),
        [(0, 0, 0), (0, 0, 0), (2, 0, 0)]
    );
    let sends = setup.sends();
    assert_eq!(sends.len(), 21, "three messages to each of seven people");
    let mut phones: Vec<String> = sends
        .iter()
        .filter_map(|(_, _, body)| Some(body.as_ref()?["phoneNumber"].as_str()?.to_owned()))
        .collect();
    phones.sort();
    phones.dedup();
    assert_eq!(phones.len(), 7, "{sends:?}");
}

#[test]
fn a_template_broadcast_bigger_than_the_limit_is_an_error() {
    let project = Project::example();
    add_world(&project);
    let text = project.plan(DAY_1, &["--campaign", "new-year-offer"], 1);
    insta::assert_snapshot!("broadcast_over_the_limit", stable(&text));
}

#[test]
fn a_template_broadcast_waits_for_its_time_and_then_counts_against_the_limit() {
    let setup = setup();
    setup.project.edit(
        "herald.yaml",
        "messaging_limit: 5\n",
        "messaging_limit: 9\n",
    );
    let counts = |now: &str, campaign: &str| {
        let planned = setup.herald(&[
            "plan",
            "--now",
            now,
            "--campaign",
            campaign,
            "--out",
            "plan.json",
        ]);
        assert_eq!(planned.status.code(), Some(0), "{planned:?}");
        let saved = file::read(&setup.project.path().join("plan.json")).unwrap();
        let applied = setup.herald(&["apply", "--now", now, "plan.json"]);
        assert_eq!(applied.status.code(), Some(0), "{applied:?}");
        let c = &saved.campaigns[0].counts;
        (c.send, c.waiting, c.capped)
    };
    // Published on 31 December: under a messaging limit it is not sent ahead with its publish
    // time, but held until then, when its places are judged.
    assert_eq!(counts(DAY_1, "new-year-offer"), (0, 1, 0));
    assert!(setup.sends().is_empty());
    assert_eq!(counts("2026-12-31T18:40:00Z", "new-year-offer"), (1, 0, 0));
    // Its six recipients took six of the day's nine places, and three of them are customers
    // too, now at the frequency cap: three of the four other customers take the places left.
    assert_eq!(counts("2026-12-31T19:00:00Z", "offer-a-world"), (3, 1, 3));
    assert_eq!(setup.sends().len(), 4, "the broadcast and three offers");
}
