//! The one entry point the JavaScript host calls: `engine(op, a, b)`.
//!
//! | op | a | b | answer |
//! |---|---|---|---|
//! | [`OPEN`] | profile `{id, device, language}` | stored visit text or `null` | `true` when the stored visit was kept |
//! | [`BUNDLE`] | parsed bundle JSON | flags: 1 decisions have started, 2 its campaigns are the [`PART`]s since the last reset | `{zones, live}` or `null` when unreadable |
//! | [`APPLY`] | now (ms) | input object (below) | outcome |
//! | [`PEEK`] | now (ms) | — | outcome with the trace, nothing changed |
//! | [`STATE`] | — | — | the stored visit text |
//! | [`INFO`] | — | — | `{visit, pages, language, attributes}` |
//! | [`AVAIL`] | availability `{skill: {...}}` | — | `true`; the starting snapshot, no decision |
//! | [`MERGE`] | attributes object | — | `true`; merged without a decision |
//! | [`SHOWN`] | — | — | outcome with the engagements on the page now |
//! | [`CREATIVE`] | engagement id | state | the creative key a conversation opened in that state uses |
//! | [`PART`] | an array of bundle campaigns | `true`: the first (drops earlier parts) | `true`, or `null` when one is unreadable |
//!
//! A large bundle is handed over in parts, one call each in tasks of their own, so decoding a
//! thousand campaigns never holds the page's main thread for long (issue #17).
//!
//! Inputs: `{page: {url, title, section, referrer, elements}}`, `{tick: 1}`,
//! `{attributes: {...}}`, `{accept: id}`, `{decline: id}`, `{availability: {...}}`,
//! `{goal: {name, value}}`, `{scroll: pct}`, `{exit: 1}`, `{activity: 1}`,
//! `{elements: [ids]}`; with `trace: true` the outcome carries the trace.
//!
//! Outcome: `{shown: [{campaign, engagement, zone, state, creative}], events: [event],
//! next_wake, refresh, trace, new_visit}`. `creative` names which of the engagement's creatives
//! (`online`/`busy`/`offline`/`content`) the state shows (the engine's fallback rule), `refresh`
//! the smallest `refresh_seconds` among displayed engagements that follow availability (the
//! host keeps a live feed while there is one). Events are the engine's `Event` serialization,
//! what `POST /v1/sites/{site}/events` takes.

use crate::json::{from_js, object, set};
use crate::regex::JsRegex;
use engage_engine::availability::{Availability, SkillAvailability, State};
use engage_engine::bundle::{Bundle, BundleCampaign, BUNDLE_FORMAT};
use engage_engine::model::{Source, Zone};
use engage_engine::visit::{
    Context, Device, Event, EventKind, Goal, Input, Outcome, PageView, Profile, Shown, TraceEntry,
    TraceResult, Visit,
};
use serde_json::Value;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

pub const OPEN: u32 = 0;
pub const BUNDLE: u32 = 1;
pub const APPLY: u32 = 2;
pub const PEEK: u32 = 3;
pub const STATE: u32 = 4;
pub const INFO: u32 = 5;
pub const AVAIL: u32 = 6;
pub const MERGE: u32 = 7;
pub const SHOWN: u32 = 8;
pub const CREATIVE: u32 = 9;
pub const PART: u32 = 10;

struct Engine {
    visit: Visit,
    bundle: Option<Bundle>,
    /// Campaigns of a bundle being handed over in parts.
    parts: Vec<BundleCampaign>,
    regex: JsRegex,
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine {
        visit: Visit::new(Profile::default()),
        bundle: None,
        parts: Vec::new(),
        regex: JsRegex::new(),
    });
}

/// The `engine(op, a, b)` function handed to the host.
pub fn engine() -> JsValue {
    Closure::<dyn FnMut(u32, JsValue, JsValue) -> JsValue>::new(call).into_js_value()
}

/// One operation (see the module docs). Never panics on what the page passes: anything
/// malformed answers `null`.
pub fn call(op: u32, a: JsValue, b: JsValue) -> JsValue {
    // `try_with`, not `with`: `with` panics with a formatted message (its Debug code weighs).
    ENGINE
        .try_with(|e| match e.try_borrow_mut() {
            Ok(mut e) => e.call(op, &a, &b),
            Err(_) => JsValue::NULL,
        })
        .unwrap_or(JsValue::NULL)
}

impl Engine {
    fn call(&mut self, op: u32, a: &JsValue, b: &JsValue) -> JsValue {
        match op {
            OPEN => self.open(a, b).into(),
            BUNDLE => {
                let flags = b.as_f64().unwrap_or(0.0) as u32;
                self.set_bundle(a, flags & 1 != 0, flags & 2 != 0)
            }
            PART => {
                if b.is_truthy() {
                    self.parts.clear();
                }
                match crate::decode::campaigns(&from_js(a), &mut self.parts) {
                    Some(()) => JsValue::TRUE,
                    None => JsValue::NULL,
                }
            }
            APPLY => match input(&from_js(b)) {
                Some(i) => {
                    let trace =
                        js_sys::Reflect::get(b, &"trace".into()).is_ok_and(|t| t.is_truthy());
                    self.apply(now(a), i, trace)
                }
                None => JsValue::NULL,
            },
            PEEK => match &self.bundle {
                Some(bundle) => {
                    let ctx = Context {
                        bundle,
                        regex: &self.regex,
                    };
                    let out = self.visit.peek(&ctx, now(a));
                    outcome(&out, bundle)
                }
                None => JsValue::NULL,
            },
            STATE => crate::json::store_visit(&self.visit).into(),
            INFO => self.info(),
            AVAIL => {
                self.visit.set_availability(availability(&from_js(a)));
                JsValue::TRUE
            }
            MERGE => match object(from_js(a)) {
                Some(m) => {
                    self.visit.merge_attributes(m);
                    JsValue::TRUE
                }
                None => JsValue::NULL,
            },
            SHOWN => match &self.bundle {
                Some(bundle) => {
                    let out = Outcome {
                        shown: self.visit.shown(),
                        ..Outcome::default()
                    };
                    outcome(&out, bundle)
                }
                None => JsValue::NULL,
            },
            CREATIVE => {
                let (Some(id), Some(bundle)) = (a.as_string(), &self.bundle) else {
                    return JsValue::NULL;
                };
                let state = b.as_string().and_then(|s| crate::decode::state(&s));
                bundle
                    .find(&id)
                    .map(|(_, e)| e)
                    .and_then(|e| e.creative.slot_for(state.unwrap_or(State::Online), true))
                    .map_or(JsValue::NULL, |s| JsValue::from_str(s.as_str()))
            }
            _ => JsValue::NULL,
        }
    }

    /// A stored visit of this visitor, or a new one; the profile is the page's either way.
    fn open(&mut self, profile: &JsValue, stored: &JsValue) -> bool {
        let p = from_js(profile);
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(String::from);
        let device = match p.get("device").and_then(Value::as_str) {
            Some("mobile") => Device::Mobile,
            Some("tablet") => Device::Tablet,
            _ => Device::Desktop,
        };
        let profile = Profile {
            id: text("id").unwrap_or_default(),
            device,
            language: text("language"),
            country: None,
        };
        let kept = stored
            .as_string()
            .and_then(|s| crate::json::parse(&s))
            .and_then(|v| Visit::from_value(&v))
            .filter(|v| v.profile().id == profile.id);
        let found = kept.is_some();
        let avail = self.visit.availability().clone();
        self.visit = kept.unwrap_or_else(|| Visit::new(profile.clone()));
        self.visit.set_profile(profile);
        self.visit.set_availability(avail);
        found
    }

    fn set_bundle(&mut self, v: &JsValue, started: bool, from_parts: bool) -> JsValue {
        let parts = std::mem::take(&mut self.parts);
        let Some(mut b) = crate::decode::bundle(&from_js(v)).filter(|b| b.format == BUNDLE_FORMAT)
        else {
            return JsValue::NULL;
        };
        if from_parts {
            b.campaigns = parts;
        }
        if started {
            // A newer version may have disabled or removed what is on the page.
            self.visit.bundle_changed(&b);
        }
        let zones = js_sys::Array::new();
        let mut live = false;
        for e in b.campaigns.iter().flat_map(|c| c.engagements.iter()) {
            if e.source != Source::Web {
                continue;
            }
            live |= e.follows_availability();
            if let Some(Zone::Embedded(id)) = &e.zone {
                if !zones.includes(&JsValue::from_str(id), 0) {
                    zones.push(&JsValue::from_str(id));
                }
            }
        }
        let o = js_sys::Object::new();
        set(&o, "zones", &zones);
        set(&o, "live", &live.into());
        self.bundle = Some(b);
        o.into()
    }

    fn apply(&mut self, now: i64, input: Input, trace: bool) -> JsValue {
        let Some(bundle) = &self.bundle else {
            return JsValue::NULL;
        };
        let ctx = Context {
            bundle,
            regex: &self.regex,
        };
        let out = self.visit.apply(&ctx, now, input, trace);
        outcome(&out, bundle)
    }

    fn info(&self) -> JsValue {
        let o = js_sys::Object::new();
        set(&o, "visit", &self.visit.number().into());
        set(&o, "pages", &self.visit.pages_viewed().into());
        let lang = self.visit.profile().language.as_deref();
        set(
            &o,
            "language",
            &lang.map_or(JsValue::NULL, JsValue::from_str),
        );
        set(
            &o,
            "attributes",
            &crate::json::to_js(&self.visit.attributes()),
        );
        o.into()
    }
}

fn now(v: &JsValue) -> i64 {
    v.as_f64().map_or(0, |n| n as i64)
}

/// An input object from the host.
fn input(v: &Value) -> Option<Input> {
    let o = v.as_object()?;
    let (k, x) = o.iter().find(|(k, _)| *k != "trace")?;
    let s = |k: &str| x.get(k).and_then(Value::as_str).map(String::from);
    Some(match k.as_str() {
        "page" => Input::Page(PageView {
            url: s("url")?,
            title: s("title"),
            section: s("section"),
            referrer: s("referrer"),
            elements: x.get("elements").map(strings),
        }),
        "tick" => Input::Tick,
        "attributes" => Input::Attributes(object(x.clone())?),
        "accept" => Input::Accept(x.as_str()?.into()),
        "decline" => Input::Decline(x.as_str()?.into()),
        "availability" => Input::Availability(availability(x)),
        "goal" => Input::Goal(Goal {
            name: s("name")?,
            value: x.get("value").and_then(Value::as_f64),
        }),
        "scroll" => Input::Scroll(x.as_u64()?.min(100) as u32),
        "exit" => Input::ExitIntent,
        "activity" => Input::Activity,
        "elements" => Input::Elements(strings(x)),
        _ => return None,
    })
}

fn strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for x in v.as_array().map_or(&[][..], Vec::as_slice) {
        if let Some(s) = x.as_str() {
            out.push(s.into());
        }
    }
    out
}

/// `{"skills": {"sales": {"agents_online": 2, ...}}, "updated_at": "..."}` (or the bare map
/// of skills). Missing numbers read as 0; anything else is skipped.
pub fn availability(v: &Value) -> Availability {
    let mut out = Availability::new();
    let Some(skills) = v.get("skills").unwrap_or(v).as_object() else {
        return out;
    };
    let num = |o: &Value, k: &str| {
        o.get(k)
            .and_then(Value::as_u64)
            .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32)
    };
    for (skill, a) in skills.iter().take(1000) {
        if a.is_object() {
            let s = SkillAvailability {
                agents_online: num(a, "agents_online"),
                agents_with_capacity: num(a, "agents_with_capacity"),
                expected_wait_seconds: num(a, "expected_wait_seconds"),
            };
            out.insert(skill.clone(), s);
        }
    }
    out
}

fn opt(o: &js_sys::Object, k: &str, v: Option<&str>) {
    if let Some(v) = v {
        set(o, k, &JsValue::from_str(v));
    }
}

/// The outcome as the host reads it (see the module docs).
fn outcome(out: &Outcome, bundle: &Bundle) -> JsValue {
    let o = js_sys::Object::new();
    let shown = js_sys::Array::new();
    let mut refresh: Option<u32> = None;
    for s in &out.shown {
        shown.push(&shown_js(s, bundle));
        if let Some(e) = bundle
            .find(&s.engagement)
            .map(|(_, e)| e)
            .filter(|e| e.follows_availability())
        {
            refresh = match (refresh, e.refresh_seconds) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    set(&o, "shown", &shown);
    let events = js_sys::Array::new();
    for e in &out.events {
        events.push(&event(e));
    }
    set(&o, "events", &events);
    if let Some(w) = out.next_wake {
        set(&o, "next_wake", &JsValue::from_f64(w as f64));
    }
    if let Some(r) = refresh {
        set(&o, "refresh", &r.into());
    }
    if !out.trace.is_empty() {
        let t = js_sys::Array::new();
        for e in &out.trace {
            t.push(&trace(e));
        }
        set(&o, "trace", &t);
    }
    set(&o, "new_visit", &out.new_visit.into());
    o.into()
}

fn shown_js(s: &Shown, bundle: &Bundle) -> JsValue {
    let o = js_sys::Object::new();
    opt(&o, "campaign", Some(&s.campaign));
    opt(&o, "engagement", Some(&s.engagement));
    opt(&o, "zone", Some(&s.zone));
    opt(&o, "state", Some(s.state.as_str()));
    // Which of its creatives the engagement shows in this state: the engine's fallback rule.
    let slot = bundle
        .find(&s.engagement)
        .map(|(_, e)| e)
        .and_then(|e| e.creative.slot_for(s.state, e.is_messaging()));
    opt(&o, "creative", slot.map(State::as_str));
    o.into()
}

fn trace(t: &TraceEntry) -> JsValue {
    let o = js_sys::Object::new();
    opt(&o, "campaign", Some(&t.campaign));
    opt(&o, "engagement", Some(&t.engagement));
    let result = match t.result {
        TraceResult::Shown => "shown",
        TraceResult::Rejected => "rejected",
    };
    opt(&o, "result", Some(result));
    opt(&o, "reason", t.reason.map(|r| r.as_str()));
    opt(&o, "detail", t.detail.as_deref());
    opt(&o, "zone", t.zone.as_deref());
    opt(&o, "state", t.state.map(|s| s.as_str()));
    o.into()
}

/// An engine event as the server takes it (the engine's `Event` serialization).
pub fn event(e: &Event) -> JsValue {
    let o = js_sys::Object::new();
    let kind = match e.kind {
        EventKind::Impression => "impression",
        EventKind::Accept => "accept",
        EventKind::Decline => "decline",
        EventKind::Control => "control",
        EventKind::Goal => "goal",
        EventKind::State => "state",
    };
    opt(&o, "type", Some(kind));
    set(&o, "at", &JsValue::from_f64(e.at as f64));
    set(&o, "visit", &e.visit.into());
    opt(&o, "campaign", e.campaign.as_deref());
    opt(&o, "engagement", e.engagement.as_deref());
    opt(&o, "zone", e.zone.as_deref());
    opt(&o, "state", e.state.map(|s| s.as_str()));
    opt(&o, "name", e.name.as_deref());
    if let Some(v) = e.value {
        set(&o, "value", &JsValue::from_f64(v));
    }
    o.into()
}
