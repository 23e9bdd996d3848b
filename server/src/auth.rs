//! Authorization of the admin API: the owner token (`ENGAGE_ADMIN_TOKEN`) and access keys with a
//! role and sites (SPEC §6), `Authorization: Bearer <token>`, compared as SHA-256 digests (the
//! owner's in constant time; stored keys are looked up by digest). Only digests are kept.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// Where a generated token's digest is kept (hex), so restarts accept the printed token.
pub const TOKEN_FILE: &str = "admin-token.sha256";

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// How the admin token was set up at start-up.
pub enum TokenSource {
    /// From `ENGAGE_ADMIN_TOKEN`.
    Environment,
    /// Generated now: print it once.
    Generated(String),
    /// Generated at an earlier start; its digest was read from the data directory.
    Stored,
}

/// The admin token digest: `ENGAGE_ADMIN_TOKEN` when set (it overrides a stored one), else the
/// stored digest of a token generated earlier, else a new random token (32 bytes, hex) whose
/// digest is stored.
pub fn setup(data: &Path, env_token: Option<&str>) -> anyhow::Result<([u8; 32], TokenSource)> {
    if let Some(t) = env_token.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok((digest(t), TokenSource::Environment));
    }
    let path = data.join(TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(d) = parse_hex(text.trim()) {
            return Ok((d, TokenSource::Stored));
        }
        tracing::warn!(
            "{} is not a SHA-256 hex digest: generating a new token",
            path.display()
        );
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)
        .map_err(|e| anyhow::anyhow!("no randomness for the admin token: {e}"))?;
    let token = hex(&raw);
    let d = digest(&token);
    std::fs::create_dir_all(data)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", hex(&d)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, &path)?;
    Ok((d, TokenSource::Generated(token)))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// An access key's role (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything on its sites, keys included.
    Admin,
    /// Campaign documents, simulate, contacts, SMS inboxes and campaigns (and what analysts read).
    Editor,
    /// Read-only: documents, versions, reports, conversations, SMS campaigns.
    Analyst,
    /// Only the availability feed.
    AgentFeed,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Editor, Role::Analyst, Role::AgentFeed];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Analyst => "analyst",
            Role::AgentFeed => "agent_feed",
        }
    }

    pub fn allows(self, need: Need) -> bool {
        match self {
            Role::Admin => true,
            Role::Editor => matches!(need, Need::Read | Need::Edit),
            Role::Analyst => need == Need::Read,
            Role::AgentFeed => need == Need::Feed,
        }
    }
}

/// What an admin route needs of the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading documents, versions, reports, conversations and SMS campaigns.
    Read,
    /// Changing documents, simulating, contacts, SMS inboxes and campaigns.
    Edit,
    /// The agent system's availability feed.
    Feed,
    /// Managing access keys.
    Keys,
}

/// Every admin route and what it needs: the one place permissions are decided (the middleware
/// reads it; `tests/keys.rs` drives every row with every role). A route missing here answers
/// 403 to everyone but the owner.
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("PUT", "/admin/v1/sites/{site}/campaigns", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/campaigns", Need::Read),
    (
        "POST",
        "/admin/v1/sites/{site}/campaigns/{campaign}",
        Need::Edit,
    ),
    (
        "PUT",
        "/admin/v1/sites/{site}/campaigns/{campaign}",
        Need::Edit,
    ),
    (
        "DELETE",
        "/admin/v1/sites/{site}/campaigns/{campaign}",
        Need::Edit,
    ),
    (
        "PATCH",
        "/admin/v1/sites/{site}/campaigns/{campaign}",
        Need::Edit,
    ),
    ("GET", "/admin/v1/sites/{site}/versions", Need::Read),
    (
        "GET",
        "/admin/v1/sites/{site}/campaigns/versions",
        Need::Read,
    ),
    (
        "POST",
        "/admin/v1/sites/{site}/campaigns/versions/{version}/activate",
        Need::Edit,
    ),
    (
        "POST",
        "/admin/v1/sites/{site}/versions/{version}/activate",
        Need::Edit,
    ),
    (
        "PUT",
        "/admin/v1/sites/{site}/availability/{skill}",
        Need::Feed,
    ),
    ("POST", "/admin/v1/sites/{site}/simulate", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/report", Need::Read),
    ("PUT", "/admin/v1/sites/{site}/contacts", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/contacts", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/contacts/tags", Need::Edit),
    (
        "GET",
        "/admin/v1/sites/{site}/contacts/{contact}",
        Need::Edit,
    ),
    (
        "DELETE",
        "/admin/v1/sites/{site}/contacts/{contact}",
        Need::Edit,
    ),
    ("GET", "/admin/v1/sites/{site}/sms/inboxes", Need::Edit),
    (
        "PUT",
        "/admin/v1/sites/{site}/sms/inboxes/{inbox}",
        Need::Edit,
    ),
    (
        "GET",
        "/admin/v1/sites/{site}/sms/inboxes/{inbox}",
        Need::Edit,
    ),
    (
        "DELETE",
        "/admin/v1/sites/{site}/sms/inboxes/{inbox}",
        Need::Edit,
    ),
    ("POST", "/admin/v1/sites/{site}/sms/campaigns", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/sms/campaigns", Need::Read),
    (
        "GET",
        "/admin/v1/sites/{site}/sms/campaigns/{id}",
        Need::Read,
    ),
    (
        "PATCH",
        "/admin/v1/sites/{site}/sms/campaigns/{id}",
        Need::Edit,
    ),
    (
        "DELETE",
        "/admin/v1/sites/{site}/sms/campaigns/{id}",
        Need::Edit,
    ),
    (
        "POST",
        "/admin/v1/sites/{site}/sms/campaigns/{id}/cancel",
        Need::Edit,
    ),
    (
        "GET",
        "/admin/v1/sites/{site}/sms/campaigns/{id}/stream",
        Need::Read,
    ),
    ("POST", "/admin/v1/sites/{site}/sms/preview", Need::Edit),
    ("POST", "/admin/v1/sites/{site}/sms/audience", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/sms/opt-outs", Need::Edit),
    ("GET", "/admin/v1/sites/{site}/conversations", Need::Read),
    ("GET", "/admin/v1/sites/{site}/handoffs", Need::Read),
    (
        "POST",
        "/admin/v1/sites/{site}/outbound/broadcasts",
        Need::Edit,
    ),
    ("POST", "/admin/v1/keys", Need::Keys),
    ("GET", "/admin/v1/keys", Need::Keys),
    ("DELETE", "/admin/v1/keys/{id}", Need::Keys),
];

pub fn need(method: &str, route: &str) -> Option<Need> {
    ROUTES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, n)| *n)
}

/// Who is calling: the owner key or a stored access key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id (`owner` for the owner key), recorded on every change it makes.
    pub key: String,
    pub role: Role,
    /// Site ids, or `*`.
    pub sites: Vec<String>,
}

impl Caller {
    pub fn owner() -> Caller {
        Caller {
            key: "owner".into(),
            role: Role::Admin,
            sites: vec!["*".into()],
        }
    }

    pub fn covers(&self, site: &str) -> bool {
        self.sites.iter().any(|s| s == "*" || s == site)
    }

    /// Whether every site of `sites` is one of this caller's.
    pub fn covers_all(&self, sites: &[String]) -> bool {
        self.covers("*") || sites.iter().all(|s| s != "*" && self.covers(s))
    }
}

tokio::task_local! {
    static CALLER: Caller;
}

/// The key of the request being served (`owner` outside one): what changes record.
pub fn current_key() -> String {
    CALLER
        .try_with(|c| c.key.clone())
        .unwrap_or_else(|_| "owner".into())
}

/// The caller of the request being served (the owner outside one).
pub fn current_caller() -> Caller {
    CALLER
        .try_with(Caller::clone)
        .unwrap_or_else(|_| Caller::owner())
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

fn unauthorized(message: &str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response()
}

fn forbidden(message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
}

/// The admin routes' authorization, decided once here: 401 without a known, unrevoked key; 403
/// when the key's role does not cover the route ([`ROUTES`]) or the key does not cover the
/// site. The caller is then known to the handler (and recorded on changes, [`current_key`]).
pub async fn authorize(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req) else {
        return unauthorized("admin endpoints need `Authorization: Bearer <token>`");
    };
    let d = digest(token);
    let caller = if bool::from(d.ct_eq(&st.admin_digest)) {
        Caller::owner()
    } else {
        let store = st.store.clone();
        let found = crate::publish::run_blocking(move || Ok(store.key_by_digest(&hex(&d))?)).await;
        match found {
            Ok(Some(k)) => match Role::parse(&k.role) {
                Some(role) => Caller {
                    key: k.id,
                    role,
                    sites: k.sites,
                },
                None => return unauthorized("unknown or revoked access key"),
            },
            Ok(None) => return unauthorized("unknown or revoked access key"),
            Err(e) => return e.into_response(),
        }
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    // HEAD is answered as GET is.
    let method = match req.method().as_str() {
        "HEAD" => "GET".to_owned(),
        m => m.to_owned(),
    };
    let allowed = match need(&method, &route) {
        Some(n) => caller.role.allows(n),
        None => caller.key == "owner",
    };
    if !allowed {
        return forbidden(format!(
            "the {} key \"{}\" cannot {method} {route}",
            caller.role.as_str(),
            caller.key
        ));
    }
    if let Some(site) = site_of(req.uri().path()) {
        if !caller.covers(site) {
            return forbidden(format!(
                "the key \"{}\" does not cover site \"{site}\"",
                caller.key
            ));
        }
    }
    CALLER.scope(caller, next.run(req)).await
}

/// `acme` in `/admin/v1/sites/acme/...`.
fn site_of(path: &str) -> Option<&str> {
    path.strip_prefix("/admin/v1/sites/")?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reads_back_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let (d1, s1) = setup(dir.path(), None).unwrap();
        let TokenSource::Generated(token) = s1 else {
            panic!("expected a generated token")
        };
        assert_eq!(token.len(), 64);
        assert_eq!(digest(&token), d1);
        let (d2, s2) = setup(dir.path(), None).unwrap();
        assert!(matches!(s2, TokenSource::Stored));
        assert_eq!(d1, d2);
        let (d3, s3) = setup(dir.path(), Some("secret")).unwrap();
        assert!(matches!(s3, TokenSource::Environment));
        assert_eq!(d3, digest("secret"));
        let stored = std::fs::read_to_string(dir.path().join(TOKEN_FILE)).unwrap();
        assert!(!stored.contains(&token));
    }
}
