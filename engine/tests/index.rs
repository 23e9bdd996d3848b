//! The decision index is only a filter: over random documents, pages and inputs, the indexed
//! decision (with its settled-tick shortcut) answers exactly what evaluating every engagement
//! answers. The one allowed difference is `next_wake`: the indexed decision does not wake for
//! engagements whose entry point cannot match the page (time alone never makes them match), so
//! its wake is never earlier than the exhaustive one, and the same whenever one is shown.

use engage_engine::availability::{Availability, SkillAvailability};
use engage_engine::bundle::Bundle;
use engage_engine::compile::{compile_text, CompileOptions};
use engage_engine::regexp::NativeRegex;
use engage_engine::visit::{Context, Input, Outcome, PageView, Profile, Visit};
use proptest::prelude::*;

const NOW: i64 = 1_795_000_000_000;

/// Include tests of every kind the index files or passes through.
const MATCHERS: [&str; 22] = [
    r#"{"url":{"equals":"https://acme.example/shop/a"}}"#,
    r#"{"url":{"prefix":"https://acme.example/shop"}}"#,
    r#"{"url":{"prefix":"HTTPS://ACME.example/Help"}}"#,
    r#"{"url":{"pattern":"https://acme.example/shop/*"}}"#,
    r#"{"url":{"pattern":"https://{*.}?acme.example/shop/:id"}}"#,
    r#"{"url":{"pattern":"/shop/*"}}"#,
    r#"{"url":{"pattern":"https://*.example/help"}}"#,
    r#"{"url":{"pattern":"https://acme.example/*"}}"#,
    r#"{"url":{"pattern":"*://acme.example/:section/b"}}"#,
    r#"{"url":{"pattern":"https://acme.example/(shop|help)/*"}}"#,
    r#"{"url":{"pattern":"https://ACME.example/Shop/*"}}"#,
    r#"{"url":{"contains":"shop"}}"#,
    r#"{"url":{"regex":"help$"}}"#,
    r#"{"title":{"equals":"Help"}}"#,
    r#"{"url":{"pattern":"https://other.example/"}}"#,
    r#"{"url":{"equals":"/shop/a"}}"#,
    r#"{"url":{"contains":"HOP/A"}}"#,
    r#"{"url":{"contains":"/b"}}"#,
    r#"{"title":{"contains":"elp"}}"#,
    r#"{"title":{"prefix":"HOm"}}"#,
    r#"{"title":{"contains":"Café"}}"#,
    r#"{"section":{"equals":"Shoes"}}"#,
];

/// Pages that hit and miss the matchers above by host, path start, case and form: (URL,
/// title, section).
const PAGES: [(&str, Option<&str>, Option<&str>); 12] = [
    ("https://acme.example/shop/a", Some("A"), Some("shoes")),
    (
        "https://ACME.example/Shop/b?x=1",
        None,
        Some("Shoes & boots"),
    ),
    ("https://www.acme.example/shop/c", Some("Help"), None),
    ("https://other.example/shop/a", None, None),
    ("https://acme.example/", Some("Home"), Some("SHOES")),
    ("https://acme.example/help#top", Some("Help"), None),
    ("https://beta.example/help", None, None),
    ("/shop/a", None, None),
    ("https://acme.example/shopping/b", None, None),
    ("not a url", Some("Help"), None),
    (
        "https://acme.example/caf%C3%A9",
        Some("Le café du coin"),
        None,
    ),
    ("https://acme.example/menu", Some("CAFÉ"), None),
];

const FORMATS: [&str; 5] = ["overlay", "toaster", "sticky", "banner", "button"];

#[derive(Debug, Clone)]
struct Eng {
    format: usize,
    conversation: bool,
    include: Vec<usize>,
    exclude: Option<usize>,
    wait: Option<u8>,
    priority: i8,
}

fn eng() -> impl Strategy<Value = Eng> {
    (
        0..FORMATS.len(),
        any::<bool>(),
        prop::collection::vec(0..MATCHERS.len(), 0..3),
        prop::option::weighted(0.2, 0..MATCHERS.len()),
        prop::option::weighted(0.4, 1u8..8),
        -2i8..3,
    )
        .prop_map(
            |(format, conversation, include, exclude, wait, priority)| Eng {
                format,
                conversation,
                include,
                exclude,
                wait,
                priority,
            },
        )
}

fn document(engs: &[Eng]) -> String {
    let campaigns: Vec<String> = engs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let format = FORMATS[e.format];
            let zone = if format == "banner" || format == "button" {
                r#","zone":{"embedded":"slot"}"#
            } else {
                ""
            };
            let (kind, creative) = if e.conversation {
                (
                    r#""kind":"conversation","skill":"sales""#,
                    r#"{"online":{"title":"On"},"busy":{"title":"Busy"},"offline":{"title":"Off"}}"#,
                )
            } else {
                (
                    r#""kind":"content""#,
                    r#"{"content":{"title":"C","url":"https://acme.example/c"}}"#,
                )
            };
            let include: Vec<&str> = e.include.iter().map(|&m| MATCHERS[m]).collect();
            let exclude = e
                .exclude
                .map_or(String::new(), |m| format!(r#","exclude":[{}]"#, MATCHERS[m]));
            let behavior = e.wait.map_or(String::new(), |s| {
                format!(r#","behavior":{{"time_on_page":{s}}}"#)
            });
            format!(
                r#"{{"id":"c{i}","priority":{},"engagements":[{{"id":"e{i}",{kind},"format":"{format}"{zone},
                    "entry_point":{{"include":[{}]{exclude}}}{behavior},"creative":{creative}}}]}}"#,
                e.priority,
                include.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"site":"acme","skills":[{{"id":"sales"}}],
            "settings":{{"displays_per_visit":{{"conversation":null,"content":null}}}},
            "campaigns":[{}]}}"#,
        campaigns.join(",")
    )
}

#[derive(Debug, Clone)]
enum Step {
    Page(usize),
    Wait(u16),
    Decline(usize),
    Accept(usize),
    Agents(u8),
}

fn step(engagements: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..PAGES.len()).prop_map(Step::Page),
        4 => (0u16..6000).prop_map(Step::Wait),
        1 => (0..engagements).prop_map(Step::Decline),
        1 => (0..engagements).prop_map(Step::Accept),
        1 => (0u8..3).prop_map(Step::Agents),
    ]
}

fn input(s: &Step, now: &mut i64) -> Input {
    match s {
        Step::Page(n) => {
            let (url, title, section) = PAGES[*n];
            Input::Page(PageView {
                url: url.into(),
                title: title.map(Into::into),
                section: section.map(Into::into),
                ..PageView::default()
            })
        }
        Step::Wait(ms) => {
            *now += i64::from(*ms);
            Input::Tick
        }
        Step::Decline(i) => Input::Decline(format!("e{i}")),
        Step::Accept(i) => Input::Accept(format!("e{i}")),
        Step::Agents(n) => {
            let mut a = Availability::new();
            a.insert(
                "sales".into(),
                SkillAvailability {
                    agents_online: u32::from(*n),
                    agents_with_capacity: u32::from(*n) / 2,
                    expected_wait_seconds: 10,
                },
            );
            Input::Availability(a)
        }
    }
}

/// The wake rule: the indexed wake is the exhaustive one, or later (a dropped wake of an
/// engagement the page cannot match), never earlier, never missing while the other has one
/// that an indexed candidate needs.
fn wakes_agree(indexed: Option<i64>, all: Option<i64>) -> bool {
    match (indexed, all) {
        (Some(i), Some(a)) => i >= a,
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn compare(bundle: &Bundle, steps: &[Step], trace: bool) -> Result<(), TestCaseError> {
    let regex = NativeRegex::new();
    let ctx = Context {
        bundle,
        regex: &regex,
    };
    let profile = Profile {
        id: "visitor-1".into(),
        ..Profile::default()
    };
    let (mut indexed, mut all) = (Visit::new(profile.clone()), Visit::new(profile));
    let mut now = NOW;
    for (n, s) in steps.iter().enumerate() {
        let inp = input(s, &mut now);
        let mut a: Outcome = indexed.apply(&ctx, now, inp.clone(), trace);
        let mut b: Outcome = all.apply_exhaustive(&ctx, now, inp, trace);
        prop_assert!(
            wakes_agree(a.next_wake, b.next_wake),
            "step {n} {s:?}: indexed wake {:?}, exhaustive {:?}",
            a.next_wake,
            b.next_wake
        );
        a.next_wake = None;
        b.next_wake = None;
        prop_assert_eq!(&a, &b, "step {} {:?}", n, s);
        prop_assert_eq!(&indexed, &all, "visit after step {} {:?}", n, s);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn indexed_decisions_are_exhaustive_decisions(
        (engs, steps) in prop::collection::vec(eng(), 1..14)
            .prop_flat_map(|e| { let n = e.len(); (Just(e), prop::collection::vec(step(n), 1..40)) }),
        trace in any::<bool>(),
    ) {
        let doc = document(&engs);
        let compiled = compile_text(&doc, CompileOptions::at(NOW))
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{doc}")))?;
        compare(&compiled.bundle, &steps, trace)?;
    }
}

/// The index's filing, case by case: what each page is a candidate for, through the public
/// decision (an engagement with no behavior shows at once when it is a candidate and matches).
#[test]
fn index_files_each_kind_of_include() {
    let cases: [(&str, &[&str]); 6] = [
        // (include, pages it shows on)
        (
            r#"{"url":{"pattern":"https://{*.}?acme.example/shop/:id"}}"#,
            &[
                "https://acme.example/shop/a",
                "https://www.acme.example/shop/c",
            ],
        ),
        (
            r#"{"url":{"pattern":"/shop/*"}}"#,
            &[
                "https://acme.example/shop/a",
                "https://www.acme.example/shop/c",
                "https://other.example/shop/a",
                "/shop/a",
            ],
        ),
        (
            r#"{"url":{"prefix":"HTTPS://ACME.example/Help"}}"#,
            &["https://acme.example/help#top"],
        ),
        (
            r#"{"url":{"equals":"https://acme.example/shop/a"}}"#,
            &["https://acme.example/shop/a"],
        ),
        (
            r#"{"title":{"equals":"Help"}}"#,
            &[
                "https://www.acme.example/shop/c",
                "https://acme.example/help#top",
                "not a url",
            ],
        ),
        (
            r#"{"url":{"pattern":"https://*.example/help"}}"#,
            &["https://acme.example/help#top", "https://beta.example/help"],
        ),
    ];
    let regex = NativeRegex::new();
    for (include, expect) in cases {
        let doc = format!(
            r#"{{"site":"acme","campaigns":[{{"id":"c","engagements":[{{"id":"e","kind":"content",
                "format":"toaster","entry_point":{{"include":[{include}]}},
                "creative":{{"content":{{"title":"C","url":"https://acme.example/c"}}}}}}]}}]}}"#
        );
        let bundle = compile_text(&doc, CompileOptions::at(NOW))
            .unwrap_or_else(|e| panic!("{include}: {e:?}"))
            .bundle;
        let ctx = Context {
            bundle: &bundle,
            regex: &regex,
        };
        let mut shown_on = Vec::new();
        for (url, title, _) in PAGES {
            let mut visit = Visit::new(Profile::default());
            let out = visit.apply(
                &ctx,
                NOW,
                Input::Page(PageView {
                    url: url.into(),
                    title: title.map(Into::into),
                    ..PageView::default()
                }),
                false,
            );
            if !out.shown.is_empty() {
                shown_on.push(url);
            }
        }
        assert_eq!(shown_on, expect, "{include}");
    }
}

/// A tick before the next wake answers from the settled decision; one at the wake decides.
#[test]
fn settled_tick_answers_the_same_and_wakes_on_time() {
    let doc = r#"{"site":"acme","campaigns":[{"id":"c","engagements":[{"id":"e","kind":"content",
        "format":"toaster","behavior":{"time_on_page":5},
        "creative":{"content":{"title":"C","url":"https://acme.example/c"}}}]}]}"#;
    let bundle = compile_text(doc, CompileOptions::at(NOW))
        .expect("compiles")
        .bundle;
    let regex = NativeRegex::new();
    let ctx = Context {
        bundle: &bundle,
        regex: &regex,
    };
    let mut visit = Visit::new(Profile::default());
    let page = Input::Page(PageView {
        url: "https://acme.example/".into(),
        ..PageView::default()
    });
    let first = visit.apply(&ctx, NOW, page, false);
    assert!(first.shown.is_empty());
    assert_eq!(first.next_wake, Some(NOW + 5000));
    let early = visit.apply(&ctx, NOW + 4999, Input::Tick, false);
    assert!(early.shown.is_empty());
    assert_eq!(early.next_wake, Some(NOW + 5000));
    let due = visit.apply(&ctx, NOW + 5000, Input::Tick, false);
    assert_eq!(due.shown.len(), 1, "{due:?}");
    assert_eq!(due.events.len(), 1, "one impression: {:?}", due.events);
}
