//! SMS rules (SPEC §10), pure: how a text splits into segments, which placeholders a message may
//! use and how they are filled, which inbound texts are opt-out keywords, and which contacts an
//! audience selects. The server validates, freezes audiences and answers webhooks with these;
//! the console counts through `POST /sms/preview`, which calls [`segments`].

use crate::condition::eval_condition;
use crate::regexp::RegexEngine;
use serde::Serialize;
use serde_json::Value;

/// Characters of the GSM 03.38 default alphabet (one septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape septet plus one, so each counts two.
const GSM_EXTENDED: &str = "\u{000C}^{}\\[~]|€";

/// The most segments a campaign message may take (SPEC §10).
pub const MAX_SEGMENTS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

/// How a text goes over the air. `characters` counts what the limits count: septets for GSM-7
/// (an extension character is two), UTF-16 code units for UCS-2 (an emoji is two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segments {
    pub encoding: Encoding,
    pub characters: u32,
    pub segments: u32,
    pub characters_per_segment: u32,
}

fn gsm_units(c: char) -> Option<u32> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The segments of `text` as SMS gateways split it: GSM-7 when every character is in the default
/// alphabet or its extension table (160 in one message, 153 per part of a longer one), else
/// UCS-2 (70, and 67 per part). A part never ends between the two septets of an extension
/// character, nor between the two halves of a surrogate pair.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<Vec<u32>> = text.chars().map(gsm_units).collect();
    let (encoding, units, single, part) = match gsm {
        Some(units) => (Encoding::Gsm7, units, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(|c| c.len_utf16() as u32).collect(),
            70,
            67,
        ),
    };
    let characters: u32 = units.iter().sum();
    if characters <= single {
        return Segments {
            encoding,
            characters,
            segments: u32::from(characters > 0),
            characters_per_segment: single,
        };
    }
    // Greedy packing with indivisible units, as a gateway fills each part.
    let (mut parts, mut used) = (1u32, 0u32);
    for u in units {
        if used + u > part {
            parts += 1;
            used = 0;
        }
        used += u;
    }
    Segments {
        encoding,
        characters,
        segments: parts,
        characters_per_segment: part,
    }
}

/// One `{{…}}` of a message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Name,
    Id,
    Attribute(String),
}

/// A problem with a template: byte offset of the placeholder and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub offset: usize,
    pub message: String,
}

/// A piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Field(Placeholder, Option<&'a str>),
}

fn parse_placeholder(inner: &str) -> Result<(Placeholder, Option<&str>), String> {
    let (field, fallback) = match inner.split_once('|') {
        Some((f, d)) => (f.trim(), Some(d.trim())),
        None => (inner.trim(), None),
    };
    let p = match field {
        "name" => Placeholder::Name,
        "id" => Placeholder::Id,
        _ => match field.strip_prefix("attributes.") {
            Some(key)
                if !key.is_empty()
                    && key.split('.').all(|k| {
                        !k.is_empty()
                            && k.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    }) =>
            {
                Placeholder::Attribute(key.to_owned())
            }
            _ => {
                return Err(format!(
                    "unknown placeholder {{{{{field}}}}}: use {{{{name}}}}, {{{{id}}}} or {{{{attributes.<key>}}}}"
                ))
            }
        },
    };
    Ok((p, fallback))
}

fn parse_template(template: &str) -> (Vec<Piece<'_>>, Vec<TemplateProblem>) {
    let mut pieces = Vec::new();
    let mut problems = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            problems.push(TemplateProblem {
                offset: offset + open,
                message: "\"{{\" is not closed by \"}}\"".into(),
            });
            pieces.push(Piece::Text(&rest[open..]));
            return (pieces, problems);
        };
        match parse_placeholder(&after[..close]) {
            Ok((p, d)) => pieces.push(Piece::Field(p, d)),
            Err(message) => problems.push(TemplateProblem {
                offset: offset + open,
                message,
            }),
        }
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    (pieces, problems)
}

/// Every problem in a message template (unknown placeholder, unclosed braces).
pub fn check_template(template: &str) -> Vec<TemplateProblem> {
    parse_template(template).1
}

/// The placeholders a template uses.
pub fn placeholders(template: &str) -> Vec<Placeholder> {
    parse_template(template)
        .0
        .into_iter()
        .filter_map(|p| match p {
            Piece::Field(f, _) => Some(f),
            Piece::Text(_) => None,
        })
        .collect()
}

/// What a contact offers to a template.
pub struct Recipient<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub attributes: &'a Value,
}

fn attribute_text(attributes: &Value, key: &str) -> Option<String> {
    let mut v = attributes;
    for k in key.split('.') {
        v = v.get(k)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Fills `{{name}}`, `{{id}}` and `{{attributes.x}}`; `{{name | there}}` gives a fallback for a
/// missing or empty value (else it becomes empty). An invalid placeholder stays as written (the
/// server refuses such templates at upload).
pub fn render(template: &str, r: &Recipient<'_>) -> String {
    let (pieces, _) = parse_template(template);
    let mut out = String::with_capacity(template.len() + 16);
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f, fallback) => {
                let v = match f {
                    Placeholder::Name => r.name.map(str::to_owned),
                    Placeholder::Id => Some(r.id.to_owned()),
                    Placeholder::Attribute(k) => attribute_text(r.attributes, &k),
                };
                match v.filter(|s| !s.trim().is_empty()) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(fallback.unwrap_or("")),
                }
            }
        }
    }
    out
}

/// What an inbound text asks for, when it is a keyword alone in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
}

/// SPEC §10's keywords, any case, alone in the message (surrounding white space and a final
/// `.` or `!` ignored).
pub fn keyword(text: &str) -> Option<Keyword> {
    let t = text.trim().trim_end_matches(['.', '!']).trim();
    if t.len() > 11 {
        return None;
    }
    let t = t.to_ascii_uppercase();
    match t.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Keyword::Stop),
        "START" | "UNSTOP" | "YES" => Some(Keyword::Start),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// An SMS campaign's audience: tags (any of / none of) and a GrowthBook condition over the
/// contact (`id`, `name`, `phone`, `tags`, `timezone`, `consent` and its attributes at the top
/// level, the attributes also under `attributes`).
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub any: Vec<String>,
    pub none: Vec<String>,
    pub condition: Option<Value>,
}

impl Audience {
    pub fn matches(&self, tags: &[String], fields: &Value, regex: &dyn RegexEngine) -> bool {
        if !self.any.is_empty() && !self.any.iter().any(|t| tags.contains(t)) {
            return false;
        }
        if self.none.iter().any(|t| tags.contains(t)) {
            return false;
        }
        match &self.condition {
            Some(c) => eval_condition(fields, c, regex),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gsm_single_and_parts() {
        let s = segments(&"a".repeat(160));
        assert_eq!(
            (s.encoding, s.characters, s.segments),
            (Encoding::Gsm7, 160, 1)
        );
        assert_eq!(s.characters_per_segment, 160);
        let s = segments(&"a".repeat(161));
        assert_eq!((s.segments, s.characters_per_segment), (2, 153));
        assert_eq!(segments(&"a".repeat(306)).segments, 2);
        assert_eq!(segments(&"a".repeat(307)).segments, 3);
        assert_eq!(segments("").segments, 0);
    }

    #[test]
    fn extension_characters_count_two_and_are_not_split() {
        let s = segments("price: 5€ [net]");
        assert_eq!((s.encoding, s.characters), (Encoding::Gsm7, 18));
        assert_eq!(segments(&"€".repeat(80)).segments, 1);
        assert_eq!(segments(&"€".repeat(81)).segments, 2);
        // 152 septets then an escape pair: the pair goes whole into part two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let s = segments(&text);
        assert_eq!((s.characters, s.segments), (164, 2));
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&text).segments, 3);
    }

    #[test]
    fn ucs2_when_any_character_is_outside_gsm() {
        let s = segments("Привет");
        assert_eq!(
            (s.encoding, s.characters, s.segments),
            (Encoding::Ucs2, 6, 1)
        );
        assert_eq!(segments(&"я".repeat(70)).segments, 1);
        let s = segments(&"я".repeat(71));
        assert_eq!((s.segments, s.characters_per_segment), (2, 67));
        // An emoji is a surrogate pair: two units, never split.
        let s = segments(&format!("{}😀", "я".repeat(66)));
        assert_eq!((s.characters, s.segments), (68, 1));
        let s = segments(&format!("{}😀{}", "я".repeat(66), "я".repeat(10)));
        assert_eq!((s.characters, s.segments), (78, 2));
        // ç is not in GSM-7 (only Ç is).
        assert_eq!(segments("ça va").encoding, Encoding::Ucs2);
    }

    #[test]
    fn placeholders_fill_and_fall_back() {
        let attrs = json!({"city": "Leeds", "tier": {"level": 2}});
        let r = Recipient {
            id: "c-1",
            name: Some("Ana"),
            attributes: &attrs,
        };
        assert_eq!(
            render(
                "Hi {{name}} ({{ id }}) in {{attributes.city}} L{{attributes.tier.level}}",
                &r
            ),
            "Hi Ana (c-1) in Leeds L2"
        );
        let r = Recipient {
            id: "c-2",
            name: None,
            attributes: &attrs,
        };
        assert_eq!(render("Hi {{name | there}}!", &r), "Hi there!");
        assert_eq!(render("Hi {{name}}!", &r), "Hi !");
        assert_eq!(render("{{attributes.none}}x", &r), "x");
        assert!(check_template("Hi {{name}} {{attributes.city}}").is_empty());
        let p = check_template("Hi {{first_name}} and {{name");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].offset, 3);
        assert!(p[0].message.contains("unknown placeholder"), "{:?}", p);
        assert!(p[1].message.contains("not closed"), "{:?}", p);
        assert_eq!(placeholders("{{name}}{{attributes.a}}").len(), 2);
    }

    #[test]
    fn keywords_alone_in_any_case() {
        assert_eq!(keyword("stop"), Some(Keyword::Stop));
        assert_eq!(keyword("  Unsubscribe. "), Some(Keyword::Stop));
        assert_eq!(keyword("STOPALL"), Some(Keyword::Stop));
        assert_eq!(keyword("quit!"), Some(Keyword::Stop));
        assert_eq!(keyword("Start"), Some(Keyword::Start));
        assert_eq!(keyword("yes"), Some(Keyword::Start));
        assert_eq!(keyword("info"), Some(Keyword::Help));
        assert_eq!(keyword("please stop"), None);
        assert_eq!(keyword("stop it"), None);
        assert_eq!(keyword("I want to cancel my order"), None);
        assert_eq!(keyword(""), None);
    }

    #[test]
    fn audience_tags_and_condition() {
        let rx = crate::regexp::NativeRegex::new();
        let a = Audience {
            any: vec!["vip".into(), "new".into()],
            none: vec!["churned".into()],
            condition: Some(json!({"city": "Leeds"})),
        };
        let leeds = json!({"city": "Leeds"});
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(a.matches(&tags(&["vip"]), &leeds, &rx));
        assert!(!a.matches(&tags(&["vip", "churned"]), &leeds, &rx));
        assert!(!a.matches(&tags(&["other"]), &leeds, &rx));
        assert!(!a.matches(&tags(&["new"]), &json!({"city": "York"}), &rx));
        assert!(Audience::default().matches(&[], &json!({}), &rx));
    }
}
