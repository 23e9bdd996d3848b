//! (h) With the engage server stopped, a host page carrying the snippet shows no error: no
//! uncaught exception (`window.onerror`), no unhandled rejection, no `console.error`, and no
//! error in Chromium's console log other than the browser's own network messages for the
//! unreachable server (`source: "network"`: a failed request to a dead host is reported by the
//! browser itself, whatever the page does).
//!
//! The host pages come from a separate static server (the site's own origin); only the engage
//! server is stopped.

use std::time::Duration;

use engage_e2e::*;
use serde_json::{json, Value};

const SITE: &str = "e2e-down";

/// The host page's own script: proves the page works with engage down.
const HOST_SCRIPT: &str = r#"
<button id="buy" type="button">Buy</button>
<div id="help-slot"></div>
<script>
  document.getElementById("buy").addEventListener("click", () => { window.__bought = true; });
  window.addEventListener("load", () => { window.__pageOk = true; });
</script>
"#;

/// Everything the page and the browser reported as an error; network messages are listed
/// apart.
async fn errors(b: &Browser) -> (Vec<String>, Vec<String>) {
    let (errors, console_errors, _resources) = b.recorded_errors().await;
    let mut bad: Vec<String> = errors
        .iter()
        .map(|e| format!("uncaught: {e}"))
        .chain(
            console_errors
                .iter()
                .map(|e| format!("console.error: {}", e.as_str().unwrap_or_default())),
        )
        .collect();
    let mut network = Vec::new();
    for entry in b.browser_log().await {
        let level = entry["level"].as_str().unwrap_or("");
        let source = entry["source"].as_str().unwrap_or("");
        let msg = entry["message"].as_str().unwrap_or("").to_string();
        if level != "SEVERE" {
            continue;
        }
        if source == "network" {
            network.push(msg);
        } else {
            bad.push(format!("console {source} {level}: {msg}"));
        }
    }
    (bad, network)
}

async fn use_the_page(b: &Browser) {
    b.wait_for(
        "the host page to load",
        Duration::from_secs(10),
        "return window.__pageOk === true;",
    )
    .await;
    b.client
        .find(fantoccini::Locator::Css("#buy"))
        .await
        .expect("buy button")
        .click()
        .await
        .expect("click buy");
    // The site keeps calling engage(...) as usual.
    let r = b
        .js(
            "engage('attributes', {cart: {total: 42}}); engage('goal', {name: 'purchase', value: 42}); \
             engage('page', {url: location.href + '#x', title: 'X'}); return [window.__bought === true, typeof window.engage];",
            vec![],
        )
        .await;
    assert_eq!(r, json!([true, "function"]), "the page works");
}

/// The engage server is down before the visitor arrives: tag.js cannot even load.
#[tokio::test]
async fn h1_server_down_from_the_start() {
    let _serial = serial().await;
    let mut server = Server::start();
    let dead = server.base.clone();
    server.stop();

    let site_dir = tempfile::tempdir().expect("temp site");
    std::fs::write(
        site_dir.path().join("page.html"),
        snippet_page("Host page", SITE, Some(&dead), HOST_SCRIPT),
    )
    .unwrap();
    let site = StaticSite::serve(site_dir.path().to_path_buf());

    let b = Browser::launch().await;
    within("test (h1)", Duration::from_secs(60), async {
        b.goto(&format!("{}/page.html", site.base)).await;
        use_the_page(&b).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (bad, network) = errors(&b).await;
        println!("network messages (allowed): {network:#?}");
        assert!(bad.is_empty(), "errors with the server down: {bad:#?}");
        assert!(
            b.engagements().await.is_empty(),
            "nothing can show without the server"
        );

        // The detector itself: a thrown error and a console.error on this page are caught.
        b.js(
            "setTimeout(() => { throw new Error('e2e-probe-throw'); }, 0); console.error('e2e-probe-console'); return true;",
            vec![],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (bad, _) = errors(&b).await;
        let text = bad.join("\n");
        assert!(
            text.contains("uncaught") && text.contains("e2e-probe-throw"),
            "the error detector misses uncaught errors: {bad:#?}"
        );
        assert!(
            text.contains("console.error: e2e-probe-console"),
            "the error detector misses console.error: {bad:#?}"
        );
    })
    .await;
    b.close().await;
}

/// The server goes down in the middle of a visit: the next page runs the runtime from the
/// browser's caches (tag.js, the wasm, the stored bundle) while every request to the server
/// fails, for several flush and retry periods.
#[tokio::test]
async fn h2_server_goes_down_mid_visit() {
    let _serial = serial().await;
    let mut server = Server::start();
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "help",
            "engagements": [
                {
                    "id": "help-tab",
                    "kind": "conversation",
                    "channel": "chat",
                    "format": "sticky",
                    "zone": "right",
                    "skill": "support",
                    "behavior": {"time_on_page": 0},
                    "creative": chat_creative("Help")
                },
                {
                    "id": "help-button",
                    "kind": "conversation",
                    "channel": "chat",
                    "format": "button",
                    "zone": {"embedded": "help-slot"},
                    "skill": "support",
                    "refresh_seconds": 30,
                    "behavior": {"time_on_page": 0},
                    "creative": chat_creative("Button")
                }
            ]
        }]),
    ));
    server.put_availability(SITE, "support", online());

    let site_dir = tempfile::tempdir().expect("temp site");
    for name in ["one", "two"] {
        std::fs::write(
            site_dir.path().join(format!("{name}.html")),
            snippet_page(name, SITE, Some(&server.base), HOST_SCRIPT),
        )
        .unwrap();
    }
    let site = StaticSite::serve(site_dir.path().to_path_buf());

    let b = Browser::launch().await;
    within("test (h2)", Duration::from_secs(90), async {
        // Server up: the set-up works.
        b.goto(&format!("{}/one.html", site.base)).await;
        b.wait_engagement("help-tab", Duration::from_secs(10)).await;
        b.wait_engagement("help-button", Duration::from_secs(10))
            .await;
        let (bad, _) = errors(&b).await;
        assert!(bad.is_empty(), "errors with the server up: {bad:#?}");

        server.stop();
        // The open page loses its SSE stream and its event posts fail.
        tokio::time::sleep(Duration::from_secs(2)).await;
        b.decline("help-tab").await;
        tokio::time::sleep(Duration::from_secs(1)).await;

        // The next page: everything to the server fails.
        b.goto(&format!("{}/two.html", site.base)).await;
        use_the_page(&b).await;
        // Longer than the 5 s event flush and the first retries.
        tokio::time::sleep(Duration::from_secs(8)).await;
        // tag.js swaps its queueing stub (whose `q` holds the init call) for the live
        // function (empty `q`) once the runtime started: it did, from the browser's caches.
        let live = b
            .js(
                "return typeof window.engage === 'function' && Array.isArray(window.engage.q) && window.engage.q.length === 0;",
                vec![],
            )
            .await;
        assert_eq!(
            live,
            json!(true),
            "the runtime did not start on the second page (tag.js and the wasm come from the HTTP cache)"
        );
        let shown: Vec<Value> = b.engagements().await.into_iter().map(|s| s.0).collect();
        println!(
            "with the server down, the runtime showed from its caches: {:?}",
            shown.iter().map(|s| &s["engagement"]).collect::<Vec<_>>()
        );
        assert!(
            !shown.iter().any(|s| s["engagement"] == "help-tab"),
            "the declined tab came back while the server is down: {shown:?}"
        );
        // The button came from the bundle the first page cached: in the Cache API (written
        // off the main thread), not in localStorage.
        assert!(
            shown.iter().any(|s| s["engagement"] == "help-button"),
            "the cached bundle did not serve the page with the server down: {shown:?}"
        );
        let where_cached = b
            .js(
                &format!(
                    "return caches.open('engage').then((c) => c.match({:?})).then((r) => r ? r.text() : null).then((t) => [t && JSON.parse(t).site, Object.keys(localStorage).filter((k) => k.endsWith(':bundle'))]);",
                    format!("{}/v1/sites/{SITE}/bundle", server.base)
                ),
                vec![],
            )
            .await;
        assert_eq!(where_cached, json!([SITE, []]), "bundle cache: [Cache API site, localStorage keys]");
        // Leaving the page (pagehide: sendBeacon to the dead server).
        b.goto(&format!("{}/one.html", site.base)).await;
        use_the_page(&b).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (bad, network) = errors(&b).await;
        println!(
            "{} network messages (allowed), e.g. {:?}",
            network.len(),
            network.first()
        );
        assert!(bad.is_empty(), "errors with the server down: {bad:#?}");
    })
    .await;
    b.close().await;
}
