//! The time zone of a phone number, from its country calling code: the table below, matched on
//! the longest prefix of the E.164 digits (`+1876…` is Jamaica, `+1…` the United States and
//! Canada; `+77…` Kazakhstan, `+7…` Russia).
//!
//! A country with one zone maps to it. A country spread over several lists its zones, the
//! most populous first (`+1`: New York; `+7`: Moscow; `+55`: São Paulo; `+61`: Sydney; `+62`:
//! Jakarta; `+52`: Mexico City): a recipient's number says the country, never the city, so
//! [`Country::zone_for`] takes the project's own zone (herald.yaml's `timezone:`) when it is one
//! of the country's (a Los Angeles business's `+1` customers are mostly on Pacific time), and
//! the main zone otherwise. An audience that knows better gives `user.timezone`.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::ZoneId;

/// A calling-code prefix (digits after the `+`), the country, and its zones, main zone first.
type Entry = (&'static str, &'static str, &'static [&'static str]);

/// Country calling codes and their zones: the 100 most populous countries and more.
#[rustfmt::skip]
const TABLE: &[Entry] = &[
    ("1", "United States and Canada", &[
        "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
        "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Toronto",
        "America/Vancouver", "America/Edmonton", "America/Winnipeg", "America/Regina",
        "America/Halifax", "America/St_Johns",
    ]),
    ("1242", "Bahamas", &["America/Nassau"]),
    ("1246", "Barbados", &["America/Barbados"]),
    ("1787", "Puerto Rico", &["America/Puerto_Rico"]),
    ("1809", "Dominican Republic", &["America/Santo_Domingo"]),
    ("1829", "Dominican Republic", &["America/Santo_Domingo"]),
    ("1849", "Dominican Republic", &["America/Santo_Domingo"]),
    ("1868", "Trinidad and Tobago", &["America/Port_of_Spain"]),
    ("1876", "Jamaica", &["America/Jamaica"]),
    ("1939", "Puerto Rico", &["America/Puerto_Rico"]),
    ("20", "Egypt", &["Africa/Cairo"]),
    ("211", "South Sudan", &["Africa/Juba"]),
    ("212", "Morocco", &["Africa/Casablanca"]),
    ("213", "Algeria", &["Africa/Algiers"]),
    ("216", "Tunisia", &["Africa/Tunis"]),
    ("218", "Libya", &["Africa/Tripoli"]),
    ("220", "Gambia", &["Africa/Banjul"]),
    ("221", "Senegal", &["Africa/Dakar"]),
    ("222", "Mauritania", &["Africa/Nouakchott"]),
    ("223", "Mali", &["Africa/Bamako"]),
    ("224", "Guinea", &["Africa/Conakry"]),
    ("225", "Côte d'Ivoire", &["Africa/Abidjan"]),
    ("226", "Burkina Faso", &["Africa/Ouagadougou"]),
    ("227", "Niger", &["Africa/Niamey"]),
    ("228", "Togo", &["Africa/Lome"]),
    ("229", "Benin", &["Africa/Porto-Novo"]),
    ("230", "Mauritius", &["Indian/Mauritius"]),
    ("231", "Liberia", &["Africa/Monrovia"]),
    ("232", "Sierra Leone", &["Africa/Freetown"]),
    ("233", "Ghana", &["Africa/Accra"]),
    ("234", "Nigeria", &["Africa/Lagos"]),
    ("235", "Chad", &["Africa/Ndjamena"]),
    ("236", "Central African Republic", &["Africa/Bangui"]),
    ("237", "Cameroon", &["Africa/Douala"]),
    ("241", "Gabon", &["Africa/Libreville"]),
    ("242", "Republic of the Congo", &["Africa/Brazzaville"]),
    ("243", "DR Congo", &["Africa/Kinshasa", "Africa/Lubumbashi"]),
    ("244", "Angola", &["Africa/Luanda"]),
    ("245", "Guinea-Bissau", &["Africa/Bissau"]),
    ("249", "Sudan", &["Africa/Khartoum"]),
    ("250", "Rwanda", &["Africa/Kigali"]),
    ("251", "Ethiopia", &["Africa/Addis_Ababa"]),
    ("252", "Somalia", &["Africa/Mogadishu"]),
    ("253", "Djibouti", &["Africa/Djibouti"]),
    ("254", "Kenya", &["Africa/Nairobi"]),
    ("255", "Tanzania", &["Africa/Dar_es_Salaam"]),
    ("256", "Uganda", &["Africa/Kampala"]),
    ("257", "Burundi", &["Africa/Bujumbura"]),
    ("258", "Mozambique", &["Africa/Maputo"]),
    ("260", "Zambia", &["Africa/Lusaka"]),
    ("261", "Madagascar", &["Indian/Antananarivo"]),
    ("263", "Zimbabwe", &["Africa/Harare"]),
    ("264", "Namibia", &["Africa/Windhoek"]),
    ("265", "Malawi", &["Africa/Blantyre"]),
    ("266", "Lesotho", &["Africa/Maseru"]),
    ("267", "Botswana", &["Africa/Gaborone"]),
    ("268", "Eswatini", &["Africa/Mbabane"]),
    ("27", "South Africa", &["Africa/Johannesburg"]),
    ("291", "Eritrea", &["Africa/Asmara"]),
    ("30", "Greece", &["Europe/Athens"]),
    ("31", "Netherlands", &["Europe/Amsterdam"]),
    ("32", "Belgium", &["Europe/Brussels"]),
    ("33", "France", &["Europe/Paris"]),
    ("34", "Spain", &["Europe/Madrid", "Atlantic/Canary", "Africa/Ceuta"]),
    ("351", "Portugal", &["Europe/Lisbon", "Atlantic/Madeira", "Atlantic/Azores"]),
    ("352", "Luxembourg", &["Europe/Luxembourg"]),
    ("353", "Ireland", &["Europe/Dublin"]),
    ("354", "Iceland", &["Atlantic/Reykjavik"]),
    ("355", "Albania", &["Europe/Tirane"]),
    ("356", "Malta", &["Europe/Malta"]),
    ("357", "Cyprus", &["Asia/Nicosia"]),
    ("358", "Finland", &["Europe/Helsinki"]),
    ("359", "Bulgaria", &["Europe/Sofia"]),
    ("36", "Hungary", &["Europe/Budapest"]),
    ("370", "Lithuania", &["Europe/Vilnius"]),
    ("371", "Latvia", &["Europe/Riga"]),
    ("372", "Estonia", &["Europe/Tallinn"]),
    ("373", "Moldova", &["Europe/Chisinau"]),
    ("374", "Armenia", &["Asia/Yerevan"]),
    ("375", "Belarus", &["Europe/Minsk"]),
    ("380", "Ukraine", &["Europe/Kyiv"]),
    ("381", "Serbia", &["Europe/Belgrade"]),
    ("382", "Montenegro", &["Europe/Podgorica"]),
    ("385", "Croatia", &["Europe/Zagreb"]),
    ("386", "Slovenia", &["Europe/Ljubljana"]),
    ("387", "Bosnia and Herzegovina", &["Europe/Sarajevo"]),
    ("389", "North Macedonia", &["Europe/Skopje"]),
    ("39", "Italy", &["Europe/Rome"]),
    ("40", "Romania", &["Europe/Bucharest"]),
    ("41", "Switzerland", &["Europe/Zurich"]),
    ("420", "Czechia", &["Europe/Prague"]),
    ("421", "Slovakia", &["Europe/Bratislava"]),
    ("43", "Austria", &["Europe/Vienna"]),
    ("44", "United Kingdom", &["Europe/London"]),
    ("45", "Denmark", &["Europe/Copenhagen"]),
    ("46", "Sweden", &["Europe/Stockholm"]),
    ("47", "Norway", &["Europe/Oslo"]),
    ("48", "Poland", &["Europe/Warsaw"]),
    ("49", "Germany", &["Europe/Berlin"]),
    ("502", "Guatemala", &["America/Guatemala"]),
    ("503", "El Salvador", &["America/El_Salvador"]),
    ("504", "Honduras", &["America/Tegucigalpa"]),
    ("505", "Nicaragua", &["America/Managua"]),
    ("506", "Costa Rica", &["America/Costa_Rica"]),
    ("507", "Panama", &["America/Panama"]),
    ("509", "Haiti", &["America/Port-au-Prince"]),
    ("51", "Peru", &["America/Lima"]),
    ("52", "Mexico", &[
        "America/Mexico_City", "America/Monterrey", "America/Cancun", "America/Merida",
        "America/Chihuahua", "America/Mazatlan", "America/Hermosillo", "America/Tijuana",
    ]),
    ("53", "Cuba", &["America/Havana"]),
    ("54", "Argentina", &["America/Argentina/Buenos_Aires"]),
    ("55", "Brazil", &[
        "America/Sao_Paulo", "America/Fortaleza", "America/Recife", "America/Bahia",
        "America/Belem", "America/Manaus", "America/Cuiaba", "America/Campo_Grande",
        "America/Porto_Velho", "America/Boa_Vista", "America/Rio_Branco", "America/Noronha",
    ]),
    ("56", "Chile", &["America/Santiago", "America/Punta_Arenas", "Pacific/Easter"]),
    ("57", "Colombia", &["America/Bogota"]),
    ("58", "Venezuela", &["America/Caracas"]),
    ("591", "Bolivia", &["America/La_Paz"]),
    ("593", "Ecuador", &["America/Guayaquil", "Pacific/Galapagos"]),
    ("595", "Paraguay", &["America/Asuncion"]),
    ("598", "Uruguay", &["America/Montevideo"]),
    ("60", "Malaysia", &["Asia/Kuala_Lumpur", "Asia/Kuching"]),
    ("61", "Australia", &[
        "Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Australia/Perth",
        "Australia/Adelaide", "Australia/Hobart", "Australia/Darwin",
    ]),
    ("62", "Indonesia", &["Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura"]),
    ("63", "Philippines", &["Asia/Manila"]),
    ("64", "New Zealand", &["Pacific/Auckland", "Pacific/Chatham"]),
    ("65", "Singapore", &["Asia/Singapore"]),
    ("66", "Thailand", &["Asia/Bangkok"]),
    ("670", "Timor-Leste", &["Asia/Dili"]),
    ("673", "Brunei", &["Asia/Brunei"]),
    ("675", "Papua New Guinea", &["Pacific/Port_Moresby", "Pacific/Bougainville"]),
    ("679", "Fiji", &["Pacific/Fiji"]),
    ("7", "Russia", &[
        "Europe/Moscow", "Europe/Kaliningrad", "Europe/Samara", "Europe/Volgograd",
        "Asia/Yekaterinburg", "Asia/Omsk", "Asia/Novosibirsk", "Asia/Krasnoyarsk",
        "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
    ]),
    ("76", "Kazakhstan", &["Asia/Almaty", "Asia/Aqtobe", "Asia/Aqtau", "Asia/Oral"]),
    ("77", "Kazakhstan", &["Asia/Almaty", "Asia/Aqtobe", "Asia/Aqtau", "Asia/Oral"]),
    ("81", "Japan", &["Asia/Tokyo"]),
    ("82", "South Korea", &["Asia/Seoul"]),
    ("84", "Vietnam", &["Asia/Ho_Chi_Minh"]),
    ("850", "North Korea", &["Asia/Pyongyang"]),
    ("852", "Hong Kong", &["Asia/Hong_Kong"]),
    ("853", "Macau", &["Asia/Macau"]),
    ("855", "Cambodia", &["Asia/Phnom_Penh"]),
    ("856", "Laos", &["Asia/Vientiane"]),
    ("86", "China", &["Asia/Shanghai"]),
    ("880", "Bangladesh", &["Asia/Dhaka"]),
    ("886", "Taiwan", &["Asia/Taipei"]),
    ("90", "Turkey", &["Europe/Istanbul"]),
    ("91", "India", &["Asia/Kolkata"]),
    ("92", "Pakistan", &["Asia/Karachi"]),
    ("93", "Afghanistan", &["Asia/Kabul"]),
    ("94", "Sri Lanka", &["Asia/Colombo"]),
    ("95", "Myanmar", &["Asia/Yangon"]),
    ("960", "Maldives", &["Indian/Maldives"]),
    ("961", "Lebanon", &["Asia/Beirut"]),
    ("962", "Jordan", &["Asia/Amman"]),
    ("963", "Syria", &["Asia/Damascus"]),
    ("964", "Iraq", &["Asia/Baghdad"]),
    ("965", "Kuwait", &["Asia/Kuwait"]),
    ("966", "Saudi Arabia", &["Asia/Riyadh"]),
    ("967", "Yemen", &["Asia/Aden"]),
    ("968", "Oman", &["Asia/Muscat"]),
    ("971", "United Arab Emirates", &["Asia/Dubai"]),
    ("972", "Israel", &["Asia/Jerusalem"]),
    ("973", "Bahrain", &["Asia/Bahrain"]),
    ("974", "Qatar", &["Asia/Qatar"]),
    ("975", "Bhutan", &["Asia/Thimphu"]),
    ("976", "Mongolia", &["Asia/Ulaanbaatar", "Asia/Hovd"]),
    ("977", "Nepal", &["Asia/Kathmandu"]),
    ("98", "Iran", &["Asia/Tehran"]),
    ("992", "Tajikistan", &["Asia/Dushanbe"]),
    ("993", "Turkmenistan", &["Asia/Ashgabat"]),
    ("994", "Azerbaijan", &["Asia/Baku"]),
    ("995", "Georgia", &["Asia/Tbilisi"]),
    ("996", "Kyrgyzstan", &["Asia/Bishkek"]),
    ("998", "Uzbekistan", &["Asia/Tashkent"]),
];

/// The longest prefix in [`TABLE`].
const LONGEST: usize = 4;

/// One row of the table: a country (or a part of one with its own prefix) and its zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// Its row in the table: what caches of per-country results are indexed by.
    pub index: usize,
    /// The calling-code prefix, digits only (`91`, `1876`).
    pub prefix: &'static str,
    /// The country's name.
    pub name: &'static str,
    /// Its zones, the most populous first.
    pub zones: &'static [&'static str],
}

impl Country {
    /// Its main zone.
    pub fn main(self) -> &'static str {
        self.zones[0]
    }

    /// Whether it spans several zones.
    pub fn multi_zone(self) -> bool {
        self.zones.len() > 1
    }

    /// The zone its numbers are taken to be in: `project`'s (herald.yaml's `timezone:`) when
    /// that is one of the country's zones, else the main one.
    pub fn zone_for(self, project: Option<ZoneId>) -> Option<ZoneId> {
        if let Some(project) = project
            && self.zones.iter().any(|&z| super::id(z) == Some(project))
        {
            return Some(project);
        }
        super::id(self.main())
    }
}

/// How many rows the table has: the size of a cache indexed by [`Country::index`].
pub fn count() -> usize {
    TABLE.len()
}

/// Every row, in table order.
pub fn all() -> impl Iterator<Item = Country> {
    TABLE.iter().enumerate().map(|(i, e)| country(i, e))
}

fn country(index: usize, &(prefix, name, zones): &Entry) -> Country {
    Country {
        index,
        prefix,
        name,
        zones,
    }
}

/// The country of an E.164 phone (`+` optional), by the longest prefix of its digits in the
/// table; `None` for a code the table lacks.
pub fn country_of(phone: &str) -> Option<Country> {
    static BY_PREFIX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let by_prefix = BY_PREFIX.get_or_init(|| {
        TABLE
            .iter()
            .enumerate()
            .map(|(i, (prefix, ..))| (*prefix, i))
            .collect()
    });
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    let longest = digits
        .bytes()
        .take(LONGEST)
        .take_while(u8::is_ascii_digit)
        .count();
    (1..=longest).rev().find_map(|n| {
        let i = *by_prefix.get(&digits[..n])?;
        Some(country(i, &TABLE[i]))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_zone_is_in_the_bundled_database() {
        for c in all() {
            for zone in c.zones {
                assert!(
                    crate::tz::id(zone).is_some(),
                    "{} (+{}): {zone} is not in the bundled database",
                    c.name,
                    c.prefix
                );
            }
        }
    }

    #[test]
    fn prefixes_are_digits_and_unambiguous() {
        let mut seen = BTreeSet::new();
        for c in all() {
            assert!(
                !c.prefix.is_empty()
                    && c.prefix.len() <= LONGEST
                    && c.prefix.bytes().all(|b| b.is_ascii_digit())
                    && !c.prefix.starts_with('0'),
                "+{}",
                c.prefix
            );
            assert!(seen.insert(c.prefix), "+{} is listed twice", c.prefix);
            assert!(!c.zones.is_empty(), "+{} has no zone", c.prefix);
        }
        // A longer prefix inside a shorter one is a part of that numbering plan with its own
        // zone (the Caribbean within +1, Kazakhstan within +7), never two countries at once.
        for c in all() {
            for shorter in (1..c.prefix.len()).map(|n| &c.prefix[..n]) {
                if seen.contains(shorter) {
                    assert!(
                        matches!(shorter, "1" | "7"),
                        "+{} sits inside +{shorter}",
                        c.prefix
                    );
                }
            }
        }
    }

    #[test]
    fn the_longest_prefix_wins() {
        let zone = |phone: &str| country_of(phone).map(Country::main);
        assert_eq!(zone("+919019486731"), Some("Asia/Kolkata"));
        assert_eq!(zone("+971501234567"), Some("Asia/Dubai"));
        assert_eq!(zone("+447700900123"), Some("Europe/London"));
        assert_eq!(zone("+4915112345678"), Some("Europe/Berlin"));
        assert_eq!(zone("+33612345678"), Some("Europe/Paris"));
        assert_eq!(zone("+6591234567"), Some("Asia/Singapore"));
        assert_eq!(zone("+14155552671"), Some("America/New_York"));
        assert_eq!(zone("+18765551234"), Some("America/Jamaica"));
        assert_eq!(zone("+79161234567"), Some("Europe/Moscow"));
        assert_eq!(zone("+77011234567"), Some("Asia/Almaty"));
        assert_eq!(zone("+6281234567890"), Some("Asia/Jakarta"));
        assert_eq!(zone("+21612345678"), Some("Africa/Tunis"));
        // +28x is unassigned.
        assert_eq!(zone("+2812345678"), None);
        assert_eq!(zone("+"), None);
    }

    #[test]
    fn a_multi_zone_country_takes_the_project_zone_when_it_is_one_of_its_own() {
        let us = country_of("+14155552671").unwrap();
        assert!(us.multi_zone());
        let la = crate::tz::id("America/Los_Angeles");
        let kolkata = crate::tz::id("Asia/Kolkata");
        let ny = crate::tz::id("America/New_York");
        assert_eq!(us.zone_for(la), la);
        assert_eq!(us.zone_for(kolkata), ny);
        assert_eq!(us.zone_for(None), ny);
        let india = country_of("+919019486731").unwrap();
        assert_eq!(india.zone_for(la), kolkata);
    }

    #[test]
    fn the_most_populous_countries_are_covered() {
        for phone in [
            "+91", "+86", "+1", "+62", "+92", "+234", "+55", "+880", "+7", "+251", "+52", "+81",
            "+20", "+63", "+243", "+84", "+98", "+90", "+49", "+66", "+44", "+255", "+33", "+27",
            "+39", "+254", "+95", "+57", "+82", "+249", "+256", "+34", "+213", "+964", "+54",
            "+93", "+967", "+48", "+212", "+244", "+380", "+998", "+60", "+258", "+233", "+51",
            "+966", "+261", "+225", "+977", "+237", "+58", "+227", "+61", "+850", "+963", "+223",
            "+226", "+886", "+94", "+265", "+260", "+56", "+40", "+235", "+252", "+221", "+31",
            "+502", "+593",
        ] {
            assert!(country_of(&format!("{phone}12345678")).is_some(), "{phone}");
        }
    }
}
