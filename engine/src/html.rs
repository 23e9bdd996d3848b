//! The `message` sanitizer: a small HTML subset turned into a safe node tree that the runtime
//! renders with DOM calls (never `innerHTML`).
//!
//! Rules:
//! - Kept elements: `b i em strong u br p span a`. Every attribute is dropped except `href` on
//!   `a`, kept only when, after entity decoding, trimming surrounding spaces/controls and removing
//!   tabs and newlines (as browsers do), its scheme (case-folded) is `http:`, `https:` or
//!   `mailto:`; anything else (`javascript:`, `data:`, `vbscript:`, relative URLs) drops the
//!   `href` but keeps the link's text. The stored `href` has a lowercase scheme.
//! - Other elements are removed and their text kept, except `script style iframe object embed
//!   template noscript textarea title svg math` (and the other raw-text elements `xmp noembed
//!   noframes`), whose content is dropped too (`embed` is void: it has none).
//! - Text: the entities `&amp; &lt; &gt; &quot; &apos; &nbsp;` (and the legacy forms without
//!   `;` and in capitals, as browsers accept them) and numeric `&#...;`/`&#x...;` are decoded;
//!   other `&name;` stay as written. A `<` that doesn't start a tag is text.
//! - Structure: unclosed elements close at the end, stray end tags are ignored, an end tag closes
//!   the elements opened inside it, a `<p>` closes an open `p` and an `<a>` an open `a`, and
//!   nesting deeper than [`MAX_DEPTH`] is flattened (the extra tags are ignored, their text
//!   kept). Comments, `<!doctype>`, `<?...>` and unfinished tags at the end are dropped.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Deepest element nesting kept.
pub const MAX_DEPTH: usize = 32;

/// An element allowed in a message; serialized as its lowercase tag name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    B,
    I,
    Em,
    Strong,
    U,
    Br,
    P,
    Span,
    A,
}

impl Tag {
    const ALL: [Tag; 9] = [
        Tag::B,
        Tag::I,
        Tag::Em,
        Tag::Strong,
        Tag::U,
        Tag::Br,
        Tag::P,
        Tag::Span,
        Tag::A,
    ];

    /// The lowercase tag name (`"strong"`).
    pub fn name(self) -> &'static str {
        match self {
            Tag::B => "b",
            Tag::I => "i",
            Tag::Em => "em",
            Tag::Strong => "strong",
            Tag::U => "u",
            Tag::Br => "br",
            Tag::P => "p",
            Tag::Span => "span",
            Tag::A => "a",
        }
    }

    /// The tag of a lowercase name, when allowed.
    pub fn from_name(name: &str) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A sanitized message node. Compact JSON: a text is a string, an element
/// `{"t": "a", "h": "https://…", "c": [...]}` (`h` only on links that keep their `href`, `c`
/// left out when empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Node {
    Text(String),
    Element {
        t: Tag,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        h: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        c: Vec<Node>,
    },
}

/// The text of a tree, for previews and truncation: `br` is a line break and paragraphs are
/// separated by one; trailing line breaks are removed.
pub fn plain_text(nodes: &[Node]) -> String {
    fn line_break(out: &mut String) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    fn walk(nodes: &[Node], out: &mut String) {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element { t: Tag::Br, .. } => out.push('\n'),
                Node::Element { t: Tag::P, c, .. } => {
                    line_break(out);
                    walk(c, out);
                    line_break(out);
                }
                Node::Element { c, .. } => walk(c, out),
            }
        }
    }
    let mut out = String::new();
    walk(nodes, &mut out);
    let len = out.trim_end_matches('\n').len();
    out.truncate(len);
    out
}

/// Elements whose content is text up to their end tag, dropped with them.
const RAW_TEXT: [&str; 9] = [
    "script", "style", "iframe", "noscript", "textarea", "title", "xmp", "noembed", "noframes",
];
/// Elements whose (markup) content is dropped with them.
const DROP_CONTENT: [&str; 4] = ["object", "template", "svg", "math"];

struct Frame {
    tag: Tag,
    h: Option<String>,
    c: Vec<Node>,
}

#[derive(Default)]
struct Builder {
    root: Vec<Node>,
    stack: Vec<Frame>,
    /// Start tags ignored for depth, per tag: their end tags are ignored too.
    overflow: [u32; 9],
}

impl Builder {
    fn children(&mut self) -> &mut Vec<Node> {
        match self.stack.last_mut() {
            Some(f) => &mut f.c,
            None => &mut self.root,
        }
    }

    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let c = self.children();
        match c.last_mut() {
            Some(Node::Text(t)) => t.push_str(s),
            _ => c.push(Node::Text(s.to_owned())),
        }
    }

    fn is_open(&self, tag: Tag) -> bool {
        self.stack.iter().any(|f| f.tag == tag)
    }

    fn open(&mut self, tag: Tag, h: Option<String>) {
        if tag == Tag::Br {
            self.children().push(Node::Element {
                t: Tag::Br,
                h: None,
                c: Vec::new(),
            });
            return;
        }
        if matches!(tag, Tag::P | Tag::A) && self.is_open(tag) {
            self.close(tag);
        }
        if self.stack.len() >= MAX_DEPTH {
            self.overflow[tag as usize] += 1;
            return;
        }
        self.stack.push(Frame {
            tag,
            h,
            c: Vec::new(),
        });
    }

    fn end(&mut self, tag: Tag) {
        if self.overflow[tag as usize] > 0 {
            self.overflow[tag as usize] -= 1;
        } else if self.is_open(tag) {
            self.close(tag);
        }
    }

    /// Pops up to and including the innermost open `tag`.
    fn close(&mut self, tag: Tag) {
        while let Some(f) = self.stack.pop() {
            let done = f.tag == tag;
            self.children().push(Node::Element {
                t: f.tag,
                h: f.h,
                c: f.c,
            });
            if done {
                break;
            }
        }
    }

    fn finish(mut self) -> Vec<Node> {
        while let Some(f) = self.stack.pop() {
            self.children().push(Node::Element {
                t: f.tag,
                h: f.h,
                c: f.c,
            });
        }
        self.root
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > b.len() {
        return None;
    }
    b[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Index just past the next `>` at or after `from` (the end when none).
fn past_gt(b: &[u8], from: usize) -> usize {
    b.get(from..)
        .and_then(|rest| rest.iter().position(|&c| c == b'>'))
        .map_or(b.len(), |p| from + p + 1)
}

/// Index just past a comment or other `<!...>` starting at `lt`.
fn past_comment(b: &[u8], lt: usize) -> usize {
    if b[lt..].starts_with(b"<!--") {
        let body = lt + 4;
        if b[body..].starts_with(b">") {
            return body + 1;
        }
        if b[body..].starts_with(b"->") {
            return body + 2;
        }
        let a = find(b, body, b"-->").map(|p| p + 3);
        let c = find(b, body, b"--!>").map(|p| p + 4);
        return match (a, c) {
            (Some(a), Some(c)) => a.min(c),
            (a, c) => a.or(c).unwrap_or(b.len()),
        };
    }
    past_gt(b, lt + 2)
}

/// Where the end tag `</name` (followed by a space, `/` or `>`) starts, at or after `from`.
fn find_end_tag(b: &[u8], from: usize, name: &str) -> Option<usize> {
    let name = name.as_bytes();
    let mut i = from;
    while let Some(lt) = find(b, i, b"</") {
        let start = lt + 2;
        let end = start + name.len();
        if end <= b.len()
            && b[start..end].eq_ignore_ascii_case(name)
            && b.get(end)
                .is_some_and(|&c| is_ws(c) || c == b'/' || c == b'>')
        {
            return Some(lt);
        }
        i = lt + 2;
    }
    None
}

struct StartTag<'a> {
    name: String,
    /// The first `href`, raw.
    href: Option<&'a str>,
    self_closing: bool,
    /// Just past the `>`.
    end: usize,
}

/// Parses a start tag whose name starts at `from` (just after `<`); `None` when the input ends
/// inside it.
fn start_tag(s: &str, from: usize) -> Option<StartTag<'_>> {
    let b = s.as_bytes();
    let n = b.len();
    let mut i = from;
    while i < n && !is_ws(b[i]) && b[i] != b'/' && b[i] != b'>' {
        i += 1;
    }
    let name = s[from..i].to_ascii_lowercase();
    let mut href = None;
    loop {
        while i < n && is_ws(b[i]) {
            i += 1;
        }
        match *b.get(i)? {
            b'>' => {
                return Some(StartTag {
                    name,
                    href,
                    self_closing: false,
                    end: i + 1,
                })
            }
            b'/' => {
                if b.get(i + 1) == Some(&b'>') {
                    return Some(StartTag {
                        name,
                        href,
                        self_closing: true,
                        end: i + 2,
                    });
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        let name_start = i;
        i += 1;
        while i < n && !is_ws(b[i]) && !matches!(b[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let attr = &s[name_start..i];
        while i < n && is_ws(b[i]) {
            i += 1;
        }
        let mut value = "";
        if i < n && b[i] == b'=' {
            i += 1;
            while i < n && is_ws(b[i]) {
                i += 1;
            }
            match *b.get(i)? {
                q @ (b'"' | b'\'') => {
                    let close = i + 1 + b[i + 1..].iter().position(|&c| c == q)?;
                    value = &s[i + 1..close];
                    i = close + 1;
                }
                b'>' => {}
                _ => {
                    let v = i;
                    while i < n && !is_ws(b[i]) && b[i] != b'>' {
                        i += 1;
                    }
                    value = &s[v..i];
                }
            }
        }
        if href.is_none() && attr.eq_ignore_ascii_case("href") {
            href = Some(value);
        }
    }
}

/// The `href` to keep: `http:`, `https:` and `mailto:` URLs only.
fn safe_href(raw: &str) -> Option<String> {
    let decoded = decode(raw, true);
    let v: String = decoded
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let colon = v.find(':')?;
    let scheme = &v[..colon];
    ["http", "https", "mailto"]
        .into_iter()
        .find(|s| scheme.eq_ignore_ascii_case(s))
        .map(|s| {
            let mut out = String::with_capacity(v.len());
            out.push_str(s);
            out.push_str(&v[colon..]);
            out
        })
}

/// Decodes character references. In attribute values a legacy reference without `;` followed
/// by an alphanumeric or `=` stays as written (`?a=1&lt=2`), as in browsers.
fn decode(s: &str, in_attr: bool) -> Cow<'_, str> {
    const NAMED: [(&str, char, bool); 10] = [
        // (name, char, valid without ';')
        ("amp", '&', true),
        ("lt", '<', true),
        ("gt", '>', true),
        ("quot", '"', true),
        ("apos", '\'', false),
        ("nbsp", '\u{a0}', true),
        ("AMP", '&', true),
        ("LT", '<', true),
        ("GT", '>', true),
        ("QUOT", '"', true),
    ];
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'&') {
        let amp = i + off;
        i = amp + 1;
        let mut decoded = None;
        if b.get(i) == Some(&b'#') {
            let hex = matches!(b.get(i + 1), Some(b'x' | b'X'));
            let start = if hex { i + 2 } else { i + 1 };
            let mut j = start;
            let mut value: u32 = 0;
            while let Some(d) = b
                .get(j)
                .and_then(|&c| (c as char).to_digit(if hex { 16 } else { 10 }))
            {
                value = value
                    .saturating_mul(if hex { 16 } else { 10 })
                    .saturating_add(d);
                j += 1;
            }
            if j > start {
                if b.get(j) == Some(&b';') {
                    j += 1;
                }
                let c = match value {
                    0 => '\u{fffd}',
                    v => char::from_u32(v).unwrap_or('\u{fffd}'),
                };
                decoded = Some((c, j));
            }
        } else {
            for (name, c, legacy) in NAMED {
                if !b[i..].starts_with(name.as_bytes()) {
                    continue;
                }
                let j = i + name.len();
                if b.get(j) == Some(&b';') {
                    decoded = Some((c, j + 1));
                } else if legacy
                    && !(in_attr
                        && b.get(j)
                            .is_some_and(|&n| n.is_ascii_alphanumeric() || n == b'='))
                {
                    decoded = Some((c, j));
                }
                break;
            }
        }
        if let Some((c, end)) = decoded {
            out.push_str(&s[copied..amp]);
            out.push(c);
            i = end;
            copied = end;
        }
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// Sanitizes a message: see the module documentation for what survives.
pub fn sanitize(input: &str) -> Vec<Node> {
    let s = input;
    let b = s.as_bytes();
    let n = b.len();
    let mut out = Builder::default();
    // The element whose content is being dropped, and how many of it are open.
    let mut dropping: Option<(&'static str, usize)> = None;
    let mut i = 0;
    let mut text_from = 0;
    let flush = |out: &mut Builder, dropping: &Option<(&str, usize)>, from: usize, to: usize| {
        if dropping.is_none() && from < to {
            out.text(&decode(&s[from..to], false));
        }
    };
    while i < n {
        let Some(off) = b[i..].iter().position(|&c| c == b'<') else {
            break;
        };
        let lt = i + off;
        match b.get(lt + 1) {
            Some(b'!') => {
                flush(&mut out, &dropping, text_from, lt);
                i = past_comment(b, lt);
                text_from = i;
            }
            Some(b'?') => {
                flush(&mut out, &dropping, text_from, lt);
                i = past_gt(b, lt + 2);
                text_from = i;
            }
            Some(b'/') => match b.get(lt + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    flush(&mut out, &dropping, text_from, lt);
                    let name_start = lt + 2;
                    let mut e = name_start;
                    while e < n && !is_ws(b[e]) && b[e] != b'/' && b[e] != b'>' {
                        e += 1;
                    }
                    let name = s[name_start..e].to_ascii_lowercase();
                    let Some(gt) = b[e..].iter().position(|&c| c == b'>') else {
                        // An unfinished end tag at the end of the input is dropped.
                        text_from = n;
                        break;
                    };
                    i = e + gt + 1;
                    text_from = i;
                    match &mut dropping {
                        Some((d, depth)) => {
                            if *d == name {
                                *depth -= 1;
                                if *depth == 0 {
                                    dropping = None;
                                }
                            }
                        }
                        None => {
                            if let Some(tag) = Tag::from_name(&name).filter(|t| *t != Tag::Br) {
                                out.end(tag);
                            }
                        }
                    }
                }
                Some(b'>') => {
                    flush(&mut out, &dropping, text_from, lt);
                    i = lt + 3;
                    text_from = i;
                }
                Some(_) => {
                    flush(&mut out, &dropping, text_from, lt);
                    i = past_gt(b, lt + 2);
                    text_from = i;
                }
                None => i = n,
            },
            Some(c) if c.is_ascii_alphabetic() => {
                flush(&mut out, &dropping, text_from, lt);
                let Some(tag) = start_tag(s, lt + 1) else {
                    // The input ends inside the tag: it is dropped.
                    text_from = n;
                    break;
                };
                i = tag.end;
                text_from = i;
                let name = tag.name.as_str();
                if let Some(raw) = RAW_TEXT.into_iter().find(|r| *r == name) {
                    // Skip to its end tag (handled as a stray end tag next).
                    i = find_end_tag(b, i, raw).unwrap_or(n);
                    text_from = i;
                } else if let Some((d, depth)) = &mut dropping {
                    if *d == name && !(tag.self_closing && matches!(name, "svg" | "math")) {
                        *depth += 1;
                    }
                } else if let Some(d) = DROP_CONTENT.into_iter().find(|d| *d == name) {
                    if !(tag.self_closing && matches!(name, "svg" | "math")) {
                        dropping = Some((d, 1));
                    }
                } else if let Some(t) = Tag::from_name(name) {
                    let h = if t == Tag::A {
                        tag.href.and_then(safe_href)
                    } else {
                        None
                    };
                    out.open(t, h);
                }
            }
            _ => i = lt + 1,
        }
    }
    flush(&mut out, &dropping, text_from, n);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Node {
        Node::Text(s.into())
    }

    fn el(tag: Tag, c: Vec<Node>) -> Node {
        Node::Element { t: tag, h: None, c }
    }

    fn a(h: Option<&str>, c: Vec<Node>) -> Node {
        Node::Element {
            t: Tag::A,
            h: h.map(String::from),
            c,
        }
    }

    #[test]
    fn keeps_the_allowed_subset() {
        assert_eq!(
            sanitize("Our team is <b>online</b>"),
            vec![t("Our team is "), el(Tag::B, vec![t("online")])]
        );
        assert_eq!(
            sanitize("<p>Hi <STRONG>there</STRONG><br>line 2<br/></p><p><em>x</em><i>y</i><u>z</u><span>s</span></p>"),
            vec![
                el(
                    Tag::P,
                    vec![
                        t("Hi "),
                        el(Tag::Strong, vec![t("there")]),
                        el(Tag::Br, vec![]),
                        t("line 2"),
                        el(Tag::Br, vec![]),
                    ]
                ),
                el(
                    Tag::P,
                    vec![
                        el(Tag::Em, vec![t("x")]),
                        el(Tag::I, vec![t("y")]),
                        el(Tag::U, vec![t("z")]),
                        el(Tag::Span, vec![t("s")]),
                    ]
                ),
            ]
        );
        assert_eq!(
            sanitize("<a href=\"https://acme.example/sale?a=1&amp;b=2\">Sale</a> or <a href='mailto:help@acme.example'>mail</a>"),
            vec![
                a(Some("https://acme.example/sale?a=1&b=2"), vec![t("Sale")]),
                t(" or "),
                a(Some("mailto:help@acme.example"), vec![t("mail")]),
            ]
        );
        assert_eq!(sanitize(""), vec![]);
        assert_eq!(sanitize("plain"), vec![t("plain")]);
    }

    #[test]
    fn xss_payloads() {
        assert_eq!(sanitize("<img src=x onerror=alert(1)>"), vec![]);
        assert_eq!(sanitize("a<img src=x onerror=alert(1)>b"), vec![t("ab")]);
        assert_eq!(sanitize("<script>alert(1)</script>"), vec![]);
        assert_eq!(
            sanitize("x<script>document.write('<b>hi</b>')</script>y"),
            vec![t("xy")]
        );
        assert_eq!(
            sanitize("<SCRIPT SRC=//evil.example/x.js></SCRIPT>ok"),
            vec![t("ok")]
        );
        assert_eq!(sanitize("<script>alert(1)"), vec![]);
        assert_eq!(sanitize("<script>a</scriptx>b</script>c"), vec![t("c")]);
        assert_eq!(
            sanitize("<a href=\"javascript:alert(1)\">click</a>"),
            vec![a(None, vec![t("click")])]
        );
        assert_eq!(
            sanitize("<a href=\" jav&#x09;ascript:alert(1)\">x</a>"),
            vec![a(None, vec![t("x")])]
        );
        for href in [
            " JaVaScRiPt:alert(1)",
            "java\nscript:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A&#x61vascript:alert(1)",
            "javascript&colon;alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "\u{1}javascript:alert(1)",
            "/relative",
            "//evil.example/",
            "",
        ] {
            let html = format!("<a href=\"{href}\">x</a>");
            assert_eq!(sanitize(&html), vec![a(None, vec![t("x")])], "{href}");
        }
        assert_eq!(
            sanitize("<a href=\" HTTPS://acme.example/\n\">x</a>"),
            vec![a(Some("https://acme.example/"), vec![t("x")])]
        );
        assert_eq!(sanitize("<svg onload=alert(1)>"), vec![]);
        assert_eq!(
            sanitize("<svg onload=alert(1)><b>x</b></svg>after"),
            vec![t("after")]
        );
        assert_eq!(sanitize("<svg><svg></svg><b>x</b></svg>y"), vec![t("y")]);
        assert_eq!(sanitize("<svg/onload=alert(1)>ok"), vec![]);
        assert_eq!(sanitize("<svg/>ok<math />!"), vec![t("ok!")]);
        assert_eq!(sanitize("<math><mi>x</mi></math>y"), vec![t("y")]);
        assert_eq!(
            sanitize("<p style=\"background:url(javascript:alert(1))\" class=x>hi</p>"),
            vec![el(Tag::P, vec![t("hi")])]
        );
        assert_eq!(
            sanitize("<a href=\"https://x\" onclick=\"alert(1)\" target=_blank>go</a>"),
            vec![a(Some("https://x"), vec![t("go")])]
        );
        assert_eq!(
            sanitize("<a onclick=alert(1) href=https://x>go</a>"),
            vec![a(Some("https://x"), vec![t("go")])]
        );
        assert_eq!(
            sanitize("<a href=\"https://ok\" href=\"javascript:alert(1)\">x</a>"),
            vec![a(Some("https://ok"), vec![t("x")])]
        );
        assert_eq!(
            sanitize("<iframe src=\"javascript:alert(1)\"><b>x</b></iframe>y"),
            vec![t("y")]
        );
        assert_eq!(sanitize("<object data=x><b>x</b></object>y"), vec![t("y")]);
        assert_eq!(sanitize("<embed src=x>y"), vec![t("y")]);
        assert_eq!(
            sanitize("<style>b{}</style><b>x</b>"),
            vec![el(Tag::B, vec![t("x")])]
        );
        assert_eq!(sanitize("<template><b>x</b></template>y"), vec![t("y")]);
        assert_eq!(sanitize("<noscript><b>x</b></noscript>y"), vec![t("y")]);
        assert_eq!(sanitize("<textarea><b>x</b></textarea>y"), vec![t("y")]);
        assert_eq!(sanitize("<title>t</title>y"), vec![t("y")]);
        // Escaped markup stays text (rendered as text, never parsed).
        assert_eq!(
            sanitize("&lt;script&gt;alert(1)&lt;/script&gt;"),
            vec![t("<script>alert(1)</script>")]
        );
        assert_eq!(
            sanitize("<scr<script>ipt>alert(1)</script>"),
            vec![t("ipt>alert(1)")]
        );
        assert_eq!(
            sanitize("<div onmouseover=alert(1)>text <custom-el x=1>more</custom-el></div>"),
            vec![t("text more")]
        );
        // An unfinished tag at the end is dropped.
        assert_eq!(sanitize("ok<a href=\"https://x"), vec![t("ok")]);
        assert_eq!(sanitize("ok<img src=x onerror=alert(1)"), vec![t("ok")]);
        assert_eq!(sanitize("ok</b"), vec![t("ok")]);
    }

    #[test]
    fn structure() {
        // Unclosed tags close at the end.
        assert_eq!(
            sanitize("<b>bold <i>both"),
            vec![el(Tag::B, vec![t("bold "), el(Tag::I, vec![t("both")])])]
        );
        // Stray close tags are ignored.
        assert_eq!(sanitize("a</b></p></div>b</br>"), vec![t("ab")]);
        // An end tag closes what was opened inside it.
        assert_eq!(
            sanitize("<b><i>x</b>y</i>"),
            vec![el(Tag::B, vec![el(Tag::I, vec![t("x")])]), t("y")]
        );
        // <p> closes <p>; <a> closes <a>.
        assert_eq!(
            sanitize("<p>one<p>two"),
            vec![el(Tag::P, vec![t("one")]), el(Tag::P, vec![t("two")])]
        );
        assert_eq!(
            sanitize("<a href=https://a>1<a href=https://b>2</a>"),
            vec![
                a(Some("https://a"), vec![t("1")]),
                a(Some("https://b"), vec![t("2")])
            ]
        );
        // Nesting is bounded.
        let deep = "<b>".repeat(100) + "x" + &"</b>".repeat(100) + "y";
        let nodes = sanitize(&deep);
        let mut depth = 0;
        let mut cur = &nodes[0];
        while let Node::Element { c, .. } = cur {
            depth += 1;
            cur = &c[0];
        }
        assert_eq!(depth, MAX_DEPTH);
        assert_eq!(cur, &t("x"));
        assert_eq!(nodes[1], t("y"));
        // Comments, doctype and processing instructions are dropped.
        assert_eq!(
            sanitize("<!doctype html><!-- <b>hidden</b> -->a<!---->b<!-->c<?xml x?>d<![CDATA[e]]>"),
            vec![t("abcd")]
        );
        assert_eq!(sanitize("a<!-- unterminated <b>x</b>"), vec![t("a")]);
        // A '<' that starts no tag is text.
        assert_eq!(sanitize("1 < 2 <3 a<>b </ x>c"), vec![t("1 < 2 <3 a<>b c")]);
        assert_eq!(sanitize("a</"), vec![t("a</")]);
    }

    #[test]
    fn entities() {
        assert_eq!(
            sanitize("&amp; &lt; &gt; &quot; &#39; &apos; &nbsp;|&#x41;&#66;&#X43;"),
            vec![t("& < > \" ' ' \u{a0}|ABC")]
        );
        assert_eq!(
            sanitize("&amp &lt &copy; &unknown; &#0; &#xD800; &#99999999; & x &#"),
            vec![t("& < &copy; &unknown; \u{fffd} \u{fffd} \u{fffd} & x &#")]
        );
        assert_eq!(
            sanitize("<b>caf&eacute; &AMP; &LT;</b>"),
            vec![el(Tag::B, vec![t("caf&eacute; & <")])]
        );
        // Legacy references in attributes.
        assert_eq!(
            sanitize("<a href=\"https://x/?a=1&lt=2&amp=3&ampx\">x</a>"),
            vec![a(Some("https://x/?a=1&lt=2&amp=3&ampx"), vec![t("x")])]
        );
    }

    #[test]
    fn plain_text_for_previews() {
        assert_eq!(
            plain_text(&sanitize("Our team is <b>online</b>")),
            "Our team is online"
        );
        assert_eq!(
            plain_text(&sanitize("<p>One</p><p>Two<br>three</p>")),
            "One\nTwo\nthree"
        );
        assert_eq!(plain_text(&sanitize("a<p>b</p>c<br>")), "a\nb\nc");
        assert_eq!(plain_text(&[]), "");
    }

    #[test]
    fn compact_serde() {
        let nodes = sanitize("Hi <a href=\"https://x\" title=t><b>there</b></a><br>");
        let json = serde_json::to_string(&nodes).unwrap();
        assert_eq!(
            json,
            r#"["Hi ",{"t":"a","h":"https://x","c":[{"t":"b","c":["there"]}]},{"t":"br"}]"#
        );
        let back: Vec<Node> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, nodes);
        assert!(serde_json::from_str::<Vec<Node>>(r#"[{"t":"script"}]"#).is_err());
    }
}
