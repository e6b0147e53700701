//! A campaign's send window, applied to its recipients at the plan's time: each recipient's
//! zone ([`Windows::zone_of`]: `user.timezone`, else the zone of the phone's country calling
//! code, else herald.yaml's `timezone:`, else UTC) and whether the window is open there.
//!
//! This runs once per recipient, on the rendering threads, for audiences of a million. Every
//! recipient of a zone gets the same answer at one plan time, so answers are worked out once
//! per zone and kept in tables indexed by zone and by calling-code row ([`OnceLock`]s: filled
//! by whichever thread needs them first, then read without locking); a recipient costs a field
//! lookup and a table read, and allocates nothing.

use std::sync::OnceLock;

use jiff::Timestamp;
use serde_json::Value;

use crate::model::{Campaign as CampaignFile, Window};
use crate::render::{MessageError, Recipient, UserFields};
use crate::tz::{ZoneId, calling_codes};
use crate::validate::Catalog;
use crate::window::{Decision, Rule};

/// A recipient held back by their window: when it opens, and the zone it was judged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    /// When the window next opens for them.
    pub(crate) opens: Timestamp,
    /// Their zone.
    pub(crate) zone: ZoneId,
}

/// What a window makes of a recipient at the plan's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Open: they may be messaged until it closes then (`None`: not in the weeks ahead).
    Open(Option<Timestamp>),
    /// Closed: they wait.
    Held(Held),
}

/// One campaign's window at the plan's time, with its per-zone answers.
pub(crate) struct Windows {
    rule: Rule,
    now: Timestamp,
    /// herald.yaml's `timezone:`, when set.
    project: Option<ZoneId>,
    /// Whether the window is open (until when), or when it opens, by zone (`None` inside: no
    /// opening within the rule's horizon, which no real zone gives).
    by_zone: Vec<OnceLock<Option<Decision>>>,
    /// The zone of each calling-code row of [`calling_codes`] (`None`: not in the database).
    by_country: Vec<OnceLock<Option<ZoneId>>>,
}

/// The window a campaign keeps: its own, else herald.yaml's default; none for broadcasts,
/// which Engati publishes to everyone at once.
pub(crate) fn effective<'c>(
    catalog: &'c Catalog,
    campaign: &'c CampaignFile,
) -> Option<&'c Window> {
    let send = &campaign.send;
    if send.broadcast.is_some() || send.template_broadcast.is_some() {
        return None;
    }
    campaign
        .window
        .as_ref()
        .or_else(|| catalog.settings.as_ref()?.window.as_ref())
}

/// herald.yaml's `timezone:` (validated), when set.
pub(crate) fn project_zone(catalog: &Catalog) -> Option<ZoneId> {
    crate::tz::id(catalog.settings.as_ref()?.timezone.as_deref()?)
}

impl Windows {
    /// The window `campaign` keeps, as of `now`; `None` when it keeps none (or, never after
    /// validation, its hours do not parse).
    pub(crate) fn of(
        catalog: &Catalog,
        campaign: &CampaignFile,
        now: Timestamp,
    ) -> Option<Windows> {
        let window = effective(catalog, campaign)?;
        let rule = Rule::parse(&window.hours, window.days.as_deref()).ok()?;
        Some(Windows {
            rule,
            now,
            project: project_zone(catalog),
            by_zone: (0..crate::tz::count()).map(|_| OnceLock::new()).collect(),
            by_country: (0..calling_codes::count())
                .map(|_| OnceLock::new())
                .collect(),
        })
    }

    /// Whether `recipient` may be messaged now (and until when), or when their window opens;
    /// an error for a `user.timezone` that names no zone.
    pub(crate) fn judge(&self, recipient: &Recipient) -> Result<Judgement, MessageError> {
        let zone = self.zone_of(recipient)?;
        let decision =
            self.by_zone[zone.index()].get_or_init(|| self.rule.decide(self.now, &zone.zone()));
        match decision {
            Some(Decision::Open(closes)) => Ok(Judgement::Open(*closes)),
            Some(Decision::Opens(opens)) => Ok(Judgement::Held(Held {
                opens: *opens,
                zone,
            })),
            None => Err(MessageError::new(
                "/window",
                format!(
                    "the send window does not open in the next weeks in {}",
                    zone.name()
                ),
            )),
        }
    }

    /// A recipient's zone: `user.timezone` when given (and not empty), else the zone of the
    /// phone's calling code, else herald.yaml's `timezone:`, else UTC.
    pub(crate) fn zone_of(&self, recipient: &Recipient) -> Result<ZoneId, MessageError> {
        match user_timezone(&recipient.fields) {
            Given::Name(name) => {
                return crate::tz::id(name).ok_or_else(|| {
                    let e = crate::tz::id_of(name).err();
                    let help = e.map(|e| format!("; {}", e.help())).unwrap_or_default();
                    MessageError::new(
                        "/audience",
                        format!("user.timezone `{name}` is not an IANA time zone{help}"),
                    )
                });
            }
            Given::NotText => {
                return Err(MessageError::new(
                    "/audience",
                    "user.timezone must be an IANA zone name such as `Asia/Kolkata`",
                ));
            }
            Given::Nothing => {}
        }
        let country = calling_codes::country_of(&recipient.phone)
            .and_then(|c| *self.by_country[c.index].get_or_init(|| c.zone_for(self.project)));
        Ok(country.or(self.project).unwrap_or_else(ZoneId::utc))
    }
}

/// What a recipient's fields say of their zone.
enum Given<'f> {
    /// No `timezone`, or an empty one.
    Nothing,
    /// A name, to be looked up.
    Name(&'f str),
    /// A number, a list, a boolean: not a name.
    NotText,
}

fn user_timezone(fields: &UserFields) -> Given<'_> {
    match fields {
        UserFields::Row { .. } => match fields.text("timezone") {
            Some(name) if !name.is_empty() => Given::Name(name),
            _ => Given::Nothing,
        },
        UserFields::Map(map) => match map.get("timezone") {
            None | Some(Value::Null) => Given::Nothing,
            Some(Value::String(name)) if name.is_empty() => Given::Nothing,
            Some(Value::String(name)) => Given::Name(name),
            Some(_) => Given::NotText,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Project;

    fn recipient(phone: &str, timezone: Option<Value>) -> Recipient {
        let mut map = serde_json::Map::new();
        map.insert("phone".to_owned(), Value::from(phone));
        if let Some(tz) = timezone {
            map.insert("timezone".to_owned(), tz);
        }
        Recipient {
            phone: phone.into(),
            fields: Arc::new(UserFields::Map(map)),
        }
    }

    fn windows(project_zone: Option<&str>, now: &str) -> Windows {
        let mut catalog = Catalog::default();
        let project: Project = serde_json::from_value(serde_json::json!({
            "api": {"base_url": "http://127.0.0.1:8787", "customer_id": 1,
                    "bot_key": "0123456789abcdef", "api_key_env": "K"},
            "window": {"hours": "09:00-20:00"},
            "timezone": project_zone,
        }))
        .unwrap();
        catalog.settings = Some(project);
        let campaign: CampaignFile = serde_json::from_value(serde_json::json!({
            "audience": "x", "send": {"trigger": {"flow": "f"}}
        }))
        .unwrap();
        Windows::of(&catalog, &campaign, now.parse().unwrap()).expect("the default window")
    }

    #[test]
    fn the_zone_is_the_users_then_the_phones_then_the_projects() {
        let w = windows(Some("America/Los_Angeles"), "2026-12-02T00:00:00Z");
        let zone = |r: &Recipient| w.zone_of(r).unwrap().name();
        let london = Value::from("Europe/London");
        assert_eq!(
            zone(&recipient("+919019486731", Some(london))),
            "Europe/London"
        );
        assert_eq!(
            zone(&recipient("+919019486731", Some(Value::from("")))),
            "Asia/Kolkata"
        );
        assert_eq!(zone(&recipient("+919019486731", None)), "Asia/Kolkata");
        // +1 spans several zones, one of which is the project's.
        assert_eq!(
            zone(&recipient("+14155552671", None)),
            "America/Los_Angeles"
        );
        // +28x is no country's code.
        assert_eq!(zone(&recipient("+2812345678", None)), "America/Los_Angeles");
        let no_project = windows(None, "2026-12-02T00:00:00Z");
        assert_eq!(
            no_project
                .zone_of(&recipient("+2812345678", None))
                .unwrap()
                .name(),
            "UTC"
        );
        assert_eq!(
            no_project
                .zone_of(&recipient("+14155552671", None))
                .unwrap()
                .name(),
            "America/New_York"
        );
    }

    #[test]
    fn recipients_outside_their_hours_are_held_until_they_open() {
        // 00:00 UTC: 05:30 in India, 00:00 in London, 19:00 the day before in New York.
        let w = windows(None, "2026-12-02T00:00:00Z");
        let Judgement::Held(held) = w.judge(&recipient("+919019486731", None)).unwrap() else {
            panic!("India is held at 05:30");
        };
        assert_eq!(held.opens, "2026-12-02T03:30:00Z".parse().unwrap());
        assert_eq!(held.zone.name(), "Asia/Kolkata");
        assert_eq!(
            w.judge(&recipient("+14155552671", None)).unwrap(),
            Judgement::Open(Some("2026-12-02T01:00:00Z".parse().unwrap())),
            "New York is open until 20:00"
        );
        let bad = w
            .judge(&recipient(
                "+919019486731",
                Some(Value::from("Asia/Kolkatta")),
            ))
            .unwrap_err();
        assert!(
            bad.message.contains("did you mean `Asia/Kolkata`?"),
            "{}",
            bad.message
        );
        assert!(
            w.judge(&recipient("+919019486731", Some(Value::from(5))))
                .is_err()
        );
    }
}
