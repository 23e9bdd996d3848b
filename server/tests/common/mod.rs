//! Shared test helpers: an app over a temp data dir, requests through the router (`oneshot`)
//! or over a real socket, a sample document.
#![allow(dead_code)]

pub mod kannel;
pub mod postgres;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use engage_server::{app, auth, AppState, Config};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

pub const TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub dir: tempfile::TempDir,
    pub clock: Arc<AtomicI64>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and the `{"error": {"code", "message", "details"}}` shape.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {}: {}",
            self.status,
            self.text()
        );
        let v = self.json();
        let e = &v["error"];
        assert_eq!(e["code"], code, "{v}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        let details = e["details"]
            .as_array()
            .unwrap_or_else(|| panic!("details: {v}"));
        for d in details {
            assert!(d["path"].is_string() && d["message"].is_string(), "{v}");
        }
        assert_eq!(self.header("content-type"), Some("application/json"), "{v}");
        v
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        self
    }
}

/// A `www` root with a tag, a manifest, a "wasm" file and the demo and admin pages.
pub fn make_www(root: &Path) {
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::create_dir_all(root.join("demo")).unwrap();
    std::fs::create_dir_all(root.join("admin")).unwrap();
    std::fs::write(
        root.join("tag.js"),
        "(function(){var manifest=/*__ENGAGE_MANIFEST__*/null;window.engage_manifest=manifest;})();\n",
    )
    .unwrap();
    std::fs::write(
        root.join("pkg/manifest.json"),
        r#"{"js":"engage_runtime-0123abcd.js","wasm":"engage_runtime_bg-4567ef01.wasm"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("pkg/engage_runtime_bg-4567ef01.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(
        root.join("demo/index.html"),
        "<!doctype html><title>demo</title>",
    )
    .unwrap();
    std::fs::write(
        root.join("admin/index.html"),
        "<!doctype html><title>admin</title>",
    )
    .unwrap();
}

/// The environment variable naming a PostgreSQL server (an admin URL such as
/// `postgres://postgres@127.0.0.1:5432/postgres`): when set, every test app gets a fresh
/// database of its own there instead of SQLite (`cargo xtask test` runs the API suites both ways).
pub const POSTGRES_ENV: &str = "ENGAGE_TEST_POSTGRES";

/// A fresh database on the server `ENGAGE_TEST_POSTGRES` names, or `None` (SQLite).
pub fn test_database() -> Option<String> {
    let admin = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())?;
    Some(create_database(&admin))
}

/// Creates a database with a unique name on the server of `admin_url` and returns its URL.
pub fn create_database(admin_url: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "t{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        now_ms() % 1_000_000
    );
    let admin = admin_url.to_owned();
    let sql = format!("CREATE DATABASE {name}");
    // Its own thread and runtime: callers may be inside a test's runtime.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={admin}: cannot connect: {e}"));
            tokio::spawn(conn);
            client.batch_execute(&sql).await.unwrap();
        });
    })
    .join()
    .unwrap();
    match admin_url.rfind('/') {
        Some(i)
            if admin_url[..i].contains("://") && admin_url[..i].ends_with(|c: char| c != '/') =>
        {
            format!("{}/{name}", &admin_url[..i])
        }
        _ => format!("{admin_url}/{name}"),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl TestApp {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut Config)) -> Self {
        // Server errors show up in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        make_www(&dir.path().join("www"));
        let mut cfg = Config::new(dir.path().join("data"));
        cfg.www = dir.path().join("www");
        cfg.database = test_database();
        f(&mut cfg);
        let clock = Arc::new(AtomicI64::new(now_ms()));
        let c2 = clock.clone();
        let state = AppState::open_with_clock(
            cfg,
            auth::digest(TOKEN),
            Arc::new(move || c2.load(Ordering::SeqCst)),
        )
        .unwrap();
        TestApp {
            router: app(state.clone()),
            state,
            dir,
            clock,
        }
    }

    /// A new app (new caches) over the same data directory: a restart.
    pub fn reopen(&self) -> AppState {
        let c2 = self.clock.clone();
        AppState::open_with_clock(
            self.state.config.clone(),
            auth::digest(TOKEN),
            Arc::new(move || c2.load(Ordering::SeqCst)),
        )
        .unwrap()
    }

    pub fn set_now(&self, t: i64) {
        self.clock.store(t, Ordering::SeqCst);
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        call(&self.router, method, uri, headers, body).await
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.call("GET", uri, &[], Body::empty()).await
    }

    /// With the admin token.
    pub async fn admin(&self, method: &str, uri: &str, body: impl Into<Body>) -> Resp {
        self.call(
            method,
            uri,
            &[("authorization", &format!("Bearer {TOKEN}"))],
            body,
        )
        .await
    }

    pub async fn upload(&self, site: &str, doc: &Value) -> Resp {
        self.admin(
            "PUT",
            &format!("/admin/v1/sites/{site}/campaigns"),
            doc.to_string(),
        )
        .await
    }

    pub async fn put_availability(
        &self,
        site: &str,
        skill: &str,
        online: u32,
        capacity: u32,
        wait: u32,
    ) -> Resp {
        self.admin(
            "PUT",
            &format!("/admin/v1/sites/{site}/availability/{skill}"),
            json!({"agents_online": online, "agents_with_capacity": capacity, "expected_wait_seconds": wait})
                .to_string(),
        )
        .await
    }
}

pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Resp {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A document with a web engagement, offsite links (one with a survey, one country-targeted,
/// one disabled) and an inactive-engagement page. `tag` becomes the first campaign's priority,
/// so versions can be told apart in the bundle.
pub fn document(site: &str, tag: u32) -> Value {
    json!({
        "site": site,
        "timezone": "Europe/London",
        "settings": {
            "inactive_engagement": {"redirect_url": "https://acme.example/contact"},
            "currency": "GBP",
            "attribution_days": 7
        },
        "skills": [{"id": "sales", "max_wait_seconds": 120}],
        "campaigns": [
            {"id": "sale", "name": "Sale", "priority": tag, "engagements": [
                {"id": "sale-tab", "name": "Sale tab", "kind": "conversation", "format": "sticky",
                 "skill": "sales",
                 "creative": {"online": {"title": "Chat"}, "offline": {"title": "Away"}}},
                {"id": "mail-link", "kind": "conversation", "source": "offsite", "skill": "sales",
                 "offsite": {"source": "email", "landing_url": "https://acme.example/landing?x=1",
                             "offline_survey_url": "https://acme.example/survey"},
                 "creative": {"online": {"title": "Chat"}}}
            ]},
            {"id": "geo", "audience": {"country": {"$in": ["GB"]}, "device": "mobile"}, "engagements": [
                {"id": "gb-link", "kind": "conversation", "source": "offsite", "skill": "sales",
                 "offsite": {"source": "print", "landing_url": "https://acme.example/gb"},
                 "creative": {"online": {"title": "Hi"}}}
            ]},
            {"id": "old", "enabled": false, "engagements": [
                {"id": "old-link", "kind": "conversation", "source": "offsite", "skill": "sales",
                 "offsite": {"source": "sms", "landing_url": "https://acme.example/old",
                             "offline_survey_url": "https://acme.example/old-survey"},
                 "creative": {"online": {"title": "Old"}}}
            ]}
        ]
    })
}

/// A real server on a free loopback port, through engage's own connection layer
/// (`engage_server::serve`); the returned sender ends it (graceful shutdown).
pub async fn serve(
    state: AppState,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    serve_with(state, engage_server::serve::Limits::default()).await
}

pub async fn serve_with(
    state: AppState,
    limits: engage_server::serve::Limits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (listener, addr) = engage_server::serve::bind_loopback().await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let handle = tokio::spawn(engage_server::serve::serve(
        listener,
        app(state.clone()),
        state,
        limits,
        async move {
            let _ = rx.await;
            st.begin_shutdown();
        },
    ));
    (addr, tx, handle)
}

pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// One request over a real connection.
pub async fn http(
    client: &Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Resp, String> {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(body.into()))
        .map_err(|e| e.to_string())?;
    let res = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// The real `engage-server` binary on a loopback port (killed when dropped).
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (for a server that must come back on the same one after a restart).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts the binary on `port` over `dir/data` and `dir/www`, waiting for its address line.
pub fn start_binary(dir: &Path, port: u16) -> ServerProcess {
    start_binary_with(dir, port, &[])
}

/// [`start_binary`] with more arguments (`--database postgres://…`).
pub fn start_binary_with(dir: &Path, port: u16, args: &[&str]) -> ServerProcess {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_engage-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.join("data"))
        .arg("--www")
        .arg(dir.join("www"))
        .args(args)
        .env("ENGAGE_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("engage-server starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("engage-server printed its address")
            .expect("a line");
        if let Some(url) = line.split("listening on ").nth(1) {
            break url.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    ServerProcess { child, base }
}

/// Reads SSE frames until a `data:` line satisfying `want` arrives.
pub async fn next_data(
    body: &mut hyper::body::Incoming,
    buf: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    let v: Value = serde_json::from_str(data).unwrap();
                    if want(&v) {
                        return v;
                    }
                }
            }
        }
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("an SSE frame in time")
            .expect("the stream is open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}
