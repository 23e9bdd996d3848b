//! Access keys on SQLite.

use rusqlite::{params, OptionalExtension, Row};

use super::SqliteStore;
use crate::store::keys::{KeyRow, KeyStore};
use crate::store::Result;

/// Access keys, and the key that made each version (existing versions: the owner).
pub const MIGRATION: &str = r#"
CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    sites TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER
) STRICT;
ALTER TABLE versions ADD COLUMN key TEXT NOT NULL DEFAULT 'owner';
"#;

const KEY_COLS: &str = "id, name, role, sites, created_at, created_by, revoked_at";

fn key(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    let sites: String = r.get(3)?;
    Ok(KeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        sites: serde_json::from_str(&sites).unwrap_or_default(),
        created_at: r.get(4)?,
        created_by: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

impl KeyStore for SqliteStore {
    fn insert_key(&self, k: &KeyRow, digest: &str) -> Result<()> {
        let sites = serde_json::to_string(&k.sites).unwrap_or_else(|_| "[]".into());
        self.write(|c| {
            c.execute(
                &format!("INSERT INTO access_keys ({KEY_COLS}, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![k.id, k.name, k.role, sites, k.created_at, k.created_by, k.revoked_at, digest],
            )
            .map(drop)
        })
    }

    fn keys(&self) -> Result<Vec<KeyRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM access_keys ORDER BY created_at DESC, id"
            ))?;
            let rows = st.query_map([], key)?;
            rows.collect()
        })
    }

    fn key_by_digest(&self, digest: &str) -> Result<Option<KeyRow>> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {KEY_COLS} FROM access_keys WHERE digest = ?1 AND revoked_at IS NULL"
                ),
                [digest],
                key,
            )
            .optional()
        })
    }

    fn revoke_key(&self, id: &str, now: i64) -> Result<bool> {
        self.write(|c| {
            c.execute(
                "UPDATE access_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )
            .map(|n| n > 0)
        })
    }
}
