//! The demo's SMS side: a real Kannel (bearerbox + smsbox + fakesmsc, the same harness the
//! server's tests use), a Kannel-backed inbox, a few tagged contacts, one campaign that went out
//! at start-up and one scheduled a minute ahead, so a newcomer watches Scheduled → Sending →
//! Completed in the console. Both name the outbound engagement `sms-replies` (SPEC §11), so a
//! reply (the agent inbox page injects one through this Kannel) starts a conversation linked to
//! it. Everything goes through the public admin API.

#[path = "../../server/tests/common/kannel.rs"]
pub mod kannel;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SITE: &str = "acme";
pub const FROM: &str = "+447400123000";
/// The scheduled demo campaign goes out this long after the demo starts.
pub const SCHEDULE_AHEAD: Duration = Duration::from_secs(60);

/// One admin request; returns the status code and the JSON answer (Null when not JSON).
pub fn call(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> std::io::Result<(u16, Value)> {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let l = line.to_ascii_lowercase();
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw)?;
    let text = if chunked { dechunk(&raw) } else { raw };
    Ok((code, serde_json::from_slice(&text).unwrap_or(Value::Null)))
}

fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..pos])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        rest = &rest[pos + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

fn ok(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    match call(addr, token, method, path, body) {
        Ok((s, v)) if (200..300).contains(&s) => Ok(v),
        Ok((s, v)) => Err(format!("{method} {path} answered {s}: {v}")),
        Err(e) => Err(format!("{method} {path}: {e}")),
    }
}

fn rfc3339_in(ahead: Duration) -> String {
    let t = SystemTime::now() + ahead;
    rfc3339(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// Milliseconds since the epoch as RFC 3339 UTC (with `.mmm` when there are any).
pub fn rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = if milli > 0 {
        format!(".{milli:03}")
    } else {
        String::new()
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Starts Kannel and seeds the SMS demo; the returned Kannel lives as long as the demo.
pub fn seed(addr: SocketAddr, token: &str) -> Result<kannel::Kannel, String> {
    let base = format!("/admin/v1/sites/{SITE}");
    let inbox = |url: &str, user: &str, pass: &str| {
        json!({"name": "Acme UK (demo Kannel)", "provider": "kannel", "from": FROM,
               "rate_per_second": 2, "help_text": "Acme: reply STOP to opt out. Help: 0113 496 0000",
               "kannel": {"url": url, "username": user, "password": pass}})
    };
    let first = ok(
        addr,
        token,
        "PUT",
        &format!("{base}/sms/inboxes/uk"),
        &inbox("http://127.0.0.1:9/", "demo", "demo"),
    )?;
    let inbound = first["webhooks"]["inbound"]
        .as_str()
        .ok_or("the inbox answer has no inbound webhook URL")?
        .to_owned();
    let k = kannel::Kannel::start(&inbound)?;
    ok(
        addr,
        token,
        "PUT",
        &format!("{base}/sms/inboxes/uk"),
        &inbox(&k.sendsms_url(), k.username(), k.password()),
    )?;
    let contacts = json!([
        {"id": "ana", "phone": "07400 100001", "name": "Ana", "tags": ["vip", "newsletter"], "attributes": {"city": "Leeds"}},
        {"id": "ben", "phone": "07400 100002", "name": "Ben", "tags": ["vip"], "attributes": {"city": "York"}},
        {"id": "cara", "phone": "07400 100003", "name": "Cara", "tags": ["newsletter"], "attributes": {"city": "Leeds"}},
        {"id": "dev", "phone": "07400 100004", "name": "Dev", "tags": ["vip", "churned"], "attributes": {"city": "Hull"}},
        {"id": "eli", "phone": "07400 100005", "name": "Eli", "tags": ["vip"], "timezone": "America/New_York"},
        {"id": "fran", "phone": "+33 6 12 34 56 78", "name": "Fran", "tags": ["vip", "newsletter"], "timezone": "Europe/Paris"},
        {"id": "ana-work", "phone": "+447400100001", "name": "Ana (work)", "tags": ["vip"]}
    ]);
    ok(addr, token, "PUT", &format!("{base}/contacts"), &contacts)?;
    // Idempotent across demo restarts on the same data: an existing id answers 409.
    let campaigns = [
        json!({"id": "welcome", "title": "Welcome to the newsletter",
               "message": "Hi {{name | there}}, thanks for joining Acme news. Reply STOP to opt out.",
               "inbox": "uk", "audience": {"tags": {"any": ["newsletter"]}}, "scheduled_at": null,
               "engagement": crate::demo::SMS_ENGAGEMENT}),
        json!({"id": "winter-sale", "title": "Winter sale",
               "message": "Hi {{name}}, our winter sale starts now: 20% off everything until Sunday. Reply STOP to opt out.",
               "inbox": "uk", "audience": {"tags": {"any": ["vip"], "none": ["churned"]}},
               "scheduled_at": rfc3339_in(SCHEDULE_AHEAD), "quiet_hours": {"from": "21:00", "to": "08:00"},
               "engagement": crate::demo::SMS_ENGAGEMENT}),
    ];
    for c in campaigns {
        match call(addr, token, "POST", &format!("{base}/sms/campaigns"), &c) {
            Ok((201 | 409, _)) => {}
            Ok((s, v)) => return Err(format!("creating SMS campaign {}: {s} {v}", c["id"])),
            Err(e) => return Err(format!("creating SMS campaign {}: {e}", c["id"])),
        }
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_796_205_600_123),
            "2026-12-02T10:00:00.123Z"
        );
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
