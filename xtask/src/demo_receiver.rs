//! The demo's stand-in for a contact centre's agent system (SPEC §11): a small HTTP/1.1 server
//! (std only, one thread per connection) on the demo's listen port + 1.
//!
//! - `POST /hook`: engage's hand-off webhook. The body's `X-Engage-Signature`
//!   (`sha256=<hex HMAC-SHA256 of the body>`, key: the document's
//!   `settings.conversation_webhook.secret`) is checked; a wrong one is answered 401 (engage retries
//!   it) and listed as rejected, a valid `conversation.started` or `conversation.message` is kept
//!   in memory and answered 200. A delivery seen before (a retry) is answered 200 and not kept twice.
//! - `GET /conversations`: what arrived, a JSON array, latest activity first; each with
//!   `signature_valid`, `received_at`, `updated_at`, the follow-up `messages`.
//! - `POST /inject` `{"from": "+447400100001", "text": "..."}`: a customer's SMS reply, sent into
//!   the demo's Kannel (`inject_mo`) to the demo inbox's number, which delivers it to engage's
//!   inbound webhook like any phone's reply.
//!
//! CORS is open (the inbox page is served by engage, on another port). Bodies, headers, the number
//! of connections and what is kept are bounded; bad input gets a 4xx, never a panic.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::demo_sms::{self, kannel::Kannel};

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 256 * 1024;
const MAX_CONNECTIONS: usize = 64;
/// Conversations kept (the oldest go first), follow-up messages kept per conversation, and
/// rejected deliveries kept.
const MAX_CONVERSATIONS: usize = 500;
const MAX_MESSAGES: usize = 200;
const MAX_REJECTED: usize = 50;
/// Delivery ids remembered per conversation (to recognise retries).
const MAX_DELIVERIES: usize = 400;
const MAX_SMS_CHARS: usize = 320;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The running receiver; its threads live as long as the demo.
pub struct Receiver {
    /// Where it listens (the inbox page's `?receiver=` when not the listen port + 1).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    secret: String,
    inbox: Mutex<Inbox>,
    /// The demo's Kannel once it runs (the demo owns it; dropping it stops Kannel).
    kannel: Mutex<Weak<Kannel>>,
    /// engage's address and admin token, to look up why an SMS conversation has no engagement
    /// (the hand-off body does not say; the admin API's `unlinked` does).
    engage: Mutex<Option<(SocketAddr, String)>>,
    connections: AtomicUsize,
}

#[derive(Default)]
struct Inbox {
    conversations: Vec<Entry>,
    rejected: Vec<Entry>,
    /// A counter ordering entries by their latest activity.
    tick: u64,
}

struct Entry {
    id: String,
    signature_valid: bool,
    received_at: String,
    updated_at: String,
    tick: u64,
    /// The `conversation.started` body (for a rejected delivery: whatever JSON it carried).
    started: Option<Value>,
    messages: Vec<Value>,
    deliveries: Vec<String>,
    /// Why a delivery was rejected.
    error: Option<String>,
    event: String,
}

impl Entry {
    fn json(&self) -> Value {
        let mut v = match &self.started {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            // Later messages of a conversation whose start came before this receiver ran.
            _ => match self.messages.first() {
                Some(m) if self.signature_valid => json!({"channel": "sms", "phone": m["phone"]}),
                _ => json!({}),
            },
        };
        v["id"] = json!(self.id);
        v["event"] = json!(self.event);
        v["signature_valid"] = json!(self.signature_valid);
        v["received_at"] = json!(self.received_at);
        v["updated_at"] = json!(self.updated_at);
        v["messages"] = Value::from(self.messages.clone());
        v["deliveries"] = json!(self.deliveries.len());
        // A follow-up whose start this receiver never saw (it was not running then).
        v["started_here"] = json!(self.started.is_some());
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }
}

impl Receiver {
    /// Binds `addr` (port 0: any free port) and serves it in the background.
    pub fn start(addr: SocketAddr, secret: &str) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secret: secret.to_owned(),
            inbox: Mutex::new(Inbox::default()),
            kannel: Mutex::new(Weak::new()),
            engage: Mutex::new(None),
            connections: AtomicUsize::new(0),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("demo-receiver".into())
            .spawn(move || accept_loop(&listener, &s))?;
        Ok(Receiver { addr, shared })
    }

    /// Makes `POST /inject` reach this Kannel (held weakly: the demo owns it).
    pub fn set_kannel(&self, k: &Arc<Kannel>) {
        *lock(&self.shared.kannel) = Arc::downgrade(k);
    }

    /// engage's admin API, for the reason an SMS conversation has no engagement.
    pub fn set_engage(&self, addr: SocketAddr, token: &str) {
        *lock(&self.shared.engage) = Some((addr, token.to_owned()));
    }
}

/// Why conversation `id` of `site` has no engagement (`timeframe`, `disabled`, `no_broadcast`,
/// `no_engagement`), from engage's admin API (`GET …/conversations`).
fn unlinked_reason(shared: &Shared, site: &str, id: &str) -> Option<String> {
    let (addr, token) = lock(&shared.engage).clone()?;
    let site_ok = !site.is_empty()
        && site.len() <= 64
        && site
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !site_ok {
        return None;
    }
    let path = format!("/admin/v1/sites/{site}/conversations?channel=sms&limit=100");
    let (status, v) = demo_sms::call(addr, &token, "GET", &path, &Value::Null).ok()?;
    if status != 200 {
        return None;
    }
    v["conversations"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)?["unlinked"]
        .as_str()
        .map(str::to_owned)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            // EMFILE and friends: give the system a moment rather than spin.
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            let _ = respond(&mut stream, 503, &json!({"error": "too many connections"}));
            continue;
        }
        let s = shared.clone();
        let spawned = thread::Builder::new()
            .name("demo-receiver-conn".into())
            .spawn(move || {
                serve(stream, &s);
                s.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP status and a JSON body.
type Answer = (u16, Value);

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let (status, body) = match read_request(&mut stream) {
        Ok(req) => route(&req, shared),
        Err(answer) => answer,
    };
    let _ = respond(&mut stream, status, &body);
}

fn error(status: u16, message: impl Into<String>) -> Answer {
    (status, json!({"error": message.into()}))
}

fn read_request(stream: &mut TcpStream) -> Result<Request, Answer> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(error(431, "request head too large"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(error(400, "connection closed before the end of the head")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(error(408, format!("reading the request: {e}"))),
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| error(400, "head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target)) = (first.next(), first.next()) else {
        return Err(error(400, "no request line"));
    };
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut req = Request {
        method: method.to_owned(),
        path,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| !v.eq_ignore_ascii_case("identity"))
    {
        return Err(error(411, "send a Content-Length body"));
    }
    let length = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| error(400, "bad Content-Length"))?,
    };
    if length > MAX_BODY {
        return Err(error(413, format!("bodies are at most {MAX_BODY} bytes")));
    }
    let mut body = buf.split_off(head_end + 4);
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(error(400, "connection closed before the end of the body")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(error(408, format!("reading the body: {e}"))),
        }
    }
    body.truncate(length);
    req.body = body;
    Ok(req)
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let text = if status == 204 {
        String::new()
    } else {
        body.to_string()
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         Access-Control-Allow-Origin: *\r\n\
         Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n\
         Access-Control-Allow-Headers: content-type\r\n\
         Access-Control-Allow-Private-Network: true\r\n\
         Access-Control-Max-Age: 600\r\n\
         Connection: close\r\n\r\n",
        text.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

fn route(req: &Request, shared: &Shared) -> Answer {
    match (req.method.as_str(), req.path.as_str()) {
        ("OPTIONS", _) => (204, Value::Null),
        ("POST", "/hook") => hook(req, shared),
        ("GET", "/conversations") => (200, conversations(shared)),
        ("POST", "/inject") => inject(req, shared),
        ("GET", "/") => (
            200,
            json!({"service": "engage demo agent receiver",
                   "routes": ["POST /hook", "GET /conversations", "POST /inject"]}),
        ),
        (_, "/hook" | "/conversations" | "/inject" | "/") => error(405, "method not allowed"),
        _ => error(404, "no such route"),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether `header` is `sha256=<hex HMAC-SHA256 of body under secret>` (compared in constant time).
pub fn signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(given) = hex_decode(hex) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 == 1 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn hook(req: &Request, shared: &Shared) -> Answer {
    let now = demo_sms::rfc3339(now_ms());
    let event = req.header("x-engage-event").unwrap_or("").to_owned();
    let delivery = req.header("x-engage-delivery").unwrap_or("").to_owned();
    let body: Option<Value> = serde_json::from_slice(&req.body).ok();
    let mut inbox = lock(&shared.inbox);
    inbox.tick += 1;
    let tick = inbox.tick;
    if !signature_ok(&shared.secret, &req.body, req.header("x-engage-signature")) {
        let why = match req.header("x-engage-signature") {
            None => "no X-Engage-Signature header",
            Some(_) => "X-Engage-Signature does not match the body under the shared secret",
        };
        let id = body
            .as_ref()
            .and_then(|b| b["id"].as_str())
            .unwrap_or("")
            .chars()
            .take(64)
            .collect();
        let claimed = body.filter(|b| b.is_object() && req.body.len() <= 16 * 1024);
        inbox.rejected.push(Entry {
            id,
            signature_valid: false,
            received_at: now.clone(),
            updated_at: now,
            tick,
            started: claimed,
            messages: Vec::new(),
            deliveries: vec![delivery],
            error: Some(why.to_owned()),
            event: event.chars().take(64).collect(),
        });
        let excess = inbox.rejected.len().saturating_sub(MAX_REJECTED);
        inbox.rejected.drain(..excess);
        return error(401, why);
    }
    let Some(body) = body.filter(Value::is_object) else {
        return error(400, "the body is not a JSON object");
    };
    let Some(id) = body["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
    else {
        return error(422, "the body has no conversation id");
    };
    let event = body["event"].as_str().map_or(event, str::to_owned);
    let mut body = body;
    if event == "conversation.started"
        && body["channel"] == "sms"
        && body["engagement"].is_null()
        && body.get("unlinked").is_none()
    {
        // Not under the inbox lock: engage answers while its hand-off worker waits for us.
        drop(inbox);
        let site = body["site"].as_str().unwrap_or("").to_owned();
        if let Some(why) = unlinked_reason(shared, &site, &id) {
            body["unlinked"] = json!(why);
            body["unlinked_via"] = json!("admin API");
        }
        inbox = lock(&shared.inbox);
    }
    let existing = inbox.conversations.iter().position(|e| e.id == id);
    if let Some(i) = existing {
        let e = &mut inbox.conversations[i];
        if !delivery.is_empty() && e.deliveries.contains(&delivery) {
            return (200, json!({"ok": true, "duplicate": true}));
        }
        e.deliveries.push(delivery);
        let excess = e.deliveries.len().saturating_sub(MAX_DELIVERIES);
        e.deliveries.drain(..excess);
        match event.as_str() {
            // A retried start (say its 200 got lost): the first copy stays.
            "conversation.started" if e.started.is_some() => {}
            "conversation.started" => e.started = Some(body),
            _ => {
                e.messages.push(message(&body, &now));
                let excess = e.messages.len().saturating_sub(MAX_MESSAGES);
                e.messages.drain(..excess);
            }
        }
        e.updated_at = now;
        e.tick = tick;
        return (200, json!({"ok": true}));
    }
    let started = event == "conversation.started";
    let entry = Entry {
        id,
        signature_valid: true,
        received_at: now.clone(),
        updated_at: now.clone(),
        tick,
        messages: if started {
            Vec::new()
        } else {
            vec![message(&body, &now)]
        },
        started: started.then_some(body),
        deliveries: vec![delivery],
        error: None,
        event,
    };
    inbox.conversations.push(entry);
    if inbox.conversations.len() > MAX_CONVERSATIONS {
        // The one with the oldest activity goes.
        if let Some(oldest) =
            (0..inbox.conversations.len()).min_by_key(|&i| inbox.conversations[i].tick)
        {
            inbox.conversations.remove(oldest);
        }
    }
    (200, json!({"ok": true}))
}

/// A follow-up message as the page shows it.
fn message(body: &Value, received_at: &str) -> Value {
    json!({
        "text": body["text"].as_str().unwrap_or(""),
        "at": body["at"].as_str().unwrap_or(received_at),
        "phone": body["phone"],
    })
}

fn conversations(shared: &Shared) -> Value {
    let inbox = lock(&shared.inbox);
    let mut all: Vec<&Entry> = inbox
        .conversations
        .iter()
        .chain(inbox.rejected.iter())
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.tick));
    Value::from(all.into_iter().map(Entry::json).collect::<Vec<_>>())
}

/// `+` and 7 to 15 digits, spaces, dashes, dots and brackets dropped.
fn e164(raw: &str) -> Option<String> {
    let s: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = s.strip_prefix('+')?;
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then_some(s)
}

fn inject(req: &Request, shared: &Shared) -> Answer {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(
            400,
            "send JSON: {\"from\": \"+447400100001\", \"text\": \"...\"}",
        );
    };
    let mut problems = Vec::new();
    let from = match body["from"].as_str().map(e164) {
        Some(Some(n)) => Some(n),
        _ => {
            problems.push("from: an international number, e.g. +447400100001");
            None
        }
    };
    let text = body["text"].as_str().unwrap_or("").trim().to_owned();
    if text.is_empty() {
        problems.push("text: write the customer's message");
    } else if text.chars().count() > MAX_SMS_CHARS {
        problems.push("text: at most 320 characters");
    } else if text.chars().any(|c| c.is_control() && c != '\n') {
        problems.push("text: no control characters");
    }
    let Some(from) = from.filter(|_| problems.is_empty()) else {
        return (
            422,
            json!({"error": problems.join("; "), "problems": problems}),
        );
    };
    let Some(kannel) = lock(&shared.kannel).upgrade() else {
        return error(
            503,
            "the demo's Kannel is not running (see the output of cargo xtask demo)",
        );
    };
    match kannel.inject_mo(&from, demo_sms::FROM, &text) {
        Ok(()) => (
            202,
            json!({"ok": true, "from": from, "to": demo_sms::FROM, "text": text}),
        ),
        Err(e) => {
            println!("demo receiver: injecting an SMS from {from} failed: {e}");
            error(
                502,
                "Kannel did not take the message (see the demo's output)",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        // RFC 4231 test case 2.
        let sig = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let body = b"what do ya want for nothing?";
        assert!(signature_ok("Jefe", body, Some(sig)));
        assert!(!signature_ok("Jefe", b"something else", Some(sig)));
        assert!(!signature_ok("other", body, Some(sig)));
        assert!(!signature_ok("Jefe", body, None));
        assert!(!signature_ok("Jefe", body, Some("sha256=zz")));
        assert!(!signature_ok("Jefe", body, Some("md5=00")));
        assert!(!signature_ok("Jefe", body, Some("sha256=é1")));
    }

    #[test]
    fn numbers() {
        assert_eq!(e164("+44 7400 100001").as_deref(), Some("+447400100001"));
        assert_eq!(e164("07400 100001"), None);
        assert_eq!(e164("+12"), None);
        assert_eq!(e164("+44abc4567890"), None);
    }

    fn request(raw: &[u8]) -> (u16, Value) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let raw = raw.to_vec();
        let client = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            let _ = s.write_all(&raw);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        let (mut stream, _) = listener.accept().expect("accept");
        let answer = match read_request(&mut stream) {
            Ok(req) => (req.method.clone() + " " + &req.path, req.body.len()),
            Err((status, _)) => (format!("{status}"), 0),
        };
        drop(stream);
        let _ = client.join();
        match answer.0.parse::<u16>() {
            Ok(status) => (status, Value::Null),
            Err(_) => (0, json!({"line": answer.0, "body": answer.1})),
        }
    }

    #[test]
    fn bad_requests_are_answered_not_panicked_on() {
        assert_eq!(request(b"garbage\r\n\r\n").0, 400);
        assert_eq!(
            request(b"POST /hook HTTP/1.1\r\nContent-Length: x\r\n\r\n").0,
            400
        );
        assert_eq!(
            request(b"POST /hook HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n").0,
            413
        );
        assert_eq!(
            request(b"POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").0,
            411
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(request(&big).0, 431);
        let ok = request(b"POST /inject?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(ok.1, json!({"line": "POST /inject", "body": 2}));
    }

    #[test]
    fn hook_keeps_signed_conversations_once_and_rejects_the_rest() {
        let shared = Shared {
            secret: "demo-secret-0123456789".into(),
            inbox: Mutex::new(Inbox::default()),
            kannel: Mutex::new(Weak::new()),
            engage: Mutex::new(None),
            connections: AtomicUsize::new(0),
        };
        let post = |body: &str, sig: Option<String>, delivery: &str| {
            let mut headers = vec![("X-Engage-Delivery".to_owned(), delivery.to_owned())];
            if let Some(s) = sig {
                headers.push(("X-Engage-Signature".to_owned(), s));
            }
            let req = Request {
                method: "POST".into(),
                path: "/hook".into(),
                headers,
                body: body.as_bytes().to_vec(),
            };
            route(&req, &shared).0
        };
        let sign = |body: &str| {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(b"demo-secret-0123456789").expect("any key");
            mac.update(body.as_bytes());
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha256={hex}")
        };
        let started = r#"{"event":"conversation.started","id":"cv_1","channel":"sms","phone":"+447400100001","engagement":"sms-replies"}"#;
        assert_eq!(post(started, Some(sign(started)), "1"), 200);
        assert_eq!(post(started, Some(sign(started)), "1"), 200, "a retry");
        assert_eq!(post(started, Some(sign("other")), "2"), 401);
        assert_eq!(post(started, None, "3"), 401);
        let msg = r#"{"event":"conversation.message","id":"cv_1","text":"Thanks","at":"2026-12-02T10:00:00Z"}"#;
        assert_eq!(post(msg, Some(sign(msg)), "4"), 200);
        assert_eq!(post("[1]", Some(sign("[1]")), "5"), 400);
        let list = conversations(&shared);
        let list = list.as_array().expect("an array");
        let valid: Vec<&Value> = list
            .iter()
            .filter(|c| c["signature_valid"] == true)
            .collect();
        assert_eq!(valid.len(), 1, "{list:?}");
        assert_eq!(valid[0]["engagement"], "sms-replies");
        assert_eq!(valid[0]["messages"][0]["text"], "Thanks");
        assert_eq!(list.len(), 3, "two rejected deliveries listed: {list:?}");
        assert_eq!(list[0]["id"], "cv_1", "latest activity first: {list:?}");
    }
}
