//! (e) A visitor in a 100% control group sees nothing, and the counterfactual `control` event
//! reaches the report (`control_visitors` ≥ 1, no impression).

use std::time::{Duration, Instant};

use engage_e2e::*;
use serde_json::{json, Value};

const SITE: &str = "e2e-control";

fn engagement_report<'a>(report: &'a Value, campaign: &str, engagement: &str) -> &'a Value {
    let c = report["campaigns"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["campaign"] == campaign))
        .unwrap_or_else(|| panic!("no campaign {campaign} in the report: {report:#}"));
    c["engagements"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["engagement"] == engagement))
        .unwrap_or_else(|| panic!("no engagement {engagement} in the report: {report:#}"))
}

#[tokio::test]
async fn e_control_group_sees_nothing_and_is_reported() {
    let _serial = serial().await;
    let body = r#"<p>Content.</p><a id="next" href="/demo/e2e/next.html">Next</a><div id="ping-slot"></div>"#;
    let server = Server::start_with_pages(&[
        (
            "demo/e2e/held-out.html",
            snippet_page("Held out", SITE, None, body),
        ),
        (
            "demo/e2e/next.html",
            snippet_page("Next", SITE, None, r#"<div id="ping-slot"></div>"#),
        ),
    ]);
    server.put_document(&document(
        SITE,
        json!({}),
        json!([
            {
                "id": "held-out",
                "control_group_percent": 100,
                "engagements": [{
                    "id": "held-tab",
                    "kind": "conversation",
                    "channel": "chat",
                    "format": "sticky",
                    "zone": "right",
                    "skill": "sales",
                    "behavior": {"time_on_page": 0},
                    "creative": chat_creative("Held")
                }]
            },
            {
                // Not in a control group: proves the runtime ran on the page.
                "id": "ping",
                "engagements": [{
                    "id": "ping",
                    "kind": "content",
                    "format": "banner",
                    "zone": {"embedded": "ping-slot"},
                    "behavior": {"time_on_page": 0},
                    "creative": content_creative("Ping", "https://example.com/")
                }]
            }
        ]),
    ));
    server.put_availability(SITE, "sales", online());

    let browser = Browser::launch().await;
    within("test (e)", Duration::from_secs(90), async {
        browser.goto(&server.url("/demo/e2e/held-out.html")).await;
        browser
            .wait_engagement("ping", Duration::from_secs(10))
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let ids: Vec<String> = browser
            .engagements()
            .await
            .iter()
            .map(|s| s.engagement().to_string())
            .collect();
        assert_eq!(ids, ["ping"], "the control visitor sees no held-tab");
        let events = browser.events().await;
        let held: Vec<&Value> = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["detail"]["engagement"] == "held-tab")
            .collect();
        // Only the extension `engage:control` (so a page can say so), never shown/state.
        assert_eq!(
            held.len(),
            1,
            "one event for the held-out engagement: {events:#}"
        );
        assert_eq!(held[0]["type"], "engage:control", "{events:#}");
        assert_eq!(
            held[0]["detail"]["campaign"], "held-out",
            "engage:control names the campaign: {events:#}"
        );

        // Leave the page (pagehide → sendBeacon), then wait for the report.
        browser
            .client
            .find(fantoccini::Locator::Css("#next"))
            .await
            .expect("next link")
            .click()
            .await
            .expect("click next");
        browser
            .wait_engagement("ping", Duration::from_secs(10))
            .await;

        let start = Instant::now();
        let report = loop {
            let r = server.report(SITE);
            let e = engagement_report(&r, "held-out", "held-tab");
            if e["control_visitors"].as_u64().unwrap_or(0) >= 1 {
                break r;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("no control visitor in the report after 20 s: {r:#}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        println!(
            "control event in the report {:?} after leaving the page",
            start.elapsed()
        );
        let e = engagement_report(&report, "held-out", "held-tab");
        assert_eq!(e["control_visitors"], 1, "{e:#}");
        assert_eq!(e["impressions"], 0, "{e:#}");
        assert_eq!(e["exposed_visitors"], 0, "{e:#}");
        // The ping banner was shown (and reported) for the same, exposed, visitor.
        let ping = engagement_report(&report, "ping", "ping");
        assert!(ping["impressions"].as_u64().unwrap_or(0) >= 1, "{ping:#}");
        assert_eq!(ping["control_visitors"], 0, "{ping:#}");
    })
    .await;
    browser.close().await;
}
