//! Rendering: every displayed engagement becomes one element inside a shadow root — the one of
//! `<div id="engage-root">` for `left`, `right` and `proactive`, or one attached to the zone
//! element for `embedded:<id>`. Built with `createElement`/`createTextNode` only (never
//! `innerHTML`); styles come from the adopted sheet and custom properties.
//!
//! The engagement element carries `data-engagement`, `data-campaign`, `data-state`, `data-zone`;
//! inside it the accept control has `data-action="accept"` and the close control
//! `data-action="decline"`. Clicks are handled by one delegated listener per shadow root.

use crate::dom::{self, append, attr, el, text, Listener};
use crate::runtime::{post_if, Msg};
use engage_engine::availability::State;
use engage_engine::bundle::{Bundle, BundleCampaign, BundleEngagement, CompiledCreative};
use engage_engine::html::{Node, Tag};
use engage_engine::model::{Channel, Format, Kind, Style};
use engage_engine::visit::{Input, Shown};
use wasm_bindgen::JsCast;
use web_sys::{CssStyleSheet, Document, Element, Event, HtmlElement, KeyboardEvent, ShadowRoot};

/// The element everything renders into.
pub const ROOT_ID: &str = "engage-root";

pub fn find<'b>(
    bundle: &'b Bundle,
    id: &str,
) -> Option<(&'b BundleCampaign, &'b BundleEngagement)> {
    bundle
        .campaigns
        .iter()
        .find_map(|c| c.engagements.iter().find(|e| e.id == id).map(|e| (c, e)))
}

/// Messaging engagements show whatever the agents' state (the engine's own rule, mirrored for
/// picking the creative of a state it decided).
pub fn is_messaging(e: &BundleEngagement) -> bool {
    e.kind == Kind::Conversation && e.channel == Some(Channel::Messaging)
}

struct ZoneRoot {
    id: String,
    host: Element,
    root: ShadowRoot,
}

/// An engagement on the page.
pub struct Mounted {
    pub engagement: String,
    pub zone: String,
    pub state: State,
    pub el: HtmlElement,
    overlay: bool,
    /// The zone element of an embedded engagement (re-mounted when the page replaces it).
    host: Option<Element>,
}

pub struct Ui {
    gen: u32,
    sheet: Option<CssStyleSheet>,
    main: Option<(Element, ShadowRoot)>,
    zones: Vec<ZoneRoot>,
    pub mounted: Vec<Mounted>,
    panel: Option<HtmlElement>,
    prev_focus: Option<HtmlElement>,
    listeners: Vec<Listener>,
}

impl Ui {
    pub fn new(gen: u32) -> Ui {
        Ui {
            gen,
            sheet: None,
            main: None,
            zones: Vec::new(),
            mounted: Vec::new(),
            panel: None,
            prev_focus: None,
            listeners: Vec::new(),
        }
    }

    /// Makes the DOM match `shown`: unmounts what left, updates states in place, mounts what came.
    pub fn render(&mut self, shown: &[Shown], bundle: &Bundle) {
        let Some(doc) = dom::doc() else { return };
        let mut restore = false;
        self.mounted.retain(|m| {
            let zone_ok = match &m.host {
                Some(h) => {
                    let id = m.zone.strip_prefix("embedded:").unwrap_or("");
                    doc.get_element_by_id(id).is_some_and(|now| now == *h)
                }
                None => true,
            };
            let keep = zone_ok
                && m.el.is_connected()
                && shown
                    .iter()
                    .any(|s| s.engagement == m.engagement && s.zone == m.zone);
            if !keep {
                dom::remove(&m.el);
                restore |= m.overlay;
            }
            keep
        });
        if restore {
            self.restore_focus();
        }
        for s in shown {
            let Some((c, e)) = find(bundle, &s.engagement) else {
                continue;
            };
            let Some(cr) = e.creative.for_state(s.state, is_messaging(e)) else {
                continue;
            };
            if let Some(m) = self
                .mounted
                .iter_mut()
                .find(|m| m.engagement == s.engagement)
            {
                if m.state != s.state {
                    // Button refresh: same element, new state and creative.
                    m.state = s.state;
                    update(&doc, m, e, cr);
                }
                continue;
            }
            let embedded = s.zone.strip_prefix("embedded:");
            let (root, host) = match embedded {
                Some(id) => match self.zone_root(&doc, id) {
                    Some((r, h)) => (r, Some(h)),
                    None => continue,
                },
                None => match self.main_root(&doc) {
                    Some(r) => (r, None),
                    None => continue,
                },
            };
            let Some(node) = build(&doc, c, e, s, cr) else {
                continue;
            };
            let overlay = e.format == Some(Format::Overlay);
            if overlay {
                self.prev_focus = doc
                    .active_element()
                    .and_then(|a| a.dyn_into::<HtmlElement>().ok());
            }
            if host.is_some() {
                // Before the fallback `<slot>`, which the sheet then hides.
                let _ = root.insert_before(&node, root.first_child().as_ref());
            } else {
                append(&root, &node);
            }
            if overlay {
                focus_first(&node);
            }
            self.mounted.push(Mounted {
                engagement: s.engagement.clone(),
                zone: s.zone.clone(),
                state: s.state,
                el: node,
                overlay,
                host,
            });
        }
    }

    fn restore_focus(&mut self) {
        if let Some(p) = self.prev_focus.take() {
            if p.is_connected() {
                let _ = p.focus();
            }
        }
    }

    fn sheet(&mut self) -> Option<CssStyleSheet> {
        if self.sheet.is_none() {
            let s = CssStyleSheet::new().ok()?;
            s.replace_sync(crate::style::CSS).ok()?;
            self.sheet = Some(s);
        }
        self.sheet.clone()
    }

    /// Styles a shadow root: an adopted sheet (not subject to `style-src`), else a `<style>`.
    fn style(&mut self, doc: &Document, root: &ShadowRoot) {
        if let Some(sheet) = self.sheet() {
            root.set_adopted_style_sheets(&js_sys::Array::of1(&sheet));
            if root.adopted_style_sheets().length() == 1 {
                return;
            }
        }
        if let Some(st) = el(doc, "style", "") {
            text(&st, crate::style::CSS);
            append(root, &st);
        }
    }

    fn listen(&mut self, root: &ShadowRoot) {
        let gen = self.gen;
        if let Some(l) = Listener::new(root, "click", false, Box::new(move |ev| on_click(gen, &ev)))
        {
            self.listeners.push(l);
        }
    }

    /// The shadow root of `#engage-root`, created on first use.
    fn main_root(&mut self, doc: &Document) -> Option<ShadowRoot> {
        if let Some((h, r)) = &self.main {
            if h.is_connected() {
                return Some(r.clone());
            }
        }
        let host = match doc.get_element_by_id(ROOT_ID) {
            Some(h) => h,
            None => {
                let h = el(doc, "div", "")?;
                attr(&h, "id", ROOT_ID);
                doc.body()?.append_child(&h).ok()?;
                h.into()
            }
        };
        let root = open_root(&host)?;
        self.style(doc, &root);
        self.listen(&root);
        self.main = Some((host, root.clone()));
        Some(root)
    }

    /// The shadow root on the embedded zone element `id` (or, when that element cannot host
    /// one, on a `<span>` appended to it).
    fn zone_root(&mut self, doc: &Document, id: &str) -> Option<(ShadowRoot, Element)> {
        let host = doc.get_element_by_id(id)?;
        self.zones.retain(|z| z.host.is_connected());
        if let Some(z) = self.zones.iter().find(|z| z.id == id && z.host == host) {
            return Some((z.root.clone(), host));
        }
        let ours = host.has_attribute("data-engage-zone");
        let root = match host.shadow_root() {
            Some(r) if ours => {
                clear(&r);
                Some(r)
            }
            Some(_) => None,
            None => host
                .attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))
                .ok(),
        };
        let root = match root {
            Some(r) => r,
            None => {
                // A custom element with its own shadow root, or an element that cannot host one.
                let span = el(doc, "span", "")?;
                attr(&span, "data-engage-host", "");
                append(&host, &span);
                open_root(&span)?
            }
        };
        attr(&host, "data-engage-zone", "");
        self.style(doc, &root);
        // The page's own content of the zone shows while nothing is displayed in it.
        if let Ok(slot) = doc.create_element("slot") {
            append(&root, &slot);
        }
        self.listen(&root);
        self.zones.push(ZoneRoot {
            id: id.into(),
            host: host.clone(),
            root: root.clone(),
        });
        Some((root, host))
    }

    /// Opens the conversation in a panel (an iframe in the shadow root).
    pub fn open_panel(&mut self, url: &str, title: &str) {
        let Some(doc) = dom::doc() else { return };
        self.close_panel();
        let Some(root) = self.main_root(&doc) else {
            return;
        };
        let (Some(p), Some(head), Some(name), Some(x)) = (
            el(&doc, "div", "e panel"),
            el(&doc, "div", "ph"),
            el(&doc, "span", ""),
            el(&doc, "button", "x"),
        ) else {
            return;
        };
        attr(&p, "role", "dialog");
        attr(&p, "aria-label", title);
        attr(&p, "data-panel", "");
        text(&name, title);
        attr(&x, "type", "button");
        attr(&x, "data-action", "close-panel");
        attr(&x, "aria-label", "Close conversation");
        text(&x, "\u{00d7}");
        append(&head, &name);
        append(&head, &x);
        append(&p, &head);
        if let Some(f) = el(&doc, "iframe", "") {
            attr(&f, "src", url);
            attr(&f, "title", title);
            attr(&f, "allow", "microphone; camera; clipboard-write");
            append(&p, &f);
        }
        append(&root, &p);
        let _ = x.focus();
        self.panel = Some(p);
    }

    pub fn close_panel(&mut self) {
        if let Some(p) = self.panel.take() {
            dom::remove(&p);
        }
    }

    pub fn has_panel(&self) -> bool {
        self.panel.is_some()
    }

    /// Escape declines an open overlay; Tab stays inside it. Answers the overlay to decline.
    pub fn key(&self, ev: &KeyboardEvent) -> Option<String> {
        let m = self.mounted.iter().find(|m| m.overlay)?;
        match ev.key().as_str() {
            "Escape" | "Esc" => {
                ev.prevent_default();
                Some(m.engagement.clone())
            }
            "Tab" => {
                let list = m.el.query_selector_all("button,a[href]").ok()?;
                let n = list.length();
                let first = list.item(0)?.dyn_into::<HtmlElement>().ok()?;
                let last = list
                    .item(n.saturating_sub(1))?
                    .dyn_into::<HtmlElement>()
                    .ok()?;
                let (_, root) = self.main.as_ref()?;
                let active = root.active_element();
                let inside = active.as_ref().is_some_and(|a| m.el.contains(Some(a)));
                let at = |x: &HtmlElement| {
                    active
                        .as_ref()
                        .is_some_and(|a| a == AsRef::<Element>::as_ref(x))
                };
                let to = if !inside {
                    Some(first)
                } else if ev.shift_key() && at(&first) {
                    Some(last)
                } else if !ev.shift_key() && at(&last) {
                    Some(first)
                } else {
                    None
                };
                if let Some(t) = to {
                    ev.prevent_default();
                    let _ = t.focus();
                }
                None
            }
            _ => None,
        }
    }

    /// Removes everything the runtime added to the page.
    pub fn teardown(&mut self) {
        for m in self.mounted.drain(..) {
            dom::remove(&m.el);
        }
        self.close_panel();
        if let Some((h, _)) = self.main.take() {
            dom::remove(&h);
        }
        for z in self.zones.drain(..) {
            clear(&z.root);
            let _ = z.host.remove_attribute("data-engage-zone");
        }
        self.listeners.clear();
    }
}

fn open_root(host: &Element) -> Option<ShadowRoot> {
    match host.shadow_root() {
        Some(r) => {
            clear(&r);
            Some(r)
        }
        None => host
            .attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))
            .ok(),
    }
}

fn clear(root: &ShadowRoot) {
    while let Some(c) = root.first_child() {
        let _ = root.remove_child(&c);
    }
}

fn focus_first(node: &HtmlElement) {
    let target = node
        .query_selector(".a")
        .ok()
        .flatten()
        .or_else(|| node.query_selector("button").ok().flatten());
    if let Some(t) = target.and_then(|t| t.dyn_into::<HtmlElement>().ok()) {
        let _ = t.focus();
    }
}

fn on_click(gen: u32, ev: &Event) {
    let Some(t) = dom::target_el(ev) else { return };
    let Some(a) = t.closest("[data-action]").ok().flatten() else {
        return;
    };
    let action = a.get_attribute("data-action").unwrap_or_default();
    let eng = a.closest("[data-engagement]").ok().flatten();
    let id = eng
        .as_ref()
        .and_then(|e| e.get_attribute("data-engagement"));
    match (action.as_str(), id) {
        // A content link navigates by itself; the accept is recorded on the way.
        ("accept", Some(id)) => post_if(gen, Msg::Input(Input::Accept(id))),
        ("decline", Some(id)) => {
            ev.prevent_default();
            post_if(gen, Msg::Input(Input::Decline(id)));
        }
        ("peel", Some(_)) => {
            if let Some(e) = eng {
                let open = e.class_list().toggle("open").unwrap_or(false);
                attr(&a, "aria-expanded", if open { "true" } else { "false" });
            }
        }
        ("close-panel", _) => post_if(gen, Msg::ClosePanel),
        _ => {}
    }
}

/// The engagement element of `s`.
fn build(
    doc: &Document,
    c: &BundleCampaign,
    e: &BundleEngagement,
    s: &Shown,
    cr: &CompiledCreative,
) -> Option<HtmlElement> {
    let format = e.format.unwrap_or(Format::Sticky);
    let mut class = String::from("e f-");
    class.push_str(format.as_str());
    match s.zone.as_str() {
        "left" => class.push_str(" z-left"),
        "right" => class.push_str(" z-right"),
        _ => {}
    }
    let root = el(
        doc,
        if format == Format::Button {
            "span"
        } else {
            "div"
        },
        &class,
    )?;
    attr(&root, "data-engagement", &e.id);
    attr(&root, "data-campaign", &c.id);
    attr(&root, "data-state", s.state.as_str());
    attr(&root, "data-zone", &s.zone);
    attr(&root, "data-format", format.as_str());
    let role = match format {
        Format::Overlay => "dialog",
        Format::Button => "group",
        _ => "region",
    };
    attr(&root, "role", role);
    if format == Format::Overlay {
        attr(&root, "aria-modal", "true");
    }
    label(&root, e, cr);
    set_style(&root, cr.style.as_ref(), None);
    let close = el(doc, "button", "x")?;
    attr(&close, "type", "button");
    attr(&close, "data-action", "decline");
    attr(&close, "aria-label", "Close");
    attr(&close, "title", "Close");
    text(&close, "\u{00d7}");
    let body = content(doc, e, cr, format)?;
    if format == Format::Button {
        append(&root, &body);
        append(&root, &close);
        return Some(root);
    }
    if format == Format::PeelingCorner {
        let peel = el(doc, "button", "peel")?;
        attr(&peel, "type", "button");
        attr(&peel, "data-action", "peel");
        attr(&peel, "aria-expanded", "false");
        attr(&peel, "aria-label", &accept_label(e, cr));
        append(&root, &peel);
    }
    let bx = el(doc, "div", "box")?;
    append(&bx, &close);
    append(&bx, &body);
    append(&root, &bx);
    Some(root)
}

/// Title id inside the shadow root, for `aria-labelledby`.
fn title_id(e: &BundleEngagement) -> String {
    let mut id = String::from("engage-t-");
    id.push_str(&e.id);
    id
}

fn label(root: &Element, e: &BundleEngagement, cr: &CompiledCreative) {
    if cr.title.is_some() && e.format != Some(Format::Button) {
        let _ = root.remove_attribute("aria-label");
        attr(root, "aria-labelledby", &title_id(e));
    } else {
        let _ = root.remove_attribute("aria-labelledby");
        attr(root, "aria-label", &accept_label(e, cr));
    }
}

fn accept_label(e: &BundleEngagement, cr: &CompiledCreative) -> String {
    cr.cta
        .clone()
        .or_else(|| cr.title.clone())
        .unwrap_or_else(|| {
            if e.kind == Kind::Content {
                "Open".into()
            } else {
                "Chat with us".into()
            }
        })
}

/// Button refresh: new `data-state`, label, style and creative, same element.
fn update(doc: &Document, m: &Mounted, e: &BundleEngagement, cr: &CompiledCreative) {
    attr(&m.el, "data-state", m.state.as_str());
    label(&m.el, e, cr);
    set_style(&m.el, cr.style.as_ref(), Some(()));
    let format = e.format.unwrap_or(Format::Sticky);
    let Some(new) = content(doc, e, cr, format) else {
        return;
    };
    if let Ok(Some(old)) = m.el.query_selector(".c") {
        let _ = old.replace_with_with_node_1(&new);
    }
    if let Ok(Some(peel)) = m.el.query_selector(".peel") {
        attr(&peel, "aria-label", &accept_label(e, cr));
    }
}

/// The creative: sender, image, title, message and the accept control.
fn content(
    doc: &Document,
    e: &BundleEngagement,
    cr: &CompiledCreative,
    format: Format,
) -> Option<HtmlElement> {
    let button = format == Format::Button;
    let c = el(doc, if button { "span" } else { "div" }, "c")?;
    let avatar = e
        .sender
        .as_ref()
        .and_then(|s| s.avatar_url.as_deref())
        .filter(|u| dom::is_http(u));
    let name = e.sender.as_ref().and_then(|s| s.name.as_deref());
    if !button && (avatar.is_some() || name.is_some()) {
        let row = el(doc, "div", "s")?;
        if let Some(u) = avatar {
            let i = img(doc, "av", u)?;
            append(&row, &i);
        }
        if let Some(n) = name {
            let span = el(doc, "span", "sn")?;
            text(&span, n);
            append(&row, &span);
        }
        append(&c, &row);
    }
    if !button {
        if let Some(u) = cr.image_url.as_deref().filter(|u| dom::is_http(u)) {
            let i = img(doc, "im", u)?;
            append(&c, &i);
        }
        if let Some(t) = &cr.title {
            let h = el(doc, "div", "t")?;
            attr(&h, "id", &title_id(e));
            text(&h, t);
            append(&c, &h);
        }
        if !cr.message.is_empty() {
            let m = el(doc, "div", "m")?;
            message(doc, &m, &cr.message);
            append(&c, &m);
        }
    }
    let url = cr.url.as_deref().filter(|u| dom::is_http(u));
    let a = match (e.kind, url) {
        (Kind::Content, Some(u)) => {
            let a = el(doc, "a", "a")?;
            attr(&a, "href", u);
            link_target(&a, u);
            a
        }
        _ => {
            let b = el(doc, "button", "a")?;
            attr(&b, "type", "button");
            b
        }
    };
    attr(&a, "data-action", "accept");
    text(&a, &accept_label(e, cr));
    append(&c, &a);
    Some(c)
}

fn img(doc: &Document, class: &str, src: &str) -> Option<HtmlElement> {
    let i = el(doc, "img", class)?;
    attr(&i, "alt", "");
    attr(&i, "referrerpolicy", "no-referrer");
    attr(&i, "src", src);
    Some(i)
}

/// Other origins open in a new tab, without access to this page; same-origin links navigate.
fn link_target(a: &Element, href: &str) {
    let same = dom::win()
        .and_then(|w| w.location().origin().ok())
        .is_some_and(|o| {
            href.strip_prefix(o.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
    if !same {
        attr(a, "target", "_blank");
    }
    attr(a, "rel", "noopener noreferrer");
}

/// The sanitized message tree, as DOM nodes.
pub fn message(doc: &Document, parent: &web_sys::Node, nodes: &[Node]) {
    for n in nodes {
        match n {
            Node::Text(t) => append(parent, &doc.create_text_node(t)),
            Node::Element { t, h, c } => {
                let Ok(e) = doc.create_element(t.name()) else {
                    continue;
                };
                if *t == Tag::A {
                    if let Some(h) = h.as_deref().filter(|h| safe_href(h)) {
                        attr(&e, "href", h);
                        attr(&e, "target", "_blank");
                        attr(&e, "rel", "noopener noreferrer");
                    }
                }
                message(doc, &e, c);
                append(parent, &e);
            }
        }
    }
}

/// The compiler already kept only these; checked again so a tampered bundle cannot add others.
fn safe_href(h: &str) -> bool {
    dom::is_http(h)
        || h.get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("mailto:"))
}

const STYLE_PROPS: [&str; 7] = [
    "--engage-bg",
    "--engage-color",
    "--engage-accent",
    "--engage-radius",
    "--engage-offset-x",
    "--engage-offset-y",
    "--engage-width",
];

/// The creative's look as custom properties (values only; validated at upload, checked again).
fn set_style(e: &HtmlElement, style: Option<&Style>, reset: Option<()>) {
    let decl = e.style();
    if reset.is_some() {
        for p in STYLE_PROPS {
            let _ = decl.remove_property(p);
        }
    }
    let Some(s) = style else { return };
    let values = [
        &s.background,
        &s.color,
        &s.accent,
        &s.radius,
        &s.offset_x,
        &s.offset_y,
        &s.width,
    ];
    for (p, v) in STYLE_PROPS.iter().zip(values) {
        if let Some(v) = v.as_deref().filter(|v| safe_css(v)) {
            let _ = decl.set_property(p, v);
        }
    }
}

fn safe_css(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    v.len() <= 200
        && !dom::has(&l, "url(")
        && !dom::has(&l, "expression(")
        && !v.contains([';', '{', '}', '<', '\\'])
}
