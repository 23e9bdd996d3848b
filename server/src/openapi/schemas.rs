//! The shapes of the bodies the handlers build with `json!` (or read field by field, to report
//! every problem at once), for the OpenAPI document. Each type names the handler that makes the
//! shape; schemathesis (`cargo xtask test`) checks real responses against them.

#![allow(dead_code)] // Only their schemas are used.

use serde_json::Value;
use utoipa::ToSchema;

/// Ids: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
pub const ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

/// A campaign document (SPEC §3), as uploaded. Every rule is checked on upload; a document that
/// breaks any answers 422 with every problem at its path.
#[derive(ToSchema)]
#[schema(example = json!({"site": "acme", "timezone": "Europe/London",
    "skills": [{"id": "sales", "max_wait_seconds": 120}],
    "campaigns": [{"id": "spring", "title": "Spring sale", "priority": 10,
        "engagements": [{"id": "spring-tab", "kind": "conversation", "format": "sticky",
            "zone": "right", "skill": "sales",
            "entry_point": {"include": [{"prefix": "https://acme.example/shop/"}]},
            "creative": {"online": {"title": "Questions?", "cta": "Chat now"}}}]}]}))]
pub struct CampaignDocument {
    /// The site's id (defaults to the path's).
    site: Option<String>,
    /// IANA time zone for timeframes and business hours.
    timezone: Option<String>,
    skills: Option<Vec<Value>>,
    business_hours: Option<Value>,
    settings: Option<Value>,
    campaigns: Vec<Campaign>,
}

/// One campaign (SPEC §3): audience, timeframe, control group and its engagements.
#[derive(ToSchema)]
pub struct Campaign {
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    id: String,
    title: Option<String>,
    enabled: Option<bool>,
    priority: Option<i64>,
    control_group_percent: Option<f64>,
    audience: Option<Value>,
    timeframe: Option<Value>,
    engagements: Vec<Value>,
}

/// `PUT .../campaigns` and single-campaign edits → 201: the new active version.
#[derive(ToSchema)]
#[schema(example = json!({"version": 7, "warnings": []}))]
pub struct Published {
    version: u64,
    /// Problems that do not stop the upload (same shape as errors' details).
    warnings: Vec<crate::error::Detail>,
}

/// `GET .../versions`: the history, newest first.
#[derive(ToSchema)]
pub struct Versions {
    site: String,
    /// The active version (none before the first upload).
    active: Option<u64>,
    versions: Vec<VersionInfo>,
}

/// One stored version.
#[derive(ToSchema)]
pub struct VersionInfo {
    version: u64,
    created_at: String,
    /// What made it: `upload`, `create spring`, `rollback to 3`, …
    change: String,
    /// The access key that made it (`owner` for the owner key).
    key: String,
    campaigns: u64,
    warnings: u64,
    active: bool,
}

/// `POST .../versions/{version}/activate`.
#[derive(ToSchema)]
#[schema(example = json!({"site": "acme", "version": 3, "active": true}))]
pub struct Activated {
    site: String,
    version: u64,
    active: bool,
}

/// `PUT .../availability/{skill}`: the agent system's feed.
#[derive(ToSchema)]
#[schema(example = json!({"agents_online": 3, "agents_with_capacity": 1, "expected_wait_seconds": 40}))]
pub struct Feed {
    #[schema(minimum = 0, maximum = 100000)]
    agents_online: u32,
    /// At most `agents_online`.
    #[schema(minimum = 0, maximum = 100000)]
    agents_with_capacity: u32,
    #[schema(minimum = 0, maximum = 86400)]
    expected_wait_seconds: u32,
}

/// Public availability: every fed skill's numbers and the state they give (SPEC §4 rule 5) under
/// the skill's `max_wait_seconds`.
#[derive(ToSchema)]
#[schema(example = json!({"skills": {"sales": {"agents_online": 3, "agents_with_capacity": 1,
    "expected_wait_seconds": 40, "state": "online", "declared": true}},
    "updated_at": "2026-12-02T10:00:00Z"}))]
pub struct Availability {
    skills: std::collections::BTreeMap<String, SkillAvailability>,
    updated_at: Option<String>,
}

#[derive(ToSchema)]
pub struct SkillAvailability {
    agents_online: u32,
    agents_with_capacity: u32,
    expected_wait_seconds: u32,
    state: SkillState,
    /// Whether the active document declares the skill (absent for a site with no document).
    declared: Option<bool>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SkillState {
    Online,
    Busy,
    Offline,
}

/// The compiled bundle the runtime reads (SPEC §5): its shape is the engine's and versioned
/// (`format`); clients other than the tag should treat it as opaque.
#[derive(ToSchema)]
pub struct Bundle {
    format: Option<u32>,
    #[schema(additional_properties)]
    campaigns: Option<Vec<Value>>,
}

/// `POST /v1/sites/{site}/events`: a batch of runtime events.
#[derive(ToSchema)]
#[schema(example = json!({"visitor": "v-4f1c", "events": [{"type": "impression", "at": 1795000000000_i64,
    "visit": 1, "campaign": "spring", "engagement": "spring-tab", "zone": "right", "state": "online"}]}))]
pub struct EventBatch {
    visitor: String,
    #[schema(max_items = 200)]
    events: Vec<Event>,
    /// The visitor's attributes (sent with a batch that holds an accept).
    attributes: Option<Value>,
}

#[derive(ToSchema)]
pub struct Event {
    #[schema(rename = "type")]
    kind: EventKind,
    /// Milliseconds since the epoch, the visitor's clock.
    at: i64,
    /// The visit's number for this visitor (1 = first).
    visit: u32,
    campaign: Option<String>,
    engagement: Option<String>,
    zone: Option<String>,
    state: Option<SkillState>,
    /// A goal's name.
    name: Option<String>,
    /// A goal's value.
    value: Option<f64>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum EventKind {
    Impression,
    Accept,
    Decline,
    Control,
    Goal,
    State,
}

/// `POST /v1/sites/{site}/events` → 202.
#[derive(ToSchema)]
pub struct Accepted {
    /// Events stored (duplicates are dropped).
    accepted: u64,
}

/// `POST .../simulate`: a visit script (SPEC §6).
#[derive(ToSchema)]
#[schema(example = json!({"visitor": {"id": "v1", "device": "desktop", "country": "GB"},
    "now": "2026-11-20T10:00:00Z",
    "steps": [{"page": {"url": "https://acme.example/shop/a", "title": "A"}}, {"wait": 10}]}))]
pub struct Simulation {
    visitor: Option<Value>,
    now: Option<String>,
    availability: Option<Value>,
    steps: Vec<Value>,
    /// A draft document to try instead of the active one.
    campaigns: Option<Value>,
}

/// What a visitor would see after each step, with the trace.
#[derive(ToSchema)]
pub struct Simulated {
    version: Option<u64>,
    steps: Vec<Value>,
}

/// `GET .../report`: per campaign and engagement, with lift and its 95% confidence interval.
#[derive(ToSchema)]
pub struct Report {
    site: String,
    version: u64,
    from: String,
    to: String,
    currency: Option<String>,
    attribution_days: u32,
    goal: Option<String>,
    ci_method: String,
    campaigns: Vec<Value>,
    conversations: Option<Value>,
}

/// `POST /admin/v1/keys`.
#[derive(ToSchema)]
#[schema(example = json!({"name": "agent system", "role": "agent_feed", "sites": ["acme"]}))]
pub struct NewKey {
    name: String,
    role: Role,
    /// Site ids, or `["*"]` for every site.
    sites: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Editor,
    Analyst,
    AgentFeed,
}

/// `POST /admin/v1/keys` → 201: the token, shown this once.
#[derive(ToSchema)]
#[schema(example = json!({"id": "k_3f9a1c", "token": "ek_…", "name": "agent system",
    "role": "agent_feed", "sites": ["acme"]}))]
pub struct CreatedKey {
    id: String,
    /// `ek_` and 64 hex digits (256 random bits); only its SHA-256 is stored.
    token: String,
    name: String,
    role: Role,
    sites: Vec<String>,
    created_at: String,
    created_by: String,
}

/// A key as listed (never its token).
#[derive(ToSchema)]
pub struct Key {
    id: String,
    name: String,
    role: Role,
    sites: Vec<String>,
    created_at: String,
    created_by: String,
    revoked_at: Option<String>,
}

#[derive(ToSchema)]
pub struct Keys {
    keys: Vec<Key>,
}

/// `PUT .../contacts`: JSON `{"contacts": [...]}` or CSV with a header row.
#[derive(ToSchema)]
#[schema(example = json!({"contacts": [{"phone": "+447700900123", "name": "Ann",
    "tags": ["vip"], "consent": true}]}))]
pub struct ContactsUpload {
    #[schema(max_items = 100000)]
    contacts: Vec<NewContact>,
}

#[derive(ToSchema)]
pub struct NewContact {
    id: Option<String>,
    /// E.164, or national with the site's `default_country`.
    phone: String,
    name: Option<String>,
    tags: Option<Vec<String>>,
    attributes: Option<Value>,
    timezone: Option<String>,
    consent: Option<bool>,
}

#[derive(ToSchema)]
pub struct ContactsStored {
    created: u64,
    updated: u64,
    contacts: u64,
}

#[derive(ToSchema)]
pub struct Contact {
    id: String,
    phone: String,
    name: Option<String>,
    tags: Vec<String>,
    attributes: Value,
    timezone: Option<String>,
    consent: bool,
    created_at: String,
    updated_at: String,
}

#[derive(ToSchema)]
pub struct ContactPage {
    contacts: Vec<Contact>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct Tags {
    tags: Vec<TagCount>,
}

#[derive(ToSchema)]
pub struct TagCount {
    tag: String,
    contacts: u64,
}

/// `PUT .../sms/inboxes/{inbox}`: a sender on one provider (SPEC §10).
#[derive(ToSchema)]
#[schema(example = json!({"name": "Shop", "provider": "kannel", "from": "ACME",
    "rate_per_second": 10, "kannel": {"url": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "username": "engage", "password": "secret"}}))]
pub struct InboxInput {
    name: Option<String>,
    provider: String,
    from: String,
    rate_per_second: Option<u32>,
    help_text: Option<String>,
}

#[derive(ToSchema)]
pub struct Inbox {
    id: String,
    name: Option<String>,
    provider: String,
    from: String,
    rate_per_second: u32,
    help_text: Option<String>,
    /// Where the provider posts delivery reports and replies.
    webhooks: Value,
    created_at: String,
    updated_at: String,
}

#[derive(ToSchema)]
pub struct Inboxes {
    inboxes: Vec<Inbox>,
}

#[derive(ToSchema)]
pub struct OptOuts {
    opt_outs: Vec<Value>,
}

/// `POST .../sms/campaigns` (and `PATCH` with any subset while scheduled).
#[derive(ToSchema)]
#[schema(example = json!({"id": "spring-sms", "title": "Spring sale", "inbox": "shop",
    "message": "Hi {{name|there}}, 20% off today. Reply STOP to opt out.",
    "audience": {"tags": ["vip"]}, "scheduled_at": "2026-12-03T09:00:00Z"}))]
pub struct SmsCampaignInput {
    id: String,
    title: String,
    inbox: String,
    message: String,
    audience: Value,
    scheduled_at: Option<String>,
    quiet_hours: Option<Value>,
    engagement: Option<String>,
}

#[derive(ToSchema)]
pub struct SmsCampaign {
    id: String,
    title: String,
    message: String,
    inbox: String,
    audience: Value,
    scheduled_at: Option<String>,
    quiet_hours: Option<Value>,
    engagement: Option<String>,
    /// `scheduled`, `sending`, `completed` or `cancelled`.
    status: String,
    /// The access key that made it.
    key: String,
    created_at: String,
    updated_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
    audience_size: Option<u64>,
    segments: Value,
    progress: Value,
}

#[derive(ToSchema)]
pub struct SmsCampaigns {
    campaigns: Vec<SmsCampaign>,
}

#[derive(ToSchema)]
pub struct SmsPreviewInput {
    message: String,
    contact: Option<Value>,
}

/// Segments and encoding of a message, with its placeholder problems.
#[derive(ToSchema)]
pub struct SmsPreview {
    problems: Vec<Value>,
    max_segments: u32,
}

#[derive(ToSchema)]
pub struct AudienceInput {
    audience: Value,
}

#[derive(ToSchema)]
pub struct AudienceSize {
    size: u64,
    opted_out: u64,
    duplicates: u64,
    no_consent: u64,
    /// A few of the numbers it selects (none when it selects none).
    sample: Option<Vec<Value>>,
}

/// `GET .../conversations`: newest first.
#[derive(ToSchema)]
pub struct Conversations {
    conversations: Vec<Conversation>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct Conversation {
    id: String,
    channel: String,
    source: String,
    engagement: Option<String>,
    campaign: Option<String>,
    skill: Option<String>,
    language: Option<String>,
    started_at: String,
}

#[derive(ToSchema)]
pub struct Handoffs {
    handoffs: Vec<Value>,
}

/// `POST .../outbound/broadcasts`: a third-party provider's broadcast, so replies link to it.
#[derive(ToSchema)]
#[schema(example = json!({"campaign_ref": "spring-sms", "sender": "+447700900000",
    "recipients": ["+447700900123"], "at": "2026-12-02T09:00:00Z"}))]
pub struct BroadcastInput {
    campaign_ref: String,
    sender: String,
    #[schema(max_items = 100000)]
    recipients: Vec<String>,
    at: Option<String>,
}

#[derive(ToSchema)]
pub struct BroadcastStored {
    recipients: u64,
    new: u64,
    at: String,
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    status: HealthStatus,
    /// Why writes fail, while degraded.
    reason: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Unavailable,
}
