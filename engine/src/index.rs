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
//! - an engagement whose includes are all such tests is a candidate of the pages some include
//!   may match; every other engagement (no include, or an include on the title or section, a
//!   `contains` or a `regex`) is a candidate on every page.
//!
//! The index is only a filter: a candidate still runs every rule, and a test the index lets
//! through is still tested. It never drops an engagement whose include could match, so the
//! decision over the candidates is the decision over all (a property test checks it against the
//! unindexed evaluation on random documents and pages).

use crate::bundle::Bundle;
use crate::model::PageField;
use crate::urlmatch::{CompiledMatcher, Subject};
use std::sync::OnceLock;

/// Every filed test under one byte key. A key starts with a tag byte that keeps the kinds
/// apart: `T` + lowercase text (`equals`/`prefix`), `H` + host + `/` + path start (a pattern on
/// one hostname; a hostname holds no `/`), `A` + path start (a pattern on any host). A page
/// makes the same three texts; a test can match the page only if its key starts one of them.
///
/// The keys are scanned, not searched: a prefix comparison per filed test costs a few
/// nanoseconds where evaluating an engagement's rules costs hundreds, and a scan needs no sort
/// or search code in the shop's wasm.
#[derive(Debug, Default)]
pub struct Index {
    /// Per engagement: a candidate on every page.
    always: Vec<bool>,
    /// (key, the engagements that include the test), for every filed test some entry point uses.
    keys: Vec<(Vec<u8>, Vec<u32>)>,
}

/// The key a page test is filed under; `None` when the index cannot file it.
fn key(bundle: &Bundle, t: u32) -> Option<Vec<u8>> {
    let test = bundle.page_tests.get(t as usize)?;
    if test.field != PageField::Url {
        return None;
    }
    Some(match &test.matcher {
        CompiledMatcher::Equals(s) | CompiledMatcher::Prefix(s) => {
            [b"T", s.to_ascii_lowercase().as_bytes()].concat()
        }
        CompiledMatcher::Url(p) => match p.index_key() {
            (Some(host), path) => [b"H", host, b"/", path].concat(),
            (None, path) => [b"A", path].concat(),
        },
        _ => return None,
    })
}

impl Index {
    pub fn build(bundle: &Bundle) -> Self {
        let mut postings = vec![Vec::new(); bundle.page_tests.len()];
        let mut always = Vec::new();
        for c in &bundle.campaigns {
            for e in &c.engagements {
                let slot = always.len() as u32;
                let inc = &e.entry_point.include;
                let all = inc.is_empty() || inc.iter().any(|&t| key(bundle, t).is_none());
                always.push(all);
                for &t in inc.iter().filter(|_| !all) {
                    if let Some(p) = postings.get_mut(t as usize) {
                        p.push(slot);
                    }
                }
            }
        }
        let mut keys = Vec::new();
        for (t, slots) in postings.into_iter().enumerate() {
            if slots.is_empty() {
                continue;
            }
            if let Some(k) = key(bundle, t as u32) {
                keys.push((k, slots));
            }
        }
        Index { always, keys }
    }

    /// Per engagement (document order): whether the page can match its entry point.
    pub(crate) fn candidates(&self, url: Option<&Subject<'_>>) -> Vec<bool> {
        let mut mark = self.always.clone();
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
                for &s in slots {
                    if let Some(m) = mark.get_mut(s as usize) {
                        *m = true;
                    }
                }
            }
        }
        mark
    }
}

/// The bundle's index, built on first use. Not part of the bundle's value: clones start
/// without one, and two bundles are equal whatever their indexes.
#[derive(Default)]
pub struct IndexCell(OnceLock<Index>);

impl IndexCell {
    pub fn get(&self, bundle: &Bundle) -> &Index {
        self.0.get_or_init(|| Index::build(bundle))
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
