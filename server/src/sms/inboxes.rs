//! `PUT/GET/DELETE /sms/inboxes/{inbox}`, `GET /sms/inboxes`, `GET /sms/opt-outs`. Secrets are
//! never returned; each inbox's webhook URLs (with its secret) are.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engage_engine::schedule::format_instant;
use serde_json::{json, Value};

use super::provider::Provider;
use super::{base_url, json_value, phone, problems, Fields};
use crate::error::{ApiError, Body, Detail};
use crate::ids;
use crate::publish::run_blocking;
use crate::store::sms::{Change, InboxRow};
use crate::AppState;

pub const MAX_RATE: u32 = 1000;

/// The two webhook URLs of an inbox: delivery reports, and replies (for Kannel, the smsbox
/// `get-url` with its `%p`, `%P`, `%a` escapes as `from`, `to`, `text`).
pub fn webhooks(st: &AppState, row: &InboxRow) -> Value {
    let base = base_url(st);
    let path = format!("{base}/v1/sms/{}/{}", row.site, row.id);
    let secret = &row.webhook_secret;
    let inbound = match row.provider.as_str() {
        "kannel" => format!("{path}/inbound?secret={secret}&from=%p&to=%P&text=%a"),
        _ => format!("{path}/inbound?secret={secret}"),
    };
    json!({"status": format!("{path}/status?secret={secret}"), "inbound": inbound})
}

pub fn inbox_json(st: &AppState, row: &InboxRow) -> Value {
    let mut v = json!({
        "id": row.id, "name": row.name, "provider": row.provider, "from": row.from,
        "rate_per_second": row.rate_per_second, "help_text": row.help_text,
        "webhooks": webhooks(st, row),
        "created_at": format_instant(row.created_at), "updated_at": format_instant(row.updated_at),
    });
    if let Ok(p) = Provider::parse(&row.provider, Some(&row.config), None) {
        v[p.name()] = p.masked();
    }
    v
}

/// A sender: an E.164 number, or an alphanumeric sender id of up to 11 characters.
fn check_from(from: &str) -> Result<String, String> {
    if from.starts_with('+') {
        return phone::parse(from, None);
    }
    let ok = (1..=11).contains(&from.len())
        && from.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && from.chars().any(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(from.to_owned())
    } else {
        Err(format!(
            "\"{from}\" is not a sender: use an E.164 number (+447400123000) or up to 11 letters and digits"
        ))
    }
}

fn random_secret() -> Result<String, ApiError> {
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(crate::auth::hex(&raw))
}

/// `PUT /sms/inboxes/{inbox}`: creates or replaces an inbox (the webhook secret stays).
#[utoipa::path(put, path = "/admin/v1/sites/{site}/sms/inboxes/{inbox}", tag = "sms", params(crate::openapi::params::InboxPath),
    request_body(content = crate::openapi::schemas::InboxInput, content_type = "application/json",
        description = "With the provider's settings under its name (`kannel`, `cm`, `twilio`; see the README)."),
    responses(
        (status = 201, description = "Created.", body = crate::openapi::schemas::Inbox),
        (status = 200, description = "Replaced (the webhook secret stays).", body = crate::openapi::schemas::Inbox),
    ))]
pub async fn put(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    ids::check("inbox", &id)?;
    let v = json_value(&body)?;
    let store = st.store.clone();
    let (s2, i2) = (site.clone(), id.clone());
    let previous = run_blocking(move || Ok(store.inbox(&s2, &i2)?)).await?;
    let mut p: Vec<Detail> = Vec::new();
    let mut row = None;
    if let Some(mut f) = Fields::new(&v, "", &mut p) {
        f.only(&[
            "name",
            "provider",
            "from",
            "rate_per_second",
            "help_text",
            "kannel",
            "cm",
            "twilio",
        ]);
        let name = f.string("name", true, 100);
        let provider = f.string("provider", true, 16);
        let from = f.string("from", true, 32);
        if let Some(from) = &from {
            if let Err(m) = check_from(from) {
                f.error("from", m);
            }
        }
        let rate = match f.get("rate_per_second") {
            None => Some(10),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(r) if (1..=u64::from(MAX_RATE)).contains(&r) => Some(r as u32),
                _ => {
                    f.error(
                        "rate_per_second",
                        format!("a whole number from 1 to {MAX_RATE}"),
                    );
                    None
                }
            },
            Some(_) => {
                f.error("rate_per_second", "must be a number");
                None
            }
        };
        let help_text = f.string("help_text", false, 320);
        let parsed = provider.as_deref().map(|name| {
            Provider::parse(
                name,
                f.get(name),
                previous
                    .as_ref()
                    .filter(|p| p.provider == name)
                    .map(|p| &p.config),
            )
        });
        match parsed {
            Some(Err(details)) => f.problems.extend(details),
            Some(Ok(prov)) => {
                for other in ["kannel", "cm", "twilio"] {
                    if other != prov.name() && f.get(other).is_some() {
                        f.error(other, format!("this inbox's provider is {}", prov.name()));
                    }
                }
                if let (Some(name), Some(from), Some(rate)) = (name, from, rate) {
                    let now = st.now();
                    let secret = match &previous {
                        Some(p) => p.webhook_secret.clone(),
                        None => random_secret()?,
                    };
                    row = Some(InboxRow {
                        site: site.clone(),
                        id: id.clone(),
                        name,
                        provider: prov.name().into(),
                        from: check_from(&from).unwrap_or(from),
                        rate_per_second: rate,
                        help_text,
                        config: prov.config(),
                        webhook_secret: secret,
                        created_at: previous.as_ref().map_or(now, |p| p.created_at),
                        updated_at: now,
                    });
                }
            }
            None => {}
        }
    }
    problems(p)?;
    let row = row.ok_or_else(|| ApiError::internal("inbox not built"))?;
    let store = st.store.clone();
    let r2 = row.clone();
    let created = run_blocking(move || Ok(store.put_inbox(&r2)?)).await?;
    st.sms.inbox_changed(&site, &id);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(inbox_json(&st, &row))).into_response())
}

#[utoipa::path(get, path = "/admin/v1/sites/{site}/sms/inboxes/{inbox}", tag = "sms", params(crate::openapi::params::InboxPath),
    responses((status = 200, description = "The inbox, its credentials masked, with its webhook URLs.", body = crate::openapi::schemas::Inbox)))]
pub async fn get_one(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    ids::check("inbox", &id)?;
    let store = st.store.clone();
    let row = run_blocking(move || Ok(store.inbox(&site, &id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("no such inbox"))?;
    Ok(Json(inbox_json(&st, &row)))
}

#[utoipa::path(get, path = "/admin/v1/sites/{site}/sms/inboxes", tag = "sms", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "Every inbox.", body = crate::openapi::schemas::Inboxes)))]
pub async fn list(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let store = st.store.clone();
    let rows = run_blocking(move || Ok(store.inboxes(&site)?)).await?;
    Ok(Json(
        json!({"inboxes": rows.iter().map(|r| inbox_json(&st, r)).collect::<Vec<_>>()}),
    ))
}

/// `DELETE /sms/inboxes/{inbox}`: 409 while a scheduled or sending campaign uses it.
#[utoipa::path(delete, path = "/admin/v1/sites/{site}/sms/inboxes/{inbox}", tag = "sms", params(crate::openapi::params::InboxPath),
    responses((status = 204, description = "Deleted (409 while a scheduled or sending campaign uses it).")))]
pub async fn delete(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    ids::check("inbox", &id)?;
    let store = st.store.clone();
    match run_blocking(move || Ok(store.delete_inbox(&site, &id)?)).await? {
        Change::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        Change::Missing => Err(ApiError::not_found("no such inbox")),
        Change::Status(campaign) => Err(ApiError::conflict(format!(
            "campaign \"{campaign}\" is scheduled or sending through this inbox"
        ))),
    }
}

/// `GET /sms/opt-outs`.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/sms/opt-outs", tag = "sms", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "Numbers that replied STOP (or were opted out).", body = crate::openapi::schemas::OptOuts)))]
pub async fn opt_outs(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let store = st.store.clone();
    let rows = run_blocking(move || Ok(store.opt_outs(&site)?)).await?;
    Ok(Json(json!({"opt_outs": rows})))
}
