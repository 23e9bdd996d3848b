//! (s) The admin console's SMS section (`/admin/#/sms`, SPEC §10): the empty state and its Create
//! button; a campaign created through the form (the server's character/segment counter showing
//! the encoding, a tag picked and the live audience size, a 422 placed at its field), its card
//! with status Scheduled; the contacts page with a CSV import whose one bad row is listed by its
//! line, then a good import, and a contact deleted through the confirmation dialog; a campaign
//! sent now followed to 100% by the live progress bar (a fake Kannel accepts the messages);
//! axe-core finds no serious or critical violation on the list, the form, the report and the
//! contacts page.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engage_e2e::*;
use fantoccini::elements::Element;
use fantoccini::Locator;
use serde_json::{json, Value};

const SITE: &str = "acme";

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

/// Clicks `selector` after scrolling it to the middle of the viewport (the form's sticky save
/// bar covers the bottom).
async fn click(b: &Browser, selector: &str) {
    let e = css(b, selector).await;
    b.js(
        "document.querySelector(arguments[0])?.scrollIntoView({block: 'center'}); return true;",
        vec![json!(selector)],
    )
    .await;
    e.click()
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

/// Sets a textarea's value at once (as a paste would) and fires `input`.
async fn paste(b: &Browser, selector: &str, text: &str) {
    css(b, selector).await;
    b.js(
        "const el = document.querySelector(arguments[0]); el.focus(); el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true})); return true;",
        vec![json!(selector), json!(text)],
    )
    .await;
}

/// Clicks the label of the tag checkbox `tag` in the picker `which` (`any` or `none`): the
/// checkbox itself is drawn as that label.
async fn pick_tag(b: &Browser, which: &str, tag: &str) {
    let v = b
        .wait_for(
            &format!("the tag `{tag}` in the “{which} of” picker"),
            Duration::from_secs(10),
            &format!(
                "const box = document.querySelector('[data-testid=sms-tags-{which}] input[data-tag=\"{tag}\"]'); const l = box && document.querySelector(`label[for=\"${{box.id}}\"]`); if (l) l.scrollIntoView({{block: 'center'}}); return l;"
            ),
        )
        .await;
    element(&b.client, &v)
        .expect("the tag's label")
        .click()
        .await
        .unwrap_or_else(|e| panic!("click tag {tag}: {e}"));
}

fn ok(res: &http::Response, what: &str) -> Value {
    assert!(
        (200..300).contains(&res.status),
        "{what}: HTTP {} {}",
        res.status,
        res.text()
    );
    if res.body.is_empty() {
        Value::Null
    } else {
        res.json()
    }
}

fn sms_campaign(server: &Server, id: &str) -> Option<Value> {
    let res = server.admin(
        "GET",
        &format!("/admin/v1/sites/{SITE}/sms/campaigns/{id}"),
        None,
    );
    match res.status {
        404 => None,
        _ => Some(ok(&res, "GET sms campaign")),
    }
}

fn contact_ids(server: &Server) -> Vec<String> {
    let res = server.admin(
        "GET",
        &format!("/admin/v1/sites/{SITE}/contacts?limit=100"),
        None,
    );
    ok(&res, "GET contacts")["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(String::from))
        .collect()
}

async fn wait_api(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stand-in for Kannel's sendsms: answers every request `202 0: Accepted for delivery` and
/// counts them. Runs until the test process ends.
fn fake_kannel() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Kannel");
    let url = format!(
        "http://{}/cgi-bin/sendsms",
        listener.local_addr().expect("addr")
    );
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let body = "0: Accepted for delivery";
                let _ = write!(
                    s,
                    "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (url, count)
}

/// A site with a document (its time zone), an inbox `uk` on the fake Kannel and three contacts.
fn set_up(server: &Server, kannel_url: &str) {
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
    let inbox = json!({
        "name": "UK long code",
        "provider": "kannel",
        "from": "+447400123000",
        "rate_per_second": 10,
        "help_text": "Acme: reply STOP to opt out",
        "kannel": {"url": kannel_url, "username": "engage", "password": "secret"}
    });
    ok(
        &server.admin(
            "PUT",
            &format!("/admin/v1/sites/{SITE}/sms/inboxes/uk"),
            Some(&inbox),
        ),
        "PUT inbox",
    );
    let contacts = json!([
        {"id": "c-1", "phone": "+447400123456", "name": "Ana", "tags": ["vip", "newsletter"],
         "attributes": {"city": "Leeds"}, "timezone": "Europe/London", "consent": true},
        {"id": "c-2", "phone": "+447400123457", "name": "Ben", "tags": ["vip"], "consent": true},
        {"id": "c-3", "phone": "+447400123458", "name": "Cleo", "tags": ["newsletter"], "consent": true}
    ]);
    ok(
        &server.admin(
            "PUT",
            &format!("/admin/v1/sites/{SITE}/contacts"),
            Some(&contacts),
        ),
        "PUT contacts",
    );
}

#[tokio::test]
async fn s_sms_console() {
    let _serial = serial().await;
    let server = Server::start();
    let (kannel_url, kannel_hits) = fake_kannel();
    set_up(&server, &kannel_url);
    let source = axe_source();
    let mut a11y: Vec<String> = Vec::new();

    let b = Browser::launch().await;
    within("test (s)", Duration::from_secs(240), async {
        // Sign in, open the SMS section: the empty state, with its Create button.
        b.goto(&server.url("/admin/")).await;
        type_into(&b, "[data-testid=signin-token]", TOKEN).await;
        type_into(&b, "[data-testid=signin-site]", SITE).await;
        click(&b, "[data-testid=signin-submit]").await;
        css(&b, "[data-testid=campaign-card]").await;
        click(&b, "[data-testid=nav-sms]").await;
        let empty = css(&b, "[data-testid=sms-empty]").await;
        let text = empty.text().await.expect("empty state text");
        assert!(
            text.contains("No SMS campaigns are available"),
            "empty state: {text}"
        );
        css(&b, "[data-testid=sms-empty] [data-testid=sms-create]").await;
        b.screenshot_settled("sms-empty").await;
        a11y.extend(axe_problems(&b, &source, "SMS list (empty)").await);

        // The form: title → id, message → the server's counter, a tag → the audience size.
        click(&b, "[data-testid=sms-empty] [data-testid=sms-create]").await;
        css(&b, "[data-testid=sms-form]").await;
        type_into(&b, "[data-testid=sms-field-title]", "Winter sale").await;
        let id = css(&b, "[data-testid=sms-field-id]")
            .await
            .prop("value")
            .await
            .expect("id value");
        assert_eq!(id.as_deref(), Some("winter-sale"), "the id follows the title");
        type_into(
            &b,
            "[data-testid=sms-field-message]",
            "Hi {{name}}, 20% off everything until Sunday.",
        )
        .await;
        let counter = b
            .wait_for(
                "the counter to show GSM-7 and one segment",
                Duration::from_secs(10),
                "const c = document.querySelector('[data-testid=sms-counter]'); return c && c.dataset.encoding === 'gsm7' && c.dataset.segments === '1' ? c.textContent : null;",
            )
            .await;
        assert!(
            counter.as_str().unwrap_or("").contains("1 segment"),
            "counter: {counter}"
        );
        // Cyrillic is outside GSM-7: the server says UCS-2.
        paste(&b, "[data-testid=sms-field-message]", "Привет {{name}}, скидка 20%.").await;
        b.wait_for(
            "the counter to show UCS-2",
            Duration::from_secs(10),
            "const c = document.querySelector('[data-testid=sms-counter]'); return c && c.dataset.encoding === 'ucs2';",
        )
        .await;
        type_into(
            &b,
            "[data-testid=sms-field-message]",
            "Hi {{name}}, 20% off everything until Sunday.",
        )
        .await;
        b.wait_for(
            "the counter back to GSM-7",
            Duration::from_secs(10),
            "const c = document.querySelector('[data-testid=sms-counter]'); return c && c.dataset.encoding === 'gsm7';",
        )
        .await;
        pick_tag(&b, "any", "vip").await;
        let size = b
            .wait_for(
                "the audience size for tag vip",
                Duration::from_secs(10),
                "const a = document.querySelector('[data-testid=sms-audience-size]'); return a && a.dataset.size === '2' ? a.textContent : null;",
            )
            .await;
        assert!(size.as_str().unwrap_or("").contains('2'), "audience: {size}");
        // The phone preview fills {{name}} from a matching contact.
        let bubble = css(&b, "[data-testid=sms-bubble]")
            .await
            .text()
            .await
            .expect("bubble text");
        assert!(
            !bubble.contains("{{name}}") && (bubble.contains("Ana") || bubble.contains("Ben")),
            "the phone preview: {bubble}"
        );
        b.screenshot_settled("sms-form").await;
        a11y.extend(axe_problems(&b, &source, "SMS form").await);

        // A server 422 lands at its field: an inbox the server does not know.
        b.js(
            "const s = document.querySelector('[data-testid=sms-inbox]'); s.append(new Option('nope', 'nope')); s.value = 'nope'; s.dispatchEvent(new Event('change')); return true;",
            vec![],
        )
        .await;
        click(&b, "[data-testid=sms-save]").await;
        let placed = b
            .wait_for(
                "the server's problem with the inbox at the inbox field",
                Duration::from_secs(10),
                "const e = document.querySelector('.field[data-path=inbox] [data-testid=field-error]'); return e ? e.textContent : null;",
            )
            .await;
        println!("422 at inbox: {placed}");
        assert!(sms_campaign(&server, "winter-sale").is_none(), "nothing saved on a 422");
        b.js(
            "const s = document.querySelector('[data-testid=sms-inbox]'); s.value = 'uk'; s.dispatchEvent(new Event('change')); return true;",
            vec![],
        )
        .await;

        // Saved (the default schedule: tomorrow 10:00 in the site's time zone): a Scheduled card.
        click(&b, "[data-testid=sms-save]").await;
        let card = "[data-testid=sms-card][data-campaign=winter-sale]";
        css(&b, card).await;
        let status = css(&b, &format!("{card} [data-testid=sms-status]"))
            .await
            .text()
            .await
            .expect("status text");
        assert_eq!(status.to_lowercase(), "scheduled", "card status");
        let saved = sms_campaign(&server, "winter-sale").expect("the console created the campaign");
        assert_eq!(saved["status"], "scheduled", "{saved:#}");
        assert_eq!(saved["inbox"], "uk", "{saved:#}");
        assert_eq!(saved["audience"]["tags"]["any"], json!(["vip"]), "{saved:#}");
        assert_eq!(
            saved["message"], "Hi {{name}}, 20% off everything until Sunday.",
            "{saved:#}"
        );
        assert!(saved["scheduled_at"].is_string(), "{saved:#}");
        b.screenshot_settled("sms-list").await;
        a11y.extend(axe_problems(&b, &source, "SMS list").await);

        // Contacts: the table, a CSV import with one bad row (line 3), then a good one.
        click(&b, "[data-testid=tab-sms-contacts]").await;
        b.wait_for(
            "three contact rows",
            Duration::from_secs(10),
            "return document.querySelectorAll('[data-testid=contact-row]').length === 3;",
        )
        .await;
        b.js(
            "document.querySelector('[data-testid=contacts-import]').open = true; return true;",
            vec![],
        )
        .await;
        paste(
            &b,
            "[data-testid=csv-text]",
            "id,phone,name,tags,timezone,consent\nc-10,+447400123470,Dee,vip;newsletter,Europe/London,true\nc-11,12,Eve,vip,,true\nc-12,+447400123472,Fay,newsletter,,true\n",
        )
        .await;
        click(&b, "[data-testid=csv-import]").await;
        css(&b, "[data-testid=import-errors]").await;
        let problems: Vec<String> = b
            .js(
                "return [...document.querySelectorAll('[data-testid=import-error]')].map((li) => li.textContent);",
                vec![],
            )
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        assert_eq!(problems.len(), 1, "one bad row, one problem: {problems:?}");
        assert!(
            problems[0].contains("line 3"),
            "the problem names the CSV line: {problems:?}"
        );
        assert!(
            !contact_ids(&server).contains(&"c-10".to_string()),
            "all or nothing: nothing imported"
        );
        b.screenshot_settled("sms-contacts-import-errors").await;
        a11y.extend(axe_problems(&b, &source, "SMS contacts (import errors)").await);
        paste(
            &b,
            "[data-testid=csv-text]",
            "id,phone,name,tags,timezone,consent\nc-10,+447400123470,Dee,vip;newsletter,Europe/London,true\nc-1,+447400123456,Ana B,vip|newsletter,Europe/London,true\n",
        )
        .await;
        click(&b, "[data-testid=csv-import]").await;
        let done = css(&b, "[data-testid=import-ok]")
            .await
            .text()
            .await
            .expect("import result");
        assert!(
            done.contains("1 contact created") && done.contains("1 contact updated"),
            "import result: {done}"
        );
        b.wait_for(
            "four contact rows",
            Duration::from_secs(10),
            "return document.querySelectorAll('[data-testid=contact-row]').length === 4;",
        )
        .await;

        // Delete a contact through the dialog (toasts, bottom right, may cover the row: gone).
        b.js(
            "document.getElementById('toasts').replaceChildren(); return true;",
            vec![],
        )
        .await;
        click(
            &b,
            "[data-testid=contact-row][data-contact=c-3] [data-testid=contact-delete]",
        )
        .await;
        b.wait_for(
            "the confirmation dialog",
            Duration::from_secs(5),
            "return document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        click(&b, "[data-testid=confirm-delete]").await;
        wait_api("contact c-3 deleted", || {
            !contact_ids(&server).contains(&"c-3".to_string())
        })
        .await;
        b.wait_for(
            "the row to go",
            Duration::from_secs(5),
            "return !document.querySelector('[data-testid=contact-row][data-contact=c-3]');",
        )
        .await;

        // Send now (through the API), followed on the report page to 100%.
        let now = json!({
            "id": "flash", "title": "Flash sale", "message": "Hi {{name}}, flash sale today only.",
            "inbox": "uk", "audience": {"tags": {"any": ["vip"], "none": []}},
            "scheduled_at": null, "quiet_hours": null, "engagement": null
        });
        ok(
            &server.admin(
                "POST",
                &format!("/admin/v1/sites/{SITE}/sms/campaigns"),
                Some(&now),
            ),
            "POST send-now campaign",
        );
        b.goto(&server.url("/admin/#/sms/flash")).await;
        css(&b, "[data-testid=sms-report] [role=progressbar]").await;
        b.wait_for(
            "the progress bar at 100%",
            Duration::from_secs(30),
            "const p = document.querySelector('[data-testid=sms-report] [role=progressbar]'); return p && p.getAttribute('aria-valuenow') === '100';",
        )
        .await;
        assert!(kannel_hits.load(Ordering::SeqCst) >= 3, "the fake Kannel got the messages");
        b.screenshot_settled("sms-report").await;
        a11y.extend(axe_problems(&b, &source, "SMS report").await);

        // Delete the scheduled campaign through the dialog (Cancel keeps it).
        b.goto(&server.url("/admin/#/sms")).await;
        let delete = format!("{card} [data-testid=sms-delete]");
        click(&b, &delete).await;
        b.wait_for(
            "the confirmation dialog",
            Duration::from_secs(5),
            "return document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        click(&b, "[data-testid=cancel-delete]").await;
        b.wait_for(
            "the dialog to close",
            Duration::from_secs(5),
            "return !document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        assert!(sms_campaign(&server, "winter-sale").is_some(), "Cancel must not delete");
        click(&b, &delete).await;
        b.wait_for(
            "the confirmation dialog (again)",
            Duration::from_secs(5),
            "return document.querySelector('[data-testid=confirm-dialog]').open;",
        )
        .await;
        click(&b, "[data-testid=confirm-delete]").await;
        wait_api("the SMS campaign deleted", || {
            sms_campaign(&server, "winter-sale").is_none()
        })
        .await;
        b.wait_for(
            "the card to leave the list",
            Duration::from_secs(10),
            &format!("return !document.querySelector('{card}');"),
        )
        .await;

        let (errors, console, _) = b.recorded_errors().await;
        assert!(errors.is_empty(), "uncaught errors in the console: {errors:?}");
        println!("console.error calls: {console:?}");
    })
    .await;
    b.close().await;
    assert!(
        a11y.is_empty(),
        "axe found serious or critical violations:\n{}",
        a11y.join("\n")
    );
}
