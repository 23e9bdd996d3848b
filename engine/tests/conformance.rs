//! GrowthBook conformance: runs every case of `shared/conformance/growthbook-cases.json` for
//! `evalCondition`, `hash`, `getBucketRange` and `inNamespace` against the engine.
//!
//! Only the saved-group cases (`$inGroup`/`$notInGroup`, not supported by engage) are skipped,
//! and the test checks that exactly those are. All failures are collected and printed before the
//! test fails, so one run shows all of them.
#![cfg(feature = "native")]

use engage_engine::condition::eval_condition;
use engage_engine::hash::{get_bucket_ranges, hash, in_namespace};
use engage_engine::regexp::NativeRegex;
use serde_json::Value;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/growthbook-cases.json"
);

const SAVED_GROUP_OPERATORS: [&str; 2] = ["$inGroup", "$notInGroup"];

fn load() -> Value {
    let text = std::fs::read_to_string(CASES)
        .unwrap_or_else(|e| panic!("conformance cases missing at {CASES}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{CASES} is not valid JSON: {e}"))
}

fn section<'a>(cases: &'a Value, name: &str) -> &'a [Value] {
    let list = cases[name]
        .as_array()
        .unwrap_or_else(|| panic!("{CASES} has no \"{name}\" list"));
    assert!(!list.is_empty(), "{CASES}: \"{name}\" is empty");
    list
}

/// Whether `v` uses a saved-group operator anywhere (as an object key).
fn uses_saved_groups(v: &Value) -> bool {
    match v {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| SAVED_GROUP_OPERATORS.contains(&k.as_str()) || uses_saved_groups(v)),
        Value::Array(list) => list.iter().any(uses_saved_groups),
        _ => false,
    }
}

fn name_of(case: &Value, index: usize) -> String {
    match case.get(0).and_then(Value::as_str) {
        Some(name) => format!("#{index} {name}"),
        None => format!("#{index}"),
    }
}

#[test]
fn growthbook_conformance() {
    let cases = load();
    let mut failures: Vec<String> = Vec::new();
    let mut summary: Vec<String> = Vec::new();

    // evalCondition: [name, condition, attributes, expected, savedGroups?]
    {
        let list = section(&cases, "evalCondition");
        let regex = NativeRegex::new();
        let (mut passed, mut skipped) = (0usize, Vec::new());
        // Counted independently of the skip decision below: by the raw text of the condition.
        let with_group_ops = list
            .iter()
            .filter(|c| {
                let text = c.get(1).map(Value::to_string).unwrap_or_default();
                SAVED_GROUP_OPERATORS
                    .iter()
                    .any(|op| text.contains(&format!("\"{op}\"")))
            })
            .count();
        for (i, case) in list.iter().enumerate() {
            let name = name_of(case, i);
            let (Some(condition), Some(attributes), Some(expected)) = (
                case.get(1),
                case.get(2),
                case.get(3).and_then(Value::as_bool),
            ) else {
                failures.push(format!("evalCondition {name}: malformed case {case}"));
                continue;
            };
            if uses_saved_groups(condition) {
                skipped.push(name);
                continue;
            }
            let got = eval_condition(attributes, condition, &regex);
            if got == expected {
                passed += 1;
            } else {
                failures.push(format!(
                    "evalCondition {name}: expected {expected}, got {got} \
                     (condition {condition}, attributes {attributes})"
                ));
            }
        }
        for name in &skipped {
            println!("evalCondition: skipped (saved groups): {name}");
        }
        assert_eq!(
            skipped.len(),
            with_group_ops,
            "only the cases using $inGroup/$notInGroup may be skipped"
        );
        summary.push(format!(
            "evalCondition: {passed} passed, {} skipped (saved groups)",
            skipped.len()
        ));
    }

    // hash: [seed, value, version, expected or null]
    {
        let list = section(&cases, "hash");
        let mut passed = 0;
        for (i, case) in list.iter().enumerate() {
            let (Some(seed), Some(value), Some(version), Some(expected)) = (
                case.get(0).and_then(Value::as_str),
                case.get(1).and_then(Value::as_str),
                case.get(2).and_then(Value::as_u64),
                case.get(3),
            ) else {
                failures.push(format!("hash #{i}: malformed case {case}"));
                continue;
            };
            let expected = expected.as_f64();
            let got = u32::try_from(version)
                .ok()
                .and_then(|v| hash(seed, value, v));
            if got == expected {
                passed += 1;
            } else {
                failures.push(format!(
                    "hash #{i} ({seed:?}, {value:?}, v{version}): expected {expected:?}, got {got:?}"
                ));
            }
        }
        summary.push(format!("hash: {passed} passed"));
    }

    // getBucketRange: [name, [numVariations, coverage, weights or null], [[start, end], ...]]
    {
        let list = section(&cases, "getBucketRange");
        let mut passed = 0;
        for (i, case) in list.iter().enumerate() {
            let name = name_of(case, i);
            let args = &case[1];
            let (Some(n), Some(coverage)) = (args[0].as_u64(), args[1].as_f64()) else {
                failures.push(format!("getBucketRange {name}: malformed case {case}"));
                continue;
            };
            let weights: Option<Vec<f64>> = args[2]
                .as_array()
                .map(|w| w.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect());
            let expected: Option<Vec<(f64, f64)>> = case[2].as_array().and_then(|ranges| {
                ranges
                    .iter()
                    .map(|r| Some((r[0].as_f64()?, r[1].as_f64()?)))
                    .collect()
            });
            let Some(expected) = expected else {
                failures.push(format!("getBucketRange {name}: malformed case {case}"));
                continue;
            };
            let got = get_bucket_ranges(n as usize, coverage, weights.as_deref());
            if got == expected {
                passed += 1;
            } else {
                failures.push(format!(
                    "getBucketRange {name}: expected {expected:?}, got {got:?}"
                ));
            }
        }
        summary.push(format!("getBucketRange: {passed} passed"));
    }

    // inNamespace: [name, userId, [namespace, start, end], expected]
    {
        let list = section(&cases, "inNamespace");
        let mut passed = 0;
        for (i, case) in list.iter().enumerate() {
            let name = name_of(case, i);
            let ns = &case[2];
            let (Some(user), Some(id), Some(start), Some(end), Some(expected)) = (
                case[1].as_str(),
                ns[0].as_str(),
                ns[1].as_f64(),
                ns[2].as_f64(),
                case[3].as_bool(),
            ) else {
                failures.push(format!("inNamespace {name}: malformed case {case}"));
                continue;
            };
            let got = in_namespace(user, (id, start, end));
            if got == expected {
                passed += 1;
            } else {
                failures.push(format!(
                    "inNamespace {name}: expected {expected}, got {got}"
                ));
            }
        }
        summary.push(format!("inNamespace: {passed} passed"));
    }

    for line in &summary {
        println!("{line}");
    }
    for failure in &failures {
        println!("FAILED {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} conformance case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
