//! Every endpoint and error path through the router (`oneshot`).

mod common;

use axum::body::Body;
use common::{document, now_ms, TestApp, TOKEN};
use serde_json::{json, Value};
use std::io::Read;

const DAY: i64 = 86_400_000;

// ---------------------------------------------------------------- documents and versions

#[tokio::test]
async fn upload_serve_and_revalidate_the_bundle() {
    let t = TestApp::new();
    let r = t.upload("acme", &document("acme", 1)).await;
    r.assert_status(201);
    assert_eq!(r.json(), json!({"version": 1, "warnings": []}));

    let b = t.get("/v1/sites/acme/bundle").await;
    b.assert_status(200);
    let bundle = b.json();
    assert_eq!(bundle["version"], 1);
    assert_eq!(bundle["site"], "acme");
    assert_eq!(bundle["campaigns"][0]["priority"], 1);
    assert!(bundle["valid_until"].as_i64().unwrap() > now_ms());
    assert_eq!(b.header("content-type"), Some("application/json"));
    assert_eq!(b.header("cache-control"), Some("public, no-cache"));
    assert_eq!(b.header("x-engage-version"), Some("1"));
    let etag = b.header("etag").unwrap().to_owned();
    assert!(etag.starts_with("\"1-") && etag.ends_with('"'), "{etag}");

    let r = t
        .call(
            "GET",
            "/v1/sites/acme/bundle",
            &[("if-none-match", &etag)],
            Body::empty(),
        )
        .await;
    r.assert_status(304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    // Compressed variants carry their own tags and revalidate too.
    let gz = t
        .call(
            "GET",
            "/v1/sites/acme/bundle",
            &[("accept-encoding", "gzip")],
            Body::empty(),
        )
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, b.body);
    let br = t
        .call(
            "GET",
            "/v1/sites/acme/bundle",
            &[("accept-encoding", "gzip, br")],
            Body::empty(),
        )
        .await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &br.body[..], &mut plain).unwrap();
    assert_eq!(plain, b.body);
    let br_tag = br.header("etag").unwrap().to_owned();
    t.call(
        "GET",
        "/v1/sites/acme/bundle",
        &[("if-none-match", &br_tag), ("accept-encoding", "br")],
        Body::empty(),
    )
    .await
    .assert_status(304);

    // A new version changes the tag.
    t.upload("acme", &document("acme", 2))
        .await
        .assert_status(201);
    let r = t
        .call(
            "GET",
            "/v1/sites/acme/bundle",
            &[("if-none-match", &etag)],
            Body::empty(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.json()["campaigns"][0]["priority"], 2);
}

#[tokio::test]
async fn document_history_and_activation() {
    let t = TestApp::new();
    let doc1 = document("acme", 1).to_string();
    t.admin("PUT", "/admin/v1/sites/acme/campaigns", doc1.clone())
        .await
        .assert_status(201);
    let doc2 = serde_json::to_string_pretty(&document("acme", 2)).unwrap();
    let r = t
        .admin("PUT", "/admin/v1/sites/acme/campaigns", doc2.clone())
        .await;
    assert_eq!(r.json()["version"], 2);

    // The active document comes back byte for byte.
    let r = t
        .admin("GET", "/admin/v1/sites/acme/campaigns", Body::empty())
        .await;
    r.assert_status(200);
    assert_eq!(r.text(), doc2);
    assert_eq!(r.header("x-engage-version"), Some("2"));

    let r = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await;
    r.assert_status(200);
    let v = r.json();
    assert_eq!(v["active"], 2);
    let list = v["versions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[1]["active"], false);
    assert_eq!(list[0]["campaigns"], 3);
    assert_eq!(list[0]["change"], "upload");
    assert!(list[0]["created_at"].as_str().unwrap().ends_with('Z'));

    // Roll back, then forward.
    let r = t
        .admin(
            "POST",
            "/admin/v1/sites/acme/versions/1/activate",
            Body::empty(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["version"], 1);
    assert_eq!(t.get("/v1/sites/acme/bundle").await.json()["version"], 1);
    let r = t
        .admin("GET", "/admin/v1/sites/acme/campaigns", Body::empty())
        .await;
    assert_eq!(r.text(), doc1);
    let v = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await
        .json();
    assert_eq!(v["active"], 1);
    t.admin(
        "POST",
        "/admin/v1/sites/acme/versions/2/activate",
        Body::empty(),
    )
    .await
    .assert_status(200);
    assert_eq!(t.get("/v1/sites/acme/bundle").await.json()["version"], 2);

    // The same history and rollback under `.../campaigns/versions` (SPEC §6's other spelling).
    let v = t
        .admin(
            "GET",
            "/admin/v1/sites/acme/campaigns/versions",
            Body::empty(),
        )
        .await
        .json();
    assert_eq!(v["active"], 2);
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(2));
    t.admin(
        "POST",
        "/admin/v1/sites/acme/campaigns/versions/1/activate",
        Body::empty(),
    )
    .await
    .assert_status(200);
    assert_eq!(t.get("/v1/sites/acme/bundle").await.json()["version"], 1);
    t.admin(
        "POST",
        "/admin/v1/sites/acme/campaigns/versions/2/activate",
        Body::empty(),
    )
    .await
    .assert_status(200);

    // A new upload after a rollback takes the next number.
    t.admin(
        "POST",
        "/admin/v1/sites/acme/versions/1/activate",
        Body::empty(),
    )
    .await
    .assert_status(200);
    let r = t.upload("acme", &document("acme", 3)).await;
    assert_eq!(r.json()["version"], 3);

    // Errors.
    t.admin(
        "POST",
        "/admin/v1/sites/acme/versions/9/activate",
        Body::empty(),
    )
    .await
    .assert_error(404, "not_found");
    t.admin(
        "POST",
        "/admin/v1/sites/acme/versions/abc/activate",
        Body::empty(),
    )
    .await
    .assert_error(400, "invalid_version");
    t.admin(
        "POST",
        "/admin/v1/sites/acme/versions/0/activate",
        Body::empty(),
    )
    .await
    .assert_error(400, "invalid_version");
    t.admin(
        "POST",
        "/admin/v1/sites/nope/versions/1/activate",
        Body::empty(),
    )
    .await
    .assert_error(404, "not_found");
    t.admin("GET", "/admin/v1/sites/nope/versions", Body::empty())
        .await
        .assert_error(404, "not_found");
    t.admin("GET", "/admin/v1/sites/nope/campaigns", Body::empty())
        .await
        .assert_error(404, "not_found");
    t.admin("GET", "/admin/v1/sites/Bad!/campaigns", Body::empty())
        .await
        .assert_error(400, "invalid_id");
}

#[tokio::test]
async fn invalid_documents_list_every_problem_and_change_nothing() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);

    let mut doc = document("acme", 2);
    doc["campaigns"][0]["engagements"][0]["refresh_seconds"] = json!(7);
    doc["campaigns"][1]["id"] = json!("Bad Id");
    let r = t.upload("acme", &doc).await;
    let v = r.assert_error(422, "invalid_document");
    let details = v["error"]["details"].as_array().unwrap();
    assert!(details.len() >= 2, "{v}");
    let paths: Vec<&str> = details
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.contains("refresh_seconds")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("campaigns[1]")),
        "{paths:?}"
    );

    // Unknown field.
    let mut doc = document("acme", 2);
    doc["campaigns"][0]["engagements"][0]["behaviour"] = json!({});
    let v = t
        .upload("acme", &doc)
        .await
        .assert_error(422, "invalid_document");
    assert!(v.to_string().contains("behaviour"), "{v}");

    // Wrong type.
    let mut doc = document("acme", 2);
    doc["campaigns"][0]["priority"] = json!("high");
    let v = t
        .upload("acme", &doc)
        .await
        .assert_error(422, "invalid_document");
    assert!(v.to_string().contains("priority"), "{v}");

    // Malformed JSON, empty body, not UTF-8: not a document at all (400).
    t.admin("PUT", "/admin/v1/sites/acme/campaigns", "{\"site\": ")
        .await
        .assert_error(400, "invalid_json");
    t.admin("PUT", "/admin/v1/sites/acme/campaigns", "")
        .await
        .assert_error(400, "invalid_json");
    t.admin(
        "PUT",
        "/admin/v1/sites/acme/campaigns",
        vec![0xff, 0xfe, 0x00],
    )
    .await
    .assert_error(400, "invalid_json");

    // Sent to another site.
    let v = t
        .upload("other", &document("acme", 2))
        .await
        .assert_error(422, "invalid_document");
    assert_eq!(v["error"]["details"][0]["path"], "site");

    // Nothing changed.
    let v = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await
        .json();
    assert_eq!(v["versions"].as_array().unwrap().len(), 1);
    assert_eq!(t.get("/v1/sites/acme/bundle").await.json()["version"], 1);
    t.get("/v1/sites/other/bundle")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn warnings_are_returned() {
    let t = TestApp::new();
    let mut doc = document("acme", 1);
    doc["library"] = json!({"audiences": {"unused": {"country": "GB"}}});
    let r = t.upload("acme", &doc).await;
    r.assert_status(201);
    let w = r.json()["warnings"].clone();
    assert!(
        w.as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"].as_str().unwrap().contains("unused")),
        "{w}"
    );
    let v = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await
        .json();
    assert!(v["versions"][0]["warnings"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn admin_body_limit() {
    let t = TestApp::with(|c| c.max_document_bytes = 1000);
    let r = t.upload("acme", &document("acme", 1)).await;
    r.assert_error(413, "payload_too_large");
}

// ---------------------------------------------------------------- single-campaign edits

#[tokio::test]
async fn single_campaign_edits_make_versions() {
    let t = TestApp::new();
    let campaign = json!({"name": "Extra", "engagements": [
        {"id": "extra-tab", "kind": "conversation", "format": "sticky", "zone": "left",
         "creative": {"online": {"title": "Hello"}}}]});

    // Creating on a site without a document starts one.
    let r = t
        .admin(
            "POST",
            "/admin/v1/sites/fresh/campaigns/extra",
            campaign.to_string(),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.json()["version"], 1);
    let doc: Value = serde_json::from_str(
        &t.admin("GET", "/admin/v1/sites/fresh/campaigns", Body::empty())
            .await
            .text(),
    )
    .unwrap();
    assert_eq!(doc["site"], "fresh");
    assert_eq!(doc["campaigns"][0]["id"], "extra");

    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let base = "/admin/v1/sites/acme/campaigns";
    let r = t
        .admin("POST", &format!("{base}/extra"), campaign.to_string())
        .await;
    r.assert_status(201);
    assert_eq!(r.json()["version"], 2);
    t.admin("POST", &format!("{base}/extra"), campaign.to_string())
        .await
        .assert_error(409, "conflict");
    t.admin("POST", &format!("{base}/sale"), campaign.to_string())
        .await
        .assert_error(409, "conflict");

    // Replace.
    let mut replaced = campaign.clone();
    replaced["id"] = json!("extra");
    replaced["priority"] = json!(42);
    let r = t
        .admin("PUT", &format!("{base}/extra"), replaced.to_string())
        .await;
    assert_eq!(r.json()["version"], 3);
    let bundle = t.get("/v1/sites/acme/bundle").await.json();
    let extra = bundle["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "extra")
        .unwrap()
        .clone();
    assert_eq!(extra["priority"], 42);
    t.admin("PUT", &format!("{base}/missing"), campaign.to_string())
        .await
        .assert_error(404, "not_found");
    let v = t
        .admin(
            "PUT",
            &format!("{base}/extra"),
            json!({"id": "other"}).to_string(),
        )
        .await
        .assert_error(422, "invalid_request");
    assert_eq!(v["error"]["details"][0]["path"], "id");

    // Enable / disable.
    let r = t
        .admin("PATCH", &format!("{base}/sale"), r#"{"enabled": false}"#)
        .await;
    assert_eq!(r.json()["version"], 4);
    let bundle = t.get("/v1/sites/acme/bundle").await.json();
    assert_eq!(bundle["campaigns"][0]["id"], "sale");
    assert_eq!(bundle["campaigns"][0]["enabled"], false);
    t.admin("PATCH", &format!("{base}/sale"), r#"{"enabled": "no"}"#)
        .await
        .assert_error(422, "invalid_request");
    t.admin(
        "PATCH",
        &format!("{base}/sale"),
        r#"{"enabled": true, "x": 1}"#,
    )
    .await
    .assert_error(422, "invalid_request");
    t.admin("PATCH", &format!("{base}/sale"), r#"{"enabled": tru"#)
        .await
        .assert_error(400, "invalid_json");
    t.admin("PATCH", &format!("{base}/missing"), r#"{"enabled": true}"#)
        .await
        .assert_error(404, "not_found");

    // A change that makes the document invalid is refused as a whole.
    let bad = json!({"engagements": [{"id": "x", "kind": "conversation", "format": "sticky",
                                      "refresh_seconds": 7, "creative": {"online": {}}}]});
    let v = t
        .admin("POST", &format!("{base}/bad"), bad.to_string())
        .await
        .assert_error(422, "invalid_document");
    assert!(v["error"]["details"][0]["path"]
        .as_str()
        .unwrap()
        .starts_with("campaigns[4]"));
    t.admin("POST", &format!("{base}/bad"), "[1,2]")
        .await
        .assert_error(422, "invalid_request");

    // Delete.
    let r = t
        .admin("DELETE", &format!("{base}/extra"), Body::empty())
        .await;
    assert_eq!(r.json()["version"], 5);
    t.admin("DELETE", &format!("{base}/extra"), Body::empty())
        .await
        .assert_error(404, "not_found");
    t.admin("DELETE", &format!("{base}/Not_Valid"), Body::empty())
        .await
        .assert_error(400, "invalid_id");

    let v = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await
        .json();
    let changes: Vec<&str> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "delete campaign extra",
            "disable campaign sale",
            "replace campaign extra",
            "create campaign extra",
            "upload"
        ]
    );
    // Edits on a site without a document (other than create) are 404.
    t.admin(
        "DELETE",
        "/admin/v1/sites/nobody/campaigns/x",
        Body::empty(),
    )
    .await
    .assert_error(404, "not_found");
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn admin_routes_need_the_token() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let routes = [
        ("PUT", "/admin/v1/sites/acme/campaigns"),
        ("GET", "/admin/v1/sites/acme/campaigns"),
        ("GET", "/admin/v1/sites/acme/versions"),
        ("POST", "/admin/v1/sites/acme/versions/1/activate"),
        ("POST", "/admin/v1/sites/acme/campaigns/sale"),
        ("PUT", "/admin/v1/sites/acme/campaigns/sale"),
        ("DELETE", "/admin/v1/sites/acme/campaigns/sale"),
        ("PATCH", "/admin/v1/sites/acme/campaigns/sale"),
        ("PUT", "/admin/v1/sites/acme/availability/sales"),
        ("POST", "/admin/v1/sites/acme/simulate"),
        ("GET", "/admin/v1/sites/acme/report"),
    ];
    for (m, uri) in routes {
        for headers in [
            vec![],
            vec![("authorization", "Bearer wrong")],
            vec![("authorization", "Bearer")],
            vec![("authorization", "Basic dGVzdDp0ZXN0")],
            vec![("authorization", format!("Bearer {TOKEN}x").leak() as &str)],
        ] {
            let r = t.call(m, uri, &headers, "{}").await;
            r.assert_error(401, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
    // Lower-case scheme is fine; the document is unchanged by the refused calls.
    let r = t
        .call(
            "GET",
            "/admin/v1/sites/acme/versions",
            &[("authorization", &format!("bearer {TOKEN}"))],
            Body::empty(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["versions"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------- availability

#[tokio::test]
async fn availability_feed_and_public_json() {
    let t = TestApp::new();
    t.get("/v1/sites/acme/availability")
        .await
        .assert_error(404, "not_found");
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let r = t.get("/v1/sites/acme/availability").await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"skills": {}, "updated_at": null}));

    let r = t.put_availability("acme", "sales", 3, 1, 40).await;
    r.assert_status(200);
    let r = t.get("/v1/sites/acme/availability").await;
    let v = r.json();
    // The feed's numbers, and the state they give under the skill's max wait (SPEC §6).
    assert_eq!(
        v["skills"]["sales"],
        json!({"agents_online": 3, "agents_with_capacity": 1, "expected_wait_seconds": 40,
               "state": "online", "declared": true})
    );
    assert!(v["updated_at"].as_str().unwrap().ends_with('Z'));
    let etag = r.header("etag").unwrap().to_owned();
    t.call(
        "GET",
        "/v1/sites/acme/availability",
        &[("if-none-match", &etag)],
        Body::empty(),
    )
    .await
    .assert_status(304);

    // Any valid skill id is accepted (agent systems push all their skills).
    t.admin(
        "PUT",
        "/admin/v1/sites/acme/availability/support",
        r#"{"agents_online": 1, "agents_with_capacity": 0, "expected_wait_seconds": 0}"#,
    )
    .await
    .assert_status(200);
    let v = t.get("/v1/sites/acme/availability").await.json();
    assert_eq!(v["skills"]["support"]["agents_online"], 1);
    assert_eq!(v["skills"]["support"]["state"], "busy", "no capacity: {v}");
    assert_eq!(
        v["skills"]["support"]["declared"], false,
        "not in the document: {v}"
    );
    assert_eq!(v["skills"]["sales"]["agents_online"], 3);
    // A wait over the skill's max_wait_seconds (120) is busy; a new document's max wait counts.
    t.put_availability("acme", "sales", 3, 1, 300)
        .await
        .assert_status(200);
    let v = t.get("/v1/sites/acme/availability").await.json();
    assert_eq!(v["skills"]["sales"]["state"], "busy", "{v}");
    let mut doc = document("acme", 1);
    doc["skills"][0]["max_wait_seconds"] = json!(600);
    t.upload("acme", &doc).await.assert_status(201);
    let v = t.get("/v1/sites/acme/availability").await.json();
    assert_eq!(v["skills"]["sales"]["state"], "online", "{v}");
    t.put_availability("acme", "sales", 3, 1, 40)
        .await
        .assert_status(200);

    // A site engage does not serve takes no feed.
    t.put_availability("early", "sales", 1, 1, 1)
        .await
        .assert_error(404, "not_found");
    t.get("/v1/sites/early/availability")
        .await
        .assert_error(404, "not_found");

    let u = "/admin/v1/sites/acme/availability/sales";
    // Every count is required, whole, bounded; capacity is at most the agents online.
    let v = t
        .admin("PUT", u, "{}")
        .await
        .assert_error(422, "validation_failed");
    let paths: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "agents_online",
            "agents_with_capacity",
            "expected_wait_seconds"
        ],
        "{v}"
    );
    let full = |o: &str, c: &str, w: &str| {
        format!(
            r#"{{"agents_online": {o}, "agents_with_capacity": {c}, "expected_wait_seconds": {w}}}"#
        )
    };
    for (body, path) in [
        (full("-1", "0", "0"), "agents_online"),
        (full("\"3\"", "0", "0"), "agents_online"),
        (full("1.5", "0", "0"), "agents_online"),
        (full("99999999999", "0", "0"), "agents_online"),
        (full("1", "2", "0"), "agents_with_capacity"),
        (full("1", "1", "999999999"), "expected_wait_seconds"),
    ] {
        let v = t
            .admin("PUT", u, body.clone())
            .await
            .assert_error(422, "validation_failed");
        assert_eq!(v["error"]["details"][0]["path"], path, "{body}: {v}");
    }
    let v = t
        .admin("PUT", u, r#"{"agents_online": 1, "agents_with_capacity": 0, "expected_wait_seconds": 0, "agents_busy": 2}"#)
        .await
        .assert_error(422, "validation_failed");
    assert!(v.to_string().contains("agents_busy"));
    t.admin("PUT", u, r#"{"agents_online": 1"#)
        .await
        .assert_error(400, "invalid_json");
    t.admin("PUT", u, "")
        .await
        .assert_error(400, "invalid_json");
    t.admin("PUT", "/admin/v1/sites/acme/availability/Sales!", "{}")
        .await
        .assert_error(400, "invalid_id");
    t.get("/v1/sites/NOPE/availability")
        .await
        .assert_error(400, "invalid_id");
    // Unchanged by the refused calls.
    let v = t.get("/v1/sites/acme/availability").await.json();
    assert_eq!(v["skills"]["sales"]["agents_online"], 3);
}

// ---------------------------------------------------------------- events

fn impression(at: i64, engagement: &str) -> Value {
    json!({"type": "impression", "at": at, "visit": 1, "campaign": "sale",
           "engagement": engagement, "zone": "right", "state": "online"})
}

#[tokio::test]
async fn events_ingest_validates_and_bounds() {
    let t = TestApp::new();
    let now = now_ms();
    let batch = json!({"visitor": "v-1", "events": [impression(now, "sale-tab"),
        {"type": "goal", "at": now + 1, "visit": 1, "name": "purchase", "value": 10.5}]});
    // Unknown site.
    t.call("POST", "/v1/sites/acme/events", &[], batch.to_string())
        .await
        .assert_error(404, "not_found");
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    // sendBeacon's text/plain, and no content type at all.
    let r = t
        .call(
            "POST",
            "/v1/sites/acme/events",
            &[("content-type", "text/plain;charset=UTF-8")],
            batch.to_string(),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.json()["accepted"], 2);
    // The same batch again is stored once.
    let r = t
        .call("POST", "/v1/sites/acme/events", &[], batch.to_string())
        .await;
    r.assert_status(202);
    assert_eq!(r.json()["accepted"], 0);

    let post = |body: String| t.call("POST", "/v1/sites/acme/events", &[], body);
    post("{".into()).await.assert_error(400, "invalid_json");
    post("".into()).await.assert_error(400, "invalid_json");
    post("[]".into()).await.assert_error(422, "invalid_request");
    post(json!({"visitor": "v", "events": [], "extra": 1}).to_string())
        .await
        .assert_error(422, "invalid_request");
    post(json!({"visitor": "v", "events": [{"type": "impression"}]}).to_string())
        .await
        .assert_error(422, "invalid_request");
    post(json!({"visitor": 5, "events": []}).to_string())
        .await
        .assert_error(422, "invalid_request");
    let v = post(json!({"visitor": "bad visitor", "events": []}).to_string())
        .await
        .assert_error(422, "invalid_events");
    assert_eq!(v["error"]["details"][0]["path"], "visitor");
    let v = post(
        json!({"visitor": "v", "events": [
            impression(now, "Bad Id"),
            {"type": "accept", "at": now, "visit": 1},
            {"type": "goal", "at": now, "visit": 1},
            {"type": "goal", "at": now, "visit": 1, "name": "x", "value": 1e300}
        ]})
        .to_string(),
    )
    .await
    .assert_error(422, "invalid_events");
    let paths: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "events[0].engagement",
            "events[1].campaign",
            "events[1].engagement",
            "events[2].name",
            "events[3].value"
        ]
    );
    let many: Vec<Value> = (0..201).map(|i| impression(now + i, "sale-tab")).collect();
    post(json!({"visitor": "v", "events": many}).to_string())
        .await
        .assert_error(422, "invalid_events");
    let huge = "x".repeat(70 * 1024);
    post(json!({"visitor": "v", "events": [], "pad": huge}).to_string())
        .await
        .assert_error(413, "payload_too_large");
    t.call("POST", "/v1/sites/Acme/events", &[], batch.to_string())
        .await
        .assert_error(400, "invalid_id");
    t.call("GET", "/v1/sites/acme/events", &[], Body::empty())
        .await
        .assert_error(405, "method_not_allowed");

    let m = t.get("/metrics").await.text();
    assert!(m.contains("engage_events_ingested_total 2"), "{m}");
}

/// A little fuzzing: random bytes and mutated batches never produce a 5xx.
#[tokio::test]
async fn events_junk_never_500s() {
    let t = TestApp::with(|c| {
        c.rate_ip_per_minute = 0;
        c.rate_visitor_per_minute = 0;
    });
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let good = json!({"visitor": "v1", "events": [impression(now_ms(), "sale-tab"),
        {"type": "goal", "at": now_ms(), "visit": 1, "name": "purchase", "value": 3}]})
    .to_string();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"{}[]\":,0123456789-.eE truefalsnl\\u00ffabcvisitorventsype";
    for i in 0..600 {
        let body: Vec<u8> = match i % 3 {
            0 => (0..(rnd() % 300)).map(|_| rnd() as u8).collect(),
            1 => {
                let mut b = good.clone().into_bytes();
                for _ in 0..(1 + rnd() % 4) {
                    let pos = (rnd() as usize) % b.len();
                    match rnd() % 3 {
                        0 => b[pos] = alphabet[(rnd() as usize) % alphabet.len()],
                        1 => {
                            b.remove(pos);
                        }
                        _ => b.insert(pos, alphabet[(rnd() as usize) % alphabet.len()]),
                    }
                }
                b
            }
            _ => {
                // Structurally valid JSON with odd values.
                let odd = [
                    json!(null),
                    json!(-1),
                    json!(1e308),
                    json!(""),
                    json!("x".repeat(200)),
                    json!([]),
                    json!({}),
                    json!(u64::MAX),
                    json!("é\u{0}"),
                ];
                let pick = |r: u64| odd[(r as usize) % odd.len()].clone();
                let mut ev = impression(now_ms(), "sale-tab");
                let keys = [
                    "type",
                    "at",
                    "visit",
                    "campaign",
                    "engagement",
                    "zone",
                    "state",
                    "name",
                    "value",
                ];
                ev[keys[(rnd() as usize) % keys.len()]] = pick(rnd());
                json!({"visitor": pick(rnd()), "events": [ev]})
                    .to_string()
                    .into_bytes()
            }
        };
        let r = t
            .call(
                "POST",
                "/v1/sites/acme/events",
                &[("content-type", "text/plain")],
                body.clone(),
            )
            .await;
        assert!(
            r.status.is_client_error() || r.status.as_u16() == 202,
            "{} for {:?}: {}",
            r.status,
            String::from_utf8_lossy(&body),
            r.text()
        );
        if r.status.is_client_error() {
            r.json()["error"]["code"].as_str().unwrap();
        }
    }
}

#[tokio::test]
async fn events_rate_limits() {
    let t = TestApp::with(|c| {
        c.rate_visitor_per_minute = 2;
        c.rate_ip_per_minute = 0;
    });
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let batch = |v: &str| json!({"visitor": v, "events": []}).to_string();
    let post = |b: String| t.call("POST", "/v1/sites/acme/events", &[], b);
    post(batch("a")).await.assert_status(202);
    post(batch("a")).await.assert_status(202);
    let r = post(batch("a")).await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    post(batch("b")).await.assert_status(202);

    let t = TestApp::with(|c| {
        c.rate_ip_per_minute = 20;
        c.rate_visitor_per_minute = 0;
    });
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let mut limited = 0;
    for i in 0..30 {
        let r = t
            .call(
                "POST",
                "/v1/sites/acme/events",
                &[],
                json!({"visitor": format!("v{i}"), "events": []}).to_string(),
            )
            .await;
        if r.status.as_u16() == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 10);
    let m = t.get("/metrics").await.text();
    assert!(m.contains("engage_rate_limited_total 10"), "{m}");
}

// ---------------------------------------------------------------- simulate

fn script() -> Value {
    json!({"visitor": {"id": "v1", "device": "desktop", "country": "GB"},
           "now": "2026-11-20T10:00:00Z",
           "availability": {"sales": {"agents_online": 2, "agents_with_capacity": 1, "expected_wait_seconds": 30}},
           "steps": [{"page": {"url": "https://acme.example/shop/a", "title": "A"}},
                     {"wait": 10},
                     {"decline": "sale-tab"},
                     {"availability": {"sales": {"agents_online": 0}}}]})
}

#[tokio::test]
async fn simulate_saved_and_draft() {
    let t = TestApp::new();
    let u = "/admin/v1/sites/acme/simulate";
    t.admin("POST", u, script().to_string())
        .await
        .assert_error(404, "not_found");
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let r = t.admin("POST", u, script().to_string()).await;
    r.assert_status(200);
    let v = r.json();
    assert_eq!(v["version"], 1);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[0]["at"], "2026-11-20T10:00:00Z");
    assert_eq!(
        steps[0]["shown"],
        json!([{"campaign": "sale", "engagement": "sale-tab", "zone": "right", "state": "online"}])
    );
    assert_eq!(steps[0]["events"][0]["type"], "impression");
    let trace = steps[0]["trace"].as_array().unwrap();
    assert!(trace
        .iter()
        .any(|e| e["engagement"] == "sale-tab" && e["result"] == "shown"));
    assert!(trace
        .iter()
        .any(|e| e["engagement"] == "old-link" && e["result"] == "rejected"));
    assert_eq!(steps[1]["at"], "2026-11-20T10:00:10Z");
    assert_eq!(steps[2]["shown"], json!([]));

    // A draft, unsaved: the site's versions are untouched.
    let mut draft = script();
    let mut doc = document("acme", 1);
    doc["campaigns"][0]["engagements"][0]["zone"] = json!("left");
    draft["campaigns"] = doc;
    let v = t.admin("POST", u, draft.to_string()).await.json();
    assert_eq!(v["version"], Value::Null);
    assert_eq!(v["steps"][0]["shown"][0]["zone"], "left");
    let versions = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await
        .json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
    // Drafts work for sites without a document.
    t.admin(
        "POST",
        "/admin/v1/sites/new-site/simulate",
        draft.to_string(),
    )
    .await
    .assert_status(200);

    // Without "availability" the live feed is used (none yet: offline → the offline creative).
    let mut live = script();
    live.as_object_mut().unwrap().remove("availability");
    let v = t.admin("POST", u, live.to_string()).await.json();
    assert_eq!(v["steps"][0]["shown"][0]["state"], "offline");
    t.put_availability("acme", "sales", 1, 1, 0)
        .await
        .assert_status(200);
    let v = t.admin("POST", u, live.to_string()).await.json();
    assert_eq!(v["steps"][0]["shown"][0]["state"], "online");

    // Errors.
    let mut bad = draft.clone();
    bad["campaigns"]["campaigns"][0]["engagements"][0]["refresh_seconds"] = json!(7);
    t.admin("POST", u, bad.to_string())
        .await
        .assert_error(422, "invalid_document");
    let mut bad = script();
    bad["now"] = json!("yesterday");
    let v = t
        .admin("POST", u, bad.to_string())
        .await
        .assert_error(422, "invalid_request");
    assert_eq!(v["error"]["details"][0]["path"], "now");
    let mut bad = script();
    bad["steps"] = json!([{"wait": 99999999}]);
    t.admin("POST", u, bad.to_string())
        .await
        .assert_error(422, "invalid_script");
    let mut bad = script();
    bad["stepz"] = json!([]);
    t.admin("POST", u, bad.to_string())
        .await
        .assert_error(422, "invalid_request");
    let mut bad = script();
    bad["steps"] = json!([{"jump": 1}]);
    let v = t
        .admin("POST", u, bad.to_string())
        .await
        .assert_error(422, "invalid_request");
    assert!(v["error"]["details"][0]["path"]
        .as_str()
        .unwrap()
        .starts_with("steps"));
    t.admin("POST", u, "{")
        .await
        .assert_error(400, "invalid_json");
    t.admin("POST", u, "[]")
        .await
        .assert_error(422, "invalid_request");
}

// ---------------------------------------------------------------- report

#[tokio::test]
async fn report_counts_groups_and_lift() {
    let t = TestApp::with(|c| {
        c.rate_ip_per_minute = 0;
        c.rate_visitor_per_minute = 0;
    });
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let t0 = now_ms() - 10 * DAY;
    let send = |visitor: String, events: Vec<Value>| {
        let body = json!({"visitor": visitor, "events": events}).to_string();
        t.call("POST", "/v1/sites/acme/events", &[], body)
    };
    let control = |at: i64| json!({"type": "control", "at": at, "visit": 1, "campaign": "sale", "engagement": "sale-tab"});
    let goal = |at: i64, v: f64| json!({"type": "goal", "at": at, "visit": 1, "name": "purchase", "value": v});
    // 40 exposed visitors, 10 convert (one twice); 40 control visitors, 5 convert.
    for i in 0..40 {
        let mut ev = vec![impression(t0 + i, "sale-tab")];
        if i < 10 {
            ev.push(goal(t0 + 1000 + i, 20.0));
        }
        if i == 0 {
            ev.push(goal(t0 + 2000, 5.0));
            ev.push(json!({"type": "accept", "at": t0 + 10, "visit": 1, "campaign": "sale", "engagement": "sale-tab"}));
        }
        if i == 1 {
            // Outside the 7-day attribution window: not counted.
            ev.push(goal(t0 + 8 * DAY, 999.0));
            ev.push(json!({"type": "decline", "at": t0 + 10, "visit": 1, "campaign": "sale", "engagement": "sale-tab"}));
        }
        send(format!("e{i}"), ev).await.assert_status(202);
    }
    for i in 0..40 {
        let mut ev = vec![control(t0 + i)];
        if i < 5 {
            ev.push(goal(t0 + 5000, 10.0));
        }
        send(format!("c{i}"), ev).await.assert_status(202);
    }
    // A goal before exposure does not count.
    send(
        "late".into(),
        vec![goal(t0 - 1000, 50.0), impression(t0, "sale-tab")],
    )
    .await
    .assert_status(202);

    let r = t
        .admin(
            "GET",
            "/admin/v1/sites/acme/report?from=2000-01-01&to=2100-01-01",
            Body::empty(),
        )
        .await;
    r.assert_status(200);
    let v = r.json();
    assert_eq!(v["currency"], "GBP");
    assert_eq!(v["attribution_days"], 7);
    let sale = &v["campaigns"][0];
    assert_eq!(sale["campaign"], "sale");
    assert_eq!(sale["name"], "Sale");
    assert_eq!(sale["impressions"], 41);
    assert_eq!(sale["accepts"], 1);
    assert_eq!(sale["declines"], 1);
    assert_eq!(sale["exposed_visitors"], 41);
    assert_eq!(sale["control_visitors"], 40);
    assert_eq!(sale["exposed"]["converters"], 10);
    assert_eq!(sale["exposed"]["conversions"], 11);
    assert_eq!(sale["exposed"]["value"], 205.0);
    assert_eq!(sale["control"]["converters"], 5);
    assert_eq!(sale["control"]["value"], 50.0);
    let pe = 10.0 / 41.0;
    let pc = 5.0 / 40.0;
    assert!((sale["exposed"]["conversion_rate"].as_f64().unwrap() - pe).abs() < 1e-12);
    let lift = sale["lift"].as_f64().unwrap();
    assert!((lift - (pe - pc) / pc).abs() < 1e-9, "{lift}");
    let ci = &sale["lift_ci95"];
    let (lo, hi) = (ci["low"].as_f64().unwrap(), ci["high"].as_f64().unwrap());
    assert!(lo < lift && lift < hi, "{ci}");
    let tab = &sale["engagements"][0];
    assert_eq!(tab["engagement"], "sale-tab");
    assert_eq!(tab["name"], "Sale tab");
    assert_eq!(tab["impressions"], 41);
    assert_eq!(tab["exposed"]["converters"], 10);
    assert_eq!(sale["engagements"][1]["impressions"], 0);
    assert_eq!(v["campaigns"][1]["campaign"], "geo");

    // A window with nothing in it, date-only bounds, the goal filter.
    let v = t
        .admin(
            "GET",
            "/admin/v1/sites/acme/report?from=2001-01-01&to=2001-01-31",
            Body::empty(),
        )
        .await
        .json();
    assert_eq!(v["campaigns"][0]["impressions"], 0);
    assert_eq!(v["campaigns"][0]["lift"], Value::Null);
    let v = t
        .admin(
            "GET",
            "/admin/v1/sites/acme/report?from=2000-01-01&goal=signup",
            Body::empty(),
        )
        .await
        .json();
    assert_eq!(v["campaigns"][0]["exposed"]["conversions"], 0);
    assert_eq!(v["goal"], "signup");
    // Default window: the last 30 days.
    let v = t
        .admin("GET", "/admin/v1/sites/acme/report", Body::empty())
        .await
        .json();
    assert_eq!(v["campaigns"][0]["impressions"], 41);

    let u = "/admin/v1/sites/acme/report";
    t.admin("GET", &format!("{u}?from=soon"), Body::empty())
        .await
        .assert_error(400, "invalid_query");
    t.admin(
        "GET",
        &format!("{u}?from=2026-02-01&to=2026-01-01"),
        Body::empty(),
    )
    .await
    .assert_error(400, "invalid_query");
    t.admin("GET", &format!("{u}?form=2026-02-01"), Body::empty())
        .await
        .assert_error(400, "invalid_query");
    t.admin("GET", "/admin/v1/sites/nope/report", Body::empty())
        .await
        .assert_error(404, "not_found");
}

// ---------------------------------------------------------------- offsite

#[tokio::test]
async fn offsite_links_redirect_by_eligibility() {
    let t = TestApp::with(|c| {
        c.country_header = Some(axum::http::HeaderName::from_static("cf-ipcountry"));
    });
    let go = |path: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let t = &t;
        async move { t.call("GET", path, &headers, Body::empty()).await }
    };
    go("/o/acme/mail-link", vec![]).await.assert_status(404);
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);

    // No agents: the survey.
    let r = go("/o/acme/mail-link", vec![]).await;
    r.assert_status(302);
    assert_eq!(r.header("location"), Some("https://acme.example/survey"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Agents online: the landing page, opening the engagement.
    t.put_availability("acme", "sales", 2, 1, 10)
        .await
        .assert_status(200);
    let r = go("/o/acme/mail-link", vec![]).await;
    assert_eq!(
        r.header("location"),
        Some("https://acme.example/landing?x=1&engage_open=mail-link")
    );
    // Audience over country (configured header) and device (User-Agent).
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
    let r = go(
        "/o/acme/gb-link",
        vec![("cf-ipcountry", "gb"), ("user-agent", iphone)],
    )
    .await;
    assert_eq!(
        r.header("location"),
        Some("https://acme.example/gb?engage_open=gb-link")
    );
    // Not met and no survey: the inactive page.
    let r = go(
        "/o/acme/gb-link",
        vec![("cf-ipcountry", "FR"), ("user-agent", iphone)],
    )
    .await;
    assert_eq!(r.header("location"), Some("https://acme.example/contact"));
    let r = go("/o/acme/gb-link", vec![("cf-ipcountry", "GB")]).await;
    assert_eq!(r.header("location"), Some("https://acme.example/contact"));
    // Disabled, unknown, or a web engagement: inactive.
    for path in [
        "/o/acme/old-link",
        "/o/acme/nope",
        "/o/acme/sale-tab",
        "/o/acme/Bad!",
    ] {
        let r = go(path, vec![]).await;
        if path.contains('!') {
            r.assert_status(404);
        } else {
            assert_eq!(
                r.header("location"),
                Some("https://acme.example/contact"),
                "{path}"
            );
        }
    }
    // Without an inactive page configured: a small 404 page.
    let mut doc = document("acme", 2);
    doc["settings"]
        .as_object_mut()
        .unwrap()
        .remove("inactive_engagement");
    t.upload("acme", &doc).await.assert_status(201);
    let r = go("/o/acme/nope", vec![]).await;
    r.assert_status(404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("not active"));
    go("/o/unknown/mail-link", vec![]).await.assert_status(404);
}

#[tokio::test]
async fn qr_codes() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let r = t
        .call(
            "GET",
            "/o/acme/mail-link/qr.svg",
            &[("host", "engage.example:8080")],
            Body::empty(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert!(r.text().contains("<svg"));
    t.get("/o/acme/mail-link/qr.svg")
        .await
        .assert_error(400, "invalid_host");
    t.call(
        "GET",
        "/o/acme/mail-link/qr.svg",
        &[("host", "a b")],
        Body::empty(),
    )
    .await
    .assert_error(400, "invalid_host");
    t.call(
        "GET",
        "/o/nope/mail-link/qr.svg",
        &[("host", "x")],
        Body::empty(),
    )
    .await
    .assert_error(404, "not_found");
    t.call(
        "GET",
        "/o/acme/Bad!/qr.svg",
        &[("host", "x")],
        Body::empty(),
    )
    .await
    .assert_error(400, "invalid_id");

    let t2 = TestApp::with(|c| c.public_url = Some("https://engage.example/".into()));
    t2.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let a = t2.get("/o/acme/mail-link/qr.svg").await;
    a.assert_status(200);
    let b = t2
        .call(
            "GET",
            "/o/acme/other-link/qr.svg",
            &[("host", "ignored")],
            Body::empty(),
        )
        .await;
    assert_ne!(a.body, b.body);
}

// ---------------------------------------------------------------- static files, health, metrics

/// `cargo xtask build-wasm` writes `pkg/tag.min.js`; `/tag.js` is that copy (manifest spliced
/// in), unless `tag.js` was edited after it.
#[tokio::test]
async fn tag_js_is_the_minified_copy_unless_the_source_is_newer() {
    let t = TestApp::new();
    let www = t.dir.path().join("www");
    let min = www.join("pkg/tag.min.js");
    std::fs::write(&min, "(()=>{window.m=/*__ENGAGE_MANIFEST__*/null})();").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(www.join("tag.js"))
        .and_then(|f| f.set_modified(old))
        .unwrap();
    let r = t.get("/tag.js").await;
    r.assert_status(200);
    assert_eq!(
        r.text(),
        r#"(()=>{window.m={"js":"engage_runtime-0123abcd.js","wasm":"engage_runtime_bg-4567ef01.wasm"}})();"#
    );
    std::fs::File::options()
        .write(true)
        .open(&min)
        .and_then(|f| f.set_modified(old - std::time::Duration::from_secs(60)))
        .unwrap();
    assert!(t.get("/tag.js").await.text().contains("var manifest={"));
}

#[tokio::test]
async fn static_files() {
    let t = TestApp::new();
    let r = t.get("/tag.js").await;
    r.assert_status(200);
    assert!(r
        .text()
        .contains(r#"var manifest={"js":"engage_runtime-0123abcd.js","wasm":"engage_runtime_bg-4567ef01.wasm"};"#));
    assert!(!r.text().contains("__ENGAGE_MANIFEST__"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let etag = r.header("etag").unwrap().to_owned();
    t.call("GET", "/tag.js", &[("if-none-match", &etag)], Body::empty())
        .await
        .assert_status(304);
    // A rebuilt manifest is picked up.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        t.dir.path().join("www/pkg/manifest.json"),
        r#"{"wasm":"new-1.wasm"}"#,
    )
    .unwrap();
    let r = t
        .call("GET", "/tag.js", &[("if-none-match", &etag)], Body::empty())
        .await;
    r.assert_status(200);
    assert!(r.text().contains(r#"{"wasm":"new-1.wasm"}"#));
    // CORS on public files.
    let r = t
        .call(
            "GET",
            "/tag.js",
            &[("origin", "https://shop.example")],
            Body::empty(),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let r = t.get("/pkg/engage_runtime_bg-4567ef01.wasm").await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/wasm"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let r = t.get("/pkg/manifest.json").await;
    assert_eq!(r.header("cache-control"), Some("public, no-cache"));
    t.get("/pkg/missing.wasm")
        .await
        .assert_error(404, "not_found");
    t.get("/pkg/../data/engage.sqlite3")
        .await
        .assert_status(404);

    let r = t.get("/demo/").await;
    r.assert_status(200);
    assert!(r.text().contains("demo"));
    let r = t.get("/admin/").await;
    r.assert_status(200);
    assert!(r.text().contains("admin"));
    let r = t.get("/admin").await;
    assert!(r.status.is_redirection());
    assert_eq!(r.header("location"), Some("/admin/"));
    let r = t.get("/").await;
    assert_eq!(r.header("location"), Some("/demo/"));

    // gzip on the fly for files (the wasm stand-in is too small; the demo page is not).
    std::fs::write(
        t.dir.path().join("www/demo/big.html"),
        "<p>hello</p>".repeat(500),
    )
    .unwrap();
    let r = t
        .call(
            "GET",
            "/demo/big.html",
            &[("accept-encoding", "gzip")],
            Body::empty(),
        )
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));

    // No tag built: a JSON 404.
    std::fs::remove_file(t.dir.path().join("www/tag.js")).unwrap();
    t.get("/tag.js").await.assert_error(404, "not_found");
}

#[tokio::test]
async fn cors_only_on_public_routes() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    let origin = [("origin", "https://shop.example")];
    let r = t
        .call("GET", "/v1/sites/acme/bundle", &origin, Body::empty())
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("etag"));
    let r = t
        .call(
            "OPTIONS",
            "/v1/sites/acme/events",
            &[
                ("origin", "https://shop.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Body::empty(),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let r = t
        .call(
            "GET",
            "/admin/v1/sites/acme/versions",
            &[
                ("origin", "https://evil.example"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            Body::empty(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let t = TestApp::new();
    let r = t.get("/healthz").await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"status": "ok"}));
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    t.get("/v1/sites/acme/bundle").await.assert_status(200);
    t.get("/v1/sites/nope/bundle").await.assert_status(404);
    t.get("/nowhere").await.assert_error(404, "not_found");
    t.get("/v1/sites/acme/nothing")
        .await
        .assert_error(404, "not_found");
    t.call("DELETE", "/v1/sites/acme/bundle", &[], Body::empty())
        .await
        .assert_error(405, "method_not_allowed");
    let r = t.get("/metrics").await;
    r.assert_status(200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let m = r.text();
    for needle in [
        "engage_http_requests_total{route=\"/v1/sites/{site}/bundle\",status=\"200\"} 1",
        "engage_http_requests_total{route=\"/v1/sites/{site}/bundle\",status=\"404\"} 1",
        "engage_http_requests_total{route=\"/admin/v1/sites/{site}/campaigns\",status=\"201\"} 1",
        "engage_http_requests_total{route=\"unmatched\",status=\"404\"}",
        "engage_http_request_duration_seconds_bucket{route=\"/v1/sites/{site}/bundle\",le=\"+Inf\"} 3",
        "engage_http_requests_total{route=\"/v1/sites/{site}/bundle\",status=\"405\"} 1",
        "engage_http_request_duration_seconds_count{route=\"/healthz\"} 1",
        "engage_versions_stored 1",
        "engage_sse_clients 0",
        "engage_events_ingested_total 0",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
}

// ---------------------------------------------------------------- persistence and refresh

#[tokio::test]
async fn restart_keeps_versions_and_availability() {
    let t = TestApp::new();
    t.upload("acme", &document("acme", 1))
        .await
        .assert_status(201);
    t.upload("acme", &document("acme", 2))
        .await
        .assert_status(201);
    t.admin(
        "POST",
        "/admin/v1/sites/acme/versions/1/activate",
        Body::empty(),
    )
    .await
    .assert_status(200);
    t.put_availability("acme", "sales", 4, 2, 9)
        .await
        .assert_status(200);
    let before = t.get("/v1/sites/acme/bundle").await;
    let avail = t.get("/v1/sites/acme/availability").await;

    let router = engage_server::app(t.reopen());
    let after = common::call(&router, "GET", "/v1/sites/acme/bundle", &[], Body::empty()).await;
    assert_eq!(after.body, before.body);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(after.json()["version"], 1);
    let a2 = common::call(
        &router,
        "GET",
        "/v1/sites/acme/availability",
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(a2.body, avail.body);
    let m = common::call(&router, "GET", "/metrics", &[], Body::empty())
        .await
        .text();
    assert!(m.contains("engage_versions_stored 2"), "{m}");
}

#[tokio::test]
async fn bundles_are_recompiled_before_valid_until() {
    let t = TestApp::new();
    let mut doc = document("acme", 1);
    // A weekly schedule makes the bundle expire (schedules expanded 35 days ahead).
    doc["campaigns"][0]["timeframe"] = json!({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]});
    t.upload("acme", &doc).await.assert_status(201);
    let b1 = t.get("/v1/sites/acme/bundle").await;
    let until1 = b1.json()["valid_until"].as_i64().unwrap();
    let etag1 = b1.header("etag").unwrap().to_owned();
    assert!(
        until1 > now_ms() + 30 * DAY && until1 < now_ms() + 40 * DAY,
        "{until1}"
    );

    // Within 7 days of valid_until: served as is, refreshed in the background.
    t.set_now(until1 - 3 * DAY);
    let r = t.get("/v1/sites/acme/bundle").await;
    r.assert_status(200);
    let mut fresh = None;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let r = t.get("/v1/sites/acme/bundle").await;
        if r.header("etag") != Some(etag1.as_str()) {
            fresh = Some(r);
            break;
        }
    }
    let fresh = fresh.expect("the bundle was recompiled");
    let until2 = fresh.json()["valid_until"].as_i64().unwrap();
    assert!(until2 > until1 + 20 * DAY, "{until2} vs {until1}");
    assert_eq!(fresh.json()["version"], 1);
    assert!(fresh.header("etag").unwrap().starts_with("\"1-"));

    // Past valid_until: recompiled before answering.
    t.set_now(until2 + DAY);
    let r = t.get("/v1/sites/acme/bundle").await;
    assert!(r.json()["valid_until"].as_i64().unwrap() > until2 + 20 * DAY);

    // The refreshed bundle is what a restart serves.
    let router = engage_server::app(t.reopen());
    let again = common::call(&router, "GET", "/v1/sites/acme/bundle", &[], Body::empty()).await;
    assert_eq!(again.body, r.body);
    // No new version was made.
    let v = t
        .admin("GET", "/admin/v1/sites/acme/versions", Body::empty())
        .await
        .json();
    assert_eq!(v["versions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn background_refresher_runs() {
    let t = TestApp::with(|c| c.refresh_interval = std::time::Duration::from_millis(50));
    let mut doc = document("acme", 1);
    doc["business_hours"] = json!([{"days": ["mon"], "from": "09:00", "to": "17:00"}]);
    t.upload("acme", &doc).await.assert_status(201);
    let until1 = t.get("/v1/sites/acme/bundle").await.json()["valid_until"]
        .as_i64()
        .unwrap();
    t.set_now(until1 - DAY);
    let task = tokio::spawn(engage_server::publish::refresher(
        t.state.clone(),
        t.state.config.refresh_interval,
    ));
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let a = t.state.sites.get("acme").unwrap().active().unwrap();
        if a.valid_until() > until1 {
            ok = true;
            break;
        }
    }
    assert!(ok, "refreshed by the background task");
    t.state.begin_shutdown();
    tokio::time::timeout(std::time::Duration::from_secs(2), task)
        .await
        .expect("the refresher stops at shutdown")
        .unwrap();
}

/// 400 for a body that is not JSON, 415 for a body declared as something else, 422 for JSON of
/// the wrong shape or breaking a rule, 409 for a state conflict; one error shape throughout.
#[tokio::test]
async fn statuses_say_what_is_wrong() {
    let t = TestApp::new();
    let auth = format!("Bearer {TOKEN}");
    let put = |ctype: &'static str, body: String| {
        let auth = auth.clone();
        let t = &t;
        async move {
            t.call(
                "PUT",
                "/admin/v1/sites/acme/campaigns",
                &[("authorization", &auth), ("content-type", ctype)],
                body,
            )
            .await
        }
    };
    let doc = document("acme", 1).to_string();
    put("application/xml", doc.clone())
        .await
        .assert_error(415, "unsupported_media_type");
    put("multipart/form-data; boundary=x", doc.clone())
        .await
        .assert_error(415, "unsupported_media_type");
    put("application/json", "<campaigns/>".into())
        .await
        .assert_error(400, "invalid_json");
    put("application/json", "[1, 2]".into())
        .await
        .assert_status(422);
    put("application/json; charset=utf-8", doc.clone())
        .await
        .assert_status(201);
    // curl -d's default type is accepted (the body is JSON).
    put("application/x-www-form-urlencoded", doc)
        .await
        .assert_status(201);
    // A campaign that exists already: a conflict.
    let c = document("acme", 1)["campaigns"][0].clone();
    t.admin("POST", "/admin/v1/sites/acme/campaigns/sale", c.to_string())
        .await
        .assert_error(409, "conflict");
}
