//! The benchmark document: `n` campaigns as a site would write them. Shared by the engine's
//! criterion benchmarks (`engine/benches/engine.rs`) and the browser benchmark
//! (`tests/tests/bench_browser.rs`, `cargo xtask bench-browser`), so both measure the same
//! campaigns.

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
