//! Twilio Programmable Messaging: `POST {url}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded, HTTP Basic `AccountSid:AuthToken`. Twilio returns its message `sid`; our
//! reference travels in the `StatusCallback` URL (`msg=`) and comes back with each status.
//!
//! Webhooks (status callbacks and inbound messages) are authenticated by `X-Twilio-Signature`:
//! base64(HMAC-SHA1(AuthToken, URL + every POST parameter sorted by name, name then value)),
//! over the URL exactly as Twilio called it, so `--public-url` must be the URL Twilio calls.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use std::time::Duration;
use subtle::ConstantTimeEq;

use super::{
    known_keys, secret_field, url_field, Accepted, Inbound, Outgoing, SendError, SmsProvider,
    StatusReport, WebhookRequest, MASK,
};
use crate::error::Detail;

/// Twilio's error for a recipient who replied STOP.
pub const UNSUBSCRIBED: i64 = 21610;
/// An empty TwiML answer: nothing to send back.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

#[derive(Debug, Clone)]
pub struct Twilio {
    pub url: String,
    pub account_sid: String,
    pub auth_token: String,
}

fn field(section: &Value, name: &str, max: usize, p: &mut Vec<Detail>) -> String {
    super::field(section, "twilio", name, max, p)
}

/// `AC` and 32 hex digits.
fn is_account_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("AC") && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The signature Twilio puts in `X-Twilio-Signature` for a request to `url` with `params`.
pub fn signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL with and without its default port: Twilio's own validators accept either, since
/// what Twilio signs for `https://host/...` has varied.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    // The port follows the last ':' that is after any IPv6 literal.
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':').map(|i| i + host_end) {
        Some(i) => {
            let port = &authority[i + 1..];
            if port == default {
                out.push(format!("{scheme}://{}{tail}", &authority[..i]));
            }
        }
        None => out.push(format!("{scheme}://{authority}:{default}{tail}")),
    }
    out
}

/// What a Twilio `MessageStatus` means for the outbox.
pub fn report_status(status: &str) -> &'static str {
    match status {
        "delivered" => "delivered",
        "failed" | "undelivered" => "failed",
        _ => "accepted",
    }
}

impl Twilio {
    pub fn parse(section: &Value, previous: Option<&Value>) -> Result<Twilio, Vec<Detail>> {
        let mut p = Vec::new();
        known_keys(
            section,
            "twilio",
            &["url", "account_sid", "auth_token"],
            &mut p,
        );
        let url = url_field(section, "twilio", "url", &mut p);
        let account_sid = field(section, "account_sid", 64, &mut p);
        if !account_sid.is_empty() && !is_account_sid(&account_sid) {
            p.push(Detail::new(
                "twilio.account_sid",
                "a Twilio Account SID is AC followed by 32 hex digits",
            ));
        }
        let auth_token = secret_field(section, previous, "twilio", "auth_token", &mut p);
        if p.is_empty() {
            Ok(Twilio {
                url: url.trim_end_matches('/').to_owned(),
                account_sid,
                auth_token,
            })
        } else {
            Err(p)
        }
    }

    pub fn config(&self) -> Value {
        json!({"url": self.url, "account_sid": self.account_sid, "auth_token": self.auth_token})
    }

    pub fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.url, self.account_sid
        )
    }

    /// The form body for one message.
    pub fn form(msg: &Outgoing<'_>) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("To", msg.to)
            .append_pair("From", msg.from)
            .append_pair("Body", msg.text)
            .append_pair("StatusCallback", msg.status_url)
            .finish()
    }

    fn scrub(&self, s: &str) -> String {
        let s: String = s.trim().chars().take(300).collect();
        if self.auth_token.is_empty() {
            s
        } else {
            s.replace(&self.auth_token, MASK)
        }
    }

    /// Maps Twilio's answer: HTTP status and body.
    pub fn outcome(&self, http: u16, body: &str) -> Result<Accepted, SendError> {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if (200..300).contains(&http) {
            // Created: a body we cannot read does not make it unsent.
            let sid = v["sid"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            return Ok(Accepted { provider_ref: sid });
        }
        let code = v["code"].as_i64();
        let text = v["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_owned());
        let m = self.scrub(&match code {
            Some(c) => format!("twilio answered {http}, error {c}: {text}"),
            None => format!("twilio answered {http}: {text}"),
        });
        Err(match (http, code) {
            (_, Some(UNSUBSCRIBED)) => SendError::OptedOut(m),
            (429, _) | (_, Some(20429)) | (500..=599, _) => SendError::Transient(m),
            _ => SendError::Permanent(m),
        })
    }
}

impl SmsProvider for Twilio {
    async fn send(&self, http: &reqwest::Client, msg: Outgoing<'_>) -> Result<Accepted, SendError> {
        let res = http
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Self::form(&msg))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("twilio: {}", super::request_error(e))))?;
        let status = res.status().as_u16();
        let body = match res.text().await {
            Ok(b) => b,
            Err(e) if (200..300).contains(&status) => {
                tracing::warn!("twilio accepted a message but its answer was lost: {e}");
                String::new()
            }
            Err(e) => {
                return Err(SendError::Transient(format!(
                    "twilio answered {status}, then: {}",
                    super::request_error(e)
                )))
            }
        };
        self.outcome(status, &body)
    }

    fn masked(&self) -> Value {
        json!({"url": self.url, "account_sid": self.account_sid, "auth_token": MASK})
    }

    /// `X-Twilio-Signature` over the URL as called and every form parameter; the inbox secret
    /// alone is not enough. Bodies Twilio signs by hash (`bodySHA256`, JSON) are refused.
    fn authenticate(&self, req: &WebhookRequest<'_>) -> bool {
        let Some(given) = req
            .headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if req.json.is_some() || req.query.contains_key("bodySHA256") {
            return false;
        }
        let mut ok = subtle::Choice::from(0);
        for url in url_variants(req.url) {
            ok |= signature(&self.auth_token, &url, req.form)
                .as_bytes()
                .ct_eq(given.trim().as_bytes());
        }
        bool::from(ok)
    }

    /// A status callback: `MessageStatus`, `ErrorCode`, and our reference in `msg=`.
    fn status_reports(&self, req: &WebhookRequest<'_>) -> Result<Vec<StatusReport>, String> {
        let reference = req.query.get("msg").ok_or("msg is required")?;
        let status = req
            .param("MessageStatus")
            .or_else(|| req.param("SmsStatus"))
            .ok_or("MessageStatus is required")?;
        let mut detail = format!("twilio {status}");
        if let Some(code) = req.param("ErrorCode").filter(|c| !c.is_empty()) {
            detail.push_str(&format!(" error {code}"));
        }
        if let Some(sid) = req.param("MessageSid") {
            detail.push_str(&format!(" ({sid})"));
        }
        Ok(vec![StatusReport {
            reference: reference.clone(),
            status: report_status(status),
            detail: detail.chars().take(300).collect(),
        }])
    }

    /// `From`, `To`, `Body`.
    fn inbound(&self, req: &WebhookRequest<'_>) -> Result<Inbound, String> {
        let from = req
            .param("From")
            .filter(|f| !f.trim().is_empty())
            .ok_or("From is required")?;
        Ok(Inbound {
            from: from.to_owned(),
            to: req.param("To").map(str::to_owned),
            text: req.param("Body").unwrap_or_default().to_owned(),
            reference: None,
        })
    }

    fn inbound_answer(&self) -> (&'static str, &'static str) {
        ("text/xml", EMPTY_TWIML)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};
    use std::collections::HashMap;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn vector_params() -> Vec<(String, String)> {
        // Deliberately out of order: the signature sorts them.
        pairs(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+12349013030"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
        ])
    }

    #[test]
    fn twilio_published_signature_vector() {
        assert_eq!(
            signature("12345", VECTOR_URL, &vector_params()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    fn twilio() -> Twilio {
        Twilio {
            url: "https://api.twilio.com".into(),
            account_sid: format!("AC{}", "0".repeat(32)),
            auth_token: "12345".into(),
        }
    }

    fn check(url: &str, form: &[(String, String)], sig: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(s) = sig {
            headers.insert("x-twilio-signature", HeaderValue::from_str(s).unwrap());
        }
        let query = HashMap::new();
        let req = WebhookRequest {
            url,
            headers: &headers,
            query: &query,
            form,
            json: None,
            secret_ok: true,
        };
        SmsProvider::authenticate(&twilio(), &req)
    }

    #[test]
    fn authenticate_needs_the_exact_signature() {
        let form = vector_params();
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(check(VECTOR_URL, &form, Some(good)));
        // The default port written out is the same URL to Twilio's validators.
        assert!(check(
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &form,
            Some(good)
        ));
        // The secret is not enough; any change to URL, parameters or signature fails.
        assert!(!check(VECTOR_URL, &form, None));
        assert!(!check(
            VECTOR_URL,
            &form,
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ")
        ));
        assert!(!check(
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &form,
            Some(good)
        ));
        assert!(!check(
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &form,
            Some(good)
        ));
        let mut more = form.clone();
        more.push(("Body".into(), "STOP".into()));
        assert!(!check(VECTOR_URL, &more, Some(good)));
        let mut changed = form.clone();
        changed[0].1 = "+18005551213".into();
        assert!(!check(VECTOR_URL, &changed, Some(good)));
    }

    #[test]
    fn url_variants_add_or_drop_the_default_port() {
        assert_eq!(
            url_variants("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_variants("https://a.example:443/x"),
            ["https://a.example:443/x", "https://a.example/x"]
        );
        assert_eq!(url_variants("http://[::1]:8080/x"), ["http://[::1]:8080/x"]);
        assert_eq!(
            url_variants("http://[::1]/x"),
            ["http://[::1]/x", "http://[::1]:80/x"]
        );
    }

    #[test]
    fn answers_map_to_outcomes() {
        let t = twilio();
        let ok = t.outcome(
            201,
            r#"{"sid": "SM123", "status": "queued", "num_segments": "1"}"#,
        );
        assert_eq!(ok.unwrap().provider_ref.as_deref(), Some("SM123"));
        let r = t.outcome(
            400,
            r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}"#,
        );
        assert!(
            matches!(&r, Err(SendError::OptedOut(m)) if m.contains("unsubscribed")),
            "{r:?}"
        );
        let r = t.outcome(
            400,
            r#"{"code": 21211, "message": "The 'To' number 123 is not a valid phone number.", "status": 400}"#,
        );
        assert!(
            matches!(&r, Err(SendError::Permanent(m)) if m.contains("21211") && m.contains("not a valid phone number")),
            "{r:?}"
        );
        let r = t.outcome(
            401,
            r#"{"code": 20003, "message": "Authenticate", "status": 401}"#,
        );
        assert!(matches!(r, Err(SendError::Permanent(_))), "{r:?}");
        for (http, body) in [
            (429, r#"{"code": 20429, "message": "Too Many Requests"}"#),
            (503, "Service Unavailable"),
            (500, ""),
        ] {
            let r = t.outcome(http, body);
            assert!(matches!(r, Err(SendError::Transient(_))), "{http}: {r:?}");
        }
        let e = t
            .outcome(400, r#"{"code": 1, "message": "token 12345"}"#)
            .unwrap_err();
        assert!(!e.to_string().contains("12345"), "{e}");
    }

    #[test]
    fn parse_checks_the_sid_and_keeps_a_masked_token() {
        let e = Twilio::parse(
            &json!({"url": "https://api.twilio.com", "account_sid": "SK1"}),
            None,
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["twilio.account_sid", "twilio.auth_token"], "{e:?}");
        let sid = format!("AC{}", "a1".repeat(16));
        let stored =
            json!({"url": "https://api.twilio.com", "account_sid": sid, "auth_token": "tok"});
        let t = Twilio::parse(
            &json!({"url": "https://api.twilio.com/", "account_sid": sid, "auth_token": MASK}),
            Some(&stored),
        )
        .unwrap();
        assert_eq!(t.auth_token, "tok");
        assert_eq!(
            t.messages_url(),
            format!("https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json")
        );
        assert_eq!(t.masked()["auth_token"], MASK);
    }
}
