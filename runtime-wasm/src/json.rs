//! JSON without a JSON library in the wasm: text is parsed and printed by the browser
//! (`JSON.parse`/`JSON.stringify`) and converted to and from `serde_json::Value`, the engine's
//! data type, by two small walks. Typed values are read from `Value` by hand ([`crate::decode`])
//! — serde's generated code per type and serde_json's text parser and printer would cost tens of
//! kilobytes of the size budget.

use engage_engine::visit::Visit;
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

/// Deepest nesting converted; deeper values read as `null`.
const MAX_DEPTH: u32 = 64;

/// `JSON.parse(text)` as a `Value`; `None` for anything that is not JSON.
pub fn parse(text: &str) -> Option<Value> {
    let v = js_sys::JSON::parse(text).ok()?;
    Some(from_js(&v, 0))
}

/// A JSON-like JS value (as `JSON.parse` makes them) as a `Value`.
pub fn from_js(v: &JsValue, depth: u32) -> Value {
    if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Some(n) = v.as_f64() {
        number(n)
    } else if let Some(s) = v.as_string() {
        Value::String(s)
    } else if depth >= MAX_DEPTH {
        Value::Null
    } else if js_sys::Array::is_array(v) {
        let a: &js_sys::Array = v.unchecked_ref();
        Value::Array(a.iter().map(|x| from_js(&x, depth + 1)).collect())
    } else if v.is_object() {
        let mut m = Map::new();
        for e in js_sys::Object::entries(v.unchecked_ref()).iter() {
            let e: js_sys::Array = e.unchecked_into();
            if let Some(k) = e.get(0).as_string() {
                m.insert(k, from_js(&e.get(1), depth + 1));
            }
        }
        Value::Object(m)
    } else {
        Value::Null
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
