//! Access keys (SPEC §6): every admin route × every role (allowed → not 401/403, else 403; no
//! key or an unknown one → 401), site scoping, revocation on the next request, keys surviving a
//! restart, and the key recorded on what it changes.

mod common;

use common::{document, TestApp, TOKEN};
use engage_server::auth::{Role, ROUTES};
use serde_json::{json, Value};

async fn make_key(t: &TestApp, role: &str, sites: Value) -> (String, String) {
    let r = t
        .admin(
            "POST",
            "/admin/v1/keys",
            json!({"name": format!("{role} key"), "role": role, "sites": sites}).to_string(),
        )
        .await;
    r.assert_status(201);
    let v = r.json();
    let token = v["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("ek_") && token.len() >= 3 + 32, "{token}");
    (v["id"].as_str().expect("an id").to_owned(), token)
}

async fn with_key(t: &TestApp, token: &str, method: &str, uri: &str, body: &str) -> common::Resp {
    t.call(
        method,
        uri,
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        body.to_owned(),
    )
    .await
}

/// A concrete URI for a route template (site `acme`).
fn uri(template: &str) -> String {
    template
        .replace("{site}", "acme")
        .replace("{campaign}", "sale")
        .replace("{version}", "1")
        .replace("{skill}", "sales")
        .replace("{contact}", "c1")
        .replace("{inbox}", "uk")
        .replace("{id}", "nope")
}

#[tokio::test]
async fn every_route_with_every_role() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, make_key(&t, role.as_str(), json!(["acme"])).await.1));
    }
    let mut checked = 0;
    for (method, template, need) in ROUTES {
        let u = uri(template);
        // No key, and a key nobody issued.
        let r = t.call(method, &u, &[], "").await;
        assert_eq!(r.status, 401, "{method} {u} without a key");
        let r = with_key(&t, "ek_not-a-key", method, &u, "{}").await;
        assert_eq!(r.status, 401, "{method} {u} with an unknown key");
        for (role, token) in &tokens {
            let r = with_key(&t, token, method, &u, "{}").await;
            let allowed = role.allows(*need);
            if allowed {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{method} {u} as {}: {} {}",
                    role.as_str(),
                    r.status,
                    r.text()
                );
            } else {
                assert_eq!(
                    r.status,
                    403,
                    "{method} {u} as {}: {}",
                    role.as_str(),
                    r.text()
                );
                assert_eq!(r.json()["error"]["code"], "forbidden");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * 4);
}

#[tokio::test]
async fn keys_are_scoped_to_their_sites_and_revoked_at_once() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    t.upload("other", &document("other", 1))
        .await
        .assert_status(201);
    let (id, editor) = make_key(&t, "editor", json!(["acme"])).await;
    with_key(&t, &editor, "GET", "/admin/v1/sites/acme/campaigns", "")
        .await
        .assert_status(200);
    let r = with_key(&t, &editor, "GET", "/admin/v1/sites/other/campaigns", "").await;
    r.assert_error(403, "forbidden");

    // A site-scoped admin manages only keys within its sites.
    let (_, scoped_admin) = make_key(&t, "admin", json!(["acme"])).await;
    let r = with_key(
        &t,
        &scoped_admin,
        "POST",
        "/admin/v1/keys",
        &json!({"name": "x", "role": "analyst", "sites": ["*"]}).to_string(),
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = with_key(&t, &scoped_admin, "GET", "/admin/v1/keys", "").await;
    r.assert_status(200);
    let listed = r.json();
    assert!(
        listed["keys"].as_array().is_some_and(|k| k.len() == 2),
        "{listed}"
    );
    assert!(
        !listed.to_string().contains("ek_"),
        "no tokens in the list: {listed}"
    );

    // The change records the key that made it.
    let r = with_key(
        &t,
        &editor,
        "PUT",
        "/admin/v1/sites/acme/campaigns",
        &document("acme", 2).to_string(),
    )
    .await;
    r.assert_status(201);
    let v = t
        .admin("GET", "/admin/v1/sites/acme/versions", "")
        .await
        .json();
    assert_eq!(v["versions"][0]["key"], id.as_str(), "{v}");
    assert_eq!(v["versions"][1]["key"], "owner", "{v}");

    // Revoked: 401 on the very next request, and it stays revoked after a restart.
    t.admin("DELETE", &format!("/admin/v1/keys/{id}"), "")
        .await
        .assert_status(204);
    with_key(&t, &editor, "GET", "/admin/v1/sites/acme/campaigns", "")
        .await
        .assert_error(401, "unauthorized");
    t.admin("DELETE", &format!("/admin/v1/keys/{id}"), "")
        .await
        .assert_error(404, "not_found");
    let reopened = t.reopen();
    let router = engage_server::app(reopened);
    let r = common::call(
        &router,
        "GET",
        "/admin/v1/sites/acme/campaigns",
        &[("authorization", &format!("Bearer {editor}"))],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = common::call(
        &router,
        "GET",
        "/admin/v1/sites/acme/campaigns",
        &[("authorization", &format!("Bearer {scoped_admin}"))],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(r.status, 200, "a key survives a restart");
    let r = common::call(
        &router,
        "GET",
        "/admin/v1/keys",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        axum::body::Body::empty(),
    )
    .await;
    let keys = r.json();
    let revoked = keys["keys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["id"] == id.as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(revoked["revoked_at"].is_string(), "{keys}");
}

#[tokio::test]
async fn bad_keys_are_refused_by_field() {
    let t = TestApp::new();
    let r = t
        .admin(
            "POST",
            "/admin/v1/keys",
            json!({"name": "", "role": "root", "sites": ["*", "acme"]}).to_string(),
        )
        .await;
    let e = r.assert_error(422, "validation_failed");
    let paths: Vec<&str> = e["error"]["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(paths, ["name", "role", "sites[0]"], "{e}");
    t.admin("POST", "/admin/v1/keys", "{not json")
        .await
        .assert_error(400, "invalid_json");
    t.admin(
        "POST",
        "/admin/v1/keys",
        json!({"name": "x", "role": "admin", "sites": ["*"], "colour": 1}).to_string(),
    )
    .await
    .assert_status(422);
    // Too large: the admin body limit answers before the key is read.
    let huge = format!(
        "{{\"name\": \"{}\", \"role\": \"admin\", \"sites\": [\"*\"]}}",
        "x".repeat(64 << 10)
    );
    t.admin("POST", "/admin/v1/keys", huge)
        .await
        .assert_error(413, "payload_too_large");
    // An analyst may not make keys, and nothing is made.
    let (_, analyst) = make_key(&t, "analyst", json!(["*"])).await;
    let r = with_key(
        &t,
        &analyst,
        "POST",
        "/admin/v1/keys",
        &json!({"name": "sneaky", "role": "admin", "sites": ["*"]}).to_string(),
    )
    .await;
    r.assert_error(403, "forbidden");
    let keys = t.admin("GET", "/admin/v1/keys", "").await.json();
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1), "{keys}");
}
