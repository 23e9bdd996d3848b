//! `/admin/v1/keys` (SPEC §6): access keys with a role and the sites they cover. A token is
//! shown once, at creation; only its SHA-256 is stored. Revocation is effective on the next
//! request (every request looks its key up). An admin key scoped to some sites manages only
//! keys within those sites.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{current_caller, digest, hex, Caller, Role};
use crate::error::{parse_json, ApiError, Body, Detail};
use crate::publish::run_blocking;
use crate::store::keys::KeyRow;
use crate::AppState;

/// Largest `POST /admin/v1/keys` body (a name, a role and up to 100 site ids).
pub const MAX_BODY_BYTES: usize = 16 << 10;

/// Keys at most (a bound, like every other collection).
const MAX_KEYS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: Value,
    role: Value,
    sites: Value,
}

fn key_json(k: &KeyRow) -> Value {
    json!({
        "id": k.id, "name": k.name, "role": k.role, "sites": k.sites,
        "created_at": engage_engine::schedule::format_instant(k.created_at),
        "created_by": k.created_by,
        "revoked_at": k.revoked_at.map(engage_engine::schedule::format_instant),
    })
}

/// The fields of a new key, every problem reported by path.
fn read_new_key(body: &[u8], caller: &Caller) -> Result<(String, Role, Vec<String>), ApiError> {
    let k: NewKey = parse_json(body)?;
    let mut problems = Vec::new();
    let name = match k.name.as_str() {
        Some(n) if crate::ids::is_label(n.trim(), 100) => n.trim().to_owned(),
        _ => {
            problems.push(Detail::new(
                "name",
                "a name of 1 to 100 printable characters",
            ));
            String::new()
        }
    };
    let role = match k.role.as_str().and_then(Role::parse) {
        Some(r) => Some(r),
        None => {
            problems.push(Detail::new(
                "role",
                "one of \"admin\", \"editor\", \"analyst\", \"agent_feed\"",
            ));
            None
        }
    };
    let mut sites = Vec::new();
    match k.sites.as_array() {
        Some(list) if !list.is_empty() && list.len() <= 100 => {
            for (i, s) in list.iter().enumerate() {
                match s.as_str() {
                    Some("*") if list.len() == 1 => sites.push("*".to_owned()),
                    Some(id) if crate::ids::is_id(id) => sites.push(id.to_owned()),
                    _ => problems.push(Detail::new(
                        format!("sites[{i}]"),
                        "a site id, or [\"*\"] alone for every site",
                    )),
                }
            }
        }
        _ => problems.push(Detail::new(
            "sites",
            "a list of 1 to 100 site ids, or [\"*\"] for every site",
        )),
    }
    if problems.is_empty() && !caller.covers_all(&sites) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the key \"{}\" can only make keys for its own sites ({})",
                caller.key,
                caller.sites.join(", ")
            ),
        ));
    }
    match role {
        Some(role) if problems.is_empty() => Ok((name, role, sites)),
        _ => Err(ApiError::unprocessable(
            "validation_failed",
            "the key is invalid",
            problems,
        )),
    }
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(hex(&raw))
}

/// `POST /admin/v1/keys` → 201 `{"id", "token", ...}` (the token is never shown again).
#[utoipa::path(post, path = "/admin/v1/keys", tag = "keys",
    request_body(content = crate::openapi::schemas::NewKey, content_type = "application/json"),
    responses((status = 201, description = "The key, with its token shown this once.", body = crate::openapi::schemas::CreatedKey)))]
pub async fn create(State(st): State<AppState>, Body(body): Body) -> Result<Response, ApiError> {
    let caller = current_caller();
    let (name, role, sites) = read_new_key(&body, &caller)?;
    // 256 random bits; the prefix tells a leaked engage key apart in a secret scanner.
    let token = format!("ek_{}", random_hex(32)?);
    let row = KeyRow {
        id: format!("key_{}", random_hex(8)?),
        name,
        role: role.as_str().to_owned(),
        sites,
        created_at: st.now(),
        created_by: caller.key.clone(),
        revoked_at: None,
    };
    let d = hex(&digest(&token));
    let store = st.store.clone();
    let row2 = row.clone();
    run_blocking(move || {
        let live = store
            .keys()?
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count();
        if live >= MAX_KEYS {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "too_many_keys",
                format!("at most {MAX_KEYS} keys: revoke unused ones first"),
            ));
        }
        Ok(store.insert_key(&row2, &d)?)
    })
    .await?;
    tracing::info!(key = %row.id, role = %row.role, by = %caller.key, "access key created");
    let mut v = key_json(&row);
    v["token"] = Value::from(token);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /admin/v1/keys`: the keys this caller manages (no tokens).
#[utoipa::path(get, path = "/admin/v1/keys", tag = "keys",
    responses((status = 200, description = "The keys this caller manages (never their tokens).", body = crate::openapi::schemas::Keys)))]
pub async fn list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let caller = current_caller();
    let store = st.store.clone();
    let keys = run_blocking(move || Ok(store.keys()?)).await?;
    let visible: Vec<Value> = keys
        .iter()
        .filter(|k| caller.covers_all(&k.sites))
        .map(key_json)
        .collect();
    Ok(Json(json!({ "keys": visible })))
}

/// `DELETE /admin/v1/keys/{id}` → 204; the key answers 401 from the next request on.
#[utoipa::path(delete, path = "/admin/v1/keys/{id}", tag = "keys", params(crate::openapi::params::KeyPath),
    responses((status = 204, description = "Revoked: the key answers 401 from the next request on.")))]
pub async fn revoke(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = current_caller();
    let store = st.store.clone();
    let now = st.now();
    let id2 = id.clone();
    let done = run_blocking(move || {
        let visible = store
            .keys()?
            .into_iter()
            .any(|k| k.id == id2 && k.revoked_at.is_none() && caller.covers_all(&k.sites));
        Ok(visible && store.revoke_key(&id2, now)?)
    })
    .await?;
    if !done {
        return Err(ApiError::not_found(format!("no access key \"{id}\"")));
    }
    tracing::info!(key = %id, "access key revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}
