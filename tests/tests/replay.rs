//! The debug panel's "Replay in the simulator": a visit recorded on the page (two pages, a
//! wait, a scroll, a decline, pushed attributes) opens in the admin console's simulator, which
//! replays it against the same campaigns and ends with what the page shows.

use std::time::Duration;

use engage_e2e::*;
use serde_json::{json, Value};

const SITE: &str = "e2e-replay";

const SLOT: &str =
    r#"<p>Some text.</p><div id="ping-slot"></div><div style="height:3000px"></div>"#;

fn page(title: &str) -> String {
    snippet_page(title, SITE, None, SLOT)
}

#[tokio::test]
async fn the_debug_panel_replays_this_visit_in_the_simulator() {
    let _serial = serial().await;
    let server = Server::start_with_pages(&[
        ("demo/e2e/replay-a.html", page("Replay A")),
        ("demo/e2e/replay-b.html", page("Replay B")),
    ]);
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "shop",
            "engagements": [{
                "id": "tab",
                "kind": "conversation", "channel": "chat", "format": "sticky", "zone": "right",
                "skill": "sales",
                "behavior": {"time_on_page": 2},
                "creative": chat_creative("Tab")
            }, {
                "id": "second-page",
                "kind": "conversation", "channel": "chat", "format": "toaster",
                "skill": "sales",
                "behavior": {"pages_viewed": 2, "scroll_percent": 40},
                "creative": chat_creative("Second page")
            }]
        }, {
            "id": "members",
            "audience": {"member": true},
            "engagements": [{
                "id": "ping",
                "kind": "content", "format": "banner", "zone": {"embedded": "ping-slot"},
                "creative": content_creative("Members", "https://example.com/")
            }]
        }]),
    ));
    server.put_availability(SITE, "sales", online());

    let b = Browser::launch().await;
    within("replay", Duration::from_secs(90), async {
        // The visit: page A with debug mode on, attributes pushed, the tab after 2 s, declined;
        // page B, scrolled: the toaster.
        b.goto(&server.url("/demo/e2e/replay-a.html?engage_debug=1")).await;
        b.js("engage('attributes', {member: true}); return true;", vec![]).await;
        b.wait_engagement("ping", Duration::from_secs(10)).await;
        b.wait_engagement("tab", Duration::from_secs(10)).await;
        b.decline("tab").await;
        b.goto(&server.url("/demo/e2e/replay-b.html")).await;
        b.wait_engagement("ping", Duration::from_secs(10)).await;
        b.js("window.scrollTo(0, 1500); return true;", vec![]).await;
        b.wait_engagement("second-page", Duration::from_secs(10)).await;
        let live: Vec<String> = b
            .engagements()
            .await
            .iter()
            .map(|s| s.engagement().to_string())
            .collect();
        let href = b
            .wait_for(
                "the replay link in the debug panel",
                Duration::from_secs(5),
                "const h = document.getElementById('engage-debug'); \
                 const a = h && h.shadowRoot.querySelector('[data-replay]'); \
                 return a && !a.hidden && decodeURIComponent(a.href).includes('\"scroll\"') ? a.href : null;",
            )
            .await;
        let href = href.as_str().expect("replay link").to_string();
        let hash = href.split_once("&visit=").map(|(_, v)| v).unwrap_or_default();
        let text = b
            .js("return decodeURIComponent(arguments[0]);", vec![json!(hash)])
            .await;
        let script: Value = serde_json::from_str(text.as_str().unwrap_or_default())
            .expect("the replay link carries a script");
        println!("replay script: {script}");
        assert!(href.contains("/admin/?site=e2e-replay#/simulate?"), "{href}");
        let steps = script["steps"].as_array().cloned().unwrap_or_default();
        let kinds: Vec<&str> = steps
            .iter()
            .filter_map(|s| s.as_object().and_then(|o| o.keys().next()).map(String::as_str))
            .collect();
        // Pushed before or after the first decision, as the tag got to it.
        let member = script["visitor"]["attributes"] == json!({"member": true})
            || steps.iter().any(|s| s["attributes"] == json!({"member": true}));
        assert!(member, "the pushed attributes: {script}");
        assert_eq!(
            script["availability"]["sales"]["agents_with_capacity"], 2,
            "the availability the first decision had, in the script's shape: {script}"
        );
        let pages: Vec<&Value> = steps.iter().filter_map(|s| s.get("page")).collect();
        assert_eq!(pages.len(), 2, "two pages: {kinds:?}");
        assert_eq!(pages[0]["title"], "Replay A", "{script}");
        assert_eq!(pages[1]["elements"], json!(["ping-slot"]), "{script}");
        assert!(kinds.contains(&"decline") && kinds.contains(&"scroll") && kinds.contains(&"wait"), "{kinds:?}");

        // The console (signed in through the fragment) replays it and ends where the page is.
        b.goto(&server.url(&format!("/admin/#token={TOKEN}"))).await;
        b.wait_for(
            "the console",
            Duration::from_secs(10),
            "return !!document.querySelector('[data-testid=campaign-card], .empty-state, main h1');",
        )
        .await;
        b.goto(&href).await;
        let end = b
            .wait_for(
                "the replayed visit's result",
                Duration::from_secs(15),
                "const s = [...document.querySelectorAll('[data-testid=sim-step]')]; \
                 if (!s.length) return null; const last = s[s.length - 1]; \
                 return [...last.querySelectorAll('[data-testid=shown-engagement]')].map((e) => e.dataset.engagement);",
            )
            .await;
        let note = b
            .js(
                "const n = document.querySelector('[data-testid=replay-note]'); return n && n.textContent;",
                vec![],
            )
            .await;
        println!("replayed: {end} ({note})");
        b.screenshot_settled("replay-simulator").await;
        let mut end: Vec<String> = end
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let mut live = live;
        end.sort();
        live.sort();
        assert_eq!(end, live, "the simulator ends with what the page shows");
        assert!(
            note.as_str().unwrap_or_default().contains("debug panel"),
            "{note}"
        );
    })
    .await;
    b.close().await;
}
