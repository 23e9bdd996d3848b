//! Kannel, the open-source SMS gateway: its smsbox `sendsms` HTTP interface. Kannel returns no
//! message id, so our outbox row id travels in the `dlr-url` and comes back with each delivery
//! report (`type` is Kannel's `%d`: 1 delivered, 2 failed, 4 buffered, 8 SMSC ack, 16 SMSC reject).

use serde_json::{json, Value};
use std::time::Duration;

use super::{
    field, known_keys, secret_field, url_field, Accepted, Inbound, Outgoing, SendError,
    SmsProvider, StatusReport, WebhookRequest, MASK,
};
use crate::error::Detail;

#[derive(Debug, Clone)]
pub struct Kannel {
    pub url: String,
    pub username: String,
    pub password: String,
}

/// What a Kannel delivery report's `type` means for the outbox.
pub fn dlr_status(kind: u32) -> &'static str {
    match kind {
        1 => "delivered",
        2 | 16 => "failed",
        4 => "buffered",
        8 => "accepted",
        _ => "unknown",
    }
}

impl Kannel {
    pub fn parse(section: &Value, previous: Option<&Value>) -> Result<Kannel, Vec<Detail>> {
        let mut p = Vec::new();
        known_keys(section, "kannel", &["url", "username", "password"], &mut p);
        let url = url_field(section, "kannel", "url", &mut p);
        let username = field(section, "kannel", "username", 256, &mut p);
        let password = secret_field(section, previous, "kannel", "password", &mut p);
        if p.is_empty() {
            Ok(Kannel {
                url,
                username,
                password,
            })
        } else {
            Err(p)
        }
    }

    pub fn config(&self) -> Value {
        json!({"url": self.url, "username": self.username, "password": self.password})
    }
}

impl SmsProvider for Kannel {
    async fn send(&self, http: &reqwest::Client, msg: Outgoing<'_>) -> Result<Accepted, SendError> {
        let coding = match engage_engine::sms::segments(msg.text).encoding {
            engage_engine::sms::Encoding::Gsm7 => "0",
            engage_engine::sms::Encoding::Ucs2 => "2",
        };
        let req = http
            .get(&self.url)
            .query(&[
                ("username", self.username.as_str()),
                ("password", self.password.as_str()),
                ("from", msg.from),
                ("to", msg.to),
                ("text", msg.text),
                ("charset", "UTF-8"),
                ("coding", coding),
                ("dlr-mask", "31"),
                ("dlr-url", msg.status_url),
            ])
            .timeout(Duration::from_secs(15));
        let res = req
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("kannel: {}", without_url(e))))?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(200).collect();
        // 202 "0: Accepted for delivery" or "3: Queued for later delivery".
        if status.is_success() {
            return Ok(Accepted { provider_ref: None });
        }
        let msg = format!("kannel answered {}: {body}", status.as_u16());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SendError::Transient(msg))
        } else {
            Err(SendError::Permanent(msg))
        }
    }

    fn masked(&self) -> Value {
        json!({"url": self.url, "username": self.username, "password": MASK})
    }

    /// `%d` is Kannel's delivery-report type, filled in by smsbox.
    fn status_url(&self, inbox_url: &str, secret: &str, reference: &str) -> String {
        format!("{inbox_url}/status?secret={secret}&msg={reference}&type=%d")
    }

    /// Kannel's `dlr-url` as we set it: `msg` (our reference) and `type` (`%d`).
    fn status_reports(&self, req: &WebhookRequest<'_>) -> Result<Vec<StatusReport>, String> {
        let kind: u32 = req
            .param("type")
            .and_then(|t| t.parse().ok())
            .ok_or("type is required: a Kannel delivery report type (%d)")?;
        let reference = req.param("msg").ok_or("msg is required")?;
        Ok(vec![StatusReport {
            reference: reference.to_owned(),
            status: dlr_status(kind),
            detail: format!("kannel type {kind}"),
        }])
    }

    /// smsbox's `get-url` as the inbox shows it: `from` (`%p`), `to` (`%P`), `text` (`%a`).
    fn inbound(&self, req: &WebhookRequest<'_>) -> Result<Inbound, String> {
        let from = req
            .param("from")
            .filter(|f| !f.trim().is_empty())
            .ok_or("from is required")?;
        Ok(Inbound {
            from: from.to_owned(),
            to: req.param("to").map(str::to_owned),
            text: req.param("text").unwrap_or_default().to_owned(),
            reference: None,
        })
    }
}

/// reqwest errors print the URL, which carries the password: keep only the kind.
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind} ({})", e.without_url())
}
