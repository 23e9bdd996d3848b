//! (d) Button refresh: an availability change through the admin API flips `data-state` of a
//! displayed button with `refresh_seconds: 30` within the refresh interval, in place.

use std::time::{Duration, Instant};

use engage_e2e::*;
use serde_json::json;

const SITE: &str = "e2e-avail";

/// Waits until `help-button`'s `data-state` is `state`; answers how long it took.
async fn until_state(browser: &Browser, state: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    browser
        .wait_for(
            &format!("help-button to turn {state}"),
            limit,
            &format!(
                "{ENGAGEMENTS_JS_FN}; const el = node('help-button'); return !!el && el.getAttribute('data-state') === {};",
                json!(state)
            ),
        )
        .await;
    start.elapsed()
}

#[tokio::test]
async fn d_availability_flips_button_state() {
    let _serial = serial().await;
    let body = r#"<p>Questions about your order?</p><div id="help-slot"></div>"#;
    let server =
        Server::start_with_pages(&[("demo/e2e/help.html", snippet_page("Help", SITE, None, body))]);
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "help",
            "engagements": [{
                "id": "help-button",
                "kind": "conversation",
                "channel": "chat",
                "format": "button",
                "zone": {"embedded": "help-slot"},
                "skill": "support",
                "refresh_seconds": 30,
                "behavior": {"time_on_page": 0},
                "creative": chat_creative("Help")
            }]
        }]),
    ));
    server.put_availability(SITE, "support", online());

    let browser = Browser::launch().await;
    within("test (d)", Duration::from_secs(120), async {
        browser.goto(&server.url("/demo/e2e/help.html")).await;
        let button = browser
            .wait_engagement("help-button", Duration::from_secs(10))
            .await;
        assert_eq!(button.state(), "online", "{button:?}");
        assert_eq!(button.zone(), "embedded:help-slot");
        assert_eq!(
            button.host(),
            "#help-slot",
            "in the zone element's shadow root"
        );
        // Mark the element: a refresh must update it in place, never re-mount it.
        browser
            .js(
                &format!("{ENGAGEMENTS_JS_FN}; node('help-button').__e2eMark = 42; return true;"),
                vec![],
            )
            .await;

        let limit = Duration::from_secs(35);
        server.put_availability(
            SITE,
            "support",
            json!({"agents_online": 0, "agents_with_capacity": 0, "expected_wait_seconds": 0}),
        );
        let to_offline = until_state(&browser, "offline", limit).await;
        println!("online → offline on the page after {to_offline:?}");

        server.put_availability(
            SITE,
            "support",
            json!({"agents_online": 2, "agents_with_capacity": 0, "expected_wait_seconds": 300}),
        );
        let to_busy = until_state(&browser, "busy", limit).await;
        println!("offline → busy on the page after {to_busy:?}");

        server.put_availability(SITE, "support", online());
        let to_online = until_state(&browser, "online", limit).await;
        println!("busy → online on the page after {to_online:?}");

        let b = browser
            .find_engagement("help-button")
            .await
            .expect("still shown");
        assert!(
            b.0["text"].as_str().unwrap_or("").contains("Chat now"),
            "the online creative is back: {b:?}"
        );
        let same = browser
            .js(
                &format!("{ENGAGEMENTS_JS_FN}; return node('help-button').__e2eMark === 42;"),
                vec![],
            )
            .await;
        assert_eq!(
            same,
            json!(true),
            "the button was re-mounted instead of refreshed"
        );

        let events = browser.events().await;
        let states: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "engage:state")
            .filter_map(|e| e["detail"]["state"].as_str())
            .collect();
        assert_eq!(
            states,
            ["offline", "busy", "online"],
            "engage:state events: {events:#}"
        );
        let shown = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "engage:shown")
            .count();
        assert_eq!(shown, 1, "one impression only: {events:#}");
    })
    .await;
    browser.close().await;
}
