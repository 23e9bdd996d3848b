//! SQLite storage (the default): one file, one writer connection (WAL, all writes serialized) and
//! a small pool of readers. One process.
//!
//! A new version is stored and activated in one `BEGIN IMMEDIATE` transaction with
//! `synchronous=FULL`: a crash at any point leaves either the previous or the new version active,
//! never a half-written one.

use engage_engine::availability::SkillAvailability;
use engage_engine::visit::Event;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::{
    kind_str, AvailabilityRow, EventCount, GroupQuery, GroupRow, NewVersion, Notice, Result,
    Storage, StoredVersion, VersionInfo, VersionStore,
};

mod conversations;
mod keys;
mod sms;

pub const DB_FILE: &str = "engage.sqlite3";

/// Embedded migrations; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    active_version INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE versions (
    site TEXT NOT NULL REFERENCES sites(id),
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    change TEXT NOT NULL,
    campaigns INTEGER NOT NULL,
    warnings TEXT NOT NULL,
    document TEXT NOT NULL,
    bundle TEXT NOT NULL,
    PRIMARY KEY (site, version)
) STRICT;
CREATE TABLE availability (
    site TEXT NOT NULL,
    skill TEXT NOT NULL,
    agents_online INTEGER NOT NULL,
    agents_with_capacity INTEGER NOT NULL,
    expected_wait_seconds INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site, skill)
) STRICT;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    visitor TEXT NOT NULL,
    visit INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    campaign TEXT,
    engagement TEXT,
    zone TEXT,
    state TEXT,
    name TEXT,
    value REAL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX events_by_kind ON events (site, kind, at);
CREATE INDEX events_by_visitor ON events (site, visitor, kind, at);
-- A batch sent twice (beacon retried) is stored once.
CREATE UNIQUE INDEX events_dedup ON events
    (site, visitor, visit, kind, at, ifnull(campaign, ''), ifnull(engagement, ''), ifnull(name, ''));
"#,
    sms::MIGRATION,
    conversations::MIGRATION,
    keys::MIGRATION,
];

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    fault: Mutex<Option<String>>,
}

/// Whether an error is the storage refusing writes (rather than a bug): those are answered 503
/// with `Retry-After`, and the server keeps serving what it holds in memory.
pub fn fault_kind(e: &rusqlite::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code()? {
        C::DiskFull => Some("the disk is full"),
        C::ReadOnly => Some("the database is read-only"),
        C::DatabaseBusy | C::DatabaseLocked => Some("the database is locked"),
        C::SystemIoFailure => Some("an I/O error"),
        C::CannotOpen => Some("the database cannot be opened"),
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path` and runs pending
    /// migrations.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!("cannot create data directory {}: {e}", dir.display())
            })?;
        }
        let path = path.to_path_buf();
        let mut conn = Connection::open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection from the pool (opening one if none is free).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn).map_err(Into::into);
        let mut pool = lock(&self.readers);
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` on the single writer connection.
    pub fn write<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let out = f(&mut lock(&self.writer));
        // Remember a storage fault (disk full, read-only, locked, I/O) until a write succeeds,
        // so /healthz can say the server is degraded and why.
        match &out {
            Ok(_) => {
                if lock(&self.fault).is_some() {
                    tracing::info!("storage writes work again");
                    *lock(&self.fault) = None;
                }
            }
            Err(e) => {
                if let Some(kind) = fault_kind(e) {
                    let mut fault = lock(&self.fault);
                    if fault.is_none() {
                        tracing::error!("storage fault: {kind}: {e}");
                    }
                    *fault = Some(format!("{kind}: {e}"));
                }
            }
        }
        out.map_err(Into::into)
    }
}

impl VersionStore for SqliteStore {
    // One process: callers hold the site's edit lock, so no other version of the site can be
    // inserted between this and `insert_version`.
    fn next_version(&self, site: &str) -> Result<u64> {
        self.read(|c| {
            c.query_row(
                "SELECT ifnull(max(version), 0) + 1 FROM versions WHERE site = ?1",
                [site],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|v| v as u64)
    }

    fn insert_version(&self, v: &NewVersion<'_>) -> Result<()> {
        self.write(|c| {
            durable(c, |tx| {
                tx.execute(
                    "INSERT INTO sites (id, active_version, created_at) VALUES (?1, NULL, ?2)
                     ON CONFLICT (id) DO NOTHING",
                    params![v.site, v.created_at],
                )?;
                tx.execute(
                    "INSERT INTO versions (site, version, created_at, change, campaigns, warnings,
                                           document, bundle, key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        v.site,
                        v.version as i64,
                        v.created_at,
                        v.change,
                        v.campaigns as i64,
                        v.warnings,
                        v.document,
                        std::str::from_utf8(v.bundle).unwrap_or_default(),
                        v.key,
                    ],
                )?;
                tx.execute(
                    "UPDATE sites SET active_version = ?2 WHERE id = ?1",
                    params![v.site, v.version as i64],
                )?;
                Ok(())
            })
        })
    }

    fn activate(&self, site: &str, version: u64, bundle: Option<&[u8]>) -> Result<()> {
        self.write(|c| {
            durable(c, |tx| {
                if let Some(b) = bundle {
                    tx.execute(
                        "UPDATE versions SET bundle = ?3 WHERE site = ?1 AND version = ?2",
                        params![
                            site,
                            version as i64,
                            std::str::from_utf8(b).unwrap_or_default()
                        ],
                    )?;
                }
                tx.execute(
                    "UPDATE sites SET active_version = ?2 WHERE id = ?1",
                    params![site, version as i64],
                )?;
                Ok(())
            })
        })
    }

    fn update_bundle(&self, site: &str, version: u64, old: &str, bundle: &[u8]) -> Result<bool> {
        self.write(|c| {
            c.execute(
                "UPDATE versions SET bundle = ?3 WHERE site = ?1 AND version = ?2 AND bundle = ?4",
                params![
                    site,
                    version as i64,
                    std::str::from_utf8(bundle).unwrap_or_default(),
                    old
                ],
            )
            .map(|n| n > 0)
        })
    }

    fn version(&self, site: &str, version: u64) -> Result<Option<StoredVersion>> {
        self.read(|c| {
            c.query_row(
                "SELECT version, document, bundle FROM versions WHERE site = ?1 AND version = ?2",
                params![site, version as i64],
                stored,
            )
            .optional()
        })
    }

    fn active(&self, site: &str) -> Result<Option<StoredVersion>> {
        self.read(|c| {
            c.query_row(
                "SELECT v.version, v.document, v.bundle FROM sites s
                 JOIN versions v ON v.site = s.id AND v.version = s.active_version
                 WHERE s.id = ?1",
                [site],
                stored,
            )
            .optional()
        })
    }

    /// Every site's active version (start-up).
    fn all_active(&self) -> Result<Vec<(String, StoredVersion)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT s.id, v.version, v.document, v.bundle FROM sites s
                 JOIN versions v ON v.site = s.id AND v.version = s.active_version",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    StoredVersion {
                        version: r.get::<_, i64>(1)? as u64,
                        document: r.get(2)?,
                        bundle: r.get(3)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// The history of a site, newest first; `None` when the site has no version.
    fn versions(&self, site: &str) -> Result<Option<Vec<VersionInfo>>> {
        self.read(|c| {
            let active: Option<Option<i64>> = c
                .query_row(
                    "SELECT active_version FROM sites WHERE id = ?1",
                    [site],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(active) = active else {
                return Ok(None);
            };
            let mut st = c.prepare(
                "SELECT version, created_at, change, campaigns, json_array_length(warnings), key
                 FROM versions WHERE site = ?1 ORDER BY version DESC",
            )?;
            let rows = st.query_map([site], |r| {
                let version: i64 = r.get(0)?;
                Ok(VersionInfo {
                    version: version as u64,
                    created_at: engage_engine::schedule::format_instant(r.get(1)?),
                    change: r.get(2)?,
                    campaigns: r.get::<_, i64>(3)? as u64,
                    warnings: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                    key: r.get(5)?,
                    active: Some(version) == active,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map(Some)
        })
    }

    fn count_versions(&self) -> Result<u64> {
        self.read(|c| c.query_row("SELECT count(*) FROM versions", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
    }

    fn put_availability(
        &self,
        site: &str,
        skill: &str,
        a: &SkillAvailability,
        at: i64,
        then: &mut dyn FnMut(),
    ) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO availability (site, skill, agents_online, agents_with_capacity,
                                           expected_wait_seconds, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (site, skill) DO UPDATE SET
                   agents_online = excluded.agents_online,
                   agents_with_capacity = excluded.agents_with_capacity,
                   expected_wait_seconds = excluded.expected_wait_seconds,
                   updated_at = excluded.updated_at",
                params![
                    site,
                    skill,
                    a.agents_online,
                    a.agents_with_capacity,
                    a.expected_wait_seconds,
                    at
                ],
            )?;
            // Still under the writer lock: the cache sees writes in the stored order.
            then();
            Ok(())
        })
    }

    fn availability(&self, site: &str, skill: &str) -> Result<Option<AvailabilityRow>> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {AVAILABILITY_COLS} FROM availability WHERE site = ?1 AND skill = ?2"
                ),
                params![site, skill],
                availability_row,
            )
            .optional()
        })
    }

    fn all_availability(&self) -> Result<Vec<AvailabilityRow>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {AVAILABILITY_COLS} FROM availability"))?;
            let rows = st.query_map([], availability_row)?;
            rows.collect()
        })
    }

    /// Stores a validated batch; returns how many events were new (duplicates are ignored).
    fn insert_events(
        &self,
        site: &str,
        visitor: &str,
        events: &[Event],
        received_at: i64,
    ) -> Result<usize> {
        self.write(|c| {
            let tx = c.transaction()?;
            let mut n = 0;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO events (site, visitor, visit, kind, at, campaign,
                        engagement, zone, state, name, value, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for e in events {
                    n += st.execute(params![
                        site,
                        visitor,
                        e.visit,
                        kind_str(e.kind),
                        e.at,
                        e.campaign,
                        e.engagement,
                        e.zone,
                        e.state.map(|s| s.as_str()),
                        e.name,
                        e.value,
                        received_at,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    fn event_counts(&self, site: &str, from: i64, to: i64) -> Result<Vec<EventCount>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT campaign, engagement, kind, count(*) FROM events
                 WHERE site = ?1 AND kind IN ('impression', 'accept', 'decline')
                   AND at >= ?2 AND at < ?3 AND campaign IS NOT NULL
                 GROUP BY campaign, engagement, kind",
            )?;
            let rows = st.query_map(params![site, from, to], |r| {
                Ok(EventCount {
                    campaign: r.get(0)?,
                    engagement: r.get(1)?,
                    kind: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn event_groups(&self, q: &GroupQuery<'_>) -> Result<Vec<GroupRow>> {
        let (sel, grp) = if q.by_engagement {
            ("campaign, engagement", "campaign, engagement")
        } else {
            ("campaign, NULL AS engagement", "campaign")
        };
        let sql = format!(
            "WITH firsts AS (
                SELECT {sel}, visitor, min(at) AS t0 FROM events
                WHERE site = ?1 AND kind = ?2 AND at >= ?3 AND at < ?4 AND campaign IS NOT NULL
                GROUP BY {grp}, visitor)
             SELECT f.campaign, f.engagement, count(DISTINCT f.visitor),
                    count(DISTINCT CASE WHEN g.id IS NOT NULL THEN f.visitor END),
                    count(g.id), ifnull(sum(g.value), 0)
             FROM firsts f
             LEFT JOIN events g ON g.site = ?1 AND g.visitor = f.visitor AND g.kind = 'goal'
                  AND g.at >= f.t0 AND g.at < f.t0 + ?5 AND (?6 IS NULL OR g.name = ?6)
             GROUP BY f.campaign, f.engagement"
        );
        self.read(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(
                params![q.site, q.kind, q.from, q.to, q.window_ms, q.goal],
                |r| {
                    Ok(GroupRow {
                        campaign: r.get(0)?,
                        engagement: r.get(1)?,
                        visitors: r.get::<_, i64>(2)? as u64,
                        converters: r.get::<_, i64>(3)? as u64,
                        conversions: r.get::<_, i64>(4)? as u64,
                        value: r.get(5)?,
                    })
                },
            )?;
            rows.collect()
        })
    }
}

impl Storage for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .map(drop)
    }

    fn shared(&self) -> bool {
        false
    }

    fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Option<Notice>>> {
        None
    }

    fn as_sqlite(&self) -> Option<&SqliteStore> {
        Some(self)
    }
}

const AVAILABILITY_COLS: &str =
    "site, skill, agents_online, agents_with_capacity, expected_wait_seconds, updated_at";

fn availability_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AvailabilityRow> {
    Ok(AvailabilityRow {
        site: r.get(0)?,
        skill: r.get(1)?,
        availability: SkillAvailability {
            agents_online: r.get(2)?,
            agents_with_capacity: r.get(3)?,
            expected_wait_seconds: r.get(4)?,
        },
        updated_at: r.get(5)?,
    })
}

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredVersion> {
    Ok(StoredVersion {
        version: r.get::<_, i64>(0)? as u64,
        document: r.get(1)?,
        bundle: r.get(2)?,
    })
}

/// Runs `f` in an immediate transaction committed with `synchronous=FULL` (the WAL is synced
/// before the answer goes out); other writes keep the cheaper NORMAL.
pub(crate) fn durable<T>(
    c: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.pragma_update(None, "synchronous", "FULL")?;
    let out = (|| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    })();
    let _ = c.pragma_update(None, "synchronous", "NORMAL");
    out
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        anyhow::bail!(
            "the database was written by a newer engage-server (schema {current}, this one knows {})",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
