//! Conversations and their hand-off (SPEC §11): an SMS reply or a web accept starts a
//! conversation, stored with a `conversation.started` hand-off in one transaction; a worker
//! POSTs each hand-off to `settings.conversation_webhook`, signed
//! `X-Engage-Signature: sha256=<hex HMAC-SHA256 of the body>`, retrying with backoff until a
//! 2xx, in order per conversation, across restarts.
//!
//! Which engagement an SMS reply belongs to is the engine's rule
//! (`engage_engine::outbound::link_reply`); this module feeds it the number's broadcasts.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engage_engine::model::Source;
use engage_engine::outbound::{link_reply, Broadcast};
use engage_engine::schedule::{format_instant, parse_instant};
use engage_engine::visit::{Event, EventKind};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

use crate::error::{ApiError, Body, Detail};
use crate::ids;
use crate::publish::run_blocking;
use crate::sms::{json_value, phone, problems, site_facts, Fields};
use crate::store::conversations::{Conversation, ConversationQuery, NewHandoff};
use crate::store::sms::InboxRow;
use crate::AppState;

/// A reply within this long of the number's last message continues its conversation.
pub const CONTINUE_MS: i64 = 24 * 3_600_000;
/// Broadcasts older than this are not looked at when linking a reply.
const BROADCAST_WINDOW_MS: i64 = 60 * 86_400_000;
/// Deliveries in flight at once.
const DELIVERY_CONCURRENCY: usize = 4;
const MAX_BROADCAST_RECIPIENTS: usize = 100_000;

/// The hand-off worker's wake-up.
#[derive(Default)]
pub struct Handoffs {
    wake: Notify,
    started: std::sync::atomic::AtomicBool,
}

impl Handoffs {
    pub fn queued(&self) {
        self.wake.notify_one();
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
        <Hmac<Sha256> as Mac>::new_from_slice(b"").expect("HMAC takes any key")
    });
    mac.update(body);
    format!("sha256={}", crate::auth::hex(&mac.finalize().into_bytes()))
}

fn random_id() -> Result<String, ApiError> {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(format!("cv_{}", crate::auth::hex(&raw)))
}

/// What the agent system receives (SPEC §11).
pub fn started_body(c: &Conversation) -> String {
    let mut v = json!({
        "event": "conversation.started",
        "id": c.id, "site": c.site, "channel": c.channel, "source": c.source,
        "engagement": c.engagement, "campaign": c.campaign, "skill": c.skill,
        "language": c.language, "agent_note": c.agent_note,
        "attributes": c.attributes, "first_message": c.first_message,
        "started_at": format_instant(c.started_at),
    });
    match (&c.phone, &c.visitor) {
        (Some(p), _) => v["phone"] = json!(p),
        (None, Some(vis)) => v["visitor"] = json!(vis),
        _ => {}
    }
    if let Some(s) = &c.sms_campaign {
        v["sms_campaign"] = json!(s);
    }
    if let Some(why) = &c.unlinked {
        // Why an SMS conversation has no engagement: the agent system can say so too.
        v["unlinked"] = json!(why);
    }
    v.to_string()
}

fn webhook_of(st: &AppState, site: &str) -> Option<(String, String)> {
    let doc = st
        .sites
        .get(site)
        .and_then(|s| s.active())?
        .document
        .clone();
    doc.settings
        .conversation_webhook
        .as_ref()
        .map(|w| (w.url.clone(), w.secret.clone()))
}

fn conversation_json(c: &Conversation) -> Value {
    json!({
        "id": c.id, "channel": c.channel, "source": c.source, "engagement": c.engagement,
        "campaign": c.campaign, "skill": c.skill, "language": c.language,
        "agent_note": c.agent_note, "phone": c.phone, "visitor": c.visitor,
        "attributes": c.attributes, "first_message": c.first_message,
        "sms_campaign": c.sms_campaign, "unlinked": c.unlinked,
        "started_at": format_instant(c.started_at),
        "last_message_at": format_instant(c.last_message_at), "messages": c.messages,
    })
}

/// An SMS reply that is not a keyword: continues the number's open conversation, or starts one
/// linked by the engine's rule. `answered` is the SMS campaign of the message the provider says
/// the reply answers (CM.com echoes our reference).
pub fn on_sms_reply(
    st: &AppState,
    inbox: &InboxRow,
    from: &str,
    text: &str,
    answered: Option<&str>,
    now: i64,
) -> Result<(), ApiError> {
    let site = &inbox.site;
    let hook = webhook_of(st, site);
    if let Some(open) = st.store.open_conversation(site, from, now - CONTINUE_MS)? {
        let body = json!({"event": "conversation.message", "id": open.id, "site": site,
                          "channel": "sms", "phone": from, "text": text, "at": format_instant(now)})
        .to_string();
        let h = hook.as_ref().map(|(url, secret)| NewHandoff {
            event: "conversation.message",
            url,
            secret,
            body: &body,
        });
        st.store.add_message(site, &open.id, h.as_ref(), now)?;
        st.handoffs.queued();
        return Ok(());
    }
    let mut broadcasts = st
        .store
        .broadcasts_to(site, from, now - BROADCAST_WINDOW_MS)?;
    // A provider that echoes our reference (CM.com) says exactly which campaign was answered.
    if let Some(campaign) = answered {
        let exact: Vec<_> = broadcasts
            .iter()
            .filter(|b| b.sms_campaign.as_deref() == Some(campaign))
            .cloned()
            .collect();
        if !exact.is_empty() {
            broadcasts = exact;
        }
    }
    let active = st.sites.get(site).and_then(|s| s.active());
    let list: Vec<Broadcast<'_>> = broadcasts
        .iter()
        .map(|b| Broadcast {
            at: b.at,
            campaign_ref: b.campaign_ref.as_deref(),
            sender: b.sender.as_deref(),
            engagement: b.engagement.as_deref(),
        })
        .collect();
    let (link, unlinked) = match active.as_ref().map(|a| link_reply(&a.bundle, &list, now)) {
        Some(Ok(l)) => (Some(l), None),
        Some(Err(why)) => (None, Some(why.as_str().to_owned())),
        None => (None, Some("no_document".to_owned())),
    };
    // The broadcast that decided the link (or the latest one) names the SMS campaign answered.
    let decided_at = link.map(|l| l.broadcast_at);
    let sms_campaign = broadcasts
        .iter()
        .find(|b| decided_at.is_none_or(|t| b.at == t))
        .and_then(|b| b.sms_campaign.clone());
    let conv = Conversation {
        id: random_id()?,
        site: site.clone(),
        channel: "sms".into(),
        source: "sms".into(),
        engagement: link.map(|l| l.outbound.engagement.clone()),
        campaign: link.map(|l| l.outbound.campaign.clone()),
        skill: link.and_then(|l| l.outbound.skill.clone()),
        language: link.and_then(|l| l.outbound.language.clone()),
        agent_note: link.and_then(|l| l.outbound.agent_note.clone()),
        phone: Some(from.to_owned()),
        visitor: None,
        attributes: contact_attributes(st, site, from)?,
        first_message: Some(text.to_owned()),
        sms_campaign,
        unlinked,
        started_at: now,
        last_message_at: now,
        messages: 1,
    };
    start(st, &conv, hook)
}

/// A contact's name, tags and attributes for the agent (the first contact with that number).
fn contact_attributes(st: &AppState, site: &str, phone: &str) -> Result<Value, ApiError> {
    let found = st.store.contact_by_phone(site, phone)?;
    Ok(match found {
        Some(c) => {
            json!({"contact": c.id, "name": c.name, "tags": c.tags, "attributes": c.attributes})
        }
        None => json!({}),
    })
}

fn start(
    st: &AppState,
    conv: &Conversation,
    hook: Option<(String, String)>,
) -> Result<(), ApiError> {
    let body = started_body(conv);
    let h = hook.as_ref().map(|(url, secret)| NewHandoff {
        event: "conversation.started",
        url,
        secret,
        body: &body,
    });
    if st.store.start_conversation(conv, h.as_ref())? {
        tracing::info!(site = %conv.site, id = %conv.id, channel = %conv.channel,
            engagement = conv.engagement.as_deref().unwrap_or("-"), "conversation started");
        st.handoffs.queued();
    }
    Ok(())
}

/// Web accepts of a stored event batch start conversations of channel `web` (offsite links'
/// engagements count as source `offsite`). Idempotent: the id comes from the event itself.
pub fn on_web_events(
    st: &AppState,
    site: &str,
    visitor: &str,
    events: &[Event],
    attributes: &Value,
) -> Result<(), ApiError> {
    let Some(active) = st.sites.get(site).and_then(|s| s.active()) else {
        return Ok(());
    };
    let hook = webhook_of(st, site);
    for e in events.iter().filter(|e| e.kind == EventKind::Accept) {
        let Some(eid) = e.engagement.as_deref() else {
            continue;
        };
        let Some((c, eng)) = active.bundle.find(eid) else {
            continue;
        };
        let key = format!(
            "{site}\u{0}{visitor}\u{0}{}\u{0}{eid}\u{0}{}",
            e.visit, e.at
        );
        let digest =
            sha2::Digest::finalize(<Sha256 as sha2::Digest>::new_with_prefix(key.as_bytes()));
        let conv = Conversation {
            id: format!("cv_{}", crate::auth::hex(&digest[..12])),
            site: site.to_owned(),
            channel: "web".into(),
            source: if eng.source == Source::Offsite {
                "offsite"
            } else {
                "web"
            }
            .into(),
            engagement: Some(eid.to_owned()),
            campaign: Some(String::from(&*c.id)),
            skill: eng.skill.clone(),
            language: eng.language.clone(),
            agent_note: eng.agent_note.clone(),
            phone: None,
            visitor: Some(visitor.to_owned()),
            attributes: attributes.clone(),
            first_message: None,
            sms_campaign: None,
            unlinked: None,
            started_at: e.at,
            last_message_at: e.at,
            messages: 0,
        };
        start(st, &conv, hook.clone())?;
    }
    Ok(())
}

/// Starts the hand-off worker (once): deliveries left in flight by a crash are due again.
pub fn start_worker(st: &AppState) -> anyhow::Result<()> {
    if st
        .handoffs
        .started
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return Ok(());
    }
    let n = st.store.recover_handoffs(st.now())?;
    if n > 0 {
        tracing::warn!(
            deliveries = n,
            "hand-offs were in flight at the last stop: sending them again"
        );
    }
    tokio::spawn(worker(st.clone()));
    Ok(())
}

/// Backoff after `attempt` failures: 1 s, 2 s, 4 s … at most 5 minutes.
fn backoff_ms(attempt: u32) -> i64 {
    (1000i64 << attempt.saturating_sub(1).min(9)).min(300_000)
}

async fn worker(st: AppState) {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let permits = Arc::new(Semaphore::new(DELIVERY_CONCURRENCY));
    let mut shutdown = st.shutdown.subscribe();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let st2 = st.clone();
        let claimed = run_blocking(move || Ok(st2.store.claim_handoff(st2.now())?)).await;
        match claimed {
            Ok(Some(h)) => {
                let (st2, http2) = (st.clone(), http.clone());
                tokio::spawn(async move {
                    deliver(&st2, &http2, h).await;
                    drop(permit);
                    st2.handoffs.queued();
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::error!("hand-off queue: {}", e.message);
            }
        }
        let st2 = st.clone();
        let next = run_blocking(move || Ok(st2.store.next_handoff_at()?))
            .await
            .ok()
            .flatten();
        let delay = next.map_or(Duration::from_secs(30), |t| {
            Duration::from_millis((t - st.now()).clamp(20, 30_000) as u64)
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = st.handoffs.wake.notified() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn deliver(st: &AppState, http: &reqwest::Client, h: crate::store::conversations::Handoff) {
    let sig = signature(&h.secret, h.body.as_bytes());
    let res = http
        .post(&h.url)
        .header("content-type", "application/json")
        .header("x-engage-signature", sig)
        .header("x-engage-event", &h.event)
        .header("x-engage-delivery", h.id.to_string())
        .body(h.body.clone())
        .send()
        .await;
    let outcome = match res {
        Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
        Ok(r) => Err((
            Some(r.status().as_u16()),
            format!("answered {}", r.status()),
        )),
        Err(e) => Err((
            None,
            if e.is_timeout() {
                "timed out".into()
            } else {
                format!("{}", e.without_url())
            },
        )),
    };
    let st2 = st.clone();
    let id = h.id;
    let attempts = h.attempts;
    let r = run_blocking(move || {
        let now = st2.now();
        match outcome {
            Ok(status) => st2.store.handoff_delivered(id, status, now)?,
            Err((status, error)) => {
                tracing::info!(
                    delivery = id,
                    attempt = attempts,
                    "hand-off failed, retrying: {error}"
                );
                st2.store
                    .handoff_failed(id, status, &error, now + backoff_ms(attempts))?
            }
        }
        Ok(())
    })
    .await;
    if let Err(e) = r {
        tracing::error!(delivery = h.id, "cannot record a hand-off: {}", e.message);
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The first day or instant.
    from: Option<String>,
    /// The last day or instant.
    to: Option<String>,
    /// `web` or `sms`.
    channel: Option<String>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
    /// At most this many (1–500).
    limit: Option<usize>,
}

fn day_or_instant(s: &str, what: &str) -> Result<i64, ApiError> {
    let text = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    parse_instant(&text).map_err(|m| ApiError::bad_request("invalid_query", format!("{what}: {m}")))
}

/// `GET /admin/v1/sites/{site}/conversations?from=&to=&channel=&cursor=&limit=`: newest first.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/conversations", tag = "conversations",
    params(crate::openapi::params::SitePath, ListQuery),
    responses((status = 200, description = "Conversations, newest first.", body = crate::openapi::schemas::Conversations)))]
pub async fn list(
    State(st): State<AppState>,
    Path(site): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let from = q
        .from
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| day_or_instant(s, "from"))
        .transpose()?;
    let to =
        q.to.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| day_or_instant(s, "to"))
            .transpose()?;
    let channel = q.channel.filter(|c| !c.is_empty());
    if let Some(c) = &channel {
        if c != "web" && c != "sms" {
            return Err(ApiError::bad_request(
                "invalid_query",
                "channel is web or sms",
            ));
        }
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let (at, id) = c
                .split_once('.')
                .and_then(|(a, i)| Some((a.parse::<i64>().ok()?, i.to_owned())))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_query", "cursor: not one this API gave")
                })?;
            Some((at, id))
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = run_blocking(move || {
        let query = ConversationQuery {
            from,
            to,
            channel: channel.as_deref(),
            before: before.as_ref().map(|(a, i)| (*a, i.as_str())),
            limit: limit + 1,
        };
        Ok(st.store.conversations(&site, &query)?)
    })
    .await?;
    let next = (rows.len() > limit)
        .then(|| rows[limit - 1].clone())
        .map(|c| format!("{}.{}", c.started_at, c.id));
    let list: Vec<Value> = rows.iter().take(limit).map(conversation_json).collect();
    Ok(Json(json!({"conversations": list, "next_cursor": next})))
}

/// `GET /admin/v1/sites/{site}/handoffs`: the newest hand-off deliveries and their state.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/handoffs", tag = "conversations", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "The newest hand-off deliveries and their state.", body = crate::openapi::schemas::Handoffs)))]
pub async fn deliveries(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let rows = run_blocking(move || Ok(st.store.handoffs(&site, 200)?)).await?;
    Ok(Json(json!({"handoffs": rows})))
}

/// `POST /admin/v1/sites/{site}/outbound/broadcasts`: a third-party provider's broadcast,
/// `{"campaign_ref", "sender", "recipients": [...], "at"}`, up to 100,000 numbers; idempotent.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/outbound/broadcasts", tag = "conversations",
    params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::BroadcastInput, content_type = "application/json"),
    responses((status = 202, description = "Recorded (idempotent: repeated numbers count once).", body = crate::openapi::schemas::BroadcastStored)))]
pub async fn broadcasts(
    State(st): State<AppState>,
    Path(site): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    let v = json_value(&body)?;
    let now = st.now();
    let country = site_facts(&st, &site).default_country;
    let mut p: Vec<Detail> = Vec::new();
    let mut out = None;
    if let Some(mut f) = Fields::new(&v, "", &mut p) {
        f.only(&["campaign_ref", "sender", "recipients", "at"]);
        let campaign_ref = f.string("campaign_ref", false, 128);
        let sender = f
            .string("sender", false, 32)
            .and_then(|s| match phone::parse(&s, None) {
                Ok(e) => Some(e),
                Err(m) => {
                    f.error("sender", m);
                    None
                }
            });
        if campaign_ref.is_none()
            && sender.is_none()
            && !f.obj.contains_key("campaign_ref")
            && !f.obj.contains_key("sender")
        {
            f.error("campaign_ref", "give campaign_ref (the provider's campaign id) or sender (the number it was sent from)");
        }
        let at = match f.get("at") {
            None => Some(now),
            Some(Value::String(s)) => match parse_instant(s) {
                Ok(t) if t <= now + 60_000 => Some(t),
                Ok(_) => {
                    f.error("at", "a broadcast cannot be in the future");
                    None
                }
                Err(m) => {
                    f.error("at", m);
                    None
                }
            },
            Some(_) => {
                f.error("at", "must be an RFC 3339 date-time");
                None
            }
        };
        let mut phones = Vec::new();
        match f.get("recipients") {
            Some(Value::Array(list)) if list.len() <= MAX_BROADCAST_RECIPIENTS => {
                if list.is_empty() {
                    f.error("recipients", "at least one number");
                }
                for (i, r) in list.iter().enumerate() {
                    match r.as_str().map(|s| phone::parse(s, country.as_deref())) {
                        Some(Ok(e)) => phones.push(e),
                        Some(Err(m)) => f.error(&format!("recipients[{i}]"), m),
                        None => {
                            f.error(&format!("recipients[{i}]"), "must be a phone number string")
                        }
                    }
                }
            }
            Some(Value::Array(_)) => f.error(
                "recipients",
                format!("at most {MAX_BROADCAST_RECIPIENTS} numbers a request"),
            ),
            Some(_) => f.error("recipients", "must be an array of phone numbers"),
            None => f.error("recipients", "is required"),
        }
        phones.sort();
        phones.dedup();
        out = Some((campaign_ref, sender, phones, at));
    }
    problems(p)?;
    let Some((campaign_ref, sender, phones, Some(at))) = out else {
        return Err(ApiError::internal("broadcast not read"));
    };
    let total = phones.len();
    let new = run_blocking(move || {
        Ok(st.store.insert_broadcasts(
            &site,
            &phones,
            campaign_ref.as_deref(),
            sender.as_deref(),
            at,
        )?)
    })
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"recipients": total, "new": new, "at": format_instant(at)})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
