//! The decision index: which engagements a page can possibly match, so a decision evaluates
//! those and not every engagement of the bundle.
//!
//! Behind the `index` feature (on by default; the shop's wasm leaves it out for its weight).
//! Built once per bundle (lazily, on its first decision) from the entry points' include tests:
//!
//! - `equals` and `prefix` URL tests are filed under their (lowercase) text: a page's URL can
//!   only match one whose text is a prefix of the page's lowercased URL;
//! - `pattern` URL tests are filed by hostname (when it is one fixed name; otherwise under "any
//!   host") and the fixed start of their path: a page can only match one filed under its host
//!   (or any host) whose fixed path start is a prefix of the page's path;
//! - a `contains` test of the URL, and an `equals`, `prefix` or `contains` test of the title or
//!   section, with at least 3 bytes of text, is filed under one 3-byte piece (trigram) of its
//!   lowercase text, the piece fewest other such tests share: a page can only match it if
//!   that piece occurs in the page's lowercased URL, title or section;
//! - an engagement whose includes are all such tests is a candidate of the pages some include
//!   may match; every other engagement (no include, a `regex`, a text of under 3 bytes) is a
//!   candidate on every page.
//!
//! The index is only a filter: a candidate still runs every rule, and a test the index lets
//! through is still tested. It never drops an engagement whose include could match, so the
//! decision over the candidates is the decision over all (a property test checks it against the
//! unindexed evaluation on random documents and pages).

// Without the feature only the empty `IndexCell` is used; the rest stays for the tests of
// the default build.
#![cfg_attr(not(feature = "index"), allow(dead_code, unused_imports))]

use crate::bundle::Bundle;
use crate::model::PageField;
use crate::urlmatch::{CompiledMatcher, Subject};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Every filed test under one byte key. A key starts with a tag byte that keeps the kinds
/// apart: `T` + lowercase text (`equals`/`prefix`), `H` + host + `/` + path start (a pattern on
/// one hostname; a hostname holds no `/`), `A` + path start (a pattern on any host). A page
/// makes the same three texts; a test can match the page only if its key starts one of them.
///
/// The keys are scanned, not searched: a prefix comparison per filed test costs a few
/// nanoseconds where evaluating an engagement's rules costs hundreds, and a scan needs no sort
/// or search code in the shop's wasm. Text tests are looked up by the page's own trigrams
/// instead, so a page costs the length of its URL and title, not the number of such tests.
#[derive(Debug, Default)]
pub struct Index {
    /// Per engagement: a candidate on every page.
    always: Vec<bool>,
    /// (key, the engagements that include the test), for every filed test some entry point uses.
    keys: Vec<(Vec<u8>, Vec<u32>)>,
    /// (field, trigram) → the engagements with an include filed under it.
    grams: HashMap<(u8, [u8; 3]), Vec<u32>>,
}

/// How a page test is filed.
enum Filed {
    /// A key the page's texts must start with.
    Start(Vec<u8>),
    /// Lowercase text (3 bytes or more) the field's lowercased value must contain.
    Text(u8, Vec<u8>),
}

fn field_tag(f: PageField) -> u8 {
    match f {
        PageField::Url => 0,
        PageField::Title => 1,
        PageField::Section => 2,
    }
}

/// How a page test is filed; `None` when the index cannot file it.
fn key(bundle: &Bundle, t: u32) -> Option<Filed> {
    let test = bundle.page_tests.get(t as usize)?;
    let text = |s: &str| {
        (s.len() >= 3).then(|| Filed::Text(field_tag(test.field), s.to_ascii_lowercase().into()))
    };
    if test.field != PageField::Url {
        return match &test.matcher {
            CompiledMatcher::Equals(s)
            | CompiledMatcher::Prefix(s)
            | CompiledMatcher::Contains(s) => text(s),
            _ => None,
        };
    }
    Some(Filed::Start(match &test.matcher {
        CompiledMatcher::Equals(s) | CompiledMatcher::Prefix(s) => {
            [b"T", s.to_ascii_lowercase().as_bytes()].concat()
        }
        CompiledMatcher::Url(p) => match p.index_key() {
            (Some(host), path) => [b"H", host, b"/", path].concat(),
            (None, path) => [b"A", path].concat(),
        },
        CompiledMatcher::Contains(s) => return text(s),
        _ => return None,
    }))
}

fn trigrams(text: &[u8]) -> impl Iterator<Item = [u8; 3]> + '_ {
    text.windows(3).filter_map(|w| w.try_into().ok())
}

impl Index {
    pub fn build(bundle: &Bundle) -> Self {
        let filed: Vec<Option<Filed>> = (0..bundle.page_tests.len() as u32)
            .map(|t| key(bundle, t))
            .collect();
        let mut postings = vec![Vec::new(); bundle.page_tests.len()];
        let mut always = Vec::new();
        for c in &bundle.campaigns {
            for e in &c.engagements {
                let slot = always.len() as u32;
                let inc = &e.entry_point.include;
                let unfiled = |&t: &u32| filed.get(t as usize).is_none_or(Option::is_none);
                let all = inc.is_empty() || inc.iter().any(unfiled);
                always.push(all);
                for &t in inc.iter().filter(|_| !all) {
                    if let Some(p) = postings.get_mut(t as usize) {
                        p.push(slot);
                    }
                }
            }
        }
        // How many used text tests each trigram occurs in: each test is filed under its rarest.
        let mut seen: HashMap<(u8, [u8; 3]), u32> = HashMap::new();
        for (f, slots) in filed.iter().zip(&postings) {
            if let (Some(Filed::Text(tag, text)), false) = (f, slots.is_empty()) {
                let mut mine: Vec<[u8; 3]> = trigrams(text).collect();
                mine.sort_unstable();
                mine.dedup();
                for g in mine {
                    *seen.entry((*tag, g)).or_default() += 1;
                }
            }
        }
        let mut keys = Vec::new();
        let mut grams: HashMap<(u8, [u8; 3]), Vec<u32>> = HashMap::new();
        for (f, slots) in filed.into_iter().zip(postings) {
            match f {
                _ if slots.is_empty() => {}
                Some(Filed::Start(k)) => keys.push((k, slots)),
                Some(Filed::Text(tag, text)) => {
                    let rarest = trigrams(&text).min_by_key(|g| seen.get(&(tag, *g)));
                    if let Some(g) = rarest {
                        grams.entry((tag, g)).or_default().extend(slots);
                    }
                }
                None => {}
            }
        }
        Index {
            always,
            keys,
            grams,
        }
    }

    /// Per engagement (document order): whether the page can match its entry point.
    pub(crate) fn candidates(
        &self,
        url: Option<&Subject<'_>>,
        title: Option<&str>,
        section: Option<&str>,
    ) -> Vec<bool> {
        let mut mark = self.always.clone();
        let mut hit = |slots: &[u32]| {
            for &s in slots {
                if let Some(m) = mark.get_mut(s as usize) {
                    *m = true;
                }
            }
        };
        if !self.grams.is_empty() {
            let fields = [
                (PageField::Url, url.map(|u| u.text())),
                (PageField::Title, title),
                (PageField::Section, section),
            ];
            for (f, text) in fields {
                let Some(text) = text else { continue };
                let lower = text.to_ascii_lowercase();
                for g in trigrams(lower.as_bytes()) {
                    if let Some(slots) = self.grams.get(&(field_tag(f), g)) {
                        hit(slots);
                    }
                }
            }
        }
        let Some(url) = url else { return mark };
        let mut texts = vec![[b"T", url.text().to_ascii_lowercase().as_bytes()].concat()];
        if let Some((host, path)) = url.host_path() {
            texts.push([b"A", path.as_bytes()].concat());
            if let Some(host) = host {
                let host = host.to_ascii_lowercase();
                texts.push([b"H", host.as_bytes(), b"/", path.as_bytes()].concat());
            }
        }
        for (k, slots) in &self.keys {
            if texts.iter().any(|t| t.starts_with(k)) {
                hit(slots);
            }
        }
        mark
    }
}

/// The bundle's index, built on first use. Not part of the bundle's value: clones start
/// without one, and two bundles are equal whatever their indexes. Without the `index`
/// feature it holds nothing (so a bundle's drop has no index to free in the shop's wasm).
#[derive(Default)]
pub struct IndexCell(#[cfg(feature = "index")] OnceLock<Index>);

impl IndexCell {
    /// Per engagement (document order): whether the page can match its entry point; `None`
    /// without the `index` feature (every engagement is evaluated).
    pub(crate) fn candidates(
        &self,
        bundle: &Bundle,
        url: Option<&Subject<'_>>,
        title: Option<&str>,
        section: Option<&str>,
    ) -> Option<Vec<bool>> {
        #[cfg(feature = "index")]
        return Some(
            self.0
                .get_or_init(|| Index::build(bundle))
                .candidates(url, title, section),
        );
        #[cfg(not(feature = "index"))]
        {
            let _ = (bundle, url, title, section);
            None
        }
    }
}

impl Clone for IndexCell {
    fn clone(&self) -> Self {
        IndexCell::default()
    }
}

impl PartialEq for IndexCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for IndexCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexCell")
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile_text, CompileOptions};
    use crate::urlmatch::Subject;

    /// Text tests are filed by a trigram: a page lacking it is not a candidate; short texts and
    /// regexes make an engagement a candidate everywhere.
    #[test]
    fn text_tests_filter_by_trigram() {
        let include = [
            r#"{"contains":"/P/12"}"#,
            r#"{"title":{"contains":"Pricing"}}"#,
            r#"{"contains":"/p"}"#,
            r#"{"title":{"equals":"Help"}},{"contains":"/p/7"}"#,
            r#"{"regex":"x$"}"#,
        ];
        let engagements: Vec<String> = include
            .iter()
            .enumerate()
            .map(|(i, inc)| {
                format!(
                    r#"{{"id":"e{i}","kind":"content","format":"toaster",
                    "entry_point":{{"include":[{inc}]}},
                    "creative":{{"content":{{"title":"C","url":"https://a.example/c"}}}}}}"#
                )
            })
            .collect();
        let doc = format!(
            r#"{{"site":"a","campaigns":[{{"id":"c","engagements":[{}]}}]}}"#,
            engagements.join(",")
        );
        let bundle = match compile_text(&doc, CompileOptions::at(0)) {
            Ok(b) => b.bundle,
            Err(e) => panic!("{e:?}"),
        };
        let index = super::Index::build(&bundle);
        let at = |url: &str, title: Option<&str>| {
            index.candidates(Some(&Subject::new(url)), title, None)
        };
        assert_eq!(
            at("https://a.example/shop", Some("Shoes")),
            [false, false, true, false, true]
        );
        assert_eq!(
            at("https://a.example/p/123", Some("PRICING plans")),
            [true, true, true, false, true]
        );
        assert_eq!(
            at("https://a.example/p/7", Some("help")),
            [false, false, true, true, true]
        );
        // Without a page every unfiled engagement stays a candidate, the filed ones not.
        assert_eq!(
            index.candidates(None, None, None),
            [false, false, true, false, true]
        );
    }
}
