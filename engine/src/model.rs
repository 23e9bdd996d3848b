//! The campaign document: what admins upload (SPEC §3).
//!
//! Every struct denies unknown fields: a typo must be an error, never silently disabled targeting.
//! Defaults follow the SPEC. Semantic checks (ids, ranges, references, patterns) live in
//! `validate`; this module only says what the document's shape is.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// The whole document for one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub site: String,
    /// IANA time zone of `business_hours`, weekly schedules and special occasions.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<OrRef<Vec<WeeklyWindow>>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub special_occasions: Vec<SpecialOccasion>,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub skills: Vec<Skill>,
    #[serde(default, skip_serializing_if = "Library::is_empty")]
    pub library: Library,
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// 0 = Monday … 6 = Sunday.
    pub fn index(self) -> u32 {
        self as u32
    }
}

/// A weekly window in local time: `from` and `to` are `HH:MM`; `to` may be `24:00`, and a `to`
/// earlier than `from` runs past midnight into the next day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyWindow {
    pub days: Vec<Day>,
    pub from: String,
    pub to: String,
}

/// A local date whose business hours differ: closed all day, or open `from`–`to` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialOccasion {
    pub date: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub displays_per_visit: PerKind<Option<u32>>,
    #[serde(default = "default_invite_after_decline")]
    pub invite_after_decline: PerKind<bool>,
    #[serde(default)]
    pub control_group_percent: f64,
    #[serde(default = "default_visit_idle_minutes")]
    pub visit_idle_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_engagement: Option<InactiveEngagement>,
    #[serde(default = "default_attribution_days")]
    pub attribution_days: u32,
    /// URL template with `{site}`, `{engagement}`, `{skill}`, `{language}`: when set the runtime
    /// opens the conversation window itself on accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_url: Option<String>,
    /// ISO 4217 code of goal values in reports.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// ISO 3166 alpha-2 region in which contacts' national phone numbers are read (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_country: Option<String>,
    /// Where conversations are handed off (SPEC §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_webhook: Option<ConversationWebhook>,
}

/// `settings.conversation_webhook`: each conversation is POSTed there, signed with `secret`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationWebhook {
    pub url: String,
    pub secret: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            displays_per_visit: PerKind::default(),
            invite_after_decline: default_invite_after_decline(),
            control_group_percent: 0.0,
            visit_idle_minutes: default_visit_idle_minutes(),
            inactive_engagement: None,
            attribution_days: default_attribution_days(),
            conversation_url: None,
            currency: default_currency(),
            default_country: None,
            conversation_webhook: None,
        }
    }
}

fn default_invite_after_decline() -> PerKind<bool> {
    PerKind {
        conversation: false,
        content: true,
    }
}
fn default_visit_idle_minutes() -> u32 {
    30
}
fn default_attribution_days() -> u32 {
    14
}
fn default_currency() -> String {
    "USD".to_owned()
}

/// One value for conversation engagements and one for content engagements. A field left out
/// takes the type's default for that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "T: Deserialize<'de> + Default + ContentDefault")
)]
pub struct PerKind<T> {
    #[serde(default)]
    pub conversation: T,
    #[serde(default = "content_default")]
    pub content: T,
}

// `invite_after_decline.content` defaults to true; the other PerKind users default to T's default.
// Serde cannot tell the uses apart, so the content default is resolved by a helper trait.
fn content_default<T: ContentDefault>() -> T {
    T::content_default()
}

pub trait ContentDefault {
    fn content_default() -> Self;
}
impl ContentDefault for bool {
    fn content_default() -> Self {
        true
    }
}
impl ContentDefault for u32 {
    fn content_default() -> Self {
        0
    }
}
impl ContentDefault for Option<u32> {
    fn content_default() -> Self {
        None
    }
}

impl<T: Copy> PerKind<T> {
    pub fn get(&self, kind: Kind) -> T {
        match kind {
            Kind::Conversation => self.conversation,
            Kind::Content => self.content,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactiveEngagement {
    pub redirect_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "default_max_wait")]
    pub max_wait_seconds: u32,
}

pub fn default_max_wait() -> u32 {
    120
}

/// Named, reusable items (LivePerson's libraries). `{"ref": "<id>"}` may stand wherever one of
/// these goes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audiences: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entry_points: BTreeMap<String, EntryPoint>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub behaviors: BTreeMap<String, Behavior>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub creatives: BTreeMap<String, CreativeSet>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schedules: BTreeMap<String, Vec<WeeklyWindow>>,
}

impl Library {
    pub fn is_empty(&self) -> bool {
        self.audiences.is_empty()
            && self.entry_points.is_empty()
            && self.behaviors.is_empty()
            && self.creatives.is_empty()
            && self.schedules.is_empty()
    }
}

/// Either an inline item or `{"ref": "<library id>"}`.
///
/// An object whose only key is `ref` with a string value is always read as a reference (so an
/// audience cannot test a single visitor attribute literally named `ref` without an operator:
/// write `{"ref": {"$eq": "x"}}`).
#[derive(Debug, Clone, PartialEq)]
pub enum OrRef<T> {
    Ref(String),
    Inline(T),
}

impl<T> OrRef<T> {
    pub fn as_ref_id(&self) -> Option<&str> {
        match self {
            OrRef::Ref(id) => Some(id),
            OrRef::Inline(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for OrRef<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OrRef::Ref(id) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("ref", id)?;
                m.end()
            }
            OrRef::Inline(t) => t.serialize(s),
        }
    }
}

/// Prefix of a deserialization error raised inside an `OrRef`: the rest of the path up to `: `
/// is relative to the `OrRef`'s own position (validation splices the two paths together).
pub const NESTED_PATH_MARK: &str = "@path ";

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OrRef<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        if let Value::Object(map) = &value {
            if map.len() == 1 {
                if let Some(Value::String(id)) = map.get("ref") {
                    return Ok(OrRef::Ref(id.clone()));
                }
            }
        }
        from_value_with_path(value).map(OrRef::Inline)
    }
}

/// Deserializes from a buffered `Value`, keeping the path of a nested error in the message.
fn from_value_with_path<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    value: Value,
) -> Result<T, E> {
    #[cfg(feature = "native")]
    {
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let path = e.path().to_string();
            if path.is_empty() || path == "." {
                E::custom(e.into_inner())
            } else {
                E::custom(format_args!("{NESTED_PATH_MARK}{path}: {}", e.into_inner()))
            }
        })
    }
    #[cfg(not(feature = "native"))]
    {
        T::deserialize(value).map_err(E::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The campaign's objective as the admin names it (e.g. `sales`, `leads`, `service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub control_group_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<Timeframe>,
    #[serde(default)]
    pub business_hours_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<OrRef<Value>>,
    #[serde(default)]
    pub engagements: Vec<Engagement>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeframe {
    /// RFC 3339 instant; absent or null: since always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// RFC 3339 instant; absent or null: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Weekly windows in the site's time zone; absent: every day, all day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<OrRef<Vec<WeeklyWindow>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Conversation,
    Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Chat,
    Messaging,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[default]
    Web,
    Offsite,
    /// Receives the replies to SMS broadcasts (SPEC §11): no page element, no creative.
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Sticky,
    Overlay,
    Toaster,
    PeelingCorner,
    Button,
    Banner,
}

impl Format {
    /// Overlays, toasters and peeling corners: they interrupt, so they share the `proactive`
    /// zone and count against `displays_per_visit`.
    pub fn is_proactive(self) -> bool {
        matches!(
            self,
            Format::Overlay | Format::Toaster | Format::PeelingCorner
        )
    }

    pub fn is_embedded(self) -> bool {
        matches!(self, Format::Button | Format::Banner)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sticky => "sticky",
            Format::Overlay => "overlay",
            Format::Toaster => "toaster",
            Format::PeelingCorner => "peeling_corner",
            Format::Button => "button",
            Format::Banner => "banner",
        }
    }
}

/// Where an engagement renders: `"left"`, `"right"`, `"proactive"` or `{"embedded": "<element id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    Left,
    Right,
    Proactive,
    Embedded(String),
}

impl Zone {
    /// The zone's name in events, traces and `data-zone`: `left`, `right`, `proactive`, or
    /// `embedded:<element id>`.
    pub fn key(&self) -> String {
        match self {
            Zone::Left => "left".to_owned(),
            Zone::Right => "right".to_owned(),
            Zone::Proactive => "proactive".to_owned(),
            Zone::Embedded(id) => {
                // Not `format!`: no formatting machinery in the browser build.
                let mut k = String::with_capacity(9 + id.len());
                k.push_str("embedded:");
                k.push_str(id);
                k
            }
        }
    }

    /// Whether `key` (as made by [`Zone::key`]) names this zone, without allocating.
    pub fn is(&self, key: &str) -> bool {
        match self {
            Zone::Left => key == "left",
            Zone::Right => key == "right",
            Zone::Proactive => key == "proactive",
            Zone::Embedded(id) => key.strip_prefix("embedded:") == Some(id.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowMode {
    #[default]
    Embedded,
    Popup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engagement {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub kind: Kind,
    /// Conversation engagements only; default `chat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub source: Source,
    /// Web engagements only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Web engagements only; default from the format (sticky: `right`, proactive formats:
    /// `proactive`; button and banner must name their element).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Zone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    #[serde(default)]
    pub ignore_max_wait: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<OrRef<EntryPoint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<OrRef<Behavior>>,
    /// Required for web and offsite engagements (validation says so); outbound ones have none.
    #[serde(default = "no_creative", skip_serializing_if = "is_no_creative")]
    pub creative: OrRef<CreativeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Sender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsite: Option<Offsite>,
    /// Outbound engagements: the entry point replies arrive by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<OutboundEntry>,
    /// Shown only to visitors whose attributes say `"authenticated": true`.
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default)]
    pub window_mode: WindowMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
}

fn no_creative() -> OrRef<CreativeSet> {
    OrRef::Inline(CreativeSet::default())
}

pub fn is_no_creative(c: &OrRef<CreativeSet>) -> bool {
    matches!(c, OrRef::Inline(set) if *set == CreativeSet::default())
}

/// `"outbound": {"campaign_ref": "CM-123"}` or `{"sender": "+447400123000"}`: the provider's
/// campaign id, or the number broadcasts are sent from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

/// Pages an engagement may show on: any `include` matches (or `include` is empty) and no
/// `exclude` matches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryPoint {
    #[serde(default)]
    pub include: Vec<PageMatcher>,
    #[serde(default)]
    pub exclude: Vec<PageMatcher>,
}

/// A test of one page: its URL, title or section. The bare matcher forms
/// (`{"contains": "/shop"}`) are shorthand for `{"url": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageMatcher {
    Url(Matcher),
    Title(Matcher),
    Section(Matcher),
    Equals(String),
    Contains(String),
    Prefix(String),
    Regex(String),
    Pattern(String),
}

/// Which part of a page a [`PageMatcher`] tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageField {
    Url,
    Title,
    Section,
}

impl PageMatcher {
    /// The field tested and the matcher, with the shorthand forms expanded.
    pub fn split(&self) -> (PageField, Matcher) {
        match self {
            PageMatcher::Url(m) => (PageField::Url, m.clone()),
            PageMatcher::Title(m) => (PageField::Title, m.clone()),
            PageMatcher::Section(m) => (PageField::Section, m.clone()),
            PageMatcher::Equals(s) => (PageField::Url, Matcher::Equals(s.clone())),
            PageMatcher::Contains(s) => (PageField::Url, Matcher::Contains(s.clone())),
            PageMatcher::Prefix(s) => (PageField::Url, Matcher::Prefix(s.clone())),
            PageMatcher::Regex(s) => (PageField::Url, Matcher::Regex(s.clone())),
            PageMatcher::Pattern(s) => (PageField::Url, Matcher::Pattern(s.clone())),
        }
    }
}

/// A test of one string. `pattern` is a WHATWG URLPattern for URLs (a `*` glob for titles and
/// sections); `regex` is a regular expression searched anywhere in the string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Matcher {
    Equals(String),
    Contains(String),
    Prefix(String),
    Regex(String),
    Pattern(String),
}

/// Conditions on the visit; all that are given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behavior {
    /// Seconds on the current page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_on_page: Option<u32>,
    /// Seconds since the visit started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_on_site: Option<u32>,
    /// Pages viewed this visit, the current one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages_viewed: Option<u32>,
    /// Some earlier page of this visit matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visited: Option<PageMatcher>,
    /// The visit's referrer (the page the visitor came to the site from) matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<PageMatcher>,
    /// `true`: only once the visitor shows exit intent on this page; `false`: only before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_intent: Option<bool>,
    /// The visitor scrolled at least this far down the current page (0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll_percent: Option<u32>,
    /// Seconds without any mouse, key, touch or scroll activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engaged: Option<EngagedRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagedRule {
    pub engagement: String,
    pub state: EngagedState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngagedState {
    Shown,
    Accepted,
    Declined,
}

/// The creatives of one engagement: one per availability state for conversation engagements,
/// `content` for content engagements.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreativeSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<Creative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<Creative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<Creative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Creative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Creative {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A small HTML subset, sanitized by the compiler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cta: Option<String>,
    /// Content creatives: where the call to action leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
}

/// Look and feel set in the studio: plain CSS values, validated at upload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Style {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsiteSource {
    Email,
    Social,
    Ads,
    Print,
    Tv,
    Sms,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offsite {
    pub source: OffsiteSource,
    pub landing_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_survey_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_parses_with_defaults() {
        let doc: Document = serde_json::from_str(
            r#"{"site":"acme","campaigns":[{"id":"c","engagements":[{"id":"e","kind":"conversation",
                "format":"sticky","creative":{"online":{"title":"Hi"}}}]}]}"#,
        )
        .expect("parses");
        assert_eq!(doc.timezone, "UTC");
        assert_eq!(doc.settings.visit_idle_minutes, 30);
        assert!(!doc.settings.invite_after_decline.conversation);
        assert!(doc.settings.invite_after_decline.content);
        assert_eq!(doc.settings.displays_per_visit.content, None);
        let e = &doc.campaigns[0].engagements[0];
        assert!(e.enabled && doc.campaigns[0].enabled);
        assert_eq!(e.source, Source::Web);
        assert_eq!(e.window_mode, WindowMode::Embedded);
    }

    #[test]
    fn partial_per_kind_keeps_the_other_default() {
        let s: Settings =
            serde_json::from_str(r#"{"invite_after_decline":{"conversation":true}}"#).unwrap();
        assert!(s.invite_after_decline.conversation && s.invite_after_decline.content);
        let s: Settings =
            serde_json::from_str(r#"{"displays_per_visit":{"conversation":2}}"#).unwrap();
        assert_eq!(s.displays_per_visit.conversation, Some(2));
        assert_eq!(s.displays_per_visit.content, None);
    }

    #[test]
    fn zones_and_refs() {
        let z: Zone = serde_json::from_str(r#"{"embedded":"cta"}"#).unwrap();
        assert_eq!(z, Zone::Embedded("cta".into()));
        assert_eq!(z.key(), "embedded:cta");
        let z: Zone = serde_json::from_str(r#""left""#).unwrap();
        assert_eq!(z, Zone::Left);
        let r: OrRef<EntryPoint> = serde_json::from_str(r#"{"ref":"shop"}"#).unwrap();
        assert_eq!(r, OrRef::Ref("shop".into()));
        let r: OrRef<EntryPoint> =
            serde_json::from_str(r#"{"include":[{"contains":"/shop"}]}"#).unwrap();
        assert!(matches!(r, OrRef::Inline(_)));
        assert_eq!(
            serde_json::to_string(&OrRef::<EntryPoint>::Ref("x".into())).unwrap(),
            r#"{"ref":"x"}"#
        );
    }

    #[test]
    fn unknown_fields_are_errors_with_nested_paths() {
        let err = serde_json::from_str::<Engagement>(
            r#"{"id":"e","kind":"content","creative":{},"behavior":{"time_on_pge":3}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("time_on_pge"), "{err}");
        #[cfg(feature = "native")]
        assert!(err.contains(NESTED_PATH_MARK), "{err}");
    }
}
