//! The admin console's validator: `engage-engine`'s own parse, validation and compile (the
//! server's `PUT …/campaigns` runs the same [`compile_text`]) as one wasm function, so a draft is
//! checked in the browser with the server's rules, messages and paths. Loaded only by `/admin/`.

use engage_engine::compile::{compile_text, CompileOptions};
use engage_engine::validate::Problem;
use serde_json::json;
use wasm_bindgen::prelude::*;

/// Checks a campaign document as the server would on upload at `now_ms` (ms since the epoch).
/// Answers JSON text: `{"errors": [{path, message}], "warnings": [{path, message}]}`.
#[wasm_bindgen]
pub fn check(text: &str, now_ms: f64) -> String {
    report(text, now_ms as i64).to_string()
}

fn report(text: &str, now: i64) -> serde_json::Value {
    let list = |ps: &[Problem]| {
        ps.iter()
            .map(|p| json!({"path": p.path, "message": p.message}))
            .collect::<Vec<_>>()
    };
    match compile_text(text, CompileOptions::at(now)) {
        Ok(c) => json!({"errors": [], "warnings": list(&c.warnings)}),
        Err(errors) => json!({"errors": list(&errors), "warnings": []}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_with_its_path() {
        let doc = r#"{"site":"s","campaigns":[{"id":"c","priority":"high","engagements":[
            {"id":"e","kind":"conversation","format":"sticky","zone":"right","colour":"red",
             "refresh_seconds":45,"creative":{"online":{"title":"Hi"}}}]}]}"#;
        let r = report(doc, 1_795_000_000_000);
        let paths: Vec<&str> = r["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|p| p["path"].as_str())
            .collect();
        assert!(paths.contains(&"campaigns[0].priority"), "{r}");
        assert!(paths.contains(&"campaigns[0].engagements[0].colour"), "{r}");
        assert!(
            paths.contains(&"campaigns[0].engagements[0].refresh_seconds"),
            "{r}"
        );
    }

    #[test]
    fn a_valid_document_has_no_errors() {
        let doc = r#"{"site":"s","campaigns":[{"id":"c","engagements":[
            {"id":"e","kind":"content","format":"toaster","creative":{"content":{"title":"Hi"}}}]}]}"#;
        let r = report(doc, 1_795_000_000_000);
        assert_eq!(r["errors"], json!([]), "{r}");
    }
}
