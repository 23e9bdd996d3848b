//! Network: fetch helpers, the availability snapshot format, and the event queue.
//!
//! Requests are simple CORS requests where possible (`text/plain` bodies, no custom headers)
//! so they need no preflight; the bundle's revalidation sends `If-None-Match`.

use engage_engine::availability::{Availability, SkillAvailability};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{RequestInit, Response};

/// A finished HTTP exchange. Network failures give `None`.
pub struct Fetched {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Promise)]
    type Thenable;
    /// `promise.then(f, f)`.
    #[wasm_bindgen(method, js_name = then)]
    fn then_both(this: &Thenable, on_ok: &JsValue, on_err: &JsValue);
}

/// Calls `f` once with what `p` settles to: its value, or the rejection reason. Plain callbacks
/// rather than `async`: the futures executor costs kilobytes of wasm. One JS function serves
/// both outcomes (only one is ever called, and it frees itself then); callers tell them apart
/// by the value's type.
fn settle(p: &js_sys::Promise, f: impl FnOnce(JsValue) + 'static) {
    let f = Closure::once_into_js(f);
    p.unchecked_ref::<Thenable>().then_both(&f, &f);
}

fn send(url: &str, init: &RequestInit, done: Box<dyn FnOnce(Option<Response>)>) {
    match crate::dom::win() {
        Some(w) => settle(&w.fetch_with_str_and_init(url, init), move |v| {
            done(v.dyn_into::<Response>().ok())
        }),
        None => done(None),
    }
}

/// `GET url`, with `If-None-Match` when an ETag is known; `done` gets the exchange.
pub fn get(url: &str, etag: Option<&str>, done: Box<dyn FnOnce(Option<Fetched>)>) {
    let init = RequestInit::new();
    crate::dom::set(&init, "method", &"GET".into());
    if let Some(tag) = etag {
        let h = js_sys::Object::new();
        crate::dom::set(&h, "If-None-Match", &JsValue::from_str(tag));
        crate::dom::set(&init, "headers", &h);
    }
    send(
        url,
        &init,
        Box::new(move |r| {
            let Some(r) = r else {
                return done(None);
            };
            let status = r.status();
            let etag = r.headers().get("etag").ok().flatten();
            match r.text() {
                Ok(p) => settle(&p, move |v| {
                    done(v.as_string().map(|body| Fetched { status, etag, body }))
                }),
                Err(_) => done(None),
            }
        }),
    );
}

/// `POST url` with a `text/plain` body; `done` gets the status, 0 on network failure.
pub fn post(url: &str, body: &str, keepalive: bool, done: Box<dyn FnOnce(u16)>) {
    let init = RequestInit::new();
    crate::dom::set(&init, "method", &"POST".into());
    crate::dom::set(&init, "body", &JsValue::from_str(body));
    if keepalive {
        crate::dom::set(&init, "keepalive", &JsValue::TRUE);
    }
    send(
        url,
        &init,
        Box::new(move |r| done(r.map_or(0, |r| r.status()))),
    );
}

/// `navigator.sendBeacon(url, body)`: `true` when the browser queued it.
pub fn beacon(url: &str, body: &str) -> bool {
    crate::dom::win().is_some_and(|w| {
        w.navigator()
            .send_beacon_with_opt_str(url, Some(body))
            .unwrap_or(false)
    })
}

/// `{"skills": {"sales": {"agents_online": 2, ...}}, "updated_at": "..."}` (also a bare map of
/// skills). Missing numbers read as 0; anything else gives `None`.
pub fn parse_availability(text: &str) -> Option<Availability> {
    let v = crate::json::parse(text)?;
    let skills = v.get("skills").unwrap_or(&v).as_object()?;
    let num = |o: &Value, k: &str| {
        o.get(k)
            .and_then(Value::as_u64)
            .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32)
    };
    let mut out = Availability::new();
    for (skill, a) in skills.iter().take(1000) {
        if !a.is_object() {
            return None;
        }
        out.insert(
            skill.clone(),
            SkillAvailability {
                agents_online: num(a, "agents_online"),
                agents_with_capacity: num(a, "agents_with_capacity"),
                expected_wait_seconds: num(a, "expected_wait_seconds"),
            },
        );
    }
    Some(out)
}

/// Events kept at most; the oldest are dropped first.
pub const MAX_QUEUE: usize = 500;
/// Events per request.
pub const MAX_BATCH: usize = 100;
/// Bytes of events per request (a beacon carries at most 64 KiB).
pub const MAX_BATCH_BYTES: usize = 60_000;

/// Events (each as JSON text) not yet accepted by the server, oldest first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EventQueue {
    items: Vec<String>,
    /// How many of the first items are being sent.
    pub in_flight: usize,
}

impl EventQueue {
    /// The stored queue; unreadable content gives an empty one.
    pub fn load(stored: Option<&str>) -> EventQueue {
        let items = stored
            .and_then(crate::json::parse)
            .and_then(|v| match v {
                Value::Array(a) => Some(a),
                _ => None,
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.get("type").is_some_and(Value::is_string))
            .map(|v| crate::json::stringify(&v))
            .collect::<Vec<_>>();
        let mut q = EventQueue {
            items,
            in_flight: 0,
        };
        q.trim();
        q
    }

    pub fn push(&mut self, event_json: String) {
        self.items.push(event_json);
        self.trim();
    }

    fn trim(&mut self) {
        if self.items.len() > MAX_QUEUE {
            let drop = self.items.len() - MAX_QUEUE;
            self.items.drain(..drop);
            self.in_flight = self.in_flight.saturating_sub(drop);
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// What storage keeps: a JSON array.
    pub fn to_json(&self) -> String {
        let mut s = String::from("[");
        s.push_str(&self.items.join(","));
        s.push(']');
        s
    }

    /// The next batch after `skip` items: how many events, within the count and byte limits.
    pub fn next_batch(&self, skip: usize) -> usize {
        let mut bytes = 0;
        let mut n = 0;
        for e in self.items.iter().skip(skip).take(MAX_BATCH) {
            bytes += e.len() + 1;
            if n > 0 && bytes > MAX_BATCH_BYTES {
                break;
            }
            n += 1;
        }
        n
    }

    /// The request body for `count` items from `skip`:
    /// `{"visitor": "<id>", "events": [...]}`.
    pub fn body(&self, visitor: &str, skip: usize, count: usize) -> String {
        let mut s = String::from("{\"visitor\":");
        s.push_str(&crate::json::stringify(&Value::from(visitor)));
        s.push_str(",\"events\":[");
        let end = (skip + count).min(self.items.len());
        s.push_str(&self.items[skip.min(end)..end].join(","));
        s.push_str("]}");
        s
    }

    /// The in-flight request ended: `delivered` (or refused for good) drops its events,
    /// otherwise they stay for a retry.
    pub fn finish(&mut self, delivered: bool) {
        let n = self.in_flight.min(self.items.len());
        if delivered {
            self.items.drain(..n);
        }
        self.in_flight = 0;
    }

    /// `count` items from `skip` were handed to the browser (a beacon): drop them.
    pub fn remove(&mut self, skip: usize, count: usize) {
        let start = skip.min(self.items.len());
        let end = (skip + count).min(self.items.len());
        self.items.drain(start..end);
    }
}
