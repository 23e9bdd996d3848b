//! Static files from the `--www` root: `/tag.js` (`pkg/tag.min.js` when the build wrote one,
//! else `tag.js`, with the wasm manifest spliced in), `/pkg/*`
//! (content-hashed, cached for a year), `/demo/*` and `/admin/*`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::encoded::Encoded;
use crate::error::ApiError;
use crate::AppState;

/// The placeholder in `www/tag.js` replaced by the contents of `www/pkg/manifest.json`.
pub const MANIFEST_PLACEHOLDER: &str = "/*__ENGAGE_MANIFEST__*/null";

type Stamp = Option<(SystemTime, u64)>;

/// `tag.js` as served, rebuilt when `tag.js` or the manifest changes on disk.
#[derive(Default)]
pub struct TagCache {
    cached: Mutex<Option<(Stamp, Stamp, Arc<Encoded>)>>,
}

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl TagCache {
    fn get(&self, www: &Path) -> Option<Arc<Encoded>> {
        // `cargo xtask build-wasm` writes a minified copy; without one, or when tag.js was
        // edited after it, the source is served.
        let (source, min) = (www.join("tag.js"), www.join("pkg").join("tag.min.js"));
        let tag_path = match (stamp(&min), stamp(&source)) {
            (Some((m, _)), Some((t, _))) if m >= t => min,
            _ => source,
        };
        let manifest_path = www.join("pkg").join("manifest.json");
        let (ts, ms) = (stamp(&tag_path), stamp(&manifest_path));
        ts?;
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((a, b, e)) = cached.as_ref() {
            if *a == ts && *b == ms {
                return Some(e.clone());
            }
        }
        let js = std::fs::read_to_string(&tag_path).ok()?;
        let manifest = std::fs::read_to_string(&manifest_path)
            .ok()
            .filter(|m| serde_json::from_str::<serde_json::Value>(m).is_ok());
        let js = match manifest {
            Some(m) => js.replace(MANIFEST_PLACEHOLDER, m.trim()),
            None => {
                if ms.is_some() {
                    tracing::warn!(
                        "{} is not valid JSON; tag.js keeps null",
                        manifest_path.display()
                    );
                }
                js
            }
        };
        let e = Arc::new(Encoded::new(
            js.into_bytes(),
            "text/javascript; charset=utf-8",
            "",
        ));
        *cached = Some((ts, ms, e.clone()));
        Some(e)
    }
}

/// `GET /tag.js`: short cache (5 minutes) plus ETag revalidation.
#[utoipa::path(get, path = "/tag.js", tag = "public",
    responses(
        (status = 200, description = "The loader (5-minute cache, ETag).", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified."),
    ))]
pub async fn tag_js(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let st2 = st.clone();
    let found = tokio::task::spawn_blocking(move || st2.tag.get(&st2.config.www))
        .await
        .ok()
        .flatten();
    match found {
        Some(e) => e.respond(&headers, "public, max-age=300"),
        None => ApiError::not_found("tag.js is not built (no www/tag.js)").into_response(),
    }
}

/// `/pkg/*`: content-hashed files are immutable; the manifest itself revalidates.
pub async fn pkg_cache(req: Request, next: Next) -> Response {
    let manifest = req.uri().path().ends_with("manifest.json");
    let mut res = next.run(req).await;
    if res.status() == StatusCode::OK || res.status() == StatusCode::NOT_MODIFIED {
        let v = if manifest {
            "public, no-cache"
        } else {
            "public, max-age=31536000, immutable"
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(v));
    }
    res
}

/// `/demo/*`, `/admin/*`: revalidate every time (they change while developing).
pub async fn no_cache(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    res
}

/// `GET /pkg/{path}` is served by `tower_http`'s `ServeDir` (precompressed brotli and gzip): this
/// function only carries its description.
#[utoipa::path(get, path = "/pkg/{path}", tag = "public", params(crate::openapi::params::PkgPath),
    responses(
        (status = 200, description = "A runtime file: content-hashed names are immutable.",
            content(("application/wasm"), ("text/javascript"), ("application/json"))),
        (status = 304, description = "Not modified."),
        (status = 404, description = "No such file."),
    ))]
#[allow(dead_code)]
pub(crate) fn pkg() {}
