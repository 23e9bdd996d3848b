//! What shows where and when: (a) `time_on_page` and entry points, (b) declines and the
//! per-visit display cap across page loads, (c) single-page-app navigation.

use std::time::Duration;

use engage_e2e::*;
use serde_json::{json, Value};

const SITE: &str = "e2e-display";

const PING_SLOT: &str = r#"<p>Some text.</p><div id="ping-slot"></div>"#;

fn page(title: &str, body: &str) -> String {
    snippet_page(title, SITE, None, body)
}

/// Events of `type` recorded on the current page.
fn of_type<'a>(events: &'a Value, ty: &str) -> Vec<&'a Value> {
    events
        .as_array()
        .map(|a| a.iter().filter(|e| e["type"] == ty).collect())
        .unwrap_or_default()
}

/// (a) An engagement appears after its `time_on_page` on a matching URL only, with the SPEC §5
/// data attributes; on a non-matching URL of the same visit it never appears.
#[tokio::test]
async fn a_time_on_page_and_entry_point() {
    let _serial = serial().await;
    let server = Server::start_with_pages(&[
        ("demo/e2e/about.html", page("About", PING_SLOT)),
        ("demo/e2e/shop-a.html", page("Shop A", PING_SLOT)),
    ]);
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "shop",
            "name": "Shop help",
            "engagements": [{
                "id": "shop-tab",
                "kind": "conversation",
                "channel": "chat",
                "format": "sticky",
                "zone": "right",
                "skill": "sales",
                "entry_point": {"include": [{"url": {"pattern": "/demo/e2e/shop-*"}}]},
                "behavior": {"time_on_page": 2},
                "creative": chat_creative("Shop")
            }]
        }, {
            "id": "ping",
            "engagements": [{
                "id": "ping",
                "kind": "content",
                "format": "banner",
                "zone": {"embedded": "ping-slot"},
                "behavior": {"time_on_page": 0},
                "creative": content_creative("Ping", "https://example.com/")
            }]
        }]),
    ));
    server.put_availability(SITE, "sales", online());

    let browser = Browser::launch().await;
    within("test (a)", Duration::from_secs(60), async {
        // A page the entry point does not match: nothing, even well after 2 s.
        browser.goto(&server.url("/demo/e2e/about.html")).await;
        // The runtime is up (the banner every page has is there) and 3.5 s have passed.
        browser.wait_engagement("ping", Duration::from_secs(10)).await;
        browser
            .wait_for(
                "3.5 s on the non-matching page",
                Duration::from_secs(10),
                "return performance.now() > 3500;",
            )
            .await;
        let shown = browser.engagements().await;
        assert!(
            shown.iter().all(|s| s.engagement() == "ping"),
            "shop-tab may not show on /demo/e2e/about.html, got {shown:?}"
        );
        let events = browser.events().await;
        assert!(
            of_type(&events, "engage:shown")
                .iter()
                .all(|e| e["detail"]["engagement"] == "ping"),
            "no engage:shown for shop-tab on the non-matching page: {events:#}"
        );

        // The matching page: not at once, then after ~2 s.
        browser.goto(&server.url("/demo/e2e/shop-a.html")).await;
        let early: Vec<Shown> = browser
            .engagements()
            .await
            .into_iter()
            .filter(|s| s.engagement() == "shop-tab")
            .collect();
        let t_early: f64 = browser.js("return performance.now();", vec![]).await.as_f64().unwrap();
        if t_early < 1500.0 {
            assert!(
                early.is_empty(),
                "shop-tab showed {t_early:.0} ms after navigation start, before its time_on_page of 2 s"
            );
        }
        let tab = browser.wait_engagement("shop-tab", Duration::from_secs(8)).await;
        let events = browser.events().await;
        let shown_ev: Vec<&Value> = of_type(&events, "engage:shown")
            .into_iter()
            .filter(|e| e["detail"]["engagement"] == "shop-tab")
            .collect();
        assert_eq!(shown_ev.len(), 1, "one engage:shown for shop-tab: {events:#}");
        let t = shown_ev[0]["t"].as_f64().unwrap();
        println!("shop-tab shown {t:.0} ms after navigation start (time_on_page 2 s)");
        assert!(
            (1900.0..4500.0).contains(&t),
            "shown at {t:.0} ms, expected 2 s after navigation start (+ load time)"
        );
        assert_eq!(
            shown_ev[0]["detail"],
            json!({"campaign": "shop", "engagement": "shop-tab", "zone": "right", "state": "online"}),
            "engage:shown detail"
        );
        assert_eq!(tab.host(), "engage-root", "rendered in #engage-root's shadow root");
        assert_eq!(tab.campaign(), "shop");
        assert_eq!(tab.state(), "online");
        assert_eq!(tab.zone(), "right");
        assert!(tab.visible(), "the tab is visible: {tab:?}");
        assert!(tab.0["hasAccept"].as_bool().unwrap(), "accept control");
        assert!(tab.0["hasDecline"].as_bool().unwrap(), "decline control");
        assert!(
            tab.0["text"].as_str().unwrap().contains("Shop online"),
            "online creative: {tab:?}"
        );
        // On the right edge of the 1280 px wide viewport.
        let r = &tab.0["rect"];
        let right_edge = r["x"].as_f64().unwrap() + r["w"].as_f64().unwrap();
        assert!(right_edge > 1000.0, "right zone, rect {r}");
        let root_mode = browser
            .js(
                "const h = document.getElementById('engage-root'); return h && h.shadowRoot ? h.shadowRoot.mode : null;",
                vec![],
            )
            .await;
        assert_eq!(root_mode, json!("open"), "#engage-root has an open shadow root");

        let debug_chunks = "return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => /\\/pkg\\/engage_debug\\.[0-9a-f]{8}\\.js$/.test(n)).length;";
        assert_eq!(
            browser.js(debug_chunks, vec![]).await,
            json!(0),
            "a page without the debug panel never fetches its chunk"
        );
        // `?engage_debug=1`: the debug panel, a chunk of its own the runtime fetches from
        // `/pkg/` only now, lists both engagements and why.
        browser
            .goto(&server.url("/demo/e2e/shop-a.html?engage_debug=1"))
            .await;
        browser
            .wait_for(
                "the debug panel",
                Duration::from_secs(10),
                "const h = document.getElementById('engage-debug'); return !!(h && h.shadowRoot && /shop-tab/.test(h.shadowRoot.textContent) && /ping/.test(h.shadowRoot.textContent));",
            )
            .await;
        let chunks = browser.js(debug_chunks, vec![]).await;
        assert_eq!(chunks, json!(1), "one request for the debug chunk");
        // For the review: the panel on a desktop and on a phone.
        browser.screenshot_settled("debug-panel").await;
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
            )
            .await;
        browser.screenshot_settled("debug-panel-phone").await;
        browser
            .cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
    })
    .await;
    browser.close().await;
}

/// (b) A declined engagement is not shown again on the next page of the visit, and the
/// per-visit display cap of proactive conversation engagements holds across page loads.
#[tokio::test]
async fn b_decline_and_display_cap() {
    let _serial = serial().await;
    let slot = r#"<div id="promo-slot"></div>"#;
    let server = Server::start_with_pages(&[
        ("demo/e2e/p1.html", page("Page 1", slot)),
        ("demo/e2e/p2.html", page("Page 2", slot)),
        ("demo/e2e/p3.html", page("Page 3", slot)),
    ]);
    let toaster = |id: &str, page: &str| {
        json!({
            "id": id,
            "kind": "conversation",
            "channel": "chat",
            "format": "toaster",
            "skill": "sales",
            "entry_point": {"include": [{"url": {"contains": page}}]},
            "behavior": {"time_on_page": 0},
            "creative": chat_creative(id)
        })
    };
    server.put_document(&document(
        SITE,
        json!({
            "displays_per_visit": {"conversation": 2, "content": null},
            "invite_after_decline": {"conversation": true, "content": true}
        }),
        json!([
            {
                "id": "everywhere",
                "engagements": [
                    {
                        "id": "side-tab",
                        "kind": "conversation",
                        "channel": "chat",
                        "format": "sticky",
                        "zone": "left",
                        "skill": "sales",
                        "behavior": {"time_on_page": 0},
                        "creative": chat_creative("Side")
                    },
                    {
                        "id": "promo",
                        "kind": "content",
                        "format": "banner",
                        "zone": {"embedded": "promo-slot"},
                        "behavior": {"time_on_page": 0},
                        "creative": content_creative("Promo", "https://example.com/offer")
                    }
                ]
            },
            {
                "id": "toasters",
                "engagements": [
                    toaster("toast-1", "/demo/e2e/p1.html"),
                    toaster("toast-2", "/demo/e2e/p2.html"),
                    toaster("toast-3", "/demo/e2e/p3.html")
                ]
            }
        ]),
    ));
    server.put_availability(SITE, "sales", online());

    let browser = Browser::launch().await;
    within("test (b)", Duration::from_secs(90), async {
        let wait = Duration::from_secs(8);
        // Page 1: the tab, the banner and the first toaster (display 1 of 2).
        browser.goto(&server.url("/demo/e2e/p1.html")).await;
        let tab = browser.wait_engagement("side-tab", wait).await;
        assert_eq!(tab.zone(), "left");
        let promo = browser.wait_engagement("promo", wait).await;
        assert_eq!(promo.zone(), "embedded:promo-slot");
        assert_eq!(promo.state(), "content");
        assert_eq!(
            promo.host(),
            "#promo-slot",
            "banner in the zone element's shadow root"
        );
        let t1 = browser.wait_engagement("toast-1", wait).await;
        assert_eq!(t1.zone(), "proactive");

        // Decline the tab: it goes, and engage:declined fires.
        browser.decline("side-tab").await;
        browser
            .wait_for(
                "side-tab to leave the page after decline",
                Duration::from_secs(3),
                &format!("{ENGAGEMENTS_JS_FN}; return !node('side-tab');"),
            )
            .await;
        let events = browser.events().await;
        let declined = of_type(&events, "engage:declined");
        assert_eq!(declined.len(), 1, "one engage:declined: {events:#}");
        assert_eq!(declined[0]["detail"]["engagement"], "side-tab");
        assert_eq!(declined[0]["detail"]["campaign"], "everywhere");

        // Page 2: the runtime runs (banner, toaster 2 = display 2 of 2) but the declined tab
        // stays away.
        browser.goto(&server.url("/demo/e2e/p2.html")).await;
        browser.wait_engagement("promo", wait).await;
        browser.wait_engagement("toast-2", wait).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let ids: Vec<String> = browser
            .engagements()
            .await
            .iter()
            .map(|s| s.engagement().to_string())
            .collect();
        assert!(
            !ids.iter().any(|i| i == "side-tab"),
            "the declined side-tab came back on the next page: {ids:?}"
        );

        // Page 3: the cap (2 proactive conversation displays per visit) is reached.
        browser.goto(&server.url("/demo/e2e/p3.html")).await;
        browser.wait_engagement("promo", wait).await;
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let ids: Vec<String> = browser
            .engagements()
            .await
            .iter()
            .map(|s| s.engagement().to_string())
            .collect();
        assert!(
            !ids.iter().any(|i| i == "toast-3"),
            "toast-3 shown although displays_per_visit.conversation = 2 was reached: {ids:?}"
        );
        assert!(
            !ids.iter().any(|i| i == "side-tab"),
            "the declined side-tab came back on page 3: {ids:?}"
        );
        assert_eq!(ids, vec!["promo".to_string()], "only the banner on page 3");

        // A new visitor (storage cleared) sees toast-3 on page 3: the cap, not the rule, held it.
        browser.clear_engage_storage().await;
        browser.goto(&server.url("/demo/e2e/p3.html")).await;
        browser.wait_engagement("toast-3", wait).await;
        browser.wait_engagement("side-tab", wait).await;
    })
    .await;
    browser.close().await;
}

/// A little single-page app: links switch views with `history.pushState` (no reload), the way
/// the demo's "Your account" page does.
const SPA: &str = r#"
<nav>
  <a href="?view=home" data-view="home">Home</a>
  <a href="?view=orders" data-view="orders">Orders</a>
</nav>
<section id="view">Home</section>
<script>
  window.__spaLoaded = (window.__spaLoaded || 0) + 1;
  for (const a of document.querySelectorAll("[data-view]")) {
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      const v = a.dataset.view;
      history.pushState({ v }, "", "?view=" + v);
      document.title = v === "orders" ? "Orders" : "Home";
      document.getElementById("view").textContent = document.title;
    });
  }
</script>
"#;

/// (c) `history.pushState` is a page view: entry points are evaluated again, both ways.
#[tokio::test]
async fn c_spa_navigation() {
    let _serial = serial().await;
    let server = Server::start_with_pages(&[("demo/e2e/spa.html", page("Home", SPA))]);
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "orders-help",
            "engagements": [{
                "id": "orders-tab",
                "kind": "conversation",
                "channel": "chat",
                "format": "sticky",
                "zone": "right",
                "skill": "sales",
                "entry_point": {"include": [{"url": {"contains": "view=orders"}}]},
                "behavior": {"time_on_page": 1},
                "creative": chat_creative("Orders")
            }]
        }]),
    ));
    server.put_availability(SITE, "sales", online());

    let browser = Browser::launch().await;
    within("test (c)", Duration::from_secs(60), async {
        browser
            .goto(&server.url("/demo/e2e/spa.html?view=home"))
            .await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            browser.engagements().await.is_empty(),
            "nothing on the home view"
        );

        // Real clicks on the app's links: pushState, no reload.
        let link = |v: &'static str| {
            let b = &browser;
            async move {
                b.client
                    .find(fantoccini::Locator::Css(&format!("[data-view={v}]")))
                    .await
                    .unwrap_or_else(|e| panic!("link {v}: {e}"))
                    .click()
                    .await
                    .unwrap_or_else(|e| panic!("click {v}: {e}"));
            }
        };
        link("orders").await;
        let tab = browser
            .wait_engagement("orders-tab", Duration::from_secs(5))
            .await;
        assert_eq!(tab.zone(), "right");
        assert_eq!(tab.state(), "online");
        let loads = browser.js("return window.__spaLoaded;", vec![]).await;
        assert_eq!(loads, json!(1), "the SPA was not reloaded");
        let url = browser.js("return location.search;", vec![]).await;
        assert_eq!(url, json!("?view=orders"));
        let shown = of_type(&browser.events().await, "engage:shown").len();
        assert_eq!(shown, 1, "one impression after the pushState");

        // Back to home (another pushState): the entry point no longer matches, the tab goes.
        link("home").await;
        browser
            .wait_for(
                "orders-tab to go after navigating to the home view",
                Duration::from_secs(5),
                &format!("{ENGAGEMENTS_JS_FN}; return !node('orders-tab');"),
            )
            .await;

        // And history.back() (popstate) to the orders view brings it back.
        browser.js("history.back(); return true;", vec![]).await;
        browser
            .wait_engagement("orders-tab", Duration::from_secs(5))
            .await;
        let loads = browser.js("return window.__spaLoaded;", vec![]).await;
        assert_eq!(loads, json!(1), "still no reload");
    })
    .await;
    browser.close().await;
}
