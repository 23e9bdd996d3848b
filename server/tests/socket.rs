//! Over a real socket: HTTP/1.1 through hyper, SSE streaming and graceful shutdown, per-IP rate
//! limits from the peer address, concurrent uploads and reads.

mod common;

use bytes::Bytes;
use common::{client, document, http, next_data, serve, TestApp, TOKEN};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::Duration;

fn auth() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

#[tokio::test]
async fn endpoints_over_a_socket() {
    let t = TestApp::new();
    let (addr, stop, handle) = serve(t.state.clone()).await;
    let c = client();
    let base = format!("http://{addr}");
    let (k, v) = auth();
    let r = http(
        &c,
        "PUT",
        &format!("{base}/admin/v1/sites/acme/campaigns"),
        &[(k, &v)],
        document("acme", 1).to_string(),
    )
    .await
    .unwrap();
    r.assert_status(201);
    let r = http(
        &c,
        "GET",
        &format!("{base}/v1/sites/acme/bundle"),
        &[],
        Bytes::new(),
    )
    .await
    .unwrap();
    r.assert_status(200);
    assert_eq!(r.json()["version"], 1);
    let etag = r.header("etag").unwrap().to_owned();
    let r = http(
        &c,
        "GET",
        &format!("{base}/v1/sites/acme/bundle"),
        &[("if-none-match", &etag)],
        Bytes::new(),
    )
    .await
    .unwrap();
    r.assert_status(304);
    let r = http(&c, "GET", &format!("{base}/healthz"), &[], Bytes::new())
        .await
        .unwrap();
    r.assert_status(200);
    let r = http(
        &c,
        "POST",
        &format!("{base}/v1/sites/acme/events"),
        &[("content-type", "text/plain")],
        "{oops",
    )
    .await
    .unwrap();
    r.assert_error(400, "invalid_json");
    let r = http(
        &c,
        "GET",
        &format!("{base}/admin/v1/sites/acme/versions"),
        &[],
        Bytes::new(),
    )
    .await
    .unwrap();
    r.assert_error(401, "unauthorized");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn availability_stream_sends_changes_and_ends_at_shutdown() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    t.put_availability("acme", "sales", 1, 1, 5)
        .await
        .assert_status(200);
    let (addr, stop, handle) = serve(t.state.clone()).await;
    let c = client();
    let base = format!("http://{addr}");

    let r = http(
        &c,
        "GET",
        &format!("{base}/v1/sites/nope/availability/stream"),
        &[],
        Bytes::new(),
    )
    .await
    .unwrap();
    r.assert_error(404, "not_found");

    let req = hyper::Request::get(format!("{base}/v1/sites/acme/availability/stream"))
        .header("origin", "https://shop.example")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let res = c.request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let mut body = res.into_body();
    let mut buf = String::new();
    // One message on connect, with the current numbers.
    let first = next_data(&mut body, &mut buf, |_| true).await;
    assert_eq!(first["skills"]["sales"]["agents_online"], 1);

    // A second client, and a change reaching both.
    let req = hyper::Request::get(format!("{base}/v1/sites/acme/availability/stream"))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let mut body2 = c.request(req).await.unwrap().into_body();
    let mut buf2 = String::new();
    next_data(&mut body2, &mut buf2, |_| true).await;
    let m = http(&c, "GET", &format!("{base}/metrics"), &[], Bytes::new())
        .await
        .unwrap()
        .text();
    assert!(m.contains("engage_sse_clients 2"), "{m}");

    let (k, v) = auth();
    http(
        &c,
        "PUT",
        &format!("{base}/admin/v1/sites/acme/availability/sales"),
        &[(k, &v)],
        json!({"agents_online": 7, "agents_with_capacity": 0, "expected_wait_seconds": 300})
            .to_string(),
    )
    .await
    .unwrap()
    .assert_status(200);
    let v1 = next_data(&mut body, &mut buf, |v| {
        v["skills"]["sales"]["agents_online"] == 7
    })
    .await;
    assert_eq!(v1["skills"]["sales"]["expected_wait_seconds"], 300);
    next_data(&mut body2, &mut buf2, |v| {
        v["skills"]["sales"]["agents_online"] == 7
    })
    .await;

    // A client going away is counted out.
    drop(body2);
    let mut gone = false;
    for _ in 0..50 {
        let m = http(&c, "GET", &format!("{base}/metrics"), &[], Bytes::new())
            .await
            .unwrap()
            .text();
        if m.contains("engage_sse_clients 1") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the closed stream is no longer counted");

    // Graceful shutdown ends the open stream, then the server.
    let _ = stop.send(());
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match body.frame().await {
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ended at shutdown");
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the server stopped")
        .unwrap();
    assert_eq!(
        t.state
            .metrics
            .sse_clients
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn per_ip_rate_limit_uses_the_peer_address() {
    let t = TestApp::with(|c| {
        c.rate_ip_per_minute = 20;
        c.rate_visitor_per_minute = 0;
    });
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let (addr, stop, handle) = serve(t.state.clone()).await;
    let c = client();
    let url = format!("http://{addr}/v1/sites/acme/events");
    let mut codes = Vec::new();
    for i in 0..25 {
        let body = json!({"visitor": format!("v{i}"), "events": []}).to_string();
        codes.push(
            http(&c, "POST", &url, &[], body)
                .await
                .unwrap()
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes.iter().filter(|c| **c == 202).count(), 20, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 5, "{codes:?}");
    let _ = stop.send(());
    handle.await.unwrap();
}

/// Writers upload versions while readers fetch the bundle and the document: every read is one
/// complete version (its JSON parses, and its number, tag and header agree), versions only go
/// forward for each reader, and every upload is in the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_and_reads() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 0))
        .await
        .assert_status(201);
    let (addr, stop, handle) = serve(t.state.clone()).await;
    let base = format!("http://{addr}");
    let writers = 4;
    let per_writer = 8;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut tasks = Vec::new();
    for w in 0..writers {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            let (k, v) = auth();
            let mut versions = Vec::new();
            for i in 0..per_writer {
                let tag = 1 + w * per_writer + i;
                let r = http(
                    &c,
                    "PUT",
                    &format!("{base}/admin/v1/sites/acme/campaigns"),
                    &[(k, &v)],
                    document("acme", tag).to_string(),
                )
                .await
                .unwrap();
                r.assert_status(201);
                versions.push(r.json()["version"].as_u64().unwrap());
            }
            versions
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..4 {
        let base = base.clone();
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let c = client();
            let (k, v) = auth();
            let mut last = 0;
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads < 20 {
                let r = http(
                    &c,
                    "GET",
                    &format!("{base}/v1/sites/acme/bundle"),
                    &[],
                    Bytes::new(),
                )
                .await
                .unwrap();
                r.assert_status(200);
                let b = r.json();
                let version = b["version"].as_u64().unwrap();
                assert_eq!(r.header("x-engage-version").unwrap(), version.to_string());
                assert!(r
                    .header("etag")
                    .unwrap()
                    .starts_with(&format!("\"{version}-")));
                assert!(version >= last, "went back from {last} to {version}");
                last = version;
                assert_eq!(b["campaigns"].as_array().unwrap().len(), 3);

                let d = http(
                    &c,
                    "GET",
                    &format!("{base}/admin/v1/sites/acme/campaigns"),
                    &[(k, &v)],
                    Bytes::new(),
                )
                .await
                .unwrap();
                d.assert_status(200);
                let doc: Value = serde_json::from_slice(&d.body).unwrap();
                assert_eq!(doc["campaigns"].as_array().unwrap().len(), 3);
                assert_eq!(doc["site"], "acme");
                reads += 1;
            }
            reads
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        assert!(r.await.unwrap() >= 20);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (2..=(1 + writers * per_writer) as u64).collect();
    assert_eq!(all, expected, "every upload got its own version");

    let v = t
        .admin(
            "GET",
            "/admin/v1/sites/acme/versions",
            axum::body::Body::empty(),
        )
        .await
        .json();
    assert_eq!(v["active"], 1 + writers * per_writer);
    assert_eq!(
        v["versions"].as_array().unwrap().len() as u32,
        1 + writers * per_writer
    );
    let b = t.get("/v1/sites/acme/bundle").await.json();
    assert_eq!(b["version"], 1 + writers * per_writer);
    let _ = stop.send(());
    handle.await.unwrap();
}

/// A client that stops sending its body gets a JSON 408 once the request timeout passes.
#[tokio::test]
async fn slow_bodies_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestApp::with(|c| c.request_timeout = Duration::from_millis(300));
    let (addr, stop, handle) = serve(t.state.clone()).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "PUT /admin/v1/sites/acme/availability/sales HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{\"agents_"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"timeout""#), "{text}");
    let _ = stop.send(());
    handle.await.unwrap();
}
