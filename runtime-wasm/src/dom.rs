//! Small DOM helpers. Every call that can throw is `Result`-typed by web-sys and swallowed here:
//! the runtime never lets an exception reach the host page.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    AddEventListenerOptions, Document, Element, Event, EventTarget, HtmlElement, Window,
};

pub fn win() -> Option<Window> {
    web_sys::window()
}

pub fn doc() -> Option<Document> {
    win()?.document()
}

/// `Date.now()`.
pub fn date_now() -> i64 {
    js_sys::Date::now() as i64
}

/// A new element with an optional class.
pub fn el(doc: &Document, tag: &str, class: &str) -> Option<HtmlElement> {
    let e = doc.create_element(tag).ok()?;
    if !class.is_empty() {
        e.set_class_name(class);
    }
    e.dyn_into().ok()
}

pub fn attr(e: &Element, name: &str, value: &str) {
    let _ = e.set_attribute(name, value);
}

pub fn text(e: &Element, t: &str) {
    e.set_text_content(Some(t));
}

pub fn append(parent: &web_sys::Node, child: &web_sys::Node) {
    let _ = parent.append_child(child);
}

pub fn remove(e: &Element) {
    e.remove();
}

/// Whether the document is hidden (background tab, minimised window).
pub fn hidden() -> bool {
    doc().is_some_and(|d| d.hidden())
}

/// An event listener that removes itself when dropped.
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    capture: bool,
    cb: Closure<dyn FnMut(Event)>,
}

impl Listener {
    pub fn new(
        target: &EventTarget,
        kind: &'static str,
        capture: bool,
        f: Box<dyn FnMut(Event)>,
    ) -> Option<Listener> {
        // One closure type for every listener: one copy of the glue.
        let cb = Closure::wrap(f);
        // Plain `Reflect.set`s, not web-sys's setters: each setter is one more import and glue.
        let opts = AddEventListenerOptions::new();
        set(&opts, "capture", &capture.into());
        set(
            &opts,
            "passive",
            &(kind != "keydown" && kind != "click").into(),
        );
        target
            .add_event_listener_with_callback_and_add_event_listener_options(
                kind,
                cb.as_ref().unchecked_ref(),
                &opts,
            )
            .ok()?;
        Some(Listener {
            target: target.clone(),
            kind,
            capture,
            cb,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback_and_bool(
            self.kind,
            self.cb.as_ref().unchecked_ref(),
            self.capture,
        );
    }
}

/// Sets a property on a plain JS object.
pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}

/// Reads a string property of a JS object.
pub fn get_str(obj: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(obj, &JsValue::from_str(key))
        .ok()?
        .as_string()
}

/// A JS value as JSON text (`None` for functions, cycles, `undefined`).
pub fn to_json(v: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(v).ok()?.as_string()
}

/// The element an event happened on, when it is an element.
pub fn target_el(ev: &Event) -> Option<Element> {
    ev.target()?.dyn_into::<Element>().ok()
}

/// `encodeURIComponent`.
pub fn encode(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}

/// Whether `url` is an absolute http(s) URL (what links, images and windows may point at).
pub fn is_http(url: &str) -> bool {
    let lower = url.trim_start().get(..8).unwrap_or("").to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// `hay.contains(needle)` by a plain scan: `str::contains(&str)`'s two-way searcher costs
/// kilobytes of wasm, and every needle here is a short literal.
pub fn has(hay: &str, needle: &str) -> bool {
    find(hay.as_bytes(), needle.as_bytes()).is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..(hay.len() + 1).saturating_sub(needle.len())).find(|&i| hay[i..].starts_with(needle))
}

/// `s.replace(from, to)` (every non-overlapping `from`, left to right; `from` not empty).
pub fn replace(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = find(rest.as_bytes(), from.as_bytes()) {
        out.push_str(&rest[..i]);
        out.push_str(to);
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}
