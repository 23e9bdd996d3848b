//! Conversations through the router (SPEC §11): third-party broadcast notifications, replies
//! linked to outbound engagements (or not, and why), web accepts, the report's sections. The
//! hand-off delivery and the SMS path through Kannel are in `handoff.rs`.

mod common;

use common::{TestApp, TOKEN};
use engage_engine::schedule::parse_instant;
use serde_json::{json, Value};

const SITE: &str = "/admin/v1/sites/acme";

fn t(s: &str) -> i64 {
    parse_instant(s).unwrap_or_else(|e| panic!("{e}"))
}

fn document(replies_enabled: bool) -> Value {
    json!({
        "site": "acme", "timezone": "Europe/London",
        "settings": {"default_country": "GB",
                     "conversation_webhook": {"url": "http://127.0.0.1:9/hook", "secret": "a-long-enough-secret"}},
        "skills": [{"id": "sales"}],
        "campaigns": [
            {"id": "winter", "timeframe": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-10T00:00:00Z"},
             "engagements": [{"id": "winter-replies", "kind": "conversation", "source": "outbound",
                              "enabled": replies_enabled, "skill": "sales", "language": "en-GB",
                              "agent_note": "Winter sale: 20% off", "outbound": {"campaign_ref": "CM-123"}}]},
            {"id": "shop", "engagements": [{"id": "shop-chat", "kind": "conversation", "format": "sticky",
                                            "skill": "sales", "language": "en-GB", "agent_note": "Shop visitor",
                                            "creative": {"online": {"title": "Questions?"}}}]}
        ]
    })
}

async fn setup(replies_enabled: bool) -> (TestApp, String) {
    let app = TestApp::new();
    app.set_now(t("2026-12-01T09:00:00Z"));
    app.upload("acme", &document(replies_enabled))
        .await
        .assert_status(201);
    let inbox = json!({"name": "UK", "provider": "kannel", "from": "+447400123000",
        "kannel": {"url": "http://127.0.0.1:9/cgi-bin/sendsms", "username": "u", "password": "p"}});
    let v = app
        .admin("PUT", &format!("{SITE}/sms/inboxes/uk"), inbox.to_string())
        .await
        .json();
    let inbound = v["webhooks"]["inbound"].as_str().unwrap_or_default();
    let path = inbound
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap_or_default();
    let path = path.split("&from=").next().unwrap_or_default().to_owned();
    (app, path)
}

async fn reply(app: &TestApp, inbound: &str, from: &str, text: &str) {
    let from = from.replace('+', "%2B");
    let text = text.replace(' ', "+");
    app.get(&format!(
        "{inbound}&from={from}&to=%2B447400123000&text={text}"
    ))
    .await
    .assert_status(200);
}

async fn conversations(app: &TestApp, query: &str) -> Vec<Value> {
    let v = app
        .admin("GET", &format!("{SITE}/conversations{query}"), "")
        .await
        .json();
    v["conversations"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn third_party_broadcast_then_reply_links_by_campaign_ref() {
    let (app, inbound) = setup(true).await;
    let b = json!({"campaign_ref": "CM-123", "sender": "+447400123000",
                   "recipients": ["07400 100001", "+447400100002", "+447400100002"], "at": "2026-12-02T10:00:00Z"});
    app.set_now(t("2026-12-02T10:01:00Z"));
    let r = app
        .admin(
            "POST",
            &format!("{SITE}/outbound/broadcasts"),
            b.to_string(),
        )
        .await;
    r.assert_status(202);
    assert_eq!(
        (r.json()["recipients"].as_u64(), r.json()["new"].as_u64()),
        (Some(2), Some(2)),
        "{}",
        r.text()
    );
    // Idempotent on repeat.
    let r = app
        .admin(
            "POST",
            &format!("{SITE}/outbound/broadcasts"),
            b.to_string(),
        )
        .await;
    assert_eq!(r.json()["new"], 0, "{}", r.text());

    app.set_now(t("2026-12-02T10:05:00Z"));
    reply(&app, &inbound, "+447400100001", "Is it on shoes too?").await;
    let list = conversations(&app, "").await;
    assert_eq!(list.len(), 1, "{list:?}");
    let c = &list[0];
    assert_eq!(
        (
            c["channel"].as_str(),
            c["engagement"].as_str(),
            c["campaign"].as_str()
        ),
        (Some("sms"), Some("winter-replies"), Some("winter")),
        "{c}"
    );
    assert_eq!(
        (
            c["skill"].as_str(),
            c["language"].as_str(),
            c["agent_note"].as_str()
        ),
        (Some("sales"), Some("en-GB"), Some("Winter sale: 20% off")),
        "{c}"
    );
    assert_eq!(c["phone"], "+447400100001");
    assert_eq!(c["first_message"], "Is it on shoes too?");
    // A second message within 24 h continues it.
    app.set_now(t("2026-12-02T11:00:00Z"));
    reply(&app, &inbound, "+447400100001", "Thanks").await;
    let list = conversations(&app, "").await;
    assert_eq!(
        (list.len(), list[0]["messages"].as_u64()),
        (1, Some(2)),
        "{list:?}"
    );
    // A STOP is an opt-out, not a conversation.
    reply(&app, &inbound, "+447400100002", "STOP").await;
    assert_eq!(conversations(&app, "").await.len(), 1);

    // After the campaign ended (timeframe end 2026-12-10): a conversation with no engagement.
    app.set_now(t("2026-12-11T09:00:00Z"));
    reply(&app, &inbound, "+447400100002", "Still on?").await;
    let list = conversations(&app, "?channel=sms").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let late = &list[0];
    assert_eq!(
        (late["engagement"].clone(), late["unlinked"].as_str()),
        (Value::Null, Some("timeframe")),
        "{late}"
    );
    // A number no broadcast reached.
    app.set_now(t("2026-12-11T09:01:00Z"));
    reply(&app, &inbound, "+447400100009", "Hello?").await;
    let list = conversations(&app, "?channel=sms&limit=1").await;
    assert_eq!(list[0]["unlinked"], "no_broadcast", "{list:?}");

    // Bad notifications: every problem at its path.
    let bad = json!({"sender": "nope", "recipients": ["+447400100001", "12"], "at": "2099-01-01T00:00:00Z"});
    let e = app
        .admin(
            "POST",
            &format!("{SITE}/outbound/broadcasts"),
            bad.to_string(),
        )
        .await
        .assert_error(422, "validation_failed");
    let paths: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["sender", "at", "recipients[1]"], "{e}");

    // The report's sections.
    let r = app
        .admin(
            "GET",
            &format!("{SITE}/report?from=2026-12-01&to=2026-12-12"),
            "",
        )
        .await
        .json();
    assert_eq!(r["conversations"]["by_source"]["sms"], 3, "{r}");
    let o = &r["outbound"][0];
    assert_eq!(
        (
            o["engagement"].as_str(),
            o["recipients"].as_u64(),
            o["conversations_started"].as_u64()
        ),
        (Some("winter-replies"), Some(2), Some(1)),
        "{r}"
    );
}

#[tokio::test]
async fn a_disabled_outbound_engagement_links_to_none() {
    let (app, inbound) = setup(false).await;
    app.set_now(t("2026-12-02T10:01:00Z"));
    let b = json!({"campaign_ref": "CM-123", "recipients": ["+447400100001"], "at": "2026-12-02T10:00:00Z"});
    app.admin(
        "POST",
        &format!("{SITE}/outbound/broadcasts"),
        b.to_string(),
    )
    .await
    .assert_status(202);
    reply(&app, &inbound, "+447400100001", "Hi").await;
    let list = conversations(&app, "").await;
    assert_eq!(
        (list[0]["engagement"].clone(), list[0]["unlinked"].as_str()),
        (Value::Null, Some("disabled")),
        "{list:?}"
    );
}

#[tokio::test]
async fn a_web_accept_starts_a_conversation_with_the_visitors_attributes() {
    let (app, _) = setup(true).await;
    let now = t("2026-12-01T09:00:00Z");
    let batch = json!({"visitor": "v-1", "attributes": {"cart": {"total": 120}, "country": "GB"},
        "events": [{"type": "impression", "at": now, "visit": 1, "campaign": "shop", "engagement": "shop-chat", "zone": "right", "state": "online"},
                   {"type": "accept", "at": now + 5000, "visit": 1, "campaign": "shop", "engagement": "shop-chat", "zone": "right", "state": "online"}]});
    for _ in 0..2 {
        let r = app
            .call(
                "POST",
                "/v1/sites/acme/events",
                &[("content-type", "text/plain")],
                batch.to_string(),
            )
            .await;
        r.assert_status(202);
    }
    let list = conversations(&app, "?channel=web").await;
    assert_eq!(
        list.len(),
        1,
        "a retried batch is one conversation: {list:?}"
    );
    let c = &list[0];
    assert_eq!(
        (
            c["source"].as_str(),
            c["engagement"].as_str(),
            c["visitor"].as_str()
        ),
        (Some("web"), Some("shop-chat"), Some("v-1")),
        "{c}"
    );
    assert_eq!(
        (c["skill"].as_str(), c["agent_note"].as_str()),
        (Some("sales"), Some("Shop visitor")),
        "{c}"
    );
    assert_eq!(c["attributes"]["cart"]["total"], 120, "{c}");
    let handoffs = app
        .admin("GET", &format!("{SITE}/handoffs"), "")
        .await
        .json();
    assert_eq!(
        handoffs["handoffs"].as_array().map(Vec::len),
        Some(1),
        "{handoffs}"
    );
    assert_eq!(handoffs["handoffs"][0]["state"], "queued");
    // Attributes are bounded.
    let big = json!({"visitor": "v-2", "attributes": {"x": "y".repeat(9000)}, "events": []});
    app.call("POST", "/v1/sites/acme/events", &[], big.to_string())
        .await
        .assert_error(422, "invalid_events");
    let _ = TOKEN;
}

#[tokio::test]
async fn new_routes_refuse_bad_requests() {
    let (app, _) = setup(true).await;
    // No key: 401 on every new admin route.
    for (m, path) in [
        ("GET", "/conversations"),
        ("GET", "/handoffs"),
        ("POST", "/outbound/broadcasts"),
        ("GET", "/sms/campaigns"),
        ("PUT", "/contacts"),
        ("GET", "/sms/opt-outs"),
        ("POST", "/sms/preview"),
    ] {
        let r = app.call(m, &format!("{SITE}{path}"), &[], "{}").await;
        r.assert_error(401, "unauthorized");
        let r = app
            .call(
                m,
                &format!("{SITE}{path}"),
                &[("authorization", "Bearer wrong")],
                "{}",
            )
            .await;
        r.assert_error(401, "unauthorized");
    }
    // Bad queries and bodies.
    app.admin("GET", &format!("{SITE}/conversations?channel=fax"), "")
        .await
        .assert_error(400, "invalid_query");
    app.admin("GET", &format!("{SITE}/conversations?cursor=nonsense"), "")
        .await
        .assert_error(400, "invalid_query");
    app.admin("GET", &format!("{SITE}/conversations?from=yesterday"), "")
        .await
        .assert_error(400, "invalid_query");
    app.admin("POST", &format!("{SITE}/outbound/broadcasts"), "{")
        .await
        .assert_error(400, "invalid_json");
    let many: Vec<String> = (0..100_001).map(|i| format!("+4474{:08}", i)).collect();
    let r = app
        .admin(
            "POST",
            &format!("{SITE}/outbound/broadcasts"),
            json!({"campaign_ref": "X", "recipients": many}).to_string(),
        )
        .await;
    let e = r.assert_error(422, "validation_failed");
    assert_eq!(e["error"]["details"][0]["path"], "recipients", "{e}");
    // Unknown ids.
    app.admin("GET", &format!("{SITE}/sms/campaigns/nope"), "")
        .await
        .assert_error(404, "not_found");
    app.admin("POST", &format!("{SITE}/sms/campaigns/nope/cancel"), "")
        .await
        .assert_error(404, "not_found");
    app.admin("GET", &format!("{SITE}/sms/inboxes/nope"), "")
        .await
        .assert_error(404, "not_found");
    app.admin("GET", &format!("{SITE}/contacts/nope"), "")
        .await
        .assert_error(404, "not_found");
    app.admin("GET", &format!("{SITE}/sms/campaigns/Bad!"), "")
        .await
        .assert_error(400, "invalid_id");
    // Too many contacts in one upload.
    let rows: Vec<Value> = (0..100_001)
        .map(|i| json!({"id": format!("c{i}"), "phone": "+447400100001"}))
        .collect();
    let r = app
        .admin(
            "PUT",
            &format!("{SITE}/contacts"),
            Value::from(rows).to_string(),
        )
        .await;
    r.assert_error(413, "too_many_contacts");
}
