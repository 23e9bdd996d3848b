//! Outbound engagements (SPEC §11): validation of their entry points and the linking rule,
//! replayed from `tests/outbound/linking.json` like the visit scenarios.

use engage_engine::compile::{compile, CompileOptions};
use engage_engine::model::Document;
use engage_engine::outbound::{link_reply, Broadcast};
use engage_engine::schedule::parse_instant;
use engage_engine::validate::validate;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct File {
    now: String,
    document: Document,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    broadcasts: Vec<B>,
    reply_at: String,
    expect: String,
}

#[derive(Deserialize)]
struct B {
    at: String,
    campaign_ref: Option<String>,
    sender: Option<String>,
    engagement: Option<String>,
}

fn t(s: &str) -> i64 {
    parse_instant(s).unwrap_or_else(|e| panic!("{e}"))
}

fn opts(now: i64) -> CompileOptions {
    CompileOptions {
        now,
        horizon_days: 35,
        version: 1,
    }
}

#[test]
fn replies_link_as_the_spec_says() {
    let text = std::fs::read_to_string("tests/outbound/linking.json").expect("linking.json");
    let file: File = serde_json::from_str(&text).expect("a valid scenario file");
    let compiled = compile(&file.document, opts(t(&file.now))).unwrap_or_else(|p| panic!("{p:#?}"));
    let bundle = &compiled.bundle;
    assert_eq!(bundle.outbound.len(), 4);
    // The page never sees them: only the web engagement is in a campaign's list.
    let on_pages: Vec<&str> = bundle
        .campaigns
        .iter()
        .flat_map(|c| c.engagements.iter().map(|e| &*e.id))
        .collect();
    assert_eq!(on_pages, ["web-chat"]);
    assert!(file.cases.len() >= 10);
    for case in &file.cases {
        let broadcasts: Vec<Broadcast<'_>> = case
            .broadcasts
            .iter()
            .map(|b| Broadcast {
                at: t(&b.at),
                campaign_ref: b.campaign_ref.as_deref(),
                sender: b.sender.as_deref(),
                engagement: b.engagement.as_deref(),
            })
            .collect();
        let got = match link_reply(bundle, &broadcasts, t(&case.reply_at)) {
            Ok(link) => {
                assert_eq!(*link.campaign.id, *link.outbound.campaign, "{}", case.name);
                link.outbound.engagement.clone()
            }
            Err(why) => format!("none:{}", why.as_str()),
        };
        assert_eq!(got, case.expect, "{}", case.name);
    }
    let winter = bundle
        .outbound
        .iter()
        .find(|o| o.engagement == "winter-replies")
        .expect("winter");
    assert_eq!(
        (
            winter.skill.as_deref(),
            winter.language.as_deref(),
            winter.agent_note.as_deref()
        ),
        (Some("sales"), Some("en-GB"), Some("Winter sale: 20% off"))
    );
}

fn problems(doc: Value) -> Vec<(String, String)> {
    let doc: Document = serde_json::from_value(doc).expect("parses");
    validate(&doc, t("2026-12-01T09:00:00Z"))
        .errors
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect()
}

fn has(p: &[(String, String)], path: &str, fragment: &str) -> bool {
    p.iter().any(|(a, m)| a == path && m.contains(fragment))
}

#[test]
fn outbound_engagements_are_validated() {
    let e = |eng: Value| {
        json!({"site": "acme", "timezone": "UTC", "skills": [{"id": "sales"}],
                                "campaigns": [{"id": "c", "engagements": [eng]}]})
    };
    let p = problems(e(
        json!({"id": "o", "kind": "conversation", "source": "outbound", "skill": "sales"}),
    ));
    assert!(
        has(
            &p,
            "campaigns[0].engagements[0].outbound",
            "need an entry point"
        ),
        "{p:?}"
    );
    let p = problems(e(
        json!({"id": "o", "kind": "conversation", "source": "outbound",
        "outbound": {"campaign_ref": "A", "sender": "+447400123000"}}),
    ));
    assert!(
        has(&p, "campaigns[0].engagements[0].outbound", "not both"),
        "{p:?}"
    );
    let p = problems(e(
        json!({"id": "o", "kind": "conversation", "source": "outbound",
        "outbound": {"sender": "07400 123000"}}),
    ));
    assert!(
        has(&p, "campaigns[0].engagements[0].outbound.sender", "E.164"),
        "{p:?}"
    );
    let p = problems(e(
        json!({"id": "o", "kind": "content", "source": "outbound", "format": "sticky",
        "zone": "left", "entry_point": {"include": []}, "refresh_seconds": 30,
        "creative": {"online": {"title": "x"}}, "outbound": {"campaign_ref": "A"}}),
    ));
    for (path, fragment) in [
        ("campaigns[0].engagements[0].format", "take no format"),
        ("campaigns[0].engagements[0].zone", "take no zone"),
        (
            "campaigns[0].engagements[0].entry_point",
            "take no entry_point",
        ),
        ("campaigns[0].engagements[0].creative", "take no creative"),
        ("campaigns[0].engagements[0].kind", "conversation"),
        ("campaigns[0].engagements[0].refresh_seconds", "refresh"),
    ] {
        assert!(has(&p, path, fragment), "{path}: {p:?}");
    }
    let p = problems(e(
        json!({"id": "w", "kind": "conversation", "format": "sticky",
        "creative": {"online": {"title": "x"}}, "outbound": {"campaign_ref": "A"}}),
    ));
    assert!(
        has(
            &p,
            "campaigns[0].engagements[0].outbound",
            "only outbound engagements"
        ),
        "{p:?}"
    );
    // Web engagements still need their creative.
    let p = problems(e(
        json!({"id": "w", "kind": "conversation", "format": "sticky"}),
    ));
    assert!(
        has(
            &p,
            "campaigns[0].engagements[0].creative.online",
            "need creative.online"
        ),
        "{p:?}"
    );
    // Two enabled outbound engagements cannot claim one entry point; a disabled one may.
    let two = |enabled: bool| {
        json!({"site": "acme", "timezone": "UTC", "campaigns": [
        {"id": "a", "engagements": [{"id": "a1", "kind": "conversation", "source": "outbound", "outbound": {"sender": "+447400123000"}}]},
        {"id": "b", "enabled": enabled, "engagements": [{"id": "b1", "kind": "conversation", "source": "outbound", "outbound": {"sender": "+447400123000"}}]}]})
    };
    let p = problems(two(true));
    assert!(
        has(
            &p,
            "campaigns[1].engagements[0].outbound.sender",
            "already the entry point of engagement \"a1\""
        ),
        "{p:?}"
    );
    assert!(problems(two(false)).is_empty());
    let ok = problems(e(
        json!({"id": "o", "kind": "conversation", "source": "outbound", "skill": "sales",
        "language": "en-GB", "agent_note": "hi", "outbound": {"campaign_ref": "CM-123"}}),
    ));
    assert!(ok.is_empty(), "{ok:?}");
}
