//! Validation reports every problem of an upload at once (issue "Engine: … every validation
//! problem at once"): structural problems (unknown fields, wrong types) and the rule problems of
//! what could still be read, without repeating a consequence of a structural problem.

use engage_engine::schedule::parse_instant;
use serde_json::json;

fn t(s: &str) -> i64 {
    parse_instant(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shape_and_rule_problems_are_reported_together() {
    // Issue: an unknown field and a mistyped priority used to hide the rule problem next to them.
    let doc = json!({"site": "acme", "timezone": "UTC", "skills": [{"id": "sales"}],
        "campaigns": [{"id": "c", "priority": "high", "engagements": [{
            "id": "e", "kind": "conversation", "format": "sticky", "skill": "sales", "colour": "red",
            "refresh_seconds": 45, "creative": {"online": {"title": "Hi"}, "offline": {"title": "Away"}}}]}]});
    let problems =
        engage_engine::validate::check_document(&doc.to_string(), t("2026-12-01T09:00:00Z"))
            .expect_err("invalid");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "campaigns[0].priority",
        "campaigns[0].engagements[0].colour",
        "campaigns[0].engagements[0].refresh_seconds",
    ] {
        assert!(paths.contains(&want), "{want} missing: {problems:#?}");
    }
    // A consequence of a structural problem is not reported twice.
    let doc = json!({"site": "acme", "timezone": "UTC", "campaigns": [{"id": "c", "engagements": [{
        "id": "e", "kind": "conversation", "format": "stiky", "creative": {"online": {"title": "Hi"}}}]}]});
    let problems =
        engage_engine::validate::check_document(&doc.to_string(), 0).expect_err("invalid");
    let at_format = problems
        .iter()
        .filter(|p| p.path == "campaigns[0].engagements[0].format")
        .count();
    assert_eq!(at_format, 1, "{problems:#?}");
}
