//! The runtime: one [`Runtime`] per page, fed [`Msg`]s by DOM listeners, timers, network
//! completions and the site's `engage(...)` calls. Every decision is the engine's
//! ([`Visit::apply`]); the runtime only gathers inputs, keeps state, renders and reports.
//!
//! Messages go through [`post`], a trampoline: a message posted while another is being handled
//! (an `engage:*` listener calling `engage(...)`, a focus change during rendering) is queued and
//! handled right after, so the runtime is never borrowed twice and nothing re-enters it.

use crate::debug::DebugPanel;
use crate::dom::{self, date_now, Listener};
use crate::json;
use crate::net::{self, EventQueue, Fetched};
use crate::page;
use crate::regex::JsRegex;
use crate::render::{self, Ui};
use crate::store::{self, Store};
use engage_engine::availability::Availability;
use engage_engine::bundle::{Bundle, BUNDLE_FORMAT};
use engage_engine::model::{Kind, Source, WindowMode, Zone};
use engage_engine::visit::{
    deep_merge, Context, Device, Event, EventKind, Goal, Input, Outcome, PageView, Profile, Visit,
};
use engage_engine::Millis;
use gloo_timers::callback::{Interval, Timeout};
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, KeyboardEvent, MessageEvent, MouseEvent};

/// Sends one batch: `(url, body, unloading)` → accepted. Replaces the network in tests.
pub type Sender = Rc<dyn Fn(&str, &str, bool) -> bool>;

/// Everything a runtime is told from outside.
pub struct Config {
    /// The site id (`engage("init", {site})`).
    pub site: String,
    /// Base URL of the engage server, without a trailing `/` (empty: this page's origin).
    pub server: String,
    /// Storage key prefix.
    pub prefix: String,
    /// Added to `Date.now()` for every decision.
    pub clock_offset: Millis,
    /// Storage; `None`: `localStorage` (memory where it is unusable).
    pub store: Option<Rc<dyn Store>>,
    /// Event delivery; `None`: `fetch`/`sendBeacon` to the server.
    pub sender: Option<Sender>,
    /// A bundle to use instead of storage and the network.
    pub bundle: Option<Bundle>,
    /// Availability to start with instead of asking the server.
    pub availability: Option<Availability>,
    /// Whether the server may be asked for anything (bundle, availability, events).
    pub network: bool,
    /// Minimum time between two event requests.
    pub flush_ms: u32,
    /// Start with the debug panel open.
    pub debug: bool,
}

impl Config {
    pub fn new(site: &str, server: &str) -> Config {
        Config {
            site: site.into(),
            server: server.trim_end_matches('/').into(),
            prefix: "engage:".into(),
            clock_offset: 0,
            store: None,
            sender: None,
            bundle: None,
            availability: None,
            network: true,
            flush_ms: FLUSH_MS,
            debug: false,
        }
    }

    /// From the object tag.js passes: `{site, server, debug}`. `None` without a valid site id.
    pub fn from_js(opts: &JsValue) -> Option<Config> {
        let site = dom::get_str(opts, "site")?;
        let ok = !site.is_empty()
            && site.len() <= 64
            && site
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return None;
        }
        let server = dom::get_str(opts, "server")
            .filter(|s| dom::is_http(s))
            .unwrap_or_default();
        let mut c = Config::new(&site, &server);
        c.debug = js_sys::Reflect::get(opts, &"debug".into()).is_ok_and(|v| v.is_truthy());
        Some(c)
    }
}

/// Event requests are at least this far apart.
pub const FLUSH_MS: u32 = 5_000;
/// Wait for the first events of a page before sending them.
const FIRST_FLUSH_MS: i64 = 1_000;
/// Longest wait between retries (events, bundle).
const MAX_BACKOFF_MS: u32 = 300_000;
/// How long the first decision waits for availability before deciding without it.
const AVAIL_WAIT_MS: u32 = 2_500;
/// A stored availability snapshot younger than this is good enough for the first decision.
const AVAIL_FRESH_MS: i64 = 60_000;
/// History changes settle this long before the page is read (routers set the title late).
const NAV_SETTLE_MS: u32 = 120;
/// Activity is reported at most this often (idle time is exact to this).
const ACTIVITY_MS: f64 = 1_000.0;
/// Longest delay a browser timer takes.
const MAX_TIMER_MS: i64 = 2_000_000_000;
/// Bytes of JSON accepted from one `engage("attributes")` call.
const MAX_ATTRIBUTES_JSON: usize = 32 * 1024;

/// Everything that can happen to the runtime.
pub enum Msg {
    Start,
    /// `engage(name, arg)`.
    Command(String, JsValue),
    /// An engine input from the page (clicks, tests).
    Input(Input),
    /// The `next_wake` timer fired.
    Tick,
    /// History changed (pushState, replaceState, popstate, hashchange).
    Nav,
    NavSettled,
    Bundle(Option<Fetched>),
    BundleRetry,
    /// The availability snapshot of a page (`None`: it could not be had).
    Avail(Option<Availability>),
    AvailTimeout,
    /// A live availability update (SSE or polling).
    Live(Availability),
    LiveFailed,
    Poll,
    Visibility,
    PageHide,
    Flush,
    /// The status of the in-flight event request (0: network error).
    Sent(u16),
    Key(KeyboardEvent),
    Mutations,
    ElementsSettled,
    Activity,
    Scroll(u32),
    Exit,
    Debug(bool),
    DebugTick,
    ClosePanel,
}

thread_local! {
    static RT: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    static QUEUE: RefCell<VecDeque<(u32, Msg)>> = const { RefCell::new(VecDeque::new()) };
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static GEN: Cell<u32> = const { Cell::new(0) };
    static HOOKED: Cell<bool> = const { Cell::new(false) };
}

/// Makes `rt` the page's runtime (dropping any previous one) and starts it.
pub fn install(rt: Runtime) {
    let gen = rt.gen;
    install_quiet(rt);
    post_if(gen, Msg::Start);
}

/// Makes `rt` the page's runtime without starting it (commands can be queued first).
pub fn install_quiet(rt: Runtime) {
    uninstall();
    RT.with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = Some(rt);
        }
    });
}

/// Removes the runtime and everything it added to the page.
pub fn uninstall() {
    let old = RT.with(|r| r.try_borrow_mut().ok().and_then(|mut r| r.take()));
    drop(old);
}

/// Runs `f` on the runtime, when there is one and it is not busy.
pub fn with<R>(f: impl FnOnce(&mut Runtime) -> R) -> Option<R> {
    RT.with(|r| r.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Posts to the current runtime.
pub fn post(msg: Msg) {
    post_if(0, msg);
}

/// Posts to the runtime of generation `gen` (0: whichever is current); stale messages (from a
/// runtime since replaced) are dropped.
pub fn post_if(gen: u32, msg: Msg) {
    QUEUE.with(|q| q.borrow_mut().push_back((gen, msg)));
    if BUSY.with(|b| b.replace(true)) {
        return;
    }
    while let Some((g, m)) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        RT.with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                if let Some(rt) = r.as_mut() {
                    if g == 0 || g == rt.gen {
                        rt.handle(m);
                    }
                }
            }
        });
    }
    BUSY.with(|b| b.set(false));
}

/// A one-shot timer posting `make()`: one closure type for every timer (one copy of the glue).
pub fn timer(gen: u32, ms: u32, make: fn() -> Msg) -> Timeout {
    Timeout::new(ms, move || post_if(gen, make()))
}

/// A repeating timer posting `make()`.
pub fn every(gen: u32, ms: u32, make: fn() -> Msg) -> Interval {
    Interval::new(ms, move || post_if(gen, make()))
}

/// Live availability while a displayed engagement refreshes: SSE, else polling.
struct Live {
    source: Option<EventSource>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Option<Closure<dyn FnMut(web_sys::Event)>>,
    _poll: Option<Interval>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(s) = &self.source {
            s.close();
        }
    }
}

/// Commands received before the first decision.
#[derive(Default)]
struct Early {
    attributes: Map<String, Value>,
    pages: Vec<PageView>,
    goals: Vec<Goal>,
}

pub struct Runtime {
    gen: u32,
    cfg: Config,
    store: Rc<dyn Store>,
    regex: JsRegex,
    bundle: Option<Bundle>,
    etag: Option<String>,
    /// [`text_sig`] of the JSON the bundle was read from (0: given in the config).
    bundle_sig: u64,
    /// Ids of the embedded zones the bundle names.
    zone_ids: Vec<String>,
    visit: Visit,
    booted: bool,
    started: bool,
    have_avail: bool,
    waiting_avail: bool,
    avail_loading: bool,
    early: Early,
    /// The URL of the current page view, as the engine got it.
    page_url: String,
    /// The current page view was detected by the runtime (not `engage("page")`).
    page_auto: bool,
    /// The site reports its own page views: history detection is off.
    site_pages: bool,
    open_id: Option<String>,
    elements: Vec<String>,
    /// Page views in this document.
    pages_here: u32,
    scroll_sent: u32,
    exit_sent: bool,
    wake: Option<Timeout>,
    wake_missed: bool,
    nav_timer: Option<Timeout>,
    mutation_timer: Option<Timeout>,
    avail_timer: Option<Timeout>,
    bundle_timer: Option<Timeout>,
    bundle_loading: bool,
    bundle_backoff: u32,
    flush_timer: Option<Timeout>,
    last_send: i64,
    send_backoff: u32,
    events: EventQueue,
    live: Option<Live>,
    ui: Ui,
    debug: Option<DebugPanel>,
    listeners: Vec<Listener>,
    observer: Option<(web_sys::MutationObserver, Closure<dyn FnMut()>)>,
    /// The last outcome's events (for tests and the debug panel).
    last: Outcome,
}

impl Runtime {
    pub fn new(cfg: Config) -> Runtime {
        let gen = GEN.with(|g| {
            let n = g.get().wrapping_add(1).max(1);
            g.set(n);
            n
        });
        let store = cfg.store.clone().unwrap_or_else(store::default_store);
        Runtime {
            gen,
            store,
            regex: JsRegex::new(),
            bundle: None,
            etag: None,
            bundle_sig: 0,
            zone_ids: Vec::new(),
            visit: Visit::new(Profile::default()),
            booted: false,
            started: false,
            have_avail: false,
            waiting_avail: false,
            avail_loading: false,
            early: Early::default(),
            page_url: String::new(),
            page_auto: true,
            site_pages: false,
            open_id: None,
            elements: Vec::new(),
            pages_here: 0,
            scroll_sent: 0,
            exit_sent: false,
            wake: None,
            wake_missed: false,
            nav_timer: None,
            mutation_timer: None,
            avail_timer: None,
            bundle_timer: None,
            bundle_loading: false,
            bundle_backoff: 0,
            flush_timer: None,
            last_send: 0,
            send_backoff: 0,
            events: EventQueue::default(),
            live: None,
            ui: Ui::new(gen),
            debug: None,
            listeners: Vec::new(),
            observer: None,
            last: Outcome::default(),
            cfg,
        }
    }

    // ----- inspection (tests, debug) -----

    pub fn visit(&self) -> &Visit {
        &self.visit
    }

    pub fn bundle(&self) -> Option<&Bundle> {
        self.bundle.as_ref()
    }

    /// Whether the first decision has been taken.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Events not yet delivered, as JSON.
    pub fn queued_events(&self) -> &[String] {
        self.events.items()
    }

    /// The outcome of the last input.
    pub fn last_outcome(&self) -> &Outcome {
        &self.last
    }

    /// The debug panel's rows as text, when it is open.
    pub fn debug_text(&self) -> Option<String> {
        self.debug.as_ref().map(DebugPanel::text)
    }

    /// Whether a conversation panel is open.
    pub fn has_panel(&self) -> bool {
        self.ui.has_panel()
    }

    /// Sends queued events now, as on a page hide (`unloading`) or as the periodic flush.
    pub fn flush_now(&mut self, unloading: bool) {
        if unloading {
            self.flush_unload();
        } else {
            self.flush_timer = None;
            self.flush();
        }
    }

    fn now(&self) -> Millis {
        date_now().saturating_add(self.cfg.clock_offset)
    }

    fn key(&self, what: &str) -> String {
        let mut k = self.cfg.prefix.clone();
        k.push_str(&self.cfg.site);
        k.push(':');
        k.push_str(what);
        k
    }

    fn api(&self, path: &str) -> String {
        let mut u = self.cfg.server.clone();
        u.push_str("/v1/sites/");
        u.push_str(&self.cfg.site);
        u.push_str(path);
        u
    }

    // ----- messages -----

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start => self.boot(),
            Msg::Command(name, arg) => self.command(&name, &arg),
            Msg::Input(i) => self.input(i),
            Msg::Tick => {
                self.wake = None;
                if dom::hidden() {
                    // Decided when the visitor is back: impressions happen in front of them.
                    self.wake_missed = true;
                } else {
                    self.tick();
                }
            }
            Msg::Nav => {
                if !self.site_pages && self.started {
                    let gen = self.gen;
                    self.nav_timer = Some(timer(gen, NAV_SETTLE_MS, || Msg::NavSettled));
                }
            }
            Msg::NavSettled => {
                self.nav_timer = None;
                self.navigated();
            }
            Msg::Bundle(r) => self.bundle_fetched(r),
            Msg::BundleRetry => {
                self.bundle_timer = None;
                self.fetch_bundle();
            }
            Msg::Avail(a) => self.avail_fetched(a),
            Msg::AvailTimeout => {
                self.avail_timer = None;
                if self.waiting_avail {
                    self.waiting_avail = false;
                    self.have_avail = true;
                    self.maybe_begin();
                }
            }
            Msg::Live(a) => {
                self.cache_avail(&a);
                self.input(Input::Availability(a));
            }
            Msg::LiveFailed => self.poll_instead(),
            Msg::Poll => self.fetch_avail(),
            Msg::Visibility => {
                if dom::hidden() {
                    self.flush_unload();
                } else if self.wake_missed {
                    self.wake_missed = false;
                    self.tick();
                }
            }
            Msg::PageHide => self.flush_unload(),
            Msg::Flush => {
                self.flush_timer = None;
                self.flush();
            }
            Msg::Sent(status) => self.sent(status),
            Msg::Key(ev) => {
                if let Some(id) = self.ui.key(&ev) {
                    self.input(Input::Decline(id));
                }
            }
            Msg::Mutations => {
                if self.mutation_timer.is_none() {
                    let gen = self.gen;
                    self.mutation_timer = Some(timer(gen, 200, || Msg::ElementsSettled));
                }
            }
            Msg::ElementsSettled => {
                self.mutation_timer = None;
                self.elements_changed();
            }
            Msg::Activity => self.input(Input::Activity),
            Msg::Scroll(pct) => {
                let deeper = pct >= self.scroll_sent + 5 || (pct == 100 && self.scroll_sent < 100);
                if self.started && deeper {
                    self.scroll_sent = pct;
                    self.input(Input::Scroll(pct));
                }
            }
            Msg::Exit => {
                if self.started && !self.exit_sent {
                    self.exit_sent = true;
                    self.input(Input::ExitIntent);
                }
            }
            Msg::Debug(on) => self.set_debug(on, true),
            Msg::DebugTick => self.debug_refresh(),
            Msg::ClosePanel => self.ui.close_panel(),
        }
    }

    /// `engage(name, arg)` from the site.
    fn command(&mut self, name: &str, arg: &JsValue) {
        match name {
            "page" => {
                let url = dom::get_str(arg, "url")
                    .and_then(|u| page::resolve(&u))
                    .unwrap_or_else(page::href);
                let pv = PageView {
                    url,
                    title: dom::get_str(arg, "title").or_else(page::title),
                    section: dom::get_str(arg, "section"),
                    referrer: None,
                    elements: None,
                };
                self.explicit_page(pv);
            }
            "attributes" => {
                let Some(json) = dom::to_json(arg).filter(|j| j.len() <= MAX_ATTRIBUTES_JSON)
                else {
                    return;
                };
                let Some(map) = json::parse(&json).and_then(json::object) else {
                    return;
                };
                if self.started {
                    self.input(Input::Attributes(map));
                } else {
                    deep_merge(&mut self.early.attributes, map);
                }
            }
            "goal" => {
                let Some(name) = dom::get_str(arg, "name").filter(|n| !n.is_empty()) else {
                    return;
                };
                let value = js_sys::Reflect::get(arg, &"value".into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .filter(|v| v.is_finite());
                let goal = Goal {
                    name: name.chars().take(100).collect(),
                    value,
                };
                if self.started {
                    self.input(Input::Goal(goal));
                } else if self.early.goals.len() < 50 {
                    self.early.goals.push(goal);
                }
            }
            "debug" => self.set_debug(arg.is_truthy(), true),
            _ => {}
        }
    }

    fn input(&mut self, input: Input) {
        if self.started {
            self.apply(input);
        }
    }

    /// One engine step, then everything that follows from its outcome.
    fn apply(&mut self, input: Input) {
        let Some(bundle) = self.bundle.as_ref() else {
            return;
        };
        let now = self.now();
        let ctx = Context {
            bundle,
            regex: &self.regex,
        };
        let out = self.visit.apply(&ctx, now, input, self.debug.is_some());
        self.store
            .set(&self.key("visit"), &json::store_visit(&self.visit));
        self.ui.render(&out.shown, bundle);
        if let Some(d) = &self.debug {
            d.show(&heading(&self.visit, now), &out.trace);
        }
        self.last = out;
        let events = std::mem::take(&mut self.last.events);
        self.report(&events);
        self.last.events = events;
        self.schedule_wake(self.last.next_wake);
        self.update_live();
    }

    fn tick(&mut self) {
        let stale = self
            .bundle
            .as_ref()
            .is_some_and(|b| b.valid_until.saturating_sub(self.now()) < 300_000);
        if stale && self.cfg.network {
            self.fetch_bundle();
        }
        self.input(Input::Tick);
    }

    // ----- start-up -----

    fn boot(&mut self) {
        if self.booted {
            return;
        }
        if page::loading() {
            // Embedded zones may not be parsed yet: start once the document is.
            if let Some(d) = dom::doc() {
                let gen = self.gen;
                if let Some(l) = Listener::new(
                    &d,
                    "DOMContentLoaded",
                    false,
                    Box::new(move |_| post_if(gen, Msg::Start)),
                ) {
                    self.listeners.push(l);
                    return;
                }
            }
        }
        self.booted = true;
        let vid_key = {
            let mut k = self.cfg.prefix.clone();
            k.push_str("vid");
            k
        };
        let vid = match self.store.get(&vid_key).filter(|v| page::valid_id(v)) {
            Some(v) => v,
            None => {
                let v = page::random_id();
                self.store.set(&vid_key, &v);
                v
            }
        };
        let profile = Profile {
            id: vid.clone(),
            device: page::device(),
            language: page::language(),
            country: None,
        };
        let stored = self
            .store
            .get(&self.key("visit"))
            .and_then(|s| json::visit(json::parse(&s)?))
            .filter(|v| v.profile().id == vid);
        self.visit = match stored {
            Some(v) => v,
            None => {
                self.store.remove(&self.key("visit"));
                Visit::new(profile.clone())
            }
        };
        self.visit.set_profile(profile);

        let href = page::href();
        let debug_key = self.debug_key();
        match page::param(&href, "engage_debug").as_deref() {
            Some("0") | Some("false") => self.store.remove(&debug_key),
            Some(_) => {
                self.store.set(&debug_key, "1");
            }
            None => {}
        }
        if self.cfg.debug || self.store.get(&debug_key).as_deref() == Some("1") {
            self.set_debug(true, false);
        }
        self.open_id =
            page::take_param("engage_open").filter(|id| !id.is_empty() && id.len() <= 64);
        self.listen();

        self.events = EventQueue::load(self.store.get(&self.key("events")).as_deref());
        if !self.events.is_empty() {
            self.schedule_flush();
        }

        if let Some(b) = self.cfg.bundle.take() {
            self.set_bundle(b);
        } else {
            self.load_cached_bundle();
            if self.cfg.network {
                self.fetch_bundle();
                // First visit: ask for availability alongside the bundle, not after it.
                if self.bundle.is_none() && self.cfg.availability.is_none() {
                    self.fetch_avail();
                }
            }
        }
        self.maybe_begin();
    }

    fn debug_key(&self) -> String {
        let mut k = self.cfg.prefix.clone();
        k.push_str("debug");
        k
    }

    fn load_cached_bundle(&mut self) {
        let key = self.key("bundle");
        let Some(text) = self.store.get(&key) else {
            return;
        };
        let parsed = text
            .split_once('\n')
            .and_then(|(etag, body)| Some((etag, parse_bundle(body, &self.cfg.site)?)));
        match parsed {
            Some((etag, b)) => {
                self.etag = (!etag.is_empty()).then(|| etag.to_string());
                self.bundle_sig = text_sig(text.split_once('\n').map_or("", |(_, body)| body));
                self.set_bundle(b);
            }
            None => self.store.remove(&key),
        }
    }

    fn set_bundle(&mut self, b: Bundle) {
        let mut zones: Vec<String> = Vec::new();
        for c in &b.campaigns {
            for e in &c.engagements {
                if let (Source::Web, Some(Zone::Embedded(id))) = (e.source, &e.zone) {
                    if !zones.contains(id) {
                        zones.push(id.clone());
                    }
                }
            }
        }
        self.zone_ids = zones;
        if self.started {
            // A newer version may have disabled or removed what is on the page.
            self.visit.bundle_changed(&b);
        }
        self.bundle = Some(b);
    }

    /// The first decision, once the bundle (and availability, where it matters) is here.
    fn maybe_begin(&mut self) {
        if self.started || !self.booted || self.waiting_avail {
            return;
        }
        let Some(bundle) = &self.bundle else { return };
        if !self.have_avail {
            // An offsite link's `engage_open` accepts at once: its state must be the real one.
            let needed = needs_availability(bundle) || self.open_id.is_some();
            if let Some(a) = self.cfg.availability.take() {
                self.visit.set_availability(a);
            } else if needed {
                if let Some(a) = self.cached_avail() {
                    self.visit.set_availability(a);
                    if self.cfg.network {
                        self.fetch_avail();
                    }
                } else if self.cfg.network {
                    self.waiting_avail = true;
                    if !self.avail_loading {
                        self.fetch_avail();
                    }
                    let gen = self.gen;
                    self.avail_timer = Some(timer(gen, AVAIL_WAIT_MS, || Msg::AvailTimeout));
                    return;
                }
            }
            self.have_avail = true;
        }
        self.begin();
    }

    fn begin(&mut self) {
        self.started = true;
        let early = std::mem::take(&mut self.early);
        if !early.attributes.is_empty() {
            // Pushed before the first page: part of it, not a decision of their own.
            let avail = self.visit.availability().clone();
            if let Some(mut v) = merge_attributes(&self.visit, early.attributes) {
                v.set_availability(avail);
                self.visit = v;
            }
        }
        if early.pages.is_empty() {
            let pv = self.read_page(page::referrer());
            self.page_view(pv, true);
        } else {
            self.site_pages = true;
            let mut referrer = page::referrer();
            for mut pv in early.pages {
                pv.referrer = referrer.take();
                self.page_view(pv, false);
            }
        }
        if let Some(id) = self.open_id.take() {
            self.apply(Input::Accept(id));
        }
        for g in early.goals {
            self.apply(Input::Goal(g));
        }
        self.observe();
    }

    fn read_page(&self, referrer: Option<String>) -> PageView {
        PageView {
            url: page::href(),
            title: page::title(),
            section: None,
            referrer,
            elements: None,
        }
    }

    fn page_view(&mut self, mut pv: PageView, auto: bool) {
        self.page_url = pv.url.clone();
        self.page_auto = auto;
        self.scroll_sent = 0;
        self.exit_sent = false;
        self.elements = page::present(&self.zone_ids);
        pv.elements = Some(self.elements.clone());
        let first = self.pages_here == 0;
        self.pages_here += 1;
        self.apply(Input::Page(pv));
        // A new page asks for fresh availability once (the first page already has it).
        if !first && self.live.is_none() && self.bundle.as_ref().is_some_and(needs_availability) {
            self.fetch_avail();
        }
    }

    fn explicit_page(&mut self, pv: PageView) {
        if !self.started {
            if self.early.pages.len() < 20 {
                self.early.pages.push(pv);
            }
            return;
        }
        let same = self.page_auto && pv.url == self.page_url;
        self.site_pages = true;
        self.nav_timer = None;
        if same {
            // The page the runtime already counted: the site now takes over page views.
            self.page_auto = false;
            return;
        }
        let mut pv = pv;
        pv.referrer = Some(self.page_url.clone());
        self.page_view(pv, false);
    }

    /// A history change settled: a page view when the URL changed (hash-only changes count
    /// only for hash routes, `#/…` or `#!…`).
    fn navigated(&mut self) {
        if self.site_pages || !self.started {
            return;
        }
        let href = page::href();
        if href == self.page_url {
            return;
        }
        let base = |u: &str| u.split('#').next().unwrap_or("").to_string();
        if base(&href) == base(&self.page_url) {
            let hash = href.split_once('#').map_or("", |(_, h)| h);
            let old = self.page_url.split_once('#').map_or("", |(_, h)| h);
            let route = |h: &str| h.starts_with('/') || h.starts_with('!');
            if !route(hash) && !route(old) {
                return;
            }
        }
        let prev = self.page_url.clone();
        let pv = self.read_page(Some(prev));
        self.page_view(pv, true);
    }

    // ----- page listeners -----

    fn listen(&mut self) {
        let gen = self.gen;
        let (Some(w), Some(d)) = (dom::win(), dom::doc()) else {
            return;
        };
        hook_history();
        let mut add =
            |t: &web_sys::EventTarget, kind: &'static str, f: Box<dyn FnMut(web_sys::Event)>| {
                if let Some(l) = Listener::new(t, kind, true, f) {
                    self.listeners.push(l);
                }
            };
        add(&w, "popstate", Box::new(move |_| post_if(gen, Msg::Nav)));
        add(&w, "hashchange", Box::new(move |_| post_if(gen, Msg::Nav)));
        add(
            &d,
            "visibilitychange",
            Box::new(move |_| post_if(gen, Msg::Visibility)),
        );
        add(
            &w,
            "pagehide",
            Box::new(move |_| post_if(gen, Msg::PageHide)),
        );
        // Activity, throttled here so a moving mouse costs one clock read per event.
        let last = Rc::new(Cell::new(0.0f64));
        for kind in [
            "pointerdown",
            "pointermove",
            "keydown",
            "wheel",
            "touchstart",
        ] {
            let last = last.clone();
            add(
                &w,
                kind,
                Box::new(move |ev: web_sys::Event| {
                    if let Some(k) = ev.dyn_ref::<KeyboardEvent>() {
                        post_if(gen, Msg::Key(k.clone()));
                    }
                    let now = js_sys::Date::now();
                    if now - last.get() >= ACTIVITY_MS {
                        last.set(now);
                        post_if(gen, Msg::Activity);
                    }
                }),
            );
        }
        let last_scroll = Cell::new(0.0f64);
        add(
            &w,
            "scroll",
            Box::new(move |_| {
                let now = js_sys::Date::now();
                if now - last_scroll.get() >= 200.0 {
                    last_scroll.set(now);
                    post_if(gen, Msg::Scroll(page::scroll_percent()));
                }
            }),
        );
        if self.visit.profile().device == Device::Desktop {
            add(
                &d,
                "mouseout",
                Box::new(move |ev: web_sys::Event| {
                    if let Some(m) = ev.dyn_ref::<MouseEvent>() {
                        if m.related_target().is_none() && m.client_y() <= 0 {
                            post_if(gen, Msg::Exit);
                        }
                    }
                }),
            );
        }
    }

    /// Watches the document for embedded zone elements coming and going.
    fn observe(&mut self) {
        if self.zone_ids.is_empty() || self.observer.is_some() {
            return;
        }
        let Some(root) = dom::doc().and_then(|d| d.document_element()) else {
            return;
        };
        let gen = self.gen;
        let cb = Closure::<dyn FnMut()>::new(move || post_if(gen, Msg::Mutations));
        let Ok(obs) = web_sys::MutationObserver::new(cb.as_ref().unchecked_ref()) else {
            return;
        };
        let init = web_sys::MutationObserverInit::new();
        dom::set(&init, "childList", &JsValue::TRUE);
        dom::set(&init, "subtree", &JsValue::TRUE);
        if obs.observe_with_options(&root, &init).is_ok() {
            self.observer = Some((obs, cb));
        }
    }

    fn elements_changed(&mut self) {
        if !self.started {
            return;
        }
        let now = page::present(&self.zone_ids);
        if now != self.elements {
            self.elements = now.clone();
            self.input(Input::Elements(now));
        } else if let Some(b) = &self.bundle {
            // Same ids, but the page may have replaced a zone element: re-mount into it.
            self.ui.render(&self.visit.shown(), b);
        }
    }

    // ----- reporting -----

    /// Queues the outcome's events for the server and raises the `engage:*` DOM events.
    fn report(&mut self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        for ev in events {
            self.events.push(json::event(ev));
            let name = match ev.kind {
                EventKind::Impression => "engage:shown",
                EventKind::Accept => "engage:accepted",
                EventKind::Decline => "engage:declined",
                EventKind::State => "engage:state",
                EventKind::Control | EventKind::Goal => continue,
            };
            let detail = js_sys::Object::new();
            let s = |k: &str, v: Option<&str>| {
                let v = v.map_or(JsValue::NULL, JsValue::from_str);
                dom::set(&detail, k, &v);
            };
            s("campaign", ev.campaign.as_deref());
            s("engagement", ev.engagement.as_deref());
            s("zone", ev.zone.as_deref());
            s("state", ev.state.map(|st| st.as_str()));
            if ev.kind == EventKind::Accept {
                self.accepted(ev, &detail);
            }
            dispatch(name, &detail);
        }
        self.store.set(&self.key("events"), &self.events.to_json());
        self.schedule_flush();
    }

    /// `engage:accepted` extras, and the conversation window when the bundle names one.
    fn accepted(&mut self, ev: &Event, detail: &js_sys::Object) {
        let Some(bundle) = &self.bundle else { return };
        let Some((_, e)) = ev
            .engagement
            .as_deref()
            .and_then(|id| render::find(bundle, id))
        else {
            return;
        };
        let language = e
            .language
            .clone()
            .or_else(|| self.visit.profile().language.clone());
        let s = |k: &str, v: Option<&str>| {
            dom::set(detail, k, &v.map_or(JsValue::NULL, JsValue::from_str));
        };
        s("skill", e.skill.as_deref());
        s("language", language.as_deref());
        s("agent_note", e.agent_note.as_deref());
        let attrs = json::to_js(&self.visit.attributes());
        dom::set(detail, "attributes", &attrs);
        let Some(tpl) = bundle.settings.conversation_url.as_deref() else {
            return;
        };
        if e.kind != Kind::Conversation {
            return;
        }
        let mut url = dom::replace(tpl, "{site}", &dom::encode(&self.cfg.site));
        url = dom::replace(&url, "{engagement}", &dom::encode(&e.id));
        url = dom::replace(
            &url,
            "{skill}",
            &dom::encode(e.skill.as_deref().unwrap_or("")),
        );
        url = dom::replace(
            &url,
            "{language}",
            &dom::encode(language.as_deref().unwrap_or("")),
        );
        if !dom::is_http(&url) {
            return;
        }
        let title = e
            .creative
            .for_state(
                ev.state
                    .unwrap_or(engage_engine::availability::State::Online),
                true,
            )
            .and_then(|c| c.title.clone())
            .unwrap_or_else(|| "Conversation".into());
        let popup = e.window_mode == WindowMode::Popup
            || (self.visit.profile().device == Device::Mobile && !page::has_viewport_meta());
        if popup {
            if let Some(w) = dom::win() {
                if let Ok(Some(child)) = w.open_with_url_and_target_and_features(
                    &url,
                    "engage-conversation",
                    "popup,width=420,height=640",
                ) {
                    dom::set(&child, "opener", &JsValue::NULL);
                    return;
                }
            }
        }
        // Embedded, or the popup was blocked.
        self.ui.open_panel(&url, &title);
    }

    fn schedule_flush(&mut self) {
        if self.events.is_empty() || self.flush_timer.is_some() || self.events.in_flight > 0 {
            return;
        }
        let gap = i64::from(self.cfg.flush_ms.max(self.send_backoff));
        let now = date_now();
        let delay = (self.last_send + gap - now).max(FIRST_FLUSH_MS.min(gap));
        let gen = self.gen;
        self.flush_timer = Some(timer(gen, delay.clamp(0, MAX_TIMER_MS) as u32, || {
            Msg::Flush
        }));
    }

    fn flush(&mut self) {
        if self.events.in_flight > 0 || self.events.is_empty() {
            return;
        }
        let n = self.events.next_batch(0);
        let body = self.events.body(&self.visit.profile().id, 0, n);
        let url = self.api("/events");
        self.events.in_flight = n;
        self.last_send = date_now();
        if let Some(send) = self.cfg.sender.clone() {
            let ok = send(&url, &body, false);
            self.sent(if ok { 200 } else { 0 });
        } else if self.cfg.network {
            let gen = self.gen;
            net::post(
                &url,
                &body,
                false,
                Box::new(move |status| post_if(gen, Msg::Sent(status))),
            );
        } else {
            self.events.in_flight = 0;
        }
    }

    fn sent(&mut self, status: u16) {
        // Delivered, or refused for good (4xx but 408/429): either way not sent again.
        let done = (200..300).contains(&status)
            || ((400..500).contains(&status) && status != 408 && status != 429);
        self.events.finish(done);
        self.store.set(&self.key("events"), &self.events.to_json());
        self.send_backoff = if done {
            0
        } else {
            self.send_backoff
                .saturating_mul(2)
                .clamp(FLUSH_MS * 2, MAX_BACKOFF_MS)
        };
        self.schedule_flush();
    }

    /// The page is going away (or hidden): everything not in flight goes out as beacons.
    fn flush_unload(&mut self) {
        self.store
            .set(&self.key("visit"), &json::store_visit(&self.visit));
        let url = self.api("/events");
        let vid = self.visit.profile().id.clone();
        let mut skip = self.events.in_flight;
        for _ in 0..20 {
            let n = self.events.next_batch(skip);
            if n == 0 {
                break;
            }
            let body = self.events.body(&vid, skip, n);
            let ok = match &self.cfg.sender {
                Some(send) => send(&url, &body, true),
                None if self.cfg.network => {
                    if !net::beacon(&url, &body) {
                        net::post(&url, &body, true, Box::new(|_| ()));
                    }
                    true
                }
                None => false,
            };
            if ok {
                self.events.remove(skip, n);
            } else {
                skip += n;
            }
        }
        self.store.set(&self.key("events"), &self.events.to_json());
    }

    // ----- timers -----

    /// The one timer for the engine's `next_wake`.
    fn schedule_wake(&mut self, at: Option<Millis>) {
        self.wake = None;
        let Some(at) = at else { return };
        // A little late rather than early: the engine compares `now >= due`.
        let delay = (at.saturating_sub(self.now()) + 15).clamp(0, MAX_TIMER_MS);
        let gen = self.gen;
        self.wake = Some(timer(gen, delay as u32, || Msg::Tick));
    }

    // ----- bundle -----

    fn fetch_bundle(&mut self) {
        if self.bundle_loading || !self.cfg.network {
            return;
        }
        self.bundle_loading = true;
        let url = self.api("/bundle");
        let etag = self.etag.clone();
        let gen = self.gen;
        net::get(
            &url,
            etag.as_deref(),
            Box::new(move |r| post_if(gen, Msg::Bundle(r))),
        );
    }

    fn bundle_fetched(&mut self, r: Option<Fetched>) {
        self.bundle_loading = false;
        let fresh = match r {
            Some(f) if f.status == 304 && self.bundle.is_some() => {
                self.bundle_backoff = 0;
                return;
            }
            Some(f) if f.status == 200 => parse_bundle(&f.body, &self.cfg.site).map(|b| (b, f)),
            _ => None,
        };
        let Some((b, f)) = fresh else {
            // Server down, 5xx, garbage: keep what we have and try again later.
            self.bundle_backoff = self
                .bundle_backoff
                .saturating_mul(2)
                .clamp(2_000, MAX_BACKOFF_MS);
            let gen = self.gen;
            self.bundle_timer = Some(timer(gen, self.bundle_backoff, || Msg::BundleRetry));
            return;
        };
        self.bundle_backoff = 0;
        let mut stored = f.etag.clone().unwrap_or_default();
        stored.push('\n');
        stored.push_str(&f.body);
        if !self.store.set(&self.key("bundle"), &stored) {
            self.store.remove(&self.key("bundle"));
        }
        self.etag = f.etag;
        // Compared by text, not by value: a derived `PartialEq` over every bundle type costs
        // kilobytes of wasm, and the server sends the same bytes for the same bundle.
        let sig = text_sig(&f.body);
        let changed = self.bundle.is_none() || sig != self.bundle_sig;
        self.bundle_sig = sig;
        self.set_bundle(b);
        if self.started {
            if changed {
                self.input(Input::Tick);
                self.observe();
            }
        } else {
            self.maybe_begin();
        }
    }

    // ----- availability -----

    fn fetch_avail(&mut self) {
        if !self.cfg.network {
            return;
        }
        self.avail_loading = true;
        let url = self.api("/availability");
        let gen = self.gen;
        net::get(
            &url,
            None,
            Box::new(move |r| {
                let a = r
                    .filter(|f| f.status == 200)
                    .and_then(|f| net::parse_availability(&f.body));
                post_if(gen, Msg::Avail(a));
            }),
        );
    }

    fn avail_fetched(&mut self, a: Option<Availability>) {
        self.avail_loading = false;
        if let Some(a) = &a {
            self.cache_avail(a);
        }
        if self.started {
            if let Some(a) = a {
                self.input(Input::Availability(a));
            }
            return;
        }
        // Before the first decision (possibly before the bundle): its starting point.
        if let Some(a) = a {
            self.visit.set_availability(a);
            self.have_avail = true;
        }
        if self.waiting_avail {
            self.waiting_avail = false;
            self.avail_timer = None;
            self.have_avail = true;
        }
        self.maybe_begin();
    }

    fn cache_avail(&self, a: &Availability) {
        let mut s = date_now().to_string();
        s.push('\n');
        let skills = js_sys::Object::new();
        for (k, v) in a {
            let o = js_sys::Object::new();
            dom::set(&o, "agents_online", &v.agents_online.into());
            dom::set(&o, "agents_with_capacity", &v.agents_with_capacity.into());
            dom::set(&o, "expected_wait_seconds", &v.expected_wait_seconds.into());
            dom::set(&skills, k, &o);
        }
        s.push_str(&json::stringify_js(&skills));
        self.store.set(&self.key("avail"), &s);
    }

    fn cached_avail(&self) -> Option<Availability> {
        let key = self.key("avail");
        let text = self.store.get(&key)?;
        let parsed = text.split_once('\n').and_then(|(at, json)| {
            let at: i64 = at.parse().ok()?;
            let age = date_now() - at;
            Some((
                (0..AVAIL_FRESH_MS).contains(&age),
                net::parse_availability(json)?,
            ))
        });
        match parsed {
            Some((true, a)) => Some(a),
            Some((false, _)) => None,
            None => {
                self.store.remove(&key);
                None
            }
        }
    }

    /// SSE while a displayed engagement refreshes its state; nothing otherwise.
    fn update_live(&mut self) {
        let Some(bundle) = &self.bundle else { return };
        let refresh = self.last_refresh(bundle).filter(|_| self.cfg.network);
        let Some(_) = refresh else {
            self.live = None;
            return;
        };
        if self.live.is_some() {
            return;
        }
        let gen = self.gen;
        let source = EventSource::new(&self.api("/availability/stream")).ok();
        let Some(source) = source else {
            self.poll_instead();
            return;
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |m: MessageEvent| {
            if let Some(a) = m
                .data()
                .as_string()
                .and_then(|t| net::parse_availability(&t))
            {
                post_if(gen, Msg::Live(a));
            }
        });
        let src = source.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // CLOSED: the browser gave up (HTTP error, wrong type); otherwise it reconnects.
            if src.ready_state() == EventSource::CLOSED {
                post_if(gen, Msg::LiveFailed);
            }
        });
        dom::set(&source, "onmessage", on_message.as_ref());
        dom::set(&source, "onerror", on_error.as_ref());
        self.live = Some(Live {
            source: Some(source),
            _on_message: Some(on_message),
            _on_error: Some(on_error),
            _poll: None,
        });
    }

    /// The smallest `refresh_seconds` among displayed engagements that follow availability.
    fn last_refresh(&self, bundle: &Bundle) -> Option<u32> {
        self.last
            .shown
            .iter()
            .filter_map(|s| render::find(bundle, &s.engagement))
            .filter(|(_, e)| e.follows_availability())
            .filter_map(|(_, e)| e.refresh_seconds)
            .min()
    }

    fn poll_instead(&mut self) {
        let Some(secs) = self.bundle.as_ref().and_then(|b| self.last_refresh(b)) else {
            self.live = None;
            return;
        };
        let gen = self.gen;
        self.live = Some(Live {
            source: None,
            _on_message: None,
            _on_error: None,
            _poll: Some(every(gen, secs.clamp(5, 3600) * 1000, || Msg::Poll)),
        });
    }

    // ----- debug -----

    fn set_debug(&mut self, on: bool, remember: bool) {
        if remember {
            let key = self.debug_key();
            if on {
                self.store.set(&key, "1");
            } else {
                self.store.remove(&key);
            }
        }
        if !on {
            self.debug = None;
            return;
        }
        if self.debug.is_none() {
            self.debug = DebugPanel::open(self.gen);
            self.debug_refresh();
        }
    }

    fn debug_refresh(&mut self) {
        let (Some(d), Some(bundle)) = (&self.debug, &self.bundle) else {
            return;
        };
        if !self.started {
            return;
        }
        let now = self.now();
        let ctx = Context {
            bundle,
            regex: &self.regex,
        };
        let out = self.visit.peek(&ctx, now);
        d.show(&heading(&self.visit, now), &out.trace);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some((obs, _)) = &self.observer {
            obs.disconnect();
        }
        self.ui.teardown();
    }
}

fn heading(v: &Visit, _now: Millis) -> String {
    let mut s = String::from("engage debug \u{00b7} visit ");
    s.push_str(&v.number().to_string());
    s.push_str(" \u{00b7} pages ");
    s.push_str(&v.pages_viewed().to_string());
    s
}

/// `new CustomEvent(name, {detail})` on `window`.
fn dispatch(name: &str, detail: &JsValue) {
    let init = web_sys::CustomEventInit::new();
    dom::set(&init, "detail", detail);
    if let (Some(w), Ok(ev)) = (
        dom::win(),
        web_sys::CustomEvent::new_with_event_init_dict(name, &init),
    ) {
        let _ = w.dispatch_event(&ev);
    }
}

/// A bundle for this site in the format this runtime reads.
/// A 64-bit FNV-1a hash of a bundle's JSON text, to tell a new bundle from the one in use.
fn text_sig(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn parse_bundle(text: &str, site: &str) -> Option<Bundle> {
    let b = crate::decode::bundle(&json::parse(text)?)?;
    (b.format == BUNDLE_FORMAT && b.site == site).then_some(b)
}

/// Whether any web engagement's display depends on agents.
fn needs_availability(b: &Bundle) -> bool {
    b.campaigns.iter().any(|c| {
        c.engagements
            .iter()
            .any(|e| e.source == Source::Web && e.follows_availability())
    })
}

/// Wraps `history.pushState`/`replaceState` once per page so SPA navigation is seen.
fn hook_history() {
    if HOOKED.with(|h| h.replace(true)) {
        return;
    }
    let Some(h) = dom::win().and_then(|w| w.history().ok()) else {
        return;
    };
    for name in ["pushState", "replaceState"] {
        let Some(orig) = js_sys::Reflect::get(&h, &name.into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        else {
            continue;
        };
        let this = h.clone();
        let wrapper =
            Closure::<dyn FnMut(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
                move |a: JsValue, b: JsValue, c: JsValue| {
                    let r = orig.call3(&this, &a, &b, &c);
                    if r.is_ok() {
                        post(Msg::Nav);
                    }
                    r
                },
            );
        let _ = js_sys::Reflect::set(&h, &name.into(), wrapper.as_ref());
        // Lives as long as the page: the page's own code holds on to it.
        wrapper.forget();
    }
}

/// Merges attributes into a visit without a decision.
fn merge_attributes(v: &Visit, attrs: Map<String, Value>) -> Option<Visit> {
    let mut v = v.clone();
    v.merge_attributes(attrs);
    Some(v)
}
