//! Phone numbers with libphonenumber's metadata (the `phonenumber` crate): E.164 out, a national
//! number read in the site's `settings.default_country`.

use phonenumber::{country, Mode};

/// Parses `input` into E.164 (`+447400123456`). A number without `+` (or `00`) is national and
/// read in `default_country`.
pub fn parse(input: &str, default_country: Option<&str>) -> Result<String, String> {
    let shown: String = input.chars().take(40).collect();
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("a phone number is required".into());
    }
    if trimmed.len() > 40 {
        return Err(format!("\"{shown}…\" is too long for a phone number"));
    }
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let region = match default_country {
        Some(c) => Some(c.parse::<country::Id>().map_err(|_| {
            format!("settings.default_country \"{c}\" is not a country phonenumber knows")
        })?),
        None => None,
    };
    if !international && region.is_none() {
        return Err(format!(
            "\"{shown}\" is a national number: write it with its country code (+44…), or set \
             settings.default_country in the campaign document"
        ));
    }
    let candidate = match trimmed.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => trimmed.to_owned(),
    };
    let n = phonenumber::parse(region, &candidate)
        .map_err(|e| format!("\"{shown}\" is not a phone number ({e})"))?;
    if !phonenumber::is_valid(&n) {
        return Err(format!(
            "\"{shown}\" is not a valid phone number for its country"
        ));
    }
    Ok(n.format().mode(Mode::E164).to_string())
}

/// Whether `s` is already E.164 (what webhooks and the API hand back).
pub fn is_e164(s: &str) -> bool {
    let Some(d) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}

/// What an erased contact's messages keep in place of the number.
pub fn hashed(phone: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(phone.as_bytes());
    format!("erased:{}", crate::auth::hex(&d[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international() {
        assert_eq!(
            parse("+44 7400 123456", None).as_deref(),
            Ok("+447400123456")
        );
        assert_eq!(
            parse("07400 123456", Some("GB")).as_deref(),
            Ok("+447400123456")
        );
        assert_eq!(
            parse("0044 7400 123456", Some("US")).as_deref(),
            Ok("+447400123456")
        );
        assert_eq!(
            parse("(650) 253-0000", Some("US")).as_deref(),
            Ok("+16502530000")
        );
        assert!(parse("07400 123456", None)
            .unwrap_err()
            .contains("default_country"));
        assert!(parse("12", Some("GB")).is_err());
        assert!(parse("+44 12", None).is_err());
        assert!(parse("not a number", Some("GB")).is_err());
        assert!(parse("", Some("GB")).is_err());
        assert!(is_e164("+447400123456"));
        assert!(!is_e164("447400123456"));
        assert!(hashed("+447400123456").starts_with("erased:"));
    }
}
