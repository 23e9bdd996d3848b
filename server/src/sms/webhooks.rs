//! Public SMS webhooks: `/v1/sms/{site}/{inbox}/status` (delivery reports) and
//! `/v1/sms/{site}/{inbox}/inbound` (replies). Authenticated by the inbox's secret (constant-time
//! comparison; 401 otherwise), bounded, validated, never a 500 for what a provider sends.
//! Parameters come from the query string (Kannel's `dlr-url` and `get-url`) or a form body.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use engage_engine::sms::{keyword, Keyword};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

use super::provider::{Provider, WebhookRequest};
use super::{base_url, phone, sender, site_facts};
use crate::error::{ApiError, Body};
use crate::ids;
use crate::publish::run_blocking;
use crate::store::sms::InboxRow;
use crate::AppState;

const MAX_PARAM: usize = 4096;

/// A webhook request's parts, bounded: query, form body and JSON body.
struct Parts {
    url: String,
    query: HashMap<String, String>,
    form: Vec<(String, String)>,
    json: Option<serde_json::Value>,
}

fn parts(
    st: &AppState,
    uri: &Uri,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Parts, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form: Vec<(String, String)> = if ctype.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    } else {
        Vec::new()
    };
    let json = if ctype.starts_with("application/json") && !body.is_empty() {
        Some(serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("invalid_webhook", format!("the body is not JSON: {e}"))
        })?)
    } else {
        None
    };
    let too_many = query.len() + form.len() > 128;
    let too_long = query
        .iter()
        .chain(form.iter().map(|(k, v)| (k, v)))
        .any(|(k, v)| k.len() > 64 || v.len() > MAX_PARAM);
    if too_many || too_long {
        return Err(ApiError::bad_request(
            "invalid_webhook",
            "too many or too long parameters",
        ));
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Ok(Parts {
        url: format!("{}{path}", base_url(st)),
        query,
        form,
        json,
    })
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "unknown inbox or wrong webhook secret",
    )
}

/// The inbox and its provider, when the request authenticates (the secret, or the provider's
/// own signature).
async fn authenticate(
    st: &AppState,
    site: &str,
    inbox: &str,
    p: &Parts,
    headers: &HeaderMap,
) -> Result<(InboxRow, Provider), ApiError> {
    if !ids::is_id(site) || !ids::is_id(inbox) {
        return Err(unauthorized());
    }
    let given = p
        .query
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
    let row = run_blocking(move || Ok(store.inbox(&s, &i)?))
        .await?
        .ok_or_else(unauthorized)?;
    let provider =
        Provider::parse(&row.provider, Some(&row.config), None).map_err(|_| unauthorized())?;
    let req = WebhookRequest {
        url: &p.url,
        headers,
        query: &p.query,
        form: &p.form,
        json: p.json.as_ref(),
        secret_ok: bool::from(row.webhook_secret.as_bytes().ct_eq(given.as_bytes())),
    };
    if provider.webhooks().authenticate(&req) {
        Ok((row, provider))
    } else {
        Err(unauthorized())
    }
}

fn request<'a>(p: &'a Parts, headers: &'a HeaderMap) -> WebhookRequest<'a> {
    WebhookRequest {
        url: &p.url,
        headers,
        query: &p.query,
        form: &p.form,
        json: p.json.as_ref(),
        secret_ok: true,
    }
}

/// An authenticated webhook request: the extractor carries the inbox's authentication once, for
/// both routes (a wrong secret or signature is a 401 before any handler runs).
pub struct Webhook {
    inbox: InboxRow,
    provider: Provider,
    parts: Parts,
    headers: HeaderMap,
}

impl Webhook {
    fn request(&self) -> WebhookRequest<'_> {
        request(&self.parts, &self.headers)
    }
}

impl axum::extract::FromRequest<AppState> for Webhook {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, ApiError> {
        use axum::extract::FromRequestParts;
        let (mut head, body) = req.into_parts();
        let Path((site, inbox)) = Path::<(String, String)>::from_request_parts(&mut head, st)
            .await
            .map_err(|_| unauthorized())?;
        let uri = head
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| head.uri.clone(), |o| o.0.clone());
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(&mut head, st)
            .await
            .map_err(|_| {
                ApiError::bad_request("invalid_webhook", "the query string cannot be read")
            })?;
        let headers = head.headers.clone();
        let Body(bytes) =
            Body::from_request(axum::extract::Request::from_parts(head, body), st).await?;
        let p = parts(st, &uri, query, &headers, &bytes)?;
        let (inbox, provider) = authenticate(st, &site, &inbox, &p, &headers).await?;
        Ok(Webhook {
            inbox,
            provider,
            parts: p,
            headers,
        })
    }
}

fn answer(ctype: &'static str, body: &'static str) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

/// Delivery reports, in each provider's format.
#[utoipa::path(method(get, post), path = "/v1/sms/{site}/{inbox}/status", tag = "sms", params(crate::openapi::params::InboxPath),
    responses((status = 200, description = "Taken (each provider gets the answer it expects).", content_type = "text/plain", body = String)))]
pub async fn status(State(st): State<AppState>, hook: Webhook) -> Result<Response, ApiError> {
    let reports = hook
        .provider
        .webhooks()
        .status_reports(&hook.request())
        .map_err(|m| ApiError::bad_request("invalid_webhook", m))?;
    let inbox = hook.inbox;
    let st2 = st.clone();
    let updated = run_blocking(move || {
        let mut any = false;
        for r in reports {
            // Replies we sent carry an `r…` reference: they are not outbox rows.
            let Ok(id) = r.reference.parse::<i64>() else {
                continue;
            };
            any |= st2
                .store
                .delivery_report(&inbox.site, &inbox.id, id, r.status, &r.detail, st2.now())?
                .is_some();
        }
        Ok(any)
    })
    .await?;
    if updated {
        st.sms.progressed();
    }
    Ok(answer("text/plain", ""))
}

/// An inbound message. Keywords opt out / in / ask for help; anything else is a reply, logged
/// against the campaign of the message it answers (when the provider names it, as CM does),
/// else the campaign that last texted the number.
#[utoipa::path(method(get, post), path = "/v1/sms/{site}/{inbox}/inbound", tag = "sms", params(crate::openapi::params::InboxPath),
    responses((status = 200, description = "Taken; a reply becomes a conversation or an opt-out (Twilio gets empty TwiML).",
        content(("text/plain"), ("text/xml"), ("application/xml")))))]
pub async fn inbound(State(st): State<AppState>, hook: Webhook) -> Result<Response, ApiError> {
    let msg = hook
        .provider
        .webhooks()
        .inbound(&hook.request())
        .map_err(|m| ApiError::bad_request("invalid_webhook", m))?;
    let (ctype, reply_body) = hook.provider.webhooks().inbound_answer();
    let inbox = hook.inbox;
    let raw_from = msg.from;
    let text = msg.text;
    let reference = msg.reference.and_then(|r| r.parse::<i64>().ok());
    let country = site_facts(&st, &inbox.site).default_country;
    // Gateways send `+44…`, `44…` or `0044…`; a bare international number has no `+`.
    let from = phone::parse(&raw_from, country.as_deref())
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
        // The message it answers when the provider says (CM), else the last one to the number.
        let answered = match reference {
            Some(id) => store.campaign_of_row(&i2.site, &i2.id, id, &f2)?,
            None => None,
        };
        let campaign = match &answered {
            Some(c) => Some(c.clone()),
            None => store.last_campaign_to(&i2.site, &f2)?,
        };
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
        if kw.is_none() {
            crate::conversations::on_sms_reply(&st2, &i2, &f2, &t2, answered.as_deref(), now)?;
        }
        Ok(match kw {
            Some(Keyword::Stop) => store.opt_out(&i2.site, &f2, "keyword", now)?,
            Some(Keyword::Start) => store.opt_in(&i2.site, &f2)?,
            _ => false,
        })
    })
    .await?;
    st.sms.progressed();
    if changed {
        st.sms.contacts_changed(&inbox.site);
    }
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
    Ok(answer(ctype, reply_body))
}
