//! The debug panel (`engage("debug", true)` or `?engage_debug=1`): every engagement of the
//! bundle, shown or the first rule that rejected it with the engine's detail, refreshed on every
//! decision and once a second (time-based details move on their own).

use crate::dom::{self, append, attr, el, text, Listener};
use crate::runtime::{post_if, Msg};
use engage_engine::visit::{TraceEntry, TraceResult};
use gloo_timers::callback::Interval;
use web_sys::{CssStyleSheet, Element, HtmlElement};

pub const DEBUG_ID: &str = "engage-debug";

pub struct DebugPanel {
    host: HtmlElement,
    head: HtmlElement,
    rows: HtmlElement,
    _close: Option<Listener>,
    _tick: Interval,
}

impl DebugPanel {
    pub fn open(gen: u32) -> Option<DebugPanel> {
        let doc = dom::doc()?;
        if let Some(old) = doc.get_element_by_id(DEBUG_ID) {
            old.remove();
        }
        let host = el(&doc, "div", "")?;
        crate::dom::attr(&host, "id", DEBUG_ID);
        let root = host
            .attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))
            .ok()?;
        let sheet = CssStyleSheet::new()
            .ok()
            .filter(|s| s.replace_sync(crate::style::DEBUG_CSS).is_ok());
        match sheet {
            Some(s) => root.set_adopted_style_sheets(&js_sys::Array::of1(&s)),
            None => {
                let st = el(&doc, "style", "")?;
                text(&st, crate::style::DEBUG_CSS);
                append(&root, &st);
            }
        }
        let panel = el(&doc, "div", "d")?;
        attr(&panel, "role", "region");
        attr(&panel, "aria-label", "engage debug");
        let bar = el(&doc, "div", "h")?;
        let head = el(&doc, "span", "")?;
        let close = el(&doc, "button", "")?;
        attr(&close, "type", "button");
        attr(&close, "aria-label", "Close the engage debug panel");
        text(&close, "\u{00d7}");
        append(&bar, &head);
        append(&bar, &close);
        let table = el(&doc, "table", "")?;
        let rows = el(&doc, "tbody", "")?;
        append(&table, &rows);
        append(&panel, &bar);
        append(&panel, &table);
        append(&root, &panel);
        doc.body()?.append_child(&host).ok()?;
        let close = Listener::new(
            &close,
            "click",
            false,
            Box::new(move |_| post_if(gen, Msg::Debug(false))),
        );
        Some(DebugPanel {
            host,
            head,
            rows,
            _close: close,
            _tick: crate::runtime::every(gen, 1000, || Msg::DebugTick),
        })
    }

    pub fn show(&self, heading: &str, trace: &[TraceEntry]) {
        let Some(doc) = dom::doc() else { return };
        text(&self.head, heading);
        text(&self.rows, "");
        for t in trace {
            let Some(tr) = el(&doc, "tr", "") else {
                continue;
            };
            let cell = |class: &str, s: &str| -> Option<Element> {
                let td = el(&doc, "td", class)?;
                text(&td, s);
                append(&tr, &td);
                Some(td.into())
            };
            let mut id = t.engagement.clone();
            id.push_str(" (");
            id.push_str(&t.campaign);
            id.push(')');
            cell("", &id);
            match t.result {
                TraceResult::Shown => {
                    let mut s = String::from("shown");
                    if let Some(z) = &t.zone {
                        s.push_str(" in ");
                        s.push_str(z);
                    }
                    if let Some(st) = t.state {
                        s.push_str(", ");
                        s.push_str(st.as_str());
                    }
                    cell("ok", &s);
                }
                TraceResult::Rejected => {
                    let reason = t.reason.map_or("rejected", |r| r.as_str());
                    cell("no", reason);
                    cell("r", t.detail.as_deref().unwrap_or(""));
                }
            }
            append(&self.rows, &tr);
        }
    }

    /// The rendered rows' text (for tests).
    pub fn text(&self) -> String {
        self.rows.text_content().unwrap_or_default()
    }
}

impl Drop for DebugPanel {
    fn drop(&mut self) {
        self.host.remove();
    }
}
