//! What a review holds while it compares two versions.

use super::*;

/// Listed, a million-recipient audience took half a gigabyte on each side of a review: the
/// CSV audience of a campaign sent per recipient is counted, and read again as it is
/// rendered.
#[test]
fn csv_audiences_are_read_again_as_they_are_rendered_not_held() {
    let dir = tempfile::tempdir().unwrap();
    crate::init::create(dir.path()).unwrap();
    let loaded = crate::load::load(dir.path()).unwrap();
    let validated = crate::validate::validate(&loaded, &crate::validate::Options::default());
    let api = validated.catalog.settings.as_ref().unwrap().api_for(None);
    let side = Side {
        loaded: &loaded,
        catalog: &validated.catalog,
        api: &api,
    };
    let now = Timestamp::now();
    let mut users = WithoutUsersApi::default();
    let budget = RefCell::new(Budget::plan());
    let prepared = prepare(&side, Version::Head, now, &mut users, &budget).unwrap();
    assert!(!prepared.is_empty());
    for p in &prepared {
        assert!(p.render.message.per_recipient());
        assert!(p.audience.recipients.is_empty() && p.audience.streamed.is_some());
    }
    let review = review(Some(&side), &side, now, 3, &mut users).unwrap();
    assert!(!review.has_changes());
    assert!(review.campaigns.iter().all(|c| c.counts.unchanged > 0));
}
