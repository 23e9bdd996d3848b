//! The end-to-end harness: a real `engage-server` (the binary `cargo xtask test` builds, named by
//! `ENGAGE_SERVER_BIN`) on a free loopback port with a fresh data directory and a copy of `www/`,
//! and a real headless Chromium driven through chromedriver (`ENGAGE_CHROMIUM`, `CHROMEDRIVER`)
//! with `fantoccini`.
//!
//! Nothing is skipped: a test that cannot find Chromium, chromedriver, the server binary or the
//! built runtime (`www/pkg/manifest.json`, from `cargo xtask build-wasm`) fails, saying what to run.
//!
//! - [`Server`]: start, upload documents and availability through the admin API, stop (on drop).
//! - [`Browser`]: one Chromium with a fresh profile; an init script (CDP
//!   `Page.addScriptToEvaluateOnNewDocument`) records every `engage:*` event, uncaught error,
//!   unhandled rejection and `console.error` of every page in `window.__e2e`; helpers find
//!   engagements through the open shadow roots (SPEC §5) and click their controls.
//! - [`StaticSite`]: a tiny static file server on another port (a "host page" origin that is
//!   not the engage server).
//! - [`http`]: a blocking HTTP/1.1 client (std only) for the admin API.
//!
//! Tests in one binary run one at a time ([`serial`]), so at most one Chromium runs per binary
//! (and cargo runs the binaries one after the other).
//!
//! Running them (what `cargo xtask test` does, after `cargo xtask build-wasm`):
//!
//! ```text
//! cargo build -p engage-server
//! (cd tests && npm ci)                      # axe-core, for tests/a11y.rs
//! ENGAGE_CHROMIUM=/usr/bin/chromium CHROMEDRIVER=/usr/bin/chromedriver \
//! ENGAGE_SERVER_BIN=$PWD/target/debug/engage-server cargo test -p engage-e2e
//! ```
//!
//! One file: `cargo test -p engage-e2e --test display`; one test:
//! `cargo test -p engage-e2e --test display -- b_decline_and_display_cap --nocapture`
//! (`ENGAGE_SERVER_BIN` defaults to `target/debug/engage-server`, the browser paths to
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`). Screenshots land in `tests/artifacts/`;
//! `ENGAGE_E2E_VERBOSE=1` prints the per-load timeline of the time-to-first-engagement test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::elements::{Element, ElementRef};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

/// The admin token every test server runs with.
pub const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Paths and tools

/// The workspace root (`tests/..`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Where screenshots go (`tests/artifacts/`, gitignored).
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).expect("create tests/artifacts");
    dir
}

fn required_file(what: &str, path: PathBuf, hint: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "{what} not found at {}: {hint}",
        path.display()
    );
    path
}

/// A path from `var`, else `default`; must exist.
fn tool(var: &str, default: &str, hint: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    required_file(var, path, hint)
}

pub fn chromium() -> PathBuf {
    tool(
        "ENGAGE_CHROMIUM",
        "/usr/bin/chromium",
        "set ENGAGE_CHROMIUM or run `cargo xtask setup --browser`",
    )
}

pub fn chromedriver() -> PathBuf {
    tool(
        "CHROMEDRIVER",
        "/usr/bin/chromedriver",
        "set CHROMEDRIVER or run `cargo xtask setup --browser`",
    )
}

/// `ENGAGE_SERVER_BIN`, else `target/debug/engage-server` (for running one test by hand after
/// `cargo build -p engage-server`).
pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ENGAGE_SERVER_BIN").filter(|v| !v.is_empty()) {
        return required_file(
            "ENGAGE_SERVER_BIN",
            PathBuf::from(p),
            "run `cargo build -p engage-server` (cargo xtask test sets this)",
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    required_file(
        "engage-server (ENGAGE_SERVER_BIN unset)",
        target.join("debug").join("engage-server"),
        "run `cargo build -p engage-server` or set ENGAGE_SERVER_BIN",
    )
}

/// `www/` with the built runtime in it.
pub fn www_dir() -> PathBuf {
    let www = repo_root().join("www");
    required_file(
        "the built runtime (www/pkg/manifest.json)",
        www.join("pkg").join("manifest.json"),
        "run `cargo xtask build-wasm` first",
    );
    required_file(
        "www/tag.js",
        www.join("tag.js"),
        "the tag loader is missing",
    );
    www
}

/// Runs axe on the page; answers the serious and critical violations, described.
pub async fn axe_problems(b: &Browser, source: &str, page: &str) -> Vec<String> {
    let has = b.js("return typeof window.axe === 'object';", vec![]).await;
    if has != json!(true) {
        b.js(&format!("{source}\n;return typeof window.axe;"), vec![])
            .await;
    }
    let r = b
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ["violations"] }).then((r) => done({
                 violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => ({ target: n.target, html: n.html.slice(0, 200), summary: n.failureSummary })) })),
               }), (e) => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("axe.run: {e}"));
    assert!(r.get("error").is_none(), "axe failed on {page}: {r}");
    let mut out = Vec::new();
    for v in r["violations"].as_array().into_iter().flatten() {
        println!("{page}: axe {} ({}): {}", v["id"], v["impact"], v["help"]);
        if v["impact"] == "serious" || v["impact"] == "critical" {
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| format!("{} {} — {}", n["target"], n["html"], n["summary"]))
                .collect();
            out.push(format!(
                "{page}: {} ({}): {}\n    {}",
                v["id"],
                v["impact"],
                v["help"],
                nodes.join("\n    ")
            ));
        }
    }
    out
}

/// axe-core from `tests/node_modules` (`npm ci` in tests/, or `cargo xtask setup --browser`).
pub fn axe_source() -> String {
    let p = required_file(
        "axe-core",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js"),
        "run `npm ci` in tests/ (or `cargo xtask setup --browser`)",
    );
    std::fs::read_to_string(p).expect("read axe.min.js")
}

/// One test at a time per test binary: one Chromium and one server at a time. (An async mutex:
/// the guard is held across awaits; each `#[tokio::test]` has its own runtime.)
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A free loopback port (bound then released; the caller binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "node_modules" {
            continue;
        }
        let ty = std::fs::metadata(&src).expect("metadata").file_type();
        if ty.is_dir() {
            copy_dir(&src, &dst);
        } else if ty.is_file() {
            std::fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("copy {} → {}: {e}", src.display(), dst.display()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP (blocking, std only)

pub mod http {
    use super::*;

    #[derive(Debug, Clone)]
    pub struct Response {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Response {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        pub fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!(
                    "HTTP {}: body is not JSON ({e}): {}",
                    self.status,
                    self.text()
                )
            })
        }
    }

    /// `(host:port, path)` of an `http://` URL.
    fn split(url: &str) -> (String, String) {
        let rest = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
        match rest.find('/') {
            Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
            None => (rest.to_string(), "/".to_string()),
        }
    }

    /// One request, `Connection: close`, redirects not followed.
    pub fn request(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> std::io::Result<Response> {
        let (authority, path) = split(url);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&authority)?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("no address for {authority}")))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: engage-e2e\r\n"
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        if let Some(b) = body {
            s.write_all(b)?;
        }
        // Read until the body is complete (Content-Length, the last chunk, or EOF): some
        // servers (chromedriver) keep the connection open despite `Connection: close`.
        let mut raw = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if complete(&raw, method == "HEAD") {
                break;
            }
        }
        parse(&raw)
    }

    /// Whether `raw` holds a whole response.
    fn complete(raw: &[u8], head_only: bool) -> bool {
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            return false;
        };
        if head_only {
            return true;
        }
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let body = &raw[end + 4..];
        let status_no_body = head
            .split(' ')
            .nth(1)
            .is_some_and(|c| c.starts_with('1') || c == "204" || c == "304");
        if status_no_body {
            return true;
        }
        for line in head.split("\r\n") {
            if let Some(v) = line.strip_prefix("content-length:") {
                return v.trim().parse::<usize>().is_ok_and(|n| body.len() >= n);
            }
            if line.starts_with("transfer-encoding:") && line.contains("chunked") {
                return dechunk(body).is_some();
            }
        }
        false
    }

    fn parse(raw: &[u8]) -> std::io::Result<Response> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no end of headers"))?;
        let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        if let Some(n) = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
        {
            body.truncate(n);
        }
        let chunked = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        });
        if chunked {
            body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let nl = b.windows(2).position(|w| w == b"\r\n")?;
            let size_str = std::str::from_utf8(&b[..nl]).ok()?;
            let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
            b = &b[nl + 2..];
            if size == 0 {
                return Some(out);
            }
            out.extend_from_slice(b.get(..size)?);
            b = b.get(size + 2..)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// A running `engage-server`, killed on drop.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub port: u16,
    /// The `--www` copy it serves (tests may add pages under `demo/`).
    pub www: PathBuf,
    log: PathBuf,
    _data: tempfile::TempDir,
    _www: tempfile::TempDir,
}

impl Server {
    /// A fresh server: empty data directory, a copy of `www/` (with the built runtime).
    pub fn start() -> Server {
        Self::start_with_pages(&[])
    }

    /// Like [`Server::start`], with extra files written into the www copy (`("demo/x.html",
    /// html)` is served at `/demo/x.html`).
    pub fn start_with_pages(pages: &[(&str, String)]) -> Server {
        let bin = server_bin();
        let src = www_dir();
        let www_tmp = tempfile::Builder::new()
            .prefix("engage-e2e-www")
            .tempdir()
            .expect("temp www");
        let www = www_tmp.path().join("www");
        copy_dir(&src, &www);
        for (path, body) in pages {
            let p = www.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir page dir");
            std::fs::write(&p, body).expect("write page");
        }
        let data = tempfile::Builder::new()
            .prefix("engage-e2e-data")
            .tempdir()
            .expect("temp data dir");
        let log = www_tmp.path().join("server.log");
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .arg("--www")
            .arg(&www)
            // The tests send many event batches from one address and one visitor.
            .args(["--rate-ip", "0", "--rate-visitor", "0"])
            .env("ENGAGE_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining stdout so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "engage-server did not print `listening on http://…` within 30 s; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let port: u16 = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the port from {addr}"));
        let server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            port,
            www,
            log,
            _data: data,
            _www: www_tmp,
        };
        let health = server.get("/healthz");
        assert_eq!(health.status, 200, "GET /healthz: {}", health.text());
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's stderr so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> http::Response {
        http::request("GET", &self.url(path), &[], None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// An admin request with the bearer token.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> http::Response {
        let auth = format!("Bearer {TOKEN}");
        let text = body.map(|b| b.to_string());
        http::request(
            method,
            &self.url(path),
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            text.as_deref().map(str::as_bytes),
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `PUT /admin/v1/sites/{site}/campaigns`; panics unless 201. Answers `{version, warnings}`.
    pub fn put_document(&self, doc: &Value) -> Value {
        let site = doc["site"].as_str().expect("document has a site");
        let res = self.admin(
            "PUT",
            &format!("/admin/v1/sites/{site}/campaigns"),
            Some(doc),
        );
        assert_eq!(res.status, 201, "upload refused: {}", res.text());
        res.json()
    }

    /// `PUT /admin/v1/sites/{site}/availability/{skill}`; panics unless 2xx.
    pub fn put_availability(&self, site: &str, skill: &str, a: Value) {
        let res = self.admin(
            "PUT",
            &format!("/admin/v1/sites/{site}/availability/{skill}"),
            Some(&a),
        );
        assert!(
            (200..300).contains(&res.status),
            "availability refused: {} {}",
            res.status,
            res.text()
        );
    }

    /// `GET /admin/v1/sites/{site}/report`.
    pub fn report(&self, site: &str) -> Value {
        let res = self.admin("GET", &format!("/admin/v1/sites/{site}/report"), None);
        assert_eq!(res.status, 200, "report: {}", res.text());
        res.json()
    }

    /// Kills the server now (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of the engage-server log ({}):", self.base);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        self.stop();
    }
}

/// An `online` availability feed body.
pub fn online() -> Value {
    json!({"agents_online": 3, "agents_with_capacity": 2, "expected_wait_seconds": 10})
}

/// An `offline` availability feed body.
pub fn offline() -> Value {
    json!({"agents_online": 0, "agents_with_capacity": 0, "expected_wait_seconds": 0})
}

/// A page carrying the SPEC §5 snippet (site `site`, server `server` or the page's origin),
/// an optional embedded zone element and body.
pub fn snippet_page(title: &str, site: &str, server: Option<&str>, body: &str) -> String {
    let server_js = match server {
        Some(s) => format!("\"{s}\""),
        None => "location.origin".to_string(),
    };
    let tag_src = match server {
        Some(s) => format!("{s}/tag.js"),
        None => "/tag.js".to_string(),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<script>
  window.engage = window.engage || function () {{ (engage.q = engage.q || []).push(arguments); }};
  engage("init", {{ site: "{site}", server: {server_js} }});
</script>
<script async src="{tag_src}"></script>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#
    )
}

// ---------------------------------------------------------------------------------------------
// A static site on another origin

/// A minimal static file server (GET only) in a thread, for pages that must not come from the
/// engage server. Stops when dropped.
pub struct StaticSite {
    pub base: String,
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StaticSite {
    pub fn serve(root: PathBuf) -> StaticSite {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind static site");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let root = root.clone();
                        std::thread::spawn(move || {
                            let _ = serve_one(s, &root);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StaticSite {
            base: format!("http://127.0.0.1:{port}"),
            port,
            stop,
        }
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn serve_one(mut s: TcpStream, root: &Path) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = line.split(' ').nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let file = if rel.is_empty() || rel.contains("..") {
        None
    } else {
        std::fs::read(root.join(rel)).ok()
    };
    let (status, body, ty) = match file {
        Some(b) => {
            let ty = match Path::new(rel).extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("wasm") => "application/wasm",
                Some("json") => "application/json",
                Some("css") => "text/css",
                _ => "application/octet-stream",
            };
            ("200 OK", b, ty)
        }
        None => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(&body)?;
    s.flush()
}

// ---------------------------------------------------------------------------------------------
// The browser

/// Recorder installed in every document before its own scripts (CDP
/// `Page.addScriptToEvaluateOnNewDocument`): `window.__e2e` holds the `engage:*` events (with
/// `performance.now()` and whether the engagement's element was already in the DOM), uncaught
/// exceptions, unhandled rejections, failed resource loads and `console.error` calls.
pub const INIT_SCRIPT: &str = r#"
(() => {
  if (window.__e2e) return;
  const rec = { events: [], errors: [], resourceErrors: [], consoleErrors: [] };
  Object.defineProperty(window, "__e2e", { value: rec, enumerable: false, configurable: true });
  const present = (id) => {
    const roots = [];
    const main = document.getElementById("engage-root");
    if (main && main.shadowRoot) roots.push(main.shadowRoot);
    for (const el of document.querySelectorAll("[data-engage-zone]")) if (el.shadowRoot) roots.push(el.shadowRoot);
    return roots.some((r) => r.querySelector(`[data-engagement="${CSS.escape(id)}"]`));
  };
  for (const type of ["engage:shown", "engage:accepted", "engage:declined", "engage:state", "engage:control"]) {
    window.addEventListener(type, (ev) => {
      let detail = null;
      try { detail = JSON.parse(JSON.stringify(ev.detail === undefined ? null : ev.detail)); } catch (_) {}
      let inDom = null;
      try { inDom = detail && detail.engagement ? present(detail.engagement) : null; } catch (_) {}
      rec.events.push({ type, detail, t: performance.now(), url: location.href, inDom });
    });
  }
  window.addEventListener("error", (ev) => {
    if (ev instanceof ErrorEvent) {
      rec.errors.push({ message: String(ev.message), source: String(ev.filename || ""), line: ev.lineno || 0,
                        stack: ev.error && ev.error.stack ? String(ev.error.stack) : "" });
    } else {
      const t = ev.target || {};
      rec.resourceErrors.push({ tag: String(t.tagName || ""), url: String(t.src || t.href || "") });
    }
  }, true);
  window.addEventListener("unhandledrejection", (ev) => {
    const r = ev.reason;
    rec.errors.push({ message: "unhandledrejection: " + String(r && (r.stack || r.message) || r) });
  });
  // Event batches sent to the server, with the answer's status (fetch) or whether the browser
  // queued them (sendBeacon).
  rec.posts = [];
  const bodyText = (b) => (typeof b === "string" ? b : b instanceof Blob ? "[blob " + b.size + "]" : String(b));
  if (window.fetch) {
    const f = window.fetch;
    window.fetch = function (input, init) {
      const url = String(input && input.url ? input.url : input);
      const entry = (init && init.method === "POST") || (input && input.method === "POST")
        ? { via: "fetch", url, body: init && init.body !== undefined ? bodyText(init.body) : null, status: null } : null;
      if (entry) rec.posts.push(entry);
      const p = f.apply(this, arguments);
      if (entry) p.then((r) => { entry.status = r.status; return r.clone().text().then((t) => { entry.answer = t.slice(0, 2000); }); }, (e) => { entry.status = "error: " + e; });
      return p;
    };
  }
  if (navigator.sendBeacon) {
    const sb = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = function (url, data) {
      const ok = sb(url, data);
      rec.posts.push({ via: "beacon", url: String(url), body: data === undefined ? null : bodyText(data), queued: ok });
      return ok;
    };
  }
  const original = console.error;
  console.error = function (...args) {
    try { rec.consoleErrors.push(args.map((a) => (a && a.stack) ? String(a.stack) : String(a)).join(" ")); } catch (_) {}
    return original.apply(this, args);
  };
})();
"#;

/// An engagement as found in the DOM.
#[derive(Debug, Clone)]
pub struct Shown(pub Value);

impl Shown {
    pub fn get(&self, k: &str) -> &str {
        self.0[k].as_str().unwrap_or("")
    }
    pub fn engagement(&self) -> &str {
        self.get("engagement")
    }
    pub fn campaign(&self) -> &str {
        self.get("campaign")
    }
    pub fn state(&self) -> &str {
        self.get("state")
    }
    pub fn zone(&self) -> &str {
        self.get("zone")
    }
    pub fn host(&self) -> &str {
        self.get("host")
    }
    pub fn visible(&self) -> bool {
        self.0["visible"].as_bool().unwrap_or(false)
    }
}

/// A chromedriver command not in fantoccini: `POST /session/{id}/{path}` with `body`.
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or(""),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http_types::Method, Option<String>) {
        (http_types::Method::POST, Some(self.body.to_string()))
    }
}

/// A headless Chromium with a fresh profile, driven by its own chromedriver; both are killed
/// when dropped (call [`Browser::close`] for a clean end).
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Browser {
    pub async fn launch() -> Browser {
        let chromium = chromium();
        let driver_bin = chromedriver();
        let port = free_port();
        // One temp dir for the browser profile and chromedriver's log, removed on drop.
        let dir = tempfile::Builder::new()
            .prefix("engage-e2e-chromium")
            .tempdir()
            .expect("temp dir for the browser");
        let profile_dir = dir.path().join("profile");
        let driver_log = dir.path().join("chromedriver.log");
        let mut driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", driver_log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http::request("GET", &format!("{webdriver}/status"), &[], None)
                .ok()
                .filter(|r| r.status == 200)
                .is_some_and(|r| r.json()["value"]["ready"].as_bool() == Some(true));
            if ready {
                break;
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                panic!("chromedriver on port {port} not ready within 20 s");
            }
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited at start-up: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-search-engine-choice-screen",
                    "--window-size=1280,900",
                    "--lang=en-GB",
                    format!("--user-data-dir={}", profile_dir.display()),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        caps.insert("pageLoadStrategy".into(), json!("normal"));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| {
                let _ = driver.kill();
                panic!(
                    "cannot start Chromium ({}) through chromedriver: {e}",
                    chromium.display()
                )
            });
        let b = Browser {
            client,
            driver,
            profile_dir,
            _dir: dir,
        };
        b.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": INIT_SCRIPT}),
        )
        .await;
        b
    }

    /// A Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.client
            .issue_cmd(SessionPost {
                path: "goog/cdp/execute",
                body: json!({"cmd": cmd, "params": params}),
            })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// The browser's console log since the last call (chromedriver's `goog:loggingPrefs`):
    /// `[{level, message, source, timestamp}]`.
    pub async fn browser_log(&self) -> Vec<Value> {
        match self
            .client
            .issue_cmd(SessionPost {
                path: "se/log",
                body: json!({"type": "browser"}),
            })
            .await
        {
            Ok(Value::Array(v)) => v,
            Ok(other) => panic!("unexpected browser log: {other}"),
            Err(e) => panic!("cannot read the browser log: {e}"),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` (a function body returning a value) until it returns something truthy
    /// (not null/false/0/""/[]), answering it; panics with `what` after `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script, vec![]).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if start.elapsed() > timeout {
                let shown = self.engagements().await;
                let events = self.events().await;
                let errors = self.js("return window.__e2e || null", vec![]).await;
                panic!(
                    "timed out after {:?} waiting for {what}\n  engagements: {shown:?}\n  events: {events:#}\n  recorder: {errors}",
                    timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every engagement element on the page (through the open shadow roots).
    pub async fn engagements(&self) -> Vec<Shown> {
        match self
            .js(&format!("{ENGAGEMENTS_JS_FN}; return list();"), vec![])
            .await
        {
            Value::Array(v) => v.into_iter().map(Shown).collect(),
            other => panic!("engagement list: {other}"),
        }
    }

    pub async fn find_engagement(&self, id: &str) -> Option<Shown> {
        self.engagements()
            .await
            .into_iter()
            .find(|s| s.engagement() == id)
    }

    /// Waits until engagement `id` is in the DOM; answers it.
    pub async fn wait_engagement(&self, id: &str, timeout: Duration) -> Shown {
        let script = format!(
            "{ENGAGEMENTS_JS_FN}; return list().find((e) => e.engagement === {}) || null;",
            json!(id)
        );
        Shown(
            self.wait_for(&format!("engagement `{id}` to appear"), timeout, &script)
                .await,
        )
    }

    /// The `engage:*` events recorded on the current page.
    pub async fn events(&self) -> Value {
        self.js("return window.__e2e ? window.__e2e.events : null;", vec![])
            .await
    }

    /// Uncaught errors, unhandled rejections and console.error calls recorded on this page.
    pub async fn recorded_errors(&self) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
        let v = self.js("return window.__e2e || null;", vec![]).await;
        let arr = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        (arr("errors"), arr("consoleErrors"), arr("resourceErrors"))
    }

    /// A WebDriver element for the control `selector` inside engagement `id` (in its shadow
    /// root): clicking it is a real, hit-tested click.
    pub async fn control(&self, id: &str, selector: &str) -> Element {
        let script = format!(
            "{ENGAGEMENTS_JS_FN}; const el = node(arguments[0]); return el ? el.querySelector(arguments[1]) : null;"
        );
        let v = self.js(&script, vec![json!(id), json!(selector)]).await;
        element(&self.client, &v)
            .unwrap_or_else(|| panic!("no `{selector}` in engagement `{id}`: {v}"))
    }

    /// Clicks the decline (close) control of engagement `id`.
    pub async fn decline(&self, id: &str) {
        let c = self.control(id, "[data-action=decline]").await;
        c.click()
            .await
            .unwrap_or_else(|e| panic!("click decline of {id}: {e}"));
    }

    /// Clicks the accept control of engagement `id`.
    pub async fn accept(&self, id: &str) {
        let c = self.control(id, "[data-action=accept]").await;
        c.click()
            .await
            .unwrap_or_else(|e| panic!("click accept of {id}: {e}"));
    }

    /// A PNG of the viewport into `tests/artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Removes this origin's `engage:` storage (a new visitor on the next page load).
    pub async fn clear_engage_storage(&self) {
        self.js(
            // The runtime keeps the bundle in the Cache API (`engage`), the rest in localStorage.
            // WebDriver waits for the returned promise.
            "for (const k of Object.keys(localStorage)) if (k.startsWith('engage:')) localStorage.removeItem(k); return self.caches ? caches.delete('engage').then(() => true) : true;",
            vec![],
        )
        .await;
    }

    /// Ends the WebDriver session (Chromium quits), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_browsers_of(&self.profile_dir);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After close() the driver is already gone; otherwise (a failed test) kill it and the
        // Chromium it started (which would outlive it), found by its unique profile directory.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_browsers_of(&self.profile_dir);
    }
}

/// SIGKILLs every process whose command line names `profile` as `--user-data-dir` (the
/// Chromium this harness started and its helpers, which would outlive chromedriver), and waits
/// until they are gone so the profile directory can be removed.
fn kill_browsers_of(profile: &Path) {
    let needle = format!("--user-data-dir={}", profile.display());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = processes_with_arg(&needle);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids (from /proc) of the live processes with `arg` among their arguments.
fn processes_with_arg(arg: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|st| {
                st.rsplit(')')
                    .next()
                    .map(|r| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if zombie {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
            out.push(pid.to_string());
        }
    }
    out
}

/// Page-side helpers for `execute`: `roots()` (the open shadow roots: `#engage-root`'s and the
/// embedded zones'), `node(id)` (an engagement's element) and `list()` (every displayed
/// engagement with its data attributes, text, geometry and controls).
pub const ENGAGEMENTS_JS_FN: &str = r##"
const roots = () => {
  const out = [];
  const main = document.getElementById("engage-root");
  if (main && main.shadowRoot) out.push([main.shadowRoot, "engage-root"]);
  for (const el of document.querySelectorAll("*")) {
    if (el !== main && el.shadowRoot) out.push([el.shadowRoot, el.id ? "#" + el.id : el.tagName.toLowerCase()]);
  }
  return out;
};
const node = (id) => {
  for (const [r] of roots()) {
    const el = r.querySelector(`[data-engagement="${CSS.escape(id)}"]`);
    if (el) return el;
  }
  return null;
};
const list = () => {
  const out = [];
  for (const [r, host] of roots()) {
    for (const el of r.querySelectorAll("[data-engagement]")) {
      const b = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      out.push({
        engagement: el.getAttribute("data-engagement"),
        campaign: el.getAttribute("data-campaign"),
        state: el.getAttribute("data-state"),
        zone: el.getAttribute("data-zone"),
        format: el.getAttribute("data-format"),
        role: el.getAttribute("role"),
        host,
        text: (el.innerText || el.textContent || "").trim().slice(0, 300),
        visible: b.width > 0 && b.height > 0 && cs.visibility !== "hidden" && cs.display !== "none",
        rect: { x: b.x, y: b.y, w: b.width, h: b.height },
        hasAccept: !!el.querySelector("[data-action=accept]"),
        hasDecline: !!el.querySelector("[data-action=decline]"),
      });
    }
  }
  return out;
}
"##;

/// A WebDriver element from an `execute` result (`{"element-6066-…": id}`).
pub fn element(client: &Client, v: &Value) -> Option<Element> {
    let id = v
        .as_object()?
        .iter()
        .find(|(k, _)| k.starts_with("element-"))
        .and_then(|(_, v)| v.as_str())?;
    Some(Element::from_element_id(
        client.clone(),
        ElementRef::from(id.to_string()),
    ))
}

/// Runs `f` with a timeout; a hung browser or server fails the test instead of the suite.
pub async fn within<F: std::future::Future>(what: &str, limit: Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// Median of `v` (sorted copy; mean of the middle two for even lengths).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    assert!(n > 0, "median of nothing");
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// Campaign document helpers

/// Online, busy and offline creatives with recognisable titles (`<title> online` …).
pub fn chat_creative(title: &str) -> Value {
    json!({
        "online": {"title": format!("{title} online"), "message": "We are <b>online</b>.", "cta": "Chat now"},
        "busy": {"title": format!("{title} busy"), "message": "Expect a short wait.", "cta": "Chat anyway"},
        "offline": {"title": format!("{title} offline"), "message": "Leave us a message.", "cta": "Leave a message"}
    })
}

/// A content creative.
pub fn content_creative(title: &str, url: &str) -> Value {
    json!({"content": {"title": title, "message": "Free delivery over <b>£50</b>.", "cta": "Shop now", "url": url}})
}

/// A document for `site` with skills `sales` and `support`, the given settings merged over the
/// defaults, and `campaigns`.
pub fn document(site: &str, settings: Value, campaigns: Value) -> Value {
    let mut s = json!({
        "displays_per_visit": {"conversation": null, "content": null},
        "invite_after_decline": {"conversation": false, "content": true},
        "control_group_percent": 0,
        "visit_idle_minutes": 30
    });
    if let (Some(base), Some(extra)) = (s.as_object_mut(), settings.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    json!({
        "site": site,
        "timezone": "Europe/London",
        "settings": s,
        "skills": [{"id": "sales", "max_wait_seconds": 120}, {"id": "support", "max_wait_seconds": 120}],
        "campaigns": campaigns
    })
}

impl Browser {
    /// Waits for running animations (the engagements slide and fade in) to finish, then takes
    /// a screenshot into `tests/artifacts/<name>.png`.
    pub async fn screenshot_settled(&self, name: &str) -> PathBuf {
        let _ = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   const all = () => {
                     const roots = [document];
                     for (const el of document.querySelectorAll("*")) if (el.shadowRoot) roots.push(el.shadowRoot);
                     return roots.flatMap((r) => r.getAnimations ? r.getAnimations() : []);
                   };
                   const t0 = performance.now();
                   const tick = () => {
                     const running = all().filter((a) => a.playState === "running" && a.effect
                       && a.effect.getComputedTiming().endTime !== Infinity);
                     if (!running.length || performance.now() - t0 > 3000) setTimeout(() => done(true), 150);
                     else setTimeout(tick, 50);
                   };
                   tick();"#,
                vec![],
            )
            .await;
        self.screenshot(name).await
    }
}
