//! The visit's stored form, written by hand.
//!
//! The browser keeps the visit in `localStorage`. Serde's derived code for it would weigh ~30 KB
//! of wasm, so the browser build converts to and from a `serde_json::Value` here instead (the
//! runtime turns that into text with the browser's own `JSON`). The shape is exactly what the
//! serde derive writes (natively `to_json` is serde, and a test keeps the two identical).

use super::{Displayed, Page, PastPage, Settled, Visit, VISIT_FORMAT};
use crate::availability::{Availability, State};
use crate::model::PerKind;
use crate::visit::{Device, Profile};
use serde_json::{Map, Value};

impl Visit {
    /// The stored form (see [`Visit::from_value`]).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "v", Value::from(self.format));
        put(&mut m, "p", profile_to(&self.profile));
        put(&mut m, "n", Value::from(self.visits));
        put(&mut m, "st", Value::from(self.started_at));
        put(&mut m, "li", Value::from(self.last_input_at));
        put(&mut m, "la", Value::from(self.last_activity_at));
        put(&mut m, "a", Value::Object(self.attributes.clone()));
        if let Some(r) = &self.referrer {
            put(&mut m, "r", Value::from(r.as_str()));
        }
        let utm = self.utm.iter().map(|u| opt_str(u.as_deref())).collect();
        put(&mut m, "utm", Value::Array(utm));
        put(&mut m, "pv", Value::from(self.pages_viewed));
        let past = self.past_pages.iter().map(past_to).collect();
        put(&mut m, "pp", Value::Array(past));
        if let Some(p) = &self.page {
            put(&mut m, "pg", page_to(p));
        }
        let displayed = self.displayed.iter().map(displayed_to).collect();
        put(&mut m, "d", Value::Array(displayed));
        put(&mut m, "dc", strings_to(&self.declined));
        put(&mut m, "ac", strings_to(&self.accepted));
        put(&mut m, "cg", strings_to(&self.controlled));
        put(
            &mut m,
            "k",
            per_kind_to(self.proactive_displays.map(Value::from)),
        );
        put(
            &mut m,
            "kd",
            per_kind_to(self.proactive_declined.map(Value::from)),
        );
        let engaged = self
            .engaged
            .iter()
            .map(|(id, f)| Value::Array(vec![Value::from(id.as_str()), Value::from(*f)]))
            .collect();
        put(&mut m, "en", Value::Array(engaged));
        Value::Object(m)
    }

    /// Restores a stored visit. Anything of another shape or format gives `None`, and the
    /// caller starts afresh: tampered storage is never fatal.
    pub fn from_value(v: &Value) -> Option<Visit> {
        let m = v.as_object()?;
        if m.get("v")?.as_u64()? != u64::from(VISIT_FORMAT) {
            return None;
        }
        let visits = u32_at(m, "n")?;
        if visits >= 1_000_000 {
            return None;
        }
        Some(Visit {
            format: VISIT_FORMAT,
            profile: profile_from(m.get("p")?)?,
            visits,
            started_at: m.get("st")?.as_i64()?,
            last_input_at: m.get("li")?.as_i64()?,
            last_activity_at: m.get("la")?.as_i64()?,
            attributes: match m.get("a") {
                None => Map::new(),
                Some(a) => a.as_object()?.clone(),
            },
            referrer: opt_string(m.get("r"))?,
            utm: match m.get("utm") {
                None => Default::default(),
                Some(u) => {
                    let u = u.as_array()?;
                    if u.len() != 3 {
                        return None;
                    }
                    [
                        opt_string(u.first())?,
                        opt_string(u.get(1))?,
                        opt_string(u.get(2))?,
                    ]
                }
            },
            pages_viewed: u32_or_zero(m, "pv")?,
            past_pages: list(m.get("pp"), past_from)?,
            page: match m.get("pg") {
                None | Some(Value::Null) => None,
                Some(p) => Some(page_from(p)?),
            },
            displayed: list(m.get("d"), displayed_from)?,
            declined: strings_from(m.get("dc"))?,
            accepted: strings_from(m.get("ac"))?,
            controlled: strings_from(m.get("cg"))?,
            proactive_displays: per_kind_from(m.get("k"), |v| u32::try_from(v.as_u64()?).ok())?,
            proactive_declined: per_kind_from(m.get("kd"), Value::as_bool)?,
            engaged: list(m.get("en"), |v| {
                let pair = v.as_array()?;
                let id = pair.first()?.as_str()?.to_owned();
                let flags = u8::try_from(pair.get(1)?.as_u64()?).ok()?;
                (pair.len() == 2).then_some((id, flags))
            })?,
            availability: Availability::new(),
            settled: Settled::default(),
        })
    }
}

impl<T: Copy> PerKind<T> {
    fn map<U>(self, f: impl Fn(T) -> U) -> PerKind<U> {
        PerKind {
            conversation: f(self.conversation),
            content: f(self.content),
        }
    }
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, Value::from)
}

/// `None` (a wrong type) when present and neither text nor null.
fn opt_string(v: Option<&Value>) -> Option<Option<String>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

fn u32_at(m: &Map<String, Value>, k: &str) -> Option<u32> {
    u32::try_from(m.get(k)?.as_u64()?).ok()
}

fn u32_or_zero(m: &Map<String, Value>, k: &str) -> Option<u32> {
    match m.get(k) {
        None => Some(0),
        Some(_) => u32_at(m, k),
    }
}

/// `m[k] = v`. One non-generic call per field instead of the map's insertion inlined at each.
#[inline(never)]
pub(super) fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    m.insert(k.to_owned(), v);
}

/// A list (absent: empty); any bad item makes it `None`. A loop, not `collect()`: smaller wasm.
fn list<T>(v: Option<&Value>, f: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    if let Some(v) = v {
        for x in v.as_array()? {
            out.push(f(x)?);
        }
    }
    Some(out)
}

#[inline(never)]
fn strings_from(v: Option<&Value>) -> Option<Vec<String>> {
    list(v, |v| v.as_str().map(str::to_owned))
}

fn strings_to(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect())
}

fn per_kind_to(p: PerKind<Value>) -> Value {
    let mut m = Map::new();
    put(&mut m, "conversation", p.conversation);
    put(&mut m, "content", p.content);
    Value::Object(m)
}

fn per_kind_from<T: Default>(
    v: Option<&Value>,
    f: impl Fn(&Value) -> Option<T>,
) -> Option<PerKind<T>> {
    let Some(v) = v else {
        return Some(PerKind {
            conversation: T::default(),
            content: T::default(),
        });
    };
    let m = v.as_object()?;
    let get = |k: &str| match m.get(k) {
        None => Some(T::default()),
        Some(x) => f(x),
    };
    Some(PerKind {
        conversation: get("conversation")?,
        content: get("content")?,
    })
}

fn profile_to(p: &Profile) -> Value {
    let mut m = Map::new();
    put(&mut m, "id", Value::from(p.id.as_str()));
    put(&mut m, "device", Value::from(p.device.as_str()));
    if let Some(l) = &p.language {
        put(&mut m, "language", Value::from(l.as_str()));
    }
    if let Some(c) = &p.country {
        put(&mut m, "country", Value::from(c.as_str()));
    }
    Value::Object(m)
}

fn profile_from(v: &Value) -> Option<Profile> {
    let m = v.as_object()?;
    Some(Profile {
        id: m.get("id")?.as_str()?.to_owned(),
        device: match m.get("device").map(Value::as_str) {
            None => Device::Desktop,
            Some(Some("desktop")) => Device::Desktop,
            Some(Some("tablet")) => Device::Tablet,
            Some(Some("mobile")) => Device::Mobile,
            Some(_) => return None,
        },
        language: opt_string(m.get("language"))?,
        country: opt_string(m.get("country"))?,
    })
}

fn past_to(p: &PastPage) -> Value {
    let mut m = Map::new();
    put(&mut m, "u", Value::from(p.url.as_str()));
    if let Some(t) = &p.title {
        put(&mut m, "t", Value::from(t.as_str()));
    }
    if let Some(s) = &p.section {
        put(&mut m, "s", Value::from(s.as_str()));
    }
    Value::Object(m)
}

fn past_from(v: &Value) -> Option<PastPage> {
    let m = v.as_object()?;
    Some(PastPage {
        url: m.get("u")?.as_str()?.to_owned(),
        title: opt_string(m.get("t"))?,
        section: opt_string(m.get("s"))?,
    })
}

fn page_to(p: &Page) -> Value {
    let Value::Object(mut m) = past_to(&PastPage {
        url: p.url.clone(),
        title: p.title.clone(),
        section: p.section.clone(),
    }) else {
        return Value::Null;
    };
    put(&mut m, "at", Value::from(p.started_at));
    put(&mut m, "sc", Value::from(p.scroll));
    put(&mut m, "x", Value::from(p.exit_intent));
    if let Some(el) = &p.elements {
        put(&mut m, "el", strings_to(el));
    }
    Value::Object(m)
}

fn page_from(v: &Value) -> Option<Page> {
    let past = past_from(v)?;
    let m = v.as_object()?;
    Some(Page {
        url: past.url,
        title: past.title,
        section: past.section,
        started_at: m.get("at")?.as_i64()?,
        scroll: u32_or_zero(m, "sc")?,
        exit_intent: match m.get("x") {
            None => false,
            Some(x) => x.as_bool()?,
        },
        elements: match m.get("el") {
            None | Some(Value::Null) => None,
            Some(el) => Some(strings_from(Some(el))?),
        },
    })
}

fn displayed_to(d: &Displayed) -> Value {
    let mut m = Map::new();
    put(&mut m, "c", Value::from(d.campaign.as_str()));
    put(&mut m, "e", Value::from(d.engagement.as_str()));
    put(&mut m, "z", Value::from(d.zone.as_str()));
    put(&mut m, "s", Value::from(d.state.as_str()));
    Value::Object(m)
}

fn displayed_from(v: &Value) -> Option<Displayed> {
    let m = v.as_object()?;
    Some(Displayed {
        campaign: m.get("c")?.as_str()?.to_owned(),
        engagement: m.get("e")?.as_str()?.to_owned(),
        zone: m.get("z")?.as_str()?.to_owned(),
        state: match m.get("s")?.as_str()? {
            "online" => State::Online,
            "busy" => State::Busy,
            "offline" => State::Offline,
            "content" => State::Content,
            _ => return None,
        },
    })
}
