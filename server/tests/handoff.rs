//! The hand-off of conversations (SPEC §11) with the real server binary, a real Kannel and a
//! webhook receiver in this test: an SMS reply to an engage campaign links to the campaign's
//! outbound engagement, a web accept starts a web conversation, and the receiver gets each
//! conversation exactly once with a valid `X-Engage-Signature`, although it answers 500 twice
//! first and the server is restarted in between.

mod common;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::kannel::Kannel;
use common::{client, free_port, http, make_www, start_binary, Client, TOKEN};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FROM: &str = "+447400123000";
const SECRET: &str = "receiver-shared-secret-1";

/// What the receiver saw: (signature valid, status it answered, body).
type Seen = Arc<Mutex<Vec<(bool, u16, Value)>>>;

/// A receiver that answers 500 to the first `fail` requests, then 200.
async fn receiver(fail: usize) -> (String, Seen) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = s2.clone();
            async move {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("key");
                mac.update(&body);
                let want: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let got = headers
                    .get("x-engage-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let valid = got == format!("sha256={want}");
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                let status = if seen.len() < fail { 500 } else { 200 };
                seen.push((
                    valid,
                    status,
                    serde_json::from_slice(&body).unwrap_or(Value::Null),
                ));
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), seen)
}

async fn admin(c: &Client, base: &str, method: &str, path: &str, body: Value) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let r = http(
        c,
        method,
        &format!("{base}/admin/v1/sites/acme{path}"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert!(
        r.status.is_success(),
        "{method} {path}: {} {}",
        r.status,
        r.text()
    );
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn seen_now(seen: &Seen) -> Vec<(bool, u16, Value)> {
    seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_handed_off_once_signed_across_failures_and_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_www(&dir.path().join("www"));
    let port = free_port();
    let (hook, seen) = receiver(2).await;
    let server = start_binary(dir.path(), port);
    let c = client();
    let doc = json!({
        "site": "acme", "timezone": "Europe/London",
        "settings": {"default_country": "GB", "conversation_webhook": {"url": hook, "secret": SECRET}},
        "skills": [{"id": "sales"}],
        "campaigns": [
            {"id": "sms", "engagements": [{"id": "sms-replies", "kind": "conversation", "source": "outbound",
                "skill": "sales", "language": "en-GB", "agent_note": "Replied to the winter SMS",
                "outbound": {"sender": FROM}}]},
            {"id": "shop", "engagements": [{"id": "shop-chat", "kind": "conversation", "format": "sticky",
                "skill": "sales", "creative": {"online": {"title": "Questions?"}}}]}
        ]
    });
    admin(&c, &server.base, "PUT", "/campaigns", doc).await;
    let inbox = |url: &str, u: &str, p: &str| {
        json!({"name": "UK", "provider": "kannel", "from": FROM,
        "rate_per_second": 20, "kannel": {"url": url, "username": u, "password": p}})
    };
    let v = admin(
        &c,
        &server.base,
        "PUT",
        "/sms/inboxes/uk",
        inbox("http://127.0.0.1:9/", "x", "y"),
    )
    .await;
    let kannel = Kannel::start(v["webhooks"]["inbound"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    admin(
        &c,
        &server.base,
        "PUT",
        "/sms/inboxes/uk",
        inbox(&kannel.sendsms_url(), kannel.username(), kannel.password()),
    )
    .await;
    admin(
        &c,
        &server.base,
        "PUT",
        "/contacts",
        json!([{"id": "ana", "phone": "+447400100001", "name": "Ana", "tags": ["vip"]}]),
    )
    .await;
    admin(
        &c,
        &server.base,
        "POST",
        "/sms/campaigns",
        json!({"id": "winter", "title": "Winter", "message": "Hi {{name}}!",
        "inbox": "uk", "scheduled_at": null, "engagement": "sms-replies"}),
    )
    .await;
    kannel.wait_received(1, Duration::from_secs(10));

    // The reply: an SMS conversation linked to the campaign's outbound engagement.
    kannel
        .inject_mo("+447400100001", FROM, "Is it on shoes too?")
        .expect("inject");
    // A web accept: a web conversation.
    let now = common::now_ms();
    let batch = json!({"visitor": "v-1", "attributes": {"cart": {"total": 80}},
        "events": [{"type": "accept", "at": now, "visit": 1, "campaign": "shop", "engagement": "shop-chat", "zone": "right", "state": "online"}]});
    let r = http(
        &c,
        "POST",
        &format!("{}/v1/sites/acme/events", server.base),
        &[],
        batch.to_string(),
    )
    .await
    .expect("events");
    assert_eq!(r.status.as_u16(), 202, "{}", r.text());

    // Two failures (500), then the server restarts.
    wait_until("two failed deliveries", Duration::from_secs(15), || {
        seen_now(&seen).len() >= 2
    })
    .await;
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(server);
    let server = start_binary(dir.path(), port);
    wait_until(
        "both conversations delivered",
        Duration::from_secs(20),
        || {
            seen_now(&seen)
                .iter()
                .filter(|(_, status, _)| *status == 200)
                .count()
                >= 2
        },
    )
    .await;
    // Nothing more arrives once both got their 2xx.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = seen_now(&seen);
    assert!(
        all.iter().all(|(valid, _, _)| *valid),
        "every delivery is signed: {all:?}"
    );
    let ok: Vec<&Value> = all
        .iter()
        .filter(|(_, s, _)| *s == 200)
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(ok.len(), 2, "each conversation exactly once: {all:?}");
    let sms = ok
        .iter()
        .find(|b| b["channel"] == "sms")
        .expect("the SMS conversation");
    assert_eq!(
        (
            sms["engagement"].as_str(),
            sms["campaign"].as_str(),
            sms["skill"].as_str()
        ),
        (Some("sms-replies"), Some("sms"), Some("sales")),
        "{sms}"
    );
    assert_eq!(
        (sms["language"].as_str(), sms["agent_note"].as_str()),
        (Some("en-GB"), Some("Replied to the winter SMS")),
        "{sms}"
    );
    assert_eq!(
        (sms["phone"].as_str(), sms["first_message"].as_str()),
        (Some("+447400100001"), Some("Is it on shoes too?")),
        "{sms}"
    );
    assert_eq!(sms["sms_campaign"], "winter");
    assert_eq!(sms["attributes"]["name"], "Ana", "{sms}");
    let web = ok
        .iter()
        .find(|b| b["channel"] == "web")
        .expect("the web conversation");
    assert_eq!(
        (web["engagement"].as_str(), web["visitor"].as_str()),
        (Some("shop-chat"), Some("v-1")),
        "{web}"
    );
    assert_eq!(web["attributes"]["cart"]["total"], 80, "{web}");
    for b in &ok {
        for k in [
            "id",
            "channel",
            "engagement",
            "campaign",
            "skill",
            "language",
            "agent_note",
            "attributes",
            "first_message",
            "started_at",
        ] {
            assert!(b.get(k).is_some(), "{k} missing in {b}");
        }
    }
    // The console's view of the queue agrees.
    let h = admin(&c, &server.base, "GET", "/handoffs", Value::Null).await;
    let states: Vec<&str> = h["handoffs"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["state"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(states, ["delivered", "delivered"], "{h}");
    let report = admin(&c, &server.base, "GET", "/report", Value::Null).await;
    assert_eq!(
        report["conversations"]["by_source"],
        json!({"web": 1, "offsite": 0, "sms": 1}),
        "{report}"
    );
    let out = &report["outbound"][0];
    assert_eq!(
        (
            out["recipients"].as_u64(),
            out["replies"].as_u64(),
            out["conversations_started"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{report}"
    );
}
