//! Broadcasts, conversations and the hand-off queue (SPEC §11).
//!
//! The hand-off queue is an outbox like the SMS one: a delivery row is written in the same
//! transaction as the conversation (or message) it carries, claimed with a lease, and only marked
//! `delivered` after the receiver answered 2xx. Deliveries of one conversation go out in order:
//! a row is due only when no earlier row of its conversation is still undelivered.

use serde_json::Value;

use super::Result;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Conversation {
    pub id: String,
    pub site: String,
    pub channel: String,
    pub source: String,
    pub engagement: Option<String>,
    pub campaign: Option<String>,
    pub skill: Option<String>,
    pub language: Option<String>,
    pub agent_note: Option<String>,
    pub phone: Option<String>,
    pub visitor: Option<String>,
    pub attributes: Value,
    pub first_message: Option<String>,
    pub sms_campaign: Option<String>,
    /// Why an SMS conversation has no engagement (`timeframe`, `disabled`, …).
    pub unlinked: Option<String>,
    pub started_at: i64,
    pub last_message_at: i64,
    pub messages: u64,
}

/// A broadcast row (as stored).
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastRow {
    pub campaign_ref: Option<String>,
    pub sender: Option<String>,
    pub engagement: Option<String>,
    pub sms_campaign: Option<String>,
    pub at: i64,
}

/// A hand-off to deliver.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub id: i64,
    pub site: String,
    pub conversation: String,
    pub event: String,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: u32,
}

/// A hand-off as the console lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandoffInfo {
    pub id: i64,
    pub conversation: String,
    pub event: String,
    pub url: String,
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub next_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// A new hand-off: where, signed with what, the JSON body.
pub struct NewHandoff<'a> {
    pub event: &'a str,
    pub url: &'a str,
    pub secret: &'a str,
    pub body: &'a str,
}

/// Conversations started, by source, engagement and SMS campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationCount {
    pub source: String,
    pub engagement: Option<String>,
    pub sms_campaign: Option<String>,
    pub count: u64,
}

/// Filters of `GET /conversations`.
#[derive(Debug, Default)]
pub struct ConversationQuery<'a> {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub channel: Option<&'a str>,
    /// Started before this (id, started_at) cursor: newest first.
    pub before: Option<(i64, &'a str)>,
    pub limit: usize,
}

/// Broadcasts, conversations and hand-offs, on either backend.
pub trait ConversationStore {
    /// Records broadcasts to many numbers at once; returns how many were new (a repeated
    /// notification is stored once).
    fn insert_broadcasts(
        &self,
        site: &str,
        phones: &[String],
        campaign_ref: Option<&str>,
        sender: Option<&str>,
        at: i64,
    ) -> Result<usize>;
    /// The broadcasts to a number since `since`, newest first (at most 100).
    fn broadcasts_to(&self, site: &str, phone: &str, since: i64) -> Result<Vec<BroadcastRow>>;
    /// The number's conversation whose last message is at or after `since`, if any.
    fn open_conversation(
        &self,
        site: &str,
        phone: &str,
        since: i64,
    ) -> Result<Option<Conversation>>;
    /// Stores a new conversation and its hand-off in one transaction; false when a conversation
    /// with this id exists already (a retried event batch).
    fn start_conversation(
        &self,
        conv: &Conversation,
        handoff: Option<&NewHandoff<'_>>,
    ) -> Result<bool>;
    /// A further message in an open conversation, with its hand-off.
    fn add_message(
        &self,
        site: &str,
        conversation: &str,
        handoff: Option<&NewHandoff<'_>>,
        now: i64,
    ) -> Result<()>;
    fn conversations(&self, site: &str, q: &ConversationQuery<'_>) -> Result<Vec<Conversation>>;
    /// Conversations started in `[from, to)` counted by (source, engagement, sms_campaign).
    fn conversation_counts(&self, site: &str, from: i64, to: i64)
        -> Result<Vec<ConversationCount>>;
    /// Distinct numbers third-party broadcasts with this campaign reference reached in a window.
    fn broadcast_reach(&self, site: &str, campaign_ref: &str, from: i64, to: i64) -> Result<u64>;
    /// After a restart: deliveries left `sending` are due again (the receiver may see one twice;
    /// the body's `id` lets it tell).
    fn recover_handoffs(&self, now: i64) -> Result<usize>;
    /// Claims the next due delivery whose conversation has no earlier undelivered one.
    fn claim_handoff(&self, now: i64) -> Result<Option<Handoff>>;
    /// The earliest `next_at` of a queued delivery.
    fn next_handoff_at(&self) -> Result<Option<i64>>;
    fn handoff_delivered(&self, id: i64, status: u16, now: i64) -> Result<()>;
    fn handoff_failed(&self, id: i64, status: Option<u16>, error: &str, next_at: i64)
        -> Result<()>;
    /// The newest deliveries of a site (the console).
    fn handoffs(&self, site: &str, limit: usize) -> Result<Vec<HandoffInfo>>;
}
