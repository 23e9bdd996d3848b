//! SMS admin API through the router (SPEC §10): validation by path, all-or-nothing uploads,
//! masking, state conflicts, webhook authentication. The real sending path (Kannel) is in
//! `sms_kannel.rs`.

mod common;

use common::{TestApp, TOKEN};
use serde_json::{json, Value};

const SITE: &str = "/admin/v1/sites/acme";

fn doc() -> Value {
    let mut d = common::document("acme", 1);
    d["settings"] = json!({"default_country": "GB"});
    d
}

async fn setup() -> TestApp {
    let app = TestApp::new();
    app.upload("acme", &doc()).await.assert_status(201);
    let inbox = json!({"name": "UK long code", "provider": "kannel", "from": "+447400123000",
        "rate_per_second": 10, "help_text": "Acme: reply STOP to opt out",
        "kannel": {"url": "http://127.0.0.1:9/cgi-bin/sendsms", "username": "u", "password": "secret-pass"}});
    app.admin("PUT", &format!("{SITE}/sms/inboxes/uk"), inbox.to_string())
        .await
        .assert_status(201);
    app
}

async fn put_csv(app: &TestApp, csv: &str) -> common::Resp {
    app.call(
        "PUT",
        &format!("{SITE}/contacts"),
        &[
            ("authorization", &format!("Bearer {TOKEN}")),
            ("content-type", "text/csv"),
        ],
        csv.to_owned(),
    )
    .await
}

#[tokio::test]
async fn inbox_secrets_are_masked_and_webhooks_shown() {
    let app = setup().await;
    let r = app
        .admin("GET", &format!("{SITE}/sms/inboxes/uk"), "")
        .await;
    r.assert_status(200);
    let v = r.json();
    assert_eq!(v["kannel"]["password"], "********", "{v}");
    assert!(!r.text().contains("secret-pass"), "{}", r.text());
    let status = v["webhooks"]["status"].as_str().unwrap_or_default();
    let inbound = v["webhooks"]["inbound"].as_str().unwrap_or_default();
    assert!(status.contains("/v1/sms/acme/uk/status?secret="), "{v}");
    assert!(inbound.ends_with("&from=%p&to=%P&text=%a"), "{v}");
    // Sending the masked value back keeps the stored password; the secret stays the same.
    let mut again = v.clone();
    for k in ["id", "webhooks", "created_at", "updated_at"] {
        again.as_object_mut().unwrap().remove(k);
    }
    again["name"] = json!("Renamed");
    let r = app
        .admin("PUT", &format!("{SITE}/sms/inboxes/uk"), again.to_string())
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["webhooks"], v["webhooks"]);
    let list = app
        .admin("GET", &format!("{SITE}/sms/inboxes"), "")
        .await
        .json();
    assert_eq!(list["inboxes"][0]["name"], "Renamed");
    // Every problem at its path.
    let bad = json!({"name": "", "provider": "kannel", "from": "not a sender!", "rate_per_second": 0,
                     "kannel": {"url": "ftp://x", "username": "u"}, "colour": 1});
    let r = app
        .admin("PUT", &format!("{SITE}/sms/inboxes/bad"), bad.to_string())
        .await;
    let e = r.assert_error(422, "validation_failed");
    let paths: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    for p in [
        "colour",
        "name",
        "from",
        "rate_per_second",
        "kannel.url",
        "kannel.password",
    ] {
        assert!(paths.contains(&p), "{p} missing in {paths:?}");
    }
}

#[tokio::test]
async fn contacts_csv_all_or_nothing_with_lines() {
    let app = setup().await;
    let csv = "id,phone,name,tags,timezone,attributes.city\n\
               c-1,07400 123456,Ana,vip;newsletter,Europe/London,Leeds\n\
               c-2,+44 12,Bo,vip,,York\n\
               c-3,07400 123457,Cy,vip,Mars/Olympus,York\n";
    let r = put_csv(&app, csv).await;
    let e = r.assert_error(422, "validation_failed");
    let details = e["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2, "{e}");
    assert_eq!(details[0]["path"], "contacts[1].phone");
    assert!(
        details[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 3: "),
        "{e}"
    );
    assert_eq!(details[1]["path"], "contacts[2].timezone");
    assert!(
        details[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 4: "),
        "{e}"
    );
    // Nothing was stored.
    let list = app
        .admin("GET", &format!("{SITE}/contacts"), "")
        .await
        .json();
    assert_eq!(list["contacts"].as_array().unwrap().len(), 0, "{list}");
    // Fixed, it all lands; national numbers are read in settings.default_country.
    let csv = csv
        .replace("+44 12", "+44 7400 123458")
        .replace("Mars/Olympus", "");
    let r = put_csv(&app, &csv).await;
    r.assert_status(200);
    assert_eq!(r.json()["created"], 3);
    let list = app
        .admin("GET", &format!("{SITE}/contacts?tag=newsletter"), "")
        .await
        .json();
    assert_eq!(list["contacts"][0]["phone"], "+447400123456", "{list}");
    assert_eq!(list["contacts"][0]["attributes"]["city"], "Leeds");
    let tags = app
        .admin("GET", &format!("{SITE}/contacts/tags"), "")
        .await
        .json();
    assert_eq!(
        tags["tags"][0],
        json!({"tag": "vip", "contacts": 3}),
        "{tags}"
    );
    // Paging by cursor.
    let p1 = app
        .admin("GET", &format!("{SITE}/contacts?limit=2"), "")
        .await
        .json();
    assert_eq!(p1["contacts"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
    let p2 = app
        .admin(
            "GET",
            &format!("{SITE}/contacts?limit=2&cursor={cursor}"),
            "",
        )
        .await
        .json();
    assert_eq!(p2["contacts"][0]["id"], "c-3");
    assert!(p2["next_cursor"].is_null());
    // Not CSV or JSON: 415; not JSON: 400.
    let r = app
        .call(
            "PUT",
            &format!("{SITE}/contacts"),
            &[
                ("authorization", &format!("Bearer {TOKEN}")),
                ("content-type", "text/xml"),
            ],
            "<a/>",
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    app.admin("PUT", &format!("{SITE}/contacts"), "[{")
        .await
        .assert_error(400, "invalid_json");
    // Erase.
    app.admin("DELETE", &format!("{SITE}/contacts/c-1"), "")
        .await
        .assert_status(204);
    app.admin("DELETE", &format!("{SITE}/contacts/c-1"), "")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn campaign_rules_by_path_and_states() {
    let app = setup().await;
    app.admin(
        "PUT",
        &format!("{SITE}/contacts"),
        json!([
            {"id": "a", "phone": "+447400123456", "name": "Ana", "tags": ["vip"]},
            {"id": "b", "phone": "07400 123456", "name": "Ana again", "tags": ["vip"]},
            {"id": "c", "phone": "+447400123457", "tags": ["vip", "churned"]},
            {"id": "d", "phone": "+447400123458", "tags": ["vip"], "consent": false}
        ])
        .to_string(),
    )
    .await
    .assert_status(200);
    let past = "2020-01-01T10:00:00Z";
    let bad = json!({"id": "Bad Id", "title": "", "message": "Hi {{first}} {{name}}", "inbox": "nope",
        "audience": {"tags": {"any": [""]}, "condition": {"city": {"$gtee": 1}}},
        "scheduled_at": past, "quiet_hours": {"from": "21:00", "to": "25:00"}, "engagement": "ghost"});
    let r = app
        .admin("POST", &format!("{SITE}/sms/campaigns"), bad.to_string())
        .await;
    let e = r.assert_error(422, "validation_failed");
    let paths: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    for p in [
        "id",
        "title",
        "message",
        "inbox",
        "audience.tags.any[0]",
        "audience.condition.city.$gtee",
        "scheduled_at",
        "quiet_hours.to",
        "engagement",
    ] {
        assert!(paths.contains(&p), "{p} missing in {paths:?}");
    }
    // Too long: 11 segments.
    let long =
        json!({"id": "long", "title": "Long", "message": "a".repeat(153 * 10 + 1), "inbox": "uk"});
    let r = app
        .admin("POST", &format!("{SITE}/sms/campaigns"), long.to_string())
        .await;
    let e = r.assert_error(422, "validation_failed");
    assert!(
        e["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("11 segments"),
        "{e}"
    );

    let later = engage_engine::schedule::format_instant(common::now_ms() + 3_600_000);
    let good = json!({"id": "winter-sale", "title": "Winter sale", "message": "Hi {{name | there}}, 20% off until Sunday.",
        "inbox": "uk", "audience": {"tags": {"any": ["vip"], "none": ["churned"]}},
        "scheduled_at": later, "quiet_hours": {"from": "21:00", "to": "08:00"}});
    let r = app
        .admin("POST", &format!("{SITE}/sms/campaigns"), good.to_string())
        .await;
    r.assert_status(201);
    let v = r.json();
    assert_eq!(v["status"], "scheduled");
    // a and b share a number (one recipient), c is excluded, d has no consent.
    assert_eq!(v["audience_size"], 1, "{v}");
    assert_eq!(v["segments"]["encoding"], "gsm7");
    app.admin("POST", &format!("{SITE}/sms/campaigns"), good.to_string())
        .await
        .assert_error(409, "conflict");
    let a = app
        .admin(
            "POST",
            &format!("{SITE}/sms/audience"),
            json!({"audience": {"tags": {"any": ["vip"]}}}).to_string(),
        )
        .await
        .json();
    assert_eq!(
        (
            a["size"].as_u64(),
            a["duplicates"].as_u64(),
            a["no_consent"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{a}"
    );

    // PATCH while scheduled; a past time is refused at its path.
    let r = app
        .admin(
            "PATCH",
            &format!("{SITE}/sms/campaigns/winter-sale"),
            json!({"title": "Winter sale!"}).to_string(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["title"], "Winter sale!");
    assert_eq!(r.json()["message"], good["message"]);
    let r = app
        .admin(
            "PATCH",
            &format!("{SITE}/sms/campaigns/winter-sale"),
            json!({"scheduled_at": past}).to_string(),
        )
        .await;
    let e = r.assert_error(422, "validation_failed");
    assert_eq!(e["error"]["details"][0]["path"], "scheduled_at");
    // Cancel, then no more edits (409); delete works.
    app.admin(
        "POST",
        &format!("{SITE}/sms/campaigns/winter-sale/cancel"),
        "",
    )
    .await
    .assert_status(200);
    app.admin(
        "PATCH",
        &format!("{SITE}/sms/campaigns/winter-sale"),
        json!({"title": "x"}).to_string(),
    )
    .await
    .assert_error(409, "conflict");
    app.admin(
        "POST",
        &format!("{SITE}/sms/campaigns/winter-sale/cancel"),
        "",
    )
    .await
    .assert_error(409, "conflict");
    let list = app
        .admin("GET", &format!("{SITE}/sms/campaigns"), "")
        .await
        .json();
    assert_eq!(list["campaigns"][0]["status"], "cancelled");
    app.admin("DELETE", &format!("{SITE}/sms/campaigns/winter-sale"), "")
        .await
        .assert_status(204);
    app.admin("GET", &format!("{SITE}/sms/campaigns/winter-sale"), "")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn preview_counts_like_a_gateway() {
    let app = setup().await;
    let cases = [
        ("a".repeat(160), "gsm7", 1, 160),
        ("a".repeat(161), "gsm7", 2, 153),
        ("€".repeat(81), "gsm7", 2, 153),
        ("я".repeat(70), "ucs2", 1, 70),
        ("я".repeat(71), "ucs2", 2, 67),
    ];
    for (text, enc, segs, per) in cases {
        let r = app
            .admin(
                "POST",
                &format!("{SITE}/sms/preview"),
                json!({"message": text}).to_string(),
            )
            .await;
        let v = r.json();
        assert_eq!(
            (
                v["encoding"].as_str(),
                v["segments"].as_u64(),
                v["characters_per_segment"].as_u64()
            ),
            (Some(enc), Some(segs), Some(per)),
            "{v}"
        );
    }
    app.admin(
        "POST",
        &format!("{SITE}/sms/preview"),
        json!({"text": "x"}).to_string(),
    )
    .await
    .assert_error(422, "validation_failed");
}

#[tokio::test]
async fn webhooks_need_the_inbox_secret() {
    let app = setup().await;
    let v = app
        .admin("GET", &format!("{SITE}/sms/inboxes/uk"), "")
        .await
        .json();
    let status = v["webhooks"]["status"].as_str().unwrap().to_owned();
    let path = status
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap();
    let r = app
        .get("/v1/sms/acme/uk/status?secret=wrong&msg=1&type=1")
        .await;
    r.assert_error(401, "unauthorized");
    app.get("/v1/sms/acme/nobody/inbound?secret=x&from=%2B447400123456&text=hi")
        .await
        .assert_error(401, "unauthorized");
    app.get(&format!("{path}&msg=999&type=1"))
        .await
        .assert_status(200);
    app.get(&format!("{path}&msg=999"))
        .await
        .assert_error(400, "invalid_webhook");
    // An inbound STOP opts the number out (national form read in GB).
    let inbound = path.replace("/status?", "/inbound?");
    let r = app
        .get(&format!(
            "{inbound}&from=07400123456&to=%2B447400123000&text=Stop"
        ))
        .await;
    r.assert_status(200);
    let o = app
        .admin("GET", &format!("{SITE}/sms/opt-outs"), "")
        .await
        .json();
    assert_eq!(o["opt_outs"][0]["phone"], "+447400123456", "{o}");
    let r = app
        .get(&format!("{inbound}&from=07400123456&text=START"))
        .await;
    r.assert_status(200);
    let o = app
        .admin("GET", &format!("{SITE}/sms/opt-outs"), "")
        .await
        .json();
    assert_eq!(o["opt_outs"].as_array().unwrap().len(), 0, "{o}");
    app.get(&format!("{inbound}&text=hello"))
        .await
        .assert_error(400, "invalid_webhook");
    let long = "x".repeat(5000);
    app.get(&format!("{inbound}&from=07400123456&text={long}"))
        .await
        .assert_error(400, "invalid_webhook");
}
