//! Audience conditions in GrowthBook's (MongoDB-style) condition syntax.
//!
//! [`eval_condition`] runs on every decision, so it works directly on the JSON, allocates nothing
//! itself (only the [`RegexEngine`] may) and never fails: a malformed condition simply does not
//! match. [`check_condition`] runs at upload
//! and reports every problem in words a marketer understands.
//!
//! Semantics follow GrowthBook's reference SDKs and pass its conformance cases
//! (`shared/conformance/growthbook-cases.json`). Where the JavaScript and Python SDKs disagree on
//! a corner the cases do not cover, the stricter reading is taken:
//! - plain values are compared for strict JSON equality (`{"visits": 3}` does not match the text
//!   `"3"`; numbers compare by value, so `3` matches `3.0`), and so are `$eq`, `$ne`, `$in`,
//!   `$nin` and `$all` (arrays and objects by content);
//! - `$gt`/`$gte`/`$lt`/`$lte` compare two texts alphabetically and anything else as numbers, the
//!   way JavaScript does (a missing attribute counts as 0, `"8"` as 8);
//! - the regex operators only match text attributes (a number never matches `$regex`; a missing
//!   attribute always satisfies `$notRegex`); an invalid pattern never matches;
//! - `$elemMatch` does not skip falsy elements (`0`, `""`, `false`).
//!
//! A missing attribute behaves exactly like `null`. Dotted paths (`cart.total`) walk into nested
//! objects, and a numeric segment indexes an array (`items.0.sku`). The saved-group operators
//! `$inGroup`/`$notInGroup` are not supported: they never match, and [`check_condition`]
//! rejects them.

use crate::regexp::RegexEngine;
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// What a missing attribute evaluates as.
static NULL: Value = Value::Null;

/// Whether `attributes` satisfy `condition`. Never panics; a malformed condition is `false`.
pub fn eval_condition(attributes: &Value, condition: &Value, regex: &dyn RegexEngine) -> bool {
    eval_cond(attributes, condition, regex)
}

fn eval_cond(obj: &Value, condition: &Value, rx: &dyn RegexEngine) -> bool {
    let Value::Object(map) = condition else {
        return false;
    };
    for (key, value) in map {
        let ok = if key.starts_with('$') {
            match key.as_str() {
                "$or" => match value {
                    Value::Array(list) => eval_or(obj, list, rx),
                    _ => false,
                },
                "$nor" => match value {
                    Value::Array(list) => !eval_or(obj, list, rx),
                    _ => false,
                },
                "$and" => match value {
                    Value::Array(list) => list.iter().all(|c| eval_cond(obj, c, rx)),
                    _ => false,
                },
                "$not" => value.is_object() && !eval_cond(obj, value, rx),
                // GrowthBook reads any other key as an attribute path, even with a `$`.
                path => eval_value(value, get_path(obj, path), rx, false),
            }
        } else {
            eval_value(value, get_path(obj, key), rx, false)
        };
        if !ok {
            return false;
        }
    }
    true
}

fn eval_or(obj: &Value, list: &[Value], rx: &dyn RegexEngine) -> bool {
    list.is_empty() || list.iter().any(|c| eval_cond(obj, c, rx))
}

/// The value at a dot-separated path; missing (or through a non-container) is `null`.
fn get_path<'a>(obj: &'a Value, path: &str) -> &'a Value {
    let mut current = obj;
    let mut rest = path;
    loop {
        let (segment, tail) = match rest.split_once('.') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        let next = match current {
            Value::Object(map) => map.get(segment),
            Value::Array(list) => array_index(segment).and_then(|i| list.get(i)),
            _ => None,
        };
        match (next, tail) {
            (Some(v), Some(tail)) => {
                current = v;
                rest = tail;
            }
            (Some(v), None) => return v,
            (None, _) => return &NULL,
        }
    }
}

/// A canonical array index (`0`, `12`; not `01`, `+1` or ``).
fn array_index(segment: &str) -> Option<usize> {
    let canonical = !segment.is_empty()
        && segment.bytes().all(|b| b.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    if canonical {
        segment.bytes().try_fold(0usize, |acc, b| {
            acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
        })
    } else {
        None
    }
}

/// An object whose keys all start with `$` (and that has at least one key).
fn is_operator_object(map: &Map<String, Value>) -> bool {
    !map.is_empty() && map.keys().all(|k| k.starts_with('$'))
}

/// Evaluates a condition value (a plain value to compare or an object of operators) against
/// `actual`. `insensitive` makes plain text comparisons case-insensitive (`$alli`).
fn eval_value(condition: &Value, actual: &Value, rx: &dyn RegexEngine, insensitive: bool) -> bool {
    match condition {
        Value::Object(ops) if is_operator_object(ops) => ops
            .iter()
            .all(|(op, arg)| eval_operator(op, actual, arg, rx)),
        Value::String(expected) if insensitive => actual
            .as_str()
            .is_some_and(|a| rx.eq_ignore_case(a, expected)),
        _ => json_eq(condition, actual),
    }
}

fn eval_operator(op: &str, actual: &Value, arg: &Value, rx: &dyn RegexEngine) -> bool {
    match op {
        "$eq" => json_eq(actual, arg),
        "$ne" => !json_eq(actual, arg),
        "$lt" => js_compare(actual, arg) == Some(Ordering::Less),
        "$lte" => matches!(
            js_compare(actual, arg),
            Some(Ordering::Less | Ordering::Equal)
        ),
        "$gt" => js_compare(actual, arg) == Some(Ordering::Greater),
        "$gte" => matches!(
            js_compare(actual, arg),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        "$veq" => version_cmp(actual, arg, rx) == Ordering::Equal,
        "$vne" => version_cmp(actual, arg, rx) != Ordering::Equal,
        "$vgt" => version_cmp(actual, arg, rx) == Ordering::Greater,
        "$vgte" => version_cmp(actual, arg, rx) != Ordering::Less,
        "$vlt" => version_cmp(actual, arg, rx) == Ordering::Less,
        "$vlte" => version_cmp(actual, arg, rx) != Ordering::Greater,
        "$exists" => js_truthy(arg) != actual.is_null(),
        "$in" => arg.as_array().is_some_and(|e| is_in(actual, e, None)),
        "$nin" => arg.as_array().is_some_and(|e| !is_in(actual, e, None)),
        "$ini" => arg.as_array().is_some_and(|e| is_in(actual, e, Some(rx))),
        "$nini" => arg.as_array().is_some_and(|e| !is_in(actual, e, Some(rx))),
        "$all" => is_in_all(actual, arg, rx, false),
        "$alli" => is_in_all(actual, arg, rx, true),
        "$not" => !eval_value(arg, actual, rx, false),
        "$size" => actual
            .as_array()
            .is_some_and(|list| eval_value(arg, &Value::from(list.len()), rx, false)),
        "$elemMatch" => elem_match(actual, arg, rx),
        "$regex" => regex_op(actual, arg, rx, false, false),
        "$regexi" => regex_op(actual, arg, rx, true, false),
        "$notRegex" => regex_op(actual, arg, rx, false, true),
        "$notRegexi" => regex_op(actual, arg, rx, true, true),
        "$type" => arg.as_str() == Some(type_name(actual)),
        // Unknown operators, and the unsupported saved-group operators, never match.
        _ => false,
    }
}

/// Strict JSON equality; numbers by value (`1 == 1.0`), arrays in order, objects by content.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => false,
    }
}

fn number_eq(x: &Number, y: &Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    x.as_f64() == y.as_f64()
}

/// JavaScript's `<`/`>`: two texts compare alphabetically; anything else compares as numbers
/// (`null`/missing is 0, booleans 0/1, texts parsed); `None` when unordered (NaN).
fn js_compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return Some(x.as_str().cmp(y.as_str()));
    }
    to_number(a).partial_cmp(&to_number(b))
}

/// JavaScript's `Number(v)`, for the values a JSON attribute can hold.
fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => str_to_number(s),
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// JavaScript's `Number(text)` for decimal text: surrounding spaces ignored, empty is 0,
/// `Infinity` allowed, anything else that is not a decimal number is NaN.
fn str_to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    parse_decimal(t).unwrap_or(f64::NAN)
}

/// A decimal number (`[+-]digits[.digits][(e|E)[+-]digits]`, at least one digit before or
/// after the point). Hand-written rather than `str::parse::<f64>`, whose tables would weigh
/// ~15 KB in the browser build. Exact for up to 19 significant digits and exponents within
/// ±22 (one rounding); beyond that within a few units in the last place, which is plenty for
/// comparing attribute values.
fn parse_decimal(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let (mut mantissa, mut exp10, mut digits, mut significant) = (0u64, 0i32, 0usize, 0usize);
    let mut digit = |d: u8, after_point: bool, mantissa: &mut u64, exp10: &mut i32| {
        if significant < 19 {
            *mantissa = *mantissa * 10 + u64::from(d);
            if *mantissa > 0 {
                significant += 1;
            }
            if after_point {
                *exp10 -= 1;
            }
        } else if !after_point {
            *exp10 += 1;
        }
    };
    while i < b.len() && b[i].is_ascii_digit() {
        digit(b[i] - b'0', false, &mut mantissa, &mut exp10);
        digits += 1;
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            digit(b[i] - b'0', true, &mut mantissa, &mut exp10);
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let sign = match b.get(i) {
            Some(b'-') => {
                i += 1;
                -1
            }
            Some(b'+') => {
                i += 1;
                1
            }
            _ => 1,
        };
        let start = i;
        let mut e: i32 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(b[i] - b'0'));
            i += 1;
        }
        if i == start {
            return None;
        }
        exp10 = exp10.saturating_add(sign * e);
    }
    if i != b.len() {
        return None;
    }
    let m = mantissa as f64;
    let v = if mantissa == 0 {
        0.0
    } else if exp10 >= 0 {
        m * pow10(exp10)
    } else {
        // Divide in steps so that tiny numbers do not go through an infinite 10^e.
        let (mut v, mut e) = (m, -exp10);
        while e > 300 {
            v /= 1e300;
            e -= 300;
        }
        v / pow10(e)
    };
    Some(if negative { -v } else { v })
}

/// 10^e for e ≥ 0 (exact up to 10^22), infinite beyond f64's range.
fn pow10(e: i32) -> f64 {
    if e > 400 {
        return f64::INFINITY;
    }
    let mut result = 1.0;
    let mut base = 10.0;
    let mut e = e;
    while e > 0 {
        if e & 1 == 1 {
            result *= base;
        }
        base *= base;
        e >>= 1;
    }
    result
}

/// JavaScript truthiness.
fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Case-insensitive text equality (Unicode lower-casing), without allocating: the default of
/// [`RegexEngine::eq_ignore_case`].
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// `ci`: compare text case-insensitively, with this engine's lower-casing.
fn item_eq(a: &Value, b: &Value, ci: Option<&dyn RegexEngine>) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if ci.is_some() => {
            ci.is_some_and(|rx| rx.eq_ignore_case(x, y))
        }
        _ => json_eq(a, b),
    }
}

/// `$in`: `actual` is one of `expected`; an array attribute needs at least one element in common.
fn is_in(actual: &Value, expected: &[Value], ci: Option<&dyn RegexEngine>) -> bool {
    match actual {
        Value::Array(items) => items
            .iter()
            .any(|a| expected.iter().any(|e| item_eq(a, e, ci))),
        _ => expected.iter().any(|e| item_eq(actual, e, ci)),
    }
}

/// `$all`: every expected value (or condition) is matched by some element of the array attribute.
fn is_in_all(actual: &Value, expected: &Value, rx: &dyn RegexEngine, insensitive: bool) -> bool {
    let (Value::Array(items), Value::Array(expected)) = (actual, expected) else {
        return false;
    };
    expected
        .iter()
        .all(|e| items.iter().any(|a| eval_value(e, a, rx, insensitive)))
}

/// `$elemMatch`: some element of the array attribute satisfies the condition — an operator object
/// applied to the element itself, or a condition over the element's fields.
fn elem_match(actual: &Value, condition: &Value, rx: &dyn RegexEngine) -> bool {
    let (Value::Array(items), Value::Object(map)) = (actual, condition) else {
        return false;
    };
    if is_operator_object(map) {
        items
            .iter()
            .any(|item| eval_value(condition, item, rx, false))
    } else {
        items.iter().any(|item| eval_cond(item, condition, rx))
    }
}

fn regex_op(
    actual: &Value,
    pattern: &Value,
    rx: &dyn RegexEngine,
    insensitive: bool,
    negate: bool,
) -> bool {
    let Some(pattern) = pattern.as_str() else {
        return false;
    };
    match actual.as_str() {
        // An invalid pattern (None) never matches, negated or not.
        Some(text) => rx
            .is_match(pattern, insensitive, text)
            .is_some_and(|m| m != negate),
        // Only text can match a regular expression.
        None => negate && rx.is_match(pattern, insensitive, "").is_some(),
    }
}

// ---------------------------------------------------------------------------------------------
// Versions ($veq, $vgt, ...)

/// Compares two versions the way GrowthBook does: as their "padded version strings" (leading `v`
/// and `+build` removed, split on `-` and `.`, `~` appended to a plain `x.y.z`, numeric parts
/// left-padded with spaces to 5 characters, joined with `-`), compared as text. The padded
/// strings are streamed, never built.
fn version_cmp(a: &Value, b: &Value, rx: &dyn RegexEngine) -> Ordering {
    with_version_text(a, rx, |a| {
        with_version_text(b, rx, |b| PaddedVersion::new(a).cmp(PaddedVersion::new(b)))
    })
}

/// Calls `f` with the text (as bytes) a value stands for as a version: text as is, a number as
/// JavaScript prints it (the host's [`RegexEngine::number_text`]), anything else (and empty
/// text) `"0"`.
fn with_version_text<R>(v: &Value, rx: &dyn RegexEngine, f: impl FnOnce(&[u8]) -> R) -> R {
    match v {
        Value::String(s) if !s.is_empty() => f(s.as_bytes()),
        Value::Number(n) => {
            // Integers by hand; fractions by the host (no float printer in the browser build).
            let mut int = crate::text::IntBuf::default();
            if let Some(u) = n.as_u64() {
                return f(crate::text::int_bytes(u, false, &mut int));
            }
            if let Some(i) = n.as_i64() {
                return f(crate::text::int_bytes(i.unsigned_abs(), i < 0, &mut int));
            }
            let text = rx.number_text(n.as_f64().unwrap_or(0.0));
            f(if text.is_empty() {
                b"0"
            } else {
                text.as_bytes()
            })
        }
        _ => f(b"0"),
    }
}

/// The bytes of GrowthBook's `paddedVersionString(input)`, produced lazily.
struct PaddedVersion<'a> {
    /// The input without its leading `v` and `+build` suffix.
    bytes: &'a [u8],
    /// Next byte of the current part to emit, and the end of the current part.
    pos: usize,
    end: usize,
    /// Spaces still to emit before the current part's bytes.
    pad: usize,
    started: bool,
    /// What is emitted after the last part: `-~` for a plain `x.y.z`, else nothing.
    tail: &'static [u8],
}

fn is_version_sep(b: u8) -> bool {
    b == b'-' || b == b'.'
}

impl<'a> PaddedVersion<'a> {
    fn new(input: &'a [u8]) -> Self {
        let input = input.strip_prefix(b"v").unwrap_or(input);
        let bytes = input.split(|&b| b == b'+').next().unwrap_or(input);
        let parts = 1 + bytes.iter().filter(|&&b| is_version_sep(b)).count();
        PaddedVersion {
            bytes,
            pos: 0,
            end: 0,
            pad: 0,
            started: false,
            tail: if parts == 3 { b"-~" } else { b"" },
        }
    }

    fn start_part(&mut self, start: usize) {
        let rest = self.bytes.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| is_version_sep(b))
            .unwrap_or(rest.len());
        let part = rest.get(..len).unwrap_or_default();
        let numeric = !part.is_empty() && part.iter().all(u8::is_ascii_digit);
        self.pos = start;
        self.end = start + len;
        self.pad = if numeric {
            5usize.saturating_sub(len)
        } else {
            0
        };
    }
}

impl Iterator for PaddedVersion<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if !self.started {
            self.started = true;
            self.start_part(0);
        }
        if self.pad > 0 {
            self.pad -= 1;
            return Some(b' ');
        }
        if self.pos < self.end {
            self.pos += 1;
            return self.bytes.get(self.pos - 1).copied();
        }
        if self.end < self.bytes.len() {
            // The separator after the current part: emit `-` and move to the next part.
            self.start_part(self.end + 1);
            return Some(b'-');
        }
        let (&first, rest) = self.tail.split_first()?;
        self.tail = rest;
        Some(first)
    }
}

// ---------------------------------------------------------------------------------------------
// Upload-time validation

/// Every problem in `condition`, as `(path, message)`: the path is relative to the condition
/// (`cart.total.$gtee`, `$or[1].country.$in`), the message is meant for the person who wrote it.
/// `is_valid_regex` decides whether a `$regex`-family pattern compiles. An empty list means the
/// condition is fine.
pub fn check_condition(
    condition: &Value,
    is_valid_regex: &dyn Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let mut checker = Checker {
        is_valid_regex,
        problems: Vec::new(),
    };
    checker.condition(condition, "");
    checker.problems
}

const LOGICAL: [&str; 4] = ["$and", "$or", "$nor", "$not"];

const OPERATORS: [&str; 29] = [
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$exists",
    "$in",
    "$nin",
    "$ini",
    "$nini",
    "$all",
    "$alli",
    "$not",
    "$size",
    "$elemMatch",
    "$regex",
    "$regexi",
    "$notRegex",
    "$notRegexi",
    "$type",
    "$inGroup",
    "$notInGroup",
];

const TYPES: [&str; 6] = ["string", "number", "boolean", "array", "object", "null"];

struct Checker<'f> {
    is_valid_regex: &'f dyn Fn(&str) -> bool,
    problems: Vec<(String, String)>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn quoted(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let short: String = text.chars().take(57).collect();
        format!("{short}...")
    } else {
        text
    }
}

/// The closest known name, when the unknown one looks like a typo of it.
fn suggestion(unknown: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .filter(|k| !matches!(**k, "$inGroup" | "$notInGroup"))
        .map(|k| {
            (
                edit_distance(&unknown.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= 2 && d < unknown.len().saturating_sub(1) => {
            format!(" (did you mean {k}?)")
        }
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

fn unsupported_group(op: &str) -> String {
    let instead = if op == "$inGroup" { "$in" } else { "$nin" };
    format!("saved groups ({op}) are not supported; list the values with {instead} instead")
}

impl Checker<'_> {
    fn problem(&mut self, path: String, message: String) {
        self.problems.push((path, message));
    }

    /// A whole condition: an object of attribute paths and `$and`/`$or`/`$nor`/`$not`.
    fn condition(&mut self, condition: &Value, path: &str) {
        let Value::Object(map) = condition else {
            self.problem(
                path.to_owned(),
                format!(
                    "a condition must be an object like {{\"country\": \"GB\"}}, not {}",
                    quoted(condition)
                ),
            );
            return;
        };
        for (key, value) in map {
            let here = join(path, key);
            match key.as_str() {
                "$and" | "$or" | "$nor" => match value {
                    Value::Array(list) => {
                        for (i, c) in list.iter().enumerate() {
                            self.condition(c, &format!("{here}[{i}]"));
                        }
                    }
                    _ => self.problem(here, format!("{key} needs a list of conditions")),
                },
                "$not" => self.condition(value, &here),
                "$inGroup" | "$notInGroup" => self.problem(here, unsupported_group(key)),
                op if op.starts_with('$') => {
                    let hint = suggestion(op, &LOGICAL);
                    self.problem(
                        here,
                        format!(
                            "unknown operator {op}{hint}; only $and, $or, $nor and $not \
                             combine conditions, and attribute names cannot start with $"
                        ),
                    );
                }
                attribute => {
                    if attribute.split('.').any(str::is_empty) {
                        self.problem(
                            here.clone(),
                            format!("attribute name \"{attribute}\" has an empty part"),
                        );
                    }
                    self.value(value, &here, attribute);
                }
            }
        }
    }

    /// What an attribute is tested against: a plain value (compared for equality) or an object of
    /// operators. `attribute` is the attribute path, for hints.
    fn value(&mut self, value: &Value, path: &str, attribute: &str) {
        let Value::Object(map) = value else {
            return;
        };
        let operators = map.keys().filter(|k| k.starts_with('$')).count();
        if operators == map.len() && operators > 0 {
            for (op, arg) in map {
                self.operator(op, arg, &join(path, op), attribute);
            }
        } else if operators > 0 {
            self.problem(
                path.to_owned(),
                "mixes operators (keys starting with $) and plain fields; use only operators, \
                 like {\"$gte\": 50}, and a dotted attribute name like \"cart.total\" for \
                 nested fields"
                    .to_owned(),
            );
        } else {
            // A plain object is compared for exact equality. Operators inside it are compared
            // literally too: almost certainly meant as a test of a nested field.
            for (key, inner) in map {
                if let Value::Object(m) = inner {
                    if m.keys().any(|k| k.starts_with('$')) {
                        let dotted = join(attribute, key);
                        self.problem(
                            join(path, key),
                            format!(
                                "to test a nested field write the dotted name \"{dotted}\" at \
                                 the top level; a nested object is compared for exact equality"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn operator(&mut self, op: &str, arg: &Value, path: &str, attribute: &str) {
        match op {
            "$eq" | "$ne" => {}
            "$lt" | "$lte" | "$gt" | "$gte" => {
                if !(arg.is_number() || arg.is_string()) {
                    self.problem(
                        path.to_owned(),
                        format!("{op} needs a number or a text, not {}", quoted(arg)),
                    );
                }
            }
            "$veq" | "$vne" | "$vgt" | "$vgte" | "$vlt" | "$vlte" => {
                let ok = arg.as_str().is_some_and(|s| !s.trim().is_empty()) || arg.is_number();
                if !ok {
                    self.problem(
                        path.to_owned(),
                        format!("{op} needs a version like \"1.2.3\", not {}", quoted(arg)),
                    );
                }
            }
            "$exists" => {
                if !arg.is_boolean() {
                    self.problem(path.to_owned(), "$exists needs true or false".to_owned());
                }
            }
            "$in" | "$nin" | "$ini" | "$nini" => {
                if !arg.is_array() {
                    self.problem(
                        path.to_owned(),
                        format!("{op} needs a list, like [\"GB\", \"IE\"]"),
                    );
                }
            }
            "$all" | "$alli" => match arg {
                Value::Array(list) => {
                    for (i, item) in list.iter().enumerate() {
                        self.value(item, &format!("{path}[{i}]"), attribute);
                    }
                }
                _ => self.problem(
                    path.to_owned(),
                    format!("{op} needs a list, like [\"a\", \"b\"]"),
                ),
            },
            "$not" => self.value(arg, path, attribute),
            "$size" => match arg {
                Value::Object(_) => self.value(arg, path, attribute),
                Value::Number(n) if n.as_u64().is_some() => {}
                _ => self.problem(
                    path.to_owned(),
                    "$size needs a whole number or a condition like {\"$gt\": 2}".to_owned(),
                ),
            },
            "$elemMatch" => match arg {
                Value::Object(map) if is_operator_object(map) => self.value(arg, path, attribute),
                Value::Object(_) => self.condition(arg, path),
                _ => self.problem(
                    path.to_owned(),
                    "$elemMatch needs a condition object, like {\"$gt\": 10} or \
                     {\"name\": \"x\"}"
                        .to_owned(),
                ),
            },
            "$regex" | "$regexi" | "$notRegex" | "$notRegexi" => match arg.as_str() {
                Some(pattern) => {
                    if !(self.is_valid_regex)(pattern) {
                        self.problem(
                            path.to_owned(),
                            format!("invalid regular expression: {pattern}"),
                        );
                    }
                }
                None => self.problem(
                    path.to_owned(),
                    format!("{op} needs a regular expression as text"),
                ),
            },
            "$type" => {
                if !arg.as_str().is_some_and(|t| TYPES.contains(&t)) {
                    self.problem(
                        path.to_owned(),
                        format!("$type must be one of: {}", TYPES.join(", ")),
                    );
                }
            }
            "$inGroup" | "$notInGroup" => self.problem(path.to_owned(), unsupported_group(op)),
            "$and" | "$or" | "$nor" => self.problem(
                path.to_owned(),
                format!(
                    "{op} combines whole conditions and cannot be applied to one attribute; \
                     put it at the top level"
                ),
            ),
            _ => {
                let hint = suggestion(op, &OPERATORS);
                self.problem(path.to_owned(), format!("unknown operator {op}{hint}"));
            }
        }
    }
}

#[cfg(test)]
mod decimal_tests {
    use super::parse_decimal;

    #[test]
    fn parses_like_rust_where_it_matters() {
        for t in [
            "0",
            "1",
            "-1",
            "+2.5",
            "10.",
            ".5",
            "1e3",
            "1E-3",
            "123456.789",
            "0.1",
            "3.14159",
            "99999999999999999999",
            "1.5e300",
            "-0.0",
            "007",
            "2.2250738585072014e-308",
        ] {
            let want: f64 = t.parse().unwrap_or(f64::NAN);
            let got = parse_decimal(t).unwrap_or(f64::NAN);
            let close = (want - got).abs() <= want.abs() * 1e-15;
            assert!(close, "{t}: {got} vs {want}");
        }
        for t in ["", ".", "e5", "1e", "1.2.3", "--1", "0x10", "1 2", "inf"] {
            assert_eq!(parse_decimal(t), None, "{t}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A regex engine for tests that cannot use the `regex` crate (no `native` feature):
    /// supports literal patterns with optional `^`/`$`; `(` alone is invalid.
    struct LiteralRegex;

    impl RegexEngine for LiteralRegex {
        fn is_match(&self, pattern: &str, ci: bool, text: &str) -> Option<bool> {
            if pattern.contains('(') {
                return None;
            }
            let (p, t) = if ci {
                (pattern.to_lowercase(), text.to_lowercase())
            } else {
                (pattern.to_owned(), text.to_owned())
            };
            let start = p.starts_with('^');
            let end = p.ends_with('$');
            let core = p.trim_start_matches('^').trim_end_matches('$');
            Some(match (start, end) {
                (true, true) => t == core,
                (true, false) => t.starts_with(core),
                (false, true) => t.ends_with(core),
                (false, false) => t.contains(core),
            })
        }
    }

    fn eval(attrs: Value, cond: Value) -> bool {
        eval_condition(&attrs, &cond, &LiteralRegex)
    }

    fn check(cond: Value) -> Vec<(String, String)> {
        check_condition(&cond, &|p: &str| !p.contains('('))
    }

    /// The trait's default host services (no regexes needed here).
    struct Plain;
    impl RegexEngine for Plain {
        fn is_match(&self, _: &str, _: bool, _: &str) -> Option<bool> {
            None
        }
    }

    #[test]
    fn numbers_as_versions_read_as_serde_json_prints_them() {
        for n in [
            json!(0),
            json!(7),
            json!(-5),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.25),
            json!(1e21),
            json!(1.0e-7),
            json!(123456789.125),
            json!(f64::MAX),
        ] {
            let got = with_version_text(&n, &Plain, |b| String::from_utf8(b.to_vec()).unwrap());
            assert_eq!(got, n.to_string());
        }
    }

    fn padded(s: &str) -> String {
        String::from_utf8(PaddedVersion::new(s.as_bytes()).collect()).unwrap()
    }

    #[test]
    fn padded_version_matches_growthbook() {
        assert_eq!(padded("1.2.3"), "    1-    2-    3-~");
        assert_eq!(padded("v1.2.3-rc.1+build123"), "    1-    2-    3-rc-    1");
        assert_eq!(padded("123456.0"), "123456-    0");
        assert_eq!(padded("a.b.c.d.e.f"), "a-b-c-d-e-f");
        assert_eq!(padded("1.2."), "    1-    2--~");
        assert_eq!(padded("v"), "");
        assert_eq!(padded("-."), "---~");

        // Against a direct transcription of GrowthBook's (allocating) function.
        fn reference(input: &str) -> String {
            let input = input.strip_prefix('v').unwrap_or(input);
            let input = input.split('+').next().unwrap_or("");
            let mut parts: Vec<String> = input.split(['-', '.']).map(str::to_owned).collect();
            if parts.len() == 3 {
                parts.push("~".to_owned());
            }
            parts
                .iter()
                .map(|p| {
                    if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                        format!("{p:>5}")
                    } else {
                        p.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join("-")
        }
        for v in [
            "",
            "1",
            "1.2",
            "1.2.3",
            "v1.2.3",
            "1.2.3+b.1",
            "1.0.0-rc.1",
            "10.0.0-0.0",
            "123456.1.2",
            "1..2",
            ".",
            "x-y",
            "1.2.3.4.5",
            "vv1",
            "1+2+3",
            "01.002.3",
        ] {
            assert_eq!(padded(v), reference(v), "{v:?}");
        }
    }

    #[test]
    fn versions_from_numbers_and_missing() {
        assert!(eval(json!({"v": 2}), json!({"v": {"$vgt": "1.9.9"}})));
        assert!(eval(json!({"v": 1.5}), json!({"v": {"$veq": "1.5"}})));
        assert!(eval(json!({}), json!({"v": {"$veq": "0"}})));
        assert!(eval(json!({"v": ""}), json!({"v": {"$vlt": "0.0.1"}})));
    }

    #[test]
    fn paths_walk_objects_and_arrays() {
        let attrs = json!({"cart": {"items": [{"sku": "A1"}], "total": 60}});
        assert!(eval(attrs.clone(), json!({"cart.total": {"$gte": 50}})));
        assert!(eval(attrs.clone(), json!({"cart.items.0.sku": "A1"})));
        assert!(!eval(attrs.clone(), json!({"cart.items.01.sku": "A1"})));
        assert!(eval(attrs, json!({"cart.items.1.sku": {"$exists": false}})));
    }

    #[test]
    fn strict_equality() {
        assert!(!eval(json!({"visits": "3"}), json!({"visits": 3})));
        assert!(eval(json!({"visits": 3.0}), json!({"visits": 3})));
        assert!(!eval(json!({"returning": 1}), json!({"returning": true})));
        assert!(eval(
            json!({"t": ["a", "b"]}),
            json!({"t": {"$eq": ["a", "b"]}})
        ));
        assert!(eval(
            json!({"c": "GB"}),
            json!({"c": {"$in": ["GB", "IE"]}})
        ));
        // An empty object is a plain value: it only matches an empty object.
        assert!(eval(json!({"c": {}}), json!({"c": {}})));
        assert!(!eval(json!({"c": 1}), json!({"c": {}})));
    }

    #[test]
    fn malformed_conditions_do_not_match() {
        assert!(!eval(json!({}), json!([])));
        assert!(!eval(json!({}), json!({"$or": {"a": 1}})));
        assert!(!eval(json!({}), json!({"$nor": "x"})));
        assert!(!eval(json!({}), json!({"$and": 1})));
        assert!(!eval(json!({}), json!({"$not": 1})));
        assert!(!eval(json!({"a": [1]}), json!({"a": {"$elemMatch": 1}})));
        assert!(!eval(json!({"a": "x"}), json!({"a": {"$regex": 1}})));
    }

    #[test]
    fn saved_groups_never_match() {
        assert!(!eval(json!({"id": 1}), json!({"id": {"$inGroup": "g"}})));
        assert!(!eval(json!({"id": 1}), json!({"id": {"$notInGroup": "g"}})));
    }

    #[test]
    fn regex_on_non_text() {
        assert!(!eval(json!({"n": 5}), json!({"n": {"$regex": "5"}})));
        assert!(eval(json!({}), json!({"n": {"$notRegex": "5"}})));
        assert!(!eval(json!({}), json!({"n": {"$notRegex": "("}})));
        assert!(!eval(json!({"n": "x"}), json!({"n": {"$notRegex": "("}})));
    }

    #[test]
    fn case_insensitive_unicode() {
        assert!(eval(
            json!({"c": "ÉCOLE"}),
            json!({"c": {"$ini": ["école"]}})
        ));
        assert!(eval(
            json!({"t": ["Ä", "b"]}),
            json!({"t": {"$alli": ["ä"]}})
        ));
    }

    #[test]
    fn numeric_text() {
        assert!(eval(json!({"n": " 8 "}), json!({"n": {"$gt": 5}})));
        assert!(!eval(json!({"n": "inf"}), json!({"n": {"$gt": 5}})));
        assert!(eval(json!({"n": "Infinity"}), json!({"n": {"$gt": 5}})));
        assert!(!eval(json!({"n": "abc"}), json!({"n": {"$lt": 5}})));
        assert!(!eval(json!({"n": "abc"}), json!({"n": {"$gte": 5}})));
    }

    #[test]
    fn check_accepts_valid_conditions() {
        let ok = json!({
            "cart.total": {"$gte": 50},
            "country": {"$in": ["GB", "IE"]},
            "$or": [{"device": "mobile"}, {"returning": true}],
            "$not": {"visits": {"$lt": 2}},
            "tags": {"$all": ["a", {"$regex": "^b"}], "$size": {"$gt": 1}},
            "items": {"$elemMatch": {"sku": {"$regexi": "^a"}}},
            "app": {"$vgte": "1.2.0"},
            "engaged.sale-chat-button": {"$type": "string"},
            "profile": {"plan": "gold"},
            "utm_source": null
        });
        assert_eq!(check(ok), vec![]);
    }

    #[test]
    fn check_reports_unknown_operator_with_path_and_hint() {
        let problems = check(json!({"cart.total": {"$gtee": 50}}));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "cart.total.$gtee");
        assert!(
            problems[0].1.starts_with("unknown operator $gtee"),
            "{:?}",
            problems
        );
        assert!(
            problems[0].1.contains("did you mean $gte?"),
            "{:?}",
            problems
        );
    }

    #[test]
    fn check_reports_every_problem_with_paths() {
        let problems = check(json!({
            "country": {"$in": "GB"},
            "$or": [{"a": 1}, 5, {"b": {"$regex": "("}}],
            "$and": {"a": 1},
            "x": {"$exists": "yes", "$type": "text", "$size": -1},
            "y": {"$elemMatch": 3, "$vgt": null, "$gt": [1]},
            "z": {"$nin": 1}
        }));
        let expect = [
            ("country.$in", "$in needs a list"),
            ("$or[1]", "a condition must be an object"),
            ("$or[2].b.$regex", "invalid regular expression: ("),
            ("$and", "$and needs a list of conditions"),
            ("x.$exists", "$exists needs true or false"),
            ("x.$type", "$type must be one of"),
            ("x.$size", "$size needs a whole number"),
            ("y.$elemMatch", "$elemMatch needs a condition object"),
            ("y.$vgt", "$vgt needs a version"),
            ("y.$gt", "$gt needs a number or a text"),
            ("z.$nin", "$nin needs a list"),
        ];
        for (path, start) in expect {
            assert!(
                problems
                    .iter()
                    .any(|(p, m)| p == path && m.starts_with(start)),
                "missing {path}: {start}; got {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    }

    #[test]
    fn check_rejects_saved_groups() {
        let problems =
            check(json!({"id": {"$inGroup": "vip"}, "$or": [{"id": {"$notInGroup": "x"}}]}));
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems
            .iter()
            .any(|(p, m)| p == "id.$inGroup" && m.contains("not supported")));
        assert!(problems
            .iter()
            .any(|(p, m)| p == "$or[0].id.$notInGroup" && m.contains("not supported")));
    }

    #[test]
    fn check_flags_likely_mistakes() {
        let problems = check(json!({"cart": {"total": {"$gte": 50}}}));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].0, "cart.total");
        assert!(problems[0].1.contains("\"cart.total\""));

        let problems = check(json!({"cart.total": {"$gte": 50, "currency": "GBP"}}));
        assert_eq!(problems[0].0, "cart.total");
        assert!(problems[0].1.starts_with("mixes operators"));

        let problems = check(json!({"$andd": []}));
        assert_eq!(problems[0].0, "$andd");
        assert!(problems[0]
            .1
            .starts_with("unknown operator $andd (did you mean $and?)"));

        let problems = check(json!({"a": {"$or": [{"$eq": 1}]}}));
        assert_eq!(problems[0].0, "a.$or");

        let problems = check(json!({"cart..total": 1}));
        assert!(problems[0].1.contains("empty part"));

        let problems = check(json!("country = GB"));
        assert_eq!(problems[0].0, "");
    }

    #[test]
    fn check_recurses_into_not_all_and_elem_match() {
        let problems = check(json!({
            "$not": {"a": {"$bad": 1}},
            "t": {"$all": [{"$regex": "("}], "$not": {"$foo": 1}},
            "h": {"$elemMatch": {"name": {"$eqq": "x"}}}
        }));
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"$not.a.$bad"), "{paths:?}");
        assert!(paths.contains(&"t.$all[0].$regex"), "{paths:?}");
        assert!(paths.contains(&"t.$not.$foo"), "{paths:?}");
        assert!(paths.contains(&"h.$elemMatch.name.$eqq"), "{paths:?}");
        assert_eq!(problems.len(), 4);
    }
}
