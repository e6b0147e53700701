//! Plan files written and read back: every plan comes back item for item, whatever its
//! requests look like, and a file damaged anywhere is refused.

use proptest::prelude::*;

use super::{Event, Reader, Writer};
use crate::engati::{Body, Method, Request};
use crate::fingerprint::Fingerprint;
use crate::model::OnChange;
use crate::plan::{Action, ActionKind, Campaign, Counts, Header, Previous, Sink, Target};
use crate::state::Outcome;

fn header() -> Header {
    Header {
        herald_version: "0.1.0".to_owned(),
        created_at: "2026-12-01T04:00:00Z".parse().unwrap(),
        environment: None,
        target: Target {
            base_url: "https://api.engati.com".to_owned(),
            customer_id: 61179,
            bot_key: "bb67e0773bed4c7e".to_owned(),
        },
        state_serial: 3,
        state_lineage: None,
        inputs_hash: "0".repeat(64),
        reconciled: false,
        campaigns: Vec::new(),
        safety: crate::plan::safety::Caps::default(),
        pricing: None,
        budget: crate::plan::cost::Budget::default(),
        frequency_cap: None,
        timezone: None,
        messaging_limit: None,
    }
}

fn campaign(name: &str, send: &str) -> Campaign {
    Campaign {
        on_change: OnChange::Resend,
        ..Campaign::bare(name, send)
    }
}

/// What one generated action is made from.
#[derive(Debug, Clone)]
struct Shape {
    phone: u64,
    name: String,
    amount: i64,
    /// 0: the usual body; 1: one parameter more; 2: no body; 3: another path; 4: a query.
    variant: u8,
    kind: usize,
    previous: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        0u64..1_000_000,
        "[a-zA-Z \"\\\\é😀\\n]{0,12}",
        any::<i64>(),
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8), 1 => Just(4u8)],
        0usize..6,
        any::<bool>(),
    )
        .prop_map(|(phone, name, amount, variant, kind, previous)| Shape {
            phone,
            name,
            amount,
            variant,
            kind,
            previous,
        })
}

fn action(shape: &Shape) -> Action {
    let phone = format!("+91{:010}", shape.phone);
    let mut params = vec![
        serde_json::json!({"type": "text", "text": shape.name}),
        serde_json::json!({"type": "text", "text": shape.amount}),
    ];
    if shape.variant == 1 {
        params.push(serde_json::json!({"type": "text", "text": "more"}));
    }
    let body =
        serde_json::json!({"phoneNumber": phone, "payload": {"name": "t", "params": params}});
    let mut request = Request::post_raw("/template".to_owned(), Body::of(&body));
    match shape.variant {
        2 => request.body = None,
        3 => request.path = "/other".to_owned(),
        4 => {
            request.method = Method::Get;
            request.query = vec![("user".to_owned(), shape.name.clone())];
        }
        _ => {}
    }
    let kind = ActionKind::ALL[shape.kind];
    let mut action = Action {
        recipient: phone,
        action: kind,
        sends: matches!(
            kind,
            ActionKind::Send | ActionKind::Retry | ActionKind::Changed
        ),
        fingerprint: request.fingerprint(),
        request,
        previous: None,
        reconciled: None,
        window_opens: None,
        window_closes: None,
        zone: None,
        capped_until: None,
        wave_opens: None,
    };
    match kind {
        ActionKind::Waiting => {
            action.window_opens = Some("2026-12-01T09:00:00Z".parse().unwrap());
            action.zone = Some("Asia/Kolkata".to_owned());
        }
        ActionKind::Capped => action.capped_until = Some("2026-12-03T00:00:00Z".parse().unwrap()),
        _ => {}
    }
    if shape.previous {
        action.previous = Some(Previous {
            outcome: Outcome::Failed,
            fingerprint: Fingerprint::of(shape.name.as_bytes()),
            at: Some("2026-11-30T10:00:00Z".parse().unwrap()),
            api_code: Some(1003),
            detail: Some(format!("code 1003: {}", shape.name)),
            request: Some(action.request.clone()),
        });
    }
    action
}

/// Feeds a plan of these campaigns to `sink`, counting as the engine does.
fn plan(campaigns: &[(Campaign, Vec<Action>)], sink: &mut dyn Sink) {
    let mut totals = Counts::default();
    sink.begin(&header()).unwrap();
    for (campaign, actions) in campaigns {
        sink.campaign(campaign).unwrap();
        let mut counts = Counts::default();
        for action in actions {
            counts.add(action.action, action.sends);
            if let Some(opens) = action.window_opens {
                counts.add_window(opens);
            }
            counts.add_pacing(action);
            sink.action(action).unwrap();
        }
        counts.unchanged = 7;
        sink.end_campaign(&counts, None).unwrap();
        totals.merge(&counts);
    }
    sink.end(&totals, None).unwrap();
}

fn written(campaigns: &[(Campaign, Vec<Action>)]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new()).unwrap();
    plan(campaigns, &mut writer);
    writer.into_inner().expect("the plan ended")
}

fn read_back(bytes: &[u8]) -> Result<Vec<Event>, super::PlanFileError> {
    let mut reader = Reader::open(bytes)?;
    let mut events = Vec::new();
    while let Some(event) = reader.next_event()? {
        events.push(event);
    }
    Ok(events)
}

/// The events a plan makes, as the reader should give them back.
fn events(campaigns: &[(Campaign, Vec<Action>)]) -> Vec<Event> {
    let mut builder = crate::plan::json::Builder::default();
    plan(campaigns, &mut builder);
    let document = builder.document().unwrap();
    let mut events = vec![Event::Begin(document.header)];
    for c in document.campaigns {
        events.push(Event::Campaign(c.campaign));
        events.extend(c.actions.into_iter().map(Event::Action));
        events.push(Event::EndCampaign(c.counts, c.cost));
    }
    events.push(Event::End(document.counts, document.cost));
    events
}

fn campaigns(shapes: &[Vec<Shape>]) -> Vec<(Campaign, Vec<Action>)> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, shapes)| {
            let send = if i == 1 { "broadcast" } else { "template" };
            let mut actions: Vec<Action> = shapes.iter().map(action).collect();
            if send == "broadcast" {
                // A broadcast's fingerprint leaves `publishedOn` out: not the request's own.
                for a in &mut actions {
                    a.fingerprint = Fingerprint::of(a.recipient.as_bytes());
                }
            }
            (campaign(&format!("c{i}"), send), actions)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_plan_reads_back_item_for_item(
        shapes in prop::collection::vec(prop::collection::vec(shape(), 0..40), 0..4)
    ) {
        let campaigns = campaigns(&shapes);
        let bytes = written(&campaigns);
        prop_assert_eq!(read_back(&bytes).unwrap(), events(&campaigns));
    }

    #[test]
    fn a_file_cut_or_changed_anywhere_is_refused(
        shapes in prop::collection::vec(prop::collection::vec(shape(), 1..20), 1..3),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let campaigns = campaigns(&shapes);
        let bytes = written(&campaigns);
        let at = at.index(bytes.len());
        prop_assert!(read_back(&bytes[..at]).is_err(), "cut at {}", at);
        let mut changed = bytes.clone();
        changed[at] ^= flip;
        prop_assert!(read_back(&changed).is_err(), "byte {} changed", at);
    }
}

#[test]
fn template_sends_take_a_few_bytes_each() {
    let shapes: Vec<Shape> = (0..10_000)
        .map(|i| Shape {
            phone: 9_000_000_000 + i * 7,
            name: ["Asha", "Ravi", "Meera", "John"][i as usize % 4].to_owned(),
            amount: 10_000_000 + i as i64,
            variant: 0,
            kind: 0,
            previous: false,
        })
        .collect();
    let bytes = written(&campaigns(&[shapes]));
    let per_action = bytes.len() as f64 / 10_000.0;
    assert!(per_action < 12.0, "{per_action:.1} bytes an action");
}

#[test]
fn the_first_line_says_what_the_file_is() {
    let bytes = written(&[]);
    assert!(bytes.starts_with(b"herald plan file 2\n"));
    let other = [b"herald plan file 3\n".as_slice(), &bytes[19..]].concat();
    let refused = read_back(&other).unwrap_err();
    assert_eq!(
        refused.message,
        "plan file version 3; this herald reads version 2"
    );
    let json = read_back(b"{\"format_version\":1,\n\"header\":{}}").unwrap_err();
    assert!(
        json.message
            .starts_with("this is a plan in JSON (format_version 1), not a plan file")
    );
}

#[test]
fn a_record_longer_than_its_kind_can_be_is_refused_before_it_is_read() {
    // A few kilobytes of zstd that claim a header of 17 MiB of zeros.
    let claimed = 17u64 << 20;
    let mut raw = vec![1u8];
    crate::leb128::put(&mut raw, claimed);
    raw.resize(raw.len() + claimed as usize, 0);
    let compressed = zstd::encode_all(&raw[..], 3).unwrap();
    let file = [b"herald plan file 2\n".as_slice(), &compressed].concat();
    assert!(file.len() < 64 << 10, "{} bytes", file.len());
    let refused = read_back(&file).unwrap_err();
    assert_eq!(
        refused.message,
        format!(
            "the plan file is damaged: it holds a record of {claimed} bytes, more than one of its kind can be ({})",
            16 << 20
        )
    );
}
