//! Public SMS webhooks: `/v1/sms/{site}/{inbox}/status` (delivery reports) and
//! `/v1/sms/{site}/{inbox}/inbound` (replies). Authenticated by the inbox's secret (constant-time
//! comparison; 401 otherwise), bounded, validated, never a 500 for what a provider sends.
//! Parameters come from the query string (Kannel's `dlr-url` and `get-url`) or a form body.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use engage_engine::sms::{keyword, Keyword};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

use super::provider::kannel::dlr_status;
use super::{phone, sender, site_facts};
use crate::error::{ApiError, Body};
use crate::ids;
use crate::publish::run_blocking;
use crate::store::sms::InboxRow;
use crate::AppState;

const MAX_PARAM: usize = 4096;

/// Query and form parameters together (form wins), each bounded.
fn params(
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, ApiError> {
    let mut all = query;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        for (k, v) in url::form_urlencoded::parse(body) {
            all.insert(k.into_owned(), v.into_owned());
        }
    }
    if all.len() > 64 || all.iter().any(|(k, v)| k.len() > 64 || v.len() > MAX_PARAM) {
        return Err(ApiError::bad_request(
            "invalid_webhook",
            "too many or too long parameters",
        ));
    }
    Ok(all)
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "unknown inbox or wrong webhook secret",
    )
}

/// The inbox, when `secret` is its webhook secret.
async fn authenticate(
    st: &AppState,
    site: &str,
    inbox: &str,
    p: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<InboxRow, ApiError> {
    if !ids::is_id(site) || !ids::is_id(inbox) {
        return Err(unauthorized());
    }
    let given = p
        .get("secret")
        .cloned()
        .or_else(|| {
            headers
                .get("x-engage-secret")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let store = st.store.clone();
    let (s, i) = (site.to_owned(), inbox.to_owned());
    let row = run_blocking(move || Ok(store.inbox(&s, &i)?)).await?;
    match row {
        Some(r) if bool::from(r.webhook_secret.as_bytes().ct_eq(given.as_bytes())) => Ok(r),
        _ => Err(unauthorized()),
    }
}

fn ok() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

/// Delivery report: `msg` (our outbox row) and `type` (Kannel's `%d`).
pub async fn status(
    State(st): State<AppState>,
    Path((site, inbox)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = params(query, &headers, &body)?;
    let inbox = authenticate(&st, &site, &inbox, &p, &headers).await?;
    let kind: u32 = p.get("type").and_then(|t| t.parse().ok()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_webhook",
            "type is required: a Kannel delivery report type (%d)",
        )
    })?;
    let reference = p
        .get("msg")
        .ok_or_else(|| ApiError::bad_request("invalid_webhook", "msg is required"))?;
    // Replies we sent carry an `r…` reference: they are not outbox rows.
    let Ok(id) = reference.parse::<i64>() else {
        return Ok(ok());
    };
    let status = dlr_status(kind).to_owned();
    let detail = format!("kannel type {kind}");
    let st2 = st.clone();
    let updated = run_blocking(move || {
        Ok(st2
            .store
            .delivery_report(&inbox.site, &inbox.id, id, &status, &detail, st2.now())?)
    })
    .await?;
    if updated.is_some() {
        st.sms.progressed();
    }
    Ok(ok())
}

/// An inbound message: `from`, `to`, `text`. Keywords opt out / in / ask for help; anything else
/// is a reply, logged against the campaign that last texted the number.
pub async fn inbound(
    State(st): State<AppState>,
    Path((site, inbox)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = params(query, &headers, &body)?;
    let inbox = authenticate(&st, &site, &inbox, &p, &headers).await?;
    let raw_from = p
        .get("from")
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_webhook", "from is required"))?;
    let text = p.get("text").cloned().unwrap_or_default();
    let country = site_facts(&st, &inbox.site).default_country;
    // Gateways send `+44…`, `44…` or `0044…`; a bare international number has no `+`.
    let from = phone::parse(raw_from, country.as_deref())
        .or_else(|_| phone::parse(&format!("+{}", raw_from.trim()), None))
        .map_err(|m| ApiError::bad_request("invalid_webhook", format!("from: {m}")))?;
    let kw = keyword(&text);
    let kind = match kw {
        Some(Keyword::Stop) => "stop",
        Some(Keyword::Start) => "start",
        Some(Keyword::Help) => "help",
        None => "reply",
    };
    let st2 = st.clone();
    let (i2, f2, t2) = (inbox.clone(), from.clone(), text.clone());
    let changed = run_blocking(move || {
        let now = st2.now();
        let store = &st2.store;
        let campaign = store.last_campaign_to(&i2.site, &f2)?;
        store.log_message(
            &i2.site,
            &i2.id,
            "in",
            &f2,
            &t2,
            kind,
            campaign.as_deref(),
            now,
        )?;
        Ok(match kw {
            Some(Keyword::Stop) => store.opt_out(&i2.site, &f2, "keyword", now)?,
            Some(Keyword::Start) => store.opt_in(&i2.site, &f2)?,
            _ => false,
        })
    })
    .await?;
    st.sms.progressed();
    let reply = match kw {
        Some(Keyword::Stop) if changed => Some((
            format!(
                "{}: you will get no more messages from us. Reply START to subscribe again.",
                inbox.name
            ),
            "stop_confirmation",
        )),
        Some(Keyword::Start) if changed => Some((
            format!(
                "{}: you are subscribed again. Reply STOP to opt out.",
                inbox.name
            ),
            "start_confirmation",
        )),
        Some(Keyword::Help) => Some((
            inbox
                .help_text
                .clone()
                .unwrap_or_else(|| format!("{}: reply STOP to opt out.", inbox.name)),
            "help_reply",
        )),
        _ => None,
    };
    if let Some((text, kind)) = reply {
        let st2 = st.clone();
        tokio::spawn(async move {
            sender::send_reply(&st2, &inbox, &from, &text, kind).await;
        });
    }
    Ok(ok())
}
