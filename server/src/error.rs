//! JSON errors: every API error is `{"error": {"code", "message", "details": [{path, message}]}}`
//! with a 4xx status (5xx only when storage itself fails).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One problem: where (`campaigns[0].engagements[1].refresh_seconds`; empty for the whole
/// body) and what, in words.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"path": "campaigns[0].priority", "message": "must be a number"}))]
pub struct Detail {
    pub path: String,
    pub message: String,
}

impl Detail {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Detail {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Vec<Detail>) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        details: Vec<Detail>,
    ) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(details)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// Storage or task failures: logged, answered with a generic 500.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// A path segment that is not a valid id.
    pub fn invalid_id(what: &str, value: &str) -> Self {
        let shown: String = value.chars().take(80).collect();
        Self::bad_request(
            "invalid_id",
            format!(
                "{what} \"{}\" is not a valid id ([a-z0-9][a-z0-9-_]{{0,63}})",
                shown.escape_default()
            ),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.message, self.code, self.status)?;
        for d in &self.details {
            write!(f, "; {}: {}", d.path, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        match crate::store::fault_kind(&e) {
            Some(kind) => {
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    format!(
                        "the change was not stored ({kind}); nothing was half written, and \
                         bundles and availability are still served: retry later"
                    ),
                );
                err.retry_after = Some(5);
                err
            }
            None => ApiError::internal(e),
        }
    }
}

/// Every error's body (SPEC §6).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error, example = json!({"error": {"code": "invalid_document",
    "message": "the document has 2 problems",
    "details": [{"path": "campaigns[0].priority", "message": "must be a number"}]}}))]
pub struct ErrorBody<'a> {
    #[schema(inline)]
    error: ErrorInner<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorInner<'a> {
    /// A stable code: `invalid_json`, `invalid_document`, `unauthorized`, `forbidden`, …
    code: &'a str,
    /// What is wrong, in words.
    message: &'a str,
    /// Every problem, each at its path (empty when the message says it all).
    details: &'a [Detail],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: &self.message,
                details: &self.details,
            },
        })
        .unwrap_or_default();
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// The request body, whatever its content type (sendBeacon sends `text/plain`), within the
/// route's `DefaultBodyLimit`; a body over the limit is a JSON 413.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            )),
            Err(e) => Err(ApiError::bad_request("invalid_body", e.body_text())),
        }
    }
}

/// Parses a JSON body: malformed JSON is a 400 `invalid_json`; well-formed JSON of the wrong shape
/// (unknown field, wrong type, missing field) is a 422 `invalid_request` naming the path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(e.into_inner(), path)
    })?;
    de.end().map_err(|e| json_error(e, String::new()))?;
    Ok(value)
}

fn json_error(e: serde_json::Error, path: String) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let path = if path == "." { String::new() } else { path };
            ApiError::unprocessable(
                "invalid_request",
                format!("the request body does not have the expected shape: {e}"),
                vec![Detail::new(path, e.to_string())],
            )
        }
        _ => ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        ),
    }
}

/// Admin request bodies are JSON (or CSV for contacts): a body declared as anything else
/// (`application/xml`, `multipart/form-data`, …) answers 415 before any handler reads it.
/// Accepted besides: no type, `text/plain`, and `application/x-www-form-urlencoded` (what
/// `curl -d` sends unless told otherwise); the handler then answers 400 if it is not JSON.
pub async fn admin_media_types(req: Request, next: axum::middleware::Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase());
    if let Some(t) = declared {
        let essence = t.split(';').next().unwrap_or("").trim();
        let ok = essence.is_empty()
            || essence == "application/json"
            || essence.ends_with("+json")
            || essence == "text/plain"
            || essence == "text/csv"
            || essence == "application/csv"
            || essence == "application/x-www-form-urlencoded";
        if !ok {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "request bodies are application/json (contacts also text/csv), not {essence}"
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Replaces bodiless error responses (405 from routing, 408 from the timeout layer, 404 from the
/// static file server …) with the JSON error shape.
pub async fn json_errors(req: Request, next: axum::middleware::Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if status.as_u16() < 400 || res.headers().contains_key(header::CONTENT_TYPE) {
        return res;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this path"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::RANGE_NOT_SATISFIABLE => ("range_not_satisfiable", "range not satisfiable"),
        s if s.is_client_error() => ("bad_request", "bad request"),
        _ => ("internal", "internal server error"),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (k, v) in res.headers() {
        if k != header::CONTENT_LENGTH && !out.headers().contains_key(k) {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
