//! (f) An offsite link `GET /o/{site}/{engagement}` redirects to the landing page with
//! `engage_open`, and the tag there opens the engagement (`engage:accepted`, the conversation
//! panel of `settings.conversation_url`); ineligible clicks go to the survey or the inactive page.

use std::time::{Duration, Instant};

use engage_e2e::*;
use serde_json::{json, Value};

const SITE: &str = "e2e-offsite";

fn doc(server: &Server, enabled: bool) -> Value {
    document(
        SITE,
        json!({
            "inactive_engagement": {"redirect_url": server.url("/demo/e2e/inactive.html")},
            "conversation_url": server.url("/demo/e2e/chat.html?engagement={engagement}&skill={skill}")
        }),
        json!([{
            "id": "newsletter",
            "name": "Newsletter",
            "enabled": enabled,
            "engagements": [{
                "id": "newsletter-chat",
                "kind": "conversation",
                "channel": "chat",
                "source": "offsite",
                "skill": "sales",
                "agent_note": "From the newsletter",
                "offsite": {
                    "source": "email",
                    "landing_url": server.url("/demo/e2e/landing.html?from=email"),
                    "offline_survey_url": server.url("/demo/e2e/survey.html")
                },
                "creative": chat_creative("Newsletter")
            }]
        }]),
    )
}

fn location(res: &http::Response) -> String {
    assert_eq!(res.status, 302, "expected a redirect: {}", res.text());
    res.header("location").expect("Location header").to_string()
}

#[tokio::test]
async fn f_offsite_link_opens_the_engagement() {
    let _serial = serial().await;
    let landing = snippet_page("Landing", SITE, None, "<p>Our newsletter offer.</p>");
    let plain =
        |t: &str| format!("<!doctype html><html lang=\"en\"><title>{t}</title><h1>{t}</h1></html>");
    let server = Server::start_with_pages(&[
        ("demo/e2e/landing.html", landing),
        ("demo/e2e/survey.html", plain("Survey")),
        ("demo/e2e/inactive.html", plain("Inactive")),
        ("demo/e2e/chat.html", plain("Chat")),
    ]);
    server.put_document(&doc(&server, true));
    server.put_availability(SITE, "sales", online());

    // The redirect itself.
    let link = "/o/e2e-offsite/newsletter-chat";
    let to = location(&server.get(link));
    assert!(
        to.starts_with(&server.url("/demo/e2e/landing.html?from=email")),
        "eligible click → the landing page, got {to}"
    );
    assert!(
        to.contains("engage_open=newsletter-chat"),
        "the landing URL carries engage_open: {to}"
    );

    // No agent online → the survey; disabled → the inactive page.
    server.put_availability(SITE, "sales", offline());
    assert_eq!(
        location(&server.get(link)),
        server.url("/demo/e2e/survey.html"),
        "no agents → offline_survey_url"
    );
    server.put_availability(SITE, "sales", online());
    server.put_document(&doc(&server, false));
    assert_eq!(
        location(&server.get(link)),
        server.url("/demo/e2e/inactive.html"),
        "disabled → inactive_engagement.redirect_url"
    );
    server.put_document(&doc(&server, true));

    let browser = Browser::launch().await;
    within("test (f)", Duration::from_secs(60), async {
        // Follow the link in the browser: the tag on the landing page accepts the engagement.
        browser.goto(&server.url(link)).await;
        let accepted = browser
            .wait_for(
                "engage:accepted on the landing page",
                Duration::from_secs(10),
                "const e = (window.__e2e ? window.__e2e.events : []).find((e) => e.type === 'engage:accepted'); return e || null;",
            )
            .await;
        let d = &accepted["detail"];
        assert_eq!(d["engagement"], "newsletter-chat", "{accepted:#}");
        assert_eq!(d["campaign"], "newsletter", "{accepted:#}");
        assert_eq!(d["skill"], "sales", "{accepted:#}");
        assert_eq!(d["agent_note"], "From the newsletter", "{accepted:#}");
        // The server found agents online at click time, and so does the page.
        assert_eq!(
            d["state"], "online",
            "the accepted engagement's state (sales has 3 agents online): {accepted:#}"
        );
        assert!(
            accepted["url"]
                .as_str()
                .unwrap()
                .starts_with(&server.url("/demo/e2e/landing.html")),
            "accepted on the landing page: {accepted:#}"
        );
        // settings.conversation_url: the runtime opens the conversation in its own panel.
        let frame = browser
            .wait_for(
                "the conversation panel",
                Duration::from_secs(5),
                "const r = document.getElementById('engage-root'); const f = r && r.shadowRoot && r.shadowRoot.querySelector('iframe'); return f ? f.getAttribute('src') : null;",
            )
            .await;
        let frame = frame.as_str().unwrap();
        assert!(
            frame.contains("/demo/e2e/chat.html") && frame.contains("engagement=newsletter-chat"),
            "panel iframe src: {frame}"
        );
        browser.screenshot_settled("offsite-landing-panel").await;

        // The accept reaches the report once the page is left.
        // Let the runtime's own flush (≤ 5 s) send it, and keep what it sent and heard back.
        let sent = browser
            .wait_for(
                "the accept event to be sent",
                Duration::from_secs(10),
                "const p = (window.__e2e.posts || []).filter((p) => p.url.includes('/events') && (p.status !== null || p.via === 'beacon')); return p.length ? p : null;",
            )
            .await;
        browser.goto("about:blank").await;
        let start = Instant::now();
        loop {
            let r = server.report(SITE);
            let accepts = r["campaigns"][0]["engagements"][0]["accepts"]
                .as_u64()
                .unwrap_or(0);
            if accepts >= 1 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the offsite accept never reached the report.\n  batches the runtime sent: {sent:#}\n  report: {r:#}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    browser.close().await;
}
