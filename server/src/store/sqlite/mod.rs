//! SQLite storage in the data directory: one writer connection (WAL, all writes serialized) and a
//! small pool of readers. Every call is blocking: the async side runs them on `spawn_blocking`.
//!
//! A new version is stored and activated in one `BEGIN IMMEDIATE` transaction with
//! `synchronous=FULL`: a crash at any point leaves either the previous or the new version active,
//! never a half-written one.

use engage_engine::availability::SkillAvailability;
use engage_engine::visit::{Event, EventKind};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub mod conversations;
pub mod sms;

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
];

pub struct Store {
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

/// A version to store and activate.
pub struct NewVersion<'a> {
    pub site: &'a str,
    pub version: u64,
    pub created_at: i64,
    pub change: &'a str,
    pub campaigns: usize,
    pub warnings: &'a str,
    pub document: &'a str,
    pub bundle: &'a [u8],
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub created_at: String,
    pub change: String,
    pub campaigns: u64,
    pub warnings: u64,
    pub active: bool,
}

pub struct StoredVersion {
    pub version: u64,
    pub document: String,
    pub bundle: String,
}

pub struct AvailabilityRow {
    pub site: String,
    pub skill: String,
    pub availability: SkillAvailability,
    pub updated_at: i64,
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

impl Store {
    /// Opens (creating if needed) the database in `dir` and runs pending migrations.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
        let path = dir.join(DB_FILE);
        let mut conn = Connection::open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(Store {
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
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` on the single writer connection.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
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
        out
    }

    /// The storage fault the last write met, while it lasts.
    pub fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    /// The number the next version of `site` gets. Callers hold the site's edit lock, so no other
    /// version of the site can be inserted in between.
    pub fn next_version(&self, site: &str) -> rusqlite::Result<u64> {
        self.read(|c| {
            c.query_row(
                "SELECT ifnull(max(version), 0) + 1 FROM versions WHERE site = ?1",
                [site],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|v| v as u64)
    }

    /// Stores a new version and makes it the active one, durably, in one transaction.
    pub fn insert_version(&self, v: &NewVersion<'_>) -> rusqlite::Result<()> {
        self.write(|c| {
            durable(c, |tx| {
                tx.execute(
                    "INSERT INTO sites (id, active_version, created_at) VALUES (?1, NULL, ?2)
                     ON CONFLICT (id) DO NOTHING",
                    params![v.site, v.created_at],
                )?;
                tx.execute(
                    "INSERT INTO versions (site, version, created_at, change, campaigns, warnings,
                                           document, bundle)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        v.site,
                        v.version as i64,
                        v.created_at,
                        v.change,
                        v.campaigns as i64,
                        v.warnings,
                        v.document,
                        std::str::from_utf8(v.bundle).unwrap_or_default(),
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

    /// Makes an existing version active (and replaces its bundle when it was recompiled).
    pub fn activate(
        &self,
        site: &str,
        version: u64,
        bundle: Option<&[u8]>,
    ) -> rusqlite::Result<()> {
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

    /// Replaces the stored bundle of a version (recompiled over a later horizon).
    pub fn update_bundle(&self, site: &str, version: u64, bundle: &[u8]) -> rusqlite::Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE versions SET bundle = ?3 WHERE site = ?1 AND version = ?2",
                params![
                    site,
                    version as i64,
                    std::str::from_utf8(bundle).unwrap_or_default()
                ],
            )
            .map(drop)
        })
    }

    pub fn version(&self, site: &str, version: u64) -> rusqlite::Result<Option<StoredVersion>> {
        self.read(|c| {
            c.query_row(
                "SELECT version, document, bundle FROM versions WHERE site = ?1 AND version = ?2",
                params![site, version as i64],
                stored,
            )
            .optional()
        })
    }

    pub fn active(&self, site: &str) -> rusqlite::Result<Option<StoredVersion>> {
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
    pub fn all_active(&self) -> rusqlite::Result<Vec<(String, StoredVersion)>> {
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
    pub fn versions(&self, site: &str) -> rusqlite::Result<Option<Vec<VersionInfo>>> {
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
                "SELECT version, created_at, change, campaigns, json_array_length(warnings)
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
                    active: Some(version) == active,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map(Some)
        })
    }

    pub fn count_versions(&self) -> rusqlite::Result<u64> {
        self.read(|c| c.query_row("SELECT count(*) FROM versions", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
    }

    pub fn put_availability(
        &self,
        site: &str,
        skill: &str,
        a: &SkillAvailability,
        at: i64,
        then: impl FnOnce(),
    ) -> rusqlite::Result<()> {
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

    pub fn all_availability(&self) -> rusqlite::Result<Vec<AvailabilityRow>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT site, skill, agents_online, agents_with_capacity, expected_wait_seconds,
                        updated_at FROM availability",
            )?;
            let rows = st.query_map([], |r| {
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
            })?;
            rows.collect()
        })
    }

    /// Stores a validated batch; returns how many events were new (duplicates are ignored).
    pub fn insert_events(
        &self,
        site: &str,
        visitor: &str,
        events: &[Event],
        received_at: i64,
    ) -> rusqlite::Result<usize> {
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
}

pub fn kind_str(k: EventKind) -> &'static str {
    match k {
        EventKind::Impression => "impression",
        EventKind::Accept => "accept",
        EventKind::Decline => "decline",
        EventKind::Control => "control",
        EventKind::Goal => "goal",
        EventKind::State => "state",
    }
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
