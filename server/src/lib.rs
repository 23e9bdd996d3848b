//! engage's server (SPEC §6): stores and compiles campaign documents (SQLite), serves the
//! active bundle and live availability from memory, ingests runtime events, answers reports,
//! simulations and offsite links. Every decision is the engine's.

pub mod admin;
pub mod auth;
pub mod conversations;
pub mod encoded;
pub mod error;
pub mod fanout;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod offsite;
pub mod openapi;
pub mod public;
pub mod publish;
pub mod ratelimit;
pub mod report;
pub mod report_outbound;
pub mod serve;
pub mod sms;
pub mod state;
pub mod statics;
pub mod store;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use state::{AppState, Config};

/// The whole HTTP surface; `main` serves it, tests drive it directly.
pub fn app(state: AppState) -> Router {
    let cfg = &state.config;
    let www = ServeDir::new(&cfg.www).append_index_html_on_directories(true);
    let pkg = ServeDir::new(&cfg.www)
        .precompressed_br()
        .precompressed_gzip();

    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH])
        .expose_headers([
            header::ETAG,
            header::HeaderName::from_static("x-engage-version"),
        ])
        .max_age(Duration::from_secs(86_400));

    let public = Router::new()
        .route("/v1/sites/{site}/bundle", get(public::bundle))
        .route("/v1/sites/{site}/availability", get(public::availability))
        .route(
            "/v1/sites/{site}/availability/stream",
            get(public::availability_stream),
        )
        .route(
            "/v1/sites/{site}/events",
            post(public::events).layer(DefaultBodyLimit::max(public::MAX_EVENTS_BYTES)),
        )
        .route("/tag.js", get(statics::tag_js))
        .route("/openapi.json", get(openapi::serve))
        .route_service(
            "/pkg/{*path}",
            tower::ServiceBuilder::new()
                .layer(from_fn(statics::pkg_cache))
                .service(pkg),
        )
        .layer(cors);

    let admin = Router::new()
        .route(
            "/admin/v1/sites/{site}/campaigns",
            put(admin::put_document).get(admin::get_document),
        )
        .route(
            "/admin/v1/sites/{site}/campaigns/{campaign}",
            post(admin::create_campaign)
                .put(admin::replace_campaign)
                .delete(admin::delete_campaign)
                .patch(admin::patch_campaign),
        )
        // SPEC §6 writes `GET .../versions` after `.../campaigns`: both spellings are served.
        .route("/admin/v1/sites/{site}/versions", get(admin::get_versions))
        .route(
            "/admin/v1/sites/{site}/campaigns/versions",
            get(admin::get_campaign_versions),
        )
        .route(
            "/admin/v1/sites/{site}/campaigns/versions/{version}/activate",
            post(admin::activate_campaign_version),
        )
        .route(
            "/admin/v1/sites/{site}/versions/{version}/activate",
            post(admin::activate),
        )
        .route(
            "/admin/v1/sites/{site}/availability/{skill}",
            put(admin::put_availability),
        )
        .route("/admin/v1/sites/{site}/simulate", post(admin::simulate))
        .route("/admin/v1/sites/{site}/report", get(admin::report))
        .merge(sms::admin_routes())
        .route(
            "/admin/v1/sites/{site}/conversations",
            get(conversations::list),
        )
        .route(
            "/admin/v1/sites/{site}/handoffs",
            get(conversations::deliveries),
        )
        .route(
            "/admin/v1/sites/{site}/outbound/broadcasts",
            post(conversations::broadcasts),
        )
        .route(
            "/admin/v1/keys",
            post(keys::create)
                .get(keys::list)
                .layer(DefaultBodyLimit::max(keys::MAX_BODY_BYTES)),
        )
        .route("/admin/v1/keys/{id}", delete(keys::revoke))
        .route_layer(from_fn(error::admin_media_types))
        .route_layer(from_fn_with_state(state.clone(), auth::authorize))
        .layer(DefaultBodyLimit::max(cfg.max_document_bytes));

    let files = Router::new()
        .route("/", get(|| async { Redirect::to("/demo/") }))
        .route("/demo", get(|| async { Redirect::permanent("/demo/") }))
        .route_service("/demo/", www.clone())
        .route_service("/demo/{*path}", www.clone())
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route_service("/admin/", www.clone())
        .route_service("/admin/{*path}", www)
        .layer(from_fn(statics::no_cache));

    Router::new()
        .merge(public)
        .merge(sms::public_routes())
        .merge(admin)
        .merge(files)
        .route("/o/{site}/{engagement}", get(offsite::open))
        .route("/o/{site}/{engagement}/qr.svg", get(offsite::qr))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(CompressionLayer::new().gzip(true).br(true))
        // A body that trickles in is cut off (slow-body clients hold a connection otherwise).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            cfg.body_timeout,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        .layer(from_fn(error::json_errors))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "`ok`, or `degraded` with the reason while writes fail.",
            body = openapi::schemas::Health),
        (status = 503, description = "The database cannot be read.", body = openapi::schemas::Health),
    ))]
/// `GET /healthz`: `ok` (200) when the database answers and takes writes; `degraded` (200, with
/// the reason) while writes fail but bundles and availability are served from memory;
/// `unavailable` (503) when the database cannot even be read.
async fn healthz(State(st): State<AppState>) -> Response {
    let store = st.store.clone();
    let readable = publish::run_blocking(move || Ok(store.ping()?))
        .await
        .is_ok();
    let (status, body) = match (readable, st.store.fault()) {
        (false, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "unavailable"}),
        ),
        (true, Some(reason)) => (
            StatusCode::OK,
            serde_json::json!({"status": "degraded", "reason": reason}),
        ),
        (true, None) => (StatusCode::OK, serde_json::json!({"status": "ok"})),
    };
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format.", content_type = "text/plain", body = String)))]
/// `GET /metrics`: Prometheus text format.
async fn metrics_text(State(st): State<AppState>) -> Response {
    let mut res = st.metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
