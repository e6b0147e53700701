//! Rendering for a review: fingerprints of a whole audience, requests of a few recipients, a
//! broadcast's one request, each under the review's budget, and the problems of recipients
//! that fail to render.

use std::cell::RefCell;

use jiff::Timestamp;

use super::{Blocked, Side, Version};
use crate::engati::Request;
use crate::fingerprint::Fingerprint;
use crate::jinja::Budget;
use crate::plan::problems;
use crate::render::{BATCH, Prepared};
use crate::render::{Failures, Judged, Recipient};

/// Every recipient's fingerprint, in audience order.
pub(super) fn fingerprints(
    side: &Side<'_>,
    p: &Prepared<'_>,
    version: Version,
    budget: &RefCell<Budget>,
) -> Result<Vec<Fingerprint>, Blocked> {
    let recipients = &p.audience.recipients;
    render(side, p, recipients, version, budget, false, |judged| {
        Some(judged.fingerprint)
    })
}

/// The requests of some of a campaign's recipients.
pub(super) fn requests(
    side: &Side<'_>,
    p: &Prepared<'_>,
    recipients: &[Recipient],
    version: Version,
    budget: &RefCell<Budget>,
) -> Result<Vec<Request>, Blocked> {
    render(side, p, recipients, version, budget, true, |judged| {
        judged.request
    })
}

/// Renders `recipients`, keeping what `keep` takes of each (their requests are built only
/// `with_requests`).
fn render<T>(
    side: &Side<'_>,
    p: &Prepared<'_>,
    recipients: &[Recipient],
    version: Version,
    budget: &RefCell<Budget>,
    with_requests: bool,
    keep: impl Fn(Judged<()>) -> Option<T>,
) -> Result<Vec<T>, Blocked> {
    let mut out = Vec::with_capacity(recipients.len());
    let failures = p.render.render_each(
        recipients,
        BATCH,
        &mut budget.borrow_mut(),
        |_, _| Ok(((), with_requests)),
        |_, judged| {
            out.extend(keep(judged));
            Ok::<(), std::convert::Infallible>(())
        },
    );
    match failures {
        Ok(failures) if failures.is_empty() => Ok(out),
        Ok(failures) => Err(render_failure(side, p, recipients, version, failures)),
        Err(never) => match never {},
    }
}

/// A broadcast's one request for `recipients`, or a per-recipient campaign's request for the
/// first of them; `None` for no recipients.
pub(super) fn representative(
    side: &Side<'_>,
    p: &Prepared<'_>,
    recipients: &[Recipient],
    version: Version,
    now: Timestamp,
    budget: &RefCell<Budget>,
) -> Result<Option<Request>, Blocked> {
    let Some((first, _)) = recipients.split_first() else {
        return Ok(None);
    };
    if p.render.message.per_recipient() {
        let first = std::slice::from_ref(first);
        return Ok(requests(side, p, first, version, budget)?
            .into_iter()
            .next());
    }
    p.render
        .render_whole(recipients, now)
        .map(|rendered| Some(rendered.request))
        .map_err(|e| Blocked {
            version,
            problems: vec![problems::render_problem(side.loaded, p, e)],
        })
}

/// Recipients that failed to render, named by their place in the whole audience (`rendered`
/// may be a few sampled recipients).
fn render_failure(
    side: &Side<'_>,
    p: &Prepared<'_>,
    rendered: &[Recipient],
    version: Version,
    failures: Failures,
) -> Blocked {
    let in_audience = |i: usize| {
        let phone = rendered.get(i).map(|r| &r.phone);
        p.audience
            .recipients
            .iter()
            .position(|r| Some(&r.phone) == phone)
    };
    let mut whole = failures;
    for group in &mut whole.groups {
        group.first = group.first.iter().filter_map(|&i| in_audience(i)).collect();
    }
    whole.exhausted = whole
        .exhausted
        .map(|(i, exhausted)| (in_audience(i).unwrap_or(i), exhausted));
    Blocked {
        version,
        problems: problems::failures(side.loaded, p, &whole),
    }
}
