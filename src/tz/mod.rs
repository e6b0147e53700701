//! Time zones from the IANA database bundled into herald (jiff's `tzdb-bundle-always`), never
//! the machine's: a schedule or a send window means the same on a laptop, a CI runner and a
//! container without /usr/share/zoneinfo, and tests of DST changes hold everywhere.
//!
//! Zones are also numbered ([`ZoneId`]): a plan resolves a million recipients' zones, and a
//! number is what its caches are indexed by, with no string kept per recipient.
//! [`calling_codes`] gives the zone of a phone's country calling code.

pub mod calling_codes;

use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

/// The bundled database, loaded once.
pub fn db() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// A name that is not a zone of the bundled database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone {
    /// The name as given.
    pub name: String,
    /// The closest zone name, if one is close.
    pub suggestion: Option<&'static str>,
}

impl UnknownZone {
    /// `` `Asia/Kolkatta` is not an IANA time zone ``.
    pub fn message(&self) -> String {
        format!("`{}` is not an IANA time zone", self.name)
    }

    /// A did-you-mean, or examples of zone names.
    pub fn help(&self) -> String {
        match self.suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => "write an IANA zone name such as `Asia/Kolkata`, `Europe/London` or `UTC`"
                .to_owned(),
        }
    }
}

impl std::fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.message(), self.help())
    }
}

impl std::error::Error for UnknownZone {}

/// The zone with this IANA name (`Asia/Kolkata`, `UTC`; any case), or why there is none.
pub fn zone(name: &str) -> Result<TimeZone, UnknownZone> {
    db().get(name).map_err(|_| unknown(name))
}

fn unknown(name: &str) -> UnknownZone {
    UnknownZone {
        name: name.to_owned(),
        suggestion: crate::diagnostic::did_you_mean(name, index().names.iter().copied()),
    }
}

/// A zone of the bundled database, by its number in [`names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneId(u16);

impl ZoneId {
    /// Its number: an index into [`names`], for tables indexed by zone.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Its IANA name as the database spells it.
    pub fn name(self) -> &'static str {
        index().names[self.index()]
    }

    /// The zone (loaded from the database; zones are shared, so this is cheap after the first).
    pub fn zone(self) -> TimeZone {
        // Every name in the index came from the database.
        db().get(self.name()).unwrap_or(TimeZone::UTC)
    }

    /// UTC.
    pub fn utc() -> ZoneId {
        id("UTC").unwrap_or(ZoneId(0))
    }
}

/// Every zone name of the bundled database, sorted, and each one's number.
struct Index {
    names: Vec<&'static str>,
    ids: HashMap<&'static str, ZoneId>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut names: Vec<&'static str> = db()
            .available()
            .map(|n| &*Box::leak(n.as_str().to_owned().into_boxed_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        // About 600 zones: far from u16's limit, whatever a future database adds.
        names.truncate(usize::from(u16::MAX));
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, ZoneId(u16::try_from(i).unwrap_or(u16::MAX))))
            .collect();
        Index { names, ids }
    })
}

/// How many zones [`names`] holds: the size of a table indexed by [`ZoneId::index`].
pub fn count() -> usize {
    index().names.len()
}

/// The number of the zone called `name`: exact names are looked up without allocating; other
/// spellings the database accepts (`asia/kolkata`) by its own lookup.
pub fn id(name: &str) -> Option<ZoneId> {
    let index = index();
    if let Some(&id) = index.ids.get(name) {
        return Some(id);
    }
    let canonical = db().get(name).ok()?;
    index.ids.get(canonical.iana_name()?).copied()
}

/// [`id`], or why there is none.
pub fn id_of(name: &str) -> Result<ZoneId, UnknownZone> {
    id(name).ok_or_else(|| unknown(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_come_from_the_bundled_database() {
        assert!(!db().is_definitively_empty());
        let kolkata = zone("Asia/Kolkata").expect("a zone");
        let at: jiff::Timestamp = "2026-12-07T03:30:00Z".parse().unwrap();
        assert_eq!(at.to_zoned_datetime(kolkata).hour(), 9);
    }

    #[test]
    fn an_unknown_zone_is_explained() {
        let error = zone("Asia/Kolkatta").unwrap_err();
        assert_eq!(error.message(), "`Asia/Kolkatta` is not an IANA time zone");
        assert_eq!(error.help(), "did you mean `Asia/Kolkata`?");
    }

    #[test]
    fn zones_are_numbered_by_name_in_any_case() {
        let kolkata = id("Asia/Kolkata").expect("numbered");
        assert_eq!(kolkata.name(), "Asia/Kolkata");
        assert_eq!(id("asia/KOLKATA"), Some(kolkata));
        assert_eq!(ZoneId::utc().name(), "UTC");
        assert!(id("Mars/Olympus").is_none());
        assert!(count() > 300);
        assert_eq!(kolkata.zone().iana_name(), Some("Asia/Kolkata"));
    }
}
