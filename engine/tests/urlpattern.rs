//! URL patterns against the table in `tests/urlpattern/cases.json`: the URL Pattern standard's
//! own examples and test-data cases, and ours.

use engage_engine::model::{Matcher, PageField};
use engage_engine::regexp::NativeRegex;
use engage_engine::urlmatch::compile;
use serde_json::Value;

#[test]
fn url_pattern_table() {
    let text = include_str!("urlpattern/cases.json");
    let table: Value = serde_json::from_str(text).expect("cases.json is JSON");
    let rx = NativeRegex::new();
    let mut failures = Vec::new();
    let mut checks = 0;
    for case in table["cases"].as_array().expect("a list of cases") {
        let pattern = case["pattern"].as_str().expect("a pattern");
        let compiled = compile(PageField::Url, &Matcher::Pattern(pattern.into()));
        if let Some(want) = case["error"].as_str() {
            checks += 1;
            match compiled {
                Err(e) if e.contains(want) => {}
                Err(e) => failures.push(format!("{pattern}: error {e:?} lacks {want:?}")),
                Ok(c) => failures.push(format!("{pattern}: accepted ({c:?}), want an error")),
            }
            continue;
        }
        let c = match compiled {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{pattern}: rejected: {e}"));
                continue;
            }
        };
        for (key, want) in [("match", true), ("no_match", false)] {
            for url in case[key].as_array().into_iter().flatten() {
                let url = url.as_str().expect("a URL");
                checks += 1;
                if c.matches(url, &rx) != want {
                    failures.push(format!("{pattern} on {url}: want {want}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checks > 250, "only {checks} checks");
}
