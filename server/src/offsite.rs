//! Offsite links: `GET /o/{site}/{engagement}` decides at click time (the engine's
//! `offsite::decide`) and redirects; `GET /o/{site}/{engagement}/qr.svg` is the link's QR code.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use engage_engine::offsite::{decide, OffsiteOutcome};
use engage_engine::visit::{Device, Profile};

use crate::error::ApiError;
use crate::ids;
use crate::AppState;

/// Device class from a User-Agent: tablets first (iPad, Android without "Mobile", Kindle …),
/// then phones, else desktop.
pub fn device(ua: &str) -> Device {
    let u = ua.to_ascii_lowercase();
    let has = |s: &str| u.contains(s);
    if has("ipad")
        || has("tablet")
        || has("kindle")
        || has("silk/")
        || has("playbook")
        || (has("android") && !has("mobile"))
    {
        Device::Tablet
    } else if has("mobi")
        || has("iphone")
        || has("ipod")
        || has("android")
        || has("windows phone")
        || has("blackberry")
        || has("opera mini")
    {
        Device::Mobile
    } else {
        Device::Desktop
    }
}

/// The first language tag of `Accept-Language` (ignoring `*` and `q=0`), e.g. `en-GB`.
pub fn language(accept: &str) -> Option<String> {
    accept.split(',').find_map(|item| {
        let mut parts = item.split(';');
        let tag = parts.next()?.trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        let valid = !tag.is_empty()
            && tag.len() <= 35
            && tag.split('-').all(|s| {
                !s.is_empty() && s.len() <= 8 && s.bytes().all(|c| c.is_ascii_alphanumeric())
            })
            && tag.as_bytes()[0].is_ascii_alphabetic();
        (valid && !refused).then(|| tag.to_owned())
    })
}

/// A two-letter country code from the configured header, upper-cased.
pub fn country(value: &str) -> Option<String> {
    let v = value.trim();
    (v.len() == 2 && v.bytes().all(|c| c.is_ascii_alphabetic())).then(|| v.to_ascii_uppercase())
}

fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(loc) => {
            let mut res = StatusCode::FOUND.into_response();
            let h = res.headers_mut();
            h.insert(header::LOCATION, loc);
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            res
        }
        Err(_) => inactive_page(),
    }
}

fn inactive_page() -> Response {
    let mut res = (
        StatusCode::NOT_FOUND,
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>Link not active</title>\
         <body style=\"font-family:system-ui,sans-serif;margin:3rem auto;max-width:32rem;padding:0 1rem\">\
         <h1>This link is not active</h1><p>The offer or conversation this link pointed to has \
         ended or is not available.</p></body></html>",
    )
        .into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /o/{site}/{engagement}`.
#[utoipa::path(get, path = "/o/{site}/{engagement}", tag = "public", params(crate::openapi::params::EngagementPath),
    responses(
        (status = 302, description = "To the landing page (eligible now), the offline survey, or the site's inactive-engagement page."),
        (status = 404, description = "The link is not active (a page that says so).", content_type = "text/html", body = String),
    ))]
pub async fn open(
    State(st): State<AppState>,
    Path((site, engagement)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !ids::is_id(&site) || !ids::is_id(&engagement) {
        return inactive_page();
    }
    let Some(active) = st.sites.get(&site).and_then(|s| s.active()) else {
        return inactive_page();
    };
    let availability = st
        .sites
        .get(&site)
        .map(|s| s.availability().skills.clone())
        .unwrap_or_default();
    let text = |h: &header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let profile = Profile {
        id: String::new(),
        device: device(text(&header::USER_AGENT).unwrap_or("")),
        language: text(&header::ACCEPT_LANGUAGE).and_then(language),
        country: st
            .config
            .country_header
            .as_ref()
            .and_then(text)
            .and_then(country),
    };
    let outcome = decide(
        &active.bundle,
        &engagement,
        st.now(),
        &profile,
        &availability,
        &st.regex,
    );
    let inactive = || {
        active
            .document
            .settings
            .inactive_engagement
            .as_ref()
            .map(|i| i.redirect_url.clone())
    };
    tracing::debug!(site = %site, engagement = %engagement, ?outcome, "offsite click");
    let target = match outcome {
        OffsiteOutcome::Open { url } => Some(url),
        OffsiteOutcome::Survey { url, .. } => url.or_else(inactive),
        OffsiteOutcome::Inactive => inactive(),
    };
    match target {
        Some(url) => redirect(&url),
        None => inactive_page(),
    }
}

/// The absolute base URL of links: `--public-url`, else `http://<Host>`.
fn base_url(st: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(u) = &st.config.public_url {
        return Ok(u.trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c))
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_host",
                "no usable Host header; start the server with --public-url",
            )
        })?;
    Ok(format!("http://{host}"))
}

/// `GET /o/{site}/{engagement}/qr.svg`.
#[utoipa::path(get, path = "/o/{site}/{engagement}/qr.svg", tag = "public", params(crate::openapi::params::EngagementPath),
    responses((status = 200, description = "The link's QR code.", content_type = "image/svg+xml", body = String)))]
pub async fn qr(
    State(st): State<AppState>,
    Path((site, engagement)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ids::check("site", &site)?;
    ids::check("engagement", &engagement)?;
    if st.sites.get(&site).and_then(|s| s.active()).is_none() {
        return Err(ApiError::not_found(format!("unknown site \"{site}\"")));
    }
    let url = format!("{}/o/{site}/{engagement}", base_url(&st, &headers)?);
    let code = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| {
            ApiError::bad_request("invalid_request", format!("cannot encode the link: {e}"))
        })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    let mut res = svg.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
        let ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
        let android_phone =
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36";
        let android_tab = "Mozilla/5.0 (Linux; Android 14; SM-X710) Chrome/120.0 Safari/537.36";
        let desktop = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36";
        assert_eq!(device(iphone), Device::Mobile);
        assert_eq!(device(ipad), Device::Tablet);
        assert_eq!(device(android_phone), Device::Mobile);
        assert_eq!(device(android_tab), Device::Tablet);
        assert_eq!(device(desktop), Device::Desktop);
        assert_eq!(device(""), Device::Desktop);
    }

    #[test]
    fn languages_and_countries() {
        assert_eq!(language("en-GB,en;q=0.9").as_deref(), Some("en-GB"));
        assert_eq!(language("*, fr;q=0.5").as_deref(), Some("fr"));
        assert_eq!(language("de;q=0, it").as_deref(), Some("it"));
        assert_eq!(language("<script>"), None);
        assert_eq!(country(" gb ").as_deref(), Some("GB"));
        assert_eq!(country("G1"), None);
        assert_eq!(country("GBR"), None);
    }
}
