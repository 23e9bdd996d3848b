//! What the runtime reads from the page and the browser.

use crate::dom::{doc, has, win};
use engage_engine::visit::Device;
use wasm_bindgen::JsCast;

pub fn href() -> String {
    win()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.chars().take(2000).collect())
}

pub fn title() -> Option<String> {
    doc().and_then(|d| non_empty(d.title()))
}

pub fn referrer() -> Option<String> {
    doc().and_then(|d| non_empty(d.referrer()))
}

pub fn language() -> Option<String> {
    win()?.navigator().language()
}

/// Device class from the user agent (iPadOS reports itself as a Mac with touch).
pub fn device() -> Device {
    let Some(w) = win() else {
        return Device::Desktop;
    };
    let nav = w.navigator();
    let ua = nav.user_agent().unwrap_or_default();
    let touch_mac = has(&ua, "Macintosh") && nav.max_touch_points() > 1;
    if has(&ua, "iPad")
        || touch_mac
        || has(&ua, "Tablet")
        || (has(&ua, "Android") && !has(&ua, "Mobile"))
    {
        Device::Tablet
    } else if has(&ua, "Mobi") || has(&ua, "iPhone") || has(&ua, "Android") {
        Device::Mobile
    } else {
        Device::Desktop
    }
}

/// How far down the page the bottom of the viewport is, 0–100.
pub fn scroll_percent() -> u32 {
    let (Some(w), Some(d)) = (win(), doc()) else {
        return 0;
    };
    let Some(root) = d.document_element() else {
        return 0;
    };
    let total = f64::from(root.scroll_height());
    let seen = w.scroll_y().unwrap_or(0.0)
        + w.inner_height()
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
    if total <= 0.0 {
        return 0;
    }
    (seen / total * 100.0).clamp(0.0, 100.0) as u32
}

pub fn has_viewport_meta() -> bool {
    doc().is_some_and(|d| {
        d.query_selector("meta[name=viewport]")
            .ok()
            .flatten()
            .is_some()
    })
}

/// A query parameter of `url`.
pub fn param(url: &str, name: &str) -> Option<String> {
    web_sys::Url::new(url).ok()?.search_params().get(name)
}

/// Reads `name` from the page URL and removes it with `history.replaceState`.
pub fn take_param(name: &str) -> Option<String> {
    let w = win()?;
    let url = web_sys::Url::new(&w.location().href().ok()?).ok()?;
    let params = url.search_params();
    let value = params.get(name)?;
    params.delete(name);
    if let Ok(h) = w.history() {
        let state = h.state().unwrap_or(wasm_bindgen::JsValue::NULL);
        let _ = h.replace_state_with_url(&state, "", Some(&url.href()));
    }
    Some(value)
}

/// Ids of the given elements present in the document.
pub fn present(ids: &[String]) -> Vec<String> {
    let Some(d) = doc() else { return Vec::new() };
    ids.iter()
        .filter(|id| d.get_element_by_id(id).is_some())
        .cloned()
        .collect()
}

/// 128 random bits as 32 hex digits.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let filled = win()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// An id we accept back from storage.
pub fn valid_id(s: &str) -> bool {
    (8..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Resolves `url` against the page's URL.
pub fn resolve(url: &str) -> Option<String> {
    Some(web_sys::Url::new_with_base(url, &href()).ok()?.href())
}

/// `document.readyState == "loading"`.
pub fn loading() -> bool {
    doc().is_some_and(|d| d.ready_state() == "loading")
}

/// The active element of the document, when it is an HTML element.
pub fn active() -> Option<web_sys::HtmlElement> {
    doc()?.active_element()?.dyn_into().ok()
}
