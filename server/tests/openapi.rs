//! `GET /openapi.json` (SPEC §6): an OpenAPI 3.1 document generated from the handlers. Fails when
//! the router serves a route the document does not describe (found by reading the router's
//! source: axum cannot list its routes), when the document describes one the router does not
//! serve, or when an admin route's security or error shape is missing.

mod common;

use common::{TestApp, TOKEN};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The demo shop and the console: HTML files, not API.
const PAGES: &[&str] = &[
    "/",
    "/demo",
    "/demo/",
    "/demo/{path}",
    "/admin",
    "/admin/",
    "/admin/{path}",
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Every `(METHOD, path)` the server's router declares, read from `server/src`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        if !text.contains("Router::new()") {
            continue; // Builds no router.
        }
        let base = text
            .split("let base = \"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_owned();
        for (service, call) in route_calls(&text) {
            let Some(path) = first_string(&call) else {
                panic!(
                    "{}: a route whose path is not a literal: {call}",
                    file.display()
                );
            };
            let path = path
                .replace("{base}", &base)
                .replace("{{", "{")
                .replace("}}", "}")
                .replace("{*", "{");
            if service {
                out.insert(("GET".to_owned(), path));
                continue;
            }
            let methods = methods_in(&call);
            assert!(
                !methods.is_empty(),
                "{}: no method in {call}",
                file.display()
            );
            for m in methods {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The argument text of every `.route(...)` / `.route_service(...)` call (balanced parentheses,
/// strings skipped), with whether it is a service.
fn route_calls(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for (marker, service) in [(".route(", false), (".route_service(", true)] {
        let mut from = 0;
        while let Some(i) = text[from..].find(marker) {
            let start = from + i + marker.len();
            let args = balanced(&text[start..]);
            out.push((service, args.to_owned()));
            from = start;
        }
    }
    out
}

/// The text up to the parenthesis that closes the one just opened.
fn balanced(s: &str) -> &str {
    let (mut depth, mut in_str, mut escaped) = (1, false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..i];
                }
            }
            _ => {}
        }
    }
    s
}

fn first_string(call: &str) -> Option<String> {
    let head = call.split(',').next()?;
    let start = head.find('"')? + 1;
    let end = start + head[start..].find('"')?;
    Some(head[start..end].to_owned())
}

/// `get(`, `.post(`, … in a method router expression (not `get_document(`).
fn methods_in(call: &str) -> Vec<&'static str> {
    let bytes = call.as_bytes();
    let mut found = Vec::new();
    for m in METHODS {
        let pat = format!("{m}(");
        let mut from = 0;
        while let Some(i) = call[from..].find(&pat) {
            let at = from + i;
            let before = at.checked_sub(1).map(|j| bytes[j]);
            if before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')) {
                found.push(*m);
                break;
            }
            from = at + pat.len();
        }
    }
    found
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(*m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

async fn fetch_doc(t: &TestApp) -> Value {
    let r = t.get("/openapi.json").await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

#[tokio::test]
async fn every_route_is_described_and_every_description_is_served() {
    let t = TestApp::new();
    let doc = fetch_doc(&t).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let served = routes_in_source();
    assert!(served.len() > 40, "the source scan found {served:?}");
    let described = documented(&doc);
    let missing: Vec<_> = served
        .iter()
        .filter(|(_, p)| !PAGES.contains(&p.as_str()))
        .filter(|r| !described.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes the OpenAPI document does not describe: {missing:?}"
    );
    let extra: Vec<_> = described.difference(&served).collect();
    assert!(extra.is_empty(), "described but not routed: {extra:?}");

    // And the router really answers each described operation (no "no such route", no 405).
    for (method, path) in &described {
        let uri = path
            .replace("{site}", "acme")
            .replace("{version}", "1")
            .replace("{path}", "engage.js")
            .replace(['{', '}'], "");
        let r = t
            .call(
                method,
                &uri,
                &[("authorization", &format!("Bearer {TOKEN}"))],
                String::new(),
            )
            .await;
        assert_ne!(r.status.as_u16(), 405, "{method} {uri}");
        if r.status.as_u16() == 404 {
            let text = r.text();
            assert!(!text.contains("no such route"), "{method} {uri}: {text}");
        }
    }
}

#[tokio::test]
async fn admin_operations_declare_security_and_errors() {
    let t = TestApp::new();
    let doc = fetch_doc(&t).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["inbox_secret"]["in"], "query");
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(
        error["properties"]["error"]["required"],
        serde_json::json!(["code", "message", "details"]),
        "{error}"
    );
    let mut admin_ops = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(*m) else { continue };
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|c| c.starts_with('2') || c.starts_with('3')),
                "{m} {path} has no success response"
            );
            if path.starts_with("/admin/") {
                admin_ops += 1;
                assert_eq!(
                    op["security"][0]["bearer"],
                    serde_json::json!([]),
                    "{m} {path}"
                );
                for code in ["401", "403", "404"] {
                    assert!(responses.contains_key(code), "{m} {path} lacks {code}");
                }
                if op.get("requestBody").is_some() {
                    for code in ["413", "415", "422"] {
                        assert!(responses.contains_key(code), "{m} {path} lacks {code}");
                    }
                }
            }
        }
    }
    assert!(admin_ops >= 38, "{admin_ops} admin operations");
    // Request bodies carry an example an integrator can start from.
    let put = &doc["paths"]["/admin/v1/sites/{site}/campaigns"]["put"];
    let schema_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .expect("a schema ref");
    let name = schema_ref.rsplit('/').next().expect("a name");
    assert!(doc["components"]["schemas"][name]["example"]["campaigns"].is_array());
}

/// The error shape the document declares is the one the server sends.
#[tokio::test]
async fn an_error_matches_the_declared_shape() {
    let t = TestApp::new();
    let r = t.admin("PUT", "/admin/v1/sites/acme/campaigns", "{").await;
    let v = r.assert_error(400, "invalid_json");
    let inner = v["error"].as_object().expect("error");
    let keys: BTreeSet<&str> = inner.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["code", "message", "details"]));
}
