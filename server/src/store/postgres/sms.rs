//! SMS tables on PostgreSQL: the same rows and rules as `store/sqlite/sms.rs`; outbox claims
//! with `FOR UPDATE SKIP LOCKED` (two servers never claim one row), rows in flight taken back
//! only when their lease ran out, and one process per inbox lane (`sms_lanes`).

use deadpool_postgres::GenericClient;
use serde_json::Value;
use std::collections::HashSet;
use tokio_postgres::Row;

use super::{exec, one, opt, rows, PgStore};
use crate::store::sms::*;
use crate::store::{Notice, Result};

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

const CONTACT_COLS: &str =
    "id, phone, name, tags, attributes, timezone, consent, created_at, updated_at";

fn contact(r: &Row) -> Result<ContactRow> {
    let tags: String = r.try_get(3)?;
    let attrs: String = r.try_get(4)?;
    Ok(ContactRow {
        id: r.try_get(0)?,
        phone: r.try_get(1)?,
        name: r.try_get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        attributes: serde_json::from_str(&attrs).unwrap_or(Value::Null),
        timezone: r.try_get(5)?,
        consent: r.try_get::<_, i64>(6)? != 0,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

const INBOX_COLS: &str = "site, id, name, provider, from_number, rate_per_second, help_text, \
                          config, webhook_secret, created_at, updated_at";

fn inbox(r: &Row) -> Result<InboxRow> {
    let config: String = r.try_get(7)?;
    Ok(InboxRow {
        site: r.try_get(0)?,
        id: r.try_get(1)?,
        name: r.try_get(2)?,
        provider: r.try_get(3)?,
        from: r.try_get(4)?,
        rate_per_second: r.try_get::<_, i64>(5)?.clamp(1, u32::MAX as i64) as u32,
        help_text: r.try_get(6)?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        webhook_secret: r.try_get(8)?,
        created_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
    })
}

const CAMPAIGN_COLS: &str =
    "site, id, title, message, inbox, audience, scheduled_at, quiet_hours, \
     engagement, status, key, created_at, updated_at, started_at, completed_at, recipients, \
     opted_out, duplicates, no_consent";

fn campaign(r: &Row) -> Result<CampaignRow> {
    let audience: String = r.try_get(5)?;
    let quiet: Option<String> = r.try_get(7)?;
    let n = |i: usize| -> Result<u64> { Ok(r.try_get::<_, i64>(i)?.max(0) as u64) };
    Ok(CampaignRow {
        site: r.try_get(0)?,
        id: r.try_get(1)?,
        title: r.try_get(2)?,
        message: r.try_get(3)?,
        inbox: r.try_get(4)?,
        audience: serde_json::from_str(&audience).unwrap_or(Value::Null),
        scheduled_at: r.try_get(6)?,
        quiet_hours: quiet.and_then(|q| serde_json::from_str(&q).ok()),
        engagement: r.try_get(8)?,
        status: r.try_get(9)?,
        key: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
        started_at: r.try_get(13)?,
        completed_at: r.try_get(14)?,
        recipients: n(15)?,
        opted_out: n(16)?,
        duplicates: n(17)?,
        no_consent: n(18)?,
    })
}

const OUTBOX_COLS: &str = "id, site, campaign, inbox, phone, body, timezone, attempts";

fn outbox(r: &Row) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        site: r.try_get(1)?,
        campaign: r.try_get(2)?,
        inbox: r.try_get(3)?,
        phone: r.try_get(4)?,
        body: r.try_get(5)?,
        timezone: r.try_get(6)?,
        attempts: r.try_get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
    })
}

/// The campaign's status, with the row locked until the transaction ends.
async fn status_for_update(c: &impl GenericClient, site: &str, id: &str) -> Result<Option<String>> {
    opt(
        c,
        "SELECT status FROM sms_campaigns WHERE site = $1 AND id = $2 FOR UPDATE",
        &[&site, &id],
    )
    .await?
    .map(|r| Ok(r.try_get(0)?))
    .transpose()
}

fn campaign_change(site: &str, id: &str) -> Notice {
    Notice::Campaign {
        site: site.to_owned(),
        id: id.to_owned(),
    }
}

const COMPLETE_IF_DONE: &str =
    "UPDATE sms_campaigns SET status = 'completed', completed_at = $3, updated_at = $3
     WHERE site = $1 AND id = $2 AND status = 'sending'
       AND NOT EXISTS (SELECT 1 FROM sms_outbox WHERE site = $1 AND campaign = $2
                       AND state IN ('queued', 'sending'))";

fn like_pattern(q: &str) -> String {
    format!(
        "%{}%",
        q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

impl SmsStore for PgStore {
    fn upsert_contacts(&self, site: &str, rows_in: &[ContactRow], now: i64) -> Result<(u64, u64)> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let (mut created, mut updated) = (0, 0);
            for row in rows_in {
                // `xmax = 0`: the row was inserted, not updated.
                let r = one(
                    &tx,
                    "INSERT INTO contacts (site, id, phone, name, tags, attributes, timezone,
                                           consent, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (site, id) DO UPDATE SET phone = excluded.phone,
                       name = excluded.name, tags = excluded.tags,
                       attributes = excluded.attributes, timezone = excluded.timezone,
                       consent = excluded.consent, updated_at = excluded.updated_at
                     RETURNING (xmax = 0)",
                    &[
                        &site,
                        &row.id,
                        &row.phone,
                        &row.name,
                        &json_text(&Value::from(row.tags.clone())),
                        &json_text(&row.attributes),
                        &row.timezone,
                        &(row.consent as i64),
                        &now,
                    ],
                )
                .await?;
                if r.try_get::<_, bool>(0)? {
                    created += 1;
                } else {
                    updated += 1;
                }
            }
            tx.commit().await?;
            Ok((created, updated))
        })
    }

    fn list_contacts(
        &self,
        site: &str,
        tag: Option<&str>,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ContactRow>> {
        let like = q.map(like_pattern);
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!(
                    "SELECT {CONTACT_COLS} FROM contacts WHERE site = $1
                       AND ($2::text IS NULL OR jsonb_exists(tags::jsonb, $2))
                       AND ($3::text IS NULL OR id LIKE $3 OR name LIKE $3 OR phone LIKE $3)
                       AND ($4::text IS NULL OR id > $4)
                     ORDER BY id COLLATE \"C\" LIMIT $5"
                ),
                &[&site, &tag, &like, &cursor, &(limit as i64)],
            )
            .await?
            .iter()
            .map(contact)
            .collect()
        })
    }

    fn all_contacts(&self, site: &str) -> Result<Vec<ContactRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!(
                    "SELECT {CONTACT_COLS} FROM contacts WHERE site = $1 ORDER BY id COLLATE \"C\""
                ),
                &[&site],
            )
            .await?
            .iter()
            .map(contact)
            .collect()
        })
    }

    fn contact(&self, site: &str, id: &str) -> Result<Option<ContactRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!("SELECT {CONTACT_COLS} FROM contacts WHERE site = $1 AND id = $2"),
                &[&site, &id],
            )
            .await?
            .as_ref()
            .map(contact)
            .transpose()
        })
    }

    fn contact_by_phone(&self, site: &str, phone: &str) -> Result<Option<ContactRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!(
                    "SELECT {CONTACT_COLS} FROM contacts WHERE site = $1 AND phone = $2
                     ORDER BY id COLLATE \"C\" LIMIT 1"
                ),
                &[&site, &phone],
            )
            .await?
            .as_ref()
            .map(contact)
            .transpose()
        })
    }

    fn contact_tags(&self, site: &str) -> Result<Vec<(String, u64)>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT t, count(*) FROM contacts, jsonb_array_elements_text(contacts.tags::jsonb) t
                 WHERE contacts.site = $1 GROUP BY t ORDER BY count(*) DESC, t COLLATE \"C\"",
                &[&site],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
        })
    }

    fn erase_contact(
        &self,
        site: &str,
        id: &str,
        hashed: &dyn Fn(&str) -> String,
        now: i64,
    ) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let Some(r) = opt(
                &tx,
                "DELETE FROM contacts WHERE site = $1 AND id = $2 RETURNING phone",
                &[&site, &id],
            )
            .await?
            else {
                return Ok(false);
            };
            let phone: String = r.try_get(0)?;
            // Another contact may share the number: then the messages stay its own.
            let shared = opt(
                &tx,
                "SELECT 1 FROM contacts WHERE site = $1 AND phone = $2 LIMIT 1",
                &[&site, &phone],
            )
            .await?
            .is_some();
            if !shared {
                let h = hashed(&phone);
                exec(
                    &tx,
                    "UPDATE sms_outbox SET state = 'failed', error = 'contact erased',
                            updated_at = $3
                     WHERE site = $1 AND phone = $2 AND state = 'queued'",
                    &[&site, &phone, &now],
                )
                .await?;
                exec(
                    &tx,
                    "UPDATE sms_outbox SET phone = $3, body = '', contact = NULL
                     WHERE site = $1 AND phone = $2",
                    &[&site, &phone, &h],
                )
                .await?;
                exec(
                    &tx,
                    "UPDATE sms_messages SET phone = $3, text = '' WHERE site = $1 AND phone = $2",
                    &[&site, &phone, &h],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn put_inbox(&self, row: &InboxRow) -> Result<bool> {
        self.run(async {
            let c = self.client().await?;
            // The secret of an existing inbox is kept.
            let r = one(
                &c,
                &format!(
                    "INSERT INTO sms_inboxes ({INBOX_COLS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (site, id) DO UPDATE SET name = excluded.name,
                       provider = excluded.provider, from_number = excluded.from_number,
                       rate_per_second = excluded.rate_per_second,
                       help_text = excluded.help_text, config = excluded.config,
                       updated_at = excluded.updated_at
                     RETURNING (xmax = 0)"
                ),
                &[
                    &row.site,
                    &row.id,
                    &row.name,
                    &row.provider,
                    &row.from,
                    &i64::from(row.rate_per_second),
                    &row.help_text,
                    &json_text(&row.config),
                    &row.webhook_secret,
                    &row.created_at,
                    &row.updated_at,
                ],
            )
            .await?;
            Ok(r.try_get(0)?)
        })
    }

    fn inbox(&self, site: &str, id: &str) -> Result<Option<InboxRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!("SELECT {INBOX_COLS} FROM sms_inboxes WHERE site = $1 AND id = $2"),
                &[&site, &id],
            )
            .await?
            .as_ref()
            .map(inbox)
            .transpose()
        })
    }

    fn inboxes(&self, site: &str) -> Result<Vec<InboxRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!(
                    "SELECT {INBOX_COLS} FROM sms_inboxes WHERE site = $1 ORDER BY id COLLATE \"C\""
                ),
                &[&site],
            )
            .await?
            .iter()
            .map(inbox)
            .collect()
        })
    }

    fn delete_inbox(&self, site: &str, id: &str) -> Result<Change> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let busy = opt(
                &tx,
                "SELECT id FROM sms_campaigns WHERE site = $1 AND inbox = $2
                   AND status IN ('scheduled', 'sending') LIMIT 1 FOR UPDATE",
                &[&site, &id],
            )
            .await?;
            if let Some(r) = busy {
                return Ok(Change::Status(r.try_get(0)?));
            }
            let n = exec(
                &tx,
                "DELETE FROM sms_inboxes WHERE site = $1 AND id = $2",
                &[&site, &id],
            )
            .await?;
            tx.commit().await?;
            Ok(if n > 0 { Change::Done } else { Change::Missing })
        })
    }

    fn insert_campaign(&self, row: &CampaignRow) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = exec(
                &tx,
                &format!(
                    "INSERT INTO sms_campaigns ({CAMPAIGN_COLS}) VALUES ($1, $2, $3, $4, $5,
                     $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, 0, 0, 0, 0)
                     ON CONFLICT (site, id) DO NOTHING"
                ),
                &[
                    &row.site,
                    &row.id,
                    &row.title,
                    &row.message,
                    &row.inbox,
                    &json_text(&row.audience),
                    &row.scheduled_at,
                    &row.quiet_hours.as_ref().map(json_text),
                    &row.engagement,
                    &row.status,
                    &row.key,
                    &row.created_at,
                    &row.updated_at,
                ],
            )
            .await?;
            if n > 0 {
                self.notify(&tx, &campaign_change(&row.site, &row.id))
                    .await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn update_campaign(&self, row: &CampaignRow) -> Result<Change> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            match status_for_update(&tx, &row.site, &row.id).await? {
                None => return Ok(Change::Missing),
                Some(s) if s != "scheduled" => return Ok(Change::Status(s)),
                Some(_) => {}
            }
            exec(
                &tx,
                "UPDATE sms_campaigns SET title = $3, message = $4, inbox = $5, audience = $6,
                        scheduled_at = $7, quiet_hours = $8, engagement = $9, key = $10,
                        updated_at = $11
                 WHERE site = $1 AND id = $2 AND status = 'scheduled'",
                &[
                    &row.site,
                    &row.id,
                    &row.title,
                    &row.message,
                    &row.inbox,
                    &json_text(&row.audience),
                    &row.scheduled_at,
                    &row.quiet_hours.as_ref().map(json_text),
                    &row.engagement,
                    &row.key,
                    &row.updated_at,
                ],
            )
            .await?;
            self.notify(&tx, &campaign_change(&row.site, &row.id))
                .await?;
            tx.commit().await?;
            Ok(Change::Done)
        })
    }

    fn campaign(&self, site: &str, id: &str) -> Result<Option<CampaignRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!("SELECT {CAMPAIGN_COLS} FROM sms_campaigns WHERE site = $1 AND id = $2"),
                &[&site, &id],
            )
            .await?
            .as_ref()
            .map(campaign)
            .transpose()
        })
    }

    fn campaigns(&self, site: &str) -> Result<Vec<CampaignRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!(
                    "SELECT {CAMPAIGN_COLS} FROM sms_campaigns WHERE site = $1
                     ORDER BY created_at DESC, id COLLATE \"C\""
                ),
                &[&site],
            )
            .await?
            .iter()
            .map(campaign)
            .collect()
        })
    }

    fn cancel_campaign(&self, site: &str, id: &str, now: i64) -> Result<Change> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            match status_for_update(&tx, site, id).await? {
                None => return Ok(Change::Missing),
                Some(s) if s != "scheduled" && s != "sending" => return Ok(Change::Status(s)),
                Some(_) => {}
            }
            exec(
                &tx,
                "UPDATE sms_campaigns SET status = 'cancelled', completed_at = $3,
                        updated_at = $3 WHERE site = $1 AND id = $2",
                &[&site, &id, &now],
            )
            .await?;
            exec(
                &tx,
                "UPDATE sms_outbox SET state = 'cancelled', updated_at = $3
                 WHERE site = $1 AND campaign = $2 AND state = 'queued'",
                &[&site, &id, &now],
            )
            .await?;
            self.notify(&tx, &campaign_change(site, id)).await?;
            tx.commit().await?;
            Ok(Change::Done)
        })
    }

    fn delete_campaign(&self, site: &str, id: &str) -> Result<Change> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            match status_for_update(&tx, site, id).await? {
                None => return Ok(Change::Missing),
                Some(s) if s == "sending" => return Ok(Change::Status(s)),
                Some(_) => {}
            }
            exec(
                &tx,
                "DELETE FROM sms_outbox WHERE site = $1 AND campaign = $2",
                &[&site, &id],
            )
            .await?;
            exec(
                &tx,
                "DELETE FROM sms_campaigns WHERE site = $1 AND id = $2",
                &[&site, &id],
            )
            .await?;
            self.notify(&tx, &campaign_change(site, id)).await?;
            tx.commit().await?;
            Ok(Change::Done)
        })
    }

    fn campaigns_started(&self, site: &str, from: i64, to: i64) -> Result<Vec<CampaignRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!(
                    "SELECT {CAMPAIGN_COLS} FROM sms_campaigns WHERE site = $1
                       AND started_at >= $2 AND started_at < $3 ORDER BY started_at, id COLLATE \"C\""
                ),
                &[&site, &from, &to],
            )
            .await?
            .iter()
            .map(campaign)
            .collect()
        })
    }

    fn next_scheduled(&self) -> Result<Option<(String, String, i64)>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                "SELECT site, id, scheduled_at FROM sms_campaigns WHERE status = 'scheduled'
                 ORDER BY scheduled_at, site COLLATE \"C\", id COLLATE \"C\" LIMIT 1",
                &[],
            )
            .await?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
        })
    }

    fn freeze(
        &self,
        site: &str,
        id: &str,
        expected_updated_at: i64,
        out: &[NewOutbox],
        counts: &FreezeCounts,
        now: i64,
    ) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Every server's scheduler wakes at `scheduled_at`; the first one to get here
            // freezes, the others find the campaign no longer scheduled.
            let r = opt(
                &tx,
                "UPDATE sms_campaigns SET status = 'sending', started_at = $3, updated_at = $3,
                        recipients = $4, opted_out = $5, duplicates = $6, no_consent = $7
                 WHERE site = $1 AND id = $2 AND status = 'scheduled' AND updated_at = $8
                 RETURNING inbox",
                &[
                    &site,
                    &id,
                    &now,
                    &(out.len() as i64),
                    &(counts.opted_out as i64),
                    &(counts.duplicates as i64),
                    &(counts.no_consent as i64),
                    &expected_updated_at,
                ],
            )
            .await?;
            let Some(r) = r else {
                return Ok(false);
            };
            let inbox: String = r.try_get(0)?;
            let phone: Vec<&str> = out.iter().map(|r| r.phone.as_str()).collect();
            let contact: Vec<&str> = out.iter().map(|r| r.contact.as_str()).collect();
            let body: Vec<&str> = out.iter().map(|r| r.body.as_str()).collect();
            let tz: Vec<&str> = out.iter().map(|r| r.timezone.as_str()).collect();
            let not_before: Vec<i64> = out.iter().map(|r| r.not_before).collect();
            let quiet: Vec<i64> = out.iter().map(|r| r.quiet as i64).collect();
            exec(
                &tx,
                "INSERT INTO sms_outbox (site, campaign, inbox, phone, contact, body, timezone,
                                         state, not_before, quiet, updated_at)
                 SELECT $1, $2, $3, u.phone, u.contact, u.body, u.tz, 'queued', u.nb, u.quiet, $10
                 FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                             $9::bigint[]) AS u(phone, contact, body, tz, nb, quiet)
                 ON CONFLICT (site, campaign, phone) DO NOTHING",
                &[
                    &site,
                    &id,
                    &inbox,
                    &phone,
                    &contact,
                    &body,
                    &tz,
                    &not_before,
                    &quiet,
                    &now,
                ],
            )
            .await?;
            if out.is_empty() {
                exec(
                    &tx,
                    "UPDATE sms_campaigns SET status = 'completed', completed_at = $3
                     WHERE site = $1 AND id = $2",
                    &[&site, &id, &now],
                )
                .await?;
            }
            self.notify(&tx, &campaign_change(site, id)).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Other processes may be sending: only rows whose lease ran out are taken back.
    fn recover_inflight(&self, now: i64) -> Result<usize> {
        self.reclaim_expired(now)
    }

    fn reclaim_expired(&self, now: i64) -> Result<usize> {
        self.run(async {
            let c = self.client().await?;
            let n = exec(
                &c,
                "UPDATE sms_outbox SET state = 'queued', uncertain = 1, lease_until = NULL,
                        updated_at = $1
                 WHERE state = 'sending' AND lease_until < $1",
                &[&now],
            )
            .await?;
            Ok(n as usize)
        })
    }

    /// A row left `sending` by a server that died (its lease ran out) is claimed again like a
    /// due one, and counted uncertain.
    fn claim(&self, site: &str, inbox: &str, now: i64) -> Result<Option<OutboxRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!(
                    "UPDATE sms_outbox SET state = 'sending', lease_until = $3 + $4,
                            attempts = attempts + 1, updated_at = $3,
                            uncertain = CASE WHEN state = 'sending' THEN 1 ELSE uncertain END
                     WHERE id = (SELECT o.id FROM sms_outbox o
                                 JOIN sms_campaigns k ON k.site = o.site AND k.id = o.campaign
                                 WHERE o.site = $1 AND o.inbox = $2 AND k.status = 'sending'
                                   AND ((o.state = 'queued' AND o.not_before <= $3)
                                        OR (o.state = 'sending' AND o.lease_until < $3))
                                 ORDER BY o.not_before, o.id LIMIT 1
                                 FOR UPDATE OF o SKIP LOCKED)
                     RETURNING {OUTBOX_COLS}"
                ),
                &[&site, &inbox, &now, &lease_ms()],
            )
            .await?
            .as_ref()
            .map(outbox)
            .transpose()
        })
    }

    fn next_due(&self, site: &str, inbox: &str) -> Result<Option<i64>> {
        self.run(async {
            let c = self.client().await?;
            Ok(one(
                &c,
                "SELECT min(CASE WHEN o.state = 'queued' THEN o.not_before ELSE o.lease_until END)
                 FROM sms_outbox o
                 JOIN sms_campaigns k ON k.site = o.site AND k.id = o.campaign
                 WHERE o.site = $1 AND o.inbox = $2 AND o.state IN ('queued', 'sending')
                   AND k.status = 'sending'",
                &[&site, &inbox],
            )
            .await?
            .try_get(0)?)
        })
    }

    fn pending_inboxes(&self) -> Result<Vec<(String, String)>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT DISTINCT site, inbox FROM sms_outbox WHERE state IN ('queued', 'sending')",
                &[],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn sending_campaigns(&self) -> Result<Vec<(String, String)>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT site, id FROM sms_campaigns WHERE status = 'sending'",
                &[],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn finish_row(&self, row: &OutboxRow, outcome: &Outcome, now: i64) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Finishes of one campaign take turns: otherwise the last two, committing together,
            // would each still see the other `sending` and neither would complete the campaign.
            exec(
                &tx,
                "SELECT 1 FROM sms_campaigns WHERE site = $1 AND id = $2 FOR UPDATE",
                &[&row.site, &row.campaign],
            )
            .await?;
            match outcome {
                Outcome::Sent(provider_ref) => {
                    exec(
                        &tx,
                        "UPDATE sms_outbox SET state = 'sent', sent_at = $2, provider_ref = $3,
                                lease_until = NULL, quiet = 0, error = NULL, updated_at = $2
                         WHERE id = $1 AND state = 'sending'",
                        &[&row.id, &now, provider_ref],
                    )
                    .await?;
                    // The broadcast a reply will be linked by (SPEC §11).
                    exec(
                        &tx,
                        "INSERT INTO broadcasts (site, phone, sender, engagement, sms_campaign, at)
                         SELECT o.site, o.phone, i.from_number, k.engagement, k.id, $2
                         FROM sms_outbox o
                         JOIN sms_campaigns k ON k.site = o.site AND k.id = o.campaign
                         JOIN sms_inboxes i ON i.site = o.site AND i.id = o.inbox
                         WHERE o.id = $1
                         ON CONFLICT DO NOTHING",
                        &[&row.id, &now],
                    )
                    .await?;
                }
                Outcome::Failed(error) => {
                    exec(
                        &tx,
                        "UPDATE sms_outbox SET state = 'failed', error = $2, lease_until = NULL,
                                updated_at = $3
                         WHERE id = $1 AND state = 'sending'",
                        &[&row.id, error, &now],
                    )
                    .await?;
                }
                Outcome::Retry { not_before, error } => {
                    exec(
                        &tx,
                        "UPDATE sms_outbox SET state = 'queued', not_before = $2, error = $3,
                                lease_until = NULL, updated_at = $4
                         WHERE id = $1 AND state = 'sending'",
                        &[&row.id, not_before, error, &now],
                    )
                    .await?;
                }
                Outcome::Quiet { not_before } => {
                    exec(
                        &tx,
                        "UPDATE sms_outbox SET state = 'queued', not_before = $2, quiet = 1,
                                lease_until = NULL, attempts = attempts - 1, updated_at = $3
                         WHERE id = $1 AND state = 'sending'",
                        &[&row.id, not_before, &now],
                    )
                    .await?;
                }
            }
            let completed = match outcome {
                Outcome::Sent(_) | Outcome::Failed(_) => {
                    exec(&tx, COMPLETE_IF_DONE, &[&row.site, &row.campaign, &now]).await? > 0
                }
                _ => false,
            };
            self.notify(&tx, &campaign_change(&row.site, &row.campaign))
                .await?;
            tx.commit().await?;
            Ok(completed)
        })
    }

    fn complete_if_done(&self, site: &str, campaign: &str, now: i64) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = exec(&tx, COMPLETE_IF_DONE, &[&site, &campaign, &now]).await?;
            if n > 0 {
                self.notify(&tx, &campaign_change(site, campaign)).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn delivery_report(
        &self,
        site: &str,
        inbox: &str,
        id: i64,
        status: &str,
        detail: &str,
        now: i64,
    ) -> Result<Option<String>> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let Some(r) = opt(
                &tx,
                "SELECT campaign FROM sms_outbox WHERE id = $1 AND site = $2 AND inbox = $3
                 FOR UPDATE",
                &[&id, &site, &inbox],
            )
            .await?
            else {
                return Ok(None);
            };
            let campaign: String = r.try_get(0)?;
            exec(
                &tx,
                "INSERT INTO sms_delivery (site, outbox, status, detail, at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&site, &id, &status, &detail, &now],
            )
            .await?;
            match status {
                // A late "delivered" also settles a row a crash left uncertain.
                "delivered" => {
                    exec(
                        &tx,
                        "UPDATE sms_outbox SET state = 'delivered', delivered_at = $2,
                                updated_at = $2
                         WHERE id = $1 AND state IN ('sent', 'sending', 'queued', 'failed')",
                        &[&id, &now],
                    )
                    .await?;
                }
                "failed" => {
                    exec(
                        &tx,
                        "UPDATE sms_outbox SET state = 'failed', error = $3, updated_at = $2
                         WHERE id = $1 AND state = 'sent'",
                        &[&id, &now, &detail],
                    )
                    .await?;
                }
                _ => {}
            }
            self.notify(&tx, &campaign_change(site, &campaign)).await?;
            tx.commit().await?;
            Ok(Some(campaign))
        })
    }

    fn progress(&self, site: &str, campaign: &CampaignRow, now: i64) -> Result<Progress> {
        self.run(async {
            let c = self.client().await?;
            let mut p = Progress {
                recipients: campaign.recipients,
                opted_out: campaign.opted_out,
                duplicates: campaign.duplicates,
                no_consent: campaign.no_consent,
                ..Progress::default()
            };
            let by_state = rows(
                &c,
                "SELECT state, count(*), sum(uncertain)::bigint,
                        sum(CASE WHEN quiet = 1 AND not_before > $3 THEN 1 ELSE 0 END)::bigint
                 FROM sms_outbox WHERE site = $1 AND campaign = $2 GROUP BY state",
                &[&site, &campaign.id, &now],
            )
            .await?;
            for r in &by_state {
                let state: String = r.try_get(0)?;
                let n = r.try_get::<_, i64>(1)? as u64;
                p.uncertain += r.try_get::<_, Option<i64>>(2)?.unwrap_or(0) as u64;
                p.quiet_hours_waiting += r.try_get::<_, Option<i64>>(3)?.unwrap_or(0) as u64;
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
            p.replies = one(
                &c,
                "SELECT count(*) FROM sms_messages WHERE site = $1 AND campaign = $2
                   AND direction = 'in'",
                &[&site, &campaign.id],
            )
            .await?
            .try_get::<_, i64>(0)? as u64;
            Ok(p)
        })
    }

    fn opt_out(&self, site: &str, phone: &str, source: &str, now: i64) -> Result<bool> {
        self.run(async {
            let c = self.client().await?;
            let n = exec(
                &c,
                "INSERT INTO sms_optouts (site, phone, at, source) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (site, phone) DO NOTHING",
                &[&site, &phone, &now, &source],
            )
            .await?;
            Ok(n > 0)
        })
    }

    fn opt_in(&self, site: &str, phone: &str) -> Result<bool> {
        self.run(async {
            let c = self.client().await?;
            let n = exec(
                &c,
                "DELETE FROM sms_optouts WHERE site = $1 AND phone = $2",
                &[&site, &phone],
            )
            .await?;
            Ok(n > 0)
        })
    }

    fn opted_out_set(&self, site: &str) -> Result<HashSet<String>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT phone FROM sms_optouts WHERE site = $1",
                &[&site],
            )
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
        })
    }

    fn is_opted_out(&self, site: &str, phone: &str) -> Result<bool> {
        self.run(async {
            let c = self.client().await?;
            Ok(opt(
                &c,
                "SELECT 1 FROM sms_optouts WHERE site = $1 AND phone = $2",
                &[&site, &phone],
            )
            .await?
            .is_some())
        })
    }

    fn opt_outs(&self, site: &str) -> Result<Vec<OptOut>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT phone, at, source FROM sms_optouts WHERE site = $1
                 ORDER BY at DESC, phone COLLATE \"C\"",
                &[&site],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(OptOut {
                    phone: r.try_get(0)?,
                    at: engage_engine::schedule::format_instant(r.try_get(1)?),
                    source: r.try_get(2)?,
                })
            })
            .collect()
        })
    }

    fn last_campaign_to(&self, site: &str, phone: &str) -> Result<Option<String>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                "SELECT campaign FROM sms_outbox WHERE site = $1 AND phone = $2
                   AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT 1",
                &[&site, &phone],
            )
            .await?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
        })
    }

    fn campaign_of_row(
        &self,
        site: &str,
        inbox: &str,
        id: i64,
        phone: &str,
    ) -> Result<Option<String>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                "SELECT campaign FROM sms_outbox
                 WHERE id = $1 AND site = $2 AND inbox = $3 AND phone = $4",
                &[&id, &site, &inbox, &phone],
            )
            .await?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
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
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let id: i64 = one(
                &tx,
                "INSERT INTO sms_messages (site, inbox, direction, phone, text, kind, campaign, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &site, &inbox, &direction, &phone, &text, &kind, &campaign, &now,
                ],
            )
            .await?
            .try_get(0)?;
            if let Some(k) = campaign {
                // A reply counts in the campaign's progress.
                self.notify(&tx, &campaign_change(site, k)).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    fn lane_lease(&self, site: &str, inbox: &str, now: i64, ttl_ms: i64) -> Result<bool> {
        self.run(async {
            let c = self.client().await?;
            let held = opt(
                &c,
                "INSERT INTO sms_lanes (site, inbox, owner, lease_until) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (site, inbox) DO UPDATE SET owner = excluded.owner,
                   lease_until = excluded.lease_until
                 WHERE sms_lanes.owner = excluded.owner OR sms_lanes.lease_until < $5
                 RETURNING owner",
                &[&site, &inbox, &self.me, &(now + ttl_ms), &now],
            )
            .await?;
            Ok(held.is_some())
        })
    }
}
