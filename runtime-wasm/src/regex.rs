//! The engine's [`RegexEngine`] on top of JavaScript's `RegExp`, so no regex crate ships in the
//! wasm. Compiled expressions are cached (bounded); an invalid pattern never matches.

use engage_engine::RegexEngine;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = RegExp)]
    type JsRe;
    /// `new RegExp(pattern, flags)`, which throws on a bad pattern: caught, not propagated.
    #[wasm_bindgen(constructor, catch, js_class = "RegExp")]
    fn new(pattern: &str, flags: &str) -> Result<JsRe, JsValue>;
    #[wasm_bindgen(method, js_class = "RegExp")]
    fn test(this: &JsRe, text: &str) -> bool;
}

/// Distinct patterns kept compiled; beyond this the cache starts over.
const CACHE_LIMIT: usize = 128;

#[derive(Default)]
pub struct JsRegex {
    cache: RefCell<Vec<(String, bool, Option<JsRe>)>>,
}

impl JsRegex {
    pub fn new() -> Self {
        Self::default()
    }
}

impl RegexEngine for JsRegex {
    fn is_match(&self, pattern: &str, case_insensitive: bool, text: &str) -> Option<bool> {
        let mut cache = self.cache.try_borrow_mut().ok()?;
        let pos = cache
            .iter()
            .position(|(p, ci, _)| *ci == case_insensitive && p == pattern);
        let i = match pos {
            Some(i) => i,
            None => {
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                let flags = if case_insensitive { "i" } else { "" };
                cache.push((
                    pattern.into(),
                    case_insensitive,
                    JsRe::new(pattern, flags).ok(),
                ));
                cache.len() - 1
            }
        };
        cache.get(i)?.2.as_ref().map(|re| re.test(text))
    }

    /// JavaScript's `toLowerCase`, one character at a time (as `char::to_lowercase`: no final
    /// sigma), instead of Rust's Unicode tables.
    fn eq_ignore_case(&self, a: &str, b: &str) -> bool {
        if a.is_ascii() && b.is_ascii() {
            return a.eq_ignore_ascii_case(b);
        }
        lower(a) == lower(b)
    }

    /// JavaScript's `String(n)`: what GrowthBook's version comparisons read, and no float
    /// printer in the wasm.
    fn number_text(&self, n: f64) -> String {
        js_sys::Number::from(n)
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_default()
    }
}

fn lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            let one = js_sys::JsString::from(&*c.encode_utf8(&mut buf));
            out.push_str(&String::from(one.to_lower_case()));
        }
    }
    out
}
