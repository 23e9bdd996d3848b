//! (i) Time to first engagement (SPEC §8: ≤ 150 ms from navigation start, localhost): a chat
//! invitation with `time_on_page: 0` (skill `sales`, so the runtime needs the bundle *and* the
//! availability), measured in the page as the `performance.now()` of its `engage:shown` event
//! (`performance.now()` counts from navigation start; the event is raised once the element is in
//! the shadow root, which the recorder checks).
//!
//! Ten loads in each of three conditions, medians printed; the asserted one is the first
//! visit of a new visitor (`engage:` storage cleared) with the browser's HTTP cache warm
//! (tag.js, the glue and the wasm cached, as on a site's second page or after the first visit
//! of any page carrying the tag). Also printed: a cold HTTP cache (CDP
//! `Network.clearBrowserCache` before each load), and a returning visitor (storage kept: the
//! stored bundle and availability allow a decision before any request).

use std::time::Duration;

use engage_e2e::*;
use serde_json::json;

const SITE: &str = "e2e-ttfe";
const BUDGET_MS: f64 = 150.0;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    NewVisitorWarmCache,
    NewVisitorColdCache,
    ReturningVisitor,
}

async fn sample(b: &Browser, server: &Server, mode: Mode, i: usize) -> f64 {
    if mode != Mode::ReturningVisitor {
        b.clear_engage_storage().await;
    }
    if mode == Mode::NewVisitorColdCache {
        b.cdp("Network.clearBrowserCache", json!({})).await;
    }
    b.goto(&server.url(&format!("/demo/e2e/ttfe.html?n={i}")))
        .await;
    let ev = b
        .wait_for(
            "engage:shown of the time_on_page: 0 invitation",
            Duration::from_secs(10),
            "return (window.__e2e ? window.__e2e.events : []).find((e) => e.type === 'engage:shown' && e.detail && e.detail.engagement === 'instant') || null;",
        )
        .await;
    assert_eq!(
        ev["inDom"],
        json!(true),
        "engage:shown before the element was in the DOM: {ev}"
    );
    let t = ev["t"].as_f64().expect("t");
    let timeline = b
        .js(
            r#"const nav = performance.getEntriesByType("navigation")[0];
               const r = (part) => { const e = performance.getEntriesByType("resource").find((e) => e.name.includes(part));
                                     return e ? `${Math.round(e.startTime)}→${Math.round(e.responseEnd)}` : "-"; };
               return `html ${Math.round(nav.responseEnd)}, dcl ${Math.round(nav.domContentLoadedEventEnd)}, tag.js ${r("/tag.js")}, glue ${r("/pkg/engage_runtime.")}, wasm ${r(".wasm")}, bundle ${r("/bundle")}, avail ${r("/availability")}`;"#,
            vec![],
        )
        .await;
    if std::env::var_os("ENGAGE_E2E_VERBOSE").is_some() {
        println!(
            "  {mode:?} #{i}: shown {t:.0} ms; {}",
            timeline.as_str().unwrap_or("")
        );
    }
    t
}

#[tokio::test]
async fn i_time_to_first_engagement() {
    let _serial = serial().await;
    let server = Server::start_with_pages(&[(
        "demo/e2e/ttfe.html",
        snippet_page("TTFE", SITE, None, "<p>A page.</p>"),
    )]);
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "instant",
            "engagements": [{
                "id": "instant",
                "kind": "conversation",
                "channel": "chat",
                "format": "sticky",
                "zone": "right",
                "skill": "sales",
                "behavior": {"time_on_page": 0},
                "creative": chat_creative("Instant")
            }]
        }]),
    ));
    server.put_availability(SITE, "sales", online());

    let b = Browser::launch().await;
    let medians = within("test (i)", Duration::from_secs(120), async {
        // Warm-up load (the first navigation of a new Chromium also starts its own services).
        b.goto(&server.url("/demo/e2e/ttfe.html?warmup")).await;
        b.wait_engagement("instant", Duration::from_secs(10)).await;
        let mut out = Vec::new();
        for mode in [
            Mode::NewVisitorWarmCache,
            Mode::NewVisitorColdCache,
            Mode::ReturningVisitor,
        ] {
            let mut samples = Vec::new();
            for i in 0..10 {
                samples.push(sample(&b, &server, mode, i).await);
            }
            let m = median(&samples);
            let list: Vec<String> = samples.iter().map(|s| format!("{s:.1}")).collect();
            println!(
                "TTFE {mode:?}: median {m:.1} ms; samples (ms): {}",
                list.join(", ")
            );
            out.push((mode, m, samples));
        }
        out
    })
    .await;
    b.close().await;
    let (_, m, samples) = &medians[0];
    assert!(
        *m <= BUDGET_MS,
        "time to first engagement (new visitor, warm HTTP cache): median {m:.1} ms > {BUDGET_MS} ms; samples {samples:?}"
    );
}
