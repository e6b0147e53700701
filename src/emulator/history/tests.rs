use super::*;
use crate::emulator::Seed;

const BOT: &str = "bb67e0773bed4c7e";

fn trace(user: &str, text: &str, timestamp: i64) -> Trace {
    Trace {
        channel_user_id: user.to_owned(),
        message_type: trace::TEMPLATE,
        text: Arc::from(text),
        timestamp,
    }
}

fn texts(items: &[ConversationItem]) -> Vec<(i64, &str, &str)> {
    items
        .iter()
        .map(|m| {
            (
                m.timestamp,
                m.sender.as_str(),
                m.text.as_deref().unwrap_or(""),
            )
        })
        .collect()
}

#[test]
fn recorded_messages_merge_with_the_seed_by_timestamp() {
    let world = World::build(&Seed::builtin()).unwrap();
    let bot = world.bot(61179, BOT).unwrap();
    let seeded = bot.user("919019486731").unwrap().conversations.clone();
    let first = seeded[0].timestamp;
    let last = seeded[seeded.len() - 1].timestamp;
    bot.sent.record(
        vec![
            trace("919019486731", "after", last + 1),
            trace("919019486731", "same ms as the first", first),
            trace("447700900999", "a stranger", first),
        ],
        Duration::ZERO,
    );
    let all = history(bot, "919019486731", i64::MIN..=i64::MAX, last + 1);
    assert_eq!(all.len(), seeded.len() + 2);
    assert_eq!(
        all[0], seeded[0],
        "the seed's item first at the same millisecond"
    );
    assert_eq!(texts(&all[1..2]), [(first, "bot", "same ms as the first")]);
    assert_eq!(texts(&all[all.len() - 1..]), [(last + 1, "bot", "after")]);
    assert_eq!(all[1].message_type, "TEMPLATE");
    // Any channel user id has a history, seeded or not.
    let stranger = history(bot, "447700900999", i64::MIN..=i64::MAX, last);
    assert_eq!(texts(&stranger), [(first, "bot", "a stranger")]);
    // The range applies to recorded messages as to the seed's.
    let window = history(bot, "919019486731", last + 1..=last + 1, last + 1);
    assert_eq!(texts(&window), [(last + 1, "bot", "after")]);
    bot.sent.clear();
    assert_eq!(
        history(bot, "919019486731", i64::MIN..=i64::MAX, last + 1),
        seeded
    );
}

#[test]
fn delayed_messages_show_late_with_their_own_timestamp() {
    let sent = Sent::default();
    sent.record(
        vec![trace("919019486731", "hi", 1_000)],
        Duration::from_millis(500),
    );
    let all = i64::MIN..=i64::MAX;
    assert!(sent.shown("919019486731", 1_499, &all).is_empty());
    let shown = sent.shown("919019486731", 1_500, &all);
    assert_eq!(texts(&shown), [(1_000, "bot", "hi")]);
}

#[test]
fn a_broadcast_text_is_stored_once_for_all_its_recipients() {
    let sent = Sent::default();
    let text: Arc<str> = Arc::from("Happy new year");
    let traces = (0..1000)
        .map(|i| Trace {
            channel_user_id: format!("9190000{i:05}"),
            message_type: trace::TEMPLATE,
            text: Arc::clone(&text),
            timestamp: 1,
        })
        .collect();
    sent.record(traces, Duration::ZERO);
    assert_eq!(Arc::strong_count(&text), 1001);
    assert_eq!(std::mem::size_of::<Entry>(), 48);
}
