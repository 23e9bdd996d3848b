//! The URLPattern constructor-string compiler (native only: upload and bundle compilation).
//!
//! Follows the WHATWG URL Pattern standard: the lenient tokenizer and the constructor-string
//! state machine split the pattern into components, each component string is parsed (strict
//! tokenizer) into a part list, and the part list becomes either a matcher program for the
//! engine's dynamic program or, when it has regular-expression groups, one anchored regular
//! expression run by the [`RegexEngine`](crate::RegexEngine). The rules are tabled at the top of
//! `urlmatch.rs`.

use crate::urlmatch::{canonical_port, default_port, encode, Component, Kind, UrlPattern};

// ---------------------------------------------------------------------------------------------
// Tokens.

#[derive(Debug, Clone, Copy, PartialEq)]
enum T {
    Open,
    Close,
    Regexp,
    Name,
    Char,
    Escaped,
    Modifier,
    Asterisk,
    End,
    Invalid,
}

#[derive(Debug, Clone)]
struct Token {
    t: T,
    /// Index (in code points) of the token's first code point in the input.
    index: usize,
    value: String,
}

fn is_name_char(c: char, first: bool) -> bool {
    if first {
        c.is_alphabetic() || c == '$' || c == '_'
    } else {
        c.is_alphanumeric() || matches!(c, '$' | '_' | '\u{200C}' | '\u{200D}')
    }
}

/// The standard's tokenizer. `strict`: errors are returned (component strings); otherwise
/// they become `Invalid` tokens (constructor strings).
fn tokenize(input: &[char], strict: bool) -> Result<Vec<Token>, String> {
    let mut toks = Vec::with_capacity(input.len() + 1);
    let mut i = 0;
    let text = |a: usize, b: usize| input.get(a..b).unwrap_or_default().iter().collect();
    while i < input.len() {
        let c = input[i];
        let (t, next, value) = match c {
            '*' => (T::Asterisk, i + 1, c.to_string()),
            '+' | '?' => (T::Modifier, i + 1, c.to_string()),
            '{' => (T::Open, i + 1, c.to_string()),
            '}' => (T::Close, i + 1, c.to_string()),
            '\\' => match input.get(i + 1) {
                Some(&e) => (T::Escaped, i + 2, e.to_string()),
                None if strict => return Err("a trailing '\\' escapes nothing".into()),
                None => (T::Invalid, i + 1, c.to_string()),
            },
            ':' => {
                let mut n = i + 1;
                while input.get(n).is_some_and(|&d| is_name_char(d, n == i + 1)) {
                    n += 1;
                }
                if n == i + 1 {
                    if strict {
                        return Err(
                            "':' must start a group name such as \":id\" (write \"\\:\" for a \
                             literal ':')"
                                .into(),
                        );
                    }
                    (T::Invalid, i + 1, c.to_string())
                } else {
                    (T::Name, n, text(i + 1, n))
                }
            }
            '(' => match regexp_end(input, i + 1) {
                Ok(end) => (T::Regexp, end + 1, text(i + 1, end)),
                // A bad group is an error in whichever component it lands: say why now.
                Err(e) => return Err(e),
            },
            _ => (T::Char, i + 1, c.to_string()),
        };
        toks.push(Token { t, index: i, value });
        i = next;
    }
    toks.push(Token {
        t: T::End,
        index: input.len(),
        value: String::new(),
    });
    Ok(toks)
}

/// The index of the `)` closing a regular-expression group whose body starts at `start`.
fn regexp_end(input: &[char], start: usize) -> Result<usize, String> {
    let mut depth = 1;
    let mut i = start;
    while let Some(&c) = input.get(i) {
        if !c.is_ascii() {
            return Err(format!(
                "non-ASCII character {c:?} in a regular-expression group \"(...)\""
            ));
        }
        if i == start && c == '?' {
            return Err("a regular-expression group \"(...)\" can't start with '?'".into());
        }
        match c {
            '\\' => {
                match input.get(i + 1) {
                    Some(e) if e.is_ascii() => {}
                    Some(e) => {
                        return Err(format!(
                            "non-ASCII character {e:?} in a regular-expression group \"(...)\""
                        ))
                    }
                    None => return Err("a trailing '\\' escapes nothing".into()),
                }
                i += 2;
                continue;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    if i == start {
                        return Err("empty regular-expression group \"()\"".into());
                    }
                    return Ok(i);
                }
            }
            '(' => {
                depth += 1;
                if input.get(i + 1) != Some(&'?') {
                    return Err(
                        "capturing groups inside a regular-expression group are not allowed: \
                         write \"(?:...)\""
                            .into(),
                    );
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unbalanced '(' (a regular-expression group is not closed)".into())
}

// ---------------------------------------------------------------------------------------------
// Constructor strings.

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Init,
    Protocol,
    Authority,
    Username,
    Password,
    Hostname,
    Port,
    Pathname,
    Search,
    Hash,
    Done,
}

const PROTOCOL: usize = 0;
const USERNAME: usize = 1;
const PASSWORD: usize = 2;
const HOSTNAME: usize = 3;
const PORT: usize = 4;
const PATHNAME: usize = 5;
const SEARCH: usize = 6;
const HASH: usize = 7;

fn slot(s: St) -> Option<usize> {
    Some(match s {
        St::Protocol => PROTOCOL,
        St::Username => USERNAME,
        St::Password => PASSWORD,
        St::Hostname => HOSTNAME,
        St::Port => PORT,
        St::Pathname => PATHNAME,
        St::Search => SEARCH,
        St::Hash => HASH,
        _ => return None,
    })
}

struct Ctor<'a> {
    input: &'a [char],
    toks: Vec<Token>,
    result: [Option<String>; 8],
    start: usize,
    index: usize,
    inc: usize,
    state: St,
    special: bool,
}

const SPECIAL: [&str; 6] = ["ftp", "file", "http", "https", "ws", "wss"];

impl Ctor<'_> {
    fn tok(&self, i: usize) -> &Token {
        // The list always ends with an `End` token.
        self.toks
            .get(i)
            .unwrap_or_else(|| &self.toks[self.toks.len() - 1])
    }

    fn plain(&self, i: usize, v: &str) -> bool {
        let t = self.tok(i);
        t.value == v && matches!(t.t, T::Char | T::Escaped | T::Invalid)
    }

    fn search_prefix(&self) -> bool {
        if self.plain(self.index, "?") {
            return true;
        }
        if self.tok(self.index).value != "?" {
            return false;
        }
        self.index == 0
            || !matches!(
                self.tok(self.index - 1).t,
                T::Name | T::Regexp | T::Close | T::Asterisk
            )
    }

    fn component_string(&self) -> String {
        let from = self.tok(self.start).index;
        let to = self.tok(self.index).index;
        self.input
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn rewind(&mut self, state: Option<St>) {
        self.index = self.start;
        self.inc = 0;
        if let Some(s) = state {
            self.state = s;
        }
    }

    fn change(&mut self, new: St, skip: usize) {
        if let Some(k) = slot(self.state) {
            self.result[k] = Some(self.component_string());
        }
        use St::*;
        let s = self.state;
        if s != Init && new != Done {
            let early = matches!(s, Protocol | Authority | Username | Password);
            if early && matches!(new, Port | Pathname | Search | Hash) {
                self.result[HOSTNAME].get_or_insert_with(String::new);
            }
            if (early || matches!(s, Hostname | Port)) && matches!(new, Search | Hash) {
                let p = if self.special { "/" } else { "" };
                self.result[PATHNAME].get_or_insert_with(|| p.into());
            }
            if (early || matches!(s, Hostname | Port | Pathname)) && new == Hash {
                self.result[SEARCH].get_or_insert_with(String::new);
            }
        }
        self.state = new;
        self.index += skip;
        self.start = self.index;
        self.inc = 0;
    }
}

/// The standard's "parse a constructor string": the component strings that were given.
fn parse_constructor(input: &[char]) -> Result<[Option<String>; 8], String> {
    let mut p = Ctor {
        input,
        toks: tokenize(input, false)?,
        result: Default::default(),
        start: 0,
        index: 0,
        inc: 1,
        state: St::Init,
        special: false,
    };
    let mut depth = 0usize;
    let mut brackets = 0usize;
    while p.index < p.toks.len() {
        p.inc = 1;
        let t = p.tok(p.index).t;
        if t == T::End {
            match p.state {
                St::Init => {
                    p.rewind(None);
                    if p.plain(p.index, "#") {
                        p.change(St::Hash, 1);
                    } else if p.search_prefix() {
                        p.change(St::Search, 1);
                    } else {
                        p.change(St::Pathname, 0);
                    }
                    p.index += p.inc;
                    continue;
                }
                St::Authority => {
                    p.rewind(Some(St::Hostname));
                    p.index += p.inc;
                    continue;
                }
                _ => {
                    p.change(St::Done, 0);
                    break;
                }
            }
        }
        if t == T::Open {
            depth += 1;
            p.index += p.inc;
            continue;
        }
        if depth > 0 {
            if t == T::Close {
                depth -= 1;
            } else {
                p.index += p.inc;
                continue;
            }
        }
        let i = p.index;
        let path_start = p.plain(i, "/");
        let hash = p.plain(i, "#");
        match p.state {
            St::Init => {
                if p.plain(i, ":") {
                    p.rewind(Some(St::Protocol));
                }
            }
            St::Protocol => {
                if p.plain(i, ":") {
                    let proto = p.component_string();
                    let c = part(&proto, Kind::Proto)?;
                    p.special = SPECIAL.iter().any(|s| c.matches_native(s, true, None));
                    let slashes = p.plain(i + 1, "/") && p.plain(i + 2, "/");
                    if slashes {
                        p.change(St::Authority, 3);
                    } else if p.special {
                        p.change(St::Authority, 1);
                    } else {
                        p.change(St::Pathname, 1);
                    }
                }
            }
            St::Authority => {
                if p.plain(i, "@") {
                    p.rewind(Some(St::Username));
                } else if path_start || p.search_prefix() || hash {
                    p.rewind(Some(St::Hostname));
                }
            }
            St::Username => {
                if p.plain(i, ":") {
                    p.change(St::Password, 1);
                } else if p.plain(i, "@") {
                    p.change(St::Hostname, 1);
                }
            }
            St::Password => {
                if p.plain(i, "@") {
                    p.change(St::Hostname, 1);
                }
            }
            St::Hostname => {
                if p.plain(i, "[") {
                    brackets += 1;
                } else if p.plain(i, "]") {
                    brackets = brackets.saturating_sub(1);
                } else if p.plain(i, ":") && brackets == 0 {
                    p.change(St::Port, 1);
                } else if path_start {
                    p.change(St::Pathname, 0);
                } else if p.search_prefix() {
                    p.change(St::Search, 1);
                } else if hash {
                    p.change(St::Hash, 1);
                }
            }
            St::Port => {
                if path_start {
                    p.change(St::Pathname, 0);
                } else if p.search_prefix() {
                    p.change(St::Search, 1);
                } else if hash {
                    p.change(St::Hash, 1);
                }
            }
            St::Pathname => {
                if p.search_prefix() {
                    p.change(St::Search, 1);
                } else if hash {
                    p.change(St::Hash, 1);
                }
            }
            St::Search => {
                if hash {
                    p.change(St::Hash, 1);
                }
            }
            St::Hash | St::Done => {}
        }
        p.index += p.inc;
    }
    if p.result[HOSTNAME].is_some() && p.result[PORT].is_none() {
        p.result[PORT] = Some(String::new());
    }
    Ok(p.result)
}

// ---------------------------------------------------------------------------------------------
// Pattern strings.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mod {
    None,
    Optional,
    ZeroOrMore,
    OneOrMore,
}

#[derive(Debug, Clone, PartialEq)]
enum PType {
    Fixed,
    Segment,
    Full,
    /// A regular expression (validated and rewritten into the shared subset).
    Regexp(String),
}

#[derive(Debug, Clone)]
struct Part {
    ty: PType,
    /// Fixed text (for `Fixed`), encoded.
    value: String,
    modifier: Mod,
    prefix: String,
    suffix: String,
}

fn segment_regexp(kind: Kind) -> &'static str {
    match kind {
        Kind::Host => "[^\\.]+?",
        Kind::Path => "[^\\/]+?",
        _ => "[^]+?",
    }
}

/// The standard's "escape a regexp string".
fn escape_regexp(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(
            c,
            '.' | '+'
                | '*'
                | '?'
                | '^'
                | '$'
                | '{'
                | '}'
                | '('
                | ')'
                | '['
                | ']'
                | '|'
                | '/'
                | '\\'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The encoding callback of a component: validates and canonicalizes fixed text.
fn encode_text(s: &str, kind: Kind, ipv6: bool) -> Result<String, String> {
    match kind {
        Kind::Proto => {
            if let Some(c) = s
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            {
                return Err(format!("invalid character {c:?} in the scheme"));
            }
            Ok(s.to_ascii_lowercase())
        }
        Kind::Host if ipv6 => {
            if let Some(c) = s
                .chars()
                .find(|c| !(c.is_ascii_hexdigit() || matches!(c, '[' | ']' | ':')))
            {
                return Err(format!("invalid character {c:?} in the IPv6 address"));
            }
            Ok(s.to_ascii_lowercase())
        }
        Kind::Host => {
            if let Some(c) = s.chars().find(|&c| {
                c <= ' '
                    || c == '\u{7f}'
                    || matches!(
                        c,
                        '#' | '/'
                            | ':'
                            | '<'
                            | '>'
                            | '?'
                            | '@'
                            | '['
                            | '\\'
                            | ']'
                            | '^'
                            | '|'
                            | '%'
                    )
            }) {
                return Err(if c == ':' {
                    "invalid character ':' in the host (a port is written \"host:8080\", \
                     unescaped)"
                        .into()
                } else {
                    format!("invalid character {c:?} in the host")
                });
            }
            Ok(s.to_ascii_lowercase())
        }
        Kind::Port => {
            if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
                return Err(format!("invalid character {c:?} in the port"));
            }
            Ok(s.into())
        }
        _ => Ok(encode(s, kind).into_owned()),
    }
}

/// The standard's "parse a pattern string": a part list.
fn parse_parts(input: &str, kind: Kind, ipv6: bool) -> Result<Vec<Part>, String> {
    let chars: Vec<char> = input.chars().collect();
    let toks = tokenize(&chars, true)?;
    let prefix_cp = if kind == Kind::Path { "/" } else { "" };
    let seg = segment_regexp(kind);
    let mut parts: Vec<Part> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut pending = String::new();
    let mut i = 0;
    let take = |i: &mut usize, t: T| -> Option<&Token> {
        let tok = toks.get(*i).filter(|k| k.t == t)?;
        *i += 1;
        Some(tok)
    };
    let flush = |pending: &mut String, parts: &mut Vec<Part>| -> Result<(), String> {
        if !pending.is_empty() {
            let value = encode_text(pending, kind, ipv6)?;
            pending.clear();
            parts.push(Part {
                ty: PType::Fixed,
                value,
                modifier: Mod::None,
                prefix: String::new(),
                suffix: String::new(),
            });
        }
        Ok(())
    };
    #[allow(clippy::too_many_arguments)]
    fn add(
        parts: &mut Vec<Part>,
        names: &mut Vec<String>,
        pending: &mut String,
        kind: Kind,
        ipv6: bool,
        seg: &str,
        prefix: String,
        name: Option<&Token>,
        re: Option<&Token>,
        suffix: String,
        modifier: Option<&Token>,
    ) -> Result<(), String> {
        let modifier = match modifier.map(|m| m.value.as_str()) {
            None => Mod::None,
            Some("?") => Mod::Optional,
            Some("*") => Mod::ZeroOrMore,
            _ => Mod::OneOrMore,
        };
        if name.is_none() && re.is_none() && modifier == Mod::None {
            pending.push_str(&prefix);
            return Ok(());
        }
        if !pending.is_empty() {
            let value = encode_text(pending, kind, ipv6)?;
            pending.clear();
            parts.push(Part {
                ty: PType::Fixed,
                value,
                modifier: Mod::None,
                prefix: String::new(),
                suffix: String::new(),
            });
        }
        if name.is_none() && re.is_none() {
            if !suffix.is_empty() {
                return Err("text after the text of a \"{...}\" group".into());
            }
            if !prefix.is_empty() {
                parts.push(Part {
                    ty: PType::Fixed,
                    value: encode_text(&prefix, kind, ipv6)?,
                    modifier,
                    prefix: String::new(),
                    suffix: String::new(),
                });
            }
            return Ok(());
        }
        let ty = match re {
            None => PType::Segment,
            Some(t) if t.t == T::Asterisk => PType::Full,
            Some(t) if t.value == seg => PType::Segment,
            Some(t) if t.value == ".*" => PType::Full,
            Some(t) => PType::Regexp(subset_regexp(&t.value)?),
        };
        if let Some(n) = name {
            if names.contains(&n.value) {
                return Err(format!("duplicate group name \":{}\"", n.value));
            }
            names.push(n.value.clone());
        }
        parts.push(Part {
            ty,
            value: String::new(),
            modifier,
            prefix: encode_text(&prefix, kind, ipv6)?,
            suffix: encode_text(&suffix, kind, ipv6)?,
        });
        Ok(())
    }
    let consume_text = |i: &mut usize| -> String {
        let mut s = String::new();
        while let Some(t) = toks.get(*i).filter(|k| matches!(k.t, T::Char | T::Escaped)) {
            s.push_str(&t.value);
            *i += 1;
        }
        s
    };
    while i < toks.len() {
        let ch = take(&mut i, T::Char);
        let name = take(&mut i, T::Name);
        let mut re = take(&mut i, T::Regexp);
        if name.is_none() && re.is_none() {
            re = take(&mut i, T::Asterisk);
        }
        if name.is_some() || re.is_some() {
            let mut prefix = ch.map(|c| c.value.clone()).unwrap_or_default();
            if !prefix.is_empty() && prefix != prefix_cp {
                pending.push_str(&prefix);
                prefix.clear();
            }
            flush(&mut pending, &mut parts)?;
            let m = take(&mut i, T::Modifier).or_else(|| take(&mut i, T::Asterisk));
            add(
                &mut parts,
                &mut names,
                &mut pending,
                kind,
                ipv6,
                seg,
                prefix,
                name,
                re,
                String::new(),
                m,
            )?;
            continue;
        }
        if let Some(f) = ch.or_else(|| take(&mut i, T::Escaped)) {
            pending.push_str(&f.value);
            continue;
        }
        if take(&mut i, T::Open).is_some() {
            let prefix = consume_text(&mut i);
            let name = take(&mut i, T::Name);
            let mut re = take(&mut i, T::Regexp);
            if name.is_none() && re.is_none() {
                re = take(&mut i, T::Asterisk);
            }
            let suffix = consume_text(&mut i);
            if take(&mut i, T::Close).is_none() {
                return Err(match toks.get(i).map(|t| t.t) {
                    Some(T::End) | None => "unbalanced '{'".into(),
                    Some(T::Open) => "nested groups \"{...{...}...}\" are not allowed".into(),
                    Some(_) => format!(
                        "unexpected {:?} in a \"{{...}}\" group (a group holds text, at most \
                         one \":name\", \"*\" or \"(...)\", and text)",
                        toks[i].value
                    ),
                });
            }
            let m = take(&mut i, T::Modifier).or_else(|| take(&mut i, T::Asterisk));
            add(
                &mut parts,
                &mut names,
                &mut pending,
                kind,
                ipv6,
                seg,
                prefix,
                name,
                re,
                suffix,
                m,
            )?;
            continue;
        }
        flush(&mut pending, &mut parts)?;
        match toks.get(i) {
            Some(t) if t.t == T::End => i += 1,
            Some(t) if t.t == T::Close => return Err("unbalanced '}'".into()),
            Some(t) if t.t == T::Modifier => {
                return Err(format!(
                    "unexpected {:?}: a modifier follows a \":name\", \"*\", \"(...)\" or \
                     \"}}\" (write \"\\{}\" for a literal {:?})",
                    t.value, t.value, t.value
                ))
            }
            Some(t) => return Err(format!("unexpected {:?}", t.value)),
            None => break,
        }
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------------
// Regular expressions: the subset the `regex` crate and JavaScript's `RegExp` read alike.

/// Validates a regular-expression group's body against the shared subset and rewrites the
/// class escapes whose meaning differs (`\d`, `\w`, `\s` are Unicode-aware in the `regex`
/// crate) into explicit ASCII classes.
fn subset_regexp(re: &str) -> Result<String, String> {
    let b = re.as_bytes();
    let mut out = String::with_capacity(re.len() + 8);
    let mut i = 0;
    let mut depth = 0usize;
    // Whether the last thing written can take a quantifier.
    let mut atom = false;
    let msg = |what: &str| format!("in the regular expression ({re}): {what}");
    let bad = |what: &str| Err(msg(what));
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b'(' => {
                if b.get(i) != Some(&b'?') || b.get(i + 1) != Some(&b':') {
                    let what = match (b.get(i), b.get(i + 1), b.get(i + 2)) {
                        (Some(b'?'), Some(b'=' | b'!'), _)
                        | (Some(b'?'), Some(b'<'), Some(b'=' | b'!')) => {
                            "lookaround \"(?=...)\", \"(?!...)\", \"(?<=...)\" is not supported"
                        }
                        (Some(b'?'), Some(b'<'), _) => "named groups are not supported",
                        _ => "only non-capturing groups \"(?:...)\" are allowed",
                    };
                    return bad(what);
                }
                i += 2;
                depth += 1;
                out.push_str("(?:");
                atom = false;
                continue;
            }
            b')' => {
                if depth == 0 {
                    return bad("unbalanced ')'");
                }
                depth -= 1;
                out.push(')');
                atom = true;
                continue;
            }
            b'|' => {
                out.push('|');
                atom = false;
                continue;
            }
            b'*' | b'+' | b'?' | b'{' => {
                if !atom {
                    return bad("a quantifier follows nothing it can repeat");
                }
                out.push(char::from(c));
                if c == b'{' {
                    let counted =
                        "a counted repetition is \"{n}\", \"{n,}\" or \"{n,m}\" (n ≤ m ≤ 1000)";
                    let Some(close) = re[i..].find('}').map(|k| i + k) else {
                        return bad(counted);
                    };
                    let body = &re[i..close];
                    let num = |s: &str| {
                        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|d| d.is_ascii_digit()))
                            .then(|| s.parse::<u32>().ok())
                            .flatten()
                            .filter(|&n| n <= 1000)
                    };
                    let ok = match body.split_once(',') {
                        None => num(body).is_some(),
                        Some((lo, "")) => num(lo).is_some(),
                        Some((lo, hi)) => {
                            matches!((num(lo), num(hi)), (Some(l), Some(h)) if l <= h)
                        }
                    };
                    if !ok {
                        return bad(counted);
                    }
                    out.push_str(body);
                    out.push('}');
                    i = close + 1;
                }
                if b.get(i) == Some(&b'?') {
                    out.push('?');
                    i += 1;
                }
                if matches!(b.get(i), Some(b'*' | b'+' | b'?' | b'{')) {
                    return bad("a quantifier follows a quantifier");
                }
                atom = false;
                continue;
            }
            b'^' | b'$' => {
                out.push(char::from(c));
                atom = false;
                continue;
            }
            b'[' => {
                i = class(re, i, &mut out).map_err(|e| msg(&e))?;
            }
            b'\\' => {
                let e = *b.get(i).ok_or("a trailing '\\' escapes nothing")?;
                i += 1;
                i = escape(re, e, i, false, &mut out).map_err(|e| msg(&e))?;
            }
            b']' | b'}' => {
                return bad(&format!(
                    "write \"\\{}\" for a literal '{}'",
                    c as char, c as char
                ))
            }
            _ if (b' '..=b'~').contains(&c) => out.push(char::from(c)),
            _ => return bad("control characters are not allowed"),
        }
        atom = true;
    }
    if depth != 0 {
        return bad("unbalanced '('");
    }
    Ok(out)
}

/// One escape after `\` (`e`, the escaped byte; `i` just after it); the position after it.
fn escape(
    re: &str,
    e: u8,
    mut i: usize,
    in_class: bool,
    out: &mut String,
) -> Result<usize, String> {
    let b = re.as_bytes();
    let hex = |n: usize, i: usize| {
        b.get(i..i + n)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    };
    let (open, close) = if in_class { ("", "") } else { ("[", "]") };
    match e {
        b'd' => out.push_str(&format!("{open}0-9{close}")),
        b'w' => out.push_str(&format!("{open}0-9A-Za-z_{close}")),
        b's' => out.push_str(&format!("{open}\\t\\n\\x0B\\x0C\\r {close}")),
        b'D' | b'W' | b'S' if !in_class => out.push_str(match e {
            b'D' => "[^0-9]",
            b'W' => "[^0-9A-Za-z_]",
            _ => "[^\\t\\n\\x0B\\x0C\\r ]",
        }),
        b't' | b'n' | b'r' | b'f' | b'v' => {
            out.push('\\');
            out.push(char::from(e));
        }
        b'x' if hex(2, i) => {
            out.push_str(&re[i - 2..i + 2]);
            i += 2;
        }
        b'u' if hex(4, i) => {
            out.push_str(&re[i - 2..i + 4]);
            i += 4;
        }
        b'^' | b'$' | b'\\' | b'.' | b'*' | b'+' | b'?' | b'(' | b')' | b'[' | b']' | b'{'
        | b'}' | b'|' | b'/' | b'-' => {
            out.push('\\');
            out.push(char::from(e));
        }
        b'b' | b'B' => return Err("word boundaries \"\\b\" are not supported".into()),
        b'1'..=b'9' | b'k' => return Err("backreferences are not supported".into()),
        b'p' | b'P' => return Err("Unicode classes \"\\p{...}\" are not supported".into()),
        _ => {
            return Err(format!(
                "the escape \"\\{}\" is not supported",
                char::from(e)
            ))
        }
    }
    Ok(i)
}

/// A character class (`i` just after `[`); the position after its `]`.
fn class(re: &str, mut i: usize, out: &mut String) -> Result<usize, String> {
    let b = re.as_bytes();
    out.push('[');
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    let first = i;
    // The previous single character (for range order), if the last item was one.
    let mut prev: Option<u8> = None;
    loop {
        let c = *b.get(i).ok_or("unbalanced '['")?;
        i += 1;
        match c {
            b']' if i - 1 == first => return Err("empty character class \"[]\"".into()),
            b']' => {
                out.push(']');
                return Ok(i);
            }
            b'[' => return Err("write \"\\[\" for a literal '[' in a class".into()),
            b'&' | b'~' | b'-' if b.get(i) == Some(&c) => {
                return Err(format!(
                    "\"{0}{0}\" in a class reads differently across engines: escape it",
                    char::from(c)
                ))
            }
            b'-' if prev.is_some() && b.get(i) != Some(&b']') => {
                let lo = prev.unwrap_or(0);
                let (hi, next) = match *b.get(i).ok_or("unbalanced '['")? {
                    b'\\' => match b.get(i + 1) {
                        Some(&e) if !e.is_ascii_alphanumeric() => (e, i + 2),
                        _ => return Err("a range ends at a plain character".into()),
                    },
                    b'[' | b']' => return Err("a range ends at a plain character".into()),
                    h => (h, i + 1),
                };
                if hi < lo {
                    return Err(format!(
                        "the range {:?}-{:?} is out of order",
                        char::from(lo),
                        char::from(hi)
                    ));
                }
                out.push('-');
                if matches!(hi, b'^' | b'\\' | b'-' | b']' | b'[' | b'&' | b'~') {
                    out.push('\\');
                }
                out.push(char::from(hi));
                i = next;
                prev = None;
                continue;
            }
            b'\\' => {
                let e = *b.get(i).ok_or("unbalanced '['")?;
                i += 1;
                if matches!(e, b'D' | b'W' | b'S') {
                    return Err("negated classes \"\\D\", \"\\W\", \"\\S\" inside \"[...]\" are not supported".into());
                }
                if matches!(e, b'b') {
                    return Err("\"\\b\" inside \"[...]\" is not supported".into());
                }
                i = escape(re, e, i, true, out)?;
                prev = (!e.is_ascii_alphanumeric()).then_some(e);
                continue;
            }
            _ if (b' '..=b'~').contains(&c) => {
                if matches!(c, b'^' | b'&' | b'~') {
                    out.push('\\');
                }
                out.push(char::from(c));
                prev = Some(c);
            }
            _ => return Err("control characters are not allowed".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part lists to matchers.

/// A canonical matcher-program literal (see [`Component`]).
fn push_lit(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, '\\' | '*' | ':' | '{' | '}' | '+') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The compiled component of a part list. `slash`: our trailing-slash rule (a pathname's own
/// trailing `/` is optional).
fn build(mut parts: Vec<Part>, kind: Kind, slash: bool) -> Result<Component, String> {
    // The trailing-slash rule: a final fixed "/" of the pathname becomes optional.
    if slash {
        if let Some(last) = parts.last_mut() {
            if last.ty == PType::Fixed && last.modifier == Mod::None && last.value.ends_with('/') {
                last.value.pop();
                if last.value.is_empty() {
                    parts.pop();
                }
                parts.push(Part {
                    ty: PType::Fixed,
                    value: "/".into(),
                    modifier: Mod::Optional,
                    prefix: String::new(),
                    suffix: String::new(),
                });
            }
        }
    }
    let src = if parts.iter().any(|p| matches!(p.ty, PType::Regexp(_))) {
        let re = regexp(&parts, kind);
        let ci = matches!(kind, Kind::Proto | Kind::Host);
        crate::regexp::NativeRegex::check(&re, ci)
            .map_err(|e| format!("the regular expression does not compile: {e}"))?;
        format!("}}{re}")
    } else {
        program(&parts)
    };
    Component::try_from(src)
}

/// The matcher program of a part list without regular expressions.
fn program(parts: &[Part]) -> String {
    let mut out = String::new();
    for p in parts {
        let mut unit = String::new();
        let sym = match p.ty {
            PType::Fixed => {
                push_lit(&mut unit, &p.value);
                match p.modifier {
                    Mod::None => out.push_str(&unit),
                    Mod::Optional => out.push_str(&format!("{{{unit}}}")),
                    Mod::ZeroOrMore => out.push_str(&format!("{{{unit}}}+")),
                    Mod::OneOrMore => out.push_str(&format!("{unit}{{{unit}}}+")),
                }
                continue;
            }
            PType::Segment => ":",
            _ => "*",
        };
        let (mut pre, mut suf) = (String::new(), String::new());
        push_lit(&mut pre, &p.prefix);
        push_lit(&mut suf, &p.suffix);
        out.push_str(&match p.modifier {
            Mod::None => format!("{pre}{sym}{suf}"),
            Mod::Optional => format!("{{{pre}{sym}{suf}}}"),
            Mod::OneOrMore => format!("{pre}{sym}{{{suf}{pre}{sym}}}+{suf}"),
            Mod::ZeroOrMore => format!("{{{pre}{sym}{{{suf}{pre}{sym}}}+{suf}}}"),
        });
    }
    out
}

/// The standard's "generate a regular expression" (with non-capturing groups).
fn regexp(parts: &[Part], kind: Kind) -> String {
    let modifier = |m: Mod| match m {
        Mod::None => "",
        Mod::Optional => "?",
        Mod::ZeroOrMore => "*",
        Mod::OneOrMore => "+",
    };
    let mut out = String::from("^");
    for p in parts {
        let value = match &p.ty {
            PType::Fixed => {
                if p.modifier == Mod::None {
                    escape_regexp(&p.value, &mut out);
                } else {
                    out.push_str("(?:");
                    escape_regexp(&p.value, &mut out);
                    out.push(')');
                    out.push_str(modifier(p.modifier));
                }
                continue;
            }
            PType::Segment => segment_regexp(kind).to_string(),
            PType::Full => ".*".to_string(),
            PType::Regexp(r) => r.clone(),
        };
        // `[^]` (any character in JavaScript) is not read alike: any character is `[\s\S]`.
        let value = value.replace("[^]", "[\\s\\S]");
        let (mut pre, mut suf) = (String::new(), String::new());
        escape_regexp(&p.prefix, &mut pre);
        escape_regexp(&p.suffix, &mut suf);
        let m = modifier(p.modifier);
        match p.modifier {
            Mod::None | Mod::Optional => out.push_str(&format!("(?:{pre}(?:{value}){suf}){m}")),
            _ if pre.is_empty() && suf.is_empty() => out.push_str(&format!("(?:(?:{value}){m})")),
            _ => {
                out.push_str(&format!(
                    "(?:{pre}(?:(?:{value})(?:{suf}{pre}(?:{value}))*){suf})"
                ));
                if p.modifier == Mod::ZeroOrMore {
                    out.push('?');
                }
            }
        }
    }
    out.push('$');
    out
}

fn component(s: &str, kind: Kind) -> Result<Component, String> {
    let ipv6 = kind == Kind::Host && {
        let c: Vec<char> = s.chars().take(2).collect();
        matches!(c.as_slice(), ['[', _] | ['{' | '\\', '['])
    };
    build(parse_parts(s, kind, ipv6)?, kind, kind == Kind::Path)
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Proto => "scheme",
        Kind::Host => "host",
        Kind::Port => "port",
        Kind::Path => "path",
        Kind::Search => "search (\"?...\")",
        Kind::Hash => "hash (\"#...\")",
    }
}

/// Compiles a URLPattern constructor string (trimmed, non-empty).
pub(crate) fn url_pattern(p: &str) -> Result<UrlPattern, String> {
    let chars: Vec<char> = p.chars().collect();
    let r = parse_constructor(&chars)?;
    let Some(proto) = &r[PROTOCOL] else {
        // A relative pattern: any origin. It must read as a path (or a search or hash).
        let ok = match &r[PATHNAME] {
            None => true,
            Some(path) => {
                let c: Vec<char> = path.chars().take(2).collect();
                matches!(
                    c.as_slice(),
                    ['/', ..] | ['*', ..] | ['\\', '/'] | ['(', ..]
                )
            }
        };
        if !ok {
            let hint = if p.contains("://") {
                " (\"://\" inside a \"{...}\" group does not end a scheme)"
            } else {
                ""
            };
            return Err(format!(
                "a URL pattern starts with a scheme (\"https://\") or, to match pages of any \
                 site, with \"/\" or \"*\"{hint}"
            ));
        }
        return Ok(UrlPattern {
            s: None,
            h: None,
            o: None,
            p: match &r[PATHNAME] {
                Some(path) => part(path, Kind::Path)?,
                None => star(),
            },
            q: opt(&r[SEARCH], Kind::Search)?,
            f: opt(&r[HASH], Kind::Hash)?,
        });
    };
    if proto.is_empty() {
        return Err("missing scheme before ':'".into());
    }
    let s = part(proto, Kind::Proto)?;
    if s.literal()
        .is_some_and(|l| !l.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        return Err(format!(
            "invalid scheme {proto:?} (a scheme starts with a letter)"
        ));
    }
    let after: String = chars
        .iter()
        .skip(proto.chars().count() + 1)
        .take(2)
        .collect();
    if after != "//" && !s.matches_native("file", true, None) {
        return Err(format!(
            "expected \"//\" after \"{proto}:\" (patterns are \"https://host/path\" or \"/path\")"
        ));
    }
    for (k, what) in [(USERNAME, "user name"), (PASSWORD, "password")] {
        if r[k].as_deref().is_some_and(|u| u != "*") {
            return Err(format!(
                "a {what} (\"user:password@\" before the host) is not supported: page URLs \
                 carry none"
            ));
        }
    }
    let host = r[HOSTNAME].as_deref().ok_or_else(|| {
        format!("expected \"//\" after \"{proto}:\" (a page URL has a host: \"https://host/path\")")
    })?;
    if host.is_empty() && !s.matches_native("file", true, None) {
        return Err("missing host (a pattern is \"https://host/path\")".into());
    }
    let h = part(host, Kind::Host)?;
    let mut port = part(r[PORT].as_deref().unwrap_or_default(), Kind::Port).map_err(|e| {
        if p.contains("\\:") {
            format!("{e}; an escaped \"\\:\" ends the host too, as in URLPattern")
        } else {
            e
        }
    })?;
    if let Some(lit) = port.literal() {
        let canon = canonical_port(&lit).ok_or_else(|| format!("invalid port {lit:?}"))?;
        let dflt = s.literal().map_or("", |l| default_port(&l));
        port = Component::try_from(if canon == dflt {
            String::new()
        } else {
            canon.into()
        })?;
    }
    Ok(UrlPattern {
        s: wild(s),
        h: wild(h),
        o: wild(port),
        p: match &r[PATHNAME] {
            Some(path) => part(path, Kind::Path)?,
            None => star(),
        },
        q: opt(&r[SEARCH], Kind::Search)?,
        f: opt(&r[HASH], Kind::Hash)?,
    })
}

fn part(s: &str, kind: Kind) -> Result<Component, String> {
    component(s, kind).map_err(|e| {
        let n = name(kind);
        if e.contains(&format!("in the {n}")) {
            e
        } else {
            format!("{e} (in the {n})")
        }
    })
}

fn star() -> Component {
    Component::wildcard()
}

/// `None` for a wildcard (matches anything): the compact form.
fn wild(c: Component) -> Option<Component> {
    (c.as_str() != "*").then_some(c)
}

fn opt(s: &Option<String>, kind: Kind) -> Result<Option<Component>, String> {
    match s {
        None => Ok(None),
        Some(s) => Ok(wild(part(s, kind)?)),
    }
}
