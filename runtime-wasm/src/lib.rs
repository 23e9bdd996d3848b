//! engage's browser runtime: the glue between the page and `engage-engine`.
//!
//! `www/tag.js` loads this module and calls [`start`] once with the site's `init` options and
//! the commands queued so far, then forwards every later `engage(name, arg)` call to
//! [`command`]. Everything else happens inside: the runtime reads the page, keeps the visit in
//! `localStorage`, feeds the engine ([`engage_engine::visit::Visit::apply`]) the page views,
//! time, attributes, scroll, exit intent, activity, availability, accepts and declines, renders
//! what the engine answers and reports the engine's events. It holds no targeting rule.
//!
//! # Storage
//!
//! All keys start with `engage:` (see [`store`] for the layout): the visitor id, the visit state
//! (`Visit::to_json`), the bundle with its ETag (so a returning visitor's first decision needs no
//! network; it is revalidated with `If-None-Match`), the last availability snapshot (used for the
//! first decision when younger than a minute), unsent events, and the debug flag. Anything
//! unreadable, of another format or of another visitor is removed and rebuilt.
//!
//! # Time on page and hidden tabs
//!
//! `time_on_page` and `time_on_site` are wall-clock time since the page view (since the visit
//! began), as the engine defines them: **time in a hidden (background) tab counts**. What waits
//! for the visitor is the display: when the engine's next-wake-up timer fires while the document
//! is hidden, that decision is not taken then but as soon as the tab is visible again. So a
//! `time_on_page: 30` invitation in a tab left in the background for a minute appears the moment
//! the visitor comes back (not 30 s later, and not unseen in the background), and its impression
//! is counted then. The page view itself is decided when it happens, hidden or not (a page
//! opened in a background tab counts as viewed). Idle time (`idle_seconds`) runs while hidden
//! too (a hidden tab has no activity). Activity is reported at most once a second, so idle time
//! is exact to a second.
//!
//! # Page views
//!
//! The first page view is the document's URL (UTM parameters included: the engine reads them
//! from it), title and referrer. Single-page apps are followed by themselves: `pushState`,
//! `replaceState`, `popstate` and `hashchange` are watched, and when the URL has changed 120 ms
//! later (routers set the title late) a page view follows; a change of the hash alone counts
//! only for hash routes (`#/…`, `#!…`), not for in-page anchors. Once the site calls
//! `engage("page", {url, title, section})` it is taken to report its own page views and the
//! automatic detection stops (a `page` for the URL already counted is not counted twice).
//!
//! # Events
//!
//! The engine's events are queued (bounded, persisted) and sent to
//! `POST /v1/sites/{site}/events` as `{"visitor": id, "events": [...]}` with a `text/plain`
//! body: at most one request per 5 s, retried with backoff, and with `navigator.sendBeacon`
//! (`fetch` `keepalive` as fallback) when the page is hidden or unloaded. `engage:shown`,
//! `engage:accepted`, `engage:declined` and `engage:state` are dispatched on `window`.

pub mod debug;
pub mod decode;
pub mod dom;
pub mod json;
pub mod net;
pub mod page;
pub mod regex;
pub mod render;
pub mod runtime;
pub mod store;
pub mod style;

pub use runtime::{install, post, uninstall, with, Config, Msg, Runtime};

use wasm_bindgen::prelude::*;

/// Starts the page's runtime: `opts` is `{site, server, debug}`, `queue` the `engage.q` array
/// of `arguments` objects queued before the runtime loaded (handled in order, before the first
/// decision). Answers `false` (and does nothing) without a valid site id, or when a runtime
/// already runs.
#[wasm_bindgen]
pub fn start(opts: JsValue, queue: JsValue) -> bool {
    let Some(cfg) = Config::from_js(&opts) else {
        return false;
    };
    if with(|_| ()).is_some() {
        return false;
    }
    let rt = Runtime::new(cfg);
    runtime::install_quiet(rt);
    let items = js_sys::Array::from(&queue);
    for args in items.iter() {
        let args = js_sys::Array::from(&args);
        if let Some(name) = args.get(0).as_string() {
            post(Msg::Command(name, args.get(1)));
        }
    }
    post(Msg::Start);
    true
}

/// `engage(name, arg)`: `page`, `attributes`, `goal`, `debug` (`init` is tag.js's).
#[wasm_bindgen]
pub fn command(name: String, arg: JsValue) {
    post(Msg::Command(name, arg));
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the runtime runs on the page's one thread (no wasm threads).
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
