//! PostgreSQL storage: any number of engage-server processes share one database (SPEC §12).
//!
//! The [`Storage`] interface is blocking, as on SQLite; here each call runs its queries on a
//! `deadpool-postgres` pool whose connections live on a small runtime of the store's own, and
//! waits for them with `futures_executor::block_on`. That works from any thread (a
//! `spawn_blocking` thread, a test's runtime, start-up) because the client's futures only wait
//! on channels to the connection tasks, which run on the store's runtime.
//!
//! What one server decided alone under its in-process locks, the database decides here:
//! - a version's number is checked inside the upload transaction under a row lock on the site
//!   (`SELECT … FOR UPDATE`); a number another process took first is an [`Error::Conflict`] and
//!   the upload is compiled again under the next number;
//! - a recompiled bundle replaces the stored one only if the stored one is still the one read
//!   (compare-and-set), so every replica serves the same bytes and ETag;
//! - outbox rows and hand-off deliveries are claimed with `FOR UPDATE SKIP LOCKED`, and an
//!   inbox's lane is held by one process at a time (`sms_lanes` lease), so its rate holds;
//! - rows left `sending` by a process that died are taken back when their lease runs out (not at
//!   start-up: the other processes are alive).
//!
//! Changes other processes must see are sent as `NOTIFY engage, '<process>\t<change>'` in the
//! transaction that makes them (delivered at commit); [`PgStore::listen`] receives them.

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use engage_engine::availability::SkillAvailability;
use engage_engine::visit::Event;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{
    kind_str, AvailabilityRow, Error, EventCount, GroupQuery, GroupRow, NewVersion, Notice, Result,
    Storage, StoredVersion, VersionInfo, VersionStore,
};

mod conversations;
mod keys;
mod listen;
mod sms;

/// Embedded migrations, applied in order under an advisory lock; `engage_migrations` records
/// which ran.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql"), keys::MIGRATION];
/// The advisory lock migrations run under (any constant; one per database).
const MIGRATION_LOCK: i64 = 0x656e_6761_6765;
/// The channel changes are announced on.
pub const CHANNEL: &str = "engage";

pub type Params<'a> = [&'a (dyn ToSql + Sync)];

pub struct PgStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    config: tokio_postgres::Config,
    /// This process, in its notifications (its own are not re-read).
    pub(crate) me: String,
    fault: Mutex<Option<String>>,
    /// Availability writes of this process, one at a time (the cache sees them in stored order).
    availability: Mutex<()>,
    /// Event partitions known to exist (month starts, ms).
    partitions: Mutex<HashSet<i64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a PostgreSQL error is the database refusing work (answered 503, see
/// `store::fault_kind`).
pub fn fault_kind(e: &tokio_postgres::Error) -> Option<&'static str> {
    use tokio_postgres::error::SqlState as S;
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection broke.
        return Some("the database connection was lost");
    };
    let code = db.code();
    if *code == S::DISK_FULL || *code == S::INSUFFICIENT_RESOURCES || *code == S::OUT_OF_MEMORY {
        Some("the database is out of space")
    } else if *code == S::READ_ONLY_SQL_TRANSACTION {
        Some("the database is read-only")
    } else if *code == S::ADMIN_SHUTDOWN
        || *code == S::CRASH_SHUTDOWN
        || *code == S::CANNOT_CONNECT_NOW
        || *code == S::TOO_MANY_CONNECTIONS
        || code.code().starts_with("08")
    {
        Some("the database is unavailable")
    } else if *code == S::T_R_SERIALIZATION_FAILURE
        || *code == S::T_R_DEADLOCK_DETECTED
        || *code == S::LOCK_NOT_AVAILABLE
    {
        Some("the database is busy")
    } else {
        None
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Error::Postgres(e),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl PgStore {
    /// Connects to `url` and runs pending migrations (blocking).
    pub fn open(url: &str) -> anyhow::Result<PgStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("--database: cannot read \"{url}\": {e}"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("engage-postgres")
            .enable_all()
            .build()?;
        let mgr = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _g = rt.enter();
            Pool::builder(mgr)
                .max_size(16)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(10)))
                .create_timeout(Some(Duration::from_secs(5)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()?
        };
        let mut me = [0u8; 8];
        getrandom::fill(&mut me).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let store = PgStore {
            rt: Some(rt),
            pool,
            config,
            me: me.iter().map(|b| format!("{b:02x}")).collect(),
            fault: Mutex::new(None),
            availability: Mutex::new(()),
            partitions: Mutex::new(HashSet::new()),
        };
        store
            .run(store.migrate())
            .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL database: {e}"))?;
        Ok(store)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        // Only `Drop` takes it.
        self.rt
            .as_ref()
            .expect("the store's runtime lives as long as the store")
    }

    /// Runs `f` to completion on this thread, with the store's runtime as the context for the
    /// connections it opens and the timers it sets; remembers a storage fault until a call
    /// succeeds again.
    pub(crate) fn run<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        let out = {
            let _g = self.runtime().enter();
            futures_executor::block_on(f)
        };
        match &out {
            Ok(_) => {
                if lock(&self.fault).is_some() {
                    tracing::info!("the database works again");
                    *lock(&self.fault) = None;
                }
            }
            Err(e) => {
                if let Some(kind) = super::fault_kind(e) {
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

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS engage_migrations (
                version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let done: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM engage_migrations",
                &[],
            )
            .await?
            .try_get(0)?;
        if done > MIGRATIONS.len() as i64 {
            return Err(Error::Unavailable(format!(
                "the database was written by a newer engage-server (schema {done}, this one knows {})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO engage_migrations (version, applied_at)
                 VALUES ($1, (extract(epoch from now()) * 1000)::bigint)",
                &[&(i as i64 + 1)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The payload of a change notification.
    fn payload(&self, change: &Notice) -> String {
        let body = match change {
            Notice::Active { site } => format!("a\t{site}"),
            Notice::Availability { site, skill } => format!("v\t{site}\t{skill}"),
            Notice::Campaign { site, id } => format!("c\t{site}\t{id}"),
        };
        format!("{}\t{body}", self.me)
    }

    /// Announces `change` when `c`'s transaction commits (or now, outside one).
    pub(crate) async fn notify(&self, c: &impl GenericClient, change: &Notice) -> Result<()> {
        let p = self.payload(change);
        exec(c, "SELECT pg_notify($1, $2)", &[&CHANNEL, &p]).await?;
        Ok(())
    }

    /// Creates the monthly partitions the instants `ats` fall in, once per process.
    async fn ensure_partitions(&self, c: &impl GenericClient, ats: &[i64]) -> Result<()> {
        let mut months: Vec<(i64, i64, String)> = Vec::new();
        for &at in ats {
            let (start, end, name) = month_of(at);
            if !lock(&self.partitions).contains(&start) && !months.iter().any(|m| m.0 == start) {
                months.push((start, end, name));
            }
        }
        for (start, end, name) in months {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF events
                 FOR VALUES FROM ({start}) TO ({end})"
            );
            match c.batch_execute(&sql).await {
                Ok(()) => {}
                // Another process created it at the same moment.
                Err(e)
                    if is_unique_violation(&e)
                        || e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_TABLE) => {}
                Err(e) => return Err(e.into()),
            }
            lock(&self.partitions).insert(start);
        }
        Ok(())
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is refused inside async code; this does not.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The month `at` (ms) falls in: its first and last-plus-one instant and a partition name.
fn month_of(at: i64) -> (i64, i64, String) {
    use chrono::{Datelike, TimeZone, Utc};
    let t = Utc.timestamp_millis_opt(at).single().unwrap_or_default();
    let (y, m) = (t.year(), t.month());
    let start = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = Utc
        .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (
        start.timestamp_millis(),
        end.timestamp_millis(),
        format!("events_{:04}_{:02}", y.clamp(0, 9999), m),
    )
}

// ---- query helpers: every statement is prepared once per connection (deadpool's cache)

pub(crate) async fn rows(c: &impl GenericClient, sql: &str, p: &Params<'_>) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

pub(crate) async fn opt(c: &impl GenericClient, sql: &str, p: &Params<'_>) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

pub(crate) async fn one(c: &impl GenericClient, sql: &str, p: &Params<'_>) -> Result<Row> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, p).await?)
}

pub(crate) async fn exec(c: &impl GenericClient, sql: &str, p: &Params<'_>) -> Result<u64> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

fn stored(r: &Row) -> Result<StoredVersion> {
    Ok(StoredVersion {
        version: r.try_get::<_, i64>(0)? as u64,
        document: r.try_get(1)?,
        bundle: r.try_get(2)?,
    })
}

fn availability_row(r: &Row) -> Result<AvailabilityRow> {
    let n =
        |i: usize| -> Result<u32> { Ok(r.try_get::<_, i64>(i)?.clamp(0, u32::MAX as i64) as u32) };
    Ok(AvailabilityRow {
        site: r.try_get(0)?,
        skill: r.try_get(1)?,
        availability: SkillAvailability {
            agents_online: n(2)?,
            agents_with_capacity: n(3)?,
            expected_wait_seconds: n(4)?,
        },
        updated_at: r.try_get(5)?,
    })
}

const AVAILABILITY_COLS: &str =
    "site, skill, agents_online, agents_with_capacity, expected_wait_seconds, updated_at";

fn bundle_text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

impl VersionStore for PgStore {
    fn next_version(&self, site: &str) -> Result<u64> {
        self.run(async {
            let c = self.client().await?;
            let r = one(
                &c,
                "SELECT coalesce(max(version), 0) + 1 FROM versions WHERE site = $1",
                &[&site],
            )
            .await?;
            Ok(r.try_get::<_, i64>(0)? as u64)
        })
    }

    fn insert_version(&self, v: &NewVersion<'_>) -> Result<()> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            exec(
                &tx,
                "INSERT INTO sites (id, active_version, created_at) VALUES ($1, NULL, $2)
                 ON CONFLICT (id) DO NOTHING",
                &[&v.site, &v.created_at],
            )
            .await?;
            // Uploads of one site queue here, whichever process they reached.
            exec(
                &tx,
                "SELECT 1 FROM sites WHERE id = $1 FOR UPDATE",
                &[&v.site],
            )
            .await?;
            let next: i64 = one(
                &tx,
                "SELECT coalesce(max(version), 0) + 1 FROM versions WHERE site = $1",
                &[&v.site],
            )
            .await?
            .try_get(0)?;
            if next != v.version as i64 {
                return Err(Error::Conflict(format!(
                    "version {} of site \"{}\" was taken by another server",
                    v.version, v.site
                )));
            }
            exec(
                &tx,
                "INSERT INTO versions (site, version, created_at, change, campaigns, warnings,
                                       document, bundle, key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &v.site,
                    &(v.version as i64),
                    &v.created_at,
                    &v.change,
                    &(v.campaigns as i64),
                    &v.warnings,
                    &v.document,
                    &bundle_text(v.bundle),
                    &v.key,
                ],
            )
            .await?;
            exec(
                &tx,
                "UPDATE sites SET active_version = $2 WHERE id = $1",
                &[&v.site, &(v.version as i64)],
            )
            .await?;
            self.notify(
                &tx,
                &Notice::Active {
                    site: v.site.to_owned(),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn activate(&self, site: &str, version: u64, bundle: Option<&[u8]>) -> Result<()> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            if let Some(b) = bundle {
                exec(
                    &tx,
                    "UPDATE versions SET bundle = $3 WHERE site = $1 AND version = $2",
                    &[&site, &(version as i64), &bundle_text(b)],
                )
                .await?;
            }
            exec(
                &tx,
                "UPDATE sites SET active_version = $2 WHERE id = $1",
                &[&site, &(version as i64)],
            )
            .await?;
            self.notify(
                &tx,
                &Notice::Active {
                    site: site.to_owned(),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn update_bundle(&self, site: &str, version: u64, old: &str, bundle: &[u8]) -> Result<bool> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = exec(
                &tx,
                "UPDATE versions SET bundle = $3 WHERE site = $1 AND version = $2 AND bundle = $4",
                &[&site, &(version as i64), &bundle_text(bundle), &old],
            )
            .await?;
            if n > 0 {
                self.notify(
                    &tx,
                    &Notice::Active {
                        site: site.to_owned(),
                    },
                )
                .await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn version(&self, site: &str, version: u64) -> Result<Option<StoredVersion>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                "SELECT version, document, bundle FROM versions WHERE site = $1 AND version = $2",
                &[&site, &(version as i64)],
            )
            .await?
            .as_ref()
            .map(stored)
            .transpose()
        })
    }

    fn active(&self, site: &str) -> Result<Option<StoredVersion>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                "SELECT v.version, v.document, v.bundle FROM sites s
                 JOIN versions v ON v.site = s.id AND v.version = s.active_version
                 WHERE s.id = $1",
                &[&site],
            )
            .await?
            .as_ref()
            .map(stored)
            .transpose()
        })
    }

    fn all_active(&self) -> Result<Vec<(String, StoredVersion)>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT v.version, v.document, v.bundle, s.id FROM sites s
                 JOIN versions v ON v.site = s.id AND v.version = s.active_version",
                &[],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(3)?, stored(r)?)))
            .collect()
        })
    }

    fn versions(&self, site: &str) -> Result<Option<Vec<VersionInfo>>> {
        self.run(async {
            let c = self.client().await?;
            let Some(active) = opt(
                &c,
                "SELECT active_version FROM sites WHERE id = $1",
                &[&site],
            )
            .await?
            else {
                return Ok(None);
            };
            let active: Option<i64> = active.try_get(0)?;
            rows(
                &c,
                "SELECT version, created_at, change, campaigns,
                        json_array_length(warnings::json)::bigint, key
                 FROM versions WHERE site = $1 ORDER BY version DESC",
                &[&site],
            )
            .await?
            .iter()
            .map(|r| {
                let version: i64 = r.try_get(0)?;
                Ok(VersionInfo {
                    version: version as u64,
                    created_at: engage_engine::schedule::format_instant(r.try_get(1)?),
                    change: r.try_get(2)?,
                    campaigns: r.try_get::<_, i64>(3)? as u64,
                    warnings: r.try_get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                    key: r.try_get(5)?,
                    active: Some(version) == active,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
        })
    }

    fn count_versions(&self) -> Result<u64> {
        self.run(async {
            let c = self.client().await?;
            Ok(one(&c, "SELECT count(*) FROM versions", &[])
                .await?
                .try_get::<_, i64>(0)? as u64)
        })
    }

    fn put_availability(
        &self,
        site: &str,
        skill: &str,
        a: &SkillAvailability,
        at: i64,
        then: &mut dyn FnMut(),
    ) -> Result<()> {
        let _order = lock(&self.availability);
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            exec(
                &tx,
                "INSERT INTO availability (site, skill, agents_online, agents_with_capacity,
                                           expected_wait_seconds, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (site, skill) DO UPDATE SET
                   agents_online = excluded.agents_online,
                   agents_with_capacity = excluded.agents_with_capacity,
                   expected_wait_seconds = excluded.expected_wait_seconds,
                   updated_at = excluded.updated_at",
                &[
                    &site,
                    &skill,
                    &i64::from(a.agents_online),
                    &i64::from(a.agents_with_capacity),
                    &i64::from(a.expected_wait_seconds),
                    &at,
                ],
            )
            .await?;
            let change = Notice::Availability {
                site: site.to_owned(),
                skill: skill.to_owned(),
            };
            self.notify(&tx, &change).await?;
            tx.commit().await?;
            Ok(())
        })?;
        then();
        Ok(())
    }

    fn availability(&self, site: &str, skill: &str) -> Result<Option<AvailabilityRow>> {
        self.run(async {
            let c = self.client().await?;
            opt(
                &c,
                &format!(
                    "SELECT {AVAILABILITY_COLS} FROM availability WHERE site = $1 AND skill = $2"
                ),
                &[&site, &skill],
            )
            .await?
            .as_ref()
            .map(availability_row)
            .transpose()
        })
    }

    fn all_availability(&self) -> Result<Vec<AvailabilityRow>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &format!("SELECT {AVAILABILITY_COLS} FROM availability"),
                &[],
            )
            .await?
            .iter()
            .map(availability_row)
            .collect()
        })
    }

    fn insert_events(
        &self,
        site: &str,
        visitor: &str,
        events: &[Event],
        received_at: i64,
    ) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        // One statement for the whole batch, whatever its size: columns as arrays.
        let visit: Vec<i64> = events.iter().map(|e| i64::from(e.visit)).collect();
        let kind: Vec<&str> = events.iter().map(|e| kind_str(e.kind)).collect();
        let at: Vec<i64> = events.iter().map(|e| e.at).collect();
        let campaign: Vec<Option<&str>> = events.iter().map(|e| e.campaign.as_deref()).collect();
        let engagement: Vec<Option<&str>> =
            events.iter().map(|e| e.engagement.as_deref()).collect();
        let zone: Vec<Option<&str>> = events.iter().map(|e| e.zone.as_deref()).collect();
        let state: Vec<Option<&str>> = events.iter().map(|e| e.state.map(|s| s.as_str())).collect();
        let name: Vec<Option<&str>> = events.iter().map(|e| e.name.as_deref()).collect();
        let value: Vec<Option<f64>> = events.iter().map(|e| e.value).collect();
        self.run(async {
            let c = self.client().await?;
            self.ensure_partitions(&c, &at).await?;
            let n = exec(
                &c,
                "INSERT INTO events (site, visitor, visit, kind, at, campaign, engagement, zone,
                                     state, name, value, received_at)
                 SELECT $1, $2, u.visit, u.kind, u.at, u.campaign, u.engagement, u.zone, u.state,
                        u.name, u.value, $12
                 FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::float8[])
                      AS u(visit, kind, at, campaign, engagement, zone, state, name, value)
                 ON CONFLICT DO NOTHING",
                &[
                    &site,
                    &visitor,
                    &visit,
                    &kind,
                    &at,
                    &campaign,
                    &engagement,
                    &zone,
                    &state,
                    &name,
                    &value,
                    &received_at,
                ],
            )
            .await?;
            Ok(n as usize)
        })
    }

    fn event_counts(&self, site: &str, from: i64, to: i64) -> Result<Vec<EventCount>> {
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                "SELECT campaign, engagement, kind, count(*) FROM events
                 WHERE site = $1 AND kind IN ('impression', 'accept', 'decline')
                   AND at >= $2 AND at < $3 AND campaign IS NOT NULL
                 GROUP BY campaign, engagement, kind",
                &[&site, &from, &to],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(EventCount {
                    campaign: r.try_get(0)?,
                    engagement: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    count: r.try_get::<_, i64>(3)? as u64,
                })
            })
            .collect()
        })
    }

    fn event_groups(&self, q: &GroupQuery<'_>) -> Result<Vec<GroupRow>> {
        let (sel, grp) = if q.by_engagement {
            ("campaign, engagement", "campaign, engagement")
        } else {
            ("campaign, NULL::text AS engagement", "campaign")
        };
        let sql = format!(
            "WITH firsts AS (
                SELECT {sel}, visitor, min(at) AS t0 FROM events
                WHERE site = $1 AND kind = $2 AND at >= $3 AND at < $4 AND campaign IS NOT NULL
                GROUP BY {grp}, visitor)
             SELECT f.campaign, f.engagement, count(DISTINCT f.visitor),
                    count(DISTINCT CASE WHEN g.id IS NOT NULL THEN f.visitor END),
                    count(g.id), coalesce(sum(g.value), 0)::float8
             FROM firsts f
             LEFT JOIN events g ON g.site = $1 AND g.visitor = f.visitor AND g.kind = 'goal'
                  AND g.at >= f.t0 AND g.at < f.t0 + $5 AND ($6::text IS NULL OR g.name = $6)
             GROUP BY f.campaign, f.engagement"
        );
        self.run(async {
            let c = self.client().await?;
            rows(
                &c,
                &sql,
                &[&q.site, &q.kind, &q.from, &q.to, &q.window_ms, &q.goal],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(GroupRow {
                    campaign: r.try_get(0)?,
                    engagement: r.try_get(1)?,
                    visitors: r.try_get::<_, i64>(2)? as u64,
                    converters: r.try_get::<_, i64>(3)? as u64,
                    conversions: r.try_get::<_, i64>(4)? as u64,
                    value: r.try_get(5)?,
                })
            })
            .collect()
        })
    }
}

impl Storage for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    fn ping(&self) -> Result<()> {
        self.run(async {
            let c = self.client().await?;
            c.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Option<Notice>>> {
        Some(listen::start(self))
    }
}
