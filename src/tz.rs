//! Time zones from the IANA database bundled into herald (jiff's `tzdb-bundle-always`), never
//! the machine's: a schedule or a send window means the same on a laptop, a CI runner and a
//! container without /usr/share/zoneinfo, and tests of DST changes hold everywhere.

use std::sync::OnceLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

/// The bundled database, loaded once.
pub fn db() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// The zone with this IANA name (`Asia/Kolkata`, `UTC`), or why there is none.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    db().get(name).map_err(|_| {
        let names: Vec<String> = db().available().map(|n| n.as_str().to_owned()).collect();
        let suggestion = crate::diagnostic::did_you_mean(name, names.iter().map(String::as_str));
        match suggestion {
            Some(s) => format!("`{name}` is not an IANA time zone; did you mean `{s}`?"),
            None => format!(
                "`{name}` is not an IANA time zone (e.g. `Asia/Kolkata`, `Europe/London`, `UTC`)"
            ),
        }
    })
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
        assert!(error.contains("did you mean `Asia/Kolkata`?"), "{error}");
    }
}
