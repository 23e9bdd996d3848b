//! Ids and other small bounded strings from outside.

use crate::error::ApiError;

/// `[a-z0-9][a-z0-9-_]{0,63}` (SPEC §3): sites, campaigns, engagements, skills.
pub fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// A visitor id as the runtime makes it: 1 to 64 of `[A-Za-z0-9_-]` (a UUID fits).
pub fn is_visitor_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Checks a path segment and names it in the error.
pub fn check(what: &str, s: &str) -> Result<(), ApiError> {
    if is_id(s) {
        Ok(())
    } else {
        Err(ApiError::invalid_id(what, s))
    }
}

/// A printable string of at most `max` bytes with no control characters.
pub fn is_label(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_id("acme"));
        assert!(is_id("0-a_b"));
        assert!(is_id(&"a".repeat(64)));
        assert!(!is_id(&"a".repeat(65)));
        assert!(!is_id(""));
        assert!(!is_id("-a"));
        assert!(!is_id("_a"));
        assert!(!is_id("Acme"));
        assert!(!is_id("a b"));
        assert!(!is_id("a/b"));
        assert!(!is_id("é"));
        assert!(is_visitor_id("3f2c1a9e-8b7d-4c6e-9f00-123456789abc"));
        assert!(!is_visitor_id("a b"));
        assert!(!is_visitor_id(""));
        assert!(is_label("purchase", 10));
        assert!(!is_label("a\nb", 10));
    }
}
