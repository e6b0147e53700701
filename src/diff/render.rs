//! Rendering for a review: a whole audience's messages reduced to [`Entry`]s, the requests of a
//! few recipients picked by their place, a broadcast's one request, each under the review's
//! budget, and the problems of recipients that fail to render.
//!
//! Audiences are read as a plan reads them ([`Resolved::batches`]): a CSV audience of a
//! per-recipient campaign is read again from its file rather than held.

use std::cell::RefCell;

use jiff::Timestamp;

use super::matching::Entry;
use super::{Blocked, Side, Version};
use crate::engati::Request;
use crate::fingerprint::Fingerprint;
use crate::jinja::Budget;
use crate::plan::problems;
use crate::render::recipients::phone_key;
use crate::render::{BATCH, Prepared, Resolved, SourceError};
use crate::render::{Failures, Judged, Recipient};

/// A recipient and its place in its audience.
pub(super) type Placed = (usize, Recipient);

/// Every recipient's [`Entry`], in audience order.
pub(super) fn entries(
    side: &Side<'_>,
    p: &Prepared<'_>,
    version: Version,
    budget: &RefCell<Budget>,
) -> Result<Vec<Entry>, Blocked> {
    let mut entries = Vec::with_capacity(p.audience.len());
    render_all(side, p, version, budget, |index, recipient, fingerprint| {
        entries.push(Entry::new(phone_key(&recipient.phone), index, fingerprint));
    })?;
    Ok(entries)
}

/// Renders every recipient, handing each fingerprint to `keep` with the recipient's place.
pub(super) fn render_all(
    side: &Side<'_>,
    p: &Prepared<'_>,
    version: Version,
    budget: &RefCell<Budget>,
    mut keep: impl FnMut(usize, &Recipient, &Fingerprint),
) -> Result<(), Blocked> {
    let mut index = 0;
    let failures = p.render.render_batches(
        p.audience.len(),
        p.audience.batches(&side.catalog.files, BATCH),
        &mut budget.borrow_mut(),
        |_, _| Ok(((), false)),
        |recipient, judged| {
            keep(index, recipient, &judged.fingerprint);
            index += 1;
            Ok::<(), std::convert::Infallible>(())
        },
    );
    match failures {
        // Failures name recipients by their place in the whole audience already.
        Ok(failures) if failures.is_empty() => Ok(()),
        Ok(failures) => Err(blocked(side, p, version, &failures)),
        Err(never) => match never {},
    }
}

/// The recipients of `audience` at `places` (in any order), in that order.
pub(super) fn pick(
    side: &Side<'_>,
    p: &Prepared<'_>,
    audience: &Resolved,
    places: &[usize],
    version: Version,
) -> Result<Vec<Placed>, Blocked> {
    let mut wanted: Vec<usize> = places.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let Some(&last) = wanted.last() else {
        return Ok(Vec::new());
    };
    let mut found: Vec<Option<Recipient>> = Vec::with_capacity(wanted.len());
    let mut start = 0;
    // Read no further than the last recipient wanted: samples are usually near the top.
    for batch in audience.batches(&side.catalog.files, BATCH) {
        let batch = batch.map_err(|e| unreadable(side, p, version, e))?;
        let end = start + batch.len();
        while let Some(&place) = wanted.get(found.len()).filter(|&&place| place < end) {
            found.push(batch.get(place - start).cloned());
        }
        if end > last {
            break;
        }
        start = end;
    }
    Ok(places
        .iter()
        .filter_map(|place| {
            let k = wanted.binary_search(place).ok()?;
            found.get(k)?.clone().map(|r| (*place, r))
        })
        .collect())
}

/// Every phone of `audience`, as sorted keys.
pub(super) fn phone_keys(
    side: &Side<'_>,
    p: &Prepared<'_>,
    version: Version,
) -> Result<Vec<u64>, Blocked> {
    let mut keys = Vec::with_capacity(p.audience.len());
    for batch in p.audience.batches(&side.catalog.files, BATCH) {
        let batch = batch.map_err(|e| unreadable(side, p, version, e))?;
        keys.extend(batch.iter().map(|r| phone_key(&r.phone)));
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// The requests of some of a campaign's recipients.
pub(super) fn requests(
    side: &Side<'_>,
    p: &Prepared<'_>,
    placed: &[Placed],
    version: Version,
    budget: &RefCell<Budget>,
) -> Result<Vec<Request>, Blocked> {
    let recipients: Vec<Recipient> = placed.iter().map(|(_, r)| r.clone()).collect();
    let mut out = Vec::with_capacity(recipients.len());
    let failures = p.render.render_each(
        &recipients,
        BATCH,
        &mut budget.borrow_mut(),
        |_, _| Ok(((), true)),
        |_, judged: Judged<()>| {
            out.extend(judged.request);
            Ok::<(), std::convert::Infallible>(())
        },
    );
    match failures {
        Ok(failures) if failures.is_empty() => Ok(out),
        Ok(mut failures) => {
            // Named by their place in the whole audience, not among the few rendered.
            let place = |k: usize| placed.get(k).map_or(k, |(i, _)| *i);
            for group in &mut failures.groups {
                group.first = group.first.iter().map(|&k| place(k)).collect();
            }
            failures.exhausted = failures.exhausted.map(|(k, e)| (place(k), e));
            Err(blocked(side, p, version, &failures))
        }
        Err(never) => match never {},
    }
}

/// A broadcast's one request for `audience`, or a per-recipient campaign's request for the
/// first recipient of its own; `None` for no recipients.
pub(super) fn representative(
    side: &Side<'_>,
    p: &Prepared<'_>,
    audience: &Resolved,
    version: Version,
    now: Timestamp,
    budget: &RefCell<Budget>,
) -> Result<Option<Request>, Blocked> {
    if audience.is_empty() {
        return Ok(None);
    }
    if p.render.message.per_recipient() {
        let first = pick(side, p, audience, &[0], version)?;
        return Ok(requests(side, p, &first, version, budget)?
            .into_iter()
            .next());
    }
    // Broadcasts' audiences are listed: their one request names every recipient.
    p.render
        .render_whole(&audience.recipients, now)
        .map(|rendered| Some(rendered.request))
        .map_err(|e| Blocked {
            version,
            problems: vec![problems::render_problem(side.loaded, p, e)],
        })
}

/// An audience that could not be read again (its file changed since it was counted).
fn unreadable(side: &Side<'_>, p: &Prepared<'_>, version: Version, e: SourceError) -> Blocked {
    let failures = Failures {
        unreadable: Some(e),
        ..Failures::default()
    };
    blocked(side, p, version, &failures)
}

fn blocked(side: &Side<'_>, p: &Prepared<'_>, version: Version, failures: &Failures) -> Blocked {
    Blocked {
        version,
        problems: problems::failures(side.loaded, p, failures),
    }
}
