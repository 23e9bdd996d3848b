//! SMS providers behind one small trait: each speaks its real wire format. Kannel today; CM.com
//! and Twilio slot in as further variants of [`Provider`] with their own config section.

pub mod kannel;

use serde_json::Value;
use std::future::Future;

use crate::error::Detail;

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
}

/// An inbox's provider, parsed from its stored config.
#[derive(Debug, Clone)]
pub enum Provider {
    Kannel(kannel::Kannel),
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
            "cm" | "twilio" => Err(vec![Detail::new(
                "provider",
                format!("the {provider} adapter is not available in this version: use \"kannel\""),
            )]),
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
        }
    }

    pub fn config(&self) -> Value {
        match self {
            Provider::Kannel(k) => k.config(),
        }
    }

    pub async fn send(
        &self,
        http: &reqwest::Client,
        msg: Outgoing<'_>,
    ) -> Result<Accepted, SendError> {
        match self {
            Provider::Kannel(k) => k.send(http, msg).await,
        }
    }

    pub fn masked(&self) -> Value {
        match self {
            Provider::Kannel(k) => k.masked(),
        }
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
