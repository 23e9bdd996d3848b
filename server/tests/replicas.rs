//! Two engage-server processes on one PostgreSQL database behave as one server (SPEC §12): an
//! upload on one is served by the other with the same bytes and ETag, a rollback reaches both,
//! concurrent uploads get distinct versions, an availability change on one reaches the SSE
//! streams of the other within a second, reports agree, an SMS campaign through a real Kannel
//! sends each number once, and after a SIGKILL of one the other keeps serving and finishes the
//! send.
//!
//! The database is a real PostgreSQL: the one `ENGAGE_TEST_POSTGRES` names (`cargo xtask test`
//! starts one), else a cluster this test starts itself. A machine without PostgreSQL fails here
//! (`cargo xtask setup` installs it).

mod common;

use bytes::Bytes;
use common::kannel::Kannel;
use common::postgres::Cluster;
use common::{client, http, make_www, next_data, start_binary_with, Client, ServerProcess, TOKEN};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A database for this test: (the cluster to keep alive, if we started one; its URL).
fn database() -> (Option<Cluster>, String) {
    match std::env::var(common::POSTGRES_ENV) {
        Ok(admin) if !admin.is_empty() => (None, common::create_database(&admin)),
        _ => {
            let cluster = Cluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
            let url = cluster
                .create_database("engage")
                .unwrap_or_else(|e| panic!("{e}"));
            (Some(cluster), url)
        }
    }
}

struct Replica {
    _dir: tempfile::TempDir,
    server: ServerProcess,
}

fn replica(db: &str) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    make_www(&dir.path().join("www"));
    let port = common::free_port();
    let server = start_binary_with(
        dir.path(),
        port,
        &["--database", db, "--lease-seconds", "2"],
    );
    Replica { _dir: dir, server }
}

fn auth() -> String {
    format!("Bearer {TOKEN}")
}

async fn call(c: &Client, method: &str, url: &str, body: Value) -> (u16, Value, Option<String>) {
    let a = auth();
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let r = http(
        c,
        method,
        url,
        &[("authorization", &a), ("content-type", "application/json")],
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let etag = r.header("etag").map(str::to_owned);
    (
        r.status.as_u16(),
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        etag,
    )
}

/// Polls `url` until it answers 200 with a bundle of `version`; returns its ETag.
async fn wait_for_version(c: &Client, url: &str, version: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, v, etag) = call(c, "GET", url, Value::Null).await;
        if s == 200 && v["version"] == version {
            return etag.expect("an ETag");
        }
        assert!(
            Instant::now() < deadline,
            "{url} still serves {} ({s})",
            v["version"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_behave_as_one() {
    let (_cluster, db) = database();
    let a = replica(&db);
    let b = replica(&db);
    let (ab, bb) = (a.server.base.clone(), b.server.base.clone());
    let c = client();

    // An upload on A is served by B: same bytes, same ETag, and B answers 304 to it.
    let (s, v, _) = call(
        &c,
        "PUT",
        &format!("{ab}/admin/v1/sites/acme/campaigns"),
        common::document("acme", 1),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["version"], 1);
    let etag_a = wait_for_version(&c, &format!("{ab}/v1/sites/acme/bundle"), 1).await;
    let etag_b = wait_for_version(&c, &format!("{bb}/v1/sites/acme/bundle"), 1).await;
    assert_eq!(etag_a, etag_b);
    let r = http(
        &c,
        "GET",
        &format!("{bb}/v1/sites/acme/bundle"),
        &[("if-none-match", &etag_a)],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 304);

    // A second version on B, then a rollback on B reaches A.
    let (s, v, _) = call(
        &c,
        "PUT",
        &format!("{bb}/admin/v1/sites/acme/campaigns"),
        common::document("acme", 2),
    )
    .await;
    assert_eq!((s, v["version"].clone()), (201, json!(2)), "{v}");
    wait_for_version(&c, &format!("{ab}/v1/sites/acme/bundle"), 2).await;
    let (s, v, _) = call(
        &c,
        "POST",
        &format!("{bb}/admin/v1/sites/acme/versions/1/activate"),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let rolled_a = wait_for_version(&c, &format!("{ab}/v1/sites/acme/bundle"), 1).await;
    assert_eq!(
        rolled_a, etag_a,
        "the rolled-back bundle is the same bytes as before"
    );

    // Concurrent uploads split across both servers get distinct versions.
    let uploads: Vec<_> = (0..12u32)
        .map(|i| {
            let (c, base) = (c.clone(), if i % 2 == 0 { ab.clone() } else { bb.clone() });
            tokio::spawn(async move {
                call(
                    &c,
                    "PUT",
                    &format!("{base}/admin/v1/sites/acme/campaigns"),
                    common::document("acme", 10 + i),
                )
                .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for u in uploads {
        let (s, v, _) = u.await.unwrap();
        assert_eq!(s, 201, "{v}");
        versions.push(v["version"].as_u64().unwrap());
    }
    versions.sort();
    assert_eq!(versions, (3..=14).collect::<Vec<u64>>());
    let (_, history, _) = call(
        &c,
        "GET",
        &format!("{ab}/admin/v1/sites/acme/versions"),
        Value::Null,
    )
    .await;
    assert_eq!(
        history["versions"].as_array().map(Vec::len),
        Some(14),
        "{history}"
    );
    // Both serve the last one committed, with the same ETag.
    let last = history["versions"][0]["version"].as_u64().unwrap();
    let ea = wait_for_version(&c, &format!("{ab}/v1/sites/acme/bundle"), last).await;
    let eb = wait_for_version(&c, &format!("{bb}/v1/sites/acme/bundle"), last).await;
    assert_eq!(ea, eb);

    // An availability change on A reaches an SSE client of B within a second.
    let req = hyper::Request::get(format!("{bb}/v1/sites/acme/availability/stream"))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let res = c.request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut buf = String::new();
    next_data(&mut body, &mut buf, |_| true).await;
    let mut delays = Vec::new();
    for n in 1..=5u32 {
        let t0 = Instant::now();
        let (s, v, _) = call(
            &c,
            "PUT",
            &format!("{ab}/admin/v1/sites/acme/availability/sales"),
            json!({"agents_online": n, "agents_with_capacity": n, "expected_wait_seconds": 30}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        next_data(&mut body, &mut buf, |v| {
            v["skills"]["sales"]["agents_online"] == n
        })
        .await;
        delays.push(t0.elapsed());
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    println!(
        "availability PUT on A -> SSE on B: median {median:?}, max {:?}",
        delays[4]
    );
    assert!(delays[4] < Duration::from_secs(1), "{delays:?}");
    let (_, avail_b, _) = call(
        &c,
        "GET",
        &format!("{bb}/v1/sites/acme/availability"),
        Value::Null,
    )
    .await;
    assert_eq!(avail_b["skills"]["sales"]["agents_online"], 5, "{avail_b}");
    assert_eq!(avail_b["skills"]["sales"]["state"], "online", "{avail_b}");

    // The same events, half sent to each server, give the same report on both.
    let now = common::now_ms();
    let mut expected_impressions = 0;
    for v in 0..40 {
        let base = if v % 2 == 0 { &ab } else { &bb };
        let mut events = vec![
            json!({"type": "impression", "at": now - 5000 + v, "visit": 1,
            "campaign": "sale", "engagement": "sale-tab", "zone": "right", "state": "online"}),
        ];
        expected_impressions += 1;
        if v % 4 == 0 {
            events.push(json!({"type": "goal", "at": now - 4000 + v, "visit": 1, "name": "purchase", "value": 10.0}));
        }
        let batch = json!({"visitor": format!("visitor-{v}"), "events": events});
        // Each batch twice, to both: stored once.
        for target in [&ab, &bb, base] {
            let r = http(
                &c,
                "POST",
                &format!("{target}/v1/sites/acme/events"),
                &[("content-type", "application/json")],
                batch.to_string(),
            )
            .await
            .unwrap();
            assert!(r.status.is_success(), "{}", r.text());
        }
    }
    let report = |base: String| {
        let c = c.clone();
        async move {
            let (s, v, _) = call(
                &c,
                "GET",
                &format!("{base}/admin/v1/sites/acme/report"),
                Value::Null,
            )
            .await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };
    let (ra, rb) = (report(ab.clone()).await, report(bb.clone()).await);
    assert_eq!(ra, rb);
    let sale = ra["campaigns"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["campaign"] == "sale"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(sale["impressions"], expected_impressions, "{ra}");
    assert_eq!(sale["exposed"]["converters"], 10, "{ra}");
}

const FROM: &str = "+447400123000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_campaign_on_two_servers_sends_each_number_once_and_survives_a_kill() {
    let (_cluster, db) = database();
    let a = replica(&db);
    let mut b = Some(replica(&db));
    let ab = a.server.base.clone();
    let bb = b
        .as_ref()
        .map(|r| r.server.base.clone())
        .unwrap_or_default();
    let c = client();
    let site = |base: &str, path: &str| format!("{base}/admin/v1/sites/acme{path}");
    let mut doc = common::document("acme", 1);
    doc["settings"] = json!({"default_country": "GB"});
    let (s, v, _) = call(&c, "PUT", &site(&ab, "/campaigns"), doc).await;
    assert_eq!(s, 201, "{v}");
    let inbox = |url: &str, user: &str, pass: &str| {
        json!({"name": "Acme UK", "provider": "kannel", "from": FROM, "rate_per_second": 40,
               "kannel": {"url": url, "username": user, "password": pass}})
    };
    let (s, v, _) = call(
        &c,
        "PUT",
        &site(&ab, "/sms/inboxes/uk"),
        inbox("http://127.0.0.1:9/", "x", "y"),
    )
    .await;
    assert!(s == 200 || s == 201, "{v}");
    let inbound = v["webhooks"]["inbound"]
        .as_str()
        .expect("inbound URL")
        .to_owned();
    let kannel = Kannel::start(&inbound).unwrap_or_else(|e| panic!("Kannel: {e}"));
    let (s, v, _) = call(
        &c,
        "PUT",
        &site(&ab, "/sms/inboxes/uk"),
        inbox(&kannel.sendsms_url(), kannel.username(), kannel.password()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let contacts: Vec<Value> = (0..300)
        .map(|i| {
            json!({"id": format!("c{i:03}"), "phone": format!("+4474001{i:05}"), "consent": true,
                        "tags": [if i < 120 { "first" } else { "second" }]})
        })
        .collect();
    let (s, v, _) = call(
        &c,
        "PUT",
        &site(&bb, "/contacts"),
        json!({"contacts": contacts}),
    )
    .await;
    assert!(s == 200 || s == 201, "{v}");

    let campaign = |id: &str, tag: &str, in_ms: i64| {
        json!({"id": id, "title": id, "inbox": "uk", "message": "Hello {{name | there}}",
               "audience": {"tags": {"any": [tag]}},
               "scheduled_at": engage_server::sms::campaigns::instant(common::now_ms() + in_ms)})
    };
    let wait_done = |base: String, id: &'static str, timeout: Duration| {
        let c = c.clone();
        async move {
            let deadline = Instant::now() + timeout;
            loop {
                let (_, v, _) = call(
                    &c,
                    "GET",
                    &format!("{base}/admin/v1/sites/acme/sms/campaigns/{id}"),
                    Value::Null,
                )
                .await;
                if v["status"] == "completed" {
                    return v;
                }
                assert!(
                    Instant::now() < deadline,
                    "campaign {id} did not complete: {v}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // Both servers running: each number gets the message once.
    let (s, v, _) = call(
        &c,
        "POST",
        &site(&bb, "/sms/campaigns"),
        campaign("first", "first", 1500),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let done = wait_done(ab.clone(), "first", Duration::from_secs(30)).await;
    assert_eq!(done["progress"]["recipients"], 120, "{done}");
    let got = kannel.wait_received(120, Duration::from_secs(10));
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *per_number.entry(m.to.clone()).or_default() += 1;
    }
    assert_eq!(per_number.len(), 120);
    assert!(per_number.values().all(|&n| n == 1), "{per_number:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(kannel.received().len(), 120, "no number twice");

    // A SIGKILL of one server in the middle of a send: the other serves and finishes it.
    let (s, v, _) = call(
        &c,
        "POST",
        &site(&ab, "/sms/campaigns"),
        campaign("second", "second", 1000),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let before = kannel.received().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while kannel.received().len() < before + 40 {
        assert!(
            Instant::now() < deadline,
            "the second campaign did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Kill the server that is sending (one holds the inbox's lane at a time).
    let sent = |base: String| {
        let c = c.clone();
        async move {
            let r = http(&c, "GET", &format!("{base}/metrics"), &[], Bytes::new())
                .await
                .unwrap();
            r.text()
                .lines()
                .find_map(|l| l.strip_prefix("engage_sms_sent_total "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        }
    };
    let (sent_a, sent_b) = (sent(ab.clone()).await, sent(bb.clone()).await);
    println!("messages sent before the kill: A {sent_a}, B {sent_b}");
    let mut a = Some(a);
    let (victim, survivor) = if sent_b > sent_a {
        (b.take(), ab.clone())
    } else {
        (a.take(), bb.clone())
    };
    let killed_at = Instant::now();
    if let Some(mut r) = victim {
        r.server.child.kill().expect("SIGKILL");
        let _ = r.server.child.wait();
    }
    let (s, _, _) = call(
        &c,
        "GET",
        &format!("{survivor}/v1/sites/acme/bundle"),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "the survivor serves");
    let done = wait_done(survivor.clone(), "second", Duration::from_secs(60)).await;
    println!(
        "second campaign completed {:?} after the kill: {}",
        killed_at.elapsed(),
        done["progress"]
    );
    assert_eq!(done["progress"]["recipients"], 180, "{done}");
    // A message in flight at the kill may have reached Kannel and been sent again: wait for
    // the distinct numbers, not a count of messages.
    let deadline = Instant::now() + Duration::from_secs(15);
    let second = loop {
        let mut second: HashMap<String, usize> = HashMap::new();
        for m in &kannel.received()[before..] {
            *second.entry(m.to.clone()).or_default() += 1;
        }
        if second.len() >= 180 || Instant::now() > deadline {
            break second;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        second.len(),
        180,
        "every number of the second campaign got it"
    );
    let twice = second.values().filter(|&&n| n > 1).count() as u64;
    let uncertain = done["progress"]["uncertain"].as_u64().unwrap_or(0);
    assert!(
        twice <= uncertain,
        "{twice} numbers got it twice, {uncertain} counted uncertain"
    );
    drop((a, b));
}

/// PostgreSQL going away: writes answer 503 `storage_unavailable` with `Retry-After`, the bundle
/// and availability are still served from memory, `/healthz` says unavailable; when the
/// database is back, writes work again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_keeps_serving_and_recovers() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster
        .create_database("outage")
        .unwrap_or_else(|e| panic!("{e}"));
    let t = common::TestApp::with(|c| c.database = Some(url.clone()));
    t.upload("acme", &common::document("acme", 1))
        .await
        .assert_status(201);
    t.put_availability("acme", "sales", 2, 1, 30)
        .await
        .assert_status(200);
    let etag = t
        .get("/v1/sites/acme/bundle")
        .await
        .header("etag")
        .map(str::to_owned);
    assert_eq!(t.get("/healthz").await.json()["status"], "ok");

    cluster.stop().unwrap_or_else(|e| panic!("{e}"));
    let r = t.upload("acme", &common::document("acme", 2)).await;
    r.assert_error(503, "storage_unavailable");
    assert_eq!(r.header("retry-after"), Some("5"));
    t.put_availability("acme", "sales", 3, 1, 30)
        .await
        .assert_error(503, "storage_unavailable");
    let b = t.get("/v1/sites/acme/bundle").await;
    b.assert_status(200);
    assert_eq!(b.header("etag").map(str::to_owned), etag);
    let a = t.get("/v1/sites/acme/availability").await.json();
    assert_eq!(a["skills"]["sales"]["agents_online"], 2, "{a}");
    let h = t.get("/healthz").await;
    assert_eq!(h.status, 503, "{}", h.text());

    cluster.restart().unwrap_or_else(|e| panic!("{e}"));
    let mut ok = false;
    for _ in 0..50 {
        if t.upload("acme", &common::document("acme", 2)).await.status == 201 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "uploads work again once PostgreSQL is back");
    assert_eq!(t.get("/healthz").await.json()["status"], "ok");
    let v = t.get("/v1/sites/acme/bundle").await.json();
    assert_eq!(v["version"], 2);
}
