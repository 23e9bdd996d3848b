//! A visit: the engine's state machine (SPEC §4).
//!
//! The runtime (or the server's simulator) feeds [`Input`]s at given instants; after each one
//! [`Visit::apply`] answers what is displayed, the events to report, when time alone could change
//! the answer, and on request a trace of every engagement's fate. The visit serializes compactly
//! into the visitor's browser storage and survives page loads.

use crate::availability::{engagement_state, Availability, SkillAvailability, State};
use crate::bundle::{Bundle, BundleCampaign, BundleEngagement, PageTest};
use crate::condition::eval_condition;
use crate::hash::in_control;
use crate::model::{EngagedState, Kind, PageField, PerKind, Source, Zone};
use crate::regexp::RegexEngine;
use crate::text::Text;
use crate::urlmatch::Subject;
use crate::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

mod stored;

/// Bump when the stored shape changes; older states are discarded (a new visit starts).
pub const VISIT_FORMAT: u32 = 1;

/// Earlier pages remembered for `behavior.visited`.
const MAX_PAGES: usize = 50;
/// Engagements remembered in `engaged` across visits.
const MAX_ENGAGED: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Desktop,
    Tablet,
    Mobile,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Tablet => "tablet",
            Device::Mobile => "mobile",
        }
    }
}

/// Who the visitor is, as far as the runtime (or the server) can tell.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    #[serde(default)]
    pub device: Device,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A page view.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageView {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// Ids of the embedded zone elements present on the page; `None`: assume all are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// What can happen to a visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    Page(PageView),
    /// Time passed (a timer fired): nothing but the clock changed.
    Tick,
    /// Attributes pushed by the site, deep-merged (null removes a key).
    Attributes(Map<String, Value>),
    Accept(String),
    Decline(String),
    /// New numbers for the named skills (others keep theirs).
    Availability(Availability),
    Goal(Goal),
    /// Deepest scroll on this page, 0–100.
    Scroll(u32),
    /// The pointer left through the top of the viewport.
    ExitIntent,
    /// Mouse, key, touch or scroll activity (resets idle time).
    Activity,
    /// The embedded zone elements now on the page changed.
    Elements(Vec<String>),
}

impl Input {
    /// Inputs that come from the visitor keep the visit alive; timers and feeds don't.
    fn is_visitor_input(&self) -> bool {
        !matches!(self, Input::Tick | Input::Availability(_))
    }
}

/// The first rule that kept an engagement off the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Disabled,
    Timeframe,
    BusinessHours,
    ControlGroup,
    Audience,
    EntryPoint,
    Behavior,
    Declined,
    /// Extension: a proactive engagement accepted this visit is not offered again.
    Accepted,
    DisplayCap,
    AfterDecline,
    Availability,
    ZoneTaken,
    NoZoneElement,
    /// Extension: offsite engagements are opened by their link, never shown on pages.
    Offsite,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::Timeframe => "timeframe",
            Reason::BusinessHours => "business_hours",
            Reason::ControlGroup => "control_group",
            Reason::Audience => "audience",
            Reason::EntryPoint => "entry_point",
            Reason::Behavior => "behavior",
            Reason::Declined => "declined",
            Reason::Accepted => "accepted",
            Reason::DisplayCap => "display_cap",
            Reason::AfterDecline => "after_decline",
            Reason::Availability => "availability",
            Reason::ZoneTaken => "zone_taken",
            Reason::NoZoneElement => "no_zone_element",
            Reason::Offsite => "offsite",
        }
    }
}

/// Why, with the numbers: rendered to text only when a trace is asked for. Holds no strings,
/// so rejecting costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Detail {
    CampaignDisabled,
    EngagementDisabled,
    OutsideTimeframe {
        next: Option<Millis>,
    },
    Closed {
        next: Option<Millis>,
    },
    NoBusinessHours,
    /// `bucket`: the visitor's hash bucket in hundredths of a percent (0–9999); `percent` the
    /// control group's size, likewise (the visitor is in it as `bucket < percent`).
    Control {
        site: bool,
        bucket: u32,
        percent: u32,
    },
    AudienceNotMet,
    NotAuthenticated,
    NoEntryMatch,
    Excluded(usize),
    Below {
        what: Measure,
        have: u32,
        need: u32,
    },
    NotVisited,
    ReferrerNotMatched,
    ExitIntent(bool),
    EngagedNot,
    DeclinedThisVisit,
    AcceptedThisVisit,
    Cap {
        kind: Kind,
        cap: u32,
    },
    AfterDecline(Kind),
    NoCreative(State),
    /// The zone is held by `self.displayed[holder]`.
    ZoneShows {
        holder: usize,
    },
    NoElement,
    OffsiteLink,
}

/// What a `Below` detail measured.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    TimeOnPage,
    TimeOnSite,
    IdleSeconds,
    PagesViewed,
    ScrollPercent,
}

impl Measure {
    fn as_str(self) -> &'static str {
        match self {
            Measure::TimeOnPage => "time_on_page",
            Measure::TimeOnSite => "time_on_site",
            Measure::IdleSeconds => "idle_seconds",
            Measure::PagesViewed => "pages_viewed",
            Measure::ScrollPercent => "scroll_percent",
        }
    }
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Conversation => "conversation",
        Kind::Content => "content",
    }
}

impl Detail {
    /// Text for the trace; `e` is the rejected engagement, `displayed` the visit's displays.
    /// Most reasons are fixed text, borrowed; the others are built with [`Text`], not
    /// `format!`: no formatting machinery in the browser build.
    fn render(&self, e: &BundleEngagement, displayed: &[Displayed]) -> Cow<'static, str> {
        Cow::Borrowed(match *self {
            Detail::CampaignDisabled => "campaign disabled",
            Detail::EngagementDisabled => "engagement disabled",
            Detail::OutsideTimeframe { next: None } => "outside the campaign's timeframe (ended)",
            Detail::Closed { next: None } => "outside business hours",
            Detail::NoBusinessHours => "the site has no business hours",
            Detail::AudienceNotMet => "visitor attributes do not meet the audience",
            Detail::NotAuthenticated => "shown to authenticated visitors only",
            Detail::NoEntryMatch => "page matches no include rule",
            Detail::NotVisited => "no earlier page of this visit matches visited",
            Detail::ReferrerNotMatched => "the visit's referrer does not match",
            Detail::ExitIntent(true) => "waiting for exit intent",
            Detail::ExitIntent(false) => "visitor already showed exit intent",
            Detail::DeclinedThisVisit => "declined earlier this visit",
            Detail::AcceptedThisVisit => "accepted earlier this visit",
            Detail::OffsiteLink => "offsite engagement: opened by its link",
            _ => return Cow::Owned(self.text(e, displayed).done()),
        })
    }

    /// The reasons with numbers or names in them.
    fn text(&self, e: &BundleEngagement, displayed: &[Displayed]) -> Text {
        let t = Text::new();
        match *self {
            Detail::OutsideTimeframe { next: Some(at) } => t
                .s("outside the campaign's timeframe; next change at ")
                .n(at)
                .s(" ms"),
            Detail::Closed { next: Some(at) } => t
                .s("outside business hours; next change at ")
                .n(at)
                .s(" ms"),
            Detail::Control {
                site,
                bucket,
                percent,
            } => percent_text(
                percent_text(
                    t.s("visitor is in the ")
                        .s(if site { "site" } else { "campaign" })
                        .s(" control group (bucket "),
                    bucket,
                )
                .s(" < control "),
                percent,
            )
            .s(")"),
            Detail::Excluded(i) => t.s("page matches exclude rule ").n(i as i64),
            Detail::Below { what, have, need } => t
                .s(what.as_str())
                .s(" ")
                .n(i64::from(have))
                .s(" < ")
                .n(i64::from(need)),
            Detail::EngagedNot => match &e.behavior.engaged {
                Some(rule) => t
                    .s("engagement ")
                    .s(&rule.engagement)
                    .s(" not ")
                    .s(engaged_str(rule.state)),
                None => t.s("engaged rule not met"),
            },
            Detail::Cap { kind, cap } => t
                .n(i64::from(cap))
                .s(" proactive ")
                .s(kind_str(kind))
                .s(" display(s) this visit already"),
            Detail::AfterDecline(kind) => t
                .s("a proactive ")
                .s(kind_str(kind))
                .s(" engagement was declined this visit"),
            Detail::NoCreative(state) => t
                .s("agents are ")
                .s(state.as_str())
                .s(" and there is no creative for it"),
            Detail::ZoneShows { holder } => match displayed.get(holder) {
                Some(d) => t.s("zone ").s(&d.zone).s(" shows ").s(&d.engagement),
                None => t.s("zone taken"),
            },
            Detail::NoElement => match &e.zone {
                Some(Zone::Embedded(id)) => t.s("the page has no element #").s(id),
                _ => t.s("the engagement has no zone"),
            },
            // The fixed texts, in `render`.
            _ => t,
        }
    }
}

fn engaged_str(s: EngagedState) -> &'static str {
    match s {
        EngagedState::Shown => "shown",
        EngagedState::Accepted => "accepted",
        EngagedState::Declined => "declined",
    }
}

/// An engagement on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    pub campaign: String,
    pub engagement: String,
    pub zone: String,
    pub state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Impression,
    Accept,
    Decline,
    Control,
    Goal,
    /// A displayed engagement's state changed (button refresh).
    State,
}

/// Something to report. `visit` is the visit's number for this visitor (1 = first visit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub at: Millis,
    pub visit: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceResult {
    Shown,
    Rejected,
}

/// One engagement's fate after a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The bundle's own ids, shared: a trace names all of a bundle's engagements.
    pub campaign: Arc<str>,
    pub engagement: Arc<str>,
    pub result: TraceResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Fixed text where the reason has no numbers or names in it: no allocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// The answer to one input.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub shown: Vec<Shown>,
    pub events: Vec<Event>,
    /// The next instant at which the answer could change by time alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_wake: Option<Millis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceEntry>,
    /// This input started a new visit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub new_visit: bool,
}

/// The page being viewed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Page {
    #[serde(rename = "u")]
    url: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    section: Option<String>,
    #[serde(rename = "at")]
    started_at: Millis,
    #[serde(rename = "sc", default)]
    scroll: u32,
    #[serde(rename = "x", default)]
    exit_intent: bool,
    #[serde(rename = "el", default, skip_serializing_if = "Option::is_none")]
    elements: Option<Vec<String>>,
}

/// An earlier page of this visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PastPage {
    #[serde(rename = "u")]
    url: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    section: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Displayed {
    #[serde(rename = "c")]
    campaign: String,
    #[serde(rename = "e")]
    engagement: String,
    #[serde(rename = "z")]
    zone: String,
    #[serde(rename = "s")]
    state: State,
}

/// Bit flags of what ever happened to an engagement for this visitor.
const SHOWN: u8 = 1;
const ACCEPTED: u8 = 2;
const DECLINED: u8 = 4;

/// The visit state kept in the visitor's browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    #[serde(rename = "v")]
    format: u32,
    #[serde(rename = "p")]
    profile: Profile,
    /// This visit's number; 0 before the first input.
    #[serde(rename = "n")]
    visits: u32,
    #[serde(rename = "st")]
    started_at: Millis,
    #[serde(rename = "li")]
    last_input_at: Millis,
    #[serde(rename = "la")]
    last_activity_at: Millis,
    #[serde(rename = "a", default)]
    attributes: Map<String, Value>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    referrer: Option<String>,
    #[serde(rename = "utm", default)]
    utm: [Option<String>; 3],
    #[serde(rename = "pv", default)]
    pages_viewed: u32,
    #[serde(rename = "pp", default)]
    past_pages: Vec<PastPage>,
    #[serde(rename = "pg", default, skip_serializing_if = "Option::is_none")]
    page: Option<Page>,
    #[serde(rename = "d", default)]
    displayed: Vec<Displayed>,
    #[serde(rename = "dc", default)]
    declined: Vec<String>,
    #[serde(rename = "ac", default)]
    accepted: Vec<String>,
    #[serde(rename = "cg", default)]
    controlled: Vec<String>,
    #[serde(rename = "k", default)]
    proactive_displays: PerKind<u32>,
    #[serde(rename = "kd", default)]
    proactive_declined: PerKind<bool>,
    /// Across visits: engagement id → SHOWN | ACCEPTED | DECLINED.
    #[serde(rename = "en", default)]
    engaged: Vec<(String, u8)>,
    /// Live, not stored: the runtime refreshes it from the server on every page.
    #[serde(skip)]
    availability: Availability,
    /// Not stored: set when the last decision changed nothing, so a tick before its next wake
    /// would answer the same.
    #[serde(skip)]
    settled: Settled,
}

/// The bundle (site, version, compiled at) and instant of a decision that changed nothing, and
/// its next wake. Not part of the visit's value: equal whatever it holds.
#[derive(Debug, Clone, Default)]
struct Settled(Option<(u64, Millis, Millis, Option<Millis>)>);

impl PartialEq for Settled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Settled {
    /// The next wake, when a tick at `now` with `bundle` would change nothing.
    fn holds(&self, bundle: &Bundle, now: Millis) -> Option<Option<Millis>> {
        // A bundle is known by its version and compile instant (a new site's bundle comes with
        // `bundle_changed`, which clears this).
        let (version, compiled, at, wake) = self.0.as_ref()?;
        (*version == bundle.version
            && *compiled == bundle.compiled_at
            && now >= *at
            && wake.is_none_or(|w| now < w))
        .then_some(*wake)
    }
}

/// What a rule evaluation needs besides the visit.
pub struct Context<'a> {
    pub bundle: &'a Bundle,
    pub regex: &'a dyn RegexEngine,
}

impl Visit {
    pub fn new(profile: Profile) -> Self {
        Visit {
            format: VISIT_FORMAT,
            profile,
            visits: 0,
            started_at: 0,
            last_input_at: 0,
            last_activity_at: 0,
            attributes: Map::new(),
            referrer: None,
            utm: Default::default(),
            pages_viewed: 0,
            past_pages: Vec::new(),
            page: None,
            displayed: Vec::new(),
            declined: Vec::new(),
            accepted: Vec::new(),
            controlled: Vec::new(),
            proactive_displays: PerKind::default(),
            proactive_declined: PerKind::default(),
            engaged: Vec::new(),
            availability: Availability::new(),
            settled: Settled::default(),
        }
    }

    /// A visit that has already seen `previous_visits` visits (a returning visitor).
    pub fn returning(profile: Profile, previous_visits: u32) -> Self {
        let mut v = Visit::new(profile);
        v.visits = previous_visits;
        v
    }

    pub fn to_json(&self) -> String {
        // Serializing plain data into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Restores a stored visit. Anything unreadable, of another format or of another visitor
    /// gives `None`: the caller starts afresh (tampered storage is never fatal).
    pub fn from_json(stored: &str) -> Option<Visit> {
        let v: Visit = serde_json::from_str(stored).ok()?;
        (v.format == VISIT_FORMAT && v.visits < 1_000_000).then_some(v)
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The runtime learns language/device/country after restoring: keep the id, take the rest.
    pub fn set_profile(&mut self, profile: Profile) {
        self.settled = Settled::default();
        self.profile = profile;
    }

    /// This visit's number (1 = first visit); 0 before any input.
    pub fn number(&self) -> u32 {
        self.visits
    }

    pub fn pages_viewed(&self) -> u32 {
        self.pages_viewed
    }

    pub fn availability(&self) -> &Availability {
        &self.availability
    }

    /// The engagements on the page now, with their states.
    pub fn shown(&self) -> Vec<Shown> {
        self.displayed
            .iter()
            .map(|d| Shown {
                campaign: d.campaign.clone(),
                engagement: d.engagement.clone(),
                zone: d.zone.clone(),
                state: d.state,
            })
            .collect()
    }

    /// Visitor attributes as audiences see them: the site's pushes plus the built-ins.
    pub fn attributes(&self) -> Value {
        use stored::put;
        let mut a = self.attributes.clone();
        put(&mut a, "device", Value::from(self.profile.device.as_str()));
        if let Some(l) = &self.profile.language {
            put(&mut a, "language", Value::from(l.as_str()));
        }
        if let Some(c) = &self.profile.country {
            put(&mut a, "country", Value::from(c.as_str()));
        }
        put(&mut a, "returning", Value::from(self.visits > 1));
        put(&mut a, "visits", Value::from(self.visits));
        if let Some(r) = &self.referrer {
            put(&mut a, "referrer", Value::from(r.as_str()));
        }
        for (name, v) in ["utm_source", "utm_medium", "utm_campaign"]
            .iter()
            .zip(&self.utm)
        {
            if let Some(v) = v {
                put(&mut a, name, Value::from(v.as_str()));
            }
        }
        // A loop, not `collect()`: `Map`'s `FromIterator` sorts (a second sort in the wasm).
        let mut engaged = Map::new();
        for (id, flags) in &self.engaged {
            put(&mut engaged, id, Value::from(engaged_label(*flags)));
        }
        put(&mut a, "engaged", Value::Object(engaged));
        Value::Object(a)
    }

    /// Applies one input at `now` and decides. `trace` asks for every engagement's fate.
    pub fn apply(&mut self, ctx: &Context, now: Millis, input: Input, trace: bool) -> Outcome {
        if matches!(input, Input::Tick) && !trace {
            // Nothing changed since a decision that changed nothing, and no rule's answer
            // changes before its next wake: the same answer, without evaluating.
            if let Some(next_wake) = self.settled.holds(ctx.bundle, now) {
                return Outcome {
                    shown: self.shown(),
                    next_wake,
                    ..Outcome::default()
                };
            }
        }
        self.apply_with(ctx, now, input, trace, true)
    }

    /// [`apply`](Self::apply) evaluating every engagement of the bundle on every input, without
    /// the decision index or the settled shortcut: what the indexed decision is tested against.
    #[doc(hidden)]
    pub fn apply_exhaustive(
        &mut self,
        ctx: &Context,
        now: Millis,
        input: Input,
        trace: bool,
    ) -> Outcome {
        self.apply_with(ctx, now, input, trace, false)
    }

    fn apply_with(
        &mut self,
        ctx: &Context,
        now: Millis,
        input: Input,
        trace: bool,
        indexed: bool,
    ) -> Outcome {
        let mut out = Outcome::default();
        if input.is_visitor_input() {
            out.new_visit = self.roll_visit(ctx.bundle, now);
            self.last_input_at = now;
        }
        match input {
            Input::Page(p) => self.page_view(now, p),
            Input::Tick => {}
            Input::Attributes(a) => deep_merge(&mut self.attributes, a),
            Input::Accept(id) => self.accept(ctx.bundle, now, &id, &mut out.events),
            Input::Decline(id) => self.decline(ctx.bundle, now, &id, &mut out.events),
            Input::Availability(a) => {
                self.availability_changed(ctx.bundle, now, a, &mut out.events)
            }
            Input::Goal(g) => out.events.push(Event {
                name: Some(g.name),
                value: g.value,
                ..self.event(EventKind::Goal, now)
            }),
            Input::Scroll(pct) => {
                if let Some(p) = &mut self.page {
                    p.scroll = p.scroll.max(pct.min(100));
                }
                self.last_activity_at = now;
            }
            Input::ExitIntent => {
                if let Some(p) = &mut self.page {
                    p.exit_intent = true;
                }
            }
            Input::Activity => self.last_activity_at = now,
            Input::Elements(el) => {
                if let Some(p) = &mut self.page {
                    p.elements = Some(el);
                }
            }
        }
        self.decide(ctx, now, trace, indexed, &mut out);
        out
    }

    /// Re-decides without any input (e.g. to show the debug panel).
    pub fn peek(&self, ctx: &Context, now: Millis) -> Outcome {
        // A tick is no visitor input: it only decides.
        let mut out = self.clone().apply_with(ctx, now, Input::Tick, true, true);
        out.events.clear();
        out
    }

    /// Starts a new visit when the last one went idle (or on the very first input).
    fn roll_visit(&mut self, bundle: &Bundle, now: Millis) -> bool {
        let idle_ms = i64::from(bundle.settings.visit_idle_minutes) * 60_000;
        let expired = self.visits == 0 || now.saturating_sub(self.last_input_at) >= idle_ms;
        if !expired {
            return false;
        }
        self.visits += 1;
        self.started_at = now;
        self.last_activity_at = now;
        self.referrer = None;
        self.utm = Default::default();
        self.pages_viewed = 0;
        self.past_pages.clear();
        self.page = None;
        self.displayed.clear();
        self.declined.clear();
        self.accepted.clear();
        self.controlled.clear();
        self.proactive_displays = PerKind::default();
        self.proactive_declined = PerKind::default();
        true
    }

    fn page_view(&mut self, now: Millis, p: PageView) {
        if let Some(prev) = self.page.take() {
            if self.past_pages.len() >= MAX_PAGES {
                self.past_pages.remove(0);
            }
            self.past_pages.push(PastPage {
                url: prev.url,
                title: prev.title,
                section: prev.section,
            });
        }
        if self.pages_viewed == 0 {
            // The first page of a visit tells where the visitor came from.
            self.referrer = p.referrer.filter(|r| !r.is_empty());
            self.utm = [
                query_param(&p.url, "utm_source"),
                query_param(&p.url, "utm_medium"),
                query_param(&p.url, "utm_campaign"),
            ];
        }
        self.pages_viewed += 1;
        self.last_activity_at = now;
        self.displayed.clear();
        self.page = Some(Page {
            url: p.url,
            title: p.title,
            section: p.section,
            started_at: now,
            scroll: 0,
            exit_intent: false,
            elements: p.elements,
        });
    }

    fn event(&self, kind: EventKind, now: Millis) -> Event {
        Event {
            kind,
            at: now,
            visit: self.visits,
            campaign: None,
            engagement: None,
            zone: None,
            state: None,
            name: None,
            value: None,
        }
    }

    fn engagement_event(&self, kind: EventKind, now: Millis, d: &Displayed) -> Event {
        Event {
            campaign: Some(d.campaign.clone()),
            engagement: Some(d.engagement.clone()),
            // Offsite engagements (opened by their link) have no zone.
            zone: (!d.zone.is_empty()).then(|| d.zone.clone()),
            state: Some(d.state),
            ..self.event(kind, now)
        }
    }

    fn mark_engaged(&mut self, id: &str, flag: u8) {
        if let Some(entry) = self.engaged.iter_mut().find(|(e, _)| e == id) {
            entry.1 |= flag;
            return;
        }
        if self.engaged.len() >= MAX_ENGAGED {
            self.engaged.remove(0);
        }
        self.engaged.push((id.to_owned(), flag));
    }

    fn engaged_flags(&self, id: &str) -> u8 {
        self.engaged
            .iter()
            .find(|(e, _)| e == id)
            .map_or(0, |(_, f)| *f)
    }

    /// Accepting opens the conversation: a proactive invitation closes and is not offered again
    /// this visit; buttons, sticky tabs and banners stay. An engagement that is not displayed
    /// (e.g. opened by an offsite link's `engage_open`) is accepted all the same.
    fn accept(&mut self, bundle: &Bundle, now: Millis, id: &str, events: &mut Vec<Event>) {
        let Some((c, e)) = bundle.find(id) else {
            return;
        };
        let pos = self.displayed.iter().position(|d| d.engagement == id);
        let d = match pos {
            Some(i) if e.is_proactive() => self.displayed.remove(i),
            Some(i) => self.displayed[i].clone(),
            None => Displayed {
                campaign: String::from(&*c.id),
                engagement: String::from(&*e.id),
                zone: e.zone.as_ref().map(Zone::key).unwrap_or_default(),
                state: engagement_state(bundle, e, &self.availability),
            },
        };
        if e.is_proactive() && !self.accepted.iter().any(|a| a == id) {
            self.accepted.push(id.to_owned());
        }
        self.mark_engaged(id, ACCEPTED);
        events.push(self.engagement_event(EventKind::Accept, now, &d));
    }

    /// Declining (closing) removes the engagement for the rest of the visit and frees its zone.
    fn decline(&mut self, bundle: &Bundle, now: Millis, id: &str, events: &mut Vec<Event>) {
        let Some(i) = self.displayed.iter().position(|d| d.engagement == id) else {
            return;
        };
        let d = self.displayed.remove(i);
        if let Some((_, e)) = bundle.find(id) {
            if e.is_proactive() {
                match e.kind {
                    Kind::Conversation => self.proactive_declined.conversation = true,
                    Kind::Content => self.proactive_declined.content = true,
                }
            }
        }
        if !self.declined.iter().any(|x| x == id) {
            self.declined.push(id.to_owned());
        }
        self.mark_engaged(id, DECLINED);
        events.push(self.engagement_event(EventKind::Decline, now, &d));
    }

    /// New agent numbers. Displayed engagements with `refresh_seconds` take the new state when
    /// they have a creative for it (a refresh never removes them); others keep the state they
    /// were shown in until the next page.
    fn availability_changed(
        &mut self,
        bundle: &Bundle,
        now: Millis,
        update: Availability,
        events: &mut Vec<Event>,
    ) {
        for (skill, a) in update {
            self.availability.insert(skill, a);
        }
        // `get`, not indexing: no panic paths in the browser build.
        for i in 0..self.displayed.len() {
            let Some(d) = self.displayed.get(i) else {
                continue;
            };
            let Some((_, e)) = bundle.find(&d.engagement) else {
                continue;
            };
            if e.refresh_seconds.is_none() || !e.follows_availability() {
                continue;
            }
            let state = engagement_state(bundle, e, &self.availability);
            if state == d.state || e.creative.for_state(state, false).is_none() {
                continue;
            }
            if let Some(d) = self.displayed.get_mut(i) {
                d.state = state;
            }
            if let Some(d) = self.displayed.get(i) {
                events.push(self.engagement_event(EventKind::State, now, d));
            }
        }
    }

    /// Merges site attributes without deciding (attributes pushed before the first page must not
    /// produce a decision, and so phantom impressions, of their own).
    pub fn merge_attributes(&mut self, attrs: Map<String, Value>) {
        self.settled = Settled::default();
        deep_merge(&mut self.attributes, attrs);
    }

    /// A new bundle version arrived: engagements it disabled or removed leave the page at once
    /// (an admin's "off" must not wait for the next page view); the others keep their zones.
    /// Returns whether anything was removed.
    pub fn bundle_changed(&mut self, bundle: &Bundle) -> bool {
        self.settled = Settled::default();
        let before = self.displayed.len();
        self.displayed.retain(|d| {
            bundle
                .find(&d.engagement)
                .is_some_and(|(c, e)| c.enabled && e.enabled && *c.id == *d.campaign)
        });
        self.displayed.len() != before
    }

    /// Replaces the live availability wholesale (a fresh snapshot from the server).
    pub fn set_availability(&mut self, availability: Availability) {
        self.settled = Settled::default();
        self.availability = availability;
    }

    /// Sets one skill's numbers without deciding.
    pub fn set_skill(&mut self, skill: &str, a: SkillAvailability) {
        self.settled = Settled::default();
        self.availability.insert(skill.to_owned(), a);
    }

    /// Decides over the engagements the page can match (`indexed`; with a trace the others are
    /// evaluated too, to name the first rule that rejects them) or over all.
    fn decide(
        &mut self,
        ctx: &Context,
        now: Millis,
        trace: bool,
        indexed: bool,
        out: &mut Outcome,
    ) {
        let bundle = ctx.bundle;
        let attrs = self.attributes();
        let mut wake = Wake(None);
        if bundle.valid_until > now && bundle.valid_until < crate::bundle::FOREVER {
            wake.at(bundle.valid_until);
        }
        let page = Prepared::new(self.page.as_ref(), bundle);
        let reachable = indexed
            .then(|| {
                let index = &bundle.index;
                index.candidates(bundle, page.url.as_ref(), page.title, page.section)
            })
            .flatten();
        let total = bundle.campaigns.iter().map(|c| c.engagements.len()).sum();
        let mut verdicts: Vec<Verdict> = Vec::with_capacity(if trace { total } else { 0 });
        let mut slot = 0;
        for c in &bundle.campaigns {
            for e in &c.engagements {
                let can_match = reachable
                    .as_ref()
                    .is_none_or(|r| r.get(slot).copied().unwrap_or(true));
                slot += 1;
                if !can_match && !trace {
                    continue;
                }
                let shown_already = self.displayed.iter().any(|d| *d.engagement == *e.id);
                let result = if shown_already {
                    Ok(None)
                } else {
                    // Without a possible match only the trace evaluates: the rules before the
                    // entry point name the reason, and none of them can change this answer by
                    // time alone while the page stays, so their wakes are not kept.
                    let mut unkept = Wake(None);
                    let w = if can_match { &mut wake } else { &mut unkept };
                    let rules = Rules { trace, can_match };
                    self.evaluate(ctx, &attrs, &page, now, (c, e), rules, w)
                        .map(Some)
                };
                verdicts.push(Verdict { c, e, result });
            }
        }
        let before = (self.displayed.len(), self.controlled.len());
        self.allocate_zones(bundle, now, &mut verdicts, &mut out.events);
        let changed = before != (self.displayed.len(), self.controlled.len());
        self.settled =
            Settled((!changed).then_some((bundle.version, bundle.compiled_at, now, wake.0)));
        out.shown = self.shown();
        out.next_wake = wake.0;
        if trace {
            out.trace = self.trace(&verdicts);
        }
    }

    /// Rules 1–5 and the element check for one engagement not yet displayed.
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'b>(
        &self,
        ctx: &Context,
        attrs: &Value,
        page: &Prepared,
        now: Millis,
        (c, e): (&BundleCampaign, &'b BundleEngagement),
        Rules { trace, can_match }: Rules,
        wake: &mut Wake,
    ) -> Result<Candidate<'b>, Rejection> {
        let bundle = ctx.bundle;
        if e.source == Source::Offsite {
            return Err(rej(Reason::Offsite, Detail::OffsiteLink));
        }
        if !c.enabled {
            return Err(rej(Reason::Disabled, Detail::CampaignDisabled));
        }
        if !e.enabled {
            return Err(rej(Reason::Disabled, Detail::EngagementDisabled));
        }
        // 1. Time: the schedule may open or close later on its own.
        let next = c.schedule.next_change(now);
        if let Some(t) = next {
            wake.at(t);
        }
        if now >= bundle.valid_until || !c.schedule.contains(now) {
            return Err(rej(Reason::Timeframe, Detail::OutsideTimeframe { next }));
        }
        if c.business_hours_only {
            let Some(hours) = &bundle.business_hours else {
                return Err(rej(Reason::BusinessHours, Detail::NoBusinessHours));
            };
            let next = hours.next_change(now);
            if let Some(t) = next {
                wake.at(t);
            }
            if !hours.contains(now) {
                return Err(rej(Reason::BusinessHours, Detail::Closed { next }));
            }
        }
        // 2. Control groups: remembered, but the remaining rules still run so that a `control`
        // event is emitted exactly when the engagement would have been shown.
        let control = self.control(bundle, c);
        // 3. Audience, entry point, behavior. Without a trace the reason is never read, so the
        // cheap page test runs first; with one, the SPEC's order decides which rule is named.
        if !trace {
            entry_point(ctx, e, page)?;
        }
        if let Some(i) = c.audience {
            if !page.audience(i, attrs, bundle, ctx.regex) {
                return Err(rej(Reason::Audience, Detail::AudienceNotMet));
            }
        }
        if e.authenticated && !matches!(attrs.get("authenticated"), Some(Value::Bool(true))) {
            return Err(rej(Reason::Audience, Detail::NotAuthenticated));
        }
        if trace {
            if !can_match {
                return Err(rej(Reason::EntryPoint, Detail::NoEntryMatch));
            }
            entry_point(ctx, e, page)?;
        }
        let page = self.page.as_ref();
        self.behavior(ctx, e, page, now, wake)?;
        // 4. Visit rules.
        if self.declined.iter().any(|d| **d == *e.id) {
            return Err(rej(Reason::Declined, Detail::DeclinedThisVisit));
        }
        if self.accepted.iter().any(|d| **d == *e.id) {
            return Err(rej(Reason::Accepted, Detail::AcceptedThisVisit));
        }
        if e.is_proactive() {
            if let Some(cap) = bundle.settings.displays_per_visit.get(e.kind) {
                if self.proactive_displays.get(e.kind) >= cap {
                    return Err(rej(Reason::DisplayCap, Detail::Cap { kind: e.kind, cap }));
                }
            }
            if self.proactive_declined.get(e.kind)
                && !bundle.settings.invite_after_decline.get(e.kind)
            {
                return Err(rej(Reason::AfterDecline, Detail::AfterDecline(e.kind)));
            }
        }
        // 5. Availability.
        let state = engagement_state(bundle, e, &self.availability);
        if e.creative.for_state(state, e.is_messaging()).is_none() {
            return Err(rej(Reason::Availability, Detail::NoCreative(state)));
        }
        // Zones: embedded ones need their element on the page.
        let zone = match &e.zone {
            Some(z) => z,
            None => return Err(rej(Reason::NoZoneElement, Detail::NoElement)),
        };
        if let Zone::Embedded(id) = zone {
            let present = page
                .and_then(|p| p.elements.as_ref())
                .is_none_or(|els| els.iter().any(|x| x == id));
            if !present {
                return Err(rej(Reason::NoZoneElement, Detail::NoElement));
            }
        }
        Ok(Candidate {
            zone,
            state,
            control,
        })
    }

    fn control(&self, bundle: &Bundle, c: &BundleCampaign) -> Option<Detail> {
        let id = &self.profile.id;
        let site_pct = bundle.settings.control_group_percent;
        if site_pct > 0.0 && in_control(&bundle.site, id, site_pct) {
            return Some(Detail::Control {
                site: true,
                bucket: bucket(&bundle.site, id),
                percent: hundredths(site_pct),
            });
        }
        if c.control_group_percent > 0.0 && in_control(&c.id, id, c.control_group_percent) {
            return Some(Detail::Control {
                site: false,
                bucket: bucket(&c.id, id),
                percent: hundredths(c.control_group_percent),
            });
        }
        None
    }

    fn behavior(
        &self,
        ctx: &Context,
        e: &BundleEngagement,
        page: Option<&Page>,
        now: Millis,
        wake: &mut Wake,
    ) -> Result<(), Rejection> {
        let b = &e.behavior;
        if b.is_none() {
            return Ok(());
        }
        let page_start = page.map_or(now, |p| p.started_at);
        let timed = [
            (Measure::TimeOnPage, b.time_on_page, page_start),
            (Measure::TimeOnSite, b.time_on_site, self.started_at),
            (Measure::IdleSeconds, b.idle_seconds, self.last_activity_at),
        ];
        for (what, need, since) in timed {
            let Some(need) = need else { continue };
            let due = since.saturating_add(i64::from(need) * 1000);
            if now < due {
                // Without a page, time on page stays 0: no instant makes it due.
                if page.is_some() || what != Measure::TimeOnPage {
                    wake.at(due);
                }
                return Err(rej(
                    Reason::Behavior,
                    Detail::Below {
                        what,
                        have: (now.saturating_sub(since).max(0) / 1000).min(i64::from(u32::MAX))
                            as u32,
                        need,
                    },
                ));
            }
        }
        if let Some(need) = b.pages_viewed {
            if self.pages_viewed < need {
                return Err(rej(
                    Reason::Behavior,
                    Detail::Below {
                        what: Measure::PagesViewed,
                        have: self.pages_viewed,
                        need,
                    },
                ));
            }
        }
        if let Some(t) = &b.visited {
            let hit = self.past_pages.iter().any(|p| {
                page_field(t.field, &p.url, &p.title, &p.section)
                    .is_some_and(|s| t.matcher.matches(s, ctx.regex))
            });
            if !hit {
                return Err(rej(Reason::Behavior, Detail::NotVisited));
            }
        }
        if let Some(t) = &b.referrer {
            let hit = self
                .referrer
                .as_deref()
                .is_some_and(|r| t.matcher.matches(r, ctx.regex));
            if !hit {
                return Err(rej(Reason::Behavior, Detail::ReferrerNotMatched));
            }
        }
        if let Some(want) = b.exit_intent {
            let have = page.is_some_and(|p| p.exit_intent);
            if want != have {
                return Err(rej(Reason::Behavior, Detail::ExitIntent(want)));
            }
        }
        if let Some(need) = b.scroll_percent {
            let have = page.map_or(0, |p| p.scroll);
            if have < need {
                return Err(rej(
                    Reason::Behavior,
                    Detail::Below {
                        what: Measure::ScrollPercent,
                        have,
                        need,
                    },
                ));
            }
        }
        if let Some(rule) = &b.engaged {
            let flag = match rule.state {
                EngagedState::Shown => SHOWN,
                EngagedState::Accepted => ACCEPTED,
                EngagedState::Declined => DECLINED,
            };
            if self.engaged_flags(&rule.engagement) & flag == 0 {
                return Err(rej(Reason::Behavior, Detail::EngagedNot));
            }
        }
        Ok(())
    }

    /// Rule 6: one engagement per zone; kept zones stay; the best free candidate wins.
    fn allocate_zones(
        &mut self,
        bundle: &Bundle,
        now: Millis,
        verdicts: &mut [Verdict<'_>],
        events: &mut Vec<Event>,
    ) {
        // Candidates in rank order: priority, then online conversation, content,
        // busy/offline conversation, then document order.
        // Each key is (priority descending and class in one integer, document order): plain
        // integers to sort, computed once.
        let mut order: Vec<(u64, usize)> = Vec::new();
        for (i, v) in verdicts.iter().enumerate() {
            if let Ok(Some(cand)) = &v.result {
                let class = match cand.state {
                    State::Online => 0,
                    State::Content => 1,
                    State::Busy | State::Offline => 2,
                };
                // Flipping the sign bit maps i32 to u32 in order; inverting makes it descending.
                let priority = !((v.c.priority as u32) ^ 0x8000_0000);
                order.push(((u64::from(priority) << 32) | class, i));
            }
        }
        // Keys are unique (document order last): any sort gives this order.
        heap_sort(&mut order);
        for (_, i) in order {
            let Some(v) = verdicts.get_mut(i) else {
                continue;
            };
            let Ok(Some(cand)) = v.result else {
                continue;
            };
            let (zone, state, control) = (cand.zone, cand.state, cand.control);
            let (c, e) = (v.c, v.e);
            if let Some(holder) = self.displayed.iter().position(|d| zone.is(&d.zone)) {
                v.result = Err(rej(Reason::ZoneTaken, Detail::ZoneShows { holder }));
                continue;
            }
            // A proactive display may have used up the cap of this kind meanwhile.
            if e.is_proactive() {
                if let Some(cap) = bundle.settings.displays_per_visit.get(e.kind) {
                    if self.proactive_displays.get(e.kind) >= cap {
                        v.result = Err(rej(Reason::DisplayCap, Detail::Cap { kind: e.kind, cap }));
                        continue;
                    }
                }
            }
            let d = Displayed {
                campaign: String::from(&*c.id),
                engagement: String::from(&*e.id),
                zone: zone.key(),
                state,
            };
            if let Some(detail) = control {
                // The counterfactual exposure: this is where it would have been shown.
                if !self.controlled.iter().any(|x| **x == *e.id) {
                    self.controlled.push(String::from(&*e.id));
                    events.push(self.engagement_event(EventKind::Control, now, &d));
                }
                v.result = Err(rej(Reason::ControlGroup, detail));
                continue;
            }
            if e.is_proactive() {
                match e.kind {
                    Kind::Conversation => self.proactive_displays.conversation += 1,
                    Kind::Content => self.proactive_displays.content += 1,
                }
            }
            self.mark_engaged(&e.id, SHOWN);
            events.push(self.engagement_event(EventKind::Impression, now, &d));
            self.displayed.push(d);
            v.result = Ok(None);
        }
        // Controlled candidates that lost their zone anyway still read as control in the trace.
        for v in verdicts.iter_mut() {
            if let Ok(Some(cand)) = &v.result {
                if let Some(detail) = cand.control {
                    v.result = Err(rej(Reason::ControlGroup, detail));
                }
            }
        }
    }

    fn trace(&self, verdicts: &[Verdict<'_>]) -> Vec<TraceEntry> {
        verdicts
            .iter()
            .map(|v| {
                let (c, e) = (v.c, v.e);
                let mut t = TraceEntry {
                    campaign: c.id.clone(),
                    engagement: e.id.clone(),
                    result: TraceResult::Shown,
                    reason: None,
                    detail: None,
                    zone: None,
                    state: None,
                };
                match &v.result {
                    Err(r) => {
                        t.result = TraceResult::Rejected;
                        t.reason = Some(r.reason);
                        t.detail = Some(r.detail.render(e, &self.displayed));
                    }
                    Ok(_) => {
                        if let Some(d) = self.displayed.iter().find(|d| *d.engagement == *e.id) {
                            t.zone = Some(d.zone.clone());
                            t.state = Some(d.state);
                        }
                    }
                }
                t
            })
            .collect()
    }
}

/// How [`Visit::evaluate`] runs: `trace` checks in the SPEC's order (so the first rule that
/// rejects is named); `can_match` is false when the index knows no include matches the page.
#[derive(Clone, Copy)]
struct Rules {
    trace: bool,
    can_match: bool,
}

/// The current page, parsed once per decision, and the results of the bundle's shared page
/// tests and audiences, each computed at most once per decision.
struct Prepared<'p> {
    url: Option<Subject<'p>>,
    title: Option<&'p str>,
    section: Option<&'p str>,
    tests: Vec<Cell<Memo>>,
    audiences: Vec<Cell<Memo>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Memo {
    Unknown,
    No,
    Yes,
}

/// `Cell`s, not a `RefCell`: no borrow checks at run time, so no panic paths.
fn memoized(memo: &[Cell<Memo>], i: u32, f: impl FnOnce() -> bool) -> bool {
    let Some(slot) = memo.get(i as usize) else {
        return false;
    };
    match slot.get() {
        Memo::Yes => true,
        Memo::No => false,
        Memo::Unknown => {
            let v = f();
            slot.set(if v { Memo::Yes } else { Memo::No });
            v
        }
    }
}

impl<'p> Prepared<'p> {
    fn new(page: Option<&'p Page>, bundle: &Bundle) -> Self {
        Prepared {
            url: page.map(|p| Subject::new(&p.url)),
            title: page.and_then(|p| p.title.as_deref()),
            section: page.and_then(|p| p.section.as_deref()),
            tests: vec![Cell::new(Memo::Unknown); bundle.page_tests.len()],
            audiences: vec![Cell::new(Memo::Unknown); bundle.audiences.len()],
        }
    }

    /// Shared page test `i` of the bundle (an index that doesn't exist never matches).
    fn shared(&self, bundle: &Bundle, i: u32, regex: &dyn RegexEngine) -> bool {
        memoized(&self.tests, i, || {
            bundle
                .page_tests
                .get(i as usize)
                .is_some_and(|t| self.test(t, regex))
        })
    }

    fn audience(&self, i: u32, attrs: &Value, bundle: &Bundle, regex: &dyn RegexEngine) -> bool {
        memoized(&self.audiences, i, || {
            bundle
                .audiences
                .get(i as usize)
                .is_some_and(|cond| eval_condition(attrs, cond, regex))
        })
    }

    fn test(&self, t: &PageTest, regex: &dyn RegexEngine) -> bool {
        match t.field {
            PageField::Url => self
                .url
                .as_ref()
                .is_some_and(|u| t.matcher.matches_subject(u, regex)),
            PageField::Title => self.title.is_some_and(|s| t.matcher.matches(s, regex)),
            PageField::Section => self.section.is_some_and(|s| t.matcher.matches(s, regex)),
        }
    }
}

fn entry_point(ctx: &Context, e: &BundleEngagement, page: &Prepared) -> Result<(), Rejection> {
    let ep = &e.entry_point;
    if ep.is_everywhere() {
        return Ok(());
    }
    if page.url.is_none() {
        return Err(rej(Reason::EntryPoint, Detail::NoEntryMatch));
    }
    let test = |&t: &u32| page.shared(ctx.bundle, t, ctx.regex);
    if !ep.include.is_empty() && !ep.include.iter().any(test) {
        return Err(rej(Reason::EntryPoint, Detail::NoEntryMatch));
    }
    if let Some(i) = ep.exclude.iter().position(test) {
        return Err(rej(Reason::EntryPoint, Detail::Excluded(i)));
    }
    Ok(())
}

/// Most advanced thing that happened: accepted, else declined, else shown.
fn engaged_label(flags: u8) -> &'static str {
    if flags & ACCEPTED != 0 {
        "accepted"
    } else if flags & DECLINED != 0 {
        "declined"
    } else {
        "shown"
    }
}

/// Hash v2 buckets are multiples of 1/10000: as an integer, for printing without floats.
/// A percentage in hundredths of a percent (`10.0` → 1000), for the trace's text.
fn hundredths(percent: f64) -> u32 {
    // `as` saturates: negative and NaN read as 0 (validation keeps it within 0–100 anyway).
    (percent * 100.0 + 0.5) as u32
}

/// `x` hundredths of a percent as text: `8.29 %`, `10 %`, `0.05 %`.
fn percent_text(t: Text, x: u32) -> Text {
    let t = t.n(i64::from(x / 100));
    let t = match (x % 100, x % 10) {
        (0, _) => t,
        (f, 0) => t.s(".").n(i64::from(f / 10)),
        (f, _) if f < 10 => t.s(".0").n(i64::from(f)),
        (f, _) => t.s(".").n(i64::from(f)),
    };
    t.s(" %")
}

fn bucket(seed: &str, id: &str) -> u32 {
    (crate::hash::hash(seed, id, 2).unwrap_or(0.0) * 10_000.0).round() as u32
}

fn page_field<'p>(
    field: PageField,
    url: &'p str,
    title: &'p Option<String>,
    section: &'p Option<String>,
) -> Option<&'p str> {
    match field {
        PageField::Url => Some(url),
        PageField::Title => title.as_deref(),
        PageField::Section => section.as_deref(),
    }
}

/// The value of `name` in `url`'s query string (no percent-decoding beyond `+`).
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split('#').next()?.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name && !v.is_empty()).then(|| {
            // `v.replace('+', " ")`, in fewer instructions.
            let mut out = String::with_capacity(v.len());
            for (i, part) in v.split('+').enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(part);
            }
            out
        })
    })
}

/// Merges `update` into `into`: objects merge recursively, `null` removes a key.
pub fn deep_merge(into: &mut Map<String, Value>, update: Map<String, Value>) {
    for (k, v) in update {
        match (into.get_mut(&k), v) {
            (_, Value::Null) => remove_key(into, &k),
            (Some(Value::Object(old)), Value::Object(new)) => deep_merge(old, new),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// `m.remove(k)`, by rebuilding the (small) map: B-tree removal and its rebalancing would be
/// kilobytes of wasm for this one call.
#[inline(never)]
fn remove_key(m: &mut Map<String, Value>, k: &str) {
    if m.contains_key(k) {
        let mut kept = Map::new();
        for (key, v) in std::mem::take(m) {
            if key != k {
                kept.insert(key, v);
            }
        }
        *m = kept;
    }
}

/// The earliest future instant something time-based changes.
struct Wake(Option<Millis>);

impl Wake {
    fn at(&mut self, t: Millis) {
        if self.0.is_none_or(|w| t < w) {
            self.0 = Some(t);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Candidate<'b> {
    zone: &'b Zone,
    state: State,
    control: Option<Detail>,
}

#[derive(Debug, Clone, Copy)]
struct Rejection {
    reason: Reason,
    detail: Detail,
}

fn rej(reason: Reason, detail: Detail) -> Rejection {
    Rejection { reason, detail }
}

/// One engagement's verdict: `Ok(None)` displayed, `Ok(Some)` a candidate for its zone.
struct Verdict<'b> {
    c: &'b BundleCampaign,
    e: &'b BundleEngagement,
    result: Result<Option<Candidate<'b>>, Rejection>,
}

/// An in-place heap sort: O(n log n) like `sort_unstable`, a fraction of its code in the
/// wasm. Not stable, so only for unique keys.
pub(crate) fn heap_sort<T: Ord>(v: &mut [T]) {
    fn sift<T: Ord>(v: &mut [T], mut root: usize, end: usize) {
        // Lets the compiler see every index below in bounds: no panic paths.
        let end = end.min(v.len());
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift(v, start, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn heap_sort_sorts() {
        for n in 0..40u64 {
            let mut v: Vec<u64> = (0..n).map(|i| (i * 7919 + 13) % 101).collect();
            let mut want = v.clone();
            want.sort();
            super::heap_sort(&mut v);
            assert_eq!(v, want);
        }
    }

    use super::*;

    #[test]
    fn percents_read_as_people_write_them() {
        let p = |x| percent_text(Text::new(), x).done();
        assert_eq!(
            [p(829), p(1000), p(850), p(5), p(0), p(10_000)],
            ["8.29 %", "10 %", "8.5 %", "0.05 %", "0 %", "100 %"]
        );
        assert_eq!(
            [hundredths(10.0), hundredths(2.5), hundredths(-1.0)],
            [1000, 250, 0]
        );
        let d = Detail::Control {
            site: false,
            bucket: 829,
            percent: 1000,
        };
        let e: BundleEngagement = serde_json::from_value(serde_json::json!({
            "id": "e", "enabled": true, "kind": "conversation", "format": "sticky",
            "source": "web", "creative": {}
        }))
        .expect("an engagement");
        assert_eq!(
            d.render(&e, &[]),
            "visitor is in the campaign control group (bucket 8.29 % < control 10 %)"
        );
    }

    #[test]
    fn query_params_and_merge() {
        assert_eq!(
            query_param(
                "https://a.example/x?utm_source=news+letter&b=1#h",
                "utm_source"
            ),
            Some("news letter".into())
        );
        assert_eq!(query_param("https://a.example/x?b=1", "utm_source"), None);
        let mut a = serde_json::json!({"cart": {"total": 1, "items": 2}, "x": 1})
            .as_object()
            .cloned()
            .unwrap();
        let b = serde_json::json!({"cart": {"total": 5}, "x": null})
            .as_object()
            .cloned()
            .unwrap();
        deep_merge(&mut a, b);
        assert_eq!(
            Value::Object(a),
            serde_json::json!({"cart": {"total": 5, "items": 2}})
        );
    }

    #[test]
    fn hand_written_stored_form_matches_serde() {
        let bundle: Bundle = serde_json::from_value(serde_json::json!({
            "format": 1, "site": "s", "compiled_at": 0, "valid_until": crate::bundle::FOREVER,
            "settings": {"displays_per_visit": {"conversation": null, "content": null},
                         "invite_after_decline": {"conversation": false, "content": true},
                         "control_group_percent": 0.0, "visit_idle_minutes": 30},
            "campaigns": [{"id": "c", "enabled": true, "priority": 0, "control_group_percent": 0.0,
              "schedule": [[-crate::bundle::FOREVER, crate::bundle::FOREVER]], "business_hours_only": false,
              "engagements": [{"id": "e", "enabled": true, "kind": "content", "source": "web",
                 "format": "overlay", "zone": "proactive", "creative": {"content": {"title": "t"}}}]}]
        }))
        .expect("bundle");
        let regex = NoRegex;
        let ctx = Context {
            bundle: &bundle,
            regex: &regex,
        };
        let mut v = Visit::new(Profile {
            id: "v1".into(),
            language: Some("en".into()),
            ..Profile::default()
        });
        let page = |u: &str| {
            Input::Page(PageView {
                url: u.into(),
                title: Some("T".into()),
                elements: Some(vec!["x".into()]),
                ..PageView::default()
            })
        };
        v.apply(
            &ctx,
            1000,
            page("https://a.example/?utm_source=news"),
            false,
        );
        v.apply(
            &ctx,
            2000,
            Input::Attributes(
                serde_json::json!({"cart": {"total": 5}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            false,
        );
        v.apply(&ctx, 3000, Input::Decline("e".into()), false);
        v.apply(&ctx, 4000, page("https://a.example/b"), false);
        let serde_form = serde_json::to_value(&v).expect("serializes");
        assert_eq!(v.to_value(), serde_form);
        assert_eq!(Visit::from_value(&serde_form), Some(v.clone()));
        assert_eq!(Visit::from_json(&v.to_json()), Some(v.clone()));
        // Wrong types anywhere reset instead of failing.
        let mut broken = serde_form.clone();
        broken["d"] = serde_json::json!([{"c": 1}]);
        assert_eq!(Visit::from_value(&broken), None);
        assert_eq!(Visit::from_value(&serde_json::json!({"v": 1})), None);
        assert_eq!(Visit::from_value(&serde_json::json!("x")), None);
    }

    #[test]
    fn offsite_accepts_carry_no_zone_and_disabled_engagements_leave_on_a_new_bundle() {
        let bundle = |enabled: bool| -> Bundle {
            serde_json::from_value(serde_json::json!({
                "format": 1, "site": "s", "compiled_at": 0, "valid_until": crate::bundle::FOREVER,
                "settings": {"displays_per_visit": {"conversation": null, "content": null},
                             "invite_after_decline": {"conversation": false, "content": true},
                             "control_group_percent": 0.0, "visit_idle_minutes": 30},
                "campaigns": [{"id": "c", "enabled": enabled, "priority": 0, "control_group_percent": 0.0,
                  "schedule": [[-crate::bundle::FOREVER, crate::bundle::FOREVER]], "business_hours_only": false,
                  "engagements": [
                    {"id": "tab", "enabled": true, "kind": "content", "source": "web",
                     "format": "sticky", "zone": "right", "creative": {"content": {"title": "t"}}},
                    {"id": "link", "enabled": true, "kind": "conversation", "channel": "chat", "source": "offsite",
                     "creative": {"online": {"title": "t"}},
                     "offsite": {"source": "email", "landing_url": "https://a.example/"}}]}]
            }))
            .expect("bundle")
        };
        let (on, off) = (bundle(true), bundle(false));
        let regex = NoRegex;
        let mut v = Visit::new(Profile {
            id: "v1".into(),
            ..Profile::default()
        });
        let ctx = Context {
            bundle: &on,
            regex: &regex,
        };
        let out = v.apply(
            &ctx,
            1000,
            Input::Page(PageView {
                url: "https://a.example/".into(),
                ..PageView::default()
            }),
            false,
        );
        assert_eq!(out.shown.len(), 1);
        let out = v.apply(&ctx, 2000, Input::Accept("link".into()), false);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].zone, None, "an offsite accept has no zone");
        assert!(!v.bundle_changed(&on), "same bundle: nothing leaves");
        assert!(v.bundle_changed(&off), "the campaign was disabled");
        assert!(v.shown().is_empty());
    }

    struct NoRegex;
    impl RegexEngine for NoRegex {
        fn is_match(&self, _: &str, _: bool, _: &str) -> Option<bool> {
            None
        }
    }

    #[test]
    fn stored_state_round_trips_and_garbage_resets() {
        let v = Visit::new(Profile {
            id: "v1".into(),
            ..Profile::default()
        });
        let s = v.to_json();
        assert_eq!(Visit::from_json(&s), Some(v));
        assert_eq!(Visit::from_json("{not json"), None);
        assert_eq!(Visit::from_json(&s.replace("\"v\":1", "\"v\":99")), None);
        assert_eq!(Visit::from_json("[]"), None);
    }
}
