//! Versions: validate and compile (the engine does both), store and activate atomically, then
//! swap the in-memory cache. Also the recompilation of bundles nearing `valid_until`.

use engage_engine::bundle::{Bundle, BUNDLE_FORMAT};
use engage_engine::compile::{compile, CompileOptions};
use engage_engine::model::Document;
use engage_engine::validate::{check_document, Problem};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::encoded::Encoded;
use crate::error::{ApiError, Detail};
use crate::state::{Active, AppState, Site, HORIZON_DAYS, REFRESH_MARGIN_MS};
use crate::store::{NewVersion, StoredVersion};

pub fn problems(p: Vec<Problem>) -> Vec<Detail> {
    p.into_iter()
        .map(|p| Detail::new(p.path, p.message))
        .collect()
}

pub struct Compiled {
    pub bundle: Bundle,
    pub document: Document,
    pub warnings: Vec<Detail>,
}

pub fn options(now: i64, version: u64) -> CompileOptions {
    CompileOptions {
        version,
        horizon_days: HORIZON_DAYS,
        ..CompileOptions::at(now)
    }
}

/// Parses, validates and compiles `text` as the document of `site` (any site when `None`, for
/// drafts); every problem is reported.
pub fn compile_document(
    text: &str,
    site: Option<&str>,
    opts: CompileOptions,
) -> Result<Compiled, ApiError> {
    let invalid = |details: Vec<Detail>| {
        let n = details.len();
        ApiError::unprocessable(
            "invalid_document",
            format!(
                "the campaign document is invalid ({n} problem{})",
                if n == 1 { "" } else { "s" }
            ),
            details,
        )
    };
    let document = check_document(text, opts.now).map_err(|p| invalid(problems(p)))?;
    let mut details = Vec::new();
    if let Some(site) = site.filter(|s| *s != document.site) {
        details.push(Detail::new(
            "site",
            format!(
                "the document is for site \"{}\" but was sent to site \"{site}\"",
                document.site.escape_default()
            ),
        ));
    }
    match compile(&document, opts) {
        Err(p) => {
            details.extend(problems(p));
            Err(invalid(details))
        }
        Ok(_) if !details.is_empty() => Err(invalid(details)),
        Ok(c) => Ok(Compiled {
            bundle: c.bundle,
            document,
            warnings: problems(c.warnings),
        }),
    }
}

fn build_active(version: u64, bundle: Bundle, document: Document) -> Result<Arc<Active>, ApiError> {
    let bytes = serde_json::to_vec(&bundle).map_err(ApiError::internal)?;
    Ok(Arc::new(Active {
        version,
        body: Encoded::new(bytes, "application/json", &version.to_string()),
        bundle: Arc::new(bundle),
        document: Arc::new(document),
    }))
}

#[derive(serde::Serialize)]
pub struct Published {
    pub version: u64,
    pub warnings: Vec<Detail>,
}

/// Makes a new version of `site_id` from its current document (`None`: no version yet) and
/// activates it. `edit` returns the new document text. Runs under the site's edit lock.
pub async fn publish<F>(
    st: &AppState,
    site_id: &str,
    change: String,
    needs_current: bool,
    edit: F,
) -> Result<Published, ApiError>
where
    F: FnOnce(Option<&str>) -> Result<String, ApiError> + Send + 'static,
{
    let site = st.sites.get_or_create(site_id);
    let _guard = site.edit.lock().await;
    let st2 = st.clone();
    let site2 = site.clone();
    let key = crate::auth::current_key();
    run_blocking(move || {
        let st = st2;
        let current = site2
            .active()
            .filter(|_| needs_current)
            .map(|_| st.store.active(&site2.id))
            .transpose()?
            .flatten()
            .map(|v| v.document);
        let text = edit(current.as_deref())?;
        let now = st.now();
        // The number is a guess until the insert: another server sharing the database may take
        // it first, and then the document is compiled again under the next one.
        let mut attempt = 0;
        let (version, active, warnings) = loop {
            attempt += 1;
            let version = st.store.next_version(&site2.id)?;
            let c = compile_document(&text, Some(&site2.id), options(now, version))?;
            st.metrics.compiles.fetch_add(1, Ordering::Relaxed);
            let campaigns = c.document.campaigns.len();
            let warnings_json = serde_json::to_string(&c.warnings).map_err(ApiError::internal)?;
            let active = build_active(version, c.bundle, c.document)?;
            match st.store.insert_version(&NewVersion {
                site: &site2.id,
                key: &key,
                version,
                created_at: now,
                change: &change,
                campaigns,
                warnings: &warnings_json,
                document: &text,
                bundle: &active.body.identity,
            }) {
                Ok(()) => break (version, active, c.warnings),
                Err(crate::store::Error::Conflict(why)) if attempt < 10 => {
                    tracing::info!(site = %site2.id, "{why}; compiling again");
                }
                Err(e) => return Err(e.into()),
            }
        };
        st.metrics.versions_stored.fetch_add(1, Ordering::Relaxed);
        site2.set_active(active);
        tracing::info!(site = %site2.id, version, %change, "new version active");
        Ok(Published { version, warnings })
    })
    .await
}

/// Makes an existing version active again (rollback or forward).
pub async fn activate(st: &AppState, site: Arc<Site>, version: u64) -> Result<(), ApiError> {
    let lock_owner = site.clone();
    let _guard = lock_owner.edit.lock().await;
    let st = st.clone();
    run_blocking(move || {
        let stored = st.store.version(&site.id, version)?.ok_or_else(|| {
            ApiError::not_found(format!("site \"{}\" has no version {version}", site.id))
        })?;
        let now = st.now();
        let (active, recompiled) = ready(&st, &site.id, stored, now)?;
        st.store.activate(
            &site.id,
            version,
            recompiled.then_some(&active.body.identity[..]),
        )?;
        site.set_active(active);
        tracing::info!(site = %site.id, version, "version activated");
        Ok(())
    })
    .await
}

/// The stored version as an `Active`, recompiled when its bundle is near expiry or was written
/// by an older bundle format. The flag says whether it was recompiled.
fn ready(
    st: &AppState,
    site: &str,
    v: StoredVersion,
    now: i64,
) -> Result<(Arc<Active>, bool), ApiError> {
    let parsed = serde_json::from_str::<Bundle>(&v.bundle)
        .ok()
        .filter(|b| b.format == BUNDLE_FORMAT && now + REFRESH_MARGIN_MS < b.valid_until);
    let document = serde_json::from_str::<Document>(&v.document).ok();
    match (parsed, document) {
        (Some(bundle), Some(document)) => {
            let active = Arc::new(Active {
                version: v.version,
                body: Encoded::new(
                    v.bundle.into_bytes(),
                    "application/json",
                    &v.version.to_string(),
                ),
                bundle: Arc::new(bundle),
                document: Arc::new(document),
            });
            Ok((active, false))
        }
        _ => {
            let c = compile_document(&v.document, Some(site), options(now, v.version))?;
            st.metrics.compiles.fetch_add(1, Ordering::Relaxed);
            Ok((build_active(v.version, c.bundle, c.document)?, true))
        }
    }
}

/// The stored version as an `Active`, recompiled (and stored) if needed. When another server
/// stored a recompiled bundle first, its bytes are served instead, so that every server sends
/// the same bytes and ETag.
pub fn load_active(
    st: &AppState,
    site: &str,
    v: StoredVersion,
    now: i64,
) -> Result<Arc<Active>, ApiError> {
    let version = v.version;
    let old = v.bundle.clone();
    let (active, recompiled) = ready(st, site, v, now)?;
    if !recompiled
        || st
            .store
            .update_bundle(site, version, &old, &active.body.identity)?
    {
        return Ok(active);
    }
    match st.store.version(site, version)? {
        Some(v) => Ok(ready(st, site, v, now)?.0),
        None => Ok(active),
    }
}

/// Recompiles the active bundle of `site` if it is within `REFRESH_MARGIN_MS` of `valid_until`.
pub async fn refresh(st: &AppState, site: Arc<Site>) -> Result<bool, ApiError> {
    let lock_owner = site.clone();
    let _guard = lock_owner.edit.lock().await;
    let now = st.now();
    let Some(active) = site.active() else {
        return Ok(false);
    };
    if now + REFRESH_MARGIN_MS < active.valid_until() {
        return Ok(false);
    }
    let st = st.clone();
    run_blocking(move || {
        let Some(stored) = st.store.version(&site.id, active.version)? else {
            return Ok(false);
        };
        // Another server may have recompiled it already: then its bundle is used as it is.
        let fresh = load_active(&st, &site.id, stored, now)?;
        let changed = fresh.body.identity != active.body.identity;
        site.set_active(fresh);
        if changed {
            tracing::info!(site = %site.id, version = active.version, "bundle recompiled over a new horizon");
        }
        Ok(changed)
    })
    .await
}

/// Starts a refresh in the background unless one is running.
pub fn refresh_soon(st: &AppState, site: &Arc<Site>) {
    if site.refreshing.swap(true, Ordering::AcqRel) {
        return;
    }
    let (st, site) = (st.clone(), site.clone());
    tokio::spawn(async move {
        if let Err(e) = refresh(&st, site.clone()).await {
            tracing::warn!(site = %site.id, "bundle refresh failed: {}", e.message);
        }
        site.refreshing.store(false, Ordering::Release);
    });
}

/// Every `interval`, refreshes bundles near expiry; stops at shutdown.
pub async fn refresher(st: AppState, interval: std::time::Duration) {
    let mut shutdown = st.shutdown.subscribe();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        for site in st.sites.all() {
            if let Err(e) = refresh(&st, site.clone()).await {
                tracing::warn!(site = %site.id, "bundle refresh failed: {}", e.message);
            }
        }
    }
}

/// Runs blocking work (SQLite, compilation) off the async workers.
pub async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}
