//! The browser benchmark (`cargo xtask bench-browser`; issues #13 and #17): the engine
//! benchmark's own documents (`engine/benches/support/document.rs`, 3 engagements per campaign)
//! served by a real engage-server to a page carrying the SPEC snippet, in headless Chromium.
//!
//! 1. **Start-up**, per bundle size, new visitor with a cold HTTP cache: when `tag.js`, the glue,
//!    the wasm, the bundle and availability arrived (Resource Timing), then the runtime's own
//!    User Timing marks (`engage:bundle-received`, `-parsed`, `-loaded`, `-cached`,
//!    `engage:first-decision`). The runtime hands the bundle to the engine 100 campaigns per
//!    task and caches it in a task after the first decision, so the page's main thread is held
//!    in short tasks: the longest, seen from the page (a heartbeat timer's longest gap), fails
//!    the test above 50 ms at 1,000 campaigns (issue #17). Then a returning visitor (storage and
//!    HTTP cache kept).
//! 2. **Decisions**, on the 1,000-campaign page once it runs: a page view through the public
//!    `engage("page", …)` path (decision, outcome, visit saved, render) and a tick; in the same
//!    page, over the same campaigns, GrowthBook's SDK (npm `@growthbook/growthbook`) evaluating
//!    the campaigns' audiences as feature rules, and Chatwoot's campaign filter (one `URLPattern`
//!    per campaign, as its widget builds them on every check, and with the patterns built once).
//!
//! `performance.now()` is coarsened to 100 µs in a page that is not cross-origin isolated, so
//! fast operations are timed in batches and divided. In `cargo xtask test` this runs the
//! 1,000-campaign size only and fails when a decision takes over twice SPEC §8's 1 ms;
//! `cargo xtask bench-browser` sets `ENGAGE_BENCH_SIZES=10,100,1000,10000`.

#[path = "../../engine/benches/support/document.rs"]
mod document;

use std::time::Duration;

use engage_e2e::*;
use serde_json::{json, Value};

/// Issue #17: no main-thread task over 50 ms during start-up with the 1,000-campaign bundle.
const LONG_TASK_MS: f64 = 50.0;

/// SPEC §8: one decision ≤ 1 ms in the browser. The test fails at twice that: the figure moves
/// by ±40 % between runs on a shared 2-core machine, and a test that fails on a noisy run only
/// teaches people to rerun it. The README reports the measured median against the budget.
const DECISION_BUDGET_MS: f64 = 1.0;
const FAIL_ABOVE_MS: f64 = 2.0 * DECISION_BUDGET_MS;

fn sizes() -> Vec<usize> {
    let spec = std::env::var("ENGAGE_BENCH_SIZES").unwrap_or_else(|_| "1000".into());
    let mut out: Vec<usize> = spec
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("ENGAGE_BENCH_SIZES: {s:?} is not a number"))
        })
        .collect();
    if !out.contains(&1000) {
        out.push(1000); // the decision benchmark's size
    }
    out
}

fn loads() -> usize {
    std::env::var("ENGAGE_BENCH_LOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3)
}

/// Runs before the snippet: how long the page's main thread was held, seen from the page. A
/// timer turns every few ms; a task that holds the thread delays the next turn, so the longest
/// gap between two turns, until half a second after the first decision, is the longest task of
/// start-up. (Chromium's `longtask` entries are kept too: headless, it reports them in some
/// loads and not in others.)
const HEARTBEAT_JS: &str = r#"
window.__held = { max: 0, at: 0, long: [] };
(() => {
  let last = performance.now(), stop = 0;
  const beat = () => {
    const t = performance.now();
    if (t - last > __held.max) { __held.max = t - last; __held.at = last; }
    last = t;
    if (!stop && performance.getEntriesByName("engage:first-decision").length) stop = t + 500;
    if (!stop || t < stop) setTimeout(beat, 0);
    else __held.done = true;
  };
  setTimeout(beat, 0);
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) __held.long.push(Math.round(e.duration)); })
      .observe({ type: "longtask", buffered: true });
  } catch (e) {}
})();
"#;

/// The host page: the snippet with the site from `?site=`, the embedded slots the banners go to.
fn host_page() -> String {
    let slots: String = (0..10)
        .map(|i| format!("<div id=\"slot-{i}\"></div>"))
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shoes</title>
<script>{HEARTBEAT_JS}</script>
<script>
  window.engage = window.engage || function () {{ (engage.q = engage.q || []).push(arguments); }};
  engage("attributes", {{ cart: {{ total: 80 }}, country: "GB" }});
  engage("init", {{ site: new URLSearchParams(location.search).get("site"), server: location.origin }});
</script>
<script async src="/tag.js"></script>
</head>
<body><main><h1>Shoes</h1>{slots}</main></body>
</html>
"#
    )
}

/// What one start-up load measured (ms from navigation start unless named a duration).
const STARTUP_JS: &str = r#"
const nav = performance.getEntriesByType("navigation")[0];
const res = (part) => performance.getEntriesByType("resource").filter((e) => e.name.includes(part)).pop();
const end = (part) => { const e = res(part); return e ? e.responseEnd : null; };
const m = (n) => { const e = performance.getEntriesByName("engage:" + n).pop(); return e ? e.startTime : null; };
const bundle = res("/bundle");
return {
  html: nav.responseEnd, tag: end("/tag.js"), glue: end("/pkg/engage_runtime."), wasm: end(".wasm"),
  bundle: bundle ? bundle.responseEnd : null, avail: end("/availability"),
  bundle_bytes: bundle ? bundle.encodedBodySize : null, bundle_decoded_bytes: bundle ? bundle.decodedBodySize : null,
  received: m("bundle-received"), parsed: m("bundle-parsed"), loaded: m("bundle-loaded"),
  cached: m("bundle-cached"), first: m("first-decision"),
  bundle_requests: performance.getEntriesByType("resource").filter((e) => e.name.includes("/bundle")).length,
  longest_task: __held.max, longest_task_at: __held.at, longtasks: __held.long,
};
"#;

#[derive(Debug, Default, Clone)]
struct Startup {
    samples: Vec<Value>,
}

impl Startup {
    fn median(&self, f: impl Fn(&Value) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.samples.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&v))
    }
    fn at(&self, key: &str) -> Option<f64> {
        self.median(|s| s[key].as_f64())
    }
    fn between(&self, from: &str, to: &str) -> Option<f64> {
        self.median(|s| Some(s[to].as_f64()? - s[from].as_f64()?))
    }
}

async fn load(b: &Browser, server: &Server, site: &str, i: usize, returning: bool) -> Value {
    if !returning {
        b.clear_engage_storage().await;
        b.cdp("Network.clearBrowserCache", json!({})).await;
    }
    b.goto(&server.url(&format!("/demo/e2e/bench.html?site={site}&n={i}")))
        .await;
    b.wait_for(
        &format!("the first decision on {site}"),
        Duration::from_secs(120),
        "return performance.getEntriesByName('engage:first-decision').length > 0;",
    )
    .await;
    b.wait_for(
        "the heartbeat to end",
        Duration::from_secs(10),
        "return window.__held && window.__held.done === true;",
    )
    .await;
    let s = b.js(STARTUP_JS, vec![]).await;
    if std::env::var_os("ENGAGE_E2E_VERBOSE").is_some() {
        println!(
            "  {site} load {i}{}: {s}",
            if returning { " (returning)" } else { "" }
        );
    }
    s
}

/// In-page decision timings: `[name, median ms per decision, samples]`.
const DECISIONS_JS: &str = r#"
const [campaigns, doc, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const manifest = await (await fetch("/pkg/manifest.json")).json();
  const glue = await import("/pkg/" + manifest.js); // the module tag.js loaded: same instance
  const rt = glue.runtime();
  const { GrowthBook } = await import("/demo/e2e/growthbook.js");
  const time = (samples, batch, f) => {
    const out = [];
    for (let s = 0; s < samples; s++) {
      const t0 = performance.now();
      for (let k = 0; k < batch; k++) f(s * batch + k);
      out.push((performance.now() - t0) / batch);
    }
    out.sort((a, b) => a - b);
    return out[out.length >> 1];
  };
  const pages = ["https://acme.example/shop/7/shoes", "https://acme.example/shop/12/boots",
                 "https://acme.example/p/3/pricing", "https://acme.example/checkout"];
  const r = {};
  // The engine alone: the wasm decision with its input and outcome crossing the boundary
  // (`engine(APPLY, now, input)`), nothing rendered or saved.
  const APPLY = 2, elements = Array.from({ length: 10 }, (_, i) => "slot-" + i);
  let decided = 0;
  r.engine_page_view = time(40, 10, (i) => {
    const out = rt.engine(APPLY, Date.now(), { page: { url: pages[i % pages.length], title: "Shoes", elements } });
    decided += out.shown.length;
  });
  r.engine_tick = time(40, 50, () => rt.engine(APPLY, Date.now(), { tick: 1 }));
  r.engine_shown_per_page = decided / 400;
  rt.engine(APPLY, Date.now(), { page: { url: "https://other.example/", title: "x", elements: [] } });
  r.engine_tick_nothing_shown = time(40, 50, () => rt.engine(APPLY, Date.now(), { tick: 1 }));
  r.engine_page_view_nothing_shown = time(40, 10, () => rt.engine(APPLY, Date.now(), { page: { url: "https://other.example/", title: "x", elements: [] } }));
  let shown = 0;
  r.engage_page_view = time(40, 10, (i) => {
    rt.command("page", { url: pages[i % pages.length], title: "Shoes" });
    shown += rt.shown().length;
  });
  r.engage_tick = time(40, 50, () => rt.input({ tick: 1 }));
  r.engage_shown_per_page = shown / 400;

  // GrowthBook: each campaign's audience as the rule of one feature, evaluated for the visitor.
  const features = {};
  for (const c of campaigns) {
    features[c.id] = c.audience
      ? { defaultValue: false, rules: [{ condition: c.audience, force: true }] }
      : { defaultValue: true };
  }
  const gb = new GrowthBook({ features, attributes: { id: "visitor-1", cart: { total: 80 }, country: "GB", visits: 1, returning: false } });
  let on = 0;
  r.growthbook = time(40, 10, () => { for (const c of campaigns) if (gb.isOn(c.id)) on++; });
  r.growthbook_on = on / 400;

  // Chatwoot's widget: a campaign matches when its URL pattern (a trailing "/" widened to
  // any query and hash; the page's trailing "/" dropped) matches and, if it triggers only in
  // business hours, the inbox is open. The widget builds a URLPattern per campaign per check.
  const cw = campaigns.map((c) => ({ id: c.id, url: c.url, bh: c.business_hours_only }));
  const widen = (p) => (p.endsWith("/") ? p.slice(0, -1) + "*\\?*\\#*" : p);
  const pageUrl = (u) => {
    const l = new URL(u);
    if (l.pathname.endsWith("/")) l.pathname = l.pathname.slice(0, -1);
    return l.toString();
  };
  const inBusinessHours = true; // the widget asks the inbox; the benchmark's site is open
  let matched = 0;
  r.chatwoot = time(10, 1, (i) => {
    const url = pages[i % pages.length];
    matched += cw.filter((c) => new URLPattern(widen(c.url)).test(pageUrl(url)) && (!c.bh || inBusinessHours)).length;
  });
  const built = cw.map((c) => ({ ...c, pattern: new URLPattern(widen(c.url)) }));
  r.chatwoot_prebuilt = time(40, 5, (i) => {
    const url = pageUrl(pages[i % pages.length]);
    matched += built.filter((c) => c.pattern.test(url) && (!c.bh || inBusinessHours)).length;
  });
  r.chatwoot_matched = matched;

  // The console's validator (admin-wasm) checking the whole uploaded document, as its editor
  // does while someone types.
  const admin = await import("/admin/pkg/engage_admin.js");
  await admin.default();
  const text = JSON.stringify(doc);
  r.console_check = time(5, 1, () => admin.check(text, Date.now()));
  return r;
})().then(done, (e) => done({ error: String(e && e.stack || e) }));
"#;

#[tokio::test]
async fn browser_benchmark() {
    let _serial = serial().await;
    let gb_path =
        repo_root().join("tests/node_modules/@growthbook/growthbook/dist/bundles/esm.min.js");
    let growthbook = std::fs::read_to_string(&gb_path).unwrap_or_else(|e| {
        panic!(
            "GrowthBook's SDK ({}): {e}; run `cargo xtask setup --browser` (npm ci in tests/)",
            gb_path.display()
        )
    });
    let server = Server::start_with_pages(&[
        ("demo/e2e/bench.html", host_page()),
        ("demo/e2e/growthbook.js", growthbook),
    ]);
    let b = Browser::launch().await;
    let n_loads = loads();
    let mut rows = Vec::new();
    let mut decisions = Value::Null;
    for n in sizes() {
        let site = format!("bench-{n}");
        let mut doc: Value = serde_json::from_str(&document::document(n, true))
            .expect("the benchmark document is JSON");
        doc["site"] = json!(site);
        let uploaded = doc.to_string().len();
        server.put_document(&doc);
        server.put_availability(&site, "sales", online());
        server.put_availability(&site, "support", online());

        let mut cold = Startup::default();
        let mut returning = Startup::default();
        within(
            &format!("start-up over {n} campaigns"),
            Duration::from_secs(900),
            async {
                load(&b, &server, &site, 0, false).await; // warm-up: Chromium's own first-load work
                for i in 0..n_loads {
                    cold.samples
                        .push(load(&b, &server, &site, i + 1, false).await);
                }
                for i in 0..n_loads {
                    returning
                        .samples
                        .push(load(&b, &server, &site, 100 + i, true).await);
                }
            },
        )
        .await;
        for s in cold.samples.iter().chain(&returning.samples) {
            // One bundle request per load: the runtime takes tag.js's early answer over.
            assert_eq!(s["bundle_requests"], json!(1), "{n} campaigns: {s}");
        }
        for s in &cold.samples {
            for key in ["received", "parsed", "loaded", "first"] {
                assert!(
                    s[key].is_number(),
                    "{n} campaigns: no engage:{key} mark: {s}"
                );
            }
        }
        if n == 1000 {
            let campaigns: Vec<Value> = doc["campaigns"]
                .as_array()
                .expect("campaigns")
                .iter()
                .map(|c| {
                    json!({
                        "id": c["id"],
                        "audience": c.get("audience"),
                        "business_hours_only": c.get("business_hours_only").is_some(),
                        "url": c["engagements"][0]["entry_point"]["include"][0]["url"]["pattern"],
                    })
                })
                .collect();
            decisions = within("decisions", Duration::from_secs(300), async {
                b.client
                    .execute_async(DECISIONS_JS, vec![json!(campaigns), doc.clone()])
                    .await
                    .unwrap_or_else(|e| panic!("decision benchmark script: {e}"))
            })
            .await;
            assert!(
                decisions.get("error").is_none(),
                "decision benchmark failed in the page: {}",
                decisions["error"]
            );
        }
        rows.push((n, uploaded, cold, returning));
    }
    b.close().await;

    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    println!("\nstart-up, new visitor, cold HTTP cache (median of {n_loads} loads; ms from navigation start unless a step):");
    println!("| campaigns | uploaded | bundle on the wire | tag.js | glue | wasm | bundle arrived | parse | engine load | cache write | first decision | after arrival | longest task | returning visitor: first decision | returning: longest task |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut report = Vec::new();
    for (n, uploaded, c, r) in &rows {
        let row = json!({
            "campaigns": n, "uploaded_bytes": uploaded,
            "bundle_wire_bytes": c.at("bundle_bytes"), "bundle_bytes": c.at("bundle_decoded_bytes"),
            "tag": c.at("tag"), "glue": c.at("glue"), "wasm": c.at("wasm"), "bundle": c.at("bundle"),
            "parse": c.between("received", "parsed"), "engine_load": c.between("parsed", "loaded"),
            "cache_write": c.between("first", "cached"), "first_decision": c.at("first"),
            "after_arrival": c.between("bundle", "first"),
            "returning_first_decision": r.at("first"),
            "longest_task": c.at("longest_task"), "returning_longest_task": r.at("longest_task"),
        });
        println!(
            "| {n} | {:.0} KB | {:.0} KB ({:.0} KB decoded) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            *uploaded as f64 / 1000.0,
            c.at("bundle_bytes").unwrap_or(0.0) / 1000.0,
            c.at("bundle_decoded_bytes").unwrap_or(0.0) / 1000.0,
            f(c.at("tag")),
            f(c.at("glue")),
            f(c.at("wasm")),
            f(c.at("bundle")),
            f(c.between("received", "parsed")),
            f(c.between("parsed", "loaded")),
            f(c.between("first", "cached")),
            f(c.at("first")),
            f(c.between("bundle", "first")),
            f(c.at("longest_task")),
            f(r.at("first")),
            f(r.at("longest_task")),
        );
        report.push(row);
    }
    let d = |k: &str| decisions[k].as_f64().unwrap_or(f64::NAN);
    let engine = d("engine_page_view");
    println!("\ndecisions over the 1,000-campaign bundle, in the page (median ms per decision):");
    println!("| engine: page view | engine: tick | runtime page view (decide, save, render) | runtime tick | GrowthBook SDK, audiences only | Chatwoot, URLPattern per check | Chatwoot, patterns built once |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {engine:.3} | {:.4} | {:.3} | {:.3} | {:.3} ({:.1}× engage) | {:.2} ({:.0}× engage) | {:.3} ({:.1}× engage) |",
        d("engine_tick"),
        d("engage_page_view"),
        d("engage_tick"),
        d("growthbook"),
        d("growthbook") / engine,
        d("chatwoot"),
        d("chatwoot") / engine,
        d("chatwoot_prebuilt"),
        d("chatwoot_prebuilt") / engine,
    );
    println!(
        "the console's check of the 1,000-campaign document (admin-wasm): {:.0} ms",
        d("console_check")
    );
    println!(
        "(the engine showed {:.1} engagements per page; GrowthBook found {:.0} of 1,000 audiences on)",
        d("engine_shown_per_page"),
        d("growthbook_on")
    );
    let out = artifacts_dir().join("bench-browser.json");
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&json!({"startup": report, "decisions": decisions}))
            .expect("json"),
    )
    .expect("write bench-browser.json");
    println!("written to {}", out.display());

    assert!(
        d("engine_shown_per_page") > 0.0 && d("engage_shown_per_page") > 0.0,
        "the benchmark pages showed nothing: the decisions measured are not real ones"
    );
    println!(
        "engine decision {engine:.3} ms: {} SPEC §8's {DECISION_BUDGET_MS} ms",
        if engine <= DECISION_BUDGET_MS {
            "within"
        } else {
            "over"
        }
    );
    for (n, _, c, r) in &rows {
        if *n != 1000 {
            continue;
        }
        for (who, s) in [("a new visitor", c), ("a returning visitor", r)] {
            let held = s.at("longest_task").unwrap_or(f64::NAN);
            assert!(
                held <= LONG_TASK_MS,
                "start-up held the main thread for {held:.0} ms (median of the loads' longest \
                 tasks) for {who} with 1,000 campaigns; issue #17 allows {LONG_TASK_MS} ms: {:?}",
                s.samples
            );
        }
    }
    assert!(
        engine <= FAIL_ABOVE_MS,
        "a decision over 1,000 campaigns took {engine:.3} ms in Chromium (SPEC §8: ≤ {DECISION_BUDGET_MS} ms; this test fails above {FAIL_ABOVE_MS} ms)"
    );
}
