//! Browser tests of the runtime, in headless Chromium:
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p engage-runtime --target wasm32-unknown-unknown`.
//!
//! Each test starts its own runtime through the public entry point (`engage_runtime::start`,
//! what tag.js calls) with test options — a bundle and availability instead of the network,
//! memory storage, a captured event sender — drives it through `engage(...)` commands, DOM
//! events and the runtime's handle, checks the DOM, the `engage:*` events and the event queue,
//! and stops it.

use engage_engine::bundle::Bundle;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

// ----- helpers -----

fn doc() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// An engagement: `creative` defaults to online/busy/offline (conversation) or content.
fn eng(id: &str, format: &str, zone: Value, extra: Value) -> Value {
    let mut e = json!({
        "id": id, "enabled": true, "kind": "conversation", "channel": "chat", "source": "web",
        "format": format, "zone": zone, "skill": "sales", "language": "en-GB",
        "agent_note": "note for agents",
        "creative": {
            "online": {"title": format!("{id} online"), "message": ["We are ", {"t": "b", "c": ["online"]}], "cta": "Chat now"},
            "busy": {"title": format!("{id} busy"), "cta": "Chat anyway"},
            "offline": {"title": format!("{id} offline"), "cta": "Leave a message"}
        },
        "sender": {"name": "Sales bot", "avatar_url": "https://acme.example/bot.png"}
    });
    if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            e.insert(k.clone(), v.clone());
        }
    }
    e
}

/// A bundle for site `test` with one campaign per engagement (campaign id `c-<engagement>`).
fn bundle_json(engagements: Vec<Value>, settings: Value) -> Value {
    let campaigns: Vec<Value> = engagements
        .into_iter()
        .map(|e| {
            json!({
                "id": format!("c-{}", e["id"].as_str().unwrap()), "enabled": true, "priority": 0,
                "control_group_percent": 0.0,
                "schedule": [[-8_640_000_000_000_000_i64, 8_640_000_000_000_000_i64]],
                "business_hours_only": false, "engagements": [e]
            })
        })
        .collect();
    let mut s = json!({
        "displays_per_visit": {"conversation": null, "content": null},
        "invite_after_decline": {"conversation": false, "content": true},
        "control_group_percent": 0.0, "visit_idle_minutes": 30
    });
    if let (Some(s), Some(x)) = (s.as_object_mut(), settings.as_object()) {
        for (k, v) in x {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "format": 2, "site": "test", "version": 3, "compiled_at": 0,
        "valid_until": 8_640_000_000_000_000_i64, "settings": s,
        "skills": [{"id": "sales", "max_wait_seconds": 120}], "campaigns": campaigns
    })
}

fn bundle(engagements: Vec<Value>, settings: Value) -> Value {
    bundle_json(engagements, settings)
}

fn online() -> Value {
    json!({"skills": {"sales": {"agents_online": 2, "agents_with_capacity": 1, "expected_wait_seconds": 10}}})
}

fn js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

fn get(v: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(v, &k.into()).unwrap()
}

/// A `localStorage`-shaped object in memory.
fn mem_store() -> JsValue {
    js_sys::Function::new_no_args(
        "const m = new Map(); return {getItem: k => m.has(k) ? m.get(k) : null, \
         setItem: (k, v) => { m.set(k, String(v)); }, removeItem: k => { m.delete(k); }};",
    )
    .call0(&JsValue::NULL)
    .unwrap()
}

fn store_get(store: &JsValue, k: &str) -> Option<String> {
    let f: js_sys::Function = get(store, "getItem").dyn_into().unwrap();
    f.call1(store, &k.into()).unwrap().as_string()
}

fn store_set(store: &JsValue, k: &str, v: &str) {
    let f: js_sys::Function = get(store, "setItem").dyn_into().unwrap();
    f.call2(store, &k.into(), &v.into()).unwrap();
}

fn store_remove(store: &JsValue, k: &str) {
    let f: js_sys::Function = get(store, "removeItem").dyn_into().unwrap();
    f.call1(store, &k.into()).unwrap();
}

type Sent = Rc<RefCell<Vec<(String, String, bool)>>>;

/// What a test runtime reports: the requests it sent, and a switch that makes them fail.
struct Net {
    sent: Sent,
    fail: Rc<Cell<bool>>,
}

/// The options of a test runtime: site `test`, no network, online availability, `bundle`.
fn opts(bundle: Option<&Value>) -> Value {
    let mut o = json!({
        "site": "test", "server": "https://engage.example", "network": false,
        "availability": online()
    });
    if let Some(b) = bundle {
        o["bundle"] = json!(b.to_string());
    }
    o
}

/// Starts a runtime with `o` (see [`opts`]), storage `store` and the `queue` of commands
/// queued before it loaded; events go to the returned [`Net`].
fn launch_with(o: Value, store: &JsValue, queue: Vec<(&str, Value)>) -> Net {
    let sent: Sent = Rc::default();
    let fail = Rc::new(Cell::new(false));
    let (log, f) = (sent.clone(), fail.clone());
    let send = Closure::<dyn FnMut(String, String, bool) -> bool>::new(
        move |url: String, body: String, unloading: bool| {
            log.borrow_mut().push((url, body, unloading));
            !f.get()
        },
    );
    let o = js(&o);
    js_sys::Reflect::set(&o, &"storage".into(), store).unwrap();
    js_sys::Reflect::set(&o, &"send".into(), &send.into_js_value()).unwrap();
    let q = js_sys::Array::new();
    for (name, arg) in queue {
        q.push(&js_sys::Array::of2(&name.into(), &js(&arg)));
    }
    assert!(engage_runtime::start(o, q.into()), "the runtime started");
    Net { sent, fail }
}

fn launch(bundle: &Value) -> Net {
    launch_with(opts(Some(bundle)), &mem_store(), vec![])
}

/// The running runtime's handle method `name`, called with `args`.
fn handle(name: &str, args: &[JsValue]) -> JsValue {
    let h = engage_runtime::runtime();
    assert!(!h.is_undefined(), "a runtime runs");
    let f: js_sys::Function = get(&h, name).dyn_into().unwrap();
    f.apply(&h, &args.iter().collect::<js_sys::Array>())
        .unwrap()
}

fn uninstall() {
    if !engage_runtime::runtime().is_undefined() {
        handle("stop", &[]);
    }
    assert!(engage_runtime::runtime().is_undefined());
}

fn command(name: &str, arg: Value) {
    engage_runtime::command(name.into(), js(&arg));
}

fn input(i: Value) {
    handle("input", &[js(&i)]);
}

fn info(k: &str) -> JsValue {
    get(&handle("info", &[]), k)
}

fn pages_viewed() -> u32 {
    info("pages").as_f64().unwrap() as u32
}

fn visit_number() -> u32 {
    info("visit").as_f64().unwrap() as u32
}

fn started() -> bool {
    handle("started", &[]).is_truthy()
}

fn debug_text() -> Option<String> {
    handle("debugText", &[]).as_string()
}

fn root() -> Option<web_sys::ShadowRoot> {
    doc().get_element_by_id("engage-root")?.shadow_root()
}

fn find(sel: &str) -> Option<Element> {
    root()?.query_selector(sel).ok()?
}

fn find_in(host_id: &str, sel: &str) -> Option<Element> {
    doc()
        .get_element_by_id(host_id)?
        .shadow_root()?
        .query_selector(sel)
        .ok()?
}

fn engagement(id: &str) -> Option<Element> {
    find(&format!("[data-engagement=\"{id}\"]"))
}

fn attr(e: &Element, name: &str) -> String {
    e.get_attribute(name).unwrap_or_default()
}

fn click(e: &Element) {
    e.dyn_ref::<HtmlElement>().unwrap().click();
}

fn zone_div(id: &str) -> Element {
    let d = doc().create_element("div").unwrap();
    d.set_id(id);
    doc().body().unwrap().append_child(&d).unwrap();
    d
}

/// Records `engage:*` events on window while alive.
struct Events {
    log: Rc<RefCell<Vec<(String, JsValue)>>>,
    _listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Events {
    fn new() -> Events {
        let log: Rc<RefCell<Vec<(String, JsValue)>>> = Rc::default();
        let w = web_sys::window().unwrap();
        let mut ls = Vec::new();
        for name in [
            "engage:shown",
            "engage:accepted",
            "engage:declined",
            "engage:state",
        ] {
            let log = log.clone();
            let cb = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
                let detail = ev.dyn_into::<web_sys::CustomEvent>().unwrap().detail();
                log.borrow_mut().push((name.to_string(), detail));
            });
            w.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref())
                .unwrap();
            ls.push(cb);
        }
        Events {
            log,
            _listeners: ls,
        }
    }

    fn names(&self) -> Vec<String> {
        self.log.borrow().iter().map(|(n, _)| n.clone()).collect()
    }

    fn detail(&self, name: &str) -> Option<JsValue> {
        self.log
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let w = web_sys::window().unwrap();
        for (cb, name) in self._listeners.iter().zip([
            "engage:shown",
            "engage:accepted",
            "engage:declined",
            "engage:state",
        ]) {
            let _ = w.remove_event_listener_with_callback(name, cb.as_ref().unchecked_ref());
        }
    }
}

/// Catches anything reaching `window.onerror` or `unhandledrejection` while alive.
struct ErrorTrap {
    hits: Rc<RefCell<Vec<String>>>,
    _a: Closure<dyn FnMut(web_sys::Event)>,
    _b: Closure<dyn FnMut(web_sys::Event)>,
}

impl ErrorTrap {
    fn new() -> ErrorTrap {
        let hits: Rc<RefCell<Vec<String>>> = Rc::default();
        let w = web_sys::window().unwrap();
        let h = hits.clone();
        let a = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            h.borrow_mut()
                .push(format!("error: {:?}", get(&e, "message")));
        });
        let h = hits.clone();
        let b = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            h.borrow_mut()
                .push(format!("rejection: {:?}", get(&e, "reason")));
        });
        w.add_event_listener_with_callback("error", a.as_ref().unchecked_ref())
            .unwrap();
        w.add_event_listener_with_callback("unhandledrejection", b.as_ref().unchecked_ref())
            .unwrap();
        ErrorTrap { hits, _a: a, _b: b }
    }
}

impl Drop for ErrorTrap {
    fn drop(&mut self) {
        let w = web_sys::window().unwrap();
        let _ = w.remove_event_listener_with_callback("error", self._a.as_ref().unchecked_ref());
        let _ = w.remove_event_listener_with_callback(
            "unhandledrejection",
            self._b.as_ref().unchecked_ref(),
        );
    }
}

fn shown_ids() -> Vec<String> {
    js_sys::Array::from(&handle("shown", &[]))
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

fn queued() -> Vec<Value> {
    js_sys::Array::from(&handle("events", &[]))
        .iter()
        .map(|e| serde_json::from_str(&e.as_string().unwrap()).unwrap())
        .collect()
}

fn queued_types() -> Vec<String> {
    queued()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

// ----- tests -----

#[wasm_bindgen_test]
fn js_case_folding_matches_the_engines() {
    use engage_engine::RegexEngine;
    /// The trait's default `eq_ignore_case`: Rust's `char::to_lowercase`.
    struct RustCase;
    impl RegexEngine for RustCase {
        fn is_match(&self, _: &str, _: bool, _: &str) -> Option<bool> {
            None
        }
    }
    let js = engage_runtime::regex::JsRegex::new();
    let words = [
        "",
        "a",
        "A",
        "École",
        "ÉCOLE",
        "école",
        "Straße",
        "STRASSE",
        "ΣΑΣ",
        "σας",
        "σασ",
        "İstanbul",
        "i̇stanbul",
        "ǅ",
        "ǆ",
        "Ⅻ",
        "ⅻ",
        "ＡＢＣ",
        "ａｂｃ",
        "😀",
        "Ä",
        "ä",
        "K",
        "k",
    ];
    for a in words {
        for b in words {
            assert_eq!(
                js.eq_ignore_case(a, b),
                RustCase.eq_ignore_case(a, b),
                "{a} / {b}"
            );
        }
    }
}

/// `json::from_js` (the tape `js/host.js` flattens a value into) reads what `serde_json` reads
/// from the same value's JSON text: Unicode outside the BMP, NUL and escapes in strings and
/// keys, whole and fractional numbers, empty containers, nesting.
#[wasm_bindgen_test]
fn tape_reads_what_serde_reads() {
    let texts = [
        r#"{"a":"😀 é \u0000 \"q\" \n","😀k":[1,-2,1.5,-0.25,9007199254740992,1e300],"":{},"e":[],"n":null,"t":true,"f":false}"#,
        r#"[[[["deep", {"x": [{"y": "z"}]}]]], "", "\ud83d\ude00\ud83d\ude00", 0]"#,
        r#""just a string""#,
        "12",
        "null",
    ];
    for t in texts {
        let theirs: Value = serde_json::from_str(t).expect("JSON");
        let v = js_sys::JSON::parse(t).expect("JSON");
        assert_eq!(engage_runtime::json::from_js(&v), theirs, "{t}");
    }
    // Deeper than 64 levels reads as null there, not as a stack overflow.
    let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
    let v = engage_runtime::json::from_js(&js_sys::JSON::parse(&deep).expect("JSON"));
    let mut at = &v;
    let mut depth = 0;
    while let Value::Array(a) = at {
        at = &a[0];
        depth += 1;
    }
    assert_eq!((depth, at), (64, &Value::Null));
    // Not JSON at all: functions and undefined read as null.
    assert_eq!(
        engage_runtime::json::from_js(&JsValue::UNDEFINED),
        Value::Null
    );
}

/// A bundle handed over in parts decides exactly as the same bundle in one call; a part that
/// cannot be read is refused, and the next first part starts afresh.
#[wasm_bindgen_test]
fn a_bundle_in_parts_decides_as_the_whole() {
    use engage_runtime::api::{call, APPLY, BUNDLE, OPEN, PART};
    let js = |v: &Value| js_sys::JSON::parse(&v.to_string()).expect("JSON");
    let engagements = (0..120)
        .map(|i| {
            let zone = json!(if i % 2 == 0 { "left" } else { "right" });
            let rules =
                json!({"entry_point": {"include": [i % 7]}, "behavior": {"time_on_page": i % 3}});
            eng(&format!("e{i}"), "sticky", zone, rules)
        })
        .collect::<Vec<_>>();
    let mut whole = bundle_json(engagements, json!({}));
    whole["page_tests"] = (0..7)
        .map(|i| json!({"f": "url", "m": {"contains": format!("/p{i}")}}))
        .collect();
    let campaigns = whole["campaigns"].as_array().expect("campaigns").clone();
    let mut header = whole.clone();
    header["campaigns"] = Value::Null;
    let page = json!({"page": {"url": "https://acme.example/p3", "title": "P3", "referrer": null,
        "elements": []}, "trace": true});
    let decide = |load: &dyn Fn() -> JsValue| {
        let profile = json!({"id": "visitor-parts-1", "device": "desktop", "language": "en"});
        call(OPEN, js(&profile), JsValue::NULL);
        assert!(!load().is_null(), "the bundle loads");
        let out = call(APPLY, JsValue::from_f64(5_000.0), js(&page));
        js_sys::JSON::stringify(&out)
            .expect("outcome")
            .as_string()
            .expect("text")
    };
    let one = decide(&|| call(BUNDLE, js(&whole), JsValue::from_f64(0.0)));
    let parts = decide(&|| {
        // A failed earlier attempt leaves nothing behind once a first part starts again.
        assert!(call(PART, js(&json!([{"id": 1}])), JsValue::TRUE).is_null());
        assert!(call(PART, js(&json!(campaigns[..7])), JsValue::TRUE).is_truthy());
        for (i, chunk) in campaigns.chunks(50).enumerate() {
            assert!(call(PART, js(&json!(chunk)), JsValue::from_bool(i == 0)).is_truthy());
        }
        call(BUNDLE, js(&header), JsValue::from_f64(2.0))
    });
    assert!(one.contains("\"shown\":[{"), "something is shown: {one}");
    assert_eq!(one, parts);
}

#[wasm_bindgen_test]
fn decoder_reads_what_serde_reads() {
    let rich = bundle_json(
        vec![
            eng(
                "rich",
                "sticky",
                json!("right"),
                json!({
                    "refresh_seconds": 60, "ignore_max_wait": true, "authenticated": true,
                    "window_mode": "popup",
                    "entry_point": {"include": [0, 1, 2], "exclude": [3]},
                    "behavior": {
                        "time_on_page": 10, "pages_viewed": 2, "scroll_percent": 50,
                        "exit_intent": true, "idle_seconds": 5, "time_on_site": 7,
                        "visited": {"f": "section", "m": {"equals": "shop"}},
                        "referrer": {"f": "url", "m": {"prefix": "https://google."}},
                        "engaged": {"engagement": "other", "state": "declined"}
                    },
                    "creative": {
                        "online": {
                            "title": "T", "cta": "C", "image_url": "https://i.example/x.png",
                            "message": ["a", {"t": "a", "h": "https://x.example/", "c": ["link"]}, {"t": "br"}],
                            "style": {"background": "#fff", "accent": "red", "width": "300px"}
                        },
                        "offline": {"title": "Off"}
                    }
                }),
            ),
            eng(
                "btn",
                "button",
                json!({"embedded": "zone-x"}),
                json!({"channel": "messaging"}),
            ),
            json!({
                "id": "content-1", "enabled": false, "kind": "content", "source": "web",
                "format": "banner", "zone": {"embedded": "zone-y"},
                "creative": {"content": {"title": "Sale", "url": "https://acme.example/sale", "cta": "See"}}
            }),
            json!({
                "id": "off-1", "enabled": true, "kind": "conversation", "channel": "chat",
                "source": "offsite", "skill": "sales", "creative": {"online": {"title": "x"}},
                "offsite": {"source": "email", "landing_url": "https://acme.example/l", "offline_survey_url": "https://s.example"}
            }),
        ],
        json!({
            "displays_per_visit": {"conversation": 2},
            "invite_after_decline": {"conversation": true},
            "conversation_url": "https://chat.example/{site}/{engagement}?skill={skill}&lang={language}"
        }),
    );
    let mut rich = rich;
    rich["page_tests"] = json!([
        {"f": "url", "m": {"url": {"s": "https", "h": "{*.}?acme.example", "p": "/shop/*"}}},
        {"f": "title", "m": {"glob": "*sale*"}},
        {"f": "url", "m": {"regexi": "^/x"}},
        {"f": "url", "m": {"contains": "/checkout"}}
    ]);
    let mut with_hours = rich.clone();
    with_hours["business_hours"] = json!([[0, 1000], [2000, 3000]]);
    with_hours["audiences"] = json!([{"cart.total": {"$gte": 50}}]);
    with_hours["campaigns"][0]["audience"] = json!(0);
    with_hours["campaigns"][0]["priority"] = json!(-5);
    for v in [rich, with_hours] {
        let ours = engage_runtime::decode::bundle(&v).expect("decoded");
        let mut theirs: Bundle = serde_json::from_value(v).expect("serde");
        // Creatives and senders are rendered from the JSON by the host: the engine only
        // learns which creatives exist.
        for e in theirs
            .campaigns
            .iter_mut()
            .flat_map(|c| c.engagements.iter_mut())
        {
            e.sender = None;
            for c in [
                &mut e.creative.online,
                &mut e.creative.busy,
                &mut e.creative.offline,
                &mut e.creative.content,
            ]
            .into_iter()
            .flatten()
            {
                *c = Default::default();
            }
        }
        assert_eq!(ours, theirs);
    }
    // Garbage is refused, never half-read.
    assert!(engage_runtime::decode::bundle(&json!({"format": 2})).is_none());
    assert!(engage_runtime::decode::bundle(&json!([1, 2])).is_none());
    let mut bad = bundle_json(
        vec![eng("a", "sticky", json!("left"), json!({}))],
        json!({}),
    );
    bad["campaigns"][0]["engagements"][0]["format"] = json!("marquee");
    assert!(engage_runtime::decode::bundle(&bad).is_none());
}

#[wasm_bindgen_test]
async fn every_format_renders_with_its_attributes() {
    let zb = zone_div("zone-btn");
    let zn = zone_div("zone-ban");
    // Left, right and both embedded zones at once.
    let b = bundle(
        vec![
            eng("st-left", "sticky", json!("left"), json!({})),
            eng("st-right", "sticky", json!("right"), json!({})),
            eng("btn", "button", json!({"embedded": "zone-btn"}), json!({})),
            json!({
                "id": "ban", "enabled": true, "kind": "content", "source": "web",
                "format": "banner", "zone": {"embedded": "zone-ban"},
                "creative": {"content": {"title": "Sale", "cta": "See the sale",
                    "url": "https://shop.example/sale",
                    "message": ["Up to ", {"t": "a", "h": "https://shop.example/terms", "c": ["50%"]}]}}
            }),
        ],
        json!({}),
    );
    launch(&b);
    for (id, zone, format, state) in [
        ("st-left", "left", "sticky", "online"),
        ("st-right", "right", "sticky", "online"),
    ] {
        let e = engagement(id).unwrap_or_else(|| panic!("{id} rendered"));
        assert_eq!(attr(&e, "data-campaign"), format!("c-{id}"));
        assert_eq!(attr(&e, "data-zone"), zone);
        assert_eq!(attr(&e, "data-state"), state);
        assert_eq!(attr(&e, "data-format"), format);
        let accept = e.query_selector("[data-action=accept]").unwrap().unwrap();
        assert_eq!(accept.tag_name(), "BUTTON");
        assert_eq!(accept.text_content().unwrap(), "Chat now");
        let close = e.query_selector("[data-action=decline]").unwrap().unwrap();
        // Named for what it closes (issue #12), not just "Close".
        assert_eq!(attr(&close, "aria-label"), format!("Close: {id} online"));
        // Title, sender, avatar and the message tree.
        assert!(e.text_content().unwrap().contains(&format!("{id} online")));
        assert!(e.text_content().unwrap().contains("Sales bot"));
        assert_eq!(
            e.query_selector("b")
                .unwrap()
                .unwrap()
                .text_content()
                .unwrap(),
            "online"
        );
        let labelled = attr(&e, "aria-labelledby");
        assert!(root().unwrap().get_element_by_id(&labelled).is_some());
    }
    // Both stickies were announced, politely, in the root's live region.
    let live = root()
        .unwrap()
        .query_selector("[aria-live=polite]")
        .unwrap()
        .expect("a live region");
    let said = live.text_content().unwrap_or_default();
    assert!(
        said.contains("st-left online") && said.contains("st-right online"),
        "{said}"
    );
    let btn = find_in("zone-btn", "[data-engagement=btn]").expect("button in its zone");
    assert_eq!(
        attr(&btn, "data-zone"),
        "embedded:btn".replace("btn", "zone-btn")
    );
    assert_eq!(attr(&btn, "data-state"), "online");
    assert!(btn
        .query_selector("[data-action=accept]")
        .unwrap()
        .is_some());
    assert!(btn
        .query_selector("[data-action=decline]")
        .unwrap()
        .is_some());
    let ban = find_in("zone-ban", "[data-engagement=ban]").expect("banner in its zone");
    assert_eq!(attr(&ban, "data-state"), "content");
    assert_eq!(attr(&ban, "data-zone"), "embedded:zone-ban");
    let cta = ban.query_selector("[data-action=accept]").unwrap().unwrap();
    assert_eq!(cta.tag_name(), "A");
    assert_eq!(attr(&cta, "href"), "https://shop.example/sale");
    assert_eq!(attr(&cta, "rel"), "noopener noreferrer");
    let link = ban.query_selector(".m a").unwrap().unwrap();
    assert_eq!(attr(&link, "target"), "_blank");
    assert_eq!(attr(&link, "rel"), "noopener noreferrer");
    // Nothing rendered outside the zones: the page's light DOM only has the host.
    assert!(
        doc()
            .get_element_by_id("engage-root")
            .unwrap()
            .children()
            .length()
            == 0
    );
    uninstall();
    assert!(doc().get_element_by_id("engage-root").is_none());
    zb.remove();
    zn.remove();

    // The proactive formats share one zone: one runtime each.
    for format in ["overlay", "toaster", "peeling_corner"] {
        let b = bundle(
            vec![eng("pro", format, json!("proactive"), json!({}))],
            json!({}),
        );
        launch(&b);
        let e = engagement("pro").unwrap_or_else(|| panic!("{format} rendered"));
        assert_eq!(attr(&e, "data-zone"), "proactive");
        assert_eq!(attr(&e, "data-format"), format);
        assert_eq!(attr(&e, "data-campaign"), "c-pro");
        assert_eq!(attr(&e, "data-state"), "online");
        assert!(e.query_selector("[data-action=accept]").unwrap().is_some());
        assert!(e.query_selector("[data-action=decline]").unwrap().is_some());
        if format == "overlay" {
            assert_eq!(attr(&e, "role"), "dialog");
            assert_eq!(attr(&e, "aria-modal"), "true");
            // Focus moved into the dialog.
            let active = root().unwrap().active_element().expect("focus inside");
            assert_eq!(attr(&active, "data-action"), "accept");
        }
        if format == "peeling_corner" {
            let peel = e.query_selector(".peel").unwrap().unwrap();
            click(&peel);
            assert!(e.class_list().contains("open"));
            assert_eq!(attr(&peel, "aria-expanded"), "true");
        }
        uninstall();
    }
}

#[wasm_bindgen_test]
async fn accept_and_decline() {
    let b = bundle(
        vec![
            eng("side", "sticky", json!("right"), json!({})),
            eng("toast", "toaster", json!("proactive"), json!({})),
        ],
        json!({"conversation_url": "https://chat.example/{site}/{engagement}?skill={skill}&lang={language}"}),
    );
    let events = Events::new();
    launch(&b);
    command("attributes", json!({"plan": "gold"}));
    assert_eq!(events.names(), ["engage:shown", "engage:shown"]);
    let shown = events.detail("engage:shown").unwrap();
    assert_eq!(get(&shown, "engagement").as_string().unwrap(), "side");
    assert_eq!(get(&shown, "campaign").as_string().unwrap(), "c-side");
    assert_eq!(get(&shown, "zone").as_string().unwrap(), "right");
    assert_eq!(get(&shown, "state").as_string().unwrap(), "online");

    // Decline: gone, not shown again this visit, reported.
    let close = engagement("side")
        .unwrap()
        .query_selector("[data-action=decline]")
        .unwrap()
        .unwrap();
    click(&close);
    assert!(engagement("side").is_none());
    let declined = events.detail("engage:declined").expect("declined event");
    assert_eq!(get(&declined, "engagement").as_string().unwrap(), "side");
    input(json!({"tick": 1}));
    assert!(engagement("side").is_none());
    assert!(!shown_ids().contains(&"side".to_string()));

    // Accept the toaster: event with the extras, the proactive invitation closes, the panel opens.
    let accept = engagement("toast")
        .unwrap()
        .query_selector("[data-action=accept]")
        .unwrap()
        .unwrap();
    click(&accept);
    let acc = events.detail("engage:accepted").expect("accepted event");
    assert_eq!(get(&acc, "engagement").as_string().unwrap(), "toast");
    assert_eq!(get(&acc, "skill").as_string().unwrap(), "sales");
    assert_eq!(get(&acc, "language").as_string().unwrap(), "en-GB");
    assert_eq!(
        get(&acc, "agent_note").as_string().unwrap(),
        "note for agents"
    );
    assert_eq!(
        get(&get(&acc, "attributes"), "plan").as_string().unwrap(),
        "gold"
    );
    assert_eq!(
        get(&get(&acc, "attributes"), "device").as_string().unwrap(),
        "desktop"
    );
    assert!(engagement("toast").is_none());
    let frame = find("[data-panel] iframe").expect("conversation panel");
    assert_eq!(
        attr(&frame, "src"),
        "https://chat.example/test/toast?skill=sales&lang=en-GB"
    );
    let close_panel = find("[data-action=close-panel]").unwrap();
    click(&close_panel);
    assert!(find("[data-panel]").is_none());
    let types = queued_types();
    assert_eq!(types, ["impression", "impression", "decline", "accept"]);
    uninstall();
}

#[wasm_bindgen_test]
async fn overlay_escape_declines_and_focus_returns() {
    let before = doc().create_element("button").unwrap();
    before.set_text_content(Some("page button"));
    doc().body().unwrap().append_child(&before).unwrap();
    before.dyn_ref::<HtmlElement>().unwrap().focus().unwrap();
    let b = bundle(
        vec![eng("ov", "overlay", json!("proactive"), json!({}))],
        json!({}),
    );
    launch(&b);
    assert!(engagement("ov").is_some());
    assert!(root().unwrap().active_element().is_some(), "focus moved in");
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Escape");
    init.set_bubbles(true);
    let ev = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&ev).unwrap();
    assert!(engagement("ov").is_none(), "Escape declines");
    assert_eq!(queued_types(), ["impression", "decline"]);
    assert_eq!(doc().active_element().unwrap(), before, "focus restored");
    uninstall();
    before.remove();
}

#[wasm_bindgen_test]
async fn button_refresh_changes_state_in_place() {
    let z = zone_div("zone-refresh");
    let b = bundle(
        vec![eng(
            "refresh",
            "button",
            json!({"embedded": "zone-refresh"}),
            json!({"refresh_seconds": 30}),
        )],
        json!({}),
    );
    let events = Events::new();
    launch(&b);
    let before = find_in("zone-refresh", "[data-engagement=refresh]").unwrap();
    assert_eq!(attr(&before, "data-state"), "online");
    input(json!({"availability": {"skills": {"sales": {"agents_online": 0}}}}));
    let after = find_in("zone-refresh", "[data-engagement=refresh]").unwrap();
    assert_eq!(after, before, "same element, not re-mounted");
    assert_eq!(attr(&after, "data-state"), "offline");
    assert_eq!(
        after
            .query_selector("[data-action=accept]")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Leave a message"
    );
    let st = events.detail("engage:state").expect("state event");
    assert_eq!(get(&st, "state").as_string().unwrap(), "offline");
    uninstall();
    z.remove();
}

/// A sticky tab whose state changes keeps its element; its title control, call to action and
/// card all show the new state's creative.
#[wasm_bindgen_test]
async fn sticky_refresh_changes_its_tab_and_card() {
    let b = bundle(
        vec![eng(
            "tabbed",
            "sticky",
            json!("right"),
            json!({"refresh_seconds": 30}),
        )],
        json!({}),
    );
    launch(&b);
    let before = engagement("tabbed").expect("the sticky");
    let text = |e: &Element, sel: &str| {
        e.query_selector(sel)
            .unwrap()
            .and_then(|x| x.text_content())
            .unwrap_or_default()
    };
    assert_eq!(text(&before, ".tt"), "tabbed online");
    assert_eq!(text(&before, ".tab [data-action=accept]"), "Chat now");
    input(json!({"availability": {"skills": {"sales": {"agents_online": 0}}}}));
    let after = engagement("tabbed").expect("still there");
    assert_eq!(after, before, "same element");
    assert_eq!(attr(&after, "data-state"), "offline");
    assert_eq!(
        text(&after, ".tt"),
        "tabbed offline",
        "the tab's title follows"
    );
    assert_eq!(text(&after, ".tab [data-action=accept]"), "Leave a message");
    assert_eq!(
        text(&after, ".box .t"),
        "tabbed offline",
        "the card follows"
    );
    assert_eq!(
        after
            .query_selector_all("[data-action=accept]")
            .unwrap()
            .length(),
        1,
        "one call to action, in the tab"
    );
    uninstall();
}

#[wasm_bindgen_test]
async fn spa_navigation_reevaluates() {
    let w = web_sys::window().unwrap();
    let original = w.location().href().unwrap();
    let mut v = bundle_json(
        vec![eng(
            "shop-only",
            "sticky",
            json!("right"),
            json!({"entry_point": {"include": [0]}}),
        )],
        json!({}),
    );
    v["page_tests"] = json!([{"f": "url", "m": {"contains": "/engage-spa-shop"}}]);
    let b = v;
    launch(&b);
    assert!(engagement("shop-only").is_none());
    let h = w.history().unwrap();
    h.push_state_with_url(&JsValue::NULL, "", Some("/engage-spa-shop?utm_source=news"))
        .unwrap();
    sleep(400).await;
    assert!(engagement("shop-only").is_some(), "shown after pushState");
    assert_eq!(Some(pages_viewed()), Some(2));
    // An in-page anchor is not a page view.
    h.push_state_with_url(
        &JsValue::NULL,
        "",
        Some("/engage-spa-shop?utm_source=news#faq"),
    )
    .unwrap();
    sleep(400).await;
    assert_eq!(Some(pages_viewed()), Some(2));
    // Back: popstate is a page view too, and the engagement leaves with its page.
    h.replace_state_with_url(&JsValue::NULL, "", Some(&original))
        .unwrap();
    sleep(400).await;
    assert_eq!(Some(pages_viewed()), Some(3));
    assert!(engagement("shop-only").is_none());
    // Once the site reports page views itself, history is left to it.
    command(
        "page",
        json!({"url": "/engage-spa-shop/item", "section": "shop"}),
    );
    assert_eq!(Some(pages_viewed()), Some(4));
    assert!(engagement("shop-only").is_some());
    h.push_state_with_url(&JsValue::NULL, "", Some("/elsewhere"))
        .unwrap();
    sleep(400).await;
    assert_eq!(Some(pages_viewed()), Some(4));
    h.replace_state_with_url(&JsValue::NULL, "", Some(&original))
        .unwrap();
    uninstall();
}

#[wasm_bindgen_test]
async fn corrupted_or_foreign_storage_is_reset() {
    let trap = ErrorTrap::new();
    let store: JsValue = web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .into();
    let p = "engage-t4:";
    store_set(&store, "engage-t4:vid", "<script>alert(1)</script>");
    store_set(&store, "engage-t4:test:visit", "{\"v\":1,\"p\":");
    store_set(
        &store,
        "engage-t4:test:bundle",
        "\"etag\"\n{not json at all",
    );
    store_set(&store, "engage-t4:test:events", "[{\"type\":");
    store_set(&store, "engage-t4:test:avail", "yesterday\n[]");
    store_set(&store, "engage-t4:debug", "maybe");
    let start = |b: Option<Value>| {
        let mut o = opts(b.as_ref());
        o["prefix"] = json!(p);
        launch_with(o, &store, vec![]);
    };
    // No usable bundle anywhere: nothing shows, the garbage is gone, nothing throws.
    start(None);
    let vid = store_get(&store, "engage-t4:vid").unwrap();
    assert_eq!(vid.len(), 32);
    assert!(vid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(store_get(&store, "engage-t4:test:bundle"), None);
    assert_eq!(store_get(&store, "engage-t4:test:visit"), None);
    assert!(!started());
    assert!(queued().is_empty(), "unreadable stored events dropped");
    uninstall();

    // A visit stored by another visitor, and one of a future format: both start afresh.
    let b = || {
        bundle(
            vec![eng("s", "sticky", json!("left"), json!({}))],
            json!({}),
        )
    };
    for foreign in [
        "{\"v\":1,\"p\":{\"id\":\"someone-else-000\"},\"n\":7,\"st\":0,\"li\":0,\"la\":0}"
            .to_string(),
        format!("{{\"v\":99,\"p\":{{\"id\":\"{vid}\"}},\"n\":7,\"st\":0,\"li\":0,\"la\":0}}"),
        "[]".to_string(),
        "x".repeat(10_000),
    ] {
        store_set(&store, "engage-t4:test:visit", &foreign);
        start(Some(b()));
        assert_eq!(visit_number(), 1, "a new first visit");
        assert!(engagement("s").is_some());
        let stored = store_get(&store, "engage-t4:test:visit").unwrap();
        assert!(stored.contains(&vid), "rewritten for this visitor");
        uninstall();
    }
    // The state written by the runtime restores: the same visit goes on.
    start(Some(b()));
    assert_eq!(visit_number(), 1);
    assert_eq!(pages_viewed(), 2);
    uninstall();
    // Stored events that are not events are dropped, the rest kept.
    store_set(
        &store,
        "engage-t4:test:events",
        "[{\"type\":\"goal\"},3,\"x\"]",
    );
    start(None);
    assert_eq!(queued_types(), ["goal"]);
    uninstall();
    for k in [
        "vid",
        "test:visit",
        "test:bundle",
        "test:events",
        "test:avail",
        "debug",
    ] {
        store_remove(&store, &format!("{p}{k}"));
    }
    sleep(50).await;
    assert!(trap.hits.borrow().is_empty(), "{:?}", trap.hits.borrow());
}

#[wasm_bindgen_test]
async fn next_wake_fires_the_engagement_at_time_on_page() {
    let b = bundle(
        vec![eng(
            "later",
            "toaster",
            json!("proactive"),
            json!({"behavior": {"time_on_page": 1}}),
        )],
        json!({}),
    );
    launch(&b);
    assert!(engagement("later").is_none());
    let wake = get(&handle("outcome", &[]), "next_wake")
        .as_f64()
        .expect("a wake-up") as i64;
    let now = js_sys::Date::now() as i64;
    assert!(
        (wake - now - 1000).abs() < 200,
        "wake in ~1 s, got {}",
        wake - now
    );
    sleep(600).await;
    assert!(engagement("later").is_none(), "not before its time");
    sleep(700).await;
    assert!(engagement("later").is_some(), "shown by the timer");
    assert_eq!(queued_types(), ["impression"]);
    uninstall();
}

#[wasm_bindgen_test]
async fn events_are_batched_and_flushed() {
    let b = bundle(
        vec![
            eng("e1", "sticky", json!("left"), json!({})),
            eng("e2", "sticky", json!("right"), json!({})),
        ],
        json!({}),
    );
    let net = launch(&b);
    let (sent, fail) = (net.sent.clone(), net.fail.clone());
    command("goal", json!({"name": "purchase", "value": 99.5}));
    assert_eq!(queued_types(), ["impression", "impression", "goal"]);
    assert!(sent.borrow().is_empty(), "batched, not sent one by one");
    // A failed request keeps the batch for a retry.
    fail.set(true);
    handle("flush", &[JsValue::FALSE]);
    assert_eq!(sent.borrow().len(), 1);
    assert_eq!(queued_types().len(), 3);
    // The next one delivers it.
    fail.set(false);
    handle("flush", &[JsValue::FALSE]);
    let (url, body, unloading) = sent.borrow().last().cloned().unwrap();
    assert_eq!(url, "https://engage.example/v1/sites/test/events");
    assert!(!unloading);
    let body: Value = serde_json::from_str(&body).unwrap();
    let vid = body["visitor"].as_str().unwrap().to_string();
    assert_eq!(vid.len(), 32);
    assert_eq!(body["visitor"], json!(vid));
    let evs = body["events"].as_array().unwrap();
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[0]["type"], "impression");
    assert_eq!(evs[0]["engagement"], "e1");
    assert_eq!(evs[0]["campaign"], "c-e1");
    assert_eq!(evs[0]["visit"], 1);
    assert_eq!(evs[2]["type"], "goal");
    assert_eq!(evs[2]["name"], "purchase");
    assert_eq!(evs[2]["value"], 99.5);
    assert!(queued_types().is_empty());
    // On page hide everything left goes out as a beacon.
    let close = engagement("e1")
        .unwrap()
        .query_selector("[data-action=decline]")
        .unwrap()
        .unwrap();
    click(&close);
    web_sys::window()
        .unwrap()
        .dispatch_event(&web_sys::Event::new("pagehide").unwrap())
        .unwrap();
    let (_, body, unloading) = sent.borrow().last().cloned().unwrap();
    assert!(unloading);
    assert!(body.contains("\"decline\""));
    assert!(queued_types().is_empty());
    // The queue is bounded: the oldest events go first.
    for i in 0..510 {
        command("goal", json!({"name": format!("g{i}")}));
    }
    let q = queued();
    assert_eq!(q.len(), 500);
    assert_eq!(q[0]["name"], "g10");
    uninstall();
}

#[wasm_bindgen_test]
async fn sanitized_messages_cannot_run_script() {
    let trap = ErrorTrap::new();
    let payloads = [
        "<script>window.__engage_xss = 1</script>hello",
        "<img src=x onerror=\"window.__engage_xss = 2\">",
        "<a href=\"javascript:window.__engage_xss = 3\">click</a>",
        "<a href=\" jav&#x09;ascript:window.__engage_xss=4\">tab</a>",
        "<svg onload=\"window.__engage_xss = 5\"></svg>",
        "<iframe src=\"javascript:window.__engage_xss = 6\"></iframe>",
        "<b onmouseover=\"window.__engage_xss = 7\" style=\"x:expression(1)\">bold</b>",
        "<p><a href=\"data:text/html,<script>window.__engage_xss=8</script>\">d</a></p>",
        "<details open ontoggle=\"window.__engage_xss = 9\">t</details>",
        "<<script>script>window.__engage_xss = 10<</script>/script>",
    ];
    let msg: Vec<Value> = payloads
        .iter()
        .map(|p| serde_json::to_value(engage_engine::html::sanitize(p)).unwrap())
        .collect();
    let mut e = eng("xss", "sticky", json!("right"), json!({}));
    e["creative"]["online"]["message"] = Value::Array(
        msg.into_iter()
            .flat_map(|m| m.as_array().unwrap().clone())
            .collect(),
    );
    // A tampered bundle: a javascript: href straight in the node tree.
    e["creative"]["online"]["message"]
        .as_array_mut()
        .unwrap()
        .push(json!({"t": "a", "h": "javascript:window.__engage_xss=11", "c": ["raw"]}));
    launch(&bundle(vec![e], json!({})));
    let el = engagement("xss").expect("rendered");
    let all = el.query_selector_all("*").unwrap();
    assert!(all.length() > 3);
    for i in 0..all.length() {
        let n = all.item(i).unwrap().dyn_into::<Element>().unwrap();
        let tag = n.tag_name().to_ascii_lowercase();
        assert!(
            !["script", "img", "iframe", "svg", "details", "style", "object"]
                .contains(&tag.as_str())
                || (tag == "img" && n.class_name() == "av"),
            "unexpected <{tag}>"
        );
        let names = n.get_attribute_names();
        for j in 0..names.length() {
            let name = names.get(j).as_string().unwrap();
            assert!(
                !name.starts_with("on"),
                "event handler attribute {name} on <{tag}>"
            );
            assert!(
                name != "style" || tag == "div" || tag == "span",
                "style on <{tag}>"
            );
            let value = n.get_attribute(&name).unwrap().to_ascii_lowercase();
            assert!(!value.contains("javascript:"), "{name}={value}");
            assert!(!value.starts_with("data:"), "{name}={value}");
        }
    }
    // The texts survive as text.
    assert!(el.text_content().unwrap().contains("hello"));
    assert!(el.text_content().unwrap().contains("raw"));
    // Click every link and let anything that could run, run.
    let links = el.query_selector_all(".m a").unwrap();
    for i in 0..links.length() {
        let a = links.item(i).unwrap().dyn_into::<HtmlElement>().unwrap();
        if !a.has_attribute("href") {
            a.click();
        }
    }
    sleep(200).await;
    let canary = js_sys::Reflect::get(&web_sys::window().unwrap(), &"__engage_xss".into()).unwrap();
    assert!(canary.is_undefined(), "canary touched: {canary:?}");
    assert!(trap.hits.borrow().is_empty(), "{:?}", trap.hits.borrow());
    uninstall();
}

/// Replaces `window.fetch` while alive.
struct FakeFetch {
    original: JsValue,
    _f: Closure<dyn FnMut(JsValue, JsValue) -> js_sys::Promise>,
    calls: Rc<RefCell<u32>>,
}

impl FakeFetch {
    fn new(status: u16, body: &'static str, reject: bool) -> FakeFetch {
        let w = web_sys::window().unwrap();
        let original = js_sys::Reflect::get(&w, &"fetch".into()).unwrap();
        let calls = Rc::new(RefCell::new(0));
        let c = calls.clone();
        let f = Closure::<dyn FnMut(JsValue, JsValue) -> js_sys::Promise>::new(
            move |_url: JsValue, _init: JsValue| {
                *c.borrow_mut() += 1;
                if reject {
                    return js_sys::Promise::reject(&js_sys::TypeError::new("Failed to fetch"));
                }
                let init = web_sys::ResponseInit::new();
                init.set_status(status);
                let r = web_sys::Response::new_with_opt_str_and_init(Some(body), &init).unwrap();
                js_sys::Promise::resolve(&JsValue::from(r))
            },
        );
        js_sys::Reflect::set(&w, &"fetch".into(), f.as_ref()).unwrap();
        FakeFetch {
            original,
            _f: f,
            calls,
        }
    }
}

impl Drop for FakeFetch {
    fn drop(&mut self) {
        let w = web_sys::window().unwrap();
        js_sys::Reflect::set(&w, &"fetch".into(), &self.original).unwrap();
    }
}

#[wasm_bindgen_test]
async fn bundle_errors_never_reach_the_page() {
    let trap = ErrorTrap::new();
    for (status, body, reject) in [
        (500, "oops", false),
        (
            200,
            "{\"format\": 1, \"site\": \"test\", \"campaigns\": [",
            false,
        ),
        (200, "<html>not json</html>", false),
        (200, "{\"format\": 999, \"site\": \"test\"}", false),
        (0, "", true),
    ] {
        let fake = FakeFetch::new(if status == 0 { 200 } else { status }, body, reject);
        let mut o = opts(None);
        o["server"] = json!("https://engage.invalid");
        o["network"] = json!(true);
        launch_with(o, &mem_store(), vec![]);
        sleep(150).await;
        assert!(*fake.calls.borrow() >= 1, "the bundle was asked for");
        assert!(!started());
        assert!(doc().get_element_by_id("engage-root").is_none());
        uninstall();
        drop(fake);
    }
    sleep(100).await;
    assert!(trap.hits.borrow().is_empty(), "{:?}", trap.hits.borrow());
}

#[wasm_bindgen_test]
async fn bundle_from_the_network_is_cached_with_its_etag() {
    let text = bundle_json(
        vec![eng("net", "sticky", json!("left"), json!({}))],
        json!({}),
    )
    .to_string();
    let text: &'static str = Box::leak(text.into_boxed_str());
    let store = mem_store();
    let mut o = opts(None);
    o["server"] = json!("https://engage.invalid");
    o["network"] = json!(true);
    {
        let _fake = FakeFetch::new(200, text, false);
        launch_with(o.clone(), &store, vec![]);
        sleep(150).await;
        assert!(engagement("net").is_some(), "decided once the bundle came");
        uninstall();
    }
    let cached = store_get(&store, "engage:test:bundle").expect("cached");
    assert!(cached.ends_with(text));
    // A returning visitor decides from the cache before any response (this fetch never answers).
    let w = web_sys::window().unwrap();
    let original = js_sys::Reflect::get(&w, &"fetch".into()).unwrap();
    let hang = Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(|_| {
        js_sys::Promise::new(&mut |_, _| {})
    });
    js_sys::Reflect::set(&w, &"fetch".into(), hang.as_ref()).unwrap();
    launch_with(o, &store, vec![]);
    assert!(
        engagement("net").is_some(),
        "shown synchronously from the cache"
    );
    uninstall();
    js_sys::Reflect::set(&w, &"fetch".into(), &original).unwrap();
}

#[wasm_bindgen_test]
async fn attributes_pushed_before_start_count_for_the_first_page() {
    let b = bundle(
        vec![
            eng("rich-only", "sticky", json!("right"), json!({})),
            eng("everyone", "sticky", json!("right"), json!({})),
        ],
        json!({}),
    );
    let mut b = b;
    b["audiences"] = json!([{"cart.total": {"$gte": 50}}]);
    b["campaigns"][0]["audience"] = json!(0);
    b["campaigns"][0]["priority"] = json!(10);
    launch_with(
        opts(Some(&b)),
        &mem_store(),
        vec![("attributes", json!({"cart": {"total": 120}}))],
    );
    assert!(
        engagement("rich-only").is_some(),
        "the audience saw the cart"
    );
    // One impression: the attributes were not a decision of their own.
    assert_eq!(queued_types(), ["impression"]);
    uninstall();
}

#[wasm_bindgen_test]
async fn engage_open_accepts_and_leaves_the_url() {
    let w = web_sys::window().unwrap();
    let original = w.location().href().unwrap();
    let h = w.history().unwrap();
    h.replace_state_with_url(&JsValue::NULL, "", Some("?engage_open=linked&keep=1"))
        .unwrap();
    let events = Events::new();
    let b = bundle(
        vec![eng(
            "linked",
            "button",
            json!({"embedded": "nowhere"}),
            json!({}),
        )],
        json!({}),
    );
    launch(&b);
    let acc = events.detail("engage:accepted").expect("accepted");
    assert_eq!(get(&acc, "engagement").as_string().unwrap(), "linked");
    assert_eq!(queued_types(), ["accept"]);
    let now = w.location().href().unwrap();
    assert!(!now.contains("engage_open"), "{now}");
    assert!(now.contains("keep=1"));
    uninstall();
    h.replace_state_with_url(&JsValue::NULL, "", Some(&original))
        .unwrap();
}

#[wasm_bindgen_test]
async fn debug_panel_shows_every_engagement_and_why() {
    let b = bundle(
        vec![
            eng("seen", "sticky", json!("left"), json!({})),
            eng(
                "wait",
                "toaster",
                json!("proactive"),
                json!({"behavior": {"time_on_page": 60}}),
            ),
            eng(
                "missing",
                "banner",
                json!({"embedded": "no-such-zone"}),
                json!({}),
            ),
            eng("later", "sticky", json!("right"), json!({})),
        ],
        json!({}),
    );
    // "later"'s campaign starts in an hour: the panel says when, in local time.
    let mut b = b;
    let hour = js_sys::Date::now() + 3_600_000.0;
    b["campaigns"][3]["schedule"] = json!([[hour as i64, hour as i64 + 3_600_000]]);
    let mut o = opts(Some(&b));
    o["debug"] = json!(true);
    launch_with(o, &mem_store(), vec![]);
    // The panel is a chunk of its own (js/debug.js), fetched when asked for.
    let mut text = None;
    for _ in 0..100 {
        text = debug_text();
        if text.is_some() {
            break;
        }
        sleep(20).await;
    }
    let text = text.expect("panel open within 2 s");
    assert!(
        text.contains("seen (c-seen)shown in left, online"),
        "{text}"
    );
    assert!(text.contains("behaviortime_on_page 0 < 60"), "{text}");
    assert!(text.contains("no_zone_element"), "{text}");
    assert!(
        text.contains("next change at ") && text.contains("(in 60 min)") && !text.contains(" ms"),
        "instants in local time: {text}"
    );
    assert!(doc()
        .get_element_by_id("engage-debug")
        .unwrap()
        .shadow_root()
        .is_some());
    sleep(2300).await;
    let text = debug_text().unwrap();
    assert!(
        text.contains("< 60") && !text.contains("time_on_page 0 < 60"),
        "live as time passes: {text}"
    );
    command("debug", json!(false));
    assert!(doc().get_element_by_id("engage-debug").is_none());
    // Switched on and off again before the chunk answers (a cached module still resolves
    // later, in a microtask): no panel is left behind.
    command("debug", json!(true));
    command("debug", json!(false));
    sleep(200).await;
    assert!(doc().get_element_by_id("engage-debug").is_none());
    assert_eq!(debug_text(), None);
    uninstall();
}
