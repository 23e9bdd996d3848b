//! The compiled bundle: what the browser downloads and the engine decides over.
//!
//! Everything the runtime would otherwise need a library for is resolved by the compiler: time
//! zones become UTC intervals (valid until `valid_until`), library references are inlined, URL
//! patterns become matcher programs, messages become safe node trees. Fields the runtime does not
//! need (names, descriptions, offsite survey URLs) are left out.

use crate::availability::State;
use crate::html::Node;
use crate::model::{
    Channel, EngagedRule, Format, Kind, Offsite, PageField, PerKind, Sender, Source, Style,
    WindowMode, Zone,
};
use crate::urlmatch::CompiledMatcher;
use crate::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Bump when the bundle's shape changes incompatibly; the runtime refuses other versions.
/// 2: a campaign's and an engagement's fields at their defaults are left out (enabled, priority
/// 0, no control group, always scheduled, not business hours only, source web): a fifth of a
/// large bundle's text, which the browser parses and reads before its first decision.
pub const BUNDLE_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: u32,
    pub site: String,
    /// The document version this bundle was compiled from (0 for drafts).
    #[serde(default)]
    pub version: u64,
    pub compiled_at: Millis,
    /// Weekly schedules and business hours are expanded up to this instant; after it every
    /// schedule reads as closed, so the runtime must fetch a fresh bundle first.
    pub valid_until: Millis,
    pub settings: BundleSettings,
    #[serde(default)]
    pub skills: Vec<BundleSkill>,
    /// `None` when the document names no business hours.
    #[serde(default)]
    pub business_hours: Option<Schedule>,
    /// Every distinct audience condition, once: campaigns refer to them by index, so a decision
    /// evaluates each at most once however many campaigns share it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<Value>,
    /// Every distinct entry-point page test, once (same reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_tests: Vec<PageTest>,
    pub campaigns: Vec<BundleCampaign>,
    /// Outbound engagements (SPEC §11): they receive SMS replies, so the runtime never shows
    /// them; the server links replies with [`crate::outbound::link_reply`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<BundleOutbound>,
    /// Which engagements a page can match, built on the first decision (not serialized). A
    /// bundle is not changed after its first decision.
    #[serde(skip)]
    pub index: crate::index::IndexCell,
}

/// An outbound engagement: the entry point replies come by, and what the agent is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleOutbound {
    pub campaign: String,
    pub engagement: String,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleSettings {
    pub displays_per_visit: PerKind<Option<u32>>,
    pub invite_after_decline: PerKind<bool>,
    pub control_group_percent: f64,
    pub visit_idle_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleSkill {
    pub id: String,
    pub max_wait_seconds: u32,
}

pub use crate::interval::{Schedule, FOREVER};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleCampaign {
    /// Shared, not copied: every trace entry names its campaign and engagement.
    pub id: Arc<str>,
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "is_none_percent")]
    pub control_group_percent: f64,
    /// Timeframe (start, end and weekly windows) as UTC intervals; left out: always.
    #[serde(
        default = "Schedule::always",
        skip_serializing_if = "Schedule::is_always"
    )]
    pub schedule: Schedule,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub business_hours_only: bool,
    /// Index into [`Bundle::audiences`] of the GrowthBook condition over visitor attributes;
    /// `None`: everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<u32>,
    pub engagements: Vec<BundleEngagement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleEngagement {
    pub id: Arc<str>,
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub enabled: bool,
    pub kind: Kind,
    /// Conversation engagements: `chat` or `messaging`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "is_web")]
    pub source: Source,
    /// Web engagements only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Zone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_max_wait: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_note: Option<String>,
    #[serde(default, skip_serializing_if = "EntryPointProgram::is_everywhere")]
    pub entry_point: EntryPointProgram,
    #[serde(default, skip_serializing_if = "BehaviorProgram::is_none")]
    pub behavior: BehaviorProgram,
    pub creative: CreativeProgram,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Sender>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authenticated: bool,
    #[serde(default, skip_serializing_if = "is_default_window_mode")]
    pub window_mode: WindowMode,
    /// Offsite engagements: where their link leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsite: Option<Offsite>,
}

fn is_default_window_mode(m: &WindowMode) -> bool {
    *m == WindowMode::Embedded
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_none_percent(p: &f64) -> bool {
    *p == 0.0
}

fn is_web(s: &Source) -> bool {
    *s == Source::Web
}

impl Bundle {
    /// The audience condition of a campaign, if any.
    pub fn audience(&self, c: &BundleCampaign) -> Option<&Value> {
        c.audience.and_then(|i| self.audiences.get(i as usize))
    }

    /// An engagement by id, with its campaign.
    pub fn find(&self, id: &str) -> Option<(&BundleCampaign, &BundleEngagement)> {
        self.campaigns
            .iter()
            .find_map(|c| c.engagements.iter().find(|e| &*e.id == id).map(|e| (c, e)))
    }
}

impl BundleEngagement {
    /// Counts against `displays_per_visit` and falls under `invite_after_decline`.
    pub fn is_proactive(&self) -> bool {
        self.format.is_some_and(Format::is_proactive)
    }

    /// Whether availability decides this engagement's state (conversation over chat).
    pub fn follows_availability(&self) -> bool {
        self.kind == Kind::Conversation && self.channel != Some(Channel::Messaging)
    }

    /// A conversation over messaging: shown whatever the agents' state, with the online
    /// creative where its state has none.
    pub fn is_messaging(&self) -> bool {
        self.kind == Kind::Conversation && self.channel == Some(Channel::Messaging)
    }
}

/// One compiled page test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageTest {
    #[serde(rename = "f")]
    pub field: PageField,
    #[serde(rename = "m")]
    pub matcher: CompiledMatcher,
}

/// Indexes into [`Bundle::page_tests`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EntryPointProgram {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<u32>,
}

impl EntryPointProgram {
    pub fn is_everywhere(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BehaviorProgram {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_on_page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_on_site: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages_viewed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visited: Option<PageTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<PageTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_intent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll_percent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engaged: Option<EngagedRule>,
}

impl BehaviorProgram {
    pub fn is_none(&self) -> bool {
        // Field by field, not `== default()`: the derived comparison of the matchers would be
        // code in the browser build for a question of presence.
        let BehaviorProgram {
            time_on_page,
            time_on_site,
            pages_viewed,
            visited,
            referrer,
            exit_intent,
            scroll_percent,
            idle_seconds,
            engaged,
        } = self;
        time_on_page.is_none()
            && time_on_site.is_none()
            && pages_viewed.is_none()
            && visited.is_none()
            && referrer.is_none()
            && exit_intent.is_none()
            && scroll_percent.is_none()
            && idle_seconds.is_none()
            && engaged.is_none()
    }
}

/// Creatives with fallbacks resolved by the engine: busy → offline; offline missing → not shown.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreativeProgram {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<CompiledCreative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<CompiledCreative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<CompiledCreative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<CompiledCreative>,
}

impl CreativeProgram {
    /// The creative shown in `state`: busy falls back to offline; offline (or busy without
    /// either) has none, so the engagement is not shown. Messaging engagements fall back to
    /// their online creative in every state, since they show whatever the agents' state.
    pub fn for_state(&self, state: State, messaging: bool) -> Option<&CompiledCreative> {
        self.slot(self.slot_for(state, messaging)?)
    }

    /// Which creative [`for_state`](Self::for_state) picks, named by the state it was written
    /// for (the browser runtime renders that one from the bundle's JSON).
    pub fn slot_for(&self, state: State, messaging: bool) -> Option<State> {
        let has = |s: State| self.slot(s).is_some().then_some(s);
        let found = match state {
            State::Busy => has(State::Busy).or_else(|| has(State::Offline)),
            s => has(s),
        };
        if messaging {
            found.or_else(|| has(State::Online))
        } else {
            found
        }
    }

    fn slot(&self, s: State) -> Option<&CompiledCreative> {
        match s {
            State::Online => self.online.as_ref(),
            State::Busy => self.busy.as_ref(),
            State::Offline => self.offline.as_ref(),
            State::Content => self.content.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CompiledCreative {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The sanitized message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message: Vec<Node>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cta: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Engagement, creative-set and creative styles merged (the most specific wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(json: &str) -> BundleCampaign {
        serde_json::from_str(json).expect("a campaign")
    }

    /// Format 2: defaults are left out of the text and read back as the defaults; anything
    /// else is written as before.
    #[test]
    fn fields_at_their_defaults_are_left_out_and_read_back() {
        let c = campaign(r#"{"id":"c","engagements":[{"id":"e","kind":"content","creative":{}}]}"#);
        assert!(c.enabled && c.priority == 0 && c.control_group_percent == 0.0);
        assert!(c.schedule.is_always() && !c.business_hours_only);
        assert!(c.engagements[0].enabled);
        assert_eq!(c.engagements[0].source, Source::Web);
        let text = serde_json::to_string(&c).expect("serializes");
        assert_eq!(
            text,
            r#"{"id":"c","engagements":[{"id":"e","kind":"content","creative":{}}]}"#
        );
        let d = campaign(
            r#"{"id":"d","enabled":false,"priority":-3,"control_group_percent":12.5,
                "schedule":[[0,10]],"business_hours_only":true,
                "engagements":[{"id":"e","enabled":false,"kind":"content","source":"offsite","creative":{}}]}"#,
        );
        let again = campaign(&serde_json::to_string(&d).expect("serializes"));
        assert_eq!(again, d);
        assert!(!again.enabled && again.priority == -3 && again.business_hours_only);
        assert_eq!(again.schedule, Schedule(vec![[0, 10]]));
        assert_eq!(again.engagements[0].source, Source::Offsite);
        assert!(!again.engagements[0].enabled);
    }
}
