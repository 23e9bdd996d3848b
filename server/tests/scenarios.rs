//! Replays the engine's scenario files (engine/tests/scenarios/*.json) through the simulate
//! endpoint, both over the uploaded document and as an unsaved draft, and compares what is shown
//! (and, where the file says, rejected, the detail and the events) after every step.

mod common;

use common::TestApp;
use engage_engine::schedule::parse_instant;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

fn scenario_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/scenarios");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn shown(step: &Value) -> BTreeSet<String> {
    step["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}@{}:{}",
                s["engagement"].as_str().unwrap(),
                s["zone"].as_str().unwrap(),
                s["state"].as_str().unwrap()
            )
        })
        .collect()
}

fn events(step: &Value) -> Vec<String> {
    let mut v: Vec<String> = step["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let what = e["engagement"]
                .as_str()
                .or(e["name"].as_str())
                .unwrap_or("");
            format!("{}:{what}", e["type"].as_str().unwrap())
        })
        .collect();
    v.sort();
    v
}

fn trace_of<'a>(step: &'a Value, engagement: &str) -> Option<&'a Value> {
    step["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["engagement"] == engagement)
}

fn compare(name: &str, steps: &[Value], expect: &[Value], failures: &mut Vec<String>) {
    if steps.len() != expect.len() {
        failures.push(format!(
            "{name}: {} steps, {} expected",
            steps.len(),
            expect.len()
        ));
    }
    for (i, (s, x)) in steps.iter().zip(expect).enumerate() {
        let at = format!("{name} step {i}");
        let want: BTreeSet<String> = x["shown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let have = shown(s);
        if want != have {
            failures.push(format!("{at}: shown {have:?}, expected {want:?}"));
        }
        if let Some(rejected) = x["rejected"].as_object() {
            for (eng, reason) in rejected {
                let got = trace_of(s, eng).map(|t| t["reason"].clone());
                if got.as_ref() != Some(reason) {
                    failures.push(format!(
                        "{at}: {eng} rejected for {got:?}, expected {reason}"
                    ));
                }
            }
        }
        if let Some(detail) = x["detail"].as_object() {
            for (eng, fragment) in detail {
                let got = trace_of(s, eng)
                    .and_then(|t| t["detail"].as_str())
                    .unwrap_or("");
                if !got.contains(fragment.as_str().unwrap()) {
                    failures.push(format!("{at}: {eng} detail {got:?} lacks {fragment}"));
                }
            }
        }
        if let Some(ev) = x["events"].as_array() {
            let mut want: Vec<String> = ev.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            want.sort();
            let have = events(s);
            if want != have {
                failures.push(format!("{at}: events {have:?}, expected {want:?}"));
            }
        }
    }
}

#[tokio::test]
async fn simulate_replays_the_engine_scenarios() {
    let files = scenario_files();
    if files.is_empty() {
        eprintln!("no scenario files in engine/tests/scenarios: nothing to replay");
        return;
    }
    let mut failures = Vec::new();
    for path in &files {
        let sc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let name = sc["name"].as_str().unwrap_or("?").to_owned();
        let doc = &sc["document"];
        let site = doc["site"].as_str().unwrap();
        let script = &sc["script"];
        let expect = sc["expect"].as_array().unwrap();
        let t = TestApp::new();
        // Uploads validate at "now": use the script's start so its timeframes read the same.
        t.set_now(parse_instant(script["now"].as_str().unwrap()).unwrap());

        let r = t.upload(site, doc).await;
        if r.status.as_u16() != 201 {
            failures.push(format!("{name}: upload {}: {}", r.status, r.text()));
            continue;
        }
        let r = t
            .admin(
                "POST",
                &format!("/admin/v1/sites/{site}/simulate"),
                script.to_string(),
            )
            .await;
        if r.status.as_u16() != 200 {
            failures.push(format!("{name}: simulate {}: {}", r.status, r.text()));
            continue;
        }
        let saved = r.json();
        assert_eq!(saved["version"], 1);
        compare(
            &name,
            saved["steps"].as_array().unwrap(),
            expect,
            &mut failures,
        );

        // The same as an unsaved draft on a site with no document.
        let mut draft = script.clone();
        draft["campaigns"] = doc.clone();
        let r = t
            .admin(
                "POST",
                "/admin/v1/sites/draft-only/simulate",
                draft.to_string(),
            )
            .await;
        if r.status.as_u16() != 200 {
            failures.push(format!("{name}: draft simulate {}: {}", r.status, r.text()));
            continue;
        }
        let v = r.json();
        assert_eq!(v["version"], json!(null));
        compare(
            &format!("{name} (draft)"),
            v["steps"].as_array().unwrap(),
            expect,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} scenarios replayed through the server", files.len());
}
