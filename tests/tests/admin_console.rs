//! (g) The admin console (`/admin/`): sign in with the token, create a campaign in the editor,
//! see it on a demo page, disable it with the switch, see it gone, delete it through the
//! confirmation dialog (cancel first, then confirm).

use std::time::{Duration, Instant};

use engage_e2e::*;
use fantoccini::elements::Element;
use fantoccini::Locator;
use serde_json::{json, Value};

/// The demo pages carry `site: "acme"`.
const SITE: &str = "acme";
const CAMPAIGN: &str = "console-demo";
const ENGAGEMENT: &str = "console-demo-chat";

async fn css(b: &Browser, selector: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b.client.find(Locator::Css(selector)).await {
            Ok(e) => return e,
            Err(e) if Instant::now() > deadline => panic!("no `{selector}` in the console: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn click(b: &Browser, selector: &str) {
    css(b, selector)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click `{selector}`: {e}"));
}

async fn type_into(b: &Browser, selector: &str, text: &str) {
    let e = css(b, selector).await;
    e.clear()
        .await
        .unwrap_or_else(|err| panic!("clear `{selector}`: {err}"));
    e.send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("type into `{selector}`: {err}"));
}

/// The active document's campaign `id`, if any (admin API).
fn campaign(server: &Server, id: &str) -> Option<Value> {
    let res = server.admin("GET", &format!("/admin/v1/sites/{SITE}/campaigns"), None);
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["campaigns"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}

async fn wait_api(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens /demo/pricing.html, waits for the base help button (the runtime ran and decided) and
/// 2 s more; answers whether the console's engagement is on the page.
async fn console_engagement_on_demo_page(b: &Browser, server: &Server) -> Option<Shown> {
    b.goto(&server.url("/demo/pricing.html")).await;
    b.wait_engagement("base-help", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    b.find_engagement(ENGAGEMENT).await
}

#[tokio::test]
async fn g_admin_console_create_disable_delete() {
    let _serial = serial().await;
    let server = Server::start();
    // A base document: one campaign (a help button in the demo pages' #help-button-slot) that
    // shows the runtime is running on a page.
    server.put_document(&document(
        SITE,
        json!({}),
        json!([{
            "id": "base",
            "name": "Base help",
            "engagements": [{
                "id": "base-help",
                "kind": "conversation",
                "channel": "chat",
                "format": "button",
                "zone": {"embedded": "help-button-slot"},
                "skill": "support",
                "behavior": {"time_on_page": 0},
                "creative": chat_creative("Help")
            }]
        }]),
    ));
    server.put_availability(SITE, "sales", online());
    server.put_availability(SITE, "support", online());

    let b = Browser::launch().await;
    let source = axe_source();
    let mut a11y = Vec::new();
    within("test (g)", Duration::from_secs(150), async {
        // Sign in.
        b.goto(&server.url("/admin/")).await;
        type_into(&b, "[data-testid=signin-token]", TOKEN).await;
        type_into(&b, "[data-testid=signin-site]", SITE).await;
        click(&b, "[data-testid=signin-submit]").await;
        css(&b, "[data-testid=campaign-card][data-campaign-id=base]").await;
        b.screenshot_settled("admin-campaigns").await;
        a11y.extend(axe_problems(&b, &source, "Campaign list").await);

        // Create a campaign: a sticky tab on every page, shown at once.
        click(&b, "[data-testid=create-campaign]").await;
        css(&b, "[data-testid=campaign-form]").await;
        // A bad id: the console lists the problem in the server's own words before asking the
        // server (the engine's validation, as wasm in the page: `data-source=client`), the same
        // text an upload of that document gets back.
        type_into(&b, "[data-testid=field-id]", "Bad Id").await;
        let shown = b
            .wait_for(
                "the id's problem at its field",
                Duration::from_secs(10),
                r#"const e = document.querySelector('[data-testid=error-item][data-source=client][data-path="campaigns[1].id"]'); return e ? e.textContent : null;"#,
            )
            .await;
        let mut doc = server
            .admin("GET", &format!("/admin/v1/sites/{SITE}/campaigns"), None)
            .json();
        doc["campaigns"]
            .as_array_mut()
            .expect("campaigns")
            .push(json!({"id": "Bad Id", "engagements": []}));
        let refused = server.admin(
            "PUT",
            &format!("/admin/v1/sites/{SITE}/campaigns"),
            Some(&doc),
        );
        assert_eq!(refused.status, 422, "{}", refused.text());
        let body = refused.json();
        let said = body["error"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["path"] == "campaigns[1].id")
            .map(|d| format!("id {}", d["message"].as_str().unwrap_or_default()));
        assert_eq!(shown.as_str(), said.as_deref(), "console vs server: {body}");
        // …and at the field itself, while it is being typed in.
        let at_field = b
            .js(
                r#"const e = document.querySelector('.field[data-path="campaigns[1].id"] > ul.errors > [data-testid=field-error]'); return e ? e.textContent : null;"#,
                vec![],
            )
            .await;
        assert_eq!(
            format!("id {}", at_field.as_str().unwrap_or_default()),
            shown.as_str().unwrap_or_default(),
            "the id's problem under its input"
        );
        type_into(&b, "[data-testid=field-id]", CAMPAIGN).await;
        // Nothing is pre-written: saving now lists, at their fields, the name and the online
        // creative's title and call to action (placeholders show examples), and saves nothing.
        click(&b, "[data-testid=save-campaign]").await;
        let missing = b
            .wait_for(
                "the console's own problems at their fields",
                Duration::from_secs(5),
                r#"const at = (p) => document.querySelector(`[data-path="${p}"] > ul.errors > [data-testid=field-error]`);
                   const ps = ["campaigns[1].name", "campaigns[1].engagements[0].creative.online.title", "campaigns[1].engagements[0].creative.online.cta"];
                   const found = ps.map((p) => at(p) && at(p).textContent);
                   const title = document.querySelector('[data-testid="field-engagements[0].creative.online.title"]');
                   return found.every(Boolean) ? { found, placeholder: title.placeholder, value: title.value,
                     invalid: title.getAttribute("aria-invalid") } : null;"#,
            )
            .await;
        println!("before the words are written: {missing}");
        assert_eq!(missing["value"], "", "no pre-filled title: {missing}");
        assert!(
            !missing["placeholder"].as_str().unwrap_or_default().is_empty(),
            "an example as placeholder: {missing}"
        );
        assert_eq!(missing["invalid"], "true", "{missing}");
        assert!(campaign(&server, CAMPAIGN).is_none(), "nothing saved yet");
        type_into(&b, "[data-testid=field-name]", "Console demo").await;
        type_into(
            &b,
            r#"[data-testid="field-engagements[0].creative.online.title"]"#,
            "Questions?",
        )
        .await;
        type_into(
            &b,
            r#"[data-testid="field-engagements[0].creative.online.cta"]"#,
            "Chat now",
        )
        .await;
        // The message's toolbar writes the allowed markup around the selection.
        let message = r#"[data-testid="field-engagements[0].creative.online.message"]"#;
        type_into(&b, message, "Our team is online").await;
        let bold = b
            .js(
                &format!(
                    "const t = document.querySelector('{}'); t.setSelectionRange(12, 18); \
                     document.querySelector('[data-testid=creative-online] [data-testid=rt-bold]').click(); return t.value;",
                    message.replace('\'', "\\'")
                ),
                vec![],
            )
            .await;
        assert_eq!(bold, "Our team is <b>online</b>", "the Bold button");
        b.js(
            "document.querySelector('[data-testid=creative-online]').scrollIntoView({ block: 'center', behavior: 'instant' }); return true;",
            vec![],
        )
        .await;
        b.screenshot_settled("admin-editor-creatives").await;
        // Start and end are picked in the site's time zone (Europe/London: 09:00 on 1 June is
        // 08:00 UTC) and saved as RFC 3339 UTC.
        b.js(
            "const s = document.querySelector('[data-testid=\"field-timeframe.start\"]'); \
             s.value = '2026-06-01T09:00'; s.dispatchEvent(new Event('change', { bubbles: true })); return s.type;",
            vec![],
        )
        .await;
        let eng_id = css(&b, r#"[data-testid="field-engagements[0].id"]"#)
            .await
            .prop("value")
            .await
            .expect("engagement id value");
        if eng_id.as_deref() != Some(ENGAGEMENT) {
            type_into(&b, r#"[data-testid="field-engagements[0].id"]"#, ENGAGEMENT).await;
        }
        type_into(
            &b,
            r#"[data-testid="field-engagements[0].behavior.time_on_page"]"#,
            "0",
        )
        .await;
        b.screenshot_settled("admin-editor").await;
        a11y.extend(axe_problems(&b, &source, "Campaign editor").await);
        click(&b, "[data-testid=save-campaign]").await;
        css(
            &b,
            &format!("[data-testid=campaign-card][data-campaign-id={CAMPAIGN}]"),
        )
        .await;
        let saved = campaign(&server, CAMPAIGN).expect("the console saved the campaign");
        assert_eq!(saved["engagements"][0]["id"], ENGAGEMENT, "{saved:#}");
        assert_eq!(saved["name"], "Console demo", "{saved:#}");
        assert_eq!(
            saved["engagements"][0]["creative"]["online"]["message"],
            "Our team is <b>online</b>",
            "{saved:#}"
        );
        assert_eq!(saved["timeframe"]["start"], "2026-06-01T08:00:00Z", "{saved:#}");
        b.screenshot_settled("admin-campaigns-created").await;

        // On a demo page.
        let shown = console_engagement_on_demo_page(&b, &server)
            .await
            .expect("the new campaign's engagement on /demo/pricing.html");
        assert_eq!(shown.campaign(), CAMPAIGN);
        assert_eq!(shown.zone(), "right");
        assert!(shown.visible(), "{shown:?}");

        // Disable it with the switch.
        b.goto(&server.url("/admin/#/campaigns")).await;
        let toggle = format!(
            "[data-testid=campaign-card][data-campaign-id={CAMPAIGN}] [data-testid=toggle-enabled]"
        );
        let before = css(&b, &toggle).await.attr("aria-checked").await.unwrap();
        assert_eq!(before.as_deref(), Some("true"));
        click(&b, &toggle).await;
        wait_api("the campaign disabled through the API", || {
            campaign(&server, CAMPAIGN).is_some_and(|c| c["enabled"] == false)
        })
        .await;
        let after = css(&b, &toggle).await.attr("aria-checked").await.unwrap();
        assert_eq!(after.as_deref(), Some("false"), "the switch shows off");

        // Gone from the demo page (same visitor: the cached bundle is revalidated).
        let gone = console_engagement_on_demo_page(&b, &server).await;
        let version = b
            .js(
                "return caches.open('engage').then((c) => c.match(location.origin + '/v1/sites/acme/bundle')).then((r) => r ? r.text() : '').then((v) => { const m = v.match(/\"version\":(\\d+)/); return m ? Number(m[1]) : null; });",
                vec![],
            )
            .await;
        assert!(
            gone.is_none(),
            "the disabled campaign still shows on the demo page 2 s after load, although the page \
             holds bundle version {version} (the disabled one): {gone:?}"
        );

        // Delete: the dialog's Cancel keeps it, Delete removes it.
        b.goto(&server.url("/admin/#/campaigns")).await;
        let delete = format!(
            "[data-testid=campaign-card][data-campaign-id={CAMPAIGN}] [data-testid=delete-campaign]"
        );
        click(&b, &delete).await;
        b.wait_for(
            "the confirmation dialog",
            Duration::from_secs(5),
            "return document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        b.screenshot_settled("admin-delete-dialog").await;
        click(&b, "[data-testid=cancel-delete]").await;
        b.wait_for(
            "the dialog to close",
            Duration::from_secs(5),
            "return !document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        assert!(
            campaign(&server, CAMPAIGN).is_some(),
            "Cancel must not delete"
        );
        click(&b, &delete).await;
        b.wait_for(
            "the confirmation dialog (again)",
            Duration::from_secs(5),
            "return document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        click(&b, "[data-testid=confirm-delete]").await;
        wait_api("the campaign deleted through the API", || {
            campaign(&server, CAMPAIGN).is_none()
        })
        .await;
        b.wait_for(
            "the card to leave the list",
            Duration::from_secs(5),
            &format!(
                "return !document.querySelector('[data-testid=campaign-card][data-campaign-id={CAMPAIGN}]');"
            ),
        )
        .await;
        assert!(campaign(&server, "base").is_some(), "the other campaign stays");
        let versions = server.admin("GET", &format!("/admin/v1/sites/{SITE}/versions"), None);
        let n = versions.json()["versions"].as_array().map_or(0, Vec::len);
        assert_eq!(n, 4, "upload, create, disable, delete: {}", versions.text());

        // The other views, for axe: a simulation with its results, the report, the versions.
        b.goto(&server.url("/admin/#/simulate")).await;
        click(&b, "[data-testid=simulate-run]").await;
        css(&b, "[data-testid=trace-table]").await;
        b.screenshot_settled("admin-simulate").await;
        a11y.extend(axe_problems(&b, &source, "Simulate").await);
        b.goto(&server.url("/admin/#/report")).await;
        css(&b, "[data-testid=report-result]").await;
        a11y.extend(axe_problems(&b, &source, "Report").await);
        b.goto(&server.url("/admin/#/versions")).await;
        css(&b, "[data-testid=version-row]").await;
        b.screenshot_settled("admin-versions").await;
        a11y.extend(axe_problems(&b, &source, "Versions").await);
        // Roll back to the first version: the page's header follows.
        let header = css(&b, "[data-testid=active-version]").await.text().await.unwrap_or_default();
        assert_eq!(header, "Active version: 4", "before the rollback");
        // (Earlier toasts dismissed: one sits over the row's button at this size.)
        b.js(
            "for (const t of document.querySelectorAll('[data-testid=toast]')) t.remove(); return true;",
            vec![],
        )
        .await;
        click(&b, "[data-testid=activate-version][data-version='1']").await;
        click(&b, "[data-testid=confirm-delete]").await;
        b.wait_for(
            "the header to name the version rolled back to",
            Duration::from_secs(5),
            "const e = document.querySelector('[data-testid=active-version]'); return e && e.textContent === 'Active version: 1';",
        )
        .await;

        // The same views on a phone (390×844).
        b.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await;
        for (view, ready, name) in [
            ("campaigns", "[data-testid=campaign-card]", "campaigns"),
            ("campaigns/new", "[data-testid=campaign-form]", "editor"),
            ("versions", "[data-testid=version-row]", "versions"),
        ] {
            b.goto(&server.url(&format!("/admin/#/{view}"))).await;
            css(&b, ready).await;
            b.screenshot_settled(&format!("admin-{name}-phone")).await;
            a11y.extend(axe_problems(&b, &source, &format!("{name} (phone)")).await);
        }
        b.goto(&server.url("/admin/#/simulate")).await;
        click(&b, "[data-testid=simulate-run]").await;
        css(&b, "[data-testid=trace-table]").await;
        b.screenshot_settled("admin-simulate-phone").await;
        a11y.extend(axe_problems(&b, &source, "simulate (phone)").await);
        b.cdp("Emulation.clearDeviceMetricsOverride", json!({})).await;
    })
    .await;
    b.close().await;
    assert!(
        a11y.is_empty(),
        "axe: serious or critical violations in the console:\n{}",
        a11y.join("\n")
    );
}
