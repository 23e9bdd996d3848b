//! CM.com Business Messaging: `POST {url}` with a JSON body that carries the product token
//! (`messages.authentication.producttoken`). CM returns no message id: our `reference` (the
//! outbox row id) is the correlation key, echoed in status reports and in replies (MO).
//!
//! Status reports and inbound messages are JSON posts configured in CM's portal, to the inbox's
//! webhook URLs; CM has no signature scheme, so they are authenticated by the inbox's secret.

use serde_json::{json, Value};
use std::time::Duration;

use super::{
    known_keys, secret_field, url_field, Accepted, Inbound, Outgoing, SendError, SmsProvider,
    StatusReport, WebhookRequest, MASK,
};
use crate::error::Detail;

/// CM's most parts for one message; our campaigns are at most 10 segments.
const MAX_PARTS: u32 = engage_engine::sms::MAX_SEGMENTS;

#[derive(Debug, Clone)]
pub struct Cm {
    pub url: String,
    pub product_token: String,
}

/// A product token is a GUID: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What a CM status report's `status.code` means for the outbox. CM documents the names
/// (Accepted, Sent, Delivered, Failed, Rejected, Cancelled); the numbers 0 accepted,
/// 1 rejected, 2 delivered, 3 failed are accepted too.
pub fn report_status(code: &str) -> &'static str {
    match code.trim().to_ascii_lowercase().as_str() {
        "2" | "delivered" => "delivered",
        "1" | "3" | "failed" | "rejected" | "cancelled" | "canceled" => "failed",
        "0" | "accepted" | "sent" => "accepted",
        _ => "unknown",
    }
}

/// A JSON string or number as text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Cm {
    pub fn parse(section: &Value, previous: Option<&Value>) -> Result<Cm, Vec<Detail>> {
        let mut p = Vec::new();
        known_keys(section, "cm", &["url", "product_token"], &mut p);
        let url = url_field(section, "cm", "url", &mut p);
        let product_token = secret_field(section, previous, "cm", "product_token", &mut p);
        if !product_token.is_empty() && !is_guid(&product_token) {
            p.push(Detail::new(
                "cm.product_token",
                "a CM product token is a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            ));
        }
        if p.is_empty() {
            Ok(Cm { url, product_token })
        } else {
            Err(p)
        }
    }

    pub fn config(&self) -> Value {
        json!({"url": self.url, "product_token": self.product_token})
    }

    /// The request body for one message.
    pub fn body(&self, msg: &Outgoing<'_>) -> Value {
        json!({"messages": {
            "authentication": {"producttoken": self.product_token},
            "msg": [{
                "allowedChannels": ["SMS"],
                "from": msg.from,
                "to": [{"number": msg.to}],
                "body": {"type": "AUTO", "content": msg.text},
                "reference": msg.reference,
                "minimumNumberOfMessageParts": 1,
                "maximumNumberOfMessageParts": MAX_PARTS,
            }]
        }})
    }

    /// Text from CM (or from reqwest) with the product token taken out, should it be echoed.
    fn scrub(&self, s: &str) -> String {
        let s: String = s.trim().chars().take(300).collect();
        if self.product_token.is_empty() {
            s
        } else {
            s.replace(&self.product_token, MASK)
        }
    }

    /// Maps CM's answer: HTTP status and body.
    pub fn outcome(&self, http: u16, body: &str) -> Result<Accepted, SendError> {
        let v: Option<Value> = serde_json::from_str(body).ok();
        let Some(v) = v.filter(|v| v.get("errorCode").is_some()) else {
            let m = format!("cm answered {http}: {}", self.scrub(body));
            return Err(match http {
                429 | 500..=599 => SendError::Transient(m),
                // A 2xx we cannot read may have been sent: do not send it twice.
                _ => SendError::Permanent(m),
            });
        };
        let code = v["errorCode"].as_i64().unwrap_or(-1);
        let first = v["messages"].get(0);
        let status = first.and_then(|m| m["status"].as_str()).unwrap_or("");
        let msg_code = first
            .and_then(|m| m["messageErrorCode"].as_i64())
            .unwrap_or(0);
        let details = [
            first.and_then(|m| m["messageDetails"].as_str()),
            v["details"].as_str(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
        let m = |what: &str| {
            let code = if msg_code != 0 { msg_code } else { code };
            self.scrub(&format!(
                "cm answered {http}, {what} (error {code}): {details}"
            ))
        };
        if (200..300).contains(&http) && code == 0 && status.eq_ignore_ascii_case("accepted") {
            return Ok(Accepted { provider_ref: None });
        }
        if code == 402 || msg_code == 402 {
            return Err(SendError::OptedOut(m("blacklisted")));
        }
        if matches!(code, 500 | 999) || http == 429 || http >= 500 {
            return Err(SendError::Transient(m("gateway error")));
        }
        if status.eq_ignore_ascii_case("rejected") {
            return Err(SendError::Permanent(m("rejected")));
        }
        Err(SendError::Permanent(match code {
            101 | 103 => m("authentication failed"),
            102 => m("balance insufficient"),
            201..=399 => m("not sent"),
            401 | 403 => m("refused"),
            // errorCode 0 without "Accepted", or a code CM does not document.
            _ => m("not accepted"),
        }))
    }
}

impl SmsProvider for Cm {
    async fn send(&self, http: &reqwest::Client, msg: Outgoing<'_>) -> Result<Accepted, SendError> {
        let body = self.body(&msg).to_string();
        let res = http
            .post(&self.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("accept", "application/json")
            .body(body)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("cm: {}", super::request_error(e))))?;
        let status = res.status().as_u16();
        let body = match res.text().await {
            Ok(b) => b,
            // CM took the request and its answer was lost: after a 2xx it may have been sent.
            Err(e) => {
                let m = format!("cm answered {status}, then: {}", super::request_error(e));
                return Err(if (200..300).contains(&status) {
                    SendError::Permanent(m)
                } else {
                    SendError::Transient(m)
                });
            }
        };
        self.outcome(status, &body)
    }

    fn masked(&self) -> Value {
        json!({"url": self.url, "product_token": MASK})
    }

    /// `{"messages": {"msg": {...}}}`, `msg` an object or an array of them.
    fn status_reports(&self, req: &WebhookRequest<'_>) -> Result<Vec<StatusReport>, String> {
        let v = req
            .json
            .ok_or("a CM status report is a JSON body (choose JSON in CM's webhook settings)")?;
        let msgs = match &v["messages"]["msg"] {
            Value::Array(a) => a.iter().collect::<Vec<_>>(),
            o @ Value::Object(_) => vec![o],
            _ => return Err("messages.msg is required".into()),
        };
        let mut out = Vec::with_capacity(msgs.len());
        for (i, m) in msgs.into_iter().enumerate() {
            let reference = text(m.get("reference"))
                .filter(|r| !r.is_empty())
                .ok_or_else(|| format!("messages.msg[{i}].reference is required"))?;
            let st = &m["status"];
            let code = text(st.get("code"))
                .ok_or_else(|| format!("messages.msg[{i}].status.code is required"))?;
            let mut detail = format!("cm {code}");
            for k in ["errorCode", "errorDescription"] {
                if let Some(t) = text(st.get(k)).filter(|t| !t.is_empty()) {
                    detail.push_str(&format!(" {t}"));
                }
            }
            out.push(StatusReport {
                reference,
                status: report_status(&code),
                detail: detail.chars().take(300).collect(),
            });
        }
        Ok(out)
    }

    /// `from.number`, `to.number`, `message.text`, `reference` (the MT this answers).
    fn inbound(&self, req: &WebhookRequest<'_>) -> Result<Inbound, String> {
        let v = req.json.ok_or("a CM inbound message is a JSON body")?;
        let from = text(v["from"].get("number"))
            .filter(|f| !f.trim().is_empty())
            .ok_or("from.number is required")?;
        Ok(Inbound {
            from,
            to: text(v["to"].get("number")),
            text: text(v["message"].get("text")).unwrap_or_default(),
            reference: text(v.get("reference")).filter(|r| !r.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

    fn cm() -> Cm {
        Cm {
            url: "https://gw.messaging.cm.com/v1.0/message".into(),
            product_token: TOKEN.into(),
        }
    }

    fn answer(status: &str, code: i64, msg_code: i64, details: &str) -> String {
        json!({"messages": [{"to": "0044740012345", "parts": 1, "status": status,
            "reference": "7", "messageErrorCode": msg_code, "messageDetails": details}],
            "details": "Created 1 message(s)", "errorCode": code})
        .to_string()
    }

    #[test]
    fn parse_checks_every_field_and_keeps_a_masked_token() {
        let e = Cm::parse(
            &json!({"url": "ftp://x", "product_token": "abc", "x": 1}),
            None,
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["cm.x", "cm.url", "cm.product_token"], "{e:?}");
        let stored = json!({"url": "https://a", "product_token": TOKEN});
        let c = Cm::parse(
            &json!({"url": "https://b", "product_token": MASK}),
            Some(&stored),
        )
        .unwrap();
        assert_eq!(
            (c.url.as_str(), c.product_token.as_str()),
            ("https://b", TOKEN)
        );
        assert_eq!(c.masked()["product_token"], MASK);
        assert!(!c.masked().to_string().contains(TOKEN));
    }

    #[test]
    fn answers_map_to_outcomes() {
        let c = cm();
        assert!(c.outcome(200, &answer("Accepted", 0, 0, "")).is_ok());
        let r = c.outcome(
            200,
            &answer("Rejected", 0, 304, "A body without content was found"),
        );
        assert!(
            matches!(&r, Err(SendError::Permanent(m)) if m.contains("A body without content")),
            "{r:?}"
        );
        for (http, code) in [(400, 101), (400, 103), (400, 202), (400, 303), (200, 201)] {
            let r = c.outcome(http, &answer("Rejected", code, 0, ""));
            assert!(matches!(r, Err(SendError::Permanent(_))), "{code}: {r:?}");
        }
        let r = c.outcome(400, &answer("Rejected", 402, 0, "blacklisted"));
        assert!(matches!(r, Err(SendError::OptedOut(_))), "{r:?}");
        for (http, code) in [(500, 500), (200, 999), (503, 7)] {
            let r = c.outcome(http, &answer("Rejected", code, 0, ""));
            assert!(matches!(r, Err(SendError::Transient(_))), "{code}: {r:?}");
        }
        assert!(matches!(
            c.outcome(502, "<html>bad gateway</html>"),
            Err(SendError::Transient(_))
        ));
        assert!(matches!(c.outcome(200, "OK"), Err(SendError::Permanent(_))));
        // errorCode 0 but not Accepted is not a success.
        assert!(c.outcome(200, &answer("Queued", 0, 0, "")).is_err());
    }

    #[test]
    fn errors_never_carry_the_token() {
        let c = cm();
        let echoed = json!({"errorCode": 101, "details": format!("No account found for the given authentication {TOKEN}"), "messages": []});
        let e = c.outcome(401, &echoed.to_string()).unwrap_err().to_string();
        assert!(!e.contains(TOKEN) && e.contains(MASK), "{e}");
        let e = c
            .outcome(500, &format!("token {TOKEN}"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains(TOKEN), "{e}");
    }

    #[test]
    fn status_codes_by_name_and_number() {
        for (code, want) in [
            ("Delivered", "delivered"),
            ("2", "delivered"),
            ("Failed", "failed"),
            ("Rejected", "failed"),
            ("1", "failed"),
            ("3", "failed"),
            ("Accepted", "accepted"),
            ("Sent", "accepted"),
            ("0", "accepted"),
            ("9", "unknown"),
        ] {
            assert_eq!(report_status(code), want, "{code}");
        }
    }
}
