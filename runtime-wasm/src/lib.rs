//! engage's browser runtime: the engine in the visitor's browser, and the page glue around it.
//!
//! The runtime is two halves in one crate:
//!
//! - **this wasm module** holds the visit and the bundle and answers every decision with
//!   `engage-engine` ([`Visit::apply`]); it reads and writes nothing of the page;
//! - **`js/host.js` and `js/ui.js`** (shipped inside the glue as wasm-bindgen snippets, bundled
//!   and minified by `cargo xtask build-wasm`) do the I/O: they read the page, follow SPA
//!   navigation, watch scroll/exit intent/activity, keep storage, fetch the bundle and
//!   availability, set the one next-wake-up timer, render in shadow DOM, dispatch the
//!   `engage:*` events and batch the runtime events to the server. They hold no targeting rule:
//!   what is shown, in which zone and state, with which creative, comes from here.
//!
//! Why the DOM work is JavaScript: every web-sys binding costs wasm code plus glue, and the
//! whole runtime must weigh at most 60 KB gzip (SPEC §8). Rendering, listeners and fetches
//! written in Rust weighed ≈40 KB gzip more than the same work in JavaScript.
//!
//! `www/tag.js` loads the glue and calls [`start`] with the site's `init` options and the
//! queued commands, then forwards every later `engage(name, arg)` to [`command`]. [`start`]
//! hands the host one function, `engine(op, a, b)`, through which it reaches this module; see
//! [`api`] for the operations.

pub mod api;
pub mod decode;
pub mod json;
pub mod regex;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    /// Starts the host: answers the running runtime's handle, or `undefined` when it refused
    /// (no valid site, or a runtime already runs).
    #[wasm_bindgen(js_name = boot)]
    fn host_boot(engine: &JsValue, opts: &JsValue, queue: &JsValue) -> JsValue;
    /// The running runtime's handle (`undefined` when none).
    #[wasm_bindgen(js_name = current)]
    fn host_current() -> JsValue;
}

/// Starts the page's runtime: `opts` is `{site, server, debug}`, `queue` the `engage.q` array
/// of `arguments` objects queued before the runtime loaded (handled in order, before the first
/// decision). Answers `false` (and does nothing) without a valid site id, or when a runtime
/// already runs.
#[wasm_bindgen]
pub fn start(opts: JsValue, queue: JsValue) -> bool {
    !host_boot(&api::engine(), &opts, &queue).is_undefined()
}

/// `engage(name, arg)`: `page`, `attributes`, `goal`, `debug` (`init` is tag.js's).
#[wasm_bindgen]
pub fn command(name: String, arg: JsValue) {
    let h = host_current();
    if let Ok(f) = js_sys::Reflect::get(&h, &"command".into()) {
        if let Some(f) = f.dyn_ref::<js_sys::Function>() {
            let _ = f.call2(&h, &name.into(), &arg);
        }
    }
}

/// The running runtime's handle, for tests and debugging: `{command, stop, flush, events,
/// debugText, hasPanel, outcome, input, info, shown, started, ui, engine}` (see `js/host.js`).
#[wasm_bindgen]
pub fn runtime() -> JsValue {
    host_current()
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the runtime runs on the page's one thread (no wasm threads).
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

// `js/host.js` imports `./ui.js`; naming the module here makes wasm-bindgen ship it beside
// host.js (in tests and in the build, which bundles both into the glue).
#[wasm_bindgen(module = "/js/ui.js")]
extern "C" {
    /// The renderer (`js/ui.js`).
    pub type Ui;
}

// `js/ui.js` imports `./debug.js` when the debug panel is asked for; named for the same reason
// (the build makes it a chunk of its own).
#[wasm_bindgen(module = "/js/debug.js")]
extern "C" {
    /// The debug panel (`js/debug.js`).
    pub type DebugPanel;
}
