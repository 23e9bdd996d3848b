//! (j) Accessibility: axe-core (tests/package.json) on the demo pages with every format shown
//! (sticky tabs left and right, button and banner on the home page; overlay on checkout; toaster
//! on the product page; peeling corner on pricing — the three proactive formats share one zone,
//! so one page each): no `serious` or `critical` violation, and axe demonstrably checked the
//! nodes inside the engagement shadow roots. The overlay also gets the SPEC §5 keyboard checks
//! (a `role="dialog"`, focus moved in, Escape declines). A screenshot of each format goes to
//! tests/artifacts/format-<format>.png.

use std::time::Duration;

use engage_e2e::*;
use serde_json::{json, Value};

const SITE: &str = "acme";

fn conversation(
    id: &str,
    format: &str,
    zone: Value,
    skill: &str,
    page: &str,
    title: &str,
) -> Value {
    let mut e = json!({
        "id": id,
        "name": title,
        "kind": "conversation",
        "channel": "chat",
        "format": format,
        "skill": skill,
        "entry_point": {"include": [{"url": {"contains": page}}]},
        "behavior": {"time_on_page": 0},
        "sender": {"name": "Sam from Acme"},
        "creative": {
            "online": {"title": title, "message": "Our gear experts are <b>online</b> now.", "cta": "Chat now"},
            "busy": {"title": "Our experts are busy", "message": "The wait is a few minutes.", "cta": "Wait for an expert"},
            "offline": {"title": "We're away", "message": "Leave a message and we'll email you.", "cta": "Leave a message"}
        }
    });
    if !zone.is_null() {
        e["zone"] = zone;
    }
    e
}

fn demo_document(server: &Server) -> Value {
    let product = server.url("/demo/product.html");
    document(
        SITE,
        json!({"invite_after_decline": {"conversation": true, "content": true}}),
        json!([
            {
                "id": "home",
                "name": "Home page",
                "engagements": [
                    {
                        "id": "home-banner",
                        "kind": "content",
                        "format": "banner",
                        "zone": {"embedded": "promo-banner-slot"},
                        "entry_point": {"include": [{"url": {"contains": "/demo/index.html"}}]},
                        "behavior": {"time_on_page": 0},
                        "creative": {"content": {"title": "Free delivery this winter", "message": "On every order over <b>£50</b>, until the end of March.", "cta": "Shop the Trail Pack", "url": product}},
                        "style": {"background": "#f2b134", "color": "#1b1b1b", "accent": "#0f3d2e", "radius": "10px"}
                    },
                    conversation("home-button", "button", json!({"embedded": "help-button-slot"}), "support", "/demo/", "Chat with support"),
                    conversation("home-tab-left", "sticky", json!("left"), "support", "/demo/index.html", "Need a hand?"),
                    conversation("home-tab-right", "sticky", json!("right"), "sales", "/demo/index.html", "Questions about gear?")
                ]
            },
            {
                "id": "proactive",
                "name": "Proactive invitations",
                "engagements": [
                    conversation("checkout-overlay", "overlay", Value::Null, "sales", "/demo/checkout.html", "Before you pay…"),
                    conversation("product-toaster", "toaster", Value::Null, "sales", "/demo/product.html", "Still deciding?"),
                    {
                        "id": "pricing-peel",
                        "kind": "content",
                        "format": "peeling_corner",
                        "entry_point": {"include": [{"url": {"contains": "/demo/pricing.html"}}]},
                        "behavior": {"time_on_page": 0},
                        "creative": {"content": {"title": "Winter catalogue", "message": "32 pages of new tents, packs and layers.", "cta": "Browse it", "url": product}}
                    }
                ]
            }
        ]),
    )
}

/// Runs axe on the whole document; answers the violations (id, impact, help, targets) and how
/// many checked nodes (passes, violations, incomplete) lie inside a shadow root, per host.
async fn axe(b: &Browser, source: &str) -> Value {
    let has = b.js("return typeof window.axe === 'object';", vec![]).await;
    if has != json!(true) {
        b.js(&format!("{source}\n;return typeof window.axe;"), vec![])
            .await;
    }
    b.client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ["violations", "passes", "incomplete"] }).then((r) => {
                 const inShadow = {};
                 let shadowNodes = 0;
                 for (const kind of ["passes", "violations", "incomplete"]) {
                   for (const rule of r[kind]) for (const n of rule.nodes) {
                     const t = n.target && n.target[0];
                     if (Array.isArray(t)) {
                       shadowNodes++;
                       inShadow[t[0]] = (inShadow[t[0]] || 0) + 1;
                     }
                   }
                 }
                 done({
                   violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map((n) => ({ target: n.target, html: n.html.slice(0, 200), summary: n.failureSummary })) })),
                   shadowNodes, inShadow,
                   rules: r.passes.length + r.violations.length + r.incomplete.length,
                 });
               }, (e) => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("axe.run: {e}"))
}

/// Problems: serious/critical violations, engagement hosts axe did not check. Collected over
/// all pages, asserted at the end (one run shows everything).
fn check(page: &str, r: &Value, hosts: &[&str], problems: &mut Vec<String>) {
    assert!(r.get("error").is_none(), "axe failed on {page}: {r}");
    let violations = r["violations"].as_array().cloned().unwrap_or_default();
    for v in &violations {
        println!(
            "{page}: axe {} ({}): {} — {} node(s)",
            v["id"],
            v["impact"],
            v["help"],
            v["nodes"].as_array().map_or(0, Vec::len)
        );
    }
    println!(
        "{page}: {} rules, {} checked nodes inside shadow roots: {}",
        r["rules"], r["shadowNodes"], r["inShadow"]
    );
    let bad: Vec<&Value> = violations
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect();
    for v in bad {
        let nodes: Vec<String> = v["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| format!("{} {} — {}", n["target"], n["html"], n["summary"]))
            .collect();
        problems.push(format!(
            "{page}: {} ({}): {}\n    {}",
            v["id"],
            v["impact"],
            v["help"],
            nodes.join("\n    ")
        ));
    }
    for host in hosts {
        let n = r["inShadow"][*host].as_u64().unwrap_or(0);
        if n < 3 {
            problems.push(format!(
                "{page}: axe checked only {n} node(s) inside the shadow root of {host}: {}",
                r["inShadow"]
            ));
        }
    }
}

/// A server with the demo document and both skills online.
fn demo_server() -> Server {
    let server = Server::start();
    server.put_document(&demo_document(&server));
    server.put_availability(SITE, "sales", online());
    server.put_availability(SITE, "support", online());
    server
}

async fn show(b: &Browser, server: &Server, page: &str, ids: &[&str]) {
    b.goto(&server.url(page)).await;
    for id in ids {
        b.wait_engagement(id, Duration::from_secs(10)).await;
    }
}

#[tokio::test]
async fn j_axe_on_every_format() {
    let _serial = serial().await;
    let source = axe_source();
    let server = demo_server();

    let b = Browser::launch().await;
    let problems = within("test (j)", Duration::from_secs(150), async {
        let mut problems = Vec::new();
        // Home: banner, button, sticky left and right.
        show(
            &b,
            &server,
            "/demo/index.html",
            &["home-banner", "home-button", "home-tab-left", "home-tab-right"],
        )
        .await;
        let formats: Vec<(String, String)> = b
            .engagements()
            .await
            .iter()
            .map(|s| (s.engagement().to_string(), s.get("format").to_string()))
            .collect();
        println!("home page shows {formats:?}");
        b.screenshot_settled("format-sticky").await;
        b.screenshot_settled("format-banner").await;
        // The button sits lower on the page: scroll it into view for its own picture.
        b.js(
            &format!("{ENGAGEMENTS_JS_FN}; node('home-button').scrollIntoView({{block: 'center'}}); return true;"),
            vec![],
        )
        .await;
        b.screenshot_settled("format-button").await;
        b.js("window.scrollTo(0, 0); return true;", vec![]).await;
        let r = axe(&b, &source).await;
        check(
            "/demo/index.html",
            &r,
            &["#engage-root", "#promo-banner-slot", "#help-button-slot"],
            &mut problems,
        );

        // A sticky tab opens its card beside it with its title control, and folds back with
        // Escape; its call to action works without opening it.
        let card = format!(
            "{ENGAGEMENTS_JS_FN}; const n = node('home-tab-right'), t = n.querySelector('.tab'), \
             c = n.querySelector('.box'), r = (e) => {{ const b = e.getBoundingClientRect(); \
             return [b.left, b.top, b.width, b.height]; }}; \
             return {{ open: n.classList.contains('open'), expanded: n.querySelector('[data-action=open]').getAttribute('aria-expanded'), \
             tab: r(t), card: r(c), text: c.innerText }};"
        );
        let rest = b.js(&card, vec![]).await;
        assert_eq!(rest["open"], json!(false), "{rest}");
        assert_eq!(rest["card"][2].as_f64(), Some(0.0), "the card is folded at rest: {rest}");
        b.control("home-tab-right", "[data-action=open]")
            .await
            .click()
            .await
            .expect("open the sticky's card");
        let open = b.js(&card, vec![]).await;
        println!("sticky opened: {open}");
        assert_eq!(open["expanded"], json!("true"), "{open}");
        let f = |v: &Value, i: usize| v[i].as_f64().unwrap_or(0.0);
        assert!(f(&open["card"], 2) >= 200.0, "the card shows: {open}");
        assert!(
            f(&open["card"], 0) + f(&open["card"], 2) <= f(&open["tab"], 0) + 0.5,
            "the card opens beside the tab, towards the page: {open}"
        );
        assert!(
            open["text"].as_str().unwrap_or_default().contains("online"),
            "the card holds the message: {open}"
        );
        b.screenshot_settled("format-sticky-open").await;
        let r = axe(&b, &source).await;
        check("/demo/index.html (sticky open)", &r, &["#engage-root"], &mut problems);
        b.client
            .active_element()
            .await
            .expect("active element")
            .send_keys("\u{E00C}") // Escape
            .await
            .expect("press Escape");
        let folded = b.js(&card, vec![]).await;
        assert_eq!(folded["open"], json!(false), "Escape folds the card: {folded}");
        assert!(
            b.find_engagement("home-tab-right").await.is_some(),
            "Escape on a sticky card folds it, it does not decline it"
        );

        // Checkout: the overlay is a modal dialog with focus inside; Escape declines it.
        show(&b, &server, "/demo/checkout.html", &["checkout-overlay"]).await;
        let overlay = b.find_engagement("checkout-overlay").await.unwrap();
        assert_eq!(overlay.get("role"), "dialog", "{overlay:?}");
        let focus = b
            .wait_for(
                "focus to move into the overlay",
                Duration::from_secs(3),
                &format!(
                    "{ENGAGEMENTS_JS_FN}; const o = node('checkout-overlay'); const root = o.getRootNode(); \
                     return document.activeElement === root.host && o.contains(root.activeElement) \
                       ? root.activeElement.outerHTML.slice(0, 120) : null;"
                ),
            )
            .await;
        println!("overlay focus: {focus}");
        b.screenshot_settled("format-overlay").await;
        let r = axe(&b, &source).await;
        check("/demo/checkout.html", &r, &["#engage-root"], &mut problems);
        b.client
            .active_element()
            .await
            .expect("active element")
            .send_keys("\u{E00C}") // Escape
            .await
            .expect("press Escape");
        b.wait_for(
            "Escape to decline the overlay",
            Duration::from_secs(3),
            "return (window.__e2e.events || []).some((e) => e.type === 'engage:declined' && e.detail.engagement === 'checkout-overlay');",
        )
        .await;
        assert!(
            b.find_engagement("checkout-overlay").await.is_none(),
            "the overlay is gone after Escape"
        );

        // Product: the toaster.
        show(&b, &server, "/demo/product.html", &["product-toaster"]).await;
        b.screenshot_settled("format-toaster").await;
        let r = axe(&b, &source).await;
        check("/demo/product.html", &r, &["#engage-root"], &mut problems);

        // Pricing: the peeling corner (folded, then opened with its control).
        show(&b, &server, "/demo/pricing.html", &["pricing-peel"]).await;
        b.screenshot_settled("format-peeling_corner").await;
        let r = axe(&b, &source).await;
        check("/demo/pricing.html", &r, &["#engage-root"], &mut problems);
        let peel = b.control("pricing-peel", "[data-action=open]").await;
        peel.click().await.expect("open the peeling corner");
        b.screenshot_settled("format-peeling_corner-open").await;
        let r = axe(&b, &source).await;
        check("/demo/pricing.html (corner open)", &r, &["#engage-root"], &mut problems);
        problems
    })
    .await;
    b.close().await;
    assert!(
        problems.is_empty(),
        "accessibility problems:\n{}",
        problems.join("\n")
    );
}

/// The viewport at `w`×`h` CSS pixels; a phone is a mobile viewport with touch.
async fn emulate(b: &Browser, w: f64, h: f64, phone: bool) {
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": w, "height": h, "deviceScaleFactor": 1, "mobile": phone}),
    )
    .await;
    b.cdp(
        "Emulation.setTouchEmulationEnabled",
        json!({"enabled": phone, "maxTouchPoints": 5}),
    )
    .await;
}

/// Whether two of [`LAYOUT_JS`]'s boxes (`x`, `y`, `w`, `h`) do not intersect.
fn apart(a: &Value, b: &Value) -> bool {
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    n(a, "x") + n(a, "w") <= n(b, "x")
        || n(b, "x") + n(b, "w") <= n(a, "x")
        || n(a, "y") + n(a, "h") <= n(b, "y")
        || n(b, "y") + n(b, "h") <= n(a, "y")
}

/// What the layout checks read of every engagement on the page: its visible box (the folded
/// corner's tab, a card's box, a button's own element), its close control's size and name, and
/// the main root's live region.
const LAYOUT_JS: &str = r#"
const main = document.getElementById("engage-root");
const live = main && main.shadowRoot && main.shadowRoot.querySelector("[aria-live=polite]");
return {
  coarse: matchMedia("(pointer: coarse)").matches,
  live: live ? live.textContent : null,
  items: list().map((s) => {
    const n = node(s.engagement), f = n.getAttribute("data-format");
    // What covers the page: a folded corner's triangle, an overlay's dialog box, else the
    // engagement element itself (a sticky at rest is its tab).
    const v = n.querySelector(".peel") || (f == "overlay" && n.querySelector(".box")) || n, r = v.getBoundingClientRect();
    const x = n.querySelector("[data-action=decline]"), xr = x && x.getBoundingClientRect();
    return { id: s.engagement, format: f, zone: n.getAttribute("data-zone"),
             x: r.left, y: r.top, w: r.width, h: r.height,
             close: xr ? [xr.width, xr.height] : null, name: x && x.getAttribute("aria-label") };
  }),
};
"#;

/// Every demo page with its engagements shown, online, busy and offline, at 1280×800 and on a
/// phone (390×844, touch), each saved as `layout-<page>-<size>-<state>.png`: no
/// two invitations overlap; on the phone none but the modal overlay covers more than a quarter
/// of the screen, every visible close control is at least 44×44 px and named for what it
/// closes, the new invitations are announced in a polite live region, the floating ones step
/// aside while the visitor types, and axe finds nothing serious (issue #12).
#[tokio::test]
async fn k_layout_touch_targets_names_and_announcements() {
    let _serial = serial().await;
    let source = axe_source();
    let server = demo_server();

    let b = Browser::launch().await;
    let problems = within("test (k)", Duration::from_secs(240), async {
        let mut problems = Vec::new();
        let busy = json!({"agents_online": 2, "agents_with_capacity": 0, "expected_wait_seconds": 30});
        for (state, feed) in [("online", online()), ("busy", busy), ("offline", offline())] {
        server.put_availability(SITE, "sales", feed.clone());
        server.put_availability(SITE, "support", feed);
        for phone in [false, true] {
            let (w, h) = if phone {
                (390.0, 844.0)
            } else {
                (1280.0, 800.0)
            };
            emulate(&b, w, h, phone).await;
            for (page, ids) in [
                (
                    "/demo/index.html",
                    &[
                        "home-banner",
                        "home-button",
                        "home-tab-left",
                        "home-tab-right",
                    ][..],
                ),
                (
                    "/demo/product.html",
                    &["product-toaster", "home-button"][..],
                ),
                ("/demo/pricing.html", &["pricing-peel"][..]),
                ("/demo/checkout.html", &["checkout-overlay"][..]),
            ] {
                let size = if phone { "phone" } else { "desktop" };
                // A new visitor each time, with no stored availability.
                b.clear_engage_storage().await;
                show(&b, &server, page, ids).await;
                let seen = b
                    .js(&format!("{ENGAGEMENTS_JS_FN}; {LAYOUT_JS}"), vec![])
                    .await;
                println!("{page} ({size}): {seen}");
                assert_eq!(seen["coarse"], json!(phone), "touch emulation: {seen}");
                let items = seen["items"].as_array().cloned().unwrap_or_default();
                let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
                let floating: Vec<&Value> =
                    items.iter().filter(|i| i["format"] != "overlay").collect();
                for (k, a) in floating.iter().enumerate() {
                    // A sticky at rest is a tab on its edge (a launcher above the bottom edge
                    // on a phone): at most 56 px deep.
                    let depth = if phone { n(a, "h") } else { n(a, "w") };
                    assert!(
                        a["format"] != "sticky" || depth <= 56.0,
                        "{page} ({size}): the sticky {} is {depth} px deep at rest",
                        a["id"]
                    );
                    if phone {
                        let share = n(a, "w") * n(a, "h") / (w * h);
                        assert!(
                            share <= 0.25,
                            "{page}: {} covers {:.0} % of the phone's screen",
                            a["id"],
                            share * 100.0
                        );
                    }
                    for b2 in &floating[k + 1..] {
                        assert!(apart(a, b2), "{page} ({size}, {state}): {a} and {b2} overlap");
                    }
                }
                for i in &items {
                    let name = i["name"].as_str().unwrap_or_default();
                    assert!(
                        name.starts_with("Close: ") && name.len() > "Close: ".len(),
                        "{page}: {} has a close control named {name:?}",
                        i["id"]
                    );
                    let (cw, ch) = (
                        i["close"][0].as_f64().unwrap_or(0.0),
                        i["close"][1].as_f64().unwrap_or(0.0),
                    );
                    // A folded corner's close control is inside its hidden card.
                    if phone && cw > 0.0 {
                        assert!(
                            cw >= 44.0 && ch >= 44.0,
                            "{page}: {}'s close control is {cw}×{ch} px",
                            i["id"]
                        );
                    }
                    // Floating invitations of the main root are announced (overlays take focus,
                    // embedded ones are part of the page).
                    let zone = i["zone"].as_str().unwrap_or_default();
                    if i["format"] != "overlay" && !zone.starts_with("embedded:") {
                        let title = name.trim_start_matches("Close: ");
                        let live = seen["live"].as_str().unwrap_or_default();
                        assert!(
                            live.contains(title),
                            "{page}: {title:?} not announced: {live:?}"
                        );
                    }
                }
                if phone && page == "/demo/product.html" {
                    // Typing in the quantity field: the toaster steps aside, and comes back after.
                    let vis = |focus: bool| {
                        format!(
                            "{ENGAGEMENTS_JS_FN}; const q = document.getElementById('qty'); \
                             {}; return getComputedStyle(node('product-toaster')).visibility;",
                            if focus { "q.focus()" } else { "q.blur()" }
                        )
                    };
                    assert_eq!(
                        b.js(&vis(true), vec![]).await,
                        json!("hidden"),
                        "while typing"
                    );
                    assert_eq!(
                        b.js(&vis(false), vec![]).await,
                        json!("visible"),
                        "after typing"
                    );
                }
                if page == "/demo/pricing.html" {
                    // The folded corner takes taps on its visible triangle only.
                    let hit = b
                        .js(
                            "const r = document.getElementById('engage-root').shadowRoot.querySelector('.peel').getBoundingClientRect(); \
                             const at = (x, y) => (document.elementFromPoint(x, y) || {}).id === 'engage-root'; \
                             const basket = document.querySelector('.cart-link').getBoundingClientRect(); \
                             const b = document.elementFromPoint(basket.left + basket.width / 2, basket.top + basket.height / 2); \
                             return [at(r.right - 6, r.top + 6), at(r.left + 8, r.bottom - 8), !!b.closest('.cart-link')];",
                            vec![],
                        )
                        .await;
                    assert_eq!(
                        hit,
                        json!([false, true, true]),
                        "{page} ({size}): the corner's transparent half takes taps, or the corner covers the basket"
                    );
                }
                let name = page.trim_start_matches("/demo/").trim_end_matches(".html");
                b.screenshot_settled(&format!("layout-{name}-{size}-{state}")).await;
                if phone {
                    let r = axe(&b, &source).await;
                    check(&format!("{page} (phone, {state})"), &r, &["#engage-root"], &mut problems);
                }
                // The invitations that follow availability show the state asked for.
                for i in &items {
                    if i["format"] != "banner" && i["format"] != "peeling_corner" {
                        let e = b.find_engagement(i["id"].as_str().unwrap_or_default()).await;
                        let got = e.map(|e| e.get("state").to_string());
                        assert_eq!(got.as_deref(), Some(state), "{page} ({size}): {}", i["id"]);
                    }
                }
            }
        }
        }
        b.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        problems
    })
    .await;
    b.close().await;
    assert!(
        problems.is_empty(),
        "accessibility problems on a phone:\n{}",
        problems.join("\n")
    );
}

/// What every preview of the formats gallery shows: `[{format, state, engagement, shown,
/// shownFormat}]`, read from each same-origin frame's `#engage-root`.
const GALLERY_JS: &str = r#"
return [...document.querySelectorAll("iframe[data-format]")].map((f) => {
  const d = f.contentDocument, r = d && d.getElementById("engage-root");
  const e = r && r.shadowRoot && r.shadowRoot.querySelector("[data-engagement]");
  return { format: f.dataset.format, state: f.dataset.state,
           engagement: e ? e.getAttribute("data-engagement") : null,
           shown: e ? e.getAttribute("data-state") : null,
           shownFormat: e ? e.getAttribute("data-format") : null };
});
"#;

/// A server with one of the demo's campaign documents (`www/demo/<file>`), changed by `edit`
/// before it is uploaded.
fn serve_demo_document(file: &str, edit: impl FnOnce(&mut Value)) -> Server {
    let server = Server::start();
    let path = repo_root().join("www/demo").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    edit(&mut doc);
    server.put_document(&doc);
    server
}

/// The formats gallery (`/demo/formats.html`, site `gallery`, `www/demo/gallery.json`): every
/// floating format in every state in a preview frame, desktop and phone previews, and the
/// embedded button and banner in every state on the page itself; the page at 1280×800 and on a
/// phone, saved as `gallery-<row>-<previews>-<size>.png`, with axe on the page.
#[tokio::test]
async fn l_formats_gallery_shows_every_format_in_every_state() {
    let _serial = serial().await;
    let source = axe_source();
    let server = serve_demo_document("gallery.json", |_| {});
    let busy = json!({"agents_online": 2, "agents_with_capacity": 0, "expected_wait_seconds": 60});
    server.put_availability("gallery", "online", online());
    server.put_availability("gallery", "busy", busy);
    server.put_availability("gallery", "offline", offline());

    let b = Browser::launch().await;
    let problems = within("test (l)", Duration::from_secs(180), async {
        let mut problems = Vec::new();
        for (size, w, h) in [("desktop", 1280.0, 800.0), ("phone", 390.0, 844.0)] {
            emulate(&b, w, h, size == "phone").await;
            b.goto(&server.url("/demo/formats.html")).await;
            for view in ["desktop", "phone"] {
                b.js(
                    &format!("document.querySelector('[data-view={view}]').click(); return true;"),
                    vec![],
                )
                .await;
                // Frames load lazily: bring each row into view, wait for its previews, save it.
                let rows = b
                    .js("return [...document.querySelectorAll('.format-row')].map((r) => r.querySelector('h2').id);", vec![])
                    .await;
                for row in rows.as_array().cloned().unwrap_or_default() {
                    let row = row.as_str().unwrap_or_default().to_string();
                    let format = row.trim_start_matches("f-").to_string();
                    b.js(
                        &format!("document.getElementById('{row}').scrollIntoView(); return true;"),
                        vec![],
                    )
                    .await;
                    let framed = b
                        .js(GALLERY_JS, vec![])
                        .await
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|p| p["format"] == format.as_str())
                        .count();
                    if framed > 0 {
                        b.wait_for(
                            &format!("the {format} previews ({view}, {size})"),
                            Duration::from_secs(15),
                            &(GALLERY_JS.replace("return [", "const all = [")
                                + &format!(
                                    "; const mine = all.filter((p) => p.format === '{format}'); \
                                     return mine.every((p) => p.engagement) ? mine : null;"
                                )),
                        )
                        .await;
                    }
                    b.screenshot_settled(&format!("gallery-{format}-{view}-{size}")).await;
                }
            }
            let previews = b.js(GALLERY_JS, vec![]).await;
            for p in previews.as_array().cloned().unwrap_or_default() {
                let (format, state) = (p["format"].as_str().unwrap(), p["state"].as_str().unwrap());
                let (id, want) = match state {
                    "left" => (format!("{format}-left"), "online"),
                    s => (format!("{format}-{s}"), s),
                };
                assert_eq!(p["engagement"], json!(id), "{size}: {p}");
                assert_eq!(p["shown"], json!(want), "{size}: {p}");
                assert_eq!(p["shownFormat"], json!(format), "{size}: {p}");
            }
            let embedded: Vec<(String, String)> = b
                .engagements()
                .await
                .iter()
                .map(|s| (s.engagement().to_string(), s.state().to_string()))
                .collect();
            for f in ["button", "banner"] {
                for s in ["online", "busy", "offline", "content"] {
                    assert!(
                        embedded.contains(&(format!("{f}-{s}"), s.to_string())),
                        "{size}: {f}-{s} in its slot, {s}: {embedded:?}"
                    );
                }
            }
            b.js("window.scrollTo(0, 0); return true;", vec![]).await;
            let r = axe(&b, &source).await;
            check(
                &format!("/demo/formats.html ({size})"),
                &r,
                &["#button-online", "#banner-online"],
                &mut problems,
            );
        }
        problems
    })
    .await;
    b.close().await;
    assert!(
        problems.is_empty(),
        "accessibility problems:\n{}",
        problems.join("\n")
    );
}

/// Whether each of the page's own controls `sel` can be used as it is: scrolled to the middle
/// of the screen, the point at its centre hits the control itself, not something of engage's.
const USABLE_JS: &str = r#"
const done = arguments[arguments.length - 1], sel = arguments[0], out = [];
(async () => {
  for (const s of sel) {
    for (const c of document.querySelectorAll(s)) {
      c.scrollIntoView({ block: "center", behavior: "instant" });
      // The layout pass runs in the next frame after a scroll.
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const b = c.getBoundingClientRect(), x = b.left + b.width / 2, y = b.top + b.height / 2;
      const hit = document.elementFromPoint(x, y);
      const ok = hit === c || c.contains(hit) || (c.labels && [...c.labels].some((l) => l.contains(hit)));
      if (!ok) out.push({ control: s, id: c.id, text: (c.innerText || c.value || "").slice(0, 30),
                          hit: hit ? hit.id || hit.tagName : null, at: [x, y, innerWidth, innerHeight] });
    }
  }
  window.scrollTo(0, 0);
  return out;
})().then(done, (e) => done(String(e)));
"#;

/// The demo as a site owner runs it (`www/demo/campaigns.json`, with its control group set to
/// 0 so the test sees the whole site): on each shop page, at 1280×800 and on a phone, after the
/// page's engagements have appeared, the shop's own controls (navigation, basket, colours,
/// quantity, add to basket, every checkout field, place order) can be used without closing
/// anything, no two engagements overlap, at most one sticky and one proactive invitation
/// show, and axe finds nothing serious; the checkout's help appears beside the form; saved as
/// `demo-<page>-<size>.png`.
#[tokio::test]
async fn m_the_demo_shop_is_usable_with_its_invitations_shown() {
    let _serial = serial().await;
    let source = axe_source();
    let server = serve_demo_document("campaigns.json", |doc| {
        for c in doc["campaigns"].as_array_mut().expect("campaigns") {
            if let Some(o) = c.as_object_mut() {
                o.remove("control_group_percent");
            }
        }
    });
    let busy = json!({"agents_online": 1, "agents_with_capacity": 0, "expected_wait_seconds": 300});
    server.put_availability(SITE, "sales", online());
    server.put_availability(SITE, "support", busy);

    let b = Browser::launch().await;
    let problems = within("test (m)", Duration::from_secs(240), async {
        let mut problems = Vec::new();
        for (size, w, h) in [("desktop", 1280.0, 800.0), ("phone", 390.0, 844.0)] {
            let phone = size == "phone";
            emulate(&b, w, h, phone).await;
            b.goto(&server.url("/demo/index.html")).await;
            b.clear_engage_storage().await;
            b.js(
                "localStorage.setItem('acme-demo:cart', JSON.stringify([{name: 'Trail Pack 30L', price: 89, qty: 1}])); return true;",
                vec![],
            )
            .await;
            let pages: [(&str, &[&str], &[&str]); 5] = [
                (
                    "index",
                    &["help-button", "promo-banner", "catalogue-peel"],
                    &[".main-nav a", ".cart-link", ".hero .btn"],
                ),
                (
                    "product",
                    &["help-button", "sales-tab", "sales-toaster"],
                    &[".cart-link", ".swatches label", "#qty", "[data-add-to-cart]"],
                ),
                (
                    "pricing",
                    &["help-button", "sales-tab"],
                    &[".cart-link", ".plan .btn"],
                ),
                (
                    "app",
                    &["help-button", "support-tab"],
                    &[".main-nav a", ".cart-link", "[data-view-link]"],
                ),
                (
                    "checkout",
                    &["help-button", "checkout-idle-help"],
                    &["#checkout-form input", "#checkout-form select", "[data-place-order]"],
                ),
            ];
            for (page, ids, controls) in pages {
                b.goto(&server.url(&format!("/demo/{page}.html"))).await;
                if page == "product" {
                    b.wait_engagement("sales-tab", Duration::from_secs(10)).await;
                    // The toaster waits for 60 % of the page to be scrolled.
                    b.js("window.scrollTo(0, document.documentElement.scrollHeight); return true;", vec![])
                        .await;
                }
                for id in ids {
                    b.wait_engagement(id, Duration::from_secs(12)).await;
                }
                b.js("window.scrollTo(0, 0); return true;", vec![]).await;
                let seen = b.js(&format!("{ENGAGEMENTS_JS_FN}; {LAYOUT_JS}"), vec![]).await;
                let items = seen["items"].as_array().cloned().unwrap_or_default();
                println!("demo {page} ({size}): {}", json!(items.iter().map(|i| &i["id"]).collect::<Vec<_>>()));
                let count = |f: &dyn Fn(&Value) -> bool| items.iter().filter(|i| f(i)).count();
                assert!(count(&|i| i["format"] == "sticky") <= 1, "{page} ({size}): one sticky at most: {seen}");
                assert!(
                    count(&|i| i["zone"] == "proactive") <= 1,
                    "{page} ({size}): one proactive invitation at most: {seen}"
                );
                for (k, a) in items.iter().enumerate() {
                    for c in &items[k + 1..] {
                        assert!(apart(a, c), "demo {page} ({size}): {a} and {c} overlap");
                    }
                }
                b.screenshot_settled(&format!("demo-{page}-{size}")).await;
                let r = axe(&b, &source).await;
                check(&format!("demo {page} ({size})"), &r, &["#help-button-slot"], &mut problems);
                let controls: Vec<Value> = controls.iter().map(|c| json!(c)).collect();
                let covered = b
                    .client
                    .execute_async(USABLE_JS, vec![json!(controls)])
                    .await
                    .expect("usable controls");
                assert_eq!(
                    covered,
                    json!([]),
                    "demo {page} ({size}): the shop's own controls covered by engage"
                );
            }
        }
        problems
    })
    .await;
    b.close().await;
    assert!(
        problems.is_empty(),
        "accessibility problems on the demo shop:\n{}",
        problems.join("\n")
    );
}
