//! Storage: one interface ([`Storage`]), two backends.
//!
//! - [`sqlite`] (the default, `sqlite://<path>` or nothing): a file in the data directory, one
//!   writer connection and a few readers. One process.
//! - [`postgres`] (`postgres://…`): any number of engage-server processes share one database
//!   (SPEC §12). Version numbers, outbox claims and hand-off claims are decided by the database
//!   (`FOR UPDATE SKIP LOCKED`, unique keys), and changes reach the other processes through
//!   `LISTEN/NOTIFY` ([`Notice`] hints, see `crate::fanout`).
//!
//! Every call is blocking: the async side runs them on `spawn_blocking`. The traits are split by
//! table group ([`VersionStore`], [`sms::SmsStore`], [`conversations::ConversationStore`]) so that
//! each backend implements each group in a file of its own; [`Store`] is all of them.

use engage_engine::availability::SkillAvailability;
use engage_engine::visit::{Event, EventKind};
use std::path::Path;
use std::sync::Arc;

pub mod conversations;
pub mod keys;
pub mod postgres;
pub mod sms;
pub mod sqlite;

pub use conversations::ConversationStore;
pub use keys::KeyStore;
pub use sms::SmsStore;
pub use sqlite::DB_FILE;

/// A storage error of either backend.
#[derive(Debug)]
pub enum Error {
    Sqlite(rusqlite::Error),
    Postgres(tokio_postgres::Error),
    /// No connection could be had (the pool timed out or the server is unreachable).
    Unavailable(String),
    /// Another process changed the row first (a compare-and-set lost).
    Conflict(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "sqlite: {e}"),
            Error::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "postgres: {}: {}", db.code().code(), db.message()),
                None => write!(f, "postgres: {e}"),
            },
            Error::Unavailable(e) => write!(f, "the database is unreachable: {e}"),
            Error::Conflict(e) => write!(f, "conflict: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

/// Whether an error is the storage refusing writes (rather than a bug): those are answered 503
/// with `Retry-After`, and the server keeps serving what it holds in memory.
pub fn fault_kind(e: &Error) -> Option<&'static str> {
    match e {
        Error::Sqlite(e) => sqlite::fault_kind(e),
        Error::Postgres(e) => postgres::fault_kind(e),
        Error::Unavailable(_) => Some("the database is unreachable"),
        Error::Conflict(_) => None,
    }
}

/// A version to store and activate.
pub struct NewVersion<'a> {
    pub site: &'a str,
    /// The access key that made it (`owner` for the owner key).
    pub key: &'a str,
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
    /// The access key that made it.
    pub key: String,
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

/// Impressions, accepts or declines of one campaign and engagement (`kind` as stored).
pub struct EventCount {
    pub campaign: String,
    pub engagement: Option<String>,
    pub kind: String,
    pub count: u64,
}

/// What a report's group query covers (see `report.rs`).
#[derive(Clone, Copy)]
pub struct GroupQuery<'a> {
    pub site: &'a str,
    /// `impression` (exposed) or `control`.
    pub kind: &'a str,
    pub from: i64,
    pub to: i64,
    /// The attribution window after a visitor's first exposure or control event.
    pub window_ms: i64,
    /// Only goals of this name count.
    pub goal: Option<&'a str>,
    /// Per engagement, else per campaign (engagement `None`).
    pub by_engagement: bool,
}

/// Visitors of a group and the goals they reached in the window.
pub struct GroupRow {
    pub campaign: String,
    pub engagement: Option<String>,
    pub visitors: u64,
    pub converters: u64,
    pub conversions: u64,
    pub value: f64,
}

/// Which rows changed, so other processes re-read them: the PostgreSQL backend sends one as a
/// `NOTIFY` in the transaction that changes them (delivered at commit, SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Notice {
    /// A site's active version (upload, rollback, recompile).
    Active { site: String },
    /// One skill's availability.
    Availability { site: String, skill: String },
    /// An SMS campaign's rows (progress, status).
    Campaign { site: String, id: String },
}

/// Versions, availability and events.
pub trait VersionStore {
    /// The number the next version of `site` gets (a hint: [`VersionStore::insert_version`]
    /// refuses a number another process took first, with [`Error::Conflict`]).
    fn next_version(&self, site: &str) -> Result<u64>;
    /// Stores a new version and makes it the active one, durably, in one transaction.
    fn insert_version(&self, v: &NewVersion<'_>) -> Result<()>;
    /// Makes an existing version active (and replaces its bundle when it was recompiled).
    fn activate(&self, site: &str, version: u64, bundle: Option<&[u8]>) -> Result<()>;
    /// Replaces the stored bundle of a version (recompiled over a later horizon) if it is still
    /// `old`; false when another process replaced it first (the caller re-reads it).
    fn update_bundle(&self, site: &str, version: u64, old: &str, bundle: &[u8]) -> Result<bool>;
    fn version(&self, site: &str, version: u64) -> Result<Option<StoredVersion>>;
    fn active(&self, site: &str) -> Result<Option<StoredVersion>>;
    /// Every site's active version (start-up).
    fn all_active(&self) -> Result<Vec<(String, StoredVersion)>>;
    /// The history of a site, newest first; `None` when the site has no version.
    fn versions(&self, site: &str) -> Result<Option<Vec<VersionInfo>>>;
    fn count_versions(&self) -> Result<u64>;
    /// Stores one skill's numbers; `then` runs while no other availability write of this
    /// process can come in between (the cache sees writes in the stored order).
    fn put_availability(
        &self,
        site: &str,
        skill: &str,
        a: &SkillAvailability,
        at: i64,
        then: &mut dyn FnMut(),
    ) -> Result<()>;
    fn availability(&self, site: &str, skill: &str) -> Result<Option<AvailabilityRow>>;
    fn all_availability(&self) -> Result<Vec<AvailabilityRow>>;
    /// Stores a validated batch; returns how many events were new (duplicates are ignored).
    fn insert_events(
        &self,
        site: &str,
        visitor: &str,
        events: &[Event],
        received_at: i64,
    ) -> Result<usize>;
    /// Impressions, accepts and declines in `[from, to)` per campaign, engagement and kind.
    fn event_counts(&self, site: &str, from: i64, to: i64) -> Result<Vec<EventCount>>;
    /// Exposed or control visitors and their goals (one query).
    fn event_groups(&self, q: &GroupQuery<'_>) -> Result<Vec<GroupRow>>;
}

/// Everything stored, on either backend.
pub trait Storage: VersionStore + SmsStore + ConversationStore + KeyStore + Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The storage fault the last write met, while it lasts.
    fn fault(&self) -> Option<String>;
    /// A round trip to the database (`/healthz`).
    fn ping(&self) -> Result<()>;
    /// Whether other processes may share this database (then `crate::fanout` listens).
    fn shared(&self) -> bool;
    /// Subscribes to other processes' changes: hints arrive on the returned channel, and
    /// `None` means the listener reconnected (re-read everything). `None` on SQLite.
    fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Option<Notice>>>;
    /// The SQLite store itself (tests of SQLite's own limits).
    fn as_sqlite(&self) -> Option<&sqlite::SqliteStore> {
        None
    }
}

pub type Store = dyn Storage;

/// Opens the database `url` (`sqlite://<path>`, `postgres://…`; `None`: `engage.sqlite3` in
/// `dir`) and runs pending migrations. Blocking (start-up only).
pub fn open(url: Option<&str>, dir: &Path) -> anyhow::Result<Arc<Store>> {
    match url {
        None => Ok(Arc::new(sqlite::SqliteStore::open(&dir.join(DB_FILE))?)),
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Ok(Arc::new(postgres::PgStore::open(u)?))
        }
        Some(u) => match u.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => {
                Ok(Arc::new(sqlite::SqliteStore::open(Path::new(path))?))
            }
            _ => anyhow::bail!(
                "--database: \"{u}\" is not a database URL (sqlite://<path> or postgres://user@host/db)"
            ),
        },
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
