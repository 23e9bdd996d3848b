//! SMS campaigns against a real Kannel (bearerbox + smsbox + fakesmsc) and the real server
//! binary (SPEC §10): one message per distinct number, none for opted-out or excluded contacts,
//! never faster than the inbox's rate, delivery reports, STOP/HELP keywords, replies, the exact
//! schedule, segments as Kannel splits them, and a SIGKILL in the middle of a 1,500-recipient
//! send. A machine without Kannel fails these tests (`cargo xtask setup` installs it).

mod common;

use common::kannel::{join_parts, Kannel, Mt};
use common::{client, free_port, http, make_www, start_binary, Client, ServerProcess, TOKEN};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const FROM: &str = "+447400123000";

struct Admin {
    client: Client,
    base: String,
}

impl Admin {
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let auth = format!("Bearer {TOKEN}");
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = http(
            &self.client,
            method,
            &format!("{}/admin/v1/sites/acme{path}", self.base),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status.as_u16(), v)
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    async fn campaign(&self, id: &str) -> Value {
        self.ok("GET", &format!("/sms/campaigns/{id}"), Value::Null)
            .await
    }

    /// Polls a campaign until `done` holds (or panics after `timeout`).
    async fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.campaign(id).await;
            if done(&c) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "campaign {id} did not get there: {c}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn document() -> Value {
    let mut d = common::document("acme", 1);
    d["settings"] = json!({"default_country": "GB"});
    d
}

/// A server and a Kannel wired to each other: the inbox `uk` sends through Kannel, Kannel's
/// get-url is the inbox's inbound webhook.
async fn setup(dir: &Path, port: u16, rate: u32) -> (ServerProcess, Kannel, Admin) {
    make_www(&dir.join("www"));
    let server = start_binary(dir, port);
    let admin = Admin {
        client: client(),
        base: server.base.clone(),
    };
    let (s, v) = admin.call("PUT", "/campaigns", document()).await;
    assert_eq!(s, 201, "{v}");
    let inbox = |url: &str, user: &str, pass: &str| {
        json!({"name": "Acme UK", "provider": "kannel", "from": FROM, "rate_per_second": rate,
               "help_text": "Acme: reply STOP to opt out, or call 0113 496 0000",
               "kannel": {"url": url, "username": user, "password": pass}})
    };
    let v = admin
        .ok(
            "PUT",
            "/sms/inboxes/uk",
            inbox("http://127.0.0.1:9/", "x", "y"),
        )
        .await;
    let inbound = v["webhooks"]["inbound"]
        .as_str()
        .expect("inbound URL")
        .to_owned();
    let kannel = Kannel::start(&inbound).unwrap_or_else(|e| panic!("Kannel: {e}"));
    admin
        .ok(
            "PUT",
            "/sms/inboxes/uk",
            inbox(&kannel.sendsms_url(), kannel.username(), kannel.password()),
        )
        .await;
    (server, kannel, admin)
}

fn at_ms(offset: i64) -> String {
    engage_server::sms::campaigns::instant(common::now_ms() + offset)
}

/// The most messages in any window of one second.
fn max_per_second(times: &[Instant]) -> usize {
    let mut times = times.to_vec();
    times.sort();
    let mut best = 0;
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        best = best.max(n);
    }
    best
}

fn by_number(msgs: &[Mt]) -> HashMap<String, Vec<Mt>> {
    let mut m: HashMap<String, Vec<Mt>> = HashMap::new();
    for msg in msgs {
        m.entry(msg.to.clone()).or_default().push(msg.clone());
    }
    m
}

async fn wait_opted_out(admin: &Admin, phone: &str, want: bool) {
    for _ in 0..100 {
        let o = admin.ok("GET", "/sms/opt-outs", Value::Null).await;
        let has = o["opt_outs"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["phone"] == phone));
        if has == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{phone} opted out should be {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_through_kannel_end_to_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kannel, admin) = setup(dir.path(), free_port(), 5).await;

    let mut contacts = vec![
        json!({"id": "ana", "phone": "+447400100001", "name": "Ana", "tags": ["vip"]}),
        json!({"id": "ana-work", "phone": "07400 100001", "name": "Ana W", "tags": ["vip"]}),
        json!({"id": "bo", "phone": "+447400100002", "tags": ["vip"]}),
        json!({"id": "cy", "phone": "+447400100003", "name": "Cy", "tags": ["vip"]}),
        json!({"id": "dee", "phone": "+447400100004", "tags": ["vip", "churned"]}),
        json!({"id": "eve", "phone": "+447400100005", "tags": ["vip"], "consent": false}),
        json!({"id": "fay", "phone": "+447400100006", "tags": ["newsletter"]}),
    ];
    for i in 0..12 {
        contacts.push(
            json!({"id": format!("v{i:02}"), "phone": format!("+4474001002{i:02}"),
                             "name": format!("V{i}"), "tags": ["vip"]}),
        );
    }
    admin.ok("PUT", "/contacts", Value::from(contacts)).await;

    // STOP opts Cy out with one confirmation; HELP answers the help text.
    kannel
        .inject_mo("+447400100003", FROM, "Stop")
        .expect("inject STOP");
    wait_opted_out(&admin, "+447400100003", true).await;
    kannel
        .inject_mo("+447400100002", FROM, "HELP")
        .expect("inject HELP");
    let replies = kannel.wait_received(2, Duration::from_secs(10));
    assert_eq!(
        replies.len(),
        2,
        "confirmation and help: {replies:?}\n{}",
        kannel.logs()
    );
    let to_cy: Vec<_> = replies.iter().filter(|m| m.to == "+447400100003").collect();
    assert_eq!(to_cy.len(), 1, "{replies:?}");
    assert!(to_cy[0].text.contains("START"), "{:?}", to_cy[0]);
    assert!(
        replies
            .iter()
            .any(|m| m.to == "+447400100002" && m.text.contains("0113 496 0000")),
        "{replies:?}"
    );
    // A second STOP is no second confirmation.
    kannel
        .inject_mo("+447400100003", FROM, "STOP")
        .expect("inject STOP");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let lead = 1500;
    let scheduled = at_ms(lead);
    let due = Instant::now() + Duration::from_millis(lead as u64);
    let c = admin
        .ok("POST", "/sms/campaigns", json!({
            "id": "winter-sale", "title": "Winter sale", "message": "Hi {{name | there}}, 20% off until Sunday.",
            "inbox": "uk", "audience": {"tags": {"any": ["vip"], "none": ["churned"]}},
            "scheduled_at": scheduled}))
        .await;
    assert_eq!(c["status"], "scheduled");
    assert_eq!(c["audience_size"], 14, "{c}");

    let c = admin
        .wait_for("winter-sale", Duration::from_secs(30), |c| {
            c["status"] == "completed"
        })
        .await;
    // Completed means Kannel accepted each one; give the last a moment to reach the SMSC.
    let all = kannel.wait_received(replies.len() + 14, Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = if all.len() == replies.len() + 14 {
        kannel.received()
    } else {
        all
    };
    let sent: Vec<Mt> = all[replies.len()..].to_vec();
    let numbers = by_number(&sent);
    assert_eq!(sent.len(), 14, "one message per distinct number: {sent:#?}");
    assert_eq!(numbers.len(), 14);
    for skipped in [
        "+447400100003",
        "+447400100004",
        "+447400100005",
        "+447400100006",
    ] {
        assert!(!numbers.contains_key(skipped), "{skipped} must get nothing");
    }
    assert_eq!(
        numbers["+447400100001"][0].text,
        "Hi Ana, 20% off until Sunday."
    );
    assert_eq!(
        numbers["+447400100002"][0].text,
        "Hi there, 20% off until Sunday."
    );
    assert!(sent.iter().all(|m| m.from == FROM), "{sent:?}");
    // At the exact time, not on a polling tick.
    let first = sent.iter().map(|m| m.at).min().expect("a message");
    assert!(
        first + Duration::from_millis(30) >= due,
        "sent before scheduled_at"
    );
    assert!(
        first < due + Duration::from_millis(800),
        "sent {:?} late",
        first - due
    );
    let started =
        engage_engine::schedule::parse_instant(c["started_at"].as_str().unwrap_or("")).unwrap_or(0);
    let planned = engage_engine::schedule::parse_instant(&scheduled).unwrap_or(0);
    assert!(
        (0..400).contains(&(started - planned)),
        "started {} ms after scheduled_at",
        started - planned
    );
    // Never faster than the inbox's rate over any one-second window.
    let times: Vec<Instant> = sent.iter().map(|m| m.at).collect();
    let peak = max_per_second(&times);
    assert!(peak <= 5, "{peak} messages within one second at rate 5");
    let p = &c["progress"];
    assert_eq!(p["recipients"], 14, "{c}");
    assert_eq!(p["duplicates"], 1, "{c}");
    assert_eq!(p["opted_out"], 1, "{c}");
    assert_eq!(p["no_consent"], 1, "{c}");
    assert_eq!(p["failed"], 0, "{c}");

    // Delivery reports (type 8, then 1) move every message to delivered.
    let c = admin
        .wait_for("winter-sale", Duration::from_secs(15), |c| {
            c["progress"]["delivered"] == 14
        })
        .await;
    assert_eq!(c["progress"]["sent"], 0, "{c}");

    // A reply counts against the campaign; a second campaign skips the opted-out number again.
    kannel
        .inject_mo("+447400100001", FROM, "Thanks, is it on shoes too?")
        .expect("inject reply");
    admin
        .wait_for("winter-sale", Duration::from_secs(10), |c| {
            c["progress"]["replies"] == 1
        })
        .await;
    kannel
        .inject_mo("+447400100003", FROM, "start")
        .expect("inject START");
    wait_opted_out(&admin, "+447400100003", false).await;
    let before = kannel.received().len();
    admin
        .ok(
            "POST",
            "/sms/campaigns",
            json!({
            "id": "follow-up", "title": "Follow-up", "message": "Last day!", "inbox": "uk",
            "audience": {"tags": {"any": ["vip"]}, "condition": {"name": {"$in": ["Cy", "Ana"]}}},
            "scheduled_at": null}),
        )
        .await;
    admin
        .wait_for("follow-up", Duration::from_secs(15), |c| {
            c["status"] == "completed"
        })
        .await;
    let got = kannel.wait_received(before + 3, Duration::from_secs(5));
    let new: Vec<&Mt> = got[before..]
        .iter()
        .filter(|m| m.text == "Last day!")
        .collect();
    let mut to: Vec<&str> = new.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["+447400100001", "+447400100003"], "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_what_kannel_splits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kannel, admin) = setup(dir.path(), free_port(), 50).await;
    let texts: Vec<String> = vec![
        "a".repeat(160),
        "a".repeat(161),
        "b".repeat(306),
        "c".repeat(307),
        "€".repeat(80),
        "€".repeat(81),
        format!("{}€{}", "d".repeat(152), "d".repeat(10)),
        "я".repeat(70),
        "я".repeat(71),
        "ж".repeat(134),
        "ж".repeat(135),
        format!("Hi {} 😀", "é".repeat(20)),
        format!("{}😀", "ы".repeat(68)),
    ];
    let contacts: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": format!("s{i:02}"), "phone": format!("+4474001003{i:02}"), "attributes": {"text": t}}))
        .collect();
    admin.ok("PUT", "/contacts", Value::from(contacts)).await;
    admin
        .ok(
            "POST",
            "/sms/campaigns",
            json!({"id": "parts", "title": "Parts", "message": "{{attributes.text}}",
                                              "inbox": "uk", "scheduled_at": null}),
        )
        .await;
    admin
        .wait_for("parts", Duration::from_secs(20), |c| {
            c["status"] == "completed"
        })
        .await;
    let expected: usize = texts
        .iter()
        .map(|t| engage_engine::sms::segments(t).segments as usize)
        .sum();
    let got = kannel.wait_received(expected, Duration::from_secs(10));
    let numbers = by_number(&got);
    for (i, t) in texts.iter().enumerate() {
        let parts = &numbers[&format!("+4474001003{i:02}")];
        let s = engage_engine::sms::segments(t);
        assert_eq!(
            parts.len(),
            s.segments as usize,
            "text {i} ({} {} chars): engine says {}, Kannel made {}",
            s.encoding.as_str(),
            s.characters,
            s.segments,
            parts.len()
        );
        assert_eq!(&join_parts(parts), t, "text {i} arrives whole");
    }
    assert_eq!(got.len(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_send_resumes_without_losing_anyone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let (server, kannel, admin) = setup(dir.path(), port, 250).await;
    let n = 1500;
    let contacts: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("k{i:04}"), "phone": format!("+44740020{i:04}"), "name": format!("K{i}")}))
        .collect();
    admin.ok("PUT", "/contacts", Value::from(contacts)).await;
    admin
        .ok(
            "POST",
            "/sms/campaigns",
            json!({"id": "big", "title": "Big", "message": "Hello {{name}}",
                                              "inbox": "uk", "scheduled_at": null}),
        )
        .await;
    // Kill -9 with roughly a third sent.
    let got = kannel.wait_received(500, Duration::from_secs(30));
    assert!(
        got.len() >= 500,
        "only {} arrived before the kill",
        got.len()
    );
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    let at_kill = kannel.received().len();
    assert!(at_kill < n, "the send finished before the kill ({at_kill})");
    drop(server);

    let server = start_binary(dir.path(), port);
    let admin = Admin {
        client: client(),
        base: server.base.clone(),
    };
    let c = admin
        .wait_for("big", Duration::from_secs(60), |c| {
            c["status"] == "completed"
        })
        .await;
    // Completed means Kannel accepted every message; the last ones may still be on their way
    // to the SMSC (duplicates count in `received`, so wait for distinct numbers).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut numbers = by_number(&kannel.received());
    while numbers.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        numbers = by_number(&kannel.received());
    }
    assert_eq!(numbers.len(), n, "every number got the message");
    let twice = numbers.values().filter(|m| m.len() == 2).count();
    let more = numbers.values().filter(|m| m.len() > 2).count();
    let uncertain = c["progress"]["uncertain"].as_u64().unwrap_or(0) as usize;
    assert_eq!(more, 0, "no number three times");
    assert!(
        twice <= uncertain,
        "{twice} duplicates but only {uncertain} were in flight: {c}"
    );
    assert!(
        uncertain <= 16,
        "at most the in-flight requests are uncertain: {c}"
    );
    assert_eq!(c["progress"]["recipients"], n);
    assert_eq!(c["progress"]["failed"], 0, "{c}");
    println!("killed after {at_kill} of {n}; uncertain {uncertain}, sent twice {twice}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_wait_in_the_contacts_own_time_zone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kannel, admin) = setup(dir.path(), free_port(), 20).await;
    // Quiet hours around the current UTC hour: a contact in UTC waits, one at UTC+12 does not,
    // one without a time zone follows the site's (the test document's: Europe/London, UTC+0/+1).
    let hour = (common::now_ms() / 3_600_000) % 24;
    let quiet = json!({"from": format!("{:02}:00", (hour + 23) % 24), "to": format!("{:02}:00", (hour + 2) % 24)});
    admin
        .ok(
            "PUT",
            "/contacts",
            json!([
                {"id": "here", "phone": "+447400100701", "timezone": "UTC"},
                {"id": "far", "phone": "+447400100702", "timezone": "Etc/GMT-12"},
                {"id": "site", "phone": "+447400100703"}
            ]),
        )
        .await;
    admin
        .ok(
            "POST",
            "/sms/campaigns",
            json!({"id": "quiet", "title": "Quiet", "message": "Not at night",
            "inbox": "uk", "scheduled_at": null, "quiet_hours": quiet}),
        )
        .await;
    let c = admin
        .wait_for("quiet", Duration::from_secs(10), |c| {
            c["progress"]["sent"].as_u64().unwrap_or(0)
                + c["progress"]["delivered"].as_u64().unwrap_or(0)
                == 1
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c2 = admin.campaign("quiet").await;
    assert_eq!(c2["status"], "sending", "{c2}");
    assert_eq!(c2["progress"]["quiet_hours_waiting"], 2, "{c2}");
    assert_eq!(c2["progress"]["queued"], 2, "{c2}");
    let got = kannel.wait_received(1, Duration::from_secs(5));
    let to: Vec<&str> = got.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["+447400100702"], "{c}");
    admin
        .ok("POST", "/sms/campaigns/quiet/cancel", Value::Null)
        .await;
    let c = admin.campaign("quiet").await;
    assert_eq!(
        (c["status"].as_str(), c["progress"]["cancelled"].as_u64()),
        (Some("cancelled"), Some(2)),
        "{c}"
    );
}
