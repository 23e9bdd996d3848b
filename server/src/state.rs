//! Shared state: configuration, storage, and the in-memory per-site caches the hot GETs answer
//! from (the active bundle as ready-to-send bytes, the availability snapshot and its watch
//! channel).

use axum::http::HeaderName;
use engage_engine::availability::{Availability, SkillAvailability};
use engage_engine::bundle::Bundle;
use engage_engine::model::Document;
use engage_engine::regexp::NativeRegex;
use engage_engine::schedule::format_instant;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

use crate::encoded::Encoded;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::statics::TagCache;
use crate::store::Store;

/// Everything configurable (flags and environment, see `main.rs`).
#[derive(Debug, Clone)]
pub struct Config {
    pub data: PathBuf,
    /// `--database`: `sqlite://<path>` or `postgres://…`; `None`: `engage.sqlite3` in `data`.
    pub database: Option<String>,
    pub www: PathBuf,
    /// The request header carrying the visitor's ISO country code (set by a CDN or proxy).
    pub country_header: Option<HeaderName>,
    /// The request header carrying the client IP (behind a proxy); else the peer address.
    pub client_ip_header: Option<HeaderName>,
    /// Base URL of offsite links in QR codes; else `http://<Host>`.
    pub public_url: Option<String>,
    /// This server's own address as a URL (`http://127.0.0.1:8080`): the base of the webhook
    /// URLs handed to SMS providers when no `public_url` is set.
    pub listen_url: Option<String>,
    pub max_document_bytes: usize,
    /// Event batches per minute per client IP (0: unlimited).
    pub rate_ip_per_minute: u32,
    /// Event batches per minute per visitor (0: unlimited).
    pub rate_visitor_per_minute: u32,
    pub request_timeout: Duration,
    /// How often the background task looks for bundles near their `valid_until`.
    pub refresh_interval: Duration,
    /// Proxies whose forwarding header is believed (`--trusted-proxy`); none by default.
    pub trusted_proxies: Vec<crate::limits::Cidr>,
    /// Open availability streams per client address, and in all.
    pub sse_per_address: usize,
    pub sse_total: usize,
    /// A request body must have arrived within this long.
    pub body_timeout: Duration,
}

impl Config {
    /// Defaults for `data` (tests and embedding).
    pub fn new(data: impl Into<PathBuf>) -> Self {
        Config {
            data: data.into(),
            database: None,
            www: PathBuf::from("www"),
            country_header: None,
            client_ip_header: None,
            public_url: None,
            listen_url: None,
            max_document_bytes: engage_engine::validate::MAX_DOCUMENT_BYTES + (1 << 20),
            rate_ip_per_minute: 1200,
            rate_visitor_per_minute: 120,
            request_timeout: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(3600),
            trusted_proxies: Vec::new(),
            sse_per_address: 16,
            sse_total: 10_000,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Schedules are expanded this far ahead when compiling.
pub const HORIZON_DAYS: u32 = 35;
/// A bundle this close to its `valid_until` is recompiled.
pub const REFRESH_MARGIN_MS: i64 = 7 * 86_400_000;

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub store: Arc<Store>,
    pub sites: Sites,
    pub admin_digest: [u8; 32],
    pub metrics: Metrics,
    pub regex: NativeRegex,
    pub ip_limiter: RateLimiter,
    pub visitor_limiter: RateLimiter,
    pub shutdown: watch::Sender<bool>,
    pub clock: Clock,
    pub tag: TagCache,
    pub sms: crate::sms::Sms,
    pub handoffs: crate::conversations::Handoffs,
    pub streams: Arc<crate::limits::Streams>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Opens the store in `config.data` and loads every site's active version and availability.
    /// Blocking (start-up only).
    pub fn open(config: Config, admin_digest: [u8; 32]) -> anyhow::Result<AppState> {
        Self::open_with_clock(config, admin_digest, system_clock())
    }

    pub fn open_with_clock(
        config: Config,
        admin_digest: [u8; 32],
        clock: Clock,
    ) -> anyhow::Result<AppState> {
        let store = crate::store::open(config.database.as_deref(), &config.data)?;
        let (shutdown, _) = watch::channel(false);
        let streams = crate::limits::Streams::new(config.sse_per_address, config.sse_total);
        let st = AppState(Arc::new(Shared {
            ip_limiter: RateLimiter::new(
                config.rate_ip_per_minute,
                config.rate_ip_per_minute.max(20),
            ),
            visitor_limiter: RateLimiter::new(
                config.rate_visitor_per_minute,
                config.rate_visitor_per_minute.clamp(1, 30),
            ),
            config,
            store,
            sites: Sites::default(),
            admin_digest,
            metrics: Metrics::default(),
            regex: NativeRegex::new(),
            shutdown,
            clock,
            tag: TagCache::default(),
            sms: crate::sms::Sms::default(),
            handoffs: crate::conversations::Handoffs::default(),
            streams,
        }));
        st.load()?;
        Ok(st)
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Ends open SSE streams (graceful shutdown).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    fn load(&self) -> anyhow::Result<()> {
        let now = self.now();
        for (site_id, v) in self.store.all_active()? {
            let site = self.sites.get_or_create(&site_id);
            match crate::publish::load_active(self, &site_id, v, now) {
                Ok(active) => site.set_active(active),
                Err(e) => tracing::error!(site = %site_id, "cannot load the active version: {e}"),
            }
        }
        let mut by_site: HashMap<String, Vec<_>> = HashMap::new();
        for row in self.store.all_availability()? {
            by_site.entry(row.site.clone()).or_default().push(row);
        }
        for (site_id, rows) in by_site {
            let site = self.sites.get_or_create(&site_id);
            site.availability.send_modify(|snap| {
                let mut skills = snap.skills.clone();
                let mut updated = snap.updated_at;
                for r in rows {
                    skills.insert(r.skill, r.availability);
                    updated = updated.max(Some(r.updated_at));
                }
                let doc = site.active().map(|a| a.document.clone());
                *snap = Arc::new(AvailSnapshot::new(skills, updated, doc.as_deref()));
            });
        }
        self.metrics
            .versions_stored
            .store(self.store.count_versions()?, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Default)]
pub struct Sites {
    map: RwLock<HashMap<String, Arc<Site>>>,
}

impl Sites {
    pub fn get(&self, id: &str) -> Option<Arc<Site>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn get_or_create(&self, id: &str) -> Arc<Site> {
        if let Some(s) = self.get(id) {
            return s;
        }
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Site::new(id)))
            .clone()
    }

    pub fn all(&self) -> Vec<Arc<Site>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

pub struct Site {
    pub id: String,
    active: RwLock<Option<Arc<Active>>>,
    availability: watch::Sender<Arc<AvailSnapshot>>,
    /// Held across every change of the site's versions (upload, edit, activate, refresh), so
    /// read-modify-write edits never lose each other's changes.
    pub edit: tokio::sync::Mutex<()>,
    pub refreshing: AtomicBool,
}

impl Site {
    fn new(id: &str) -> Self {
        Site {
            id: id.to_owned(),
            active: RwLock::new(None),
            availability: watch::channel(Arc::new(AvailSnapshot::new(
                Availability::new(),
                None,
                None,
            )))
            .0,
            edit: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
        }
    }

    pub fn active(&self) -> Option<Arc<Active>> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_active(&self, a: Arc<Active>) {
        let doc = a.document.clone();
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Some(a);
        // Skill states depend on the document's max waits.
        self.availability.send_if_modified(|snap| {
            let fresh = AvailSnapshot::new(snap.skills.clone(), snap.updated_at, Some(&doc));
            let changed = fresh.body.identity != snap.body.identity;
            if changed {
                *snap = Arc::new(fresh);
            }
            changed
        });
    }

    pub fn availability(&self) -> Arc<AvailSnapshot> {
        self.availability.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<AvailSnapshot>> {
        self.availability.subscribe()
    }

    /// Records one skill's numbers (call with the store's writer lock held, so the in-memory
    /// order matches the stored order).
    pub fn set_skill(&self, skill: &str, a: SkillAvailability, at: i64) {
        self.availability.send_modify(|snap| {
            let mut skills = snap.skills.clone();
            skills.insert(skill.to_owned(), a);
            let doc = self.active().map(|a| a.document.clone());
            *snap = Arc::new(AvailSnapshot::new(
                skills,
                snap.updated_at.max(Some(at)),
                doc.as_deref(),
            ));
        });
    }

    /// A site the public API answers for: it has an active version or availability.
    pub fn is_known(&self) -> bool {
        self.active().is_some() || self.availability.borrow().updated_at.is_some()
    }
}

/// The active version of a site, ready to serve.
pub struct Active {
    pub version: u64,
    pub bundle: Arc<Bundle>,
    pub body: Encoded,
    pub document: Arc<Document>,
}

impl Active {
    pub fn valid_until(&self) -> i64 {
        self.bundle.valid_until
    }
}

/// Every skill's availability as served: `{"skills": {...}, "updated_at": "..."}`.
pub struct AvailSnapshot {
    pub skills: Availability,
    pub updated_at: Option<i64>,
    pub body: Encoded,
}

impl AvailSnapshot {
    /// The feed's numbers per skill with the state they give (SPEC §4 rule 5, the engine's
    /// rule) under the skill's `max_wait_seconds` in `doc`; `declared` says whether the
    /// document names the skill (agent systems push all theirs).
    pub fn new(skills: Availability, updated_at: Option<i64>, doc: Option<&Document>) -> Self {
        let mut map = serde_json::Map::new();
        for (id, a) in skills.iter() {
            let declared = doc.and_then(|d| d.skills.iter().find(|k| &k.id == id));
            let max_wait = declared.map_or_else(engage_engine::model::default_max_wait, |k| {
                k.max_wait_seconds
            });
            let mut v = serde_json::json!({
                "agents_online": a.agents_online,
                "agents_with_capacity": a.agents_with_capacity,
                "expected_wait_seconds": a.expected_wait_seconds,
                "state": a.state(max_wait, false).as_str(),
            });
            if doc.is_some() {
                v["declared"] = serde_json::Value::Bool(declared.is_some());
            }
            map.insert(id.clone(), v);
        }
        let json = serde_json::json!({
            "skills": map,
            "updated_at": updated_at.map(format_instant),
        });
        let bytes = serde_json::to_vec(&json).unwrap_or_default();
        AvailSnapshot {
            body: Encoded::new(bytes, "application/json", ""),
            skills,
            updated_at,
        }
    }
}
