//! Reviewing a change: every campaign of two versions of a project (a git revision and the
//! working tree, say) rendered for every recipient and compared, with no state and no API.
//! `herald diff` shows the result, so a pull request, even a fork's, is reviewed by what its
//! recipients would read.
//!
//! Recipients are matched by phone. Per-recipient campaigns compare each recipient's request
//! by fingerprint; broadcasts compare their one request. The first few recipients of each kind
//! of change are rendered again with their requests, as samples to show.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::engati::Request;
use crate::engati::api::BotUser;
use crate::jinja::Budget;
use crate::load::LoadedProject;
use crate::model::Api;
use crate::plan::{Campaign, TemplateText};
use crate::render::{Context, Prepared, Recipient, UsersSource};
use crate::state::WHOLE_CAMPAIGN;
use crate::validate::Catalog;
use render::{Placed, entries, phone_keys, pick, render_all, representative, requests};

mod matching;
mod render;

/// One version of the project.
pub(crate) struct Side<'a> {
    /// The loaded files.
    pub loaded: &'a LoadedProject,
    /// The validated project (without errors).
    pub catalog: &'a Catalog,
    /// `api` after the environment overlay.
    pub api: &'a Api,
}

/// Which version a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// The base revision.
    Base,
    /// The version under review.
    Head,
}

/// Why no review could be made: problems with file:line:column, in one version.
#[derive(Debug)]
pub(crate) struct Blocked {
    /// Where.
    pub version: Version,
    /// What.
    pub problems: Vec<Diagnostic>,
}

/// The comparison of the two versions.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// Every campaign of either version, by name.
    pub campaigns: Vec<CampaignReview>,
    /// Users API queries answered with no users: a review never calls the API.
    pub users_api_skipped: Vec<UsersQuery>,
    /// Whether phones and recipients' values are masked (`--redact`).
    pub redacted: bool,
}

impl Review {
    /// Whether any campaign differs.
    pub fn has_changes(&self) -> bool {
        self.campaigns.iter().any(|c| c.status != Status::Unchanged)
    }
}

/// A Users API query (`attribute = value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UsersQuery {
    /// The user attribute.
    pub attribute: String,
    /// Its value.
    pub value: String,
}

/// How a campaign changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Only in the version under review.
    Added,
    /// Only in the base: nothing is sent for it any more (what was sent stays in state).
    Removed,
    /// In both, with different messages, recipients or settings.
    Changed,
    /// In both, the same.
    Unchanged,
    /// Renamed (`previously:` names the base's name), with the same messages, recipients and
    /// settings: what was sent under the old name counts as sent.
    Renamed,
}

/// One campaign compared.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignReview {
    /// Its name.
    pub name: String,
    /// How it changed.
    pub status: Status,
    /// Its name in the base, when it was renamed (`previously:`); it is `renamed` when
    /// nothing else changed, `changed` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// As in the base.
    pub before: Option<Campaign>,
    /// As under review.
    pub after: Option<Campaign>,
    /// Settings that differ: kind, template (its name and approved text), schedule,
    /// on_change.
    pub settings: Vec<Setting>,
    /// Recipients by change.
    pub counts: ChangeCounts,
    /// The first recipients of each change, with their requests.
    pub samples: Vec<Sample>,
}

/// A campaign setting that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// `send`, `template`, `template header`, `template body`, `template buttons`, `schedule`
    /// or `on_change`.
    pub name: &'static str,
    /// In the base.
    pub before: String,
    /// Under review.
    pub after: String,
}

/// Recipients of a campaign by how their message changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChangeCounts {
    /// New recipients.
    pub added: u64,
    /// Recipients no longer in the audience.
    pub removed: u64,
    /// Recipients in both whose message differs.
    pub changed: u64,
    /// Recipients in both whose message is the same.
    pub unchanged: u64,
}

/// How one recipient's message changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new recipient.
    Added,
    /// A recipient no longer in the audience.
    Removed,
    /// A different message.
    Changed,
}

/// A recipient's request in both versions (one of them absent for added and removed ones).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// The phone, or `*` for a broadcast's one request.
    pub recipient: String,
    /// How it changed.
    pub change: Change,
    /// The request in the base.
    pub before: Option<Request>,
    /// The request under review.
    pub after: Option<Request>,
}

/// Answers every Users API query with no users, noting the query: a review works without a key
/// (pull requests from forks have none) and says what it could not see.
#[derive(Debug, Default)]
pub(crate) struct WithoutUsersApi {
    /// The queries asked.
    pub asked: BTreeSet<UsersQuery>,
}

impl UsersSource for WithoutUsersApi {
    fn users(
        &mut self,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<BotUser>, crate::engati::ReadError> {
        self.asked.insert(UsersQuery {
            attribute: attribute.to_owned(),
            value: value.to_owned(),
        });
        Ok(Vec::new())
    }
}

/// Compares every campaign of `base` (`None`: the project did not exist there) and `head`, both
/// rendered at `now`, keeping up to `samples` recipients of each change per campaign.
pub(crate) fn review(
    base: Option<&Side<'_>>,
    head: &Side<'_>,
    now: Timestamp,
    samples: usize,
    users: &mut dyn UsersSource,
) -> Result<Review, Blocked> {
    // Both versions' renderings share one budget, as a plan's campaigns do.
    let budget = RefCell::new(Budget::plan());
    let before = match base {
        Some(base) => prepare(base, Version::Base, now, users, &budget)?,
        None => Vec::new(),
    };
    // Without a base there is no campaign to render in it: `head` stands in, never read.
    let base = base.unwrap_or(head);
    let after = prepare(head, Version::Head, now, users, &budget)?;
    let mut before: HashMap<&str, &Prepared<'_>> =
        before.iter().map(|p| (p.item.name.as_str(), p)).collect();
    let renames = renames(&before, &after);
    let mut names: BTreeSet<&str> = before.keys().copied().collect();
    names.extend(after.iter().map(|p| p.item.name.as_str()));
    for old in renames.values() {
        names.remove(old);
    }
    let after: HashMap<&str, &Prepared<'_>> =
        after.iter().map(|p| (p.item.name.as_str(), p)).collect();
    let mut campaigns = Vec::with_capacity(names.len());
    for name in names {
        let renamed_from = renames.get(name).copied();
        let pair = Pair {
            base,
            head,
            before: before.remove(renamed_from.unwrap_or(name)),
            after: after.get(name).copied(),
            now,
            samples,
            budget: &budget,
        };
        let mut review = pair.compare()?;
        if let Some(old) = renamed_from {
            review.renamed_from = Some(old.to_owned());
            if review.status == Status::Unchanged {
                review.status = Status::Renamed;
            }
        }
        campaigns.push(review);
    }
    Ok(Review {
        campaigns,
        users_api_skipped: Vec::new(),
        redacted: false,
    })
}

/// The campaigns under review that were renamed (new name → old name): a campaign whose
/// `previously:` names a campaign of the base that is gone from the version under review, when
/// its own name is not in the base. Validation has already refused an old name claimed twice
/// or still live, so each old name pairs with at most one new one.
fn renames<'n>(
    before: &HashMap<&'n str, &Prepared<'_>>,
    after: &'n [Prepared<'_>],
) -> HashMap<&'n str, &'n str> {
    let live: BTreeSet<&str> = after.iter().map(|p| p.item.name.as_str()).collect();
    let mut renames = HashMap::new();
    for p in after {
        let name = p.item.name.as_str();
        if before.contains_key(name) {
            continue;
        }
        let old = p
            .item
            .value
            .previously
            .iter()
            .map(String::as_str)
            .find(|old| {
                before.contains_key(old)
                    && !live.contains(old)
                    && !renames.values().any(|taken| taken == old)
            });
        if let Some(old) = old {
            let old: &str = before.get_key_value(old).map_or(old, |(k, _)| k);
            renames.insert(name, old);
        }
    }
    renames
}

/// Every campaign of one version, compiled, with its audience: counted, for the CSV audience of
/// a campaign sent per recipient, to be read again as it is rendered, as a plan's is.
fn prepare<'a>(
    side: &Side<'a>,
    version: Version,
    now: Timestamp,
    users: &mut dyn UsersSource,
    budget: &RefCell<Budget>,
) -> Result<Vec<Prepared<'a>>, Blocked> {
    let all: Vec<_> = side.catalog.campaigns.values().collect();
    let mut budget = budget.borrow_mut();
    let context = Context {
        loaded: side.loaded,
        catalog: side.catalog,
        api: side.api,
        now,
    };
    crate::render::prepare_streamed(&context, &all, users, &mut budget)
        .map(|(prepared, _warnings)| prepared)
        .map_err(|problems| Blocked { version, problems })
}

/// One campaign in both versions.
struct Pair<'a, 'p> {
    base: &'a Side<'a>,
    head: &'a Side<'a>,
    before: Option<&'a Prepared<'p>>,
    after: Option<&'a Prepared<'p>>,
    now: Timestamp,
    samples: usize,
    budget: &'a RefCell<Budget>,
}

impl Pair<'_, '_> {
    fn compare(&self) -> Result<CampaignReview, Blocked> {
        let describe = |side: &Side<'_>, p: &Prepared<'_>| {
            crate::plan::describe(side.loaded, side.catalog, p, self.now)
        };
        let mut review = CampaignReview {
            name: String::new(),
            status: Status::Unchanged,
            renamed_from: None,
            before: self.before.map(|p| describe(self.base, p)),
            after: self.after.map(|p| describe(self.head, p)),
            settings: Vec::new(),
            counts: ChangeCounts::default(),
            samples: Vec::new(),
        };
        match (self.before, self.after) {
            (Some(before), Some(after)) => {
                review.name = after.item.name.clone();
                review.settings = settings(review.before.as_ref(), review.after.as_ref());
                if before.render.message.per_recipient() && after.render.message.per_recipient() {
                    self.per_recipient(before, after, &mut review)?;
                } else {
                    self.whole(before, after, &mut review)?;
                }
                let c = &review.counts;
                if c.added + c.removed + c.changed > 0 || !review.settings.is_empty() {
                    review.status = Status::Changed;
                }
            }
            (None, Some(after)) => {
                review.name = after.item.name.clone();
                review.status = Status::Added;
                review.counts.added = after.audience.len() as u64;
                review.samples = self.one_side(after, Version::Head)?;
            }
            (Some(before), None) => {
                review.name = before.item.name.clone();
                review.status = Status::Removed;
                review.counts.removed = before.audience.len() as u64;
                review.samples = self.one_side(before, Version::Base)?;
            }
            (None, None) => {}
        }
        Ok(review)
    }

    /// Recipients matched by phone, messages compared by fingerprint.
    fn per_recipient(
        &self,
        before: &Prepared<'_>,
        after: &Prepared<'_>,
        review: &mut CampaignReview,
    ) -> Result<(), Blocked> {
        let old = entries(self.base, before, Version::Base, self.budget)?;
        let new = entries(self.head, after, Version::Head, self.budget)?;
        let matched = matching::match_up(old, new, self.samples);
        review.counts = matched.counts;
        let (old_places, new_places): (Vec<usize>, Vec<usize>) =
            matched.changed.iter().copied().unzip();
        let changed_old = self.pick(before, &old_places, Version::Base)?;
        let changed_new = self.pick(after, &new_places, Version::Head)?;
        let changed_before = requests(self.base, before, &changed_old, Version::Base, self.budget)?;
        let changed_after = requests(self.head, after, &changed_new, Version::Head, self.budget)?;
        for (((_, recipient), old), new) in
            changed_new.iter().zip(changed_before).zip(changed_after)
        {
            review.samples.push(Sample {
                recipient: recipient.phone.to_string(),
                change: Change::Changed,
                before: Some(old),
                after: Some(new),
            });
        }
        let first_removed = self.pick(before, &matched.removed, Version::Base)?;
        let new_ones = self.pick(after, &matched.added, Version::Head)?;
        let gone = requests(
            self.base,
            before,
            &first_removed,
            Version::Base,
            self.budget,
        )?;
        let arrived = requests(self.head, after, &new_ones, Version::Head, self.budget)?;
        for ((_, r), request) in new_ones.iter().zip(arrived) {
            review.samples.push(only(r, Change::Added, request));
        }
        for ((_, r), request) in first_removed.iter().zip(gone) {
            review.samples.push(only(r, Change::Removed, request));
        }
        Ok(())
    }

    /// The recipients of `p`'s audience at `places`.
    fn pick(
        &self,
        p: &Prepared<'_>,
        places: &[usize],
        version: Version,
    ) -> Result<Vec<Placed>, Blocked> {
        pick(self.side(version), p, &p.audience, places, version)
    }

    fn side(&self, version: Version) -> &Side<'_> {
        match version {
            Version::Base => self.base,
            Version::Head => self.head,
        }
    }

    /// A broadcast on either side: the audiences compared by phone, the message by the one
    /// request (the new message rendered for the old audience, so that a changed audience
    /// alone does not count as a changed message).
    fn whole(
        &self,
        before: &Prepared<'_>,
        after: &Prepared<'_>,
        review: &mut CampaignReview,
    ) -> Result<(), Blocked> {
        let old_phones = phone_keys(self.base, before, Version::Base)?;
        let new_phones = phone_keys(self.head, after, Version::Head)?;
        let common = matching::shared(&old_phones, &new_phones);
        review.counts.added = new_phones.len() as u64 - common;
        review.counts.removed = old_phones.len() as u64 - common;
        let old_request = representative(
            self.base,
            before,
            &before.audience,
            Version::Base,
            self.now,
            self.budget,
        )?;
        let new_request = representative(
            self.head,
            after,
            &after.audience,
            Version::Head,
            self.now,
            self.budget,
        )?;
        let same_kind = !before.render.message.per_recipient()
            && !after.render.message.per_recipient()
            && !before.audience.is_empty();
        let message_changed = if same_kind {
            let new_for_old = representative(
                self.head,
                after,
                &before.audience,
                Version::Head,
                self.now,
                self.budget,
            )?;
            new_for_old.map(|r| r.fingerprint()) != old_request.as_ref().map(Request::fingerprint)
        } else {
            true
        };
        if message_changed {
            review.counts.changed = common;
        } else {
            review.counts.unchanged = common;
        }
        let differs = old_request.as_ref().map(Request::fingerprint)
            != new_request.as_ref().map(Request::fingerprint);
        if differs {
            review.samples.push(Sample {
                recipient: WHOLE_CAMPAIGN.to_owned(),
                change: Change::Changed,
                before: old_request,
                after: new_request,
            });
        }
        Ok(())
    }

    /// The first recipients of a campaign that exists in one version only.
    fn one_side(&self, p: &Prepared<'_>, version: Version) -> Result<Vec<Sample>, Blocked> {
        let side = self.side(version);
        let change = match version {
            Version::Base => Change::Removed,
            Version::Head => Change::Added,
        };
        if !p.render.message.per_recipient() {
            let request = representative(side, p, &p.audience, version, self.now, self.budget)?;
            return Ok(request
                .map(|request| {
                    let mut sample = only_whole(change, request);
                    sample.recipient = WHOLE_CAMPAIGN.to_owned();
                    sample
                })
                .into_iter()
                .collect());
        }
        // Every recipient is rendered, so that one the message fails for is reported.
        render_all(side, p, version, self.budget, |_, _, _| {})?;
        let places: Vec<usize> = (0..self.samples.min(p.audience.len())).collect();
        let first = self.pick(p, &places, version)?;
        let rendered = requests(side, p, &first, version, self.budget)?;
        Ok(first
            .iter()
            .zip(rendered)
            .map(|((_, r), request)| only(r, change, request))
            .collect())
    }
}

fn only(recipient: &Recipient, change: Change, request: Request) -> Sample {
    let mut sample = only_whole(change, request);
    sample.recipient = recipient.phone.to_string();
    sample
}

fn only_whole(change: Change, request: Request) -> Sample {
    let (before, after) = match change {
        Change::Removed => (Some(request), None),
        _ => (None, Some(request)),
    };
    Sample {
        recipient: String::new(),
        change,
        before,
        after,
    }
}

/// The settings that differ between two descriptions of a campaign.
fn settings(before: Option<&Campaign>, after: Option<&Campaign>) -> Vec<Setting> {
    let (Some(before), Some(after)) = (before, after) else {
        return Vec::new();
    };
    let template = |c: &Campaign| {
        c.template
            .as_ref()
            .map_or("none".to_owned(), |t| t.name.clone())
    };
    // Requests carry a template's parameters, not its text: an edit to the approved text
    // (which WhatsApp must approve again) shows only here.
    let text = |c: &Campaign, part: fn(&TemplateText) -> String| {
        c.template.as_ref().map_or(String::new(), part)
    };
    let header = |t: &TemplateText| t.header.clone();
    let body = |t: &TemplateText| t.body.clone();
    let buttons = |t: &TemplateText| t.buttons.join(" | ");
    let schedule = |c: &Campaign| c.schedule.map_or("now".to_owned(), |at| at.to_string());
    let on_change = |c: &Campaign| format!("{:?}", c.on_change).to_lowercase();
    let pairs = [
        ("send", before.send.clone(), after.send.clone()),
        ("template", template(before), template(after)),
        ("template header", text(before, header), text(after, header)),
        ("template body", text(before, body), text(after, body)),
        (
            "template buttons",
            text(before, buttons),
            text(after, buttons),
        ),
        ("schedule", schedule(before), schedule(after)),
        ("on_change", on_change(before), on_change(after)),
    ];
    pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(name, before, after)| Setting {
            name,
            before,
            after,
        })
        .collect()
}

#[cfg(test)]
mod tests;
