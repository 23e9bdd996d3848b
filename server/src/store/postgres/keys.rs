//! Access keys on PostgreSQL.

use tokio_postgres::Row;

use super::{exec, opt, rows, PgStore};
use crate::store::keys::{KeyRow, KeyStore};
use crate::store::Result;

/// Migration 2: access keys, and the key that made each version.
pub const MIGRATION: &str = r#"
CREATE TABLE access_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    sites TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT
);
ALTER TABLE versions ADD COLUMN key TEXT NOT NULL DEFAULT 'owner';
"#;

const KEY_COLS: &str = "id, name, role, sites, created_at, created_by, revoked_at";

fn key(r: &Row) -> Result<KeyRow> {
    let sites: String = r.try_get(3)?;
    Ok(KeyRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: r.try_get(2)?,
        sites: serde_json::from_str(&sites).unwrap_or_default(),
        created_at: r.try_get(4)?,
        created_by: r.try_get(5)?,
        revoked_at: r.try_get(6)?,
    })
}

impl KeyStore for PgStore {
    fn insert_key(&self, k: &KeyRow, digest: &str) -> Result<()> {
        let sites = serde_json::to_string(&k.sites).unwrap_or_else(|_| "[]".into());
        self.run(async {
            let c = self.client().await?;
            exec(
                &c,
                &format!(
                    "INSERT INTO access_keys ({KEY_COLS}, digest)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                &[
                    &k.id,
                    &k.name,
                    &k.role,
                    &sites,
                    &k.created_at,
                    &k.created_by,
                    &k.revoked_at,
                    &digest,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn keys(&self) -> Result<Vec<KeyRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!("SELECT {KEY_COLS} FROM access_keys ORDER BY created_at DESC, id"),
                &[],
            )
            .await?
            .iter()
            .map(key)
            .collect()
        })
    }

    fn key_by_digest(&self, digest: &str) -> Result<Option<KeyRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!(
                    "SELECT {KEY_COLS} FROM access_keys WHERE digest = $1 AND revoked_at IS NULL"
                ),
                &[&digest],
            )
            .await?
            .as_ref()
            .map(key)
            .transpose()
        })
    }

    fn revoke_key(&self, id: &str, now: i64) -> Result<bool> {
        self.run(async {
            let c = self.client().await?;
            let n = exec(
                &c,
                "UPDATE access_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &now],
            )
            .await?;
            Ok(n > 0)
        })
    }
}
