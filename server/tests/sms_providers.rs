//! The CM.com and Twilio adapters on the real sending path (SPEC §10): the server, its sender
//! and webhooks over a socket, and a local HTTP listener standing in for the provider that checks
//! the exact request a real account would receive and answers what the provider answers.

mod common;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use common::{client, http, Resp, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SITE: &str = "/admin/v1/sites/acme";
/// What the providers call: a proxy in front of the server (`--public-url`).
const PUBLIC: &str = "https://engage.example.com";
const CM_TOKEN: &str = "5b0e8d7a-3c41-4f6e-9a2b-7d18c0e4f951";
const TW_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TW_TOKEN: &str = "f00dbabe0123456789abcdef01234567";

/// One request the fake provider received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

type Answer = dyn Fn(usize, &Seen) -> (u16, &'static str, String) + Send + Sync;

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Answer>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(f): State<Fake>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    let n = {
        let mut all = f.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    let (status, ctype, body) = (f.answer)(n, &seen);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", ctype)],
        Body::from(body),
    )
        .into_response()
}

/// A provider on a free loopback port; `answer(n, request)` answers the n-th request.
async fn fake_provider(
    answer: impl Fn(usize, &Seen) -> (u16, &'static str, String) + Send + Sync + 'static,
) -> (String, Fake) {
    let fake = Fake {
        seen: Arc::default(),
        answer: Arc::new(answer),
    };
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

/// The server (public URL [`PUBLIC`]) on a socket, its sender started, a document in GB.
async fn server() -> (TestApp, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = TestApp::with(|c| c.public_url = Some(PUBLIC.into()));
    let mut d = common::document("acme", 1);
    d["settings"] = json!({"default_country": "GB"});
    app.upload("acme", &d).await.assert_status(201);
    let (addr, stop, _) = common::serve(app.state.clone()).await;
    engage_server::sms::sender::start(&app.state).unwrap();
    (app, addr, stop)
}

async fn ok(app: &TestApp, method: &str, path: &str, body: Value) -> Value {
    let r = app
        .admin(method, &format!("{SITE}{path}"), body.to_string())
        .await;
    assert!(r.status.is_success(), "{method} {path}: {}", r.text());
    r.json()
}

async fn campaign(app: &TestApp, id: &str) -> Value {
    ok(app, "GET", &format!("/sms/campaigns/{id}"), Value::Null).await
}

/// Polls until `done` holds (panics after 20 s with the last value).
async fn wait_for<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut get: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not happen: {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_completed(app: &TestApp, id: &str) -> Value {
    wait_for(
        &format!("campaign {id} completed"),
        || campaign(app, id),
        |c| c["status"] == "completed",
    )
    .await
}

/// A campaign to every contact tagged `tag`, now.
async fn send_now(app: &TestApp, id: &str, tag: &str) {
    let c = json!({"id": id, "title": id, "message": "Hi {{name}}, 20% off until Sunday.",
        "inbox": "uk", "audience": {"tags": {"any": [tag]}}, "scheduled_at": null});
    ok(app, "POST", "/sms/campaigns", c).await;
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    phone: String,
    state: String,
    attempts: i64,
    provider_ref: Option<String>,
    error: Option<String>,
}

/// The outbox rows of a campaign, by phone (this suite runs on SQLite, see `xtask/src/test.rs`).
fn outbox(app: &TestApp, campaign: &str) -> BTreeMap<String, Row> {
    app.state
        .store
        .as_sqlite()
        .expect("a SQLite store")
        .read(|c| {
            let mut st = c.prepare(
                "SELECT id, phone, state, attempts, provider_ref, error FROM sms_outbox
                 WHERE site = 'acme' AND campaign = ?1",
            )?;
            let rows = st.query_map([campaign], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    phone: r.get(1)?,
                    state: r.get(2)?,
                    attempts: r.get(3)?,
                    provider_ref: r.get(4)?,
                    error: r.get(5)?,
                })
            })?;
            rows.map(|r| r.map(|r| (r.phone.clone(), r))).collect()
        })
        .unwrap()
}

/// A webhook URL as the provider was told it (on [`PUBLIC`]) called on the local socket.
fn local(addr: SocketAddr, public_url: &str) -> String {
    let path = public_url
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{public_url} is not on {PUBLIC}"));
    format!("http://{addr}{path}")
}

async fn post(addr: SocketAddr, url: &str, headers: &[(&str, &str)], body: String) -> Resp {
    http(&client(), "POST", &local(addr, url), headers, body)
        .await
        .unwrap()
}

async fn opt_outs(app: &TestApp) -> Vec<String> {
    ok(app, "GET", "/sms/opt-outs", Value::Null).await["opt_outs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["phone"].as_str().unwrap().to_owned())
        .collect()
}

// ---- CM.com

fn cm_inbox(url: &str, token: &str) -> Value {
    json!({"name": "Acme", "provider": "cm", "from": "Acme", "rate_per_second": 20,
           "cm": {"url": url, "product_token": token}})
}

/// CM's answer to a message it took (its SDK's fixture, with this message's number and reference).
fn cm_accepted(req: &Seen) -> (u16, &'static str, String) {
    let m = &req.json()["messages"]["msg"][0];
    let to = m["to"][0]["number"].as_str().unwrap_or_default();
    let body = json!({"messages": [{"to": to.replace('+', "00"), "parts": 1, "status": "Accepted",
        "reference": m["reference"], "messageErrorCode": 0, "messageDetails": null}],
        "details": "Created 1 message(s)", "errorCode": 0});
    (200, "application/json; charset=utf-8", body.to_string())
}

/// The request CM must receive for one outbox row.
fn cm_expected(row: &Row, name: &str) -> Value {
    json!({"messages": {
        "authentication": {"producttoken": CM_TOKEN},
        "msg": [{
            "allowedChannels": ["SMS"],
            "from": "Acme",
            "to": [{"number": row.phone}],
            "body": {"type": "AUTO", "content": format!("Hi {name}, 20% off until Sunday.")},
            "reference": row.id.to_string(),
            "minimumNumberOfMessageParts": 1,
            "maximumNumberOfMessageParts": 10
        }]
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cm_sends_its_json_and_takes_status_reports_and_replies() {
    let (cm_url, cm) = fake_provider(|_, req| cm_accepted(req)).await;
    let (app, addr, _stop) = server().await;
    let url = format!("{cm_url}/v1.0/message");
    ok(&app, "PUT", "/sms/inboxes/uk", cm_inbox(&url, CM_TOKEN)).await;
    // The masked token sent back keeps the stored one (the request below carries the real one).
    let v = ok(&app, "GET", "/sms/inboxes/uk", Value::Null).await;
    assert_eq!(
        v["cm"],
        json!({"url": url, "product_token": "********"}),
        "{v}"
    );
    assert!(!v.to_string().contains(CM_TOKEN), "{v}");
    let mut again = cm_inbox(&url, "********");
    again["name"] = json!("Acme CM");
    let v = ok(&app, "PUT", "/sms/inboxes/uk", again).await;
    assert!(!v.to_string().contains(CM_TOKEN), "{v}");
    let status_url = v["webhooks"]["status"].as_str().unwrap().to_owned();
    let inbound_url = v["webhooks"]["inbound"].as_str().unwrap().to_owned();

    ok(
        &app,
        "PUT",
        "/contacts",
        json!([{"id": "a", "phone": "07400 123456", "name": "Ana", "tags": ["vip"]},
               {"id": "b", "phone": "+44 7400 123457", "name": "Bo", "tags": ["vip"]}]),
    )
    .await;
    send_now(&app, "sale", "vip").await;
    let c = wait_completed(&app, "sale").await;
    assert_eq!(c["progress"]["sent"], 2, "{c}");
    assert_eq!(c["progress"]["failed"], 0, "{c}");

    let rows = outbox(&app, "sale");
    let (a, b) = (&rows["+447400123456"], &rows["+447400123457"]);
    let seen = cm.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for req in &seen {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1.0/message");
        assert_eq!(req.query, None);
        assert_eq!(
            req.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        // The token is in the body only.
        assert_eq!(req.header("authorization"), None);
        assert_eq!(req.header("x-cm-producttoken"), None);
    }
    let mut bodies: Vec<Value> = seen.iter().map(Seen::json).collect();
    bodies.sort_by_key(|b| b["messages"]["msg"][0]["reference"].to_string());
    let mut want = vec![cm_expected(a, "Ana"), cm_expected(b, "Bo")];
    want.sort_by_key(|b| b["messages"]["msg"][0]["reference"].to_string());
    assert_eq!(bodies, want);
    // CM returns no message id: the reference is the key.
    assert_eq!(
        (a.state.as_str(), a.provider_ref.as_deref()),
        ("sent", None)
    );

    // A delivery report, as CM posts it (msg an object) …
    let report = |reference: i64, code: &str, desc: &str| {
        json!({"received": "2026-12-05T10:00:03", "to": "00447400123456", "reference": reference.to_string(),
               "status": {"code": code, "errorCode": "0", "errorDescription": desc},
               "operator": "23410"})
    };
    let json_ct = [("content-type", "application/json")];
    let r = post(
        addr,
        &status_url,
        &json_ct,
        json!({"messages": {"msg": report(a.id, "Delivered", "Delivered")}}).to_string(),
    )
    .await;
    r.assert_status(200);
    // … and a batch (msg an array), numeric code 3 = failed.
    let r = post(
        addr,
        &status_url,
        &json_ct,
        json!({"messages": {"msg": [report(b.id, "3", "Absent subscriber")]}}).to_string(),
    )
    .await;
    r.assert_status(200);
    let c = campaign(&app, "sale").await;
    assert_eq!(
        (&c["progress"]["delivered"], &c["progress"]["failed"]),
        (&json!(1), &json!(1)),
        "{c}"
    );
    // Without the secret: 401, nothing changes.
    let wrong = status_url.replace("secret=", "secret=x");
    let r = post(
        addr,
        &wrong,
        &json_ct,
        json!({"messages": {"msg": report(b.id, "Delivered", "")}}).to_string(),
    )
    .await;
    r.assert_error(401, "unauthorized");
    // Not CM's format: 400.
    post(
        addr,
        &status_url,
        &json_ct,
        json!({"status": 2}).to_string(),
    )
    .await
    .assert_error(400, "invalid_webhook");

    // A reply (MO), naming the message it answers.
    let mo = |from: &str, text: &str, reference: Option<i64>| {
        json!({"from": {"number": from, "name": ""}, "to": {"number": "Acme"},
               "message": {"text": text, "media": {"mediaUri": "", "contentType": "", "title": ""}, "custom": {}},
               "reference": reference.map(|r| r.to_string()), "groupings": ["", "", ""],
               "timeUtc": "2026-12-05T10:05:00", "channel": "SMS"})
        .to_string()
    };
    let r = post(
        addr,
        &inbound_url,
        &json_ct,
        mo("00447400123456", "Yes please", Some(a.id)),
    )
    .await;
    r.assert_status(200);
    let c = campaign(&app, "sale").await;
    assert_eq!(c["progress"]["replies"], 1, "{c}");
    // STOP from CM opts the number out (and the confirmation goes out through CM).
    post(
        addr,
        &inbound_url,
        &json_ct,
        mo("00447400123457", "stop", None),
    )
    .await
    .assert_status(200);
    assert_eq!(opt_outs(&app).await, ["+447400123457"]);
    let confirm = wait_for(
        "the STOP confirmation",
        || async { cm.seen() },
        |s| s.len() == 3,
    )
    .await;
    let m = &confirm[2].json()["messages"]["msg"][0];
    assert_eq!(m["to"], json!([{"number": "+447400123457"}]), "{m}");
    assert!(
        m["body"]["content"].as_str().unwrap().contains("START"),
        "{m}"
    );
    // An inbound without a sender is refused.
    post(
        addr,
        &inbound_url,
        &json_ct,
        json!({"message": {"text": "hi"}}).to_string(),
    )
    .await
    .assert_error(400, "invalid_webhook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cm_reply_reference_names_the_campaign_it_answers() {
    let (cm_url, _cm) = fake_provider(|_, req| cm_accepted(req)).await;
    let (app, addr, _stop) = server().await;
    let v = ok(
        &app,
        "PUT",
        "/sms/inboxes/uk",
        cm_inbox(&format!("{cm_url}/v1.0/message"), CM_TOKEN),
    )
    .await;
    let inbound_url = v["webhooks"]["inbound"].as_str().unwrap().to_owned();
    ok(
        &app,
        "PUT",
        "/contacts",
        json!([{"id": "a", "phone": "+447400123456", "name": "Ana", "tags": ["vip"]}]),
    )
    .await;
    send_now(&app, "first", "vip").await;
    wait_completed(&app, "first").await;
    app.set_now(common::now_ms() + 60_000);
    send_now(&app, "second", "vip").await;
    wait_completed(&app, "second").await;
    let first = outbox(&app, "first")["+447400123456"].id;
    let mo = |reference: Option<i64>| {
        json!({"from": {"number": "+447400123456"}, "to": {"number": "Acme"},
               "message": {"text": "Is it still on?"}, "reference": reference.map(|r| r.to_string())})
        .to_string()
    };
    let ct = [("content-type", "application/json")];
    // Answering the first campaign's message, although the second was sent later.
    post(addr, &inbound_url, &ct, mo(Some(first)))
        .await
        .assert_status(200);
    // No reference: the last campaign to the number.
    post(addr, &inbound_url, &ct, mo(None))
        .await
        .assert_status(200);
    let (c1, c2) = (
        campaign(&app, "first").await,
        campaign(&app, "second").await,
    );
    assert_eq!(
        (&c1["progress"]["replies"], &c2["progress"]["replies"]),
        (&json!(1), &json!(1)),
        "{c1} {c2}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cm_server_error_is_retried_and_blacklisted_numbers_opt_out() {
    // +447400123456: the first request fails with a 500 that echoes the token, then CM takes
    // it; +447400123458: CM says the number is blacklisted.
    let failed_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = failed_once.clone();
    let (cm_url, cm) = fake_provider(move |_, req| {
        let m = &req.json()["messages"]["msg"][0];
        match m["to"][0]["number"].as_str().unwrap_or_default() {
            "+447400123458" => (
                400,
                "application/json",
                json!({"messages": [{"to": "00447400123458", "parts": 0, "status": "Rejected",
                    "reference": m["reference"], "messageErrorCode": 402,
                    "messageDetails": "Recipient is blacklisted"}],
                    "details": "Recipient is blacklisted", "errorCode": 402})
                .to_string(),
            ),
            "+447400123456" if !f2.swap(true, std::sync::atomic::Ordering::SeqCst) => (
                500,
                "text/plain",
                format!("internal error handling producttoken {CM_TOKEN}"),
            ),
            _ => cm_accepted(req),
        }
    })
    .await;
    let (app, _addr, _stop) = server().await;
    ok(
        &app,
        "PUT",
        "/sms/inboxes/uk",
        cm_inbox(&format!("{cm_url}/v1.0/message"), CM_TOKEN),
    )
    .await;
    ok(
        &app,
        "PUT",
        "/contacts",
        json!([{"id": "a", "phone": "+447400123456", "name": "Ana", "tags": ["vip"]},
               {"id": "c", "phone": "+447400123458", "name": "Cy", "tags": ["vip"]}]),
    )
    .await;
    send_now(&app, "sale", "vip").await;
    // The 500 puts the row back in the queue, due a second later on the server's clock.
    let row = wait_for(
        "the first try to fail",
        || async { outbox(&app, "sale").get("+447400123456").cloned() },
        |r| {
            r.as_ref()
                .is_some_and(|r| r.state == "queued" && r.attempts == 1)
        },
    )
    .await
    .unwrap();
    let error = row.error.clone().unwrap_or_default();
    assert!(error.contains("cm answered 500"), "{error}");
    assert!(
        !error.contains(CM_TOKEN) && error.contains("********"),
        "{error}"
    );
    // The blacklisted number failed for good and is opted out for the site.
    let c = wait_for(
        "the blacklisted number to fail",
        || campaign(&app, "sale"),
        |c| c["progress"]["failed"] == 1,
    )
    .await;
    assert_eq!(c["status"], "sending", "{c}");
    let blocked = &outbox(&app, "sale")["+447400123458"];
    assert_eq!(blocked.state, "failed");
    let e = blocked.error.clone().unwrap_or_default();
    assert!(e.contains("opted out") && e.contains("402"), "{e}");
    assert_eq!(opt_outs(&app).await, ["+447400123458"]);
    // Nothing is retried before its time …
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(outbox(&app, "sale")["+447400123456"].attempts, 1);
    // … and once the clock reaches it, the retry is accepted.
    app.set_now(common::now_ms() + 1500);
    let c = wait_completed(&app, "sale").await;
    assert_eq!(
        (&c["progress"]["sent"], &c["progress"]["failed"]),
        (&json!(1), &json!(1)),
        "{c}"
    );
    let a = &outbox(&app, "sale")["+447400123456"];
    assert_eq!((a.state.as_str(), a.attempts), ("sent", 2), "{a:?}");
    // The same message both times: same reference, same body.
    let tries: Vec<Value> = cm
        .seen()
        .iter()
        .filter(|s| s.json()["messages"]["msg"][0]["to"][0]["number"] == "+447400123456")
        .map(Seen::json)
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(tries[0], tries[1]);
    assert_eq!(tries[0], cm_expected(a, "Ana"));
    assert!(failed_once.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(cm.seen().len(), 3);
}

// ---- Twilio

/// `X-Twilio-Signature`, written here from Twilio's description (checked on its vector below).
fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut p = params.to_vec();
    p.sort();
    let mut data = url.to_owned();
    for (k, v) in p {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn the_test_signer_matches_twilios_published_vector() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    assert_eq!(
        twilio_sign(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params
        ),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

fn form(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_sends_a_form_and_every_webhook_is_signed() {
    let (tw_url, tw) = fake_provider(|n, req| {
        let f: BTreeMap<String, String> = req.form().into_iter().collect();
        let to = f.get("To").cloned().unwrap_or_default();
        if to == "+447400123459" {
            return (
                400,
                "application/json",
                json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                       "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400})
                .to_string(),
            );
        }
        let sid = format!("SM{n:032x}");
        (
            201,
            "application/json",
            json!({"account_sid": TW_SID, "api_version": "2010-04-01", "body": f.get("Body"),
                   "date_created": "Thu, 05 Dec 2026 10:00:00 +0000", "direction": "outbound-api",
                   "error_code": null, "error_message": null, "from": f.get("From"),
                   "messaging_service_sid": null, "num_media": "0", "num_segments": "1",
                   "price": null, "price_unit": "USD", "sid": sid, "status": "queued", "to": to,
                   "uri": format!("/2010-04-01/Accounts/{TW_SID}/Messages/{sid}.json")})
            .to_string(),
        )
    })
    .await;
    let (app, addr, _stop) = server().await;
    let inbox = json!({"name": "Acme US", "provider": "twilio", "from": "+447400123000",
        "rate_per_second": 20, "twilio": {"url": tw_url, "account_sid": TW_SID, "auth_token": TW_TOKEN}});
    let v = ok(&app, "PUT", "/sms/inboxes/uk", inbox).await;
    assert_eq!(
        v["twilio"],
        json!({"url": tw_url, "account_sid": TW_SID, "auth_token": "********"}),
        "{v}"
    );
    assert!(!v.to_string().contains(TW_TOKEN), "{v}");
    let secret = v["webhooks"]["status"]
        .as_str()
        .unwrap()
        .split("secret=")
        .nth(1)
        .unwrap()
        .to_owned();
    let inbound_url = v["webhooks"]["inbound"].as_str().unwrap().to_owned();
    ok(
        &app,
        "PUT",
        "/contacts",
        json!([{"id": "a", "phone": "07400 123456", "name": "Ana", "tags": ["vip"]},
               {"id": "d", "phone": "07400 123459", "name": "Di", "tags": ["vip"]}]),
    )
    .await;
    send_now(&app, "sale", "vip").await;
    let c = wait_completed(&app, "sale").await;
    assert_eq!(
        (&c["progress"]["sent"], &c["progress"]["failed"]),
        (&json!(1), &json!(1)),
        "{c}"
    );

    let rows = outbox(&app, "sale");
    let (a, d) = (&rows["+447400123456"], &rows["+447400123459"]);
    let seen = tw.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TW_SID}:{TW_TOKEN}"))
    );
    for req in &seen {
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.path,
            format!("/2010-04-01/Accounts/{TW_SID}/Messages.json")
        );
        assert_eq!(req.query, None);
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(req.header("authorization"), Some(basic.as_str()));
        let f = req.form();
        let to = &f.iter().find(|(k, _)| k == "To").unwrap().1;
        let (row, name) = if to == &a.phone {
            (a, "Ana")
        } else {
            (d, "Di")
        };
        let want: Vec<(String, String)> = [
            ("To", row.phone.clone()),
            ("From", "+447400123000".to_owned()),
            ("Body", format!("Hi {name}, 20% off until Sunday.")),
            (
                "StatusCallback",
                format!(
                    "{PUBLIC}/v1/sms/acme/uk/status?secret={secret}&msg={}",
                    row.id
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(f, want);
    }
    // The sid is the provider's reference; 21610 fails the row and opts the number out.
    let sid = a.provider_ref.clone().unwrap_or_default();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{a:?}");
    assert_eq!(d.state, "failed");
    let e = d.error.clone().unwrap_or_default();
    assert!(e.contains("opted out") && e.contains("21610"), "{e}");
    assert_eq!(opt_outs(&app).await, ["+447400123459"]);

    // The status callback, signed over the StatusCallback URL and every parameter.
    let callback = format!(
        "{PUBLIC}/v1/sms/acme/uk/status?secret={secret}&msg={}",
        a.id
    );
    // In Twilio's order, not sorted: the signature sorts them.
    let params = |status: &'static str| {
        vec![
            ("SmsSid", sid.as_str()),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", "+447400123456"),
            ("MessageSid", sid.as_str()),
            ("AccountSid", TW_SID),
            ("From", "+447400123000"),
            ("ApiVersion", "2010-04-01"),
            ("ErrorCode", ""),
        ]
    };
    let delivered = params("delivered");
    let good = twilio_sign(TW_TOKEN, &callback, &delivered);
    // The inbox secret without a signature, a signature by another token, and a signature
    // over other parameters are all refused.
    let forged = twilio_sign("another-token", &callback, &delivered);
    let for_sent = twilio_sign(TW_TOKEN, &callback, &params("sent"));
    for sig in [None, Some(forged.as_str()), Some(for_sent.as_str())] {
        let mut h = vec![FORM];
        if let Some(s) = sig {
            h.push(("x-twilio-signature", s));
        }
        post(addr, &callback, &h, form(&delivered))
            .await
            .assert_error(401, "unauthorized");
    }
    let c = campaign(&app, "sale").await;
    assert_eq!(c["progress"]["delivered"], 0, "{c}");
    let r = post(
        addr,
        &callback,
        &[FORM, ("x-twilio-signature", &good)],
        form(&delivered),
    )
    .await;
    r.assert_status(200);
    let c = campaign(&app, "sale").await;
    assert_eq!(c["progress"]["delivered"], 1, "{c}");

    // A reply, signed over the inbound URL as configured in Twilio.
    let reply = [
        ("ToCountry", "GB"),
        ("SmsMessageSid", "SM99999999999999999999999999999999"),
        ("Body", "Sounds good"),
        ("NumMedia", "0"),
        ("To", "+447400123000"),
        ("FromCountry", "GB"),
        ("SmsSid", "SM99999999999999999999999999999999"),
        ("SmsStatus", "received"),
        ("MessageSid", "SM99999999999999999999999999999999"),
        ("AccountSid", TW_SID),
        ("From", "+447400123456"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ];
    let sig = twilio_sign(TW_TOKEN, &inbound_url, &reply);
    // Tampered with after signing: 401, not counted.
    let mut changed = reply.to_vec();
    changed[2].1 = "STOP";
    post(
        addr,
        &inbound_url,
        &[FORM, ("x-twilio-signature", &sig)],
        form(&changed),
    )
    .await
    .assert_error(401, "unauthorized");
    let wrong = twilio_sign(
        TW_TOKEN,
        &inbound_url.replace(PUBLIC, "http://other.example"),
        &reply,
    );
    post(
        addr,
        &inbound_url,
        &[FORM, ("x-twilio-signature", &wrong)],
        form(&reply),
    )
    .await
    .assert_error(401, "unauthorized");
    let c = campaign(&app, "sale").await;
    assert_eq!(c["progress"]["replies"], 0, "{c}");
    assert!(opt_outs(&app).await.len() == 1);
    let r = post(
        addr,
        &inbound_url,
        &[FORM, ("x-twilio-signature", &sig)],
        form(&reply),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    assert_eq!(
        r.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
    );
    let c = campaign(&app, "sale").await;
    assert_eq!(c["progress"]["replies"], 1, "{c}");
}

#[tokio::test]
async fn provider_sections_are_checked_by_path() {
    let app = TestApp::new();
    let put = |body: Value| {
        let app = &app;
        async move {
            app.admin("PUT", &format!("{SITE}/sms/inboxes/x"), body.to_string())
                .await
        }
    };
    let paths = |r: &Resp| -> Vec<String> {
        r.assert_error(422, "validation_failed")["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = put(json!({"name": "x", "provider": "cm", "from": "Acme",
        "cm": {"url": "gw.messaging.cm.com", "product_token": "not-a-guid", "producttoken": "x"},
        "twilio": {"url": "https://api.twilio.com"}}))
    .await;
    assert_eq!(
        paths(&r),
        ["cm.producttoken", "cm.url", "cm.product_token"],
        "{}",
        r.text()
    );
    let r = put(json!({"name": "x", "provider": "cm", "from": "Acme",
        "cm": {"url": "https://gw.messaging.cm.com/v1.0/message", "product_token": CM_TOKEN},
        "twilio": {"url": "https://api.twilio.com"}}))
    .await;
    assert_eq!(paths(&r), ["twilio"], "{}", r.text());
    let r = put(json!({"name": "x", "provider": "twilio", "from": "+447400123000",
        "twilio": {"url": "https://api.twilio.com", "account_sid": "SK0123", "auth_token": "********"}}))
    .await;
    assert_eq!(
        paths(&r),
        ["twilio.account_sid", "twilio.auth_token"],
        "{}",
        r.text()
    );
    let r = put(json!({"name": "x", "provider": "twilio", "from": "+447400123000"})).await;
    assert_eq!(paths(&r), ["twilio"], "{}", r.text());
    let r = put(json!({"name": "x", "provider": "twilio", "from": "+447400123000",
        "twilio": {"url": "https://api.twilio.com/", "account_sid": TW_SID, "auth_token": TW_TOKEN}}))
    .await;
    r.assert_status(201);
    assert_eq!(r.json()["twilio"]["url"], "https://api.twilio.com");
    assert!(!r.text().contains(TW_TOKEN));
}
