//! The bundle from its JSON, by hand.
//!
//! `serde`'s derived `Deserialize` for the bundle's ~25 types costs about 28 KB of gzipped wasm
//! (each type's visitor is generated per deserializer); walking a parsed `serde_json::Value`
//! costs a fraction of that. This reads exactly what the derived impls read (same names, same
//! defaults; unknown fields are ignored) — the browser tests check it against
//! `serde_json::from_value` on full bundles. Every struct is built with all its fields named,
//! so a field added to the engine's bundle types fails to compile here until it is read.

use engage_engine::availability::State;
use engage_engine::bundle::{
    BehaviorProgram, Bundle, BundleCampaign, BundleEngagement, BundleSettings, BundleSkill,
    CompiledCreative, CreativeProgram, EntryPointProgram, PageTest, Schedule,
};
use engage_engine::model::{
    Channel, EngagedRule, EngagedState, Format, Kind, Offsite, OffsiteSource, PageField, PerKind,
    Source, WindowMode, Zone,
};
use engage_engine::urlmatch::{CompiledMatcher, Component, UrlPattern};
use serde_json::{Map, Value};

type Obj = Map<String, Value>;

/// The bundle in `v`, or `None` when anything required is missing or malformed.
pub fn bundle(v: &Value) -> Option<Bundle> {
    let o = v.as_object()?;
    Some(Bundle {
        format: u32_(o.get("format")?)?,
        site: string(o.get("site")?)?,
        version: o.get("version").map_or(Some(0), Value::as_u64)?,
        compiled_at: o.get("compiled_at")?.as_i64()?,
        valid_until: o.get("valid_until")?.as_i64()?,
        settings: settings(o.get("settings")?)?,
        skills: list(o, "skills", skill)?,
        business_hours: opt(o, "business_hours", schedule)?,
        audiences: list(o, "audiences", |v| Some(v.clone()))?,
        page_tests: list(o, "page_tests", page_test)?,
        campaigns: {
            let mut c = Vec::new();
            if let Some(v) = field(o, "campaigns") {
                campaigns(v, &mut c)?;
            }
            c
        },
        // Outbound engagements receive SMS replies on the server; a page never needs them.
        outbound: Vec::new(),
        index: Default::default(),
    })
}

/// Appends the campaigns of the list `v` (a bundle's, or a [`crate::api::PART`] of a large
/// one) to `out`; `None` when one is malformed.
pub fn campaigns(v: &Value, out: &mut Vec<BundleCampaign>) -> Option<()> {
    for x in v.as_array()? {
        out.push(campaign(x)?);
    }
    Some(())
}

/// A present, non-null field.
fn field<'a>(o: &'a Obj, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

/// An optional field: absent or null is `Some(None)`, malformed is `None`.
fn opt<T>(o: &Obj, k: &str, f: impl Fn(&Value) -> Option<T>) -> Option<Option<T>> {
    match field(o, k) {
        None => Some(None),
        Some(v) => f(v).map(Some),
    }
}

/// A field with a default when absent or null.
fn or<T>(o: &Obj, k: &str, default: T, f: impl Fn(&Value) -> Option<T>) -> Option<T> {
    match field(o, k) {
        None => Some(default),
        Some(v) => f(v),
    }
}

/// A list field (absent: empty). A loop, not `collect()`: less generic code per item type.
fn list<T>(o: &Obj, k: &str, f: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    if let Some(v) = field(o, k) {
        for x in v.as_array()? {
            out.push(f(x)?);
        }
    }
    Some(out)
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

fn ostr(o: &Obj, k: &str) -> Option<Option<String>> {
    opt(o, k, string)
}

fn u32_(v: &Value) -> Option<u32> {
    u32::try_from(v.as_u64()?).ok()
}

fn bool_(v: &Value) -> Option<bool> {
    v.as_bool()
}

fn flag(o: &Obj, k: &str) -> Option<bool> {
    or(o, k, false, bool_)
}

fn pick<T: Copy>(v: &Value, names: &[&str], values: &[T]) -> Option<T> {
    let s = v.as_str()?;
    names.iter().position(|n| *n == s).map(|i| values[i])
}

fn settings(v: &Value) -> Option<BundleSettings> {
    let o = v.as_object()?;
    Some(BundleSettings {
        displays_per_visit: per_kind(o.get("displays_per_visit")?, None, None, |v| {
            if v.is_null() {
                Some(None)
            } else {
                u32_(v).map(Some)
            }
        })?,
        invite_after_decline: per_kind(o.get("invite_after_decline")?, false, true, bool_)?,
        control_group_percent: o.get("control_group_percent")?.as_f64()?,
        visit_idle_minutes: u32_(o.get("visit_idle_minutes")?)?,
        conversation_url: ostr(o, "conversation_url")?,
    })
}

fn per_kind<T>(
    v: &Value,
    conv: T,
    content: T,
    f: impl Fn(&Value) -> Option<T>,
) -> Option<PerKind<T>> {
    let o = v.as_object()?;
    let get = |k: &str, d: T| match o.get(k) {
        None => Some(d),
        Some(v) => f(v),
    };
    Some(PerKind {
        conversation: get("conversation", conv)?,
        content: get("content", content)?,
    })
}

fn skill(v: &Value) -> Option<BundleSkill> {
    let o = v.as_object()?;
    Some(BundleSkill {
        id: string(o.get("id")?)?,
        max_wait_seconds: u32_(o.get("max_wait_seconds")?)?,
    })
}

fn schedule(v: &Value) -> Option<Schedule> {
    let spans = v.as_array()?.iter().map(|iv| {
        let [a, b] = iv.as_array()?.as_slice() else {
            return None;
        };
        Some([a.as_i64()?, b.as_i64()?])
    });
    Some(Schedule(spans.collect::<Option<_>>()?))
}

fn campaign(v: &Value) -> Option<BundleCampaign> {
    let o = v.as_object()?;
    Some(BundleCampaign {
        id: o.get("id")?.as_str()?.into(),
        // Left out at their defaults (bundle format 2).
        enabled: or(o, "enabled", true, bool_)?,
        priority: or(o, "priority", 0, |v| i32::try_from(v.as_i64()?).ok())?,
        control_group_percent: or(o, "control_group_percent", 0.0, Value::as_f64)?,
        schedule: or(o, "schedule", Schedule::always(), schedule)?,
        business_hours_only: flag(o, "business_hours_only")?,
        audience: opt(o, "audience", u32_)?,
        engagements: list(o, "engagements", engagement)?,
    })
}

fn engagement(v: &Value) -> Option<BundleEngagement> {
    let o = v.as_object()?;
    Some(BundleEngagement {
        id: o.get("id")?.as_str()?.into(),
        enabled: or(o, "enabled", true, bool_)?,
        kind: pick(
            o.get("kind")?,
            &["conversation", "content"],
            &[Kind::Conversation, Kind::Content],
        )?,
        channel: opt(o, "channel", |v| {
            pick(
                v,
                &["chat", "messaging"],
                &[Channel::Chat, Channel::Messaging],
            )
        })?,
        source: or(o, "source", Source::Web, |v| {
            pick(v, &["web", "offsite"], &[Source::Web, Source::Offsite])
        })?,
        format: opt(o, "format", |v| {
            pick(
                v,
                &[
                    "sticky",
                    "overlay",
                    "toaster",
                    "peeling_corner",
                    "button",
                    "banner",
                ],
                &[
                    Format::Sticky,
                    Format::Overlay,
                    Format::Toaster,
                    Format::PeelingCorner,
                    Format::Button,
                    Format::Banner,
                ],
            )
        })?,
        zone: opt(o, "zone", zone)?,
        skill: ostr(o, "skill")?,
        ignore_max_wait: flag(o, "ignore_max_wait")?,
        refresh_seconds: opt(o, "refresh_seconds", u32_)?,
        language: ostr(o, "language")?,
        agent_note: ostr(o, "agent_note")?,
        entry_point: or(o, "entry_point", EntryPointProgram::default(), entry_point)?,
        behavior: or(o, "behavior", BehaviorProgram::default(), behavior)?,
        creative: creatives(o.get("creative")?)?,
        // Rendering only (the host reads it from the JSON).
        sender: None,
        authenticated: flag(o, "authenticated")?,
        window_mode: or(o, "window_mode", WindowMode::Embedded, |v| {
            pick(
                v,
                &["embedded", "popup"],
                &[WindowMode::Embedded, WindowMode::Popup],
            )
        })?,
        offsite: opt(o, "offsite", offsite)?,
    })
}

fn zone(v: &Value) -> Option<Zone> {
    if let Some(id) = v.get("embedded") {
        return Some(Zone::Embedded(string(id)?));
    }
    let i = ["left", "right", "proactive"]
        .iter()
        .position(|n| Some(*n) == v.as_str())?;
    Some([Zone::Left, Zone::Right, Zone::Proactive][i].clone())
}

fn entry_point(v: &Value) -> Option<EntryPointProgram> {
    let o = v.as_object()?;
    Some(EntryPointProgram {
        include: list(o, "include", u32_)?,
        exclude: list(o, "exclude", u32_)?,
    })
}

fn page_test(v: &Value) -> Option<PageTest> {
    let o = v.as_object()?;
    Some(PageTest {
        field: pick(
            o.get("f")?,
            &["url", "title", "section"],
            &[PageField::Url, PageField::Title, PageField::Section],
        )?,
        matcher: matcher(o.get("m")?)?,
    })
}

fn component(v: &Value) -> Option<Component> {
    Component::try_from(string(v)?).ok()
}

fn matcher(v: &Value) -> Option<CompiledMatcher> {
    let (k, v) = v.as_object()?.iter().next()?;
    Some(match k.as_str() {
        "equals" => CompiledMatcher::Equals(string(v)?),
        "contains" => CompiledMatcher::Contains(string(v)?),
        "prefix" => CompiledMatcher::Prefix(string(v)?),
        "regex" => CompiledMatcher::Regex(string(v)?),
        "regexi" => CompiledMatcher::Regexi(string(v)?),
        "glob" => CompiledMatcher::Glob(component(v)?),
        "url" => {
            let o = v.as_object()?;
            CompiledMatcher::Url(Box::new(UrlPattern {
                s: opt(o, "s", component)?,
                h: opt(o, "h", component)?,
                o: opt(o, "o", component)?,
                p: component(o.get("p")?)?,
                q: opt(o, "q", component)?,
                f: opt(o, "f", component)?,
            }))
        }
        _ => return None,
    })
}

fn behavior(v: &Value) -> Option<BehaviorProgram> {
    let o = v.as_object()?;
    Some(BehaviorProgram {
        time_on_page: opt(o, "time_on_page", u32_)?,
        time_on_site: opt(o, "time_on_site", u32_)?,
        pages_viewed: opt(o, "pages_viewed", u32_)?,
        visited: opt(o, "visited", page_test)?,
        referrer: opt(o, "referrer", page_test)?,
        exit_intent: opt(o, "exit_intent", bool_)?,
        scroll_percent: opt(o, "scroll_percent", u32_)?,
        idle_seconds: opt(o, "idle_seconds", u32_)?,
        engaged: opt(o, "engaged", |v| {
            let o = v.as_object()?;
            Some(EngagedRule {
                engagement: string(o.get("engagement")?)?,
                state: pick(
                    o.get("state")?,
                    &["shown", "accepted", "declined"],
                    &[
                        EngagedState::Shown,
                        EngagedState::Accepted,
                        EngagedState::Declined,
                    ],
                )?,
            })
        })?,
    })
}

fn creatives(v: &Value) -> Option<CreativeProgram> {
    let o = v.as_object()?;
    Some(CreativeProgram {
        online: opt(o, "online", creative)?,
        busy: opt(o, "busy", creative)?,
        offline: opt(o, "offline", creative)?,
        content: opt(o, "content", creative)?,
    })
}

/// The engine needs to know which creatives exist, not what they say: the host renders them
/// from the bundle's JSON. So a creative is read as present, and its content is not decoded.
fn creative(v: &Value) -> Option<CompiledCreative> {
    v.as_object()?;
    Some(CompiledCreative::default())
}

fn offsite(v: &Value) -> Option<Offsite> {
    let o = v.as_object()?;
    Some(Offsite {
        source: pick(
            o.get("source")?,
            &["email", "social", "ads", "print", "tv", "sms", "other"],
            &[
                OffsiteSource::Email,
                OffsiteSource::Social,
                OffsiteSource::Ads,
                OffsiteSource::Print,
                OffsiteSource::Tv,
                OffsiteSource::Sms,
                OffsiteSource::Other,
            ],
        )?,
        landing_url: string(o.get("landing_url")?)?,
        offline_survey_url: ostr(o, "offline_survey_url")?,
    })
}

/// `data-state` names (the engine's `State` serialization).
pub fn state(s: &str) -> Option<State> {
    let all = [State::Online, State::Busy, State::Offline, State::Content];
    all.into_iter().find(|x| x.as_str() == s)
}
