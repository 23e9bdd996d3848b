//! Crash safety: the real binary is killed with SIGKILL while uploads stream in, restarted on the
//! same data directory, and must serve the last acknowledged version (or the one in flight, if
//! its commit landed before the kill), with an intact database.

mod common;

use bytes::Bytes;
use common::{client, http, make_www, TOKEN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    base: String,
}

fn start(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_engage-server"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .arg("--www")
        .arg(dir.join("www"))
        .env("ENGAGE_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("engage-server starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("engage-server printed its address")
            .unwrap();
        if let Some(url) = line.split("listening on ").nth(1) {
            break url.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn signal(child: &Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// A document big enough that storing it takes a moment; `tag` is the first campaign's priority.
fn big_document(tag: u64) -> Value {
    let campaigns: Vec<Value> = (0..300)
        .map(|i| {
            json!({"id": format!("c{i}"), "name": format!("Campaign {i} of upload {tag}"),
                   "priority": if i == 0 { tag } else { 0 },
                   "engagements": [{"id": format!("e{i}"), "kind": "content", "format": "button",
                                    "zone": {"embedded": format!("slot-{i}")},
                                    "creative": {"content": {"title": "Offer", "message": "Save <b>10%</b> today",
                                                              "cta": "See", "url": "https://acme.example/offer"}}}]})
        })
        .collect();
    json!({"site": "acme", "campaigns": campaigns})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_keeps_the_last_acknowledged_version() {
    let dir = tempfile::tempdir().unwrap();
    make_www(&dir.path().join("www"));
    let c = client();
    let auth = format!("Bearer {TOKEN}");
    let mut server = start(dir.path());
    let mut tag: u64 = 0;
    // (version, tag) of the last upload answered 201.
    let mut acked: Option<(u64, u64)> = None;

    for round in 0..4u64 {
        // One acknowledged upload first, so the kill always has something to preserve.
        tag += 1;
        let r = http(
            &c,
            "PUT",
            &format!("{}/admin/v1/sites/acme/campaigns", server.base),
            &[("authorization", &auth)],
            big_document(tag).to_string(),
        )
        .await
        .unwrap();
        r.assert_status(201);
        acked = Some((r.json()["version"].as_u64().unwrap(), tag));
        let pid = server.child.id() as i32;
        let delay = Duration::from_millis(60 + round * 97);
        let killer = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        });
        let mut in_flight;
        loop {
            tag += 1;
            in_flight = tag;
            let r = http(
                &c,
                "PUT",
                &format!("{}/admin/v1/sites/acme/campaigns", server.base),
                &[("authorization", &auth)],
                big_document(tag).to_string(),
            )
            .await;
            match r {
                Ok(r) if r.status.as_u16() == 201 => {
                    acked = Some((r.json()["version"].as_u64().unwrap(), tag));
                }
                Ok(r) => panic!("upload answered {}: {}", r.status, r.text()),
                Err(_) => break, // killed
            }
        }
        killer.await.unwrap();
        let _ = server.child.wait();

        server = start(dir.path());
        let (acked_version, acked_tag) =
            acked.expect("some uploads were acknowledged before the kill");
        let v = http(
            &c,
            "GET",
            &format!("{}/admin/v1/sites/acme/versions", server.base),
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await
        .unwrap()
        .json();
        let active = v["active"].as_u64().unwrap();
        let b = http(
            &c,
            "GET",
            &format!("{}/v1/sites/acme/bundle", server.base),
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
        b.assert_status(200);
        let bundle = b.json();
        let served_tag = bundle["campaigns"][0]["priority"].as_u64().unwrap();
        assert_eq!(bundle["version"].as_u64().unwrap(), active);
        if active == acked_version {
            assert_eq!(served_tag, acked_tag, "round {round}");
        } else {
            // The upload in flight committed before the kill, just not answered.
            assert_eq!(
                active,
                acked_version + 1,
                "round {round}: active {active}, acked {acked_version}"
            );
            assert_eq!(served_tag, in_flight, "round {round}");
            acked = Some((active, in_flight));
        }
        let d = http(
            &c,
            "GET",
            &format!("{}/admin/v1/sites/acme/campaigns", server.base),
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await
        .unwrap()
        .json();
        assert_eq!(d["campaigns"][0]["priority"].as_u64().unwrap(), served_tag);
        assert_eq!(v["versions"].as_array().unwrap().len() as u64, active);
        eprintln!(
            "round {round}: {} uploads so far, version {active} active after the kill",
            tag
        );
    }

    // A clean stop (SIGTERM) and the database checks out.
    signal(&server.child, libc::SIGTERM);
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status}"
    );
    let db =
        rusqlite::Connection::open(dir.path().join("data").join(engage_server::store::DB_FILE))
            .unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (n, active): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM versions), active_version FROM sites WHERE id = 'acme'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(n, active);
    assert_eq!(Some(active as u64), acked.map(|a| a.0));
}
