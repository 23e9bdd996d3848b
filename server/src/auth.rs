//! The admin token: `Authorization: Bearer <token>`, compared in constant time as SHA-256
//! digests. Only the digest is kept (in memory, and in the data directory when generated).

use axum::extract::{Request, State};
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

/// Admin routes: 401 without a valid bearer token.
pub async fn require_admin(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match given {
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin endpoints need `Authorization: Bearer <token>`",
        )
        .into_response(),
        Some(t) if bool::from(digest(t).ct_eq(&st.admin_digest)) => next.run(req).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong admin token",
        )
        .into_response(),
    }
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
