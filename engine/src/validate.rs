//! Upload-time checks of the campaign document (SPEC §3): every problem, each with its JSON path
//! and a message a marketer understands.
//!
//! Two stages:
//! - [`parse_document`] turns text into a [`Document`], reporting every structural problem
//!   (JSON syntax, duplicate keys, wrong types, unknown or missing fields). Each campaign, each
//!   engagement, each skill, each special occasion and each library item is read on its own, so
//!   one upload with three broken campaigns reports three problems.
//! - [`validate`] checks the meaning of a parsed document (ids, ranges, references, URL patterns,
//!   regular expressions, combinations of fields) and sorts what it finds into errors (the upload
//!   is refused) and warnings (accepted, but probably not what was meant).
//!
//! Paths use the `campaigns[2].engagements[0].refresh_seconds` form; `""` is the document root.

use crate::condition::check_condition;
use crate::model::{
    Behavior, Campaign, Channel, Creative, CreativeSet, Document, Engagement, EntryPoint, Format,
    Kind, Library, Matcher, PageMatcher, Skill, Source, SpecialOccasion, Style, Timeframe,
    WeeklyWindow, Zone, NESTED_PATH_MARK,
};
use crate::regexp::NativeRegex;
use crate::schedule::{format_instant, parse_date, parse_hhmm, parse_instant, parse_timezone};
use crate::urlmatch;
use crate::Millis;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

// ---------------------------------------------------------------------------------------------
// Limits

/// Longest document text accepted by [`parse_document`].
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_CAMPAIGNS: usize = 20_000;
pub const MAX_ENGAGEMENTS_PER_CAMPAIGN: usize = 50;
pub const MAX_SKILLS: usize = 1_000;
/// Per library category.
pub const MAX_LIBRARY_ITEMS: usize = 10_000;
pub const MAX_SPECIAL_OCCASIONS: usize = 1_000;
/// Per weekly schedule (business hours, a timeframe's weekly list, a library schedule).
pub const MAX_WINDOWS: usize = 50;
/// Per `include` or `exclude` list of an entry point.
pub const MAX_MATCHERS: usize = 100;
/// Errors (and, separately, warnings) reported at most; one more line says how many were left out.
pub const MAX_PROBLEMS: usize = 500;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 2_000;
pub const MAX_CTA_CHARS: usize = 80;
/// Names of campaigns, engagements, skills, special occasions and senders; campaign goals.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
pub const MAX_AGENT_NOTE_CHARS: usize = 1_000;
pub const MAX_STYLE_CHARS: usize = 100;
pub const MAX_URL_CHARS: usize = 2_048;
pub const MAX_MATCHER_CHARS: usize = 2_048;
/// Longest time accepted in `behavior` and `skills[].max_wait_seconds`: one day.
pub const MAX_SECONDS: u32 = 86_400;
pub const MAX_PRIORITY: i32 = 1_000_000;
pub const MAX_VISIT_IDLE_MINUTES: u32 = 1_440;
pub const MAX_ATTRIBUTION_DAYS: u32 = 365;
/// The values `refresh_seconds` may take.
pub const REFRESH_SECONDS: [u32; 8] = [30, 60, 90, 120, 150, 180, 240, 300];
/// Placeholders allowed in `settings.conversation_url`.
pub const CONVERSATION_URL_PLACEHOLDERS: [&str; 4] = ["site", "engagement", "skill", "language"];
/// Substrings (compared case-insensitively) that make a `style` value more than a plain CSS value.
pub const STYLE_FORBIDDEN: [&str; 10] = [
    "url(",
    "expression(",
    ";",
    "{",
    "}",
    "<",
    ">",
    "\\",
    "@import",
    "javascript:",
];

// ---------------------------------------------------------------------------------------------
// Results

/// One problem: where (`campaigns[2].engagements[0].refresh_seconds`, `""` for the document root)
/// and what, in words for the person who wrote the document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// What [`validate`] found: errors refuse the upload, warnings do not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Validation {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Validation {
    /// No errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

/// `a` + `b` as a path: `a.b`, or `a[0]` when `b` is an index; either may be empty.
fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else if b.is_empty() {
        a.to_owned()
    } else if b.starts_with('[') {
        format!("{a}{b}")
    } else {
        format!("{a}.{b}")
    }
}

/// Keeps at most [`MAX_PROBLEMS`], saying how many more there were.
fn cap(mut problems: Vec<Problem>) -> Vec<Problem> {
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(problem(
            "",
            format!("… and {more} more like these, not listed"),
        ));
    }
    problems
}

/// A value quoted for a message, shortened when long.
fn quote(s: &str) -> String {
    const SHOWN: usize = 60;
    if s.chars().count() > SHOWN {
        let head: String = s.chars().take(SHOWN).collect();
        format!("\"{head}…\"")
    } else {
        format!("\"{s}\"")
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parses JSON text into a [`Document`], reporting every structural problem found, not just the
/// first: syntax (with line and column), duplicate keys, wrong types, unknown and missing fields.
pub fn parse_document(text: &str) -> Result<Document, Vec<Problem>> {
    parse_parts(text).map_err(|(problems, _)| problems)
}

/// Like [`parse_document`], and when the document has structural problems, also the rule
/// problems of what could be read (the offending fields left out), so an upload reports every
/// problem at once: `{"colour": …, "refresh_seconds": 45}` gets both the unknown field and the
/// refresh interval. A rule problem at (or under) a path that already has a structural problem
/// is a consequence of it and is not repeated.
pub fn check_document(text: &str, now: Millis) -> Result<Document, Vec<Problem>> {
    match parse_parts(text) {
        Ok(doc) => Ok(doc),
        Err((mut problems, Some(partial))) => {
            let covered: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
            let under = |path: &str, root: &str| {
                root.is_empty()
                    || path == root
                    || path
                        .strip_prefix(root)
                        .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
            };
            for p in validate(&partial, now).errors {
                if !covered
                    .iter()
                    .any(|c| under(&p.path, c) || under(c, &p.path))
                {
                    problems.push(p);
                }
            }
            Err(cap(problems))
        }
        Err((problems, None)) => Err(problems),
    }
}

/// The parse itself: the document, or every structural problem and what could be read.
fn parse_parts(text: &str) -> Result<Document, (Vec<Problem>, Option<Box<Document>>)> {
    if text.len() > MAX_DOCUMENT_BYTES {
        let msg = format!(
            "the document is {} bytes long: at most {MAX_DOCUMENT_BYTES} bytes (16 MiB) are allowed",
            text.len()
        );
        return Err((vec![problem("", msg)], None));
    }
    let mut problems = duplicate_keys(text);
    // Fast path: a well-formed document parses in one typed pass. Only when that fails is it
    // taken apart piece by piece, so that every problem is reported, not just the first.
    if problems.is_empty() {
        if let Ok(doc) = serde_json::from_str::<Document>(text) {
            return Ok(doc);
        }
    }
    let value: Value = serde_json::from_str(text).map_err(|e| (vec![syntax_problem(&e)], None))?;
    let Value::Object(mut top) = value else {
        let msg = format!(
            "the document must be a JSON object {{…}}, found {}",
            describe(&value)
        );
        return Err((vec![problem("", msg)], None));
    };
    let campaigns = top.remove("campaigns");
    let skills = top.remove("skills");
    let occasions = top.remove("special_occasions");
    let library = top.remove("library");
    let doc = parse_struct::<Document>(Value::Object(top), "", &mut problems);
    let campaigns = parse_list(campaigns, "campaigns", &mut problems, parse_campaign);
    let skills = parse_list(skills, "skills", &mut problems, parse_struct::<Skill>);
    let occasions = parse_list(occasions, "special_occasions", &mut problems, parse_struct);
    let library = library.map(|v| parse_library(v, &mut problems));
    let doc = doc.map(|mut doc| {
        doc.campaigns = campaigns;
        doc.skills = skills;
        doc.special_occasions = occasions;
        doc.library = library.unwrap_or_default();
        doc
    });
    match doc {
        Some(doc) if problems.is_empty() => Ok(doc),
        partial => Err((cap(problems), partial.map(Box::new))),
    }
}

fn syntax_problem(e: &serde_json::Error) -> Problem {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    let msg = format!(
        "the document is not valid JSON: {what} (line {}, column {})",
        e.line(),
        e.column()
    );
    problem("", msg)
}

/// Deserializes one object, reporting every field in error: after each error the offending
/// field is removed and the object read again.
fn parse_struct<T: DeserializeOwned>(
    mut value: Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    loop {
        let err = match serde_path_to_error::deserialize::<_, T>(&value) {
            // With fields removed the value is partial: the caller reports the problems and
            // uses it only to check the rules of what was read.
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let message = err.inner().to_string();
        let outer = err.path().to_string();
        let first = match err.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => unknown_field(&message).map(str::to_owned),
        };
        if let (None, Some(field)) = (&first, missing_field(&message)) {
            if removed.iter().any(|r| r == field) {
                return None; // a consequence of an error already reported
            }
        }
        problems.push(structural_problem(path, &outer, &message));
        let gone = match (&first, &mut value) {
            (Some(key), Value::Object(map)) => map.remove(key).is_some(),
            _ => false,
        };
        match first {
            Some(key) if gone => removed.push(key),
            _ => return None,
        }
    }
}

/// A list read element by element; `None` (the field left out) is an empty list.
fn parse_list<T>(
    value: Option<Value>,
    path: &str,
    problems: &mut Vec<Problem>,
    parse: impl Fn(Value, &str, &mut Vec<Problem>) -> Option<T>,
) -> Vec<T> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| parse(v, &format!("{path}[{i}]"), problems))
            .collect(),
        Some(other) => {
            problems.push(problem(
                path,
                format!("expected a list […], found {}", describe(&other)),
            ));
            Vec::new()
        }
    }
}

/// A campaign: its engagements one by one, then the rest.
fn parse_campaign(mut value: Value, path: &str, problems: &mut Vec<Problem>) -> Option<Campaign> {
    let engagements = match &mut value {
        Value::Object(map) => map.remove("engagements"),
        _ => None,
    };
    let engagements = parse_list(
        engagements,
        &join(path, "engagements"),
        problems,
        parse_struct::<Engagement>,
    );
    let mut campaign = parse_struct::<Campaign>(value, path, problems)?;
    campaign.engagements = engagements;
    Some(campaign)
}

const LIBRARY_CATEGORIES: [&str; 5] = [
    "audiences",
    "entry_points",
    "behaviors",
    "creatives",
    "schedules",
];

/// The library, item by item.
fn parse_library(value: Value, problems: &mut Vec<Problem>) -> Library {
    let mut lib = Library::default();
    let Value::Object(map) = value else {
        let msg = format!("expected an object {{…}}, found {}", describe(&value));
        problems.push(problem("library", msg));
        return lib;
    };
    for (category, items) in map {
        let path = join("library", &category);
        match category.as_str() {
            "audiences" => lib.audiences = parse_named(items, &path, problems, |v, _, _| Some(v)),
            "entry_points" => lib.entry_points = parse_named(items, &path, problems, parse_struct),
            "behaviors" => lib.behaviors = parse_named(items, &path, problems, parse_struct),
            "creatives" => lib.creatives = parse_named(items, &path, problems, parse_struct),
            "schedules" => {
                lib.schedules = parse_named(items, &path, problems, |v, p, pr| {
                    Some(parse_list(Some(v), p, pr, parse_struct::<WeeklyWindow>))
                })
            }
            _ => problems.push(problem(
                path,
                unknown_message(&category, &LIBRARY_CATEGORIES),
            )),
        }
    }
    lib
}

/// One library category: an object of named items.
fn parse_named<T>(
    value: Value,
    path: &str,
    problems: &mut Vec<Problem>,
    parse: impl Fn(Value, &str, &mut Vec<Problem>) -> Option<T>,
) -> BTreeMap<String, T> {
    let Value::Object(map) = value else {
        let msg = format!(
            "expected an object of named items {{…}}, found {}",
            describe(&value)
        );
        problems.push(problem(path, msg));
        return BTreeMap::new();
    };
    map.into_iter()
        .filter_map(|(name, v)| {
            let item = parse(v, &join(path, &name), problems)?;
            Some((name, item))
        })
        .collect()
}

/// A serde error as a problem: the nested path of an `OrRef` spliced on, the message rewritten.
fn structural_problem(prefix: &str, outer: &str, message: &str) -> Problem {
    let outer = if outer == "." { "" } else { outer };
    let mut path = join(prefix, outer);
    let mut message = message;
    while let Some(rest) = message.strip_prefix(NESTED_PATH_MARK) {
        let Some((nested, inner)) = rest.split_once(": ") else {
            break;
        };
        path = join(&path, nested);
        message = inner;
    }
    if let Some(field) = missing_field(message) {
        return problem(join(&path, field), format!("\"{field}\" is required here"));
    }
    if let Some(field) = unknown_field(message) {
        if !path.ends_with(field) {
            path = join(&path, field);
        }
    }
    problem(path, friendly(message))
}

/// The text between the first pair of backquotes after `prefix`.
fn backquoted<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

fn missing_field(message: &str) -> Option<&str> {
    backquoted(message, "missing field `")
}

fn unknown_field(message: &str) -> Option<&str> {
    backquoted(message, "unknown field `")
}

/// Serde's wording rewritten for people: no backquotes, no Rust type names.
fn friendly(message: &str) -> String {
    if let Some(field) = unknown_field(message) {
        return unknown_message(field, &expected_names(message));
    }
    if let Some(variant) = backquoted(message, "unknown variant `") {
        let expected = expected_names(message);
        let hint = suggestion(variant, &expected);
        return format!(
            "\"{variant}\" is not a valid choice{hint}: use {}",
            or_list(&expected)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!(
                "expected {}, found {}",
                expected_text(expected),
                found_text(found)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!(
                "{} is out of range: expected {}",
                found_text(found),
                expected_text(expected)
            );
        }
    }
    message.replace('`', "\"")
}

/// The backquoted names after "expected" in a serde message.
fn expected_names(message: &str) -> Vec<&str> {
    let Some((_, list)) = message.split_once("expected") else {
        return Vec::new();
    };
    list.split('`').skip(1).step_by(2).collect()
}

fn unknown_message(field: &str, expected: &[&str]) -> String {
    if expected.is_empty() {
        return format!("unknown field \"{field}\": this object takes no fields");
    }
    let hint = suggestion(field, expected);
    format!(
        "unknown field \"{field}\"{hint}; the fields allowed here are {}",
        expected.join(", ")
    )
}

fn or_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.split_last() {
        None => "something else".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// ` (did you mean "x"?)` when one expected name is close to what was written.
fn suggestion(written: &str, expected: &[&str]) -> String {
    if written.len() > 64 {
        return String::new();
    }
    expected
        .iter()
        .map(|e| (edit_distance(written, e), *e))
        .filter(|(d, e)| *d <= 2 && d * 3 <= written.len().max(e.len()))
        .min()
        .map(|(_, e)| format!(" (did you mean \"{e}\"?)"))
        .unwrap_or_default()
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbours each count 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn expected_text(expected: &str) -> String {
    let s = match expected {
        "u32" => "a whole number from 0 to 4294967295",
        "u64" => "a whole number of 0 or more",
        "i32" => "a whole number from -2147483648 to 2147483647",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        "a string" => "text in double quotes",
        "a sequence" => "a list […]",
        "a map" => "an object {…}",
        other if other.starts_with("struct ") => "an object {…}",
        "string or map" => "one of the allowed values, in double quotes",
        other if other.starts_with("enum ") => "one of the allowed values, in double quotes",
        other => return other.replace('`', "\""),
    };
    s.to_owned()
}

fn found_text(found: &str) -> String {
    let unquote = |s: &str| s.trim_matches('`').to_owned();
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the text {s}");
    }
    for prefix in ["integer ", "floating point "] {
        if let Some(n) = found.strip_prefix(prefix) {
            return format!("the number {}", unquote(n));
        }
    }
    match found {
        "sequence" => "a list".to_owned(),
        "map" => "an object".to_owned(),
        "unit value" | "null" => "null".to_owned(),
        other => other
            .strip_prefix("boolean ")
            .map_or_else(|| other.to_owned(), unquote),
    }
}

/// What a JSON value is, for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text {}", quote(s)),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Keys that appear twice in one object (JSON readers silently keep the last one).
fn duplicate_keys(text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    // Syntax errors were reported already.
    let _ = KeyWalk {
        at: &Seg::Root,
        out: &mut out,
    }
    .deserialize(&mut de);
    out
}

/// Where [`KeyWalk`] is, as a chain to the root: a path is only built for a problem.
enum Seg<'p> {
    Root,
    Key(&'p Seg<'p>, &'p str),
    Index(&'p Seg<'p>, usize),
}

impl Seg<'_> {
    fn path(&self) -> String {
        match self {
            Seg::Root => String::new(),
            Seg::Key(parent, key) => join(&parent.path(), key),
            Seg::Index(parent, i) => format!("{}[{i}]", parent.path()),
        }
    }
}

struct KeyWalk<'p> {
    at: &'p Seg<'p>,
    out: &'p mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for KeyWalk<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// An object key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for KeyWalk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for i in 0.. {
            let at = Seg::Index(self.at, i);
            let walk = KeyWalk {
                at: &at,
                out: &mut *self.out,
            };
            if seq.next_element_seed(walk)?.is_none() {
                break;
            }
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // A list for the usual small objects, a set for big ones.
        let mut few: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let at = Seg::Key(self.at, &key);
            if few.contains(&key) || many.contains(&key) {
                let msg = format!("\"{key}\" appears more than once in this object: keep only one");
                self.out.push(problem(at.path(), msg));
            }
            let walk = KeyWalk {
                at: &at,
                out: &mut *self.out,
            };
            map.next_value_seed(walk)?;
            if few.len() < 16 {
                few.push(key);
            } else {
                many.insert(key);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Semantic checks on a parsed document: every problem, errors vs warnings, each with its JSON
/// path. `now` (ms since the epoch) is for warnings such as "the timeframe has ended".
pub fn validate(doc: &Document, now: Millis) -> Validation {
    let mut v = Validator {
        doc,
        now,
        out: Validation::default(),
        engagements: HashMap::new(),
        used_skills: HashSet::new(),
        used_refs: HashSet::new(),
    };
    v.limits();
    v.id("site", &doc.site);
    v.settings();
    v.schedule();
    v.skills();
    v.engagement_ids();
    v.library();
    v.campaigns();
    v.unused();
    Validation {
        errors: cap(v.out.errors),
        warnings: cap(v.out.warnings),
    }
}

/// The library categories `{"ref": …}` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Category {
    Audience,
    EntryPoint,
    Behavior,
    Creative,
    Schedule,
}

impl Category {
    const ALL: [Category; 5] = [
        Category::Audience,
        Category::EntryPoint,
        Category::Behavior,
        Category::Creative,
        Category::Schedule,
    ];

    fn label(self) -> &'static str {
        match self {
            Category::Audience => "audience",
            Category::EntryPoint => "entry point",
            Category::Behavior => "behavior",
            Category::Creative => "creative",
            Category::Schedule => "schedule",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Category::Audience => "audiences",
            Category::EntryPoint => "entry_points",
            Category::Behavior => "behaviors",
            Category::Creative => "creatives",
            Category::Schedule => "schedules",
        }
    }

    fn names(self, lib: &Library) -> Vec<&String> {
        match self {
            Category::Audience => lib.audiences.keys().collect(),
            Category::EntryPoint => lib.entry_points.keys().collect(),
            Category::Behavior => lib.behaviors.keys().collect(),
            Category::Creative => lib.creatives.keys().collect(),
            Category::Schedule => lib.schedules.keys().collect(),
        }
    }
}

struct Validator<'a> {
    doc: &'a Document,
    now: Millis,
    out: Validation,
    /// Engagement id → path of the engagement that declares it first.
    engagements: HashMap<&'a str, String>,
    used_skills: HashSet<&'a str>,
    used_refs: HashSet<(Category, &'a str)>,
}

impl<'a> Validator<'a> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.errors.push(problem(path, message));
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.warnings.push(problem(path, message));
    }

    // --- small shared checks ------------------------------------------------------------------

    /// `[a-z0-9][a-z0-9-_]{0,63}`.
    fn id(&mut self, path: &str, id: &str) {
        let mut chars = id.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !(first_ok && rest_ok && id.len() <= 64) {
            let msg = format!(
                "{} is not a valid id: use 1 to 64 lowercase letters, digits, \"-\" or \"_\", \
                 starting with a letter or a digit (e.g. \"summer-sale\")",
                quote(id)
            );
            self.error(path, msg);
        }
    }

    fn text(&mut self, path: &str, text: Option<&str>, max: usize) {
        let Some(text) = text else { return };
        let n = text.chars().count();
        if n > max {
            self.error(
                path,
                format!("{n} characters long: at most {max} are allowed"),
            );
        }
    }

    /// An absolute `http://` or `https://` address.
    fn http_url(&mut self, path: &str, url: Option<&str>) {
        let Some(url) = url else { return };
        if let Some(msg) = http_url_problem(url) {
            self.error(path, msg);
        }
    }

    fn percent(&mut self, path: &str, value: f64, what: &str) {
        if !(value.is_finite() && (0.0..=100.0).contains(&value)) {
            self.error(
                path,
                format!("{value} is not a percentage: use a number from 0 to 100"),
            );
        } else if value == 100.0 {
            let msg =
                format!("100: every visitor is in the control group, so {what} will never show");
            self.warn(path, msg);
        }
    }

    fn range(&mut self, path: &str, value: u32, min: u32, max: u32, unit: &str) {
        if !(min..=max).contains(&value) {
            self.error(
                path,
                format!("{value} is out of range: use {min} to {max} {unit}"),
            );
        }
    }

    /// Marks a `{"ref": name}` as used and reports it when the library has no such item.
    fn reference(&mut self, path: &str, category: Category, name: &'a str, exists: bool) {
        if exists {
            self.used_refs.insert((category, name));
            return;
        }
        let names = category.names(&self.doc.library);
        let known = if names.is_empty() {
            format!("library.{} is empty", category.key())
        } else {
            let list: Vec<String> = names.iter().take(20).map(|n| format!("\"{n}\"")).collect();
            format!("the library has {}", list.join(", "))
        };
        self.error(
            path,
            format!("no library {} named \"{name}\" ({known})", category.label()),
        );
    }

    /// The item an inline-or-`ref` slot stands for (`None` for a dangling ref, reported).
    fn resolve<T>(
        &mut self,
        path: &str,
        category: Category,
        slot: &'a crate::model::OrRef<T>,
        items: &'a BTreeMap<String, T>,
    ) -> Option<&'a T> {
        match slot {
            crate::model::OrRef::Inline(item) => Some(item),
            crate::model::OrRef::Ref(name) => {
                let item = items.get(name);
                self.reference(path, category, name, item.is_some());
                item
            }
        }
    }

    // --- sections ---------------------------------------------------------------------------------

    fn limits(&mut self) {
        let doc = self.doc;
        let counts = [
            ("campaigns", doc.campaigns.len(), MAX_CAMPAIGNS, "campaigns"),
            ("skills", doc.skills.len(), MAX_SKILLS, "skills"),
            (
                "special_occasions",
                doc.special_occasions.len(),
                MAX_SPECIAL_OCCASIONS,
                "special occasions",
            ),
        ];
        for (path, n, max, what) in counts {
            if n > max {
                self.error(
                    path,
                    format!("{n} {what}: a document may have at most {max}"),
                );
            }
        }
        for category in Category::ALL {
            let n = category.names(&doc.library).len();
            if n > MAX_LIBRARY_ITEMS {
                let msg =
                    format!("{n} items: a library category may have at most {MAX_LIBRARY_ITEMS}");
                self.error(join("library", category.key()), msg);
            }
        }
        for (i, c) in doc.campaigns.iter().enumerate() {
            if c.engagements.len() > MAX_ENGAGEMENTS_PER_CAMPAIGN {
                let msg = format!(
                    "{} engagements: a campaign may have at most {MAX_ENGAGEMENTS_PER_CAMPAIGN}",
                    c.engagements.len()
                );
                self.error(format!("campaigns[{i}].engagements"), msg);
            }
        }
    }

    fn settings(&mut self) {
        let s = &self.doc.settings;
        let caps = [
            ("conversation", s.displays_per_visit.conversation),
            ("content", s.displays_per_visit.content),
        ];
        for (kind, cap) in caps {
            if cap == Some(0) {
                let msg = format!(
                    "0: no proactive {kind} engagement will ever show; use null for no limit"
                );
                self.warn(format!("settings.displays_per_visit.{kind}"), msg);
            }
        }
        self.percent(
            "settings.control_group_percent",
            s.control_group_percent,
            "nothing",
        );
        self.range(
            "settings.visit_idle_minutes",
            s.visit_idle_minutes,
            1,
            MAX_VISIT_IDLE_MINUTES,
            "minutes",
        );
        self.range(
            "settings.attribution_days",
            s.attribution_days,
            1,
            MAX_ATTRIBUTION_DAYS,
            "days",
        );
        if let Some(inactive) = &s.inactive_engagement {
            self.http_url(
                "settings.inactive_engagement.redirect_url",
                Some(&inactive.redirect_url),
            );
        }
        if let Some(url) = &s.conversation_url {
            self.http_url("settings.conversation_url", Some(url));
            if let Some(msg) = placeholder_problem(url) {
                self.error("settings.conversation_url", msg);
            }
        }
        let c = &s.currency;
        if !(c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase())) {
            let msg = format!(
                "{} is not a currency code: use three capital letters (ISO 4217), e.g. USD or EUR",
                quote(c)
            );
            self.error("settings.currency", msg);
        }
        if let Some(c) = &s.default_country {
            if !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase())) {
                let msg = format!(
                    "{} is not a country code: use two capital letters (ISO 3166 alpha-2), e.g. GB or US",
                    quote(c)
                );
                self.error("settings.default_country", msg);
            }
        }
        if let Some(w) = &s.conversation_webhook {
            self.http_url("settings.conversation_webhook.url", Some(&w.url));
            if w.secret.len() < 16 || w.secret.len() > 256 {
                self.error(
                    "settings.conversation_webhook.secret",
                    "the signing secret must be 16 to 256 characters long",
                );
            }
        }
    }

    fn schedule(&mut self) {
        let doc = self.doc;
        if let Err(msg) = parse_timezone(&doc.timezone) {
            self.error("timezone", msg);
        }
        if let Some(slot) = &doc.business_hours {
            if let crate::model::OrRef::Inline(windows) = slot {
                self.windows("business_hours", windows);
            }
            self.resolve(
                "business_hours",
                Category::Schedule,
                slot,
                &doc.library.schedules,
            );
        }
        let mut dates: HashMap<&str, usize> = HashMap::new();
        for (i, o) in doc.special_occasions.iter().enumerate() {
            let path = format!("special_occasions[{i}]");
            if let Some(first) = dates.insert(&o.date, i) {
                let msg = format!(
                    "{} is already listed at special_occasions[{first}]",
                    quote(&o.date)
                );
                self.error(join(&path, "date"), msg);
            }
            self.occasion(&path, o);
        }
    }

    fn occasion(&mut self, path: &str, o: &SpecialOccasion) {
        if let Err(msg) = parse_date(&o.date) {
            self.error(join(path, "date"), msg);
        }
        self.text(&join(path, "name"), o.name.as_deref(), MAX_NAME_CHARS);
        if o.closed {
            for (field, v) in [("from", &o.from), ("to", &o.to)] {
                if v.is_some() {
                    let msg = format!(
                        "a closed day has no opening hours: remove \"{field}\" or \"closed\""
                    );
                    self.error(join(path, field), msg);
                }
            }
            return;
        }
        match (&o.from, &o.to) {
            (Some(from), Some(to)) => self.hours(path, from, to),
            _ => {
                let msg = "give either \"closed\": true or both \"from\" and \"to\" (HH:MM)";
                self.error(path, msg);
            }
        }
    }

    /// `from`–`to` of a window or an occasion: valid HH:MM, not the same (overnight is fine).
    fn hours(&mut self, path: &str, from: &str, to: &str) {
        let f = parse_hhmm(from).map_err(|m| self.error(join(path, "from"), m));
        let t = parse_hhmm(to).map_err(|m| self.error(join(path, "to"), m));
        if f == Ok(1440) {
            self.error(
                join(path, "from"),
                "a window cannot start at 24:00: use 00:00 of the next day",
            );
        } else if f.is_ok() && f == t {
            let msg = format!(
                "\"from\" and \"to\" are both {from}: the window would be empty (for a whole day use 00:00 to 24:00)"
            );
            self.error(join(path, "to"), msg);
        }
    }

    fn windows(&mut self, path: &str, windows: &[WeeklyWindow]) {
        if windows.len() > MAX_WINDOWS {
            let msg = format!(
                "{} windows: at most {MAX_WINDOWS} are allowed",
                windows.len()
            );
            self.error(path, msg);
        }
        for (i, w) in windows.iter().enumerate() {
            let p = format!("{path}[{i}]");
            if w.days.is_empty() {
                self.error(
                    join(&p, "days"),
                    "no days: list at least one day (\"mon\" … \"sun\")",
                );
            }
            let mut seen = HashSet::new();
            for d in &w.days {
                if !seen.insert(d) {
                    let day = format!("{d:?}").to_lowercase();
                    self.error(join(&p, "days"), format!("\"{day}\" is listed twice"));
                }
            }
            self.hours(&p, &w.from, &w.to);
        }
    }

    fn skills(&mut self) {
        let doc = self.doc;
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, s) in doc.skills.iter().enumerate() {
            let path = format!("skills[{i}]");
            self.id(&join(&path, "id"), &s.id);
            if let Some(first) = ids.insert(&s.id, i) {
                let msg = format!("skill \"{}\" is already declared at skills[{first}]", s.id);
                self.error(join(&path, "id"), msg);
            }
            self.text(&join(&path, "name"), s.name.as_deref(), MAX_NAME_CHARS);
            if s.max_wait_seconds > MAX_SECONDS {
                let msg = format!(
                    "{} seconds is more than a day: at most {MAX_SECONDS}",
                    s.max_wait_seconds
                );
                self.error(join(&path, "max_wait_seconds"), msg);
            }
        }
    }

    /// Engagement ids are unique across the whole document: events and offsite links use them alone.
    fn engagement_ids(&mut self) {
        let doc = self.doc;
        for (ci, c) in doc.campaigns.iter().enumerate() {
            for (ei, e) in c.engagements.iter().enumerate() {
                let path = format!("campaigns[{ci}].engagements[{ei}]");
                match self.engagements.get(e.id.as_str()) {
                    Some(first) => {
                        let msg = format!(
                            "engagement id \"{}\" is already used by {first}: engagement ids must be \
                             unique across the whole document (events and offsite links use them alone)",
                            e.id
                        );
                        self.error(join(&path, "id"), msg);
                    }
                    None => {
                        self.engagements.insert(&e.id, path);
                    }
                }
            }
        }
    }

    fn library(&mut self) {
        let doc = self.doc;
        let lib = &doc.library;
        for (name, audience) in &lib.audiences {
            let path = self.library_item(Category::Audience, name);
            self.condition(&path, audience);
        }
        for (name, ep) in &lib.entry_points {
            let path = self.library_item(Category::EntryPoint, name);
            self.entry_point(&path, ep);
        }
        for (name, b) in &lib.behaviors {
            let path = self.library_item(Category::Behavior, name);
            self.behavior(&path, b);
        }
        for (name, set) in &lib.creatives {
            let path = self.library_item(Category::Creative, name);
            self.creative_set(&path, set);
        }
        for (name, windows) in &lib.schedules {
            let path = self.library_item(Category::Schedule, name);
            self.windows(&path, windows);
        }
    }

    /// Checks a library item's name; answers its path.
    fn library_item(&mut self, category: Category, name: &str) -> String {
        let path = format!("library.{}.{name}", category.key());
        self.id(&path, name);
        path
    }

    fn condition(&mut self, path: &str, condition: &Value) {
        for (rel, msg) in check_condition(condition, &|p: &str| NativeRegex::is_valid(p)) {
            self.error(join(path, &rel), msg);
        }
    }

    fn campaigns(&mut self) {
        let doc = self.doc;
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, c) in doc.campaigns.iter().enumerate() {
            let path = format!("campaigns[{i}]");
            if let Some(first) = ids.insert(&c.id, i) {
                let msg = format!(
                    "campaign id \"{}\" is already used by campaigns[{first}]",
                    c.id
                );
                self.error(join(&path, "id"), msg);
            }
            self.campaign(&path, c);
            for (j, e) in c.engagements.iter().enumerate() {
                self.engagement(&format!("{path}.engagements[{j}]"), e);
            }
        }
        self.outbound_claims();
    }

    /// Two enabled outbound engagements may not claim one entry point: a reply could not say
    /// which of them it answers.
    fn outbound_claims(&mut self) {
        let doc = self.doc;
        let mut claims: HashMap<(&str, &str), String> = HashMap::new();
        for (i, c) in doc.campaigns.iter().enumerate() {
            for (j, e) in c.engagements.iter().enumerate() {
                let (Source::Outbound, Some(o), true) =
                    (e.source, &e.outbound, c.enabled && e.enabled)
                else {
                    continue;
                };
                let path = format!("campaigns[{i}].engagements[{j}].outbound");
                let keys = [
                    ("campaign_ref", o.campaign_ref.as_deref()),
                    ("sender", o.sender.as_deref()),
                ];
                for (field, value) in keys {
                    let Some(v) = value else { continue };
                    if let Some(first) = claims.get(&(field, v)) {
                        let msg = format!(
                            "{field} {} is already the entry point of {first}: two enabled outbound \
                             engagements cannot share one (disable one, or give each its own)",
                            quote(v)
                        );
                        self.error(join(&path, field), msg);
                    } else {
                        claims.insert((field, v), format!("engagement \"{}\"", e.id));
                    }
                }
            }
        }
    }

    fn campaign(&mut self, path: &str, c: &'a Campaign) {
        let doc = self.doc;
        self.id(&join(path, "id"), &c.id);
        self.text(&join(path, "name"), c.name.as_deref(), MAX_NAME_CHARS);
        self.text(&join(path, "goal"), c.goal.as_deref(), MAX_NAME_CHARS);
        self.text(
            &join(path, "description"),
            c.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        );
        self.percent(
            &join(path, "control_group_percent"),
            c.control_group_percent,
            "this campaign",
        );
        if c.priority.unsigned_abs() > MAX_PRIORITY.unsigned_abs() {
            let msg = format!(
                "{} is out of range: use -{MAX_PRIORITY} to {MAX_PRIORITY}",
                c.priority
            );
            self.error(join(path, "priority"), msg);
        }
        if let Some(tf) = &c.timeframe {
            self.timeframe(&join(path, "timeframe"), tf, c.enabled);
        }
        self.business_hours_only(path, c);
        if let Some(slot) = &c.audience {
            let p = join(path, "audience");
            if let crate::model::OrRef::Inline(condition) = slot {
                self.condition(&p, condition);
            }
            self.resolve(&p, Category::Audience, slot, &doc.library.audiences);
        }
        if c.engagements.is_empty() {
            self.warn(
                join(path, "engagements"),
                "this campaign has no engagements: it shows nothing",
            );
        }
    }

    fn business_hours_only(&mut self, path: &str, c: &Campaign) {
        if !c.business_hours_only {
            return;
        }
        let path = join(path, "business_hours_only");
        let doc = self.doc;
        match &doc.business_hours {
            None => self.error(path, "the document declares no business_hours: add them at the top level or set business_hours_only to false"),
            Some(slot) => {
                let windows = match slot {
                    crate::model::OrRef::Inline(w) => Some(w),
                    crate::model::OrRef::Ref(name) => doc.library.schedules.get(name),
                };
                let opens = doc.special_occasions.iter().any(|o| !o.closed);
                if c.enabled && windows.is_some_and(|w| w.is_empty()) && !opens {
                    self.warn(path, "business_hours is empty: this campaign will never show");
                }
            }
        }
    }

    fn timeframe(&mut self, path: &str, tf: &'a Timeframe, enabled: bool) {
        let instant = |this: &mut Self, field: &str, s: &Option<String>| {
            let s = s.as_deref()?;
            parse_instant(s)
                .map_err(|m| this.error(join(path, field), m))
                .ok()
        };
        let start = instant(self, "start", &tf.start);
        let end = instant(self, "end", &tf.end);
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                let msg =
                    "the timeframe ends before it starts: \"end\" must be later than \"start\"";
                self.error(join(path, "end"), msg);
            }
        }
        if let Some(e) = end.filter(|e| enabled && *e <= self.now) {
            let msg = format!(
                "the timeframe ended on {}: this campaign will not show any more",
                format_instant(e)
            );
            self.warn(join(path, "end"), msg);
        }
        if let Some(slot) = &tf.weekly {
            let p = join(path, "weekly");
            if let crate::model::OrRef::Inline(windows) = slot {
                self.windows(&p, windows);
            }
            let doc = self.doc;
            let windows = self.resolve(&p, Category::Schedule, slot, &doc.library.schedules);
            if enabled && windows.is_some_and(|w| w.is_empty()) {
                self.warn(p, "no weekly windows: this campaign is never active (leave \"weekly\" out to run all week)");
            }
        }
    }

    fn engagement(&mut self, path: &str, e: &'a Engagement) {
        let doc = self.doc;
        let lib = &doc.library;
        self.id(&join(path, "id"), &e.id);
        self.text(&join(path, "name"), e.name.as_deref(), MAX_NAME_CHARS);
        self.text(
            &join(path, "agent_note"),
            e.agent_note.as_deref(),
            MAX_AGENT_NOTE_CHARS,
        );
        if let Some(lang) = e.language.as_deref().filter(|l| !is_language_tag(l)) {
            let msg = format!(
                "{} is not a language tag: use e.g. \"en\", \"en-GB\" or \"pt-BR\"",
                quote(lang)
            );
            self.error(join(path, "language"), msg);
        }
        self.kind(path, e);
        self.placement(path, e);
        if let Some(slot) = &e.entry_point {
            let p = join(path, "entry_point");
            if let crate::model::OrRef::Inline(ep) = slot {
                self.entry_point(&p, ep);
            }
            self.resolve(&p, Category::EntryPoint, slot, &lib.entry_points);
        }
        if let Some(slot) = &e.behavior {
            let p = join(path, "behavior");
            if let crate::model::OrRef::Inline(b) = slot {
                self.behavior(&p, b);
            }
            self.resolve(&p, Category::Behavior, slot, &lib.behaviors);
        }
        let p = join(path, "creative");
        if e.source == Source::Outbound {
            if !crate::model::is_no_creative(&e.creative) {
                self.error(
                    p,
                    "outbound engagements receive SMS replies: they take no creative",
                );
            }
            self.refresh(path, e, None);
        } else {
            if let crate::model::OrRef::Inline(set) = &e.creative {
                self.creative_set(&p, set);
            }
            let set = self.resolve(&p, Category::Creative, &e.creative, &lib.creatives);
            if let Some(set) = set {
                self.creative_kind(&p, e, set);
            }
            self.refresh(path, e, set);
        }
        if let Some(sender) = &e.sender {
            self.text(
                &join(path, "sender.name"),
                sender.name.as_deref(),
                MAX_NAME_CHARS,
            );
            self.http_url(
                &join(path, "sender.avatar_url"),
                sender.avatar_url.as_deref(),
            );
        }
        if let Some(style) = &e.style {
            self.style(&join(path, "style"), style);
        }
    }

    /// `channel` and `skill` against the kind.
    fn kind(&mut self, path: &str, e: &'a Engagement) {
        match e.kind {
            Kind::Content => {
                if e.channel.is_some() {
                    let msg =
                        "content engagements take no channel: it is for conversation engagements";
                    self.error(join(path, "channel"), msg);
                }
                if e.skill.is_some() {
                    let msg = "content engagements take no skill: they lead to a page, not to a conversation";
                    self.error(join(path, "skill"), msg);
                }
            }
            Kind::Conversation => {
                let Some(skill) = &e.skill else { return };
                let doc = self.doc;
                if doc.skills.iter().any(|s| &s.id == skill) {
                    self.used_skills.insert(skill);
                    return;
                }
                let declared: Vec<String> = doc
                    .skills
                    .iter()
                    .take(20)
                    .map(|s| format!("\"{}\"", s.id))
                    .collect();
                let known = if declared.is_empty() {
                    "the document declares no skills".to_owned()
                } else {
                    format!("declared skills: {}", declared.join(", "))
                };
                self.error(
                    join(path, "skill"),
                    format!("no skill named \"{skill}\" ({known})"),
                );
            }
        }
    }

    /// `source` against `format`, `zone`, `entry_point`, `offsite` and `outbound`.
    fn placement(&mut self, path: &str, e: &Engagement) {
        if e.outbound.is_some() && e.source != Source::Outbound {
            let msg = "only outbound engagements (\"source\": \"outbound\") take an outbound block";
            self.error(join(path, "outbound"), msg);
        }
        match e.source {
            Source::Outbound => {
                let page_fields = [
                    ("format", e.format.is_some()),
                    ("zone", e.zone.is_some()),
                    ("entry_point", e.entry_point.is_some()),
                    ("behavior", e.behavior.is_some()),
                    ("offsite", e.offsite.is_some()),
                ];
                for (field, present) in page_fields {
                    if present {
                        let msg = format!("outbound engagements receive SMS replies, they are not shown on a page: they take no {field}");
                        self.error(join(path, field), msg);
                    }
                }
                if e.kind != Kind::Conversation {
                    self.error(
                        join(path, "kind"),
                        "outbound engagements start conversations: their kind is \"conversation\"",
                    );
                }
                let p = join(path, "outbound");
                match &e.outbound {
                    None => self.error(p, "outbound engagements need an entry point: \"outbound\": {\"campaign_ref\": \"CM-123\"} (the provider's campaign id) or {\"sender\": \"+447400123000\"} (the number broadcasts come from)"),
                    Some(o) => match (&o.campaign_ref, &o.sender) {
                        (None, None) => self.error(p, "give campaign_ref (the provider's campaign id) or sender (an E.164 number)"),
                        (Some(_), Some(_)) => self.error(p, "give one entry point: campaign_ref or sender, not both"),
                        (Some(r), None) => {
                            if r.is_empty() || r.len() > 128 || r.chars().any(char::is_control) {
                                self.error(join(&p, "campaign_ref"), "a campaign reference is 1 to 128 characters without control characters");
                            }
                        }
                        (None, Some(n)) => {
                            let digits = n.strip_prefix('+').unwrap_or("");
                            let e164 = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
                            if !e164 {
                                self.error(join(&p, "sender"), format!("{} is not an E.164 number: write it as +<country code><number>, e.g. +447400123000", quote(n)));
                            }
                        }
                    },
                }
            }
            Source::Offsite => {
                let page_fields = [
                    ("format", e.format.is_some()),
                    ("zone", e.zone.is_some()),
                    ("entry_point", e.entry_point.is_some()),
                ];
                for (field, present) in page_fields {
                    if present {
                        let msg = format!("offsite engagements are links, not page elements: they take no {field}");
                        self.error(join(path, field), msg);
                    }
                }
                let p = join(path, "offsite");
                match &e.offsite {
                    None => self.error(p, "offsite engagements need an \"offsite\" block: {\"source\": \"email\", \"landing_url\": \"https://…\"}"),
                    Some(o) => {
                        self.http_url(&join(&p, "landing_url"), Some(&o.landing_url));
                        self.http_url(&join(&p, "offline_survey_url"), o.offline_survey_url.as_deref());
                    }
                }
            }
            Source::Web => {
                if e.offsite.is_some() {
                    let msg =
                        "only offsite engagements (\"source\": \"offsite\") take an offsite block";
                    self.error(join(path, "offsite"), msg);
                }
                match e.format {
                    None => self.error(join(path, "format"), "web engagements need a format: \"sticky\", \"overlay\", \"toaster\", \"peeling_corner\", \"button\" or \"banner\""),
                    Some(format) => self.zone(&join(path, "zone"), format, e.zone.as_ref()),
                }
            }
        }
    }

    fn zone(&mut self, path: &str, format: Format, zone: Option<&Zone>) {
        let f = format.as_str();
        let msg = match (format, zone) {
            (Format::Sticky, None | Some(Zone::Left | Zone::Right)) => return,
            (Format::Sticky, Some(z)) => {
                format!("a sticky engagement goes in zone \"left\" or \"right\" (default), not {}", zone_name(z))
            }
            (_, None | Some(Zone::Proactive)) if format.is_proactive() => return,
            (_, Some(z)) if format.is_proactive() => format!(
                "{f} engagements are proactive: their zone is \"proactive\" (the default), not {}",
                zone_name(z)
            ),
            (_, Some(Zone::Embedded(id))) if is_element_id(id) => return,
            (_, Some(Zone::Embedded(id))) => format!(
                "{} is not an element id: use a letter, then up to 63 letters, digits, \"_\", \":\", \".\" or \"-\"",
                quote(id)
            ),
            (_, None) => format!(
                "a {f} is rendered into an element of the page: name it with \"zone\": {{\"embedded\": \"<element id>\"}}"
            ),
            (_, Some(z)) => format!(
                "a {f} is rendered into an element of the page: its zone is {{\"embedded\": \"<element id>\"}}, not {}",
                zone_name(z)
            ),
        };
        self.error(path, msg);
    }

    /// `refresh_seconds`: an allowed value, on an engagement that has states to switch between.
    fn refresh(&mut self, path: &str, e: &Engagement, set: Option<&CreativeSet>) {
        let Some(r) = e.refresh_seconds else { return };
        let allowed: Vec<String> = REFRESH_SECONDS.iter().map(u32::to_string).collect();
        let msg = if !REFRESH_SECONDS.contains(&r) {
            format!("{r} is not one of {}", allowed.join(", "))
        } else if e.kind == Kind::Content {
            "content engagements have no agent state to refresh: remove refresh_seconds".to_owned()
        } else if e.source == Source::Offsite {
            "offsite engagements are links, not page elements: there is nothing to refresh"
                .to_owned()
        } else if e.source == Source::Outbound {
            "outbound engagements receive SMS replies: there is nothing to refresh".to_owned()
        } else if e.channel == Some(Channel::Messaging) {
            "messaging engagements show whatever the agents' state: there is nothing to refresh"
                .to_owned()
        } else if let Some(f) = e.format.filter(|f| f.is_proactive()) {
            format!(
                "{} engagements are proactive and never refreshed: refresh is for sticky, button and banner engagements",
                f.as_str()
            )
        } else if set.is_some_and(|s| s.busy.is_none() && s.offline.is_none()) {
            "refresh switches between the online and the busy/offline creatives, but this engagement has neither a busy nor an offline creative".to_owned()
        } else {
            return;
        };
        self.error(join(path, "refresh_seconds"), msg);
    }

    /// Which creatives an engagement of this kind needs and takes.
    fn creative_kind(&mut self, path: &str, e: &Engagement, set: &CreativeSet) {
        let via = e.creative.as_ref_id();
        let at = |field: &str| {
            if via.is_some() {
                path.to_owned()
            } else {
                join(path, field)
            }
        };
        let from = via
            .map(|n| format!("the library creative \"{n}\": "))
            .unwrap_or_default();
        match e.kind {
            Kind::Content => {
                if set.content.is_none() {
                    let msg = format!("{from}content engagements need creative.content (title, message, cta and the url it opens)");
                    self.error(at("content"), msg);
                }
                let states = [
                    ("online", &set.online),
                    ("busy", &set.busy),
                    ("offline", &set.offline),
                ];
                for (state, c) in states {
                    if c.is_some() {
                        let msg = format!("{from}content engagements have a single creative, creative.content: remove {state}");
                        self.error(at(state), msg);
                    }
                }
            }
            Kind::Conversation => {
                if set.online.is_none() {
                    let msg = format!("{from}conversation engagements need creative.online, shown while agents are available");
                    self.error(at("online"), msg);
                }
                if set.content.is_some() {
                    let msg = format!("{from}only content engagements take creative.content: use online, busy and offline");
                    self.error(at("content"), msg);
                }
            }
        }
    }

    fn creative_set(&mut self, path: &str, set: &CreativeSet) {
        let parts = [
            ("online", &set.online),
            ("busy", &set.busy),
            ("offline", &set.offline),
            ("content", &set.content),
        ];
        for (name, c) in parts {
            if let Some(c) = c {
                self.creative(&join(path, name), c);
            }
        }
        if let Some(style) = &set.style {
            self.style(&join(path, "style"), style);
        }
    }

    fn creative(&mut self, path: &str, c: &Creative) {
        self.text(&join(path, "title"), c.title.as_deref(), MAX_TITLE_CHARS);
        self.text(
            &join(path, "message"),
            c.message.as_deref(),
            MAX_MESSAGE_CHARS,
        );
        self.text(&join(path, "cta"), c.cta.as_deref(), MAX_CTA_CHARS);
        self.http_url(&join(path, "url"), c.url.as_deref());
        self.http_url(&join(path, "image_url"), c.image_url.as_deref());
        if let Some(style) = &c.style {
            self.style(&join(path, "style"), style);
        }
    }

    /// Plain CSS values only: nothing that loads, runs or escapes the declaration.
    fn style(&mut self, path: &str, style: &Style) {
        let values = [
            ("background", &style.background),
            ("color", &style.color),
            ("accent", &style.accent),
            ("radius", &style.radius),
            ("offset_x", &style.offset_x),
            ("offset_y", &style.offset_y),
            ("width", &style.width),
        ];
        for (name, value) in values {
            let Some(value) = value else { continue };
            if let Some(msg) = style_problem(value) {
                self.error(join(path, name), msg);
            }
        }
    }

    fn entry_point(&mut self, path: &str, ep: &EntryPoint) {
        for (list, matchers) in [("include", &ep.include), ("exclude", &ep.exclude)] {
            let p = join(path, list);
            if matchers.len() > MAX_MATCHERS {
                let msg = format!(
                    "{} matchers: at most {MAX_MATCHERS} are allowed",
                    matchers.len()
                );
                self.error(&p, msg);
            }
            for (i, m) in matchers.iter().enumerate() {
                self.matcher(&format!("{p}[{i}]"), m);
            }
        }
    }

    /// A URL, title or section matcher: not empty, a valid pattern or regular expression.
    fn matcher(&mut self, path: &str, m: &PageMatcher) {
        let (field, matcher) = m.split();
        let on = match m {
            PageMatcher::Url(_) => "url.",
            PageMatcher::Title(_) => "title.",
            PageMatcher::Section(_) => "section.",
            _ => "",
        };
        let (how, text) = match &matcher {
            Matcher::Equals(s) => ("equals", s),
            Matcher::Contains(s) => ("contains", s),
            Matcher::Prefix(s) => ("prefix", s),
            Matcher::Regex(s) => ("regex", s),
            Matcher::Pattern(s) => ("pattern", s),
        };
        let path = format!("{path}.{on}{how}");
        if text.trim().is_empty() {
            self.error(path, "empty: give the text to match");
        } else if text.chars().count() > MAX_MATCHER_CHARS {
            self.error(path, format!("longer than {MAX_MATCHER_CHARS} characters"));
        } else if let Matcher::Regex(re) = &matcher {
            if !NativeRegex::is_valid(re) {
                self.error(
                    path,
                    format!("{} is not a valid regular expression", quote(re)),
                );
            }
        } else if let Err(msg) = urlmatch::compile(field, &matcher) {
            self.error(path, format!("{} is not a valid {how}: {msg}", quote(text)));
        }
    }

    fn behavior(&mut self, path: &str, b: &Behavior) {
        let times = [
            ("time_on_page", b.time_on_page),
            ("time_on_site", b.time_on_site),
            ("idle_seconds", b.idle_seconds),
        ];
        for (field, seconds) in times {
            if let Some(s) = seconds.filter(|s| *s > MAX_SECONDS) {
                let msg = format!("{s} seconds is more than a day: at most {MAX_SECONDS}");
                self.error(join(path, field), msg);
            }
        }
        if let Some(p) = b.scroll_percent.filter(|p| *p > 100) {
            self.error(
                join(path, "scroll_percent"),
                format!("{p} is not a percentage: use 0 to 100"),
            );
        }
        if b.pages_viewed == Some(0) {
            let msg = "0: pages_viewed counts the current page too, so use 1 or more";
            self.error(join(path, "pages_viewed"), msg);
        }
        if let Some(m) = &b.visited {
            self.matcher(&join(path, "visited"), m);
        }
        if let Some(m) = &b.referrer {
            self.matcher(&join(path, "referrer"), m);
        }
        if let Some(rule) = &b.engaged {
            if !self.engagements.contains_key(rule.engagement.as_str()) {
                let msg = format!(
                    "no engagement named {} in this document",
                    quote(&rule.engagement)
                );
                self.error(join(path, "engaged.engagement"), msg);
            }
        }
    }

    /// Warnings for library items and skills nothing uses.
    fn unused(&mut self) {
        let doc = self.doc;
        for category in Category::ALL {
            for name in category.names(&doc.library) {
                if !self.used_refs.contains(&(category, name.as_str())) {
                    let msg = format!(
                        "library {} \"{name}\" is not used anywhere",
                        category.label()
                    );
                    self.warn(format!("library.{}.{name}", category.key()), msg);
                }
            }
        }
        for (i, s) in doc.skills.iter().enumerate() {
            if !self.used_skills.contains(s.id.as_str()) {
                let msg = format!("no engagement uses skill \"{}\"", s.id);
                self.warn(format!("skills[{i}].id"), msg);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Value checks

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn http_url_problem(url: &str) -> Option<String> {
    let Some(rest) = strip_prefix_ci(url, "https://").or_else(|| strip_prefix_ci(url, "http://"))
    else {
        return Some(format!(
            "{} is not a web address: it must start with https:// or http://",
            quote(url)
        ));
    };
    if url.chars().count() > MAX_URL_CHARS {
        return Some(format!("longer than {MAX_URL_CHARS} characters"));
    }
    if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
        return Some(format!("{} has no host name after the //", quote(url)));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
    {
        return Some(format!(
            "{} contains spaces or characters not allowed in a web address",
            quote(url)
        ));
    }
    None
}

/// Only `{site}`, `{engagement}`, `{skill}`, `{language}` in a URL template.
fn placeholder_problem(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        if rest[i..].starts_with('}') {
            return Some("a \"}\" without its \"{\"".to_owned());
        }
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else {
            return Some("a \"{\" without its \"}\"".to_owned());
        };
        let name = &after[..j];
        if !CONVERSATION_URL_PLACEHOLDERS.contains(&name) {
            return Some(format!(
                "unknown placeholder {{{name}}}: use {{site}}, {{engagement}}, {{skill}} or {{language}}"
            ));
        }
        rest = &after[j + 1..];
    }
    None
}

fn style_problem(value: &str) -> Option<String> {
    if value.chars().count() > MAX_STYLE_CHARS {
        return Some(format!("longer than {MAX_STYLE_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Some("contains control characters: use a plain CSS value".to_owned());
    }
    let lower = value.to_ascii_lowercase();
    let bad = STYLE_FORBIDDEN.iter().find(|f| lower.contains(*f))?;
    Some(format!(
        "{} is not a plain CSS value: \"{bad}\" is not allowed (use e.g. #1a73e8, 8px or 50%)",
        quote(value)
    ))
}

/// BCP-47-like: `[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*`.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// `[A-Za-z][A-Za-z0-9_:.-]{0,63}`.
fn is_element_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
        && id.len() <= 64
}

fn zone_name(zone: &Zone) -> String {
    match zone {
        Zone::Embedded(id) => format!("{{\"embedded\": {}}}", quote(id)),
        other => format!("\"{}\"", other.key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-01-01T00:00:00Z.
    const NOW: Millis = 1_767_225_600_000;

    const SPEC_EXAMPLE: &str = r#"{
      "site": "acme",
      "timezone": "Europe/London",
      "business_hours": [{"days": ["mon","tue","wed","thu","fri"], "from": "09:00", "to": "17:30"}],
      "settings": {
        "displays_per_visit": {"conversation": 2, "content": null},
        "invite_after_decline": {"conversation": false, "content": true},
        "control_group_percent": 5,
        "visit_idle_minutes": 30,
        "inactive_engagement": {"redirect_url": "https://acme.example/contact"},
        "attribution_days": 14
      },
      "skills": [{"id": "sales", "max_wait_seconds": 120}],
      "campaigns": [{
        "id": "summer-sale",
        "name": "Summer sale",
        "goal": "sales",
        "enabled": true,
        "priority": 50,
        "control_group_percent": 10,
        "timeframe": {"start": "2026-06-01T00:00:00+01:00", "end": null,
                      "weekly": [{"days": ["sat","sun"], "from": "10:00", "to": "18:00"}]},
        "business_hours_only": false,
        "audience": {"cart.total": {"$gte": 50}, "country": {"$in": ["GB","IE"]}},
        "engagements": [{
          "id": "sale-chat-button",
          "name": "Chat with sales",
          "enabled": true,
          "kind": "conversation",
          "channel": "chat",
          "source": "web",
          "format": "sticky",
          "zone": "right",
          "skill": "sales",
          "ignore_max_wait": false,
          "refresh_seconds": 120,
          "language": "en-GB",
          "agent_note": "Summer sale: extra 5% allowed",
          "entry_point": {"include": [{"url": {"pattern": "https://acme.example/shop/*"}}],
                          "exclude": [{"url": {"contains": "/checkout"}}]},
          "behavior": {"time_on_page": 10, "pages_viewed": 2},
          "creative": {
            "online":  {"title": "Questions?", "message": "Our team is <b>online</b>", "cta": "Chat now"},
            "busy":    {"title": "We're busy", "message": "Expect a short wait", "cta": "Chat anyway"},
            "offline": {"title": "We're away", "message": "Leave us a message", "cta": "Leave a message"}
          },
          "sender": {"name": "Sales bot", "avatar_url": "https://acme.example/bot.png"}
        }]
      }]
    }"#;

    /// A small valid document: one campaign with one sticky chat engagement.
    fn base() -> Value {
        json!({
            "site": "acme",
            "timezone": "Europe/London",
            "business_hours": [{"days": ["mon", "fri"], "from": "09:00", "to": "17:00"}],
            "skills": [{"id": "sales"}],
            "campaigns": [{"id": "c1", "engagements": [{
                "id": "e1", "kind": "conversation", "format": "sticky", "skill": "sales",
                "creative": {"online": {"title": "Hi"}, "offline": {"title": "Away"}}
            }]}]
        })
    }

    fn with(change: impl FnOnce(&mut Value)) -> Validation {
        let mut doc = base();
        change(&mut doc);
        let parsed = parse_document(&doc.to_string())
            .unwrap_or_else(|p| panic!("{doc} does not parse: {p:#?}"));
        validate(&parsed, NOW)
    }

    fn engagement(change: impl FnOnce(&mut Value)) -> Validation {
        with(|d| change(&mut d["campaigns"][0]["engagements"][0]))
    }

    fn find(problems: &[Problem], path: &str, fragment: &str) -> bool {
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(fragment))
    }

    #[track_caller]
    fn assert_error(v: &Validation, path: &str, fragment: &str) {
        assert!(
            find(&v.errors, path, fragment),
            "no error at {path} with {fragment:?}: {v:#?}"
        );
    }

    #[track_caller]
    fn assert_warning(v: &Validation, path: &str, fragment: &str) {
        assert!(
            find(&v.warnings, path, fragment),
            "no warning at {path} with {fragment:?}: {v:#?}"
        );
    }

    #[track_caller]
    fn parse_errors(text: &str) -> Vec<Problem> {
        parse_document(text).expect_err("should not parse")
    }

    #[track_caller]
    fn assert_parse_error(problems: &[Problem], path: &str, fragment: &str) {
        assert!(
            find(problems, path, fragment),
            "no problem at {path} with {fragment:?}: {problems:#?}"
        );
    }

    // --- parse_document ---------------------------------------------------------------------------

    #[test]
    fn spec_example_is_valid() {
        let doc = parse_document(SPEC_EXAMPLE).expect("parses");
        let v = validate(&doc, NOW);
        assert!(v.is_ok(), "{v:#?}");
        assert!(v.warnings.is_empty(), "{v:#?}");
        assert_eq!(doc.campaigns[0].engagements[0].refresh_seconds, Some(120));
        assert!(validate(&parse_document(&base().to_string()).unwrap(), NOW).is_ok());
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let p = parse_errors("{\n  \"site\": \"acme\",\n  \"campaigns\": [,]\n}");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "");
        assert!(p[0].message.contains("line 3, column 17"), "{p:?}");
        assert!(p[0].message.contains("not valid JSON"), "{p:?}");
        let p = parse_errors("[1, 2]");
        assert!(p[0].message.contains("must be a JSON object"), "{p:?}");
    }

    #[test]
    fn three_broken_campaigns_report_three_problems() {
        let mut doc = base();
        let c = doc["campaigns"][0].clone();
        let mut broken = vec![c.clone(), c.clone(), c.clone(), c];
        broken[0]["priority"] = json!("high");
        broken[2]["engagements"][0]["kind"] = json!("chat");
        broken[3]["enabeld"] = json!(false);
        doc["campaigns"] = json!(broken);
        let p = parse_errors(&doc.to_string());
        assert_eq!(p.len(), 3, "{p:#?}");
        assert_parse_error(&p, "campaigns[0].priority", "expected a whole number");
        assert_parse_error(&p, "campaigns[0].priority", "the text \"high\"");
        assert_parse_error(
            &p,
            "campaigns[2].engagements[0].kind",
            "\"chat\" is not a valid choice",
        );
        assert_parse_error(
            &p,
            "campaigns[2].engagements[0].kind",
            "\"conversation\" or \"content\"",
        );
        assert_parse_error(
            &p,
            "campaigns[3].enabeld",
            "unknown field \"enabeld\" (did you mean \"enabled\"?)",
        );
    }

    #[test]
    fn unknown_field_inside_a_ref_slot_has_the_full_path() {
        let mut doc = base();
        doc["campaigns"][0]["engagements"][0]["behavior"] = json!({"time_on_pge": 5});
        let p = parse_errors(&doc.to_string());
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(
            p[0].path,
            "campaigns[0].engagements[0].behavior.time_on_pge"
        );
        assert!(
            p[0].message
                .starts_with("unknown field \"time_on_pge\" (did you mean \"time_on_page\"?)"),
            "{p:?}"
        );
        assert!(p[0].message.contains("scroll_percent"), "{p:?}");
        assert!(!p[0].message.contains('`'), "{p:?}");

        let mut doc = base();
        doc["campaigns"][0]["engagements"][0]["creative"]["online"]["titel"] = json!("x");
        doc["campaigns"][0]["engagements"][0]["entry_point"] =
            json!({"include": [{"url": {"patern": "/x"}}]});
        let p = parse_errors(&doc.to_string());
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].creative.online.titel",
            "unknown field \"titel\"",
        );
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].entry_point.include[0].url",
            "\"patern\" is not a valid choice (did you mean \"pattern\"?)",
        );
    }

    #[test]
    fn every_field_in_error_is_reported() {
        let mut doc = base();
        let e = &mut doc["campaigns"][0]["engagements"][0];
        e["refresh_seconds"] = json!(-5);
        e["zone"] = json!("top");
        e["kind"] = json!(3);
        e["extra"] = json!(1);
        doc["site"] = json!(7);
        doc["colour"] = json!("red");
        doc["skills"][0]["max_wait_seconds"] = json!(1.5);
        let p = parse_errors(&doc.to_string());
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].refresh_seconds",
            "-5 is out of range",
        );
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].zone",
            "\"top\" is not a valid choice",
        );
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].kind",
            "expected one of the allowed values, in double quotes, found the number 3",
        );
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].extra",
            "unknown field \"extra\"",
        );
        assert_parse_error(
            &p,
            "site",
            "expected text in double quotes, found the number 7",
        );
        assert_parse_error(&p, "colour", "unknown field \"colour\"");
        assert_parse_error(&p, "skills[0].max_wait_seconds", "found the number 1.5");
        // The removed `kind` does not also count as missing.
        assert_eq!(p.len(), 7, "{p:#?}");
    }

    #[test]
    fn missing_fields_point_at_the_field() {
        let mut doc = base();
        doc.as_object_mut().unwrap().remove("site");
        let e = doc["campaigns"][0]["engagements"][0]
            .as_object_mut()
            .unwrap();
        e.remove("kind");
        e.insert("offsite".into(), json!({"source": "email"}));
        doc["settings"] = json!({"displays_per_visit": {"conversaton": 1}});
        let p = parse_errors(&doc.to_string());
        assert_parse_error(&p, "site", "\"site\" is required");
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].kind",
            "\"kind\" is required",
        );
        assert_parse_error(
            &p,
            "campaigns[0].engagements[0].offsite.landing_url",
            "is required",
        );
        assert_parse_error(
            &p,
            "settings.displays_per_visit.conversaton",
            "(did you mean \"conversation\"?); the fields allowed here are conversation, content",
        );
        assert_eq!(p.len(), 4, "{p:#?}");
    }

    #[test]
    fn lists_libraries_and_duplicate_keys() {
        let mut doc = base();
        doc["campaigns"][0]["engagements"] = json!({"id": "x"});
        doc["special_occasions"] = json!([{"date": "2026-12-25", "closed": "yes"}]);
        doc["library"] = json!({
            "audience": {},
            "entry_points": {"shop": {"include": [{"url": {"contains": "/shop"}}], "exclude": 3}},
            "schedules": {"weekend": [{"days": ["sat", "sunday"], "from": "10:00", "to": "12:00"}]}
        });
        let p = parse_errors(&doc.to_string());
        assert_parse_error(
            &p,
            "campaigns[0].engagements",
            "expected a list […], found an object",
        );
        assert_parse_error(&p, "special_occasions[0].closed", "expected true or false");
        assert_parse_error(
            &p,
            "library.audience",
            "unknown field \"audience\" (did you mean \"audiences\"?)",
        );
        assert_parse_error(&p, "library.entry_points.shop.exclude", "expected a list");
        assert_parse_error(
            &p,
            "library.schedules.weekend[0].days[1]",
            "\"sunday\" is not a valid choice",
        );

        let text =
            r#"{"site": "acme", "library": {"behaviors": {"b": {}, "b": {"time_on_page": 3}}}}"#;
        let p = parse_errors(text);
        assert_parse_error(&p, "library.behaviors.b", "appears more than once");
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{}\": {i}", i % 20)).collect();
        let text = format!(
            "{{\"site\": \"acme\", \"campaigns\": [{{\"id\": \"c\", \"audience\": {{{}}}}}]}}",
            keys.join(", ")
        );
        let p = parse_errors(&text);
        assert_eq!(p.len(), 20, "{p:#?}");
        assert_parse_error(&p, "campaigns[0].audience.k3", "appears more than once");
        assert_parse_error(&p, "campaigns[0].audience.k19", "appears more than once");
        let big = format!("{{\"site\": \"{}\"}}", "a".repeat(MAX_DOCUMENT_BYTES));
        assert_parse_error(&parse_errors(&big), "", "at most 16777216 bytes");
    }

    #[test]
    fn parsed_document_keeps_everything() {
        let mut doc = base();
        doc["special_occasions"] = json!([{"date": "2026-12-25", "closed": true}]);
        doc["library"] = json!({"behaviors": {"slow": {"time_on_page": 30}}});
        let d = parse_document(&doc.to_string()).unwrap();
        assert_eq!(d, serde_json::from_value::<Document>(doc).unwrap());
        assert_eq!(d.settings.visit_idle_minutes, 30);
        assert_eq!(d.library.behaviors["slow"].time_on_page, Some(30));
    }

    // --- validate: ids and uniqueness --------------------------------------------------------------

    #[test]
    fn ids() {
        let v = with(|d| {
            d["site"] = json!("Acme");
            d["campaigns"][0]["id"] = json!("Summer Sale");
            d["campaigns"][0]["engagements"][0]["id"] = json!("-e");
            d["skills"][0]["id"] = json!("x".repeat(65));
            d["library"] = json!({"behaviors": {"Slow": {}}});
        });
        assert_error(&v, "site", "\"Acme\" is not a valid id");
        assert_error(&v, "campaigns[0].id", "lowercase letters");
        assert_error(&v, "campaigns[0].engagements[0].id", "not a valid id");
        assert_error(&v, "skills[0].id", "not a valid id");
        assert_error(&v, "library.behaviors.Slow", "not a valid id");
    }

    #[test]
    fn ids_are_unique_in_their_scope() {
        let v = with(|d| {
            let c = d["campaigns"][0].clone();
            let mut c2 = c.clone();
            c2["engagements"][0]["creative"] = json!({"online": {}});
            d["campaigns"] = json!([c, c2]);
            d["skills"] = json!([{"id": "sales"}, {"id": "sales"}]);
        });
        assert_error(&v, "campaigns[1].id", "already used by campaigns[0]");
        assert_error(
            &v,
            "campaigns[1].engagements[0].id",
            "already used by campaigns[0].engagements[0]",
        );
        assert_error(
            &v,
            "campaigns[1].engagements[0].id",
            "unique across the whole document",
        );
        assert_error(&v, "skills[1].id", "already declared at skills[0]");
    }

    // --- schedule -------------------------------------------------------------------------------

    #[test]
    fn timezone_and_business_hours() {
        let v = with(|d| {
            d["timezone"] = json!("Europe/Lundon");
            d["business_hours"] = json!([
                {"days": [], "from": "09:00", "to": "17:00"},
                {"days": ["mon", "mon"], "from": "9:00", "to": "17:00"},
                {"days": ["tue"], "from": "10:00", "to": "10:00"},
                {"days": ["wed"], "from": "22:00", "to": "02:00"},
                {"days": ["thu"], "from": "24:00", "to": "25:00"}
            ]);
        });
        assert_error(&v, "timezone", "not an IANA time zone");
        assert_error(&v, "business_hours[0].days", "list at least one day");
        assert_error(&v, "business_hours[1].days", "\"mon\" is listed twice");
        assert_error(
            &v,
            "business_hours[1].from",
            "\"9:00\" is not a time of day",
        );
        assert_error(&v, "business_hours[2].to", "both 10:00");
        assert_error(&v, "business_hours[4].from", "cannot start at 24:00");
        assert_error(&v, "business_hours[4].to", "\"25:00\" is not a time of day");
        assert!(
            !v.errors
                .iter()
                .any(|p| p.path.starts_with("business_hours[3]")),
            "{v:#?}"
        );
    }

    #[test]
    fn special_occasions() {
        let v = with(|d| {
            d["special_occasions"] = json!([
                {"date": "2026-12-25", "closed": true},
                {"date": "2026-12-25", "closed": true, "from": "09:00"},
                {"date": "2026-02-30", "closed": true},
                {"date": "2026-12-24", "from": "09:00"},
                {"date": "2026-12-31", "from": "09:00", "to": "09:00"}
            ]);
        });
        assert_error(
            &v,
            "special_occasions[1].date",
            "already listed at special_occasions[0]",
        );
        assert_error(
            &v,
            "special_occasions[1].from",
            "a closed day has no opening hours",
        );
        assert_error(
            &v,
            "special_occasions[2].date",
            "\"2026-02-30\" is not a date",
        );
        assert_error(&v, "special_occasions[3]", "both \"from\" and \"to\"");
        assert_error(&v, "special_occasions[4].to", "both 09:00");
        assert_eq!(v.errors.len(), 5, "{v:#?}");
    }

    // --- settings and skills ----------------------------------------------------------------------

    #[test]
    fn settings() {
        let v = with(|d| {
            d["settings"] = json!({
                "displays_per_visit": {"conversation": 0},
                "control_group_percent": 150,
                "visit_idle_minutes": 0,
                "attribution_days": 400,
                "inactive_engagement": {"redirect_url": "ftp://acme.example"},
                "conversation_url": "https://chat.acme.example/{site}/{engagment}",
                "currency": "usd"
            });
        });
        assert_warning(
            &v,
            "settings.displays_per_visit.conversation",
            "no proactive conversation engagement will ever show",
        );
        assert_error(
            &v,
            "settings.control_group_percent",
            "150 is not a percentage",
        );
        assert_error(&v, "settings.visit_idle_minutes", "use 1 to 1440 minutes");
        assert_error(&v, "settings.attribution_days", "use 1 to 365 days");
        assert_error(
            &v,
            "settings.inactive_engagement.redirect_url",
            "must start with https://",
        );
        assert_error(
            &v,
            "settings.conversation_url",
            "unknown placeholder {engagment}",
        );
        assert_error(&v, "settings.currency", "three capital letters");
        let v = with(
            |d| d["settings"] = json!({"conversation_url": "https://{site}.chat.example/{engagement}?s={skill}&l={language}"}),
        );
        assert!(v.is_ok(), "{v:#?}");
        let v = with(|d| d["settings"] = json!({"conversation_url": "https:///x{"}));
        assert_error(&v, "settings.conversation_url", "has no host name");
        assert_error(&v, "settings.conversation_url", "without its \"}\"");
    }

    #[test]
    fn skills() {
        let v = with(|d| {
            d["skills"] = json!([{"id": "sales", "max_wait_seconds": 90000}, {"id": "support"}])
        });
        assert_error(&v, "skills[0].max_wait_seconds", "at most 86400");
        assert_warning(&v, "skills[1].id", "no engagement uses skill \"support\"");
        assert!(!find(&v.warnings, "skills[0].id", ""), "{v:#?}");
    }

    // --- campaigns ----------------------------------------------------------------------------------

    #[test]
    fn campaign_ranges() {
        let v = with(|d| {
            let c = &mut d["campaigns"][0];
            c["control_group_percent"] = json!(-1);
            c["priority"] = json!(2_000_000);
        });
        assert_error(
            &v,
            "campaigns[0].control_group_percent",
            "-1 is not a percentage",
        );
        assert_error(&v, "campaigns[0].priority", "use -1000000 to 1000000");
        let v = with(|d| d["campaigns"][0]["control_group_percent"] = json!(100));
        assert_warning(
            &v,
            "campaigns[0].control_group_percent",
            "every visitor is in the control group",
        );
    }

    #[test]
    fn timeframes() {
        let v = with(|d| {
            let c = d["campaigns"][0].clone();
            let mut c2 = c.clone();
            let mut c3 = c.clone();
            let mut c4 = c.clone();
            let mut c5 = c.clone();
            c2["id"] = json!("c2");
            c3["id"] = json!("c3");
            c4["id"] = json!("c4");
            c5["id"] = json!("c5");
            for (i, x) in [&mut c2, &mut c3, &mut c4, &mut c5].into_iter().enumerate() {
                x["engagements"][0]["id"] = json!(format!("e{}", i + 2));
            }
            let mut c1 = c;
            c1["timeframe"] = json!({"start": "2026-06-01", "end": "2026-13-01T00:00:00Z"});
            c2["timeframe"] =
                json!({"start": "2026-06-01T00:00:00Z", "end": "2026-05-01T00:00:00Z"});
            c3["timeframe"] = json!({"end": "2025-12-01T00:00:00Z"});
            c4["timeframe"] = json!({"weekly": []});
            c5["timeframe"] = json!({"end": "2025-12-01T00:00:00Z", "weekly": []});
            c5["enabled"] = json!(false);
            d["campaigns"] = json!([c1, c2, c3, c4, c5]);
        });
        assert_error(
            &v,
            "campaigns[0].timeframe.start",
            "not an RFC 3339 date-time",
        );
        assert_error(
            &v,
            "campaigns[0].timeframe.end",
            "not an RFC 3339 date-time",
        );
        assert_error(&v, "campaigns[1].timeframe.end", "ends before it starts");
        assert_warning(
            &v,
            "campaigns[2].timeframe.end",
            "ended on 2025-12-01T00:00:00Z",
        );
        assert_warning(&v, "campaigns[3].timeframe.weekly", "never active");
        assert!(
            !v.warnings
                .iter()
                .any(|p| p.path.starts_with("campaigns[4]")),
            "{v:#?}"
        );
    }

    #[test]
    fn business_hours_only_needs_business_hours() {
        let v = with(|d| {
            d.as_object_mut().unwrap().remove("business_hours");
            d["campaigns"][0]["business_hours_only"] = json!(true);
        });
        assert_error(
            &v,
            "campaigns[0].business_hours_only",
            "declares no business_hours",
        );
        let v = with(|d| {
            d["business_hours"] = json!([]);
            d["campaigns"][0]["business_hours_only"] = json!(true);
        });
        assert!(v.is_ok(), "{v:#?}");
        assert_warning(&v, "campaigns[0].business_hours_only", "never show");
    }

    #[test]
    fn audience_problems_are_prefixed() {
        let v = with(|d| d["campaigns"][0]["audience"] = json!({"country": {"$inn": ["GB"]}}));
        assert!(
            v.errors
                .iter()
                .any(|p| p.path.starts_with("campaigns[0].audience.country")),
            "{v:#?}"
        );
        let v = with(|d| {
            d["campaigns"][0]["audience"] = json!({"$or": [{"country": {"$regex": "("}}]})
        });
        assert!(
            v.errors
                .iter()
                .any(|p| p.path.starts_with("campaigns[0].audience.$or[0]")),
            "{v:#?}"
        );
    }

    #[test]
    fn campaign_without_engagements_and_limits() {
        let v = with(|d| d["campaigns"][0]["engagements"] = json!([]));
        assert_warning(&v, "campaigns[0].engagements", "no engagements");
        let v = with(|d| {
            let e = d["campaigns"][0]["engagements"][0].clone();
            let many: Vec<Value> = (0..=MAX_ENGAGEMENTS_PER_CAMPAIGN)
                .map(|i| {
                    let mut e = e.clone();
                    e["id"] = json!(format!("e{i}"));
                    e
                })
                .collect();
            d["campaigns"][0]["engagements"] = json!(many);
        });
        assert_error(&v, "campaigns[0].engagements", "at most 50");
        let v = with(|d| {
            let many: Vec<Value> = (0..=MAX_CAMPAIGNS)
                .map(|i| json!({"id": format!("c{i}")}))
                .collect();
            d["campaigns"] = json!(many);
        });
        assert_error(
            &v,
            "campaigns",
            "20001 campaigns: a document may have at most 20000",
        );
        assert!(v.warnings.len() <= MAX_PROBLEMS + 1);
        assert!(v
            .warnings
            .last()
            .unwrap()
            .message
            .contains("more like these"));
    }

    // --- engagements ---------------------------------------------------------------------------------

    #[test]
    fn content_engagements() {
        let v = engagement(|e| {
            e["kind"] = json!("content");
            e["channel"] = json!("chat");
        });
        assert_error(
            &v,
            "campaigns[0].engagements[0].channel",
            "content engagements take no channel",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].skill",
            "content engagements take no skill",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative.content",
            "need creative.content",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative.online",
            "remove online",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative.offline",
            "remove offline",
        );
        let v = engagement(|e| {
            *e = json!({"id": "e1", "kind": "content", "format": "banner", "zone": {"embedded": "promo"},
                        "creative": {"content": {"title": "Sale", "url": "javascript:alert(1)"}}});
        });
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative.content.url",
            "must start with https://",
        );
        assert_eq!(v.errors.len(), 1, "{v:#?}");
    }

    #[test]
    fn conversation_engagements() {
        let v = engagement(|e| {
            e["creative"] = json!({"busy": {}, "content": {}});
            e["skill"] = json!("support");
        });
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative.online",
            "need creative.online",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative.content",
            "only content engagements",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].skill",
            "no skill named \"support\" (declared skills: \"sales\")",
        );
        let v = engagement(|e| e["channel"] = json!("messaging"));
        assert!(v.is_ok(), "{v:#?}");
    }

    #[test]
    fn offsite_engagements() {
        let v = engagement(|e| {
            e["source"] = json!("offsite");
            e["zone"] = json!("left");
            e["entry_point"] = json!({"include": [{"contains": "/x"}]});
        });
        assert_error(
            &v,
            "campaigns[0].engagements[0].format",
            "offsite engagements are links",
        );
        assert_error(&v, "campaigns[0].engagements[0].zone", "take no zone");
        assert_error(
            &v,
            "campaigns[0].engagements[0].entry_point",
            "take no entry_point",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].offsite",
            "need an \"offsite\" block",
        );
        let v = engagement(|e| {
            e.as_object_mut().unwrap().remove("format");
            e["source"] = json!("offsite");
            e["offsite"] = json!({"source": "email", "landing_url": "acme.example", "offline_survey_url": "http://"});
        });
        assert_error(
            &v,
            "campaigns[0].engagements[0].offsite.landing_url",
            "must start with https://",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].offsite.offline_survey_url",
            "no host name",
        );
        assert_eq!(v.errors.len(), 2, "{v:#?}");
        let v = engagement(|e| {
            e.as_object_mut().unwrap().remove("format");
            e["offsite"] = json!({"source": "email", "landing_url": "https://acme.example"});
        });
        assert_error(
            &v,
            "campaigns[0].engagements[0].format",
            "web engagements need a format",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].offsite",
            "only offsite engagements",
        );
    }

    #[test]
    fn zones() {
        let zone = |format: &str, zone: Value| {
            engagement(|e| {
                e["format"] = json!(format);
                e["zone"] = zone;
            })
        };
        let p = "campaigns[0].engagements[0].zone";
        assert_error(
            &zone("sticky", json!("proactive")),
            p,
            "\"left\" or \"right\"",
        );
        assert_error(
            &zone("overlay", json!("left")),
            p,
            "overlay engagements are proactive",
        );
        assert_error(
            &zone("banner", json!("right")),
            p,
            "its zone is {\"embedded\"",
        );
        assert_error(
            &zone("button", json!({"embedded": "1abc"})),
            p,
            "\"1abc\" is not an element id",
        );
        assert_error(
            &zone("sticky", json!({"embedded": "x"})),
            p,
            "not {\"embedded\": \"x\"}",
        );
        assert!(zone("sticky", json!("left")).is_ok());
        assert!(zone("toaster", json!("proactive")).is_ok());
        assert!(zone("button", json!({"embedded": "chat-slot:1.a_b"})).is_ok());
        let v = engagement(|e| e["format"] = json!("button"));
        assert_error(&v, p, "name it with \"zone\": {\"embedded\"");
    }

    #[test]
    fn refresh_seconds() {
        let p = "campaigns[0].engagements[0].refresh_seconds";
        let v = engagement(|e| e["refresh_seconds"] = json!(45));
        assert_error(
            &v,
            p,
            "45 is not one of 30, 60, 90, 120, 150, 180, 240, 300",
        );
        let v = engagement(|e| {
            e["refresh_seconds"] = json!(60);
            e["format"] = json!("overlay");
        });
        assert_error(
            &v,
            p,
            "overlay engagements are proactive and never refreshed",
        );
        let v = engagement(|e| {
            e["refresh_seconds"] = json!(60);
            e["channel"] = json!("messaging");
        });
        assert_error(
            &v,
            p,
            "messaging engagements show whatever the agents' state",
        );
        let v = engagement(|e| {
            e["refresh_seconds"] = json!(60);
            e["source"] = json!("offsite");
            e.as_object_mut().unwrap().remove("format");
            e["offsite"] = json!({"source": "print", "landing_url": "https://acme.example"});
        });
        assert_error(&v, p, "offsite engagements are links");
        let v = engagement(|e| {
            *e = json!({"id": "e1", "kind": "content", "format": "sticky", "refresh_seconds": 60,
                        "creative": {"content": {"title": "Sale"}}});
        });
        assert_error(&v, p, "content engagements have no agent state");
        let v = engagement(|e| {
            e["refresh_seconds"] = json!(60);
            e["creative"] = json!({"online": {"title": "Hi"}});
        });
        assert_error(&v, p, "neither a busy nor an offline creative");
        let v = engagement(|e| e["refresh_seconds"] = json!(300));
        assert!(v.is_ok(), "{v:#?}");
    }

    // --- matchers and behavior --------------------------------------------------------------------

    #[test]
    fn matchers() {
        let v = engagement(|e| {
            e["entry_point"] = json!({
                "include": [{"url": {"pattern": "https://acme.example/(?=x)"}}, {"regex": "(unclosed"},
                            {"title": {"contains": ""}}, {"section": {"equals": "shop"}}],
                "exclude": [{"prefix": "  "}]
            });
            e["behavior"] =
                json!({"visited": {"url": {"regex": "["}}, "referrer": {"pattern": "https://{x"}});
        });
        let p = "campaigns[0].engagements[0]";
        assert_error(
            &v,
            &format!("{p}.entry_point.include[0].url.pattern"),
            "is not a valid pattern",
        );
        assert_error(
            &v,
            &format!("{p}.entry_point.include[1].regex"),
            "not a valid regular expression",
        );
        assert_error(
            &v,
            &format!("{p}.entry_point.include[2].title.contains"),
            "empty",
        );
        assert_error(&v, &format!("{p}.entry_point.exclude[0].prefix"), "empty");
        assert_error(
            &v,
            &format!("{p}.behavior.visited.url.regex"),
            "not a valid regular expression",
        );
        assert_error(
            &v,
            &format!("{p}.behavior.referrer.pattern"),
            "not a valid pattern",
        );
        assert_eq!(v.errors.len(), 6, "{v:#?}");
    }

    #[test]
    fn behavior() {
        let v = engagement(|e| {
            e["behavior"] = json!({"scroll_percent": 150, "time_on_page": 90000, "time_on_site": 86400,
                                   "idle_seconds": 86401, "pages_viewed": 0,
                                   "engaged": {"engagement": "nope", "state": "shown"}});
        });
        let p = "campaigns[0].engagements[0].behavior";
        assert_error(&v, &format!("{p}.scroll_percent"), "use 0 to 100");
        assert_error(&v, &format!("{p}.time_on_page"), "more than a day");
        assert_error(&v, &format!("{p}.idle_seconds"), "more than a day");
        assert_error(&v, &format!("{p}.pages_viewed"), "use 1 or more");
        assert_error(
            &v,
            &format!("{p}.engaged.engagement"),
            "no engagement named \"nope\"",
        );
        assert_eq!(v.errors.len(), 5, "{v:#?}");
        let v = engagement(|e| {
            e["behavior"] = json!({"engaged": {"engagement": "e1", "state": "declined"}})
        });
        assert!(v.is_ok(), "{v:#?}");
    }

    // --- creatives and style ----------------------------------------------------------------------

    #[test]
    fn creatives() {
        let v = engagement(|e| {
            e["name"] = json!("n".repeat(201));
            e["agent_note"] = json!("n".repeat(1001));
            e["language"] = json!("english");
            e["creative"]["online"] = json!({"title": "t".repeat(201), "message": "m".repeat(2001),
                "cta": "c".repeat(81), "image_url": "data:image/png;base64,xx"});
            e["sender"] = json!({"name": "Bot", "avatar_url": "//cdn.example/bot.png"});
        });
        let p = "campaigns[0].engagements[0]";
        assert_error(&v, &format!("{p}.name"), "201 characters long: at most 200");
        assert_error(&v, &format!("{p}.agent_note"), "at most 1000");
        assert_error(
            &v,
            &format!("{p}.language"),
            "\"english\" is not a language tag",
        );
        assert_error(&v, &format!("{p}.creative.online.title"), "at most 200");
        assert_error(&v, &format!("{p}.creative.online.message"), "at most 2000");
        assert_error(&v, &format!("{p}.creative.online.cta"), "at most 80");
        assert_error(
            &v,
            &format!("{p}.creative.online.image_url"),
            "not a web address",
        );
        assert_error(&v, &format!("{p}.sender.avatar_url"), "not a web address");
        for tag in ["en", "en-GB", "pt-BR", "zh-Hant-TW", "gsw"] {
            assert!(is_language_tag(tag), "{tag}");
        }
        for tag in ["e", "engl", "en_GB", "en-", "en-abcdefghi"] {
            assert!(!is_language_tag(tag), "{tag}");
        }
    }

    #[test]
    fn styles() {
        let v = engagement(|e| {
            e["style"] = json!({"background": "url(https://evil.example/x.png)", "color": "#fff",
                                "width": "320px", "radius": "8px; display:none"});
            e["creative"]["style"] = json!({"accent": "EXPRESSION(alert(1))"});
            e["creative"]["online"]["style"] =
                json!({"offset_x": "1".repeat(101), "offset_y": "</style>"});
        });
        let p = "campaigns[0].engagements[0]";
        assert_error(
            &v,
            &format!("{p}.style.background"),
            "not a plain CSS value: \"url(\"",
        );
        assert_error(&v, &format!("{p}.style.radius"), "\";\" is not allowed");
        assert_error(&v, &format!("{p}.creative.style.accent"), "\"expression(\"");
        assert_error(
            &v,
            &format!("{p}.creative.online.style.offset_x"),
            "longer than 100",
        );
        assert_error(
            &v,
            &format!("{p}.creative.online.style.offset_y"),
            "\"<\" is not allowed",
        );
        assert_eq!(v.errors.len(), 5, "{v:#?}");
        let ok = [
            "#1a73e8",
            "rgba(0, 0, 0, .5)",
            "linear-gradient(#fff, #000)",
            "50%",
            "calc(100% - 8px)",
        ];
        for value in ok {
            assert_eq!(style_problem(value), None, "{value}");
        }
        for value in ["@import x", "JavaScript:x", "a\\62", "{x}", "a\nb"] {
            assert!(style_problem(value).is_some(), "{value}");
        }
    }

    // --- library ------------------------------------------------------------------------------------

    #[test]
    fn library_refs() {
        let v = with(|d| {
            d["library"] = json!({
                "audiences": {"gb": {"country": "GB"}, "spare": {"country": {"$bad": 1}}},
                "entry_points": {"shop": {"include": [{"contains": "/shop"}]}},
                "behaviors": {"slow": {"time_on_page": 30}},
                "creatives": {"promo": {"content": {"title": "Sale"}}},
                "schedules": {"never": []}
            });
            d["business_hours"] = json!({"ref": "office"});
            let c = &mut d["campaigns"][0];
            c["audience"] = json!({"ref": "gb"});
            c["timeframe"] = json!({"weekly": {"ref": "never"}});
            let e = &mut c["engagements"][0];
            e["entry_point"] = json!({"ref": "shop"});
            e["behavior"] = json!({"ref": "fast"});
            e["creative"] = json!({"ref": "promo"});
        });
        assert_error(
            &v,
            "business_hours",
            "no library schedule named \"office\" (the library has \"never\")",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].behavior",
            "no library behavior named \"fast\"",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative",
            "the library creative \"promo\": conversation engagements need creative.online",
        );
        assert_error(
            &v,
            "campaigns[0].engagements[0].creative",
            "only content engagements take creative.content",
        );
        assert!(
            v.errors
                .iter()
                .any(|p| p.path.starts_with("library.audiences.spare")),
            "{v:#?}"
        );
        assert_warning(&v, "campaigns[0].timeframe.weekly", "never active");
        assert_warning(
            &v,
            "library.audiences.spare",
            "library audience \"spare\" is not used",
        );
        assert_warning(&v, "library.behaviors.slow", "is not used");
        assert!(
            !find(&v.warnings, "library.entry_points.shop", ""),
            "{v:#?}"
        );
        assert!(!find(&v.warnings, "library.creatives.promo", ""), "{v:#?}");
        let v =
            with(|d| d["campaigns"][0]["engagements"][0]["entry_point"] = json!({"ref": "shop"}));
        assert_error(
            &v,
            "campaigns[0].engagements[0].entry_point",
            "no library entry point named \"shop\" (library.entry_points is empty)",
        );
    }

    #[test]
    fn library_items_are_checked_where_they_are_declared() {
        let v = with(|d| {
            d["library"] = json!({
                "entry_points": {"bad": {"include": [{"regex": "("}]}},
                "behaviors": {"b": {"scroll_percent": 101}},
                "creatives": {"c": {"online": {"url": "nope"}, "style": {"color": "red;"}}},
                "schedules": {"s": [{"days": ["mon"], "from": "09:00", "to": "09:00"}]}
            });
        });
        assert_error(
            &v,
            "library.entry_points.bad.include[0].regex",
            "not a valid regular expression",
        );
        assert_error(&v, "library.behaviors.b.scroll_percent", "0 to 100");
        assert_error(&v, "library.creatives.c.online.url", "not a web address");
        assert_error(
            &v,
            "library.creatives.c.style.color",
            "not a plain CSS value",
        );
        assert_error(&v, "library.schedules.s[0].to", "both 09:00");
        assert_eq!(v.warnings.len(), 4, "{v:#?}");
    }

    #[test]
    fn messages_are_friendly() {
        assert_eq!(
            friendly("unknown field `titel`, expected one of `title`, `message`"),
            "unknown field \"titel\" (did you mean \"title\"?); the fields allowed here are title, message"
        );
        assert_eq!(
            friendly("unknown field `x`, there are no fields"),
            "unknown field \"x\": this object takes no fields"
        );
        assert_eq!(
            friendly("unknown variant `x`, expected `a` or `b`"),
            "\"x\" is not a valid choice: use \"a\" or \"b\""
        );
        assert_eq!(
            friendly("invalid type: null, expected a string"),
            "expected text in double quotes, found null"
        );
        assert_eq!(
            friendly("invalid type: boolean `true`, expected u32"),
            "expected a whole number from 0 to 4294967295, found true"
        );
        assert_eq!(edit_distance("time_on_pge", "time_on_page"), 1);
        assert_eq!(edit_distance("enabeld", "enabled"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(join("a", "[0]"), "a[0]");
        assert_eq!(join("", "b"), "b");
    }
}
