//! Page matchers (`entry_point`, `behavior.visited`, `behavior.referrer`): compiled once by the
//! compiler into a [`CompiledMatcher`] stored in the bundle, then tested against page strings on
//! every decision, natively and in the browser.
//!
//! Matching rules:
//!
//! - `equals`, `contains`, `prefix`: plain string tests on the whole string (for URLs the full
//!   `href`, query and hash included), **ASCII case-insensitive** (`/Shop` and `/shop` are the
//!   same; non-ASCII letters compare exactly). An empty string is rejected at compile time (it
//!   would match every page).
//! - `regex`: searched anywhere in the string by the caller's [`RegexEngine`], case-sensitive
//!   unless the pattern starts with `(?i)` (stripped and turned into the engine's
//!   case-insensitive flag, so it also works with JavaScript's `RegExp`). Not validated here; an
//!   invalid pattern never matches.
//! - `pattern` on `url`: a WHATWG URLPattern constructor string (compiled by `urlpattern.rs`:
//!   the standard's tokenizer, constructor-string parser and part lists). In each component:
//!   `:name` is one or more characters up to the component's delimiter, `*` any run (also empty,
//!   also across the delimiter), `(regex)` and `:name(regex)` a regular expression, `{...}` a
//!   group; `?` (optional), `*` (zero or more) and `+` (one or more) modify a `:name`, `*`,
//!   `(...)` or `}`; `\` escapes; with the prefix rule of the pathname (`/` before a modified
//!   `:name`/`*`/`(...)` goes with it: `/books/:id?` matches `/books`). A `?` right after one of
//!   those is a modifier, not the search: write `\?`. Components:
//!
//!   | component | given by             | when not given             | compares            | `:name` stops at | fixed text |
//!   |-----------|----------------------|----------------------------|---------------------|------------------|------------|
//!   | scheme    | `scheme:`            | any (relative pattern)     | ASCII case-insens.  | —                | `[a-z0-9+.-]`, lowercased |
//!   | user info | `user:pass@`         | any                        | —                   | —                | only `*` (page URLs carry none) |
//!   | host      | `//host`             | any (relative); `""` when a scheme is followed by a port, path, `?` or `#` | ASCII case-insens. | `.` | no forbidden host characters, lowercased; `[...]` IPv6 with escaped `\:`; no punycode |
//!   | port      | `:port` after host   | the default port when a host is given, else any | exact; the default port is also `""` | — | digits ≤ 65535; the scheme's default port is `""`; `:*` any |
//!   | path      | from `/`             | any (`https://acme.example` is the whole origin); `/` when `?`/`#` follows the host | exact | `/` | percent-encoded as browsers do |
//!   | search    | `?...`               | any; `""` when `#` follows the path | exact    | —                | percent-encoded |
//!   | hash      | `#...`               | any                        | exact               | —                | percent-encoded |
//!
//!   Our rules beyond the standard: a pattern's own trailing fixed `/` in the path is optional
//!   (`/shop/` matches `/shop` and `/shop/`; `/shop/*`, `/shop/:x` and `/shop` do not get it:
//!   `/shop/*` does not match `/shop`, `/shop` does not match `/shop/`). Relative patterns
//!   (no scheme; they must start with `/`, `*`, `(`, `?` or `#`) match on any origin. A pattern
//!   with a port matches a page on the default port when it names that port
//!   (`http{s}?://x:443/` matches `https://x/`). Pathnames of non-special schemes are read like
//!   special ones; dot segments in fixed text are kept as written.
//!   Regular expressions: the subset the `regex` crate and JavaScript's `RegExp` read alike,
//!   checked at upload: literals, `.`, `^`, `$`, `|`, `(?:...)`, classes `[...]`/`[^...]`
//!   with ranges, quantifiers `* + ? {n} {n,} {n,m}` (n ≤ m ≤ 1000) and their lazy forms,
//!   `\d \w \s` (rewritten as ASCII classes, as in JavaScript) and their negations, `\t \n
//!   \r \f \v \xHH \uHHHH` and escaped punctuation. Rejected with a message: lookaround,
//!   named or capturing groups, backreferences, `\b`, `\p{...}`, `[[`, `&&`/`--`/`~~` in
//!   classes. A component with a regular expression compiles, as URLPattern does it, to one
//!   anchored expression run by the [`RegexEngine`] (case-insensitive for scheme and host);
//!   the others stay matcher programs. Every pattern URLPattern rejects is rejected here, with
//!   the problem named; so are patterns no page URL can match (`{https://}x/`, `mailto:*`,
//!   `https:///x`) and user info.
//! - `pattern` on `title`/`section`: a `*` glob over the whole string, ASCII case-insensitive.
//! - The page URL is parsed without a URL library: `scheme://[user@]host[:port]/path?query#hash`
//!   (a bare `/path?query#hash` also works for relative patterns). A string that isn't such a
//!   URL matches no `pattern`. Default ports are dropped (`:443` on https), an empty path is `/`.
//!
//! Matching a matcher program is a dynamic program over (pattern position, text position),
//! O(pattern² × text) at worst (O(pattern × text) without repeats), never exponential whatever
//! the admin wrote; components longer than [`MAX_TEXT`] bytes never match a program.

#[cfg(feature = "native")]
use crate::model::{Matcher, PageField};
use crate::regexp::RegexEngine;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Longest URL component (or title) a `pattern` is matched against; longer never matches.
pub const MAX_TEXT: usize = 16 * 1024;

/// A matcher as stored in the bundle. Serialized compactly, e.g. `{"contains":"/checkout"}`,
/// `{"regexi":"^/sale"}`, `{"url":{"s":"https","h":"{*.}acme.example","o":"","p":"/shop/*"}}`,
/// `{"glob":"*sale*"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompiledMatcher {
    /// The whole string equals this one (stored ASCII-lowercased; compared case-insensitively).
    Equals(String),
    /// The string contains this one (ASCII case-insensitive).
    Contains(String),
    /// The string starts with this one (ASCII case-insensitive).
    Prefix(String),
    /// A regular expression searched in the string, case-sensitive.
    Regex(String),
    /// A regular expression searched in the string, case-insensitive (written with `(?i)`).
    Regexi(String),
    /// A URL pattern (field `url`).
    Url(Box<UrlPattern>),
    /// A `*` glob over a title or section, ASCII case-insensitive.
    Glob(Component),
}

/// A compiled URL pattern. `None` components match anything. Relative patterns have no scheme,
/// host or port (any origin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlPattern {
    /// Scheme, lowercase (`https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<Component>,
    /// Hostname, lowercase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<Component>,
    /// Port; the empty string is the scheme's default port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<Component>,
    /// Pathname.
    pub p: Component,
    /// Search (query without `?`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<Component>,
    /// Hash (fragment without `#`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<Component>,
}

/// One compiled component, serialized as a small canonical string. Either a matcher program:
/// `*` any run, `:` a segment (one or more characters up to the component's delimiter),
/// `{...}` an optional part, `{...}+` an optional part that may repeat, `\` escapes, everything
/// else literal; or, starting with `}`, an anchored regular expression (the rest of the string)
/// run by the [`RegexEngine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Component {
    src: String,
    prog: Vec<Ins>,
}

#[derive(Debug, Clone, PartialEq)]
enum Ins {
    /// These bytes (lowercase when the component is case-insensitive).
    Lit(Box<[u8]>),
    /// Any run of bytes, also empty.
    Star,
    /// One or more bytes other than the delimiter.
    Seg,
    /// Optional part: either go on with the next instruction or skip to this one.
    Opt(usize),
    /// End of a repeatable optional part: go on, or back to its `Opt` at this index.
    Rep(usize),
}

impl Component {
    /// The canonical string (as serialized).
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// The component matching anything.
    pub fn wildcard() -> Self {
        Component {
            src: "*".into(),
            prog: vec![Ins::Star],
        }
    }

    /// The text a literal program matches (`None` unless the component is one literal).
    pub fn literal(&self) -> Option<String> {
        match self.prog.as_slice() {
            [] if !self.src.starts_with('}') => Some(String::new()),
            [Ins::Lit(l)] => String::from_utf8(l.to_vec()).ok(),
            _ => None,
        }
    }

    /// [`literal`](Self::literal)'s bytes, without a copy.
    pub(crate) fn literal_bytes(&self) -> Option<&[u8]> {
        match self.prog.as_slice() {
            [] if !self.src.starts_with('}') => Some(&[]),
            [Ins::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// The fixed bytes every match of this component starts with (empty when a match may start
    /// with anything): the decision index files a pattern under them.
    pub(crate) fn fixed_start(&self) -> &[u8] {
        match self.prog.first() {
            Some(Ins::Lit(l)) if !self.src.starts_with('}') => l,
            _ => &[],
        }
    }

    fn test(&self, text: &str, ci: bool, delim: Option<u8>, rx: &dyn RegexEngine) -> bool {
        match self.src.strip_prefix('}') {
            Some(re) => rx.is_match(re, ci, text) == Some(true),
            None => run(&self.prog, text.as_bytes(), ci, delim),
        }
    }

    /// [`test`](Self::test) with the `regex` crate (used while compiling).
    #[cfg(feature = "native")]
    pub(crate) fn matches_native(&self, text: &str, ci: bool, delim: Option<u8>) -> bool {
        self.test(text, ci, delim, &crate::regexp::NativeRegex::new())
    }
}

impl TryFrom<String> for Component {
    type Error = String;

    fn try_from(src: String) -> Result<Self, String> {
        let prog = parse_prog(&src).map_err(String::from)?;
        Ok(Component { src, prog })
    }
}

impl From<Component> for String {
    fn from(c: Component) -> String {
        c.src
    }
}

fn parse_prog(src: &str) -> Result<Vec<Ins>, &'static str> {
    fn flush(prog: &mut Vec<Ins>, lit: &mut Vec<u8>) {
        if !lit.is_empty() {
            prog.push(Ins::Lit(std::mem::take(lit).into_boxed_slice()));
        }
    }
    let mut prog = Vec::new();
    if src.starts_with('}') {
        return Ok(prog);
    }
    let b = src.as_bytes();
    let mut lit = Vec::new();
    let mut open = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b'\\' => {
                let e = *b.get(i).ok_or("dangling escape in compiled pattern")?;
                lit.push(e);
                i += 1;
            }
            b'*' | b':' | b'{' | b'}' => {
                flush(&mut prog, &mut lit);
                match c {
                    b'*' => prog.push(Ins::Star),
                    b':' => prog.push(Ins::Seg),
                    b'{' => {
                        open.push(prog.len());
                        prog.push(Ins::Opt(0));
                    }
                    _ => {
                        let at = open.pop().ok_or("unbalanced '}' in compiled pattern")?;
                        if b.get(i) == Some(&b'+') {
                            i += 1;
                            prog.push(Ins::Rep(at));
                        }
                        prog[at] = Ins::Opt(prog.len());
                    }
                }
            }
            _ => lit.push(c),
        }
    }
    flush(&mut prog, &mut lit);
    if !open.is_empty() {
        return Err("unbalanced '{' in compiled pattern");
    }
    Ok(prog)
}

#[cfg(feature = "native")]
fn url_pattern(p: &str) -> Result<UrlPattern, String> {
    if p.is_empty() {
        return Err("empty pattern".into());
    }
    crate::urlpattern::url_pattern(p)
}

/// Compiles one matcher of a page `field`. `Err` names the problem (for validation errors).
#[cfg(feature = "native")]
pub fn compile(field: PageField, m: &Matcher) -> Result<CompiledMatcher, String> {
    fn plain(kind: &str, s: &str) -> Result<String, String> {
        if s.is_empty() {
            return Err(format!(
                "empty \"{kind}\" matcher (it would match every page)"
            ));
        }
        Ok(s.to_ascii_lowercase())
    }
    match m {
        Matcher::Equals(s) => Ok(CompiledMatcher::Equals(plain("equals", s)?)),
        Matcher::Contains(s) => Ok(CompiledMatcher::Contains(plain("contains", s)?)),
        Matcher::Prefix(s) => Ok(CompiledMatcher::Prefix(plain("prefix", s)?)),
        Matcher::Regex(s) => Ok(match s.strip_prefix("(?i)") {
            Some(rest) => CompiledMatcher::Regexi(rest.to_owned()),
            None => CompiledMatcher::Regex(s.clone()),
        }),
        Matcher::Pattern(s) => match field {
            PageField::Url => url_pattern(s.trim())
                .map(|p| CompiledMatcher::Url(Box::new(p)))
                .map_err(|e| format!("invalid URL pattern {s:?}: {e}")),
            PageField::Title | PageField::Section => glob(s)
                .map(CompiledMatcher::Glob)
                .map_err(|e| format!("invalid pattern {s:?}: {e}")),
        },
    }
}

/// A page string prepared for many matchers: its URL is parsed once.
pub struct Subject<'a> {
    text: &'a str,
    url: Option<PageUrl<'a>>,
}

impl<'a> Subject<'a> {
    pub fn new(text: &'a str) -> Self {
        Subject {
            text,
            url: PageUrl::parse(text),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }
}

impl UrlPattern {
    /// What the decision index files this pattern under: its hostname when that is one fixed
    /// name (lowercase), and the fixed start of its path.
    pub(crate) fn index_key(&self) -> (Option<&[u8]>, &[u8]) {
        (
            self.h.as_ref().and_then(Component::literal_bytes),
            self.p.fixed_start(),
        )
    }
}

impl Subject<'_> {
    /// The page's hostname (as written; `None` for a bare path) and encoded path, as patterns
    /// compare them; `None` when the text is no URL (no pattern matches it).
    #[cfg_attr(not(feature = "index"), allow(dead_code))]
    pub(crate) fn host_path(&self) -> Option<(Option<&str>, &str)> {
        self.url
            .as_ref()
            .map(|u| (u.origin.as_ref().map(|o| o.host), u.path.as_ref()))
    }
}

impl CompiledMatcher {
    /// Whether `text` (a page URL, title or section, per the field it was compiled for)
    /// matches. `regex` runs `regex` matchers; an invalid regular expression never matches.
    pub fn matches(&self, text: &str, regex: &dyn RegexEngine) -> bool {
        match self {
            CompiledMatcher::Url(p) => {
                PageUrl::parse(text).is_some_and(|u| p.matches_url(&u, regex))
            }
            _ => self.matches_subject(&Subject { text, url: None }, regex),
        }
    }

    /// [`matches`](Self::matches) against a prepared [`Subject`] (parse the page URL once,
    /// test many matchers).
    pub fn matches_subject(&self, subject: &Subject<'_>, regex: &dyn RegexEngine) -> bool {
        let text = subject.text;
        match self {
            CompiledMatcher::Equals(s) => text.eq_ignore_ascii_case(s),
            CompiledMatcher::Contains(s) => contains_ci(text.as_bytes(), s.as_bytes()),
            CompiledMatcher::Prefix(s) => {
                text.len() >= s.len()
                    && text.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes())
            }
            CompiledMatcher::Regex(p) => regex.is_match(p, false, text) == Some(true),
            CompiledMatcher::Regexi(p) => regex.is_match(p, true, text) == Some(true),
            CompiledMatcher::Url(p) => subject
                .url
                .as_ref()
                .is_some_and(|u| p.matches_url(u, regex)),
            CompiledMatcher::Glob(g) => run(&g.prog, text.as_bytes(), true, None),
        }
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.len() > hay.len() {
        return false;
    }
    let Some(&first) = needle.first() else {
        return true;
    };
    (0..=hay.len() - needle.len()).any(|i| {
        hay.get(i..i + needle.len()).is_some_and(|w| {
            w.first().map(u8::to_ascii_lowercase) == Some(first) && w.eq_ignore_ascii_case(needle)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Matching one component.

/// Whether `lit` (lowercase when `ci`) is at `pos` in `text`.
fn lit_at(text: &[u8], pos: usize, lit: &[u8], ci: bool) -> bool {
    text.get(pos..pos + lit.len()).is_some_and(|t| {
        if ci {
            t.iter().zip(lit).all(|(t, l)| t.to_ascii_lowercase() == *l)
        } else {
            t == lit
        }
    })
}

/// Whether the whole `text` matches `prog`. A forward dynamic program over (instruction, text
/// position): every move but a repeat's goes to a later instruction or a later text position,
/// and a text position's moves are repeated until nothing new is reached (repeats only add
/// bits), so it decides in O(prog² × text) at worst, no recursion.
#[inline]
fn run(prog: &[Ins], text: &[u8], ci: bool, delim: Option<u8>) -> bool {
    // The shapes nearly every real pattern compiles to, decided without the general machine
    // (whose large frame would dominate the cost of these).
    let n = text.len();
    match prog {
        [] => n == 0,
        [Ins::Star] => true,
        [Ins::Lit(l)] => n == l.len() && lit_at(text, 0, l, ci),
        [Ins::Lit(l), Ins::Star] => lit_at(text, 0, l, ci),
        [Ins::Star, Ins::Lit(l)] => n >= l.len() && lit_at(text, n - l.len(), l, ci),
        [Ins::Star, Ins::Lit(l), Ins::Star] => {
            n >= l.len() && (0..=n - l.len()).any(|p| lit_at(text, p, l, ci))
        }
        _ => run_general(prog, text, ci, delim),
    }
}

#[inline(never)]
fn run_general(prog: &[Ins], text: &[u8], ci: bool, delim: Option<u8>) -> bool {
    let n = text.len();
    if n > MAX_TEXT {
        return false;
    }
    let w = prog.len() + 1;
    let words = (w * (n + 1)).div_ceil(64);
    let mut local = [0u64; 64];
    let mut heap = Vec::new();
    let reach: &mut [u64] = if words <= local.len() {
        &mut local[..words]
    } else {
        heap.resize(words, 0u64);
        &mut heap
    };
    // `get`, not indexing: every bit is in range, and no panic path is compiled. `set` tells
    // whether the bit is new.
    fn set(r: &mut [u64], i: usize) -> bool {
        r.get_mut(i / 64).is_some_and(|w| {
            let old = *w;
            *w |= 1u64 << (i % 64);
            old != *w
        })
    }
    fn get(r: &[u64], i: usize) -> bool {
        r.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }
    set(reach, 0);
    // The furthest text position any state has been reached at: past it and with nothing alive
    // at the current position, no match is possible.
    let mut furthest = 0;
    for pos in 0..=n {
        let row = pos * w;
        let mut alive = false;
        let mut again = true;
        while again {
            again = false;
            for (pc, ins) in prog.iter().enumerate() {
                if !get(reach, row + pc) {
                    continue;
                }
                match ins {
                    Ins::Lit(l) => {
                        if lit_at(text, pos, l, ci) {
                            set(reach, (pos + l.len()) * w + pc + 1);
                            furthest = furthest.max(pos + l.len());
                        }
                    }
                    Ins::Star => {
                        if pc + 1 == prog.len() {
                            return true;
                        }
                        set(reach, row + pc + 1);
                        if pos < n {
                            set(reach, row + w + pc);
                            alive = true;
                        }
                    }
                    Ins::Seg => {
                        if pos < n && Some(text[pos]) != delim {
                            set(reach, row + w + pc);
                            set(reach, row + w + pc + 1);
                            alive = true;
                        }
                    }
                    Ins::Opt(skip) => {
                        set(reach, row + pc + 1);
                        set(reach, row + skip);
                    }
                    Ins::Rep(back) => {
                        set(reach, row + pc + 1);
                        again |= set(reach, row + back);
                    }
                }
            }
        }
        if pos == n {
            return get(reach, row + prog.len());
        }
        if !alive && furthest <= pos {
            return false;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Page URLs.

struct Origin<'a> {
    scheme: &'a str,
    host: &'a str,
    /// Without leading zeros; empty for the scheme's default port.
    port: &'a str,
}

struct PageUrl<'a> {
    origin: Option<Origin<'a>>,
    path: Cow<'a, str>,
    query: Cow<'a, str>,
    hash: Cow<'a, str>,
}

pub(crate) fn default_port(scheme: &str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        "80"
    } else if scheme.eq_ignore_ascii_case("ftp") {
        "21"
    } else {
        ""
    }
}

/// Digits without leading zeros, `None` when not a port number.
pub(crate) fn canonical_port(p: &str) -> Option<&str> {
    if p.is_empty() {
        return Some("");
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = p.trim_start_matches('0');
    // All zeros: the port 0.
    let t = if t.is_empty() { "0" } else { t };
    if t.len() > 5 || (t.len() == 5 && t > "65535") {
        return None;
    }
    Some(t)
}

impl<'a> PageUrl<'a> {
    /// Cut with `split_once`/`split_at_checked` (the cut points are ASCII delimiters): indexing
    /// a `str` brings the char-boundary panic and its message formatting into the wasm.
    fn parse(text: &'a str) -> Option<Self> {
        // Trims controls and spaces (all ASCII, so byte positions are char boundaries).
        let b = text.as_bytes();
        let start = b.iter().position(|&c| c > b' ').unwrap_or(b.len());
        let end = b.iter().rposition(|&c| c > b' ').map_or(start, |i| i + 1);
        let t = text.get(start..end).unwrap_or_default();
        let (origin, rest) = if t.starts_with('/') && !t.starts_with("//") {
            (None, t)
        } else {
            let (scheme, after) = t.split_once(':')?;
            let mut sb = scheme.bytes();
            if !sb.next()?.is_ascii_alphabetic()
                || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            {
                return None;
            }
            let after = after.strip_prefix("//")?;
            let auth_end = after
                .bytes()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(after.len());
            let (authority, rest) = after.split_at_checked(auth_end)?;
            let hostport = match authority.rsplit_once('@') {
                Some((_, hp)) => hp,
                None => authority,
            };
            let (host, port) = if hostport.starts_with('[') {
                let close = hostport.find(']')?;
                let (host, tail) = hostport.split_at_checked(close + 1)?;
                let port = match tail.strip_prefix(':') {
                    Some(p) => p,
                    None if tail.is_empty() => "",
                    None => return None,
                };
                (host, port)
            } else {
                hostport.split_once(':').unwrap_or((hostport, ""))
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            if host.bytes().any(|b| b <= b' ') {
                return None;
            }
            let mut port = canonical_port(port)?;
            if port == default_port(scheme) {
                port = "";
            }
            (Some(Origin { scheme, host, port }), rest)
        };
        let (rest, hash) = rest.split_once('#').unwrap_or((rest, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = if path.is_empty() { "/" } else { path };
        Some(PageUrl {
            origin,
            path: encode(path, Kind::Path),
            query: encode(query, Kind::Search),
            hash: encode(hash, Kind::Hash),
        })
    }
}

impl UrlPattern {
    fn matches_url(&self, url: &PageUrl<'_>, rx: &dyn RegexEngine) -> bool {
        if self.s.is_some() || self.h.is_some() || self.o.is_some() {
            let Some(o) = &url.origin else {
                return false;
            };
            let ok = |c: &Option<Component>, text: &str, ci, delim| {
                c.as_ref().is_none_or(|c| c.test(text, ci, delim, rx))
            };
            if !ok(&self.s, o.scheme, true, None) || !ok(&self.h, o.host, true, Some(b'.')) {
                return false;
            }
            if !(ok(&self.o, o.port, false, None)
                || (o.port.is_empty() && ok(&self.o, default_port(o.scheme), false, None)))
            {
                return false;
            }
        }
        [(&self.q, &url.query), (&self.f, &url.hash)]
            .into_iter()
            .all(|(c, text)| c.as_ref().is_none_or(|c| c.test(text, false, None, rx)))
            && self.p.test(&url.path, false, Some(b'/'), rx)
    }
}

// ---------------------------------------------------------------------------------------------
// Compiling patterns.

#[derive(Debug, Clone, Copy, PartialEq)]
// Scheme, host and port are only compiled (natively); the browser encodes page paths.
#[cfg_attr(not(feature = "native"), allow(dead_code))]
pub(crate) enum Kind {
    Proto,
    Host,
    Port,
    Path,
    Search,
    Hash,
}

/// Percent-encodes what a browser's URL parser would (controls, space, quotes, `<>`, non-ASCII,
/// and `{}` in paths, `'` in queries); borrows when nothing needs it.
pub(crate) fn encode(s: &str, kind: Kind) -> Cow<'_, str> {
    if !s.bytes().any(|b| needs_encoding(b, kind)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        push_byte(&mut out, b, kind);
    }
    Cow::Owned(out)
}

fn needs_encoding(b: u8, kind: Kind) -> bool {
    b <= b' '
        || b >= 0x7f
        || matches!(b, b'"' | b'<' | b'>' | b'`')
        || (kind == Kind::Path && matches!(b, b'{' | b'}'))
        || (kind == Kind::Search && b == b'\'')
}

fn push_byte(out: &mut String, b: u8, kind: Kind) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if needs_encoding(b, kind) {
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    } else {
        out.push(char::from(b));
    }
}

#[cfg(feature = "native")]
fn glob(p: &str) -> Result<Component, String> {
    if p.is_empty() {
        return Err("empty pattern".into());
    }
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if c == '*' {
            out.push('*');
        } else {
            if matches!(c, '\\' | ':' | '{' | '}') {
                out.push('\\');
            }
            out.push(c.to_ascii_lowercase());
        }
    }
    Component::try_from(out)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    /// Delegates to the `regex` crate natively; without it every pattern is "invalid".
    struct TestRegex {
        #[cfg(feature = "native")]
        inner: crate::regexp::NativeRegex,
    }

    impl TestRegex {
        fn new() -> Self {
            TestRegex {
                #[cfg(feature = "native")]
                inner: crate::regexp::NativeRegex::new(),
            }
        }
    }

    impl RegexEngine for TestRegex {
        #[allow(unused_variables)]
        fn is_match(&self, pattern: &str, case_insensitive: bool, text: &str) -> Option<bool> {
            #[cfg(feature = "native")]
            {
                self.inner.is_match(pattern, case_insensitive, text)
            }
            #[cfg(not(feature = "native"))]
            {
                None
            }
        }
    }

    fn url(p: &str) -> CompiledMatcher {
        compile(PageField::Url, &Matcher::Pattern(p.into())).unwrap()
    }

    fn m(p: &str, text: &str) -> bool {
        url(p).matches(text, &TestRegex::new())
    }

    fn err(p: &str) -> String {
        compile(PageField::Url, &Matcher::Pattern(p.into())).unwrap_err()
    }

    #[test]
    fn chatwoot_examples() {
        assert!(m(
            "https://aloochat.ai/pricing*",
            "https://aloochat.ai/pricing/"
        ));
        assert!(m(
            "https://aloochat.ai/pricing*",
            "https://aloochat.ai/pricing"
        ));
        assert!(m(
            "https://aloochat.ai/pricing*",
            "https://aloochat.ai/pricing/monthly"
        ));
        assert!(m(
            "https://*.aloochat.ai/pricing/",
            "https://app.aloochat.ai/pricing/"
        ));
        assert!(m(
            "https://*.aloochat.ai/pricing/",
            "https://app.aloochat.ai/pricing"
        ));
        assert!(!m(
            "https://*.aloochat.ai/pricing/",
            "https://aloochat.ai/pricing/"
        ));
        assert!(!m(
            "https://aloochat.ai/pricing",
            "https://aloochat.ai/about"
        ));
        assert!(m(
            "https://acme.example/shop/*",
            "https://acme.example/shop/a"
        ));
        assert!(m(
            "https://acme.example/shop/*",
            "https://acme.example/shop/a/b?x=1#top"
        ));
        // Only a pattern's own trailing '/' is optional: "/shop/*" needs the '/'.
        assert!(!m(
            "https://acme.example/shop/*",
            "https://acme.example/shop"
        ));
        assert!(!m(
            "https://acme.example/shop/*",
            "https://acme.example/shopping"
        ));
        assert!(!m("https://acme.example/shop/*", "https://acme.example/"));
        assert!(!m(
            "https://acme.example/shop/*",
            "http://acme.example/shop/a"
        ));
        assert!(!m(
            "https://acme.example/shop/*",
            "https://evil.example/shop/a"
        ));
    }

    #[test]
    fn trailing_slash_both_ways() {
        // A pattern's own trailing '/' matches the page with or without it.
        assert!(m("https://acme.example/shop/", "https://acme.example/shop"));
        assert!(m(
            "https://acme.example/shop/",
            "https://acme.example/shop/"
        ));
        assert!(m("https://acme.example/a/:id/", "https://acme.example/a/7"));
        assert!(m("/shop/(x|y)/", "https://acme.example/shop/x"));
        assert!(!m(
            "https://acme.example/shop/",
            "https://acme.example/shop/a"
        ));
        // Anything else is URLPattern's.
        assert!(!m(
            "https://acme.example/shop",
            "https://acme.example/shop/"
        ));
        assert!(m(
            "https://acme.example/shop{/}?",
            "https://acme.example/shop/"
        ));
        assert!(!m(
            "https://acme.example/shop/*",
            "https://acme.example/shop"
        ));
        assert!(!m(
            "https://acme.example/shop/:x",
            "https://acme.example/shop"
        ));
        assert!(!m("https://acme.example/shop", "https://acme.example/sho"));
        // The home page; a pattern without a path has a wildcard path.
        assert!(m("https://acme.example/", "https://acme.example"));
        assert!(m("https://acme.example/", "https://acme.example/?x=1"));
        assert!(!m("https://acme.example/", "https://acme.example/a"));
        assert!(m("https://acme.example", "https://acme.example/a/b?c#d"));
        assert!(!m("https://acme.example", "https://acme.example:8080/"));
        assert!(m("https://acme.example/*", "https://acme.example"));
    }

    #[test]
    fn regular_expression_groups() {
        let p = "https://shop.example/(pricing|about)";
        assert!(m(p, "https://shop.example/pricing"));
        assert!(m(p, "https://shop.example/about"));
        assert!(!m(p, "https://shop.example/pricing/x"));
        assert!(!m(p, "https://shop.example/"));
        let p = "https://(sub.)?shop.example/*";
        assert!(m(p, "https://sub.shop.example/a"));
        assert!(m(p, "https://SHOP.example/"));
        assert!(!m(p, "https://x.shop.example/"));
        assert!(m("/(bar)\\?foo", "https://acme.example/bar?foo"));
        assert!(!m("/(bar)\\?foo", "https://acme.example/bar?fo"));
        let p = "https://acme.example/product/:id(\\d+)";
        assert!(m(p, "https://acme.example/product/42"));
        assert!(!m(p, "https://acme.example/product/4x"));
        // `\d` is ASCII in both engines.
        assert!(!m(p, "https://acme.example/product/\u{663}"));
        assert!(m("/:x([a-c]+)+", "/ab/c"));
        assert!(!m("/:x([a-c]+)+", "/ab/d"));
        assert!(m("/x/(a)*", "/x"));
        assert!(m("/x/(a)*", "/x/a/a"));
        assert!(!m("/x/(a)*", "/x/"));
        // The standard's equivalents of ":name" and "*" stay matcher programs.
        assert_eq!(
            serde_json::to_string(&url("/a/([^\\/]+?)/(.*)")).unwrap(),
            r#"{"url":{"p":"/a/:/*"}}"#
        );
    }

    #[test]
    fn repeat_modifiers() {
        let p = "/foo/:bar+";
        assert!(m(p, "/foo/a"));
        assert!(m(p, "/foo/a/b/c"));
        assert!(!m(p, "/foo"));
        assert!(!m(p, "/foo/"));
        let p = "/foo/:bar*";
        assert!(m(p, "/foo"));
        assert!(m(p, "/foo/a/b"));
        assert!(!m(p, "/foo/"));
        assert!(!m(p, "/foobar"));
        assert!(m("/{ab}+", "/ababab"));
        assert!(!m("/{ab}+", "/"));
        assert!(m("/{ab}*", "/"));
        assert!(m("/{x:id}+", "/x1x2"));
        assert!(m("/{a:b}*z", "/z"));
        assert!(m("/{a:b}*z", "/a1ba2bz"));
        assert!(!m("/{a:b}*z", "/a1bz2"));
        // Nested repeats stay polynomial.
        let long = format!("/{}b", "a".repeat(3000));
        let start = std::time::Instant::now();
        assert!(!m("/{:x}+{*}+{a}+{a:y}*c", &long));
        assert!(start.elapsed().as_secs() < 2);
    }

    #[test]
    fn optional_subdomain_group() {
        let p = "https://{*.}?acme.example/shop/*";
        assert!(m(p, "https://acme.example/shop/x"));
        assert!(m(p, "https://www.acme.example/shop/x"));
        assert!(m(p, "https://a.b.acme.example/shop/x"));
        assert!(!m(p, "https://evilacme.example/shop/x"));
        assert!(!m(p, "https://acme.example.evil.com/shop/x"));
        // A non-optional group is plain grouping.
        assert!(m(
            "https://{www.}acme.example/",
            "https://www.acme.example/"
        ));
        assert!(!m("https://{www.}acme.example/", "https://acme.example/"));
        assert!(m("http{s}?://acme.example/", "http://acme.example/"));
        assert!(m("http{s}?://acme.example/", "https://acme.example/"));
        assert!(!m("http{s}?://acme.example/", "ftp://acme.example/"));
    }

    #[test]
    fn named_groups() {
        let p = "https://acme.example/product/:id";
        assert!(m(p, "https://acme.example/product/42"));
        assert!(!m(p, "https://acme.example/product/42/"));
        assert!(!m(p, "https://acme.example/product/42/reviews"));
        assert!(!m(p, "https://acme.example/product/"));
        assert!(!m(p, "https://acme.example/product"));
        let p = "https://acme.example/product/:id/reviews";
        assert!(m(p, "https://acme.example/product/42/reviews"));
        assert!(!m(p, "https://acme.example/product/4/2/reviews"));
        // Optional named group takes its '/' prefix with it.
        let p = "https://acme.example/books/:id?";
        assert!(m(p, "https://acme.example/books"));
        assert!(m(p, "https://acme.example/books/7"));
        assert!(!m(p, "https://acme.example/books/7/8"));
        // In the hostname a segment stops at '.'.
        let p = "https://:sub.acme.example/";
        assert!(m(p, "https://www.acme.example/"));
        assert!(!m(p, "https://a.b.acme.example/"));
        assert!(!m(p, "https://acme.example/"));
        assert!(err("https://x/:a/:a").contains("duplicate"));
    }

    #[test]
    fn ports() {
        assert!(m("https://acme.example/", "https://acme.example:443/"));
        assert!(m("https://acme.example:443/", "https://acme.example/"));
        assert!(m("http://acme.example:80/", "http://acme.example/"));
        assert!(!m("https://acme.example/", "https://acme.example:8443/"));
        assert!(m(
            "https://acme.example:8443/",
            "https://acme.example:8443/"
        ));
        assert!(!m("https://acme.example:8443/", "https://acme.example/"));
        assert!(m("https://acme.example:*/", "https://acme.example:8443/"));
        assert!(m("https://acme.example:*/", "https://acme.example/"));
        assert!(m("http{s}?://acme.example:443/", "https://acme.example/"));
        assert!(m("http://localhost:8080/*", "http://localhost:8080/demo"));
        // As in URLPattern, the colons of an IPv6 address are escaped.
        assert!(m("http://[\\:\\:1]:8080/*", "http://[::1]:8080/demo"));
        assert!(!m("http://[\\:\\:1]:8080/*", "http://[::1]/demo"));
        assert!(err("http://[::1]:8080/*").contains("write \"\\:\" for a literal ':'"));
        assert!(err("https://acme.example:8x/").contains("invalid character 'x' in the port"));
        assert!(err("https://acme.example:99999/").contains("invalid port"));
    }

    #[test]
    fn query_and_hash() {
        // Unspecified: anything.
        assert!(m(
            "https://acme.example/a",
            "https://acme.example/a?utm=1#x"
        ));
        // Specified: must match.
        let p = "https://acme.example/a?utm_source=mail*";
        assert!(m(p, "https://acme.example/a?utm_source=mail&x=1"));
        assert!(!m(p, "https://acme.example/a?x=1"));
        assert!(!m(p, "https://acme.example/a"));
        assert!(m(p, "https://acme.example/a?utm_source=mail#frag"));
        let p = "https://acme.example/a#help";
        assert!(m(p, "https://acme.example/a#help"));
        // A hash after the path: the search is given too (empty), as in URLPattern.
        assert!(!m(p, "https://acme.example/a?x=1#help"));
        assert!(m(
            "https://acme.example/a?*#help",
            "https://acme.example/a?x=1#help"
        ));
        assert!(!m(p, "https://acme.example/a#other"));
        assert!(!m(p, "https://acme.example/a"));
        // Empty search: no query.
        assert!(m("https://acme.example/a?", "https://acme.example/a"));
        assert!(!m("https://acme.example/a?", "https://acme.example/a?x"));
        // `*?` is a modifier (as in URLPattern): `\?` starts a query after a wildcard.
        assert!(m(
            "https://acme.example/*\\?x=1",
            "https://acme.example/a/b?x=1"
        ));
        assert!(!m(
            "https://acme.example/*\\?x=1",
            "https://acme.example/a/b?x=2"
        ));
    }

    #[test]
    fn case() {
        assert!(m("HTTPS://ACME.Example/shop", "https://acme.example/shop"));
        assert!(m("https://acme.example/shop", "HTTPS://ACME.EXAMPLE/shop"));
        // Path, query and hash are case-sensitive, as in URLPattern.
        assert!(!m("https://acme.example/shop", "https://acme.example/Shop"));
        let r = TestRegex::new();
        let c = compile(PageField::Url, &Matcher::Contains("/Checkout".into())).unwrap();
        assert!(c.matches("https://acme.example/checkout/1", &r));
        assert!(c.matches("https://acme.example/CHECKOUT", &r));
        assert!(!c.matches("https://acme.example/check", &r));
        let e = compile(
            PageField::Url,
            &Matcher::Equals("https://Acme.example/".into()),
        )
        .unwrap();
        assert!(e.matches("https://acme.example/", &r));
        assert!(!e.matches("https://acme.example", &r));
        let p = compile(
            PageField::Url,
            &Matcher::Prefix("https://acme.example/Shop".into()),
        )
        .unwrap();
        assert!(p.matches("https://acme.example/shop/a", &r));
        assert!(!p.matches("https://acme.example/sho", &r));
    }

    #[test]
    fn relative_patterns() {
        assert!(m("/pricing*", "https://acme.example/pricing"));
        assert!(m("/pricing*", "http://other.example:8080/pricing/team?x=1"));
        assert!(!m("/pricing*", "https://acme.example/about/pricing"));
        assert!(m("*/checkout*", "https://acme.example/checkout"));
        assert!(m("*/checkout*", "https://acme.example/eu/checkout/step-2"));
        assert!(!m("*/checkout*", "https://acme.example/cart"));
        assert!(!m("/pricing", "/pricing/"));
        assert!(m("/pricing/", "/pricing"));
        assert!(m("*", "https://acme.example/anything?x#y"));
        assert!(m("/search?q=*", "https://acme.example/search?q=shoes"));
        assert!(!m("/search?q=*", "https://acme.example/search?page=2"));
        // Absolute patterns need an absolute URL.
        assert!(!m("https://acme.example/pricing", "/pricing"));
    }

    #[test]
    fn percent_encoding() {
        assert!(m(
            "https://acme.example/über",
            "https://acme.example/%C3%BCber"
        ));
        assert!(m("https://acme.example/über", "https://acme.example/über"));
        assert!(m("https://acme.example/a b", "https://acme.example/a%20b"));
        assert!(m(
            "https://acme.example/%C3%BCber",
            "https://acme.example/über"
        ));
    }

    #[test]
    fn surrounding_controls_and_spaces_are_trimmed() {
        assert!(m(
            "https://acme.example/über",
            " \t https://acme.example/über\n "
        ));
        assert!(m(
            "https://acme.example/a*",
            "\u{1}https://acme.example/aé \u{7f}"
        ));
        assert!(m("https://acme.example/*", "https://acme.example/ é"));
        assert!(!m("https://acme.example/*", " \t\n "));
        assert!(m("https://acme.example:0/", "https://acme.example:000/"));
        assert!(m("https://acme.example/", "https://acme.example:0443/"));
    }

    #[test]
    fn not_urls_never_match() {
        for text in [
            "",
            "acme.example/shop",
            "Summer sale: 10%",
            "https:/x",
            "1http://x/",
            "https://x:y/",
        ] {
            assert!(!m("*", text), "{text}");
            assert!(!m("https://*/*", text), "{text}");
        }
        assert!(m("https://*/*", "https://user:pw@acme.example/x"));
    }

    #[test]
    fn invalid_patterns() {
        assert_eq!(err(""), "invalid URL pattern \"\": empty pattern");
        assert_eq!(err("   "), "invalid URL pattern \"   \": empty pattern");
        assert_eq!(
            err("https://{www.acme.example/"),
            "invalid URL pattern \"https://{www.acme.example/\": unbalanced '{' (in the host)"
        );
        for (p, msg) in [
            ("https://www.acme.example}/", "unbalanced '}'"),
            ("https://[", "invalid character '[' in the host"),
            ("https://{a{b}}.x/", "nested groups"),
            (
                "ht tp://acme.example/",
                "invalid character ' ' in the scheme",
            ),
            ("://acme.example/", "missing scheme"),
            ("1ttp://acme.example/", "invalid scheme"),
            ("https:/acme.example/", "expected \"//\" after \"https:\""),
            ("mailto:*", "expected \"//\" after \"mailto:\""),
            ("acme.example/shop", "starts with a scheme"),
            ("{https://}shop.example/foo", "inside a \"{...}\" group"),
            ("https:///shop", "missing host"),
            ("https://a b/", "in the host"),
            ("https://user@acme.example/", "user name"),
            ("https://us\\:er@acme.example/", "user name"),
            ("https://u:pw@acme.example/", "password"),
            ("https://bad\\:host/", "an escaped \"\\:\" ends the host"),
            ("https://acme.example/a\\", "escapes nothing"),
            ("https://acme.example/a+b", "write \"\\+\""),
            ("https://acme.example/a?b?c", "write \"\\?\""),
            ("https://acme.example/:", "group name"),
            ("https://acme.example/:a/:a", "duplicate group name \":a\""),
            ("https://acme.example/()", "empty regular-expression group"),
            ("https://acme.example/(a", "not closed"),
            ("https://acme.example/(?:a)", "can't start with '?'"),
            ("https://acme.example/(a(b))", "write \"(?:...)\""),
            ("https://acme.example/(a(?=b))", "lookaround"),
            ("https://acme.example/(a(?<n>b))", "named groups"),
            ("https://acme.example/(\\1)", "backreferences"),
            ("https://acme.example/(\\bx)", "word boundaries"),
            ("https://acme.example/(\\p{L})", "Unicode classes"),
            ("https://acme.example/([z-a])", "out of order"),
            ("https://acme.example/([a&&b])", "\"&&\""),
            ("https://acme.example/([[:alpha:]])", "literal '['"),
            (
                "https://acme.example/(a**)",
                "a quantifier follows a quantifier",
            ),
            ("https://acme.example/(*a)", "follows nothing"),
            ("https://acme.example/(a{2,1})", "counted repetition"),
            ("https://acme.example/(a{99999})", "counted repetition"),
            ("https://acme.example/(a{1000}{1000})", "quantifier follows"),
            ("https://acme.example/((?:a{1000}){1000})", "too large"),
        ] {
            let e = err(p);
            assert!(e.contains(msg), "{p}: {e}");
        }
        let e = compile(PageField::Url, &Matcher::Contains(String::new())).unwrap_err();
        assert!(e.contains("empty \"contains\""));
        assert!(compile(PageField::Title, &Matcher::Pattern(String::new())).is_err());
        // `file://` may have an empty host; `*:*@` is the default user info.
        assert!(m("file:///*", "file:///home/x.html"));
        assert!(m("https://*:*@acme.example/", "https://acme.example/"));
    }

    #[test]
    fn title_globs() {
        let r = TestRegex::new();
        let g = compile(PageField::Title, &Matcher::Pattern("*Sale*".into())).unwrap();
        assert!(g.matches("Summer SALE now", &r));
        assert!(g.matches("sale", &r));
        assert!(!g.matches("Summer", &r));
        let g = compile(PageField::Section, &Matcher::Pattern("shop:*".into())).unwrap();
        assert!(g.matches("Shop:Shoes", &r));
        assert!(!g.matches("shop", &r));
        let g = compile(PageField::Title, &Matcher::Pattern("{a}?".into())).unwrap();
        assert!(g.matches("{A}?", &r));
        assert!(!g.matches("a", &r));
        let g = compile(PageField::Title, &Matcher::Pattern("Home".into())).unwrap();
        assert!(g.matches("home", &r));
        assert!(!g.matches("Home page", &r));
    }

    #[cfg(feature = "native")]
    #[test]
    fn regexes_through_the_engine() {
        let r = TestRegex::new();
        let c = compile(PageField::Url, &Matcher::Regex("/shop/\\d+$".into())).unwrap();
        assert_eq!(c, CompiledMatcher::Regex("/shop/\\d+$".into()));
        assert!(c.matches("https://acme.example/shop/12", &r));
        assert!(!c.matches("https://acme.example/SHOP/12", &r));
        let c = compile(PageField::Url, &Matcher::Regex("(?i)/shop/\\d+$".into())).unwrap();
        assert_eq!(c, CompiledMatcher::Regexi("/shop/\\d+$".into()));
        assert!(c.matches("https://acme.example/SHOP/12", &r));
        // Kept unvalidated; an invalid pattern never matches.
        let c = compile(PageField::Url, &Matcher::Regex("(".into())).unwrap();
        assert!(!c.matches("(", &r));
    }

    #[test]
    fn serialized_form_is_compact_and_round_trips() {
        let c = url("https://{*.}?acme.example/shop/*");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"url":{"s":"https","h":"{*.}acme.example","o":"","p":"/shop/*"}}"#
        );
        let back: CompiledMatcher = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert!(back.matches("https://www.acme.example/shop/1", &TestRegex::new()));
        let c = url("/books/:id?\\?x=:v#*");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"url":{"p":"/books{/:}","q":"x=:"}}"#);
        assert_eq!(serde_json::from_str::<CompiledMatcher>(&json).unwrap(), c);
        let c = compile(PageField::Title, &Matcher::Pattern("A:{b}*".into())).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"glob":"a\\:\\{b\\}*"}"#);
        assert_eq!(serde_json::from_str::<CompiledMatcher>(&json).unwrap(), c);
        let c = compile(PageField::Url, &Matcher::Contains("/X".into())).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"contains":"/x"}"#);
        assert!(serde_json::from_str::<CompiledMatcher>(r#"{"glob":"{a"}"#).is_err());
    }

    #[test]
    fn subject_parses_once() {
        let r = TestRegex::new();
        let s = Subject::new("https://acme.example/shop/1");
        assert_eq!(s.text(), "https://acme.example/shop/1");
        assert!(url("https://acme.example/shop/*").matches_subject(&s, &r));
        assert!(!url("https://acme.example/blog/*").matches_subject(&s, &r));
        let c = compile(PageField::Url, &Matcher::Contains("shop".into())).unwrap();
        assert!(c.matches_subject(&s, &r));
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let r = TestRegex::new();
        let long = "a".repeat(4000);
        let text = format!("https://acme.example/{long}b");
        let pat = format!("https://acme.example/{}", "*a".repeat(200) + "*c");
        let start = std::time::Instant::now();
        assert!(!m(&pat, &text));
        let pat = format!(
            "https://acme.example/{}",
            "{a}?".repeat(100) + &"a".repeat(100) + "*c"
        );
        assert!(!m(&pat, &text));
        let g = compile(PageField::Title, &Matcher::Pattern("*a".repeat(300) + "*c")).unwrap();
        assert!(!g.matches(&long, &r));
        assert!(start.elapsed().as_secs() < 2);
        // Beyond MAX_TEXT nothing matches a pattern.
        let huge = format!("https://acme.example/{}", "a".repeat(MAX_TEXT + 1));
        assert!(!m("https://acme.example/:x", &huge));
    }
}
