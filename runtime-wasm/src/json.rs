//! JSON without a JSON library in the wasm: text is parsed and printed by the browser
//! (`JSON.parse`/`JSON.stringify`) and converted to and from `serde_json::Value`, the engine's
//! data type, by two small walks. Typed values are read from `Value` by hand ([`crate::decode`])
//! — serde's generated code per type and serde_json's text parser and printer would cost tens of
//! kilobytes of the size budget.

use engage_engine::visit::Visit;
use serde_json::{Map, Number, Value};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    /// `[strings, numbers]`: a JS value flattened by `js/host.js` (see [`from_js`]).
    fn tape(v: &JsValue) -> js_sys::Array;
}

/// `JSON.parse(text)` as a `Value`; `None` for anything that is not JSON.
pub fn parse(text: &str) -> Option<Value> {
    let v = js_sys::JSON::parse(text).ok()?;
    Some(from_js(&v))
}

/// A JSON-like JS value (as `JSON.parse` makes them) as a `Value`; nesting deeper than 64
/// reads as `null`.
///
/// `js/host.js`'s `tape` walks the value in JavaScript and hands over two things: every string
/// and key concatenated, and one `Float64Array` of tags, numbers and lengths. Reading a value
/// node by node across the boundary (type checks, `Object.entries`, every string passed on
/// its own) cost ≈ 15 calls per node: 68 ms for a 1,000-campaign bundle, against a few ms
/// for the tape.
pub fn from_js(v: &JsValue) -> Value {
    let t = tape(v);
    let text = t.get(0).as_string().unwrap_or_default();
    let nums = js_sys::Float64Array::from(t.get(1)).to_vec();
    Tape {
        s: &text,
        n: &nums,
        i: 0,
    }
    .value()
}

/// A reader over `tape`'s output. Tags: 0 null, 1 false, 2 true, 3 number, 4 string, 5 array,
/// 6 object; a string is its length in UTF-16 units (JavaScript's `length`) and its text is
/// the next that many units of `s`; an array or object is its length, then its items (an
/// object's as key string, value). Past the end everything reads as `null`.
struct Tape<'a> {
    s: &'a str,
    n: &'a [f64],
    i: usize,
}

impl Tape<'_> {
    fn num(&mut self) -> f64 {
        let x = self.n.get(self.i).copied().unwrap_or(0.0);
        self.i += 1;
        x
    }

    fn string(&mut self) -> String {
        let mut units = self.num() as usize;
        let mut end = 0;
        for c in self.s.chars() {
            if units == 0 {
                break;
            }
            units = units.saturating_sub(c.len_utf16());
            end += c.len_utf8();
        }
        // `get`, not `split_at`: `end` is a char boundary, and `split_at`'s panic message would
        // bring in kilobytes of formatting code.
        let a = self.s.get(..end).unwrap_or_default().to_owned();
        self.s = self.s.get(end..).unwrap_or_default();
        a
    }

    fn value(&mut self) -> Value {
        match self.num() as u8 {
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => number(self.num()),
            4 => Value::String(self.string()),
            5 => {
                let mut a = Vec::new();
                for _ in 0..self.num() as usize {
                    a.push(self.value());
                }
                Value::Array(a)
            }
            6 => {
                let mut m = Map::new();
                for _ in 0..self.num() as usize {
                    let k = self.string();
                    m.insert(k, self.value());
                }
                Value::Object(m)
            }
            _ => Value::Null,
        }
    }
}

/// Whole numbers become integers (what the engine reads ids, counts and instants as).
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

pub fn to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(a) => a.iter().map(to_js).collect::<js_sys::Array>().into(),
        Value::Object(m) => {
            let o = js_sys::Object::new();
            for (k, v) in m {
                set(&o, k, &to_js(v));
            }
            o.into()
        }
    }
}

pub fn object(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The stored form of a visit (the engine's hand-written `Visit::to_value`), as JSON text.
pub fn store_visit(v: &Visit) -> String {
    stringify_js(&to_js(&v.to_value()))
}

/// `o[key] = value` (a plain data property; never throws for plain objects).
pub fn set(o: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(o, &JsValue::from_str(key), value);
}

/// `JSON.stringify` of a JS value.
pub fn stringify_js(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}
