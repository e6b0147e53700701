//! E.164 phone numbers: `+`, a country code and number, 8 to 15 digits in all.

/// Why a phone number is not E.164, with a suggested fix; `Ok` when it is.
pub fn check(phone: &str) -> Result<(), PhoneError> {
    let digits = phone.strip_prefix('+');
    let valid = digits.is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    });
    if valid {
        return Ok(());
    }
    let cleaned: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let help = if phone.is_empty() {
        "every recipient needs a phone number, e.g. +919019486731".to_owned()
    } else if cleaned != phone && check(&cleaned).is_ok() {
        format!("write it without separators: {cleaned}")
    } else if let Some(national) = phone
        .strip_prefix('0')
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        // `+0...` is never valid: the 0 is a national trunk prefix, not part of the number.
        format!(
            "a leading 0 is a national prefix; replace it with + and the country code, \
             e.g. +91{national} for India"
        )
    } else if phone.bytes().all(|b| b.is_ascii_digit()) && check(&format!("+{phone}")).is_ok() {
        format!("start with + and the country code, e.g. +{phone}")
    } else {
        "write it as + then the country code and number, 8 to 15 digits, e.g. +919019486731"
            .to_owned()
    };
    Err(PhoneError { help })
}

/// A phone number that is not E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneError {
    /// How to fix it.
    pub help: String,
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_e164() {
        assert!(check("+919019486731").is_ok());
        assert!(check("+14155552671").is_ok());
    }

    #[test]
    fn rejects_and_explains() {
        assert!(
            check("919019486731")
                .unwrap_err()
                .help
                .contains("+919019486731")
        );
        assert!(
            check("+91 90194 86731")
                .unwrap_err()
                .help
                .contains("+919019486731")
        );
        let national = check("09019486731").unwrap_err().help;
        assert!(national.contains("+919019486731"), "{national}");
        assert!(!national.contains("+09019486731"), "{national}");
        assert!(check("+0123456789").is_err());
        assert!(check("+1234").is_err());
        assert!(check("").is_err());
    }
}
