//! Broadcasts, conversations and hand-offs on PostgreSQL: the same rows and rules as
//! `store/sqlite/conversations.rs`; deliveries are claimed with `FOR UPDATE SKIP LOCKED`, so two
//! servers never deliver one hand-off at once, and rows left `sending` by a process that died are
//! taken back when their lease runs out.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;

use super::{exec, one, opt, rows, PgStore};
use crate::store::conversations::*;
use crate::store::Result;

const CONVERSATION_COLS: &str =
    "id, site, channel, source, engagement, campaign, skill, language, \
    agent_note, phone, visitor, attributes, first_message, sms_campaign, unlinked, started_at, \
    last_message_at, messages";

fn conversation(r: &Row) -> Result<Conversation> {
    let attrs: String = r.try_get(11)?;
    Ok(Conversation {
        id: r.try_get(0)?,
        site: r.try_get(1)?,
        channel: r.try_get(2)?,
        source: r.try_get(3)?,
        engagement: r.try_get(4)?,
        campaign: r.try_get(5)?,
        skill: r.try_get(6)?,
        language: r.try_get(7)?,
        agent_note: r.try_get(8)?,
        phone: r.try_get(9)?,
        visitor: r.try_get(10)?,
        attributes: serde_json::from_str(&attrs).unwrap_or(Value::Null),
        first_message: r.try_get(12)?,
        sms_campaign: r.try_get(13)?,
        unlinked: r.try_get(14)?,
        started_at: r.try_get(15)?,
        last_message_at: r.try_get(16)?,
        messages: r.try_get::<_, i64>(17)?.max(0) as u64,
    })
}

async fn insert_handoff(
    c: &impl GenericClient,
    site: &str,
    conversation: &str,
    h: &NewHandoff<'_>,
    now: i64,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO handoffs (site, conversation, event, url, secret, body, state, next_at,
                               created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7)",
        &[
            &site,
            &conversation,
            &h.event,
            &h.url,
            &h.secret,
            &h.body,
            &now,
        ],
    )
    .await?;
    Ok(())
}

impl ConversationStore for PgStore {
    fn insert_broadcasts(
        &self,
        site: &str,
        phones: &[String],
        campaign_ref: Option<&str>,
        sender: Option<&str>,
        at: i64,
    ) -> Result<usize> {
        self.run(async {
            let c = self.client().await?;
            let n = exec(
                &c,
                "INSERT INTO broadcasts (site, phone, campaign_ref, sender, at)
                 SELECT $1, p, $3, $4, $5 FROM unnest($2::text[]) AS p
                 ON CONFLICT DO NOTHING",
                &[&site, &phones, &campaign_ref, &sender, &at],
            )
            .await?;
            Ok(n as usize)
        })
    }

    fn broadcasts_to(&self, site: &str, phone: &str, since: i64) -> Result<Vec<BroadcastRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT campaign_ref, sender, engagement, sms_campaign, at FROM broadcasts
                 WHERE site = $1 AND phone = $2 AND at >= $3 ORDER BY at DESC, id DESC LIMIT 100",
                &[&site, &phone, &since],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(BroadcastRow {
                    campaign_ref: r.try_get(0)?,
                    sender: r.try_get(1)?,
                    engagement: r.try_get(2)?,
                    sms_campaign: r.try_get(3)?,
                    at: r.try_get(4)?,
                })
            })
            .collect()
        })
    }

    fn open_conversation(
        &self,
        site: &str,
        phone: &str,
        since: i64,
    ) -> Result<Option<Conversation>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations
                     WHERE site = $1 AND phone = $2 AND last_message_at >= $3
                     ORDER BY last_message_at DESC LIMIT 1"
                ),
                &[&site, &phone, &since],
            )
            .await?
            .as_ref()
            .map(conversation)
            .transpose()
        })
    }

    fn start_conversation(
        &self,
        conv: &Conversation,
        handoff: Option<&NewHandoff<'_>>,
    ) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let attributes =
                serde_json::to_string(&conv.attributes).unwrap_or_else(|_| "{}".into());
            let n = exec(
                &tx,
                &format!(
                    "INSERT INTO conversations ({CONVERSATION_COLS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             $16, $17, $18)
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &conv.id,
                    &conv.site,
                    &conv.channel,
                    &conv.source,
                    &conv.engagement,
                    &conv.campaign,
                    &conv.skill,
                    &conv.language,
                    &conv.agent_note,
                    &conv.phone,
                    &conv.visitor,
                    &attributes,
                    &conv.first_message,
                    &conv.sms_campaign,
                    &conv.unlinked,
                    &conv.started_at,
                    &conv.last_message_at,
                    &(conv.messages as i64),
                ],
            )
            .await?;
            if n == 0 {
                return Ok(false);
            }
            if let Some(h) = handoff {
                insert_handoff(&tx, &conv.site, &conv.id, h, conv.started_at).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn add_message(
        &self,
        site: &str,
        conversation: &str,
        handoff: Option<&NewHandoff<'_>>,
        now: i64,
    ) -> Result<()> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            exec(
                &tx,
                "UPDATE conversations SET last_message_at = $3, messages = messages + 1
                 WHERE site = $1 AND id = $2",
                &[&site, &conversation, &now],
            )
            .await?;
            if let Some(h) = handoff {
                insert_handoff(&tx, site, conversation, h, now).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn conversations(&self, site: &str, q: &ConversationQuery<'_>) -> Result<Vec<Conversation>> {
        let (b_at, b_id) = match q.before {
            Some((at, id)) => (Some(at), Some(id)),
            None => (None, None),
        };
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!(
                    "SELECT {CONVERSATION_COLS} FROM conversations WHERE site = $1
                       AND ($2::bigint IS NULL OR started_at >= $2)
                       AND ($3::bigint IS NULL OR started_at < $3)
                       AND ($4::text IS NULL OR channel = $4)
                       AND ($5::bigint IS NULL OR started_at < $5
                            OR (started_at = $5 AND id < $6::text))
                     ORDER BY started_at DESC, id DESC LIMIT $7"
                ),
                &[
                    &site,
                    &q.from,
                    &q.to,
                    &q.channel,
                    &b_at,
                    &b_id,
                    &(q.limit as i64),
                ],
            )
            .await?
            .iter()
            .map(conversation)
            .collect()
        })
    }

    fn conversation_counts(
        &self,
        site: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<ConversationCount>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT source, engagement, sms_campaign, count(*) FROM conversations
                 WHERE site = $1 AND started_at >= $2 AND started_at < $3
                 GROUP BY source, engagement, sms_campaign",
                &[&site, &from, &to],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(ConversationCount {
                    source: r.try_get(0)?,
                    engagement: r.try_get(1)?,
                    sms_campaign: r.try_get(2)?,
                    count: r.try_get::<_, i64>(3)? as u64,
                })
            })
            .collect()
        })
    }

    fn broadcast_reach(&self, site: &str, campaign_ref: &str, from: i64, to: i64) -> Result<u64> {
        self.run(async {
            let c = self.client().await?;
            Ok(one(
                &c,
                "SELECT count(DISTINCT phone) FROM broadcasts WHERE site = $1 AND campaign_ref = $2
                   AND sms_campaign IS NULL AND at >= $3 AND at < $4",
                &[&site, &campaign_ref, &from, &to],
            )
            .await?
            .try_get::<_, i64>(0)? as u64)
        })
    }

    /// Other processes may be delivering: only deliveries whose lease ran out are due again.
    fn recover_handoffs(&self, now: i64) -> Result<usize> {
        self.run(async {
            let c = self.client().await?;
            let n = exec(
                &c,
                "UPDATE handoffs SET state = 'queued', lease_until = NULL,
                        next_at = least(next_at, $1)
                 WHERE state = 'sending' AND lease_until < $1",
                &[&now],
            )
            .await?;
            Ok(n as usize)
        })
    }

    fn claim_handoff(&self, now: i64) -> Result<Option<Handoff>> {
        self.run(async {
            let c = self.client().await?;
            // A row whose lease ran out (its process died) is due again, then claimed here.
            exec(
                &c,
                "UPDATE handoffs SET state = 'queued', lease_until = NULL
                 WHERE state = 'sending' AND lease_until < $1",
                &[&now],
            )
            .await?;
            opt(
                &c,
                "UPDATE handoffs SET state = 'sending', lease_until = $1 + $2,
                        attempts = attempts + 1
                 WHERE id = (SELECT h.id FROM handoffs h
                             WHERE h.state = 'queued' AND h.next_at <= $1
                               AND NOT EXISTS (SELECT 1 FROM handoffs e
                                               WHERE e.conversation = h.conversation
                                                 AND e.id < h.id AND e.state != 'delivered')
                             ORDER BY h.next_at, h.id LIMIT 1
                             FOR UPDATE SKIP LOCKED)
                 RETURNING id, site, conversation, event, url, secret, body, attempts",
                &[&now, &crate::store::sms::lease_ms()],
            )
            .await?
            .map(|r| {
                Ok(Handoff {
                    id: r.try_get(0)?,
                    site: r.try_get(1)?,
                    conversation: r.try_get(2)?,
                    event: r.try_get(3)?,
                    url: r.try_get(4)?,
                    secret: r.try_get(5)?,
                    body: r.try_get(6)?,
                    attempts: r.try_get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
                })
            })
            .transpose()
        })
    }

    fn next_handoff_at(&self) -> Result<Option<i64>> {
        self.run(async {
            let c = self.client().await?;
            Ok(one(
                &c,
                "SELECT min(t) FROM (SELECT min(next_at) AS t FROM handoffs WHERE state = 'queued'
                                     UNION ALL
                                     SELECT min(lease_until) FROM handoffs
                                     WHERE state = 'sending') s",
                &[],
            )
            .await?
            .try_get(0)?)
        })
    }

    fn handoff_delivered(&self, id: i64, status: u16, now: i64) -> Result<()> {
        self.run(async {
            let c = self.client().await?;
            exec(
                &c,
                "UPDATE handoffs SET state = 'delivered', delivered_at = $3, last_status = $2,
                        last_error = NULL, lease_until = NULL
                 WHERE id = $1",
                &[&id, &i64::from(status), &now],
            )
            .await?;
            Ok(())
        })
    }

    fn handoff_failed(
        &self,
        id: i64,
        status: Option<u16>,
        error: &str,
        next_at: i64,
    ) -> Result<()> {
        self.run(async {
            let c = self.client().await?;
            exec(
                &c,
                "UPDATE handoffs SET state = 'queued', next_at = $4, last_status = $2,
                        last_error = $3, lease_until = NULL
                 WHERE id = $1",
                &[&id, &status.map(i64::from), &error, &next_at],
            )
            .await?;
            Ok(())
        })
    }

    fn handoffs(&self, site: &str, limit: usize) -> Result<Vec<HandoffInfo>> {
        use engage_engine::schedule::format_instant;
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT id, conversation, event, url, state, attempts, last_status, last_error,
                        created_at, next_at, delivered_at
                 FROM handoffs WHERE site = $1 ORDER BY id DESC LIMIT $2",
                &[&site, &(limit as i64)],
            )
            .await?
            .iter()
            .map(|r| {
                let state: String = r.try_get(4)?;
                let next: i64 = r.try_get(9)?;
                Ok(HandoffInfo {
                    id: r.try_get(0)?,
                    conversation: r.try_get(1)?,
                    event: r.try_get(2)?,
                    url: r.try_get(3)?,
                    attempts: r.try_get::<_, i64>(5)?.clamp(0, u32::MAX as i64) as u32,
                    last_status: r
                        .try_get::<_, Option<i64>>(6)?
                        .map(|s| s.clamp(0, u16::MAX as i64) as u16),
                    last_error: r.try_get(7)?,
                    created_at: format_instant(r.try_get(8)?),
                    next_at: (state == "queued").then(|| format_instant(next)),
                    delivered_at: r.try_get::<_, Option<i64>>(10)?.map(format_instant),
                    state,
                })
            })
            .collect()
        })
    }
}
