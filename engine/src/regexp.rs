//! Regular expressions behind one small trait.
//!
//! The engine never links a regex implementation into the browser build: natively the `regex`
//! crate is used ([`NativeRegex`]), in the browser the runtime plugs in `js_sys::RegExp`.

/// Matches `text` against `pattern`.
pub trait RegexEngine {
    /// `Some(true|false)` for a valid pattern, `None` when `pattern` is not a valid regular
    /// expression. Implementations should cache compiled patterns: the same few patterns are
    /// matched on every decision.
    fn is_match(&self, pattern: &str, case_insensitive: bool, text: &str) -> Option<bool>;

    /// Text equality ignoring case (`$ini`, `$nini`, `$alli`): both sides lower-cased character
    /// by character (`char::to_lowercase`, no context rules such as final sigma). The browser
    /// runtime answers it with JavaScript's `toLowerCase`, keeping Rust's Unicode case tables
    /// (~6 KB gzipped) out of the wasm.
    fn eq_ignore_case(&self, a: &str, b: &str) -> bool {
        crate::condition::eq_ignore_case(a, b)
    }

    /// A non-integral number as text, as version comparisons (`$veq`…) read it: serde_json's
    /// shortest round-trip form, which is JavaScript's `String(n)` for the numbers versions are
    /// made of. The browser runtime answers with `String(n)` itself, keeping a float printer
    /// out of the wasm.
    fn number_text(&self, n: f64) -> String {
        serde_json::Number::from_f64(n).map_or_else(String::new, |n| n.to_string())
    }
}

#[cfg(feature = "native")]
pub use native::NativeRegex;

#[cfg(feature = "native")]
mod native {
    use super::RegexEngine;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// The `regex` crate, with a bounded cache of compiled patterns. `Sync`, so one instance can
    /// be shared by a server's request handlers.
    /// Compiled patterns by source text: `[case-sensitive, case-insensitive]`. Looked up by
    /// `&str`, so a cache hit allocates nothing.
    type Cache = [HashMap<String, Option<regex::Regex>>; 2];

    #[derive(Default)]
    pub struct NativeRegex {
        cache: Mutex<Cache>,
    }

    /// More distinct patterns than this and the cache starts over (bounds memory on hostile input).
    const CACHE_LIMIT: usize = 4096;

    impl NativeRegex {
        pub fn new() -> Self {
            Self::default()
        }

        /// Whether `pattern` compiles (with the case-insensitive flag when `ci`), and why not.
        pub fn check(pattern: &str, ci: bool) -> Result<(), String> {
            regex::RegexBuilder::new(pattern)
                .case_insensitive(ci)
                .size_limit(1 << 20)
                .build()
                .map(|_| ())
                .map_err(|e| match e {
                    regex::Error::CompiledTooBig(_) => "it is too large".to_string(),
                    e => e.to_string(),
                })
        }

        /// Whether `pattern` compiles: used by validation.
        pub fn is_valid(pattern: &str) -> bool {
            // The same limits as matching, so a pattern that passes upload also runs.
            regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .is_ok()
        }
    }

    impl RegexEngine for NativeRegex {
        fn is_match(&self, pattern: &str, case_insensitive: bool, text: &str) -> Option<bool> {
            let mut guard = match self.cache.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let cache = &mut guard[usize::from(case_insensitive)];
            if let Some(compiled) = cache.get(pattern) {
                return compiled.as_ref().map(|r| r.is_match(text));
            }
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            let compiled = regex::RegexBuilder::new(pattern)
                .case_insensitive(case_insensitive)
                .size_limit(1 << 20)
                .build()
                .ok();
            let result = compiled.as_ref().map(|r| r.is_match(text));
            cache.insert(pattern.to_owned(), compiled);
            result
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn matches_caches_and_rejects_invalid() {
            let r = NativeRegex::new();
            assert_eq!(r.is_match("^a.c$", false, "abc"), Some(true));
            assert_eq!(r.is_match("^a.c$", false, "ABC"), Some(false));
            assert_eq!(r.is_match("^a.c$", true, "ABC"), Some(true));
            assert_eq!(r.is_match("(", false, "x"), None);
            assert!(!NativeRegex::is_valid("("));
        }
    }
}
