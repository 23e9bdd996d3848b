//! Change fan-out between servers sharing a PostgreSQL database (SPEC §12).
//!
//! A server that changes a site's active version, a skill's availability or an SMS campaign
//! sends a small hint in the same transaction (`NOTIFY`, see `store::postgres`). Here every
//! other server receives it, re-reads those rows and feeds its in-memory caches, the same
//! `watch` channels its own writes feed, so the bundle GET, the availability SSE streams and
//! the campaign streams need no code of their own for it. A reconnect of the listener (hints
//! may have been missed) and a periodic safety check re-read everything.
//!
//! Event ingestion sends no hints: reports read the database.

use std::collections::HashSet;
use std::time::Duration;

use crate::publish::{load_active, run_blocking};
use crate::state::AppState;
use crate::store::Notice;

/// Everything is re-read at least this often, whatever the listener says.
const SAFETY: Duration = Duration::from_secs(60);
/// Hints handled in one go at most (a burst is coalesced).
const BATCH: usize = 1024;

/// Starts listening when the store is shared with other processes (PostgreSQL); else nothing.
pub fn start(st: &AppState) {
    let Some(mut rx) = st.store.listen() else {
        return;
    };
    let st = st.clone();
    tokio::spawn(async move {
        let mut shutdown = st.shutdown.subscribe();
        let mut safety = tokio::time::interval(SAFETY);
        safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        safety.tick().await;
        loop {
            let first = tokio::select! {
                n = rx.recv() => match n {
                    Some(n) => n,
                    None => return,
                },
                _ = safety.tick() => None,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(n) => batch.push(n),
                    Err(_) => break,
                }
            }
            if let Err(e) = apply(&st, batch).await {
                tracing::warn!("cannot re-read changed rows: {}", e.message);
            }
        }
    });
}

async fn apply(st: &AppState, batch: Vec<Option<Notice>>) -> Result<(), crate::error::ApiError> {
    if batch.iter().any(Option::is_none) {
        return reread_all(st).await;
    }
    let unique: HashSet<Notice> = batch.into_iter().flatten().collect();
    let mut campaigns = false;
    for n in unique {
        match n {
            Notice::Active { site } => reread_active(st, site).await?,
            Notice::Availability { site, skill } => reread_skill(st, site, skill).await?,
            Notice::Campaign { site, id } => {
                campaigns = true;
                let st2 = st.clone();
                let (s2, id2) = (site.clone(), id);
                let row = run_blocking(move || Ok(st2.store.campaign(&s2, &id2)?)).await?;
                if let Some(c) = row {
                    // Its rows may be ours to send (the other server's lane may be gone).
                    if c.status == "sending" {
                        crate::sms::sender::kick(st, &site, &c.inbox);
                    }
                }
            }
        }
    }
    if campaigns {
        st.sms.schedule_changed();
        st.sms.progressed();
    }
    Ok(())
}

/// Serves the stored active version of `site` when it differs from the one in memory.
async fn reread_active(st: &AppState, site: String) -> Result<(), crate::error::ApiError> {
    let st2 = st.clone();
    run_blocking(move || match st2.store.active(&site)? {
        Some(v) => serve_stored(&st2, &site, v),
        None => Ok(()),
    })
    .await
}

/// Blocking: makes `v` the active version in memory unless it is already.
fn serve_stored(
    st: &AppState,
    site: &str,
    v: crate::store::StoredVersion,
) -> Result<(), crate::error::ApiError> {
    let s = st.sites.get_or_create(site);
    if serves(&s, &v) {
        return Ok(());
    }
    // A publish of this process may have committed since `v` was read, and its own hint never
    // comes back: read again under the site's edit lock, which every publish holds until its
    // version is in memory, so an older read never replaces a newer version.
    let _edit = s.edit.blocking_lock();
    let Some(v) = st.store.active(site)? else {
        return Ok(());
    };
    if serves(&s, &v) {
        return Ok(());
    }
    let active = load_active(st, site, v, st.now())?;
    tracing::info!(site = %site, version = active.version, "version changed on another server");
    s.set_active(active);
    Ok(())
}

fn serves(s: &crate::state::Site, v: &crate::store::StoredVersion) -> bool {
    s.active()
        .is_some_and(|a| a.version == v.version && a.body.identity[..] == *v.bundle.as_bytes())
}

async fn reread_skill(
    st: &AppState,
    site: String,
    skill: String,
) -> Result<(), crate::error::ApiError> {
    let st2 = st.clone();
    let row = run_blocking(move || Ok(st2.store.availability(&site, &skill)?)).await?;
    if let Some(r) = row {
        set_skill(st, &r);
    }
    Ok(())
}

fn set_skill(st: &AppState, r: &crate::store::AvailabilityRow) {
    let s = st.sites.get_or_create(&r.site);
    let snap = s.availability();
    if snap.skills.get(&r.skill) == Some(&r.availability) && snap.updated_at >= Some(r.updated_at) {
        return;
    }
    s.set_skill(&r.skill, r.availability, r.updated_at);
}

/// Re-reads every site's active version and availability and wakes the SMS side.
async fn reread_all(st: &AppState) -> Result<(), crate::error::ApiError> {
    let st2 = st.clone();
    let (availability, pending) = run_blocking(move || {
        for (site, v) in st2.store.all_active()? {
            serve_stored(&st2, &site, v)?;
        }
        Ok((st2.store.all_availability()?, st2.store.pending_inboxes()?))
    })
    .await?;
    for r in &availability {
        set_skill(st, r);
    }
    for (site, inbox) in pending {
        crate::sms::sender::kick(st, &site, &inbox);
    }
    st.sms.schedule_changed();
    st.sms.progressed();
    Ok(())
}
