//! SMS tables on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use std::collections::HashSet;

use super::{durable, SqliteStore};
use crate::store::sms::*;
use crate::store::Result;

pub const MIGRATION: &str = r#"
CREATE TABLE contacts (
    site TEXT NOT NULL,
    id TEXT NOT NULL,
    phone TEXT NOT NULL,
    name TEXT,
    tags TEXT NOT NULL,
    attributes TEXT NOT NULL,
    timezone TEXT,
    consent INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site, id)
) STRICT;
CREATE INDEX contacts_by_phone ON contacts (site, phone);
CREATE TABLE sms_inboxes (
    site TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    from_number TEXT NOT NULL,
    rate_per_second INTEGER NOT NULL,
    help_text TEXT,
    config TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site, id)
) STRICT;
CREATE TABLE sms_campaigns (
    site TEXT NOT NULL,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    inbox TEXT NOT NULL,
    audience TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    quiet_hours TEXT,
    engagement TEXT,
    status TEXT NOT NULL,
    key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    recipients INTEGER NOT NULL DEFAULT 0,
    opted_out INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    no_consent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, id)
) STRICT;
CREATE INDEX sms_campaigns_due ON sms_campaigns (status, scheduled_at);
CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    campaign TEXT NOT NULL,
    inbox TEXT NOT NULL,
    phone TEXT NOT NULL,
    contact TEXT,
    body TEXT NOT NULL,
    timezone TEXT NOT NULL,
    state TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    quiet INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    uncertain INTEGER NOT NULL DEFAULT 0,
    provider_ref TEXT,
    error TEXT,
    sent_at INTEGER,
    delivered_at INTEGER,
    updated_at INTEGER NOT NULL,
    UNIQUE (site, campaign, phone)
) STRICT;
CREATE INDEX sms_outbox_due ON sms_outbox (site, inbox, state, not_before, id);
CREATE INDEX sms_outbox_by_campaign ON sms_outbox (site, campaign, state);
CREATE INDEX sms_outbox_by_phone ON sms_outbox (site, phone, sent_at);
CREATE TABLE sms_optouts (
    site TEXT NOT NULL,
    phone TEXT NOT NULL,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (site, phone)
) STRICT;
CREATE TABLE sms_messages (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    inbox TEXT NOT NULL,
    direction TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    campaign TEXT,
    outbox INTEGER,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX sms_messages_by_campaign ON sms_messages (site, campaign, direction, kind);
CREATE INDEX sms_messages_by_phone ON sms_messages (site, phone, at);
CREATE TABLE sms_delivery (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    outbox INTEGER NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
"#;

/// How long a claimed row may stay `sending` before another sender may treat it as lost.
fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn contact(r: &Row<'_>) -> rusqlite::Result<ContactRow> {
    let tags: String = r.get(3)?;
    let attrs: String = r.get(4)?;
    Ok(ContactRow {
        id: r.get(0)?,
        phone: r.get(1)?,
        name: r.get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        attributes: serde_json::from_str(&attrs).unwrap_or(Value::Null),
        timezone: r.get(5)?,
        consent: r.get::<_, i64>(6)? != 0,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

const CONTACT_COLS: &str =
    "id, phone, name, tags, attributes, timezone, consent, created_at, updated_at";

fn inbox(r: &Row<'_>) -> rusqlite::Result<InboxRow> {
    let config: String = r.get(7)?;
    Ok(InboxRow {
        site: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        provider: r.get(3)?,
        from: r.get(4)?,
        rate_per_second: r.get::<_, i64>(5)?.max(1) as u32,
        help_text: r.get(6)?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        webhook_secret: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

const INBOX_COLS: &str = "site, id, name, provider, from_number, rate_per_second, help_text, \
                          config, webhook_secret, created_at, updated_at";

fn campaign(r: &Row<'_>) -> rusqlite::Result<CampaignRow> {
    let audience: String = r.get(5)?;
    let quiet: Option<String> = r.get(7)?;
    Ok(CampaignRow {
        site: r.get(0)?,
        id: r.get(1)?,
        title: r.get(2)?,
        message: r.get(3)?,
        inbox: r.get(4)?,
        audience: serde_json::from_str(&audience).unwrap_or(Value::Null),
        scheduled_at: r.get(6)?,
        quiet_hours: quiet.and_then(|q| serde_json::from_str(&q).ok()),
        engagement: r.get(8)?,
        status: r.get(9)?,
        key: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        started_at: r.get(13)?,
        completed_at: r.get(14)?,
        recipients: r.get::<_, i64>(15)? as u64,
        opted_out: r.get::<_, i64>(16)? as u64,
        duplicates: r.get::<_, i64>(17)? as u64,
        no_consent: r.get::<_, i64>(18)? as u64,
    })
}

const CAMPAIGN_COLS: &str =
    "site, id, title, message, inbox, audience, scheduled_at, quiet_hours, \
     engagement, status, key, created_at, updated_at, started_at, completed_at, recipients, \
     opted_out, duplicates, no_consent";

fn outbox(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        site: r.get(1)?,
        campaign: r.get(2)?,
        inbox: r.get(3)?,
        phone: r.get(4)?,
        body: r.get(5)?,
        timezone: r.get(6)?,
        attempts: r.get::<_, i64>(7)?.max(0) as u32,
    })
}

fn status_of(c: &Connection, site: &str, id: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT status FROM sms_campaigns WHERE site = ?1 AND id = ?2",
        params![site, id],
        |r| r.get(0),
    )
    .optional()
}

impl SmsStore for SqliteStore {
    // ---- contacts

    /// Upserts every contact in one transaction; returns (created, updated).
    fn upsert_contacts(&self, site: &str, rows: &[ContactRow], now: i64) -> Result<(u64, u64)> {
        self.write(|c| {
            durable(c, |tx| {
                let mut exists =
                    tx.prepare_cached("SELECT 1 FROM contacts WHERE site = ?1 AND id = ?2")?;
                let mut put = tx.prepare_cached(
                    "INSERT INTO contacts (site, id, phone, name, tags, attributes, timezone,
                                           consent, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                     ON CONFLICT (site, id) DO UPDATE SET phone = excluded.phone,
                       name = excluded.name, tags = excluded.tags,
                       attributes = excluded.attributes, timezone = excluded.timezone,
                       consent = excluded.consent, updated_at = excluded.updated_at",
                )?;
                let (mut created, mut updated) = (0, 0);
                for row in rows {
                    if exists.exists(params![site, row.id])? {
                        updated += 1;
                    } else {
                        created += 1;
                    }
                    put.execute(params![
                        site,
                        row.id,
                        row.phone,
                        row.name,
                        json_text(&Value::from(row.tags.clone())),
                        json_text(&row.attributes),
                        row.timezone,
                        row.consent as i64,
                        now,
                    ])?;
                }
                Ok((created, updated))
            })
        })
    }

    /// A page of contacts ordered by id, after `cursor`, optionally with a tag or matching `q`
    /// (in id, name or phone).
    fn list_contacts(
        &self,
        site: &str,
        tag: Option<&str>,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ContactRow>> {
        self.read(|c| {
            let like = q.map(|q| {
                format!(
                    "%{}%",
                    q.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            });
            let mut st = c.prepare_cached(&format!(
                "SELECT {CONTACT_COLS} FROM contacts WHERE site = ?1
                   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(contacts.tags) j
                                              WHERE j.value = ?2))
                   AND (?3 IS NULL OR id LIKE ?3 ESCAPE '\\' OR name LIKE ?3 ESCAPE '\\'
                        OR phone LIKE ?3 ESCAPE '\\')
                   AND (?4 IS NULL OR id > ?4)
                 ORDER BY id LIMIT ?5"
            ))?;
            let rows = st.query_map(params![site, tag, like, cursor, limit as i64], contact)?;
            rows.collect()
        })
    }

    /// Every contact of a site (audience estimates and freezes).
    fn all_contacts(&self, site: &str) -> Result<Vec<ContactRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CONTACT_COLS} FROM contacts WHERE site = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([site], contact)?;
            rows.collect()
        })
    }

    fn contact(&self, site: &str, id: &str) -> Result<Option<ContactRow>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {CONTACT_COLS} FROM contacts WHERE site = ?1 AND id = ?2"),
                params![site, id],
                contact,
            )
            .optional()
        })
    }

    /// The first contact (by id) with this number.
    fn contact_by_phone(&self, site: &str, phone: &str) -> Result<Option<ContactRow>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {CONTACT_COLS} FROM contacts WHERE site = ?1 AND phone = ?2 ORDER BY id LIMIT 1"),
                params![site, phone],
                contact,
            )
            .optional()
        })
    }

    fn contact_tags(&self, site: &str) -> Result<Vec<(String, u64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT j.value, count(*) FROM contacts, json_each(contacts.tags) j
                 WHERE contacts.site = ?1 GROUP BY j.value ORDER BY count(*) DESC, j.value",
            )?;
            let rows = st.query_map([site], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// Erases a contact; its messages keep only `hashed` in place of the number, and its queued
    /// messages are not sent. False when there was no such contact.
    fn erase_contact(
        &self,
        site: &str,
        id: &str,
        hashed: &dyn Fn(&str) -> String,
        now: i64,
    ) -> Result<bool> {
        self.write(|c| {
            durable(c, |tx| {
                let phone: Option<String> = tx
                    .query_row(
                        "SELECT phone FROM contacts WHERE site = ?1 AND id = ?2",
                        params![site, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(phone) = phone else {
                    return Ok(false);
                };
                tx.execute(
                    "DELETE FROM contacts WHERE site = ?1 AND id = ?2",
                    params![site, id],
                )?;
                // Another contact may share the number: then the messages stay its own.
                let shared: bool = tx
                    .prepare_cached("SELECT 1 FROM contacts WHERE site = ?1 AND phone = ?2")?
                    .exists(params![site, phone])?;
                if !shared {
                    let h = hashed(&phone);
                    tx.execute(
                        "UPDATE sms_outbox SET state = 'failed', error = 'contact erased',
                                updated_at = ?3
                         WHERE site = ?1 AND phone = ?2 AND state = 'queued'",
                        params![site, phone, now],
                    )?;
                    tx.execute(
                        "UPDATE sms_outbox SET phone = ?3, body = '', contact = NULL
                         WHERE site = ?1 AND phone = ?2",
                        params![site, phone, h],
                    )?;
                    tx.execute(
                        "UPDATE sms_messages SET phone = ?3, text = ''
                         WHERE site = ?1 AND phone = ?2",
                        params![site, phone, h],
                    )?;
                }
                Ok(true)
            })
        })
    }

    // ---- inboxes

    /// Creates or replaces an inbox (its webhook secret is kept when it exists); true if new.
    fn put_inbox(&self, row: &InboxRow) -> Result<bool> {
        self.write(|c| {
            durable(c, |tx| {
                let n = tx.execute(
                    "UPDATE sms_inboxes SET name = ?3, provider = ?4, from_number = ?5,
                            rate_per_second = ?6, help_text = ?7, config = ?8, updated_at = ?9
                     WHERE site = ?1 AND id = ?2",
                    params![
                        row.site,
                        row.id,
                        row.name,
                        row.provider,
                        row.from,
                        row.rate_per_second as i64,
                        row.help_text,
                        json_text(&row.config),
                        row.updated_at
                    ],
                )?;
                if n > 0 {
                    return Ok(false);
                }
                tx.execute(
                    &format!("INSERT INTO sms_inboxes ({INBOX_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
                        row.site,
                        row.id,
                        row.name,
                        row.provider,
                        row.from,
                        row.rate_per_second as i64,
                        row.help_text,
                        json_text(&row.config),
                        row.webhook_secret,
                        row.created_at,
                        row.updated_at
                    ],
                )?;
                Ok(true)
            })
        })
    }

    fn inbox(&self, site: &str, id: &str) -> Result<Option<InboxRow>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {INBOX_COLS} FROM sms_inboxes WHERE site = ?1 AND id = ?2"),
                params![site, id],
                inbox,
            )
            .optional()
        })
    }

    fn inboxes(&self, site: &str) -> Result<Vec<InboxRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {INBOX_COLS} FROM sms_inboxes WHERE site = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([site], inbox)?;
            rows.collect()
        })
    }

    /// Deletes an inbox no scheduled or sending campaign uses.
    fn delete_inbox(&self, site: &str, id: &str) -> Result<Change> {
        self.write(|c| {
            durable(c, |tx| {
                let busy: Option<String> = tx
                    .query_row(
                        "SELECT id FROM sms_campaigns WHERE site = ?1 AND inbox = ?2
                           AND status IN ('scheduled', 'sending') LIMIT 1",
                        params![site, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(campaign) = busy {
                    return Ok(Change::Status(campaign));
                }
                let n = tx.execute(
                    "DELETE FROM sms_inboxes WHERE site = ?1 AND id = ?2",
                    params![site, id],
                )?;
                Ok(if n > 0 { Change::Done } else { Change::Missing })
            })
        })
    }

    // ---- campaigns

    /// Inserts a new campaign; false when the id is taken.
    fn insert_campaign(&self, row: &CampaignRow) -> Result<bool> {
        self.write(|c| {
            durable(c, |tx| {
                let n = tx.execute(
                    &format!(
                        "INSERT INTO sms_campaigns ({CAMPAIGN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5,
                         ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, NULL, 0, 0, 0, 0)
                         ON CONFLICT (site, id) DO NOTHING"
                    ),
                    params![
                        row.site,
                        row.id,
                        row.title,
                        row.message,
                        row.inbox,
                        json_text(&row.audience),
                        row.scheduled_at,
                        row.quiet_hours.as_ref().map(json_text),
                        row.engagement,
                        row.status,
                        row.key,
                        row.created_at,
                        row.updated_at
                    ],
                )?;
                Ok(n > 0)
            })
        })
    }

    /// Replaces the editable fields of a campaign that is still scheduled.
    fn update_campaign(&self, row: &CampaignRow) -> Result<Change> {
        self.write(|c| {
            durable(c, |tx| {
                match status_of(tx, &row.site, &row.id)? {
                    None => return Ok(Change::Missing),
                    Some(s) if s != "scheduled" => return Ok(Change::Status(s)),
                    Some(_) => {}
                }
                tx.execute(
                    "UPDATE sms_campaigns SET title = ?3, message = ?4, inbox = ?5, audience = ?6,
                            scheduled_at = ?7, quiet_hours = ?8, engagement = ?9, key = ?10,
                            updated_at = ?11
                     WHERE site = ?1 AND id = ?2 AND status = 'scheduled'",
                    params![
                        row.site,
                        row.id,
                        row.title,
                        row.message,
                        row.inbox,
                        json_text(&row.audience),
                        row.scheduled_at,
                        row.quiet_hours.as_ref().map(json_text),
                        row.engagement,
                        row.key,
                        row.updated_at
                    ],
                )?;
                Ok(Change::Done)
            })
        })
    }

    fn campaign(&self, site: &str, id: &str) -> Result<Option<CampaignRow>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {CAMPAIGN_COLS} FROM sms_campaigns WHERE site = ?1 AND id = ?2"),
                params![site, id],
                campaign,
            )
            .optional()
        })
    }

    /// Newest first.
    fn campaigns(&self, site: &str) -> Result<Vec<CampaignRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CAMPAIGN_COLS} FROM sms_campaigns WHERE site = ?1
                 ORDER BY created_at DESC, id"
            ))?;
            let rows = st.query_map([site], campaign)?;
            rows.collect()
        })
    }

    /// Cancels a scheduled or sending campaign: its queued messages are not sent.
    fn cancel_campaign(&self, site: &str, id: &str, now: i64) -> Result<Change> {
        self.write(|c| {
            durable(c, |tx| {
                match status_of(tx, site, id)? {
                    None => return Ok(Change::Missing),
                    Some(s) if s != "scheduled" && s != "sending" => return Ok(Change::Status(s)),
                    Some(_) => {}
                }
                tx.execute(
                    "UPDATE sms_campaigns SET status = 'cancelled', completed_at = ?3,
                            updated_at = ?3 WHERE site = ?1 AND id = ?2",
                    params![site, id, now],
                )?;
                tx.execute(
                    "UPDATE sms_outbox SET state = 'cancelled', updated_at = ?3
                     WHERE site = ?1 AND campaign = ?2 AND state = 'queued'",
                    params![site, id, now],
                )?;
                Ok(Change::Done)
            })
        })
    }

    /// Deletes a campaign that is not sending, with its outbox rows.
    fn delete_campaign(&self, site: &str, id: &str) -> Result<Change> {
        self.write(|c| {
            durable(c, |tx| {
                match status_of(tx, site, id)? {
                    None => return Ok(Change::Missing),
                    Some(s) if s == "sending" => return Ok(Change::Status(s)),
                    Some(_) => {}
                }
                tx.execute(
                    "DELETE FROM sms_outbox WHERE site = ?1 AND campaign = ?2",
                    params![site, id],
                )?;
                tx.execute(
                    "DELETE FROM sms_campaigns WHERE site = ?1 AND id = ?2",
                    params![site, id],
                )?;
                Ok(Change::Done)
            })
        })
    }

    /// Campaigns that started sending in `[from, to)`, oldest first.
    fn campaigns_started(&self, site: &str, from: i64, to: i64) -> Result<Vec<CampaignRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CAMPAIGN_COLS} FROM sms_campaigns WHERE site = ?1
                   AND started_at >= ?2 AND started_at < ?3 ORDER BY started_at, id"
            ))?;
            let rows = st.query_map(params![site, from, to], campaign)?;
            rows.collect()
        })
    }

    /// The scheduled campaign due first: (site, id, scheduled_at).
    fn next_scheduled(&self) -> Result<Option<(String, String, i64)>> {
        self.read(|c| {
            c.query_row(
                "SELECT site, id, scheduled_at FROM sms_campaigns WHERE status = 'scheduled'
                 ORDER BY scheduled_at, site, id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })
    }

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
    ) -> Result<bool> {
        self.write(|c| {
            durable(c, |tx| {
                let n = tx.execute(
                    "UPDATE sms_campaigns SET status = 'sending', started_at = ?3, updated_at = ?3,
                            recipients = ?4, opted_out = ?5, duplicates = ?6, no_consent = ?7
                     WHERE site = ?1 AND id = ?2 AND status = 'scheduled' AND updated_at = ?8",
                    params![
                        site,
                        id,
                        now,
                        rows.len() as i64,
                        counts.opted_out as i64,
                        counts.duplicates as i64,
                        counts.no_consent as i64,
                        expected_updated_at
                    ],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                let inbox: String = tx.query_row(
                    "SELECT inbox FROM sms_campaigns WHERE site = ?1 AND id = ?2",
                    params![site, id],
                    |r| r.get(0),
                )?;
                let mut st = tx.prepare_cached(
                    "INSERT INTO sms_outbox (site, campaign, inbox, phone, contact, body, timezone,
                                             state, not_before, quiet, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10)
                     ON CONFLICT (site, campaign, phone) DO NOTHING",
                )?;
                for r in rows {
                    st.execute(params![
                        site,
                        id,
                        inbox,
                        r.phone,
                        r.contact,
                        r.body,
                        r.timezone,
                        r.not_before,
                        r.quiet as i64,
                        now
                    ])?;
                }
                if rows.is_empty() {
                    tx.execute(
                        "UPDATE sms_campaigns SET status = 'completed', completed_at = ?3
                         WHERE site = ?1 AND id = ?2",
                        params![site, id, now],
                    )?;
                }
                Ok(true)
            })
        })
    }

    // ---- the outbox

    /// After a restart: every row left `sending` may or may not have reached the provider.
    /// It is queued again, marked uncertain. Returns how many.
    fn recover_inflight(&self, now: i64) -> Result<usize> {
        self.write(|c| {
            c.execute(
                "UPDATE sms_outbox SET state = 'queued', uncertain = 1, lease_until = NULL,
                        updated_at = ?1
                 WHERE state = 'sending'",
                [now],
            )
        })
    }

    /// Rows `sending` whose lease ran out (a sender that died): queued again, uncertain.
    fn reclaim_expired(&self, now: i64) -> Result<usize> {
        self.write(|c| {
            c.execute(
                "UPDATE sms_outbox SET state = 'queued', uncertain = 1, lease_until = NULL,
                        updated_at = ?1
                 WHERE state = 'sending' AND lease_until < ?1",
                [now],
            )
        })
    }

    /// Claims the next due row of an inbox (`queued`, due, its campaign sending): it becomes
    /// `sending` with a lease, committed before the provider is called.
    fn claim(&self, site: &str, inbox: &str, now: i64) -> Result<Option<OutboxRow>> {
        self.write(|c| {
            c.query_row(
                "UPDATE sms_outbox SET state = 'sending', lease_until = ?3 + ?4,
                        attempts = attempts + 1, updated_at = ?3
                 WHERE id = (SELECT o.id FROM sms_outbox o
                             JOIN sms_campaigns k ON k.site = o.site AND k.id = o.campaign
                             WHERE o.site = ?1 AND o.inbox = ?2 AND o.state = 'queued'
                               AND o.not_before <= ?3 AND k.status = 'sending'
                             ORDER BY o.not_before, o.id LIMIT 1)
                 RETURNING id, site, campaign, inbox, phone, body, timezone, attempts",
                params![site, inbox, now, lease_ms()],
                outbox,
            )
            .optional()
        })
    }

    /// The earliest `not_before` of an inbox's queued rows.
    fn next_due(&self, site: &str, inbox: &str) -> Result<Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT min(o.not_before) FROM sms_outbox o
                 JOIN sms_campaigns k ON k.site = o.site AND k.id = o.campaign
                 WHERE o.site = ?1 AND o.inbox = ?2 AND o.state = 'queued'
                   AND k.status = 'sending'",
                params![site, inbox],
                |r| r.get(0),
            )
        })
    }

    /// Every (site, inbox) with queued rows (start-up).
    fn pending_inboxes(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT DISTINCT site, inbox FROM sms_outbox WHERE state IN ('queued', 'sending')",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Campaigns left `sending` with nothing queued (a crash right after the last send).
    fn sending_campaigns(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st =
                c.prepare("SELECT site, id FROM sms_campaigns WHERE status = 'sending'")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Records what became of a claimed row and, in the same transaction, completes its campaign
    /// when nothing is left queued or sending. True when the campaign completed now.
    fn finish_row(&self, row: &OutboxRow, outcome: &Outcome, now: i64) -> Result<bool> {
        self.write(|c| {
            let tx = c.transaction()?;
            match outcome {
                Outcome::Sent(provider_ref) => {
                    let n = tx.execute(
                        "UPDATE sms_outbox SET state = 'sent', sent_at = ?2, provider_ref = ?3,
                                lease_until = NULL, quiet = 0, error = NULL, updated_at = ?2
                         WHERE id = ?1 AND state = 'sending'",
                        params![row.id, now, provider_ref],
                    )?;
                    // The broadcast a reply will be linked by (SPEC §11): from the inbox's
                    // number, naming the campaign's outbound engagement when it has one.
                    tx.execute(
                        "INSERT OR IGNORE INTO broadcasts (site, phone, sender, engagement,
                                                           sms_campaign, at)
                         SELECT o.site, o.phone, i.from_number, k.engagement, k.id, ?2
                         FROM sms_outbox o
                         JOIN sms_campaigns k ON k.site = o.site AND k.id = o.campaign
                         JOIN sms_inboxes i ON i.site = o.site AND i.id = o.inbox
                         WHERE o.id = ?1",
                        params![row.id, now],
                    )?;
                    n
                }
                Outcome::Failed(error) => tx.execute(
                    "UPDATE sms_outbox SET state = 'failed', error = ?2, lease_until = NULL,
                            updated_at = ?3
                     WHERE id = ?1 AND state = 'sending'",
                    params![row.id, error, now],
                )?,
                Outcome::Retry { not_before, error } => tx.execute(
                    "UPDATE sms_outbox SET state = 'queued', not_before = ?2, error = ?3,
                            lease_until = NULL, updated_at = ?4
                     WHERE id = ?1 AND state = 'sending'",
                    params![row.id, not_before, error, now],
                )?,
                // Not a try: quiet hours began before the request.
                Outcome::Quiet { not_before } => tx.execute(
                    "UPDATE sms_outbox SET state = 'queued', not_before = ?2, quiet = 1,
                            lease_until = NULL, attempts = attempts - 1, updated_at = ?3
                     WHERE id = ?1 AND state = 'sending'",
                    params![row.id, not_before, now],
                )?,
            };
            let completed = match outcome {
                Outcome::Sent(_) | Outcome::Failed(_) => tx.execute(
                    "UPDATE sms_campaigns SET status = 'completed', completed_at = ?3, updated_at = ?3
                     WHERE site = ?1 AND id = ?2 AND status = 'sending'
                       AND NOT EXISTS (SELECT 1 FROM sms_outbox WHERE site = ?1 AND campaign = ?2
                                       AND state IN ('queued', 'sending'))",
                    params![row.site, row.campaign, now],
                )? > 0,
                _ => false,
            };
            tx.commit()?;
            Ok(completed)
        })
    }

    /// Completes a sending campaign once no row is queued or sending; true when it did now.
    fn complete_if_done(&self, site: &str, campaign: &str, now: i64) -> Result<bool> {
        self.write(|c| {
            let n = c.execute(
                "UPDATE sms_campaigns SET status = 'completed', completed_at = ?3, updated_at = ?3
                 WHERE site = ?1 AND id = ?2 AND status = 'sending'
                   AND NOT EXISTS (SELECT 1 FROM sms_outbox WHERE site = ?1 AND campaign = ?2
                                   AND state IN ('queued', 'sending'))",
                params![site, campaign, now],
            )?;
            Ok(n > 0)
        })
    }

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
    ) -> Result<Option<String>> {
        self.write(|c| {
            let tx = c.transaction()?;
            let campaign: Option<String> = tx
                .query_row(
                    "SELECT campaign FROM sms_outbox WHERE id = ?1 AND site = ?2 AND inbox = ?3",
                    params![id, site, inbox],
                    |r| r.get(0),
                )
                .optional()?;
            if campaign.is_none() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO sms_delivery (site, outbox, status, detail, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![site, id, status, detail, now],
            )?;
            match status {
                // A late "delivered" also settles a row a crash left uncertain.
                "delivered" => tx.execute(
                    "UPDATE sms_outbox SET state = 'delivered', delivered_at = ?2, updated_at = ?2
                     WHERE id = ?1 AND state IN ('sent', 'sending', 'queued', 'failed')",
                    params![id, now],
                )?,
                "failed" => tx.execute(
                    "UPDATE sms_outbox SET state = 'failed', error = ?3, updated_at = ?2
                     WHERE id = ?1 AND state = 'sent'",
                    params![id, now, detail],
                )?,
                _ => 0,
            };
            tx.commit()?;
            Ok(campaign)
        })
    }

    /// Where a campaign stands.
    fn progress(&self, site: &str, campaign: &CampaignRow, now: i64) -> Result<Progress> {
        self.read(|c| {
            let mut p = Progress {
                recipients: campaign.recipients,
                opted_out: campaign.opted_out,
                duplicates: campaign.duplicates,
                no_consent: campaign.no_consent,
                ..Progress::default()
            };
            let mut st = c.prepare_cached(
                "SELECT state, count(*), sum(uncertain),
                        sum(CASE WHEN quiet = 1 AND not_before > ?3 THEN 1 ELSE 0 END)
                 FROM sms_outbox WHERE site = ?1 AND campaign = ?2 GROUP BY state",
            )?;
            let mut rows = st.query(params![site, campaign.id, now])?;
            while let Some(r) = rows.next()? {
                let state: String = r.get(0)?;
                let n = r.get::<_, i64>(1)? as u64;
                p.uncertain += r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64;
                p.quiet_hours_waiting += r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64;
                match state.as_str() {
                    "queued" => p.queued = n,
                    "sending" => p.sending = n,
                    "sent" => p.sent = n,
                    "delivered" => p.delivered = n,
                    "failed" => p.failed = n,
                    "cancelled" => p.cancelled = n,
                    _ => {}
                }
            }
            p.replies = c
                .prepare_cached(
                    "SELECT count(*) FROM sms_messages WHERE site = ?1 AND campaign = ?2
                       AND direction = 'in'",
                )?
                .query_row(params![site, campaign.id], |r| r.get::<_, i64>(0))?
                as u64;
            Ok(p)
        })
    }

    // ---- opt-outs and the message log

    /// Opts a number out; true when it was not opted out before.
    fn opt_out(&self, site: &str, phone: &str, source: &str, now: i64) -> Result<bool> {
        self.write(|c| {
            let n = c.execute(
                "INSERT INTO sms_optouts (site, phone, at, source) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (site, phone) DO NOTHING",
                params![site, phone, now, source],
            )?;
            Ok(n > 0)
        })
    }

    /// Opts a number back in; true when it was opted out.
    fn opt_in(&self, site: &str, phone: &str) -> Result<bool> {
        self.write(|c| {
            let n = c.execute(
                "DELETE FROM sms_optouts WHERE site = ?1 AND phone = ?2",
                params![site, phone],
            )?;
            Ok(n > 0)
        })
    }

    fn opted_out_set(&self, site: &str) -> Result<HashSet<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT phone FROM sms_optouts WHERE site = ?1")?;
            let rows = st.query_map([site], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn is_opted_out(&self, site: &str, phone: &str) -> Result<bool> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM sms_optouts WHERE site = ?1 AND phone = ?2")?
                .exists(params![site, phone])
        })
    }

    fn opt_outs(&self, site: &str) -> Result<Vec<OptOut>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT phone, at, source FROM sms_optouts WHERE site = ?1 ORDER BY at DESC, phone",
            )?;
            let rows = st.query_map([site], |r| {
                Ok(OptOut {
                    phone: r.get(0)?,
                    at: engage_engine::schedule::format_instant(r.get(1)?),
                    source: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The campaign whose message most recently went to `phone` (what a reply answers).
    fn last_campaign_to(&self, site: &str, phone: &str) -> Result<Option<String>> {
        self.read(|c| {
            c.query_row(
                "SELECT campaign FROM sms_outbox WHERE site = ?1 AND phone = ?2
                   AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT 1",
                params![site, phone],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The campaign of outbox row `id` when it went to `phone` through `inbox`: a reply that
    /// names the message it answers (CM's `reference`) belongs to that message's campaign.
    fn campaign_of_row(
        &self,
        site: &str,
        inbox: &str,
        id: i64,
        phone: &str,
    ) -> Result<Option<String>> {
        self.read(|c| {
            c.query_row(
                "SELECT campaign FROM sms_outbox
                 WHERE id = ?1 AND site = ?2 AND inbox = ?3 AND phone = ?4",
                params![id, site, inbox, phone],
                |r| r.get(0),
            )
            .optional()
        })
    }

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
    ) -> Result<i64> {
        self.write(|c| {
            c.execute(
                "INSERT INTO sms_messages (site, inbox, direction, phone, text, kind, campaign, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![site, inbox, direction, phone, text, kind, campaign, now],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// One process: its lanes are the only ones.
    fn lane_lease(&self, _site: &str, _inbox: &str, _now: i64, _ttl_ms: i64) -> Result<bool> {
        Ok(true)
    }
}
