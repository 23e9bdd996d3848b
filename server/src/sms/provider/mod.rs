//! SMS providers behind one small trait: each speaks its real wire format. Kannel (the
//! open-source gateway), CM.com and Twilio, each a variant of [`Provider`] with its own config
//! section.

pub mod cm;
pub mod kannel;
pub mod twilio;

use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;

use crate::error::Detail;

/// A webhook request as a provider adapter sees it.
pub struct WebhookRequest<'a> {
    /// The full public URL the provider called, query string included (Twilio signs it).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    /// Query parameters.
    pub query: &'a HashMap<String, String>,
    /// Form parameters of an `application/x-www-form-urlencoded` body, in order.
    pub form: &'a [(String, String)],
    /// A JSON body, when there is one.
    pub json: Option<&'a Value>,
    /// Whether the request carried the inbox's webhook secret (`secret=` or `X-Engage-Secret`).
    pub secret_ok: bool,
}

impl WebhookRequest<'_> {
    /// A parameter from the form body, else the query string.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.query.get(name).map(String::as_str))
    }
}

/// One delivery report: our reference (the outbox row id, or `r…` for a one-off reply) and what
/// happened (`delivered`, `failed`, or a state that changes nothing such as `accepted`).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub reference: String,
    pub status: &'static str,
    pub detail: String,
}

/// One inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub from: String,
    pub to: Option<String>,
    pub text: String,
    /// The outgoing message this answers, when the provider says (CM's `reference`).
    pub reference: Option<String>,
}

/// One message to hand to a provider.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub from: &'a str,
    pub text: &'a str,
    /// Our own correlation key (the outbox row), echoed by delivery reports.
    pub reference: &'a str,
    /// Where delivery reports go (our status webhook, secret included).
    pub status_url: &'a str,
}

/// A provider accepted the message.
#[derive(Debug)]
pub struct Accepted {
    /// The provider's own message id, when it returns one.
    pub provider_ref: Option<String>,
}

#[derive(Debug)]
pub enum SendError {
    /// Worth another try later (network, timeout, 5xx, throttling).
    Transient(String),
    /// Will fail again (bad number, bad credentials, rejected content).
    Permanent(String),
    /// The provider says the number opted out with it.
    OptedOut(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Transient(m) | SendError::Permanent(m) | SendError::OptedOut(m) => {
                f.write_str(m)
            }
        }
    }
}

/// What every provider does.
pub trait SmsProvider {
    fn send(
        &self,
        http: &reqwest::Client,
        msg: Outgoing<'_>,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send;
    /// The config section with its secrets replaced, for GET answers.
    fn masked(&self) -> Value;
    /// The delivery-report URL handed over with one message. `inbox_url` is
    /// `{public}/v1/sms/{site}/{inbox}`; `reference` is ours (the outbox row).
    fn status_url(&self, inbox_url: &str, secret: &str, reference: &str) -> String {
        format!("{inbox_url}/status?secret={secret}&msg={reference}")
    }
    /// Whether a webhook request really comes from this provider for this inbox.
    fn authenticate(&self, req: &WebhookRequest<'_>) -> bool {
        req.secret_ok
    }
    /// The delivery reports in a status webhook request; `Err` names what is missing.
    fn status_reports(&self, req: &WebhookRequest<'_>) -> Result<Vec<StatusReport>, String>;
    /// The message in an inbound webhook request.
    fn inbound(&self, req: &WebhookRequest<'_>) -> Result<Inbound, String>;
    /// What an inbound webhook answers (content type, body).
    fn inbound_answer(&self) -> (&'static str, &'static str) {
        ("text/plain", "")
    }
}

/// An inbox's provider, parsed from its stored config.
#[derive(Debug, Clone)]
pub enum Provider {
    Kannel(kannel::Kannel),
    Cm(cm::Cm),
    Twilio(twilio::Twilio),
}

pub const PROVIDERS: [&str; 3] = ["kannel", "cm", "twilio"];
pub const MASK: &str = "********";

impl Provider {
    /// Parses the provider section named by `provider` (`kannel`, …), every problem by path.
    /// `previous` is the stored section: a masked secret sent back keeps the stored one.
    pub fn parse(
        provider: &str,
        section: Option<&Value>,
        previous: Option<&Value>,
    ) -> Result<Provider, Vec<Detail>> {
        let Some(section) = section else {
            return Err(vec![Detail::new(
                provider,
                format!("a \"{provider}\" section with the provider's settings is required"),
            )]);
        };
        match provider {
            "kannel" => kannel::Kannel::parse(section, previous).map(Provider::Kannel),
            "cm" => cm::Cm::parse(section, previous).map(Provider::Cm),
            "twilio" => twilio::Twilio::parse(section, previous).map(Provider::Twilio),
            other => Err(vec![Detail::new(
                "provider",
                format!(
                    "unknown provider \"{other}\": use one of {}",
                    PROVIDERS.join(", ")
                ),
            )]),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Provider::Kannel(_) => "kannel",
            Provider::Cm(_) => "cm",
            Provider::Twilio(_) => "twilio",
        }
    }

    pub fn config(&self) -> Value {
        match self {
            Provider::Kannel(k) => k.config(),
            Provider::Cm(c) => c.config(),
            Provider::Twilio(t) => t.config(),
        }
    }

    pub async fn send(
        &self,
        http: &reqwest::Client,
        msg: Outgoing<'_>,
    ) -> Result<Accepted, SendError> {
        match self {
            Provider::Kannel(k) => k.send(http, msg).await,
            Provider::Cm(c) => c.send(http, msg).await,
            Provider::Twilio(t) => t.send(http, msg).await,
        }
    }

    pub fn masked(&self) -> Value {
        match self {
            Provider::Kannel(k) => k.masked(),
            Provider::Cm(c) => c.masked(),
            Provider::Twilio(t) => t.masked(),
        }
    }

    pub fn status_url(&self, inbox_url: &str, secret: &str, reference: &str) -> String {
        match self {
            Provider::Kannel(k) => k.status_url(inbox_url, secret, reference),
            Provider::Cm(c) => c.status_url(inbox_url, secret, reference),
            Provider::Twilio(t) => t.status_url(inbox_url, secret, reference),
        }
    }

    /// The provider as the trait object its webhooks go through.
    pub fn webhooks(&self) -> &dyn Webhooks {
        match self {
            Provider::Kannel(k) => k,
            Provider::Cm(c) => c,
            Provider::Twilio(t) => t,
        }
    }
}

/// The webhook half of [`SmsProvider`], object-safe.
pub trait Webhooks {
    fn authenticate(&self, req: &WebhookRequest<'_>) -> bool;
    fn status_reports(&self, req: &WebhookRequest<'_>) -> Result<Vec<StatusReport>, String>;
    fn inbound(&self, req: &WebhookRequest<'_>) -> Result<Inbound, String>;
    fn inbound_answer(&self) -> (&'static str, &'static str);
}

impl<T: SmsProvider> Webhooks for T {
    fn authenticate(&self, req: &WebhookRequest<'_>) -> bool {
        SmsProvider::authenticate(self, req)
    }
    fn status_reports(&self, req: &WebhookRequest<'_>) -> Result<Vec<StatusReport>, String> {
        SmsProvider::status_reports(self, req)
    }
    fn inbound(&self, req: &WebhookRequest<'_>) -> Result<Inbound, String> {
        SmsProvider::inbound(self, req)
    }
    fn inbound_answer(&self) -> (&'static str, &'static str) {
        SmsProvider::inbound_answer(self)
    }
}

/// A string field of a provider section: required, bounded; problems at `path`.
pub(crate) fn field(
    section: &Value,
    prefix: &str,
    name: &str,
    max: usize,
    problems: &mut Vec<Detail>,
) -> String {
    let path = format!("{prefix}.{name}");
    match section.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= max => s.clone(),
        Some(Value::String(s)) if s.is_empty() => {
            problems.push(Detail::new(path, "must not be empty"));
            String::new()
        }
        Some(Value::String(_)) => {
            problems.push(Detail::new(path, format!("at most {max} characters")));
            String::new()
        }
        Some(_) => {
            problems.push(Detail::new(path, "must be a string"));
            String::new()
        }
        None => {
            problems.push(Detail::new(path, "is required"));
            String::new()
        }
    }
}

/// An http(s) URL field.
pub(crate) fn url_field(
    section: &Value,
    prefix: &str,
    name: &str,
    problems: &mut Vec<Detail>,
) -> String {
    let url = field(section, prefix, name, 2048, problems);
    if !url.is_empty() {
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => problems.push(Detail::new(
                format!("{prefix}.{name}"),
                format!("\"{url}\" is not an http(s) URL"),
            )),
        }
    }
    url
}

/// A secret field: the masked placeholder keeps the previously stored value.
pub(crate) fn secret_field(
    section: &Value,
    previous: Option<&Value>,
    prefix: &str,
    name: &str,
    problems: &mut Vec<Detail>,
) -> String {
    if section.get(name).and_then(Value::as_str) == Some(MASK) {
        if let Some(old) = previous.and_then(|p| p.get(name)).and_then(Value::as_str) {
            return old.to_owned();
        }
        problems.push(Detail::new(
            format!("{prefix}.{name}"),
            "the masked value can only stand for a secret that is already stored",
        ));
        return String::new();
    }
    field(section, prefix, name, 512, problems)
}

/// Unknown keys of a section are errors (typos must not silently disable a setting).
pub(crate) fn known_keys(section: &Value, prefix: &str, keys: &[&str], problems: &mut Vec<Detail>) {
    match section.as_object() {
        Some(map) => {
            for k in map.keys() {
                if !keys.contains(&k.as_str()) {
                    problems.push(Detail::new(
                        format!("{prefix}.{k}"),
                        format!("unknown field: expected one of {}", keys.join(", ")),
                    ));
                }
            }
        }
        None => problems.push(Detail::new(prefix, "must be an object")),
    }
}

/// A failed provider request in words, without its URL (which may carry credentials).
pub(crate) fn request_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind} ({})", e.without_url())
}
