//! (v) The admin console's Conversations section (`/admin/#/conversations`, SPEC §11), against a
//! real server: a visitor accepts a chat engagement in Chromium (a `web` conversation with the
//! engagement's skill, language and agent note); a third-party provider's broadcast
//! (`POST …/outbound/broadcasts`) reaches a number whose reply comes in through the inbox's
//! inbound webhook (an `sms` conversation linked to the outbound engagement); a number no
//! broadcast reached replies (no engagement, and why); enough other replies for two pages. The
//! console lists them newest first with their engagement, filters by channel, pages with
//! "Load more", and the Hand-offs tab shows each delivery to the (unreachable) agent system as
//! failing with its last error and next try. axe-core finds no serious or critical violation on
//! either view.

use std::time::{Duration, Instant};

use engage_e2e::*;
use fantoccini::elements::Element;
use fantoccini::Locator;
use serde_json::{json, Value};

const SITE: &str = "acme";
const SENDER: &str = "+447400123000";
/// The console's page size (`PAGE` in www/admin/conversations.js).
const PAGE: usize = 25;
/// Replies from numbers no broadcast reached, beyond the first: enough for a second page.
const EXTRA_REPLIES: usize = 24;

async fn css(b: &Browser, selector: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b.client.find(Locator::Css(selector)).await {
            Ok(e) => return e,
            Err(e) if Instant::now() > deadline => panic!("no `{selector}` in the console: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn click(b: &Browser, selector: &str) {
    let e = css(b, selector).await;
    b.js(
        "document.querySelector(arguments[0])?.scrollIntoView({block: 'center'}); return true;",
        vec![json!(selector)],
    )
    .await;
    e.click()
        .await
        .unwrap_or_else(|e| panic!("click `{selector}`: {e}"));
}

async fn type_into(b: &Browser, selector: &str, text: &str) {
    let e = css(b, selector).await;
    e.clear()
        .await
        .unwrap_or_else(|err| panic!("clear `{selector}`: {err}"));
    e.send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("type into `{selector}`: {err}"));
}

fn ok(res: &http::Response, what: &str) -> Value {
    assert!(
        (200..300).contains(&res.status),
        "{what}: HTTP {} {}",
        res.status,
        res.text()
    );
    if res.body.is_empty() {
        Value::Null
    } else {
        res.json()
    }
}

fn conversations(server: &Server) -> Vec<Value> {
    let res = server.admin(
        "GET",
        &format!("/admin/v1/sites/{SITE}/conversations?limit=100"),
        None,
    );
    ok(&res, "GET conversations")["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_api(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `+` → `%2B`, space → `+`, and the rest of a short text's punctuation percent-encoded.
fn query_value(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A reply through the inbox's inbound webhook, as Kannel's smsbox would call it.
fn reply(server: &Server, inbound: &str, from: &str, text: &str) {
    let path = format!(
        "{inbound}&from={}&to={}&text={}",
        query_value(from),
        query_value(SENDER),
        query_value(text)
    );
    let res = server.get(&path);
    assert_eq!(res.status, 200, "inbound webhook: {}", res.text());
}

/// The document: an outbound engagement for the provider's campaign CM-123, a sticky chat tab
/// on the shop page, and an agent system that is not there (deliveries fail and are retried).
fn set_up(server: &Server) -> String {
    server.put_document(&document(
        SITE,
        json!({
            "default_country": "GB",
            "conversation_webhook": {"url": "http://127.0.0.1:9/hook", "secret": "e2e-webhook-secret-0123"}
        }),
        json!([{
            "id": "winter-sms",
            "name": "Winter SMS",
            "engagements": [{
                "id": "sms-replies",
                "kind": "conversation",
                "source": "outbound",
                "skill": "sales",
                "language": "en-GB",
                "agent_note": "Replied to the winter SMS",
                "outbound": {"campaign_ref": "CM-123"}
            }]
        }, {
            "id": "shop",
            "name": "Shop chat",
            "engagements": [{
                "id": "shop-chat",
                "kind": "conversation",
                "channel": "chat",
                "format": "sticky",
                "zone": "right",
                "skill": "sales",
                "language": "en-GB",
                "agent_note": "Browsing the shop",
                "entry_point": {"include": [{"url": {"pattern": "/demo/e2e/shop.html"}}]},
                "behavior": {"time_on_page": 0},
                "creative": chat_creative("Shop")
            }]
        }]),
    ));
    server.put_availability(SITE, "sales", online());
    let inbox = json!({
        "name": "UK long code",
        "provider": "kannel",
        "from": SENDER,
        "kannel": {"url": "http://127.0.0.1:9/cgi-bin/sendsms", "username": "u", "password": "p"}
    });
    let v = ok(
        &server.admin(
            "PUT",
            &format!("/admin/v1/sites/{SITE}/sms/inboxes/uk"),
            Some(&inbox),
        ),
        "PUT inbox",
    );
    let inbound = v["webhooks"]["inbound"].as_str().unwrap_or_default();
    // `http://host/v1/sms/acme/uk/inbound?secret=…&from=…`: the path and the secret.
    let path = inbound
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap_or_default();
    let path = path.split("&from=").next().unwrap_or_default().to_owned();
    assert!(
        path.starts_with("/v1/sms/acme/uk/inbound?"),
        "the inbound webhook URL: {inbound}"
    );
    path
}

/// The conversation rows on screen: (channel, engagement, the engagement cell's text).
async fn rows(b: &Browser) -> Vec<(String, String, String)> {
    b.js(
        "return [...document.querySelectorAll('[data-testid=conversation-row]')].map((r) => [r.dataset.channel, r.dataset.engagement, r.querySelector('[data-testid=conversation-engagement]')?.textContent || '']);",
        vec![],
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
    .iter()
    .map(|r| {
        let s = |i: usize| r[i].as_str().unwrap_or_default().to_owned();
        (s(0), s(1), s(2))
    })
    .collect()
}

async fn wait_rows(b: &Browser, what: &str, n: usize) {
    b.wait_for(
        what,
        Duration::from_secs(10),
        &format!(
            "return document.querySelectorAll('[data-testid=conversation-row]').length === {n};"
        ),
    )
    .await;
}

#[tokio::test]
async fn v_conversations_console() {
    let _serial = serial().await;
    let server = Server::start_with_pages(&[(
        "demo/e2e/shop.html",
        snippet_page("Shop", SITE, None, "<p>Tents, packs and layers.</p>"),
    )]);
    let inbound = set_up(&server);
    let source = axe_source();
    let mut a11y: Vec<String> = Vec::new();

    let b = Browser::launch().await;
    within("test (v)", Duration::from_secs(240), async {
        // A web accept: the visitor takes the chat tab.
        b.goto(&server.url("/demo/e2e/shop.html")).await;
        b.wait_engagement("shop-chat", Duration::from_secs(15)).await;
        b.accept("shop-chat").await;
        // Leaving the page sends what the runtime has not sent yet.
        b.goto(&server.url("/healthz")).await;
        wait_api("the web conversation", || {
            conversations(&server).iter().any(|c| c["channel"] == "web")
        })
        .await;

        // A third-party broadcast to Ana, then her reply: linked to `sms-replies`.
        let broadcast = json!({"campaign_ref": "CM-123", "sender": SENDER,
                               "recipients": ["07400 100001", "+447400100002"]});
        let res = server.admin(
            "POST",
            &format!("/admin/v1/sites/{SITE}/outbound/broadcasts"),
            Some(&broadcast),
        );
        assert_eq!(res.status, 202, "broadcast: {}", res.text());
        reply(&server, &inbound, "+447400100001", "Is it on shoes too?");
        // A number no broadcast reached: a conversation with no engagement.
        reply(&server, &inbound, "+447400100099", "Hello?");
        // Enough others for a second page (a second message from one number continues its
        // conversation, so every one has its own number).
        for i in 0..EXTRA_REPLIES {
            reply(&server, &inbound, &format!("+4474001003{i:02}"), "Hi there");
        }
        let all = conversations(&server);
        assert_eq!(all.len(), EXTRA_REPLIES + 3, "{all:#?}");
        let sms = all
            .iter()
            .find(|c| c["phone"] == "+447400100001")
            .expect("Ana's conversation");
        assert_eq!(
            (sms["engagement"].as_str(), sms["skill"].as_str()),
            (Some("sms-replies"), Some("sales")),
            "{sms}"
        );

        // The console: sign in, open Conversations.
        b.goto(&server.url("/admin/")).await;
        type_into(&b, "[data-testid=signin-token]", TOKEN).await;
        type_into(&b, "[data-testid=signin-site]", SITE).await;
        click(&b, "[data-testid=signin-submit]").await;
        css(&b, "[data-testid=campaign-card]").await;
        click(&b, "[data-testid=nav-conversations]").await;
        wait_rows(&b, "the first page of conversations", PAGE).await;
        let more = css(&b, "[data-testid=conversations-more]").await;
        assert!(
            more.is_displayed().await.unwrap_or(false),
            "a second page: Load more is shown"
        );
        b.screenshot_settled("conversations").await;
        a11y.extend(axe_problems(&b, &source, "Conversations").await);
        click(&b, "[data-testid=conversations-more]").await;
        wait_rows(&b, "every conversation after Load more", EXTRA_REPLIES + 3).await;
        b.wait_for(
            "Load more to go with the last page",
            Duration::from_secs(5),
            "return document.querySelector('[data-testid=conversations-more]').hidden;",
        )
        .await;

        // Each with its engagement, or why it has none.
        let shown = rows(&b).await;
        let web = shown
            .iter()
            .find(|r| r.0 == "web")
            .expect("the web conversation in the console");
        assert_eq!(web.1, "shop-chat", "{shown:?}");
        assert!(web.2.contains("shop-chat"), "{shown:?}");
        let linked: Vec<_> = shown.iter().filter(|r| r.1 == "sms-replies").collect();
        assert_eq!(linked.len(), 1, "{shown:?}");
        assert_eq!(linked[0].0, "sms", "{shown:?}");
        let unlinked = shown.iter().filter(|r| r.0 == "sms" && r.1.is_empty()).count();
        assert_eq!(unlinked, EXTRA_REPLIES + 1, "{shown:?}");
        assert!(
            shown
                .iter()
                .filter(|r| r.1.is_empty())
                .all(|r| r.2.contains("No engagement: no_broadcast")),
            "{shown:?}"
        );
        let ana = b
            .js(
                "const r = [...document.querySelectorAll('[data-testid=conversation-row]')].find((r) => r.dataset.engagement === 'sms-replies'); return r ? r.textContent : '';",
                vec![],
            )
            .await;
        let ana = ana.as_str().unwrap_or_default();
        assert!(
            ana.contains("+447400100001")
                && ana.contains("Is it on shoes too?")
                && ana.contains("Replied to the winter SMS"),
            "Ana's row: {ana}"
        );

        // Filter: web only.
        b.js(
            "const s = document.querySelector('[data-testid=conversations-channel]'); s.value = 'web'; s.dispatchEvent(new Event('change')); return true;",
            vec![],
        )
        .await;
        wait_rows(&b, "the web conversation alone", 1).await;
        assert_eq!(rows(&b).await[0].0, "web");
        // A date range that ends before today: nothing.
        b.js(
            "const s = document.querySelector('[data-testid=conversations-channel]'); s.value = ''; const t = document.querySelector('[data-testid=conversations-to]'); t.value = '2020-01-01'; t.dispatchEvent(new Event('change')); return true;",
            vec![],
        )
        .await;
        css(&b, "[data-testid=conversations-empty]:not([hidden])").await;
        click(&b, "[data-testid=conversations-clear]").await;
        wait_rows(&b, "the first page again", PAGE).await;

        // Hand-offs: the agent system is unreachable, so deliveries are retried, and say so.
        wait_api("a failed delivery attempt", || {
            let res = server.admin("GET", &format!("/admin/v1/sites/{SITE}/handoffs"), None);
            ok(&res, "GET handoffs")["handoffs"]
                .as_array()
                .is_some_and(|l| l.iter().any(|h| h["attempts"].as_u64() >= Some(1)))
        })
        .await;
        click(&b, "[data-testid=tab-handoffs]").await;
        css(&b, "[data-testid=handoffs-failing]").await;
        let failing = b
            .wait_for(
                "a delivery row with its last error",
                Duration::from_secs(10),
                "const r = [...document.querySelectorAll('[data-testid=handoff-row]')].find((r) => r.querySelector('[data-testid=handoff-state]').textContent.includes('retrying')); return r ? r.textContent : null;",
            )
            .await;
        let failing = failing.as_str().unwrap_or_default();
        assert!(
            failing.contains("conversation.started") && failing.contains("next try"),
            "a failing delivery: {failing}"
        );
        b.screenshot_settled("conversations-handoffs").await;
        a11y.extend(axe_problems(&b, &source, "Hand-offs").await);

        let (errors, console, _) = b.recorded_errors().await;
        assert!(errors.is_empty(), "uncaught errors in the console: {errors:?}");
        println!("console.error calls: {console:?}");
    })
    .await;
    b.close().await;
    assert!(
        a11y.is_empty(),
        "axe found serious or critical violations:\n{}",
        a11y.join("\n")
    );
}
