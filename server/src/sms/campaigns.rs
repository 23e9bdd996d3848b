//! `POST/GET /sms/campaigns`, `GET/PATCH/DELETE /sms/campaigns/{id}`, `POST …/cancel`,
//! `GET …/stream` (SSE), `POST /sms/preview`, `POST /sms/audience`.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engage_engine::condition::check_condition;
use engage_engine::regexp::NativeRegex;
use engage_engine::schedule::{format_instant, parse_hhmm, parse_instant};
use engage_engine::sms::{check_template, segments, Audience, MAX_SEGMENTS};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;

use super::sender::Estimate;
use super::{json_value, problems, site_facts, Fields};
use crate::error::{ApiError, Body, Detail};
use crate::ids;
use crate::publish::run_blocking;
use crate::store::sms::{CampaignRow, Change};
use crate::AppState;

/// A `scheduled_at` this far in the past still counts as "now" (clock skew, slow networks).
const PAST_GRACE_MS: i64 = 5_000;
const FIELDS: [&str; 8] = [
    "id",
    "title",
    "message",
    "inbox",
    "audience",
    "scheduled_at",
    "quiet_hours",
    "engagement",
];

/// `{"tags": {"any": [], "none": []}, "condition": {...}}` → the engine's audience.
pub fn parse_audience(v: Option<&Value>, problems: &mut Vec<Detail>) -> Audience {
    let mut a = Audience::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return a;
    };
    let Some(mut f) = Fields::new(v, "audience", problems) else {
        return a;
    };
    f.only(&["tags", "condition"]);
    if let Some(tags) = f.get("tags") {
        if let Some(mut t) = Fields::new(tags, "audience.tags", f.problems) {
            t.only(&["any", "none"]);
            for (key, out) in [("any", &mut a.any), ("none", &mut a.none)] {
                match t.get(key) {
                    None => {}
                    Some(Value::Array(list)) => {
                        for (i, tag) in list.iter().enumerate() {
                            match tag.as_str() {
                                Some(s) if !s.trim().is_empty() && s.chars().count() <= 64 => {
                                    out.push(s.trim().to_owned())
                                }
                                _ => t.error(
                                    &format!("{key}[{i}]"),
                                    "a tag is a string of 1 to 64 characters",
                                ),
                            }
                        }
                    }
                    Some(_) => t.error(key, "must be an array of tags"),
                }
            }
        }
    }
    if let Some(c) = f.get("condition") {
        if !c.is_object() {
            f.error(
                "condition",
                "must be a condition object (GrowthBook syntax)",
            );
        } else {
            for (path, msg) in check_condition(c, &NativeRegex::is_valid) {
                let path = if path.is_empty() {
                    "audience.condition".to_owned()
                } else {
                    format!("audience.condition.{path}")
                };
                f.problems.push(Detail::new(path, msg));
            }
            a.condition = Some(c.clone());
        }
    }
    a
}

pub fn audience_of(row: &CampaignRow) -> Audience {
    parse_audience(Some(&row.audience), &mut Vec::new())
}

/// Validates a campaign body (a whole one, or a patch over `existing`) into a row.
fn read_campaign(
    st: &AppState,
    site: &str,
    v: &Value,
    existing: Option<&CampaignRow>,
    inboxes: &[String],
) -> Result<CampaignRow, ApiError> {
    let now = st.now();
    let mut p = Vec::new();
    let facts = site_facts(st, site);
    let Some(mut f) = Fields::new(v, "", &mut p) else {
        return Err(problems(p).unwrap_err());
    };
    f.only(&FIELDS);
    let patch = existing.is_some();
    let id = match existing {
        Some(e) => {
            if let Some(given) = f.get("id") {
                if given.as_str() != Some(e.id.as_str()) {
                    f.error("id", "the id of a campaign cannot change");
                }
            }
            Some(e.id.clone())
        }
        None => f.id("id"),
    };
    let title = f
        .string("title", !patch, 200)
        .or_else(|| existing.map(|e| e.title.clone()));
    let message = f
        .string("message", !patch, 1600)
        .or_else(|| existing.map(|e| e.message.clone()));
    if let Some(m) = &message {
        for problem in check_template(m) {
            f.error(
                "message",
                format!("at character {}: {}", problem.offset + 1, problem.message),
            );
        }
        let s = segments(m);
        if s.segments > MAX_SEGMENTS {
            f.error(
                "message",
                format!(
                    "{} segments ({} {} characters): at most {MAX_SEGMENTS}",
                    s.segments,
                    s.characters,
                    s.encoding.as_str()
                ),
            );
        }
    }
    let inbox = f
        .string("inbox", !patch, 64)
        .or_else(|| existing.map(|e| e.inbox.clone()));
    if let Some(i) = &inbox {
        if f.get("inbox").is_some() && !inboxes.contains(i) {
            let known = if inboxes.is_empty() {
                "this site has no inbox yet (PUT /sms/inboxes/{id})".to_owned()
            } else {
                format!("known: {}", inboxes.join(", "))
            };
            f.error("inbox", format!("no inbox \"{i}\": {known}"));
        }
    }
    let audience = match f.get("audience") {
        Some(a) => {
            parse_audience(Some(a), f.problems);
            a.clone()
        }
        None => existing.map_or_else(|| json!({}), |e| e.audience.clone()),
    };
    let scheduled_at = if f.obj.contains_key("scheduled_at") || !patch {
        match f.get("scheduled_at") {
            None => Some(now),
            Some(Value::String(s)) => match parse_instant(s) {
                Ok(t) if t < now - PAST_GRACE_MS => {
                    f.error(
                        "scheduled_at",
                        format!(
                            "{s} is in the past (now is {}): use a later time, or null for now",
                            format_instant(now)
                        ),
                    );
                    None
                }
                Ok(t) => Some(t.max(now)),
                Err(m) => {
                    f.error("scheduled_at", m);
                    None
                }
            },
            Some(_) => {
                f.error("scheduled_at", "must be an RFC 3339 date-time or null");
                None
            }
        }
    } else {
        existing.map(|e| e.scheduled_at)
    };
    let quiet_hours = if f.obj.contains_key("quiet_hours") || !patch {
        match f.get("quiet_hours") {
            None => None,
            Some(q) => {
                if let Some(mut qf) = Fields::new(q, "quiet_hours", f.problems) {
                    qf.only(&["from", "to"]);
                    let from = qf.string("from", true, 5).map(|s| (parse_hhmm(&s), s));
                    let to = qf.string("to", true, 5).map(|s| (parse_hhmm(&s), s));
                    if let Some((Err(m), _)) = &from {
                        qf.error("from", m.clone());
                    }
                    if let Some((Err(m), _)) = &to {
                        qf.error("to", m.clone());
                    }
                    if let (Some((Ok(a), _)), Some((Ok(b), _))) = (&from, &to) {
                        if a == b {
                            qf.error("to", "quiet hours that start and end at the same time are empty: leave quiet_hours out");
                        }
                    }
                }
                Some(q.clone())
            }
        }
    } else {
        existing.and_then(|e| e.quiet_hours.clone())
    };
    let engagement = if f.obj.contains_key("engagement") || !patch {
        let e = f.string("engagement", false, 64);
        if let Some(e) = &e {
            if !facts.engagements.contains(e) {
                f.error(
                    "engagement",
                    format!("\"{e}\" is not an engagement of the active campaign document"),
                );
            }
        }
        e
    } else {
        existing.and_then(|e| e.engagement.clone())
    };
    problems(p)?;
    let missing = || ApiError::internal("campaign fields missing after validation");
    Ok(CampaignRow {
        site: site.to_owned(),
        id: id.ok_or_else(missing)?,
        title: title.ok_or_else(missing)?,
        message: message.ok_or_else(missing)?,
        inbox: inbox.ok_or_else(missing)?,
        audience,
        scheduled_at: scheduled_at.ok_or_else(missing)?,
        quiet_hours,
        engagement,
        status: existing.map_or_else(|| "scheduled".into(), |e| e.status.clone()),
        key: "owner".into(),
        created_at: existing.map_or(now, |e| e.created_at),
        updated_at: now.max(existing.map_or(0, |e| e.updated_at + 1)),
        started_at: None,
        completed_at: None,
        recipients: 0,
        opted_out: 0,
        duplicates: 0,
        no_consent: 0,
    })
}

/// The campaign as the API answers it, with its progress (or, while scheduled, the audience it
/// would reach now).
fn campaign_json(st: &AppState, row: &CampaignRow) -> Result<Value, ApiError> {
    let now = st.now();
    let progress = st.store.progress(&row.site, row, now)?;
    let size = if row.status == "scheduled" {
        estimate(st, &row.site, &audience_of(row))?.size
    } else {
        row.recipients as usize
    };
    Ok(json!({
        "id": row.id, "title": row.title, "message": row.message, "inbox": row.inbox,
        "audience": row.audience, "scheduled_at": instant(row.scheduled_at),
        "quiet_hours": row.quiet_hours, "engagement": row.engagement, "status": row.status,
        "key": row.key, "created_at": format_instant(row.created_at),
        "updated_at": format_instant(row.updated_at),
        "started_at": row.started_at.map(instant),
        "completed_at": row.completed_at.map(instant),
        "audience_size": size, "segments": segments(&row.message), "progress": progress,
    }))
}

/// An instant in RFC 3339 UTC, with milliseconds when it has any (schedules are exact).
pub fn instant(t: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format_instant(t))
}

fn estimate(st: &AppState, site: &str, audience: &Audience) -> Result<Estimate, ApiError> {
    st.sms
        .estimate(st, site, audience)
        .map_err(ApiError::internal)
}

fn inbox_ids(st: &AppState, site: &str) -> Result<Vec<String>, ApiError> {
    Ok(st.store.inboxes(site)?.into_iter().map(|i| i.id).collect())
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("no SMS campaign \"{id}\""))
}

fn conflict(id: &str, status: &str, what: &str) -> ApiError {
    ApiError::conflict(format!("campaign \"{id}\" is {status}: {what}"))
}

/// `POST /sms/campaigns` → 201, status `scheduled`.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/sms/campaigns", tag = "sms", params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::SmsCampaignInput, content_type = "application/json"),
    responses((status = 201, description = "Scheduled.", body = crate::openapi::schemas::SmsCampaign)))]
pub async fn create(
    State(st): State<AppState>,
    Path(site): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    let v = json_value(&body)?;
    let st2 = st.clone();
    let key = crate::auth::current_key();
    let out = run_blocking(move || {
        let inboxes = inbox_ids(&st2, &site)?;
        let mut row = read_campaign(&st2, &site, &v, None, &inboxes)?;
        row.key = key;
        if !st2.store.insert_campaign(&row)? {
            return Err(ApiError::conflict(format!(
                "an SMS campaign \"{}\" already exists",
                row.id
            )));
        }
        campaign_json(&st2, &row)
    })
    .await?;
    st.sms.schedule_changed();
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[utoipa::path(get, path = "/admin/v1/sites/{site}/sms/campaigns", tag = "sms", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "Every SMS campaign with its progress.", body = crate::openapi::schemas::SmsCampaigns)))]
pub async fn list(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    run_blocking(move || {
        let rows = st.store.campaigns(&site)?;
        let list: Result<Vec<Value>, ApiError> =
            rows.iter().map(|r| campaign_json(&st, r)).collect();
        Ok(Json(json!({"campaigns": list?})))
    })
    .await
}

#[utoipa::path(get, path = "/admin/v1/sites/{site}/sms/campaigns/{id}", tag = "sms", params(crate::openapi::params::SmsCampaignPath),
    responses((status = 200, description = "The campaign with its progress and report.", body = crate::openapi::schemas::SmsCampaign)))]
pub async fn get_one(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    ids::check("campaign", &id)?;
    run_blocking(move || {
        let row = st.store.campaign(&site, &id)?.ok_or_else(|| missing(&id))?;
        campaign_json(&st, &row).map(Json)
    })
    .await
}

/// `PATCH /sms/campaigns/{id}`: only while scheduled (else 409).
#[utoipa::path(patch, path = "/admin/v1/sites/{site}/sms/campaigns/{id}", tag = "sms", params(crate::openapi::params::SmsCampaignPath),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Any fields of the campaign, while it is scheduled (409 after).",
        example = json!({"scheduled_at": "2026-12-04T09:00:00Z"})),
    responses((status = 200, description = "Changed.", body = crate::openapi::schemas::SmsCampaign)))]
pub async fn patch(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    ids::check("campaign", &id)?;
    let v = json_value(&body)?;
    let st2 = st.clone();
    let key = crate::auth::current_key();
    let out = run_blocking(move || {
        let existing = st2
            .store
            .campaign(&site, &id)?
            .ok_or_else(|| missing(&id))?;
        if existing.status != "scheduled" {
            return Err(conflict(
                &id,
                &existing.status,
                "only a scheduled campaign can be edited",
            ));
        }
        let inboxes = inbox_ids(&st2, &site)?;
        let mut row = read_campaign(&st2, &site, &v, Some(&existing), &inboxes)?;
        row.key = key;
        match st2.store.update_campaign(&row)? {
            Change::Done => {}
            Change::Missing => return Err(missing(&id)),
            Change::Status(s) => {
                return Err(conflict(&id, &s, "only a scheduled campaign can be edited"))
            }
        }
        let row = st2
            .store
            .campaign(&site, &id)?
            .ok_or_else(|| missing(&id))?;
        campaign_json(&st2, &row)
    })
    .await?;
    st.sms.schedule_changed();
    Ok(Json(out))
}

/// `POST /sms/campaigns/{id}/cancel`: queued messages are not sent.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/sms/campaigns/{id}/cancel", tag = "sms", params(crate::openapi::params::SmsCampaignPath),
    responses((status = 200, description = "Cancelled: nothing more is sent.", body = crate::openapi::schemas::SmsCampaign)))]
pub async fn cancel(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    ids::check("campaign", &id)?;
    let st2 = st.clone();
    let out = run_blocking(move || {
        match st2.store.cancel_campaign(&site, &id, st2.now())? {
            Change::Done => {}
            Change::Missing => return Err(missing(&id)),
            Change::Status(s) => {
                return Err(conflict(
                    &id,
                    &s,
                    "only a scheduled or sending campaign can be cancelled",
                ))
            }
        }
        let row = st2
            .store
            .campaign(&site, &id)?
            .ok_or_else(|| missing(&id))?;
        campaign_json(&st2, &row)
    })
    .await?;
    st.sms.schedule_changed();
    st.sms.progressed();
    Ok(Json(out))
}

/// `DELETE /sms/campaigns/{id}`: while scheduled, cancelled or completed (409 while sending).
#[utoipa::path(delete, path = "/admin/v1/sites/{site}/sms/campaigns/{id}", tag = "sms", params(crate::openapi::params::SmsCampaignPath),
    responses((status = 204, description = "Deleted (only while scheduled; 409 after).")))]
pub async fn delete(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    ids::check("campaign", &id)?;
    let store = st.store.clone();
    let id2 = id.clone();
    match run_blocking(move || Ok(store.delete_campaign(&site, &id2)?)).await? {
        Change::Done => {
            st.sms.schedule_changed();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Change::Missing => Err(missing(&id)),
        Change::Status(s) => Err(conflict(
            &id,
            &s,
            "cancel it first, or wait until it completes",
        )),
    }
}

/// `GET /sms/campaigns/{id}/stream`: the campaign as SSE `data:` on every change (checked on
/// each outbox change and every second), until the client leaves or the server stops.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/sms/campaigns/{id}/stream", tag = "sms", params(crate::openapi::params::SmsCampaignPath),
    responses((status = 200, description = "Server-Sent Events: the campaign on connect and on every change of its progress.",
        content_type = "text/event-stream", body = String)))]
pub async fn stream(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    ids::check("campaign", &id)?;
    let st2 = st.clone();
    let (s2, i2) = (site.clone(), id.clone());
    let first = run_blocking(move || {
        let row = st2.store.campaign(&s2, &i2)?.ok_or_else(|| missing(&i2))?;
        campaign_json(&st2, &row)
    })
    .await?;
    let changes = st.sms.subscribe();
    let shutdown = st.shutdown.subscribe();
    let stream = futures_util::stream::unfold(
        (st, site, id, changes, shutdown, Some(first), String::new()),
        |(st, site, id, mut changes, mut shutdown, pending, mut last)| async move {
            let mut pending = pending;
            loop {
                if let Some(v) = pending.take() {
                    let text = v.to_string();
                    if text != last {
                        last = text.clone();
                        let ev = SseEvent::default().event("progress").data(text);
                        return Some((
                            Ok::<_, Infallible>(ev),
                            (st, site, id, changes, shutdown, None, last),
                        ));
                    }
                }
                if *shutdown.borrow() {
                    return None;
                }
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|s| *s) => return None,
                }
                // Coalesce bursts: at most a few updates a second.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (st2, s2, i2) = (st.clone(), site.clone(), id.clone());
                let next = run_blocking(move || {
                    let row = st2.store.campaign(&s2, &i2)?.ok_or_else(|| missing(&i2))?;
                    campaign_json(&st2, &row)
                })
                .await;
                match next {
                    Ok(v) => pending = Some(v),
                    Err(_) => return None,
                }
            }
        },
    );
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// `POST /sms/preview` `{"message"}` → encoding, characters, segments, characters_per_segment.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/sms/preview", tag = "sms", params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::SmsPreviewInput, content_type = "application/json"),
    responses((status = 200, description = "Segments, encoding and placeholder problems.", body = crate::openapi::schemas::SmsPreview)))]
pub async fn preview(Path(site): Path<String>, Body(body): Body) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let v = json_value(&body)?;
    let mut p = Vec::new();
    let mut message = None;
    if let Some(mut f) = Fields::new(&v, "", &mut p) {
        f.only(&["message"]);
        message = match f.get("message") {
            Some(Value::String(s)) if s.chars().count() <= 10_000 => Some(s.clone()),
            Some(Value::String(_)) => {
                f.error("message", "at most 10000 characters");
                None
            }
            Some(_) => {
                f.error("message", "must be a string");
                None
            }
            None => {
                f.error("message", "is required");
                None
            }
        };
    }
    problems(p)?;
    let message = message.unwrap_or_default();
    let mut out = serde_json::to_value(segments(&message)).map_err(ApiError::internal)?;
    let placeholder_problems: Vec<Value> = check_template(&message)
        .into_iter()
        .map(|p| json!({"offset": p.offset, "message": p.message}))
        .collect();
    out["problems"] = Value::from(placeholder_problems);
    out["max_segments"] = Value::from(MAX_SEGMENTS);
    Ok(Json(out))
}

/// `POST /sms/audience` `{"audience"}` → how many distinct numbers it selects now.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/sms/audience", tag = "sms", params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::AudienceInput, content_type = "application/json"),
    responses((status = 200, description = "How many distinct numbers the audience selects now.", body = crate::openapi::schemas::AudienceSize)))]
pub async fn audience(
    State(st): State<AppState>,
    Path(site): Path<String>,
    Body(body): Body,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let v = json_value(&body)?;
    let mut p = Vec::new();
    let mut a = Audience::default();
    if let Some(mut f) = Fields::new(&v, "", &mut p) {
        f.only(&["audience"]);
        let given = f.get("audience");
        a = parse_audience(given, f.problems);
    }
    problems(p)?;
    run_blocking(move || {
        let e = estimate(&st, &site, &a)?;
        let sample = e
            .sample
            .map(|(id, name, phone)| json!({"id": id, "name": name, "phone": phone}));
        Ok(Json(json!({
            "size": e.size, "opted_out": e.opted_out,
            "duplicates": e.duplicates, "no_consent": e.no_consent,
            "sample": sample,
        })))
    })
    .await
}
