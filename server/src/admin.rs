//! Admin API (SPEC §6), behind the bearer token.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engage_engine::availability::SkillAvailability;
use engage_engine::schedule::parse_instant;
use engage_engine::script::{run, Script};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{parse_json, ApiError, Body, Detail};
use crate::ids;
use crate::publish::{self, compile_document, options, publish, run_blocking};
use crate::AppState;

fn utf8(body: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("invalid_json", "the request body is not UTF-8"))
}

fn created(p: publish::Published) -> Response {
    (StatusCode::CREATED, Json(p)).into_response()
}

/// `PUT /admin/v1/sites/{site}/campaigns`: a whole document → a new active version.
#[utoipa::path(put, path = "/admin/v1/sites/{site}/campaigns", tag = "campaigns", params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::CampaignDocument, content_type = "application/json"),
    responses((status = 201, description = "Stored as a new version and activated.", body = crate::openapi::schemas::Published)))]
pub async fn put_document(
    State(st): State<AppState>,
    Path(site): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    let text = utf8(&body)?;
    // Not JSON at all is a bad request (400); JSON breaking the document's rules is 422.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        return Err(ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        ));
    }
    let p = publish(&st, &site, "upload".into(), false, move |_| Ok(text)).await?;
    Ok(created(p))
}

/// `GET /admin/v1/sites/{site}/campaigns`: the active document, as uploaded (or as the last
/// single-campaign edit wrote it).
#[utoipa::path(get, path = "/admin/v1/sites/{site}/campaigns", tag = "campaigns", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "The active document as uploaded (`x-engage-version`).",
        body = crate::openapi::schemas::CampaignDocument)))]
pub async fn get_document(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    let store = st.store.clone();
    let site2 = site.clone();
    let v = run_blocking(move || Ok(store.active(&site2)?)).await?;
    let v = v.ok_or_else(|| no_document(&site))?;
    let mut res = v.document.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-engage-version", HeaderValue::from(v.version));
    Ok(res)
}

fn no_document(site: &str) -> ApiError {
    ApiError::not_found(format!("site \"{site}\" has no campaign document"))
}

/// `GET /admin/v1/sites/{site}/versions`: the history, newest first.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/versions", tag = "campaigns", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "The history, newest first.", body = crate::openapi::schemas::Versions)))]
pub async fn get_versions(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let store = st.store.clone();
    let site2 = site.clone();
    let versions = run_blocking(move || Ok(store.versions(&site2)?))
        .await?
        .ok_or_else(|| no_document(&site))?;
    let active = versions.iter().find(|v| v.active).map(|v| v.version);
    Ok(Json(
        json!({"site": site, "active": active, "versions": versions}),
    ))
}

/// `POST /admin/v1/sites/{site}/versions/{n}/activate`.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/versions/{version}/activate", tag = "campaigns",
    params(crate::openapi::params::VersionPath),
    responses((status = 200, description = "That version is now active (roll back or forward).",
        body = crate::openapi::schemas::Activated)))]
pub async fn activate(
    State(st): State<AppState>,
    Path((site, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let version: u64 = n.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
        ApiError::bad_request("invalid_version", "a version is a positive integer")
    })?;
    let s = st
        .sites
        .get(&site)
        .filter(|s| s.active().is_some())
        .ok_or_else(|| no_document(&site))?;
    publish::activate(&st, s, version).await?;
    Ok(Json(
        json!({"site": site, "version": version, "active": true}),
    ))
}

/// `GET .../campaigns/versions`: SPEC §6 also writes the history under `campaigns`.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/campaigns/versions", tag = "campaigns",
    params(crate::openapi::params::SitePath),
    responses((status = 200, description = "The history, newest first (as `GET .../versions`).",
        body = crate::openapi::schemas::Versions)))]
pub async fn get_campaign_versions(
    st: State<AppState>,
    site: Path<String>,
) -> Result<Json<Value>, ApiError> {
    get_versions(st, site).await
}

/// `POST .../campaigns/versions/{n}/activate`, the spelling under `campaigns`.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/campaigns/versions/{version}/activate", tag = "campaigns",
    params(crate::openapi::params::VersionPath),
    responses((status = 200, description = "That version is now active (as `POST .../versions/{version}/activate`).",
        body = crate::openapi::schemas::Activated)))]
pub async fn activate_campaign_version(
    st: State<AppState>,
    path: Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    activate(st, path).await
}

/// Which single-campaign edit.
enum CampaignEdit {
    Create(Map<String, Value>),
    Replace(Map<String, Value>),
    Delete,
    Enable(bool),
}

/// Applies `edit` to the document text `current` (a new document for a site without one, when
/// creating). Works on the JSON as written, so the rest of the document keeps its shape.
fn edit_document(
    site: &str,
    campaign: &str,
    current: Option<&str>,
    edit: CampaignEdit,
) -> Result<String, ApiError> {
    let mut doc: Value = match current {
        Some(text) => serde_json::from_str(text).map_err(ApiError::internal)?,
        None if matches!(edit, CampaignEdit::Create(_)) => json!({"site": site, "campaigns": []}),
        None => return Err(no_document(site)),
    };
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| ApiError::internal("stored document is not an object"))?;
    let campaigns = obj
        .entry("campaigns")
        .or_insert_with(|| Value::Array(Vec::new()));
    let list = campaigns
        .as_array_mut()
        .ok_or_else(|| ApiError::internal("stored campaigns are not an array"))?;
    let index = list
        .iter()
        .position(|c| c.get("id").and_then(Value::as_str) == Some(campaign));
    let missing = || ApiError::not_found(format!("site \"{site}\" has no campaign \"{campaign}\""));
    match (edit, index) {
        (CampaignEdit::Create(_), Some(_)) => {
            return Err(ApiError::conflict(format!(
                "campaign \"{campaign}\" already exists (PUT replaces it)"
            )))
        }
        (CampaignEdit::Create(c), None) => list.push(Value::Object(c)),
        (CampaignEdit::Replace(c), Some(i)) => list[i] = Value::Object(c),
        (CampaignEdit::Delete, Some(i)) => {
            list.remove(i);
        }
        (CampaignEdit::Enable(on), Some(i)) => {
            if let Some(c) = list[i].as_object_mut() {
                c.insert("enabled".into(), Value::Bool(on));
            }
        }
        (_, None) => return Err(missing()),
    }
    serde_json::to_string_pretty(&doc).map_err(ApiError::internal)
}

/// A campaign body: a JSON object whose `id`, if given, is the one in the path.
fn campaign_body(body: &[u8], campaign: &str) -> Result<Map<String, Value>, ApiError> {
    let v: Value = parse_json(body)?;
    let Value::Object(mut c) = v else {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "a campaign is a JSON object",
            vec![Detail::new("", "expected an object")],
        ));
    };
    match c.get("id") {
        None => {
            c.insert("id".into(), Value::String(campaign.to_owned()));
        }
        Some(Value::String(id)) if id == campaign => {}
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "the campaign's id differs from the one in the path",
                vec![Detail::new(
                    "id",
                    format!("expected \"{campaign}\", got {other}"),
                )],
            ))
        }
    }
    // Validation paths then point into the whole document, as for uploads.
    Ok(c)
}

async fn campaign_edit(
    st: AppState,
    site: String,
    campaign: String,
    change: String,
    edit: CampaignEdit,
) -> Result<Response, ApiError> {
    let p = publish(&st, &site.clone(), change, true, move |current| {
        edit_document(&site, &campaign, current, edit)
    })
    .await?;
    Ok(created(p))
}

fn check_ids(site: &str, campaign: &str) -> Result<(), ApiError> {
    ids::check("site", site)?;
    ids::check("campaign", campaign)
}

/// `POST /admin/v1/sites/{site}/campaigns/{campaign}`: add a campaign (409 if it exists).
#[utoipa::path(post, path = "/admin/v1/sites/{site}/campaigns/{campaign}", tag = "campaigns",
    params(crate::openapi::params::CampaignPath), request_body(content = crate::openapi::schemas::Campaign, content_type = "application/json"),
    responses((status = 201, description = "Adds a campaign (409 if its id exists). Makes a new active version.", body = crate::openapi::schemas::Published)))]
pub async fn create_campaign(
    State(st): State<AppState>,
    Path((site, campaign)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    check_ids(&site, &campaign)?;
    let c = campaign_body(&body, &campaign)?;
    let change = format!("create campaign {campaign}");
    campaign_edit(st, site, campaign, change, CampaignEdit::Create(c)).await
}

/// `PUT /admin/v1/sites/{site}/campaigns/{campaign}`: replace a campaign (404 if missing).
#[utoipa::path(put, path = "/admin/v1/sites/{site}/campaigns/{campaign}", tag = "campaigns",
    params(crate::openapi::params::CampaignPath), request_body(content = crate::openapi::schemas::Campaign, content_type = "application/json"),
    responses((status = 201, description = "Replaces (or adds) a campaign. Makes a new active version.", body = crate::openapi::schemas::Published)))]
pub async fn replace_campaign(
    State(st): State<AppState>,
    Path((site, campaign)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    check_ids(&site, &campaign)?;
    let c = campaign_body(&body, &campaign)?;
    let change = format!("replace campaign {campaign}");
    campaign_edit(st, site, campaign, change, CampaignEdit::Replace(c)).await
}

/// `DELETE /admin/v1/sites/{site}/campaigns/{campaign}`.
#[utoipa::path(delete, path = "/admin/v1/sites/{site}/campaigns/{campaign}", tag = "campaigns",
    params(crate::openapi::params::CampaignPath),
    responses((status = 201, description = "Removes a campaign. Makes a new active version.", body = crate::openapi::schemas::Published)))]
pub async fn delete_campaign(
    State(st): State<AppState>,
    Path((site, campaign)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_ids(&site, &campaign)?;
    let change = format!("delete campaign {campaign}");
    campaign_edit(st, site, campaign, change, CampaignEdit::Delete).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnabledBody {
    enabled: bool,
}

/// `PATCH /admin/v1/sites/{site}/campaigns/{campaign}` `{"enabled": bool}`.
#[utoipa::path(patch, path = "/admin/v1/sites/{site}/campaigns/{campaign}", tag = "campaigns",
    params(crate::openapi::params::CampaignPath), request_body(content = serde_json::Value, content_type = "application/json", example = json!({"enabled": false})),
    responses((status = 201, description = "`{\"enabled\": bool}`: turns a campaign on or off. Makes a new active version.", body = crate::openapi::schemas::Published)))]
pub async fn patch_campaign(
    State(st): State<AppState>,
    Path((site, campaign)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    check_ids(&site, &campaign)?;
    let EnabledBody { enabled } = parse_json(&body)?;
    let change = format!(
        "{} campaign {campaign}",
        if enabled { "enable" } else { "disable" }
    );
    campaign_edit(st, site, campaign, change, CampaignEdit::Enable(enabled)).await
}

/// `PUT /admin/v1/sites/{site}/availability/{skill}`: the agent system's feed. Any valid skill
/// id is accepted (the feed may run ahead of the document); answers the site's availability.
#[utoipa::path(put, path = "/admin/v1/sites/{site}/availability/{skill}", tag = "availability",
    params(crate::openapi::params::SkillPath),
    request_body(content = crate::openapi::schemas::Feed, content_type = "application/json"),
    responses((status = 200, description = "The site's availability after the change.", body = crate::openapi::schemas::Availability)))]
pub async fn put_availability(
    State(st): State<AppState>,
    Path((site, skill)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    ids::check("skill", &skill)?;
    let a = read_feed(&body)?;
    // A feed for a site engage does not serve would go nowhere: say so.
    let s = st
        .sites
        .get(&site)
        .filter(|s| s.active().is_some())
        .ok_or_else(|| no_document(&site))?;
    let now = st.now();
    let store = st.store.clone();
    let s2 = s.clone();
    run_blocking(move || {
        Ok(store.put_availability(&s2.id, &skill, &a, now, &mut || {
            s2.set_skill(&skill, a, now)
        })?)
    })
    .await?;
    let snap = s.availability();
    let mut res = snap.body.identity.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

/// The most agents a feed may report (a sanity bound, not a product limit).
const MAX_AGENTS: u64 = 100_000;
/// The longest expected wait a feed may report: a week.
const MAX_WAIT_SECONDS: u64 = 7 * 86_400;

/// An availability feed body: the three counts, whole numbers within bounds, and
/// `agents_with_capacity ≤ agents_online`; every problem by path.
fn read_feed(body: &[u8]) -> Result<SkillAvailability, ApiError> {
    let v = crate::sms::json_value(body)?;
    let mut p = Vec::new();
    let mut out = [0u32; 3];
    let fields = [
        ("agents_online", MAX_AGENTS),
        ("agents_with_capacity", MAX_AGENTS),
        ("expected_wait_seconds", MAX_WAIT_SECONDS),
    ];
    if let Some(mut f) = crate::sms::Fields::new(&v, "", &mut p) {
        f.only(&fields.map(|(k, _)| k));
        for (i, (name, max)) in fields.iter().enumerate() {
            match f.get(name) {
                None => f.error(name, "is required"),
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(x) if x <= *max => out[i] = x as u32,
                    _ => f.error(name, format!("a whole number from 0 to {max}")),
                },
                Some(_) => f.error(name, "must be a number"),
            }
        }
        if out[1] > out[0] && f.problems.is_empty() {
            f.error(
                "agents_with_capacity",
                format!(
                    "{} agents with capacity, but only {} online: it is at most agents_online",
                    out[1], out[0]
                ),
            );
        }
    }
    crate::sms::problems(p)?;
    Ok(SkillAvailability {
        agents_online: out[0],
        agents_with_capacity: out[1],
        expected_wait_seconds: out[2],
    })
}

/// `POST /admin/v1/sites/{site}/simulate`: runs a visit script through the engine over the
/// active document (or the inline draft in `"campaigns"`), compiled at the script's `now`.
/// Without an `"availability"` member the site's live availability is used.
#[utoipa::path(post, path = "/admin/v1/sites/{site}/simulate", tag = "campaigns", params(crate::openapi::params::SitePath),
    request_body(content = crate::openapi::schemas::Simulation, content_type = "application/json"),
    responses((status = 200, description = "What the visitor sees after each step, with the trace.",
        body = crate::openapi::schemas::Simulated)))]
pub async fn simulate(
    State(st): State<AppState>,
    Path(site): Path<String>,
    Body(body): Body,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let raw: Value = parse_json(&body)?;
    let live_availability = raw
        .as_object()
        .is_some_and(|o| !o.contains_key("availability"));
    let mut script: Script = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let path = e.path().to_string();
        let e = e.into_inner();
        ApiError::unprocessable(
            "invalid_request",
            format!("the script does not have the expected shape: {e}"),
            vec![Detail::new(
                if path == "." { String::new() } else { path },
                e.to_string(),
            )],
        )
    })?;
    let now = parse_instant(&script.now).map_err(|m| {
        ApiError::unprocessable("invalid_request", m.clone(), vec![Detail::new("now", m)])
    })?;
    let s = st.sites.get(&site);
    if live_availability {
        if let Some(s) = &s {
            script.availability = s.availability().skills.clone();
        }
    }
    let draft = script.campaigns.take();
    let (text, version) = match draft {
        Some(d) => (d.to_string(), None),
        None => {
            let store = st.store.clone();
            let site2 = site.clone();
            let v = run_blocking(move || Ok(store.active(&site2)?))
                .await?
                .ok_or_else(|| no_document(&site))?;
            (v.document, Some(v.version))
        }
    };
    let st2 = st.clone();
    let steps = run_blocking(move || {
        let expect = if version.is_some() {
            Some(site.as_str())
        } else {
            None
        };
        let c = compile_document(&text, expect, options(now, version.unwrap_or(0)))?;
        run(&c.bundle, &script, &st2.regex).map_err(|m| {
            ApiError::unprocessable("invalid_script", m.clone(), vec![Detail::new("steps", m)])
        })
    })
    .await?;
    Ok(Json(json!({"version": version, "steps": steps})))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The first day (`2026-11-01`) or instant (RFC 3339); 30 days before `to` by default.
    from: Option<String>,
    /// The last day or instant; now by default.
    to: Option<String>,
    /// Count only this goal's conversions.
    goal: Option<String>,
}

/// `GET /admin/v1/sites/{site}/report?from=&to=&goal=`.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/report", tag = "campaigns",
    params(crate::openapi::params::SitePath, ReportQuery),
    responses((status = 200, description = "Per campaign and engagement, with control-group lift.",
        body = crate::openapi::schemas::Report)))]
pub async fn report(
    State(st): State<AppState>,
    Path(site): Path<String>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
    _headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    crate::report::report(&st, &site, q.from.as_deref(), q.to.as_deref(), q.goal).await
}
