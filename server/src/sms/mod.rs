//! SMS campaigns (SPEC §10): contacts, inboxes on a provider, scheduled one-off broadcasts with
//! opt-out, quiet hours and a rate limit, delivery reports and replies.
//!
//! The rules (segments, placeholders, keywords, audiences, quiet hours) are the engine's
//! (`engage_engine::sms`, `schedule::quiet_hours_end`); this module does the I/O: HTTP handlers,
//! the sender task and provider requests. SQL lives in `store::sms`.

pub mod campaigns;
pub mod contacts;
pub mod inboxes;
pub mod phone;
pub mod provider;
pub mod sender;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::error::{ApiError, Detail};
use crate::AppState;

pub use sender::Sms;

/// Largest contacts upload (100,000 rows of a few hundred bytes).
pub const MAX_CONTACTS_BYTES: usize = 64 << 20;
/// Largest webhook body (a delivery report or an inbound message).
pub const MAX_WEBHOOK_BYTES: usize = 64 << 10;

/// Admin routes under `/admin/v1/sites/{site}` (the caller adds the auth layer).
pub fn admin_routes() -> Router<AppState> {
    let base = "/admin/v1/sites/{site}";
    Router::new()
        .route(
            &format!("{base}/contacts"),
            put(contacts::put_contacts)
                .get(contacts::list_contacts)
                .layer(DefaultBodyLimit::max(MAX_CONTACTS_BYTES)),
        )
        .route(&format!("{base}/contacts/tags"), get(contacts::tags))
        .route(
            &format!("{base}/contacts/{{contact}}"),
            get(contacts::get_contact).delete(contacts::delete_contact),
        )
        .route(&format!("{base}/sms/inboxes"), get(inboxes::list))
        .route(
            &format!("{base}/sms/inboxes/{{inbox}}"),
            put(inboxes::put)
                .get(inboxes::get_one)
                .delete(inboxes::delete),
        )
        .route(
            &format!("{base}/sms/campaigns"),
            post(campaigns::create).get(campaigns::list),
        )
        .route(
            &format!("{base}/sms/campaigns/{{id}}"),
            get(campaigns::get_one)
                .patch(campaigns::patch)
                .delete(campaigns::delete),
        )
        .route(
            &format!("{base}/sms/campaigns/{{id}}/cancel"),
            post(campaigns::cancel),
        )
        .route(
            &format!("{base}/sms/campaigns/{{id}}/stream"),
            get(campaigns::stream),
        )
        .route(&format!("{base}/sms/preview"), post(campaigns::preview))
        .route(&format!("{base}/sms/audience"), post(campaigns::audience))
        .route(&format!("{base}/sms/opt-outs"), get(inboxes::opt_outs))
}

/// Public webhook routes, authenticated by each inbox's secret.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/sms/{site}/{inbox}/status",
            get(webhooks::status).post(webhooks::status),
        )
        .route(
            "/v1/sms/{site}/{inbox}/inbound",
            get(webhooks::inbound).post(webhooks::inbound),
        )
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
}

/// What the active campaign document says about a site that SMS needs.
pub struct SiteFacts {
    pub timezone: Tz,
    pub default_country: Option<String>,
    /// Engagement ids of the active document.
    pub engagements: Vec<String>,
}

pub fn site_facts(st: &AppState, site: &str) -> SiteFacts {
    let doc = st
        .sites
        .get(site)
        .and_then(|s| s.active())
        .map(|a| a.document.clone());
    match doc {
        Some(d) => SiteFacts {
            timezone: d.timezone.parse().unwrap_or(Tz::UTC),
            default_country: d.settings.default_country.clone(),
            engagements: d
                .campaigns
                .iter()
                .flat_map(|c| c.engagements.iter().map(|e| e.id.clone()))
                .collect(),
        },
        None => SiteFacts {
            timezone: Tz::UTC,
            default_country: None,
            engagements: Vec::new(),
        },
    }
}

/// The base of URLs handed to providers and admins: `--public-url`, else this server's address.
pub fn base_url(st: &AppState) -> String {
    st.config
        .public_url
        .clone()
        .or_else(|| st.config.listen_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into())
        .trim_end_matches('/')
        .to_owned()
}

/// Collects every problem of a JSON object, by path.
pub struct Fields<'a> {
    pub obj: &'a Map<String, Value>,
    pub prefix: String,
    pub problems: &'a mut Vec<Detail>,
}

impl<'a> Fields<'a> {
    pub fn new(
        value: &'a Value,
        prefix: &str,
        problems: &'a mut Vec<Detail>,
    ) -> Option<Fields<'a>> {
        match value.as_object() {
            Some(obj) => Some(Fields {
                obj,
                prefix: prefix.to_owned(),
                problems,
            }),
            None => {
                problems.push(Detail::new(prefix, "must be a JSON object"));
                None
            }
        }
    }

    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        let path = self.path(name);
        self.problems.push(Detail::new(path, message));
    }

    /// Unknown keys are errors.
    pub fn only(&mut self, keys: &[&str]) {
        let unknown: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !keys.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            self.error(
                &k,
                format!("unknown field: expected one of {}", keys.join(", ")),
            );
        }
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// A string of 1..=max characters without control characters.
    pub fn string(&mut self, name: &str, required: bool, max: usize) -> Option<String> {
        match self.get(name) {
            None if required => {
                self.error(name, "is required");
                None
            }
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.error(name, "must not be empty");
                None
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                self.error(name, format!("at most {max} characters"));
                None
            }
            Some(Value::String(s)) if s.chars().any(|c| c.is_control() && c != '\n') => {
                self.error(name, "must not contain control characters");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    pub fn id(&mut self, name: &str) -> Option<String> {
        let s = self.string(name, true, 64)?;
        if crate::ids::is_id(&s) {
            Some(s)
        } else {
            self.error(
                name,
                format!("\"{s}\" is not a valid id ([a-z0-9][a-z0-9-_]{{0,63}})"),
            );
            None
        }
    }
}

/// Parses a JSON body into a value: a body that is not JSON is a 400.
pub fn json_value(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// 422 with every problem, or Ok.
pub fn problems(problems: Vec<Detail>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "validation_failed",
            format!("the request has {} problem(s)", problems.len()),
            problems,
        ))
    }
}
