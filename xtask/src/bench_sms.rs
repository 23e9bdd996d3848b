//! `cargo xtask bench-sms`: SMS campaign figures for the README, against the release server and
//! a real Kannel on loopback:
//! - how long freezing a 100,000-contact audience into the outbox takes (scheduled_at → sending);
//! - the sustained send rate through Kannel against the inbox's configured rate;
//! - the server's RSS while a 100,000-recipient campaign sends.
//!
//! The campaign is cancelled once the rate is measured, so the run takes about a minute.

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cmd::{self, Result};
use crate::demo_sms::{call, kannel::Kannel, rfc3339, FROM};

const CONTACTS: usize = 100_000;
const TOKEN: &str = "bench-token";
/// Measured after a warm-up, over this long.
const WINDOW: Duration = Duration::from_secs(20);

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn ok(addr: SocketAddr, method: &str, path: &str, body: &Value) -> Result<Value> {
    match call(
        addr,
        TOKEN,
        method,
        &format!("/admin/v1/sites/bench{path}"),
        body,
    ) {
        Ok((s, v)) if (200..300).contains(&s) => Ok(v),
        Ok((s, v)) => Err(format!("{method} {path}: {s} {v}")),
        Err(e) => Err(format!("{method} {path}: {e}")),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn run(rate: u32) -> Result {
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "engage-server"]))?;
    let dir = std::env::temp_dir().join(format!("engage-bench-sms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Command::new(cmd::target_dir().join("release").join("engage-server"))
        .args(["--listen", &addr.to_string(), "--data"])
        .arg(dir.join("data"))
        .arg("--www")
        .arg(dir.join("www"))
        .env("ENGAGE_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start engage-server: {e}"))?;
    let result = measure(addr, server.id(), rate);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(addr: SocketAddr, pid: u32, rate: u32) -> Result {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("engage-server did not start".into());
        }
        sleep(Duration::from_millis(50));
    }
    let doc = json!({"site": "bench", "timezone": "UTC", "settings": {"default_country": "GB"},
        "campaigns": [{"id": "c", "engagements": [{"id": "e", "kind": "content", "format": "banner",
        "zone": {"embedded": "slot"}, "creative": {"content": {"title": "t", "url": "https://bench.example/"}}}]}]});
    match call(addr, TOKEN, "PUT", "/admin/v1/sites/bench/campaigns", &doc) {
        Ok((201, _)) => {}
        other => return Err(format!("uploading the bench document: {other:?}")),
    }
    let inbox = |url: &str, user: &str, pass: &str| {
        json!({"name": "Bench", "provider": "kannel", "from": FROM, "rate_per_second": rate,
               "kannel": {"url": url, "username": user, "password": pass}})
    };
    let v = ok(
        addr,
        "PUT",
        "/sms/inboxes/bench",
        &inbox("http://127.0.0.1:9/", "x", "y"),
    )?;
    let inbound = v["webhooks"]["inbound"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kannel = Kannel::start(&inbound)?;
    ok(
        addr,
        "PUT",
        "/sms/inboxes/bench",
        &inbox(&kannel.sendsms_url(), kannel.username(), kannel.password()),
    )?;

    let contacts: Vec<Value> = (0..CONTACTS)
        .map(|i| {
            json!({"id": format!("c{i:06}"), "phone": format!("+4474{:08}", 10_000_000 + i),
                   "name": format!("Contact {i}"), "tags": if i % 10 == 0 { vec!["vip", "all"] } else { vec!["all"] },
                   "attributes": {"city": if i % 2 == 0 { "Leeds" } else { "York" }}})
        })
        .collect();
    let t = Instant::now();
    ok(addr, "PUT", "/contacts", &Value::from(contacts))?;
    let upsert = t.elapsed();
    let baseline = rss_kib(pid).unwrap_or(0);

    let lead = 3_000;
    let at = now_ms() + lead;
    let scheduled = rfc3339(at);
    ok(
        addr,
        "POST",
        "/sms/campaigns",
        &json!({"id": "big", "title": "Big", "inbox": "bench",
        "message": "Hi {{name}}, this is a benchmark message.", "audience": {"tags": {"any": ["all"]}},
        "scheduled_at": scheduled}),
    )?;
    // Freeze: from scheduled_at until the campaign reads `sending` (polled every 5 ms).
    let freeze_ms = loop {
        let (_, c) = call(
            addr,
            TOKEN,
            "GET",
            "/admin/v1/sites/bench/sms/campaigns/big",
            &Value::Null,
        )
        .map_err(|e| e.to_string())?;
        if c["status"] == "sending" {
            break now_ms() - at;
        }
        if now_ms() - at > 60_000 {
            return Err(format!("the campaign did not start: {c}"));
        }
        sleep(Duration::from_millis(5));
    };
    let first = kannel.wait_received(1, Duration::from_secs(30));
    let first_ms = first
        .first()
        .map(|m| m.at)
        .map(|_| now_ms() - at)
        .unwrap_or(-1);
    // Warm up 3 s, then count what reaches the SMSC over the window; sample RSS meanwhile.
    sleep(Duration::from_secs(3));
    let from = kannel.received().len();
    let t = Instant::now();
    let mut peak = 0;
    while t.elapsed() < WINDOW {
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        sleep(Duration::from_millis(250));
    }
    let got = kannel.received().len() - from;
    let achieved = got as f64 / t.elapsed().as_secs_f64();
    let _ = call(
        addr,
        TOKEN,
        "POST",
        "/admin/v1/sites/bench/sms/campaigns/big/cancel",
        &Value::Null,
    );

    println!("\n=== SMS benchmark ({CONTACTS} contacts, release server, Kannel + fakesmsc on loopback, 2 cores)");
    println!(
        "    contacts upsert (one JSON PUT)          {:>8.0} ms",
        upsert.as_secs_f64() * 1000.0
    );
    println!("    freeze 100,000 into the outbox          {freeze_ms:>8} ms  (scheduled_at → status sending)");
    println!("    first message at the SMSC               {first_ms:>8} ms  after scheduled_at");
    println!("    sustained send rate                     {achieved:>8.1} /s  (configured {rate}/s, over {}s)", WINDOW.as_secs());
    println!("    server RSS                              {:>8.1} MiB before, {:.1} MiB peak while sending",
        baseline as f64 / 1024.0, peak as f64 / 1024.0);
    Ok(())
}
