//! Public API: bundle, availability (+ SSE), events ingest. CORS is open on these.

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use engage_engine::visit::{Event, EventKind};
use futures_util::stream::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{parse_json, ApiError, Body, Detail};
use crate::ids;
use crate::metrics::SseGuard;
use crate::publish::{refresh, refresh_soon, run_blocking};
use crate::state::{Site, REFRESH_MARGIN_MS};
use crate::AppState;

/// The bundle and availability change without their URL changing: clients revalidate every
/// time (a 304 is a few bytes), so an upload or rollback reaches the next page view.
const REVALIDATE: &str = "public, no-cache";

/// Most events in one batch.
pub const MAX_EVENTS: usize = 200;
/// Largest events body.
pub const MAX_EVENTS_BYTES: usize = 64 * 1024;

fn known_site(st: &AppState, site: &str) -> Result<Arc<Site>, ApiError> {
    ids::check("site", site)?;
    st.sites
        .get(site)
        .filter(|s| s.is_known())
        .ok_or_else(|| ApiError::not_found(format!("unknown site \"{site}\"")))
}

/// `GET /v1/sites/{site}/bundle`.
#[utoipa::path(get, path = "/v1/sites/{site}/bundle", tag = "public", params(crate::openapi::params::SitePath),
    responses(
        (status = 200, description = "The compiled bundle of the active version (ETag; `x-engage-version`).",
            body = crate::openapi::schemas::Bundle),
        (status = 304, description = "Not modified (`If-None-Match` matched the ETag)."),
    ))]
pub async fn bundle(
    State(st): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    let s = st.sites.get(&site);
    let Some((s, mut active)) = s.and_then(|s| s.active().map(|a| (s, a))) else {
        return Err(ApiError::not_found(format!(
            "site \"{site}\" has no active campaign document"
        )));
    };
    let now = st.now();
    if now + REFRESH_MARGIN_MS >= active.valid_until() {
        if now >= active.valid_until() {
            // Expired: every schedule would read closed. Recompile before answering.
            if let Err(e) = refresh(&st, s.clone()).await {
                tracing::warn!(site = %site, "bundle refresh failed: {}", e.message);
            }
            if let Some(a) = s.active() {
                active = a;
            }
        } else {
            refresh_soon(&st, &s);
        }
    }
    let mut res = active.body.respond(&headers, REVALIDATE);
    res.headers_mut()
        .insert("x-engage-version", HeaderValue::from(active.version));
    Ok(res)
}

/// `GET /v1/sites/{site}/availability`.
#[utoipa::path(get, path = "/v1/sites/{site}/availability", tag = "public", params(crate::openapi::params::SitePath),
    responses(
        (status = 200, description = "Every fed skill with its state.", body = crate::openapi::schemas::Availability),
        (status = 304, description = "Not modified."),
    ))]
pub async fn availability(
    State(st): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = known_site(&st, &site)?;
    Ok(s.availability().body.respond(&headers, REVALIDATE))
}

/// `GET /v1/sites/{site}/availability/stream`: the same JSON as Server-Sent Events, one message
/// on connect and one per change; comments every 15 s keep proxies from closing the stream.
#[utoipa::path(get, path = "/v1/sites/{site}/availability/stream", tag = "public", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "Server-Sent Events: the availability JSON on connect and on every change.",
        content_type = "text/event-stream", body = String)))]
pub async fn availability_stream(
    State(st): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
    Peer(peer): Peer,
) -> Result<Response, ApiError> {
    let s = known_site(&st, &site)?;
    let ip = client_ip(&st, &headers, peer)
        .parse::<std::net::IpAddr>()
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let Some(ticket) = st.streams.admit(ip) else {
        st.metrics.sse_refused.fetch_add(1, Ordering::Relaxed);
        let mut e = ApiError::rate_limited(5);
        e.message = format!(
            "this address already holds {} availability streams: close one first",
            st.streams.per_address
        );
        return Err(e);
    };
    let mut rx = s.subscribe();
    rx.mark_changed();
    let shutdown = st.shutdown.subscribe();
    let guard = SseGuard::new(&st);
    let stream = sse_stream(rx, shutdown, (guard, ticket));
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

fn sse_stream(
    rx: tokio::sync::watch::Receiver<Arc<crate::state::AvailSnapshot>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    guard: (SseGuard, crate::limits::Ticket),
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(
        (rx, shutdown, guard, true),
        |(mut rx, mut shutdown, guard, first)| async move {
            if *shutdown.borrow() {
                return None;
            }
            let snap = tokio::select! {
                changed = rx.changed() => changed.ok().map(|()| rx.borrow_and_update().clone()),
                _ = shutdown.wait_for(|s| *s) => None,
                // The server holds its total of streams: the one idle longest makes room.
                _ = guard.1.shed.notified() => None,
            }?;
            guard.1.touch();
            let data = std::str::from_utf8(&snap.body.identity).unwrap_or("{}");
            let mut ev = SseEvent::default().data(data);
            if first {
                ev = ev.retry(Duration::from_secs(3));
            }
            Some((Ok(ev), (rx, shutdown, guard, false)))
        },
    )
}

/// The peer address when the server runs with connect info (tests through `oneshot` have none).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    visitor: String,
    events: Vec<Event>,
    /// The visitor's attributes, sent with batches that hold an accept (the conversation's
    /// hand-off carries them).
    #[serde(default)]
    attributes: Option<serde_json::Value>,
}

/// Largest `attributes` of a batch, as JSON.
const MAX_BATCH_ATTRIBUTES: usize = 8 * 1024;

/// Client address for rate limits: the peer, or what a trusted proxy forwarded (`--trusted-proxy`).
pub fn client_ip(st: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let header =
        st.config
            .client_ip_header
            .clone()
            .unwrap_or(axum::http::header::HeaderName::from_static(
                "x-forwarded-for",
            ));
    crate::limits::client_addr(peer, headers, &header, &st.config.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// Largest plausible clock skew of an event's `at` (client clock) from the server's; beyond it
/// the event is stored at its arrival time.
const MAX_FUTURE_MS: i64 = 24 * 3_600_000;
const MAX_PAST_MS: i64 = 30 * 86_400_000;

fn validate_events(events: &mut [Event], now: i64) -> Vec<Detail> {
    let mut problems = Vec::new();
    for (i, e) in events.iter_mut().enumerate() {
        let mut bad = |field: &str, msg: &str| {
            if problems.len() < 50 {
                problems.push(Detail::new(format!("events[{i}].{field}"), msg));
            }
        };
        let id_field = |v: &Option<String>| v.as_deref().is_none_or(ids::is_id);
        if !id_field(&e.campaign) {
            bad("campaign", "not a valid id");
        }
        if !id_field(&e.engagement) {
            bad("engagement", "not a valid id");
        }
        // An empty zone reads as none (offsite engagements have no zone).
        if let Some(z) = e.zone.as_ref().filter(|z| !z.is_empty()) {
            if !ids::is_label(z, 80) {
                bad("zone", "at most 80 printable characters");
            }
        }
        if let Some(n) = &e.name {
            if !ids::is_label(n, 100) {
                bad("name", "1 to 100 printable characters");
            }
        }
        if let Some(v) = e.value {
            if !v.is_finite() || v.abs() > 1e12 {
                bad("value", "a number between -1e12 and 1e12");
            }
        }
        match e.kind {
            EventKind::Goal => {
                if e.name.is_none() {
                    bad("name", "goal events need a name");
                }
            }
            _ => {
                if e.campaign.is_none() {
                    bad("campaign", "required for this event type");
                }
                if e.engagement.is_none() {
                    bad("engagement", "required for this event type");
                }
            }
        }
        if e.at > now + MAX_FUTURE_MS || e.at < now - MAX_PAST_MS {
            e.at = now;
        }
    }
    problems
}

/// `POST /v1/sites/{site}/events`: `{"visitor": "<id>", "events": [Event, ...]}`, any content
/// type (sendBeacon sends text/plain). 202 once stored.
#[utoipa::path(post, path = "/v1/sites/{site}/events", tag = "public", params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::EventBatch, content_type = "application/json",
        description = "Any content type is read as JSON (`sendBeacon` sends `text/plain`)."),
    responses((status = 202, description = "Stored (duplicates dropped).", body = crate::openapi::schemas::Accepted)))]
pub async fn events(
    State(st): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
    Peer(peer): Peer,
    body: Result<Body, ApiError>,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    let now_i = Instant::now();
    let ip = client_ip(&st, &headers, peer);
    if let Err(wait) = st.ip_limiter.check(&ip, now_i) {
        st.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::rate_limited(wait));
    }
    let Body(body) = body?;
    let s = st
        .sites
        .get(&site)
        .filter(|s| s.active().is_some())
        .ok_or_else(|| ApiError::not_found(format!("unknown site \"{site}\"")))?;
    let reject = |e: ApiError| {
        st.metrics.events_rejected.fetch_add(1, Ordering::Relaxed);
        e
    };
    let mut batch: Batch = parse_json(&body).map_err(reject)?;
    if !ids::is_visitor_id(&batch.visitor) {
        return Err(reject(ApiError::unprocessable(
            "invalid_events",
            "invalid visitor id",
            vec![Detail::new(
                "visitor",
                "1 to 64 characters of [A-Za-z0-9_-]",
            )],
        )));
    }
    if batch.events.len() > MAX_EVENTS {
        return Err(reject(ApiError::unprocessable(
            "invalid_events",
            format!("at most {MAX_EVENTS} events per batch"),
            vec![Detail::new(
                "events",
                format!("{} events", batch.events.len()),
            )],
        )));
    }
    if let Err(wait) = st
        .visitor_limiter
        .check(&format!("{site}\u{0}{}", batch.visitor), now_i)
    {
        st.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::rate_limited(wait));
    }
    let now = st.now();
    let problems = validate_events(&mut batch.events, now);
    if !problems.is_empty() {
        return Err(reject(ApiError::unprocessable(
            "invalid_events",
            "some events are invalid; the batch was not stored",
            problems,
        )));
    }
    let attributes = match batch.attributes.take() {
        None => serde_json::Value::Object(Default::default()),
        Some(a @ serde_json::Value::Object(_))
            if serde_json::to_string(&a).map_or(0, |t| t.len()) <= MAX_BATCH_ATTRIBUTES =>
        {
            a
        }
        Some(_) => {
            return Err(reject(ApiError::unprocessable(
                "invalid_events",
                "attributes must be an object of at most 8 KiB",
                vec![Detail::new(
                    "attributes",
                    "an object of at most 8 KiB of JSON",
                )],
            )))
        }
    };
    let site_id = s.id.clone();
    let st2 = st.clone();
    let stored = run_blocking(move || {
        let n = st2
            .store
            .insert_events(&site_id, &batch.visitor, &batch.events, now)?;
        crate::conversations::on_web_events(
            &st2,
            &site_id,
            &batch.visitor,
            &batch.events,
            &attributes,
        )?;
        Ok(n)
    })
    .await?;
    st.metrics
        .events_ingested
        .fetch_add(stored as u64, Ordering::Relaxed);
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"accepted": stored})),
    )
        .into_response())
}
