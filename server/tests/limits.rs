//! The server under abuse, over a real socket through engage's connection layer: half-open
//! request heads are closed within the header timeout while a normal client is served; the
//! 17th availability stream from one address is answered 429; connections above the cap are
//! answered 503; HTTP/2 (h2c) is served on the same port.

mod common;

use common::{document, serve_with, TestApp, TOKEN};
use engage_server::serve::Limits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn site(t: &TestApp) {
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
}

/// Reads until the peer closes (Ok(bytes)) or `limit` passes (Err).
async fn until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return Err(()),
        }
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let out = until_closed(&mut s, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_heads_are_closed_while_others_are_served() {
    let t = TestApp::new();
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (addr, _stop, _h) = serve_with(t.state.clone(), limits).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    // Meanwhile a normal client is served at once.
    let started = Instant::now();
    let r = get(addr, "/healthz").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "healthz took {:?}",
        started.elapsed()
    );
    // Every half-open head is closed by the server within the timeout (plus slack).
    for s in &mut slow {
        until_closed(s, Duration::from_secs(3))
            .await
            .expect("closed by the server");
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // An idle keep-alive connection goes the same way.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let first = until_closed(&mut s, Duration::from_secs(3))
        .await
        .expect("closed after idling");
    assert!(String::from_utf8_lossy(&first).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_17th_stream_from_one_address_is_refused() {
    let t = TestApp::new();
    site(&t).await;
    let (addr, _stop, _h) = serve_with(t.state.clone(), Limits::default()).await;
    let mut streams = Vec::new();
    for i in 0..16 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /v1/sites/acme/availability/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("answer")
            .expect("read");
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "stream {i}: {head}");
        streams.push(s);
    }
    let r = get(addr, "/v1/sites/acme/availability/stream").await;
    assert!(r.starts_with("HTTP/1.1 429"), "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after: 5"), "{r}");
    assert!(r.contains("rate_limited"), "{r}");
    // Closing one frees a place.
    drop(streams.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /v1/sites/acme/availability/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("answer")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let metrics = get(addr, "/metrics").await;
    assert!(metrics.contains("engage_sse_refused_total 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_above_the_cap_are_refused_with_503() {
    let t = TestApp::new();
    let limits = Limits {
        max_connections: 4,
        ..Limits::default()
    };
    let (addr, _stop, _h) = serve_with(t.state.clone(), limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = get(addr, "/healthz").await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(
        r.contains("retry-after: 1") && r.contains("overloaded"),
        "{r}"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = get(addr, "/healthz").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let _ = TOKEN;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_is_served() {
    let t = TestApp::new();
    site(&t).await;
    let (addr, _stop, _h) = serve_with(t.state.clone(), Limits::default()).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let uri: axum::http::Uri = format!("http://{addr}/v1/sites/acme/bundle")
        .parse()
        .expect("uri");
    let res = client.get(uri).await.expect("an HTTP/2 answer");
    assert_eq!(res.version(), axum::http::Version::HTTP_2);
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_answers_503_keeps_serving_and_recovers() {
    // SQLite's own page limit; a PostgreSQL outage is `replicas.rs`'s.
    let t = TestApp::with(|c| c.database = None);
    site(&t).await;
    let bundle_before = t.get("/v1/sites/acme/bundle").await;
    bundle_before.assert_status(200);
    // SQLite's own limit makes the database genuinely full: no page can be added.
    let full = |limit: Option<i64>| {
        t.state
            .store
            .as_sqlite()
            .expect("a SQLite store")
            .write(|c| {
                let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                c.query_row(
                    &format!("PRAGMA max_page_count = {}", limit.unwrap_or(pages)),
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .expect("pragma")
    };
    full(None);
    let big = {
        let campaigns: Vec<serde_json::Value> = (0..400)
            .map(|i| serde_json::json!({"id": format!("c{i}"), "name": format!("Campaign {i} of a big upload"),
                "engagements": [{"id": format!("e{i}"), "kind": "content", "format": "button",
                    "zone": {"embedded": format!("slot-{i}")},
                    "creative": {"content": {"title": format!("Offer {i}"), "message": "A long enough message to take some room",
                                             "url": format!("https://acme.example/offer/{i}")}}}]}))
            .collect();
        serde_json::json!({"site": "acme", "timezone": "Europe/London", "campaigns": campaigns})
    };
    let r = t.upload("acme", &big).await;
    r.assert_error(503, "storage_unavailable");
    assert_eq!(r.header("retry-after"), Some("5"));
    // Nothing half written; the active bundle and availability are still served from memory.
    let after = t.get("/v1/sites/acme/bundle").await;
    after.assert_status(200);
    assert_eq!(after.header("etag"), bundle_before.header("etag"));
    t.get("/v1/sites/acme/availability")
        .await
        .assert_status(200);
    let h = t.get("/healthz").await.json();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["reason"].as_str().unwrap_or("").contains("disk is full"),
        "{h}"
    );
    let versions = t
        .admin("GET", "/admin/v1/sites/acme/campaigns/versions", "")
        .await
        .json();
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(1),
        "{versions}"
    );
    // The fault clears: service resumes without a restart.
    full(Some(1_073_741_823));
    t.upload("acme", &big).await.assert_status(201);
    assert_eq!(t.get("/healthz").await.json()["status"], "ok");
}
