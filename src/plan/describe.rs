//! How a plan (or a review) describes a prepared campaign: its kind, schedule (a recurring
//! campaign's occurrence, the next one and those missed), audience, rails, send window and
//! the approved text of its template, for every view.

use jiff::Timestamp;

use super::safety::Cap;
use super::{Campaign, SendWindow, Suppression, TemplateText};
use crate::load::LoadedProject;
use crate::model::HeaderKind;
use crate::render::{Prepared, Suppressed, When};
use crate::state::{StateError, Store};
use crate::validate::Catalog;

/// How a plan (or a review) describes a prepared campaign. Broadcasts are always due: they
/// are sent at once with their publish time and Engati schedules them.
pub(crate) fn describe(
    loaded: &LoadedProject,
    catalog: &Catalog,
    p: &Prepared<'_>,
    now: Timestamp,
) -> Campaign {
    let campaign = &p.item.value;
    Campaign {
        name: p.item.name.clone(),
        description: campaign.description.clone(),
        send: p.render.message.kind_name().to_owned(),
        schedule: p.render.when.at(),
        schedule_local: written_time(campaign, p.render.when),
        // Engati schedules a one-off broadcast from `publishedOn`; a recurring campaign's
        // round, broadcast or not, goes once its occurrence has come.
        due: match p.render.when {
            When::Occurrence(_) | When::Over => p.render.when.is_due(now),
            _ => !p.render.message.per_recipient() || p.render.when.is_due(now),
        },
        on_change: campaign.on_change,
        recipients: p.audience.len() as u64,
        template: template_text(catalog, campaign),
        user_paths: p.render.message.user_paths(),
        suppression: match p.suppressed {
            Suppressed::NoList => None,
            Suppressed::Applied(suppressed) => Some(Suppression {
                suppressed,
                opted_out: false,
            }),
            Suppressed::OptedOut => Some(Suppression {
                suppressed: 0,
                opted_out: true,
            }),
        },
        max_sends: campaign.max_sends.map(|limit| Cap {
            limit,
            set_at: p.item.loc.position(&loaded.resources, "/max_sends"),
        }),
        previously: campaign.previously.clone(),
        late: None,
        occurrence: p.render.when.occurrence(),
        recurring: recurring(campaign, p.render.when, now),
        window: send_window(loaded, catalog, p),
    }
}

/// The window a prepared campaign keeps, and where it is set.
fn send_window(loaded: &LoadedProject, catalog: &Catalog, p: &Prepared<'_>) -> Option<SendWindow> {
    let window = super::window::effective(catalog, &p.item.value)?;
    let set_at = if p.item.value.window.is_some() {
        p.item.loc.position(&loaded.resources, "/window")
    } else {
        settings_position(loaded, "/window")
    };
    Some(SendWindow {
        hours: window.hours.clone(),
        days: window
            .days
            .clone()
            .unwrap_or_else(|| crate::model::Day::ALL.to_vec()),
        set_at,
        timezone: super::window::project_zone(catalog)
            .filter(|z| *z != crate::tz::ZoneId::utc())
            .map(|z| z.name().to_owned()),
    })
}

/// Where `pointer` is in herald.yaml: `file:line:column`.
pub(super) fn settings_position(loaded: &LoadedProject, pointer: &str) -> String {
    let file = &loaded.settings;
    match file.documents().first() {
        Some(doc) => {
            let start = doc.span_at(pointer).start;
            format!("{}:{}:{}", file.name, start.line, start.col + 1)
        }
        None => file.name.clone(),
    }
}

/// The occurrences of a recurring campaign between the latest one state holds deliveries of
/// and the one planned: skipped, never sent late.
pub(super) fn count_missed(
    described: &mut Campaign,
    campaign: &crate::model::Campaign,
    store: &dyn Store,
) -> Result<(), StateError> {
    let (Some(recurring), Some(occurrence)) = (described.recurring.as_mut(), described.occurrence)
    else {
        return Ok(());
    };
    let Some(Ok(recurrence)) = campaign
        .schedule
        .as_ref()
        .and_then(crate::model::Schedule::recurrence)
    else {
        return Ok(());
    };
    if let Some(last) = store.latest_occurrence(&described.name)?
        && last < occurrence
    {
        recurring.missed = recurrence.count_between(last, occurrence, MISSED_COUNTED) as u64;
    }
    Ok(())
}

/// Missed occurrences counted at most: a minutely pattern left a year is "1000 missed".
const MISSED_COUNTED: usize = 1000;

/// A recurring campaign's schedule as of `now`: the next occurrence after the one planned
/// (`missed` is counted against state by the planner).
fn recurring(
    campaign: &crate::model::Campaign,
    when: When,
    now: Timestamp,
) -> Option<super::Recurring> {
    let recurrence = campaign.schedule.as_ref()?.recurrence()?.ok()?;
    let next = match when {
        When::Occurrence(at) if at > now => Some(at),
        When::Occurrence(at) => recurrence.next_after(at),
        _ => None,
    };
    Some(super::Recurring {
        cron: recurrence.pattern().to_owned(),
        timezone: recurrence.zone_name().to_owned(),
        next,
        missed: 0,
        ended: when == When::Over,
    })
}

/// The approved template a campaign sends, for previews.
fn template_text(catalog: &Catalog, campaign: &crate::model::Campaign) -> Option<TemplateText> {
    let use_ = campaign
        .send
        .template
        .as_ref()
        .map(|t| t.use_.as_str())
        .or(campaign
            .send
            .template_broadcast
            .as_ref()
            .map(|t| t.use_.as_str()))?;
    let item = catalog.templates.get(use_)?;
    let t = &item.value;
    Some(TemplateText {
        name: t.name.clone().unwrap_or_else(|| item.name.clone()),
        header: match t.header {
            HeaderKind::None => "none",
            HeaderKind::Text => "text",
            HeaderKind::Image => "image",
            HeaderKind::Video => "video",
            HeaderKind::Document => "document",
        }
        .to_owned(),
        body: t.body.clone(),
        buttons: t
            .buttons
            .iter()
            .map(|b| {
                b.quick_reply
                    .clone()
                    .or(b.url.as_ref().map(|u| u.text.clone()))
                    .or(b.copy_code.clone())
                    .unwrap_or_default()
            })
            .collect(),
    })
}

/// The plan's time of a campaign as its file wrote it: `at` in the offset it was written with,
/// a recurring campaign's occurrence in its zone. `None` when that is UTC (the plan's own).
fn written_time(campaign: &crate::model::Campaign, when: When) -> Option<String> {
    let schedule = campaign.schedule.as_ref()?;
    let at = when.at()?;
    let zone = match (&schedule.at, schedule.recurrence()) {
        (_, Some(Ok(recurrence))) => crate::tz::zone(recurrence.zone_name()).ok()?,
        (Some(text), _) => jiff::tz::TimeZone::fixed(written_offset(text)?),
        _ => return None,
    };
    let local = at.to_zoned_datetime(zone.clone());
    if local.offset() == jiff::tz::Offset::UTC && zone == jiff::tz::TimeZone::UTC {
        return None;
    }
    Some(match schedule.recurrence() {
        Some(Ok(r)) => format!("{} {}", local.strftime("%a %Y-%m-%d %H:%M"), r.zone_name()),
        _ => local.strftime("%Y-%m-%d %H:%M %:z").to_string(),
    })
}

/// The UTC offset an RFC 3339 time was written with (`+05:30`); `None` for `Z` and `+00:00`.
fn written_offset(text: &str) -> Option<jiff::tz::Offset> {
    let tail = text.get(text.len().checked_sub(6)?..)?;
    let sign = match tail.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = tail[1..].split_once(':')?;
    let seconds = sign * (hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60);
    (seconds != 0)
        .then(|| jiff::tz::Offset::from_seconds(seconds).ok())
        .flatten()
}
