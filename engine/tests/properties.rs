//! Invariants of the visit engine over random visits (proptest).

use engage_engine::availability::{Availability, SkillAvailability};
use engage_engine::bundle::Bundle;
use engage_engine::compile::{compile_text, CompileOptions};
use engage_engine::hash::in_control;
use engage_engine::regexp::NativeRegex;
use engage_engine::visit::{Context, EventKind, Input, Outcome, PageView, Profile, Visit};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const NOW: i64 = 1_795_000_000_000;

#[derive(Debug, Clone)]
struct Params {
    cap_conversation: Option<u32>,
    cap_content: Option<u32>,
    control: [u8; 3],
    priorities: [i32; 6],
    after_decline: bool,
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::option::of(0u32..3),
        prop::option::of(0u32..3),
        (0u8..=100, 0u8..=100, prop_oneof![Just(0u8), Just(100u8)]),
        [-2i32..3, -2i32..3, -2i32..3, -2i32..3, -2i32..3, -2i32..3],
        any::<bool>(),
    )
        .prop_map(|(a, b, (c0, c1, c2), priorities, after_decline)| Params {
            cap_conversation: a,
            cap_content: b,
            control: [c0, c1, c2],
            priorities,
            after_decline,
        })
}

/// Six campaigns over every zone kind, with behaviors that make time and navigation matter.
fn document(p: &Params) -> String {
    let cap = |c: Option<u32>| c.map_or("null".to_owned(), |n| n.to_string());
    let e = |id: &str, fmt: &str, extra: &str| {
        format!(
            r#"{{"id":"{id}","kind":"conversation","format":"{fmt}","skill":"sales"{extra},
               "creative":{{"online":{{"title":"On"}},"busy":{{"title":"Busy"}},"offline":{{"title":"Off"}}}}}}"#
        )
    };
    let content = |id: &str, fmt: &str, extra: &str| {
        format!(
            r#"{{"id":"{id}","kind":"content","format":"{fmt}"{extra},"creative":{{"content":{{"title":"C","url":"https://a.example/c"}}}}}}"#
        )
    };
    let engagements = [
        e("ov1", "overlay", r#","behavior":{"time_on_page":5}"#),
        e("ov2", "toaster", ""),
        content("ct1", "peeling_corner", r#","behavior":{"pages_viewed":2}"#),
        e(
            "tab",
            "sticky",
            r#","entry_point":{"include":[{"contains":"/shop"}]}"#,
        ),
        content("bn", "banner", r#","zone":{"embedded":"slot"}"#),
        e(
            "btn",
            "button",
            r#","zone":{"embedded":"slot"},"refresh_seconds":30"#,
        ),
    ];
    let campaigns: Vec<String> = engagements
        .iter()
        .enumerate()
        .map(|(i, eng)| {
            let control = p.control.get(i).copied().unwrap_or(0);
            format!(
                r#"{{"id":"c{i}","priority":{},"control_group_percent":{control},"engagements":[{eng}]}}"#,
                p.priorities[i]
            )
        })
        .collect();
    format!(
        r#"{{"site":"acme","skills":[{{"id":"sales"}}],
            "settings":{{"displays_per_visit":{{"conversation":{},"content":{}}},
                         "invite_after_decline":{{"conversation":{},"content":{}}}}},
            "campaigns":[{}]}}"#,
        cap(p.cap_conversation),
        cap(p.cap_content),
        p.after_decline,
        p.after_decline,
        campaigns.join(",")
    )
}

#[derive(Debug, Clone)]
enum Step {
    Page(u8),
    Wait(u16),
    Decline(u8),
    Accept(u8),
    Agents(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4).prop_map(Step::Page),
        (0u16..4000).prop_map(Step::Wait),
        (0u8..6).prop_map(Step::Decline),
        (0u8..6).prop_map(Step::Accept),
        (0u8..3).prop_map(Step::Agents),
    ]
}

const IDS: [&str; 6] = ["ov1", "ov2", "ct1", "tab", "bn", "btn"];
const PROACTIVE: [&str; 3] = ["ov1", "ov2", "ct1"];

fn run(bundle: &Bundle, visitor: &str, steps: &[Step]) -> Vec<Outcome> {
    let regex = NativeRegex::new();
    let ctx = Context {
        bundle,
        regex: &regex,
    };
    let mut visit = Visit::new(Profile {
        id: visitor.to_owned(),
        ..Profile::default()
    });
    let mut now = NOW;
    let mut outs = Vec::new();
    for s in steps {
        let input = match s {
            Step::Page(n) => Input::Page(PageView {
                url: [
                    "https://a.example/",
                    "https://a.example/shop/x",
                    "https://a.example/b",
                    "https://a.example/shop/y",
                ][*n as usize]
                    .into(),
                ..PageView::default()
            }),
            Step::Wait(secs) => {
                now += i64::from(*secs) * 1000;
                Input::Tick
            }
            Step::Decline(i) => Input::Decline(IDS[*i as usize].into()),
            Step::Accept(i) => Input::Accept(IDS[*i as usize].into()),
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
        };
        outs.push(visit.apply(&ctx, now, input, true));
    }
    outs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold(p in params(), visitor in "[a-z0-9]{1,12}", steps in prop::collection::vec(step(), 1..40)) {
        let doc = document(&p);
        let compiled = compile_text(&doc, CompileOptions::at(NOW)).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let bundle = compiled.bundle;
        let outs = run(&bundle, &visitor, &steps);

        // Same inputs, same outputs.
        prop_assert_eq!(&outs, &run(&bundle, &visitor, &steps));

        let mut proactive_per_visit: HashMap<(u32, bool), u32> = HashMap::new();
        let mut declined: HashSet<(u32, String)> = HashSet::new();
        for out in &outs {
            // At most one engagement per zone.
            let zones: HashSet<&str> = out.shown.iter().map(|s| s.zone.as_str()).collect();
            prop_assert_eq!(zones.len(), out.shown.len(), "two engagements share a zone: {:?}", out.shown);
            for ev in &out.events {
                let id = ev.engagement.clone().unwrap_or_default();
                match ev.kind {
                    EventKind::Decline => { declined.insert((ev.visit, id)); }
                    EventKind::Impression => {
                        // A declined engagement never reappears in that visit.
                        prop_assert!(!declined.contains(&(ev.visit, id.clone())), "{} shown again after decline", id);
                        // A control-group visitor never sees the campaign.
                        let ci = IDS.iter().position(|x| *x == id).unwrap_or(0);
                        let pct = f64::from(p.control.get(ci).copied().unwrap_or(0));
                        prop_assert!(!in_control(&format!("c{ci}"), &visitor, pct), "{} shown to a control visitor", id);
                        if PROACTIVE.contains(&id.as_str()) {
                            let content = id == "ct1";
                            *proactive_per_visit.entry((ev.visit, content)).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        // Never more proactive displays per visit than the cap.
        for ((_, content), n) in proactive_per_visit {
            let cap = if content { p.cap_content } else { p.cap_conversation };
            if let Some(cap) = cap {
                prop_assert!(n <= cap, "{} proactive displays with a cap of {}", n, cap);
            }
        }
    }
}
