//! SPEC §8 budgets: one decision over 1,000 campaigns ≤ 200 µs; compile of 10,000 ≤ 1 s.
//!
//! `cargo bench -p engage-engine` (or `cargo xtask bench`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use engage_engine::availability::SkillAvailability;
use engage_engine::compile::{compile_text, CompileOptions};
use engage_engine::regexp::NativeRegex;
use engage_engine::visit::{Context, Input, PageView, Profile, Visit};
use std::hint::black_box;
use std::time::Duration;

const NOW: i64 = 1_795_000_000_000;

/// `n` campaigns of 3 engagements each with a realistic mix of rules: URL patterns and
/// excludes, audiences, behaviors, weekly timeframes, business hours, control groups, every format.
/// `shared`: rules repeat across campaigns as they do on real sites (50 path patterns, 20 section
/// paths, a handful of audiences); otherwise every campaign's patterns and audiences are its own
/// (the worst case for the engine's per-decision memo of shared rules).
pub fn document(n: usize, shared: bool) -> String {
    let (paths, sections, carts) = if shared {
        (50, 20, 5)
    } else {
        (usize::MAX, usize::MAX, usize::MAX)
    };
    let mut campaigns = Vec::with_capacity(n);
    for i in 0..n {
        let audience = match i % 4 {
            0 => {
                r#""audience":{"cart.total":{"$gte":50},"country":{"$in":["GB","IE"]}},"#.to_owned()
            }
            1 => r#""audience":{"$or":[{"returning":true},{"utm_source":{"$regex":"^news"}}]},"#
                .to_owned(),
            2 => format!(
                r#""audience":{{"visits":{{"$gt":{}}},"cart.total":{{"$gte":{}}}}},"#,
                i % 5,
                i % carts
            ),
            _ => String::new(),
        };
        let timeframe = if i % 5 == 0 {
            r#""timeframe":{"weekly":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"20:00"}]},"#
        } else {
            ""
        };
        let bh = if i % 7 == 0 {
            r#""business_hours_only":true,"#
        } else {
            ""
        };
        let creative = r#""creative":{"online":{"title":"Questions?","message":"Our team is <b>online</b>","cta":"Chat"},"busy":{"title":"Busy"},"offline":{"title":"Away"}}"#;
        let e1 = format!(
            r#"{{"id":"c{i}-tab","kind":"conversation","format":"sticky","zone":"{}","skill":"sales",
               "entry_point":{{"include":[{{"url":{{"pattern":"https://acme.example/shop/{}/*"}}}}],"exclude":[{{"url":{{"contains":"/checkout"}}}}]}},
               "behavior":{{"time_on_page":{}}},{creative}}}"#,
            if i % 2 == 0 { "left" } else { "right" },
            i % paths,
            i % 30
        );
        let e2 = format!(
            r#"{{"id":"c{i}-overlay","kind":"conversation","format":"{}","skill":"support",
               "entry_point":{{"include":[{{"contains":"/p/{}"}},{{"title":{{"contains":"Pricing"}}}}]}},
               "behavior":{{"pages_viewed":{},"scroll_percent":{}}},{creative}}}"#,
            ["overlay", "toaster", "peeling_corner"][i % 3],
            i % sections,
            1 + i % 3,
            (i % 4) * 25
        );
        let e3 = format!(
            r#"{{"id":"c{i}-banner","kind":"content","format":"banner","zone":{{"embedded":"slot-{}"}},
               "entry_point":{{"include":[{{"prefix":"https://acme.example/"}}]}},
               "creative":{{"content":{{"title":"Sale","message":"Save <i>10%</i>","cta":"Shop","url":"https://acme.example/sale"}}}}}}"#,
            i % 10
        );
        campaigns.push(format!(
            r#"{{"id":"c{i}","priority":{},"control_group_percent":{},{audience}{timeframe}{bh}"engagements":[{e1},{e2},{e3}]}}"#,
            i % 100,
            if i % 10 == 0 { 10 } else { 0 }
        ));
    }
    format!(
        r#"{{"site":"acme","timezone":"Europe/London",
            "business_hours":[{{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"17:30"}}],
            "skills":[{{"id":"sales"}},{{"id":"support","max_wait_seconds":60}}],
            "settings":{{"displays_per_visit":{{"conversation":2}}}},
            "campaigns":[{}]}}"#,
        campaigns.join(",")
    )
}

fn decision(c: &mut Criterion) {
    decision_over(c, "decision_1000_campaigns", 1000, true);
    decision_over(c, "decision_1000_campaigns_nothing_shared", 1000, false);
    decision_over(c, "decision_10000_campaigns_nothing_shared", 10_000, false);
}

fn decision_over(c: &mut Criterion, group: &str, n: usize, shared: bool) {
    let doc = document(n, shared);
    let bundle = match compile_text(&doc, CompileOptions::at(NOW)) {
        Ok(b) => b.bundle,
        Err(e) => panic!("benchmark document invalid: {e:?}"),
    };
    let regex = NativeRegex::new();
    let ctx = Context {
        bundle: &bundle,
        regex: &regex,
    };
    let mut visit = Visit::new(Profile {
        id: "visitor-1".into(),
        ..Profile::default()
    });
    let mut attrs = serde_json::Map::new();
    attrs.insert("cart".into(), serde_json::json!({"total": 80}));
    visit.apply(&ctx, NOW, Input::Attributes(attrs), false);
    let page = |url: &str| {
        Input::Page(PageView {
            url: url.into(),
            title: Some("Shoes".into()),
            ..PageView::default()
        })
    };
    visit.apply(&ctx, NOW, page("https://acme.example/shop/7/shoes"), false);

    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(5));
    // A timer decision where time changed nothing since the last decision (the usual tick:
    // answered from the settled decision until its next wake).
    let mut t = NOW;
    g.bench_function("tick", |b| {
        b.iter(|| {
            t += 1000;
            black_box(visit.apply(&ctx, t, Input::Tick, false))
        })
    });
    // A tick after something changed (here: availability re-sent), so every candidate is
    // re-evaluated.
    let unsettled = || {
        let mut v = visit.clone();
        v.set_skill("sales", SkillAvailability::default());
        v
    };
    g.bench_function("tick_after_change", |b| {
        b.iter_batched(
            unsettled,
            |mut v| black_box(v.apply(&ctx, t, Input::Tick, false)),
            BatchSize::SmallInput,
        )
    });
    // A page view (SPA navigation): displayed engagements are released and all re-decided.
    let boots = "https://acme.example/shop/12/boots";
    g.bench_function("page_view", |b| {
        b.iter_batched(
            || visit.clone(),
            |mut v| black_box(v.apply(&ctx, t, page(boots), false)),
            BatchSize::SmallInput,
        )
    });
    // The same page view evaluating every engagement (no index): what the index saves.
    g.bench_function("page_view_exhaustive", |b| {
        b.iter_batched(
            || visit.clone(),
            |mut v| black_box(v.apply_exhaustive(&ctx, t, page(boots), false)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("tick_with_trace", |b| {
        b.iter(|| {
            t += 1000;
            black_box(visit.apply(&ctx, t, Input::Tick, true))
        })
    });
    g.finish();
}

fn compile_10k(c: &mut Criterion) {
    let doc = document(10_000, true);
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("validate_and_compile_10000_campaigns", |b| {
        b.iter(|| black_box(compile_text(&doc, CompileOptions::at(NOW)).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, decision, compile_10k);
criterion_main!(benches);
