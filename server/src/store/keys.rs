//! Access keys (SPEC §6): a name, a role and the sites it covers; only the token's SHA-256 is
//! stored. The owner key (`ENGAGE_ADMIN_TOKEN`) is not stored here.

use super::Result;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    /// `admin`, `editor`, `analyst` or `agent_feed`.
    pub role: String,
    /// Site ids, or `["*"]` for every site.
    pub sites: Vec<String>,
    pub created_at: i64,
    /// The key that made this one (`owner` for the owner key).
    pub created_by: String,
    pub revoked_at: Option<i64>,
}

/// Access keys, on either backend.
pub trait KeyStore {
    /// Stores a new key with the hex SHA-256 of its token.
    fn insert_key(&self, key: &KeyRow, digest: &str) -> Result<()>;
    /// Every key, newest first (revoked ones too, with `revoked_at`).
    fn keys(&self) -> Result<Vec<KeyRow>>;
    /// The unrevoked key whose token has this digest.
    fn key_by_digest(&self, digest: &str) -> Result<Option<KeyRow>>;
    /// Revokes a key; false when there is no such unrevoked key.
    fn revoke_key(&self, id: &str, now: i64) -> Result<bool>;
}
