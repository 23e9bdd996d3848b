//! SMS tables (SPEC §10): contacts, inboxes, campaigns, the outbox, opt-outs and the message log.
//!
//! The outbox has one row per distinct number per campaign (`UNIQUE (site, campaign, phone)`), so
//! freezing an audience twice cannot queue a number twice. A row moves
//! `queued → sending → sent → delivered | failed` (or `cancelled`); `sending` is written and
//! committed *before* the provider request, with a lease, so after a crash the rows whose request
//! may have reached the provider are known: they are queued again with `uncertain = 1` (at most
//! one duplicate, never a silent drop).

use serde_json::Value;
use std::collections::HashSet;

use super::Result;

static LEASE_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(60_000);

/// How long a claimed row (or hand-off delivery) may stay `sending` before another server
/// treats it as lost and sends it again (`--lease-seconds`; 60 s by default, well above a
/// provider request's timeout).
pub fn lease_ms() -> i64 {
    LEASE_MS.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_lease_ms(ms: i64) {
    LEASE_MS.store(ms.max(1000), std::sync::atomic::Ordering::Relaxed);
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    pub id: String,
    pub phone: String,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub attributes: Value,
    pub timezone: Option<String>,
    pub consent: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct InboxRow {
    pub site: String,
    pub id: String,
    pub name: String,
    pub provider: String,
    pub from: String,
    pub rate_per_second: u32,
    pub help_text: Option<String>,
    /// The provider's section as given (with its secrets).
    pub config: Value,
    pub webhook_secret: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub site: String,
    pub id: String,
    pub title: String,
    pub message: String,
    pub inbox: String,
    pub audience: Value,
    pub scheduled_at: i64,
    pub quiet_hours: Option<Value>,
    pub engagement: Option<String>,
    pub status: String,
    pub key: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub recipients: u64,
    pub opted_out: u64,
    pub duplicates: u64,
    pub no_consent: u64,
}

/// A row to queue when an audience is frozen.
pub struct NewOutbox {
    pub phone: String,
    pub contact: String,
    pub body: String,
    pub timezone: String,
    pub not_before: i64,
    pub quiet: bool,
}

/// What the freeze found besides the rows.
pub struct FreezeCounts {
    pub opted_out: u64,
    pub duplicates: u64,
    pub no_consent: u64,
}

/// A claimed outbox row, ready to send.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub site: String,
    pub campaign: String,
    pub inbox: String,
    pub phone: String,
    pub body: String,
    pub timezone: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub recipients: u64,
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub opted_out: u64,
    pub duplicates: u64,
    pub no_consent: u64,
    pub quiet_hours_waiting: u64,
    pub replies: u64,
    pub uncertain: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OptOut {
    pub phone: String,
    pub at: String,
    pub source: String,
}

/// What became of one provider request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent(Option<String>),
    Failed(String),
    Retry { not_before: i64, error: String },
    Quiet { not_before: i64 },
}

/// Result of a conditional change of a campaign.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Done,
    Missing,
    /// Not allowed in this status.
    Status(String),
}

/// The SMS tables, on either backend.
pub trait SmsStore {
    /// Upserts every contact in one transaction; returns (created, updated).
    fn upsert_contacts(&self, site: &str, rows: &[ContactRow], now: i64) -> Result<(u64, u64)>;
    /// A page of contacts ordered by id, after `cursor`, optionally with a tag or matching `q`
    /// (in id, name or phone).
    fn list_contacts(
        &self,
        site: &str,
        tag: Option<&str>,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ContactRow>>;
    /// Every contact of a site (audience estimates and freezes).
    fn all_contacts(&self, site: &str) -> Result<Vec<ContactRow>>;
    fn contact(&self, site: &str, id: &str) -> Result<Option<ContactRow>>;
    /// The first contact (by id) with this number.
    fn contact_by_phone(&self, site: &str, phone: &str) -> Result<Option<ContactRow>>;
    fn contact_tags(&self, site: &str) -> Result<Vec<(String, u64)>>;
    /// Erases a contact; its messages keep only `hashed` in place of the number, and its queued
    /// messages are not sent. False when there was no such contact.
    fn erase_contact(
        &self,
        site: &str,
        id: &str,
        hashed: &dyn Fn(&str) -> String,
        now: i64,
    ) -> Result<bool>;
    /// Creates or replaces an inbox (its webhook secret is kept when it exists); true if new.
    fn put_inbox(&self, row: &InboxRow) -> Result<bool>;
    fn inbox(&self, site: &str, id: &str) -> Result<Option<InboxRow>>;
    fn inboxes(&self, site: &str) -> Result<Vec<InboxRow>>;
    /// Deletes an inbox no scheduled or sending campaign uses.
    fn delete_inbox(&self, site: &str, id: &str) -> Result<Change>;
    /// Inserts a new campaign; false when the id is taken.
    fn insert_campaign(&self, row: &CampaignRow) -> Result<bool>;
    /// Replaces the editable fields of a campaign that is still scheduled.
    fn update_campaign(&self, row: &CampaignRow) -> Result<Change>;
    fn campaign(&self, site: &str, id: &str) -> Result<Option<CampaignRow>>;
    /// Newest first.
    fn campaigns(&self, site: &str) -> Result<Vec<CampaignRow>>;
    /// Cancels a scheduled or sending campaign: its queued messages are not sent.
    fn cancel_campaign(&self, site: &str, id: &str, now: i64) -> Result<Change>;
    /// Deletes a campaign that is not sending, with its outbox rows.
    fn delete_campaign(&self, site: &str, id: &str) -> Result<Change>;
    /// Campaigns that started sending in `[from, to)`, oldest first.
    fn campaigns_started(&self, site: &str, from: i64, to: i64) -> Result<Vec<CampaignRow>>;
    /// The scheduled campaign due first: (site, id, scheduled_at).
    fn next_scheduled(&self) -> Result<Option<(String, String, i64)>>;
    /// Freezes a campaign's audience into the outbox and starts it, in one transaction; false
    /// when it was no longer scheduled (cancelled or edited in between: the caller re-reads).
    fn freeze(
        &self,
        site: &str,
        id: &str,
        expected_updated_at: i64,
        rows: &[NewOutbox],
        counts: &FreezeCounts,
        now: i64,
    ) -> Result<bool>;
    /// After a restart: every row left `sending` may or may not have reached the provider.
    /// It is queued again, marked uncertain. Returns how many.
    fn recover_inflight(&self, now: i64) -> Result<usize>;
    /// Rows `sending` whose lease ran out (a sender that died): queued again, uncertain.
    fn reclaim_expired(&self, now: i64) -> Result<usize>;
    /// Claims the next due row of an inbox (`queued`, due, its campaign sending): it becomes
    /// `sending` with a lease, committed before the provider is called.
    fn claim(&self, site: &str, inbox: &str, now: i64) -> Result<Option<OutboxRow>>;
    /// The earliest `not_before` of an inbox's queued rows.
    fn next_due(&self, site: &str, inbox: &str) -> Result<Option<i64>>;
    /// Every (site, inbox) with queued rows (start-up).
    fn pending_inboxes(&self) -> Result<Vec<(String, String)>>;
    /// Campaigns left `sending` with nothing queued (a crash right after the last send).
    fn sending_campaigns(&self) -> Result<Vec<(String, String)>>;
    /// Records what became of a claimed row and, in the same transaction, completes its campaign
    /// when nothing is left queued or sending. True when the campaign completed now.
    fn finish_row(&self, row: &OutboxRow, outcome: &Outcome, now: i64) -> Result<bool>;
    /// Completes a sending campaign once no row is queued or sending; true when it did now.
    fn complete_if_done(&self, site: &str, campaign: &str, now: i64) -> Result<bool>;
    /// A delivery report for row `id` of this site and inbox: `delivered` or `failed` (else only
    /// logged). Returns the campaign when the row exists.
    fn delivery_report(
        &self,
        site: &str,
        inbox: &str,
        id: i64,
        status: &str,
        detail: &str,
        now: i64,
    ) -> Result<Option<String>>;
    /// Where a campaign stands.
    fn progress(&self, site: &str, campaign: &CampaignRow, now: i64) -> Result<Progress>;
    /// Opts a number out; true when it was not opted out before.
    fn opt_out(&self, site: &str, phone: &str, source: &str, now: i64) -> Result<bool>;
    /// Opts a number back in; true when it was opted out.
    fn opt_in(&self, site: &str, phone: &str) -> Result<bool>;
    fn opted_out_set(&self, site: &str) -> Result<HashSet<String>>;
    fn is_opted_out(&self, site: &str, phone: &str) -> Result<bool>;
    fn opt_outs(&self, site: &str) -> Result<Vec<OptOut>>;
    /// The campaign whose message most recently went to `phone` (what a reply answers).
    fn last_campaign_to(&self, site: &str, phone: &str) -> Result<Option<String>>;
    /// The campaign of outbox row `id` when it went to `phone` through `inbox`: a reply that
    /// names the message it answers (CM's `reference`) belongs to that message's campaign.
    fn campaign_of_row(
        &self,
        site: &str,
        inbox: &str,
        id: i64,
        phone: &str,
    ) -> Result<Option<String>>;
    #[allow(clippy::too_many_arguments)]
    fn log_message(
        &self,
        site: &str,
        inbox: &str,
        direction: &str,
        phone: &str,
        text: &str,
        kind: &str,
        campaign: Option<&str>,
        now: i64,
    ) -> Result<i64>;
    /// Holds (or renews) the lane of an inbox for this process for `ttl_ms`: one process sends
    /// an inbox's messages at a time, so its rate holds. False while another process holds it.
    fn lane_lease(&self, site: &str, inbox: &str, now: i64, ttl_ms: i64) -> Result<bool>;
}
