//! Broadcasts, conversations and hand-offs on SQLite.

use rusqlite::{params, OptionalExtension, Row};
use serde_json::Value;

use super::{durable, SqliteStore};
use crate::store::conversations::*;
use crate::store::Result;

pub const MIGRATION: &str = r#"
CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    phone TEXT NOT NULL,
    campaign_ref TEXT,
    sender TEXT,
    engagement TEXT,
    sms_campaign TEXT,
    at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX broadcasts_once ON broadcasts
    (site, phone, ifnull(campaign_ref, ''), ifnull(sender, ''), ifnull(sms_campaign, ''), at);
CREATE INDEX broadcasts_by_phone ON broadcasts (site, phone, at);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    engagement TEXT,
    campaign TEXT,
    skill TEXT,
    language TEXT,
    agent_note TEXT,
    phone TEXT,
    visitor TEXT,
    attributes TEXT NOT NULL,
    first_message TEXT,
    sms_campaign TEXT,
    unlinked TEXT,
    started_at INTEGER NOT NULL,
    last_message_at INTEGER NOT NULL,
    messages INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX conversations_by_site ON conversations (site, started_at);
CREATE INDEX conversations_by_phone ON conversations (site, phone, last_message_at);
CREATE TABLE handoffs (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    conversation TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
) STRICT;
CREATE INDEX handoffs_due ON handoffs (state, next_at);
CREATE INDEX handoffs_by_conversation ON handoffs (conversation, id);
CREATE INDEX handoffs_by_site ON handoffs (site, id);
"#;

const CONVERSATION_COLS: &str =
    "id, site, channel, source, engagement, campaign, skill, language, \
    agent_note, phone, visitor, attributes, first_message, sms_campaign, unlinked, started_at, \
    last_message_at, messages";

fn conversation(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    let attrs: String = r.get(11)?;
    Ok(Conversation {
        id: r.get(0)?,
        site: r.get(1)?,
        channel: r.get(2)?,
        source: r.get(3)?,
        engagement: r.get(4)?,
        campaign: r.get(5)?,
        skill: r.get(6)?,
        language: r.get(7)?,
        agent_note: r.get(8)?,
        phone: r.get(9)?,
        visitor: r.get(10)?,
        attributes: serde_json::from_str(&attrs).unwrap_or(Value::Null),
        first_message: r.get(12)?,
        sms_campaign: r.get(13)?,
        unlinked: r.get(14)?,
        started_at: r.get(15)?,
        last_message_at: r.get(16)?,
        messages: r.get::<_, i64>(17)?.max(0) as u64,
    })
}

fn insert_handoff(
    tx: &rusqlite::Transaction<'_>,
    site: &str,
    conversation: &str,
    h: &NewHandoff<'_>,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO handoffs (site, conversation, event, url, secret, body, state, next_at,
                               created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7)",
        params![site, conversation, h.event, h.url, h.secret, h.body, now],
    )?;
    Ok(())
}

impl ConversationStore for SqliteStore {
    /// Records broadcasts to many numbers at once; returns how many were new (a repeated
    /// notification is stored once).
    fn insert_broadcasts(
        &self,
        site: &str,
        phones: &[String],
        campaign_ref: Option<&str>,
        sender: Option<&str>,
        at: i64,
    ) -> Result<usize> {
        self.write(|c| {
            durable(c, |tx| {
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO broadcasts (site, phone, campaign_ref, sender, at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                let mut n = 0;
                for p in phones {
                    n += st.execute(params![site, p, campaign_ref, sender, at])?;
                }
                Ok(n)
            })
        })
    }

    /// The broadcasts to a number since `since`, newest first (at most 100).
    fn broadcasts_to(&self, site: &str, phone: &str, since: i64) -> Result<Vec<BroadcastRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT campaign_ref, sender, engagement, sms_campaign, at FROM broadcasts
                 WHERE site = ?1 AND phone = ?2 AND at >= ?3 ORDER BY at DESC, id DESC LIMIT 100",
            )?;
            let rows = st.query_map(params![site, phone, since], |r| {
                Ok(BroadcastRow {
                    campaign_ref: r.get(0)?,
                    sender: r.get(1)?,
                    engagement: r.get(2)?,
                    sms_campaign: r.get(3)?,
                    at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The number's conversation whose last message is at or after `since`, if any.
    fn open_conversation(
        &self,
        site: &str,
        phone: &str,
        since: i64,
    ) -> Result<Option<Conversation>> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations
                     WHERE site = ?1 AND phone = ?2 AND last_message_at >= ?3
                     ORDER BY last_message_at DESC LIMIT 1"
                ),
                params![site, phone, since],
                conversation,
            )
            .optional()
        })
    }

    /// Stores a new conversation and its hand-off in one transaction; false when a conversation
    /// with this id exists already (a retried event batch).
    fn start_conversation(
        &self,
        conv: &Conversation,
        handoff: Option<&NewHandoff<'_>>,
    ) -> Result<bool> {
        self.write(|c| {
            durable(c, |tx| {
                let n = tx.execute(
                    &format!(
                        "INSERT OR IGNORE INTO conversations ({CONVERSATION_COLS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                                 ?16, ?17, ?18)"
                    ),
                    params![
                        conv.id,
                        conv.site,
                        conv.channel,
                        conv.source,
                        conv.engagement,
                        conv.campaign,
                        conv.skill,
                        conv.language,
                        conv.agent_note,
                        conv.phone,
                        conv.visitor,
                        serde_json::to_string(&conv.attributes).unwrap_or_else(|_| "{}".into()),
                        conv.first_message,
                        conv.sms_campaign,
                        conv.unlinked,
                        conv.started_at,
                        conv.last_message_at,
                        conv.messages as i64
                    ],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                if let Some(h) = handoff {
                    insert_handoff(tx, &conv.site, &conv.id, h, conv.started_at)?;
                }
                Ok(true)
            })
        })
    }

    /// A further message in an open conversation, with its hand-off.
    fn add_message(
        &self,
        site: &str,
        conversation: &str,
        handoff: Option<&NewHandoff<'_>>,
        now: i64,
    ) -> Result<()> {
        self.write(|c| {
            durable(c, |tx| {
                tx.execute(
                    "UPDATE conversations SET last_message_at = ?3, messages = messages + 1
                     WHERE site = ?1 AND id = ?2",
                    params![site, conversation, now],
                )?;
                if let Some(h) = handoff {
                    insert_handoff(tx, site, conversation, h, now)?;
                }
                Ok(())
            })
        })
    }

    fn conversations(&self, site: &str, q: &ConversationQuery<'_>) -> Result<Vec<Conversation>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CONVERSATION_COLS} FROM conversations WHERE site = ?1
                   AND (?2 IS NULL OR started_at >= ?2) AND (?3 IS NULL OR started_at < ?3)
                   AND (?4 IS NULL OR channel = ?4)
                   AND (?5 IS NULL OR started_at < ?5 OR (started_at = ?5 AND id < ?6))
                 ORDER BY started_at DESC, id DESC LIMIT ?7"
            ))?;
            let (b_at, b_id) = match q.before {
                Some((at, id)) => (Some(at), Some(id)),
                None => (None, None),
            };
            let rows = st.query_map(
                params![site, q.from, q.to, q.channel, b_at, b_id, q.limit as i64],
                conversation,
            )?;
            rows.collect()
        })
    }

    /// Conversations started in `[from, to)` counted by (source, engagement, sms_campaign).
    fn conversation_counts(
        &self,
        site: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<ConversationCount>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT source, engagement, sms_campaign, count(*) FROM conversations
                 WHERE site = ?1 AND started_at >= ?2 AND started_at < ?3
                 GROUP BY source, engagement, sms_campaign",
            )?;
            let rows = st.query_map(params![site, from, to], |r| {
                Ok(ConversationCount {
                    source: r.get(0)?,
                    engagement: r.get(1)?,
                    sms_campaign: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// Distinct numbers third-party broadcasts with this campaign reference reached in a window.
    fn broadcast_reach(&self, site: &str, campaign_ref: &str, from: i64, to: i64) -> Result<u64> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT count(DISTINCT phone) FROM broadcasts WHERE site = ?1 AND campaign_ref = ?2
                   AND sms_campaign IS NULL AND at >= ?3 AND at < ?4",
            )?
            .query_row(params![site, campaign_ref, from, to], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        })
    }

    // ---- the hand-off queue

    /// After a restart: deliveries left `sending` are due again (the receiver may see one twice;
    /// the body's `id` lets it tell).
    fn recover_handoffs(&self, now: i64) -> Result<usize> {
        self.write(|c| {
            c.execute(
                "UPDATE handoffs SET state = 'queued', lease_until = NULL, next_at = min(next_at, ?1)
                 WHERE state = 'sending'",
                params![now],
            )
        })
    }

    /// Claims the next due delivery whose conversation has no earlier undelivered one.
    fn claim_handoff(&self, now: i64) -> Result<Option<Handoff>> {
        self.write(|c| {
            c.query_row(
                "UPDATE handoffs SET state = 'sending', lease_until = ?1 + ?2,
                        attempts = attempts + 1
                 WHERE id = (SELECT h.id FROM handoffs h
                             WHERE h.state = 'queued' AND h.next_at <= ?1
                               AND NOT EXISTS (SELECT 1 FROM handoffs e
                                               WHERE e.conversation = h.conversation
                                                 AND e.id < h.id AND e.state != 'delivered')
                             ORDER BY h.next_at, h.id LIMIT 1)
                 RETURNING id, site, conversation, event, url, secret, body, attempts",
                params![now, crate::store::sms::lease_ms()],
                |r| {
                    Ok(Handoff {
                        id: r.get(0)?,
                        site: r.get(1)?,
                        conversation: r.get(2)?,
                        event: r.get(3)?,
                        url: r.get(4)?,
                        secret: r.get(5)?,
                        body: r.get(6)?,
                        attempts: r.get::<_, i64>(7)?.max(0) as u32,
                    })
                },
            )
            .optional()
        })
    }

    /// The earliest `next_at` of a queued delivery.
    fn next_handoff_at(&self) -> Result<Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT min(next_at) FROM handoffs WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )
        })
    }

    fn handoff_delivered(&self, id: i64, status: u16, now: i64) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE handoffs SET state = 'delivered', delivered_at = ?3, last_status = ?2,
                        last_error = NULL, lease_until = NULL
                 WHERE id = ?1",
                params![id, status, now],
            )
            .map(drop)
        })
    }

    fn handoff_failed(
        &self,
        id: i64,
        status: Option<u16>,
        error: &str,
        next_at: i64,
    ) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE handoffs SET state = 'queued', next_at = ?4, last_status = ?2,
                        last_error = ?3, lease_until = NULL
                 WHERE id = ?1",
                params![id, status, error, next_at],
            )
            .map(drop)
        })
    }

    /// The newest deliveries of a site (the console).
    fn handoffs(&self, site: &str, limit: usize) -> Result<Vec<HandoffInfo>> {
        use engage_engine::schedule::format_instant;
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, conversation, event, url, state, attempts, last_status, last_error,
                        created_at, next_at, delivered_at
                 FROM handoffs WHERE site = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![site, limit as i64], |r| {
                let state: String = r.get(4)?;
                let next: i64 = r.get(9)?;
                Ok(HandoffInfo {
                    id: r.get(0)?,
                    conversation: r.get(1)?,
                    event: r.get(2)?,
                    url: r.get(3)?,
                    attempts: r.get::<_, i64>(5)?.max(0) as u32,
                    last_status: r.get::<_, Option<i64>>(6)?.map(|s| s as u16),
                    last_error: r.get(7)?,
                    created_at: format_instant(r.get(8)?),
                    next_at: (state == "queued").then(|| format_instant(next)),
                    delivered_at: r.get::<_, Option<i64>>(10)?.map(format_instant),
                    state,
                })
            })?;
            rows.collect()
        })
    }
}
