//! `GET /openapi.json` (SPEC §6): an OpenAPI 3.1 description of every route, generated from the
//! handlers' `#[utoipa::path]` attributes and the types in [`schemas`] and [`params`].
//!
//! The error responses every route can give (401/403 on admin routes, 413/415/422 where a body
//! is read, 503 when storage fails, …) are added here once, by [`Errors`], from the same rules
//! the layers apply, instead of on each handler. `tests/openapi.rs` fails when the router serves
//! a route this document does not describe.

pub mod params;
pub mod schemas;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, SecurityRequirement};
use utoipa::{Modify, OpenApi};

use crate::{admin, conversations, keys, offsite, public, sms, statics};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "engage",
        description = "Proactive engagement: campaign documents, bundles, live availability, \
            events and reports; SMS campaigns, replies as conversations and their hand-off. \
            Admin routes take `Authorization: Bearer <key>`; a key's role and sites decide what \
            it may do (403 otherwise). Every error is `{\"error\": {code, message, details}}`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        public::bundle,
        public::availability,
        public::availability_stream,
        public::events,
        statics::tag_js,
        statics::pkg,
        offsite::open,
        offsite::qr,
        crate::healthz,
        crate::metrics_text,
        serve,
        admin::put_document,
        admin::get_document,
        admin::create_campaign,
        admin::replace_campaign,
        admin::delete_campaign,
        admin::patch_campaign,
        admin::get_versions,
        admin::get_campaign_versions,
        admin::activate,
        admin::activate_campaign_version,
        admin::put_availability,
        admin::simulate,
        admin::report,
        sms::contacts::put_contacts,
        sms::contacts::list_contacts,
        sms::contacts::tags,
        sms::contacts::get_contact,
        sms::contacts::delete_contact,
        sms::inboxes::list,
        sms::inboxes::put,
        sms::inboxes::get_one,
        sms::inboxes::delete,
        sms::inboxes::opt_outs,
        sms::campaigns::create,
        sms::campaigns::list,
        sms::campaigns::get_one,
        sms::campaigns::patch,
        sms::campaigns::delete,
        sms::campaigns::cancel,
        sms::campaigns::stream,
        sms::campaigns::preview,
        sms::campaigns::audience,
        sms::webhooks::status,
        sms::webhooks::inbound,
        conversations::list,
        conversations::deliveries,
        conversations::broadcasts,
        keys::create,
        keys::list,
        keys::revoke,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::Detail)),
    modifiers(&Errors),
    tags(
        (name = "public", description = "What the tag reads and sends (CORS open)."),
        (name = "campaigns", description = "Campaign documents, versions, simulation, reports."),
        (name = "availability", description = "The agent system's feed."),
        (name = "sms", description = "Contacts, inboxes, SMS campaigns and provider webhooks."),
        (name = "conversations", description = "Conversations and their hand-off."),
        (name = "keys", description = "Access keys (role `admin`)."),
        (name = "operations", description = "Health, metrics and this document."),
    )
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

fn document_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| serde_json::to_vec_pretty(document()).unwrap_or_default())
}

/// The OpenAPI 3.1 description of this server.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document.", content_type = "application/json")))]
pub async fn serve() -> Response {
    let mut res = document_bytes().into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// The statuses the layers give, by the kind of route.
struct Errors;

const ERRORS: &[(&str, &str)] = &[
    ("400", "The request cannot be read: a bad id in the path, a bad query, a body that is not JSON (or the declared CSV)."),
    ("401", "No key, or a key that is unknown or revoked."),
    ("403", "The key's role or sites do not cover this request."),
    ("404", "No such site, document or object."),
    ("409", "The object's state does not allow the change."),
    ("413", "The body is larger than this route takes."),
    ("415", "The body's content type is not one this route reads."),
    ("422", "A well-formed body that breaks a rule: every problem, each at its path."),
    ("429", "Too many requests or streams from this address; see Retry-After."),
    ("503", "Storage cannot take the change right now; nothing was half written. See Retry-After."),
];

impl Modify for Errors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let comps = api.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The owner key (`ENGAGE_ADMIN_TOKEN`) or an access key from \
                         `POST /admin/v1/keys`.",
                    ))
                    .build(),
            ),
        );
        comps.add_security_scheme(
            "inbox_secret",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "secret",
                "The inbox's webhook secret, as in the URLs `GET .../sms/inboxes/{inbox}` gives \
                 (Twilio's requests are checked by their signature instead).",
            ))),
        );
        for (code, text) in ERRORS {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build();
            comps.responses.insert(
                format!("E{code}"),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*text)
                        .content("application/json", content)
                        .build(),
                ),
            );
        }
        for (path, item) in api.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                add_errors(path, method, op);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("HEAD", item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// Which error statuses a route can answer, from the layers it sits behind.
fn add_errors(path: &str, method: &str, op: &mut Operation) {
    let admin = path.starts_with("/admin/");
    let webhook = path.starts_with("/v1/sms/");
    let site_api = path.starts_with("/v1/sites/") || path.starts_with("/o/");
    let body = op.request_body.is_some();
    let mut codes: Vec<&str> = Vec::new();
    if admin || webhook || site_api {
        codes.extend(["400", "404", "503"]);
    }
    if admin || webhook {
        codes.extend(["401", "403"]);
    }
    if admin && method != "GET" {
        codes.push("409");
    }
    if body {
        codes.extend(["413", "415", "422"]);
    }
    if path.ends_with("/events") || path.ends_with("/stream") {
        codes.push("429");
    }
    for code in codes {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(format!("E{code}"))));
    }
    if admin {
        op.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    } else if webhook {
        op.security = Some(vec![SecurityRequirement::new(
            "inbox_secret",
            Vec::<String>::new(),
        )]);
    }
}
